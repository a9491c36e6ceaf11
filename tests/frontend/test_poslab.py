"""The position lab in a real browser (issue 20): the loss-by-position plot, the scheme diagrams and the probe plot
draw for the five tiny models with the API's numbers (the smoothed line recomputed here another way); a sentence past
the trained length on tiny-rotary is offered, then runs with the API's warning, and the attention at a position past
128 is the API's; on tiny-learned the page says why it cannot; ALiBi in the positional view (its bias by distance, the
bias term of the decomposition, the fifth model in the comparison); screenshots at 1280x800, 1280x720 presenting and
390x844 (test-results/screenshots/)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.conftest import ROOT
from tests.frontend.pages import plot_data, ready, url_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT = 300_000  # ms: generous, for a loaded machine (plotly.js alone can take minutes to parse there)
FIVE = ("tiny-sinusoidal", "tiny-learned", "tiny-rotary", "tiny-nope", "tiny-alibi")
THEME = json.loads((ROOT / "frontend" / "js" / "theme.json").read_text(encoding="utf-8"))
TOL = 1e-9


@pytest.fixture(autouse=True)
def _patient(page: Page, need_models):
    need_models(*FIVE)
    page.set_default_timeout(WAIT)
    page.set_default_navigation_timeout(WAIT)


def get(page: Page, path: str) -> dict:
    res = page.request.get(path)
    assert res.ok, res.text()
    return res.json()


def smoothed(values: list[float], window: int) -> list[float]:
    """A centred mean over `window` positions, fewer at the ends: written here with plain slices, not prefix sums."""
    half = window // 2
    out = []
    for i in range(len(values)):
        part = values[max(0, i - half): i + half + 1]
        out.append(sum(part) / len(part))
    return out


def trace(data: list, name: str) -> dict:
    found = [t for t in data if t.get("name") == name]
    assert len(found) == 1, [t.get("name") for t in data]
    return found[0]


def close(a: list, b: list, tol: float = TOL) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_the_length_plot_draws_the_five_models_with_the_api_numbers(page: Page, shot):
    page.goto("/?" + urlencode({"view": "poslab", "model": "tiny-sinusoidal"}))
    ready(page, WAIT)
    api = get(page, "/api/positional/lengths")
    assert {c["model"] for c in api["models"]} >= set(FIVE), api["missing"]
    data = plot_data(page, '[data-part="lengths-plot"] .plot')
    for c in api["models"]:
        colour = THEME["schemes"][c["positional"]]
        line = trace(data, f'{c["model"]} · {c["positional"]}')
        raw = trace(data, f'{c["model"]} (raw)')
        assert raw["y"] == c["loss"]  # the API's numbers, as sent
        assert close(line["y"], smoothed(c["loss"], 17), 1e-9), c["model"]
        assert line["x"][-1] == c["positions"] - 1
        assert line["line"]["color"] == raw["line"]["color"] == colour
        # the table: the loss at 128, 256 and 512 tokens, as the API gives it
        row = page.locator(f'.lengths-table tr[data-model="{c["model"]}"]')
        for length, at in c["at"].items():
            cell = row.locator(f'td[data-at="{length}"]')
            expect(cell).to_have_text(f'{at["mean_loss"]:.3f}' if at else "cannot run")
    learned = next(c for c in api["models"] if c["model"] == "tiny-learned")
    assert learned["positions"] == 128 and learned["why_not_beyond"]
    assert learned["why_not_beyond"] in page.locator('[data-part="lengths-notes"]').inner_text()
    # the trained length: a vertical line between position 127 and 128
    layout = page.evaluate("() => document.querySelector('[data-part=\"lengths-plot\"] .plot').layout")
    assert [(s["x0"], s["x1"]) for s in layout["shapes"]] == [(127.5, 127.5)]
    # the raw curve on request, in the URL
    page.select_option('select[name="smooth"]', "1")
    page.wait_for_function("() => new URLSearchParams(location.search).get('smooth') === '1'")
    ready(page, WAIT)
    page.wait_for_function(
        "() => !document.querySelector('[data-part=\"lengths-plot\"] .plot').data.some(t => t.name.endsWith('(raw)'))")
    data = plot_data(page, '[data-part="lengths-plot"] .plot')
    for c in api["models"]:
        assert trace(data, f'{c["model"]} · {c["positional"]}')["y"] == c["loss"]
    shot(page, "lengths-raw")


def test_the_scheme_diagrams_and_the_probe_plot_draw_for_the_five_models(page: Page, shot):
    page.goto("/?" + urlencode({"view": "poslab", "model": "tiny-alibi"}))
    ready(page, WAIT)
    expected = {"sinusoidal": "add_position", "learned": "add_position", "rotary": "rotate", "alibi": "bias", "none": None}
    for name in FIVE:
        api = get(page, f"/api/positional/scheme?model={name}")
        card = page.locator(f'.scheme[data-model="{name}"]')
        expect(card).to_have_count(1)
        steps = card.locator(".step")
        assert steps.evaluate_all("els => els.map(e => e.dataset.step)") == [s["id"] for s in api["steps"]]
        coloured = card.locator(".step.positional").evaluate_all("els => els.map(e => e.dataset.step)")
        assert coloured == [s["id"] for s in api["steps"] if s["positional"]]
        assert coloured == ([expected[api["positional"]]] if expected[api["positional"]] else [])
        assert api["summary"] in card.inner_text()
    # the model on screen is the highlighted one
    assert page.locator(".scheme.current").evaluate_all("els => els.map(e => e.dataset.model)") == ["tiny-alibi"]

    probe = get(page, "/api/positional/probe")
    data = plot_data(page, '[data-part="probe-plot"] .plot')
    for c in probe["models"]:
        t = trace(data, f'{c["model"]} · {c["positional"]}')
        assert t["y"] == [d["r2"] for d in c["depths"]]
        assert t["line"]["color"] == THEME["schemes"][c["positional"]]
        assert t["x"][0] == "input" and t["x"][-1] == f'block {len(c["depths"]) - 2}'
    intro = page.locator('[data-part="probe"] .intro').inner_text()
    assert "ridge regression" in intro and "validation text" in intro and "held-out text" in intro
    shot(page, "poslab-1280x800")

    # a step links to the view that shows its numbers: ALiBi's bias -> the arithmetic view
    page.locator('.scheme[data-model="tiny-alibi"] button.step[data-step="bias"]').click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('view') === 'arithmetic'")
    ready(page, WAIT)


def test_the_position_lab_at_a_projector_and_on_a_phone(page: Page, shot):
    for (w, h), extra, what in [((1280, 720), {"present": 1}, "presenter-1280x720"), ((390, 844), {}, "phone-390x844")]:
        page.set_viewport_size({"width": w, "height": h})
        page.goto("/?" + urlencode({"view": "poslab", "model": "tiny-rotary", **extra}))
        ready(page, WAIT)
        # nothing wider than the screen
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, (what, overflow)
        for sel in ('[data-part="lengths-plot"] .plot .main-svg', '[data-part="probe-plot"] .plot .main-svg', ".scheme"):
            box = page.locator(sel).first.bounding_box()
            assert box and box["width"] > 200 and box["x"] >= 0 and box["x"] + box["width"] <= w + 1, (what, sel, box)
        # the loss table scrolls sideways in its box where it is wider; its caption stays readable inside the box (on
        # a phone it was as wide as the table: 'what an evaluation on texts of L tokens' ran out of sight)
        cap = page.evaluate("""() => { const t = document.querySelector('table.lengths-table');
            const c = t.caption.getBoundingClientRect(); const box = t.parentElement.getBoundingClientRect();
            return { cap: [c.left, c.right], box: [box.left, box.right] }; }""")
        assert cap["box"][0] - 1 <= cap["cap"][0] and cap["cap"][1] <= cap["box"][1] + 1, (what, cap)
        shot(page, what)


def long_text(page: Page, chars: int) -> str:
    """The long story the page itself offers (views/poslab.js), cut to `chars` characters."""
    story = page.evaluate("() => import('/js/views/poslab.js').then(m => m.LONG_STORY)")
    return story[:chars]


def test_a_200_token_sentence_on_tiny_rotary_runs_past_128_with_a_warning(page: Page, shot):
    page.goto("/?" + urlencode({"view": "poslab", "model": "tiny-rotary"}))
    ready(page, WAIT)
    text = long_text(page, 820)
    page.goto("/?" + urlencode({"view": "attention", "model": "tiny-rotary", "text": text, "token": 150}))
    # too long for the trained length: the page offers to run it past (no plot yet)
    offer = page.locator('#beyond[data-kind="offer"]')
    expect(offer).to_be_visible(timeout=WAIT)
    expect(offer).to_contain_text("128", timeout=WAIT)
    offer.locator("button[name=allow-beyond]").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('beyond') === '1'")
    ready(page, WAIT)
    answer = get(page, "/api/positional/scheme?model=tiny-rotary")  # the model can run past its length
    assert answer["why_not_beyond"] is None
    res = page.request.post("/api/analyze", data={"text": text, "model": "tiny-rotary", "allow_beyond_trained": True,
                                                   "layers": [0]})
    assert res.ok, res.text()
    a = res.json()
    n = len(a["tokens"])
    assert 180 <= n <= 260, n
    warning = page.locator('#beyond[data-kind="warning"]')
    expect(warning).to_be_visible(timeout=WAIT)
    expect(warning).to_contain_text(a["beyond_trained"]["warning"])
    assert page.locator("#error").is_hidden()
    # the attention of the query at position 150 (never seen in training), layer 0 head 0, is the API's
    assert page.locator("#query-label").inner_text().startswith("150 ")
    z = plot_data(page, "#attn-heatmap .plot")[0]["z"]
    assert len(z) == n
    row = a["attention"][0][0][150]
    assert close([v for v in z[150][:151]], row[:151], 1e-12)
    assert all(v is None for v in z[150][151:])  # the keys after the query: masked
    assert url_state(page)["token"] == "150"
    shot(page, "attention-position-150")


def test_on_tiny_learned_the_page_says_why_it_cannot_run_past_128(page: Page, models):
    page.goto("/?" + urlencode({"view": "poslab", "model": "tiny-learned"}))
    ready(page, WAIT)
    why = models["tiny-learned"]["why_not_beyond"]
    assert why
    # the position lab says so, and offers no control to allow it
    intro = page.locator('[data-part="try"] .intro').inner_text()
    assert why in intro and "tiny-rotary" in intro
    assert page.locator('[data-part="try"] [data-part="ctl"]').is_hidden()
    text = long_text(page, 820)
    page.goto("/?" + urlencode({"view": "attention", "model": "tiny-learned", "text": text, "beyond": 1}))
    notice = page.locator('#beyond[data-kind="cannot"]')
    expect(notice).to_be_visible(timeout=WAIT)
    expect(notice).to_contain_text(why)
    expect(notice).to_contain_text("tiny-alibi")


def test_a_text_too_long_for_smollm2_opens_on_the_default_model_in_one_click(page: Page, models, need_models, shot):
    """SmolLM2 reads at most 128 tokens here and cannot run past them: the note by the sentence names the models that
    read the text past their trained length, and a button opens it on one of them (the default model), past its
    trained length, where the page draws it with its warning."""
    need_models("smollm2-135m")
    page.goto("/?" + urlencode({"view": "poslab", "model": "tiny-rotary"}))
    ready(page, WAIT)
    text = long_text(page, 820)
    page.goto("/?" + urlencode({"view": "attention", "model": "smollm2-135m", "text": text}))
    notice = page.locator('#beyond[data-kind="cannot"]')
    expect(notice).to_be_visible(timeout=WAIT)
    default = next(name for name, m in models.items() if m.get("default"))
    button = notice.locator("button[name=open-model]")
    expect(button).to_have_text(f"Open it on {default}")
    shot(page, "smollm2-too-long")
    button.click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('model') !== 'smollm2-135m'")
    ready(page, WAIT)
    state = url_state(page)
    assert state.get("model", default) == default and state["beyond"] == "1", state
    expect(page.locator('#beyond[data-kind="warning"]')).to_be_visible(timeout=WAIT)
    assert page.locator("#error").is_hidden()
    assert len(plot_data(page, "#attn-heatmap .plot")[0]["z"]) > 128


def test_alibi_in_the_positional_view(page: Page):
    page.goto("/?" + urlencode({"view": "positional", "model": "tiny-alibi", "head": 1}))
    ready(page, WAIT)
    scheme = get(page, "/api/positional/scheme?model=tiny-alibi&n=64")
    # in place of an encoding: each head's bias by distance, the API's numbers
    data = plot_data(page, '[data-part="enc"] [data-part="encoding"] .plot')
    assert [t["y"] for t in data] == scheme["alibi"]["bias"]
    assert [t["x"] for t in data] == [scheme["alibi"]["distance"]] * len(data)
    # the decomposition: the four terms, the bias, the total; the bias is the API's
    res = page.request.post("/api/positional/decompose", data={"text": page.locator("#text").input_value(),
                                                              "model": "tiny-alibi", "layer": 0, "head": 1})
    assert res.ok, res.text()
    dec = res.json()
    layout = page.evaluate("() => document.querySelector('[data-part=\"decompose\"] .plot').layout")
    assert [a["text"] for a in layout["annotations"]] == ["content·content", "content·position", "position·content",
                                                           "position·position", "+ ALiBi bias", "= total score"]
    panels = plot_data(page, '[data-part="decompose"] .plot')
    assert panels[4]["z"] == dec["bias"]
    # the comparison of the schemes: the five models
    names = page.locator('[data-part="models"] .panel-title').all_inner_texts()
    assert [n.lstrip("▸ ") for n in names] == list(FIVE)


def test_with_positions_shuffled_the_measured_sections_say_they_are_of_the_models_as_trained(page: Page):
    """The Positions control set to shuffled (its banner on top): the loss curves and the R² are measured on the models
    as trained and do not move, and sections 1 and 3 now say so; back to normal, the words go."""
    page.goto("/?" + urlencode({"view": "poslab", "model": "tiny-rotary", "positions": "shuffled"}))
    ready(page, WAIT)
    words = "These numbers were measured on the models as trained: the page's setting (positions shuffled) does not change them."
    view = page.locator('main .view[data-view="poslab"]')
    expect(view.locator('[data-part="lengths"] > .intro')).to_contain_text(words)
    expect(view.locator('[data-part="probe"] > .intro')).to_contain_text(words)
    page.select_option("select[name=positions]", "normal")
    expect(view.locator('[data-part="lengths"] > .intro')).not_to_contain_text("as trained")
    expect(view.locator('[data-part="probe"] > .intro')).not_to_contain_text("as trained")


@pytest.mark.parametrize("on_screen", ["tiny-rotary", "smollm2-135m"])
def test_a_step_of_another_scheme_opens_the_view_on_that_scheme_s_model(page: Page, need_models, on_screen):
    # on tiny-rotary, the sinusoidal card's "+ position vector" opened the Positional view of tiny-rotary (which has
    # no position vector: "What rotary positions do instead"), and ALiBi's bias the arithmetic of a model without it
    need_models(on_screen)
    for card, step, view in [("tiny-sinusoidal", "add_position", "positional"), ("tiny-alibi", "bias", "arithmetic")]:
        page.goto("/?" + urlencode({"view": "poslab", "model": on_screen}))
        ready(page, WAIT)
        page.locator(f'.scheme[data-model="{card}"] button.step[data-step="{step}"]').click()
        page.wait_for_function(f"() => new URLSearchParams(location.search).get('view') === '{view}'")
        ready(page, WAIT)
        assert url_state(page)["model"] == card
        assert page.locator("#model").input_value() == card
    # a step of the card on screen keeps its model
    page.goto("/?" + urlencode({"view": "poslab", "model": "tiny-rotary"}))
    ready(page, WAIT)
    page.locator('.scheme[data-model="tiny-rotary"] button.step[data-step="rotate"]').click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('view') === 'qkv'")
    assert url_state(page)["model"] == "tiny-rotary"
