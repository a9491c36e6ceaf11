"""What each head does: role scores of an attention pattern, labels, and the induction probe.

Pure functions, no web code, so that anything holding a pattern can score it (the API on a typed
sentence, a training run on its own batches):

    s = scores(pattern, ids, special=special, causal=True)   # pattern [layer, head, query, key], ids [pos]
    s.values["induction"]                                     # [layer, head]; nan where no query counts
    s.queries["induction"]                                    # how many queries counted
    lab = labels(s)                                           # each head's role, when clearly the strongest
    probe = induction_probe(tokenizer, length=50, seed=0)     # random tokens, twice

Every role is defined once, in DEFINITIONS (plain words, the formula, which queries count); the API
publishes that table, so the page's hover text and this code cannot drift apart. The rules all roles share:

- A query that is a special token (BOS, [CLS], [SEP]) counts for no role.
- Position 0 belongs to the sink: no other role counts weight on it (in a model without BOS the first
  word sits there, and its weight cannot be told apart from a sink's). No role but the sink counts
  weight on a special token anywhere else either.
- A score is the mean over the queries where its role is possible (for induction: queries whose token
  appeared before with a token after it); `queries` says how many counted. No such query: no score (nan).
- Every score is a share of a row's weight, in [0, 1], except entropy (normalised, also in [0, 1]).

Labels: a head is labelled with its strongest role when that score is at least LABEL_MIN_SCORE, at
least LABEL_MIN_MARGIN above the next role's, and counted over at least LABEL_MIN_QUERIES queries.
Entropy is a description, never a label; a fixed offset of 0 or 1 is the self or previous-token role,
so fixed-offset competes for a label only at other offsets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from models.sampling import entropy

ROLES: tuple[str, ...] = ("previous-token", "sink", "self", "duplicate-token", "induction", "fixed-offset", "entropy")
LABEL_ROLES: tuple[str, ...] = ROLES[:-1]  # the roles a head can be labelled with
_KEY_ROLES = ROLES[:5]  # the roles whose score is the weight on a set of keys, one set per query
_ONE_KEY_ROLES = _KEY_ROLES[:3]  # of those, the roles with one key per query (q − 1, 0, q)

LABEL_MIN_SCORE = 0.4
LABEL_MIN_MARGIN = 0.15
LABEL_MIN_QUERIES = 2


@dataclass(frozen=True)
class RoleDefinition:
    role: str  # the id the API uses
    name: str  # a title
    short: str  # the grid label: "prev 0.92"
    words: str  # what it measures, in plain words
    formula: str  # A is the head's pattern [query, key], t the token ids, Q the queries that count
    queries: str  # which queries count
    label: bool  # whether a head can be labelled with it


DEFINITIONS: tuple[RoleDefinition, ...] = (
    RoleDefinition(
        "previous-token", "previous token", "prev",
        "How much of its attention a word gives to the word right before it.",
        "mean over q in Q of A[q, q−1]",
        "every query from position 2 on: at position 1 the word before it is position 0, whose weight the sink "
        "role measures", True),
    RoleDefinition(
        "sink", "first token (sink)", "sink",
        "How much attention parks on the first token (BOS or [CLS] where the model has one): a place to put "
        "weight when nothing else fits.",
        "mean over q in Q of A[q, 0]",
        "every query from position 1 on", True),
    RoleDefinition(
        "self", "own token", "self",
        "How much attention a word gives to itself.",
        "mean over q in Q of A[q, q]",
        "every query from position 1 on", True),
    RoleDefinition(
        "duplicate-token", "duplicate token", "dup",
        "How much attention a word gives to earlier copies of the same token (not counting the token just before "
        "it, whose weight is the previous-token role's).",
        "mean over q in Q of Σ A[q, k] over k < q − 1 with t[k] = t[q]",
        "queries whose token appears earlier, before the token just before it, at position 1 or later", True),
    RoleDefinition(
        "induction", "induction", "induction",
        "How much attention a word gives to the token that came right after an earlier copy of itself: "
        "the step that lets a model continue a pattern it has seen (…A B … A → B). The token just before the "
        "word is not counted: in a text that repeats every two tokens (the cat the cat) it is also the token "
        "after an earlier copy, and its weight is the previous-token role's.",
        "mean over q in Q of Σ A[q, k] over k < q − 1 with t[k−1] = t[q]",
        "queries whose token appeared earlier with another token after it, before the token just before the "
        "query", True),
    RoleDefinition(
        "fixed-offset", "fixed offset", "offset",
        "The distance back (the offset d: 1 is the previous token, 0 the word itself; negative looks ahead, in "
        "a model that reads both ways) that gets the most weight, and its share: a head that looks a fixed "
        "number of tokens back whatever the words are.",
        "max over d of (1/|Q|) Σ over q in Q of A[q, q−d]; the offset d is given with it",
        "every query from position 1 on; a query with no key at offset d adds 0 to that offset", True),
    RoleDefinition(
        "entropy", "broad (entropy)", "broad",
        "How spread out the attention is: 0 means all of it on one token, 1 means evenly over every token "
        "the word can see.",
        "mean over q in Q of H(A[q]) / log(number of keys q can see), H in nats",
        "every query that can see at least 2 tokens", False),
)
DEFINITION = {d.role: d for d in DEFINITIONS}
COMMON_RULES = (
    "A special token (BOS, [CLS], [SEP]) is never counted as a query. Position 0 belongs to the sink: no other "
    "role counts weight on it, nor on a special token anywhere. Each score is a mean over the queries where its "
    "role is possible (the number of them is given with it); with none, there is no score.")
LABEL_RULE = (
    f"A head is labelled with its strongest role when that score is at least {LABEL_MIN_SCORE}, at least "
    f"{LABEL_MIN_MARGIN} above the next role's, and counted over at least {LABEL_MIN_QUERIES} queries; "
    "otherwise it is unlabelled. Entropy is never a label; a fixed offset of 1 or 0 is the previous-token or self "
    "role, so fixed-offset is a label only at other offsets.")


@dataclass(frozen=True)
class Scores:
    """Role scores of every head of one pattern."""

    values: dict[str, torch.Tensor]  # role -> [layer, head] float64; nan where no query counted
    queries: dict[str, int]  # role -> how many queries counted (the same for every head)
    offset: torch.Tensor  # [layer, head] int64: the offset d of the fixed-offset score (key = query − d)
    entropy_nats: torch.Tensor | None = None  # [layer, head] float64: the entropy role's rows' mean entropy in nats


def _check(pattern: torch.Tensor, ids: torch.Tensor, special: torch.Tensor) -> None:
    if pattern.dim() != 4 or pattern.shape[-1] != pattern.shape[-2]:
        raise ValueError(f"pattern must be [layer, head, query, key] with as many keys as queries, "
                         f"got shape {tuple(pattern.shape)}")
    n = pattern.shape[-1]
    if ids.shape != (n,) or special.shape != (n,):
        raise ValueError(f"ids and special must be [pos] with pos = {n}, got {tuple(ids.shape)} and "
                         f"{tuple(special.shape)}")


@dataclass(frozen=True)
class _Frame:
    """What the scores read that depends on the length, the mask and which positions hold special tokens, not on the
    token ids: made once per such frame (a model whose one special token is its BOS has one frame per length).

    Each role whose keys are fixed by the query (_ONE_KEY_ROLES: q − 1, 0, q) is a list of (query, key) pairs, so its
    score is a gather and a sum, with no mask to apply per text."""

    one_q: torch.Tensor  # [pairs]: the query of each (query, key) pair a role of _ONE_KEY_ROLES counts
    one_k: torch.Tensor  # [pairs]: its key
    one_role: torch.Tensor  # [pairs]: its role, an index into _ONE_KEY_ROLES
    one_weight: torch.Tensor  # [pairs] float64: 1 / how many queries its role counts
    one_counts: tuple[int, ...]  # how many queries each role of _ONE_KEY_ROLES counts
    token_pairs: torch.Tensor  # [q, k] bool: where the roles of token_sets may count (k < q − 1, q and k counted)
    offsets: torch.Tensor  # [d]: every offset some query from position 1 on has a key >= 1 at
    offset_key: torch.Tensor  # [q, d]: the key q − d, clamped into 0..n−1
    offset_ok: torch.Tensor  # [q, d] bool: whether the fixed offset counts A[q, q − d]
    offset_queries: int  # how many queries the fixed offset counts
    entropy_rows: torch.Tensor  # [counted q]: the queries the entropy role counts (not special, seeing >= 2 keys)
    log_seen: torch.Tensor  # [counted q]: log of how many keys each of them sees


@lru_cache(maxsize=64)
def _frame_of(n: int, causal: bool, special_bytes: bytes) -> _Frame:
    special = torch.frombuffer(bytearray(special_bytes), dtype=torch.bool) if n else torch.zeros(0, dtype=torch.bool)
    pos = torch.arange(n)
    q, k = pos[:, None], pos[None, :]  # [q, 1], [1, k]
    query = ~special  # [q]: a special query counts for no role
    key = query & (pos >= 1)  # [k]: no role but the sink counts position 0 or a special token

    # previous-token A[q, q − 1], sink A[q, 0] (from q = 1: at q = 0 the key is the query), self A[q, q]
    later = pos[1:]
    one = ((later, later - 1, query[1:] & key[:-1]), (later, torch.zeros_like(later), query[1:]), (pos, pos, query & key))
    kept = [(qs[c], ks[c]) for qs, ks, c in one]
    counts = tuple(len(qs) for qs, _ in kept)
    one_role = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)]).long()

    offsets = torch.arange(0 if causal else -(n - 2), n - 1)  # [d]
    offset_key = q - offsets[None, :]  # [q, d]
    inside = (offset_key >= 1) & (offset_key < n) & (q >= 1)  # [q, d]
    offset_key = offset_key.clamp(0, max(n - 1, 0))
    seen = pos + 1 if causal else torch.full((n,), n)  # [q]
    log_seen = seen.double().log().float()  # [q]
    rows = (query & (log_seen > 0)).nonzero()[:, 0]
    return _Frame(
        one_q=torch.cat([qs for qs, _ in kept]), one_k=torch.cat([ks for _, ks in kept]), one_role=one_role,
        one_weight=1.0 / torch.tensor(counts, dtype=torch.float64).clamp_min(1)[one_role], one_counts=counts,
        token_pairs=(k < q - 1) & key[None, :] & query[:, None],
        offsets=offsets, offset_key=offset_key, offset_ok=inside & key[offset_key] & key[:, None],
        offset_queries=int(key.sum()) if offsets.numel() else 0,
        entropy_rows=rows, log_seen=log_seen[rows])


def _frame(special: torch.Tensor, causal: bool) -> _Frame:
    return _frame_of(special.shape[0], causal, special.numpy().tobytes())


def token_sets(ids: torch.Tensor, special: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """For the roles whose keys depend on the tokens (duplicate-token, induction), which keys count for each query:
    [role, query, key] (bool). A query for which its role has no key does not count for that role (see `scores`)."""
    same = ids[:, None] == ids[None, :]  # [q, k]: t[k] = t[q]
    after_copy = torch.nn.functional.pad(same[:, :-1], (1, 0))  # [q, k]: t[k−1] = t[q] (k >= 1)
    # k < q − 1: the key just before the query is the previous-token role's (in "the cat the cat" the token after
    # an earlier copy of "the" is the "cat" right before it; a previous-token head scored 0.57 as induction)
    return torch.stack([same, after_copy]) & _frame(special, causal).token_pairs  # [role, q, k]


def _pair_sums(a: torch.Tensor, q: torch.Tensor, k: torch.Tensor, role: torch.Tensor, weight: torch.Tensor,
               counts: Sequence[int]) -> list[torch.Tensor]:
    """a [layer, head, q, k] and (query, key) pairs, each with its role and weight -> each role's weighted sum
    [layer, head] (float64; nan for a role that counts no query).

    A gather and a scatter, no matrix product (whose threads cost more than the sum on a small pattern). The pairs are
    added one after another, so a role's sum does not depend on the other roles' pairs."""
    n_layers, n_heads = a.shape[:2]
    summed = torch.zeros(n_layers, n_heads, len(counts), dtype=torch.float64).index_add_(
        2, role, a[:, :, q, k].double() * weight)  # [layer, head, role]
    nan = torch.full((n_layers, n_heads), math.nan, dtype=torch.float64)
    return [summed[..., i] if c else nan for i, c in enumerate(counts)]


def _one_key_scores(a: torch.Tensor, frame: _Frame) -> list[torch.Tensor]:
    """a [layer, head, q, k] -> the score [layer, head] of each role of _ONE_KEY_ROLES (float64, nan where no query
    counts)."""
    return _pair_sums(a, frame.one_q, frame.one_k, frame.one_role, frame.one_weight, frame.one_counts)


def _token_scores(a: torch.Tensor, sets: torch.Tensor) -> tuple[list[torch.Tensor], list[int]]:
    """a [layer, head, q, k], sets [role, q, k] (token_sets) -> each role's score [layer, head] (float64, nan where
    no query counts) and how many queries counted."""
    n_counted = sets.any(-1).sum(-1)  # [role]
    role, q, k = sets.nonzero(as_tuple=True)  # [pairs] each
    counts = n_counted.tolist()
    return _pair_sums(a, q, k, role, 1.0 / n_counted.double()[role], counts), counts


def _entropies(a: torch.Tensor, frame: _Frame) -> torch.Tensor:
    """The entropy in nats of the rows the entropy role counts: [layer, head, counted q]."""
    return entropy(a)[..., frame.entropy_rows]  # (every row's entropy, then those: no copy of the rows)


def _inputs(pattern, ids, special) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The arguments of `scores` and `summary` as tensors, checked: (pattern as float, ids [pos], special [pos])."""
    pattern = torch.as_tensor(pattern)
    ids = torch.as_tensor(ids).long().reshape(-1)
    n = ids.shape[0]
    special = torch.zeros(n, dtype=torch.bool) if special is None else torch.as_tensor(special, dtype=torch.bool).reshape(-1)
    _check(pattern, ids, special)
    return pattern.detach().float(), ids, special


