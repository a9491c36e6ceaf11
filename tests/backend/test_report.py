"""The handout: `attnlab report` and GET /api/report write one self-contained HTML file.

The browser tests open the file in Debian's Chromium through Playwright with every request but the file
itself aborted, and check that the plots draw, nothing errs, nothing is fetched and a hostile sentence
runs nothing.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pytest
import torch

from backend import report
from backend.cli import main
from models import registry

TEXT = "The cat sat on the mat."
HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(1)>"
LAYER, HEAD = 1, 1
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECTIONS = ["tokens", "attention", "grid", "explain", "embeddings", "predictions", "positional", "why"]


def expected_figures(name: str) -> int:
    """attention, grid, explain, two similarity maps, attention beside what it moves; predictions; encoding and
    its similarity; the logit lens; the logit attribution of heads and of the rest."""
    views = registry.info(name).unavailable_views
    return (6 + ("predictions" not in views) + 2 * ("positional.encoding" not in views) + ("lens" not in views)
            + 2 * ("logit_attribution" not in views))


def without_timestamp(text: str) -> str:
    return re.sub(r"<dt>Generated</dt><dd>.*?</dd>", "", text)


def outside_plotly(text: str) -> str:
    """The file without the embedded plotly.js library (whose code names URLs it never fetches for heatmaps)."""
    return text.replace(report.plotly_js(), "")


@pytest.fixture(scope="module")
def cli_report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "cat.html"
    main(["report", TEXT, "-o", str(path), "--layer", str(LAYER), "--head", str(HEAD)])
    return path


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "hostile.html"
    main(["report", HOSTILE, "-o", str(path)])
    return path


# --------------------------------------------------------------------------- the file

def test_cli_writes_one_self_contained_file(cli_report, capsys):
    text = cli_report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    info = registry.info(registry.DEFAULT_MODEL)
    assert f"<dd>{html.escape(info.name)} — {html.escape(info.title)}</dd>" in text
    assert f"<dd>layer {LAYER}, head {HEAD}</dd>" in text and "<dt>Generated</dt>" in text and " UTC by " in text
    assert text.count(report.plotly_js()) == 1  # plotly.js inline, once
    assert text.count('class="plotly-graph-div"') == expected_figures(info.name)
    for section in SECTIONS:
        assert f'<section id="{section}">' in text
    assert f'<p class="sentence">{html.escape(TEXT)}</p>' in text


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "minilm-l6", "smollm2-135m", "tiny-nope"])
def test_the_file_writes_the_figures_plotly_checks(client, model):
    """The file's figures are plain dicts (figures.plain), written without plotly's checks: each is what the figure
    function gives plotly's Figure, and the Figure plotly makes of it (every property checked, an unknown one an
    error) is the figure the notebook gets."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from backend import figures

    data = report.gather(client.app.state.service, report.ReportRequest(text="Tom gave Lily a ball because she",
                                                                      model=model, layer=1, head=1))
    checked = report.figures_of(data)
    with figures.plain():
        plain = report.figures_of(data)
    assert plain.keys() == checked.keys() and len(plain) == expected_figures(model)
    for name, fig in plain.items():
        assert isinstance(fig, dict) and not isinstance(checked[name], dict)
        assert pio.to_json(go.Figure(fig)) == pio.to_json(checked[name]), name


def test_the_query_token_is_named_as_the_page_shows_it(client):
    """A special token (MiniLM's last, [SEP], which the page can select) is named by its display, as everywhere else
    in the file, not by its text, which is empty."""
    n = len(client.post("/api/analyze", json={"text": TEXT, "model": "minilm-l6", "layers": []}).json()["tokens"])
    r = client.get("/api/report", params={"text": TEXT, "model": "minilm-l6", "query": n - 1})
    assert r.status_code == 200, r.text
    text = r.text
    named = re.findall(r"The outlined row is query token (\d+) “<span class=\"t\">(.*?)</span>”", text)
    assert named == [(named[0][0], "[SEP]")], named
    assert f"The attention arithmetic for query token {named[0][0]} “[SEP]”" in text
    # by default the query is the last token that stands for text, the one before [SEP]: said so, not "the last token"
    plain = client.get("/api/report", params={"text": TEXT, "model": "minilm-l6"}).text
    assert re.search(rf"<dd>{n - 2} “[^”]*” \(the last token that stands for text; \[SEP\] after it is special\)</dd>",
                     plain), re.findall(r"<dd>\d+ “[^<]*</dd>", plain)
    assert "(the last token)" not in plain


def test_the_file_references_nothing_on_the_network(cli_report):
    rest = outside_plotly(cli_report.read_text(encoding="utf-8"))
    assert not re.search(r"https?:|//cdn|<link|@import|url\(|\bsrc\s*=|@font-face|<iframe|<img", rest, re.I)
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', rest))


def test_a_view_that_does_not_apply_says_why(tmp_path):
    path = tmp_path / "nope.html"
    main(["report", TEXT, "-o", str(path), "--model", "tiny-nope"])
    text = path.read_text(encoding="utf-8")
    why = registry.info("tiny-nope").unavailable_views["positional.encoding"]
    assert f'<p class="reason">{html.escape(why)}</p>' in text
    assert 'id="fig-positional"' not in text and text.count('class="plotly-graph-div"') == expected_figures("tiny-nope")


