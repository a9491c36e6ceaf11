"""What the training lab's runs reach, at the lab's default size and settings (GET /api/lab/options `defaults`):

- the copy task with each positional scheme: the step and the seconds of training at which a head's induction
  score (on the lab's probe) first reaches the lab's threshold, and the training loss then; and the step at which
  the training loss first falls below the lab's loss threshold;
- the reverse task with each scheme and with none: the final accuracy and loss on the task's fixed example, and
  the last training loss.

Each run is a models.lab.LabTrainer in this process with one torch thread (as the lab's worker trains), a record
every `record_every` steps (the lab's default), summarised by models.lab.summarize (what the lessons quote). A copy
run stops once both thresholds are reached, or at the step budget; a reverse run trains its whole budget. Seconds are
the trainer's own (optimiser steps only, records not counted), so they depend on the machine's load: the load is
written with the table. Several seeds: the median and the range (min to max) of each number over them.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time

import torch

from backend.schemas import LabRunRequest
from models.lab import INDUCTION_AT, LOSS_DROP, LabConfig, LabTrainer, summarize
from models.tasks import LETTERS, get_task

SCHEMES = ("sinusoidal", "learned", "rotary", "none")


def train(task: str, positional: str, seed: int, steps: int, stop_early: bool) -> dict:
    d = LabRunRequest()
    trainer = LabTrainer(LabConfig(task=task, positional=positional, size=d.size, seed=seed, lr=d.lr,
                                   batch_size=d.batch_size, record_every=d.record_every))
    records = [trainer.record()]
    while trainer.step < steps:
        trainer.train(min(d.record_every, steps - trainer.step))
        records.append(trainer.record())
        if stop_early:
            s = summarize(records)
            if s["loss"]["reached"] and s["role"]["reached"]:
                break
    return {**summarize(records), "first_loss": records[1]["loss"] if len(records) > 1 else None}


def spread(values: list[float | None], digits: int, unit: str = "") -> str:
    """median (min to max) over the seeds that reached it; the seeds that did not, counted apart."""
    got = [v for v in values if v is not None]
    missing = len(values) - len(got)
    if not got:
        return f"never ({missing} of {len(values)} seeds)"
    def f(v: float) -> str:
        return f"{v:.{digits}f}{unit}"

    cell = f(got[0]) if len(got) == 1 else f"{f(statistics.median(got))} ({f(min(got))} to {f(max(got))})"
    return cell + (f"; {missing} of {len(values)} seeds never" if missing else "")


def run(quick: bool = False) -> str:
    torch.set_num_threads(1)
    seeds = (0,) if quick else (0, 1, 2)
    steps = 200 if quick else LabRunRequest().steps
    d = LabRunRequest()
    load_before = open("/proc/loadavg").read().split()[:3]
    t0 = time.monotonic()
    copy: dict[str, list[dict]] = {}
    for scheme in SCHEMES:
        for seed in seeds:
            print(f"copy {scheme} seed {seed}", file=sys.stderr, flush=True)
            copy.setdefault(scheme, []).append(train("copy", scheme, seed, steps, stop_early=True))
    rev: dict[str, list[dict]] = {}
    for scheme in SCHEMES:
        for seed in seeds:
            print(f"reverse {scheme} seed {seed}", file=sys.stderr, flush=True)
            rev.setdefault(scheme, []).append(train("reverse", scheme, seed, steps, stop_early=False))
    wall = time.monotonic() - t0
    load_after = open("/proc/loadavg").read().split()[:3]
    lines = [
        "## The training lab: the induction head by positional scheme, and reversing with and without positions\n",
        f"`python -m tests.benchmarks --only labtrain` (tests/benchmarks/labtrain.py): each run a LabTrainer of the "
        f"lab's default size (`{d.size}`) and settings (lr {d.lr:g}, batch {d.batch_size}, a record every "
        f"{d.record_every} steps), one torch thread, seeds {', '.join(map(str, seeds))}, a budget of {steps} steps "
        f"(the lab's default). Each cell: the median over the seeds (the range, min to max, in parentheses). Seconds: "
        f"the trainer's own time in optimiser steps. Load average (1, 5, 15 min) before: {' '.join(load_before)}, "
        f"after: {' '.join(load_after)} ({os.cpu_count()} cores; {wall / 60:.1f} min in all).\n",
        f"### Copy: when a head's induction score first reaches {INDUCTION_AT:g}\n",
        "A record's induction score: the lab's (the Heads view's definition), on its probe (BOS, ten distinct random "
        f"letters, then the same letters shuffled); the step is the first record at which a head's score is "
        f"{INDUCTION_AT:g} or more. Loss: the training loss of that record "
        f"(the mean over the steps since the record before). Then: the first record whose training loss is below "
        f"{LOSS_DROP:g} nats, and the training loss of the first record (steps 1 to {d.record_every}; a uniform guess "
        f"over the task's {get_task('copy').vocab_size} tokens has ln {get_task('copy').vocab_size} = "
        f"{math.log(get_task('copy').vocab_size):.2f}).\n",
        "| positions | induction step | seconds | training loss then | head (layer.head) per seed | "
        f"loss below {LOSS_DROP:g} at step | first training loss |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for scheme, runs in copy.items():
        r = [s["role"] for s in runs]
        heads = ", ".join(f"{x['layer']}.{x['head']}" if x["reached"] else "none" for x in r)
        lines.append(f"| {scheme} | {spread([x['step'] for x in r], 0)} | {spread([x['seconds'] for x in r], 1, ' s')} "
                     f"| {spread([x['loss'] for x in r], 3)} | {heads} | "
                     f"{spread([s['loss']['step'] for s in runs], 0)} | {spread([s['first_loss'] for s in runs], 3)} |")
    lines += [
        "",
        f"### Reverse: after {steps} steps\n",
        "Accuracy and loss on the task's fixed example (its scored positions: the reversed letters), and the training "
        f"loss of the last record. A uniform guess over the {len(LETTERS)} letters: accuracy 1/{len(LETTERS)} = "
        f"{1 / len(LETTERS):.3f}, loss ln {len(LETTERS)} = {math.log(len(LETTERS)):.2f}.\n",
        "| positions | accuracy on the example | loss on the example | last training loss | seconds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for scheme, runs in rev.items():
        f = [s["final"] for s in runs]
        lines.append(f"| {scheme} | {spread([x['accuracy'] for x in f], 3)} | {spread([x['example_loss'] for x in f], 3)} "
                     f"| {spread([x['loss'] for x in f], 3)} | {spread([x['seconds'] for x in f], 1, ' s')} |")
    lines.append("")
    return "\n".join(lines)
