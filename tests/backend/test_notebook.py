"""backend.notebook and backend.figures: figures drawn from the API's own answers.

Each figure's numbers are compared with what the HTTP API (TestClient on create_app) answers for the same
sentence, model and interventions; labels are the API's token strings, escaped for Plotly.
"""

import re

import plotly.graph_objects as go
import pytest

from backend import figures, notebook, schemas
from models import registry

TEXT = "The cat sat on the mat because the cat was tired."
LAYER, HEAD = 1, 1


def masked(pattern, causal):
    return [[None if causal and j > i else v for j, v in enumerate(row)] for i, row in enumerate(pattern)]


def z_of(trace):
    """A heatmap's cells as lists, a masked cell None (a NaN where the figure's z is an array: the grid's)."""
    return [[None if v is None or v != v else v for v in row] for row in trace.z]


@pytest.fixture(scope="module")
def api(client):
    """The API's answers for TEXT with the default model."""
    causal = registry.info(registry.DEFAULT_MODEL).kind == "causal"
    analyze = client.post("/api/analyze", json={"text": TEXT}).json()
    n = len(analyze["tokens"])
    last = max(t["position"] for t in analyze["tokens"] if not t["special"])
    return {
        "causal": causal,
        "analyze": analyze,
        "explain": client.post("/api/attention/explain",
                               json={"text": TEXT, "layer": LAYER, "head": HEAD, "query": last}).json(),
        "embeddings": client.post("/api/embeddings", json={"text": TEXT}).json(),
        "predict": client.post("/api/predict", json={"text": TEXT, "top_k": 10}).json(),
        "positional": client.get("/api/positional", params={"n": n}).json(),
    }


@pytest.fixture(scope="module")
def figs():
    return notebook.show(TEXT, model=None, layer=LAYER, head=HEAD)


def test_show_returns_named_figures(figs):
    assert {"attention", "grid", "explain", "embeddings_first", "embeddings_last"} <= set(figs)
    info = registry.info(registry.DEFAULT_MODEL)
    assert ("predictions" in figs) == ("predictions" not in info.unavailable_views)
    assert ("positional" in figs) == ("positional.encoding" not in info.unavailable_views)
    for name, fig in figs.items():
        assert isinstance(fig, go.Figure) and fig.data, name
        fig.to_json()  # serializable, as Jupyter and the report need


def test_show_s_docstring_names_every_figure_it_returns(figs):
    """help(notebook.show) is where a notebook user learns the names: each one show() returns is in it."""
    doc = " ".join(notebook.show.__doc__.split())
    for name in figs:
        assert re.search(rf"\b{name}\b", doc), name
    assert {"lens", "attribution_heads", "attribution_parts", "attention_attribution"} <= set(figs)


def test_tokens_give_both_forms_as_the_api_does(api):
    toks = notebook.tokens(TEXT)
    assert [t.model_dump() for t in toks] == api["analyze"]["tokens"]
    assert "".join(t.text for t in toks if not t.special) == TEXT and toks[2].display == "\u2423cat"
    with pytest.raises(ValueError, match="text is empty"):
        notebook.tokens("  ")


def test_attention_equals_the_api(figs, api):
    a = api["analyze"]
    fig = figs["attention"]
    assert z_of(fig.data[0]) == masked(a["attention"][LAYER][HEAD], api["causal"])
    tokens = [t["display"] for t in a["tokens"]]
    assert list(fig.layout.xaxis.tickvals) == list(range(len(tokens)))
    assert list(fig.layout.xaxis.ticktext) == [figures.esc(t) for t in tokens]
    assert list(fig.layout.yaxis.ticktext) == [figures.esc(t) for t in tokens]
    single = notebook.attention(TEXT, LAYER, HEAD)
    assert z_of(single.data[0]) == z_of(fig.data[0])


def test_grid_equals_the_api(figs, api):
    a = api["analyze"]
    traces = figs["grid"].data
    assert len(traces) == a["n_layers"] * a["n_heads"]
    for layer in range(a["n_layers"]):
        for head in range(a["n_heads"]):
            assert z_of(traces[layer * a["n_heads"] + head]) == masked(a["attention"][layer][head], api["causal"])


def test_explain_equals_the_api(figs, api):
    e = api["explain"]
    scores, weights, other = figs["explain"].data
    assert list(scores.y) == [0 if v is None else v for v in e["scaled_scores"]]
    assert list(weights.y) == e["weights"] and list(other.y) == e["other_weights"]
    assert f"query {e['query']} " in figs["explain"].layout.title.text


