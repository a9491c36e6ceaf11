"""The positional-encoding lab: where each scheme enters the computation, and the measurements of the tiny models
(loss by position past the trained length, the linear probe of position) that `python -m models.measure` wrote."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import torch

from backend import schemas
from backend.analysis.common import rnd
from models import registry
from models.corpus import sha256
from models.measure import LENGTHS_FILE, PROBE_FILE
from models.positional import SCHEME_ENTRY, alibi_slopes, scheme_hooks, scheme_summary, why_not_beyond
from models.registry import LoadedModel

RERUN = "python -m models.measure {name}"


def steps(loaded: LoadedModel) -> list[schemas.SchemeStep]:
    """One attention layer's computation, in order, with the steps where the scheme acts marked."""
    cfg = loaded.cfg
    p = cfg.positional
    additive = p in ("sinusoidal", "learned")
    attn = "blocks.{l}.attn"
    out = [schemas.SchemeStep(id="embed", title="token embedding", positional=False, once=True, hook="hook_embed",
                              view="embeddings", detail="each token's vector from the embedding table")]
    if additive:
        out.append(schemas.SchemeStep(
            id="add_position", title="+ position vector", positional=True, once=True, hook="blocks.0.hook_resid_pre",
            view="positional", detail=f"the {p} vector of each position (hook_pos_embed) is added to the token's "
                                      "embedding, once; the sum is the first block's input and reaches Q, K and V"))
    out += [
        schemas.SchemeStep(id="norm", title="norm", positional=False, once=False,
                           hook="blocks.{l}.ln1.hook_normalized", view=None, detail=f"{cfg.norm} of the residual stream")
        if cfg.norm_placement == "pre" else
        schemas.SchemeStep(id="norm", title="x (already normed)", positional=False, once=False, hook=None, view=None,
                           detail=f"post-norm: nothing is normalised here; x is the residual stream as the {cfg.norm} "
                                  "after the previous block's last sum left it (in block 0: after the embeddings)"),
        schemas.SchemeStep(id="project", title="q, k, v = x W + b" if cfg.bias else "q, k, v = x W", positional=False, once=False,
                           hook=f"{attn}.hook_q", view="qkv", detail="the same linear maps for every position"),
    ]
    if p == "rotary":
        out.append(schemas.SchemeStep(
            id="rotate", title="rotate q and k", positional=True, once=False, hook=f"{attn}.hook_rot_q", view="qkv",
            detail="each pair of dimensions of q and k is turned by position x its frequency; v is not rotated"))
    out += [
        schemas.SchemeStep(id="dot", title="q·k", positional=False, once=False, hook=None, view="arithmetic",
                           detail="one score per query and key"),
        schemas.SchemeStep(id="scale", title="÷ √d_head", positional=False, once=False, hook=None, view="arithmetic",
                           detail=f"divided by √{cfg.d_head}"),
    ]
    if p == "alibi":
        out.append(schemas.SchemeStep(
            id="bias", title="+ bias −m·distance", positional=True, once=False, hook=f"{attn}.hook_attn_scores",
            view="arithmetic", detail="each head adds −(its slope) × (query position − key position) to the score"))
    out += [
        schemas.SchemeStep(id="mask", title="causal mask" if cfg.causal else "no mask", positional=False, once=False,
                           hook=f"{attn}.hook_attn_scores", view="arithmetic",
                           detail=("a query sees itself and the keys before it"
                                   + (": the only thing that tells this model about order" if p == "none" else ""))
                           if cfg.causal else "every query sees every key"),
        schemas.SchemeStep(id="softmax", title="softmax", positional=False, once=False, hook=f"{attn}.hook_pattern",
                           view="attention", detail="the weights of each query, adding up to 1"),
        schemas.SchemeStep(id="weighted_sum", title="Σ weight × v", positional=False, once=False, hook=f"{attn}.hook_z",
                           view="arithmetic", detail="the head's output for each query"),
    ]
    return out


