"""Loss by position: how well a model predicts the next token at each position, up to 4x its trained length.

The validation text is cut into windows of `span` tokens side by side (full windows only). Each window is
run as the model reads text: the start token, then the window's tokens; the prediction made at input
position i (0 is the start token) is scored against the window's token i. So position i predicts with i
tokens of context, and a window of span tokens uses positions 0 to span - 1. A model whose scheme cannot
run past its trained length (learned positions) is run on the first max_positions tokens of the same
windows: its curve stops there, on the same text as the others' first positions.

    losses = loss_matrix(model, tok, text, span=512)     # [window, position], nats
    curve = summarise(losses, trained=128)               # per position, per bin, at 128/256/512 tokens

`python -m models.measure` writes the result next to a model's weights (lengths.json); the API serves it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.positional import why_not_beyond
from models.tokenizer import Tokenizer
from models.transformer import Transformer

MULTIPLE = 4  # how far past the trained length: 4 x max_positions (512 for the tiny models)
BIN = 32  # positions per bin of the smoothed curve
AT = (128, 256, 512)  # the lengths whose loss is summarised
TAIL = 64  # "near L": the mean over positions L - TAIL .. L - 1


def windows(ids: list[int], span: int) -> list[list[int]]:
    """The full windows of `span` tokens of `ids`, side by side (the remainder is left out)."""
    if span <= 0:
        raise ValueError(f"span must be positive, got {span}")
    return [ids[i:i + span] for i in range(0, len(ids) - span + 1, span)]


def reach(model: Transformer, span: int) -> int:
    """How many positions of a window of `span` tokens this model can be run on."""
    return span if why_not_beyond(model.cfg) is None else min(span, model.cfg.max_positions)


@torch.inference_mode()
def loss_matrix(model: Transformer, tok: Tokenizer, text: str, span: int, batch_size: int = 8,
                max_windows: int | None = None) -> torch.Tensor:
    """The loss (nats) of every prediction, [window, position], float64: row w, column i is the loss of
    predicting token i of window w from the start token and tokens 0 .. i - 1 of that window."""
    ids = tok.encode(text, add_bos=False)
    wins = windows(ids, span)[:max_windows]
    if not wins:
        raise ValueError(f"the text has {len(ids)} tokens: fewer than one window of {span}")
    n = reach(model, span)
    model.eval()
    rows = []
    for b in range(0, len(wins), batch_size):
        target = torch.tensor([w[:n] for w in wins[b:b + batch_size]], dtype=torch.long)  # [batch, pos]
        bos = torch.full((target.shape[0], 1), tok.bos_id, dtype=torch.long)
        x = torch.cat([bos, target[:, :-1]], dim=1)  # [batch, pos]: the start token, then the window
        logits = model(x, max_tokens=n)  # [batch, pos, vocab]
        nll = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # [batch, pos]
        rows.append(nll.double())
    return torch.cat(rows)  # [window, pos]


def summarise(losses: torch.Tensor, trained: int, at: tuple[int, ...] = AT, bin_size: int = BIN) -> dict:
    """losses [window, position] -> the mean per position (and its standard error over windows), the mean per
    bin of positions, each window's mean, and at each length L of `at` within reach: the mean over positions
    0 .. L - 1 (what an evaluation in windows of L tokens measures) and over the last TAIL positions before L."""
    n_win, n = losses.shape
    mean = losses.mean(0)  # [pos]
    sem = losses.std(0, correction=1) / n_win ** 0.5 if n_win > 1 else torch.zeros(n, dtype=losses.dtype)  # [pos]
    bins = []
    for lo in range(0, n, bin_size):
        hi = min(n, lo + bin_size)
        block = losses[:, lo:hi]  # [window, bin]
        bins.append({"start": lo, "end": hi, "loss": round(float(block.mean()), 4)})
    summary = {}
    for length in at:
        if length > n:
            summary[str(length)] = None
            continue
        summary[str(length)] = {
            "mean_loss": round(float(losses[:, :length].mean()), 4),
            "tail_loss": round(float(losses[:, length - TAIL:length].mean()), 4),
        }
    return {
        "positions": n,
        "windows": n_win,
        "loss": [round(v, 4) for v in mean.tolist()],
        "sem": [round(v, 4) for v in sem.tolist()],
        "bins": bins,
        "window_loss": [round(v, 6) for v in losses.mean(1).tolist()],
        "trained_mean_loss": round(float(losses[:, :min(trained - 1, n)].mean()), 4),
        "at": summary,
    }
