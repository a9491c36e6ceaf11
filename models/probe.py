"""A linear probe of position: how much of a token's position can be read off the residual stream at each depth.

The validation text is cut into windows as training laid them out (the start token, then max_positions - 2
tokens of text: positions 0 to max_positions - 2, the ones training used). At each depth (the input of
block 0, i.e. the token embedding plus any added position vector, then the output of every block) the
residual stream of every text token (the start token, always at position 0, is left out) is the input of a
ridge regression whose target is the token's position.

Deterministic: a fixed split (the first FIT_SHARE of the windows fit, the rest are held out), features
standardised with the fitting part's mean and spread, the closed-form ridge solution in float64, and the
penalty chosen from LAMBDAS by K-fold cross-validation on the fitting part only (folds of whole windows,
in order). The held-out R² is 1 - (sum of squared errors) / (sum of squares about the held-out mean).

    feats, pos, win = residuals(model, tok, text)      # [depth, token, d_model], [token], [token]
    result = probe(feats, pos, win)                      # per depth: R² held out, R² on the fit, MAE, lambda
"""

from __future__ import annotations

import torch

from models.tokenizer import Tokenizer
from models.transformer import Transformer

FIT_SHARE = 0.7  # the first 70% of the windows fit the probe; the last 30% are held out
FOLDS = 5  # cross-validation folds on the fitting part, to choose the penalty
# penalties tried, per token (the ridge term is lambda * n_fit * |w|² on standardised features)
LAMBDAS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def depth_labels(model: Transformer) -> list[str]:
    first = ("block input: token embedding + position vector" if model.pos_embed is not None
             else "block input: token embedding (nothing added)")
    return [first] + [f"after block {layer}" for layer in range(model.cfg.n_layers)]


def depth_hooks(model: Transformer) -> list[str]:
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{layer}.hook_resid_post" for layer in range(model.cfg.n_layers)]


