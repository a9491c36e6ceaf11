"""Attention views: all patterns with per-head summaries, Q/K/V, the worked arithmetic, comparisons."""

from __future__ import annotations

import math

import torch

from backend import schemas
from backend.analysis import roles as role_analysis  # (a module: analysis.roles imports this one too)
from backend.analysis.common import (
    check_index,
    packed_rounded,
    packed_weights,
    rnd,
    rnd_masked,
    rounded,
    run_info,
    special_tokens,
    visible_keys,
)
from backend.analysis.predict import top_k
from backend.encode import Rows
from backend.service import Run
from models import roles as role_models
from models.positional import alibi_bias
from models.sampling import entropy
from models.transformer import check_layer_head


def patterns(run: Run) -> torch.Tensor:
    cfg = run.loaded.cfg
    return torch.stack([run.cache["pattern", layer] for layer in range(cfg.n_layers)])  # [layer, head, q, k]


def head_summaries(run: Run, pattern: torch.Tensor, scores: role_models.Scores | None = None) -> list[list[schemas.HeadSummary]]:
    """pattern [layer, head, q, k] of the pass -> each head's mean entropy in nats and its previous-, first- and
    own-token weight: the role table's previous-token, sink and self scores (models.roles.summary: the same queries
    and keys; `scores`, the role table's own, where it is computed too), None where no query counts."""
    s = scores or role_models.summary(pattern, run.ids, special_tokens(run), causal=run.loaded.cfg.causal)
    # rounded at once, as the role table rounds the same scores
    fields = torch.stack([s.entropy_nats, *(s.values[r] for r in ("previous-token", "sink", "self"))], -1)  # [layer, head, 4]
    return [[schemas.HeadSummary(layer=l, head=h, entropy=ent, previous_token=prev, first_token=first, self_token=own)
             for h, (ent, prev, first, own) in enumerate(row)] for l, row in enumerate(rnd_masked(fields))]


def query_rows(pattern: torch.Tensor, selection: schemas.QuerySelection) -> schemas.QueryRows:
    """pattern [layer, head, q, k] -> the rows of the selected queries summed (or averaged), [layer, head, k]."""
    n = pattern.shape[-2]
    for q in selection.queries:
        try:
            check_index("query", q, n)
        except ValueError as e:
            raise ValueError(f"query_rows: {e}") from None
    rows = pattern[:, :, selection.queries].double().sum(2)  # [layer, head, k]
    if selection.combine == "mean":
        rows = rows / len(selection.queries)
    return schemas.QueryRows(queries=selection.queries, combine=selection.combine, weights=rnd(rows))


