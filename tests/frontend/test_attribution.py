"""Why this next word, in the page (issue 17): the model as one picture, the logit lens, direct logit attribution,
attention beside what it moves with the measured ablation, and sampling with the generated tokens stepped through.
Each view draws on the default model and on SmolLM2; the numbers drawn are the API's."""

from __future__ import annotations

import json
import math
import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.frontend import pages
from tests.frontend.pages import api, plot_data, url_state

pytestmark = pytest.mark.browser

TEXT = "Lily had a red ball. Lily gave the ball to"
SMOL = "smollm2-135m"
SLOW_LOAD = 240_000  # SmolLM2 loads in the background on its first request
PATIENCE = 180_000  # a view's forward passes (and the attribution's) while other work shares the cores


def ready(page: Page, timeout: float = PATIENCE) -> None:
    pages.ready(page, timeout)


def open_app(page: Page, **params) -> None:
    page.goto("/?" + urlencode(params))
    ready(page)


@pytest.fixture(autouse=True)
def _patient(page: Page):
    """These tests wait for forward passes of SmolLM2 and for several views: more time than Playwright's default
    30 s when the machine's cores are shared."""
    page.set_default_timeout(180_000)
    page.set_default_navigation_timeout(300_000)


def prob4(p: float) -> str:
    """A probability of an answer rounded to 4 decimals as the page writes it (derive.js probText, decimals 4)."""
    return f"{p:.3f}" if p >= 0.01 else "< 0.0001" if p == 0 else f"{p:.4f}"


def cell_xy(page: Page, selector: str, x: float, y: float) -> tuple[float, float]:
    """Where on the screen a heatmap's cell (x, y) is, the plot scrolled into view first (the training-step slider
    above the views can push it below the fold)."""
    page.locator(selector).scroll_into_view_if_needed()
    return tuple(page.evaluate("""([s, x, y]) => {
        const gd = document.querySelector(s);
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
        return [r.left + xa.l2p(x), r.top + ya.l2p(y)];
    }""", [selector, x, y]))


def check_lens(page: Page, model: str | None, text: str) -> None:
    want = api(page, "/api/attribution/lens", {"text": text, "top_k": 10, **({"model": model} if model else {})})
    blocks, embed = plot_data(page, "#panel-lens [data-part=prob] .plot")
    # each block's two readings, and above them the embeddings' one, a cell across both columns (as in the table)
    assert blocks["z"] == [[c["prob"] for c in cells] for cells in want["cells"]]
    assert (embed["z"], embed["x"], embed["y"]) == ([[want["embedding"]["prob"]]], [-0.5, 1.5], [-0.5, 0.5])
    # the last reading is the model's own output: its probability is the token's
    assert blocks["z"][-1][-1] == want["token"]["prob"]
    expect(page.locator("#panel-lens .lens-note")).to_contain_text("not what the model would output there")
    rows = page.locator("#panel-lens .lens-table tbody tr")
    expect(rows).to_have_count(want["n_layers"] + 1)
    # a table taller than its box says that it scrolls
    scrolls = page.evaluate("(() => { const w = document.querySelector('#panel-lens .lens-table').parentElement; "
                            "return w.scrollHeight > w.clientHeight + 1; })()")
    said = "Scroll the table" in page.locator("#panel-lens [data-part=top] .caption").inner_text()
    assert scrolls == said, (scrolls, said)


def check_attribution(page: Page, model: str | None, text: str) -> None:
    body = {"text": text, **({"model": model} if model else {})}
    want = api(page, "/api/attribution/logit", body)
    heads = plot_data(page, "#panel-attribution [data-part=heads] .plot")[0]["z"]
    parts = plot_data(page, "#panel-attribution [data-part=parts] .plot")[0]["x"]
    assert heads == want["heads"]
    assert parts == [p["value"] for p in want["parts"]]
    # the parts drawn add up to the logit shown (each value is rounded to 4 decimals by the API)
    drawn = sum(map(sum, heads)) + sum(parts)
    n = sum(map(len, heads)) + len(parts)
    assert abs(drawn - want["logit"]) <= 5e-5 * n + 1e-4 * abs(want["logit"])
    line = page.locator("#panel-attribution .sumline.total").text_content()
    assert f"= {want['total']:.4f}; the model's own value: {want['logit']:.4f}." in line


def test_each_new_view_draws_on_the_default_model(page: Page):
    open_app(page, text=TEXT, view="model")
    m = page.request.get("/api/models").json()
    info = next(x for x in m["models"] if x["name"] == m["default"])
    sizes = page.locator("#panel-model .msizes").text_content()
    for k in ("layers", "heads", "d_model", "d_head", "d_mlp"):
        assert k in sizes
    assert f"d_model{info['d_model']}" in sizes.replace(" ", "") and f"d_mlp{info['d_mlp']}" in sizes.replace(" ", "")
    expect(page.locator("#panel-model .mblock-title")).to_have_text(f"× {info['n_layers']} blocks")
    top = api(page, "/api/predict", {"text": TEXT, "top_k": 1})["predictions"][0]
    expect(page.locator("#panel-model .mpredict")).to_contain_text(f"probability {top['prob']:.3f}")
    page.click("#tab-lens")
    ready(page)
    check_lens(page, None, TEXT)
    page.click("#tab-attribution")
    ready(page)
    check_attribution(page, None, TEXT)
    page.click("#tab-effects")
    ready(page)
    want = api(page, "/api/attribution/attention", {"text": TEXT, "layer": 0, "head": 0})
    raw = plot_data(page, "#panel-effects [data-part=raw] .plot")[0]["z"]
    assert raw == [[w if j <= i else None for j, w in enumerate(row)] for i, row in enumerate(want["raw"])]
    roll = plot_data(page, "#panel-effects [data-part=rollout] .plot")[0]["z"]
    assert roll[-1][: len(roll)] == want["rollout"][-1]
    expect(page.locator("#panel-effects [data-part=raw] .caption")).to_have_text(want["captions"]["raw"])
    # a small model: every head's ablation is measured without asking, a layer per request
    expect(page.locator("#panel-effects .measure-note")).to_contain_text("16 heads, 16 forward passes")
    abl = api(page, "/api/attribution/ablation", {"text": TEXT, "layers": [3]})
    z = plot_data(page, "#panel-effects [data-part=effects] .plot")[0]["z"]
    assert z[3] == [e["delta_prob"] for e in abl["effects"][0]]
    # the title gives the probability as the run is, and says the cells are its changes
    t = abl["token"]
    expect(page.locator("#panel-effects [data-part=effects] .panel-title")).to_have_text(
        f"p(“{t['display']}”) is {prob4(t['prob'])}: its change with each head ablated")
    # the probabilities are at temperature 1, whatever the predictions view's slider: said where it is elsewhere
    open_app(page, text=TEXT, view="effects", temp=2)
    expect(page.locator("#panel-effects [data-part=effects] .panel-title")).to_have_text(
        f"p(“{t['display']}”) is {prob4(t['prob'])} (at temperature 1): its change with each head ablated")