@torch.inference_mode()
def residuals(model: Transformer, tok: Tokenizer, text: str, max_windows: int | None = None,
              batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The residual stream at every depth for each text token of the windows, with its position and window.

    Returns features [depth, token, d_model] float64, positions [token] float64, window index [token]."""
    from models.transformer import hooks_active

    span = model.cfg.max_positions - 1  # inputs per window: the start token and span - 1 tokens of text
    ids = tok.encode(text, add_bos=False)
    step = span - 1
    wins = [ids[i:i + step] for i in range(0, len(ids) - step + 1, step)][:max_windows]
    if len(wins) < 2:
        raise ValueError(f"the text has {len(ids)} tokens: fewer than two windows of {step}")
    model.eval()
    hooks = depth_hooks(model)
    feats: list[torch.Tensor] = []
    for b in range(0, len(wins), batch_size):
        chunk = torch.tensor(wins[b:b + batch_size], dtype=torch.long)  # [batch, pos - 1]
        x = torch.cat([torch.full((chunk.shape[0], 1), tok.bos_id, dtype=torch.long), chunk], dim=1)  # [batch, pos]
        with hooks_active(cache=True) as run:
            model(x)
        per_depth = torch.stack([run.store[h][:, 1:] for h in hooks])  # [depth, batch, pos - 1, d_model]
        feats.append(per_depth.double())
    stacked = torch.cat(feats, dim=1)  # [depth, window, pos - 1, d_model]
    d, w, p, dm = stacked.shape
    positions = torch.arange(1, p + 1, dtype=torch.float64).repeat(w)  # [window * (pos - 1)]
    window = torch.arange(w).repeat_interleave(p)  # [window * (pos - 1)]
    return stacked.reshape(d, w * p, dm), positions, window  # [depth, token, d_model]


class Stats:
    """Sums that a ridge fit and its squared error need, for a set of tokens: n, sum x, sum x xᵀ, sum y, sum x y,
    sum y². They add up over disjoint sets, so every fold of the cross-validation is a sum of per-window parts."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.n = x.shape[0]
        self.sx = x.sum(0)  # [d]
        self.sxx = x.T @ x  # [d, d]
        self.sy = y.sum()
        self.sxy = x.T @ y  # [d]
        self.syy = (y * y).sum()

    def __add__(self, other: Stats) -> Stats:
        out = Stats.__new__(Stats)
        for k in ("n", "sx", "sxx", "sy", "sxy", "syy"):
            setattr(out, k, getattr(self, k) + getattr(other, k))
        return out


def fit(s: Stats, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge on the features standardised with this set's mean and spread (penalty lam * n * |w|², intercept free),
    written back as raw-feature weights a [d] and intercept c: prediction = x a + c."""
    mean = s.sx / s.n  # [d]
    cov = s.sxx - s.n * torch.outer(mean, mean)  # [d, d]: sum of (x - mean)(x - mean)ᵀ
    std = (cov.diagonal() / s.n).clamp_min(0).sqrt().clamp_min(1e-12)  # [d]
    gram = cov / std[:, None] / std[None, :]  # [d, d]: Xᵀ X of the standardised features
    ymean = s.sy / s.n
    rhs = (s.sxy - s.sx * ymean) / std  # [d]: Xᵀ (y - mean y) of the standardised features
    w = torch.linalg.solve(gram + lam * s.n * torch.eye(len(std), dtype=gram.dtype), rhs)  # [d]
    a = w / std
    return a, ymean - mean @ a


def sse(s: Stats, a: torch.Tensor, c: torch.Tensor) -> float:
    """The sum of (x a + c - y)² over a set, from its sums."""
    return float(a @ s.sxx @ a + 2 * c * (a @ s.sx) - 2 * (a @ s.sxy) + s.n * c * c - 2 * c * s.sy + s.syy)


def r2(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float(1 - ((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def per_window(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> dict[int, Stats]:
    """The sums of each window's tokens (window: each token's window, in runs as `residuals` lays them out)."""
    ids, counts = torch.unique_consecutive(window, return_counts=True)
    if len(set(ids.tolist())) != len(ids):
        raise ValueError("each window's tokens must be consecutive")
    xs, ys = torch.split(x, counts.tolist()), torch.split(y, counts.tolist())
    return {int(w): Stats(xw, yw) for w, xw, yw in zip(ids, xs, ys, strict=True)}


def choose_lambda(parts: dict[int, Stats], folds: int = FOLDS,
                  lambdas: tuple[float, ...] = LAMBDAS) -> tuple[float, dict[str, float]]:
    """The penalty with the least cross-validated mean squared error over the windows of `parts` (folds of whole
    windows, in order); the errors of every penalty tried."""
    wins = sorted(parts)
    groups = [g.tolist() for g in torch.tensor_split(torch.tensor(wins), folds)]
    held = [sum((parts[w] for w in g[1:]), parts[g[0]]) for g in groups]
    total = sum((parts[w] for w in wins[1:]), parts[wins[0]])
    n = total.n
    errors = {}
    for lam in lambdas:
        err = 0.0
        for h in held:
            rest = Stats.__new__(Stats)
            for k in ("n", "sx", "sxx", "sy", "sxy", "syy"):
                setattr(rest, k, getattr(total, k) - getattr(h, k))
            err += sse(h, *fit(rest, lam))
        errors[f"{lam:g}"] = err / n
    best = min(lambdas, key=lambda lam: (errors[f"{lam:g}"], lam))
    return best, errors


def split(window: torch.Tensor, share: float = FIT_SHARE) -> torch.Tensor:
    """True for the tokens of the fitting windows: the first `share` of the windows, in order."""
    n_win = int(window.max()) + 1
    return window < max(1, min(n_win - 1, round(n_win * share)))


def probe(feats: torch.Tensor, positions: torch.Tensor, window: torch.Tensor) -> list[dict]:
    """For each depth of feats [depth, token, d_model]: the probe fitted on the fitting windows, evaluated on the
    held-out ones. Returns per depth: r2 (held out), r2_fit, mae (held out, in positions), lambda, cv errors."""
    fitting = split(window)
    out = []
    for x in feats:
        parts = per_window(x[fitting], positions[fitting], window[fitting])
        lam, errors = choose_lambda(parts)
        a, c = fit(Stats(x[fitting], positions[fitting]), lam)
        pred_fit, pred = x[fitting] @ a + c, x[~fitting] @ a + c
        out.append({"r2": round(r2(pred, positions[~fitting]), 4), "r2_fit": round(r2(pred_fit, positions[fitting]), 4),
                    "mae": round(float((pred - positions[~fitting]).abs().mean()), 3), "lambda": lam,
                    "cv_mse": {k: round(v, 4) for k, v in errors.items()}})
    return out