def test_a_one_layer_model_is_counted_in_the_singular(tmp_path, letters_model):
    """A tiny model of the training lab (one layer, added with --add-model) in the report's settings and the grid's
    note: “1 layer × 2 heads”, not “1 layers”."""
    path = tmp_path / "one.html"
    main(["report", "abcabc", "-o", str(path), "--model", letters_model])
    text = path.read_text(encoding="utf-8")
    info = registry.info(letters_model)
    assert info.n_layers == 1 and "1 layers" not in text
    assert text.count(f"1 layer × {info.n_heads} heads") == 2


def test_settings_and_interventions_are_written_down(tmp_path):
    path = tmp_path / "iv.html"
    main(["report", TEXT, "-o", str(path), "--model", "tiny-rotary", "--layer", "2", "--head", "3",
          "--positions", "shuffled", "--seed", "4", "--no-scale", "--ablate", "0.1", "--ablate", "1.2"])
    text = path.read_text(encoding="utf-8")
    assert "<dd>tiny-rotary — " in text and "<dd>layer 2, head 3</dd>" in text
    assert "shuffled (seed 4" in text and "NOT divided" in text and "<dd>layer 0 head 1, layer 1 head 2</dd>" in text


@pytest.mark.parametrize("args, words", [
    (["   "], "text is empty"),
    ([TEXT, "--layer", "99"], "layer 99 does not exist"),
    ([TEXT, "--head", "-1"], "head -1 does not exist"),
    ([TEXT, "--model", "gpt-17"], "unknown model"),
    ([TEXT, "--ablate", "9.0"], "layer 9 does not exist"),
    ([TEXT, "--top-k", "51"], "limit is 50"),
])
def test_cli_bad_input_exits_with_a_message(tmp_path, args, words):
    path = tmp_path / "bad.html"
    with pytest.raises(SystemExit, match=words):
        main(["report", *args, "-o", str(path)])
    assert not path.exists()


def test_the_hostile_sentence_is_text(hostile_report):
    text = hostile_report.read_text(encoding="utf-8")
    assert "<script>alert" not in text and "<img" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert f'<p class="sentence">{html.escape(HOSTILE)}</p>' in text
    # scripts: the PlotlyConfig line, plotly.js, one per figure; nothing else
    figs = text.count('class="plotly-graph-div"')
    assert len(re.findall(r"<script\b", outside_plotly(text), re.I)) == 2 + figs
    assert not re.search(r"<[a-z][^>]*\son\w+\s*=", outside_plotly(text), re.I)  # no tag with an on...= handler


# --------------------------------------------------------------------------- the endpoint

def test_endpoint_returns_the_same_file_as_a_download(client, cli_report):
    r = client.get("/api/report", params={"text": TEXT, "layer": LAYER, "head": HEAD})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    model = registry.DEFAULT_MODEL
    assert r.headers["content-disposition"] == f'attachment; filename="attention-lab-{model}-L{LAYER}-H{HEAD}.html"'
    assert without_timestamp(r.text) == without_timestamp(cli_report.read_text(encoding="utf-8"))


def test_endpoint_takes_the_interventions(client):
    r = client.get("/api/report", params={"text": TEXT, "model": "tiny-learned", "ablate": "0.1,1.2",
                                          "positions": "removed", "scale": "false", "top_k": 3})
    assert r.status_code == 200, r.text
    assert "attention-lab-tiny-learned-L0-H0.html" in r.headers["content-disposition"]
    assert "<dd>removed</dd>" in r.text and "NOT divided" in r.text and "layer 0 head 1, layer 1 head 2" in r.text
    assert r.text.count("<tr><td>") >= 3


def test_the_arithmetic_gives_root_d_s_value_apart_from_the_score(client):
    """The report's arithmetic said "For each key: score = q·k ÷ √40 = 6.3246" and labelled its bars "scores: q·k ÷
    √40 = 6.325", which read as a score of 6.3246 (the number is √40's, the same for every key), as the page's
    Arithmetic view said before it. Both now give √d_head's value in brackets; scaling off is unchanged."""
    text = "The cat sat on the mat because it was tired."
    page = client.get("/api/report", params={"text": text, "layer": 1, "head": 2}).text
    assert "For each key: score = q·k ÷ √40 (√40 = 6.3246)" in page
    assert "scores: q·k ÷ √40 (√40 = 6.325)" in page
    assert "÷ √40 = " not in page
    off = client.get("/api/report", params={"text": text, "layer": 1, "head": 2, "scale": "false"}).text
    assert "For each key: score = q·k ÷ 1 (scaling off)" in off and "scores: q·k ÷ 1 (scaling off)" in off


def test_the_arithmetic_names_alibi_s_bias_and_an_ablated_head_s_zero(client):
    """Under ALiBi the report said "weight = softmax of the scores" beside a table of q·k ÷ scale whose softmax is not
    the weight column (the bias was missing: <|bos|> 0.549 against 0.1825); of an ablated head it called Σ weight × v
    the head's output, which the model sets to 0."""
    text = "The cat sat on the mat because it was tired."
    page = client.get("/api/report", params={"text": text, "model": "tiny-alibi", "layer": 3, "head": 0}).text
    x = client.post("/api/attention/explain", json={"text": text, "model": "tiny-alibi", "layer": 3, "head": 0,
                                                     "query": len(client.post("/api/analyze", json={
                                                         "text": text, "model": "tiny-alibi", "top_k": 1}).json()[
                                                         "tokens"]) - 1}).json()
    # the slope with the four decimals the page's views and lessons write it with (head 0: 1/4)
    assert x["slope"] == 0.25 and "+ the ALiBi bias −m × distance (this head's slope m = 0.2500)" in page
    assert "<th>ALiBi bias</th><th>score</th>" in page and "+ ALiBi bias (−0.2500 × distance)" in page
    # the table's score column is what the softmax takes: its softmax is the weight column
    scores = torch.tensor([v if v is not None else -math.inf for v in x["scores"]], dtype=torch.float64)
    assert torch.allclose(torch.softmax(scores, 0), torch.tensor(x["weights"], dtype=torch.float64), atol=2e-4)
    plain = client.get("/api/report", params={"text": text, "layer": 3, "head": 0}).text
    assert "ALiBi" not in plain and "the head's output is Σ weight × v" in plain
    off = client.get("/api/report", params={"text": text, "layer": 3, "head": 0, "ablate": "3.0"}).text
    assert "it is ablated: the model sets its output to 0" in off and "the head's output is Σ" not in off