def test_the_ablation_title_writes_a_small_probability_as_the_lens_does(page: Page):
    """A token of rank 638 (id 300) chosen on Beyond attention: the title said "p(“␣S”) is 0: its change with each
    head ablated", a probability of none, where the API's 4 decimals only say it is under 0.0001."""
    a = api(page, "/api/attribution/ablation", {"text": TEXT, "layers": [0], "token": 300})
    assert a["token"]["prob"] == 0  # (the case)
    open_app(page, text=TEXT, view="effects", target=300)
    expect(page.locator("#panel-effects [data-part=effects] .panel-title")).to_have_text(
        f"p(“{a['token']['display']}”) is < 0.0001: its change with each head ablated")


def test_the_ablation_note_counts_the_passes_it_ran(page: Page):
    """With a head ablated already, its cell needs no pass: the note says 15 passes of 16 heads, as the API's
    `passes` (it said 16). Its cell is blank: it showed 0.000, the colour of a head that does not matter, where
    ablating a head again changes nothing by construction."""
    open_app(page, text=TEXT, view="effects", ablate="0.1", token=3)
    passes = sum(api(page, "/api/attribution/ablation", {"text": TEXT, "layers": [l], "ablate": [[0, 1]]})["passes"]
                 for l in range(4))
    assert passes == 15
    expect(page.locator("#panel-effects .measure-note")).to_have_text(
        "16 heads, 15 forward passes (1 already ablated: its cell is left blank, as ablating a head again changes "
        "nothing).")
    z = plot_data(page, "#panel-effects [data-part=effects] .plot")[0]["z"]
    assert z[0][1] is None and all(v is not None for l, row in enumerate(z) for h, v in enumerate(row) if (l, h) != (0, 1))
    # the position explained is not the last: the title names it
    a = api(page, "/api/attribution/ablation", {"text": TEXT, "layers": [0], "ablate": [[0, 1]], "position": 3})
    expect(page.locator("#panel-effects [data-part=effects] .panel-title")).to_have_text(
        f"p(“{a['token']['display']}”) after “{a['tokens'][3]['display']}” (token 3) is {prob4(a['token']['prob'])}: "
        "its change with each head ablated")

def test_the_ablation_effects_say_which_colour_is_a_head_that_helped(page: Page):
    """The effects heatmap draws the change with each head ablated: negative (orange) where the token's probability
    falls without the head, the head having helped it. Its caption said nothing of the colours, and the attribution
    view beside it draws a head that helps in blue."""
    open_app(page, text=TEXT, view="effects")
    want = [api(page, "/api/attribution/ablation", {"text": TEXT, "layers": [l]})["effects"][0] for l in range(4)]
    trace = plot_data(page, "#panel-effects [data-part=effects] .plot")[0]
    assert trace["z"] == [[e["delta_prob"] for e in row] for row in want]
    scale = trace["colorscale"]
    assert trace["zmid"] == 0 and trace["zmin"] == -trace["zmax"]
    low, high = scale[0][1], scale[-1][1]  # drawn at the most negative change, and at the most positive one
    r, g, b = (int(low[i:i + 2], 16) for i in (1, 3, 5))
    assert r > b, low  # orange
    r, g, b = (int(high[i:i + 2], 16) for i in (1, 3, 5))
    assert b > r, high  # blue
    expect(page.locator("#panel-effects [data-part=effects] .caption")).to_contain_text(
        "Orange: lower without the head (it helped the token); blue: higher (it held the token back).")


def test_a_why_view_waiting_for_its_analysis_says_so_then_shows_the_new_sentence(page: Page):
    """The lens view's analysis carries more than the attention view's: back on the lens tab after the sentence
    changed elsewhere, its old picture is marked loading until the new analysis is in, then shows the new sentence."""
    open_app(page, text=TEXT, view="lens")
    check_lens(page, None, TEXT)
    page.click("#tab-attention")
    ready(page)
    other = "Tom had a big dog. Tom gave the dog to"
    page.fill("#text", other)
    ready(page)  # the attention view's analysis of the new sentence
    held, hold = [], [True]
    page.route("**/api/analyze", lambda route: held.append(route) if hold[0] else route.continue_())
    page.click("#tab-lens")
    expect(page.locator("#panel-lens")).to_be_visible()
    expect(page.locator("#panel-lens")).to_have_attribute("data-state", "loading")
    for _ in range(200):  # the held request reaches the route handler as the page's events are processed
        if held:
            break
        page.wait_for_timeout(50)
    assert held and "why" in (held[0].request.post_data or "")
    assert json.loads(held[0].request.post_data)["layers"] == []  # it draws none of the attention: no layer in full
    expect(page.locator("#panel-lens")).to_have_attribute("data-state", "loading")  # still, while it is held
    hold[0] = False
    for route in held:
        route.continue_()
    ready(page)
    check_lens(page, None, other)


