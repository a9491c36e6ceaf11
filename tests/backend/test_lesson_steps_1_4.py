"""Lessons 1 and 4 resolved under the page's settings (the temperature slider, the Positions menu) and on every model:
each claim checked against numbers fetched again from the API, or recomputed apart from it (the permutation of shuffled
positions, from models/transformer.py)."""

from __future__ import annotations

import math
import re

import pytest

from backend.lessons import LessonSyntaxError, parse_lesson
from models.transformer import Interventions
from tests.backend.test_lesson_steps import SENTENCES, expr_of, filled, step_explain
from tests.lessonpaths import follow

REPEATS = ["The cat chased the dog. The dog chased the cat.", "cat cat", "The rain fell on the roof, and the rain did "
           "not stop.", "A cat saw a bird in the tree and the bird saw the cat.", "THE CAT SAT ON THE MAT BECAUSE THE "
           "CAT WAS TIRED.", "The Dogs saw the Dogs."]


@pytest.fixture(scope="module")
def model_entries(client):
    return {m["name"]: m for m in client.get("/api/models").json()["models"]}


def step(client, lesson: str, n: int, text: str, **extra) -> dict:
    d = client.post(f"/api/lessons/{lesson}/steps/{n}", json={"text": text, **extra}).json()
    assert "problems" in d, d
    return d


def shown(d: dict) -> dict:
    return {expr_of(n): n["value"] for n in d["numbers"]}


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-nope", "smollm2-135m"])
def test_lesson_1_s_temperature_steps_follow_the_slider(client, model):
    """'Low temperature: sharper' at the slider's 2 said "A temperature below 1 makes the big scores bigger: girl now
    gets 0.10, against 0.71"; 'High temperature: flatter' at 0.3 said "the distribution flattens: the top token girl
    gets only 0.99 (it had 0.71 at temperature 1)". Each step now says what the temperature on the slider does, and the
    top token's probability, fetched again here at that temperature and at 1, moves the way it says."""
    says = {"sharper": ("makes the gaps between the scores bigger", "the distribution is sharper, not flatter",
                        "makes the big scores bigger"),
            "flatter": ("the distribution flattens", "makes the gaps between the scores smaller, not bigger"),
            "same": ("At temperature 1 the",)}
    for text in ["Once upon a time, there was a little", "He said", *SENTENCES[:3]]:
        for temp in (0.3, 0.5, 1.0, 2.0, 4.0):
            at = {}
            for t in (temp, 1.0):
                p = client.post("/api/predict", json={"text": text, "model": model, "top_k": 2, "temperature": t})
                at[t] = p.json()["predictions"]
            assert at[temp][0]["id"] == at[1.0][0]["id"]  # (the temperature never changes which token is first)
            gap = at[temp][0]["prob"] - at[1.0][0]["prob"]
            truth = "sharper" if temp < 1 else "flatter" if temp > 1 else "same"
            assert gap >= -1e-6 if truth == "sharper" else gap <= 1e-6, (text, temp, at)
            for n in (3, 4):
                d = step(client, "next-word-prediction", n, text, model=model, temp=temp)
                assert d["problems"] == [] and d["settings"]["temp"] == temp, d
                body = filled(d)
                said = [k for k, words in says.items() if any(w in body for w in words)]
                assert said == [truth], (text, temp, n, body)
                got = shown(d)
                assert math.isclose(got["top_next_prob"], at[temp][0]["prob"], abs_tol=1e-6), (text, temp, n)
                if "predict(temp=1).predictions.0.prob" in got:
                    assert math.isclose(got["predict(temp=1).predictions.0.prob"], at[1.0][0]["prob"], abs_tol=1e-6)


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-learned", "minilm-l6"])
def test_lesson_4_s_positions_step_says_what_the_positions_menu_adds(client, model):
    """'Add the position' under positions removed said "The positional encoding is added next ... cosine now 1.00
    against 1.00 ... the encodings of these two positions are much alike": nothing was added. Under shuffled it said
    "the two sit at positions 5 and 8" while the model gave them the encodings of positions 8 and 10 (the permutation
    [3, 4, 0, 2, 11, 8, 12, 5, 10, 6, 9, 1, 7]). The positions it names as given are now those of the permutation,
    recomputed here from models/transformer.py Interventions, and under removed it says that none is added; 'Through
    the layers' no longer says they entered the first block "with their positions" where they had none."""
    for text in REPEATS[:4]:
        for positions in ("normal", "removed", "shuffled"):
            d = step(client, "context", 2, text, model=model, positions=positions)
            assert d["problems"] == [] and d["missing"] is None and d["settings"]["positions"] == positions, d
            a, b = (r["index"] for r in sorted(d["roles"], key=lambda r: r["role"]) if r["role"].startswith("repeated"))
            e = client.post("/api/embeddings", json={"text": d["text"], "model": model, "positions": positions}).json()
            body = filled(d)
            assert ("The positional encoding is added next" in body) == (positions != "removed"), (positions, body)
            assert ("no positional encoding is added" in body) == (positions == "removed"), (positions, body)
            assert ("encodings of these two positions" in body) <= (positions != "removed"), body
            given = [n["value"] for n in d["numbers"] if n["path"][:2] == ["interventions", "permutation"]]
            if positions == "shuffled":
                perm = Interventions(positions="shuffled").permutation(len(e["tokens"]))
                assert given == [perm[a], perm[b]], (text, given, perm)
                assert f"encodings of positions {perm[a]} and {perm[b]}" in body, body
            else:
                assert given == [], given
            for n in d["numbers"]:  # the cosines, fetched again
                if n["source"] == "embeddings" and n["path"][0] == "layers":
                    assert math.isclose(follow(e, n["path"]), n["value"], abs_tol=1e-6), n
            assert [n["path"][1] for n in d["numbers"] if n["path"][0] == "layers"] == [1, 0], d["numbers"]
            three = filled(step(client, "context", 3, text, model=model, positions=positions))
            assert ("with their positions" in three) <= (positions == "normal"), three
            assert ("They entered it without positions" in three) == (positions == "removed"), three
            assert ("They entered it with shuffled positions" in three) == (positions == "shuffled"), three


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-nope", "minilm-l6", "smollm2-135m"])
def test_lesson_4_through_the_layers_quotes_the_depth_on_screen(client, model_entries, model):
    """'Through the layers' set `depth: 5` (the last on the tiny models) but quoted `layers.-1`: on minilm-l6 the page
    showed "after block 3" under "after block 5", on smollm2-135m "after block 4" under "after block 29". It now sets
    `depth: last`: the depth on screen (null: the last) is the one quoted, after the model's last block."""
    if not model_entries[model]["available"]:
        pytest.skip(f"{model} is not installed")
    n_layers = model_entries[model]["n_layers"]
    for text in REPEATS[:3]:
        d = step(client, "context", 3, text, model=model)
        assert d["problems"] == [] and d["missing"] is None, d
        e = client.post("/api/embeddings", json={"text": d["text"], "model": model}).json()
        depth = d["settings"]["depth"]
        last = len(e["layers"]) - 1
        on_screen = e["layers"][last if depth is None else min(depth, last)]["label"]  # (the page's slider: at most the last)
        assert shown(d)["embeddings.layers.-1.label"] == on_screen == f"after block {n_layers - 1}", (depth, on_screen)


