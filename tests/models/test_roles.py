"""Role scores (models/roles.py) against a plain-loop reference, on patterns whose answers are known by
construction, and the induction probe."""

import math

import pytest
import torch
import torch.nn.functional as F

from models import registry, roles

# --------------------------------------------------------------------------- a reference, one query at a time


def reference(pattern, ids, special, causal=True):
    """Every score of one head's pattern [q][k] by the definitions' words, with plain loops."""
    n = len(ids)

    def countable(k):  # a key any role but the sink may count
        return k >= 1 and not special[k]

    def mean(values):
        return sum(values) / len(values) if values else math.nan

    rows = [q for q in range(n) if not special[q]]
    from_one = [q for q in rows if q >= 1]
    out = {
        "previous-token": mean([pattern[q][q - 1] for q in rows if q - 1 >= 1 and countable(q - 1)]),
        "sink": mean([pattern[q][0] for q in from_one]),
        "self": mean([pattern[q][q] for q in from_one]),
    }
    dup, ind = [], []
    for q in rows:
        # (the key just before the query is the previous-token role's: never a copy or the token after one)
        copies = [k for k in range(1, q - 1) if ids[k] == ids[q] and countable(k)]
        if copies:
            dup.append(sum(pattern[q][k] for k in copies))
        after = [k for k in range(1, q - 1) if ids[k - 1] == ids[q] and countable(k)]
        if after:
            ind.append(sum(pattern[q][k] for k in after))
    out["duplicate-token"], out["induction"] = mean(dup), mean(ind)
    shares = {}
    for d in range(0 if causal else -(n - 2), n - 1):
        total = sum(pattern[q][q - d] for q in from_one if 1 <= q - d < n and countable(q - d))
        shares[d] = total / len(from_one) if from_one else math.nan
    best = max(shares, key=lambda d: shares[d]) if shares and from_one else None
    out["fixed-offset"] = shares[best] if best is not None else math.nan
    ent = []
    for q in rows:
        seen = q + 1 if causal else n
        if seen >= 2:
            ent.append(-sum(p * math.log(p) for p in pattern[q] if p > 0) / math.log(seen))
    out["entropy"] = mean(ent)
    counts = {"previous-token": sum(1 for q in rows if q - 1 >= 1 and countable(q - 1)), "sink": len(from_one),
              "self": len(from_one), "duplicate-token": len(dup), "induction": len(ind),
              "fixed-offset": len(from_one) if shares else 0, "entropy": len(ent)}
    return out, counts, shares


def random_pattern(n_layers, n_heads, n, causal, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n_layers, n_heads, n, n, generator=g) * 3
    if causal:
        scores = scores + torch.full((n, n), float("-inf")).triu(1)
    return torch.softmax(scores, -1)  # [layer, head, q, k]


IDS = [0, 5, 7, 3, 5, 7, 9, 0, 3, 5, 7, 2]  # repeats, and a second "special" 0 inside
SPECIAL = [i == 0 for i in IDS]


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("special", [SPECIAL, [False] * len(IDS)])
def test_scores_match_the_reference(causal, special):
    pattern = random_pattern(2, 3, len(IDS), causal)
    s = roles.scores(pattern, IDS, special, causal=causal)
    assert list(s.values) == list(roles.ROLES)
    for l in range(2):
        for h in range(3):
            want, counts, shares = reference(pattern[l, h].tolist(), IDS, special, causal)
            assert s.queries == counts
            for role in roles.ROLES:
                assert float(s.values[role][l, h]) == pytest.approx(want[role], abs=1e-6), (role, l, h)
            assert shares[int(s.offset[l, h])] == pytest.approx(want["fixed-offset"], abs=1e-6)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("special", [SPECIAL, [False] * len(IDS), [True, False] + [False, True] * 5])