def test_embeddings_equal_the_api(figs, api, client):
    layers = api["embeddings"]["layers"]
    assert z_of(figs["embeddings_first"].data[0]) == layers[0]["cosine"]
    assert z_of(figs["embeddings_last"].data[0]) == layers[-1]["cosine"]
    dot = notebook.embeddings(TEXT, depth=1, measure="dot")
    assert z_of(dot.data[0]) == layers[1]["dot"]
    onehot = notebook.embeddings(TEXT, depth="one-hot")
    assert z_of(onehot.data[0]) == api["embeddings"]["onehot"]["cosine"]
    with pytest.raises(ValueError, match="depth 99 does not exist"):
        notebook.embeddings(TEXT, depth=99)


def test_predictions_equal_the_api(figs, api, client):
    if "predictions" not in figs:
        pytest.skip("the default model does not predict")
    p = api["predict"]["predictions"]
    bar = figs["predictions"].data[0]
    assert list(bar.x) == [x["prob"] for x in p]
    assert list(figs["predictions"].layout.yaxis.ticktext) == [figures.esc(x["display"]) for x in p]
    cold = client.post("/api/predict", json={"text": TEXT, "top_k": 5, "temperature": 0.5}).json()
    fig = notebook.predictions(TEXT, top_k=5, temperature=0.5)
    assert list(fig.data[0].x) == [x["prob"] for x in cold["predictions"]]


def test_positional_equals_the_api(figs, api, client):
    if "positional" not in figs:
        pytest.skip("the default model has no positional encoding")
    assert z_of(figs["positional"].data[0]) == api["positional"]["encoding"]
    assert z_of(figs["positional_similarity"].data[0]) == api["positional"]["similarity"]
    ten = client.get("/api/positional", params={"n": 10}).json()
    assert z_of(notebook.positional(n=10).data[0]) == ten["encoding"]
    assert z_of(notebook.positional_similarity(n=10).data[0]) == ten["similarity"]


def test_interventions_reach_the_figures(client):
    body = {"text": TEXT, "positions": "shuffled", "seed": 3, "scale": False, "ablate": [[0, 1]]}
    a = client.post("/api/analyze", json=body).json()
    fig = notebook.attention(TEXT, 2, 0, positions="shuffled", seed=3, scale=False, ablate=[(0, 1)])
    causal = registry.info(registry.DEFAULT_MODEL).kind == "causal"
    assert z_of(fig.data[0]) == masked(a["attention"][2][0], causal)
    # the page's caption (frontend/js/theme.json), with the permutation the API applied
    perm = ", ".join(map(str, a["interventions"]["permutation"]))
    # in lines of at most 80 characters (one line ran off the figure's right edge): the words are the caption's
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines)
    # the top margin holds every line (plotly hangs the lines after the first inside the title's pad)
    assert fig.layout.title.pad.b >= (len(lines) - 1) * 14 * 1.3 and fig.layout.margin.t > fig.layout.title.pad.b + 14
    title = " ".join(lines)
    assert f"Positions shuffled (position given to each token: {perm})." in title
    assert "Scores not divided by √d_head." in title and "Ablated heads: L0 H1." in title
    e = client.post("/api/attention/explain", json={**body, "layer": 0, "head": 2, "query": 3}).json()
    assert list(notebook.explain(TEXT, 0, 2, query=3, positions="shuffled", seed=3, scale=False,
                                 ablate=[(0, 1)]).data[1].y) == e["weights"]


def test_a_model_without_a_view_leaves_it_out():
    info = registry.info("tiny-nope")
    figs = notebook.show("Once upon a time", model="tiny-nope")
    assert "positional" not in figs and "grid" in figs
    with pytest.raises(ValueError, match="no positional encoding"):
        notebook.positional(model="tiny-nope")
    assert "positional.encoding" in notebook.data("Once upon a time", model="tiny-nope").unavailable
    assert info.unavailable_views["positional.encoding"] == notebook.data("Once upon a time", model="tiny-nope").unavailable[
        "positional.encoding"]


@pytest.mark.parametrize("call, error, words", [
    (lambda: notebook.attention("   "), ValueError, "empty"),
    (lambda: notebook.attention(TEXT, layer=99), ValueError, "layer 99 does not exist"),
    (lambda: notebook.attention(TEXT, head=-1), ValueError, "head -1 does not exist"),
    (lambda: notebook.explain(TEXT, query=500), ValueError, "query 500 does not exist"),
    (lambda: notebook.show(TEXT, model="gpt-17"), LookupError, "unknown model"),
    (lambda: notebook.show(TEXT, layer=7), ValueError, "layer 7 does not exist"),
    (lambda: notebook.predictions(TEXT, top_k=51), ValueError, "limit is 50"),
    (lambda: notebook.positional(n=0), ValueError, "at least 1"),
    (lambda: notebook.attention("a" * 2001), ValueError, "limit is 2000"),
    (lambda: notebook.role_models("previous-token"), ValueError, "give a text .* or probe=True"),
    (lambda: notebook.roles(), ValueError, "give a text .* or probe=True"),
    (lambda: notebook.role_table(TEXT, probe=True), ValueError, "not both"),
])
def test_bad_input_raises_the_api_message(call, error, words):
    with pytest.raises(error, match=words):
        call()


