"""Layouts and the one data layer in a real browser: one request for the explorer and a lesson step showing the same
view; Links keeps its height when the lesson panel opens and closes; presenter mode at 1280x720 keeps the heatmap's
plot area on screen (with and without a lesson); on a phone (390x844) a lesson question's choices are on screen
before "Next"; the Download report link carries the selected query, and the report names and explains it; every tick
label of seven views lies inside its plot at 1280x800 and 390x844; no element marked hidden is shown, in any view;
the Compare view on a head only side a's model has; the Arithmetic view's query line shows all its numbers; the model
menu says whole that a model is not installed."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.pages import SENTENCE, TEXT_CLASHES, TICKS_OUTSIDE, api, plot_data, ready, url_state

pytestmark = pytest.mark.browser
WAIT = 300_000  # ms: generous, for a loaded machine (plotly.js alone can take minutes to parse there)


@pytest.fixture(autouse=True)
def _patient(page: Page):
    page.set_default_timeout(WAIT)
    page.set_default_navigation_timeout(WAIT)


def step_ready(page: Page, lesson: str, n: int, timeout: float = WAIT) -> None:
    page.wait_for_selector(f'#lesson-panel[data-state="ready"][data-lesson="{lesson}"][data-step="{n}"]', timeout=timeout)
    ready(page, timeout)


def analyze_requests(page: Page) -> list[dict]:
    seen: list[dict] = []
    page.on("request", lambda r: seen.append(json.loads(r.post_data or "{}")) if r.url.endswith("/api/analyze") else None)
    return seen


def test_a_lesson_step_and_the_explorer_showing_the_same_view_send_one_request(page: Page):
    seen = analyze_requests(page)
    # step 5 of attention-arithmetic shows the attention view of the page's own sentence, its text quotes the analysis
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "attention", "lesson": "attention-arithmetic", "step": 5}))
    step_ready(page, "attention-arithmetic", 5)
    page.wait_for_timeout(500)
    same = [r for r in seen if r.get("text") == SENTENCE]
    keys = [json.dumps(r, sort_keys=True) for r in same]
    assert same, seen
    assert len(keys) == len(set(keys)), f"the same /api/analyze went out more than once: {keys}"


def links_height(page: Page) -> float:
    return page.evaluate("""() => {
        const p = document.querySelector('#attn-lines .plot .main-svg');
        return p ? p.getBoundingClientRect().height : 0; }""")


def test_links_keeps_its_height_when_the_lesson_panel_opens_and_closes(page: Page):
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "attention"}))
    ready(page, WAIT)
    before = links_height(page)
    assert before > 100, before
    for _ in range(2):
        page.click("#lessons-toggle")
        page.wait_for_timeout(600)  # the panel's transition and the redraw after the resize
        ready(page, WAIT)
        assert links_height(page) > 0.8 * before, (before, links_height(page))
    page.set_viewport_size({"width": 1100, "height": 800})
    page.wait_for_timeout(600)
    ready(page, WAIT)
    assert links_height(page) > 0.6 * before


def heatmap_plot_area(page: Page) -> dict:
    return page.evaluate("""() => {
        const box = document.querySelector('main .view:not([hidden]) [data-part="heatmap"] .plot .nsewdrag');
        const r = box.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, vh: innerHeight, vw: innerWidth}; }""")


# the select's shown text, its width in the select's font with its padding, and the select's inner width
MENU_TEXT = """() => { const s = document.querySelector('#model'), cs = getComputedStyle(s), o = s.options[s.selectedIndex];
  const c = document.createElement('canvas').getContext('2d');
  c.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  return {text: o.text, has: s.clientWidth,
          needs: c.measureText(o.text).width + parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight)}; }"""


# each table of the view on screen whose columns run past its box (it scrolls sideways): [scrollWidth, clientWidth]
TABLES_CUT = """() => [...document.querySelectorAll('main .view:not([hidden]) .table-wrap')]
  .filter((w) => w.offsetParent && w.scrollWidth > w.clientWidth + 1).map((w) => [w.scrollWidth, w.clientWidth])"""


@pytest.mark.parametrize("lesson,step,model", [("next-word-prediction", 5, "tiny-sinusoidal"),
                                               ("where-does-the-answer-appear", 3, "tiny-sinusoidal"),
                                               ("where-does-the-answer-appear", 3, "smollm2-135m")])
def test_presenter_mode_with_a_lesson_shows_a_table_beside_a_plot_whole(page: Page, need_models, shot, lesson, step, model):
    """At 1280x720 in presenter mode with a lesson open, the table beside the plot is about 380 px wide: the Predictions
    view's "At every position" ran 27 px past it (its ✓ column, what the step's text points at, out of sight) and the
    Logit lens's top tokens 53 px (92 on SmolLM2: the after-MLP probabilities cut through), each to be scrolled
    sideways on the projector."""
    need_models(model)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"lesson": lesson, "step": step, "model": model, "present": 1}))
    step_ready(page, lesson, step)
    ready(page, WAIT)
    page.wait_for_timeout(500)
    shot(page, f"presenter-lesson-table-{lesson}-{model}", full_page=False)
    assert page.locator("main .view:not([hidden]) .table-wrap").count() >= 1
    cut = page.evaluate(TABLES_CUT)
    assert not cut, cut


@pytest.mark.parametrize("lesson", [None, "attention-arithmetic"])
def test_presenter_mode_at_1280x720_shows_the_whole_heatmap(page: Page, shot, lesson):
    page.set_viewport_size({"width": 1280, "height": 720})
    params = {"text": SENTENCE, "view": "attention", "present": 1}
    if lesson:
        params.update(lesson=lesson, step=5)  # its step 5 shows the attention view
    page.goto("/?" + urlencode(params))
    if lesson:
        step_ready(page, lesson, 5)
    ready(page, WAIT)
    page.wait_for_timeout(800)
    shot(page, "presenter", full_page=False)
    r = heatmap_plot_area(page)
    assert 0 <= r["top"] and r["bottom"] <= r["vh"], r
    assert 0 <= r["left"] and r["right"] <= r["vw"], r
    assert r["bottom"] - r["top"] > 200, r  # large, not a strip
    # the controls sit in one line: the input bar and the toolbar take little of the height
    top = page.evaluate("document.querySelector('main#views').getBoundingClientRect().top")
    assert top < 0.4 * 720, top
    # the sentence comes first, wide enough to read whole (the default model's training-step slider after it)
    box, replay = page.evaluate("""() => ['#text', '#replay'].map((s) => {
        const e = document.querySelector(s), r = e.getBoundingClientRect();
        return {top: r.top, width: r.width, shown: !e.hidden, lines: e.scrollHeight / e.clientHeight}; })""")
    assert box["width"] > 450 and box["lines"] < 1.2, box
    assert replay["shown"] and replay["top"] >= box["top"], (box, replay)
    # the model menu shows the model's whole name (it showed "tiny-sinusoidal ·", the rest of its label cut off)
    menu = page.evaluate(MENU_TEXT)
    assert menu["text"] == "tiny-sinusoidal" and menu["needs"] + 20 <= menu["has"], menu
    if not lesson:  # out of presenter mode, each model's label says what kind of model it is again
        page.keyboard.press("p")
        expect(page.locator("#model option:checked")).to_have_text(re.compile(r"^tiny-sinusoidal · causal · .* params"))


def test_presenter_mode_keeps_a_long_text_s_heatmap_rows_readable(page: Page):
    """A 221-token text (past the default model's trained length) at 1280x720 in presenter mode: the heatmap was fitted
    into the room left below the warning and the token strip, a plot area 164 px high for 221 query rows (0.7 px each,
    five of them labelled). Its rows now keep at least 4 px each, the page scrolling to the rest, as the normal mode's
    taller heatmap does; a short sentence's stays whole on the screen (the test above)."""
    text = " ".join(["Once upon a time there was a little girl named Lily who loved to play outside in the sun."] * 10)
    text += " She had a big red ball and a small dog."
    n = len(api(page, "/api/analyze", {"text": text, "allow_beyond_trained": True})["tokens"])
    assert n == 221
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": text, "view": "attention", "present": 1, "beyond": 1}))
    ready(page, WAIT)
    r = heatmap_plot_area(page)
    assert (r["bottom"] - r["top"]) / n >= 4, r
    assert r["right"] - r["left"] > 900, r  # (the whole width, as before)
    assert page.locator("#attn-heatmap .ytick text").count() >= 20
    assert page.evaluate(TICKS_OUTSIDE) == []


# every label of the model menu, and the room it needs inside the menu (its padding; the arrow takes 20 px more)
MENU_LABELS = """() => { const s = document.querySelector('#model'), cs = getComputedStyle(s);
  const c = document.createElement('canvas').getContext('2d');
  c.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  return {has: s.clientWidth, labels: [...s.options].map((o) => ({text: o.text,
          needs: c.measureText(o.text).width + parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight)}))}; }"""


@pytest.mark.parametrize("size, extra", [((1280, 800), {}), ((1280, 720), {"present": 1}), ((390, 844), {})],
                         ids=["desktop", "presenter", "phone"])
def test_the_model_menu_says_whole_that_a_model_is_not_installed(page: Page, size, extra):
    """On a server with only the bundled models (`make run` without `make models`), a link naming smollm2-135m showed
    in the menu "smollm2-135m · causal · 134.52 M params · rotary (not" at 1280x800 and "smollm2-135m (" in presenter
    mode: " (not installed)" came after the rest of the label. A model that is not installed is labelled with its name
    and "not installed" alone, and in presenter mode the menu widens to it: every label fits whole."""
    def not_installed(route):
        body = route.fetch().json()
        for m in body["models"]:
            if m["name"] in ("minilm-l6", "smollm2-135m"):
                m.update(available=False, install="make models, or attnlab models install")
        route.fulfill(json=body)

    page.route("**/api/models", not_installed)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "model": "smollm2-135m", **extra}))
    expect(page.locator("#model option:checked")).to_have_text("smollm2-135m · not installed")
    menu = page.evaluate(MENU_LABELS)
    assert "minilm-l6 · not installed" in [x["text"] for x in menu["labels"]], menu
    assert [x for x in menu["labels"] if x["needs"] + 20 > menu["has"]] == [], menu


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "minilm-l6", "smollm2-135m"])
def test_on_a_phone_the_model_menu_shows_its_whole_label(page: Page, need_models, models, model):
    """At 390x844 the model menu showed "tiny-sinusoidal · causal · 1.89 M params" with the rest of its label cut off
    (it needs about 400 px, the menu has 327). On a phone it shows the model's name, as in presenter mode; the line
    under it says the kind, size and positional scheme in full. A window widened past a phone's labels them in full
    again."""
    need_models(model)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"model": model}))
    ready(page, WAIT)
    menu = page.evaluate(MENU_TEXT)
    assert menu["text"] == model and menu["needs"] + 20 <= menu["has"], menu
    m = models[model]
    info = page.locator("#model-info").text_content()
    assert m["kind"] in info and "parameters" in info, info
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.locator("#model option:checked")).to_have_text(re.compile(rf"^{re.escape(model)} · {m['kind']} · .* params"))


# what a phone folds under Settings, each shown by one tap on it: the model's line, the training-step slider and "How it
# learned", the examples, the interventions, hide special tokens
FOLDED = ["#model-info", "#replay input[type=range]", "#replay summary", "button.example >> nth=0", "#positions", "#scale",
          "#ablate-mode", "#hide-special"]


def test_on_a_phone_the_view_starts_on_the_first_screen_and_each_setting_is_one_tap_away(page: Page, shot):
    """At 390x844 the header (the model's five-line description, the training-step slider and its line, the examples,
    the interventions, hide special tokens) put the attention view's first plot at y = 801, 43 px above the screen's
    foot. They fold under Settings beside the model menu (the plot at y = 427): one tap shows them all, the page
    remembers it open, a key closes it, and a wide screen shows them with no button."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?view=attention")
    ready(page, WAIT)
    top = page.locator("#attn-heatmap .plot").bounding_box()["y"]
    assert 0 <= top <= 844 - 300, f"the first plot starts at y = {top}: less than 300 px of it on the first screen"
    toggle = page.locator("#settings-toggle")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    for sel in FOLDED:
        expect(page.locator(sel)).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    for sel in FOLDED:
        expect(page.locator(sel)).to_be_visible()
    shot(page, "phone-settings-open", full_page=False)
    page.reload()
    ready(page, WAIT)
    expect(page.locator("#positions")).to_be_visible()
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#positions")).to_be_hidden()
    page.set_viewport_size({"width": 1280, "height": 800})  # (closed on the phone: a wide screen shows them anyway)
    expect(toggle).to_be_hidden()
    for sel in FOLDED:
        expect(page.locator(sel)).to_be_visible()


def test_on_a_phone_the_closed_settings_name_an_earlier_training_step_and_hidden_special_tokens(page: Page, shot, models):
    """Closed, the phone's Settings hid the training-step slider: a learner who had picked an earlier step read that
    checkpoint's numbers with nothing on screen saying so (and the same for hide special tokens). The button names
    them, in its text and its spoken name, and stays on its row beside Presenter."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?view=attention")
    ready(page, WAIT)
    toggle = page.locator("#settings-toggle")
    expect(toggle).to_have_text("Settings")
    toggle.click()
    steps = [c["step"] for c in models["tiny-sinusoidal"]["checkpoints"]]
    page.locator("#replay input[type=range]").fill("9")  # (checkpoint 10 of 12: an earlier step than the final model's)
    expect(page.locator("#replay .replay-step")).to_have_text(f"step {steps[9]} of {steps[-1]}")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_text(f"Settingsstep {steps[9]}")
    expect(toggle).to_have_accessible_name(f"Settings: step {steps[9]}")
    present, box = page.locator("#present").bounding_box(), toggle.bounding_box()
    # (on Presenter's row, one line high: the title bar's baseline alignment leaves them under a pixel apart)
    assert abs(box["y"] - present["y"]) < 1 and box["height"] == present["height"], f"Settings {box} beside Presenter {present}"
    assert box["x"] + box["width"] <= 390, box
    shot(page, "phone-settings-step", full_page=False)
    toggle.click()
    page.locator("#hide-special").check()
    toggle.click()
    expect(toggle).to_have_accessible_name(f"Settings: step {steps[9]}, no specials")
    toggle.click()
    page.locator("#replay input[type=range]").fill(str(len(steps) - 1))  # (the final model: nothing to name)
    page.locator("#hide-special").uncheck()
    toggle.click()
    expect(toggle).to_have_text("Settings")
    expect(toggle).to_have_accessible_name("Settings")


def test_on_a_phone_the_lesson_choices_are_on_screen_before_next(page: Page, shot):
    page.set_viewport_size({"width": 390, "height": 844})
    # step 3 of attention-arithmetic: a predict-then-reveal question (which key gets the most weight)
    page.goto("/?" + urlencode({"lesson": "attention-arithmetic", "step": 3}))
    step_ready(page, "attention-arithmetic", 3)
    page.wait_for_selector("#lesson-panel .q-choice")
    shot(page, "phone", full_page=False)
    choices = page.evaluate("""() => [...document.querySelectorAll('#lesson-panel .q-choice')].map((c) => {
        const r = c.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; })""")
    nxt = page.evaluate("""() => { const b = [...document.querySelectorAll('#lesson-panel button')]
        .find((x) => /next/i.test(x.textContent)); const r = b.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; }""")
    assert choices, "no choices"
    assert all(0 <= c["top"] and c["bottom"] <= 844 for c in choices), choices
    # "Next" comes after the choices (in reading order: below them, or beside the last one)
    assert nxt["top"] >= min(c["top"] for c in choices), (choices, nxt)


def test_the_report_names_and_explains_the_selected_query(page: Page):
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "attention", "layer": 1, "head": 1, "token": 2}))
    ready(page, WAIT)
    href = page.get_attribute("#download-report", "href")
    q = parse_qs(urlparse(href).query)
    assert q["query"] == ["2"] and q["layer"] == ["1"] and q["head"] == ["1"], href
    with page.expect_download(timeout=180_000) as info:
        page.click("#download-report")
    html = Path(info.value.path()).read_text(encoding="utf-8")
    token = page.locator('#tokens .tok[data-index="2"] .tok-text').text_content().replace("\u2423", " ").strip()
    # the report says which query it explains, by index and text, and its arithmetic is that query's
    m = re.search(r"query token (\d+)", html)
    assert m and m.group(1) == "2", html[:2000]
    explain = page.request.post("/api/attention/explain", data={"text": SENTENCE, "layer": 1, "head": 1, "query": 2}).json()
    assert explain["query"] == 2
    assert token in html


