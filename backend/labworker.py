"""The training lab's worker: one process per training run, started with multiprocessing's spawn context.

It trains with one torch thread at a lower CPU priority (`nice`), so the explorer's forward passes keep the
other cores and win when they compete. It talks to the server over one Pipe:

    server -> worker   ("pause",) ("resume",) ("step", n) ("reset", seed or None) ("stop",)
    worker -> server   ("ready", {"params": n}) ("status", "running" | "paused", step)
                       ("record", json bytes, step, checkpoint bytes)   one per record, checkpoint = the weights
                       ("reset",)   the reset is done: what follows belongs to the new run
                       ("end", reason, "steps" | "time")   that budget is spent; the worker then exits
                       ("failed", message)

A record is written as JSON here, once (the server stores and streams the bytes as they are): the fields of
models.lab.LabTrainer.record with the attention packed as 8-bit values (schemas.PackedWeights) and the
predicted tokens' display strings. The worker exits when told to stop, when its budget is spent, or when the
server's end of the pipe closes (the server went away).
"""

from __future__ import annotations

import base64
import json
import os
import time

HEARTBEAT_S = 0.5  # how often a paused worker checks that the server is still there


def pack(t) -> dict:
    """Weights in [0, 1] as one byte each (byte = round(weight * 255)), base64, as schemas.PackedWeights."""
    import torch

    q = torch.round(t.detach().float().clamp(0, 1) * 255).to(torch.uint8).contiguous()
    return {"shape": list(q.shape), "dtype": "uint8", "scale": 255, "data": base64.b64encode(q.numpy().tobytes()).decode()}


def encode_record(rec: dict, index: int, displays) -> bytes:
    out = {k: v for k, v in rec.items() if k != "pattern"}
    out["index"] = index
    out["attention"] = pack(rec["pattern"])
    out["prediction_tokens"] = displays(rec["predictions"])
    return json.dumps(out, separators=(",", ":")).encode()


def run_worker(conn, config: dict, max_steps: int, max_seconds: float, paused: bool, nice: int = 10) -> None:
    """The body of a worker process (the target given to the spawn context). It lowers its priority by `nice`
    once torch is imported (importing at the server's priority keeps the start quick on a busy machine)."""
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    try:
        _loop(conn, config, max_steps, max_seconds, paused, nice)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the server went away
    except Exception as e:  # anything else is reported, then the worker ends
        try:
            conn.send(("failed", f"{type(e).__name__}: {e}"))
        except OSError:
            pass
    finally:
        conn.close()


def _loop(conn, config: dict, max_steps: int, max_seconds: float, paused: bool, nice: int) -> None:
    from models.lab import LabConfig, LabTrainer

    cfg = LabConfig(**config)
    trainer = LabTrainer(cfg)
    try:
        os.nice(nice)
    except (OSError, AttributeError):
        pass
    displays = trainer.task.tokenizer().displays
    conn.send(("ready", {"params": trainer.n_params}))
    index = 0
    recorded = -1  # the step of the last record
    active = 0.0  # seconds spent training and recording (not paused): what the time budget counts

    def record() -> None:
        nonlocal index, recorded
        rec = {**trainer.record(), "budget_seconds": round(active, 3)}
        conn.send(("record", encode_record(rec, index, displays), trainer.step, trainer.state_bytes()))
        index += 1
        recorded = trainer.step

    record()  # step 0: the untrained model
    state = "paused" if paused else "running"
    conn.send(("status", state, trainer.step))
    pending = 0  # steps asked for with ("step", n) while paused
    while True:
        busy = state == "running" or pending > 0
        if conn.poll(0 if busy else HEARTBEAT_S):
            cmd = conn.recv()
            kind = cmd[0]
            if kind == "stop":
                return
            if kind == "pause" and state == "running":
                state = "paused"
                if recorded != trainer.step:
                    record()  # the paused state always has a record (and a checkpoint) of its step
                conn.send(("status", state, trainer.step))
            elif kind == "resume" and state == "paused":
                state, pending = "running", 0
                conn.send(("status", state, trainer.step))
            elif kind == "step" and state == "paused":
                pending += int(cmd[1])
            elif kind == "reset":
                seed = cmd[1]
                cfg = LabConfig(**{**cfg.to_dict(), **({} if seed is None else {"seed": int(seed)})})
                trainer = LabTrainer(cfg)
                index, recorded, pending, active = 0, -1, 0, 0.0
                conn.send(("reset",))
                conn.send(("ready", {"params": trainer.n_params}))
                record()
                conn.send(("status", state, trainer.step))
            continue
        if not busy:
            continue
        if trainer.step >= max_steps or active >= max_seconds:
            if recorded != trainer.step:
                record()
            budget = "steps" if trainer.step >= max_steps else "time"
            why = (f"reached {max_steps} step{'' if max_steps == 1 else 's'}, the run's step budget" if budget == "steps" else
                   f"its time budget of {max_seconds:g} s ran out (the training steps with their records)")
            conn.send(("end", why, budget))
            return
        # the time budget bounds the CPU a run takes: its training steps and its records
        t0 = time.perf_counter()
        trainer.train(1)
        if pending:
            pending -= 1
        active += time.perf_counter() - t0
        if trainer.step % cfg.record_every == 0 or (state == "paused" and pending == 0):
            t0 = time.perf_counter()
            record()  # (it carries `active`: the steps up to its own, and the records before it)
            active += time.perf_counter() - t0