def scores(pattern: torch.Tensor, ids: Sequence[int] | torch.Tensor, special: Sequence[bool] | torch.Tensor | None = None,
           causal: bool = True) -> Scores:
    """Every role score of every head (see DEFINITIONS).

    pattern [layer, head, query, key]: softmax rows (a causal model's later keys 0); ids [pos]: the token ids;
    special [pos]: which tokens are special (BOS, [CLS], [SEP]); causal: whether a query sees only keys up to
    itself (for the entropy's normalisation and the range of offsets)."""
    a, ids, special = _inputs(pattern, ids, special)
    frame = _frame(special, causal)
    n = ids.shape[0]
    n_layers, n_heads = a.shape[:2]
    nan = torch.full((n_layers, n_heads), math.nan, dtype=torch.float64)

    # the roles that read a set of keys per query
    token_values, token_counts = _token_scores(a, token_sets(ids, special, causal))
    values: dict[str, torch.Tensor] = dict(zip(_KEY_ROLES, _one_key_scores(a, frame) + token_values, strict=True))
    queries = dict(zip(_KEY_ROLES, [*frame.one_counts, *token_counts], strict=True))

    # fixed offset: the mean weight at each offset d (key q − d) over the queries from position 1 on, then the best d
    queries["fixed-offset"] = frame.offset_queries
    if frame.offset_queries:
        d = frame.offsets.numel()
        at = torch.gather(a, 3, frame.offset_key.expand(n_layers, n_heads, n, d))  # [layer, head, q, d]
        per_offset = (at * frame.offset_ok).sum(2)  # [layer, head, d]
        where = per_offset.argmax(-1)  # [layer, head]: the first best offset (max with indices is slow on 2 threads)
        best = per_offset.gather(-1, where[..., None])[..., 0]  # [layer, head]
        values["fixed-offset"], offset = best.double() / frame.offset_queries, frame.offsets[where]
    else:
        values["fixed-offset"], offset = nan, torch.zeros(n_layers, n_heads, dtype=torch.long)

    # entropy of each row over log(keys seen): 0 focused on one key, 1 even
    h = _entropies(a, frame)  # [layer, head, counted q]
    queries["entropy"] = frame.log_seen.numel()
    values["entropy"] = (h / frame.log_seen).mean(-1).double() if queries["entropy"] else nan
    return Scores(values={r: values[r] for r in ROLES}, queries=queries, offset=offset,
                  entropy_nats=h.mean(-1).double() if queries["entropy"] else nan)