# --------------------------------------------------------------------------- figures on their own

def test_esc():
    assert figures.esc("<b>&x</b>\"'") == "&lt;b&gt;&amp;x&lt;/b&gt;&#34;&#39;"
    assert figures.esc("plain ␣text") == "plain ␣text"


def _analyze(tokens: list[str], n_layers=1, n_heads=1, causal=True) -> schemas.AnalyzeResponse:
    n = len(tokens)
    row = [[round(1 / (i + 1), 4) if j <= i else 0.0 for j in range(n)] for i in range(n)]
    return schemas.AnalyzeResponse(
        model="m", interventions=schemas.AppliedInterventions(positions="normal", scale=True, ablate=[], seed=0),
        tokens=[schemas.Token(id=i, text=t, display=t, position=i) for i, t in enumerate(tokens)], n_layers=n_layers,
        n_heads=n_heads, causal=causal, visible=[i + 1 if causal else n for i in range(n)], layers=list(range(n_layers)),
        attention=[[row] * n_heads] * n_layers,
        heads=[[schemas.HeadSummary(layer=0, head=0, entropy=0, previous_token=0, first_token=0, self_token=0)]])


def test_duplicate_and_hostile_tokens_stay_separate_and_escaped():
    toks = ["the", "<img src=x onerror=alert(1)>", "the", "&amp;"]
    fig = figures.attention_heatmap(_analyze(toks), 0, 0)
    ax = fig.layout.xaxis
    assert list(ax.tickvals) == [0, 1, 2, 3]
    assert list(ax.ticktext) == ["the", "&lt;img src=x onerror=alert(1)&gt;", "the", "&amp;amp;"]
    text = fig.data[0].text
    assert "<img" not in str(text) and "&lt;img" in text[1][1]
    assert fig.data[0].z[0][1] is None and fig.data[0].z[1][0] == 0.5  # masked above the diagonal
    unmasked = figures.attention_heatmap(_analyze(toks, causal=False), 0, 0)
    assert unmasked.data[0].z[0][1] == 0.0
    with pytest.raises(ValueError, match="head 1 does not exist"):
        figures.attention_heatmap(_analyze(toks), 0, 1)


def test_grid_highlight_and_shape():
    fig = figures.heads_grid(_analyze(["a", "b", "c"], n_layers=2, n_heads=3), highlight=(1, 2))
    assert len(fig.data) == 6 and fig.data[5].xaxis == "x6" and fig.data[0].xaxis == "x"
    assert len(fig.layout.shapes) == 1 and [a.text for a in fig.layout.annotations][-1] == "L1 H2"


@pytest.mark.parametrize("n_layers, n_heads", [(2, 3), (4, 4), (30, 9)])
def test_the_grid_s_colour_bar_is_beside_its_first_rows(n_layers, n_heads):
    """The colour bar starts at the top of the plot, beside the first layers, and is no taller than the plot or a
    screen: SmolLM2's grid is 3,410 px tall, and a bar of 0.6 of it stood in the middle of the figure, 2,000 px long."""
    fig = figures.heads_grid(_analyze(["a", "b", "c"], n_layers=n_layers, n_heads=n_heads))
    layout = fig.layout
    plot = layout.height - layout.margin.t - layout.margin.b  # px
    bar = layout.coloraxis.colorbar
    length = bar.len if bar.lenmode == "pixels" else bar.len * plot
    top = (1 - bar.y) * plot + (length if bar.yanchor == "bottom" else length / 2 if bar.yanchor == "middle" else 0)
    assert top == 0 and 100 <= length <= min(plot, 400), (top, length, plot)


