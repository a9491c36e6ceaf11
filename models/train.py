"""Train a small Transformer on a text corpus and write its weights, tokenizer and card.

    from models.train import TrainConfig, train
    card = train(TrainConfig(train_files=[...], val_file=..., out_dir=...), ModelConfig(...))

Training samples windows of `seq_len - 1` tokens at random offsets (a generator
seeded by `seed`, so the data order is the same for every model trained with the
same seed and data) and puts the BOS token before each, as at inference. The
learning rate warms up linearly, then follows a cosine to `min_lr` over the token
budget (or the time budget). Evaluation runs the whole validation file in windows
the same way and reports nats per token, bits per character and top-1 accuracy.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm.auto import tqdm

from models import checkpoints as ckpt
from models.config import POSITIONAL_SCHEMES, ModelConfig
from models.corpus import characters, corpus_dir, sha256
from models.tokenizer import Tokenizer
from models.transformer import Transformer


@dataclass
class TrainConfig:
    train_files: list[str]
    val_file: str
    out_dir: str
    tokenizer: str | None = None  # a tokenizer.json to use; None trains one on train_files
    vocab_size: int = 4096  # when training a tokenizer
    max_tokens: int | None = 8_000_000  # token budget (targets seen); None: time budget only
    max_seconds: float | None = None  # time budget; the first budget reached ends training
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    threads: int | None = None  # torch CPU threads; None leaves torch's default
    eval_every: int = 0  # steps between validation evaluations (0: only at the end)
    eval_tokens: int | None = None  # cap on validation tokens (None: the whole file)
    corpus_name: str = ""
    licence: str = ""
    source: str = ""
    title: str = ""
    extra: dict = field(default_factory=dict)
    # record this many checkpoints (0: none): step 0, log-spaced steps, and the final weights (model.safetensors),
    # the others as 8-bit weights in out_dir/checkpoints/ with their validation loss before and after the 8 bits
    checkpoints: int = 0


def read_texts(paths: list[str]) -> str:
    texts = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"corpus file not found: {path}")
        texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


@torch.inference_mode()
def evaluate(model: Transformer, tok: Tokenizer, text: str, max_tokens: int | None = None,
             batch_size: int = 16, stride: int | None = None) -> dict:
    """Loss on `text` in windows of max_positions (BOS + max_positions - 1 tokens).

    stride=None: windows side by side, every token scored once (tokens early in a window
    see little context; this is how training samples are laid out). stride=s: windows
    start every s tokens and each scores only its last s tokens (the first window all of
    its own), so every token but the first few is predicted with at least
    max_positions - 1 - s tokens of context.
    Returns nats per token, bits per character, top-1 accuracy, and the counts.
    Bits per character divides the total loss by the characters those tokens decode to.
    """
    if not text:
        raise ValueError("evaluate needs a non-empty text")
    was_training = model.training
    model.eval()
    ids = tok.encode(text, add_bos=False)
    if max_tokens is not None:
        ids = ids[:max_tokens]
    span = model.cfg.max_positions - 1
    step = span if stride is None else stride
    if not 0 < step <= span:
        raise ValueError(f"stride must be in 1..{span}, got {stride}")
    # (window tokens, how many of its first tokens are context only)
    windows = []
    for start in range(0, len(ids), step):
        lo = max(0, start + step - span)
        windows.append((ids[lo:start + step], start - lo))
        if start + step >= len(ids):
            break
    total_nats, total_correct, total_tokens = 0.0, 0, 0
    for b in range(0, len(windows), batch_size):
        chunk = windows[b:b + batch_size]
        width = max(len(w) for w, _ in chunk)
        x = torch.full((len(chunk), width + 1), tok.bos_id, dtype=torch.long)  # [batch, pos]
        y = torch.full((len(chunk), width + 1), -100, dtype=torch.long)  # [batch, pos]
        for r, (w, skip) in enumerate(chunk):
            x[r, 1:len(w) + 1] = torch.tensor(w)
            y[r, skip:len(w)] = torch.tensor(w[skip:])
        logits = model(x[:, :-1])  # [batch, pos, vocab]
        target = y[:, :-1]
        valid = target != -100
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                               ignore_index=-100, reduction="sum")
        total_nats += float(loss)
        total_correct += int(((logits.argmax(-1) == target) & valid).sum())
        total_tokens += int(valid.sum())
    model.train(was_training)
    chars = len(tok.decode(ids))
    return {
        "tokens": total_tokens,
        "chars": chars,
        "nats_per_token": total_nats / total_tokens,
        "bits_per_char": total_nats / math.log(2) / chars,
        "top1_accuracy": total_correct / total_tokens,
    }


def lr_at(cfg: TrainConfig, progress: float, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(max(progress, 0.0), 1.0)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def train(cfg: TrainConfig, model_cfg: ModelConfig, progress: bool = True,
          on_step: Callable[[int, float], None] | None = None) -> dict:
    """Train, evaluate, and write model.safetensors, tokenizer.json and card.json to cfg.out_dir.

    Returns the card (also written). `on_step(step, loss)` is called after every step.
    """
    if cfg.max_tokens is None and cfg.max_seconds is None:
        raise ValueError("give a token budget (max_tokens) or a time budget (max_seconds)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.from_file(cfg.tokenizer) if cfg.tokenizer else Tokenizer.train(cfg.train_files, cfg.vocab_size)
    if tok.vocab_size != model_cfg.vocab_size:
        raise ValueError(f"the tokenizer has {tok.vocab_size} tokens but the model config says vocab_size={model_cfg.vocab_size}")

    data = torch.tensor(tok.encode(read_texts(cfg.train_files), add_bos=False), dtype=torch.long)
    val_text = Path(cfg.val_file).read_text(encoding="utf-8")
    span = model_cfg.max_positions - 1
    if len(data) <= span:
        raise ValueError(f"the training text has {len(data)} tokens; it needs more than {span}")
    tokens_per_step = cfg.batch_size * span
    total_steps = math.ceil(cfg.max_tokens / tokens_per_step) if cfg.max_tokens else None

    torch.manual_seed(cfg.seed)
    model = Transformer(model_cfg)
    model.reset_parameters(seed=cfg.seed)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    data_gen = torch.Generator().manual_seed(cfg.seed)
    bos = torch.full((cfg.batch_size, 1), tok.bos_id, dtype=torch.long)
    offsets_base = torch.arange(span)

    losses: list[float] = []
    evals: list[dict] = []
    record: list[int] = []
    recorded: list[dict] = []
    if cfg.checkpoints:
        if total_steps is None:
            raise ValueError("checkpoints need a token budget (max_tokens): their steps are spaced over it")
        record = ckpt.log_spaced_steps(total_steps, cfg.checkpoints)[:-1]  # the last one is model.safetensors
        (out / "checkpoints").mkdir(exist_ok=True)
    eval_seconds = 0.0

    def checkpoint(step: int, seen: int) -> None:
        """Write the weights of this step as 8 bits, with the validation loss before and after the rounding."""
        nonlocal eval_seconds
        t0 = time.perf_counter()
        name = f"step-{step:06d}.safetensors"
        ckpt.save(out / "checkpoints" / name, model.state_dict(), {"step": str(step)})
        exact = evaluate(model, tok, val_text, cfg.eval_tokens)
        rounded = Transformer(model_cfg, init=False)
        rounded.load_state_dict(ckpt.load(out / "checkpoints" / name), strict=True)
        stored = evaluate(rounded, tok, val_text, cfg.eval_tokens)
        recorded.append({"step": step, "tokens_seen": seen, "file": f"checkpoints/{name}",
                         "sha256": sha256(out / "checkpoints" / name),
                         "val_nats_per_token": round(stored["nats_per_token"], 4),
                         "val_bits_per_char": round(stored["bits_per_char"], 4),
                         "val_nats_per_token_float32": round(exact["nats_per_token"], 4)})
        eval_seconds += time.perf_counter() - t0

    start = time.perf_counter()
    step, seen = 0, 0
    bar = tqdm(total=total_steps, disable=not progress, unit="step", desc=f"train {out.name}", dynamic_ncols=True)
    while True:
        if record and step == record[0]:
            record.pop(0)
            checkpoint(step, seen)
            bar.write(f"step {step}: checkpoint, val {recorded[-1]['val_nats_per_token']:.4f} nats/token "
                      f"(8-bit; {recorded[-1]['val_nats_per_token_float32']:.4f} in float32)")
        elapsed = time.perf_counter() - start - eval_seconds
        if total_steps is not None and step >= total_steps:
            break
        if cfg.max_seconds is not None and elapsed >= cfg.max_seconds:
            break
        frac = step / total_steps if total_steps else elapsed / cfg.max_seconds
        if cfg.max_seconds is not None and total_steps is not None:
            frac = max(frac, elapsed / cfg.max_seconds)
        lr = lr_at(cfg, frac, step)
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(data) - span, (cfg.batch_size,), generator=data_gen)
        y = data[starts[:, None] + offsets_base]  # [batch, pos]
        x = torch.cat([bos, y[:, :-1]], dim=1)  # [batch, pos]
        logits = model(x)  # [batch, pos, vocab]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        seen += tokens_per_step
        loss_value = loss.item()
        losses.append(loss_value)
        if on_step is not None:
            on_step(step, loss_value)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.1e}",
                        tok_s=f"{seen / (time.perf_counter() - start):,.0f}", refresh=False)
        if cfg.eval_every and step % cfg.eval_every == 0:
            ev = evaluate(model, tok, val_text, cfg.eval_tokens)
            evals.append({"step": step, "tokens_seen": seen, **ev})
            bar.write(f"step {step}: val {ev['nats_per_token']:.4f} nats/token, {ev['bits_per_char']:.4f} bits/char")
    bar.close()
    train_seconds = time.perf_counter() - start - eval_seconds
    model.eval()
    val = evaluate(model, tok, val_text, cfg.eval_tokens)

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"),
              metadata={"format": "attnlab"})
    tok.save(out / "tokenizer.json")
    tail = losses[-50:]
    history = None
    if cfg.checkpoints:
        final = {"step": step, "tokens_seen": seen, "file": "model.safetensors", "sha256": sha256(out / "model.safetensors"),
                 "val_nats_per_token": round(val["nats_per_token"], 4), "val_bits_per_char": round(val["bits_per_char"], 4),
                 "val_nats_per_token_float32": round(val["nats_per_token"], 4)}
        (out / "checkpoints" / "index.json").write_text(json.dumps({
            "format": ckpt.FORMAT,
            "note": ("each checkpoint but the last is kept as 8-bit weights, one float32 scale per row; "
                     "the last is the final model itself"),
            "checkpoints": [*recorded, final], "train_loss": [round(v, 4) for v in losses]}, indent=1) + "\n",
            encoding="utf-8")
        history = {"index": "checkpoints/index.json", "steps": [c["step"] for c in [*recorded, final]],
                   "eval_seconds": round(eval_seconds, 1)}
    card = {
        "name": out.name,
        "title": cfg.title or out.name,
        "config": model_cfg.to_dict(),
        "params": model.n_params(),
        "tokenizer": {"kind": "byte-level BPE", "vocab_size": tok.vocab_size, "bos": tok.bos,
                      "sha256": sha256(out / "tokenizer.json")},
        "corpus": {"name": cfg.corpus_name, "source": cfg.source, "licence": cfg.licence,
                   "files": [{"name": Path(f).name, "sha256": sha256(f)} for f in cfg.train_files],
                   "val": {"name": Path(cfg.val_file).name, "sha256": sha256(cfg.val_file)},
                   # every character of the training text (the page notes the characters of a sentence it lacks)
                   "characters": characters(cfg.train_files)},
        "licence": cfg.licence,
        "training": {
            "steps": step, "tokens_seen": seen, "batch_size": cfg.batch_size, "seq_len": model_cfg.max_positions,
            "passes": round(seen / len(data), 2), "train_tokens": len(data),
            "wall_seconds": round(train_seconds, 1), "tokens_per_second": round(seen / train_seconds),
            "threads": torch.get_num_threads(), "seed": cfg.seed, "lr": cfg.lr, "min_lr": cfg.min_lr,
            "warmup_steps": cfg.warmup_steps, "weight_decay": cfg.weight_decay, "dropout": model_cfg.dropout,
            "first_losses": [round(v, 4) for v in losses[:10]],
            "final_train_loss": round(sum(tail) / len(tail), 4), "evals": evals,
            **({"checkpoints": history} if history else {}),
        },
        "metrics": {
            "val_nats_per_token": round(val["nats_per_token"], 4),
            "val_bits_per_char": round(val["bits_per_char"], 4),
            "val_top1_accuracy": round(val["top1_accuracy"], 4),
            "val_tokens": val["tokens"], "val_chars": val["chars"],
        },
        "command": shlex.join(sys.argv),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "software": {"python": platform.python_version(), "torch": torch.__version__},
        **cfg.extra,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card


# --------------------------------------------------------------------------- command line

TINY = ModelConfig(d_model=160, n_layers=4, n_heads=4, d_head=40, d_mlp=640, vocab_size=4096,
                   max_positions=128, dropout=0.1, embed_scale=math.sqrt(160))
"""The shared size of the four tiny models; only `positional` differs between them."""

TINYSTORIES = {
    "corpus_name": "TinyStories subset (data/tinystories)",
    "source": "TinyStories (Eldan and Li, 2023, arXiv:2305.07759), a subset of its stories",
    "licence": "CDLA-Sharing-1.0",
}
TINYSTORIES_SHA256 = "5a1124f9158ba31871e6d00118457c95fcd7bc3dc2d5326e8b70c92f625b77f2"  # data/tinystories/train.txt


def build_parser(parser=None):
    import argparse

    p = parser or argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n\n")[0])
    p.add_argument("train_files", nargs="*", metavar="TRAIN_FILE",
                   help="training text file(s), UTF-8 (default: train.txt of $ATTNLAB_CORPUS, else of the project's "
                        "data/tinystories)")
    p.add_argument("--val", help="validation text file (default, without training files: val.txt of the same folder)")
    p.add_argument("--out", required=True, help="output folder (model.safetensors, tokenizer.json, card.json)")
    p.add_argument("--force", action="store_true", help="replace the model a folder --out holds already")
    p.add_argument("--tokenizer", help="an existing tokenizer.json (default: train a byte-level BPE)")
    p.add_argument("--vocab-size", type=int, default=TINY.vocab_size,
                   help="tokens of the BPE trained here (default %(default)s)")
    p.add_argument("--positional", choices=list(POSITIONAL_SCHEMES), default="sinusoidal",
                   help="the positional scheme (default %(default)s)")
    p.add_argument("--layers", type=int, default=TINY.n_layers, help="blocks (default %(default)s)")
    p.add_argument("--heads", type=int, default=TINY.n_heads, help="attention heads per block (default %(default)s)")
    p.add_argument("--d-model", type=int, default=TINY.d_model, help="residual width (default %(default)s)")
    p.add_argument("--d-head", type=int, default=TINY.d_head, help="width of each head (default %(default)s)")
    p.add_argument("--d-mlp", type=int, default=TINY.d_mlp, help="MLP hidden width (default %(default)s)")
    p.add_argument("--context", type=int, default=TINY.max_positions,
                   help="max tokens, BOS included (default %(default)s)")
    p.add_argument("--dropout", type=float, default=TINY.dropout, help="dropout while training (default %(default)s)")
    p.add_argument("--embed-scale", type=float, default=None,
                   help="multiply token embeddings by this (default: sqrt(d_model), as in Vaswani et al.)")
    p.add_argument("--bidirectional", action="store_true", help="no causal mask")
    p.add_argument("--tokens", type=float, default=8e6,
                   help="token budget: training ends after this many tokens, or at --minutes if that comes first "
                        "(default 8000000; 0: none)")
    p.add_argument("--minutes", type=float, default=0, help="time budget in minutes (default 0: none)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per step (default %(default)s)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the batches (default %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.add_argument("--eval-every", type=int, default=500,
                   help="steps between validation losses (default %(default)s)")
    p.add_argument("--checkpoints", type=int, default=0,
                   help="record this many checkpoints, log-spaced over the steps (8-bit, in OUT/checkpoints; default "
                        "0: none)")
    p.add_argument("--title", default="", help="the model card's title (default: the --out folder's name)")
    ours = "where the training text is the project's data/tinystories/train.txt (the same bytes)"
    p.add_argument("--licence", help=f"the training text's licence, for the card (default: {TINYSTORIES['licence']} "
                                     f"{ours}; else none)")
    p.add_argument("--corpus-name", help=f"the training text's name, for the card (default: "
                                         f"{TINYSTORIES['corpus_name']!r} {ours}; else the training files' names)")
    p.add_argument("--source", help=f"where the training text comes from, for the card (default: the TinyStories "
                                    f"paper {ours}; else none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def default_files(args) -> None:
    """No training files: the project's corpus (or $ATTNLAB_CORPUS), train.txt and val.txt."""
    if not args.train_files:
        folder = corpus_dir()
        args.train_files = [str(folder / "train.txt")]
        if args.val is None:
            args.val = str(folder / "val.txt")
    if args.val is None:
        raise ValueError("give --val FILE (a validation text) with your own training files")