def test_the_effects_view_draws_a_new_sentence_from_one_request_and_another_head_from_the_kept_pass(page: Page):
    """The effects view's analysis carries the selected head's attribution (`attention_attribution`): on a new
    sentence the page sends that one request, no /api/attribution/attention, and draws the head once it is in;
    another head is another analysis of the same sentence, whose pass the server keeps."""
    open_app(page, text=TEXT, view="effects", layer=2, head=1)
    analyses, asked = [], []
    page.on("request", lambda r: analyses.append(r.post_data_json) if r.url.endswith("/api/analyze") else None)
    page.on("request", lambda r: asked.append(r.url) if "/api/attribution/attention" in r.url else None)
    other = "Tom had a big dog. Tom gave the dog to"
    page.fill("#text", other)
    ready(page)
    assert [a["attention_attribution"] for a in analyses if a["text"] == other] == [{"layer": 2, "head": 1}]
    assert asked == []
    for head in (1, 3):
        if head == 3:
            page.select_option("#head", "3")
            ready(page)
            assert analyses[-1]["attention_attribution"] == {"layer": 2, "head": 3} and asked == []
        want = api(page, "/api/attribution/attention", {"text": other, "layer": 2, "head": head})
        raw = plot_data(page, "#panel-effects [data-part=raw] .plot")[0]["z"]
        assert raw == [[w if j <= i else None for j, w in enumerate(row)] for i, row in enumerate(want["raw"])]
        expect(page.locator("#panel-effects [data-part=head] > h3")).to_have_text(
            f"Layer 2, head {head}: attention beside what it moves")

def test_the_effects_view_says_which_heads_are_ablated_where_it_leaves_them_out(page: Page):
    open_app(page, text=TEXT, view="effects", layer=2, head=0, ablate="2.0,2.3")
    expect(page.locator("#panel-effects [data-part=head] .intro")).to_contain_text("Head 0 is ablated")
    expect(page.locator("#panel-effects [data-part=lraw] .caption")).to_contain_text("(2 ablated left out: heads 0, 3)")
    expect(page.locator("#panel-effects [data-part=whole] .intro")).to_contain_text("that are not ablated (I where all are)")
    open_app(page, text=TEXT, view="effects", layer=2, head=0, ablate="2.3")  # (the number a head's, not a count)
    expect(page.locator("#panel-effects [data-part=lraw] .caption")).to_contain_text("(1 ablated left out: head 3)")
    open_app(page, text=TEXT, view="effects", layer=2, head=0)
    expect(page.locator("#panel-effects [data-part=head] .intro")).to_have_text("")
    expect(page.locator("#panel-effects [data-part=whole] .intro")).to_contain_text("A the mean of its heads.")


def test_clicking_a_head_of_the_attribution_opens_its_attention(page: Page):
    open_app(page, text=TEXT, view="attribution")
    x, y = cell_xy(page, "#panel-attribution [data-part=heads] .plot", 1, 3)
    page.mouse.click(x, y)
    ready(page)
    st = url_state(page)
    assert (st["view"], st["layer"], st["head"]) == ("attention", "3", "1")
    expect(page.locator("#attn-heatmap .panel-title")).to_have_text("Attention · layer 3 · head 1")


def test_picking_a_token_and_a_second_one_explains_their_difference(page: Page):
    open_app(page, text=TEXT, view="attribution")
    lens = api(page, "/api/attribution/lens", {"text": TEXT, "top_k": 10})
    final = lens["cells"][-1][-1]["top"]
    a, b = final[1]["id"], final[0]["id"]
    page.select_option("#panel-attribution select[name=target]", str(a))
    ready(page)
    # the second token cannot be the first (a logit minus itself: "favours ↵ over ↵", 0 whatever the model does)
    versus = page.locator("#panel-attribution select[name=versus] option").evaluate_all("(os) => os.map((o) => o.value)")
    assert str(a) not in versus and str(b) in versus
    page.select_option("#panel-attribution select[name=versus]", str(b))
    ready(page)
    st = url_state(page)
    assert (st["target"], st["versus"]) == (str(a), str(b))
    want = api(page, "/api/attribution/logit", {"text": TEXT, "token": a, "versus": b})
    assert want["target"].startswith("logit(“") and " - logit(“" in want["target"]
    assert plot_data(page, "#panel-attribution [data-part=heads] .plot")[0]["z"] == want["heads"]
    expect(page.locator("#panel-attribution .sumline.total")).to_contain_text(f"the model's own value: {want['logit']:.4f}")
    # the heads' colours are said of the difference (it said "pushes the token up" of logit(a) - logit(b))
    expect(page.locator("#panel-attribution [data-part=heads] .caption")).to_contain_text(
        f"Blue: favours “{final[1]['display']}” over “{final[0]['display']}”; orange: the other way.")
    # the lens follows the token picked
    page.click("#tab-lens")
    ready(page)
    expect(page.locator("#panel-lens [data-part=prob] .caption")).to_contain_text(f"p(“{final[1]['display']}”)")


