"""The page for every reader: keyboard, visible focus, colour-blind-safe scales, presenter mode, a phone,
hiding special tokens, and the API additions the views rely on (causal, token_id, a compare slice).

Each test saves screenshots of what it checked under test-results/screenshots/ (see conftest.py).
"""

from __future__ import annotations

import html
import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.pages import SENTENCE, api, chip_texts, open_app, plot_data, ready, url_state

pytestmark = pytest.mark.browser



def blur(page: Page) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const cs = getComputedStyle(e);
  return { id: e.id || '', role: e.getAttribute('role') || '', tag: e.tagName.toLowerCase(),
           tok: e.classList.contains('tok'), grid: Boolean(e.closest('#attn-grid')) && e.classList.contains('plot'),
           view: e.dataset ? e.dataset.view || '' : '', outline: cs.outlineStyle, width: parseFloat(cs.outlineWidth) || 0 };
}"""


# ----------------------------------------------------------------------------------- keyboard


def test_arrow_keys_move_layer_and_head_and_the_url(page: Page, shot):
    open_app(page, text=SENTENCE)
    blur(page)
    page.keyboard.press("ArrowDown")
    ready(page)
    assert url_state(page)["layer"] == "1"
    expect(page.locator("#layer")).to_have_value("1")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    ready(page)
    assert url_state(page)["head"] == "2"
    expect(page.locator("#attn-heatmap .panel-title")).to_have_text("Attention · layer 1 · head 2")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowLeft")
    ready(page)
    assert (url_state(page)["layer"], url_state(page)["head"]) == ("0", "1")
    page.keyboard.press("ArrowUp")  # already the first layer: stays
    ready(page)
    assert url_state(page)["layer"] == "0"
    # in the sentence box the arrows move the caret, not the selection
    page.focus("#text")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(150)
    ready(page)
    assert (url_state(page)["layer"], url_state(page)["head"]) == ("0", "1")
    shot(page, "layer0-head1", full_page=False)


def test_tab_reaches_the_controls_in_order_with_a_visible_focus_ring(page: Page, shot):
    open_app(page, text=SENTENCE)
    blur(page)
    seen = []
    for _ in range(70):
        page.keyboard.press("Tab")
        f = page.evaluate(FOCUSED)
        if f is None:
            continue
        seen.append(f)
        if f["tok"] and not any(s["tok"] for s in seen[:-1]):
            shot(page, "focus-on-a-token-chip", full_page=False)
        if f["grid"]:
            break

    def first(pred):
        return next((i for i, s in enumerate(seen) if pred(s)), None)

    text, model = first(lambda s: s["id"] == "text"), first(lambda s: s["id"] == "model")
    chip, tab = first(lambda s: s["tok"]), first(lambda s: s["role"] == "tab")
    grid = first(lambda s: s["grid"])
    assert None not in (text, model, chip, tab, grid), [(s["id"], s["role"], s["tag"]) for s in seen]
    assert text < model < chip < tab < grid
    # the token strip and the tab list are one tab stop each (arrow keys move inside them)
    assert sum(s["tok"] for s in seen) == 1 and sum(s["role"] == "tab" for s in seen) == 1
    assert seen[tab]["view"] == "attention"  # the selected tab is the one Tab reaches
    for i in (text, model, chip, tab, grid):
        assert seen[i]["outline"] not in ("none", "") and seen[i]["width"] >= 2, seen[i]
    faint = [s for s in seen if s["outline"] == "none" or s["width"] < 2]
    assert faint == [], json.dumps(faint)  # every stop on the way, not only those, shows the ring


def test_chips_tabs_and_the_grid_work_with_the_keyboard(page: Page, shot):
    open_app(page, text=SENTENCE)
    n = len(chip_texts(page))
    # token strip: the selected (last) chip holds the tab stop; arrows, Home and Enter select
    chip = page.locator('#tokens .tok[tabindex="0"]')
    expect(chip).to_have_attribute("data-index", str(n - 1))
    chip.focus()
    page.keyboard.press("ArrowLeft")
    ready(page)
    assert url_state(page)["token"] == str(n - 2)
    page.keyboard.press("Home")
    ready(page)
    assert url_state(page)["token"] == "0"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    ready(page)
    assert url_state(page)["token"] == "1"
    expect(page.locator('#tokens .tok[data-index="1"]')).to_have_attribute("aria-pressed", "true")
    # tabs: a tablist; arrows move between the views
    page.locator('.tabs [role=tab][aria-selected="true"]').focus()
    page.keyboard.press("ArrowRight")
    ready(page)
    assert url_state(page)["view"] == "arithmetic"
    expect(page.locator('[role=tab][data-view="arithmetic"]')).to_be_focused()
    expect(page.locator('[role=tablist] [role=tab]')).to_have_count(len(page.request.get("/api/meta").json()["views"]))
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Space")
    ready(page)
    assert url_state(page)["view"] == "attention"
    # the grid: one tab stop; arrows move the selected head, Enter ablates it, Space restores it
    grid = page.locator("#attn-grid .plot")
    grid.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    ready(page)
    assert (url_state(page)["layer"], url_state(page)["head"]) == ("1", "1")
    page.keyboard.press("Enter")
    ready(page)
    assert url_state(page)["ablate"] == "1.1"
    assert "(ablated)" in grid.get_attribute("aria-label")
    shot(page, "grid-focused-head-ablated")
    page.keyboard.press(" ")
    ready(page)
    assert "ablate" not in url_state(page)


# ----------------------------------------------------------------------------------- presenter


def font_px(page: Page, selector: str) -> float:
    return page.evaluate("(s) => parseFloat(getComputedStyle(document.querySelector(s)).fontSize)", selector)


def test_presenter_mode_round_trips_through_the_url_and_enlarges_the_text(page: Page, shot):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_app(page, text=SENTENCE)
    tab_before = font_px(page, ".tabs [role=tab]")
    tok_before = font_px(page, "#tokens .tok-text")
    plot_before = page.evaluate("() => document.querySelector('#attn-heatmap .plot').layout.font.size")
    page.click("#present")
    ready(page)
    assert url_state(page)["present"] == "1"
    expect(page.locator("body")).to_have_class("presenter")
    expect(page.locator("#present")).to_have_attribute("aria-pressed", "true")
    assert font_px(page, ".tabs [role=tab]") >= 1.25 * tab_before
    assert font_px(page, "#tokens .tok-text") >= 1.25 * tok_before
    page.wait_for_function(f"() => document.querySelector('#attn-heatmap .plot').layout.font.size >= {1.3 * plot_before}")
    # non-essential controls are hidden
    for sel in ("#copy-link", ".examples", "#attn-heatmap .exports", "footer.foot"):
        expect(page.locator(sel).first).to_be_hidden()
    assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 1280
    shot(page, "presenter-1280x720", full_page=False)
    # a copied link opens in presenter mode; `p` switches it off (and out of the URL)
    page.goto(page.url)
    ready(page)
    expect(page.locator("body")).to_have_class("presenter")
    blur(page)
    page.keyboard.press("p")
    ready(page)
    expect(page.locator("body")).not_to_have_class("presenter")
    assert "present" not in url_state(page)
    page.keyboard.press("p")
    ready(page)
    assert url_state(page)["present"] == "1"
    # typing a p into the sentence is just a letter
    page.focus("#text")
    page.keyboard.press("End")
    page.keyboard.type("p")
    page.wait_for_timeout(100)
    expect(page.locator("body")).to_have_class("presenter")


# ----------------------------------------------------------------------------------- phone


PLOT_BOXES = """() => [...document.querySelectorAll('main .view:not([hidden]) .plot')]
  .filter((p) => p.querySelector('.main-svg') || p.querySelector('table'))
  .map((p) => { const r = p.getBoundingClientRect(); const s = p.querySelector('.main-svg');
                return { left: r.left, right: r.right, width: p.clientWidth, svg: s ? s.getBoundingClientRect().width : 0 }; })"""


def test_a_phone_gets_one_column_and_no_sideways_scroll(page: Page, shot):
    page.set_viewport_size({"width": 390, "height": 844})
    open_app(page, text=SENTENCE)
    for view in ("attention", "arithmetic"):
        if view != "attention":
            page.click(f'.tabs [data-view="{view}"]')
            ready(page)
        page.wait_for_timeout(200)
        assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 390, view
        boxes = page.evaluate(PLOT_BOXES)
        assert boxes, view
        for b in boxes:
            assert b["left"] >= 0 and b["right"] <= 390 + 0.5, (view, b)
            assert b["svg"] <= b["width"] + 1, (view, b)
        if view == "attention":
            # one column: the heatmap and the links are stacked
            top = page.locator("#attn-heatmap").bounding_box()
            links = page.locator("#attn-lines").bounding_box()
            assert links["y"] >= top["y"] + top["height"] - 1
        # no Plotly mode bar over the top of a plot (a touch screen shows it always): the panels' own buttons save
        assert page.locator("main .view:not([hidden]) .modebar").count() == 0, view
        shot(page, f"phone-390x844-{view}")
    page.set_viewport_size({"width": 1280, "height": 800})  # (a desktop keeps it: shown on hover)
    page.click('.tabs [data-view="attention"]')
    ready(page)
    page.wait_for_function("() => document.querySelectorAll('main .view:not([hidden]) .modebar').length > 0")


# every control a finger taps on a phone, smaller than 24 x 24 CSS px (WCAG 2.2, 2.5.8 Target Size (Minimum)): buttons
# (the token chips, the tabs, the panels' PNG / SVG / CSV / JSON, the lesson sheet's close), menus, toggles, a
# checkbox's label (its target: the box alone is 13 px), sliders. Links inside a sentence are left out (WCAG's inline
# exception), as are controls hidden or scrolled out of a scrolling row.
SMALL_TARGETS = """(root) => [...document.querySelector(root || 'body').querySelectorAll(
    'button, select, a.button, summary, input[type=range], label:has(> input[type=checkbox])')]
  .filter((e) => e.offsetParent && getComputedStyle(e).visibility !== 'hidden')
  .map((e) => { const r = e.getBoundingClientRect();
    return { what: (e.id ? '#' + e.id + ' ' : '') + e.tagName.toLowerCase() + '.' + [...e.classList].join('.') + ' '
                   + (e.textContent || '').trim().slice(0, 30),
             w: Math.round(r.width * 10) / 10, h: Math.round(r.height * 10) / 10 }; })
  .filter((b) => b.w > 0 && b.h > 0 && (b.w < 24 || b.h < 24))"""


@pytest.mark.parametrize("view,model", [("attention", "tiny-sinusoidal"), ("arithmetic", "tiny-sinusoidal"),
                                        ("poslab", "tiny-sinusoidal"), ("heads", "tiny-sinusoidal"),
                                        ("model", "tiny-sinusoidal"), ("predictions", "tiny-sinusoidal"),
                                        ("attention", "minilm-l6"), ("compare", "smollm2-135m")])
def test_on_a_phone_every_control_is_at_least_24_px_to_tap(page: Page, need_models, view, model):
    """On a 390 x 844 phone the panels' export buttons were 17 px high, the attention view's head chips 19, the Position
    lab's diagram steps 19, the strip's cue and the buttons of the title bar 23, the chip of a one-letter token 23 px
    wide: under the 24 x 24 px a finger needs (WCAG 2.5.8)."""
    need_models(model)
    page.set_viewport_size({"width": 390, "height": 844})
    open_app(page, text="The cat sat on the mat, and a cat ate it.", model=model, view=view)
    page.wait_for_timeout(300)
    small = page.evaluate(SMALL_TARGETS, None)
    assert not small, small


def test_on_a_phone_the_lesson_sheet_s_controls_are_at_least_24_px_to_tap(page: Page):
    """The lesson sheet's close (×) was 18 px high, its "just show me" 23 px."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?lesson=attention-arithmetic&step=3")
    page.wait_for_selector('#lesson-panel[data-state="ready"][data-lesson="attention-arithmetic"][data-step="3"]')
    ready(page)
    assert page.locator("#lesson-panel .lesson-close").count() == 1
    small = page.evaluate(SMALL_TARGETS, "#lesson-panel")
    assert not small, small