@pytest.mark.parametrize("size, extra", [((1280, 720), {}), ((1280, 720), {"lesson": "attention-arithmetic", "step": 5}),
                                         ((390, 844), {})], ids=["presenter", "presenter-lesson", "phone-presenter"])
def test_presenter_mode_keeps_the_report_a_teacher_hands_out(page: Page, size, extra):
    """Presenter mode hid Download report: a teacher projecting the class's sentence had to leave presenter mode for
    the handout of what was on the screen. It shows there as "Report", in sight, and downloads the same report."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "attention", "layer": 1, "head": 1, "token": 2, "present": 1, **extra}))
    ready(page, WAIT)
    link = page.locator("#download-report")
    expect(link).to_be_visible()
    assert link.inner_text().strip() == "Report"  # (the words shown: "Download report" is too long for the line)
    box = link.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= size[0] and box["y"] >= 0, box
    q = parse_qs(urlparse(link.get_attribute("href")).query)
    assert q["query"] == ["2"] and q["layer"] == ["1"] and q["head"] == ["1"], q
    with page.expect_download(timeout=180_000) as info:
        link.click()
    assert "query token 2" in Path(info.value.path()).read_text(encoding="utf-8")


def test_a_sentence_too_long_for_a_report_is_refused_on_the_page(page: Page):
    """/api/report refuses a text past the model's max_report_tokens (422), which the browser's download only showed
    as failed: the link now says why, and a click says it on the page instead of downloading nothing."""
    text = "the dog ran " * 23
    page.goto("/?" + urlencode({"text": text, "model": "minilm-l6", "view": "attention"}))
    ready(page, WAIT)
    info = next(m for m in page.request.get("/api/models").json()["models"] if m["name"] == "minilm-l6")
    n = len(page.request.post("/api/analyze", data={"text": text, "model": "minilm-l6", "top_k": 1}).json()["tokens"])
    assert n > info["max_report_tokens"]
    assert page.request.get(page.get_attribute("#download-report", "href")).status == 422
    link = page.locator("#download-report")
    expect(link).to_have_attribute("aria-disabled", "true")
    title = link.get_attribute("title")
    assert f"{n} tokens" in title and f"at most {info['max_report_tokens']}" in title, title
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    link.click(force=True)
    expect(page.locator("#status")).to_contain_text(f"This sentence is {n} tokens")
    assert not downloads
    # a shorter sentence: the link is a download again
    page.fill("#text", "the dog ran")
    expect(link).not_to_have_attribute("aria-disabled", "true")


# ----------------------------------------------------------------------------------- the Compare view

TOO_BIG = "The trophy does not fit in the suitcase because it is too big."
TOO_SMALL = "The trophy does not fit in the suitcase because it is too small."


def compare_plots(page: Page) -> dict:
    return page.evaluate("""() => Object.fromEntries(['a', 'b', 'diff', 'pred-a', 'pred-b'].map((k) => {
        const el = document.querySelector(`#panel-compare [data-part="${k}"] .plot`);
        return [k, el && el.data
            ? el.data.map((t) => ({type: t.type, z: t.z ?? null, x: t.x ?? null, text: t.text ?? null,
                                   marker: t.marker ?? null})) : null]; }))""")


def test_compare_two_sentences_draws_both_sides_and_their_difference(page: Page, shot):
    page.goto("/?" + urlencode({"text": TOO_BIG, "text2": TOO_SMALL, "view": "compare", "layer": 1, "head": 0}))
    ready(page, WAIT)
    shot(page, "compare-sentences")
    plots = compare_plots(page)
    assert all(plots[k] for k in ("a", "b", "diff", "pred-a", "pred-b")), plots
    r = page.request.post("/api/compare", data={"a": {"text": TOO_BIG}, "b": {"text": TOO_SMALL}, "layer": 1, "head": 0,
                                               "top_k": 5}).json()
    # the difference drawn is b - a of the API's two patterns, recomputed here; the predictions are each side's
    za, zb = r["a"]["attention"][0][0], r["b"]["attention"][0][0]  # [1][1][query][key]: the one head asked for
    zd = plots["diff"][0]["z"]
    for i, row in enumerate(zd):
        for j, v in enumerate(row):
            if v is not None and za[i][j] is not None and zb[i][j] is not None:
                assert abs(v - (zb[i][j] - za[i][j])) < 2e-4  # the API rounds each weight and the difference to 4 places
    assert [round(x, 6) for x in plots["pred-a"][0]["x"]] == [round(p["prob"], 6) for p in r["a"]["predictions"]]
    # each side wears the colour the difference gives "more weight on this side": b - a above 0 is blue (the diverging
    # scale's top), so side b is blue and side a orange, their badges and their bars (side b was orange)
    def blue(color: str) -> bool:
        r_, g_, b_ = (int(color[i:i + 2], 16) for i in (1, 3, 5)) if color.startswith("#") else map(
            int, re.findall(r"\d+", color)[:3])
        return b_ > r_

    top = page.evaluate("() => document.querySelector('#panel-compare [data-part=diff] .plot').data[0].colorscale.at(-1)[1]")
    assert blue(top)
    for side, want in (("a", False), ("b", True)):
        badge = page.eval_on_selector(f"#panel-compare .side-badge.side-{side}", "e => getComputedStyle(e).backgroundColor")
        assert blue(badge) == want and blue(plots[f"pred-{side}"][0]["marker"]["color"]) == want, (side, badge)
    # "big" and "small" do not line up: the note says so
    assert r["same_token"] is not None and not all(r["same_token"])
    assert "different tokens" in page.locator('#panel-compare [data-part="diff"]').inner_text()
    # the address names both sides
    q = parse_qs(urlparse(page.url).query)
    assert q["text"] == [TOO_BIG] and q["text2"] == [TOO_SMALL]


def test_compare_offers_to_run_a_long_second_sentence_past_the_trained_length(page: Page):
    """A long sentence on side b beside a short one on side a showed the API's own words, "send
    allow_beyond_trained: true", with nothing to click (the page's offer follows side a only). Side b's refusal is now
    said in the page's words with the page's button; once clicked, side b is drawn with its warning."""
    long = "The little cat sat on the mat and the dog ran to the park. " * 12
    page.goto("/?" + urlencode({"text": SENTENCE, "text2": long, "model": "tiny-rotary", "view": "compare"}))
    ready(page, WAIT)
    summary = page.locator("#panel-compare .compare-summary")
    expect(summary).to_contain_text("Side b: tiny-rotary was trained on texts of at most 128 tokens")  # (whose text)
    expect(summary).not_to_contain_text("allow_beyond_trained")
    summary.locator("button[name=allow-beyond]").click()
    ready(page, WAIT)
    assert url_state(page).get("beyond") == "1"
    r = page.request.post("/api/compare", data={"a": {"text": SENTENCE, "model": "tiny-rotary"},
                                               "b": {"text": long, "model": "tiny-rotary", "allow_beyond_trained": True},
                                               "layer": 0, "head": 0}).json()
    expect(page.locator('#panel-compare [data-part="b"]')).to_contain_text(r["b"]["beyond_trained"]["warning"])
    assert compare_plots(page)["b"]


def test_compare_opens_a_second_side_too_long_for_its_model_on_a_model_that_reads_it(page: Page, need_models):
    """Side b's text too long for side b's model (learned positions: none past 128): the note's button put the PAGE's
    model on one that reads it, side a's, and side b stayed refused as before. It now sets side b's model, past the
    trained length; side a's model stays, and both sides are drawn."""
    need_models("tiny-rotary", "tiny-learned", "tiny-sinusoidal")
    long = "The little cat sat on the mat and the dog ran to the park. " * 12
    page.goto("/?" + urlencode({"text": SENTENCE, "model": "tiny-rotary", "text2": long, "model2": "tiny-learned",
                                "view": "compare"}))
    ready(page, WAIT)
    summary = page.locator("#panel-compare .compare-summary")
    expect(summary).to_contain_text("Side b: tiny-learned cannot read more than 128 tokens")
    button = summary.locator("button[name=open-model]")
    opens = button.inner_text().removeprefix("Open it on ")
    assert opens in ("tiny-sinusoidal", "tiny-rotary", "tiny-nope", "tiny-alibi"), opens
    button.click()
    ready(page, WAIT)
    q = url_state(page)
    assert (q.get("model"), q.get("model2"), q.get("beyond")) == ("tiny-rotary", opens, "1"), q
    expect(summary).not_to_contain_text("cannot read")
    plots = compare_plots(page)
    # (the two sentences differ in length: no cell-by-cell difference, which its panel says)
    assert all(plots[k] for k in ("a", "b", "pred-a", "pred-b")), plots
    r = page.request.post("/api/compare", data={"a": {"text": SENTENCE, "model": "tiny-rotary"},
                                               "b": {"text": long, "model": opens, "allow_beyond_trained": True},
                                               "layer": 0, "head": 0}).json()
    expect(page.locator('#panel-compare [data-part="b"]')).to_contain_text(r["b"]["beyond_trained"]["warning"])
    assert len(plots["b"][0]["z"]) == len(r["b"]["tokens"]) and len(plots["a"][0]["z"]) == len(r["a"]["tokens"])


def test_compare_two_models_draws_both_sides(page: Page, need_models):
    need_models("tiny-sinusoidal", "tiny-rotary")
    page.goto("/?" + urlencode({"text": SENTENCE, "model": "tiny-sinusoidal", "model2": "tiny-rotary", "view": "compare"}))
    ready(page, WAIT)
    plots = compare_plots(page)
    assert all(plots[k] for k in ("a", "b", "diff", "pred-a", "pred-b")), plots
    titles = page.locator("#panel-compare .panel-title").all_text_contents()
    assert any("tiny-sinusoidal" in t for t in titles) and any("tiny-rotary" in t for t in titles), titles
    # a render that changes nothing of the comparison (hovering the token strip) keeps the titles
    page.hover('#tokens .tok[data-index="2"]')
    ready(page, WAIT)
    assert page.locator("#panel-compare .panel-title").all_text_contents() == titles
    assert "model2=tiny-rotary" in page.url
    # each bar's label is its probability, however small (the predictions view's rule, derive.probText): "0.000"
    # read as nothing where a flat distribution's top tokens each had 0.003; and each bar inside the axis
    for k in ("pred-a", "pred-b"):
        bars = plots[k][0]
        assert all(t != "0.000" and abs(float(t) - x) <= 0.0006 + 0.05 * x for x, t in zip(bars["x"], bars["text"], strict=True)), bars
        top = page.evaluate(f"() => document.querySelector('#panel-compare [data-part=\"{k}\"] .plot').layout.xaxis.range[1]")
        assert max(bars["x"]) < top <= 1.2 * max(bars["x"]), (top, bars["x"])


def test_compare_a_causal_model_with_an_encoder_draws_every_difference(page: Page, need_models):
    """Above the diagonal the causal side has no weight (0) and the encoder has some: b − a there is the encoder's
    weight, drawn (it was greyed out as masked, as if neither side had a number there)."""
    need_models("tiny-sinusoidal", "minilm-l6")
    text = "the cat"
    page.goto("/?" + urlencode({"text": text, "model": "tiny-sinusoidal", "model2": "minilm-l6", "view": "compare",
                                "layer": 1, "head": 2}))
    ready(page, WAIT)
    want = api(page, "/api/compare", {"a": {"text": text, "model": "tiny-sinusoidal"},
                                      "b": {"text": text, "model": "minilm-l6"}, "layer": 1, "head": 2})["difference"][0][0]
    z = plot_data(page, '#panel-compare [data-part="diff"] .plot')[0]["z"]
    assert z == want and any(z[i][j] != 0 for i in range(len(z)) for j in range(i + 1, len(z))), (z, want)


def test_compare_a_head_only_side_a_has_draws_side_a_and_both_predictions(page: Page, need_models):
    need_models("smollm2-135m", "tiny-rotary")
    page.goto("/?" + urlencode({"text": SENTENCE, "model": "smollm2-135m", "model2": "tiny-rotary", "view": "compare",
                                "layer": 20, "head": 8}))
    ready(page, WAIT)
    plots = compare_plots(page)
    # side a's pattern and both sides' predictions, which do not depend on the head; side b and b - a say why not
    assert all(plots[k] for k in ("a", "pred-a", "pred-b")) and not plots["b"] and not plots["diff"], plots
    r = page.request.post("/api/compare", data={"a": {"text": SENTENCE, "model": "smollm2-135m"},
                                               "b": {"text": SENTENCE, "model": "tiny-rotary"},
                                               "layer": 20, "head": 8, "top_k": 5}).json()
    za = r["a"]["attention"][0][0]  # [1][1][query][key]: the one head asked for
    drawn = [(v, za[i][j]) for i, row in enumerate(plots["a"][0]["z"]) for j, v in enumerate(row) if v is not None]
    assert len(drawn) >= len(za) and all(v == w for v, w in drawn) and r["b"]["attention"] == []
    assert [round(x, 6) for x in plots["pred-b"][0]["x"]] == [round(p["prob"], 6) for p in r["b"]["predictions"]]
    says = "tiny-rotary has no layer 20, head 8 (it has 4 layers × 4 heads)."
    for k in ("b", "diff"):
        assert says in page.locator(f'#panel-compare [data-part="{k}"]').inner_text()
    assert says in page.locator("#panel-compare .compare-summary").inner_text()
    assert page.locator("#panel-compare .reason", has_text=says).count() == 3  # side b, the difference, the summary
    titles = page.locator("#panel-compare .panel-title").all_text_contents()
    assert "a · smollm2-135m · L20 H8" in titles and "b · tiny-rotary" in titles, titles


def drawn_as(z: list, weights: list) -> bool:
    """Whether a heatmap's cells (None: masked, not drawn) are these weights."""
    drawn = [(v, weights[i][j]) for i, row in enumerate(z) for j, v in enumerate(row) if v is not None]
    return len(drawn) >= len(weights) and all(v == w for v, w in drawn)


def test_compare_titles_name_the_head_of_the_patterns_drawn_while_another_is_on_its_way(page: Page):
    """While the next head's comparison is on its way the view shows the last one's patterns: their titles said the
    head just selected ("layer 1"), over layer 0's weights (seconds on SmolLM2 on a busy machine). A title names the
    head of the weights under it."""
    page.goto("/?" + urlencode({"text": TOO_BIG, "text2": TOO_SMALL, "view": "compare", "layer": 0, "head": 0}))
    ready(page, WAIT)
    held: list = []
    page.route("**/api/compare", lambda route: held.append(route))
    page.select_option("#layer", "1")
    page.wait_for_function("() => new URL(location.href).searchParams.get('layer') === '1'")
    page.wait_for_timeout(300)
    assert held, "the next comparison was not asked for"
    want = api(page, "/api/compare", {"a": {"text": TOO_BIG}, "b": {"text": TOO_SMALL}, "layer": 0, "head": 0})
    assert drawn_as(compare_plots(page)["a"][0]["z"], want["a"]["attention"][0][0])  # layer 0's, still on screen
    titles = page.locator("#panel-compare .panel-title").all_text_contents()
    assert not any("L1 H" in t for t in titles), titles
    for route in held:
        route.continue_()
    page.unroute("**/api/compare")
    page.wait_for_function("() => [...document.querySelectorAll('#panel-compare .panel-title')]"
                           ".some((t) => t.textContent.includes('L1 H0'))")
    ready(page, WAIT)
    want = api(page, "/api/compare", {"a": {"text": TOO_BIG}, "b": {"text": TOO_SMALL}, "layer": 1, "head": 0})
    assert drawn_as(compare_plots(page)["a"][0]["z"], want["a"]["attention"][0][0])
    titles = page.locator("#panel-compare .panel-title").all_text_contents()
    assert "a · tiny-sinusoidal · L1 H0" in titles and "b − a · L1 H0" in titles, titles