def test_the_token_picked_is_never_compared_with_itself_and_a_refusal_keeps_no_caption(page: Page):
    """Picking, as the token explained, the token it was compared with (or the model's top-1 when that is it): the
    API refuses logit(t) - logit(t), and the view showed the refusal under the caption of the two tokens before
    ("Blue: favours “␣The” over “␣He”")."""
    lens = api(page, "/api/attribution/lens", {"text": TEXT, "top_k": 10})
    final = lens["cells"][-1][-1]["top"]
    top, second = final[0], final[1]
    open_app(page, text=TEXT, view="attribution", target=second["id"], versus=top["id"])
    heads_caption = page.locator("#panel-attribution [data-part=heads] .caption")
    expect(heads_caption).to_contain_text(f"favours “{second['display']}” over “{top['display']}”")
    # the versus token as the token: the comparison goes, the logit alone is explained
    page.select_option("#panel-attribution select[name=target]", str(top["id"]))
    ready(page)
    st = url_state(page)
    assert (st.get("target"), st.get("versus")) == (str(top["id"]), None)
    expect(page.locator("#panel-attribution .sumline.total")).to_contain_text(f"logit(“{top['display']}”) after")
    expect(heads_caption).to_contain_text("Blue: pushes the token up")
    # the model's top-1 (the default) is the token compared with: the API's refusal, and no caption of another answer
    page.select_option("#panel-attribution select[name=versus]", str(second["id"]))
    ready(page)
    page.select_option("#panel-attribution select[name=target]", str(second["id"]))
    ready(page)
    page.select_option("#panel-attribution select[name=versus]", str(top["id"]))
    ready(page)
    expect(heads_caption).to_contain_text(f"favours “{second['display']}” over “{top['display']}”")
    page.select_option("#panel-attribution select[name=target]", "")
    ready(page)
    expect(page.locator("#panel-attribution [data-part=heads] .reason")).to_contain_text("versus is the token explained")
    expect(heads_caption).to_be_hidden()


def test_the_lens_says_where_its_token_is_in_no_list_and_its_temperature(page: Page):
    """A token of rank 320 is bold in none of the lists, which only show each reading's top 5: the caption said
    "Bold: “␣the”" all the same; the lens reads the logits at temperature 1, which it now says when the predictions
    view's slider is elsewhere."""
    lens = api(page, "/api/attribution/lens", {"text": TEXT, "top_k": 10})
    listed = {t["id"] for c in [lens["embedding"], *[x for row in lens["cells"] for x in row]] for t in c["top"][:5]}
    rare = api(page, "/api/attribution/lens", {"text": TEXT, "token": 300})["token"]
    assert rare["id"] not in listed
    open_app(page, text=TEXT, view="lens", target=300, temp=2)
    top = page.locator("#panel-lens [data-part=top] .caption")
    expect(top).to_contain_text(f"“{rare['display']}” is in none of these top 5 lists (rank {rare['rank']} in the output).")
    expect(page.locator("#panel-lens .lens-top li.target")).to_have_count(0)
    prob = page.locator("#panel-lens [data-part=prob] .caption")
    # the API's 4 decimals: its 0 is under 0.0001, not "0.0000" (a probability of none), as the embeddings' reading
    assert rare["prob"] == 0  # (the case)
    expect(prob).to_contain_text(f"< 0.0001 in the output (rank {rare['rank']})")
    assert "0.0000" not in prob.inner_text()
    assert not re.search(r"0\.000(?!\d)", page.locator("#panel-lens .lens-table").inner_text())  # (its lists: "0.000")
    expect(prob).to_contain_text("All at temperature 1")
    open_app(page, text=TEXT, view="lens")
    expect(page.locator("#panel-lens [data-part=top] .caption")).to_contain_text("Bold: “")
    expect(page.locator("#panel-lens [data-part=prob] .caption")).not_to_contain_text("temperature")


@pytest.mark.parametrize(("part", "view"), [("embed", "embeddings"), ("pos", "positional"), ("qkv", "qkv"), ("scores", "arithmetic"),
                                            ("heads", "attention"), ("wo", "attribution"), ("add1", "lens"), ("probs", "predictions")])
def test_clicking_a_part_of_the_model_picture_opens_its_view(page: Page, part: str, view: str):
    open_app(page, text=TEXT, view="model", layer=2)
    page.click(f"#panel-model button[data-part={part}]")
    ready(page)
    assert url_state(page)["view"] == view
    expect(page.locator(f"#tab-{view}")).to_have_attribute("aria-selected", "true")
    if part in ("qkv", "scores", "heads"):
        assert url_state(page)["layer"] == "2"  # the block on screen
    page.go_back()  # the picture is one step back
    ready(page)
    assert url_state(page)["view"] == "model"


def test_the_picture_draws_the_runs_interventions_beside_its_prediction(page: Page, need_models):
    """With the positions removed the picture's position box says so, as its next-token line is that run's; the
    ALiBi bias sits between the scaled scores and the softmax."""
    open_app(page, text=TEXT, view="model", positions="removed")
    expect(page.locator("#panel-model button[data-part=pos]")).to_contain_text("removed in this run")
    top = api(page, "/api/analyze", {"text": TEXT, "positions": "removed", "layers": []})["predictions"][0]
    expect(page.locator("#panel-model .mpredict")).to_contain_text(f"(probability {top['prob']:.3f})")
    # at another temperature of the predictions view, the picture's probability says it is at 1 (0.196 beside the
    # predictions' 0.519 at 0.3)
    open_app(page, text=TEXT, view="model", temp=0.3)
    top = api(page, "/api/analyze", {"text": TEXT, "layers": []})["predictions"][0]
    expect(page.locator("#panel-model .mpredict")).to_contain_text(f"(probability {top['prob']:.3f} at temperature 1)")
    need_models("tiny-alibi")
    open_app(page, text=TEXT, view="model", model="tiny-alibi")
    parts = page.locator("#panel-model .mblock button.mpart").evaluate_all("(bs) => bs.map((b) => b.dataset.part)")
    assert parts[parts.index("scores"):parts.index("scores") + 3] == ["scores", "alibi", "softmax"]