@pytest.mark.parametrize("params, status, words", [
    ({"text": ""}, 422, "empty"),
    ({"text": "  "}, 422, "empty"),
    ({}, 422, "text"),
    ({"text": "a" * 2001}, 422, "limit is 2000"),
    ({"text": "hi", "layer": 99}, 422, "layer 99 does not exist"),
    ({"text": "hi", "head": -1}, 422, "head -1 does not exist"),
    ({"text": "hi", "layer": "one"}, 422, "layer"),
    ({"text": "hi", "model": "gpt-17"}, 404, "unknown model"),
    ({"text": "hi", "positions": "sideways"}, 422, "positions"),
    ({"text": "hi", "ablate": "x"}, 422, "layer.head"),
    ({"text": "hi", "ablate": "9.0"}, 422, "layer 9 does not exist"),
    ({"text": "hi", "top_k": 51}, 422, "limit is 50"),
])
def test_endpoint_bad_input(client, params, status, words):
    r = client.get("/api/report", params=params)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and words in detail


def test_the_report_takes_the_pages_selections(client):
    """The query token, temperature, depth and measure the page sends: named, and each number is the API's."""
    text = "The cat sat on the mat because it was tired."
    params = {"text": text, "layer": 1, "head": 2, "query": 3, "temperature": 0.5, "depth": 1, "metric": "dot"}
    r = client.get("/api/report", params=params)
    assert r.status_code == 200, r.text
    tokens = client.post("/api/analyze", json={"text": text}).json()["tokens"]
    q = html.escape(tokens[3]["display"])
    assert f"<dd>3 “{q}”</dd>" in r.text  # the settings name the query (no "(the last token)")
    assert f"The attention arithmetic for query token 3 “{q}”" in r.text
    e = client.post("/api/attention/explain", json={"text": text, "layer": 1, "head": 2, "query": 3}).json()
    for i, w in enumerate(e["weights"]):  # the arithmetic table is that query's row
        assert f"<td>{w:.4f}</td>" in r.text.split('id="explain"')[1].split("</table>")[0], i
    p = client.post("/api/predict", json={"text": text, "temperature": 0.5, "top_k": 10}).json()
    top = p["predictions"][0]
    assert f'<td class="tok">{html.escape(top["display"])}</td><td>{top["id"]}</td><td>{top["prob"]:.4f}</td>' in r.text
    assert "(temperature 0.5)" in r.text and "<dd>0.5 (next-token predictions)</dd>" in r.text
    emb = client.post("/api/embeddings", json={"text": text}).json()
    second = emb["layers"][1]["label"]  # "+ position": the token embedding's sum
    second = f"the token embedding {second}" if second.startswith("+") else second
    assert f"<dd>dot, at the {html.escape(emb['layers'][0]['label'])} and {html.escape(second)}</dd>" in r.text
    # the default: the last token, said so
    plain = client.get("/api/report", params={"text": text}).text
    assert f"<dd>{len(tokens) - 1} “{html.escape(tokens[-1]['display'])}” (the last token)</dd>" in plain
    # out of range: a 422 that says why
    for bad, words in (({"query": 99}, "query 99 does not exist"), ({"depth": 99}, "depth 99 does not exist"),
                       ({"temperature": 0}, "temperature"), ({"metric": "l2"}, "metric")):
        res = client.get("/api/report", params={"text": text, **bad})
        assert res.status_code == 422 and words in res.json()["detail"], (bad, res.text)


# --------------------------------------------------------------------------- in a real browser, offline

@pytest.fixture(scope="module")
def chromium(playwright):
    """Debian's Chromium, headless, through pytest-playwright's session Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()


PLOTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => ({
  id: d.id,
  traces: (d.data || []).length,
  points: (d.data || []).reduce((a, t) => a + ((t.z || t.y || []).length), 0),
  drawn: d.querySelectorAll('.main-svg').length,
}))"""


def open_offline(browser, path: Path) -> dict:
    """Open the file with every other request aborted; what it drew, fetched, logged and popped up."""
    url = path.resolve().as_uri()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    seen, errors, dialogs = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    def route(r):
        seen.append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === "
                               "document.querySelectorAll('.plotly-graph-div').length", timeout=30_000)
        page.wait_for_timeout(300)
        result = {"url": url, "plots": page.evaluate(PLOTS), "requests": seen, "errors": errors, "dialogs": dialogs,
                  "sentence": page.text_content(".sentence"),
                  "imgs": page.evaluate("document.querySelectorAll('img, iframe, object, embed').length"),
                  "scripts": page.evaluate("document.scripts.length"),
                  "ticks": page.evaluate("Array.from(document.querySelectorAll('#fig-attention .xtick text'))"
                                         ".map(t => t.textContent)")}
    finally:
        context.close()
    return result


