"""The page in a real browser: rendering, state in the URL, safety, exports, numbers equal to the API's."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.pages import SENTENCE, api, chip_texts, open_app, plot_data, ready, url_state

pytestmark = pytest.mark.browser

VIEWS = ["attention", "arithmetic", "qkv", "embeddings", "positional", "predictions", "compare", "heads"]
HOSTILE = ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "javascript:alert(1)",
           "\"quoted\" & 'single' </b><b>bold"]
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def watch(page: Page):
    """Everything the page says or asks while a test runs; a dialog is recorded and dismissed."""
    w = SimpleNamespace(console=[], errors=[], dialogs=[], requests=[], refused=[])
    def on_console(m):
        if m.type in ("error", "warning"):
            w.console.append(f"{m.type}: {m.text}")

    def on_response(r):
        # a request the server refused (a 4xx): which, with what body (a loading model's 503 is the page's wait)
        if 400 <= r.status < 500:
            w.refused.append(f"{r.status} {r.request.method} {r.url} {(r.request.post_data or '')[:200]}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda e: w.errors.append(str(e)))
    page.on("dialog", lambda d: (w.dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: w.requests.append(r.url))
    page.add_init_script(WATCH_CSP)
    return w


GRID_CELL = """([layer, head, query, key]) => {
  const gd = document.querySelector('#attn-grid .plot');
  const g = gd._attnlabGrid, fl = gd._fullLayout, box = gd.getBoundingClientRect();
  const at = (k, i) => k * g.tile + (i === null ? (g.n - 1) / 2 : i);  // the middle of the tile, or one cell
  return [box.left + fl._size.l + fl.xaxis.l2p(at(head, key)), box.top + fl._size.t + fl.yaxis.l2p(at(layer, query))];
}"""


def click_grid(page: Page, layer: int, head: int, modifiers: list[str] | None = None,
               cell: tuple[int, int] | None = None) -> None:
    """Click one head's thumbnail in the grid: its middle, or the cell (query, key)."""
    page.locator("#attn-grid .plot").scroll_into_view_if_needed()
    x, y = page.evaluate(GRID_CELL, [layer, head, *(cell or (None, None))])
    for key in modifiers or []:
        page.keyboard.down(key)
    page.mouse.move(x - 2, y - 2)
    page.mouse.click(x, y)
    for key in modifiers or []:
        page.keyboard.up(key)


# ----------------------------------------------------------------------------------- loading


def test_page_loads_without_errors_or_csp_violations(page: Page, watch):
    open_app(page)
    assert page.locator("#attn-heatmap .plot .main-svg").count() >= 1
    assert chip_texts(page), "no tokens in the strip"
    assert watch.errors == []
    assert watch.console == []
    assert page.evaluate("() => window.__csp") == []
    assert watch.dialogs == []


def test_model_picker_shows_kind_size_and_positions(page: Page, models):
    open_app(page)
    options = page.locator("#model option")
    assert options.count() == len(models)
    for i in range(options.count()):
        name = options.nth(i).get_attribute("value")
        label = options.nth(i).text_content()
        m = models[name]
        assert m["kind"] in label and m["positional"] in label and "params" in label


# ----------------------------------------------------------------------------------- typing


def test_typing_updates_token_strip_and_heatmap(page: Page):
    open_app(page)
    with page.expect_request(lambda r: r.url.endswith("/api/analyze") and SENTENCE in (r.post_data or "")) as asked:
        page.fill("#text", SENTENCE)
    ready(page)
    # the page asks for each row up to the keys its query sees, as 16-bit integers, and draws the plain answer's rows
    assert json.loads(asked.value.post_data)["visible_only"] is True
    assert json.loads(asked.value.post_data)["packed"] is True
    expected = api(page, "/api/analyze", {"text": SENTENCE})
    assert chip_texts(page) == [t["display"] for t in expected["tokens"]]
    z = plot_data(page, "#attn-heatmap .plot")[0]["z"]
    want = expected["attention"][0][0]
    n = len(want)
    # the same weights, with the masked (future) cells left empty
    assert [[z[i][j] for j in range(i + 1)] for i in range(n)] == [[want[i][j] for j in range(i + 1)] for i in range(n)]
    assert url_state(page)["text"] == SENTENCE
    # duplicate tokens stay separate: a numeric axis with one tick per token
    ticks = page.locator("#attn-heatmap .xtick text").all_text_contents()
    assert ticks == [t["display"] for t in expected["tokens"]]


def test_a_new_sentence_is_asked_for_and_drawn_without_waiting_for_a_frame(page: Page):
    """A change of the state sends its requests at once, and an answer's first plot is drawn as it arrives (main.js,
    schedule(soon)): with the page's animation frames held back, the new sentence's analysis still goes out and its
    heatmap is drawn. (Only the plots after the first wait for a frame.)"""
    open_app(page)
    page.evaluate("window.requestAnimationFrame = () => 0")
    text = "A cat sat on the warm mat."
    with page.expect_request(lambda r: r.url.endswith("/api/analyze") and text in (r.post_data or "")):
        page.fill("#text", text)
    page.wait_for_function("(t) => performance.getEntriesByName('attnlab:heatmap', 'mark').some((m) => m.detail.text === t)",
                           arg=text, polling=100, timeout=10_000)


def test_a_stale_response_does_not_overwrite_a_newer_one(page: Page):
    open_app(page)
    held = []

    def hold_first(route):
        body = route.request.post_data or ""
        if "first version" in body and not held:
            held.append(route)  # answered later, after the newer sentence
        else:
            route.continue_()

    page.route("**/api/analyze", hold_first)
    page.fill("#text", "A first version of the text.")
    page.wait_for_timeout(450)  # past the debounce: the request for it is out (and held)
    assert held, "the first sentence was never requested"
    page.fill("#text", "The second one wins.")
    ready(page)
    try:
        held[0].continue_()
    except Exception:  # the page already aborted it
        pass
    page.wait_for_timeout(400)
    ready(page)
    assert "".join(chip_texts(page)).replace("␣", " ").strip().endswith("The second one wins.")
    assert url_state(page)["text"] == "The second one wins."


def test_error_shows_next_to_the_input_and_clears(page: Page):
    """More tokens than the default model reads even past its trained length: the note by the sentence says so in the
    page's words, how many tokens to cut (the API's refusal, with its field names "(max_tokens)" and
    "(max_beyond_tokens)", is not shown as it came), and clears with a short sentence. A length it could run past the
    trained one is offered instead (tests/frontend/test_poslab.py)."""
    open_app(page)
    page.fill("#text", "a " * 1000)
    note = page.locator("#beyond")
    expect(note).to_be_visible(timeout=15_000)
    expect(note).to_contain_text("tiny-sinusoidal cannot read more than 512 tokens, even past its trained length of 128")
    expect(note).to_contain_text("cut at least")
    expect(page.locator("body")).not_to_contain_text("max_beyond_tokens")  # (the box's own limit may be said beside it)
    expect(page.locator(".tabs")).to_be_visible()
    page.fill("#text", "Short again.")
    ready(page)
    expect(note).to_be_hidden()
    expect(page.locator("#error")).to_be_hidden()