def test_summary_is_the_role_tables_numbers(causal, special):
    """The attention view's per-head summary reads previous-token, sink and self along the pattern's diagonals and
    first column: the same floats as the role table, and the reference's; its entropy in nats is the mean over the
    rows the entropy role counts, recomputed here row by row."""
    pattern = random_pattern(3, 2, len(IDS), causal, seed=7)
    s, m = roles.scores(pattern, IDS, special, causal=causal), roles.summary(pattern, IDS, special, causal=causal)
    for role in ("previous-token", "sink", "self"):
        assert m.queries[role] == s.queries[role]
        assert torch.equal(m.values[role].isnan(), s.values[role].isnan())
        assert torch.equal(m.values[role].nan_to_num(-1), s.values[role].nan_to_num(-1)), role
    assert m.queries["entropy"] == s.queries["entropy"]
    for l in range(3):
        for h in range(2):
            want, counts, _ = reference(pattern[l, h].tolist(), IDS, special, causal)
            for role in ("previous-token", "sink", "self"):
                assert m.queries[role] == counts[role]
                got = float(m.values[role][l, h])
                assert (math.isnan(got) and math.isnan(want[role])) or got == pytest.approx(want[role], abs=1e-6)
            rows = [q for q in range(len(IDS)) if not special[q] and (q + 1 if causal else len(IDS)) >= 2]
            nats = [-sum(p * math.log(p) for p in pattern[l, h, q].tolist() if p > 0) for q in rows]
            assert float(m.entropy_nats[l, h]) == pytest.approx(sum(nats) / len(nats), abs=1e-6)


@pytest.mark.parametrize("n, causal", [(1, True), (2, True), (3, True), (2, False), (3, False)])
def test_the_shortest_texts_score_as_the_reference_says(n, causal):
    """One, two or three tokens (BOS and a word; [CLS] x [SEP]): the roles with no query to count are nan with a
    count of 0, in the summary and the role table alike."""
    ids, special = [0, 5, 7][:n], [True, False, False][:n]
    pattern = random_pattern(2, 2, n, causal, seed=n)
    m = roles.summary(pattern, ids, special, causal=causal)
    s = roles.scores(pattern, ids, special, causal=causal) if causal or n > 1 else None
    for l in range(2):
        for h in range(2):
            want, counts, _ = reference(pattern[l, h].tolist(), ids, special, causal)
            for role in ("previous-token", "sink", "self"):
                for got in (m, s) if s else (m,):
                    assert got.queries[role] == counts[role], (role, n)
                    value = float(got.values[role][l, h])
                    assert (math.isnan(value) and math.isnan(want[role])) or value == pytest.approx(want[role], abs=1e-6)


def test_a_special_query_counts_for_nothing_and_position_0_only_for_the_sink():
    n = 7
    ids = [1, 2, 3, 5, 2, 3, 9]
    # every query puts all its weight on position 0
    pattern = torch.zeros(1, 1, n, n)
    pattern[..., 0] = 1.0
    s = roles.scores(pattern, ids, [False] * n)
    assert float(s.values["sink"][0, 0]) == pytest.approx(1.0, abs=1e-12)
    for role in ("previous-token", "self", "duplicate-token", "induction", "fixed-offset"):
        assert float(s.values[role][0, 0]) == 0.0, role
    # the same with token 3 (positions 2 and 5) special: those queries count for nothing, those keys for no role
    special = [False, False, True, False, False, True, False]
    s2 = roles.scores(pattern, ids, special)
    assert s2.queries["sink"] == s2.queries["self"] == s2.queries["fixed-offset"] == 4  # queries 1, 3, 4, 6
    assert s2.queries["previous-token"] == 1  # 4 (1's previous is position 0; 3's and 6's are special)
    assert s2.queries["duplicate-token"] == 1  # query 4, a copy of position 1 (query 5 is special)
    assert s2.queries["induction"] == 0  # query 4: the token after the earlier copy is special
    assert math.isnan(float(s2.values["induction"][0, 0]))
    assert s2.queries["entropy"] == 4  # query 0 sees only itself


