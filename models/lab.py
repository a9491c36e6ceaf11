"""The training lab's loop: a small Transformer learns a task step by step, and every few steps a record of
what it has learned so far.

    trainer = LabTrainer(LabConfig(task="copy", positional="rotary", size="small", seed=0))
    trainer.record()          # step 0: the untrained model
    trainer.train(5)          # five optimiser steps; returns their losses
    rec = trainer.record()    # loss, the attention of every head on the task's example, role scores, answer
    trainer.state_bytes()     # the weights now, as safetensors bytes (a checkpoint)
    save_folder(DIR, ...)     # model.safetensors, tokenizer.json, card.json: what `attnlab train` writes

The model is the project's one Transformer (models/transformer.py) with the positional scheme a parameter.
Each step draws a fresh batch from the task (a seeded generator) and minimises the cross-entropy of the
scored positions only. Same config and seed: the same losses, step for step (one torch thread).

A record is measured on two fixed sequences: the task's example (the attention pattern, the model's answer
at the scored positions, its accuracy and loss there) and the induction probe, BOS, up to ten distinct random
tokens, then the same tokens shuffled (Task.probe): on it, the role scores of every head (ROLES: induction,
previous-token, duplicate-token, sink), by the Heads view's own definitions (models/roles.py), so that a run's
last record and the Heads view of the model it registers give the same numbers on the probe.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from safetensors.torch import save_file

from models import roles as head_roles
from models.config import POSITIONAL_SCHEMES, ModelConfig
from models.tasks import IGNORE, TASKS, Task, get_task
from models.transformer import Transformer

# the role scores a record carries, in the order the lab offers them: the Heads view's (models/roles.py DEFINITION)
ROLES: tuple[str, ...] = ("induction", "previous-token", "duplicate-token", "sink")

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_layers": 1, "n_heads": 2, "d_model": 32, "d_head": 16, "d_mlp": 128},
    "small": {"n_layers": 2, "n_heads": 4, "d_model": 64, "d_head": 16, "d_mlp": 256},
    "medium": {"n_layers": 3, "n_heads": 4, "d_model": 96, "d_head": 24, "d_mlp": 384},
}
SIZE_TITLES = {
    "tiny": "1 layer x 2 heads, d_model 32",
    "small": "2 layers x 4 heads, d_model 64",
    "medium": "3 layers x 4 heads, d_model 96",
}
# what a size cannot learn, said beside its title (the menu shows the title alone: the two together cut it)
SIZE_NOTES = {"tiny": "one layer cannot form an induction head"}
DECIMALS = 4


@dataclass(frozen=True)
class LabConfig:
    task: str = "copy"
    positional: str = "sinusoidal"
    size: str = "small"
    seed: int = 0
    lr: float = 3e-3
    batch_size: int = 32
    warmup_steps: int = 10
    weight_decay: float = 0.01
    record_every: int = 5  # a record every this many steps (and after every manual step)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; the tasks are: {', '.join(TASKS)}")
        if self.positional not in POSITIONAL_SCHEMES:
            raise ValueError(f"positional must be one of {', '.join(POSITIONAL_SCHEMES)}, not {self.positional!r}")
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, not {self.size!r}")
        if not 0 < self.lr <= 0.1:
            raise ValueError(f"lr must be in (0, 0.1], not {self.lr}")
        if not 1 <= self.batch_size <= 256:
            raise ValueError(f"batch_size must be 1 to 256, not {self.batch_size}")
        if self.record_every < 1:
            raise ValueError(f"record_every must be at least 1, not {self.record_every}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def model_config(cfg: LabConfig, task: Task | None = None) -> ModelConfig:
    task = task or get_task(cfg.task)
    size = SIZES[cfg.size]
    return ModelConfig(**size, vocab_size=task.vocab_size, max_positions=task.seq_len, positional=cfg.positional,
                       embed_scale=math.sqrt(size["d_model"]))


def init_weights(model: Transformer, seed: int) -> None:
    """The model's own initialisation (models/transformer.py), then every matrix but the embeddings drawn again
    from N(0, 1 / fan_in). GPT-2's fixed 0.02 suits wide models; in one 64 wide it makes each head's output
    start about a hundred times smaller than the residual stream, and two heads that must compose (an
    induction head reads what a previous-token head wrote) learn to do so more slowly."""
    model.reset_parameters(seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if p.dim() < 2 or leaf in ("W_E", "W_pos"):
                continue
            if leaf == "W_O":
                fan_in = p.shape[0] * p.shape[1]  # [head, d_head, d_model]: the heads' outputs concatenated
            elif p.dim() == 3:
                fan_in = p.shape[1]  # W_Q, W_K, W_V [head, d_model, d_head]
            else:
                fan_in = p.shape[0]  # MLP [in, out]
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def _rnd(t: torch.Tensor) -> list:
    return torch.round(t.detach().double(), decimals=DECIMALS).tolist()


def role_scores(pattern: torch.Tensor, ids: torch.Tensor, special: list[bool], causal: bool = True) -> dict[str, list]:
    """{role: [layer][head]} of ROLES on one sequence (pattern [layer, head, q, k], ids and special [pos]), rounded;
    None where no query of the sequence counts for the role (models.roles.scores: nan)."""
    values = head_roles.scores(pattern, ids, special, causal=causal).values
    return {role: [[None if math.isnan(v) else v for v in row] for row in _rnd(values[role])] for role in ROLES}


class LabTrainer:
    def __init__(self, cfg: LabConfig):
        self.cfg = cfg
        self.task = get_task(cfg.task)
        self.model_cfg = model_config(cfg, self.task)
        torch.manual_seed(cfg.seed)
        self.model = Transformer(self.model_cfg)
        init_weights(self.model, cfg.seed)
        self.model.train()
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
        self.rng = random.Random(cfg.seed)
        self.step = 0
        self.seconds = 0.0  # time spent in optimiser steps (records not counted)
        self.example = self.task.example()  # ids [1, pos], targets [1, pos]
        self.probe = torch.tensor(self.task.probe(), dtype=torch.long)  # [pos]
        tok = self.task.tokenizer()
        self.probe_special = [tok.is_special(i) for i in self.probe.tolist()]  # [pos]: BOS
        self._losses: list[float] = []  # since the last record

    @property
    def n_params(self) -> int:
        return self.model.n_params()

    def lr_at(self, step: int) -> float:
        return self.cfg.lr * min(1.0, (step + 1) / self.cfg.warmup_steps)

    def train(self, n: int = 1) -> list[float]:
        """n optimiser steps; their losses (mean cross-entropy over the scored positions of each batch)."""
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            batch = self.task.batch(self.cfg.batch_size, self.rng)
            for group in self.opt.param_groups:
                group["lr"] = self.lr_at(self.step)
            logits = self.model(batch.ids)  # [batch, pos, vocab]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1), ignore_index=IGNORE)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.step += 1
            self.seconds += time.perf_counter() - t0
            out.append(round(loss.item(), DECIMALS))
        self._losses.extend(out)
        return out

    @torch.no_grad()
    def record(self) -> dict:
        """What the model does now: on the example, its attention (`pattern`, a tensor [layer, head, q, k]), its
        answer at the scored positions (`predictions`, token ids), their accuracy and loss; on the probe, each
        role's score [layer][head]; and the training losses of the steps since the last record."""
        self.model.eval()
        try:
            ids, targets = self.example.ids[0], self.example.targets[0]  # [pos]
            logits, cache = self.model.run_with_cache(ids)  # [pos, vocab]
            pattern = torch.stack([cache["pattern", layer] for layer in range(self.model_cfg.n_layers)])  # [layer, head, q, k]
            scored = targets != IGNORE  # [pos]
            answer = logits.argmax(-1)  # [pos]
            ex_loss = F.cross_entropy(logits[scored], targets[scored])
            _, probe_cache = self.model.run_with_cache(self.probe)
            probe_pattern = torch.stack([probe_cache["pattern", layer] for layer in range(self.model_cfg.n_layers)])
            roles = role_scores(probe_pattern, self.probe, self.probe_special, self.model_cfg.causal)  # {role: [layer][head]}
        finally:
            self.model.train()
        losses, self._losses = self._losses, []
        return {
            "step": self.step,
            "seconds": round(self.seconds, 3),
            "losses": losses,
            "loss": round(sum(losses) / len(losses), DECIMALS) if losses else None,
            "example_loss": round(float(ex_loss), DECIMALS),
            "accuracy": round(float((answer[scored] == targets[scored]).float().mean()), DECIMALS),
            "predictions": answer[scored].tolist(),
            "pattern": pattern,  # [layer, head, q, k], a tensor
            "roles": roles,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone().contiguous() for k, v in self.model.state_dict().items()}

    def state_bytes(self) -> bytes:
        return save_bytes(self.state_dict(), metadata={"format": "attnlab", "step": str(self.step)})