# long words that are one token each to the default model (23 tokens, each label a whole long word)
LONG = ("Suddenly everything wonderful remembered together something beautiful, adventure playground butterflies "
        "everything together remembered wonderful something suddenly beautiful adventure playground butterflies.")


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
@pytest.mark.parametrize("view", ["attention", "arithmetic", "qkv", "embeddings", "predictions", "lens", "attribution"])
def test_every_tick_label_is_inside_its_plot(page: Page, view, size):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": LONG, "view": view}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    assert page.locator("main .view:not([hidden]) .xtick text, main .view:not([hidden]) .ytick text").count() > 0
    assert page.evaluate(TICKS_OUTSIDE) == []


def test_in_presenter_mode_with_a_lesson_the_arithmetic_legends_fit_their_plots(page: Page):
    """The weights plot's legend names each row's entropy: at 1280x720 in presenter mode with a lesson open the
    model's row ran past the plot's right edge and showed "entropy 1.43" for 1.436 (the lesson beside it: 1.44)."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": SENTENCE, "present": 1, "lesson": "why-divide-by-sqrt-d", "step": 2}))
    step_ready(page, "why-divide-by-sqrt-d", 2)
    ready(page, WAIT)
    page.wait_for_function("() => document.querySelectorAll('#panel-arithmetic .legendtext').length >= 4")
    out = page.evaluate("""() => [...document.querySelectorAll('#panel-arithmetic .plot')].flatMap((p) => {
        if (!p.querySelector('.legendtext')) return [];
        const b = p.querySelector('.main-svg').getBoundingClientRect();
        return [...p.querySelectorAll('.legendtext')].map((t) => [t.textContent, t.getBoundingClientRect()])
          .filter(([, r]) => r.left < b.left - 1 || r.right > b.right + 1).map(([text]) => text); })""")
    texts = page.locator("#panel-arithmetic .legendtext").all_text_contents()
    assert any(re.search(r"entropy \d\.\d{3}$", t) for t in texts), texts
    assert out == [], out


def test_in_presenter_mode_with_a_lesson_the_qkv_axis_titles_fit_below_their_ticks(page: Page):
    """At 1280x720 in presenter mode with a lesson open the three Q, K, V heatmaps are narrow: their x axis title ran
    past the plot's edge ("dimension of the heac") and over the turned tick labels."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": SENTENCE, "present": 1, "lesson": "attention-arithmetic", "step": 1}))
    step_ready(page, "attention-arithmetic", 1)
    ready(page, WAIT)
    page.wait_for_function("() => document.querySelectorAll('#panel-qkv [data-part=mats] .xtitle').length === 3")
    bad = page.evaluate("""() => [...document.querySelectorAll('#panel-qkv [data-part=mats] .plot')].flatMap((p) => {
        const b = p.querySelector('.main-svg').getBoundingClientRect();
        const t = p.querySelector('.xtitle').getBoundingClientRect();
        const out = [];
        if (t.left < b.left - 1 || t.right > b.right + 1) out.push(['title outside', t.left, t.right, b.left, b.right]);
        for (const k of p.querySelectorAll('.xtick text')) {
          const r = k.getBoundingClientRect();
          if (r.width && r.bottom > t.top + 1 && r.top < t.bottom - 1 && r.right > t.left && r.left < t.right)
            out.push(['title over tick', k.textContent]);
        }
        return out; })""")
    assert bad == [], bad


def test_in_presenter_mode_with_a_lesson_the_head_summary_titles_fit(page: Page):
    """The per-head summary beside the grid, two panels to a row there: the right-hand panel's title, centred on a
    panel narrower than it, ran past the plot's edge ("previous-token weigh"); no two titles run into each other."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": SENTENCE, "present": 1, "lesson": "many-heads", "step": 1}))
    step_ready(page, "many-heads", 1)
    ready(page, WAIT)
    page.wait_for_function("() => document.querySelectorAll('#attn-heads .annotation-text').length >= 4")
    out = page.evaluate("""() => { const p = document.querySelector('#attn-heads .plot');
        const b = p.querySelector('.main-svg').getBoundingClientRect();
        return [...p.querySelectorAll('.annotation-text')].map((t) => [t.textContent, t.getBoundingClientRect()])
          .filter(([, r]) => r.left < b.left - 1 || r.right > b.right + 1).map(([text]) => text); }""")
    assert out == [], out
    boxes = page.evaluate("""() => [...document.querySelectorAll('#attn-heads .annotation-text')].map((t) => {
        const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.right, r.top, r.bottom]; })""")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[1] or b[2] <= a[1] or a[4] <= b[3] or b[4] <= a[3], (a, b)


@pytest.mark.parametrize("lesson, step", [("where-does-the-answer-appear", 4), ("position-past-the-trained-length", 6),
                                          ("positional-encoding", 1), ("positional-encoding", 2), ("context", 1),
                                          ("why-divide-by-sqrt-d", 3), ("where-does-the-answer-appear", 3)])
def test_in_presenter_mode_with_a_lesson_no_plot_s_words_run_out_or_into_each_other(page: Page, need_models, lesson, step):
    """1280x720, presenter mode, a lesson open: the attribution bars' title "adds to logit(“␣her”)" ran 25 px past
    the plot's right edge (lesson 9 step 4); ALiBi's "distance: query position − key position" ran out of its plot
    and under the legend (lesson 10 step 6); the encoding's "dimension" sat over the tick labels 50 and 100 (lesson 8
    step 1); the score split's five panel titles ran into each other (both positional steps); the attention heatmap's
    twelve query labels and the similarity heatmaps' key labels, counted for smaller text, ran into each other (lessons
    8 step 2, 4 step 1); "score" sat over "−10" (lesson 6 step 3); the lens's "after attention" was slanted and cut at
    the plot's top (lesson 9 step 3)."""
    if lesson == "position-past-the-trained-length":
        need_models("tiny-alibi")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"present": 1, "lesson": lesson, "step": step}))
    step_ready(page, lesson, step)
    page.wait_for_timeout(500)
    assert page.locator("main .view:not([hidden]) .plot .main-svg").count() > 0
    assert page.evaluate(TEXT_CLASHES) + page.evaluate(XTICKS_APART) + page.evaluate(YTICKS_APART) == []


@pytest.mark.parametrize("lesson, step", [("many-heads", 1), ("attention-arithmetic", 1), ("attention-arithmetic", 2),
                                          ("positional-encoding", 1), ("where-does-the-answer-appear", 4),
                                          ("where-does-the-answer-appear", 5), ("one-hot-vs-dense-embeddings", 1)])
def test_a_lesson_beside_the_views_on_a_1024_px_projector_leaves_no_words_out_or_over_each_other(page: Page, lesson, step):
    """Presenter mode at 1024x768 with a lesson open leaves the views 606 px: at the projector's text size the
    per-head summary's titles ran into each other ("entropy (nats)" over "previous-token weight"), the score and weight
    plots' "key (every 2nd labelled; hover for all)" ran 90 px past their edge and their legends 60 px, Q, K and V three
    across (190 px each) and the Positional patterns cut "<|bos|>" 25 px, the attribution bars' "b_O 0 (attention
    output bias)" 43 px, the embeddings' paths' axis title 50 px. Where the views are narrower than 700 px the rows
    stack and the plots take the page's own text size (plot.js presenting); the summary's titles stack where two side
    by side would meet."""
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto("/?" + urlencode({"present": 1, "lesson": lesson, "step": step}))
    step_ready(page, lesson, step)
    page.wait_for_timeout(500)
    assert page.evaluate("document.getElementById('views').clientWidth") < 700
    assert page.locator("main .view:not([hidden]) .plot .main-svg").count() > 0
    assert page.evaluate(TEXT_CLASHES) + page.evaluate(TICKS_OUTSIDE) == []


@pytest.mark.parametrize("model", ["smollm2-135m", "tiny-sinusoidal"])
def test_on_a_phone_the_head_summary_titles_fit(page: Page, need_models, model):
    """SmolLM2's 30 layers on a 390 px phone: the per-head summary's panel titles sat 2% of a tall panel's height above
    it, 3 px past the plot's top edge (the upper row) and over the upper panels' head labels (the lower row)."""
    need_models(model)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "attention", "model": model}))
    ready(page, WAIT)
    page.wait_for_function("() => document.querySelectorAll('#attn-heads .annotation-text').length >= 4")
    assert page.evaluate(TEXT_CLASHES, "#attn-heads .plot") == []


@pytest.mark.parametrize("model", ["minilm-l6", "tiny-sinusoidal"])
def test_in_presenter_mode_the_grid_names_every_head_inside_its_plot(page: Page, need_models, model):
    """MiniLM's twelve heads in presenter mode: "head 0" ... "head 11" were turned and cut at the plot's bottom, so
    that every column read "head" and none said which head it was."""
    need_models(model)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "attention", "present": 1, "model": model}))
    ready(page, WAIT)
    page.wait_for_function("() => document.querySelectorAll('#attn-grid .xtick text').length > 0")
    ticks = page.evaluate("""() => { const p = document.querySelector('#attn-grid .plot');
        const b = p.querySelector('.main-svg').getBoundingClientRect();
        return [...p.querySelectorAll('.xtick text')].map((t) => { const r = t.getBoundingClientRect();
          const inside = r.left >= b.left - 1 && r.right <= b.right + 1 && r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
          return {text: t.textContent, inside, left: r.left, right: r.right,
                  turned: (t.getAttribute('transform') || '').includes('rotate')}; }); }""")
    assert all(t["inside"] and not t["turned"] for t in ticks), ticks
    assert all(a["right"] <= b["left"] for a, b in zip(ticks, ticks[1:], strict=False)), ticks


def test_a_long_text_s_labels_do_not_pile_up(page: Page):
    """A text run past the trained length (about 400 tokens): the heatmap's query axis and the Links panel name
    every k-th token, as many as have room (they drew all of them over each other, about 3 px apart)."""
    text = " ".join(["Once upon a time there was a little girl named Lily who loved to play outside in the sun."] * 18)
    page.goto("/?" + urlencode({"text": text, "view": "attention", "beyond": 1}))
    ready(page, WAIT)
    ys = page.evaluate("""() => [...document.querySelectorAll('#attn-heatmap .ytick text')]
        .map((t) => t.getBoundingClientRect().top).sort((a, b) => a - b)""")
    assert len(ys) > 20 and min(b - a for a, b in zip(ys, ys[1:], strict=False)) >= 9, ys[:10]
    expect(page.locator("#attn-heatmap .g-ytitle")).to_contain_text(re.compile(r"query \(every \d+(st|nd|rd|th) labelled\)"))
    shown = page.evaluate("""() => { const gd = document.querySelector('#attn-lines .plot');
        return { n: gd.data[0].text.length, named: gd.data[0].text.map((t, i) => [t, i]).filter(([t]) => t).map(([, i]) => i),
                 height: gd._fullLayout.height }; }""")
    rows = (shown["height"] - 20) / shown["n"]  # px per token
    gaps = [b - a for a, b in zip(shown["named"], shown["named"][1:], strict=False)]
    assert shown["n"] > 300 and min(gaps) * rows >= 9, (rows, gaps[:10])


@pytest.mark.parametrize("size, extra", [((390, 844), {}), ((390, 844), {"present": 1, "lesson": "many-heads", "step": 1})],
                         ids=["phone", "phone-presenter-lesson"])