def test_known_patterns_get_their_role_and_label():
    n = 10
    ids = [0, 11, 12, 13, 14, 11, 12, 13, 14, 15]  # BOS, a b c d, a b c d, e
    special = [True] + [False] * (n - 1)
    eye = torch.eye(n)
    previous = torch.zeros(n, n)
    previous[0, 0] = 1
    previous[torch.arange(1, n), torch.arange(0, n - 1)] = 1
    sink = torch.zeros(n, n)
    sink[:, 0] = 1
    induction = previous.clone()  # queries with no earlier copy look back one; the repeats look at the token after
    for q in range(5, 9):
        induction[q] = 0
        induction[q, q - 3] = 1  # q=5 ("a" again) -> 2 ("b"), the token after the first "a"
    offset2 = torch.zeros(n, n)  # (not 3: with the repeat 4 tokens apart, offset 3 is where induction looks)
    for q in range(n):
        offset2[q, max(q - 2, 0)] = 1
    uniform = torch.tril(torch.ones(n, n))
    uniform = uniform / uniform.sum(-1, keepdim=True)
    pattern = torch.stack([previous, sink, eye, induction, offset2, uniform])[None]  # [1, head, q, k]
    s = roles.scores(pattern, ids, special)
    lab = roles.labels(s)
    one = pytest.approx(1.0, abs=1e-12)  # (a mean of ones)
    assert float(s.values["previous-token"][0, 0]) == one
    assert float(s.values["sink"][0, 1]) == one
    assert float(s.values["self"][0, 2]) == one and int(s.offset[0, 2]) == 0
    assert float(s.values["induction"][0, 3]) == one and s.queries["induction"] == 4
    assert int(s.offset[0, 4]) == 2 and float(s.values["fixed-offset"][0, 4]) == pytest.approx(7 / 9)
    assert float(s.values["entropy"][0, 5]) == pytest.approx(1.0)
    assert float(s.values["entropy"][0, 1]) == 0.0
    assert lab.role[0] == ["previous-token", "sink", "self", "induction", "fixed-offset", None]
    assert roles.label_text("fixed-offset", float(s.values["fixed-offset"][0, 4]), 2) == "offset 2 0.78"
    assert roles.label_text("previous-token", 0.916, 1) == "prev 0.92"


def _scores(values: dict, queries: int = 10, offset: int = 2) -> roles.Scores:
    full = {r: torch.tensor([[values.get(r, 0.0)]]) for r in roles.ROLES}
    return roles.Scores(values=full, queries={r: queries for r in roles.ROLES}, offset=torch.tensor([[offset]]))


@pytest.mark.parametrize("values, queries, offset, label", [
    ({"sink": 0.6, "previous-token": 0.44}, 10, 2, "sink"),  # margin 0.16
    ({"sink": 0.6, "previous-token": 0.46}, 10, 2, None),  # margin 0.14: not clearly above
    ({"sink": 0.39}, 10, 2, None),  # below the minimum score
    ({"sink": 0.4}, 10, 2, "sink"),
    ({"induction": 0.9}, 1, 2, None),  # one query is not enough
    ({"fixed-offset": 0.9, "previous-token": 0.9}, 10, 1, "previous-token"),  # offset 1 is the previous-token role
    ({"fixed-offset": 0.9}, 10, 4, "fixed-offset"),
    ({"entropy": 1.0}, 10, 2, None),  # entropy is never a label
])
def test_the_label_rule(values, queries, offset, label):
    assert roles.labels(_scores(values, queries, offset)).role == [[label]]


def test_too_few_queries_no_label_and_no_runner_up():
    s = _scores({"sink": 0.9, "self": 0.1}, queries=1)  # every role counted over one query only
    lab = roles.labels(s)
    assert lab.role == [[None]] and lab.runner_up == [[None]] and math.isnan(float(lab.margin[0, 0]))
    s = _scores({"sink": 0.9}, queries=10, offset=0)
    s.queries.update({r: 1 for r in roles.LABEL_ROLES if r != "sink"})  # only the sink may compete
    lab = roles.labels(s)
    assert lab.role == [["sink"]] and lab.runner_up == [[None]] and math.isnan(float(lab.margin[0, 0]))