def test_the_picture_is_keyboard_reachable_and_steps_through_the_blocks(page: Page):
    open_app(page, text=TEXT, view="model")
    page.click("#panel-model .mstep button[aria-label='next block']")
    ready(page)
    assert url_state(page)["layer"] == "1"
    expect(page.locator("#panel-model .mstep-label")).to_contain_text("block 1 of 4")
    page.focus("#panel-model button[data-part=mlp]")
    page.keyboard.press("Enter")
    ready(page)
    assert url_state(page)["view"] == "attribution"


def test_an_encoder_draws_without_an_unembedding_and_says_why_the_lens_does_not_apply(page: Page, need_models, models):
    need_models("minilm-l6")
    open_app(page, text="The cat sat on the mat.", model="minilm-l6", view="model")
    expect(page.locator("#panel-model button[data-part=unembed]")).to_have_count(0)
    expect(page.locator("#panel-model button[data-part=vectors]")).to_have_count(1)
    # post-norm: the norm after the residual sum
    parts = page.locator("#panel-model .mblock button.mpart").evaluate_all("(bs) => bs.map((b) => b.dataset.part)")
    assert parts.index("norm1") == parts.index("add1") + 1
    for view, key in (("lens", "lens"), ("attribution", "logit_attribution")):
        page.click(f"#tab-{view}")
        ready(page)
        expect(page.locator(f"#panel-{view} .reason").first).to_have_text(models["minilm-l6"]["unavailable_views"][key])
    page.click("#tab-effects")
    ready(page)
    assert plot_data(page, "#panel-effects [data-part=raw] .plot")[0]["z"]
    # (the panel measures a change in probability: the attribution's "no token logit to attribute" was not its reason)
    why = models["minilm-l6"]["unavailable_views"]["predictions"]
    expect(page.locator("#panel-effects [data-part=effects] .reason")).to_have_text(why)
    expect(page.locator("#panel-effects .measure")).to_be_hidden()  # nothing to measure: no button, no progress bar


def test_the_kept_set_is_marked_on_the_bars(page: Page):
    open_app(page, text=TEXT, view="predictions", topk=3)
    bars = plot_data(page, "#panel-predictions [data-part=topk] .plot")[0]
    colors = bars["marker"]["color"]
    assert colors[:3] == [colors[0]] * 3 and colors[3] != colors[0] and len(set(colors[3:])) == 1
    cap = page.locator("#panel-predictions [data-part=topk] .caption")
    expect(cap).to_contain_text("kept set of top-3")
    # greedy (the default): Continue takes the top token, makes no draw that could leave the grey ones out
    expect(cap).not_to_contain_text("left out of a draw")
    expect(cap).to_contain_text("grey: left out of it. Continue is greedy")
    page.select_option("#panel-predictions select[name=mode]", "sample")
    ready(page)
    expect(cap).to_contain_text("grey: left out of a draw.")
    expect(cap).not_to_contain_text("greedy")
    # top-p: the API's kept set, the first `size` bars
    page.select_option("#panel-predictions select[name=topk]", "0")
    page.evaluate("""() => {
        const r = document.querySelector('#panel-predictions input[name=topp]');
        r.value = '0.5';
        r.dispatchEvent(new Event('input', {bubbles: true}));
    }""")
    ready(page)
    want = api(page, "/api/predict", {"text": TEXT, "top_k": 10, "sampling": {"top_k": None, "top_p": 0.5}})
    colors = plot_data(page, "#panel-predictions [data-part=topk] .plot")[0]["marker"]["color"]
    size = want["kept"]["size"]
    assert colors[:size] == [colors[0]] * size and all(c != colors[0] for c in colors[size:])
    assert url_state(page)["topp"] == "0.5"


def test_small_probabilities_are_written_and_drawn_at_a_high_temperature(page: Page):
    """At temperature 5 every bar said 0.000 (3 decimals), on an axis that never went below 0.05: the bars were
    invisible; the per-position table said 0.000 or 0.001 for every top guess."""
    open_app(page, text=TEXT, view="predictions", temp=5)
    want = api(page, "/api/predict", {"text": TEXT, "top_k": 10, "temperature": 5})
    probs = [p["prob"] for p in want["predictions"]]
    assert max(probs) < 0.01  # (the case: a flat distribution)

    def written(p):  # 3 decimals; below 0.01 two significant figures (the API gives three there), as derive.probText
        two = float(f"{p:.2g}")
        assert two >= 1e-4  # (smaller ones: test_probabilities_under_0_0001_are_written_as_decimals)
        return f"{p:.3f}" if p >= 0.01 or two >= 0.01 else f"{p:#.2g}"  # (both figures: 0.0060)

    bars = plot_data(page, "#panel-predictions [data-part=topk] .plot")[0]
    assert bars["text"] == [written(p) for p in probs]
    axis = page.evaluate("() => document.querySelector('#panel-predictions [data-part=topk] .plot').layout.xaxis.range")
    assert axis[0] == 0 and axis[1] == pytest.approx(max(probs) * 1.1)
    cells = page.locator("#panel-predictions table.perpos tbody tr td:nth-child(4)").all_text_contents()
    assert cells == [written(r["top"][0]["prob"]) for r in want["per_position"]]
    assert "0.000" not in cells
    # they are at the slider's temperature, as the table says
    expect(page.locator("#panel-predictions [data-part=perpos] .caption")).to_contain_text("probability at temperature 5.")