@pytest.mark.slow
def test_the_readme_s_notebook_example_runs_as_written():
    """The README's block imported five of the functions it calls (roles: NameError) and called role_models with
    neither a text nor the probe (a pydantic error naming request fields)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"## In a notebook\n\n```python\n(.*?)```", readme, re.S)[1]
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # the README's own code, as a reader pastes it
    assert isinstance(scope["figs"], dict) and "lens" in scope["lens"].figures


@pytest.mark.parametrize("call, words", [
    (lambda: notebook.tokens(""), "^text is empty: type a sentence$"),
    (lambda: notebook.show(""), "^text is empty: type a sentence$"),
    (lambda: notebook.predictions("Hi", top_k=0), "^top_k: Input should be greater than or equal to 1$"),
    (lambda: notebook.show("Hi", positions="foo"), "^positions: Input should be 'normal', 'removed' or 'shuffled'$"),
    (lambda: notebook.attention("Hi", ablate=[0, 0]), r"^ablate item 0 is 0, not a \[layer, head\] pair"),
    (lambda: notebook.attention("Hi", ablate="1.x"), "is not layer.head"),
])
def test_bad_input_is_said_as_the_api_says_it_not_as_pydantic_reports_it(call, words):
    """nb.show("") raised pydantic's "1 validation error for ReportRequest ... For further information visit ...",
    nb.attention("Hi", ablate=[0, 0]) a TypeError from inside the notebook: now the API's `detail`."""
    with pytest.raises(ValueError, match=words) as got:
        call()
    assert "pydantic" not in str(got.value) and "validation error" not in str(got.value)


def test_ablate_takes_the_page_s_words_too(client):
    a = notebook.attention(TEXT, layer=1, head=2, ablate="1.2")
    b = notebook.attention(TEXT, layer=1, head=2, ablate=[(1, 2)])
    assert z_of(a.data[0]) == z_of(b.data[0])


def test_a_text_past_the_trained_length_says_what_the_notebook_takes():
    """The notebook said "send allow_beyond_trained: true", which none of its functions took: they take
    allow_beyond_trained=True now, and say so; the report's data says the report's own limit."""
    long = "Once upon a time there was a little girl named Lily. She loved to play in the park. " * 8
    n = len(notebook.tokens(long))
    assert 128 < n <= 512
    with pytest.raises(ValueError, match="pass allow_beyond_trained=True to run it") as got:
        notebook.attention(long)
    assert "send" not in str(got.value)
    fig = notebook.attention(long, allow_beyond_trained=True)
    assert len(z_of(fig.data[0])) == n
    lens = notebook.logit_lens(long, allow_beyond_trained=True)
    assert lens.data["lens"].tokens[-1].position == n - 1
    with pytest.raises(ValueError) as got:
        notebook.data(long)
    assert "allow_beyond_trained" not in str(got.value) and "report" in str(got.value)


def test_depth_counts_from_the_end_in_show_as_in_embeddings():
    a, b = notebook.data(TEXT, depth=-1), notebook.data(TEXT)
    assert a.depth == b.depth == len(b.embeddings.layers) - 1
    assert notebook.data(TEXT, depth=-2).depth == len(b.embeddings.layers) - 2


def test_role_models_names_each_model_s_token_count_where_they_differ():
    """The title said "8 tokens" of three models whose tokens were 8, 7 and 9."""
    resp = notebook.role_models_data("The cat sat on the cat.", ["tiny-sinusoidal", "smollm2-135m", "minilm-l6"])
    counts = [len(r.tokens) for r in resp.results]
    assert len(set(counts)) > 1
    fig = figures.role_models(resp, "induction")
    assert "tokens" not in fig.layout.title.text.split("·")[-1] or "each model's own tokens" in fig.layout.title.text
    names = [a.text for a in fig.layout.annotations if a.text.startswith(tuple(r.model for r in resp.results))]
    assert [int(re.search(r"· (\d+) tokens", t)[1]) for t in names] == counts
    same = figures.role_models(notebook.role_models_data("The cat sat on the cat.", ["tiny-sinusoidal", "tiny-rotary"]),
                               "induction")
    assert same.layout.title.text.endswith("8 tokens")


def test_a_token_that_is_not_one_says_how_each_form_tried_splits():
    """" Paris" was said to split into "P + ar + is", the pieces of the word without its space; both forms tried
    are said now, each as the model splits it (recomputed from the tokenizer)."""
    tok = registry.load("tiny-sinusoidal").tokenizer
    mid, alone = (" + ".join(tok.displays(tok.encode(f, add_bos=False))) for f in (" Paris", "Paris"))
    assert mid != alone and len(tok.encode(" Paris", add_bos=False)) > 1
    with pytest.raises(ValueError, match=re.escape(f"mid-sentence it splits into {mid}, alone into {alone}")):
        notebook.logit_lens("Hi", token=" Paris")
    with pytest.raises(ValueError, match="^token is empty"):
        notebook.logit_lens("Hi", token=" ")