def test_the_tabs_take_one_row_and_show_the_selected_one(page: Page, size, extra):
    """On a phone, also in presenter mode with a lesson open, the tabs scroll sideways in one row (wrapped, they were
    five rows of the part that stays on screen on a phone), and the selected one, the last here, is scrolled into sight
    (in presenter mode it was past the row's right edge: the selection's controls, drawn after, narrowed the row)."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "heads", **extra}))
    ready(page, WAIT)
    tabs = page.evaluate("""() => { const list = document.querySelector('.tablist'); const box = list.getBoundingClientRect();
        const all = [...list.querySelectorAll('[role=tab]')].map((t) => t.getBoundingClientRect());
        const sel = list.querySelector('[aria-selected=true]').getBoundingClientRect();
        return { tops: [...new Set(all.map((r) => Math.round(r.top)))], sel: [sel.left, sel.right], box: [box.left, box.right] }; }""")
    assert len(tabs["tops"]) == 1, tabs
    assert tabs["box"][0] - 1 <= tabs["sel"][0] and tabs["sel"][1] <= tabs["box"][1] + 1, tabs


# the tabs whose label is not whole in sight: cut at an edge of a row that scrolls (something else, or nothing, at either
# end of the tab), clipped inside the tab, or under a fade
TABS_NOT_WHOLE = """() => { const list = document.querySelector('.tablist');
  const faded = list.classList.contains('more-left') || list.classList.contains('more-right');
  return [...list.querySelectorAll('[role=tab]')].filter((t) => {
    const r = t.getBoundingClientRect(); const y = (r.top + r.bottom) / 2;
    const seen = (x) => { const e = document.elementFromPoint(x, y); return Boolean(e) && t.contains(e); };
    return faded || !seen(r.left + 2) || !seen(r.right - 2) || t.scrollWidth > t.clientWidth + 1 || r.right > innerWidth;
  }).map((t) => t.textContent); }"""


@pytest.mark.parametrize("view, model, size, most", [
    ("attention", "tiny-sinusoidal", (1280, 720), 2), ("heads", "tiny-sinusoidal", (1280, 720), 2),
    ("positional", "minilm-l6", (1280, 720), 2), ("attention", "smollm2-135m", (1280, 720), 2),
    ("attention", "tiny-sinusoidal", (1024, 768), 2), ("positional", "minilm-l6", (1024, 768), 2),
    ("predictions", "tiny-sinusoidal", (800, 600), 3)])
def test_presenter_mode_shows_every_tab_whole(page: Page, need_models, view, model, size, most):
    """Presenter mode on a projector: the fourteen tabs were one row scrolling sideways, a projected page shows no
    scrollbar, and most tabs were out of sight (at 1280x720 "Q / K" and "Posit" cut at its edge and the eight after
    hidden; at 1024x768, a common projector, 608 px of the 1944 px row in sight, "Embedding" cut and nine hidden). The
    tabs now wrap, the Layer / Head / Query menus at the end of the last row: every label whole, in two rows at 1280
    and 1024 px (below 1200 px in the page's own size), three at 800."""
    need_models(model)
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": view, "model": model, "present": 1}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    assert page.evaluate(TABS_NOT_WHOLE) == []
    tops = page.evaluate("""() => [...new Set([...document.querySelectorAll('.tabs [role=tab]')]
        .map((t) => Math.round(t.getBoundingClientRect().top)))]""")
    assert len(tops) <= most, tops
    menus = page.locator("#selection").bounding_box()  # (beside the tabs of the last row, inside the screen)
    assert menus and menus["x"] + menus["width"] <= width and menus["y"] >= min(tops) - 1, menus
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("lesson, step, view, size, most", [
    ("many-heads", 1, "attention", (1280, 720), 3), ("many-heads", 1, "attention", (1024, 768), 3),
    ("positional-encoding", 1, "positional", (1024, 768), 3), ("where-does-the-answer-appear", 4, "attribution", (1280, 720), 3)])
def test_presenter_mode_with_a_lesson_open_shows_every_tab_whole(page: Page, lesson, step, view, size, most):
    """Presenter mode with a lesson open: the tabs were one row scrolling sideways beside the Layer / Head / Query menus
    (at 1024x768 "Attention" and part of "Model" in sight, the twelve others hidden; at 1280x720 three and a half). They
    wrap as without a lesson, in the page's own text size: every label whole, three rows at 1024 and 1280 px, the menus
    at the end of the last, and the views as wide as before (the plots' words in them, none over another)."""
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page.goto("/?" + urlencode({"present": 1, "lesson": lesson, "step": step}))
    step_ready(page, lesson, step)
    expect(page.locator(f"main .view[data-view={view}]")).to_be_visible()
    page.wait_for_timeout(300)
    assert page.evaluate(TABS_NOT_WHOLE) == []
    tops = page.evaluate("""() => [...new Set([...document.querySelectorAll('.tabs [role=tab]')]
        .map((t) => Math.round(t.getBoundingClientRect().top)))]""")
    assert len(tops) <= most, tops
    menus = page.locator("#selection").bounding_box()
    assert menus and menus["x"] + menus["width"] <= page.evaluate("document.getElementById('views').getBoundingClientRect().right") + 1
    assert menus["y"] >= min(tops) - 1, menus
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(TEXT_CLASHES) + page.evaluate(TICKS_OUTSIDE) == []


@pytest.mark.parametrize("lesson, step, view", [("attention-arithmetic", 3, "arithmetic"), ("many-heads", 1, "attention")])
def test_presenter_mode_with_a_lesson_open_at_800x600_leaves_the_view_half_the_screen(page: Page, lesson, step, view):
    """Presenter mode at 800x600 with a lesson open: the lesson is a panel over the lower 46% of the screen, and the
    token strip and the three rows of tabs, sticky at the top, took 217 px more: the page scrolled to the view showed
    107 px of it (167 outside presenter mode). Scrolled to the view, it gets at least half the screen; at the page's
    top every tab is whole, and the plots' words stay clear of each other."""
    page.set_viewport_size({"width": 800, "height": 600})
    page.goto("/?" + urlencode({"present": 1, "lesson": lesson, "step": step}))
    step_ready(page, lesson, step)
    expect(page.locator(f"main .view[data-view={view}]")).to_be_visible()
    page.wait_for_timeout(300)
    page.evaluate("() => window.scrollTo(0, 0)")  # (many-heads 1 scrolls to its head's tile in the grid)
    assert page.evaluate(TABS_NOT_WHOLE) == []
    seen = page.evaluate("""() => {
      const v = document.querySelector('main .view:not([hidden])');
      window.scrollTo(0, v.getBoundingClientRect().top + window.scrollY);
      const box = v.getBoundingClientRect(), sheet = document.querySelector('#lesson-panel').getBoundingClientRect();
      const strip = document.querySelector('.sticky').getBoundingClientRect();
      return { shown: Math.min(box.bottom, sheet.top, innerHeight) - Math.max(box.top, strip.bottom, 0),
               view: [box.top, box.bottom], strip: strip.bottom, sheet: sheet.top }; }""")
    assert seen["shown"] >= 600 / 2, seen
    assert page.evaluate(TEXT_CLASHES) + page.evaluate(TICKS_OUTSIDE) == []


# the tabs and the Layer / Head / Query menus whose box is not whole in sight: at its centre or at the middle of one of its
# edges (2 px in; a corner is rounded off), what the page shows is not it or inside it
TABS_COVERED = """() => [...document.querySelectorAll('.tabs [role=tab], #selection select, #selection .query')].filter((t) => {
  const r = t.getBoundingClientRect();
  const x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
  const points = [[x, y], [x, r.top + 2], [x, r.bottom - 2], [r.left + 2, y], [r.right - 2, y]];
  return points.some(([x, y]) => { const e = document.elementFromPoint(x, y); return !e || !t.contains(e); });
}).map((t) => t.id || t.textContent.trim())"""


@pytest.mark.parametrize("lesson, step, text", [
    ("attention-arithmetic", 3, None), ("many-heads", 1, None),
    ("attention-arithmetic", 3, "The old lighthouse keeper climbed the narrow stairs every evening to light the lamp for "
                                "the ships that passed the rocks.")], ids=["arithmetic", "grid", "two-line-sentence"])
def test_presenter_mode_with_a_lesson_open_at_800x600_shows_the_tabs_and_menus_whole_at_the_top(page: Page, lesson, step, text):
    """Presenter mode at 800x600 with a lesson open, the page at its top: the controls, the token strip and the three
    rows of tabs took 332 px, and the lesson's panel over the lower 46% of the screen began at 324 px: the bottom of the
    third row (Heads, the Layer and Head menus, the query) was under it until the page was scrolled. The panel now
    starts below the tabs (no higher than 46% of the screen from the foot, no lower than 30%): every tab and menu is
    whole in sight, with a sentence of two lines too (the tabs down to 361 px), and with no banner above the tabs the
    sheet keeps 38% of the screen."""
    page.set_viewport_size({"width": 800, "height": 600})
    page.goto("/?" + urlencode({"present": 1, "lesson": lesson, "step": step, **({"text": text} if text else {})}))
    step_ready(page, lesson, step)
    page.wait_for_timeout(300)
    page.evaluate("() => window.scrollTo(0, 0)")
    assert page.evaluate(TABS_COVERED) == []
    sheet = page.locator("#lesson-panel").bounding_box()
    assert sheet["height"] >= 600 * 0.38 - 1, sheet


LONG_SENTENCE = ("The old lighthouse keeper climbed the narrow stairs every evening to light the lamp for the ships that "
                 "passed the rocks.")

# the first line of the step's text after its title (the body, or a note before it), whole between the sheet's top and
# Previous / Next: [its top, its bottom, the sheet's top, the nav's top], or null where the step has no such line
STEP_TEXT_SEEN = """() => { const panel = document.querySelector('#lesson-panel');
  const walk = document.createTreeWalker(panel.querySelector('.step-title').nextElementSibling, NodeFilter.SHOW_TEXT);
  let node = walk.nextNode();
  while (node && !node.textContent.trim()) node = walk.nextNode();
  if (!node) return null;
  const range = document.createRange(); range.selectNodeContents(node);
  const first = range.getClientRects()[0];
  const nav = panel.querySelector('.lesson-nav');
  return [first.top, first.bottom, panel.getBoundingClientRect().top, nav.getBoundingClientRect().top]; }"""


@pytest.mark.parametrize("step, text", [(2, None), (3, None), (2, LONG_SENTENCE), (3, LONG_SENTENCE)],
                         ids=["removed", "shuffled", "removed-two-lines", "shuffled-two-lines"])
def test_presenter_mode_at_800x600_with_a_lesson_s_banner_shows_the_tabs_and_the_step_s_text(page: Page, step, text):
    """Presenter mode at 800x600, lesson 8 with the positions removed or shuffled: the intervention's banner above the
    controls moved the tabs down to 376 px (404 with a sentence of two lines), and the sheet, kept to 38% of the
    screen, began at 372: "Heads" and the Layer and Head menus under it. In the 228 px it had, the kicker, the title,
    the step dots, the step's title and Previous / Next left the step's text out of sight. Now every tab and menu is
    whole at the page's top and the first line of the step's text is in the sheet (its head on one line, the banner
    smaller)."""
    page.set_viewport_size({"width": 800, "height": 600})
    page.goto("/?" + urlencode({"present": 1, "lesson": "positional-encoding", "step": step, **({"text": text} if text else {})}))
    step_ready(page, "positional-encoding", step)
    expect(page.locator("#intervention-banner")).to_be_visible()
    page.wait_for_timeout(300)
    page.evaluate("() => window.scrollTo(0, 0)")
    assert page.evaluate(TABS_COVERED) == []
    line = page.evaluate(STEP_TEXT_SEEN)
    assert line and line[0] >= line[2] and line[1] <= line[3], line


@pytest.mark.parametrize("size, extra", [((390, 844), {})], ids=["phone"])
def test_a_tab_row_that_scrolls_fades_where_it_hides_tabs(page: Page, size, extra):
    """Where the tabs scroll sideways, the row fades out at each side that hides a tab (classes more-left and
    more-right), and the selected tab is scrolled clear of the fades; scrolled to the start, the left fade goes."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "predictions", **extra}))
    ready(page, WAIT)
    probe = """() => { const list = document.querySelector('.tablist'); const box = list.getBoundingClientRect();
        const tabs = [...list.querySelectorAll('[role=tab]')].map((t) => t.getBoundingClientRect());
        const sel = list.querySelector('[aria-selected=true]').getBoundingClientRect();
        const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
        return { hiddenLeft: tabs.some((r) => r.left < box.left - 1), hiddenRight: tabs.some((r) => r.right > box.right + 1),
                 left: list.classList.contains('more-left'), right: list.classList.contains('more-right'),
                 mask: getComputedStyle(list).maskImage, sel: [sel.left - box.left, box.right - sel.right], fade: 3 * rem }; }"""
    row = page.evaluate(probe)
    assert row["hiddenRight"] and row["right"] and row["left"] == row["hiddenLeft"], row
    assert "gradient" in row["mask"], row
    assert min(row["sel"]) >= row["fade"] - 1, row  # the selected tab: not under a fade
    page.evaluate("() => { document.querySelector('.tablist').scrollLeft = 0; }")
    expect(page.locator(".tablist")).not_to_have_class(re.compile(r"more-left"))
    page.locator("#tokens .tok").nth(1).hover()  # the page draws again: the row stays where the student scrolled it
    page.locator("#tokens .tok").nth(2).hover()
    page.wait_for_timeout(300)
    row = page.evaluate(probe)
    assert not row["hiddenLeft"] and row["hiddenRight"] and row["right"], row
    assert page.evaluate("document.querySelector('.tablist').scrollLeft") == 0


@pytest.mark.parametrize("size, extra", [((1280, 800), {"lesson": "similarity-and-vector-arithmetic", "step": 3}),
                                         ((390, 844), {})], ids=["lesson-open", "phone"])
def test_the_analogy_row_breaks_between_terms(page: Page, size, extra):
    """a − b + c ≈ expected on a narrow row: where it breaks, each sign stays on the line of the box after it (the ≈
    was left at the end of a line, its box alone on the next)."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "embeddings", **extra}))
    ready(page, WAIT)
    rows = page.evaluate("""() => {
      const form = document.querySelector('[data-part="anform"]');
      const mid = (el) => { const r = el.getBoundingClientRect(); return (r.top + r.bottom) / 2; };
      const items = [...form.querySelectorAll('span, input, button')].filter((el) => !el.classList.contains('term'));
      return items.map((el) => [el.tagName === 'SPAN' ? el.textContent.trim() : el.name || el.tagName, Math.round(mid(el))]);
    }""")
    lines = sorted({y for _, y in rows})
    assert len(lines) >= 2, rows  # the row does break at this width
    for (label, y), (box, y2) in zip(rows, rows[1:], strict=False):
        if label in ("Analogy:", "−", "+", "≈"):
            assert abs(y - y2) <= 2, (label, box, rows)


@pytest.mark.parametrize("size, extra", [((1280, 800), {}), ((1280, 720), {"present": 1}), ((390, 844), {})],
                         ids=["desktop", "presenter", "phone"])
def test_the_token_strip_shows_whole_rows(page: Page, size, extra):
    """A sentence of many rows of tokens: the strip shows two whole rows and scrolls for the rest; no row is cut
    through (the second one was at 390x844, a third at 1280x800), also once it has scrolled the query (the last
    token) into sight: the rows before it are hidden above."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": " ".join([SENTENCE] * 4), **extra}))
    ready(page, WAIT)
    rows = page.evaluate("""() => {
      const strip = document.getElementById('tokens').getBoundingClientRect();
      const top = strip.top + 4, bottom = strip.bottom - 4;  // inside its padding
      return [...document.querySelectorAll('#tokens .tok')].map((c) => c.getBoundingClientRect())
        .map((r) => r.top >= bottom - 1.5 ? 'below' : r.bottom <= top + 1.5 ? 'above'
          : r.top >= top - 1.5 && r.bottom <= bottom + 1.5 ? 'shown' : `cut ${r.top - top}-${r.bottom - top}`);
    }""")
    hidden = rows.count("below") + rows.count("above")
    assert hidden > 0 and rows[-1] == "shown" and not [r for r in rows if r.startswith("cut")], rows


STRIP_CHIPS = """() => {
  const strip = document.getElementById('tokens'); const b = strip.getBoundingClientRect();
  const sideways = getComputedStyle(strip).flexWrap === 'nowrap';
  const lo = sideways ? b.left + strip.clientLeft : b.top + strip.clientTop;
  const hi = lo + (sideways ? strip.clientWidth : strip.clientHeight);
  return [...strip.querySelectorAll('.tok')].map((c) => { const r = c.getBoundingClientRect();
    const [s, e] = sideways ? [r.left, r.right] : [r.top, r.bottom];
    return { index: Number(c.dataset.index), shown: s >= lo - 1.5 && e <= hi + 1.5 }; });
}"""


@pytest.mark.parametrize("size, extra", [((1280, 800), {}), ((1280, 720), {"present": 1, "lesson": "positional-encoding"}),
                                         ((390, 844), {})], ids=["desktop", "presenter-lesson", "phone"])
def test_a_long_text_s_strip_says_which_tokens_it_hides_and_shows_them_on_a_click(page: Page, size, extra):
    """A sentence of ~70 tokens: the strip scrolls to the query (the last token), and the first tokens, BOS among them,
    were out of sight with nothing on the page to say so where scroll bars show only while scrolling (a phone, a Mac).
    The cue by the strip names the tokens hidden before what is in sight; a click scrolls the strip to its start, BOS
    in sight, and the cue then names the tokens hidden after, up to the last; a click on that brings them back."""
    text = ("Once upon a time there was a little girl named Lily who lived in a small house near the big forest with her "
            "mother and her father and her little brown dog called Max. Every morning she would wake up early and run "
            "outside to play in the garden where the flowers were bright and the birds sang happy songs all day long.")
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": text, **extra}))
    ready(page, WAIT)
    chips = page.evaluate(STRIP_CHIPS)
    last = chips[-1]["index"]
    assert chips[-1]["shown"] and not chips[0]["shown"], chips
    first_shown = next(c["index"] for c in chips if c["shown"])
    cue = page.locator("#tokens-cue")
    start, end = cue.locator('button[data-to="start"]'), cue.locator('button[data-to="end"]')
    expect(start).to_be_visible()
    expect(start).to_contain_text(f"tokens 0–{first_shown - 1} ")
    expect(end).to_be_hidden()
    start.click()
    page.wait_for_function(f"() => ({STRIP_CHIPS})()[0].shown")
    chips = page.evaluate(STRIP_CHIPS)
    after = [c["index"] for c in chips if not c["shown"]]
    expect(start).to_be_hidden()
    expect(end).to_contain_text(f"tokens {after[0]}–{last} ")
    end.click()
    page.wait_for_function(f"() => ({STRIP_CHIPS})().at(-1).shown")
    expect(end).to_be_hidden()
    expect(start).to_be_visible()


def test_the_strip_s_cue_shares_the_legend_s_line(page: Page):
    """Presenter mode with a lesson at 1280x720 scrolls the strip sideways past BOS: the cue "◂ token 0 before" took a
    line of its own above the legend's, 24 px less for the plot; it now starts the legend's line."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"present": 1, "lesson": "attention-arithmetic", "step": 5, "view": "attention"}))
    step_ready(page, "attention-arithmetic", 5)
    cue = page.locator('#tokens-cue button[data-to="start"]')
    expect(cue).to_be_visible()
    legend = page.locator("#token-legend .legend-item").first
    a, b = cue.bounding_box(), legend.bounding_box()
    assert abs(a["y"] - b["y"]) < 0.6 * a["height"] and a["x"] + a["width"] <= b["x"], (a, b)


def test_the_token_strip_scrolled_sideways_cuts_no_token_at_its_edge(page: Page):
    """Presenter mode with a lesson at 1280x720: the strip is one row that scrolls sideways. Bringing the query (token
    10) into sight scrolled it to its end, leaving "|>" of <|bos|> cut at its left edge; now its left edge is a
    token's start, and the query and its neighbours are whole."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"present": 1, "lesson": "positional-encoding", "step": 5}))
    step_ready(page, "positional-encoding", 5)
    chips = page.evaluate("""() => {
      const strip = document.getElementById('tokens'); const b = strip.getBoundingClientRect();
      const left = b.left + strip.clientLeft, right = left + strip.clientWidth;
      return [...strip.querySelectorAll('.tok')].map((c) => { const r = c.getBoundingClientRect();
        return { index: Number(c.dataset.index), selected: c.classList.contains('selected'),
                 where: r.right <= left + 0.5 ? 'left' : r.left >= right - 0.5 ? 'right'
                   : r.left >= left - 0.5 && r.right <= right + 0.5 ? 'shown' : 'cut' }; });
    }""")
    assert page.evaluate("document.getElementById('tokens').scrollLeft") > 0, chips  # it did scroll sideways
    assert [c for c in chips if c["where"] == "cut"] == [], chips
    q = next(i for i, c in enumerate(chips) if c["selected"])
    assert chips[q]["index"] == 10 and all(c["where"] == "shown" for c in chips[q - 1:q + 2]), chips


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_arithmetic_view_shows_every_number_of_the_query(page: Page, size):
    """The query vector's line holds all d_head numbers on screen (it ran past the panel's edge after 22 of the
    default model's 40, scrolling sideways with no scroll bar showing)."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "arithmetic"}))
    ready(page, WAIT)
    line = page.evaluate("""() => { const v = document.querySelector('#panel-arithmetic .qvec .vec');
      const r = v.getBoundingClientRect();
      return {numbers: v.textContent.trim().split(/\\s+/).length, scroll: v.scrollWidth, width: v.clientWidth,
              right: r.right, page: document.documentElement.clientWidth}; }""")
    label = page.locator("#panel-arithmetic .qvec .label").inner_text()
    assert label == f"q ({line['numbers']} numbers)" and line["numbers"] == 40, (label, line)
    assert line["scroll"] <= line["width"] and line["right"] <= line["page"], line


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-alibi"])
def test_on_a_phone_the_score_split_puts_two_terms_to_a_row(page: Page, need_models, model):
    """The positional view's split of the scores (four terms and the total; under ALiBi also the bias): on a phone two
    plots to a row, their titles clear of each other and each plot wide enough to read (five or six in one row of
    375 px: titles over each other, plots 38 to 45 px wide)."""
    need_models(model)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"text": SENTENCE, "model": model, "view": "positional"}))
    ready(page, WAIT)
    page.wait_for_function("() => document.querySelector('[data-part=\"decompose\"] .plot')?._fullLayout?.grid")
    got = page.evaluate("""() => { const gd = document.querySelector('[data-part="decompose"] .plot');
        const titles = [...gd.querySelectorAll('.annotation')].map((a) => { const r = a.getBoundingClientRect();
          return [r.left, r.right, r.top, r.bottom]; });
        const widths = Object.keys(gd._fullLayout).filter((k) => k.startsWith('xaxis')).map((k) => gd._fullLayout[k]._length);
        return { titles, widths, grid: [gd._fullLayout.grid.rows, gd._fullLayout.grid.columns], n: gd.data.length }; }""")
    assert got["grid"] == [math.ceil(got["n"] / 2), 2] and got["n"] == (6 if model == "tiny-alibi" else 5), got
    assert min(got["widths"]) >= 100, got  # (in one row: 45 px each, 38 under ALiBi)
    boxes = got["titles"]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2], (a, b)