def test_no_query_no_score():
    pattern = torch.ones(1, 1, 1, 1)
    s = roles.scores(pattern, [0], [True])
    assert all(math.isnan(float(v)) for v in s.values.values())
    assert set(s.queries.values()) == {0}
    assert roles.labels(s).role == [[None]]
    s = roles.scores(random_pattern(1, 1, 4, True), [0, 1, 2, 3], [True, False, False, False])
    assert math.isnan(float(s.values["duplicate-token"])) and s.queries["duplicate-token"] == 0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="layer, head, query, key"):
        roles.scores(torch.ones(2, 3, 3), [0, 1, 2])
    with pytest.raises(ValueError, match="pos = 3"):
        roles.scores(torch.ones(1, 1, 3, 3), [0, 1])


def test_texts_of_one_frame_share_what_does_not_depend_on_their_tokens():
    """What the scores read besides the tokens (each one-key role's pairs, the masks of the token roles, the fixed
    offset and the entropy) is made once per length, mask and place of the special tokens: another text of that
    frame reuses it and scores as the reference says; a special token elsewhere gets a frame of its own."""
    roles._frame_of.cache_clear()
    pattern = random_pattern(1, 2, len(IDS), True, seed=3)
    other_ids = [0, 9, 9, 9, 4, 4, 8, 0, 1, 9, 4, 4]  # the special 0s where IDS has them
    for ids in (IDS, other_ids):
        s = roles.scores(pattern, ids, SPECIAL)
        for h in range(2):
            want, counts, _ = reference(pattern[0, h].tolist(), ids, SPECIAL)
            assert s.queries == counts
            for role in roles.ROLES:
                assert float(s.values[role][0, h]) == pytest.approx(want[role], abs=1e-6), role
    assert roles._frame_of.cache_info().misses == 1
    moved = [True] + [False] * (len(IDS) - 1)
    s = roles.scores(pattern, IDS, moved)
    want, counts, _ = reference(pattern[0, 0].tolist(), IDS, moved)
    assert roles._frame_of.cache_info().misses == 2 and s.queries == counts
    assert float(s.values["self"][0, 0]) == pytest.approx(want["self"], abs=1e-6)


# --------------------------------------------------------------------------- the induction probe

@pytest.fixture(scope="module")
def tok():
    return registry.load("tiny-sinusoidal").tokenizer


def test_probe_is_seeded_and_repeats(tok):
    a, b = roles.induction_probe(tok, 30, seed=7), roles.induction_probe(tok, 30, seed=7)
    assert a == b
    c = roles.induction_probe(tok, 30, seed=8)
    assert c.ids != a.ids
    assert a.ids[0] == tok.bos_id and a.start == 1 and len(a.ids) == 61
    first, second = a.halves
    assert [a.ids[i] for i in first] == [a.ids[i] for i in second]
    assert len(set(a.ids[i] for i in first)) == 30  # distinct: every repeat has exactly one earlier copy


def test_probe_tokens_are_ordinary(tok):
    pool = roles.ordinary_tokens(tok).tolist()
    assert 1000 < len(pool) < tok.vocab_size
    probe = roles.induction_probe(tok, 60, seed=0)
    for i in probe.ids[probe.start:]:
        assert i in pool and not tok.is_special(i)
        text = tok.decode([i])
        assert "<0x" not in tok.display(i) and text.strip().isprintable()
        assert tok.encode(text, add_bos=False) == [i]  # the tokenizer writes this text as this one token
    for i in range(tok.vocab_size):  # and nothing ordinary is left out of the pool
        text = tok.decode([i])
        if (i not in pool and not tok.is_special(i) and "\ufffd" not in text and text.strip().isprintable()
                and any(c.isalnum() for c in text)):
            assert tok.encode(text, add_bos=False) != [i], i