def summary(pattern: torch.Tensor, ids: Sequence[int] | torch.Tensor, special: Sequence[bool] | torch.Tensor | None = None,
            causal: bool = True) -> Scores:
    """The attention view's per-head summary: the previous-token, sink and self scores, each as `scores` gives it
    (the same queries and keys, added in the same order, so the summary and the role table cannot disagree), and
    `entropy_nats`, the mean entropy in nats over the queries the entropy role counts. Only these are computed (the
    arguments are `scores`'s; where `scores` is run anyway, its answer has them too). `offset` is all zeros (no fixed
    offset is looked for)."""
    a, ids, special = _inputs(pattern, ids, special)
    frame = _frame(special, causal)
    n_layers, n_heads = a.shape[:2]
    h = _entropies(a, frame)
    n_rows = frame.log_seen.numel()
    nats = h.mean(-1).double() if n_rows else torch.full((n_layers, n_heads), math.nan, dtype=torch.float64)
    return Scores(values=dict(zip(_ONE_KEY_ROLES, _one_key_scores(a, frame), strict=True)),
                  queries={"entropy": n_rows, **dict(zip(_ONE_KEY_ROLES, frame.one_counts, strict=True))},
                  offset=torch.zeros(n_layers, n_heads, dtype=torch.long), entropy_nats=nats)