def views(loaded: LoadedModel) -> list[schemas.SchemeView]:
    p = loaded.cfg.positional
    common = [schemas.SchemeView(view="poslab", part="lengths",
                                 shows="the loss at each position up to 4x the trained length"),
              schemas.SchemeView(view="poslab", part="probe",
                                 shows="how well position can be read off each layer's residual stream")]
    if p in ("sinusoidal", "learned"):
        own = [schemas.SchemeView(view="positional", part="encoding", shows="the vector added at each position"),
               schemas.SchemeView(view="positional", part="decompose",
                                  shows="layer 0's scores split into content and position terms"),
               schemas.SchemeView(view="embeddings", shows="token similarity before and after the positions are added")]
    elif p == "rotary":
        own = [schemas.SchemeView(view="qkv", shows="q and k before and after the rotation (q_rot, k_rot)"),
               schemas.SchemeView(view="arithmetic", shows="the scores from the rotated q and k")]
    elif p == "alibi":
        own = [schemas.SchemeView(view="arithmetic", shows="the bias of each key, added after ÷√d_head"),
               schemas.SchemeView(view="positional", part="decompose",
                                  shows="layer 0's scores as content·content + the bias"),
               schemas.SchemeView(view="positional", part="encoding", shows="each head's bias by distance")]
    else:
        own = [schemas.SchemeView(view="positional", shows="removing or shuffling positions changes nothing: "
                                                            "there is nothing to remove")]
    return own + common


def scheme(loaded: LoadedModel, n: int) -> schemas.SchemeResponse:
    cfg = loaded.cfg
    enters, reaches, every = SCHEME_ENTRY[cfg.positional]
    alibi = rotary = None
    if cfg.positional == "alibi":
        slopes = alibi_slopes(cfg.n_heads)  # [head]
        distance = torch.arange(n, dtype=torch.float64)  # [distance]
        alibi = schemas.AlibiBias(slopes=slopes.tolist(), distance=list(range(n)),
                                  bias=rnd(-slopes[:, None] * distance[None, :]))  # [head, distance]
    elif cfg.positional == "rotary":
        inv = loaded.model.rotary.inv_freq  # [d_head / 2]
        rotary = schemas.RotaryFrequencies(base=cfg.rotary_base, frequencies=[float(f) for f in inv.tolist()])
    return schemas.SchemeResponse(
        model=loaded.name, positional=cfg.positional, enters=enters, reaches=list(reaches), every_layer=every,
        summary=scheme_summary(cfg), steps=steps(loaded), hook_points=scheme_hooks(cfg), views=views(loaded),
        trained_tokens=cfg.max_positions, why_not_beyond=why_not_beyond(cfg), alibi=alibi, rotary=rotary)


# --------------------------------------------------------------------------- measurements read from files

_FILES: dict[Path, tuple[tuple, dict | None, str | None]] = {}
_LOCK = threading.Lock()


def read_measure(name: str, filename: str) -> tuple[dict | None, str | None]:
    """The measurement file of a tiny model, or None and why not (absent, unreadable, or made from other weights).
    Read again only when the file or the weights change."""
    folder = registry.WEIGHTS_DIR / name
    path, weights = folder / filename, folder / "model.safetensors"
    rerun = RERUN.format(name=name)
    if not path.is_file():
        return None, f"not measured yet: run `{rerun}`"
    key = (path.stat().st_mtime_ns, weights.stat().st_mtime_ns)
    with _LOCK:
        hit = _FILES.get(path)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        why = None
        if data.get("weights_sha256") != sha256(weights):
            data, why = None, f"{filename} was measured on other weights: run `{rerun}` again"
    except (OSError, ValueError) as e:
        data, why = None, f"{filename} cannot be read ({e}): run `{rerun}` again"
    with _LOCK:
        _FILES[path] = (key, data, why)
    return data, why


def lengths() -> schemas.LengthCurves:
    curves, missing, layout = [], [], ""
    for name in registry.tiny_models():
        data, why = read_measure(name, LENGTHS_FILE)
        if data is None:
            missing.append(schemas.MissingMeasure(model=name, why=why))
            continue
        layout = layout or data["layout"]
        curves.append(schemas.LengthCurve(**{k: v for k, v in data.items() if k in schemas.LengthCurve.model_fields}))
    return schemas.LengthCurves(layout=layout, models=curves, missing=missing)


def probe() -> schemas.ProbeResults:
    curves, missing, target, method = [], [], "", ""
    for name in registry.tiny_models():
        data, why = read_measure(name, PROBE_FILE)
        if data is None:
            missing.append(schemas.MissingMeasure(model=name, why=why))
            continue
        target, method = target or data["target"], method or data["method"]
        depths = [schemas.ProbeDepth(label=d["label"], hook=d["hook"], r2=d["r2"], r2_fit=d["r2_fit"], mae=d["mae"],
                                     penalty=d["lambda"]) for d in data["depths"]]
        curves.append(schemas.ProbeCurve(model=name, positional=data["positional"], depths=depths,
                                         fit_tokens=data["fit_tokens"], held_out_tokens=data["held_out_tokens"],
                                         command=data["command"], date=data["date"]))
    return schemas.ProbeResults(target=target, method=method, models=curves, missing=missing)