def load_state(data: bytes) -> dict[str, torch.Tensor]:
    return load_bytes(data)


def example_info(task: Task) -> dict:
    """The example and probe as the page shows them: tokens, scored positions, expected answers."""
    tok = task.tokenizer()
    ex = task.example()
    ids, targets = ex.ids[0].tolist(), ex.targets[0].tolist()
    scored = [i for i, t in enumerate(targets) if t != IGNORE]
    probe = task.probe()
    return {"ids": ids, "tokens": tok.displays(ids), "scored": scored, "expected": [targets[i] for i in scored],
            "expected_tokens": tok.displays([targets[i] for i in scored]), "probe_ids": probe,
            "probe_tokens": tok.displays(probe)}


def card_for(cfg: LabConfig, model_cfg: ModelConfig, step: int, seconds: float, params: int,
             metrics: dict | None = None, name: str = "") -> dict:
    """A card.json like `attnlab train` writes, for a lab run's weights at `step`."""
    task = get_task(cfg.task)
    stories = cfg.task == "tinystories"
    return {
        "name": name,
        "title": f"Lab: {task.title}, {cfg.positional} positions, {cfg.size}, step {step}",
        "config": model_cfg.to_dict(),
        "params": params,
        "tokenizer": {"kind": "byte-level BPE" if stories else "one token per character (a-z, |, *)",
                      "vocab_size": model_cfg.vocab_size, "bos": "<|bos|>"},
        "corpus": {"name": f"lab task {cfg.task}", "source": task.description,
                   "licence": "CDLA-Sharing-1.0" if stories else ""},
        "licence": "CDLA-Sharing-1.0" if stories else "",
        "training": {"lab": cfg.to_dict(), "steps": step, "wall_seconds": round(seconds, 2),
                     "batch_size": cfg.batch_size, "seq_len": model_cfg.max_positions, "seed": cfg.seed,
                     "lr": cfg.lr, "threads": torch.get_num_threads()},
        "metrics": metrics or {},
        "software": {"torch": torch.__version__},
    }


