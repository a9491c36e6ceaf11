"""Lessons on other sentences and models, in a real browser: the panel shows what the step's resolution says
(POST /api/lessons/{id}/steps/{n}: the role's token selected, the claims it chose, no "?" and no red note), a step
whose role has no match or whose model does not fit says why and offers what it needs, and a lesson's interventions
go back when it ends or is closed, unless the student changed them, with one banner while they are on."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.frontend.test_lessons import assert_clean_step, check_numbers, live_numbers, ready, step_ready, url_state

pytestmark = pytest.mark.browser

@pytest.fixture(autouse=True)
def patient(page: Page):
    # these steps resolve roles and claims on other models (SmolLM2's passes): wait as long as a loaded machine needs
    page.set_default_timeout(120_000)
    page.set_default_navigation_timeout(120_000)


TROPHY = "The trophy didn't fit in the suitcase because it was too big."


def resolution(server_url: str, lesson: str, n: int, s: dict) -> dict:
    """The step resolved for what is on screen (the page's selection and interventions)."""
    body = {"text": s["text"], "model": s.get("model"), "layer": s["layer"], "head": s["head"], "token": s["token"],
            "positions": s["positions"], "scale": s["scale"], "ablate": s["ablate"], "temp": s["temp"],
            "word": s["word"] or None, "depth": s["depth"]}
    r = httpx.post(f"{server_url}/api/lessons/{lesson}/steps/{n}", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def open_on(page: Page, lesson: str, n: int, text: str, model: str | None = None) -> None:
    """Open a step, then type another sentence and pick another model, as a student would."""
    page.goto(f"/?lesson={lesson}&step={n}")
    step_ready(page, lesson, n)
    if model:
        page.select_option("#model", model)
        page.wait_for_function("(m) => new URLSearchParams(location.search).get('model') === m", arg=model)
    page.fill("#text", text)
    page.wait_for_function("(t) => new URLSearchParams(location.search).get('text') === t", arg=text)


def panel_ready(page: Page, lesson: str, n: int) -> None:
    page.wait_for_selector(f'#lesson-panel[data-state="ready"][data-lesson="{lesson}"][data-step="{n}"]', timeout=90_000)
    page.wait_for_timeout(300)  # a resolution taken may change the selection once more
    page.wait_for_selector(f'#lesson-panel[data-state="ready"][data-lesson="{lesson}"][data-step="{n}"]', timeout=90_000)


@pytest.mark.slow
@pytest.mark.parametrize("lesson,n,text,model", [
    ("attention-arithmetic", 4, TROPHY, "smollm2-135m"),
    ("context", 5, "The rain fell on the roof, and the rain did not stop.", "tiny-nope"),
    ("one-hot-vs-dense-embeddings", 2, "Where did the little dog hide the red ball?", "minilm-l6"),
    ("many-heads", 4, "Tom gave Anna a book because she asked for it.", "tiny-sinusoidal"),
])
def test_the_panel_shows_what_the_resolution_says(page: Page, server_url, models, need_models, lesson, n, text, model):
    need_models(model)
    open_on(page, lesson, n, text, model)
    panel_ready(page, lesson, n)
    s = url_state(page)
    d = resolution(server_url, lesson, n, s)
    assert d["applies"] and not d["missing"] and d["problems"] == [], d
    # the role's token is selected, and the heads a role chose are off
    if "token" in d["from_roles"]:
        assert s["token"] == d["settings"]["token"]
    if "ablate" in d["from_roles"]:
        assert s["ablate"] == [list(p) for p in d["settings"]["ablate"]]
    assert_clean_step(page, f"{lesson} {n} on {model}")
    check_numbers(page, models, f"{lesson} {n} on {model}")
    # the numbers the page shows are the ones the resolution read, placeholder by placeholder
    server = {x["placeholder"]: x["shown"] for x in d["numbers"]}
    for lv in live_numbers(page):
        if lv["raw"] in server:
            assert lv["text"] == server[lv["raw"]], (lv, server[lv["raw"]])
    # the claims it chose are the text shown
    body = " ".join(page.locator("#lesson-panel .lesson-body").inner_text().split())
    for c in d["claims"]:
        if c["shown"]:
            first = " ".join(re.split(r"\{\{|\*\*", c["shown"])[0].split())[:30]
            assert first in body, (first, body)
    assert "?" not in "".join(lv["text"] for lv in live_numbers(page))


def test_a_role_with_no_match_offers_the_lesson_sentence(page: Page):
    open_on(page, "attention-arithmetic", 2, "Birds sing.")
    panel_ready(page, "attention-arithmetic", 2)
    offer = page.locator("#lesson-panel .lesson-offer")
    expect(offer).to_contain_text("pronoun")
    assert page.locator("#lesson-panel .lv.bad, #lesson-panel .lesson-note.bad").count() == 0
    # the page redraws (a token hovered, another selected, an answer of the explorer's): the note stays while the
    # sentence and the model are the ones it was found for
    page.hover('#tokens .tok[data-index="2"]')
    page.click('#tokens .tok[data-index="1"]')
    ready(page)
    page.wait_for_timeout(500)
    panel_ready(page, "attention-arithmetic", 2)
    expect(offer).to_contain_text("pronoun")
    offer.locator("button").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('text') === 'The cat sat on the mat because it was tired.'")
    panel_ready(page, "attention-arithmetic", 2)
    expect(page.locator("#lesson-panel .lesson-offer")).to_have_count(0)
    assert_clean_step(page, "the lesson's sentence again")


def test_a_lesson_for_causal_models_on_an_encoder_offers_to_switch(page: Page, need_models):
    need_models("minilm-l6")
    open_on(page, "next-word-prediction", 2, "Birds sing.", "minilm-l6")
    panel_ready(page, "next-word-prediction", 2)
    offer = page.locator("#lesson-panel .lesson-offer")
    expect(offer).to_contain_text("causal")
    offer.locator("button").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('model') !== 'minilm-l6'")
    panel_ready(page, "next-word-prediction", 2)
    # the step runs now, on the student's sentence: said, with the way back to the lesson's
    expect(page.locator("#lesson-panel .offer-model")).to_have_count(0)
    expect(page.locator("#lesson-panel .offer-own")).to_contain_text("This step is on your sentence; the lesson’s is")


def test_a_step_that_reads_no_sentence_does_not_offer_the_lesson_s(page: Page):
    """Lesson 10's steps 1 to 5 (measured curves) and lesson 3's nearest words are the same on every sentence: on the
    student's own they said "This step is on your sentence; the lesson's is …" with "Use the lesson's sentence". No
    note now; a step that reads the sentence still has it."""
    own = "Tom had a red ball and he lost it."
    for lesson, n in [("position-past-the-trained-length", 1), ("position-past-the-trained-length", 5),
                      ("similarity-and-vector-arithmetic", 1)]:
        page.goto(f"/?lesson={lesson}&step={n}&text={own}")
        step_ready(page, lesson, n)
        assert url_state(page)["text"] == own
        expect(page.locator("#lesson-panel .offer-own")).to_have_count(0)
    page.goto(f"/?lesson=attention-arithmetic&step=3&text={own}")
    step_ready(page, "attention-arithmetic", 3)
    expect(page.locator("#lesson-panel .offer-own")).to_contain_text(f"This step is on “{own}”; the lesson’s is")


def test_a_step_that_reads_no_model_does_not_offer_the_lesson_s(page: Page):
    """Lesson 10's steps 1 to 5 (measured curves) and the training-lab lessons are the same on every model: on another
    model than the lesson's they said "This step is on tiny-rotary; the lesson's model is tiny-sinusoidal" with "Use the
    lesson's model". No note now; a step that reads the model still has it."""
    for lesson, n in [("position-past-the-trained-length", 2), ("watch-an-induction-head-appear", 1)]:
        page.goto("/?" + urlencode({"lesson": lesson, "step": n, "model": "tiny-rotary"}))
        step_ready(page, lesson, n)
        assert url_state(page)["model"] == "tiny-rotary"
        expect(page.locator("#lesson-panel .offer-own")).to_have_count(0)
    page.goto("/?" + urlencode({"lesson": "many-heads", "step": 1, "model": "tiny-rotary"}))
    step_ready(page, "many-heads", 1)
    expect(page.locator("#lesson-panel .offer-own")).to_contain_text("the lesson’s model is tiny-sinusoidal")


def test_a_lesson_link_s_sentence_is_not_called_the_student_s(page: Page):
    """/?lesson=attention-arithmetic&step=3&text=… said "This step is on your sentence; the lesson's is …" of the link's
    sentence, which the student did not type. It names the sentence, quoted (true of a link's, and of a page reloaded on a
    sentence of one's own; it said "the sentence on screen", which every step's sentence is) until the student types
    one, then "your sentence"; Next keeps the link's wording."""
    link = "Tom had a red ball and he lost it."
    page.goto(f"/?lesson=attention-arithmetic&step=3&text={link}")
    step_ready(page, "attention-arithmetic", 3)
    note = page.locator("#lesson-panel .offer-own")
    expect(note).to_contain_text(f"This step is on “{link}”; the lesson’s is")
    page.click("#lesson-panel .lesson-next")
    panel_ready(page, "attention-arithmetic", 4)
    assert url_state(page)["text"] == link
    expect(note).to_contain_text(f"This step is on “{link}”; the lesson’s is")
    own = "Anna said she was cold because she ran."
    page.fill("#text", own)
    page.wait_for_function("(t) => new URLSearchParams(location.search).get('text') === t", arg=own)
    expect(note).to_contain_text("This step is on your sentence; the lesson’s is")


def test_a_page_reloaded_on_the_student_s_sentence_names_it_not_a_link(page: Page):
    """A student typed a sentence at a step and reloaded the page: its address is a whole page's (view, head, query),
    so the panel said "This step is on the link's sentence" and "This page opened as it was shared", of no link. A
    reload names the sentence; the same address opened afresh (a shared link) still says it is the link's."""
    own = "Tom gave Anna a book because she asked for it."
    open_on(page, "attention-arithmetic", 3, own)
    panel_ready(page, "attention-arithmetic", 3)
    note = page.locator("#lesson-panel .offer-own")
    expect(note).to_contain_text("This step is on your sentence; the lesson’s is")
    page.reload()
    panel_ready(page, "attention-arithmetic", 3)
    expect(note).to_contain_text(f"This step is on “{own}”; the lesson’s is")
    expect(page.locator("#lesson-panel")).not_to_contain_text("as it was shared")
    page.goto(page.url)  # the same address, as a link
    panel_ready(page, "attention-arithmetic", 3)
    expect(note).to_contain_text("This step is on the link’s sentence; the lesson’s is")


def test_next_keeps_the_student_s_sentence_and_says_so(page: Page, lessons):
    """Previous and Next keep a sentence the student typed (the steps of a lesson share theirs): the panel says the
    step runs on it and offers the lesson's; a step that names a model of its own still puts that model on screen."""
    lesson = next(x for x in lessons if x["id"] == "attention-arithmetic")
    own = "Tom gave Anna a book because she asked for it."
    open_on(page, "attention-arithmetic", 2, own)
    panel_ready(page, "attention-arithmetic", 2)
    note = page.locator("#lesson-panel .offer-own")
    theirs = lesson["steps"][1]["settings"]["text"]  # (it ends with a full stop: none is added after the quote)
    expect(note).to_have_text(f"This step is on your sentence; the lesson’s is “{theirs}”" + ("" if theirs.endswith(".") else ".")
                              + "Use the lesson’s sentence")
    page.click("#lesson-panel .lesson-next")
    panel_ready(page, "attention-arithmetic", 3)
    assert url_state(page)["text"] == own and page.input_value("#text") == own
    expect(note).to_contain_text("This step is on your sentence")
    page.click("#lesson-panel .lesson-prev")
    panel_ready(page, "attention-arithmetic", 2)
    assert url_state(page)["text"] == own
    note.locator("button").click()
    page.wait_for_function("(t) => new URLSearchParams(location.search).get('text') === t", arg=lesson["steps"][1]["settings"]["text"])
    panel_ready(page, "attention-arithmetic", 2)
    expect(note).to_have_count(0)
    # lesson 10's last step names tiny-alibi: Next from the step before puts it on screen, the sentence stays
    ten = next(x for x in lessons if x["id"] == "position-past-the-trained-length")
    last = len(ten["steps"])
    assert ten["steps"][last - 1]["settings"]["model"] == "tiny-alibi" != ten["steps"][last - 2]["settings"]["model"]
    open_on(page, ten["id"], last - 1, "The dog ran to the park and the dog ran home.")
    page.click("#lesson-panel .lesson-next")
    page.wait_for_function("() => new URLSearchParams(location.search).get('model') === 'tiny-alibi'")
    assert url_state(page)["text"] == "The dog ran to the park and the dog ran home."


def banner(page: Page):
    return page.locator("#intervention-banner")


def test_closing_or_finishing_a_lesson_undoes_its_interventions(page: Page):
    # lesson 6 switches the scaling off in step 3: the banner says so; closing the lesson puts it back
    page.goto("/?lesson=why-divide-by-sqrt-d&step=3")
    step_ready(page, "why-divide-by-sqrt-d", 3)
    assert url_state(page)["scale"] is False
    expect(banner(page)).to_be_visible()
    expect(banner(page)).to_contain_text("scaling off — set by lesson 6")
    page.click("#lesson-panel .lesson-close")
    page.wait_for_function("() => !new URLSearchParams(location.search).get('lesson')")
    assert url_state(page)["scale"] is True
    expect(banner(page)).to_be_hidden()
    # lesson 7 switches a head off in its last step: finishing the lesson switches it on again
    page.goto("/?lesson=many-heads&step=4")
    step_ready(page, "many-heads", 4)
    page.wait_for_function("() => !!new URLSearchParams(location.search).get('ablate')")
    expect(banner(page)).to_contain_text("switched off — set by lesson 7")
    page.click("#lesson-panel .lesson-next[data-done]")
    page.wait_for_function("() => !new URLSearchParams(location.search).get('lesson')")
    assert url_state(page)["ablate"] == []
    expect(banner(page)).to_be_hidden()


def test_an_intervention_the_student_changed_stays_and_undo_clears_it(page: Page):
    page.goto("/?lesson=positional-encoding&step=2")
    step_ready(page, "positional-encoding", 2)
    assert url_state(page)["positions"] == "removed"
    page.select_option("#positions", "shuffled")  # the student's own choice
    page.wait_for_function("() => new URLSearchParams(location.search).get('positions') === 'shuffled'")
    expect(banner(page)).not_to_contain_text("set by lesson")
    page.click("#lesson-panel .lesson-close")
    page.wait_for_function("() => !new URLSearchParams(location.search).get('lesson')")
    assert url_state(page)["positions"] == "shuffled"
    expect(banner(page)).to_contain_text("positions shuffled")
    expect(banner(page)).not_to_contain_text("no effect")
    # on a model without positional encoding the banner says the shuffle changes nothing, as the heatmap's caption
    page.select_option("#model", "tiny-nope")
    page.wait_for_function("() => new URLSearchParams(location.search).get('model') === 'tiny-nope'")
    expect(banner(page)).to_contain_text("positions shuffled (no effect: tiny-nope has no positional encoding)")
    expect(page.locator("#attn-heatmap .caption")).to_contain_text("no positional encoding, so this changes nothing")
    banner(page).locator(".banner-undo").click()
    page.wait_for_function("() => (new URLSearchParams(location.search).get('positions') || 'normal') === 'normal'")
    expect(banner(page)).to_be_hidden()


def test_a_whole_page_link_at_a_step_leaves_nothing_on_when_the_lesson_ends(page: Page):
    """A link copied at lesson 8 step 2 (positions removed, with view=): Next to the end and Finish put the positions
    back to *removed*, which no one had chosen, because the lesson took the link's state for the page's before it;
    the banner also lost "set by lesson 8". Now the link's step's own settings are the lesson's."""
    text = "The cat sat on the mat because it was tired."
    page.goto(f"/?text={text.replace(' ', '+')}&model=tiny-sinusoidal&view=attention&layer=0&head=0&token=10"
              "&positions=removed&lesson=positional-encoding&step=2")
    step_ready(page, "positional-encoding", 2)
    assert url_state(page)["positions"] == "removed"
    expect(banner(page)).to_contain_text("positions removed — set by lesson 8")
    page.click("#lesson-panel .lesson-close")
    page.wait_for_function("() => !new URLSearchParams(location.search).get('lesson')")
    assert url_state(page)["positions"] == "normal"
    expect(banner(page)).to_be_hidden()
    # the same link, then Next to the last step and Finish: nothing stays on
    page.goto(f"/?text={text.replace(' ', '+')}&model=tiny-sinusoidal&view=attention&layer=0&head=0&token=10"
              "&positions=removed&lesson=positional-encoding&step=2")
    step_ready(page, "positional-encoding", 2)
    while page.locator("#lesson-panel .lesson-next[data-done]").count() == 0:
        at = int(url_state(page)["step"])
        page.click("#lesson-panel .lesson-next")
        page.wait_for_function("(n) => Number(new URLSearchParams(location.search).get('step')) === n", arg=at + 1)
        step_ready(page, "positional-encoding", at + 1)
    page.click("#lesson-panel .lesson-next[data-done]")
    page.wait_for_function("() => !new URLSearchParams(location.search).get('lesson')")
    assert url_state(page)["positions"] == "normal" and url_state(page)["scale"] is True
    expect(banner(page)).to_be_hidden()


def test_a_whole_page_link_at_a_step_says_the_page_is_the_link_s_and_offers_the_step_s_own(page: Page):
    """A link with view= keeps the page as it was shared (layer 0, head 0, query "." at lesson 5 step 3, whose own
    head is 1.3 on the pronoun): the panel said nothing of it. It says so now, with a button for the step's own."""
    lesson = "attention-arithmetic"
    page.goto(f"/?lesson={lesson}&step=3&view=attention&layer=0&head=0")
    step_ready(page, lesson, 3)
    note = page.locator("#lesson-panel .offer-link")
    expect(note).to_contain_text("This page opened as it was shared")
    assert (url_state(page)["layer"], url_state(page)["head"]) == (0, 0)
    note.locator("button").click()
    step_ready(page, lesson, 3)
    page.wait_for_function("() => new URLSearchParams(location.search).get('head') !== '0'")
    own = page.request.post(f"/api/lessons/{lesson}/steps/3", data={"text": url_state(page)["text"]}).json()["settings"]
    assert (url_state(page)["layer"], url_state(page)["head"]) == (own["layer"], own["head"])
    expect(page.locator("#lesson-panel .offer-link")).to_have_count(0)
