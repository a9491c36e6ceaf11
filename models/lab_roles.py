"""Role scores of attention heads, for the training lab: how much of each head's attention goes where a role
says it should, on one sequence.

    role_scores(pattern [layer, head, q, k], ids [pos]) -> {role: [layer, head]}

previous_token  mean over queries (from the second token on) of the weight on the token just before
induction       mean, over the queries whose token occurred before, of the weight on the tokens right after
                those earlier occurrences (on a repeated random sequence: the weight one step past the first copy)
duplicate       mean, over the same queries, of the weight on the earlier occurrences themselves
first_token     mean over queries of the weight on the first token (BOS): a head with nothing to do parks there

These are the lab's own small definitions; the head-roles module of the explorer defines the same scores, and
models/lab.py reads them through one import (ROLE_SCORES) so that it can use that module instead.
"""

from __future__ import annotations

import torch

ROLES: dict[str, str] = {
    "previous_token": "mean weight on the token just before the query",
    "induction": "mean weight on the token right after an earlier occurrence of the query's token",
    "duplicate": "mean weight on earlier occurrences of the query's token",
    "first_token": "mean weight on the first token (BOS)",
}


def earlier_copies(ids: torch.Tensor) -> torch.Tensor:
    """[q, k] bool: key k < q holds the same token as query q."""
    ids = torch.as_tensor(ids)
    n = ids.shape[0]
    same = ids[:, None] == ids[None, :]  # [q, k]
    return same & torch.ones(n, n, dtype=torch.bool).tril(-1)


def role_scores(pattern: torch.Tensor, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """pattern [layer, head, q, k] (rows sum to 1) and the sequence's ids [pos] -> {role: [layer, head]}.

    A role that no query of this sequence can show (no repeated token for induction and duplicate; one
    token for previous_token) scores 0."""
    pattern = pattern.float()
    n = pattern.shape[-1]
    zero = pattern.new_zeros(pattern.shape[:2])  # [layer, head]
    copies = earlier_copies(ids)  # [q, k]
    after = torch.zeros_like(copies)  # [q, k]: k is right after an earlier copy of q's token
    after[:, 1:] = copies[:, :-1]
    has_copy = copies.any(-1)  # [q]
    out = {
        "previous_token": pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1) if n > 1 else zero,
        "first_token": pattern[..., 0].mean(-1),
    }
    if has_copy.any():
        out["induction"] = (pattern * after).sum(-1)[..., has_copy].mean(-1)  # [layer, head]
        out["duplicate"] = (pattern * copies).sum(-1)[..., has_copy].mean(-1)
    else:
        out["induction"] = out["duplicate"] = zero
    return {name: out[name] for name in ROLES}