# ----------------------------------------------------------------------------------- special tokens


def test_hiding_special_tokens_removes_them_from_the_strip_and_the_axes(page: Page, need_models, shot):
    need_models("minilm-l6")
    open_app(page, text=SENTENCE, model="minilm-l6")
    a = api(page, "/api/analyze", {"text": SENTENCE, "model": "minilm-l6"})
    texts = [t["display"] for t in a["tokens"]]
    keep = [i for i, t in enumerate(a["tokens"]) if not t["special"]]
    assert "[CLS]" in texts and "[SEP]" in texts and len(keep) == len(texts) - 2
    # shown by default, with their own style
    assert chip_texts(page) == texts
    expect(page.locator("#tokens .tok.special")).to_have_count(2)
    assert "[CLS]" in page.locator("#attn-heatmap .xtick text").all_text_contents()
    shot(page, "minilm-special-shown", full_page=False)

    page.check("#hide-special")
    ready(page)
    assert url_state(page)["hidespecial"] == "1"
    kept = [texts[i] for i in keep]
    assert chip_texts(page) == kept
    assert page.locator("#attn-heatmap .xtick text").all_text_contents() == kept
    assert page.locator("#attn-heatmap .ytick text").all_text_contents() == kept
    assert plot_data(page, "#attn-lines .plot")[0]["text"] == kept
    # the grid's hover names each cell's tokens by the API's index, as the heatmap and the strip do (plot position 1
    # is token keep[1])
    grid = plot_data(page, "#attn-grid .plot")[0]
    assert grid["text"][1][0].startswith(f"layer 0 · head 0<br>query {keep[1]} “{texts[keep[1]]}” → key {keep[0]} "
                                         f"“{texts[keep[0]]}”: ")  # (then the weight, 8-bit on this model)
    # the same numbers, rows and columns picked by index (nothing recomputed)
    z = plot_data(page, "#attn-heatmap .plot")[0]["z"]
    want = a["attention"][0][0]
    assert z == [[want[i][j] for j in keep] for i in keep]
    expect(page.locator('#attn-heatmap [data-part="heatmap"] .caption')).to_contain_text("Special tokens hidden ([CLS], [SEP])")
    # the chips keep the API's indices: clicking one selects that token
    page.click(f'#tokens .tok[data-index="{keep[2]}"]')
    ready(page)
    assert url_state(page)["token"] == str(keep[2])
    shot(page, "minilm-special-hidden")

    # the tiny model's BOS goes too, and the setting comes back from the URL
    open_app(page, text=SENTENCE, hidespecial=1)
    expect(page.locator("#hide-special")).to_be_checked()
    strip = chip_texts(page)
    assert "<|bos|>" not in strip and strip
    assert "<|bos|>" not in page.locator("#attn-heatmap .ytick text").all_text_contents()
    page.uncheck("#hide-special")
    ready(page)
    assert chip_texts(page)[0] == "<|bos|>"
    assert "hidespecial" not in url_state(page)