@pytest.mark.parametrize("size, extra", [((1280, 720), {"present": 1, "lesson": "positional-encoding", "step": 1}),
                                         ((390, 844), {})], ids=["presenter-lesson", "phone"])
def test_the_position_similarity_shows_only_positions_that_exist(page: Page, size, extra):
    """The square cosine heatmap (its y axis scaled to its x axis) fits a narrow or a wide panel by its domain: its
    axes run over the positions there are, never below 0 (they did at 1280x720 with the lesson panel open)."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "positional", **extra}))
    ready(page, WAIT)
    page.wait_for_function("() => document.querySelector('[data-part=\"possim\"] .plot')?._fullLayout?.yaxis")
    n, xr, yr = page.evaluate("""() => { const gd = document.querySelector('[data-part="possim"] .plot');
        return [gd.data[0].z.length, gd._fullLayout.xaxis.range, gd._fullLayout.yaxis.range]; }""")
    assert xr == [-0.5, n - 0.5] and yr == [n - 0.5, -0.5], (n, xr, yr)


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "minilm-l6"])
def test_no_element_marked_hidden_is_shown(page: Page, need_models, model):
    """Every view, drawn: no element that the page marks `hidden` is displayed (a stylesheet rule that sets `display`
    on its class overrides the attribute unless a `[hidden]` rule of its own follows). On the default model and on an
    encoder, where the parts that do not apply are hidden."""
    need_models(model)
    page.goto("/")
    ready(page)
    views = [v["id"] for v in page.request.get("/api/meta").json()["views"]]
    for view in views:
        page.goto("/?" + urlencode({"model": model, "view": view, "text": SENTENCE}))
        ready(page)
        shown = page.evaluate("""() => [...document.querySelectorAll('[hidden]')]
            .filter((e) => getComputedStyle(e).display !== 'none')
            .map((e) => `${e.tagName.toLowerCase()}.${e.className}${e.dataset.part ? ` [${e.dataset.part}]` : ''}`)""")
        assert shown == [], f"{view} on {model}: {shown}"


def test_presenter_mode_keeps_the_comparisons_to_try(page: Page, shot):
    """Presenter mode hides the sentence examples of the header, not the Compare view's: the view's notice asks to
    try one, and a teacher runs one with a click."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "compare", "present": 1}))
    ready(page, WAIT)
    assert not page.locator("header .examples").is_visible()
    tries = page.locator(".compare-examples button[data-example]")
    assert tries.count() >= 3 and tries.first.is_visible()
    tries.first.click()
    ready(page, WAIT)
    shot(page, "presenter-compare", full_page=False)
    assert url_state(page).get("text2")  # the example gave side b its sentence


def test_presenter_mode_labels_the_position_that_differs_in_compare(page: Page, shot):
    """The trophy example in presenter mode at 1280x720: the difference's key axis labels every 2nd of 17 tokens, and
    "␣big / ␣small" (position 15, which its caption names) was one it skipped; both sides' axes skipped it too."""
    page.set_viewport_size({"width": 1280, "height": 720})
    text = "The trophy does not fit in the suitcase because it is too big."
    page.goto("/?" + urlencode({"view": "compare", "present": 1, "text": text, "text2": text.replace("big", "small")}))
    ready(page, WAIT)
    ticks = page.evaluate("""() => Object.fromEntries(['a', 'b', 'diff'].map((p) => {
      const ax = document.querySelector(`#panel-compare [data-part="${p}"] .plot`).layout.xaxis;
      return [p, { step: ax.tickvals[1] - ax.tickvals[0], text: ax.ticktext[ax.tickvals.indexOf(15)] }]; }))""")
    assert ticks["diff"]["step"] > 1, ticks  # (a step that labels every token would prove nothing)
    assert (ticks["a"]["text"], ticks["b"]["text"], ticks["diff"]["text"]) == ("␣big", "␣small", "␣big / ␣small"), ticks
    expect(page.locator('#panel-compare [data-part="diff"] .xtick text', has_text="␣big / ␣small")).to_have_count(1)
    page.locator('#panel-compare [data-part="diff"]').scroll_into_view_if_needed()
    shot(page, "presenter-difference", full_page=False)


@pytest.mark.parametrize("size, extra", [((1280, 800), {}), ((390, 844), {}), ((1280, 720), {"present": 1})],
                         ids=["desktop", "phone", "presenter"])
def test_the_similarity_heatmaps_print_numbers_only_where_they_fit(page: Page, size, extra):
    """The Embeddings view's three heatmaps print a cell's number only where it fits in the cell (the attention and
    positional views' rule, numbersFit): on a phone and in presenter mode they printed twelve tokens' numbers wider
    than their cells, over each other ("0.11-0.03-0.02...")."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "embeddings", **extra}))
    ready(page, WAIT)
    cells = page.evaluate("""() => ['onehot', 'dense', 'depth'].map((p) => {
      const gd = document.querySelector(`[data-part="${p}"] .plot`);
      const texts = [...gd.querySelectorAll('.heatmaplayer text')].filter((t) => t.textContent.trim());
      return { p, numbers: texts.length, cell: gd._fullLayout.xaxis._length / gd.data[0].z.length,
               widest: Math.max(0, ...texts.map((t) => t.getBBox().width)) }; })""")
    assert all(c["widest"] + 2 <= c["cell"] for c in cells), cells
    if size == (1280, 800):
        assert all(c["numbers"] for c in cells), cells  # (where they fit, the numbers are printed)


def test_large_dot_products_are_not_printed_over_each_other(page: Page, need_models):
    """SmolLM2's dot products after block 19 run to 472,991,234.56: the depth heatmap printed them with two decimals
    in cells 37 px wide, a row of overlapping digits."""
    need_models("smollm2-135m")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "embeddings", "model": "smollm2-135m", "metric": "dot",
                                "depth": 20}))
    ready(page, WAIT)
    cells = page.evaluate("""() => ['dense', 'depth'].map((p) => {
      const gd = document.querySelector(`[data-part="${p}"] .plot`);
      const texts = [...gd.querySelectorAll('.heatmaplayer text')].filter((t) => t.textContent.trim());
      return { p, numbers: texts.length, cell: gd._fullLayout.xaxis._length / gd.data[0].z.length,
               widest: Math.max(0, ...texts.map((t) => t.getBBox().width)) }; })""")
    assert all(c["widest"] + 2 <= c["cell"] for c in cells), cells
    assert cells[0]["numbers"], cells  # (the token embedding's dot products are small: they still fit, and show)


@pytest.mark.parametrize("size, extra", [((1280, 800), {}), ((390, 844), {}), ((1280, 720), {"present": 1})],
                         ids=["desktop", "phone", "presenter"])
def test_a_long_text_s_heatmap_labels_do_not_run_into_each_other(page: Page, size, extra):
    """At 110 tokens in presenter mode the query axis labelled every 4th token, 26 labels of the presenter's larger
    text in 260 px, one illegible column; on a phone the key axis put 35 slanted labels in about 210 px."""
    text = " ".join(["Once upon a time there was a little girl named Lily who loved to play in the park with her dog."] * 5)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": text, "model": "tiny-rotary", "view": "attention", **extra}))
    ready(page, WAIT)
    boxes = page.evaluate("""() => ['ytick', 'xtick'].map((k) => [...document.querySelectorAll(`#attn-heatmap .${k} text`)]
      .map((t) => { const r = t.getBoundingClientRect();
                    return [r.top, r.bottom, r.left, r.right, parseFloat(getComputedStyle(t).fontSize)]; }))""")
    ys = sorted(boxes[0])
    assert len(ys) > 5 and all(a[1] <= b[0] + 1 for a, b in zip(ys, ys[1:], strict=False)), ys  # one under another
    # slanted 45°: the lines of two labels are apart by their spacing along the axis / √2, at least the text's size
    xs = sorted(boxes[1], key=lambda r: r[3])  # (each ends at its tick)
    assert len(xs) > 5 and all((b[3] - a[3]) / 1.414 >= 0.9 * a[4] for a, b in zip(xs, xs[1:], strict=False)), xs


# every plot's key-axis labels: upright ones side by side, slanted ones apart by at least their text's size across
XTICKS_APART = """() => [...document.querySelectorAll('main .view:not([hidden]) .plot')].flatMap((gd) => {
  const name = gd.closest('[data-part]') ? gd.closest('[data-part]').dataset.part : gd.parentElement.id;
  return [...gd.querySelectorAll('.xaxislayer-above, .xaxislayer-below')].flatMap((layer) => {
    const ts = [...layer.querySelectorAll('.xtick text')].filter((t) => t.textContent).map((t) => {
      const r = t.getBoundingClientRect();
      return { s: t.textContent, slanted: /rotate\\((?!0[,)])/.test(t.getAttribute('transform') || ''), left: r.left, right: r.right,
               size: parseFloat(getComputedStyle(t).fontSize) };
    }).sort((a, b) => a.right - b.right);
    return ts.slice(1).map((b, i) => [ts[i], b]).filter(([a, b]) =>
      a.slanted || b.slanted ? (b.right - a.right) / 1.414 < 0.9 * a.size : a.right > b.left + 1)
      .map(([a, b]) => `${name}: ${a.s} | ${b.s}`);
  });
})"""


@pytest.mark.parametrize("view", ["attention", "arithmetic", "embeddings"])
def test_on_a_phone_a_short_sentence_s_key_labels_do_not_run_into_each_other(page: Page, view):
    """Eight tokens on a 390 px phone: the key axes drew their labels upright (slanted only past 8 tokens), 24 px
    apart, so "<|bos|>" ran into "The" and "␣the" into "␣mat"; they are slanted where upright ones would overlap."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"text": "The cat sat on the mat.", "view": view}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    assert page.locator("main .view:not([hidden]) .xtick text").count() > 0
    assert page.evaluate(XTICKS_APART) == []


YTICKS_APART = """() => [...document.querySelectorAll('main .view:not([hidden]) .plot')].flatMap((gd) => {
  const name = gd.closest('[data-part]') ? gd.closest('[data-part]').dataset.part : gd.parentElement.id;
  const ts = [...gd.querySelectorAll('.ytick text')].filter((t) => t.textContent)
    .map((t) => ({ s: t.textContent, r: t.getBoundingClientRect() })).sort((a, b) => a.r.top - b.r.top);
  return ts.slice(1).map((b, i) => [ts[i], b]).filter(([a, b]) => a.r.bottom > b.r.top + 1)
    .map(([a, b]) => `${name}: ${a.s} | ${b.s}`);
})"""


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_compare_labels_every_kth_token_of_a_long_text(page: Page, size):
    """Two sides of 96 tokens: the Compare view's heatmaps labelled every token on both axes, a pile of labels
    over each other (as the attention view does, they name every k-th token, as many as have room)."""
    text = " ".join(["Once upon a time there was a little girl named Lily who loved to play in the park."] * 5)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": text, "view": "compare", "text2": text.replace("Lily", "Sue")}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    assert page.locator('#panel-compare [data-part="a"] .ytick text').count() > 5
    assert page.evaluate(XTICKS_APART) == []
    assert page.evaluate(YTICKS_APART) == []


def test_a_long_text_s_positional_family_says_which_keys_it_labels(page: Page, need_models):
    """The five models' strip at 1280x800 labels every k-th key of a long text, and its panels (about 96 px of plot)
    are too narrow for the key axis's title: nothing said so. Each caption says it ("Labelled: every 20th key"), as
    the four terms' caption does."""
    need_models("tiny-alibi")
    long_text_view(page, (1280, 800), "positional")
    family = '#panel-positional [data-part^="m-"]'
    page.wait_for_function(f"() => [...document.querySelectorAll('{family} .plot')]"
                           ".filter((p) => p.querySelector('.main-svg')).length >= 5")
    panels = page.evaluate(f"""() => [...document.querySelectorAll('{family}')].map((f) => ({{
        caption: f.querySelector('.caption').textContent, title: f.querySelector('.plot').layout.xaxis.title }}))""")
    assert len(panels) == 5, panels
    for p in panels:
        assert p["title"] is None and re.search(r"Labelled: every \d+(st|nd|rd|th) key", p["caption"]), p


def long_text_view(page: Page, size: tuple[int, int], view: str) -> None:
    """`view` at this window size on a text of 96 tokens (the same sentence five times), drawn."""
    text = " ".join(["Once upon a time there was a little girl named Lily who loved to play in the park."] * 5)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": text, "view": view}))
    ready(page, WAIT)
    page.wait_for_timeout(300)


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_arithmetic_bars_label_every_kth_key_of_a_long_text(page: Page, size):
    """96 keys: the score and weight bars labelled every key, a slanted pile (every k-th, as many as have room;
    hover names every key)."""
    long_text_view(page, size, "arithmetic")
    assert page.locator('#panel-arithmetic [data-part="scores"] .xtick text').count() > 5
    assert page.evaluate(XTICKS_APART) == []
    expect(page.locator('#panel-arithmetic [data-part="scores"] .g-xtitle')).to_contain_text(re.compile(r"every \d+(st|nd|rd|th)"))


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desktop"])
def test_a_long_text_s_similarity_labels_have_room(page: Page, size):
    """The Embeddings view's heatmaps labelled 36 tokens across whatever the plot's width: on a phone about 8 px apart,
    slanted over each other; they label as many as have room."""
    long_text_view(page, size, "embeddings")
    assert page.locator("main .view:not([hidden]) .xtick text").count() > 5
    assert page.evaluate(XTICKS_APART) == []