def test_depth_last_is_the_page_s_default_depth():
    head = "---\ntitle: t\nsentence: a b a\nview: embeddings\n---\n"
    lesson = parse_lesson(head + "## One\ndepth: 1\n\nText.\n\n## Two\ndepth: last\n\nText.\n\n## Three\n\nText.\n", "x.md")
    assert [s.settings.depth for s in lesson.steps] == [1, None, None]
    with pytest.raises(LessonSyntaxError):
        parse_lesson(head + "## One\ndepth: first\n\nText.\n", "x.md")


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-learned", "minilm-l6", "smollm2-135m"])
def test_lesson_4_s_chaser_names_the_token_it_attends_to_most_or_says_it_gives_almost_nothing(client, model_entries,
                                                                                              model):
    """'The chaser' said "Its largest weight among the words, 0.34, goes to “.”" (punctuation called a word) and, on
    "cat cat", "Its largest weight among the words, 0.00, goes to itself". It now speaks of the sentence's tokens,
    names the one that gets the most (recomputed here from /api/attention/explain, special tokens left out), and where
    every one of them shows as 0.00 says that it gives them almost nothing and where the attention goes. The token is
    one placeholder `{{top_word_key | piece}}` ("to **itself**." where it is the query's own, else "to **its word**.",
    where two blocks said "to itself." and "to “**word**”."): checked with every token of the sentence as the query."""
    if not model_entries[model]["available"]:
        pytest.skip(f"{model} is not installed")
    causal = model_entries[model]["kind"] == "causal"
    seen = set()
    for text in [*REPEATS[:4], "It was it.", "Dog dog."]:
        d = step(client, "context", 5, text, model=model)
        if d["missing"]:
            continue
        n = len(client.post("/api/analyze", json={"text": text, "model": model, "layers": [0]}).json()["tokens"])
        for token in [None, *range(n)]:
            if token is not None:
                d = step(client, "context", 5, text, model=model, token=token)
                assert d["settings"]["token"] == token
            assert d["problems"] == [], d["problems"]
            e = step_explain(client, d, model)
            body = filled(d)
            said = [k for k, words_ in {"nothing": "It gives almost nothing to any token", "itself": ", to **itself**.",
                                        "other": "it gives the most"}.items() if words_ in body]
            if causal and e["tokens"][e["query"]]["special"]:  # the start token: it sees no word
                assert said == [], (text, token, body)
                continue
            words = [(w, i) for i, (w, t) in enumerate(zip(e["weights"], e["tokens"], strict=True))
                     if w is not None and not t["special"]]
            best, at = max(words, key=lambda x: (x[0], -x[1]))
            assert "among the words" not in body
            truth = "nothing" if best < 0.005 else "itself" if at == d["settings"]["token"] else "other"
            if truth == "itself":
                said.remove("other")  # "it gives the most, 0.40, to **itself**."
            assert said == [truth], (text, token, truth, body)
            got = shown(d)
            assert math.isclose(got["top_word_key_weight"], best, abs_tol=1e-6), (text, got, best)
            if truth == "other":
                assert got["top_word_key"] == e["tokens"][at]["display"], (text, got)
                word = next(x["shown"] for x in d["numbers"] if expr_of(x) == "top_word_key")
                # (a piece of a word is named as one: ", to **at** (the last piece of “cat”).")
                assert re.search(rf", to \*\*{re.escape(word)}\*\*( \((token \d+, )?(the first|the last|a) piece of "
                                 rf"“[^”]+”\))?\.", body) and "itself" not in body, (text, token, body)
            if truth == "nothing":
                top = max(range(len(e["weights"])), key=lambda i: (e["weights"][i] or 0.0, -i))
                assert got["top_key"] == e["tokens"][top]["display"], (text, got)
            seen.add(truth)
    if model == "tiny-sinusoidal":
        assert {"nothing", "other"} <= seen, seen
    assert {"itself", "other"} <= seen, seen


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "smollm2-135m", "minilm-l6"])
def test_lesson_4_s_chaser_names_only_the_markers_the_model_has(client, model_entries, model):
    """'The chaser' said "Of the sentence's tokens (start and end markers left out)" on SmolLM2, which adds no marker,
    and on the tiny models, which add a start token and no end marker. The parenthesis now names what the sentence's
    tokens (explain's, every token as the query) leave out: start and end markers where the first and the last token
    are special (MiniLM's [CLS] and [SEP]), the start token where only the first is (BOS), nothing where none is."""
    if not model_entries[model]["available"]:
        pytest.skip(f"{model} is not installed")
    told = set()
    for text in [REPEATS[0], "It was it.", "Dog dog."]:
        n = len(client.post("/api/analyze", json={"text": text, "model": model, "layers": [0]}).json()["tokens"])
        for token in range(n):
            d = step(client, "context", 5, text, model=model, token=token)
            assert d["problems"] == [] and d["settings"]["token"] == token, d
            body = filled(d)
            if "Of the sentence's tokens" not in body and "any token of the sentence" not in body:
                continue
            e = step_explain(client, d, model)
            first, last = e["tokens"][0]["special"], e["tokens"][-1]["special"]
            says = ("(start and end markers left out)" if first and last else "(the start token left out)" if first
                    else None)
            assert (says is None or says in body) and ("left out)" in body) == (says is not None), (text, token, body)
            assert "marker" not in body or (first and last), (text, token, body)
            told.add(says)
    assert told == {{"tiny-sinusoidal": "(the start token left out)", "smollm2-135m": None,
                      "minilm-l6": "(start and end markers left out)"}[model]}, told