def test_hide_special_tokens_says_when_the_sentence_has_none(page: Page, need_models):
    """SmolLM2 adds no special token (no BOS): on its sentence "hide special tokens" could be ticked and changed
    nothing, a control that did nothing with no word why. There it is now off and says why (its label's title); on a
    sentence with a special token it works as before, and ticked it stays usable (to untick) on any model."""
    need_models("smollm2-135m")
    box = page.locator("#hide-special")
    open_app(page, text="Hi", model="smollm2-135m")
    a = api(page, "/api/analyze", {"text": "Hi", "model": "smollm2-135m"})
    assert not any(t["special"] for t in a["tokens"])
    expect(box).to_be_disabled()
    expect(page.locator("label:has(#hide-special)")).to_have_attribute(
        "title", re.compile("smollm2-135m adds no special token to this sentence"))
    open_app(page, text="Hi")  # the default model's BOS
    expect(box).to_be_enabled()
    expect(page.locator("label:has(#hide-special)")).to_have_attribute("title", re.compile(r"leave \[CLS\], \[SEP\] and BOS out"))
    open_app(page, text="Hi", model="smollm2-135m", hidespecial=1)
    expect(box).to_be_checked()
    expect(box).to_be_enabled()


# every token x token plot of a view on screen: its axes' labels and its rows (hover text names each token)
TOKEN_PLOTS = """() => [...document.querySelectorAll('main .view:not([hidden]) .plot')].filter((gd) => gd._fullLayout && gd.data)
  .flatMap((gd) => gd.data
    .filter((t) => t.type === 'heatmap' && Array.isArray(t.text) && String(t.text[0]?.[0] ?? '').startsWith('query '))
    .map((t) => ({ part: gd.closest('[data-part]')?.dataset.part, rows: t.text.map((r) => r[0].split('<br>')[0]),
      ticks: [...gd.querySelectorAll('.xtick text, .ytick text')].map((x) => x.textContent) })))"""


