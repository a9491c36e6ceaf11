"""Reading a GGUF file (with the `gguf` package): metadata, dequantized tensors, and its BPE tokenizer.

`read_gguf` is the only function that touches the file; `tokenizer_from_gguf` is a pure
function of the metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers, processors
from tokenizers import Tokenizer as HFTokenizer

from models.convert.common import ConversionError
from models.tokenizer import _byte_decoder

CONTROL, USER_DEFINED = 3, 4  # llama.cpp token types
# pre-tokenizers split with GPT-2's regex, as transformers' GGUF loader (the reference) does. For "smollm",
# llama.cpp isolates each digit first; that differs only where a run of spaces comes before a digit
# ("a  1": llama.cpp gives a|ĠĠ|1, transformers a|Ġ|Ġ|1, since SmolLM2 has no token that joins a space and a
# digit); here the reference is followed.
_GPT2_SPLIT = ("default", "gpt2", "smollm")
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_SPLITS = {"llama-bpe": _LLAMA3_SPLIT, "llama3": _LLAMA3_SPLIT, "llama-v3": _LLAMA3_SPLIT}


def read_gguf(path: str | Path, progress: Callable[[float], None] | None = None
              ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(metadata, tensors dequantized to float32 in numpy/nn.Linear layout [rows, cols]).
    progress(fraction): called after each tensor with the share of the file's tensor bytes read so far."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    meta = {key: field.contents() for key, field in reader.fields.items() if not key.startswith("GGUF.")}
    total = sum(int(t.n_bytes) for t in reader.tensors) or 1
    done = 0
    tensors = {}
    for t in reader.tensors:
        values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        tensors[t.name] = torch.from_numpy(np.array(values, copy=True))  # a writable copy, not the file's map
        done += int(t.n_bytes)
        if progress is not None:
            progress(done / total)
    return meta, tensors


def tokenizer_from_gguf(meta: Mapping[str, Any]) -> HFTokenizer:
    """The byte-level BPE tokenizer a GGUF file describes (tokenizer.ggml.model == "gpt2"): its vocabulary and
    merges, its control tokens as special tokens, and a BOS only where the file says to add one."""
    kind = meta.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise ConversionError(f"only byte-level BPE tokenizers (gpt2) are supported in GGUF files, not {kind!r}")
    pre = meta.get("tokenizer.ggml.pre") or "default"
    if pre not in _GPT2_SPLIT and pre not in _SPLITS:
        raise ConversionError(f"the GGUF pre-tokenizer {pre!r} is not supported")
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    types = list(meta.get("tokenizer.ggml.token_type") or [1] * len(tokens))
    alphabet = set(_byte_decoder())
    spell = {b: c for c, b in _byte_decoder().items()}

    def spelled(token: str) -> str:  # a token written in plain text -> the byte-level alphabet
        return token if set(token) <= alphabet else "".join(spell[b] for b in token.encode("utf-8"))

    vocab = {spelled(t): i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ")) for m in meta.get("tokenizer.ggml.merges") or ()]
    hf = HFTokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    if pre in _SPLITS:
        hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(_SPLITS[pre]), behavior="isolated"),
                                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken(t, normalized=False, special=True)
                           for t, kind in zip(tokens, types, strict=True) if kind == CONTROL and set(t) <= alphabet])
    hf.add_tokens([AddedToken(t, normalized=False, special=False)
                   for t, kind in zip(tokens, types, strict=True) if kind == USER_DEFINED])
    bos_id = meta.get("tokenizer.ggml.bos_token_id")
    if meta.get("tokenizer.ggml.add_bos_token") and bos_id is not None:
        bos = tokens[int(bos_id)]
        hf.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                          special_tokens=[(bos, int(bos_id))])
    return hf