@pytest.mark.parametrize(("lesson", "n", "added"), [
    ("context", 5, "What the head reads is added to the vector"),
    ("attention-arithmetic", 4, "This z, times the head's output matrix W_O"),  # (z itself is not what is added)
])
def test_a_step_says_the_head_adds_its_output_only_where_the_head_is_on(client, lesson, n, added):
    """Lesson 4's 'The chaser' and lesson 5's weighted sum said the head's output "is added to the vector" even where
    the student had switched that very head off (the explain answer is the same with the head off: its row is
    computed, its output is not used). The explain answer now says whether its head is ablated (checked here against
    the request's own list, and against the predictions: ablating the head changes them, ablating it again does
    not), and each step says the head is off where it is."""
    for text in ["The cat chased the dog. The dog chased the cat.", "The dog saw the cat because it was hungry."]:
        d = step(client, lesson, n, text)
        if d["missing"]:
            continue
        s = d["settings"]
        here = [s["layer"], s["head"]]
        other = [s["layer"], (s["head"] + 1) % 4]
        for ablate, off in (([], False), ([other], False), ([here], True), ([other, here], True)):
            d = step(client, lesson, n, text, ablate=ablate)
            assert d["problems"] == [], d["problems"]
            e = step_explain(client, d, "tiny-sinusoidal", ablate=ablate)
            assert e["ablated"] is off, (ablate, e["ablated"])
            body = filled(d)
            assert (added in body) is not off, (lesson, ablate, body)
            assert ("switched off" in body) is off, (lesson, ablate, body)
        # ablating the head is what the flag says: it moves the next-word probabilities; once off, again changes nothing
        probs = [client.post("/api/predict", json={"text": text, "model": "tiny-sinusoidal", "top_k": 5,
                                                   "ablate": a}).json()["predictions"]
                 for a in ([], [here], [here, here])]
        assert probs[0] != probs[1] and probs[1] == probs[2]


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "smollm2-135m", "minilm-l6"])
@pytest.mark.parametrize("text", ["The cat sat on the mat.", *REPEATS[:3]])
def test_lesson_4_names_each_copy_by_its_own_token_and_counts_the_sentence_s_tokens(client, model, text):
    """On "The cat sat on the mat." lesson 4 follows "The" and "the" (one word, case aside) and said "the vector of the
    second The" and "the two The", and "it may read itself and the 5 tokens before it" of the second "the", of
    which 4 are the sentence's and one the hidden start token. Each copy is named by its own text (found here from
    the tokens), and the count is of the sentence's tokens before the query."""
    tokens = client.post("/api/analyze", json={"text": text, "model": model}).json()["tokens"]
    for n in (1, 3, 4, 5):
        d = step(client, "context", n, text, model=model)
        assert d["problems"] == [] and d["missing"] is None, d
        roles = {r["role"]: r for r in d["roles"]}
        # (a copy's text: its tokens' joined, a word in pieces whole)
        copies = ["".join(tokens[i]["text"] for i in roles[r]["tokens"]).strip() for r in ("repeated", "repeated/2")
                  if r in roles]
        body = filled(d)
        for nth, word in zip(("first", "second"), copies, strict=False):
            said = re.findall(rf"the {nth} \*\*([^*]+)\*\*", body)
            assert all(w == word for w in said), (n, nth, said, word, body)
        if n == 4:
            q = d["settings"]["token"]
            count = re.search(r"the tokens (?:of the sentence )?before it, (\d+) of them", body)
            if d["model"] == "minilm-l6":
                assert count is None, body
            else:
                assert int(count[1]) == sum(not t["special"] for t in tokens[:q]), body
                assert ("the start token" in body) == tokens[0]["special"], body


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "smollm2-135m"])
@pytest.mark.parametrize("text", ["the the the the", "Tom saw Tom."])
def test_lesson_1_says_which_word_the_guess_at_every_position_follows(client, model, text):
    """'A prediction at every position' said "After the its top guess was st (0.31)" of "the the the the": the guess
    after the first "the" of four, where the step before quoted the guess after the last. The step says it is the
    first word, and quotes the guess after that word's last token (fetched again here)."""
    d = step(client, "next-word-prediction", 5, text, model=model)
    assert d["problems"] == [] and d["missing"] is None, d
    first = next(r for r in d["roles"] if r["role"] == "first")
    p = client.post("/api/predict", json={"text": text, "model": model, "top_k": 1}).json()
    guess = p["per_position"][first["index"]]["top"][0]
    body = filled(d)
    assert f"After the first word, **{first['word']}**, its top guess was **{guess['display'].replace('␣', '').strip()}** " \
           f"({guess['prob']:.2f})" in body, body


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "smollm2-135m"])
@pytest.mark.parametrize("picked", [0, 1, 2])
def test_lesson_4_says_what_a_picked_query_may_read(client, model, picked):
    """'What the second one reads' with the student's pick: the sentence's first token, after the start token, may
    read itself and the start token ("the tokens of the sentence before it, 0 of them" read as a count of nothing);
    the first token of a model without one reads only itself. Recomputed here from the tokens."""
    text = "The cat chased the dog. The dog chased the cat."
    tokens = client.post("/api/analyze", json={"text": text, "model": model, "layers": [0]}).json()["tokens"]
    d = step(client, "context", 4, text, model=model, token=picked)
    assert d["problems"] == [], d["problems"]
    body = filled(d)
    before = sum(not t["special"] for t in tokens[:picked])
    if tokens[picked]["special"]:
        assert "the start token may read only itself" in body, body
    elif before == 0:
        assert "0 of them" not in body and (("may read itself and the start token" in body) == tokens[0]["special"]) \
            and (("the first token may read only itself" in body) != tokens[0]["special"]), body
    else:
        assert f"before it, {before} of them" in body, body