# --------------------------------------------------------------------------- labels

@dataclass(frozen=True)
class Labels:
    """Each head's label by the rule of LABEL_RULE, with its evidence."""

    role: list[list[str | None]]  # [layer][head]: the label's role, None when unlabelled
    runner_up: list[list[str | None]]  # [layer][head]: the next strongest role that could be a label
    margin: torch.Tensor  # [layer, head]: strongest score − runner-up's (nan where fewer than 2 candidates)


def label_candidates(s: Scores) -> torch.Tensor:
    """[layer, head, role of LABEL_ROLES] scores that may compete for a label, -inf where a role may not."""
    n_layers, n_heads = s.offset.shape
    no = torch.full((n_layers, n_heads), -math.inf, dtype=torch.float64)
    cand = [s.values[r] if s.queries[r] >= LABEL_MIN_QUERIES else no for r in LABEL_ROLES]
    off = LABEL_ROLES.index("fixed-offset")
    cand[off] = cand[off].masked_fill((s.offset == 0) | (s.offset == 1), -math.inf)  # the self and previous-token roles
    return torch.stack(cand, -1).nan_to_num_(nan=-math.inf, posinf=math.inf, neginf=-math.inf)  # [layer, head, role]


def labels(s: Scores) -> Labels:
    cand = label_candidates(s)  # [layer, head, role]
    top, idx = cand.topk(min(2, cand.shape[-1]), dim=-1)  # [layer, head, 2]
    best, next_best = top.unbind(-1)  # [layer, head] each
    margin = best - next_best  # [layer, head]: -inf - -inf is nan, x - -inf is inf
    ok = (best >= LABEL_MIN_SCORE) & (margin >= LABEL_MIN_MARGIN)  # [layer, head]
    first, second = idx.unbind(-1)
    role = [[LABEL_ROLES[i] if k else None for i, k in zip(row, oks, strict=True)]
            for row, oks in zip(first.tolist(), ok.tolist(), strict=True)]
    runner = [[LABEL_ROLES[i] if k else None for i, k in zip(row, oks, strict=True)]
              for row, oks in zip(second.tolist(), next_best.isfinite().tolist(), strict=True)]
    return Labels(role=role, runner_up=runner, margin=margin.nan_to_num_(nan=math.nan, posinf=math.nan, neginf=math.nan))