def test_a_paste_past_the_box_s_limit_says_what_it_left_out(page: Page, base_url):
    """The sentence box takes at most max_text_chars; a paste past that is cut by the browser, and the page says how
    much of it was left out (beside the model's own message about too many tokens)."""
    limit = page.request.get("/api/meta").json()["limits"]["max_text_chars"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url.rstrip("/"))
    open_app(page)
    page.evaluate("(n) => navigator.clipboard.writeText('word '.repeat(n))", (limit + 500) // 5)
    page.click("#text")
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+V")
    error = page.locator("#error")
    expect(error).to_contain_text(f"The sentence box holds at most {limit} characters: the last 500 characters of the "
                                  "pasted text were left out.", timeout=15_000)
    assert len(page.input_value("#text")) == limit
    # a paste into the full box changes nothing; the key after it is not said to have cut a paste
    page.keyboard.press("End")
    page.keyboard.press("Control+V")
    page.keyboard.press("Backspace")
    page.wait_for_function("(n) => new URLSearchParams(location.search).get('text')?.length === n", arg=limit - 1)
    page.wait_for_timeout(300)
    expect(error).not_to_contain_text("pasted")
    page.fill("#text", "Short again.")
    ready(page)
    expect(error).to_be_hidden()


def test_a_link_s_sentence_past_the_box_s_limit_is_cut_as_a_paste_is(page: Page):
    """A link whose text is longer than the sentence box holds (a paste is cut to it) drew nothing, under the API's
    refusal with its setting's names: "Text is 2500 characters; the limit is 2000 characters (max_text_chars,
    ATTNLAB_MAX_TEXT_CHARS)." The page now cuts it to the box's limit and says how much was left out."""
    limit = page.request.get("/api/meta").json()["limits"]["max_text_chars"]
    text = "The cat sat. " * ((limit + 500) // 13 + 1)
    page.goto("/?" + urlencode({"text": text}))  # (too many tokens too, at the limit: no view is drawn for it)
    error = page.locator("#error")
    expect(error).to_contain_text(f"The link's sentence has {len(text)} characters; the sentence box holds at most "
                                  f"{limit}: the last {len(text) - limit} were left out.", timeout=15_000)
    expect(page.locator("body")).not_to_contain_text("ATTNLAB_MAX_TEXT_CHARS")
    assert page.input_value("#text") == text[:limit]
    page.wait_for_function("(n) => new URLSearchParams(location.search).get('text')?.length === n", arg=limit)
    page.fill("#text", "Short again.")
    ready(page)
    expect(error).to_be_hidden()


# ----------------------------------------------------------------------------------- selection and URL


def test_a_link_s_layer_head_and_token_out_of_range_are_said_and_put_right(page: Page):
    """layer=99 and head=-1 are named in a notice (they were reset without a word); token=500, past the sentence's
    end, leaves the URL (the page shows the last token); the notice goes when another sentence is typed, and a
    pinned token past the end of a shorter sentence leaves the URL too."""
    open_app(page, text="The cat sat on the mat.", layer=99, head=-1, token=500)
    error = page.locator("#error")
    expect(error).to_contain_text("tiny-sinusoidal has 4 layers (0 to 3): there is no layer 99; showing layer 0.")
    expect(error).to_contain_text("The link's head “-1” is not a whole number from 0 up: showing head 0.")
    expect(error).to_contain_text("The link's token 500 is past the end of this sentence (tokens 0 to 7): showing the "
                                  "last token.")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('token')")
    assert url_state(page)["layer"] == "0" and url_state(page)["head"] == "0"
    page.locator("#tokens .tok").nth(5).click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('token') === '5'")
    page.fill("#text", "A dog.")
    ready(page)
    expect(error).to_be_hidden()
    page.wait_for_function("() => !new URLSearchParams(location.search).has('token')")
    expect(page.locator("#query-label")).to_contain_text("“.”")


def test_clicking_a_grid_thumbnail_selects_that_head(page: Page):
    open_app(page)
    a = api(page, "/api/analyze", {"text": url_state(page)["text"]})
    layer, head = a["n_layers"] - 1, a["n_heads"] - 1
    click_grid(page, layer, head)
    ready(page)
    assert url_state(page)["layer"] == str(layer) and url_state(page)["head"] == str(head)
    expect(page.locator("#layer")).to_have_value(str(layer))
    expect(page.locator("#head")).to_have_value(str(head))
    expect(page.locator("#attn-heatmap .panel-title")).to_have_text(f"Attention · layer {layer} · head {head}")
    # Shift-click ablates instead, and the list shows it with a way to clear
    click_grid(page, 0, 0, modifiers=["Shift"])
    ready(page)
    assert url_state(page)["ablate"] == "0.0"
    expect(page.locator("#ablated")).to_contain_text("L0 H0")
    page.click("#ablate-clear")
    ready(page)
    assert "ablate" not in url_state(page)


def test_clicking_the_masked_corner_of_a_thumbnail_selects_that_head_too(page: Page):
    open_app(page)
    n = len(chip_texts(page))
    click_grid(page, 1, 2, cell=(0, n - 1))  # query 0 cannot see key n-1: a grey, masked cell
    ready(page)
    assert (url_state(page)["layer"], url_state(page)["head"]) == ("1", "2")


def test_a_copied_url_restores_the_state(page: Page, need_models, browser):
    need_models("tiny-learned")
    open_app(page, text=SENTENCE, model="tiny-learned", view="qkv", layer=1, head=2, token=3)
    expect(page.locator("#text")).to_have_value(SENTENCE)
    expect(page.locator("#model")).to_have_value("tiny-learned")
    expect(page.locator('.tabs [data-view="qkv"]')).to_have_attribute("aria-selected", "true")
    expect(page.locator("#layer")).to_have_value("1")
    expect(page.locator("#head")).to_have_value("2")
    expect(page.locator('#tokens .tok[data-index="3"]')).to_have_class(re.compile(r"\bpinned\b"))
    # change things by hand, then reopen the copied link in a fresh browser context
    page.click('#tokens .tok[data-index="5"]')
    page.select_option("#head", "0")
    page.select_option("#positions", "shuffled")
    page.uncheck("#scale")
    page.click('.tabs [data-view="arithmetic"]')
    ready(page)
    link = page.url
    ctx = browser.new_context()
    other = ctx.new_page()
    try:
        other.goto(link)
        ready(other)
        expect(other.locator("#text")).to_have_value(SENTENCE)
        expect(other.locator("#model")).to_have_value("tiny-learned")
        expect(other.locator('.tabs [data-view="arithmetic"]')).to_have_attribute("aria-selected", "true")
        expect(other.locator("#layer")).to_have_value("1")
        expect(other.locator("#head")).to_have_value("0")
        expect(other.locator("#positions")).to_have_value("shuffled")
        expect(other.locator("#scale")).not_to_be_checked()
        expect(other.locator('#tokens .tok[data-index="5"]')).to_have_class(re.compile(r"\bpinned\b"))
        expect(other.locator(".explain-intro")).to_contain_text("query token 5")
    finally:
        ctx.close()


def test_back_button_returns_to_the_previous_view(page: Page):
    open_app(page, view="attention")
    page.click('.tabs [data-view="predictions"]')
    ready(page)
    page.go_back()
    ready(page)
    expect(page.locator('.tabs [data-view="attention"]')).to_have_attribute("aria-selected", "true")


# ----------------------------------------------------------------------------------- numbers


def test_explain_weights_equal_the_api(page: Page):
    text = SENTENCE
    open_app(page, text=text, view="arithmetic", layer=1, head=2, token=4)
    want = api(page, "/api/attention/explain", {"text": text, "layer": 1, "head": 2, "query": 4})
    cells = page.locator("table.explain td.weight")
    shown = [float(v) for v in cells.evaluate_all("(tds) => tds.map((td) => td.dataset.weight)")]
    assert shown == want["weights"]
    bars = plot_data(page, '[data-part="weights"] .plot')
    assert bars[0]["y"] == want["weights"] and bars[1]["y"] == want["other_weights"]
    intro = page.locator(".explain-intro").text_content()
    for key in ("scale", "entropy", "other_entropy"):
        assert f"{want[key]:.3f}" in intro
    assert page.locator("table.explain tbody tr.masked").count() == sum(want["mask"])
    # the sum row adds up both weight columns (each a softmax: 1 to the 3 decimals shown); it showed "—"
    sums = page.locator("table.explain tfoot td.sum").all_text_contents()
    assert sums == [f"{sum(want['weights']):.3f}", f"{sum(want['other_weights']):.3f}"] == ["1.000", "1.000"]


def test_an_ablated_head_s_output_is_said_to_be_zero_in_the_arithmetic_and_qkv(page: Page):
    """The arithmetic of an ablated head called Σ weight × v its "output z" (-0.20, 0.84, ...) while the Q/K/V view
    of the same head drew z as zeros, what the model uses: both now say that the model sets it to 0."""
    open_app(page, text=SENTENCE, view="arithmetic", layer=1, head=2, token=4, ablate="1.2")
    want = api(page, "/api/attention/explain", {"text": SENTENCE, "layer": 1, "head": 2, "query": 4, "ablate": [[1, 2]]})
    qkv = api(page, "/api/qkv", {"text": SENTENCE, "layer": 1, "head": 2, "ablate": [[1, 2]]})
    assert any(abs(x) > 0 for x in want["output"])  # Σ w·v, what it would add
    assert all(x == 0 for row in qkv["heads"][0]["z"] for x in row)  # what the model uses
    expect(page.locator(".explain-intro")).to_contain_text("it is ablated: the model sets its output z to 0")
    expect(page.locator("table.explain tfoot")).to_contain_text("(ablated: z = 0)")
    page.click("#tab-qkv")
    ready(page)
    expect(page.locator('#panel-qkv [data-part="z"] .caption')).to_contain_text("the model sets its output z to 0")
    open_app(page, text=SENTENCE, view="arithmetic", layer=1, head=2, token=4)
    expect(page.locator(".explain-intro")).to_contain_text("output = Σ weight × v.")
    expect(page.locator("table.explain tfoot")).to_contain_text("= output z →")


def test_a_similarity_s_hover_names_two_tokens_not_a_query_and_a_key(page: Page):
    open_app(page, text=SENTENCE, view="embeddings")
    hover = plot_data(page, '[data-part="depth"] .plot')[0]["text"]
    assert hover[1][2].startswith("token ") and "<br>and token " in hover[1][2] and "query" not in hover[1][2]
    open_app(page, text=SENTENCE, view="attention")
    assert plot_data(page, "#attn-heatmap .plot")[0]["text"][2][1].startswith("query ")


def test_the_similarity_captions_are_true_of_the_tokens_on_screen(page: Page, need_models):
    """The one-hot caption said "two different words always score 0": a tiny model's "日 本" has the byte <0xE6> at
    tokens 1 and 5 (cosine 1), and MiniLM's "🙂 and 🎉" is [UNK] twice. The captions speak of ids and name those
    tokens; MiniLM's depth caption says that its blocks normalise after each add (post-norm), not that they only add."""
    open_app(page, text="日 本", view="embeddings")
    assert plot_data(page, '[data-part="onehot"] .plot')[0]["z"][1][5] == 1
    onehot = page.locator('[data-part="onehot"] .caption')
    expect(onehot).not_to_contain_text("different words always score 0")
    expect(onehot).to_contain_text("tokens 1 and 5 are both <0xE6> (id ")
    expect(onehot).to_contain_text("from “日” and “本”: they score 1.")
    expect(page.locator('[data-part="depth"] .caption')).to_contain_text("each block adds to every vector what its attention read")
    need_models("minilm-l6")
    open_app(page, text="🙂 and 🎉", view="embeddings", model="minilm-l6")
    assert plot_data(page, '[data-part="onehot"] .plot')[0]["z"][1][3] == 1
    expect(onehot).to_contain_text("tokens 1 and 3 are both [UNK] (id 100), from “🙂” and “🎉”: they score 1.")
    expect(page.locator('[data-part="dense"] .caption')).to_contain_text("they are the same vector (cosine 1).")
    depth = page.locator('[data-part="depth"] .caption')
    expect(depth).to_contain_text("normalises the sum (LayerNorm), then adds its MLP's output and normalises again")


@pytest.mark.slow
def test_qkv_formulas_have_no_bias_on_a_model_without_biases(page: Page, need_models):
    """SmolLM2 has no biases: its V caption said "v = β_v + Ω_v x"."""
    need_models("smollm2-135m")
    open_app(page, text=SENTENCE, model="smollm2-135m", view="qkv", layer=1, head=2)
    page.wait_for_selector('#panel-qkv [data-part="v"] .caption', timeout=240_000)
    expect(page.locator('#panel-qkv [data-part="v"] .caption')).to_have_text("v = Ω_v x: what a token passes on when attended to.")
    open_app(page, text=SENTENCE, view="qkv", layer=1, head=2)
    expect(page.locator('#panel-qkv [data-part="v"] .caption')).to_have_text(
        "v = β_v + Ω_v x: what a token passes on when attended to.")


def test_rotary_q_and_k_are_said_not_rotated_with_the_positions_removed(page: Page, need_models):
    need_models("tiny-rotary")
    body = {"text": SENTENCE, "model": "tiny-rotary", "layer": 1, "head": 2, "positions": "removed"}
    head = api(page, "/api/qkv", body)["heads"][0]
    assert head["q_rot"] == head["q"]  # nothing was rotated
    open_app(page, text=SENTENCE, model="tiny-rotary", view="qkv", layer=1, head=2, positions="removed")
    expect(page.locator('#panel-qkv [data-part="q"] .caption')).to_contain_text("Not rotated: the positions are removed")
    open_app(page, text=SENTENCE, model="tiny-rotary", view="qkv", layer=1, head=2)
    expect(page.locator('#panel-qkv [data-part="q"] .caption')).to_have_text(
        "Q after the rotary rotation (q_rot): what the score q·k uses.")


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-alibi"])
def test_explain_s_sum_row_puts_the_output_under_weight_times_v(page: Page, need_models, model):
    """The table's last row: "= output z →" just left of the output, which sits under "weight × v" (under ALiBi, with
    two more columns, the output sat under "weight ÷ 1.000")."""
    need_models(model)
    open_app(page, text=SENTENCE, model=model, view="arithmetic", layer=0, head=0)
    heads = page.locator("table.explain thead th").all_text_contents()
    cells = page.locator("table.explain tfoot tr > *").evaluate_all(
        "(cs) => cs.map((c) => [c.textContent, Number(c.getAttribute('colspan') || 1)])")
    column, at = 0, {}
    for text, span in cells:
        at[text] = column
        column += span
    assert column == len(heads), (cells, heads)
    assert at["= output z →"] == heads.index("weight × v") - 1 and column - 1 == heads.index("weight × v")


def test_explain_under_alibi_with_the_positions_removed_says_the_bias_is_0(page: Page, need_models):
    need_models("tiny-alibi")
    open_app(page, text=SENTENCE, model="tiny-alibi", view="arithmetic", layer=0, head=0, positions="removed")
    heads = page.locator("table.explain thead th").all_text_contents()
    rows = page.locator("table.explain tbody tr:not(.masked)").evaluate_all(
        "(trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent))")
    assert {float(r[heads.index("+ bias")]) for r in rows} == {0.0}
    intro = page.locator(".explain-intro").text_content()
    assert "0 here: with the positions removed there is no distance" in intro and "× distance" not in intro


def test_explain_under_alibi_shows_the_bias_its_weights_take(page: Page, need_models):
    """Under ALiBi the softmax takes q·k ÷ scale plus the head's distance bias: the table shows both, and the weights
    on screen are the softmax of the scores on screen (the table without the bias did not add up)."""
    need_models("tiny-alibi")
    open_app(page, text=SENTENCE, model="tiny-alibi", view="arithmetic", layer=0, head=0)
    want = api(page, "/api/attention/explain", {"text": SENTENCE, "model": "tiny-alibi", "layer": 0, "head": 0,
                                                 "query": len(chip_texts(page)) - 1})
    heads = page.locator("table.explain thead th").all_text_contents()
    assert "+ bias" in heads and "score" in heads
    rows = page.locator("table.explain tbody tr").evaluate_all(
        "(trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent))")
    col = {name: heads.index(name) for name in ("+ bias", "score", f"÷ {want['scale']:.3f}")}
    unmasked = [r for r in rows if r[col["score"]] not in ("", "—")]
    scores = [float(r[col["score"]]) for r in unmasked]
    for r in unmasked:  # (3 decimals each)
        assert abs(float(r[col[f"÷ {want['scale']:.3f}"]]) + float(r[col["+ bias"]]) - float(r[col["score"]])) < 2e-3
    total = sum(math.exp(x) for x in scores)
    weights = [float(v) for v in page.locator("table.explain td.weight").evaluate_all("(tds) => tds.map((td) => td.dataset.weight)")]
    assert [math.exp(x) / total for x in scores] == pytest.approx([w for w in weights if w > 0], abs=3e-3)
    assert f"m = {want['slope']:.3f}" in page.locator(".explain-intro").text_content()
    # the downloads carry the bias and the score too, each value under its column
    for part in ("scores", "table"):
        with page.expect_download() as info:
            page.locator(f'main .view:not([hidden]) [data-part="{part}"] button[data-export="csv"]').click()
        table = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
        head, body = table[0], table[1:len(want["bias"]) + 1]
        assert [float(r[head.index("bias")]) for r in body] == pytest.approx(want["bias"], abs=1e-9), part
        got = [r[head.index("score")] for r in body]
        assert [None if x == "" else float(x) for x in got] == pytest.approx(want["scores"], abs=1e-9), part
        if part == "table":  # q under the k columns, the output under the wv ones
            q, out = table[-2], table[-1]
            assert q[0] == "q" and [float(x) for x in q[head.index("k0"):head.index("v0")]] == pytest.approx(want["q"])
            assert out[0] == "output" and [float(x) for x in out[head.index("wv0"):]] == pytest.approx(want["output"])


def test_each_view_draws_non_empty_plots_and_no_request_leaves_the_origin(page: Page, watch, base_url, shot):
    open_app(page, text=SENTENCE)
    for view in VIEWS:
        if view != "attention":
            page.click(f'.tabs [data-view="{view}"]')
            ready(page)
        shot(page, f"{view}-1280x800")  # one per view, default model
        assert url_state(page)["view"] == view
        section = page.locator(f'main .view[data-view="{view}"]')
        assert section.locator(".panel:not([hidden])").count() >= 2, view
        counts = section.locator(".panel:not([hidden]) .plot").evaluate_all(
            "(plots) => plots.map((p) => p.querySelector('table') ? 1 : (p.data ? p.data.length : 0))")
        assert counts and all(c > 0 for c in counts), (view, counts)
        assert section.locator(".panel .reason:not([hidden])").count() == 0, view
    assert watch.errors == [] and watch.console == []
    origin = base_url.rstrip("/")
    outside = [u for u in watch.requests if not (u.startswith(origin + "/") or u.startswith(("data:", "blob:")))]
    assert watch.requests and outside == []


def test_the_positions_panels_name_the_other_interventions_they_run_with(page: Page):
    """With scaling off and a head ablated, the 'normal' panel said "As trained." of a run that is neither: each
    panel now says the positions it was given and the page's other interventions, which all three carry."""
    open_app(page, text=SENTENCE, view="positional", scale=0, ablate="0.1", layer=1, head=2)
    want = api(page, "/api/compare", {"a": {"text": SENTENCE, "scale": False, "ablate": [[0, 1]]},
                                      "b": {"text": SENTENCE, "scale": False, "ablate": [[0, 1]], "positions": "removed"},
                                      "layer": 1, "head": 2})
    assert want["a"]["interventions"]["scale"] is False and want["a"]["interventions"]["ablate"] == [[0, 1]]
    for label, first in (("normal", "Positions as trained."), ("removed", "Positional information taken out."),
                         ("shuffled", "Position given to each token")):
        cap = page.locator(f'[data-part="{label}"] .caption')
        expect(cap).to_contain_text(first)
        expect(cap).to_contain_text("Scores not divided by √d_head. Ablated heads: L0 H1.")
    open_app(page, text=SENTENCE, view="positional")
    expect(page.locator('[data-part="normal"] .caption')).to_have_text("Positions as trained.")
    expect(page.locator('[data-part="enc"] .intro')).not_to_contain_text("The page's run")
    # the encoding drawn is the model's; the page's run with its positions removed takes none of it, and says so
    open_app(page, text=SENTENCE, view="positional", positions="removed")
    expect(page.locator('[data-part="enc"] .intro')).to_contain_text("positions removed: none of this enters it")
    open_app(page, text=SENTENCE, view="positional", positions="shuffled")
    expect(page.locator('[data-part="enc"] .intro')).to_contain_text("shuffles the positions")


def test_a_learned_table_s_length_is_what_the_positions_menu_shows(page: Page, models):
    """pn=512 on tiny-learned: the menu said 512 while the 128 positions of its table were drawn."""
    n = models["tiny-learned"]["max_tokens"]
    open_app(page, text=SENTENCE, model="tiny-learned", view="positional", pn=512)
    expect(page.locator('[data-part="encoding"] .caption')).to_contain_text(
        f"encoding of {n} positions, 160 dimensions (tiny-learned). The model has a vector for positions 0 to {n - 1} "
        f"only (its trained length of {n} tokens): there is none past them to draw.")
    expect(page.locator('select[name="pn"]')).to_have_value(str(n))
    open_app(page, text=SENTENCE, model="tiny-sinusoidal", view="positional", pn=512)  # a formula: any length
    trained = models["tiny-sinusoidal"]["trained_tokens"]
    expect(page.locator('[data-part="encoding"] .caption')).to_contain_text(
        "encoding of 512 positions, 160 dimensions (tiny-sinusoidal). The model was trained on texts of at most "
        f"{trained} tokens: it never saw positions {trained} to 511.")
    expect(page.locator('select[name="pn"]')).to_have_value("512")


def test_a_lab_model_s_learned_table_of_24_is_what_the_positions_menu_shows(page: Page):
    """A training-lab model with learned positions (24 of them) opened in the explorer: the menu said "Positions shown
    64" above "learned encoding of 24 positions", 24 not being one of its choices; it now shows 24."""
    run = page.request.post("/api/lab/runs", data={"task": "copy", "positional": "learned", "size": "tiny", "steps": 1}).json()
    deadline = time.monotonic() + 120
    while page.request.get(f"/api/lab/runs/{run['id']}").json()["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    name = page.request.post(f"/api/lab/runs/{run['id']}/register", data={}).json()["model"]
    n = next(m for m in page.request.get("/api/models").json()["models"] if m["name"] == name)["max_tokens"]
    assert n not in (16, 32, 64, 128, 256, 512), n  # (the case: a length that is not one of the menu's choices)
    open_app(page, text="abcab", model=name, view="positional")
    expect(page.locator('[data-part="encoding"] .caption')).to_contain_text(f"learned encoding of {n} positions")
    expect(page.locator('select[name="pn"]')).to_have_value(str(n))
    assert page.locator('select[name="pn"] option:checked').text_content() == str(n)
    # its caption names the table's own end, not the 64 positions the page asked for ("so 64 cannot be drawn")
    caption = page.locator('[data-part="encoding"] .caption')
    expect(caption).to_contain_text(f"positions 0 to {n - 1} only (its trained length of {n} tokens)")
    assert "64" not in caption.inner_text()


def test_views_that_do_not_apply_say_why(page: Page, models, need_models):
    need_models("tiny-rotary", "tiny-nope")
    for name in ("tiny-rotary", "tiny-nope"):
        open_app(page, text=SENTENCE, model=name, view="positional")
        why = models[name]["unavailable_views"]
        reason = page.locator('[data-part="encoding"] .reason')
        expect(reason).to_have_text(why["positional.encoding"])
        expect(page.locator('[data-part="decompose"] .reason')).to_have_text(why["positional.decompose"])
        # the rest of the positional view still draws
        assert page.locator('[data-part="normal"] .plot .main-svg').count() >= 1
        # the section's words are the model's scheme, not those of an added encoding
        enc = page.locator('[data-part="enc"]')
        expect(enc.locator("h3")).to_have_text("What rotary positions do instead: a rotation" if name == "tiny-rotary"
                                               else "No positional encoding")
        assert "added to the token embedding" not in enc.locator(".intro").inner_text()
        expect(page.locator('[data-part="dec"] .intro')).to_contain_text("Not on this model:")
        expect(page.locator('[data-part="decompose"] .panel-title')).to_have_text("Layer 0 · head 0: no split")
        iv = page.locator('[data-part="iv"] .intro').inner_text()
        page.wait_for_function("() => ['d-removed', 'd-shuffled'].every((k) => "
                               "document.querySelector(`[data-part=\"${k}\"] .plot`)?.data?.length)")
        diffs = page.evaluate("() => ['d-removed', 'd-shuffled'].map((k) => "
                              "document.querySelector(`[data-part=\"${k}\"] .plot`).data[0].z.flat())")
        # "the three patterns are the same" is said exactly when both differences on screen are 0
        same = all(v in (0, None) for d in diffs for v in d)
        assert same == (name == "tiny-nope") and ("the three patterns are the same" in iv) == same, (name, iv)
    open_app(page, text=SENTENCE, view="positional")
    expect(page.locator('[data-part="enc"] .intro')).to_contain_text("added to the token embedding")


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-learned"])
def test_the_cosine_caption_says_what_its_numbers_show(page: Page, need_models, model):
    """The positional cosine heatmap's caption is read from its numbers: the mean cosine of the pairs 1, 4, 16 (and
    64) apart, recomputed here from GET /api/positional; learned positions' 0 and 1 (cosine 0.07 on tiny-learned)
    named as the exception (it said that nearby positions get similar vectors, for every model)."""
    need_models(model)
    open_app(page, text=SENTENCE, model=model, view="positional")
    page.wait_for_function("() => document.querySelector('[data-part=\"possim\"] .plot')?.data?.length")
    n = len(plot_data(page, '[data-part="possim"] .plot')[0]["z"])
    res = page.request.get(f"/api/positional?model={model}&n={n}")
    assert res.ok, res.text()
    sim = res.json()["similarity"]
    means = {d: sum(sim[i][i + d] for i in range(n - d)) / (n - d) for d in (1, 4, 16, 64) if d < n}
    text = page.locator('[data-part="possim"] .caption').inner_text()
    said = ", ".join(f"{m:.2f} {d} apart" for d, m in means.items())
    assert f"the mean over the pairs the same distance apart: {said}." in text, (text, said)
    values = list(means.values())
    assert ("nearby positions are more alike" in text) == all(values[i + 1] < values[i] for i in range(len(values) - 1)), text
    pairs = [sim[i][i + 1] for i in range(n - 1)]
    odd = pairs.index(min(pairs))
    named = f"Not every pair: positions {odd} and {odd + 1} have cosine {pairs[odd]:.2f}."
    assert (named in text) == ("more alike" in text and pairs[odd] < values[-1]), text
    assert ("Not every pair" in text) == (model == "tiny-learned"), text


def test_alibi_s_split_keeps_its_words_when_another_layer_is_chosen(page: Page, need_models):
    """The split of layer 0's scores under ALiBi names the bias; choosing another layer redraws the view but not that
    answer, and its title and intro stay ALiBi's (they went back to the four terms' words)."""
    need_models("tiny-alibi")
    open_app(page, text=SENTENCE, model="tiny-alibi", view="positional")
    dec = page.locator('[data-part="dec"]')
    for layer in ("0", "1"):
        page.select_option("#layer", layer)
        ready(page)
        expect(dec.locator(".intro")).to_contain_text("under ALiBi q and k are all content")
        expect(dec.locator("h3")).to_have_text("Each score split into four terms and ALiBi's bias (layer 0)")
        expect(dec.locator('[data-part="decompose"] .panel-title')).to_have_text(
            "Layer 0 · head 0: the terms, the bias and the total")


def test_predict_on_a_model_without_a_next_word_head_says_why(page: Page, models):
    names = [n for n, m in models.items() if m["available"] and "predictions" in m["unavailable_views"]]
    if not names:
        pytest.skip("no installed model lacks next-word prediction (a bidirectional one such as minilm-l6)")
    open_app(page, text=SENTENCE, model=names[0], view="predictions")
    expect(page.locator('[data-part="topk"] .reason')).to_have_text(models[names[0]]["unavailable_views"]["predictions"])


def test_predict_not_applying_shows_the_reason(page: Page):
    why = "This model reads the whole sentence in both directions, so it does not predict the next word."

    def patched(route):
        res = route.fetch()
        body = res.json()
        for m in body["models"]:
            m["unavailable_views"] = {**m["unavailable_views"], "predictions": why}
        route.fulfill(response=res, json=body)

    page.route("**/api/models", patched)
    asked = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/api/predict") else None)
    open_app(page, view="predictions")
    expect(page.locator('[data-part="topk"] .reason')).to_have_text(why)
    assert asked == []


def test_a_busy_server_is_asked_again(page: Page):
    answered = []

    def busy_once(route):
        if not answered:
            answered.append(503)
            route.fulfill(status=503, headers={"Retry-After": "1"}, json={"detail": "busy: try again in 1 s"})
        else:
            route.continue_()

    page.route("**/api/analyze", busy_once)
    open_app(page, text=SENTENCE)
    assert answered == [503]
    expect(page.locator("#error")).to_be_hidden()
    assert chip_texts(page)


def test_a_422_from_a_view_request_is_shown_in_that_view(page: Page):
    def refuse(route):
        route.fulfill(status=422, json={"detail": "query 99 does not exist: the text has 5 tokens"})

    page.route("**/api/attention/explain", refuse)
    open_app(page, view="arithmetic")
    expect(page.locator('[data-part="table"] .reason')).to_have_text("query 99 does not exist: the text has 5 tokens")


# ----------------------------------------------------------------------------------- safety


def test_hostile_sentences_show_literally_and_open_no_dialog(page: Page, watch):
    for text in HOSTILE:
        open_app(page, text=text, view="attention")
        tokens = [t["display"] for t in api(page, "/api/analyze", {"text": text})["tokens"]]
        assert chip_texts(page) == tokens
        assert page.locator("#attn-heatmap .xtick text").all_text_contents() == tokens
        assert page.locator("#attn-heatmap .ytick text").all_text_contents() == tokens
        assert page.locator("#text").input_value() == text
        assert page.locator("body img, body script:not([src]), a[href^='javascript']").count() == 0
        assert page.locator("#attn-heatmap b, #attn-lines text b").count() == 0
    open_app(page, text=HOSTILE[0], view="predictions")
    open_app(page, text=HOSTILE[1], view="embeddings")
    page.wait_for_timeout(300)
    assert watch.dialogs == []
    assert watch.errors == []
    assert page.evaluate("() => window.__csp") == []


# ----------------------------------------------------------------------------------- exports


def test_export_buttons_download_csv_and_json(page: Page):
    open_app(page, text=SENTENCE)
    fig = page.locator('#attn-heatmap [data-part="heatmap"]')
    with page.expect_download() as info:
        fig.locator('button[data-export="csv"]').click()
    dl = info.value
    assert dl.suggested_filename.endswith(".csv")
    rows = open(dl.path(), encoding="utf-8").read().splitlines()
    want = api(page, "/api/analyze", {"text": SENTENCE})
    assert len(rows) == 1 + len(want["tokens"])
    with page.expect_download() as info:
        fig.locator('button[data-export="json"]').click()
    data = json.loads(open(info.value.path(), encoding="utf-8").read())
    assert data["weights"] == want["attention"][0][0]  # whole rows, the masked keys 0 (the page asked `visible_only`)
    with page.expect_download() as info:
        fig.locator('button[data-export="svg"]').click()
    assert info.value.suggested_filename.endswith(".svg")
    assert "<svg" in open(info.value.path(), encoding="utf-8").read(2000)
    with page.expect_download() as info:
        fig.locator('button[data-export="png"]').click()
    assert info.value.suggested_filename.endswith(".png")
    assert open(info.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------------- interventions and actions


def test_interventions_reach_the_api(page: Page):
    open_app(page)
    def analyze_with(fragment):
        return lambda r: r.url.endswith("/api/analyze") and fragment in (r.post_data or "")

    with page.expect_request(analyze_with('"positions":"removed"')):
        page.select_option("#positions", "removed")
    ready(page)
    with page.expect_request(analyze_with('"scale":false')):
        page.uncheck("#scale")
    ready(page)
    assert url_state(page)["positions"] == "removed" and url_state(page)["scale"] == "0"


def test_continue_appends_the_greedy_continuation(page: Page):
    open_app(page, text="Once upon a time", view="predictions")
    before = page.locator("#text").input_value()
    def continuing(r):
        return r.url.endswith("/api/predict") and "continue_tokens" in (r.request.post_data or "")

    with page.expect_response(continuing) as info:
        page.click('button[name="continue"]')
    answer = info.value.json()
    cont = answer["continuation"]
    expect(page.locator("#text")).to_have_value(before + cont)
    ready(page)
    assert url_state(page)["text"] == before + cont
    expect(page.locator(".cont-note")).to_have_text(
        f"Added {len(answer['continuation_tokens'])} tokens, greedy: the top token each time.")


def test_hovering_a_token_previews_it_and_clicking_selects_it(page: Page):
    open_app(page, text=SENTENCE, token=2)
    page.hover('#tokens .tok[data-index="4"]')
    expect(page.locator("#query-label")).to_contain_text("4")
    expect(page.locator('#tokens .tok[data-index="4"]')).to_have_class(re.compile(r"\bselected\b"))
    assert url_state(page)["token"] == "2"  # a preview only
    page.mouse.move(5, 5)
    expect(page.locator("#query-label")).to_contain_text("2")
    page.click('#tokens .tok[data-index="6"]')
    ready(page)
    assert url_state(page)["token"] == "6"
    shape = page.evaluate("() => document.querySelector('#attn-heatmap .plot').layout.shapes[0]")
    assert shape["y0"] == 5.5 and shape["y1"] == 6.5


def test_a_model_that_is_not_installed_is_what_the_page_says_it_lacks(page: Page):
    """A link that names a model this server has not installed (/api/models and the refusal answer here as a server
    made by `make run` alone does, without `make models`): under the server's "Model 'minilm-l6' is not installed;
    install it with: ..." the Heads tab said "Nothing to show yet: the sentence above could not be analysed." and offered
    "Run the induction probe", which needs the model too. It says the model is not installed, and offers no probe."""
    detail = "Model 'minilm-l6' is not installed; install it with: make models, or attnlab models install."

    def not_installed(route):
        body = route.fetch().json()
        for m in body["models"]:
            if m["name"] == "minilm-l6":
                m.update(available=False, install="make models, or attnlab models install")
        route.fulfill(json=body)

    def refused(route):
        if json.loads(route.request.post_data or "{}").get("model") == "minilm-l6":
            route.fulfill(status=422, json={"detail": detail})
        else:
            route.continue_()

    page.route("**/api/models", not_installed)
    page.route("**/api/analyze", refused)
    page.goto("/?" + urlencode({"text": SENTENCE, "model": "minilm-l6", "view": "heads"}))
    empty = page.locator("#empty")
    expect(empty).to_contain_text("minilm-l6 is not installed")
    expect(empty).not_to_contain_text("could not be analysed")
    expect(empty.locator("button")).to_have_count(0)


def test_a_sentence_that_cannot_be_analysed_leaves_no_plot_of_the_one_before(page: Page):
    open_app(page, text=SENTENCE)
    expect(page.locator('main .view[data-view="attention"]')).to_be_visible()
    page.fill("#text", "   ")
    # (an empty box: nothing "could not be analysed", there is no sentence; the error above says "Text is empty")
    expect(page.locator("#empty")).to_have_text("Nothing to show yet: type a sentence above.")
    expect(page.locator("main .view:visible")).to_have_count(0)
    assert page.locator("#tokens .tok").count() == 0 and page.locator("#query-label").text_content() == ""
    expect(page.locator(".selection .query")).to_be_hidden()  # (it said "Query" with nothing after it)
    page.fill("#text", SENTENCE)  # a sentence again: its view comes back
    ready(page)
    expect(page.locator('main .view[data-view="attention"]')).to_be_visible()
    expect(page.locator("#empty")).to_be_hidden()
    expect(page.locator(".selection .query")).to_be_visible()


def test_back_while_typing_puts_the_sentence_box_back_with_the_page(page: Page):
    open_app(page, text=SENTENCE)
    page.click('.tabs [data-view="arithmetic"]')
    ready(page)
    page.click("#text")
    page.keyboard.press("Control+a")
    page.keyboard.type("A dog ran.")
    page.wait_for_function("() => new URLSearchParams(location.search).get('text') === 'A dog ran.'")
    ready(page)
    page.go_back()  # the box still has the focus
    page.wait_for_function("(t) => new URLSearchParams(location.search).get('text') === t", arg=SENTENCE)
    ready(page)
    assert page.locator("#text").input_value() == SENTENCE


def test_the_token_chips_say_what_position_the_model_was_given(page: Page):
    """A chip names the token's place in the text and, where the positions are shuffled or removed, the position
    the model was given (the API's permutation) or none."""
    open_app(page, text=SENTENCE, positions="shuffled")
    perm = api(page, "/api/analyze", {"text": SENTENCE, "positions": "shuffled"})["interventions"]["permutation"]
    assert perm != sorted(perm)
    titles = page.locator("#tokens .tok").evaluate_all("(chips) => chips.map((c) => c.title)")
    assert len(titles) == len(perm)
    for i, title in enumerate(titles):
        assert f"position {i} in the text, given position {perm[i]} (shuffled)" in title, title
    open_app(page, text=SENTENCE, positions="removed")
    title = page.locator('#tokens .tok[data-index="2"]').get_attribute("title")
    assert "position 2 in the text (the model was given none" in title
    open_app(page, text=SENTENCE)
    assert page.locator('#tokens .tok[data-index="2"]').get_attribute("title").endswith(" · position 2")


# ----------------------------------------------------------------------------------- requests the server refuses


# texts the page can tell the server refuses without asking it (backend/service.py check_text): none is sent; the
# page says why where the server would have (the box takes no more characters than the server reads)
REFUSED_TEXTS = ["", "   ", "\n\t "]


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-nope", "minilm-l6", "smollm2-135m"])
def test_a_text_the_server_would_refuse_is_not_sent(page: Page, watch, need_models, model):
    """Emptying the box, or leaving only spaces in it, sent /api/analyze (and, with the analysis on its way, the
    view's own requests: /api/predict in the predictions view) for a 422 in the console on every view. The page now
    says the server's words itself; a sentence typed after it runs as before."""
    need_models(model)
    open_app(page, model=model, text=SENTENCE)
    for view in ["attention", "predictions", "lens", "effects", "embeddings", "compare", "heads", "model"]:
        page.click(f"#tab-{view}")
        page.wait_for_selector('html[data-busy="0"]', state="attached")
        for text in REFUSED_TEXTS:
            page.fill("#text", text)
            page.wait_for_selector('html[data-busy="0"]', state="attached")
            expect(page.locator("#error")).to_have_text("Text is empty: type a sentence.")
            assert chip_texts(page) == [], (view, text)
        page.fill("#text", "Hi there")
        if view not in ("predictions", "lens") or model != "minilm-l6":  # (an encoder has no next word: no view)
            ready(page)
        expect(page.locator("#error")).to_be_hidden()
    assert watch.refused == []
    assert [c for c in watch.console if "status of 4" in c] == []
    assert watch.errors == []


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "minilm-l6", "smollm2-135m"])
def test_a_text_refused_for_its_length_is_asked_for_once(page: Page, watch, need_models, model):
    """Only the server can count a text's tokens, so its first refusal of a text too long for the model is a 422 the
    page shows as its note. Every view, layer and position mode after it asked again for another 422 of the same
    length (the data layer now answers that refusal itself); running it past the trained length still asks."""
    need_models(model)
    open_app(page, model=model, text=SENTENCE)
    page.fill("#text", "word " * 200)
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    expect(page.locator("#beyond")).to_contain_text("Too long")
    assert len(watch.refused) == 1 and "/api/analyze" in watch.refused[0], watch.refused
    for view in ["model", "arithmetic", "qkv", "embeddings", "positional", "predictions", "compare", "lens", "effects",
                 "heads", "attention"]:
        page.click(f"#tab-{view}")
        page.wait_for_selector('html[data-busy="0"]', state="attached")
        expect(page.locator("#beyond")).to_contain_text("Too long")
    page.select_option("#layer", "1")
    page.select_option("#positions", "removed")
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    expect(page.locator("#beyond")).to_contain_text("Too long")
    assert len(watch.refused) == 1, watch.refused
    assert watch.errors == []
    run = page.get_by_role("button", name="Run it past the trained length")
    if model == "tiny-sinusoidal":  # (the others cannot: their note says so)
        run.click()
        ready(page)
        expect(page.locator("#beyond")).to_contain_text("Past the trained length")
        assert chip_texts(page)
    else:
        expect(run).to_have_count(0)


def test_a_second_sentence_refused_for_its_length_is_asked_for_once(page: Page, watch, need_models):
    """Compare with side b's sentence too long for its model: each layer, head or side-b intervention after the first
    refusal asked /api/compare again, for the same 422 ("side b (tiny-nope): the text is 203 tokens ...")."""
    need_models("tiny-nope")
    open_app(page, text=SENTENCE, view="compare", model2="tiny-nope", text2="word " * 200)
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    note = page.locator('main .view[data-view="compare"]')
    expect(note).to_contain_text("Too long")
    assert len(watch.refused) == 1 and "/api/compare" in watch.refused[0], watch.refused
    page.select_option("#layer", "1")
    page.select_option("#head", "2")
    page.select_option('#panel-compare select[name="positions2"]', "shuffled")
    page.fill('#panel-compare input[name="ablate2"]', "0.1")
    page.keyboard.press("Enter")
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    expect(note).to_contain_text("Too long")
    assert len(watch.refused) == 1, watch.refused
    assert watch.errors == []


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "smollm2-135m"])
@pytest.mark.parametrize("view", ["predictions", "qkv", "embeddings"])
def test_a_new_text_too_long_is_refused_once_in_any_view(page: Page, watch, need_models, model, view):
    """A view whose own request reads no other source asks it together with a new sentence's analysis: for a text too
    long for the model both were sent, and both refused (in the predictions view /api/analyze and /api/predict, two
    422s for one text). A text that may be too long for the model is analysed first; the view asks only once it fits."""
    need_models(model)
    open_app(page, model=model, text=SENTENCE, view=view)
    page.fill("#text", "word " * 200)
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    expect(page.locator("#beyond")).to_contain_text("Too long")
    page.wait_for_timeout(500)  # (an answer on its way when the page settled is counted too)
    assert len(watch.refused) == 1 and "/api/analyze" in watch.refused[0], watch.refused
    # a new sentence that fits is still asked for with its analysis, and drawn
    page.fill("#text", "A short one.")
    ready(page)
    assert watch.refused[1:] == []