def analyze(run: Run, k: int, layers: list[int] | None = None, thumbnails: bool = False,
            roles: bool = False, selection: schemas.QuerySelection | None = None,
            to_send: bool = False, heads: bool = True, visible_only: bool = False,
            packed: bool = False) -> schemas.AnalyzeResponse:
    """Every head's pattern (full precision for `layers`, default all, each query's row cut after the keys it sees
    with `visible_only`, as 16-bit integers in `attention_packed` with `packed`; 8-bit for all with `thumbnails`),
    the per-head summaries (unless not `heads`), the top-k next tokens, with `roles` every head's role scores and label, and with
    `selection` every head's rows of the selected queries combined. `to_send`: an answer only written to JSON by
    backend/encode.py (the route's), whose `attention` is a numpy array of the same numbers (common.rounded; with
    `visible_only`, in an encode.Rows)."""
    cfg = run.loaded.cfg
    if layers is None:
        layers = list(range(cfg.n_layers))
    for layer in layers:
        try:
            check_layer_head(cfg, layer)
        except ValueError as e:
            raise ValueError(f"layers: {e}") from None
    pat = patterns(run)  # [layer, head, q, k]
    scores = role_analysis.score_run(run, pat) if roles else None  # (the summary reads three of them)
    rows = query_rows(pat, selection) if selection is not None else None
    preds, why = top_k(run, k, temperature=1.0)
    visible = visible_keys(run)
    answer = schemas.AnalyzeResponse(**run_info(run), n_layers=cfg.n_layers, n_heads=cfg.n_heads, causal=cfg.causal,
                                     visible=visible, layers=layers, attention=[],
                                     thumbnails=packed_weights(pat) if thumbnails else None,
                                     heads=head_summaries(run, pat, scores) if heads else None, predictions=preds,
                                     predictions_unavailable=why,
                                     unseen_characters=unseen_characters(run),
                                     roles=role_analysis.table(run, pattern=pat, scores=scores) if roles else None,
                                     query_rows=rows)
    # Assigned after validation: rnd() makes nested lists of floats from a float tensor, so checking each of its
    # n_layers * n_heads * n^2 numbers again (more than the rest of the answer costs at 64 tokens) proves nothing.
    sent = pat if layers == list(range(cfg.n_layers)) else pat[layers]  # (every layer: no copy)
    if packed:  # [len(layers), head, q, k] as integers, `attention` left [] (as lists below where they cannot be)
        answer.attention_packed = packed_rounded(sent, visible if visible_only else None)
        if answer.attention_packed is not None:
            return answer
    if not visible_only:
        answer.attention = (rounded if to_send else rnd)(sent)  # [len(layers), head, q, k]
    elif to_send:
        answer.attention = Rows(rounded(sent), visible)  # [len(layers), head, q, visible[q]]
    else:
        answer.attention = [[[row[:n] for row, n in zip(matrix, visible, strict=True)] for matrix in layer]
                            for layer in rnd(sent)]  # [len(layers)][head][q][visible[q]]
    return answer


def unseen_characters(run: Run) -> list[str] | None:
    """The characters of the text that the model's training text never had, each once, in the order they come;
    None where the training text is not known (the pretrained models)."""
    seen = run.loaded.training_chars
    if seen is None:
        return None
    return list(dict.fromkeys(c for c in run.text if c not in seen))