def label_text(role: str, score: float, offset: int = 0) -> str:
    """The grid's label: "prev 0.92", "induction 0.71", "offset 3 0.60" (the score at 2 decimals)."""
    short = DEFINITION[role].short
    if role == "fixed-offset":
        short = f"{short} {offset}"
    return f"{short} {score:.2f}"


# --------------------------------------------------------------------------- the induction probe

@dataclass(frozen=True)
class Probe:
    """A seeded random sequence of ordinary tokens, twice, with the model's special tokens around it."""

    ids: list[int]  # the whole input
    seed: int
    length: int  # how many random tokens (each half)
    start: int  # the position of the first random token (1 after a BOS, else 0)

    @property
    def halves(self) -> tuple[range, range]:
        return range(self.start, self.start + self.length), range(self.start + self.length, self.start + 2 * self.length)


@lru_cache(maxsize=16)
def ordinary_tokens(tokenizer) -> torch.Tensor:
    """The ids of the tokenizer's ordinary tokens, ascending: no special token, no byte piece (a byte that is not a
    whole character), not the unknown token ([UNK], <unk>: any text the vocabulary cannot spell), only printable text
    with a letter or digit, and each one the way the tokenizer itself writes its text (decode, then encode, gives the
    same single id back)."""
    specials = tokenizer.special_ids | ({tokenizer.unk_id} if tokenizer.unk_id is not None else set())
    ids, texts = [], []
    for i in range(tokenizer.vocab_size):
        if i in specials:
            continue
        text = tokenizer.hf.decode([i], skip_special_tokens=False)
        word = text.strip()
        if not word or "\ufffd" in text or not word.isprintable() or not any(c.isalnum() for c in word):
            continue
        ids.append(i)
        texts.append(text)
    back = tokenizer.encode_batch(texts)
    keep = [i for i, again in zip(ids, back, strict=True) if again == [i]]
    return torch.tensor(keep, dtype=torch.long)