# fits MiniLM (105 tokens) and SmolLM2 (96) but not the tiny models' own tokenizer (168 of their 128)
LONG_FOR_TINY = ("The quick brown fox jumps over the lazy dog while the photographer captured extraordinary moments "
                 "near the riverbank at dawn, and everyone watching applauded the wonderful performance "
                 "enthusiastically. ") * 3


@pytest.mark.parametrize("model", ["minilm-l6", "smollm2-135m"])
def test_the_tiny_models_are_asked_once_for_a_sentence_too_long_in_their_tokens(page: Page, watch, need_models, model):
    """The Positional view runs the page's sentence through every tiny model, the Heads view's table across models
    too. On MiniLM or SmolLM2 the page's analysis counts the sentence in another tokenizer's tokens: each tiny model was
    asked, and each refused it (five 422s in the Positional view; in the Heads view one more, shown in the API's words,
    "send allow_beyond_trained: true"). The first model's refusal says how many tokens the tiny models' one tokenizer
    makes of it: the others are not asked, each says why in its panel, and the Heads view says it too."""
    need_models(model, "tiny-sinusoidal")
    text = LONG_FOR_TINY.strip()
    open_app(page, model=model, text=text, view="positional")
    n = api(page, "/api/analyze", {"text": text, "model": model, "layers": []})["tokens"]
    assert len(n) <= 128  # (fits the page's model)
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    section = page.locator('main .view[data-view="positional"]')
    expect(section).to_contain_text("tiny-learned reads at most 128 tokens, and this text is")
    expect(section).to_contain_text("tiny-sinusoidal reads at most 128 tokens, and this text is")
    page.wait_for_timeout(500)
    assert len(watch.refused) <= 1, watch.refused
    page.select_option("#layer", "1")
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    expect(section).to_contain_text("tiny-alibi reads at most 128 tokens, and this text is")
    # the Heads view's table across the models is not asked for either: the count is the Positional view's
    heads = page.locator('main .view[data-view="heads"] [data-part="models"]')
    page.click("#tab-heads")
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    expect(heads).to_contain_text(re.compile(r"These models read at most 128 tokens, and this sentence is \d+ tokens in theirs"))
    assert len(watch.refused) <= 1, watch.refused
    assert watch.errors == []


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "minilm-l6", "smollm2-135m"])
def test_a_word_the_server_refuses_is_asked_for_once(page: Page, watch, need_models, model):
    """Nearest words and the analogy take one token. Several words are never one (no token of a vocabulary holds a
    space between two characters): the page says so without asking, where the server's 422 said it. A single word
    only the server can split is asked for once: its refusal is shown again, not asked for again."""
    need_models(model)
    open_app(page, model=model, text=SENTENCE, view="embeddings")
    nb, an = page.locator('[data-part="neighbors"]'), page.locator('[data-part="analogy"]')
    page.fill('[data-part="nbform"] input[name="word"]', "the cat")
    page.press('[data-part="nbform"] input[name="word"]', "Enter")
    expect(nb.locator(".reason")).to_contain_text("“the cat” is 2 words")
    page.fill('[data-part="anform"] input[name="a"]', "king")
    page.fill('[data-part="anform"] input[name="b"]', "the  man")
    page.fill('[data-part="anform"] input[name="c"]', "woman")
    page.press('[data-part="anform"] input[name="c"]', "Enter")
    expect(an.locator(".reason")).to_contain_text("“the  man” is 2 words")
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    assert watch.refused == []
    page.fill('[data-part="nbform"] input[name="word"]', "antidisestablishment")
    page.press('[data-part="nbform"] input[name="word"]', "Enter")
    expect(nb.locator(".reason")).to_contain_text("“antidisestablishment” is not one token")
    page.fill("#text", "Another sentence here.")
    ready(page)
    page.click("#tab-attention")
    ready(page)
    page.click("#tab-embeddings")
    page.wait_for_selector('html[data-busy="0"]', state="attached")
    expect(nb.locator(".reason")).to_contain_text("“antidisestablishment” is not one token")
    assert len(watch.refused) == 1 and "antidisestablishment" in watch.refused[0], watch.refused