@pytest.mark.browser
def test_report_draws_offline(chromium, cli_report):
    r = open_offline(chromium, cli_report)
    assert r["requests"] == [r["url"]] and r["errors"] == [] and r["dialogs"] == []
    expected = expected_figures(registry.DEFAULT_MODEL)
    assert len(r["plots"]) == expected, r["plots"]
    for plot in r["plots"]:
        assert plot["traces"] >= 1 and plot["points"] > 0 and plot["drawn"] >= 1, plot


@pytest.mark.browser
def test_hostile_sentence_runs_nothing(chromium, hostile_report, client):
    r = open_offline(chromium, hostile_report)
    assert r["dialogs"] == [] and r["errors"] == [] and r["requests"] == [r["url"]]
    assert r["sentence"] == HOSTILE and r["imgs"] == 0
    text = hostile_report.read_text(encoding="utf-8")
    assert r["scripts"] == 2 + text.count('class="plotly-graph-div"')
    tokens = client.post("/api/analyze", json={"text": HOSTILE}).json()["tokens"]
    assert r["ticks"] == [t["display"] for t in tokens]  # Plotly shows the characters, not markup
    assert all(p["points"] > 0 for p in r["plots"])


@pytest.mark.browser
def test_plotly_shows_markup_in_token_labels_as_text(chromium, tmp_path):
    """Tokens that look like markup (as a larger vocabulary has them) show as their characters in the plots."""
    from backend import figures, schemas

    toks = ["<b>bold</b>", "&amp;", "<img src=x onerror=alert(1)>", "<br>", "a<sub>2</sub>", "\"'"]
    n = len(toks)
    resp = schemas.AnalyzeResponse(
        model="<i>m</i>", interventions=schemas.AppliedInterventions(positions="normal", scale=True, ablate=[], seed=0),
        tokens=[schemas.Token(id=i, text=t, display=t, position=i) for i, t in enumerate(toks)], n_layers=1, n_heads=1, causal=True,
        visible=list(range(1, n + 1)), layers=[0], attention=[[[[1 / n] * n for _ in range(n)]]],
        heads=[[schemas.HeadSummary(layer=0, head=0, entropy=0, previous_token=0, first_token=0, self_token=0)]])
    page = ('<!DOCTYPE html><html><head><meta charset="utf-8"><p class="sentence">x</p>'
            f'<script charset="utf-8">{report.plotly_js()}</script></head><body>'
            + report._figure_html("attention", figures.attention_heatmap(resp, 0, 0)) + "</body></html>")
    path = tmp_path / "labels.html"
    path.write_text(page, encoding="utf-8")
    r = open_offline(chromium, path)
    assert r["dialogs"] == [] and r["errors"] == [] and r["requests"] == [r["url"]] and r["imgs"] == 0
    assert r["ticks"] == toks


def test_a_text_past_the_trained_length_gets_the_report_s_limit_not_an_offer_it_cannot_take(client):
    """The page's Download report on a text past the trained length answered "send allow_beyond_trained: true",
    which /api/report does not take: it says the report's own limit instead."""
    long = " ".join(["Once upon a time, a little girl named Lily found a red ball in the park."] * 10)
    r = client.get("/api/report", params={"text": long})
    assert r.status_code == 422 and "a report on tiny-sinusoidal takes at most 128 tokens" in r.json()["detail"]
    assert "allow_beyond_trained" not in r.json()["detail"]


