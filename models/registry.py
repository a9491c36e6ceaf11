"""Model names -> how to load them, and the metadata the UI shows before loading.

    list_models()          every registered model's ModelInfo (cheap: reads cards, loads no weights)
    load("tiny-rotary")    a LoadedModel (Transformer in eval mode + Tokenizer), loaded once, thread-safe
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from models.config import ModelConfig
from models.positional import why_no_encoding
from models.tokenizer import Tokenizer
from models.transformer import Transformer

import os

WEIGHTS_DIR = Path(os.environ.get("ATTNLAB_WEIGHTS") or Path(__file__).resolve().parent / "weights")
DEFAULT_MODEL = "tiny-sinusoidal"
TINY_ORDER = ("tiny-sinusoidal", "tiny-learned", "tiny-rotary", "tiny-nope")


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
    if not cfg.causal or not has_unembed:
        out["predict"] = ("This model reads the whole sentence in both directions and has no next-word head, "
                          "so it does not predict the next word.")
    reason = why_no_encoding(cfg.positional)
    if reason:
        out["positional"] = reason
    if cfg.positional == "rotary":
        out["decompose"] = ("Under rotary positions q and k are rotated, not added to, so a score does not split "
                            "into content and position terms.")
    elif cfg.positional == "none":
        out["decompose"] = "This model has no positional encoding, so every score is content-content."
    return out


@dataclass
class _Entry:
    name: str
    info: Callable[[], ModelInfo]
    loader: Callable[[], LoadedModel]


_REGISTRY: dict[str, _Entry] = {}
_LOADED: dict[str, LoadedModel] = {}
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def register(name: str, info: Callable[[], ModelInfo], loader: Callable[[], LoadedModel]) -> None:
    _REGISTRY[name] = _Entry(name, info, loader)


def _info_from_card(folder: Path, default: bool) -> ModelInfo:
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    cfg = ModelConfig.from_dict(card["config"])
    return ModelInfo(
        name=folder.name, title=card.get("title", folder.name), kind="causal" if cfg.causal else "bidirectional",
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.kv_heads, d_model=cfg.d_model, d_head=cfg.d_head,
        positional=cfg.positional, vocab_size=cfg.vocab_size, max_tokens=cfg.max_positions, params=card["params"],
        source=card.get("corpus", {}).get("source", ""), licence=card.get("licence", ""),
        metrics=card.get("metrics", {}), default=default, unavailable_views=unavailable_views(cfg))


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


def names() -> list[str]:
    return list(_REGISTRY)


def list_models() -> list[ModelInfo]:
    return [entry.info() for entry in _REGISTRY.values()]


def info(name: str) -> ModelInfo:
    return _entry(name).info()


def _entry(name: str) -> _Entry:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; the models are: {', '.join(_REGISTRY) or '(none)'}")
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
