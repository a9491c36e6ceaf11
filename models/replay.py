"""Replay a model's training: each checkpoint it recorded is a model of its own, `NAME@STEP`.

A model folder whose training recorded checkpoints (`attnlab train --checkpoints N`, models/checkpoints.py)
holds checkpoints/index.json: each checkpoint's step, file and validation loss (with the stored 8-bit weights
and before the rounding), and the training loss of every step. The last entry is model.safetensors itself.

    register_checkpoints(folder, "tiny-sinusoidal", info)   registers tiny-sinusoidal@0, @16, ..., @3938
    checkpoints("tiny-sinusoidal")                           [{step, model, val_nats_per_token, ...}, ...]
    training("tiny-sinusoidal")                              the above and the per-step training loss

The checkpoint models are not listed among the models (they would crowd the model picker); the base model's
info lists them (`checkpoints`), and each loads by name like any model, the 8-bit weights dequantized. The last
one, NAME@<last step>, loads model.safetensors: the shipped model itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

INDEX = Path("checkpoints") / "index.json"
_FOLDERS: dict[str, Path] = {}  # base model name -> its folder, for the models with a recorded history
_CACHE: dict[Path, tuple[float, dict]] = {}


def checkpoint_name(model: str, step: int) -> str:
    return f"{model}@{step}"


def read_index(folder: str | Path) -> dict | None:
    """checkpoints/index.json of a model folder (re-read only when the file changes), or None."""
    path = Path(folder) / INDEX
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    hit = _CACHE.get(path)
    if hit is None or hit[0] != mtime:
        index = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(index.get("checkpoints"), list) or not index["checkpoints"]:
            raise ValueError(f"{path}: no checkpoints listed")
        _CACHE[path] = hit = (mtime, index)
    return hit[1]


def _summary(model: str, entry: dict) -> dict:
    return {"step": entry["step"], "model": checkpoint_name(model, entry["step"]),
            "tokens_seen": entry.get("tokens_seen"), "val_nats_per_token": entry.get("val_nats_per_token"),
            "val_bits_per_char": entry.get("val_bits_per_char"),
            "val_nats_per_token_float32": entry.get("val_nats_per_token_float32")}


def checkpoints(model: str) -> list[dict] | None:
    """The recorded checkpoints of `model`, in step order, or None when it has no recorded history."""
    folder = _FOLDERS.get(model)
    index = read_index(folder) if folder is not None else None
    if index is None:
        return None
    return [_summary(model, e) for e in index["checkpoints"]]


def training(model: str) -> dict:
    """The checkpoints of `model` and the training loss of every step; KeyError if it has no recorded history."""
    folder = _FOLDERS.get(model)
    index = read_index(folder) if folder is not None else None
    if index is None:
        raise KeyError(f"model {model!r} has no recorded training history (no {INDEX} in its folder)")
    entries = index["checkpoints"]
    return {"model": model, "steps": entries[-1]["step"], "checkpoints": [_summary(model, e) for e in entries],
            "train_loss": index.get("train_loss", []), "note": index.get("note", "")}


def register_checkpoints(folder: str | Path, name: str, base_info: Callable, register: Callable,
                         loaded_model: type) -> list[str]:
    """Register every checkpoint of the model `name` in `folder` as `name@step` (not listed). `base_info()` is
    the base model's ModelInfo; `register(name, info, loader, listed=False)` is the registry's."""
    from models import checkpoints as ckpt
    from models.config import ModelConfig
    from models.tokenizer import Tokenizer
    from models.transformer import Transformer

    folder = Path(folder)
    index = read_index(folder)
    if index is None:
        return []
    _FOLDERS[name] = folder
    entries = index["checkpoints"]
    last = entries[-1]["step"]
    names = []
    for entry in entries:
        step, file = int(entry["step"]), folder / entry["file"]
        cname = checkpoint_name(name, step)

        def info(entry: dict = entry, step: int = step, cname: str = cname):
            base = base_info()
            metrics = {k: entry[k] for k in ("val_nats_per_token", "val_bits_per_char", "val_nats_per_token_float32",
                                             "tokens_seen") if k in entry}
            return dataclasses.replace(base, name=cname, title=f"{base.title}, at training step {step} of {last}",
                                       metrics={"step": step, **metrics}, default=False, checkpoints=None,
                                       checkpoint_of=name, step=step)

        def load(progress: Callable | None = None, file: Path = file, info: Callable = info, cname: str = cname):
            from safetensors.torch import load_file

            card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
            model = Transformer(ModelConfig.from_dict(card["config"]), init=False)
            quantized = file.name != "model.safetensors"
            state = ckpt.load(file) if quantized else load_file(str(file))
            model.load_state_dict(state, strict=True, assign=True)
            return loaded_model(cname, model.eval(), Tokenizer.from_file(folder / "tokenizer.json"), info())

        register(cname, info, load, listed=False)
        names.append(cname)
    return names
