"""Measurements of the tiny models, written next to their weights for the API to serve:

    lengths.json   the loss at each position of long validation windows, up to 4x the trained length
                   (models/lengths.py)
    probe.json     R² of a linear probe of position at each depth of the residual stream (models/probe.py)

    python -m models.measure                       every tiny model whose weights are here, both files
    python -m models.measure tiny-alibi tiny-sinusoidal
    python -m models.measure --only lengths

Too slow for a request (each file records its seconds: 1 to 11 minutes per model on 2 busy cores), so a
command makes them, with the command, date, software and the sha256 of the weights and of the validation
text, like the model cards.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from models import lengths, probe, registry
from models.corpus import sha256
from models.positional import why_not_beyond

ROOT = Path(__file__).resolve().parent.parent
VAL = ROOT / "data" / "tinystories" / "val.txt"
LENGTHS_FILE = "lengths.json"
PROBE_FILE = "probe.json"
FORMAT = 1


def provenance(name: str, val: Path) -> dict:
    return {
        "command": shlex.join(["python", "-m", "models.measure", *sys.argv[1:]]),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "software": {"python": platform.python_version(), "torch": torch.__version__},
        "weights_sha256": sha256(registry.WEIGHTS_DIR / name / "model.safetensors"),
        "text": {"file": val.name, "sha256": sha256(val)},
    }


def check_val(name: str, val: Path) -> str:
    """The validation text of the model's card, read; a clear error when `val` is another file."""
    card = json.loads((registry.WEIGHTS_DIR / name / "card.json").read_text(encoding="utf-8"))
    want = card.get("corpus", {}).get("val", {}).get("sha256")
    got = sha256(val)
    if want and got != want:
        raise ValueError(f"{val} is not the validation text of {name}'s card (sha256 {got[:12]}..., the card says "
                         f"{want[:12]}...)")
    return val.read_text(encoding="utf-8")


def measure_lengths(name: str, val: Path = VAL) -> dict:
    loaded = registry.load(name)
    text = check_val(name, val)
    cfg = loaded.cfg
    span = lengths.MULTIPLE * cfg.max_positions
    t0 = time.perf_counter()
    losses = lengths.loss_matrix(loaded.model, loaded.tokenizer, text, span)  # [window, pos]
    card = json.loads((registry.WEIGHTS_DIR / name / "card.json").read_text(encoding="utf-8"))
    return {
        "format": FORMAT,
        "model": name,
        "positional": cfg.positional,
        "trained_tokens": cfg.max_positions,
        "span": span,
        "why_not_beyond": why_not_beyond(cfg),
        "unit": "nats per token",
        "layout": (f"{val.name} in windows of {span} tokens side by side (full windows only); each run as the start "
                   "token then the window, the prediction at input position i scored against the window's token i; "
                   f"a model that cannot run past its trained length is run on the first {cfg.max_positions} tokens "
                   "of the same windows"),
        "card_val_nats_per_token": card.get("metrics", {}).get("val_nats_per_token"),
        **lengths.summarise(losses, cfg.max_positions),
        "seconds": round(time.perf_counter() - t0, 1),
        **provenance(name, val),
    }


def measure_probe(name: str, val: Path = VAL) -> dict:
    loaded = registry.load(name)
    text = check_val(name, val)
    t0 = time.perf_counter()
    feats, positions, window = probe.residuals(loaded.model, loaded.tokenizer, text)  # [depth, token, d_model]
    results = probe.probe(feats, positions, window)
    fitting = probe.split(window)
    n_win = int(window.max()) + 1
    n_fit = int(window[fitting].max()) + 1
    depths = [{"label": label, "hook": hook, **r} for label, hook, r in
              zip(probe.depth_labels(loaded.model), probe.depth_hooks(loaded.model), results, strict=True)]
    return {
        "format": FORMAT,
        "model": name,
        "positional": loaded.cfg.positional,
        "target": (f"the position of each text token (1 to {loaded.cfg.max_positions - 2}; the start token at 0 is "
                   "left out)"),
        "layout": (f"{val.name} in windows as training laid them out (the start token, then "
                   f"{loaded.cfg.max_positions - 2} tokens), side by side"),
        "windows": n_win, "fit_windows": n_fit, "held_out_windows": n_win - n_fit,
        "fit_tokens": int(fitting.sum()), "held_out_tokens": int((~fitting).sum()),
        "method": (f"ridge regression on standardised features (closed form, float64); the penalty (lambda x n x |w|²) "
                   f"chosen from {list(probe.LAMBDAS)} by {probe.FOLDS}-fold cross-validation over whole windows of "
                   "the fitting part; R² on the held-out windows"),
        "depths": depths,
        "seconds": round(time.perf_counter() - t0, 1),
        **provenance(name, val),
    }


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def table() -> str:
    """The README's tables of the measurements, from the files (`python -m models.measure --table`)."""
    rows = ["| model | positional | loss, first 128 tokens | first 256 | first 512 | last 64 before 128 | last 64 before 512 |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    probes = ["| model | positional | " + " | ".join(["block input"] + [f"after block {l}" for l in range(4)]) + " |",
              "| --- | --- |" + " ---: |" * 5]
    for name in registry.tiny_models():
        folder = registry.WEIGHTS_DIR / name
        if (folder / LENGTHS_FILE).is_file():
            d = json.loads((folder / LENGTHS_FILE).read_text(encoding="utf-8"))
            cells = [f"{d['at'][k]['mean_loss']:.3f}" if d["at"].get(k) else "cannot run" for k in ("128", "256", "512")]
            tails = [f"{d['at'][k]['tail_loss']:.3f}" if d["at"].get(k) else "cannot run" for k in ("128", "512")]
            rows.append(f"| `{name}` | {d['positional']} | " + " | ".join(cells + tails) + " |")
        if (folder / PROBE_FILE).is_file():
            d = json.loads((folder / PROBE_FILE).read_text(encoding="utf-8"))
            probes.append(f"| `{name}` | {d['positional']} | " + " | ".join(f"{x['r2']:.3f}" for x in d["depths"]) + " |")
    return "\n".join(rows) + "\n\n" + "\n".join(probes)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m models.measure", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help=f"models (default: every tiny model here: {', '.join(registry.TINY_ORDER)})")
    p.add_argument("--only", choices=["lengths", "probe"], help="make only this file")
    p.add_argument("--val", type=Path, default=VAL, help="the validation text (default: data/tinystories/val.txt)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--table", action="store_true", help="print the README's tables from the files, measure nothing")
    args = p.parse_args(argv)
    if args.table:
        print(table())
        return
    torch.set_num_threads(args.threads)
    names = args.names or registry.tiny_models()
    for name in names:
        folder = registry.WEIGHTS_DIR / name
        if not (folder / "card.json").is_file():
            p.error(f"{name}: no card.json in {folder}")
        if args.only in (None, "lengths"):
            data = measure_lengths(name, args.val)
            write(folder / LENGTHS_FILE, data)
            at = ", ".join(f"{k}: {v['mean_loss']:.3f}" if v else f"{k}: -" for k, v in data["at"].items())
            print(f"{name}: {LENGTHS_FILE} ({data['windows']} windows, {data['seconds']} s); mean loss over the first "
                  f"L tokens, nats: {at}")
        if args.only in (None, "probe"):
            data = measure_probe(name, args.val)
            write(folder / PROBE_FILE, data)
            r2 = ", ".join(f"{d['r2']:.3f}" for d in data["depths"])
            print(f"{name}: {PROBE_FILE} ({data['seconds']} s); held-out R² by depth: {r2}")


if __name__ == "__main__":
    main()