def test_probabilities_under_0_0001_are_written_as_decimals(page: Page):
    """"Once upon a" on the default model: " time" takes 0.999, and the other bars read "9.2e-5", "2.8e-5", an
    exponent beside "0.0023"-style numbers, which a learner does not read as smaller. They read 0.000092, 0.000028."""
    text = "Once upon a"
    open_app(page, text=text, view="predictions")
    want = api(page, "/api/predict", {"text": text, "top_k": 10})
    probs = [p["prob"] for p in want["predictions"]]
    assert any(1e-6 <= p < 1e-4 for p in probs), probs  # (the case)

    def written(p):  # as derive.probText: 3 decimals from 0.01, else two significant figures, in decimals
        two = float(f"{p:.2g}")
        return f"{p:.3f}" if p >= 0.01 or two >= 0.01 else f"{p:.{1 - math.floor(math.log10(two))}f}"

    bars = plot_data(page, "#panel-predictions [data-part=topk] .plot")[0]
    assert bars["text"] == [written(p) for p in probs]
    assert not any("e" in t for t in bars["text"]), bars["text"]


def test_continue_at_a_training_step_continues_with_that_checkpoint(page: Page):
    """At a step of the training-step slider the views show the checkpoint NAME@STEP; Continue went on with the final
    model (and its strip, made for another model, did not show)."""
    page.goto("/")
    entry = next(m for m in page.request.get("/api/models").json()["models"] if m["name"] == "tiny-sinusoidal")
    step = entry["checkpoints"][-3]["step"]  # (an early one may continue with dots that do not keep their tokens)
    open_app(page, text=TEXT, view="predictions", tstep=step)

    def continuing(r):
        return r.url.endswith("/api/predict") and "continue_tokens" in (r.request.post_data or "")

    with page.expect_response(continuing) as info:
        page.click("#panel-predictions button[name=continue]")
    assert json.loads(info.value.request.post_data)["model"] == f"tiny-sinusoidal@{step}"
    r = info.value.json()
    ready(page)
    expect(page.locator("#panel-predictions .gen-steps button.gen:visible")).to_have_count(len(r["steps"]))


def test_the_sampling_controls_show_the_settings_a_link_gives(page: Page):
    """A link's top-k 4 (not one of the box's choices) showed "all"; its temperature 0.15 showed "0.1"."""
    open_app(page, text=TEXT, view="predictions", topk=4, topp=0.33, temp=0.15)
    expect(page.locator("#panel-predictions select[name=topk]")).to_have_value("4")
    expect(page.locator("#panel-predictions .topp-label")).to_have_text("0.33")
    expect(page.locator("#panel-predictions .temp-label")).to_have_text("0.15")
    cap = page.locator("#panel-predictions [data-part=topk] .caption")
    expect(cap).to_contain_text("at temperature 0.15")
    expect(cap).to_contain_text("the kept set of top-4, top-p 0.33:")
    open_app(page, text=TEXT, view="predictions", topp=0.5)
    expect(page.locator("#panel-predictions select[name=topk]")).to_have_value("0")
    expect(page.locator("#panel-predictions [data-part=topk] .caption")).to_contain_text("the kept set of top-p 0.5:")


def test_a_sampled_continuation_shows_its_seed_and_repeats_with_it(page: Page):
    open_app(page, text=TEXT, view="predictions", sample=1, seed=42, topk=20)

    def continuing(r):
        return r.url.endswith("/api/predict") and "continue_tokens" in (r.request.post_data or "")

    with page.expect_response(continuing) as info:
        page.click("#panel-predictions button[name=continue]")
    r = info.value.json()
    assert r["sampling"] == {"method": "sample", "top_k": 20, "top_p": 1.0, "seed": 42}
    want = api(page, "/api/predict", {"text": TEXT, "top_k": 1, "continue_tokens": 10,
                                      "sampling": {"method": "sample", "top_k": 20, "top_p": 1, "seed": 42}})
    assert r["continuation"] == want["continuation"]  # the same seed draws the same tokens
    expect(page.locator("#text")).to_have_value(TEXT + r["continuation"])
    ready(page)
    expect(page.locator("#panel-predictions .cont-note")).to_contain_text("seed 42")
    expect(page.locator("#panel-predictions input[name=seed]")).to_have_value("42")
    # back: the sentence before the continuation
    page.go_back()
    ready(page)
    expect(page.locator("#text")).to_have_value(TEXT)


def test_stepping_through_the_generated_tokens_shows_their_attention_rows(page: Page):
    open_app(page, text=TEXT, view="predictions")
    def continuing(r):
        return r.url.endswith("/api/predict") and "continue_tokens" in (r.request.post_data or "")

    with page.expect_response(continuing) as info:
        page.click("#panel-predictions button[name=continue]")
    r = info.value.json()
    ready(page)
    positions = [s["token"]["position"] for s in r["steps"]]
    chips = page.locator("#panel-predictions .gen-steps button.gen")
    expect(chips).to_have_count(len(positions))
    assert chips.all_text_contents() == [s["token"]["display"] for s in r["steps"]]
    # after Continue the selected token is the last one, the last generated: its chip is pressed, its attention a
    # click away, ▸ has nowhere to go and ◂ goes to the one before (▸ jumped to the first; ◂ selected the last again)
    steps_row = page.locator("#panel-predictions .gen-steps")
    expect(chips.nth(len(positions) - 1)).to_have_attribute("aria-pressed", "true")
    expect(steps_row.locator("button.gen[aria-pressed=true]")).to_have_count(1)
    expect(steps_row.locator("button[name=next]")).to_be_disabled()
    expect(steps_row.locator("button[name=prev]")).to_be_enabled()
    expect(page.locator("#panel-predictions button[name=attention]")).to_be_enabled()
    for i in range(len(positions) - 2, 0, -1):
        steps_row.locator("button[name=prev]").click()
        ready(page)
        assert url_state(page)["token"] == str(positions[i])
        expect(chips.nth(i)).to_have_attribute("aria-pressed", "true")
    steps_row.locator("button[name=prev]").click()
    ready(page)
    assert url_state(page)["token"] == str(positions[0])
    expect(steps_row.locator("button[name=prev]")).to_be_disabled()
    steps_row.locator("button[name=next]").click()
    ready(page)
    assert url_state(page)["token"] == str(positions[1])
    expect(chips.nth(1)).to_have_attribute("aria-pressed", "true")
    page.click("#panel-predictions button[name=attention]")
    ready(page)
    assert url_state(page)["view"] == "attention"
    expect(page.locator("#query-label")).to_contain_text(str(positions[1]))
    shape = page.evaluate("() => document.querySelector('#attn-heatmap .plot').layout.shapes[0]")
    assert shape["y0"] == positions[1] - 0.5 and shape["y1"] == positions[1] + 0.5
    # its row is the attention of the generated token, as the API gives it for the new sentence
    a = api(page, "/api/analyze", {"text": TEXT + r["continuation"]})
    z = plot_data(page, "#attn-heatmap .plot")[0]["z"]
    assert z[positions[1]][: positions[1] + 1] == a["attention"][0][0][positions[1]][: positions[1] + 1]
    # on another model the steps' probabilities (and, with another tokenizer, their positions) are not its own: the
    # strip and the note go; back on the model that made them, they return
    page.click("#tab-predictions")
    ready(page)
    expect(chips).to_have_count(len(positions))
    expect(page.locator("#panel-predictions .cont-note")).to_contain_text("Added")
    shown = page.locator("#panel-predictions .gen-steps button.gen:visible")
    expect(shown).to_have_count(len(positions))
    page.select_option("#model", "tiny-learned")
    ready(page)
    expect(shown).to_have_count(0)
    expect(page.locator("#panel-predictions .cont-note")).to_have_text("")
    page.select_option("#model", "tiny-sinusoidal")
    ready(page)
    expect(shown).to_have_count(len(positions))


