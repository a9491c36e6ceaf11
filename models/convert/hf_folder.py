"""A local Hugging Face model folder (config.json + safetensors) of GPT-2, BERT or Llama type -> this Transformer.

Given as a path on the command line (`attnlab serve --add-model PATH`), never through the HTTP API.
The tokenizer comes from the folder too: tokenizer.json, else GPT-2's vocab.json + merges.txt or
BERT's vocab.txt.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from models.config import ModelConfig
from models.convert import bert, gpt2, llama
from models.convert.common import ConversionError
from models.tokenizer import Tokenizer

Converter = tuple[Callable[[Mapping[str, Any]], ModelConfig],
                  Callable[[Mapping[str, torch.Tensor], ModelConfig], dict[str, torch.Tensor]]]
CONVERTERS: dict[str, Converter] = {
    "gpt2": (gpt2.config_from_hf, gpt2.convert),
    "bert": (bert.config_from_hf, bert.convert),
    "llama": (llama.config_from_hf, llama.convert),
}


def read_config(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / "config.json"
    if not path.is_file():
        raise ConversionError(f"{folder} is not a Hugging Face model folder: it has no config.json")
    try:
        hf = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConversionError(f"{path} cannot be read: {e}") from None
    kind = hf.get("model_type")
    if kind not in CONVERTERS:
        raise ConversionError(f"{folder}: model_type {kind!r} is not supported (only {', '.join(CONVERTERS)})")
    return hf


def model_config(folder: str | Path) -> ModelConfig:
    """The ModelConfig of a folder, from its config.json alone (cheap: no weights read)."""
    hf = read_config(folder)
    return CONVERTERS[hf["model_type"]][0](hf)


def read_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of the folder's safetensors file(s) (one file, or the shards its index names)."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    else:
        files = sorted(p.name for p in folder.glob("*.safetensors"))
    if not files:
        raise ConversionError(f"{folder} has no .safetensors weights")
    sd: dict[str, torch.Tensor] = {}
    for name in files:
        sd.update(load_file(str(folder / name)))
    return sd


def convert_folder(folder: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """(ModelConfig, this Transformer's state dict) for a GPT-2, BERT or Llama folder."""
    hf = read_config(folder)
    config_fn, convert_fn = CONVERTERS[hf["model_type"]]
    cfg = config_fn(hf)
    return cfg, convert_fn(read_state_dict(folder), cfg)


def tokenizer_from_folder(folder: str | Path) -> Tokenizer:
    """The folder's tokenizer, with the special tokens its own post-processor adds."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.implementations import BertWordPieceTokenizer, ByteLevelBPETokenizer

    folder = Path(folder)
    if (folder / "tokenizer.json").is_file():
        return Tokenizer.from_pretrained_file(folder / "tokenizer.json")
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        impl = ByteLevelBPETokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
        return Tokenizer.from_hf(HFTokenizer.from_str(impl.to_str()), style="byte_level")
    if (folder / "vocab.txt").is_file():
        settings = folder / "tokenizer_config.json"
        lower = True
        if settings.is_file():
            lower = json.loads(settings.read_text(encoding="utf-8")).get("do_lower_case", True)
        impl = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lower)
        return Tokenizer.from_hf(HFTokenizer.from_str(impl.to_str()), style="wordpiece")
    raise ConversionError(f"{folder} has no tokenizer (tokenizer.json, vocab.json + merges.txt, or vocab.txt)")