@pytest.mark.parametrize("model", ["minilm-l6", "tiny-sinusoidal"])
def test_hide_special_tokens_leaves_them_out_of_every_attention_plot(page: Page, need_models, model):
    """Ticked on minilm-l6, the attention plots of the Positional (normal, removed, shuffled, the differences, the
    four terms), Compare and Beyond attention views still showed [CLS] and [SEP] (only the Attention view's left them
    out), and tiny-sinusoidal's BOS likewise. Ticked, no row or axis label of those plots is a special token and each
    caption says they are hidden (the shuffled pattern's lists the positions of the tokens drawn); unticked, they are
    there. The box's title names what it hides."""
    need_models(model)
    special = {t["display"] for t in api(page, "/api/analyze", {"text": SENTENCE, "model": model})["tokens"] if t["special"]}
    assert special
    views = {"positional": {"normal", "removed", "shuffled", "d-removed", "d-shuffled", "decompose"},
             "compare": {"a", "b", "diff"}, "effects": {"raw", "vw", "lraw", "lvw", "rollout"}}
    for view, parts in views.items():
        for hide in (0, 1):
            open_app(page, text=SENTENCE, model=model, view=view, hidespecial=hide)
            page.wait_for_function(f"() => new Set(({TOKEN_PLOTS})().map((p) => p.part)).size >= {len(parts)}")
            plots = [p for p in page.evaluate(TOKEN_PLOTS) if p["part"] in parts]
            assert {p["part"] for p in plots} == parts, (view, hide)
            for p in plots:
                rows = [html.unescape(r) for r in p["rows"]]
                shown = {t for t in special if any(t in r for r in rows) or t in p["ticks"]}
                assert bool(shown) != bool(hide), (view, p["part"], hide, shown, p["ticks"])
            for part in parts:
                cap = page.locator(f'main .view:not([hidden]) [data-part="{part}"] .caption')
                if hide:
                    expect(cap).to_contain_text("Special tokens hidden")
                    if part == "shuffled":  # (the positions listed are those of the tokens drawn)
                        expect(cap).to_contain_text("Position given to each token shown: ")
                else:
                    expect(cap).not_to_contain_text("Special tokens hidden")
    title = page.locator("label:has(#hide-special)").get_attribute("title")
    assert re.search(r"Attention, Positional, Compare and Beyond attention views", title), title


def exported_shapes(data) -> tuple[list[list[dict]], list[tuple[str, int, set[int]]], list[tuple[str, int]]]:
    """What a panel's JSON export holds, wherever it lies in it: the lists of tokens (dicts with `special`), the
    matrices (key, rows, the lengths of the rows) and the lists of flags (key, length)."""
    tokens, matrices, flags = [], [], []

    def walk(x, key: str = "") -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list) and x and all(isinstance(t, dict) and "special" in t for t in x):
            tokens.append(x)
        elif isinstance(x, list) and x and all(isinstance(r, list) for r in x):
            matrices.append((key, len(x), {len(r) for r in x}))
        elif isinstance(x, list) and x and all(isinstance(b, bool) for b in x):
            flags.append((key, len(x)))
    walk(data)
    return tokens, matrices, flags


@pytest.mark.parametrize("model", ["minilm-l6", "tiny-sinusoidal"])
def test_hide_special_tokens_exports_what_is_drawn(page: Page, need_models, model):
    """Ticked, the JSON export of Positional's patterns, its four terms and the family's panels held every token,
    [CLS] and [SEP] included, and the whole matrices, where their CSV and plots left them out; Compare's difference
    sent both sides' whole token lists beside the cut matrix. Each export now holds the tokens drawn and their rows and
    columns only, as the Attention view's and Beyond attention's already did."""
    need_models(model)
    n_all = len(api(page, "/api/analyze", {"text": SENTENCE, "model": model})["tokens"])
    views = {"positional": ["normal", "removed", "shuffled", "d-removed", "d-shuffled", "decompose", f"m-{model}"],
             "compare": ["a", "b", "diff"], "effects": ["raw", "vw", "lraw", "lvw", "rollout"]}
    for view, parts in views.items():
        open_app(page, text=SENTENCE, model=model, view=view, hidespecial=1)
        for part in parts:
            button = page.locator(f'main .view:not([hidden]) [data-part="{part}"] button[data-export="json"]')
            if view == "positional" and part.startswith("m-") and not button.count():
                continue  # (a model outside the positional family: its panel is not drawn)
            with page.expect_download() as info:
                button.click()
            tokens, matrices, flags = exported_shapes(json.loads(open(info.value.path(), encoding="utf-8").read()))
            assert tokens and matrices, (view, part)
            n = len(tokens[0])
            assert n < n_all, (view, part)
            assert all(not t["special"] for ts in tokens for t in ts), (view, part)
            assert all(len(ts) == n for ts in tokens), (view, part)
            assert all(rows == n and lengths == {n} for _, rows, lengths in matrices), (view, part, matrices)
            assert all(length == n for _, length in flags), (view, part, flags)


# ----------------------------------------------------------------------------------- colour


