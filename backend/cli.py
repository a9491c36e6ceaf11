"""The `attnlab` command: serve | analyze | models | train."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from models import registry

log = logging.getLogger("attnlab")


def _check_model(name: str | None) -> None:
    if name is not None and name not in registry.names():
        sys.exit(f"attnlab: unknown model {name!r}; the models are: {', '.join(registry.names())}")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    _check_model(args.model)
    if args.model:
        os.environ["ATTNLAB_DEFAULT_MODEL"] = args.model  # read by Settings, in every worker
    host = args.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"Attention Lab: open http://{shown}:{args.port}/  (API reference: http://{shown}:{args.port}/docs)",
          flush=True)
    if host in ("0.0.0.0", "::"):
        print(f"WARNING: listening on {host}: the page is reachable by anyone on your network. "
              "Use the default --host 127.0.0.1 to keep it on this machine.", flush=True)
    uvicorn.run("backend.main:create_app", factory=True, host=host, port=args.port, workers=args.workers,
                log_level=args.log_level)


def _service():
    from backend.service import ModelService
    from backend.settings import get_settings

    return ModelService(get_settings())


def cmd_analyze(args: argparse.Namespace) -> None:
    from backend.analysis.attention import analyze
    from backend.analysis.common import interventions
    from backend.schemas import AnalyzeRequest
    from pydantic import ValidationError

    _check_model(args.model)
    service = _service()
    try:
        req = AnalyzeRequest(text=args.text, model=args.model, top_k=args.top_k, positions=args.positions,
                             scale=not args.no_scale)
        service.check_top_k(req.top_k)
        result = analyze(service.run(req.model, req.text, interventions(req)), req.top_k)
    except ValidationError as e:
        sys.exit("attnlab: " + "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors()))
    except (ValueError, LookupError) as e:
        sys.exit(f"attnlab: {e.args[0] if e.args else e}")
    if args.json:
        print(result.model_dump_json(indent=None if args.compact else 1))
        return
    print(f"model: {result.model}")
    print("tokens: " + " | ".join(t.text for t in result.tokens))
    if result.predictions:
        print("next token: " + ", ".join(f"{p.text} {p.prob:.3f}" for p in result.predictions[:args.top_k]))
    else:
        print(f"next token: {result.predictions_unavailable}")
    last = len(result.tokens) - 1
    print("most focused head per layer (lowest mean entropy), and where the last token looks:")
    for layer, heads in enumerate(result.heads):
        best = min(heads, key=lambda h: h.entropy)
        row = result.attention[layer][best.head][last]
        key = max(range(len(row)), key=row.__getitem__)
        print(f"  layer {layer}: head {best.head} (entropy {best.entropy:.2f} nats): "
              f"{result.tokens[last].text!s} -> {result.tokens[key].text!s} {row[key]:.2f}")


def cmd_models(args: argparse.Namespace) -> None:
    infos = registry.list_models()
    if args.json:
        print(json.dumps([m.to_dict() for m in infos], indent=1))
        return
    header = ("name", "kind", "positional", "layers x heads", "d_model", "params", "val bits/char", "status")
    rows = [header]
    for m in infos:
        bpc = m.metrics.get("val_bits_per_char")
        status = ("default" if m.default else "ready") if m.available else f"not installed: {m.install}"
        rows.append((m.name, m.kind, m.positional, f"{m.n_layers} x {m.n_heads}", str(m.d_model), f"{m.params:,}",
                     f"{bpc:.3f}" if isinstance(bpc, float) else "-", status))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def cmd_train(args: argparse.Namespace) -> None:
    from models.train import run_from_args

    try:
        run_from_args(args)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"attnlab train: {e}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attnlab", description="Attention Lab: see what a small transformer does "
                                "with your sentence.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="start the web app", description="Start the web app and its API.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--model", help=f"default model (default: {registry.DEFAULT_MODEL})")
    s.add_argument("--workers", type=int, default=1, help="worker processes (each loads its own models)")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(func=cmd_serve)

    a = sub.add_parser("analyze", help="tokens, next-word predictions and the most focused heads of a text",
                       description="Run a text through a model and print what it did.")
    a.add_argument("text")
    a.add_argument("--model", help=f"model name (default: {registry.DEFAULT_MODEL})")
    a.add_argument("--top-k", type=int, default=5)
    a.add_argument("--positions", choices=["normal", "removed", "shuffled"], default="normal")
    a.add_argument("--no-scale", action="store_true", help="do not divide scores by sqrt(d_head)")
    a.add_argument("--json", action="store_true", help="the full /api/analyze answer as JSON")
    a.add_argument("--compact", action="store_true", help="with --json: on one line")
    a.set_defaults(func=cmd_analyze)

    m = sub.add_parser("models", help="the models and their sizes, scheme and metrics")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    from models.train import build_parser as train_parser

    t = sub.add_parser("train", help="train a small model on a text corpus",
                       description="Train a small Transformer; writes model.safetensors, tokenizer.json, card.json.")
    train_parser(t)
    t.set_defaults(func=cmd_train)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