def test_on_a_phone_the_per_position_table_shows_its_check_marks_without_scrolling(page: Page):
    """At 390x844 the table of the predictions was wider than its box (its headers "predicted next" and "actual next"
    on one line each): its last column, the ✓ its caption starts with, lay past the right edge."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"text": "Once upon a time there was a little girl named Lily", "view": "predictions"}))
    ready(page, WAIT)
    wrap = page.locator("#panel-predictions .table-wrap")
    sizes = wrap.evaluate("(w) => ({box: w.clientWidth, table: w.scrollWidth})")
    assert sizes["table"] <= sizes["box"], sizes
    mark = page.locator("#panel-predictions table.perpos td.mark", has_text="✓").first
    box, cell = wrap.bounding_box(), mark.bounding_box()
    assert cell["x"] + cell["width"] <= box["x"] + box["width"] + 1


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desktop"])
def test_the_beyond_attention_heatmaps_label_as_many_keys_as_have_room(page: Page, size):
    """Beyond attention on a phone: its five heatmaps labelled 24 keys (every key up to 24) across a plot about 250 px
    wide, slanted over each other; they label every k-th key, as many as have room, as the attention heatmap does."""
    text = "Once upon a time there was a little girl named Lily who loved to play in the park with her dog Max."
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": text, "view": "effects"}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    n = len(api(page, "/api/analyze", {"text": text})["tokens"])
    assert n >= 24, n
    assert page.locator('#panel-effects [data-part="raw"] .xtick text').count() > 3
    assert page.evaluate(XTICKS_APART) == []


@pytest.mark.parametrize("model, view", [("tiny-sinusoidal", v) for v in ("attention", "embeddings", "positional", "compare",
                                                                          "effects")]
                         + [("smollm2-135m", v) for v in ("attribution", "effects", "compare", "lens")])
def test_in_presenter_mode_no_plot_s_words_run_into_each_other(page: Page, need_models, model, view):
    """Presenter mode at 1280x720, the presenter's larger labels: the key labels of the narrow heatmaps (positions
    normal/removed/shuffled, the five-model strip, Compare, Beyond attention's three to a row) were counted for the
    smaller ones, slanted over each other; the per-head summary's lower titles touched the head labels above; the
    paths' "axis 2" and the similarity's "position" sat over their tick labels; SmolLM2's attribution heatmap drew its
    30 layer labels over each other and "layer" over them, and its logit lens its 31 depths' labels (rows 18 px apart
    for labels 20 px high)."""
    need_models(model)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": view, "model": model, "present": 1}))
    ready(page, WAIT)
    page.wait_for_timeout(500)
    assert page.locator("main .view:not([hidden]) .xtick text").count() > 0
    assert page.evaluate(XTICKS_APART) + page.evaluate(YTICKS_APART) + page.evaluate(TEXT_CLASHES) == []


# the panels side by side (their boxes' tops within a pixel) whose captions do not start level: a title that took more
# lines than its neighbours' and pushed its plot below theirs
TITLES_UNLEVEL = """() => {
  const figs = [...document.querySelectorAll('main .view:not([hidden]) figure.panel')].filter((f) => f.offsetParent)
    .map((f) => ({ name: f.dataset.part, top: f.getBoundingClientRect().top,
                   below: f.querySelector(':scope > figcaption').getBoundingClientRect().bottom - f.getBoundingClientRect().top }));
  return figs.flatMap((a, i) => figs.slice(i + 1).filter((b) => Math.abs(a.top - b.top) <= 1 && Math.abs(a.below - b.below) > 1)
    .map((b) => `${a.name} (title to ${a.below.toFixed(0)} px) | ${b.name} (${b.below.toFixed(0)} px)`));
}"""


# the panels side by side (their boxes' tops within a pixel) whose plots do not start level (within 2 px): a caption or
# title longer than its neighbours' that pushed its plot below theirs
PLOTS_UNLEVEL = """() => {
  const figs = [...document.querySelectorAll('main .view:not([hidden]) figure.panel')].filter((f) => f.offsetParent)
    .map((f) => ({ name: f.dataset.part, top: f.getBoundingClientRect().top, plot: f.querySelector(':scope > .plot') }))
    .filter((f) => f.plot && f.plot.offsetParent).map((f) => ({ ...f, start: f.plot.getBoundingClientRect().top }));
  return figs.flatMap((a, i) => figs.slice(i + 1).filter((b) => Math.abs(a.top - b.top) <= 1 && Math.abs(a.start - b.start) > 2)
    .map((b) => `${a.name} (plot at ${(a.start - a.top).toFixed(0)} px) | ${b.name} (${(b.start - b.top).toFixed(0)} px)`));
}"""


# a token × token or token × dimension panel of each view that keeps the selected query labelled, as Beyond attention
LABELS_THE_QUERY = {"compare": "diff", "positional": "normal", "effects": "raw", "qkv": "v"}


def test_in_presenter_mode_a_30_token_sentence_s_heatmaps_label_apart_and_line_up(page: Page):
    """Thirty tokens in presenter mode at 1280x720: the heatmaps took fixed room for their labels (Beyond attention,
    Positional, Q/K/V), 11.6 px apart down a plot for labels 15 px high; "Layer 0: attention, mean of the heads" and
    Compare's "a · tiny-sinusoidal · layer 0 · head 0" took two lines and put their plots below their neighbours'.
    The panels side by side start their plots level whatever their captions (PLOTS_UNLEVEL): Rollout's three-line
    caption put its plot 208 px below the row's, Compare's difference's 69 px, V's 23 px below Q and K, Attribution's
    bars 23 px above the heads' map, the Logit lens's table 4 px below the map of the same depths, the attention view's
    per-head summary (its caption a paragraph) well below the grid of every head.
    One sentence, every view with heatmaps, the query labelled in Beyond attention, Compare, Positional and Q/K/V
    (every 2nd token labelled: query 7 had none but in Beyond attention, and the default query, the last token, none in
    any, since they kept the state's token, which is none until one is picked)."""
    text = ("The old fisherman walked slowly along the quiet harbour while the children laughed and the gulls circled "
            "above the boats")
    assert len(api(page, "/api/analyze", {"text": text})["tokens"]) == 30
    page.set_viewport_size({"width": 1280, "height": 720})
    found = {}
    for view in ("attention", "compare", "embeddings", "positional", "effects", "qkv", "lens", "attribution"):
        extra = {"text2": text.replace("old", "young")} if view == "compare" else {}
        page.goto("/?" + urlencode({"text": text, "view": view, "present": 1, **extra}))
        ready(page, WAIT)
        page.wait_for_timeout(500)
        if view not in ("lens", "attribution"):  # (their maps are depth × sub-layer and layer × head: a few rows)
            assert page.locator("main .view:not([hidden]) .ytick text").count() > 10, view
        found[view] = (page.evaluate(XTICKS_APART) + page.evaluate(YTICKS_APART) + page.evaluate(TITLES_UNLEVEL)
                       + page.evaluate(PLOTS_UNLEVEL))
        if view in LABELS_THE_QUERY:  # the query's row labelled among every 2nd: by default the last token, then token 7
            rows = page.locator(f'#panel-{view} [data-part="{LABELS_THE_QUERY[view]}"] .ytick text')
            assert "␣boats" in rows.all_text_contents(), (view, rows.all_text_contents())
            page.locator('#tokens .tok[data-index="7"]').click()
            expect(rows.filter(has_text="␣walked")).to_have_count(1)
    assert found == {view: [] for view in found}


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "tiny-alibi", "tiny-learned", "minilm-l6"])
def test_in_presenter_mode_the_score_split_s_labels_are_as_large_as_the_patterns(page: Page, need_models, model):
    """Presenter mode at 1280x720: the four terms' token labels were 12.6 px (9 px times the presenter's scale), the
    smallest text on the projector, beside the patterns' 16.8 px above them. They are now the size every token axis
    has in presenter mode (tickSize times the scale), as many labelled as have room, apart by their size."""
    need_models(model)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "positional", "model": model, "present": 1}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    sizes = page.evaluate("""() => Object.fromEntries(['normal', 'decompose'].map((part) => [part,
        [...document.querySelectorAll(`#panel-positional [data-part="${part}"] :is(.xtick, .ytick) text`)]
          .filter((t) => t.textContent).map((t) => parseFloat(getComputedStyle(t).fontSize))]))""")
    assert sizes["normal"] and len(sizes["decompose"]) > 10, sizes
    assert min(sizes["decompose"]) >= min(sizes["normal"]) - 0.1, sizes
    assert page.evaluate(XTICKS_APART) + page.evaluate(YTICKS_APART) + page.evaluate(TEXT_CLASHES) == []


def test_on_a_phone_the_score_split_labels_as_many_keys_as_have_room(page: Page):
    """Twelve tokens on a 390 px phone, the score split two to a row: each panel labelled all twelve keys in about
    110 px, slanted into each other ("<|bos|>The␣dog"); it labels every k-th key, as many as have room."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "positional"}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    assert page.locator('#panel-positional [data-part="decompose"] .xtick text').count() > 5
    assert page.evaluate(XTICKS_APART) + page.evaluate(TEXT_CLASHES) == []


@pytest.mark.parametrize("size, extra", [((1280, 800), {}), ((390, 844), {}), ((1280, 720), {"present": 1})],
                         ids=["desktop", "phone", "presenter"])
def test_a_word_longer_than_the_sentence_box_wraps_in_it(page: Page, size, extra):
    """An address in the sentence boxes (the page's and Compare's side b): the boxes sized to their content made the
    page 1,588 px wide at 1280 for an address of 150 characters (5,900 px for 600 letters)."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    word = "https://example.com/" + "story" * 30  # (150 characters, within the model's 128 tokens)
    page.goto("/?" + urlencode({"text": word, "text2": word + "s", "view": "compare", **extra}))
    page.wait_for_selector("textarea[name=text2]", timeout=WAIT)
    ready(page, WAIT)
    widths = page.evaluate("""() => ({ page: document.documentElement.scrollWidth, window: innerWidth,
      boxes: ['#text', 'textarea[name=text2]'].map((s) => document.querySelector(s).getBoundingClientRect().right) })""")
    assert widths["page"] <= widths["window"], widths
    assert all(right <= widths["window"] for right in widths["boxes"]), widths


def test_the_projection_of_a_one_token_sentence_has_room_for_its_labels(page: Page, need_models):
    """SmolLM2 reads "Hello" as one token (no BOS): its q and k lie on one line, and the square-scaled projection was a
    few pixels high with its y labels over each other."""
    need_models("smollm2-135m")
    page.goto("/?" + urlencode({"text": "Hello", "view": "qkv", "model": "smollm2-135m"}))
    ready(page, WAIT)
    assert page.locator('#panel-qkv [data-part="projection"] .ytick text').count() >= 2
    assert page.evaluate(YTICKS_APART) == []


SIZES = [((1280, 800), {}), ((1280, 720), {"present": 1}), ((390, 844), {})]
SIZE_IDS = ["desktop", "presenter", "phone"]


@pytest.mark.parametrize("model", ["minilm-l6", "tiny-sinusoidal", "smollm2-135m"])
@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_q_and_k_projection_s_legend_keeps_off_its_labels(page: Page, need_models, model, size, extra):
    """The Q/K/V view's projection of q and k drew its legend ("q (query)", "k (key)") at a fixed fraction of the plot's
    height above it: MiniLM on the page's own sentence in presenter mode put it over the top tick label, "6", cut."""
    need_models(model)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"view": "qkv", "model": model, **extra}))  # (the page's own sentence)
    ready(page, WAIT)
    page.wait_for_timeout(300)
    assert page.locator('#panel-qkv [data-part="projection"] .legendtext').count() == 2
    assert page.evaluate(TEXT_CLASHES, '#panel-qkv [data-part="projection"] .plot') == []


# the projection's drawn labels, each with its box in the page ([left, top, right, bottom] px)
PROJECTION_LABELS = """() => [...document.querySelectorAll('#panel-qkv [data-part="projection"] .textpoint text')]
  .filter((t) => t.textContent).map((t) => { const r = t.getBoundingClientRect();
    return { s: t.textContent, box: [r.left, r.top, r.right, r.bottom] }; })"""


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "smollm2-135m"])
@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_q_and_k_projection_labels_only_the_marks_with_room(page: Page, need_models, model, size, extra):
    """The projection labelled every one of its 2n marks: on a sentence of 30 to 40 tokens most labels lay over each
    other in its crowded middle (SmolLM2 at 1280x800: a heap of "␣the", "␣lamp", "␣ships" none could read). It labels
    the marks whose labels have room, none over another, the selected query's always, and its caption says how many
    of them ("Labelled: 31 of the 64 marks"; hover names the rest)."""
    need_models(model)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    text = ("The old lighthouse keeper climbed the narrow stairs every evening to light the lamp for the ships that "
            "passed the rocks, and the children watched him from the beach below.")
    page.goto("/?" + urlencode({"text": text, "view": "qkv", "model": model, "token": 5, **extra}))
    ready(page, WAIT)
    fig = '#panel-qkv [data-part="projection"]'
    page.wait_for_selector(f"{fig} .textpoint text")
    labels = page.evaluate(PROJECTION_LABELS)
    n = len(plot_data(page, f"{fig} .plot")[0]["x"])
    clashes = [(a["s"], b["s"]) for i, a in enumerate(labels) for b in labels[i + 1:]
               if min(a["box"][2], b["box"][2]) - max(a["box"][0], b["box"][0]) > 1
               and min(a["box"][3], b["box"][3]) - max(a["box"][1], b["box"][1]) > 1]
    assert clashes == [], clashes
    assert n >= 30 and 2 <= len(labels) < 2 * n, (n, len(labels))
    q = plot_data(page, f"{fig} .plot")[0]["text"]
    assert q[5], q  # (the selected query's label)
    assert f"Labelled: {len(labels)} of the {2 * n} marks" in page.locator(f"{fig} .caption").inner_text()


@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_positional_family_s_panels_start_level_with_their_captions_below(page: Page, need_models, size, extra):
    """Positional's row of the same sentence through the family's models put each caption above its plot, where every
    other row of the view has it below: with special tokens hidden, three lines ("sinusoidal positions Special tokens
    hidden (<|bos|>): ...", the scheme's words and the note run together without a full stop) stood between each
    title and its plot, and a caption a line longer than its neighbours' would push its plot below theirs. Each
    caption is under its plot, the plots start level (PLOTS_UNLEVEL), and the scheme's words end in a full stop."""
    need_models("tiny-alibi")
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "positional", "hidespecial": 1, **extra}))
    ready(page, WAIT)
    family = '#panel-positional [data-part^="m-"]'
    page.wait_for_function(f"() => [...document.querySelectorAll('{family} .plot')]"
                           ".filter((p) => p.querySelector('.main-svg')).length >= 5")
    page.wait_for_timeout(300)
    assert page.evaluate(PLOTS_UNLEVEL) == []
    panels = page.evaluate(f"""() => [...document.querySelectorAll('{family}')].map((f) => ({{
        caption: f.querySelector('.caption').textContent, below: f.querySelector('.caption').getBoundingClientRect().top
          >= f.querySelector('.plot').getBoundingClientRect().bottom - 1 }}))""")
    assert len(panels) == 5 and all(p["below"] for p in panels), panels
    for p in panels:
        # (the keys a narrow panel labels, where it labels every k-th, between them)
        labelled = r"( Labelled: [^;]+; hover over a cell for its tokens\.)?"
        assert re.match(r"[^.]+ positions\." + labelled + r" Special tokens hidden \(<\|bos\|>\)", p["caption"]), p["caption"]