@pytest.mark.slow
def test_each_new_view_draws_on_smollm2(page: Page, need_models):
    need_models(SMOL)
    text = "Anna met Tom. Then Anna called"
    page.goto(f"/?model={SMOL}&view=model&text={text}")
    ready(page, timeout=SLOW_LOAD)
    expect(page.locator("#panel-model .msizes")).to_contain_text("K/V heads")
    expect(page.locator("#panel-model button[data-part=rotary]")).to_have_count(1)
    expect(page.locator("#panel-model .mblock-title")).to_have_text("× 30 blocks")
    page.click("#tab-lens")
    ready(page, timeout=SLOW_LOAD)
    check_lens(page, SMOL, text)
    page.click("#tab-attribution")
    ready(page, timeout=SLOW_LOAD)
    check_attribution(page, SMOL, text)
    page.click("#tab-effects")
    ready(page, timeout=SLOW_LOAD)
    assert plot_data(page, "#panel-effects [data-part=rollout] .plot")[0]["z"]
    # a large model: the ablation runs on request, a layer at a time, with a progress bar, and stops when asked
    btn = page.locator("#panel-effects .measure button")
    expect(btn).to_have_text("Measure all 270 heads (270 forward passes, a layer at a time)")
    asked = []
    page.on("request", lambda r: asked.append(r.post_data_json) if r.url.endswith("/api/attribution/ablation") else None)
    with page.expect_response(lambda r: r.url.endswith("/api/attribution/ablation"), timeout=SLOW_LOAD) as first:
        btn.click()
    assert first.value.ok and first.value.json()["layers"] == [0]
    expect(page.locator("#panel-effects .measure progress")).to_be_visible()
    expect(page.locator("#panel-effects .measure-note")).to_contain_text(re.compile(r"\d+ of 30 layers measured"))
    assert url_state(page)["measure"] == "1"
    page.wait_for_function("() => (document.querySelector('#panel-effects [data-part=effects] .plot')?.data || [])"
                           ".some((t) => t.type === 'heatmap')", timeout=SLOW_LOAD)  # a layer is in: drawn
    page.click("#panel-effects .measure button")  # Stop
    ready(page, timeout=SLOW_LOAD)
    assert url_state(page).get("measure", "0") == "0"
    n = len(asked)
    page.wait_for_timeout(1500)
    assert len(asked) == n  # nothing more is asked for
    assert [b["layers"] for b in asked] == [[i] for i in range(n)]  # one layer at a time, in order
    # the layers measured before Stop stay on the heatmap (the one on its way when it came is let go)
    note = page.locator("#panel-effects .measure-note")
    expect(note).to_contain_text(re.compile(r"Stopped: \d+ of 30 layers measured\."))
    kept = int(re.search(r"Stopped: (\d+)", note.inner_text())[1])
    assert 1 <= kept <= n
    z = plot_data(page, "#panel-effects [data-part=effects] .plot")[0]["z"]
    assert [all(v is not None for v in row) for row in z] == [True] * kept + [False] * (30 - kept)
    expect(btn).to_have_text(f"Measure the other {30 - kept} layers")
    cap = page.locator("#panel-effects [data-part=effects] .caption")
    expect(cap).to_be_visible()  # the measured change of the query token's prediction
    # another query token, none of its layers measured: no heatmap and none of the other token's caption; back on
    # the first, its kept layers again
    tokens = page.locator("#tokens .tok")
    tokens.nth(1).click()
    expect(btn).to_contain_text("Measure all 270 heads")
    expect(cap).to_be_hidden()
    tokens.nth(tokens.count() - 1).click()
    expect(note).to_contain_text(f"Stopped: {kept} of 30 layers measured.")
    expect(cap).to_be_visible()
    # asked again, it measures the layers not measured yet, then there is nothing to stop
    btn.click()
    # every head's pass asked once: computed now, or kept by the server from before (the layer on its way at Stop)
    expect(page.locator("#panel-effects .measure-note")).to_have_text(
        re.compile(r"270 heads, \d+ forward passes(, \d+ runs? kept from before)?\."), timeout=SLOW_LOAD)
    said = re.findall(r"\d+", page.locator("#panel-effects .measure-note").inner_text())
    assert sum(map(int, said[1:])) == 270, said
    expect(btn).to_be_hidden()
    expect(page.locator("#panel-effects .measure progress")).to_be_hidden()
    z = plot_data(page, "#panel-effects [data-part=effects] .plot")[0]["z"]
    assert len(z) == 30 and all(v is not None for row in z for v in row)
    assert [b["layers"] for b in asked][n:] == [[i] for i in range(kept, 30)]  # none asked twice
    # with a head ablated already, its cell is the run as it is: one pass fewer, said before as after
    page.goto(f"/?model={SMOL}&view=effects&text={text}&ablate=2.3")
    ready(page, timeout=SLOW_LOAD)
    expect(btn).to_have_text("Measure all 270 heads (269 forward passes, a layer at a time)")