def test_show_explains_the_chosen_token_after_the_query_as_the_api_does(client):
    """show()/data() take the query token, `token` and `versus` of the page's lens and attribution (the Why figures
    were always of the last position's top-1): the figures' numbers are the API's at that position."""
    text = "The cat sat on the mat."
    want = client.post("/api/attribution/logit", json={"text": text, "position": 3, "token": 626, "versus": 305}).json()
    lens = client.post("/api/attribution/lens", json={"text": text, "position": 3, "token": 626}).json()
    d = notebook.data(text, query=3, token=" down", versus=305)
    assert d.logit.position == 3 and d.logit.target == want["target"] and d.logit.logit == want["logit"]
    assert d.logit.heads == want["heads"]
    assert d.lens.position == 3 and d.lens.token.prob == lens["token"]["prob"]
    figs = notebook.show(text, query=3, token=626, versus=" The")
    assert figs["attribution_heads"].data[0].z == tuple(tuple(r) for r in want["heads"]) or \
        [list(r) for r in figs["attribution_heads"].data[0].z] == want["heads"]
    assert "“␣down”" in figs["lens"].layout.title.text and "3 “␣sat”" in figs["lens"].layout.title.text


def test_the_heads_figure_marks_the_heads_the_run_ablated_off(client):
    """An ablated head's output is set to 0, so it adds exactly 0 to the logit: the page writes 'off' in its cell;
    the notebook's and the report's figure wrote 0.00, like a head that adds about nothing."""
    text = "The cat sat on the mat."
    want = client.post("/api/attribution/logit", json={"text": text, "ablate": [[1, 2], [0, 3]]}).json()
    fig = notebook.attribution(text, ablate="1.2,0.3").figures["heads"]
    trace = fig.data[0]
    for layer, row in enumerate(want["heads"]):
        for head, value in enumerate(row):
            off = (layer, head) in ((1, 2), (0, 3))
            assert trace.text[layer][head] == ("off" if off else f"{value:.2f}"), (layer, head)
            assert ("ablated in this run" in trace.customdata[layer][head]) == off, (layer, head)
    assert want["heads"][1][2] == 0 and want["heads"][0][3] == 0
    # a grid too large for numbers keeps its 'off' marks
    big = notebook.attribution("Hi", model="smollm2-135m", ablate="4.1").figures["heads"].data[0]
    assert big.text[4][1] == "off" and big.text[4][0] == "" and big.text[0][0] == ""


def test_the_grid_crosses_out_the_heads_the_run_ablated():
    """The page's grid crosses out an ablated head (its weights are still computed, its output is 0); the notebook's
    and the report's grid drew it like any other head."""
    fig = notebook.grid("The cat sat on the mat.", ablate="1.2,0.3")
    colour = figures.THEME["ablated"]["color"]
    crossed = {}
    for shape in fig.layout.shapes:
        if shape.type == "line" and shape.line.color == colour:
            crossed.setdefault((round(min(shape.x0, shape.x1), 6), round(min(shape.y0, shape.y1), 6)), []).append(shape)
    # each cross lies on its head's tile: the domain of that head's axes (trace k = layer * n_heads + head)
    tiles = set()
    for layer, head in ((1, 2), (0, 3)):
        k = layer * 4 + head
        trace = fig.data[k]
        xa = fig.layout[trace.xaxis.replace("x", "xaxis")]
        ya = fig.layout[trace.yaxis.replace("y", "yaxis")]
        tiles.add((round(xa.domain[0], 6), round(ya.domain[0], 6)))
    assert set(crossed) == tiles and all(len(v) == 2 for v in crossed.values()), (crossed.keys(), tiles)
    labels = [a.text for a in fig.layout.annotations]
    assert "L1 H2 (ablated)" in labels and "L0 H3 (ablated)" in labels and "L1 H1" in labels
    assert not [s for s in notebook.grid("The cat sat.").layout.shapes if s.type == "line"]


def test_the_readme_names_token_and_versus_only_of_functions_that_take_them():
    """The README said `token` and `versus` were of logit_lens, attribution and show/data; logit_lens takes no
    `versus` (a TypeError for a reader who passed one, as the lens reads one token's probability)."""
    import inspect
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    found = re.findall(r"`(token|versus)`(?: and `(versus)`)? \(of ([^)]*)\)", readme)
    said = {}
    for first, second, names in found:
        for param in filter(None, (first, second)):
            said.setdefault(param, []).extend(n for n in re.findall(r"`(\w+)`", names) if n != "query")
    assert set(said) == {"token", "versus"}, found
    for param, names in said.items():
        for name in names:
            assert param in inspect.signature(getattr(notebook, name)).parameters, (param, name)