@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_predictions_bars_and_table_start_level(page: Page, size, extra):
    """Predictions: the bars of the next token and the table of every position, side by side, each under a caption of
    its own length: the table (a two-line caption beside the bars' one) started 20 px below the bars at 1280x800. They
    start level as the other views' panels do (PLOTS_UNLEVEL); on a phone they stack, and no word runs into another."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "predictions", **extra}))
    ready(page, WAIT)
    page.wait_for_timeout(500)
    assert page.locator('#panel-predictions [data-part="topk"] .plot .main-svg').count() > 0
    assert page.locator('#panel-predictions [data-part="perpos"] table').count() == 1
    assert page.evaluate(TITLES_UNLEVEL) + page.evaluate(PLOTS_UNLEVEL) + page.evaluate(TEXT_CLASHES) == []
    assert page.evaluate(TICKS_OUTSIDE) == []
    tops = page.evaluate("""() => ['topk', 'perpos'].map((k) =>
        document.querySelector(`#panel-predictions [data-part="${k}"]`).getBoundingClientRect().top)""")
    assert (abs(tops[0] - tops[1]) <= 1) == (size[0] > 1000), tops  # side by side but on a phone


@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_training_lab_s_panels_start_level(page: Page, size, extra):
    """The training lab after a short run: the loss curve beside the attention on the example, the role scores beside
    the model's answer (a table), each under a caption of its own length (and the pattern's and roles' menus in their
    titles): their plots started at different heights. They start level (PLOTS_UNLEVEL); on a phone they stack. Level
    under the longer caption, the loss curve's legend sat 34 px below its own two lines at 1280x800 (41 px in presenter
    mode at 1280x720), the role scores' 27 px below theirs: every plot starts within 24 px of what stands above it
    (BLANK_ABOVE), each caption under its plot."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"view": "lab", "ltask": "after-marker", "lsize": "tiny", "lsteps": 20, **extra}))
    ready(page, WAIT)
    section = page.locator('main .view[data-view="lab"]')
    section.locator("button[name=train]").click()
    expect(section).to_have_attribute("data-run-status", "finished", timeout=WAIT)
    for part in ("loss", "pattern", "roles"):
        page.wait_for_selector(f'#panel-lab [data-part="{part}"] .plot .main-svg')
    page.wait_for_selector('#panel-lab [data-part="answer"] table')
    ready(page, WAIT)
    page.wait_for_timeout(500)
    assert page.evaluate(TITLES_UNLEVEL) + page.evaluate(PLOTS_UNLEVEL) + page.evaluate(TEXT_CLASHES) == []
    assert page.evaluate(BLANK_ABOVE, 24) == []
    tops = page.evaluate("""() => ['loss', 'pattern', 'roles', 'answer'].map((k) =>
        document.querySelector(`#panel-lab [data-part="${k}"]`).getBoundingClientRect().top)""")
    side_by_side = abs(tops[0] - tops[1]) <= 1 and abs(tops[2] - tops[3]) <= 1
    assert side_by_side == (size[0] > 1000), tops


THIRTY = ("The old fisherman walked slowly along the quiet harbour while the children laughed and the gulls circled "
          "above the boats")


@pytest.mark.parametrize("size, extra", [((1280, 720), {"present": 1}), ((390, 844), {})], ids=["presenter", "phone"])
def test_the_four_term_split_keeps_the_selected_query_labelled(page: Page, size, extra):
    """Thirty tokens in presenter mode and on a phone (at 1280x800 every token has room): the split of layer 0's scores
    into four terms labels every 2nd or 3rd token, and the selected query's label was one of those left out (the
    default, the last token "␣boats", and token 7 "␣walked"), while the patterns above it kept theirs. Its rows and its
    keys keep the query, among labels still apart."""
    assert len(api(page, "/api/analyze", {"text": THIRTY})["tokens"]) == 30
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": THIRTY, "view": "positional", **extra}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    split = '#panel-positional [data-part="decompose"]'
    axes = f"""() => {{ const l = document.querySelector('{split} .plot').layout;
      return Object.keys(l).filter((k) => /^[xy]axis\\d*$/.test(k)).map((k) => [k, l[k].ticktext]); }}"""

    def without(token: str) -> list:
        """The split's axes (each term's keys across and queries down) whose labels leave out `token`."""
        return [k for k, text in page.evaluate(axes) if token not in text]

    labelled = dict(page.evaluate(axes))
    assert len(labelled) >= 10 and any(len(t) < 30 for t in labelled.values()), labelled  # thinned: not every token
    assert without("␣boats") == [], labelled  # the default query, the last token
    rows = page.locator(f"{split} .ytick text")
    assert "␣boats" in rows.all_text_contents(), rows.all_text_contents()
    page.locator('#tokens .tok[data-index="7"]').click()
    expect(rows.filter(has_text="␣walked")).not_to_have_count(0)
    ready(page, WAIT)
    page.wait_for_timeout(300)
    assert without("␣walked") == [], dict(page.evaluate(axes))
    assert page.evaluate(XTICKS_APART) + page.evaluate(YTICKS_APART) + page.evaluate(TEXT_CLASHES, f"{split} .plot") == []


# panels of a view one above the other (their columns overlapping) with less than 4 px between them
PANELS_TOUCH = """() => {
  const figs = [...document.querySelectorAll('main .view:not([hidden]) figure.panel')].filter((f) => f.offsetParent)
    .map((f) => ({ name: f.dataset.part, r: f.getBoundingClientRect() }));
  return figs.flatMap((a) => figs.filter((b) => b !== a && b.r.top >= a.r.top + 10
      && Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left) > 10 && b.r.top - a.r.bottom < 4)
    .map((b) => `${a.name} (to ${a.r.bottom.toFixed(0)} px) | ${b.name} (from ${b.r.top.toFixed(0)} px)`));
}"""


@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_heads_view_s_models_start_their_plots_level(page: Page, size, extra):
    """The Heads view's role score of every head across the five tiny models: a caption a line shorter than its
    neighbours' (tiny-nope's "No positions. Strongest: L3 H3 0.27.") put its map 17 px above theirs at 1280x800. They
    start level; where they wrap (presenter mode: four to a line) or stack (a phone) the panels keep their gap."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": THIRTY, "view": "heads", **extra}))
    ready(page, WAIT)
    page.wait_for_selector("main .view:not([hidden]) figure[data-part='m-tiny-nope'] .plot .main-svg")
    page.wait_for_timeout(500)
    assert page.evaluate(TITLES_UNLEVEL) + page.evaluate(PLOTS_UNLEVEL) + page.evaluate(PANELS_TOUCH) == []


def test_in_presenter_mode_the_arithmetic_bars_label_keys_apart(page: Page):
    """Thirty keys in presenter mode at 1280x720: the score and weight bars counted room for labels 16 px apart, the
    size of the labels outside presenter mode, and labelled all thirty, slanted into each other ("␣walked␣slowly"); they
    count the presenter's larger labels and label every k-th key, as many as have room."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": THIRTY, "view": "arithmetic", "present": 1}))
    ready(page, WAIT)
    page.wait_for_timeout(500)
    assert page.locator('#panel-arithmetic [data-part="scores"] .xtick text').count() > 5
    assert page.evaluate(XTICKS_APART) + page.evaluate(TEXT_CLASHES) == []


@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_a_long_sentence_s_box_shows_whole_lines(page: Page, size, extra):
    """A sentence longer than its box scrolls in it: the box showed a third of its second line in presenter mode at
    1280x720 (1.33 lines, the rest cut through the letters) and 3.84 lines on a phone. It shows whole lines (two in
    presenter mode, four elsewhere), and in presenter mode the heatmap starts on screen, below the two lines: whole on
    it, or, its 110 rows too many for the room left (test_presenter_mode_keeps_a_long_text_s_heatmap_rows_readable),
    at least 4 px a row with the page scrolling to the rest."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": THIRTY + " and the dog ran" * 20, "view": "attention", **extra}))  # (110 tokens)
    ready(page, WAIT)
    box = page.evaluate("""() => { const t = document.querySelector('#text'), cs = getComputedStyle(t);
        const pad = parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom);
        return {lines: (t.clientHeight - pad) / parseFloat(cs.lineHeight), scrolls: t.scrollHeight > t.clientHeight + 1}; }""")
    assert box["scrolls"] and abs(box["lines"] - round(box["lines"])) < 0.05 and box["lines"] >= 1.95, box
    if extra:
        r = heatmap_plot_area(page)
        assert r["top"] < 0.6 * r["vh"] and (r["bottom"] <= r["vh"] or (r["bottom"] - r["top"]) / 110 >= 4), r


# the attention view's panels that stand side by side at each size: the heatmap and the Links at 1280x800 (stacked in
# presenter mode, whose heatmap takes the width), the grid of every head and the per-head summary at both
SIDE_BY_SIDE = {"desktop": [("heatmap", "lines"), ("grid", "heads")], "presenter": [("grid", "heads")], "phone": []}


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "smollm2-135m"])
@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_attention_view_s_panels_start_level(page: Page, need_models, size, extra, model):
    """The attention view: the heatmap beside the Links (BertViz-style), whose head chips sit between its caption and its
    plot, and the grid of every head beside the per-head summary, whose caption is a paragraph: at 1280x800 the Links'
    plot started 26 px below the heatmap's (92 px against 66 px from the panel's top), the summary's 86 px below the
    grid's; in presenter mode at 1280x720 the summary's 139 px below. Their titles and plots start level; on a phone
    they stack, apart."""
    need_models(model)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "attention", "model": model, **extra}))
    ready(page, WAIT)
    page.wait_for_selector("#attn-heads .plot .main-svg")
    page.wait_for_timeout(500)
    tops = page.evaluate("""() => Object.fromEntries(['heatmap', 'lines', 'grid', 'heads'].map((k) => [k,
        document.querySelector(`#panel-attention [data-part="${k}"]`).getBoundingClientRect().top]))""")
    which = "presenter" if extra else "desktop" if size[0] > 1000 else "phone"
    assert [(a, b) for a, b in (("heatmap", "lines"), ("grid", "heads")) if abs(tops[a] - tops[b]) <= 1] == SIDE_BY_SIDE[which], tops
    assert page.evaluate(TITLES_UNLEVEL) + page.evaluate(PLOTS_UNLEVEL) + page.evaluate(PANELS_TOUCH) == []


# each panel's blank above its plot: from the foot of the last line of what stands above the plot in its panel (its
# title, a caption, the Links' head chips: their text, not their boxes, which a shared grid row stretches) to the first
# thing the plot draws (its plot area, a label or a legend); those over `most` px
BLANK_ABOVE = """(most) => [...document.querySelectorAll('main .view:not([hidden]) figure.panel')].filter((f) => f.offsetParent)
  .flatMap((f) => {
  const plot = f.querySelector(':scope > .plot');
  if (!plot || !plot.offsetParent || !plot.querySelector('.main-svg')) return [];
  const top = plot.getBoundingClientRect().top;
  const above = Math.max(f.getBoundingClientRect().top, ...[...f.children].filter((c) => c !== plot && c.offsetParent)
    .map((c) => { const r = document.createRange(); r.selectNodeContents(c); return r.getBoundingClientRect(); })
    .filter((r) => r.height > 0 && r.bottom <= top + 1).map((r) => r.bottom));
  const drawn = Math.min(...[...plot.querySelectorAll('.nsewdrag, text, .legend')].map((e) => e.getBoundingClientRect())
    .filter((r) => r.width > 0 && r.height > 0).map((r) => r.top));
  return drawn - above > most ? [`${f.dataset.part}: ${(drawn - above).toFixed(0)} px blank above its plot`] : [];
})"""


@pytest.mark.parametrize("model", ["minilm-l6", "smollm2-135m", "tiny-sinusoidal"])
@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_plots_side_by_side_start_level_with_no_blank_above(page: Page, need_models, size, extra, model):
    """Panels side by side started their plots level under the row's longest caption (or the Links' head chips), a
    blank band above the others': at 1280x800 the heatmap's plot area 82 px below its one-line caption beside MiniLM's
    three lines of Links chips (64 px on SmolLM2), Q/K/V's z 32 px beside the projection's three-line caption, Compare's
    a and b 46 px beside the difference's; in presenter mode at 1280x720 z 62 px, Compare's a and b 81 px, MiniLM's Q
    and K 39 px beside V, the one-hot similarity and the paths 39 px. Those rows show their captions under the plots
    (the Links' chips under its caption): every plot of the attention, Q/K/V, Compare and Embeddings views starts within
    24 px of what stands above it (its own margin and a line's leading: 6 to 16 px), level with its neighbours'."""
    need_models(model)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    found = {}
    for view in ("attention", "qkv", "compare", "embeddings"):
        other = {"text2": SENTENCE.replace("dog", "cat")} if view == "compare" else {}
        page.goto("/?" + urlencode({"text": SENTENCE, "view": view, "model": model, **other, **extra}))
        ready(page, WAIT)
        page.wait_for_timeout(500)
        found[view] = page.evaluate(BLANK_ABOVE, 24) + page.evaluate(PLOTS_UNLEVEL)
    assert found == {view: [] for view in found}


# the page's other views with plots, the Why views among them (the training lab draws once a run has recorded: its
# test, test_the_training_lab_s_panels_start_level, asks the same of it)
OTHER_PLOT_VIEWS = ("model", "arithmetic", "positional", "poslab", "predictions", "lens", "attribution", "effects", "heads")


@pytest.mark.parametrize("model", ["minilm-l6", "smollm2-135m", "tiny-sinusoidal", "tiny-nope"])
@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_every_other_view_s_plots_start_level_with_no_blank_above(page: Page, need_models, models, size, extra, model):
    """By the measure of the test above (BLANK_ABOVE, PLOTS_UNLEVEL) the other views kept a blank band above a plot
    started level under a longer caption beside it: at 1280x800 Positional's encoding 28 px (MiniLM's normal and
    removed patterns 28 px), the Predictions bars 32 px beside the table's two-line caption, the Heads view's tiny-nope
    map 28 px beside the other models' longer captions; in presenter mode at 1280x720 Positional's encoding 31 px and
    its normal and removed patterns 35 px, Attribution's bars 39 px beside the heads' map. Every plot of every view the
    model has (the Why views too) starts within 24 px of what stands above it, level with its neighbours'."""
    need_models(model)
    kinds = {v["id"]: v["kinds"] for v in page.request.get("/api/meta").json()["views"]}
    page.set_viewport_size({"width": size[0], "height": size[1]})
    found = {}
    for view in (v for v in OTHER_PLOT_VIEWS if models[model]["kind"] in kinds[v]):
        page.goto("/?" + urlencode({"text": SENTENCE, "view": view, "model": model, **extra}))
        ready(page, WAIT)
        if view == "heads":  # (the maps of the five tiny models come after the view's own)
            page.wait_for_selector("main .view:not([hidden]) figure[data-part='m-tiny-nope'] .plot .main-svg")
        page.wait_for_timeout(500)
        found[view] = page.evaluate(BLANK_ABOVE, 24) + page.evaluate(PLOTS_UNLEVEL)
    assert len(found) >= 6, found
    assert found == {view: [] for view in found}


@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_nearest_words_and_the_analogy_start_level(page: Page, size, extra):
    """Embeddings: the nearest words and the analogy stand side by side, each under its form; in presenter mode at
    1280x720 the analogy's form takes two lines ("≈ expected? Find" on the second) and put its panel 44 px below the
    nearest words' (its plot 67 px below, its caption a line longer). The panels and their plots start level; on a
    phone they stack, each under its own form."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "embeddings", **extra}))
    ready(page, WAIT)
    page.wait_for_selector('#panel-embeddings [data-part="analogy"] .plot .main-svg')
    page.wait_for_timeout(500)
    box = page.evaluate("""() => Object.fromEntries(['neighbors', 'analogy'].flatMap((k) => {
        const f = document.querySelector(`#panel-embeddings [data-part="${k}"]`), form = f.previousElementSibling;
        return [[k, f.getBoundingClientRect().top], [`${k}-form`, form.getBoundingClientRect().bottom]]; }))""")
    if size[0] > 1000:
        assert abs(box["neighbors"] - box["analogy"]) <= 1, box
    else:  # (stacked: the analogy's form and panel below the nearest words')
        assert box["analogy-form"] > box["neighbors"], box
    assert all(0 <= box[k] - box[f"{k}-form"] <= 12 for k in ("neighbors", "analogy")), box  # each under its form
    assert page.evaluate(BLANK_ABOVE, 24) + page.evaluate(PLOTS_UNLEVEL) + page.evaluate(PANELS_TOUCH) == []


# the Compare view's heatmaps (a, b and their difference, those drawn): the numbers printed in their cells, each cell's
# width and the widest number's
COMPARE_NUMBERS = """() => ['a', 'b', 'diff'].flatMap((p) => {
  const gd = document.querySelector(`#panel-compare [data-part="${p}"] .plot`);
  if (!gd || !gd.data || !gd._fullLayout) return [];
  const texts = [...gd.querySelectorAll('.heatmaplayer text')].filter((t) => t.textContent.trim());
  return [{ p, n: gd.data[0].z.length, numbers: texts.length, cell: gd._fullLayout.xaxis._length / gd.data[0].z.length,
            widest: Math.max(0, ...texts.map((t) => t.getBBox().width)) }]; })"""

EIGHT, NINE = "The cat sat on the mat.", "The cat sat on the red mat."  # (8 and 9 tokens on tiny-sinusoidal)


@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("sides", [{"text": EIGHT, "text2": NINE}, {"text": NINE, "text2": EIGHT},
                                   {"text": EIGHT, "text2": EIGHT.replace("cat", "dog")}, {"text": NINE, "model2": "minilm-l6"}],
                         ids=["8-9", "9-8", "8-8", "other-model"])
def test_compare_prints_the_cells_numbers_on_both_sides_or_neither(page: Page, need_models, size, extra, sides):
    """Compare's heatmaps each asked numbersFit with their own side's number of tokens: side a of 8 tokens printed its
    weights in its cells and side b's 9 tokens none, in panels as wide (at 1280x800, cells about 30 px by numbersFit's
    estimate: 32.5 for 8, 28.9 for 9). The row asks once, for the longer side: both sides and their difference print
    their numbers, or none does; where printed they fit their cells, and two sentences of 8 tokens at 1280x800 print."""
    need_models("minilm-l6")
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({**sides, "view": "compare", **extra}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    cells = page.evaluate(COMPARE_NUMBERS)
    assert [c["p"] for c in cells][:2] == ["a", "b"], cells
    assert len({c["numbers"] > 0 for c in cells}) == 1, cells
    assert all(c["widest"] + 2 <= c["cell"] for c in cells), cells
    if size == (1280, 800) and sides == {"text": EIGHT, "text2": EIGHT.replace("cat", "dog")}:
        assert len(cells) == 3 and all(c["numbers"] for c in cells), cells


@pytest.mark.parametrize("view", ["predictions", "effects", "compare"])
def test_a_window_narrowed_to_a_phone_redraws_its_plots_at_the_phone_width(page: Page, view):
    """Each panel of a row whose plots start level (.plots-level: a grid of its own, for the subgrid rows) had one
    implicit column sized `auto`, at least as wide as what it held: a plot drawn at 1280 px kept its panel 603 px wide
    once the window was 390 px, and the page redrew it at that width. The Predictions, Beyond attention, Logit lens,
    Compare and Training lab views scrolled sideways (scrollWidth 409 to 621)."""
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": view}))
    ready(page, WAIT)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("() => document.documentElement.scrollWidth <= 390", timeout=10_000)


@pytest.mark.parametrize("size, extra", [((1280, 800), {}), ((390, 844), {}), ((1280, 720), {"present": 1})],
                         ids=["desktop", "phone", "presenter"])
@pytest.mark.parametrize("text", ["The cat sat on the mat and it ran", "I love 🍕 too"], ids=["words", "bytes"])
def test_beyond_attention_prints_numbers_only_where_they_fit(page: Page, size, extra, text):
    """Beyond attention printed every cell's number at 10 tokens or fewer, whatever the cell's width: the whole
    layer's three panels, three to a row, ran "0.420.580.38..." into each other (SmolLM2 on "I love 🍕 and 🐱!" at
    1280x800, whose byte labels narrow the cells further). Its heatmaps now take numbersFit's rule."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": text, "view": "effects", **extra}))
    ready(page, WAIT)
    cells = page.evaluate("""() => ['raw', 'vw', 'lraw', 'lvw', 'rollout'].map((p) => {
      const gd = document.querySelector(`#panel-effects [data-part="${p}"] .plot`);
      const texts = [...gd.querySelectorAll('.heatmaplayer text')].filter((t) => t.textContent.trim());
      return { p, numbers: texts.length, cell: gd._fullLayout.xaxis._length / gd.data[0].z.length,
               widest: Math.max(0, ...texts.map((t) => t.getBBox().width)) }; })""")
    assert all(c["widest"] + 2 <= c["cell"] for c in cells), cells
    if size == (1280, 800) and text.startswith("The"):
        assert cells[0]["numbers"], cells  # (where they fit, the numbers are printed)