@pytest.mark.parametrize(("size", "present"), [((1280, 800), False), ((1280, 720), True), ((390, 844), False)])
def test_the_new_views_fit_the_screen(page: Page, shot, size, present):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_app(page, text=TEXT, view="model", **({"present": 1} if present else {}))
    for view in ("model", "lens", "attribution", "effects", "predictions"):
        page.click(f"#tab-{view}")
        ready(page)
        shot(page, f"{view}-{size[0]}x{size[1]}{'-present' if present else ''}", full_page=not present)
        # nothing wider than the screen: no sideways scrolling
        assert page.evaluate("() => document.documentElement.scrollWidth") <= size[0] + 1, view


def _continuing(r) -> bool:
    return r.url.endswith("/api/predict") and "continue_tokens" in (r.request.post_data or "")


def test_continue_goes_on_past_the_trained_length_where_the_page_allows_it(page: Page):
    """With the page agreed to run past the trained length (beyond=1), Continue did not say so: a text longer than 128
    tokens got a 422 and nothing was added."""
    text = " ".join(["word"] * 140)
    open_app(page, text=text, view="predictions", beyond=1)
    with page.expect_response(_continuing) as info:
        page.click("#panel-predictions button[name=continue]")
    assert info.value.ok, info.value.text()
    assert json.loads(info.value.request.post_data).get("allow_beyond_trained") is True
    r = info.value.json()
    assert len(r["tokens"]) > 128 and r["continuation"] and r["stopped"] is None
    expect(page.locator("#text")).to_have_value(text + r["continuation"])


def test_a_sampled_continuation_without_a_seed_draws_with_a_new_one_each_time(page: Page):
    """The seed box empty says "a new one": a second Continue of the same sentence (back, then Continue) was answered
    from the page's cache, the same tokens with the same seed, and asked the server nothing."""
    open_app(page, text=TEXT, view="predictions", sample=1)
    seeds = []
    for _ in range(2):
        expect(page.locator("#panel-predictions input[name=seed]")).to_have_value("")
        with page.expect_response(_continuing, timeout=60_000) as info:
            page.click("#panel-predictions button[name=continue]")
        sent = json.loads(info.value.request.post_data)["sampling"]
        assert sent["method"] == "sample" and sent["seed"] is None
        seeds.append(info.value.json()["sampling"]["seed"])
        ready(page)
        page.go_back()
        ready(page)
        expect(page.locator("#text")).to_have_value(TEXT)
    assert seeds[0] != seeds[1]  # (two seeds drawn from 2**31: the same one once in two billion)


def test_every_bar_writes_its_probability_however_small(page: Page):
    """At a low temperature the bars after the first are less than a pixel long, and Plotly drew no label on such a
    bar (textposition "auto"): nine bars without a number."""
    open_app(page, text=TEXT, view="predictions", temp=0.3)
    want = api(page, "/api/predict", {"text": TEXT, "top_k": 10, "temperature": 0.3})
    probs = [p["prob"] for p in want["predictions"]]
    assert min(probs) < probs[0] / 10_000  # (the case: bars too short to hold a label)
    drawn = page.locator("#panel-predictions [data-part=topk] .plot text.bartext").all_text_contents()
    bars = plot_data(page, "#panel-predictions [data-part=topk] .plot")[0]
    assert len(bars["text"]) == len(probs) and drawn == bars["text"]


# (model, text, every head ablated): SmolLM2 with its 270 heads ablated gives "🐱" a flat next token, p 0.00805,
# written "0.008" here (fmt's 3 decimals) where the predictions view writes "0.0081"
MODEL_VIEW_TOPS = [("tiny-sinusoidal", TEXT, False), ("minilm-l6", TEXT, False), ("smollm2-135m", "🐱", True),
                   ("smollm2-135m", TEXT, False)]


@pytest.mark.parametrize(("model", "text", "ablate_all"), MODEL_VIEW_TOPS)
def test_the_picture_writes_its_top_probability_as_the_predictions_view_does(page: Page, need_models, models,
                                                                              model, text, ablate_all):
    """The model view's next-token line writes its probability with the page's one formatter (derive.js probText), as
    the predictions view's bars and table do, not with 3 decimals of its own."""
    need_models(model)
    m = models[model]
    ablate = [[layer, head] for layer in range(m["n_layers"]) for head in range(m["n_heads"])] if ablate_all else []
    params = {"text": text, "view": "model", "model": model}
    if ablate:
        params["ablate"] = ",".join(f"{layer}.{head}" for layer, head in ablate)
    open_app(page, **params)
    answer = api(page, "/api/analyze", {"text": text, "model": model, "ablate": ablate, "layers": []})
    line = page.locator("#panel-model .mpredict")
    if not answer.get("predictions"):  # an encoder predicts no next token: no line
        expect(line).to_have_count(0)
        return
    top = answer["predictions"][0]["prob"]
    want = page.evaluate("(p) => import('/js/derive.js').then((d) => d.probText(p))", top)
    expect(line).to_contain_text(f"(probability {want})")