def test_probe_refuses_what_cannot_be_drawn(tok):
    with pytest.raises(ValueError, match="at least 2"):
        roles.induction_probe(tok, 1)
    with pytest.raises(ValueError, match="ordinary tokens"):
        roles.induction_probe(tok, 10**6)


def test_induction_on_a_probe_is_the_shifted_diagonal(tok):
    """A head that looks exactly at the token after the earlier copy scores 1 on the probe's repeat."""
    probe = roles.induction_probe(tok, 12, seed=0)
    n, length, start = len(probe.ids), probe.length, probe.start
    pattern = torch.zeros(1, 1, n, n)
    pattern[0, 0, torch.arange(n), 0] = 1.0
    for q in probe.halves[1]:
        pattern[0, 0, q] = 0
        pattern[0, 0, q, q - length + 1] = 1.0
    s = roles.scores(pattern, probe.ids, [tok.is_special(i) for i in probe.ids])
    assert s.queries["induction"] == length and float(s.values["induction"][0, 0]) == pytest.approx(1.0, abs=1e-12)
    assert s.queries["duplicate-token"] == length and float(s.values["duplicate-token"][0, 0]) == 0.0
    assert roles.labels(s).role == [["induction"]]
    assert start == 1


def test_token_losses_are_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 20, generator=g)
    ids = torch.randint(0, 20, (7,), generator=g)
    loss = roles.token_losses(logits, ids)
    assert math.isnan(float(loss[0]))
    want = F.cross_entropy(logits[:-1].double(), ids[1:], reduction="none")
    assert torch.allclose(loss[1:], want)


def test_a_previous_token_head_is_no_induction_head_on_a_text_that_repeats_every_two_tokens():
    """On "the cat the cat the cat" the token just before a query is also the token after an earlier copy of it, so a
    previous-token head scored as induction (L0 H3 of tiny-sinusoidal: "induction 0.57", 0.057 without that key) and
    was labelled so. The key just before the query counts for the previous-token role only."""
    ids = [0, 7, 8, 7, 8, 7, 8]  # BOS, a b a b a b
    n = len(ids)
    special = [True] + [False] * (n - 1)
    previous = torch.zeros(1, 1, n, n)
    previous[0, 0, 0, 0] = 1
    previous[0, 0, torch.arange(1, n), torch.arange(0, n - 1)] = 1
    s = roles.scores(previous, ids, special)
    assert float(s.values["previous-token"][0, 0]) == 1.0
    assert float(s.values["induction"][0, 0]) == 0.0 and float(s.values["duplicate-token"][0, 0]) == 0.0
    assert roles.labels(s).role == [["previous-token"]]
    # a head that looks at the token after the copy two tokens back (q - 1 is excluded; q - 3 counts) is induction
    induction = torch.zeros(1, 1, n, n)
    induction[0, 0, :4, 0] = 1
    induction[0, 0, torch.arange(4, n), torch.arange(1, n - 3)] = 1
    s = roles.scores(induction, ids, special)
    assert s.queries["induction"] == 2 and float(s.values["induction"][0, 0]) == 1.0  # queries 5, 6 (4: only q - 1)
    assert roles.labels(s).role == [["induction"]]


def test_the_unknown_token_is_never_drawn_for_the_probe():
    """A vocabulary's unknown token ([UNK], <unk>) stands for any text the vocabulary cannot spell, not for a word:
    the probe drew it as an ordinary token (in a lab model's 26 letters and <unk>, one draw in 27), and the model,
    which never saw it in training, read it with a loss far above the rest."""
    from models.tasks import get_task

    tok = get_task("copy").tokenizer()
    assert tok.unk_id is not None
    pool = roles.ordinary_tokens(tok).tolist()
    assert tok.unk_id not in pool
    assert sorted(tok.display(i) for i in pool) == list("abcdefghijklmnopqrstuvwxyz")  # (no BOS, <unk>, ".", "|", "*")