@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_beyond_attention_s_plots_sit_under_their_titles(page: Page, size, extra):
    """Beyond attention's row of three panels (the layer's mean attention, what the layer moves, rollout) started its
    plots level under the row's longest caption, Rollout's eight lines: the other two plots sat 125 px below their
    one-line titles at 1280x800 (236 px in presenter mode), a blank between. The panels of its rows now show their
    caption under the plot: every plot starts right under its title, level with its neighbours'."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "effects", **extra}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    panels = page.evaluate(UNDER_THE_PLOT, ["#panel-effects", ["raw", "vw", "lraw", "lvw", "rollout"]])
    assert all(0 <= x["gap"] <= 12 and x["caption"] >= 0 and x["shown"] > 0 for x in panels), panels
    assert page.evaluate(PLOTS_UNLEVEL) == []


@pytest.mark.parametrize("model", ["tiny-sinusoidal", "smollm2-135m"])
@pytest.mark.parametrize("size, extra", SIZES, ids=SIZE_IDS)
def test_the_grid_of_every_head_and_the_summary_sit_under_their_titles(page: Page, need_models, size, extra, model):
    """The attention view's grid of every head beside the per-head summary started both plots level under the summary's
    caption, a paragraph: the grid's sat 90 px below its two lines of caption at 1280x800, 140 px in presenter mode at
    1280x720, a blank between. Both show their caption under the plot (the grid's after its role legend): each plot
    starts right under its title, level with the other's."""
    need_models(model)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": "attention", "model": model, **extra}))
    ready(page, WAIT)
    page.wait_for_selector("#attn-heads .plot .main-svg")
    page.wait_for_timeout(300)
    panels = page.evaluate(UNDER_THE_PLOT, ["#panel-attention", ["grid", "heads"]])
    assert all(0 <= x["gap"] <= 12 and x["caption"] >= 0 and x["shown"] > 0 for x in panels), panels
    assert page.evaluate(PLOTS_UNLEVEL) == []


# each panel's plot below its title (`gap`, px) and its caption below the plot (`caption`: the caption's top less the
# bottom of the plot, or of what follows the plot in the panel), `shown`: the caption's height
UNDER_THE_PLOT = """([view, parts]) => parts.map((p) => {
  const f = document.querySelector(`${view} [data-part="${p}"]`);
  const box = (s) => f.querySelector(`:scope > ${s}`).getBoundingClientRect();
  const above = Math.max(...[...f.children].filter((c) => c.offsetParent && !c.matches('figcaption, .caption'))
    .map((c) => c.getBoundingClientRect().bottom));
  return { p, gap: box('.plot').top - box('figcaption').bottom, caption: box('.caption').top - above,
           shown: box('.caption').height }; })"""


def test_compare_prints_a_sentence_both_sides_share_once(page: Page):
    """A long sentence compared with itself (its positions removed on side b) was printed in full twice above the
    plots, side a's and side b's, a screenful of the same words; side b now says it is the same sentence, and prints
    its own where it is another."""
    long = "The little dog ran to the park and played with a red ball. " * 8
    page.goto("/?" + urlencode({"text": long, "positions2": "removed", "view": "compare"}))
    ready(page, WAIT)
    lines = page.locator("#panel-compare .compare-summary p")
    expect(lines.nth(0)).to_contain_text(long.strip())
    expect(lines.nth(1)).to_have_text("b the same sentence as a")
    page.goto("/?" + urlencode({"text": long, "text2": "The cat sat.", "view": "compare"}))
    ready(page, WAIT)
    expect(lines.nth(1)).to_have_text("b The cat sat.")


@pytest.mark.parametrize("view", ["lens", "attention"])
def test_presenter_mode_on_a_phone_keeps_the_view_tabs(page: Page, view):
    """Presenter mode at 390x844 put the tabs and the Layer / Head / Query menus on one line that does not wrap, the
    menus never shrinking: the tabs were squeezed to under a pixel's width, so no view could be chosen. On a phone
    they now wrap as without presenter mode: the tabs across the screen, the menus on the line below."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"text": SENTENCE, "view": view, "present": 1}))
    ready(page, WAIT)
    box = page.locator(".tabs .tablist").bounding_box()
    assert box and box["width"] >= 300, box
    selected = page.locator(f'.tabs [role=tab][data-view="{view}"]').bounding_box()
    assert selected and selected["x"] >= 0 and selected["x"] + selected["width"] <= 390, selected
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


TITLE_ON_LABELS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap((gd) => {
  const t = gd.querySelector('.gtitle');
  if (!t) return [];
  const a = t.getBoundingClientRect();
  return [...gd.querySelectorAll('.annotation, .nsewdrag')].filter((el) => {
    const b = el.getBoundingClientRect();
    return b.width && b.height && a.left < b.right && b.left < a.right && a.top < b.bottom - 2 && b.top < a.bottom - 2;
  }).map((el) => `${t.textContent.slice(0, 40)} | ${(el.textContent || 'the plot area').slice(0, 30)}`);
})"""

# a heatmap drawn outside every plot area of its figure (plotly drew it where the plot area was before a margin moved)
HEATMAP_OFF_ITS_AXES = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap((gd) => {
  const areas = [...gd.querySelectorAll('.nsewdrag')].map((el) => el.getBoundingClientRect());
  return [...gd.querySelectorAll('.heatmaplayer image')].filter((img) => {
    const r = img.getBoundingClientRect();
    return r.width && !areas.some((b) => r.top >= b.top - 2 && r.bottom <= b.bottom + 2
      && r.left >= b.left - 2 && r.right <= b.right + 2);
  }).map(() => (gd.querySelector('.gtitle') || {}).textContent.slice(0, 40));
})"""


@pytest.mark.parametrize("ablate", ["", "1.2"])
def test_the_report_s_titles_sit_above_the_labels_over_their_plots(page: Page, tmp_path, ablate):
    """Download report, opened from the file: the titles of the grid of every head, the attention arithmetic and
    Attention beside what it moves sat on the labels these figures put just above their plot area ("L0 H0", "scores:
    q·k ÷ √40 = 6.325", "attention weight"); a title of two lines (the positional encoding's) hung its second line over
    the plot; and where an intervention's words made a title long enough to push the top margin down, plotly drew the
    heatmaps where the plot area had been (the grid's frame and crossed-out head off their squares). The same for the
    across-models figure of /api/roles/models (the notebook's)."""
    query = {"text": SENTENCE, "model": "tiny-sinusoidal", "layer": 1, "head": 1, "query": 2,
             **({"ablate": ablate, "positions": "shuffled"} if ablate else {})}
    r = page.request.get("/api/report?" + urlencode(query), timeout=WAIT)
    assert r.ok, r.text()[:300]
    path = tmp_path / "report.html"
    path.write_bytes(r.body())
    page.goto(path.as_uri())
    page.wait_for_selector(".js-plotly-plot .gtitle")
    page.wait_for_timeout(1000)
    assert page.evaluate("() => document.querySelectorAll('.js-plotly-plot .gtitle').length") >= 5
    assert page.evaluate(TITLE_ON_LABELS) == []
    assert page.evaluate(HEATMAP_OFF_ITS_AXES) == []

    import plotly.io as pio

    from backend import figures, schemas

    roles = page.request.post("/api/roles/models", data={"text": SENTENCE}, timeout=WAIT)
    assert roles.ok, roles.text()[:300]
    fig = figures.role_models(schemas.RolesModelsResponse.model_validate(roles.json()), "previous-token")
    path = tmp_path / "roles.html"
    path.write_text(pio.to_html(fig, include_plotlyjs=True, full_html=True), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_selector(".js-plotly-plot .gtitle")
    page.wait_for_timeout(1000)
    assert page.evaluate(TITLE_ON_LABELS) == []
    assert page.evaluate(HEATMAP_OFF_ITS_AXES) == []


def test_presenter_mode_with_a_lesson_open_on_a_phone_keeps_each_token_whole(page: Page):
    """With a lesson open in presenter mode the token strip is one line that scrolls sideways; on a 390x844 phone its
    chips shrank to fit that line instead (lesson 7's sentence: twelve chips of about 28 px), their texts printed over
    each other ("Thecatsat...") and "<|bos|>" cut at the left edge. Each chip keeps its
    text's width and the line scrolls."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"text": SENTENCE, "lesson": "many-heads", "step": 2, "present": 1}))
    ready(page, WAIT)
    squeezed = page.evaluate("""() => [...document.querySelectorAll('.tokens .tok')].filter((t) => {
      const text = t.querySelector('.tok-text');
      return text && text.scrollWidth > t.clientWidth;
    }).map((t) => t.textContent.trim())""")
    assert not squeezed, squeezed
    boxes = page.evaluate("[...document.querySelectorAll('.tokens .tok')].map((t) => t.getBoundingClientRect().toJSON())")
    assert len(boxes) > 2
    for a, b in zip(boxes, boxes[1:], strict=False):
        assert a["right"] <= b["left"] + 0.5, (a, b)


@pytest.mark.parametrize("size,extra", [((1280, 720), {"present": 1}), ((1280, 800), {})], ids=["presenter", "desktop"])
def test_compare_s_words_that_differ_side_by_side_keep_their_labels_apart(page: Page, size, extra):
    """51 tokens, side b differing at 6 and 7, query 9 selected: each pattern labelled 6, 7 and 9 whatever its step, on
    both axes, so "␣was", "␣a" and "␣girl" ran into each other (TEXT_CLASHES leaves one axis's labels to these checks);
    and in presenter mode the keys' title had no room for "every 7th, and the ones that differ": nothing said what they
    label. Each plot draws the first of labels closer than a label's room, and a key axis without a title says it in
    the caption. A regular label with a label's room beside them stays: in presenter mode 0 was left out, 6 from the
    word at 6 where every 7th key is labelled (a label needs about 4.6 positions there)."""
    text = ("Once upon a time there was a little girl named Lily who loved to play in the park with her dog and her friends "
            "every day after school. One day she saw a big red ball under the old tree and ran to get it for her mom.")
    page.set_viewport_size({"width": size[0], "height": size[1]})
    b = text.replace("there was a", "there is the")
    page.goto("/?" + urlencode({"text": text, "text2": b, "view": "compare", "token": 9, **extra}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    assert page.evaluate(XTICKS_APART) + page.evaluate(YTICKS_APART) + page.evaluate(TEXT_CLASHES) == []
    panels = page.evaluate("""() => ['a', 'b', 'diff'].map((k) => {
        const f = document.querySelector(`#panel-compare [data-part="${k}"]`);
        const { xaxis: x, yaxis: y } = f.querySelector('.plot').layout;
        return { k, ticks: x.tickvals, rows: y.tickvals, title: x.title?.text ?? null,
                 caption: f.querySelector('.caption').textContent }; })""")
    for p in panels:
        assert 6 in p["ticks"] and 0 in p["ticks"], p
        assert p["title"] or re.search(r"Labelled: every \d+(st|nd|rd|th) key", p["caption"]), p
        # (the selected query's row and column are named where labelled: 9 gives way to 6 across; so are the words that
        # differ: 7 gives way to 6, and the caption said "some of the ones that differ", rows or columns left to guess)
        labelled = p["caption"].partition("Labelled:")[2]
        assert "some of the selected" not in labelled, p
        assert 9 in p["ticks"] or not re.search(r"selected query's (row and )?column", labelled), p
        assert "ones that differ" not in labelled, p
        assert p["title"] or 7 in p["ticks"] or "some of the differing tokens' columns" in labelled, p


@pytest.mark.parametrize("size,extra", [((1280, 720), {"present": 1}), ((1280, 800), {})], ids=["presenter", "desktop"])
def test_beyond_attention_s_patterns_say_which_keys_they_label(page: Page, size, extra):
    """Beyond attention's five patterns of a 51-token text (query 9): a key axis that labels every k-th key and has no
    room for its title says it in the caption, as Compare's and Positional's do; one that labels every key needs
    neither."""
    text = ("Once upon a time there was a little girl named Lily who loved to play in the park with her dog and her friends "
            "every day after school. One day she saw a big red ball under the old tree and ran to get it for her mom.")
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"text": text, "view": "effects", "token": 9, **extra}))
    ready(page, WAIT)
    page.wait_for_timeout(300)
    panels = page.evaluate("""() => ['raw', 'vw', 'lraw', 'lvw', 'rollout'].map((k) => {
        const f = document.querySelector(`#panel-effects [data-part="${k}"]`);
        const plot = f.querySelector('.plot');
        return { k, ticks: plot.layout.xaxis.tickvals.length, n: plot.data[0].z[0].length,
                 title: plot.layout.xaxis.title?.text ?? null, caption: f.querySelector('.caption').textContent }; })""")
    assert any(p["ticks"] < p["n"] and not p["title"] for p in panels), panels  # (the case this is about occurs)
    for p in panels:
        if p["ticks"] < p["n"]:
            assert p["title"] or re.search(r"Labelled: every \d+(st|nd|rd|th) key", p["caption"]), p