def card_defaults(args) -> None:
    """The card's --corpus-name, --source and --licence where the options leave them out: the TinyStories subset's
    where the one training file holds the bytes of the project's data/tinystories/train.txt (TINYSTORIES_SHA256),
    else the training files' names and no source or licence: a card says nothing of a text it does not know."""
    ours = len(args.train_files) == 1 and sha256(args.train_files[0]) == TINYSTORIES_SHA256
    known = TINYSTORIES if ours else {"corpus_name": ", ".join(Path(f).name for f in args.train_files),
                                      "source": "", "licence": ""}
    for key in ("corpus_name", "source", "licence"):
        if getattr(args, key) is None:
            setattr(args, key, known[key])


def check_args(args) -> None:
    """The budgets and sizes of `attnlab train`, each named by its option, before anything is trained or written (a
    negative budget or an empty batch ended in a ZeroDivisionError after the run)."""
    for option, value, none in (("--tokens", args.tokens, "token"), ("--minutes", args.minutes, "time")):
        if value < 0:
            raise ValueError(f"{option} must be 0 (no {none} budget) or more, not {value:g}")
    if not args.tokens and not args.minutes:
        raise ValueError("give a budget: --tokens N or --minutes M (both are 0; the first reached ends training)")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.checkpoints and args.checkpoints < 2:
        raise ValueError(f"--checkpoints must be 0 (none) or at least 2 (step 0 and the last), not {args.checkpoints}")
    if args.checkpoints and not args.tokens:
        raise ValueError("--checkpoints need a token budget (--tokens): their steps are spaced over it")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, not {args.threads}")
    if (Path(args.out) / "model.safetensors").exists() and not args.force:
        raise ValueError(f"--out {args.out} holds a model already (model.safetensors): choose another folder, or pass "
                         "--force to replace it")
    for path in args.train_files:
        if not Path(path).is_file():
            raise ValueError(f"{path}: no such file")
    for option, path in (("--val", args.val), ("--tokenizer", args.tokenizer)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{option} {path}: no such file")
    for option, value in (("--vocab-size", args.vocab_size), ("--layers", args.layers), ("--heads", args.heads),
                          ("--d-model", args.d_model), ("--d-head", args.d_head), ("--d-mlp", args.d_mlp),
                          ("--context", args.context)):
        if value < 1:
            raise ValueError(f"{option} must be at least 1, not {value}")
    if not 0 <= args.dropout < 1:
        raise ValueError(f"--dropout must be in [0, 1), not {args.dropout:g}")
    model_config(args, args.vocab_size)  # the sizes' other rules (an even d_model for sinusoidal positions, ...)


# ModelConfig's names of the sizes -> the options that set them, for its messages
SIZE_OPTIONS = {"d_model": "--d-model", "d_head": "--d-head", "n_heads": "--heads", "n_layers": "--layers"}


def model_config(args, vocab: int) -> ModelConfig:
    """The model the options describe; a ValueError names the option where ModelConfig names its field."""
    try:
        return ModelConfig(d_model=args.d_model, n_layers=args.layers, n_heads=args.heads, d_head=args.d_head,
                           d_mlp=args.d_mlp, vocab_size=vocab, max_positions=args.context,
                           positional=args.positional, causal=not args.bidirectional, dropout=args.dropout,
                           embed_scale=math.sqrt(args.d_model) if args.embed_scale is None else args.embed_scale)
    except ValueError as e:
        msg = str(e).removeprefix("ModelConfig: ")
        named = [option for field_name, option in SIZE_OPTIONS.items() if msg.endswith(field_name)]
        raise ValueError(f"{msg} ({named[0]})" if named else msg) from None


def run_from_args(args) -> dict:
    default_files(args)
    check_args(args)
    card_defaults(args)
    tok_path = args.tokenizer
    if tok_path is None:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        tok_path = str(Path(args.out) / "tokenizer.json")
        Tokenizer.train(args.train_files, args.vocab_size).save(tok_path)
    vocab = Tokenizer.from_file(tok_path).vocab_size
    model_cfg = model_config(args, vocab)
    cfg = TrainConfig(train_files=list(args.train_files), val_file=args.val, out_dir=args.out, tokenizer=tok_path,
                      max_tokens=int(args.tokens) or None, max_seconds=args.minutes * 60 or None,
                      batch_size=args.batch_size, lr=args.lr, min_lr=args.lr / 10, seed=args.seed,
                      threads=args.threads, eval_every=args.eval_every, title=args.title, licence=args.licence,
                      corpus_name=args.corpus_name, source=args.source, checkpoints=args.checkpoints)
    card = train(cfg, model_cfg, progress=not args.no_progress)
    m = card["metrics"]
    print(f"{args.out}: {card['params']:,} parameters, {card['training']['wall_seconds']:.0f} s, "
          f"val {m['val_nats_per_token']:.4f} nats/token = {m['val_bits_per_char']:.4f} bits/char, "
          f"top-1 {m['val_top1_accuracy']:.3f}")
    return card


def main(argv=None) -> None:
    """The command: a bad value is one line and exit code 2, as argparse says a bad option, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run_from_args(args)
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")


if __name__ == "__main__":
    main()