def special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text: ([BOS], []), ([CLS], [SEP]) or ([], [])."""
    with_specials = tokenizer.encode("a")
    core = tokenizer.encode("a", add_bos=False)
    for i in range(len(with_specials) - len(core) + 1):
        if with_specials[i:i + len(core)] == core:
            return with_specials[:i], with_specials[i + len(core):]
    return [], []


def induction_probe(tokenizer, length: int, seed: int = 0) -> Probe:
    """`length` distinct ordinary tokens drawn with `seed`, then the same tokens again; the tokenizer's special
    tokens around them (BOS first where the model has one). Same tokenizer, length and seed: the same probe."""
    if length < 2:
        raise ValueError(f"the probe's length is {length}; it must be at least 2 (one repeat with a token after it)")
    pool = ordinary_tokens(tokenizer)
    if length > pool.numel():
        raise ValueError(f"the probe's length is {length}; this vocabulary has only {pool.numel()} ordinary tokens")
    g = torch.Generator().manual_seed(int(seed))
    drawn = pool[torch.randperm(pool.numel(), generator=g)[:length]].tolist()
    before, after = special_frame(tokenizer)
    return Probe(ids=[*before, *drawn, *drawn, *after], seed=int(seed), length=length, start=len(before))


def token_losses(logits: torch.Tensor, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """[pos] the loss of each token, −log p(t[i] | t[<i]) in nats, from logits [pos, vocab]; nan at position 0."""
    ids = torch.as_tensor(ids).long()
    logp = torch.log_softmax(logits[:-1].double(), dim=-1)  # [pos - 1, vocab]: predictions for positions 1..
    loss = -logp.gather(1, ids[1:, None])[:, 0]  # [pos - 1]
    return torch.cat([torch.full((1,), math.nan, dtype=loss.dtype), loss])