def save_folder(out: str | Path, cfg: LabConfig, state: dict[str, torch.Tensor], step: int, seconds: float,
                metrics: dict | None = None) -> Path:
    """Write model.safetensors, tokenizer.json and card.json (the files of `attnlab train`, loadable with
    models.registry.load_folder) for weights of a lab run."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task(cfg.task)
    model_cfg = model_config(cfg, task)
    model = Transformer(model_cfg, init=False)
    model.load_state_dict(state, strict=True)  # (checks the weights fit the config)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "model.safetensors"), metadata={"format": "attnlab"})
    task.tokenizer().save(out / "tokenizer.json")
    card = card_for(cfg, model_cfg, step, seconds, model.n_params(), metrics, name=out.name)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return out


# ------------------------------------------------------------------ what a run reached (lessons, benchmarks)

LOSS_DROP = 1.0  # nats: the copy task starts near ln(31) = 3.43; below this the model predicts the copied half
INDUCTION_AT = 0.5  # a head's induction score that counts as an induction head (frontend/js/views/lab.js: the same)
LEARNED_AT = 0.9  # the accuracy on the task's example at which a run counts as having learned the task


def summarize(records: list[dict], *, loss_below: float = LOSS_DROP, role: str = "induction",
              score_above: float = INDUCTION_AT, learned_at: float = LEARNED_AT) -> dict:
    """What a run's records (LabTrainer.record() or their JSON, in step order) reached:

    - `loss`: the first record whose training loss (the mean of the steps since the record before) is below
      `loss_below`: {reached, step, seconds, loss}; step and seconds null when none is;
    - `role`: the first record at which a head's `role` score (on the probe) is `score_above` or more: {reached,
      step, seconds, layer, head, score, loss (the training loss of that record)};
    - `final`: the last record's step, seconds, training loss, example loss and accuracy, and its best `role` score
      with its head, `learned`: its accuracy is `learned_at` or more, and `loss_below`: its training loss is below
      `loss_below` (both false without a record: one example right is not the task learned, so the lessons ask
      both); every other field null when there is no record.
    Step 0 (the untrained model) has no training loss; it never counts as the loss having dropped."""
    out = {"records": len(records),
           "thresholds": {"loss": loss_below, "role": role, "score": score_above, "accuracy": learned_at},
           "loss": {"reached": False, "step": None, "seconds": None, "loss": None},
           "role": {"reached": False, "step": None, "seconds": None, "layer": None, "head": None, "score": None,
                    "loss": None},
           "final": {"step": None, "seconds": None, "loss": None, "example_loss": None, "accuracy": None,
                     "best_score": None, "best_layer": None, "best_head": None, "learned": False, "loss_below": False}}

    def best(rec: dict) -> tuple[float, int, int] | None:
        scores = (rec.get("roles") or {}).get(role)
        if not scores:
            return None
        found = [(-s, layer, head) for layer, row in enumerate(scores) for head, s in enumerate(row) if s is not None]
        if not found:
            return None
        s, layer, head = min(found)  # the highest score; on a tie the lower layer, then head (as labrun.js topHead)
        return -s, layer, head

    for rec in records:
        loss = rec.get("loss")
        if not out["loss"]["reached"] and loss is not None and loss < loss_below:
            out["loss"] = {"reached": True, "step": rec["step"], "seconds": rec["seconds"], "loss": loss}
        top = best(rec)
        if not out["role"]["reached"] and top is not None and top[0] >= score_above:
            out["role"] = {"reached": True, "step": rec["step"], "seconds": rec["seconds"], "layer": top[1],
                           "head": top[2], "score": top[0], "loss": loss}
    if records:
        last = records[-1]
        top = best(last)
        out["final"] = {"step": last["step"], "seconds": last["seconds"], "loss": last.get("loss"),
                        "example_loss": last.get("example_loss"), "accuracy": last.get("accuracy"),
                        "best_score": top[0] if top else None, "best_layer": top[1] if top else None,
                        "best_head": top[2] if top else None,
                        "learned": last.get("accuracy") is not None and last["accuracy"] >= learned_at,
                        "loss_below": last.get("loss") is not None and last["loss"] < loss_below}
    return out