GRID_CELL = """([i, j]) => {
  const gd = document.querySelector('#attn-heatmap .plot'), fl = gd._fullLayout, box = gd.getBoundingClientRect();
  return [box.left + fl._size.l + fl.xaxis.l2p(j), box.top + fl._size.t + fl.yaxis.l2p(i)];
}"""


def test_heatmaps_use_colour_blind_safe_scales_and_masked_cells_say_so(page: Page, shot):
    open_app(page, text=SENTENCE)
    hm = plot_data(page, "#attn-heatmap .plot")[0]
    assert hm["colorscale"] == "Viridis"
    n = len(hm["z"])
    assert hm["z"][0][n - 1] is None and hm["text"][0][n - 1].endswith("masked")
    # masked cells are striped (an image under the gaps), not only a colour
    assert page.evaluate("() => document.querySelector('#attn-heatmap .plot').layout.images.length") == 1
    grid = plot_data(page, "#attn-grid .plot")
    assert [t["colorscale"] for t in grid if t.get("type") == "heatmap"] == ["Viridis"]  # (and the role labels' text)
    heads = plot_data(page, "#attn-heads .plot")
    assert {t["colorscale"] for t in heads} <= {"Viridis", "Cividis"}
    # hovering a masked cell says "masked"
    page.locator("#attn-heatmap .plot").scroll_into_view_if_needed()
    x, y = page.evaluate(GRID_CELL, [1, n - 2])
    page.mouse.move(x, y)
    expect(page.locator("#attn-heatmap .hoverlayer")).to_contain_text("masked")
    shot(page, "hover-masked", full_page=False)


# ----------------------------------------------------------------------------------- API additions