def _settings(page: str) -> str:
    """The text of the report's settings (its header's list), tags and entities gone."""
    part = page.split('<dl class="settings">')[1].split("</dl>")[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", part))


def _notes(page: str, section: str) -> str:
    """The text of a report section's notes, tags and entities gone."""
    part = page.split(f'<section id="{section}">')[1].split("</section>")[0]
    return html.unescape(re.sub(r"<[^>]+>", "", " ".join(re.findall(r'<p class="note">(.*?)</p>', part))))


@pytest.mark.parametrize("positions", ["normal", "removed", "shuffled"])
def test_the_positional_section_says_what_the_run_added(client, positions):
    """With the positions removed the section still said the encoding was "added to the token embeddings", and with
    them shuffled it drew positions 0..n-1 as "the positions of this sentence": it now says what this run added."""
    text = "The cat sat on the cat."
    page = client.get("/api/report", params={"text": text, "model": "tiny-learned", "positions": positions}).text
    said = _notes(page, "positional")
    a = client.post("/api/analyze", json={"text": text, "model": "tiny-learned", "positions": positions}).json()
    perm = a["interventions"]["permutation"]
    assert ("none of these encodings was added" in said) == (positions == "removed"), said
    given = ", ".join(f"{i}→{p}" for i, p in enumerate(perm or []))
    assert (f"(token→position: {given})" in said) == (positions == "shuffled"), said
    assert (" In this run" in said) == (positions != "normal")


@pytest.mark.parametrize("model", ["tiny-nope", "tiny-sinusoidal"])
def test_the_attention_caption_says_a_model_without_positions_is_unchanged_by_a_shuffle(client, model):
    """On tiny-nope "Positions shuffled (…)" read as an intervention with an effect; its attention is the same as
    without it (checked here), and the caption says so; a model with positions is not said to be unchanged."""
    text = "The cat sat on the cat."
    page = client.get("/api/report", params={"text": text, "model": model, "positions": "shuffled"}).text
    said = " ".join(_notes(page, "attention").split())
    plain, moved = (client.post("/api/analyze", json={"text": text, "model": model, "positions": p}).json()["attention"]
                    for p in ("normal", "shuffled"))
    assert (plain == moved) == (model == "tiny-nope")
    assert ("no positional encoding, so this changes nothing" in said) == (model == "tiny-nope"), said


def test_the_lens_caption_says_its_temperature_beside_predictions_at_another(client):
    """At temperature 0.5 the predictions table gave the top token 0.6186 and the lens caption, the same token,
    0.2991, unexplained: the lens reads temperature 1. Its probability is recomputed here at temperature 1."""
    text = "The cat sat on the cat."
    for temperature in (0.5, 1.0):
        page = client.get("/api/report", params={"text": text, "temperature": temperature}).text
        said = " ".join(_notes(page, "why").split())
        p1 = client.post("/api/predict", json={"text": text, "temperature": 1.0, "top_k": 1}).json()["predictions"][0]
        assert f"probability {p1['prob']:.4f} at temperature 1, as the lens reads" in said, said
        assert ("the predictions above are at temperature 0.5" in said) == (temperature != 1), said


@pytest.mark.parametrize("model", ["tiny-learned", "tiny-rotary", "minilm-l6"])
def test_the_similarity_caption_says_what_ran_before_the_second_map(client, model):
    """At depth 0 or the block input the caption said "each block adds to every vector what its attention read" of
    a depth no block had run at (the two maps identical at 0); and "the same word gives the same vector", false of
    "The" and "the" (cosine 0.18). Checked against the embeddings' labels for every depth."""
    text = "The cat saw the cat."
    labels = [x["label"] for x in client.post("/api/embeddings", json={"text": text, "model": model}).json()["layers"]]
    for depth, label in enumerate(labels):
        page = client.get("/api/report", params={"text": text, "model": model, "depth": depth}).text
        said = " ".join(_notes(page, "embeddings").split())
        assert "the same token gives the same vector" in said and "same word" not in said
        blocks = label.startswith("after block")
        assert ("each block adds to every vector" in said) == blocks, (depth, label, said)
        assert ("the two pictures are the same" in said) == (depth == 0), (depth, said)
        # a depth the embedding's sum is named by ("+ position"): of the token embedding, not "at the + position"
        named = f"token embedding {label}" if label.startswith("+") else label
        assert (f"at the {named}, before any block" in said) == (0 < depth and not blocks), (depth, said)
        assert "at the +" not in said and "and +" not in " ".join(_settings(page).split()), (depth, said)
    last = client.get("/api/report", params={"text": text, "model": model, "depth": -1}).text
    assert last.split('id="embeddings"')[1].split("</section>")[0] == \
        client.get("/api/report", params={"text": text, "model": model}).text.split('id="embeddings"')[1].split(
            "</section>")[0]  # -1 is the last depth, the default


def test_why_this_next_word_follows_the_pages_query_token_and_chosen_tokens(client):
    """The page's lens and attribution explain the next token after the selected query token, for the token chosen
    (and the second one, versus); the report always read the last position and its top-1 (the page showed p(“␣down”)
    after “␣sat”, its download p(“␣The”) after “.”). Each number is recomputed from the API at that position."""
    text = "The cat sat on the mat."
    top1 = client.post("/api/attribution/lens", json={"text": text, "position": 3}).json()
    second = top1["cells"][-1][-1]["top"][1]  # the runner-up after the last MLP: a token that is not the default
    lens = client.post("/api/attribution/lens", json={"text": text, "position": 3, "token": second["id"]}).json()
    token, versus = lens["token"], top1["token"]
    assert token["rank"] == 2
    page = client.get("/api/report", params={"text": text, "query": 3, "token": token["id"],
                                             "versus": versus["id"]})
    assert page.status_code == 200, page.text
    said = " ".join(_notes(page.text, "why").split())
    # the lens at position 3 for the chosen token (recomputed there: its probability at temperature 1)
    ids = client.post("/api/analyze", json={"text": text, "top_k": 1}).json()["tokens"]
    run = client.post("/api/predict", json={"text": text, "top_k": 1}).json()
    assert "after token 3 “␣sat”" in said, said
    assert f"probability of “{token['display']}”" in said and f"{token['prob']:.4f}" in said, said
    logit = client.post("/api/attribution/logit", json={"text": text, "position": 3, "token": token["id"],
                                                         "versus": versus["id"]}).json()
    assert f"What each part adds to {logit['target']}" in html.unescape(page.text), said
    assert f"{logit['target']} = {logit['logit']:.4f}" in html.unescape(page.text)
    settings = html.unescape(page.text.split('<dl class="settings">')[1].split("</dl>")[0])
    assert f"“{token['display']}” (chosen) against “{versus['display']}”, after token 3" in settings, settings
    # the default: the model's top-1 after the last token, as /api/predict gives it
    plain = client.get("/api/report", params={"text": text}).text
    said = " ".join(_notes(plain, "why").split())
    top = run["predictions"][0]
    assert f"after token {len(ids) - 1} “{ids[-1]['display']}”" in said and f"“{top['display']}”" in said, said
    for bad, words in (({"token": 10**7}, "not a token id"), ({"token": 5, "versus": 5}, "versus is the token")):
        r = client.get("/api/report", params={"text": text, **bad})
        assert r.status_code == 422 and words in r.json()["detail"], r.text


@pytest.mark.parametrize("option", ["token", "versus"])
def test_a_token_to_explain_on_a_model_without_a_next_word_head_is_refused(client, option):
    """MiniLM's report has no Why section (no logit lens, no logit attribution): /api/report took `token` and `versus`
    without a word and wrote the report as if they had been taken (attnlab report refused them)."""
    r = client.get("/api/report", params={"text": "The cat sat.", "model": "minilm-l6", option: 1000})
    said = r.json()["detail"]
    assert r.status_code == 422 and said.startswith(f"{option}: model 'minilm-l6' predicts no next token"), r.text
    assert "no next-word head" in said, said
    assert client.get("/api/report", params={"text": "The cat sat.", "model": "minilm-l6"}).status_code == 200
    assert client.get("/api/report", params={"text": "The cat sat.", option: 1000}).status_code == 200  # a causal model


def test_the_why_section_says_what_an_ablated_head_adds_and_moves(client):
    """The page's attribution marks an ablated head 'off' and says its output is set to 0, and the effects view says an
    ablated head moves nothing (its ‖α v W_O‖ panel all zeros); the report said neither."""
    text = "The cat sat on the mat."
    moved = client.post("/api/attribution/attention", json={"text": text, "layer": 1, "head": 2,
                                                              "ablate": [[1, 2]]}).json()
    assert all(v == 0 for row in moved["value_weighted"] for v in row)  # what the sentence says, recomputed
    off = " ".join(_notes(client.get("/api/report", params={"text": text, "layer": 1, "head": 2,
                                                              "ablate": "1.2"}).text, "why").split())
    assert "Marked “off”: a head ablated in this run" in off, off
    assert "Layer 1, head 2 is ablated: its output is set to zero, so what it attends to moves nothing" in off, off
    other = " ".join(_notes(client.get("/api/report", params={"text": text, "layer": 1, "head": 1,
                                                                "ablate": "1.2,0.3"}).text, "why").split())
    assert "Marked “off”: heads ablated in this run" in other and "is ablated: its output" not in other, other
    plain = " ".join(_notes(client.get("/api/report", params={"text": text}).text, "why").split())
    assert "off" not in plain.replace("effect", "") and "is ablated" not in plain, plain


def test_a_causal_model_on_one_token_is_not_said_to_read_both_ways(client):
    """SmolLM2 adds no start token: 'Hello' is one token, no key is masked, and the report said 'This model reads in
    both directions: every query sees every key' of a causal model. The kind is the API's."""
    for model, text in (("smollm2-135m", "Hello"), ("minilm-l6", "Hello"), ("tiny-rotary", "Hello")):
        kind = next(m for m in client.get("/api/models").json()["models"] if m["name"] == model)["kind"]
        said = " ".join(_notes(client.get("/api/report", params={"text": text, "model": model}).text,
                               "attention").split())
        assert ("reads in both directions" in said) == (kind == "bidirectional"), (model, said)
    one = " ".join(_notes(client.get("/api/report", params={"text": "Hello", "model": "smollm2-135m"}).text,
                          "attention").split())
    assert "no later token to mask" in one, one


def test_a_row_on_one_key_has_entropy_0_not_minus_0(client):
    """One key gets all the weight (SmolLM2's one-token 'Hello'): -Σ p log p is 0, and the API answered -0.0, which
    the report wrote as 'Entropy of this row: -0.000 nats'."""
    body = {"text": "Hello", "model": "smollm2-135m", "layer": 3, "head": 5, "query": 0}
    x = client.post("/api/attention/explain", json=body).json()
    assert x["weights"] == [1.0]
    for key in ("entropy", "other_entropy"):
        assert x[key] == 0 and math.copysign(1, x[key]) == 1, x
    said = _notes(client.get("/api/report", params={**body, "query": 0}).text, "explain")
    assert "-0.000" not in said and "Entropy of this row: 0.000 nats; with scaling flipped: 0.000 nats" in said, said


def test_the_arithmetic_of_a_grouped_query_head_names_the_keys_it_shares(client):
    """SmolLM2's 9 query heads share 3 K/V heads: the page's arithmetic says whose keys and values a head reads (and
    the settings of the page's model give the K/V heads); the report said neither."""
    info = next(m for m in client.get("/api/models").json()["models"] if m["name"] == "smollm2-135m")
    group = info["n_heads"] // info["n_kv_heads"]
    page = client.get("/api/report", params={"text": "The cat sat.", "model": "smollm2-135m", "layer": 3,
                                             "head": 5}).text
    said = " ".join(_notes(page, "explain").split())
    kv = 5 // group
    assert (f"The keys and values are K/V head {kv}'s, which heads {kv * group} to {kv * group + group - 1} of this "
            "layer share (grouped-query attention): only q is this head's own.") in said, said
    assert f"{info['n_heads']} heads ({info['n_kv_heads']} K/V heads)" in html.unescape(page)
    tiny = client.get("/api/report", params={"text": "The cat sat.", "layer": 1, "head": 2}).text
    assert "K/V head" not in tiny


def test_alibi_s_bias_under_shuffled_positions_is_of_the_shuffled_distance(client):
    """With the positions shuffled ALiBi's bias is −m × the distance between the positions the tokens were given (the
    page says so); the report said −m × distance. The bias column is recomputed from the permutation and the slope."""
    text = "The cat sat on the mat."
    params = {"text": text, "model": "tiny-alibi", "layer": 0, "head": 1, "positions": "shuffled", "query": 5}
    x = client.post("/api/attention/explain", json={**params}).json()
    perm = x["interventions"]["permutation"]
    for k in range(6):
        assert x["bias"][k] == pytest.approx(-x["slope"] * abs(perm[5] - perm[k]), abs=1e-3), (k, x["bias"], perm)
    said = " ".join(_notes(client.get("/api/report", params=params).text, "explain").split())
    assert "−m × the distance between the shuffled positions" in said, said


def test_a_shuffle_that_leaves_tokens_in_place_is_said_so(client):
    """The positional section said every token 'was given the encoding of another position, not that of its own
    place', where a shuffle leaves some in place (seed 0 on this sentence keeps tokens 3 and 5). The count is
    recomputed from the permutation."""
    text = "The cat sat on the mat."
    for seed in range(6):
        params = {"text": text, "model": "tiny-learned", "positions": "shuffled", "seed": seed}
        perm = client.post("/api/analyze", json={**params, "top_k": 1}).json()["interventions"]["permutation"]
        moved = sum(p != i for i, p in enumerate(perm))
        said = " ".join(_notes(client.get("/api/report", params=params).text, "positional").split())
        assert f"{moved} of the {len(perm)} tokens were given the encoding of another position" in said, (seed, said)
        assert ("the others kept their own" in said) == (0 < moved < len(perm)), (seed, said)
        assert "not that of its own place" not in said
        page = client.get("/api/report", params=params).text
        assert f"<dd>shuffled (seed {seed}: position given to each token {perm}; {moved} of {len(perm)} tokens moved)</dd>" in page


def test_the_grid_note_says_what_a_crossed_out_head_is(client):
    text = "The cat sat on the mat."
    said = " ".join(_notes(client.get("/api/report", params={"text": text, "ablate": "1.2"}).text, "grid").split())
    assert "A crossed-out head is ablated in this run" in said, said
    plain = " ".join(_notes(client.get("/api/report", params={"text": text}).text, "grid").split())
    assert "crossed-out" not in plain


def test_the_command_takes_the_token_and_versus_of_the_why_section(client, tmp_path):
    """`attnlab report` took the query token but not the token the Why section explains nor the one it is compared
    with, which /api/report (token, versus) and notebook.show take: --token and --versus, each a token id or a string
    that is one token (as the notebook's), give the API's file."""
    text = "The cat sat on the mat."
    want = client.post("/api/attribution/logit", json={"text": text, "position": 3, "token": 626, "versus": 305}).json()
    assert (want["token"]["display"], want["versus"]["display"]) == ("␣down", "␣The")  # ids 626 and 305, by name
    api = client.get("/api/report", params={"text": text, "query": 3, "token": 626, "versus": 305}).text
    for token, versus in (("626", "305"), (" down", " The"), ("626", " The")):
        path = tmp_path / "why.html"
        main(["report", text, "-o", str(path), "--query", "3", "--token", token, "--versus", versus])
        page = path.read_text(encoding="utf-8")
        assert without_timestamp(page) == without_timestamp(api), (token, versus)
        assert f"{want['target']} = {want['logit']:.4f}" in html.unescape(page)


@pytest.mark.parametrize("args, words", [
    (["--token", "10000000"], "--token 10000000 is not a token id"),
    (["--token", "5", "--versus", "5"], "--versus is the token"),
    (["--token", "xyzzyplugh"], "--token: “xyzzyplugh” is not one token"),
    (["--versus", " "], "--versus is empty"),
])
def test_the_command_s_bad_token_exits_with_a_message(tmp_path, args, words):
    path = tmp_path / "bad.html"
    with pytest.raises(SystemExit, match=words):
        main(["report", TEXT, "-o", str(path), *args])
    assert not path.exists()


@pytest.mark.parametrize("model", ["minilm-l6", "tiny-rotary"])
def test_the_report_hides_the_special_tokens_as_the_page_does(client, model):
    """The page can hide [CLS]/[SEP]/BOS from the token strip, the attention heatmap and the grid (its hidespecial
    setting); the report drew them all the same. With hide_special it leaves their rows and columns out of those, as
    the page does, each kept number the API's, the tokens named by the API's index; and it says so."""
    import numpy as np

    from backend import figures

    layer, head = 1, 1
    a = client.post("/api/analyze", json={"text": TEXT, "model": model}).json()
    keep = [i for i, t in enumerate(a["tokens"]) if not t["special"]]
    hidden = [t["display"] for t in a["tokens"] if t["special"]]
    assert hidden and len(keep) < len(a["tokens"])

    def expected(pattern):  # the API's weights of the kept rows and columns; NaN where the API masks the key
        return np.array([[pattern[i][j] if j < a["visible"][i] else np.nan for j in keep] for i in keep])

    data = report.gather(client.app.state.service, report.ReportRequest(
        text=TEXT, model=model, layer=layer, head=head, hide_special=True))
    with figures.plain():
        figs = report.figures_of(data)
    att = figs["attention"]
    z = np.array(att["data"][0]["z"], dtype=float)
    np.testing.assert_array_equal(z, expected(a["attention"][layer][head]))
    assert att["layout"]["xaxis"]["tickvals"] == keep and att["data"][0]["x"] == keep
    first = a["tokens"][keep[0]]
    assert att["data"][0]["text"][0][0].startswith(f"query {keep[0]} “{first['display']}”")
    grid = figs["grid"]["data"]
    for k, trace in enumerate(grid):
        np.testing.assert_array_equal(np.asarray(trace["z"], dtype=float),
                                      expected(a["attention"][k // a["n_heads"]][k % a["n_heads"]]))
        assert list(trace["x"]) == keep
    # the file: the token list without them, the captions and the settings saying so
    r = client.get("/api/report", params={"text": TEXT, "model": model, "layer": layer, "head": head,
                                          "hide_special": "true"})
    assert r.status_code == 200, r.text
    tokens_html = r.text.split('<section id="tokens">')[1].split("</section>")[0]
    assert tokens_html.count("<li") == len(keep)
    assert all(f'<span class="t">{html.escape(d)}</span>' not in tokens_html for d in hidden)
    names = ", ".join(dict.fromkeys(html.escape(d) for d in hidden))
    assert (f"<dt>Special tokens</dt><dd>hidden ({names}) from the tokens, the attention heatmap and the grid, as on "
            "the page") in r.text
    attention_html = r.text.split('<section id="attention">')[1].split("</section>")[0]
    assert "a row sums to 1" not in attention_html
    assert f"Special tokens hidden ({names}): their rows and columns are left out" in attention_html
    grid_html = r.text.split('<section id="grid">')[1].split("</section>")[0]
    assert "Special tokens hidden" in grid_html
    bos = html.escape(a["tokens"][0]["display"])  # (both models' first token is special)
    assert f"The first token, {bos}, is hidden here: a head that looks at it draws no bright column" in grid_html
    # by default they are drawn, and said so
    plain = client.get("/api/report", params={"text": TEXT, "model": model}).text
    assert plain.split('<section id="tokens">')[1].split("</section>")[0].count("<li") == len(a["tokens"])
    assert f"<dt>Special tokens</dt><dd>shown ({names})" in plain


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "minilm-l6"])
def test_the_similarity_caption_says_a_post_norm_block_normalises(client, model):
    """After the blocks the caption said "each block adds to every vector what its attention read ..., and its MLP's
    output"; a post-norm block (MiniLM) normalises each sum, so its vectors are not the input plus what was added: the
    page's caption says so, the report's did not."""
    placement = client.get("/api/models").json()
    placement = {m["name"]: m["norm_placement"] for m in placement["models"]}[model]
    said = " ".join(_notes(client.get("/api/report", params={"text": "The cat sat.", "model": model}).text,
                           "embeddings").split())
    assert "each block adds to every vector" in said
    assert ("normalises" in said) == (placement == "post"), said


@pytest.mark.browser
def test_on_a_phone_the_tables_scroll_in_their_place_not_the_page(chromium, tmp_path):
    """At 390 px the arithmetic's table (seven columns, SmolLM2's) ran 44 px past the screen: the whole handout
    scrolled sideways and its last column was cut off at the screen's edge."""
    out = tmp_path / "smol.html"
    main(["report", "The cat sat on the mat.", "-o", str(out), "--model", "smollm2-135m"])
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    try:
        page.goto(out.resolve().as_uri(), wait_until="load")
        wide = page.evaluate("""() => ({page: document.documentElement.scrollWidth, screen: innerWidth,
          tables: Array.from(document.querySelectorAll('table')).map(t => {
            const r = t.getBoundingClientRect(); return {right: r.right, scroll: t.scrollWidth, width: t.clientWidth}; })})""")
    finally:
        context.close()
    assert wide["page"] <= wide["screen"], wide
    assert all(t["right"] <= wide["screen"] for t in wide["tables"]), wide
    assert any(t["scroll"] > t["width"] for t in wide["tables"]), wide  # (the wide one scrolls inside itself)


@pytest.mark.parametrize("model, text, marks", [
    ("tiny-sinusoidal", "Tom ran.\nHe fell. Café", ["↵", "<0xC3>"]),
    ("tiny-sinusoidal", "a\tb", ["⇥"]),
    ("minilm-l6", "unbelievably", ["##"]),
    ("tiny-sinusoidal", "The cat sat.", []),
])
def test_the_tokens_note_says_what_each_marker_on_them_means_as_the_page_s_legend(client, model, text, marks):
    """The page's legend by the token strip says what ↵, ⇥, <0xC3> and ## mean where its tokens show them; the
    handout's tokens said only "a space shows as ␣", and left a student with <0xC3> <0xA9> for the é of Café."""
    legend = (Path(__file__).resolve().parents[2] / "frontend/js/views/legend.js").read_text()
    meanings = dict(re.findall(r'\[/(.+?)/, "([^"]+)"\]', legend))  # the page's words: regex source -> meaning
    meanings[r"<0x..>"] = re.search(r'BYTE_MEANING = "([^"]+)"', legend)[1]
    shown = [t["display"] for t in client.post("/api/analyze", json={"text": text, "model": model,
                                                                       "layers": []}).json()["tokens"]]
    said = " ".join(_notes(client.get("/api/report", params={"text": text, "model": model}).text, "tokens").split())
    for mark in marks:
        assert any(mark in d for d in shown), (mark, shown)  # (the marker is on the tokens)
        key = r"<0x..>" if mark.startswith("<0x") else next(k for k in meanings if re.search(k, mark))
        words = meanings[key].replace("’", "'")
        assert f"{mark}: {words}" in said.replace("’", "'"), (mark, said)
    if not marks:  # no marker but the space's: no other meaning said
        assert not [w for k, w in meanings.items() if k != "␣" and w.replace("’", "'") in said.replace("’", "'")], said