def _pca2(points: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """points [n, d] -> coordinates [n, 2] on the two main axes, and each axis's share of the variance."""
    x = points.double() - points.double().mean(0, keepdim=True)
    if x.shape[0] < 2 or float(x.abs().max()) == 0.0:
        return torch.zeros(x.shape[0], 2, dtype=torch.float64), [0.0, 0.0]
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    axes = vh[:2]  # [2, d]
    # a fixed sign, so the picture does not flip between calls
    signs = torch.sign(axes[torch.arange(axes.shape[0]), axes.abs().argmax(-1)])
    axes = axes * signs[:, None]
    coords = x @ axes.T  # [n, 2]
    if coords.shape[1] < 2:
        coords = torch.cat([coords, torch.zeros(coords.shape[0], 2 - coords.shape[1], dtype=coords.dtype)], 1)
    var = s.pow(2)
    share = (var[:2] / var.sum()).tolist() + [0.0] * (2 - min(2, len(var)))
    return coords, [round(v, 4) for v in share[:2]]


def qkv(run: Run, layer: int, head: int | None) -> schemas.QKVResponse:
    cfg = run.loaded.cfg
    check_layer_head(cfg, layer, head)
    rotary = cfg.positional == "rotary"
    heads = range(cfg.n_heads) if head is None else [head]
    out = []
    for h in heads:
        out.append(schemas.HeadQKV(
            head=h, kv_head=h // cfg.group_size,
            q=rnd(run.cache["q", layer, h]), k=rnd(run.cache["k", layer, h]), v=rnd(run.cache["v", layer, h]),
            z=rnd(run.cache["z", layer, h]),
            q_rot=rnd(run.cache["rot_q", layer, h]) if rotary else None,
            k_rot=rnd(run.cache["rot_k", layer, h]) if rotary else None))
    projection = None
    if head is not None:
        q = run.cache["rot_q" if rotary else "q", layer, head]  # [pos, d_head]
        k = run.cache["rot_k" if rotary else "k", layer, head]
        coords, explained = _pca2(torch.cat([q, k]))
        n = q.shape[0]
        pattern = run.cache["pattern", layer, head]
        flat = [(qi, ki, float(pattern[qi, ki])) for qi in range(n) for ki in range(n)]
        strongest = sorted(flat, key=lambda t: -t[2])[:max(n, 1) * 2]
        projection = schemas.Projection(q=rnd(coords[:n]), k=rnd(coords[n:]), explained=explained,
                                        links=[(qi, ki, round(w, 4)) for qi, ki, w in strongest if w > 0])
    return schemas.QKVResponse(**run_info(run), layer=layer, d_head=cfg.d_head, heads=out, projection=projection)


def explain(run: Run, layer: int, head: int, query: int) -> schemas.ExplainResponse:
    """One row of one head, step by step, from the cached q, k, v and pattern."""
    cfg = run.loaded.cfg
    check_layer_head(cfg, layer, head)
    n = len(run.ids)
    check_index("query", query, n)
    rotary = cfg.positional == "rotary"
    q = run.cache["rot_q" if rotary else "q", layer, head][query]  # [d_head]
    keys = run.cache["rot_k" if rotary else "k", layer, head]  # [pos, d_head]
    values = run.cache["v", layer, head]  # [pos, d_head]
    weights = run.cache["pattern", layer, head][query]  # [pos]: the model's own row
    scale = math.sqrt(cfg.d_head) if run.iv.scale else 1.0
    other = 1.0 if run.iv.scale else math.sqrt(cfg.d_head)
    mask = torch.arange(n) >= visible_keys(run)[query]  # [pos]: the keys this query cannot see
    raw = keys @ q  # [pos]
    masked_raw = raw.masked_fill(mask, float("-inf"))
    # ALiBi: the head's bias, -slope x distance to each key, added after the scaling (0 with positions removed)
    slope = bias = None
    added = torch.zeros(n, dtype=raw.dtype)  # [pos]
    if cfg.positional == "alibi":
        slope = float(run.loaded.model.alibi_slopes[head])
        if run.iv.positions != "removed":
            given = torch.tensor(run.cache.permutation) if run.cache.permutation is not None else torch.arange(n)
            added = alibi_bias(run.loaded.model.alibi_slopes[head:head + 1], given)[0, query].to(raw.dtype)  # [pos]
        bias = rnd_masked(added.masked_fill(mask, float("-inf")))
    other_weights = torch.softmax(masked_raw / other + added, dim=-1)
    weighted = weights[:, None] * values  # [pos, d_head]
    return schemas.ExplainResponse(
        **run_info(run), layer=layer, head=head, query=query, d_head=cfg.d_head, scale=round(scale, 6),
        kv_head=head // cfg.group_size, group_size=cfg.group_size, rotated=rotary and run.iv.positions != "removed",
        ablated=(layer, head) in run.iv.ablate, q=rnd(q), keys=rnd(keys), values=rnd(values),
        raw_scores=rnd_masked(masked_raw),
        scaled_scores=rnd_masked(masked_raw / scale), slope=slope, bias=bias,
        scores=rnd_masked(run.cache["attn_scores", layer, head][query]), mask=mask.tolist(), weights=rnd(weights),
        # + 0.0: a row on one key has -(1 log 1) = -0.0, which a reader sees as "-0.000"
        weighted_values=rnd(weighted), output=rnd(weighted.sum(0)), entropy=round(float(entropy(weights)), 4) + 0.0,
        other_scale=round(other, 6), other_weights=rnd(other_weights),
        other_entropy=round(float(entropy(other_weights)), 4) + 0.0)


def _same_token(x: schemas.Token, y: schemas.Token, one_vocabulary: bool) -> bool:
    """Whether two tokens at one position of Compare's two sides stand for the same piece of text: their ids where
    both sides are one model; else their text (ids of two vocabularies say nothing: SmolLM2's "␣Lily" is not the
    tiny models' id), and both special or neither."""
    if one_vocabulary:
        return x.id == y.id
    return x.text == y.text and x.special == y.special and (not x.special or x.display == y.display)


def _select(pattern: torch.Tensor, layer: int | None, head: int | None) -> tuple[torch.Tensor, list[int], list[int]]:
    layers = list(range(pattern.shape[0])) if layer is None else [layer]
    heads = list(range(pattern.shape[1])) if head is None else [head]
    return pattern[layers][:, heads], layers, heads  # [layer, head, q, k]


def lacks(run: Run, layer: int | None, head: int | None) -> str | None:
    """Why the run's model has no `layer` (and `head`), in words that name the model; None where it has them."""
    try:
        check_layer_head(run.loaded.cfg, layer, head)
    except ValueError as e:
        return f"{run.loaded.name}: {e}"
    return None


def compare(a: Run, b: Run, layer: int | None = None, head: int | None = None,
            k: int = 0, to_send: bool = False) -> schemas.CompareResponse:
    """The attention of two passes (of `layer` and `head`, or all), b - a where the shapes agree, which positions
    hold the same token, and with k > 0 the top-k next tokens of each side. A layer or head that only one side's
    model has: the other side has no attention (its `attention_unavailable` says why) and there is no difference;
    ValueError where neither has it. `to_send`: as in `analyze`, the attention and the difference are numpy arrays
    (common.rounded)."""
    missing = [lacks(run, layer, head) for run in (a, b)]
    if all(missing):
        raise ValueError(missing[0] if a.loaded.name == b.loaded.name
                         else f"neither model has this layer and head ({missing[0]}; {missing[1]})")
    # each side's [layer, head, q, k] and the layers and heads in it; None where that side's model lacks them
    sa, sb = (None if why else _select(patterns(run), layer, head) for run, why in zip((a, b), missing, strict=True))
    pa, pb = (None if x is None else x[0] for x in (sa, sb))
    why = None
    if pa is None or pb is None:
        why = f"only one side has this layer and head ({missing[0] or missing[1]})"
    elif pa.shape[:2] != pb.shape[:2]:
        why = (f"the two models have different shapes ({a.loaded.cfg.n_layers} x {a.loaded.cfg.n_heads} and "
               f"{b.loaded.cfg.n_layers} x {b.loaded.cfg.n_heads} layers x heads), so their patterns cannot be subtracted")
    elif pa.shape[2] != pb.shape[2]:
        why = (f"the two inputs have different numbers of tokens ({pa.shape[2]} and {pb.shape[2]}), "
               "so their patterns cannot be subtracted cell by cell")

    fill = rounded if to_send else rnd  # assigned after validation, as in `analyze`: up to max_compare_weights numbers

    def side(run: Run, selected: tuple | None, unavailable: str | None) -> schemas.CompareSideResult:
        cfg = run.loaded.cfg
        p, layers, heads = selected or (None, [], [])
        preds, no_preds = top_k(run, k, temperature=1.0) if k else (None, None)
        result = schemas.CompareSideResult(**run_info(run), n_layers=cfg.n_layers, n_heads=cfg.n_heads,
                                           causal=cfg.causal, visible=visible_keys(run), layers=layers, heads=heads,
                                           attention=[], attention_unavailable=unavailable,
                                           predictions=preds, predictions_unavailable=no_preds)
        if p is not None:
            result.attention = fill(p)  # [layer, head, q, k]
        return result

    ra, rb = side(a, sa, missing[0]), side(b, sb, missing[1])
    same = [_same_token(x, y, a.loaded.name == b.loaded.name) for x, y in zip(ra.tokens, rb.tokens, strict=True)] \
        if len(ra.tokens) == len(rb.tokens) else None
    answer = schemas.CompareResponse(a=ra, b=rb, difference_unavailable=why, same_token=same)
    if not why:
        answer.difference = fill(pb - pa)  # [layer, head, q, k]
    return answer