def test_positional_view_asks_for_one_layer_and_head_with_a_blue_orange_difference(page: Page, shot):
    bodies = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data)) if r.url.endswith("/api/compare") else None)
    open_app(page, text=SENTENCE, view="positional", layer=1, head=2)
    assert bodies and all(b["layer"] == 1 and b["head"] == 2 for b in bodies)
    want = api(page, "/api/analyze", {"text": SENTENCE})["attention"][1][2]
    z = plot_data(page, '[data-part="normal"] .plot')[0]["z"]
    n = len(want)
    assert [[z[i][j] for j in range(i + 1)] for i in range(n)] == [[want[i][j] for j in range(i + 1)] for i in range(n)]
    diff = plot_data(page, '[data-part="d-shuffled"] .plot')[0]["colorscale"]

    def rgb(hex_: str) -> tuple[int, int, int]:
        return tuple(int(hex_[k:k + 2], 16) for k in (1, 3, 5))

    low, mid, high = rgb(diff[0][1]), rgb(diff[len(diff) // 2][1]), rgb(diff[-1][1])
    assert low[0] > low[2] + 80 and high[2] > high[0] + 80 and min(mid) > 230  # orange, white, blue
    shot(page, "positional-L1-H2")


def test_nearest_words_for_the_selected_token_use_its_id(page: Page, shot):
    # the BOS token has no word to type: it is looked up by its id
    with page.expect_response(lambda r: "/api/embeddings/neighbors" in r.url) as info:
        open_app(page, text=SENTENCE, view="embeddings", token=0)
    res = info.value
    assert "token_id=" in res.url and "word=" not in res.url
    data = res.json()
    assert data["token"]["special"] is True
    expect(page.locator('[data-part="neighbors"] .caption')).to_contain_text(f"“{data['token']['display']}”")
    expect(page.locator('[data-part="neighbors"] .reason')).to_be_hidden()
    shot(page, "neighbors-of-bos")


def test_a_refused_word_leaves_no_caption_of_the_word_before(page: Page):
    """Nearest words and the analogy: after a good word, a word that is not one token shows the reason alone (the
    caption named the word before, as if its bars were still there)."""
    open_app(page, text=SENTENCE, view="embeddings", word="cat", a="king", b="man", c="woman")
    nb, an = page.locator('[data-part="neighbors"]'), page.locator('[data-part="analogy"]')
    expect(nb.locator(".caption")).to_contain_text("cat”")
    expect(an.locator(".caption")).to_contain_text("king”")
    page.fill('[data-part="nbform"] input[name="word"]', "xyzzyq")
    page.press('[data-part="nbform"] input[name="word"]', "Enter")
    page.fill('[data-part="anform"] input[name="a"]', "xyzzyq")
    page.press('[data-part="anform"] input[name="a"]', "Enter")
    for fig in (nb, an):
        expect(fig.locator(".reason")).to_be_visible()
        expect(fig.locator(".reason")).to_contain_text("“xyzzyq” is not one token")
        assert "[" not in fig.locator(".reason").inner_text()  # the pieces as text, not a Python list
        expect(fig.locator(".caption")).to_be_hidden()


def test_the_analogy_says_where_the_expected_word_ranks(page: Page):
    """The fourth box: the caption gives the expected word's rank and cosine as the API does, and its bar is marked
    where it is among the bars; an empty box asks for no rank; the box lives in the URL."""
    open_app(page, text=SENTENCE, view="embeddings", a="boy", b="he", c="she", expect="girl")
    an = page.locator('[data-part="analogy"]')
    want = api(page, "/api/embeddings/analogy", {"a": "boy", "b": "he", "c": "she", "expect": "girl", "k": 10})
    e = want["expected"]
    expect(an.locator(".caption")).to_contain_text(f"“{e['token']['display']}”, the word expected, is")
    bars = plot_data(page, '[data-part="analogy"] .plot')[0]
    marked = [i for i, c in enumerate(bars["marker"]["color"]) if c != bars["marker"]["color"][-1]]
    assert marked == [e["rank"] - 1] and e["rank"] <= 10, (marked, e)
    assert url_state(page)["expect"] == "girl"
    # a word far down: its rank and cosine in the caption, no bar marked
    page.fill('[data-part="anform"] input[name="a"]', "king")
    page.fill('[data-part="anform"] input[name="b"]', "man")
    page.fill('[data-part="anform"] input[name="c"]', "woman")
    page.fill('[data-part="anform"] input[name="expect"]', "queen")
    page.press('[data-part="anform"] input[name="expect"]', "Enter")
    far = api(page, "/api/embeddings/analogy", {"a": "king", "b": "man", "c": "woman", "expect": "queen", "k": 10})
    e = far["expected"]
    rank = f"{e['rank']:,}" if e["rank"] > 1 else None
    expect(an.locator(".caption")).to_contain_text(
        f"is at rank {rank} of {e['of']:,} (cosine {e['cosine']:.3f}" if rank else "is the nearest")
    # the expected word among a, b and c: the bars stay, the caption says why there is no rank
    page.fill('[data-part="anform"] input[name="a"]', "queen")
    page.fill('[data-part="anform"] input[name="c"]', "king")
    page.press('[data-part="anform"] input[name="c"]', "Enter")
    expect(an.locator(".caption")).to_contain_text("No rank for the word expected: “␣queen” is a, b or c")
    expect(an.locator(".reason")).to_be_hidden()
    page.fill('[data-part="anform"] input[name="expect"]', "")
    page.press('[data-part="anform"] input[name="expect"]', "Enter")
    expect(an.locator(".caption")).not_to_contain_text("the word expected")
    assert "expect=&" in page.url or page.url.endswith("expect=")
    assert len(set(plot_data(page, '[data-part="analogy"] .plot')[0]["marker"]["color"])) == 1


# ----------------------------------------------------------------------------------- contrast

CONTRAST = """() => {
  // WCAG 2 contrast of each visible button's text against the background it is drawn on (its own, or the first
  // ancestor's that is not transparent)
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const e of document.querySelectorAll("button")) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height || !e.textContent.trim() || getComputedStyle(e).visibility === "hidden") continue;
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(background(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push({ text: e.textContent.trim().slice(0, 30), cls: e.className, ratio: Math.round(ratio * 100) / 100 });
  }
  return out;
}"""


@pytest.mark.parametrize("url", ["/?positions=removed&scale=0&ablate=0.1", "/?lesson=positional-encoding&step=2&present=1"])
def test_every_button_s_text_stands_out_from_its_background(page: Page, url, shot):
    """Each visible button, the interventions banner's "undo" among them (it was white on white), has text of at least
    4.5:1 contrast (WCAG AA) with what it is drawn on."""
    page.goto(url)
    ready(page)
    expect(page.locator("#intervention-banner .banner-undo")).to_be_visible()
    buttons = page.evaluate(CONTRAST)
    assert any(b["cls"].startswith("small banner-undo") for b in buttons)
    low = [b for b in buttons if b["ratio"] < 4.5]
    shot(page, "contrast", full_page=False)
    assert not low, low


IN_SIGHT = """() => {
  const strip = document.querySelector('#tokens');
  const chip = strip.querySelector('.tok.selected');
  const a = strip.getBoundingClientRect(), b = chip.getBoundingClientRect();
  return { index: Number(chip.dataset.index), inside: b.top >= a.top && b.bottom <= a.bottom && b.left >= a.left && b.right <= a.right,
           scrolls: strip.scrollHeight > strip.clientHeight || strip.scrollWidth > strip.clientWidth };
}"""


@pytest.mark.parametrize("extra", ["", "&token=40", "&present=1"])
def test_the_query_of_a_long_text_is_in_sight_in_the_token_strip(page: Page, extra):
    """A text of many tokens fills more than the strip's two rows: the selected query, the last token by default, is
    scrolled into the strip's sight (it was below, out of sight), also in presenter mode."""
    from urllib.parse import quote

    text = " ".join(["The little cat sat on the mat and looked at the big dog."] * 9)
    page.set_viewport_size({"width": 1280, "height": 720 if "present" in extra else 800})
    page.goto(f"/?text={quote(text)}{extra}")
    ready(page)
    seen = page.evaluate(IN_SIGHT)
    assert seen["scrolls"] and seen["inside"], seen
    assert seen["index"] == (40 if "token" in extra else page.locator("#tokens .tok").count() - 1)


HIDDEN_BY_STICKY = """() => {
  const e = document.activeElement, bar = document.querySelector('.sticky');
  if (!e || e === document.body || bar.contains(e)) return null;
  const r = e.getBoundingClientRect(), b = bar.getBoundingClientRect();
  return r.top < b.bottom - 1 && r.bottom > b.top + 1 ? (e.getAttribute('aria-label') || e.textContent).trim().slice(0, 40) : null;
}"""


def walk_focus(page: Page, key: str, presses: int, check: str) -> list:
    """Press `key` (Tab or Shift+Tab) `presses` times; what the script `check` says of each focused control (null:
    nothing wrong), the problems only."""
    found = []
    for _ in range(presses):
        page.keyboard.press(key)
        problem = page.evaluate(check)
        if problem:
            found.append(problem)
    return found


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desktop"])
def test_shift_tab_never_leaves_the_focus_under_the_sticky_token_strip(page: Page, size):
    """Going back up the page with Shift+Tab, the browser scrolled each control just into sight at the window's top,
    under the sticky token strip and tabs: the focused export buttons and the grid were hidden behind it."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_app(page, text="The cat sat on the mat.", view="attention")
    page.focus("footer.foot a")
    assert walk_focus(page, "Shift+Tab", 45, HIDDEN_BY_STICKY) == []


# a control taller than the room between the sticky strip and the sheet (the attention grid) cannot be above the sheet
# whole: its top must be in that room
COVERED_BY_SHEET = """() => {
  const e = document.activeElement, panel = document.querySelector('#lesson-panel');
  if (!e || e === document.body || panel.contains(e)) return null;
  const r = e.getBoundingClientRect(), p = panel.getBoundingClientRect();
  const bar = document.querySelector('.sticky').getBoundingClientRect();
  const room = getComputedStyle(document.querySelector('.sticky')).position === 'sticky' ? bar.bottom : 0;
  const covered = r.height > p.top - room ? !(r.top >= room - 1 && r.top < p.top - 24)
    : r.bottom > p.top + 1 && r.top < p.bottom - 1;
  const name = (e.getAttribute('aria-label') || e.textContent).trim().slice(0, 40);
  return covered ? `${name} at ${Math.round(r.top)}-${Math.round(r.bottom)}, the sheet at ${Math.round(p.top)}` : null;
}"""


def test_with_the_lesson_sheet_open_on_a_phone_tab_stops_above_it(page: Page):
    """On a phone the lessons are a sheet over the bottom half of the window: Tab went on through the token strip,
    the tabs and the view's controls under it, focused out of sight (the page did not scroll them above it)."""
    page.set_viewport_size({"width": 390, "height": 844})
    open_app(page, text="The cat sat on the mat.", view="attention")
    page.click("#lessons-toggle")
    expect(page.locator("#lesson-panel")).to_be_visible()
    page.focus("#lessons-toggle")
    assert walk_focus(page, "Tab", 35, COVERED_BY_SHEET) == []


ACTIVE = """() => { const e = document.activeElement;
  if (e === document.body) return 'body';
  return e.getAttribute('role') === 'tab' ? 'tab ' + e.dataset.view : (e.getAttribute('aria-label') || e.textContent).trim(); }"""


def test_a_control_a_view_draws_anew_keeps_the_keyboard(page: Page):
    """Enter on a Links head chip, on the Model view's next block: the view drew the control anew and the focus fell
    to the page's body (Tab started again from the top); a box that opens another view leaves it on that view's tab."""
    open_app(page, text="The cat sat on the mat.", view="attention")
    chip = page.locator('#attn-lines .head-chip[data-head="1"]')
    chip.focus()
    page.keyboard.press("Enter")
    ready(page)
    expect(page.locator('#attn-lines .head-chip[data-head="1"]')).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(200)
    assert page.evaluate(ACTIVE) == "H1"
    open_app(page, text="The cat sat on the mat.", view="model")
    page.locator('[aria-label="next block"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator('.mblock[aria-label="block 1"]')).to_be_attached()
    page.wait_for_timeout(200)
    assert page.evaluate(ACTIVE) == "next block"
    page.locator(".mpart", has_text="Q, K, V per head").first.focus()
    page.keyboard.press("Enter")
    ready(page)
    page.wait_for_timeout(200)
    assert url_state(page)["view"] == "qkv"
    assert page.evaluate(ACTIVE) == "tab qkv"
    # the heads' table sorted by a column from the keyboard: the focus stays on that column's header
    open_app(page, text="The cat sat on the mat.", view="heads")
    page.locator('#panel-heads th[data-role="sink"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => new URL(location.href).searchParams.get('role') === 'sink'")
    ready(page)
    page.wait_for_timeout(200)
    assert page.evaluate("() => document.activeElement.dataset.role") == "sink"
    expect(page.locator('#panel-heads th[data-role="sink"]')).to_have_attribute("aria-sort", "descending")


def test_on_a_phone_the_model_s_line_is_read_in_full(page: Page):
    """The line under the model menu (its sizes, the tokens it reads at most, its training text) was cut to one line
    with "…", the rest in a tooltip that a touch screen never shows."""
    page.set_viewport_size({"width": 390, "height": 844})
    open_app(page, text="The cat sat on the mat.")
    page.click("#settings-toggle")  # (a phone folds the line under Settings)
    info = page.locator("#model-info")
    expect(info).to_be_visible()
    expect(info).to_contain_text("reads at most 128 tokens")
    assert page.evaluate("() => { const e = document.querySelector('#model-info'); return e.scrollWidth <= e.clientWidth; }")
    assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 390


def test_the_model_s_line_says_the_longest_text_past_the_trained_length_in_all(page: Page):
    """The line under the model menu said "reads at most 128 tokens (512 past its trained length, with a warning)",
    which reads as 512 more than 128; the model reads 512 in all once allowed past its trained length."""
    open_app(page, text="The cat sat on the mat.")
    info = page.locator("#model-info")
    expect(info).to_contain_text("reads at most 128 tokens (512 in all when allowed past its trained length, with a "
                                 "warning)")


@pytest.mark.parametrize("model, size", [("minilm-l6", (390, 844)), ("smollm2-135m", (390, 844)), ("minilm-l6", (1280, 800))],
                         ids=["minilm-phone", "smollm2-phone", "minilm-desktop"])
def test_the_grid_s_head_names_are_inside_it(page: Page, need_models, model, size):
    """Twelve (or nine) heads across a phone, twelve across the desktop's half width: the grid's "head 11" was slanted
    past the plot's right edge, cut; where "head 11" has no room the heads are numbered."""
    need_models(model)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_app(page, text="The cat sat on the mat.", model=model, view="attention")
    out = page.evaluate("""() => { const gd = document.querySelector('#attn-grid .plot');
      const b = gd.querySelector('.main-svg').getBoundingClientRect();
      return [...gd.querySelectorAll('.xtick text')].filter((t) => { const r = t.getBoundingClientRect();
        return r.right > b.right + 1 || r.left < b.left - 1; }).map((t) => t.textContent); }""")
    assert page.locator("#attn-grid .xtick text").count() > 0
    assert out == []


def test_a_screen_reader_hears_when_a_view_is_drawn(page: Page):
    """The live status said "computing…" and then went blank: nothing told a screen-reader user that the view was
    drawn, nor for how many tokens. A polite live region (visually hidden) says the view, the token count and the query."""
    open_app(page, text=SENTENCE, view="attention")
    n = len(api(page, "/api/analyze", {"text": SENTENCE, "model": "tiny-sinusoidal"})["tokens"])
    region = page.locator("#announce")
    expect(region).to_have_attribute("role", "status")
    expect(region).to_have_text(re.compile(rf"^Attention drawn: {n} tokens, query token {n - 1} “\.”"))
    assert region.bounding_box() is None or region.bounding_box()["width"] <= 1  # heard, not seen
    page.fill("#text", "The cat sat.")
    m = len(api(page, "/api/analyze", {"text": "The cat sat.", "model": "tiny-sinusoidal"})["tokens"])
    expect(region).to_have_text(re.compile(rf"^Attention drawn: {m} tokens"))
    page.click('.tabs [data-view="predictions"]')
    expect(region).to_have_text(re.compile(rf"^Predictions drawn: {m} tokens"))


def test_a_screen_reader_hears_the_layer_and_head_the_arrow_keys_moved_to(page: Page):
    """The arrow keys move the layer and head; the live region said the same "Attention drawn: 12 tokens, query
    token 11 “.”" for every head, so a screen-reader user heard nothing of where the keys had taken them."""
    open_app(page, text=SENTENCE, view="attention")
    region = page.locator("#announce")
    expect(region).to_contain_text("layer 0, head 0")
    page.locator("body").focus()
    page.keyboard.press("ArrowDown")
    expect(region).to_contain_text("layer 1, head 0")
    page.keyboard.press("ArrowRight")
    expect(region).to_contain_text("layer 1, head 1")
    page.click('.tabs [data-view="predictions"]')  # a view of no one head: none named
    expect(region).to_have_text(re.compile(r"^Predictions drawn: "))
    expect(region).not_to_contain_text("head")


def test_a_screen_reader_hears_a_token_s_space_newline_and_tab_as_words(page: Page):
    """A chip's name was its display: "token 2: ␣" for a lone space, which a screen reader reads as nothing or as
    "open box"; the marks are said as words, as the legend explains them."""
    open_app(page, text="a b\n\tc", view="attention")
    tokens = api(page, "/api/analyze", {"text": "a b\n\tc", "model": "tiny-sinusoidal", "layers": []})["tokens"]
    names = page.locator("#tokens .tok").evaluate_all("(cs) => cs.map((c) => c.getAttribute('aria-label'))")
    assert len(names) == len(tokens)
    for name, t in zip(names, tokens, strict=True):
        assert not any(mark in name for mark in "␣↵⇥"), name
        if t["display"] == "␣b":
            assert name.endswith(": space b")
        if t["display"] == "↵":
            assert name.endswith(": newline")
        if t["display"] == "⇥":
            assert name.endswith(": tab")
    assert {"␣b", "↵", "⇥"} <= {t["display"] for t in tokens}
    # and the live region's query token, said the same way
    page.click(f'#tokens .tok[data-index="{[t["display"] for t in tokens].index("␣b")}"]')
    expect(page.locator("#announce")).to_contain_text("“space b”")


CHART_LABELS = """() => [...document.querySelectorAll('main .view:not([hidden]) .plot')].filter((gd) => !gd.hidden && gd._fullLayout)
  .map((gd) => {
    const z = gd.data[0] && gd.data[0].type === 'heatmap' ? gd.data[0].z.flat().filter((v) => v !== null) : null;
    return { part: (gd.closest('[data-part]') || gd.parentElement).dataset.part || gd.parentElement.id,
             title: (gd.closest('figure') && gd.closest('figure').querySelector('.panel-title')?.textContent) || '',
             role: gd.getAttribute('role'), label: gd.getAttribute('aria-label') || '',
             range: z && z.length ? [Math.min(...z), Math.max(...z)] : null };
  })"""


@pytest.mark.parametrize("view", ["attention", "predictions", "embeddings", "positional"])
def test_a_screen_reader_hears_each_chart_as_a_picture_of_its_data(page: Page, view, shot):
    """Each Plotly chart was a wordless box of SVG to a screen reader: now it is one picture (role img) named by its
    panel's title and what its data shows, the numbers its own (the grid, a keyboard control, keeps its own label)."""
    open_app(page, text=SENTENCE, view=view)
    charts = page.evaluate(CHART_LABELS)
    assert charts, charts
    for c in charts:
        if c["role"] == "group":  # the grid: its keys and selection, said by grid.js
            assert c["label"].startswith("every layer and head"), c
            continue
        assert c["role"] == "img" and c["label"].startswith(f"{c['title']}: ") and len(c["label"]) > len(c["title"]) + 10, c
        if c["range"]:
            lo, hi = (f"{float(f'{v:.3g}'):g}".replace("-", "−") for v in c["range"])
            assert f"values {lo} to {hi}" in c["label"], c
    shot(page, f"{view}-charts", full_page=False)
