"""The guided lessons in a real browser: every step of every shipped lesson, the numbers quoted in the text
against the API's own answers (the request each number was read from, sent again here, and the value at the path it
names), predict-then-reveal, links to a step, editing the sentence, and the Share and Download report buttons.
The template's own logic ($max, #word, shortcuts) is unit-tested in JavaScript (tests/frontend/js/)."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect

from backend.lesson_steps import API_PATHS, token_note
from tests.lessonpaths import follow

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-results" / "screenshots"
READY = 'html[data-busy="0"] main .view:not([hidden])[data-state="ready"]'
# the defaults of frontend/js/state.js, for what the URL leaves out
DEFAULTS = {"layer": 0, "head": 0, "token": None, "positions": "normal", "scale": True, "ablate": [], "temp": 1.0,
            "word": "", "a": "king", "b": "man", "c": "woman", "depth": None, "pn": 64}  # frontend/js/state.js DEFAULTS


# ----------------------------------------------------------------------------------- the page


def ready(page: Page, timeout: float = 60_000) -> None:
    page.wait_for_selector(READY, state="attached", timeout=timeout)


def step_ready(page: Page, lesson: str, n: int, timeout: float = 60_000) -> None:
    page.wait_for_selector(f'#lesson-panel[data-state="ready"][data-lesson="{lesson}"][data-step="{n}"]', timeout=timeout)
    ready(page, timeout)
    page.wait_for_selector(f'#lesson-panel[data-state="ready"][data-lesson="{lesson}"][data-step="{n}"]', timeout=timeout)


def url_state(page: Page) -> dict:
    q = {k: v[0] for k, v in parse_qs(urlparse(page.url).query, keep_blank_values=True).items()}
    s = dict(DEFAULTS)
    s.update({k: q[k] for k in ("text", "model", "view", "positions", "word", "a", "b", "c", "lesson") if k in q})
    for k in ("layer", "head", "token", "depth", "pn", "step"):
        if q.get(k, "") != "":
            s[k] = int(q[k])
    if "scale" in q:
        s["scale"] = q["scale"] not in ("0", "false", "off", "no")
    if q.get("temp"):
        s["temp"] = float(q["temp"])
    if q.get("ablate"):
        s["ablate"] = [[int(x) for x in p.split(".")] for p in q["ablate"].split(",")]
    return s


def live_numbers(page: Page) -> list[dict]:
    """Every placeholder the lesson panel shows: what it names, the request it was read from, the text it shows."""
    return page.evaluate("""() => [...document.querySelectorAll('#lesson-panel .lv')].map((e) => ({
        cls: e.className, text: e.textContent, raw: e.dataset.raw, expr: e.dataset.expr, src: e.dataset.src,
        path: e.dataset.path ? JSON.parse(e.dataset.path) : null, fmt: e.dataset.fmt, title: e.title,
        request: e.dataset.request ? JSON.parse(e.dataset.request) : null}))""")


def assert_clean_step(page: Page, where: str) -> None:
    """No error message, no unreadable number, no empty plot."""
    expect(page.locator("#error")).to_be_hidden()
    assert page.locator("#lesson-panel .lv.bad, #lesson-panel .lv.pending, #lesson-panel .lesson-note.bad").count() == 0, \
        f"{where}: {page.locator('#lesson-panel').inner_text()}"
    empty = page.evaluate("""() => {
        const view = document.querySelector('main .view:not([hidden])');
        const out = [];
        for (const p of view.querySelectorAll('.panel')) {
          if (p.closest('[hidden]')) continue;
          const reason = p.querySelector('.reason');
          if (reason && !reason.hidden) out.push('reason: ' + reason.textContent);
          const plot = p.querySelector('.plot');
          const title = p.querySelector('.panel-title').textContent;
          if (plot && !plot.hidden && !plot.querySelector('.main-svg, table')) out.push('empty: ' + title);
        }
        return out;
    }""")
    assert empty == [], f"{where}: {empty}"
    # a plot, a table, or the model view's picture (boxes, not a plot)
    assert page.locator("main .view:not([hidden]) .main-svg, main .view:not([hidden]) table, "
                        "main .view:not([hidden]) .model-picture .mpart").count() > 0, f"{where}: no plot"


# ----------------------------------------------------------------------------------- the numbers against the API
# Each live number carries the request the page read it from (data-request) and the concrete path it followed in
# the answer (data-path: every $max, #word and @(...) already resolved; their meaning is unit-tested in
# tests/frontend/js/lesson-template.test.mjs). Here the request is sent again to the API and the value at that path
# must be the number shown; the request must be for what is on screen.

ENDPOINTS = {**API_PATHS, "compare": ("POST", "/api/compare")}  # frontend/js/api.js: function -> method, path


def word_of(text: str) -> str:
    return text.replace("\u2423", " ").strip() or text


def ask(page: Page, request: dict, cache: dict):
    """The API's answer to a request the page made ({api, params})."""
    key = json.dumps(request, sort_keys=True)
    if key not in cache:
        method, path = ENDPOINTS[request["api"]]
        params = request.get("params") or {}  # lengths, probe, role definitions: no parameters
        query = urlencode({k: v for k, v in params.items() if v is not None})  # (api.js leaves out what is null)
        r = page.request.post(path, data=params) if method == "POST" else page.request.get(f"{path}?{query}")
        assert r.ok, f"{request}: {r.text()}"
        cache[key] = r.json()
    return cache[key]


def check_numbers(page: Page, models: dict, where: str) -> int:
    """Each number and token the lesson text quotes equals the API's value at the path it names, in the answer to a
    request for the sentence, model and selection on screen (or the placeholder's overrides of them)."""
    s = url_state(page)
    model = s.get("model") or next(m for m in models.values() if m["default"])["name"]
    cache: dict = {}
    tokens = ask(page, {"api": "analyze", "params": {"text": s["text"], "model": model, "positions": s["positions"],
                                                    "scale": s["scale"], "ablate": s["ablate"], "top_k": 10}}, cache)["tokens"]
    query = len(tokens) - 1 if s["token"] is None or s["token"] >= len(tokens) else s["token"]
    shown = live_numbers(page)
    words: dict[str, set] = {}  # a word as shown -> the different token texts read as it (T.tokenWords)
    for lv in shown:
        assert lv["raw"] and lv["path"] is not None, f"{where}: a placeholder without a path: {lv}"
        label = f"{where}: {{{{{lv['raw']}}}}} shows {lv['text']!r}"
        if lv["request"] is None:  # the model's entry or the page's selection: no request
            source = lv["src"].split("(")[0]
            if source.startswith("@"):  # a head role's number (`@strongest-head.delta_prob`): the step's own read,
                # which the page shows (its value against the ablation route: tests/backend/test_lesson_steps.py)
                step = page.request.post(f"/api/lessons/{s['lesson']}/steps/{s.get('step', 1)}", data={
                    "text": s["text"], "model": model, "positions": s["positions"], "scale": s["scale"]}).json()
                (n,) = [n for n in step["numbers"] if n["placeholder"] == lv["raw"]] or [None]
                assert n is not None and n["error"] is None and n["source"] == source, (label, step["numbers"])
                assert lv["path"] == n["path"] and lv["text"] == n["shown"], (label, n)
                value = n["value"]
            elif source == "model":
                value = follow(models[model], lv["path"])
            else:
                assert source == "state", label
                value = follow({**s, "model": model, "token": query}, lv["path"])
        else:
            req = lv["request"]
            params = req.get("params") or {}  # lengths, probe (measured files), role definitions: no parameters
            if "(" not in lv["src"] and req["api"] == "roleModels":  # every model of the family, on the sentence
                assert params.get("text") == s["text"] and model in params["models"], label
            elif "(" not in lv["src"] and params:  # no overrides: asked for exactly what is on screen
                side = params["a"] if isinstance(params.get("a"), dict) else params  # compare's side a; analogy's a is a word
                assert (side.get("text", s["text"]), side.get("model", model)) == (s["text"], model), label
                if req["api"] in ("explain", "qkv"):
                    assert (params["layer"], params["head"]) == (s["layer"], s["head"]), label
                if req["api"] == "explain":
                    assert params["query"] == query, label
            answer = ask(page, req, cache)
            value = follow(answer, lv["path"])
        label += f", the API has {value!r}"
        fmt = lv["fmt"]
        path = lv["path"]
        if (fmt == "self" and lv["request"] is not None and len(path) == 3 and path[0] == "tokens"
                and path[2] in ("display", "text")
                and path[1] == (answer["query"] if isinstance(answer.get("query"), int) else query)):
            # `| self`: the query's own token is written "itself" (as the server's shown_text writes it)
            assert lv["text"] == "itself", label
            continue
        # a token of the sentence that another reads as too: named with its position, as the server names it
        note = token_note(answer, lv["path"]) if lv["request"] is not None and isinstance(value, str) and fmt != "word" else ""
        if isinstance(value, str) and fmt != "raw":  # a word, or the token itself where another reads alike
            assert lv["text"] in (word_of(value) + note, value + note), label
            words.setdefault(word_of(value), set()).add(value)
            lv["value"], lv["note"] = value, note
        elif isinstance(value, str):
            assert lv["text"] == value + note, label
        elif isinstance(value, bool):
            assert lv["text"] == ("yes" if value else "no"), label
        elif fmt == "pct":  # (rounded as JavaScript's Math.round: half up, 12.5 -> 13)
            assert lv["text"] == f"{math.floor(value * 100 + 0.5)}%", label
        elif fmt == "prob4":  # a probability of the lens as the lens writes it: 3 decimals from 0.01, 4 below, 0 as "< 0.0001"
            digits = 4 if abs(value) < 0.01 else 3
            near = value != 0 and len(lv["text"].split(".")[-1]) == digits and \
                math.isclose(float(lv["text"]), value, abs_tol=0.5 * 10**-digits + 1e-9)
            assert lv["text"] == "< 0.0001" if value == 0 else near, label
        elif fmt == "int" or (fmt == "" and float(value).is_integer()):  # as JavaScript: 1.0 is the integer 1; its
            assert lv["text"] == f"{math.floor(value + 0.5):,}", label  # thousands grouped (4,092), half up
        else:
            digits = int(fmt) if fmt.isdigit() else 2
            assert re.fullmatch(r"-?\d+(\.\d+)?", lv["text"]) and len(lv["text"].split(".")[1]) == digits, label
            assert math.isclose(float(lv["text"]), value, abs_tol=0.5 * 10**-digits + 1e-9), label
    for lv in shown:  # two different tokens never show as one word
        if "value" in lv:
            alike = len(words[word_of(lv["value"])]) > 1
            assert lv["text"] == (lv["value"] if alike else word_of(lv["value"])) + lv["note"], (where, lv, words)
    return len(shown)


def api_answer(page: Page, api: str, models: dict, **extra):
    """The API's answer for the state in the page's URL (the sentence, model, interventions) and `extra`."""
    s = url_state(page)
    model = s.get("model") or next(m for m in models.values() if m["default"])["name"]
    params = {"text": s["text"], "model": model, "positions": s["positions"], "scale": s["scale"], "ablate": s["ablate"], **extra}
    return ask(page, {"api": api, "params": params}, {})


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture
def errors(page: Page):
    seen: list[str] = []
    page.on("pageerror", lambda e: seen.append(str(e)))
    page.on("console", lambda m: seen.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    return seen


LESSON_IDS = ["next-word-prediction", "one-hot-vs-dense-embeddings", "similarity-and-vector-arithmetic", "context",
              "attention-arithmetic", "why-divide-by-sqrt-d", "many-heads", "positional-encoding",
              "where-does-the-answer-appear", "position-past-the-trained-length", "find-the-induction-head",
              "watch-an-induction-head-appear", "positional-schemes-in-the-lab"]


def warm(server_url: str, names) -> None:
    """Load each model before the page asks for it: until loaded, the server answers 503 (with Retry-After)."""
    for name in sorted(names):
        for _ in range(120):
            r = httpx.post(f"{server_url}/api/analyze", json={"text": "Warm.", "model": name}, timeout=120)
            if r.status_code != 503:
                assert r.status_code == 200, (name, r.text)
                break
            time.sleep(1)


SHOT_STEPS = {"where-does-the-answer-appear": 3, "position-past-the-trained-length": 2}
LAB_STEPS = 20  # a lesson step on the training lab: its run trained this many steps here (seconds, not the lesson's)


def train_lab(page: Page, steps: int = LAB_STEPS) -> None:
    """Train the lab's run as the page's lab is set now (the lesson's task and scheme), a few steps, to its end."""
    section = page.locator('main .view[data-view="lab"]')
    section.locator("input[name=lsteps]").fill(str(steps))
    section.locator("input[name=lsteps]").dispatch_event("change")
    before = section.get_attribute("data-run-id") or ""  # a run trained at an earlier step has finished too
    section.locator("button[name=train]").click()
    expect(section).not_to_have_attribute("data-run-id", before, timeout=30_000)
    expect(section).to_have_attribute("data-run-status", "finished", timeout=240_000)  # (a worker imports torch first)


def train_step_1_then_next(page: Page, lesson: str) -> None:
    """A lab lesson's step 1 with a run trained on it, then Next: step 2 drawn, the run of step 1 still on screen."""
    page.goto(f"/?lesson={lesson}&step=1")
    step_ready(page, lesson, 1)
    train_lab(page)
    page.click("#lesson-panel .lesson-next")
    step_ready(page, lesson, 2)
    page.wait_for_selector('#lesson-panel[data-state="ready"]')


# ----------------------------------------------------------------------------------- tests


def test_the_lessons_button_lists_every_lesson(page: Page, lessons):
    page.goto("/")
    ready(page)
    expect(page.locator("#lesson-panel")).to_be_hidden()
    page.click("#lessons-toggle")
    items = page.locator("#lesson-panel .lesson-list .lesson-open")
    expect(items).to_have_count(len(lessons))
    assert [items.nth(i).get_attribute("data-lesson") for i in range(len(lessons))] == LESSON_IDS
    items.nth(4).click()
    step_ready(page, "attention-arithmetic", 1)
    assert url_state(page)["lesson"] == "attention-arithmetic"
    expect(page.locator("#lesson-panel .lesson-kicker")).to_have_text(f"Lesson 5 of {len(lessons)}")


@pytest.mark.slow
@pytest.mark.parametrize("lesson_id", LESSON_IDS)
def test_every_step_shows_plots_and_the_api_numbers(page: Page, server_url, lessons, models, need_models, errors, lesson_id):
    lesson = next(l for l in lessons if l["id"] == lesson_id)
    needed = {s["settings"]["model"] for s in lesson["steps"] if s["settings"]["model"]}
    needed |= set(re.findall(r"model=([\w-]+)", " ".join(s["body"] for s in lesson["steps"])))
    need_models(*sorted(needed))
    warm(server_url, needed)  # a model still loading answers 503 (the page retries, but the console logs it)
    page.goto(f"/?lesson={lesson_id}")
    quoted = 0
    trained = None  # the lab's run trained here: (task, scheme)
    for step in lesson["steps"]:
        n = step["number"]
        where = f"{lesson_id} step {n}"
        step_ready(page, lesson_id, n)
        if n == 1:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"lesson-{lesson['number']}-{lesson_id}.png"))
        if n == SHOT_STEPS.get(lesson_id):  # a step past the first, where the view is the lesson's point
            page.screenshot(path=str(SHOTS / f"lesson-{lesson['number']}-{lesson_id}-step{n}.png"))
        if step["settings"]["probe"] and not any(p["settings"]["probe"] for p in lesson["steps"][:n - 1]):
            page.screenshot(path=str(SHOTS / f"lesson-{lesson['number']}-{lesson_id}-probe.png"))  # its first probe step
        s = url_state(page)
        settings = step["settings"]
        assert (s["lesson"], s.get("step", 1)) == (lesson_id, n), where
        # the interventions the step sets: its own, or (ablate: @strongest-head) those its resolution chose
        resolved = httpx.post(f"{server_url}/api/lessons/{lesson_id}/steps/{n}",
                              json={"text": s["text"], "model": s.get("model")}, timeout=120).json()["settings"]
        # the layer and head: the step's own, or (head: @top-head) those its resolution chose
        own = (resolved["layer"], resolved["head"]) if settings["head_role"] else (settings["layer"], settings["head"])
        assert (s["text"], s["view"], s["layer"], s["head"]) == (settings["text"], settings["view"], *own), where
        assert (s["positions"], s["scale"], s["ablate"]) == (resolved["positions"], resolved["scale"], resolved["ablate"]), where
        if not settings["ablate_role"]:
            assert s["ablate"] == settings["ablate"], where
        expect(page.locator("#lesson-panel .step-title")).to_have_text(step["title"])
        expect(page.locator("#lesson-panel [aria-current=step]")).to_have_text(str(n))
        if step["ask"]:
            # predict first: the plots are hidden until the student guesses
            assert "lesson-predict" in page.evaluate("document.body.className"), where
            page.click("#lesson-panel .q-choice >> nth=0")
            page.wait_for_selector("#lesson-panel .q-reveal")
            page.wait_for_selector('#lesson-panel[data-state="ready"]')
            assert "lesson-predict" not in page.evaluate("document.body.className"), where
            # what the text holds back until the guess (a line +++) shows with it, with no button of its own
            expect(page.locator("#lesson-panel .lesson-reveal")).to_have_count(0)
            expect(page.locator("#lesson-panel .lesson-body")).not_to_contain_text("+++")
        elif "\n+++" in step["body"]:
            # a guess asked for in the text (a line +++): the rest of it, and the plots, once the student asks
            assert "lesson-predict" in page.evaluate("document.body.className"), where
            page.click("#lesson-panel .lesson-reveal")
            expect(page.locator("#lesson-panel .lesson-reveal")).to_have_count(0)
            page.wait_for_selector('#lesson-panel[data-state="ready"]')
            assert "lesson-predict" not in page.evaluate("document.body.className"), where
            expect(page.locator("#lesson-panel .lesson-body")).not_to_contain_text("+++")
        if settings["view"] == "lab" and trained != (settings["ltask"], settings["lpos"]):
            # the step reads the run on screen: train one as the step set the lab, then its claims follow that run
            train_lab(page)
            trained = (settings["ltask"], settings["lpos"])
            page.wait_for_selector('#lesson-panel[data-state="ready"]')
            expect(page.locator("#lesson-panel")).not_to_contain_text("The run has not ended yet")
        assert_clean_step(page, where)
        quoted += check_numbers(page, models, where)
        if n < len(lesson["steps"]):
            page.click("#lesson-panel .lesson-next")
    assert quoted >= 2 * len(lesson["steps"]), f"{lesson_id}: only {quoted} live numbers"
    assert errors == []


def test_a_link_with_lesson_and_step_opens_that_step(page: Page, lessons, models):
    lesson = next(l for l in lessons if l["id"] == "attention-arithmetic")
    step = lesson["steps"][2]
    page.goto("/?lesson=attention-arithmetic&step=3")
    step_ready(page, "attention-arithmetic", 3)
    expect(page.locator("#lesson-panel .step-title")).to_have_text(step["title"])
    expect(page.locator("#lesson-panel .lesson-count")).to_have_text(f"Step 3 of {len(lesson['steps'])}")
    s = url_state(page)
    assert (s["text"], s["view"], s["layer"], s["head"]) == (step["settings"]["text"], "arithmetic", 1, 3)
    expect(page.locator("#text")).to_have_value(step["settings"]["text"])
    # the step names its query token by a role: the server found it in the sentence
    tokens = api_answer(page, "analyze", models, top_k=10)["tokens"]
    assert step["settings"]["token"] == "@pronoun" and word_of(tokens[s["token"]]["text"]) == "it"
    # the page's own URL (what "Copy link" copies) reopens the same step, as it is
    copied = page.url
    page.goto("/")
    ready(page)
    page.goto(copied)
    step_ready(page, "attention-arithmetic", 3)
    assert url_state(page) == s
    # previous / next move through the steps, and back returns
    page.click("#lesson-panel .lesson-prev")
    step_ready(page, "attention-arithmetic", 2)
    page.go_back()
    step_ready(page, "attention-arithmetic", 3)


def test_a_lesson_link_that_names_a_sentence_opens_the_step_on_it(page: Page, models):
    """/?lesson=…&step=…&text=… (no view: not a copied link, which always names one): the step's view and settings on
    the link's sentence, its roles found there (it opened the Attention tab with the step's settings left out)."""
    text = "Tom said he was tired."
    page.goto("/?" + urlencode({"lesson": "attention-arithmetic", "step": 2, "text": text}))
    step_ready(page, "attention-arithmetic", 2)
    s = url_state(page)
    assert (s["text"], s["view"], s["layer"], s["head"]) == (text, "arithmetic", 1, 3), s
    expect(page.locator("#text")).to_have_value(text)
    tokens = api_answer(page, "analyze", models, top_k=10)["tokens"]
    assert word_of(tokens[s["token"]]["text"]) == "he"  # the step's @pronoun, found in the link's sentence


def test_a_lesson_link_that_names_a_model_opens_the_step_on_it(page: Page, lessons, models):
    """/?lesson=…&step=…&model=… (no sentence): the step with its own sentence, on the model the link names, and the
    panel offers the lesson's model (the link's model was dropped for the lesson's)."""
    lesson = next(l for l in lessons if l["id"] == "many-heads")
    page.goto("/?" + urlencode({"lesson": "many-heads", "step": 1, "model": "tiny-rotary"}))
    step_ready(page, "many-heads", 1)
    s = url_state(page)
    assert (s["model"], s["text"]) == ("tiny-rotary", lesson["steps"][0]["settings"]["text"])
    expect(page.locator("#model")).to_have_value("tiny-rotary")
    expect(page.locator("#lesson-panel")).to_contain_text("the lesson’s model is tiny-sinusoidal")
    check_numbers(page, models, "on the linked model")
    page.goto("/?" + urlencode({"lesson": "many-heads", "step": 1, "model": "no-such-model"}))
    step_ready(page, "many-heads", 1)
    assert url_state(page)["model"] == "tiny-sinusoidal"  # a model there is not: the lesson's


def test_on_minilm_the_page_and_a_lesson_select_the_last_word_not_sep_by_default(page: Page, models, need_models):
    """On minilm-l6 (an encoder: [CLS] ... [SEP]) the page's query was [SEP], the last token, whose attention is not
    about the sentence's words, and so was a lesson step's that names no query. Both now select the last token that
    stands for text (the one before [SEP]), the same one, with or without the special tokens hidden."""
    need_models("minilm-l6")
    text = "The cat sat on the mat."
    page.goto("/?" + urlencode({"text": text, "model": "minilm-l6", "view": "attention"}))
    ready(page)
    tokens = api_answer(page, "analyze", models, top_k=1)["tokens"]
    want = max(t["position"] for t in tokens if not t["special"])
    assert tokens[-1]["special"] and want == len(tokens) - 2, tokens
    label = f"{want} “{tokens[want]['display']}”"
    expect(page.locator("#query-label")).to_have_text(label)
    assert "token" not in parse_qs(urlparse(page.url).query)  # the default: nothing pinned
    page.check("#hide-special")
    ready(page)
    expect(page.locator("#query-label")).to_have_text(label)
    # 'Concatenate, project, add' names no query token: the lesson selects the same one, and its URL says so
    page.goto("/?" + urlencode({"lesson": "many-heads", "step": 3, "text": text, "model": "minilm-l6"}))
    step_ready(page, "many-heads", 3)
    assert url_state(page)["token"] == want, page.url
    expect(page.locator("#query-label")).to_have_text(label)


def test_a_step_missing_its_word_on_a_lab_model_offers_the_lesson_s_sentence_with_its_model(page: Page, server_url,
                                                                                           lessons):
    """A model of the training lab reads letters, 24 at most: lesson 4 finds no word twice in "abcabc", and the
    lesson's sentence alone (39 tokens there) left the step unable to start. The button brings the lesson's model too,
    and the step then runs."""
    with httpx.Client(base_url=server_url, timeout=30) as c:
        run = c.post("/api/lab/runs", json={"task": "copy", "size": "tiny", "steps": 10}).json()
        while (state := c.get(f"/api/lab/runs/{run['id']}", params={"key": run["key"]}).json())["status"] in (
                "queued", "starting", "running"):
            time.sleep(0.5)  # (a poll within 10 s keeps an unwatched run going)
        assert state["status"] == "finished", state
        name = c.post(f"/api/lab/runs/{run['id']}/register", params={"key": run["key"]}).json()["model"]
    own = next(l for l in lessons if l["id"] == "context")["steps"][0]["settings"]
    page.goto("/?" + urlencode({"lesson": "context", "step": 1, "model": name, "text": "abcabc"}))
    step_ready(page, "context", 1)
    panel = page.locator("#lesson-panel")
    expect(panel).to_contain_text("needs a word that occurs twice")
    panel.get_by_role("button", name="Use the lesson’s sentence and model").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('model') === 'tiny-sinusoidal'")
    step_ready(page, "context", 1)
    s = url_state(page)
    assert (s["model"], s["text"]) == (own["model"], own["text"])
    expect(panel).not_to_contain_text("could not be prepared")
    expect(panel).not_to_contain_text("needs a word")


def test_the_lens_step_follows_the_token_picked_in_the_token_menu(page: Page, models):
    """Lesson 9's logit-lens step on a token picked in the Token menu (`target`, here from the link): its claim is
    chosen for that token, whose numbers it quotes (the server chose it for the model's top-1 while the page quoted
    the picked token's numbers: "first becomes the top token after the attention of block 0 (probability 0)")."""
    from tests.backend.test_lesson_steps import LENS_SAYS, lens_story

    lesson = "where-does-the-answer-appear"
    page.goto("/?" + urlencode({"lesson": lesson, "step": 3}))
    step_ready(page, lesson, 3)
    top = api_answer(page, "lens", models, top_k=10)
    stories = set()
    for target in (top["cells"][-1][-1]["top"][4]["id"], top["embedding"]["top"][0]["id"]):
        page.goto("/?" + urlencode({"lesson": lesson, "step": 3, "view": "lens", "target": target,
                                    "text": url_state(page)["text"]}))
        step_ready(page, lesson, 3)
        lens = api_answer(page, "lens", models, token=target, top_k=10)
        page.get_by_role("button", name="Show the answer").click()  # (the claims follow the guess: "+++")
        expect(page.locator("#lesson-panel")).not_to_contain_text("Make your guess")
        panel = " ".join(page.locator("#lesson-panel").inner_text().split())
        assert lens["token"]["display"].replace("\u2423", "") in panel, panel
        story = lens_story(lens)
        words = LENS_SAYS.get(story, story.replace("**", ""))
        assert words in panel, (target, story, panel)
        assert sum(w in panel for w in [*LENS_SAYS.values(), "first becomes the top token"]) == 1, panel
        check_numbers(page, models, f"target {target}")
        stories.add(story)
    assert len(stories) == 2, stories


def test_two_tokens_that_read_alike_are_told_apart_in_the_lesson_text(page: Page, models):
    """Lesson 1's probabilities on a sentence where tiny-learned's top two are the line break alone and a space with a
    line break: the text showed both as “↵”; now the second keeps its ␣, as the token strip shows it."""
    text = "Le chat est assis sur le tapis parce qu il était fatigué."
    page.goto("/?" + urlencode({"lesson": "next-word-prediction", "step": 2, "model": "tiny-learned", "text": text}))
    step_ready(page, "next-word-prediction", 2)
    top = api_answer(page, "predict", models, top_k=2, temperature=1)["predictions"]
    shown = [lv["text"] for lv in live_numbers(page) if lv["raw"] in ("top_next", "second_next")]
    assert top[0]["display"].replace("\u2423", "") == top[1]["display"].replace("\u2423", "")  # they read alike
    assert shown == [top[0]["display"], top[1]["display"]], (shown, top)
    check_numbers(page, models, "two tokens alike")


def test_the_strongest_head_s_numbers_show_as_live_numbers(page: Page, models):
    """Lesson 9 'Beyond attention' on tiny-nope, "Birds sing.": "That head's cell is the lowest of the heatmap at the
    bottom, -0.0169, outlined there. With three decimals, 2 cells read -0.017; the next after it, head 1.0, has
    -0.0167." The server wrote those numbers (the @strongest-head's, measured by the ablation route) into the text, and
    they showed as plain words beside the page's marked numbers. They show as live numbers now, each the step's read
    (check_numbers)."""
    page.goto("/?" + urlencode({"lesson": "where-does-the-answer-appear", "step": 5, "model": "tiny-nope",
                                "text": "Birds sing."}))
    step_ready(page, "where-does-the-answer-appear", 5)
    heads = [lv for lv in live_numbers(page) if lv["src"] == "@strongest-head"]
    assert [lv["raw"] for lv in heads] == [
        "@strongest-head.delta_prob | 4", "@strongest-head.alike | int", "@strongest-head.delta_prob | 3",
        "@strongest-head.next.layer", "@strongest-head.next.head", "@strongest-head.next.delta_prob | 4"], heads
    assert all(lv["cls"] == "lv" for lv in heads), heads
    panel = " ".join(page.locator("#lesson-panel").inner_text().split())
    said = (f"the lowest of the heatmap at the bottom, {heads[0]['text']}, outlined there. With three decimals, "
            f"{heads[1]['text']} cells read {heads[2]['text']}; the next after it, head {heads[3]['text']}."
            f"{heads[4]['text']}, has {heads[5]['text']}.")
    assert said in panel, panel
    check_numbers(page, models, "the strongest head's numbers")


def test_a_repeated_word_is_named_with_its_position_in_the_lesson_text(page: Page, models):
    """Lesson 5's 'The weighted sum of the values' read "it gives 0.80 of its attention to it" on a sentence with "it"
    twice: which it, and which key? The page names each token the sentence repeats with its position, as the server
    does (check_numbers: every token quoted, against tokenNote's rule on the API's answer)."""
    text = "It was cold, so it stayed in."
    page.goto("/?" + urlencode({"lesson": "attention-arithmetic", "step": 4, "text": text}))
    step_ready(page, "attention-arithmetic", 4)
    query = url_state(page)["token"]
    panel = " ".join(page.locator("#lesson-panel").inner_text().split())
    assert f"it (token {query}) gives" in panel, panel
    check_numbers(page, models, "a repeated word")


def test_editing_the_sentence_keeps_the_quoted_numbers_true(page: Page, models):
    page.goto("/?lesson=attention-arithmetic&step=2")
    step_ready(page, "attention-arithmetic", 2)
    before = {lv["expr"]: lv["text"] for lv in live_numbers(page)}
    check_numbers(page, models, "before editing")
    sentence = "My cat was hungry, so it ate the fish."
    page.fill("#text", sentence)
    page.wait_for_function("(t) => new URLSearchParams(location.search).get('text') === t", arg=sentence)
    step_ready(page, "attention-arithmetic", 2)
    assert url_state(page)["text"] == sentence
    after = {lv["expr"]: lv["text"] for lv in live_numbers(page)}
    assert after.keys() == before.keys() and after != before, (before, after)
    check_numbers(page, models, "after editing")
    assert_clean_step(page, "after editing")


def test_a_lesson_whose_model_is_not_installed_runs_on_the_default_one_and_says_so(page: Page, models):
    """Lesson 11 is written for SmolLM2. Where it is not installed (`make run` alone installs the default model; here
    /api/models answers as such a server does), the lesson opens on the default model: the step runs, and its note
    and the lesson list say which model it was written for and how to install it. Before, the page switched to the
    model that was not there and every step said "This step could not be prepared"."""
    from models.pretrained import INSTALL

    def not_installed(route):
        body = route.fetch().json()
        for m in body["models"]:
            if m["name"] == "smollm2-135m":
                m.update(available=False, install=INSTALL)
        route.fulfill(json=body)

    page.route("**/api/models", not_installed)
    default = next(name for name, m in models.items() if m.get("default"))
    page.goto("/?lesson=find-the-induction-head&step=1")
    step_ready(page, "find-the-induction-head", 1)
    assert url_state(page)["model"] == default
    panel = page.locator("#lesson-panel")
    said = (f"This lesson is written for smollm2-135m, which is not installed here (install it with: {INSTALL}): it runs "
            f"on {default} instead.")
    expect(panel.locator(".lesson-offer")).to_contain_text(said)
    expect(panel).not_to_contain_text("could not be prepared")
    assert_clean_step(page, "lesson 11 on the default model")
    page.click("#lesson-panel .lesson-close")
    item = panel.locator('.lesson-list li:has(button[data-lesson="find-the-induction-head"])')
    expect(item.locator(".lesson-absent")).to_have_text(said)
    expect(panel.locator(".lesson-absent")).to_have_count(1)


# where the grid's tile of the selected head is against what the page shows: the band between the sticky token strip
# and tabs and the lesson's sheet (on a narrow screen) or the window's foot; null until the grid is drawn
TILE_IN_SIGHT = """() => {
  const gd = document.querySelector('#attn-grid .plot'), g = gd && gd._attnlabGrid, L = gd && gd._fullLayout;
  const area = gd && gd.querySelector('.nsewdrag');
  if (!g || !L || !area) return null;
  const at = area.getBoundingClientRect();
  const ys = [g.layer * g.tile - 0.5, g.layer * g.tile - 0.5 + g.n].map((v) => at.top + L.yaxis.l2p(v));
  const sheet = document.getElementById('lesson-panel').getBoundingClientRect();
  return { layer: g.layer, head: g.head, tile: [Math.min(...ys), Math.max(...ys)],
           band: [document.querySelector('.sticky').getBoundingClientRect().bottom,
                  sheet.top > innerHeight / 3 ? sheet.top : innerHeight], scrolled: scrollY };
}"""


@pytest.mark.parametrize("lesson_id,model,size", [
    ("many-heads", "tiny-sinusoidal", (1280, 800)), ("many-heads", "tiny-sinusoidal", (390, 844)),
    pytest.param("find-the-induction-head", "smollm2-135m", (1280, 800), marks=pytest.mark.slow),  # 30 rows of heads
])
def test_a_step_about_the_grid_scrolls_its_head_into_sight(page: Page, lessons, need_models, lesson_id, model, size):
    """A step with `focus: grid` (lesson 7 step 1, lesson 11 step 1 on SmolLM2's 30 x 9 grid) scrolls the page so
    that the tile of the step's head, chosen on the live numbers, is in sight under the tabs and above the lesson's
    sheet; the next step, without it, leaves the page where the student has it."""
    need_models(model)
    lesson = next(l for l in lessons if l["id"] == lesson_id)
    assert lesson["steps"][0]["settings"]["focus"] == "grid" and lesson["steps"][1]["settings"]["focus"] is None
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"/?lesson={lesson_id}&step=1")
    step_ready(page, lesson_id, 1, timeout=300_000)
    page.wait_for_function(f"""() => {{ const t = ({TILE_IN_SIGHT})();
        return t && t.tile[0] >= t.band[0] - 1 && t.tile[1] <= t.band[1] + 1; }}""", timeout=30_000)
    page.wait_for_timeout(1000)  # (the page centres the tile again once the plots above it have settled)
    seen = page.evaluate(TILE_IN_SIGHT)
    state = url_state(page)
    assert (seen["layer"], seen["head"]) == (state["layer"], state["head"]), seen
    assert seen["scrolled"] > 0, seen  # the grid is below the heatmap: the page scrolled to it
    middle, band = sum(seen["tile"]) / 2, sum(seen["band"]) / 2
    assert abs(middle - band) <= 24, seen  # in the middle of what the page shows
    if size[0] > 1000:  # (on a phone every step puts the view at the top: scrollToView)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.click("#lesson-panel .lesson-next")
        step_ready(page, lesson_id, 2, timeout=300_000)
        page.wait_for_timeout(500)
        assert page.evaluate("scrollY") == 0


# the plot of the panel (or the first of the section) a step's `focus` names, against what the page shows: the band
# between the sticky token strip and tabs and the lesson's sheet (narrow screens) or the window's foot
PANEL_IN_SIGHT = """(key) => {
  const at = document.querySelector(`main .view:not([hidden]) :is(.panel, .subsection)[data-part="${key}"]`);
  const plot = at && at.querySelector('.plot');
  if (!plot || !plot.childElementCount) return null;
  const box = plot.getBoundingClientRect();
  const sheet = document.getElementById('lesson-panel').getBoundingClientRect();
  return { plot: [box.top, box.bottom], band: [document.querySelector('.sticky').getBoundingClientRect().bottom,
                                               sheet.top > innerHeight / 3 ? sheet.top : innerHeight], scrolled: scrollY };
}"""


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)])
@pytest.mark.parametrize("lesson_id,n,key", [
    ("similarity-and-vector-arithmetic", 1, "neighbors"), ("similarity-and-vector-arithmetic", 3, "analogy"),
    ("similarity-and-vector-arithmetic", 4, "analogy"), ("positional-encoding", 4, "decompose"),
    ("positional-encoding", 6, "models")])
def test_a_step_about_a_panel_down_the_view_brings_it_into_sight(page: Page, lessons, lesson_id, n, key, size):
    """Lesson 3's a − b + c steps quote the words of a panel about 1,566 px down the embeddings view at 1280x800,
    lesson 8's 'Four terms of a score' a panel about 2,000 px down the Positional view: the page stayed at its top,
    the numbers under the sheet or below the screen. A step with `focus: <panel>` scrolls that panel's plot into the
    band under the tabs and above the sheet when it is entered; a redraw of the step (another word typed) does not
    scroll again."""
    step = next(l for l in lessons if l["id"] == lesson_id)["steps"][n - 1]
    assert step["settings"]["focus"] == key
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"/?lesson={lesson_id}&step={n}")
    step_ready(page, lesson_id, n, timeout=300_000)
    page.wait_for_function(f"""(key) => {{ const t = ({PANEL_IN_SIGHT})(key);
        return t && t.scrolled > 0 && Math.min(t.plot[1], t.band[1]) - Math.max(t.plot[0], t.band[0])
                    >= Math.min(t.plot[1] - t.plot[0], t.band[1] - t.band[0]) - 2; }}""", arg=key, timeout=30_000)
    page.wait_for_timeout(1000)  # (and it stays there once the plots above it have settled)
    seen = page.evaluate(PANEL_IN_SIGHT, key)
    shown = min(seen["plot"][1], seen["band"][1]) - max(seen["plot"][0], seen["band"][0])
    assert shown >= min(seen["plot"][1] - seen["plot"][0], seen["band"][1] - seen["band"][0]) - 2, seen
    if n == 3 and lesson_id == "similarity-and-vector-arithmetic":  # a redraw of the step: the page stays put
        page.evaluate("""() => { window.scrollTo(0, 0); const form = document.querySelector('form[data-part="anform"]');
            form.querySelector('input[name="c"]').value = 'her'; form.requestSubmit(); }""")  # (no scroll to the box)
        page.wait_for_function("() => new URLSearchParams(location.search).get('c') === 'her'")
        step_ready(page, lesson_id, n)
        page.wait_for_timeout(800)
        assert page.evaluate("scrollY") == 0


def test_the_analogy_step_follows_the_words_typed(page: Page, models):
    """Lesson 3 step 3, then king − man + woman ≈ queen typed in the embeddings view: the lesson says where queen
    ranks, as the analogy's caption does (it kept saying the step's boy − he + she lands on the word expected, and
    filled in queen); with the expected box emptied it says nothing of an expected word, and asks for one as a hint,
    not as the lesson's problem; with a box of a − b + c emptied, likewise."""
    page.goto("/?lesson=similarity-and-vector-arithmetic&step=3")
    step_ready(page, "similarity-and-vector-arithmetic", 3)
    form = '[data-part="anform"]'
    for name, word in (("a", "king"), ("b", "man"), ("c", "woman"), ("expect", "queen")):
        page.fill(f'{form} input[name="{name}"]', word)
    page.press(f'{form} input[name="expect"]', "Enter")
    page.wait_for_function("() => (new URLSearchParams(location.search).get('a') ?? 'king') === 'king'")  # (the default)
    step_ready(page, "similarity-and-vector-arithmetic", 3)
    a = page.request.post("/api/embeddings/analogy", data={"a": "king", "b": "man", "c": "woman", "k": 10, "expect": "queen",
                                                           "model": url_state(page)["model"]}).json()
    rank = a["expected"]["rank"]
    body = page.locator("#lesson-panel .lesson-body")
    if rank == 1:
        expect(body).to_contain_text("That is queen, the word you would expect")
    else:
        expect(body).to_contain_text(f"queen, comes at rank {rank:,} of {a['expected']['of']:,}")
        expect(body).not_to_contain_text("the word you would expect: the step")
    check_numbers(page, models, "king − man + woman typed")
    # another sentence: the step is resolved again (its roles on the new sentence), still on the words typed
    sentence = "The king and the queen were happy."
    page.fill("#text", sentence)
    page.wait_for_function("(t) => new URLSearchParams(location.search).get('text') === t", arg=sentence)
    step_ready(page, "similarity-and-vector-arithmetic", 3)
    if rank != 1:
        expect(body).to_contain_text(f"queen, comes at rank {rank:,} of {a['expected']['of']:,}")
    check_numbers(page, models, "king − man + woman, another sentence")
    page.fill(f'{form} input[name="expect"]', "")
    page.press(f'{form} input[name="expect"]', "Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('expect') === ''")
    step_ready(page, "similarity-and-vector-arithmetic", 3)
    expect(body).to_contain_text("the nearest token to the result is")
    expect(body).not_to_contain_text("the word you would expect")
    # said to the student as what the step waits for, never as the lesson's problem
    panel = page.locator("#lesson-panel")
    expect(panel.locator(".lesson-waiting")).to_have_text("Type the word you expect after ≈ to see where it ranks.")
    expect(panel.locator(".lesson-note.bad")).to_have_count(0)
    # a box of a − b + c emptied: the numbers that read it wait (grey ?), the same words as the analogy's own message
    page.fill(f'{form} input[name="a"]', "")
    page.press(f'{form} input[name="a"]', "Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('a') === ''")
    step_ready(page, "similarity-and-vector-arithmetic", 3)
    expect(panel.locator(".lesson-waiting")).to_have_text("Type three words: a − b + c.")
    expect(panel.locator(".lesson-note.bad")).to_have_count(0)
    expect(body.locator(".lv.bad")).to_have_count(0)
    expect(body.locator(".lv.waiting").first).to_have_text("?")


@pytest.mark.slow
def test_predict_when_the_loss_drops_then_train_and_see_this_run_s_answer(page: Page, models, errors):
    """The lab lesson's question: the guess first (the lab blurred), then a run trained on screen; the reveal and the
    right choice are that run's (GET /api/lab/summary), whatever it reached; the guess stays through the training."""
    page.goto("/?lesson=watch-an-induction-head-appear&step=2")
    step_ready(page, "watch-an-induction-head-appear", 2)
    s = url_state(page)
    assert s["view"] == "lab"
    expect(page.locator('main .view[data-view="lab"] select[name=ltask]')).to_have_value("copy")  # the lesson's task
    assert "lesson-predict" in page.evaluate("document.body.className")
    choices = page.locator("#lesson-panel .q-choice")
    expect(choices).to_have_count(4)
    expect(page.locator("#lesson-panel .q-prompt")).to_contain_text("fall below 1.0 nats")
    choices.nth(0).click()
    expect(page.locator("#lesson-panel .q-reveal")).to_contain_text("Now train")
    assert page.locator("#lesson-panel .q-choice.right, #lesson-panel .q-choice.wrong").count() == 0  # not known yet
    assert "lesson-predict" not in page.evaluate("document.body.className")
    train_lab(page)
    run = page.request.get("/api/lab/runs").json()["runs"][-1]
    summary = page.request.get(f"/api/lab/summary?run={run['id']}").json()
    assert summary["ended"] and summary["final"]["step"] == LAB_STEPS
    reached = summary["loss"]["reached"]
    reveal = page.locator("#lesson-panel .q-reveal")
    if reached:
        want = sum(summary["loss"]["step"] >= b for b in (100, 300, 1000))
        expect(reveal).to_contain_text(f"at step {summary['loss']['step']}")
        expect(page.locator("#lesson-panel .q-choice.right")).to_have_attribute("data-index", str(want))
        expect(reveal).to_contain_text("You predicted it" if want == 0 else "You chose “before step 100”")
    else:  # 20 steps without the drop: which later choice is right, this run cannot tell (it marked one wrong)
        expect(reveal).to_contain_text(f"This run ended at step {LAB_STEPS} (")
        expect(reveal).to_contain_text("it cannot tell which of the later choices is right")
        assert page.locator("#lesson-panel .q-choice.right, #lesson-panel .q-choice.wrong").count() == 0
        expect(reveal).not_to_contain_text("You chose")
    body = page.locator("#lesson-panel .lesson-body")  # the step's own text on this run, below its `+++`
    expect(body).to_contain_text(f"at step {summary['loss']['step']}" if reached else "never fell below")
    page.wait_for_selector('#lesson-panel[data-state="ready"]')
    check_numbers(page, models, "the loss-step reveal")
    assert errors == []


@pytest.mark.slow
def test_a_run_trained_before_the_question_gives_nothing_away(page: Page, errors):
    """A run trained on step 1, then Next: step 2's question comes first, its text says nothing of when the loss fell
    (it quoted the step above the unanswered question) and the lab stays blurred; a guess shows both."""
    train_step_1_then_next(page, "watch-an-induction-head-appear")
    body = page.locator("#lesson-panel .lesson-body")
    expect(body).to_contain_text("Make your guess")
    for words in ("first fell below", "never fell below", "In this run"):
        expect(body).not_to_contain_text(words)
    assert "lesson-predict" in page.evaluate("document.body.className")
    page.locator("#lesson-panel .q-choice").nth(3).click()
    expect(body).to_contain_text(re.compile(r"first fell below [\d.]+ nats at step \d+|never fell below"))
    expect(page.locator("#lesson-panel .q-reveal")).to_contain_text(re.compile(r"at step \d+|without"))
    assert "lesson-predict" not in page.evaluate("document.body.className")
    assert errors == []


def test_predict_then_reveal_a_top_key(page: Page, models):
    page.goto("/?lesson=attention-arithmetic&step=3")
    step_ready(page, "attention-arithmetic", 3)
    assert "lesson-predict" in page.evaluate("document.body.className")
    expect(page.locator("#lesson-panel .q-reveal")).to_have_count(0)
    s = url_state(page)
    e = api_answer(page, "explain", models, layer=s["layer"], head=s["head"], query=s["token"])
    candidates = [i for i, t in enumerate(e["tokens"]) if not e["mask"][i] and not t["special"]]
    answer = max(candidates, key=lambda i: (e["weights"][i], -i))
    choices = page.locator("#lesson-panel .q-choice")
    assert [int(choices.nth(i).get_attribute("data-index")) for i in range(choices.count())] == candidates
    wrong = next(i for i in candidates if i != answer)
    page.click(f'#lesson-panel .q-choice[data-index="{wrong}"]')
    page.wait_for_selector("#lesson-panel .q-reveal")
    page.wait_for_selector('#lesson-panel[data-state="ready"]')
    expect(page.locator(f'#lesson-panel .q-choice[data-index="{answer}"]')).to_have_class(re.compile(r"\bright\b"))
    expect(page.locator(f'#lesson-panel .q-choice[data-index="{wrong}"]')).to_have_class(re.compile(r"\bwrong\b"))
    reveal = page.locator("#lesson-panel .q-reveal").inner_text()
    assert word_of(e["tokens"][answer]["display"]) in reveal and "You chose" in reveal
    assert f"{e['weights'][answer]:.2f}" in reveal and f"{e['weights'][wrong]:.2f}" in reveal
    assert "lesson-predict" not in page.evaluate("document.body.className")
    check_numbers(page, models, "the reveal")


def test_the_top_key_reveal_names_a_start_token_only_where_the_sentence_has_one(page: Page, models, need_models):
    """On SmolLM2 (no start token: position 0 is the sentence's first word) the reveal said "the start token, where a
    head parks what it does not need, gets 0.07" of the word "The"."""
    need_models("smollm2-135m")
    page.goto("/?" + urlencode({"lesson": "attention-arithmetic", "step": 3, "model": "smollm2-135m"}))
    step_ready(page, "attention-arithmetic", 3)
    s = url_state(page)
    e = api_answer(page, "explain", models, layer=s["layer"], head=s["head"], query=s["token"])
    assert not e["tokens"][0]["special"]
    page.click("#lesson-panel .q-choice >> nth=0")
    page.wait_for_selector("#lesson-panel .q-reveal")
    page.wait_for_selector('#lesson-panel[data-state="ready"]')
    reveal = page.locator("#lesson-panel .q-reveal").inner_text()
    assert "of the attention of" in reveal and "start token" not in reveal, reveal
    # on the tiny model, whose sentence begins with its start token, the reveal gives its share
    page.goto("/?" + urlencode({"lesson": "attention-arithmetic", "step": 3}))
    step_ready(page, "attention-arithmetic", 3)
    s = url_state(page)
    e = api_answer(page, "explain", models, layer=s["layer"], head=s["head"], query=s["token"])
    page.click("#lesson-panel .q-choice >> nth=0")
    page.wait_for_selector("#lesson-panel .q-reveal")
    page.wait_for_selector('#lesson-panel[data-state="ready"]')
    assert f"the start token, where a head parks what it does not need, gets {e['weights'][0]:.2f}" in page.locator(
        "#lesson-panel .q-reveal").inner_text()


def test_predict_then_reveal_the_next_word(page: Page, models):
    page.goto("/?lesson=next-word-prediction&step=1")
    step_ready(page, "next-word-prediction", 1)
    p = api_answer(page, "predict", models, top_k=10, temperature=url_state(page)["temp"])
    choices = page.locator("#lesson-panel .q-choice")
    expect(choices).to_have_count(4)
    labels = choices.all_text_contents()
    # each written as the probability bars write it, its leading space marked (␣bird)
    assert sorted(labels) == sorted(t["display"] for t in p["predictions"][:4])
    page.click('#lesson-panel .q-choice[data-index="0"]')  # the right one
    page.wait_for_selector("#lesson-panel .q-reveal")
    reveal = page.locator("#lesson-panel .q-reveal").inner_text()
    assert "You predicted it" in reveal and f"{p['predictions'][0]['prob']:.2f}" in reveal


def test_the_lesson_panel_is_readable_in_presenter_mode(page: Page):
    page.goto("/?lesson=attention-arithmetic&step=2")
    step_ready(page, "attention-arithmetic", 2)
    normal = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#lesson-panel .lesson-body')).fontSize)")
    page.evaluate("document.body.classList.add('presenter')")
    bigger = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#lesson-panel .lesson-body')).fontSize)")
    assert bigger >= normal * 1.1
    box = page.locator("#lesson-panel").bounding_box()
    assert box["x"] + box["width"] <= 1280 and box["height"] > 500


def test_a_lesson_step_on_a_phone_puts_the_view_above_its_sheet(page: Page):
    """On a phone the lesson is a sheet over the lower half of the screen: a step, opened by a link or by Next, scrolls
    the page to the token strip and the view (they were below, under the controls, out of sight above the sheet)."""
    page.set_viewport_size({"width": 390, "height": 844})

    def view_on_top(where: str) -> None:
        page.wait_for_function("() => document.querySelector('header.top').getBoundingClientRect().bottom <= 1")
        strip = page.locator(".sticky").bounding_box()
        sheet = page.locator("#lesson-panel").bounding_box()
        plot = page.locator("main .view:not([hidden]) .panel").first.bounding_box()
        assert strip["y"] <= 1 and plot["y"] < sheet["y"], (where, strip, plot, sheet)

    page.goto("/?lesson=attention-arithmetic&step=2")
    step_ready(page, "attention-arithmetic", 2)
    view_on_top("a link")
    page.evaluate("() => window.scrollTo(0, 0)")  # the student scrolls up to the controls
    page.click("#lesson-panel .lesson-next")
    step_ready(page, "attention-arithmetic", 3)
    view_on_top("Next")


PLOT_ABOVE_SHEET = """(holder) => {
  const sheet = document.querySelector('#lesson-panel').getBoundingClientRect();
  const top = Math.max(0, document.querySelector('.sticky').getBoundingClientRect().bottom);
  const figs = [...document.querySelectorAll('main .view:not([hidden]) .panel')].filter((f) => f.offsetParent);
  const fig = holder ? document.querySelector(`main .view:not([hidden]) ${holder}`) : figs[0];
  const box = fig.getBoundingClientRect();
  const area = (fig.querySelector('.plot .nsewdrag') || fig.querySelector('.plot') || fig).getBoundingClientRect();
  return { title: (fig.querySelector('.panel-title') || fig).textContent.slice(0, 40), top, sheet: sheet.top,
           fig: [box.top, box.bottom], shown: Math.min(box.bottom, sheet.top) - Math.max(box.top, top),
           want: Math.min(box.height, sheet.top - top), area: [area.top, area.bottom] };
}"""


def guess_on_the_run(page: Page, lesson: str, n: int) -> None:
    """A lab step's question answered on a run already on screen: guessed, the step's run trained (a guess made
    before the run is answered as it ends, with nothing scrolled), the page loaded again, guessed again."""
    page.locator("#lesson-panel .q-choice").first.click()
    train_lab(page)
    page.reload()
    step_ready(page, lesson, n)
    page.wait_for_timeout(300)
    page.locator("#lesson-panel .q-choice").first.click()
    expect(page.locator("#lesson-panel .q-reveal")).to_contain_text("When the run ended")


@pytest.mark.parametrize("lesson, n, how, holder", [
    ("attention-arithmetic", 3, "guess", '[data-part="weights"]'), ("context", 4, "guess", None),
    ("where-does-the-answer-appear", 1, "guess", None), ("where-does-the-answer-appear", 3, "show", None),
    ("position-past-the-trained-length", 4, "show", ".schemes"),
    ("position-past-the-trained-length", 5, "show", '[data-part="probe-plot"]'),
    pytest.param("positional-schemes-in-the-lab", 2, "run", '[data-part="answer"]', marks=pytest.mark.slow)])
def test_on_a_phone_a_revealed_answer_leaves_the_plot_above_the_sheet(page: Page, lesson, n, how, holder):
    """On a phone the sheet grows with the answer a guess (or Show the answer) reveals, over the view: on lesson 5's
    step 3 the scores chart, the view's first plot, kept 79 px above the sheet (its title and legend), its bars under
    the sheet until the page was scrolled. Once revealed, the drawing that holds the answer's number (`holder`: lesson
    5 step 3's weight of the top key is on the weights chart, below the scores chart; lesson 10 step 4's what each
    scheme reaches on the scheme diagrams, step 5's R² on the probe's plot, the position lab's second; lesson 13 step
    2's share of the example right in the caption of the lab's answer, its last plot; else the view's first plot) has
    all the room between the sticky token strip and tabs and the sheet (or is whole in sight there), but for the
    view's own margin above it. Lesson 10 step 4 brought the loss curves above the sheet, the diagrams' top 585 px
    below its top; lesson 13 step 2 the loss curves, the answer 1,449 px below (or, scrolled from the page's top, 218
    px lower than the strip once it stuck, its caption under the sheet). A plot taller than that room shows its drawing
    there, the axes' area whole where it has room: lesson 10's probe plot kept its title and method text in sight and
    its curves (518-709 px) under the sheet (422), lesson 5's top key's bar (0.30, down to 432 px) under it too."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"lesson": lesson, "step": n}))
    step_ready(page, lesson, n)
    page.wait_for_timeout(300)
    if how == "guess":
        page.locator("#lesson-panel .q-choice").first.click()
        page.wait_for_selector("#lesson-panel .q-reveal")
    elif how == "run":
        guess_on_the_run(page, lesson, n)
    else:
        page.click("#lesson-panel .lesson-reveal")
        page.wait_for_selector("#lesson-panel .lesson-revealed")
    page.wait_for_timeout(300)
    seen = page.evaluate(PLOT_ABOVE_SHEET, holder)
    assert seen["want"] > 150 and seen["shown"] >= seen["want"] - 12, seen
    area_top, area_bottom = seen["area"]
    if area_bottom - area_top <= seen["sheet"] - seen["top"]:
        assert area_top >= seen["top"] - 1 and area_bottom <= seen["sheet"] + 1, seen


VIEW_ABOVE_SHEET = """() => {
  const v = document.querySelector('main .view:not([hidden])').getBoundingClientRect();
  const sheet = document.querySelector('#lesson-panel').getBoundingClientRect();
  const strip = document.querySelector('.sticky');
  const top = getComputedStyle(strip).position === 'sticky' ? Math.max(0, strip.getBoundingClientRect().bottom) : 0;
  return { shown: Math.min(v.bottom, sheet.top, innerHeight) - Math.max(v.top, top, 0), room: sheet.top - top,
           view: v.top, sheet: sheet.top, strip: top, scrolled: scrollY };
}"""


@pytest.mark.parametrize("size, present, lesson, n", [
    ((800, 600), True, "attention-arithmetic", 3), ((800, 600), False, "attention-arithmetic", 3),
    ((768, 1024), False, "context", 4), ((1000, 700), True, "next-word-prediction", 1)],
    ids=["800x600-presenter", "800x600", "768x1024", "1000x700-presenter"])
def test_a_step_entered_on_a_tablet_or_small_projector_shows_its_view_above_the_sheet(page: Page, size, present, lesson,
                                                                                     n):
    """From 641 to 1000 px wide the lesson is a sheet over the lower 46% of the screen, and a step entered left the page
    at its top: the controls, the token strip and the tabs filled the room above the sheet and the view the step asks
    about was under it (800x600 in presenter mode: 0 px of it above the sheet; 768x1024: 24 px of 553). Once the step
    is drawn the view has at least half the room between the strip (where it is sticky) and the sheet."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/?" + urlencode({"lesson": lesson, "step": n, **({"present": 1} if present else {})}))
    step_ready(page, lesson, n)
    page.wait_for_timeout(300)
    seen = page.evaluate(VIEW_ABOVE_SHEET)
    assert seen["room"] > 150 and seen["shown"] >= seen["room"] / 2, seen


SHEET_FIT = """() => {
  const panel = document.querySelector('#lesson-panel'), nav = panel.querySelector('.lesson-nav');
  const shown = [...panel.children].filter((c) => c !== nav && c.offsetParent && c.getBoundingClientRect().height > 0);
  const strip = document.querySelector('.sticky').getBoundingClientRect();
  return { top: panel.getBoundingClientRect().top, height: panel.getBoundingClientRect().height,
           overflows: panel.scrollHeight > panel.clientHeight + 1,
           gap: nav.getBoundingClientRect().top - Math.max(...shown.map((c) => c.getBoundingClientRect().bottom)),
           view: panel.getBoundingClientRect().top - Math.max(0, strip.bottom),
           pad: parseFloat(getComputedStyle(document.body).paddingBottom) };
}"""


@pytest.mark.parametrize("lesson, n", [("next-word-prediction", 3), ("many-heads", 2), ("attention-arithmetic", 3)])
def test_on_a_phone_the_lesson_sheet_is_no_taller_than_its_step(page: Page, lesson, n):
    """On a phone the lesson's sheet took half the screen whatever the step held: a short step (next-word-prediction
    3, two paragraphs) left 170 px of it empty above Previous / Next, and the view got 218 px between the sticky token
    strip and the sheet. The sheet is as tall as its step, up to half the screen (past that, it scrolls): nothing of
    the step's text is cut, and the page's foot leaves as much room below as the sheet covers."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?" + urlencode({"lesson": lesson, "step": n}))
    step_ready(page, lesson, n)
    page.wait_for_timeout(300)
    fit = page.evaluate(SHEET_FIT)
    assert fit["height"] <= 844 / 2 + 1, fit
    # either the step fills the sheet (and scrolls in it), or the sheet ends where the step does
    assert fit["overflows"] or fit["gap"] < 40, fit
    assert abs(fit["pad"] - fit["height"]) <= 1, fit
    if lesson == "next-word-prediction":  # a short step: more room for the view than half the screen left it
        assert fit["view"] > 300 and not fit["overflows"], fit


def test_download_report_gets_the_report_of_this_view(page: Page):
    page.goto("/?" + urlencode({"text": "The dog chased the ball.", "layer": 1, "head": 2, "view": "attention"}))
    ready(page)
    href = page.get_attribute("#download-report", "href")
    q = parse_qs(urlparse(href).query)
    assert urlparse(href).path == "/api/report"
    assert q["text"] == ["The dog chased the ball."] and q["layer"] == ["1"] and q["head"] == ["2"]
    with page.expect_download(timeout=120_000) as info:
        page.click("#download-report")
    download = info.value
    assert download.suggested_filename.endswith(".html")
    html = Path(download.path()).read_text(encoding="utf-8")
    assert "The dog chased the ball." in html or "The dog chased the ball." in html.replace("&#x27;", "'")


def test_share_shows_the_address_and_a_qr_code(page: Page):
    """In a lesson the code opened the step alone ("?lesson=...&step=3"): the lesson's own sentence and head, with
    other numbers than the projector's once the teacher had typed a sentence or picked a head. It opens the view."""
    page.goto("/?lesson=why-divide-by-sqrt-d&step=3")
    step_ready(page, "why-divide-by-sqrt-d", 3)
    page.fill("#text", "Tom said he was tired because he ran.")
    page.wait_for_function("() => new URLSearchParams(location.search).get('text') === 'Tom said he was tired because he ran.'")
    step_ready(page, "why-divide-by-sqrt-d", 3)
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.click("#share")
    page.wait_for_selector('#share-dialog[open][data-state="ready"]')
    url = page.locator("#share-url").text_content()
    assert re.fullmatch(r"http://[\w.\[\]:-]+:\d+/", url), url
    href = page.get_attribute("#share-url", "href")
    q = parse_qs(urlparse(href).query)
    assert q["lesson"] == ["why-divide-by-sqrt-d"] and q["step"] == ["3"] and "present" not in q
    assert q["text"] == ["Tom said he was tired because he ran."] and q["scale"] == ["0"]
    assert "step 3 of this lesson" in page.locator("#share-detail").text_content()
    said = [(n["expr"], n["text"]) for n in live_numbers(page)]
    assert said
    student = page.context.new_page()
    student.goto(href.replace(url.rstrip("/"), ""))  # (the address on this machine's server)
    step_ready(student, "why-divide-by-sqrt-d", 3)
    assert [(n["expr"], n["text"]) for n in live_numbers(student)] == said  # the numbers the projector shows
    # the sentence is the link's, not one the student typed (the note said "This step is on your sentence")
    expect(student.locator("#lesson-panel .offer-own")).to_contain_text("This step is on the link’s sentence; the lesson’s is")
    student.fill("#text", "Anna said she was cold because she ran.")  # then the sentence is the student's own
    expect(student.locator("#lesson-panel .offer-own")).to_contain_text("This step is on your sentence; the lesson’s is")
    student.close()
    src = page.get_attribute("#share-qr", "src")
    assert src.startswith("data:image/svg+xml")
    assert page.evaluate("document.querySelector('#share-qr').naturalWidth") > 0  # the browser could draw it
    page.click("#share-close")
    expect(page.locator("#share-dialog")).to_be_hidden()


@pytest.mark.parametrize("with_view", [True, False], ids=["this-view", "start-address"])
def test_share_copy_copies_the_link_the_dialog_offers(page: Page, with_view):
    """Copy put the start address ("http://host:port/") on the clipboard while the dialog offered this view's link, at
    this lesson step (the link's target, the code's address): pasted in a chat, it opened the page at its start."""
    page.goto("/?" + urlencode({"lesson": "why-divide-by-sqrt-d", "step": 3, "text": "Tom said he was tired because he ran."}))
    step_ready(page, "why-divide-by-sqrt-d", 3)
    page.evaluate("""() => { window.__copied = [];
        Object.defineProperty(navigator, 'clipboard', { configurable: true,
          value: { writeText: async (t) => { window.__copied.push(t); } } }); }""")
    page.click("#share")
    page.wait_for_selector('#share-dialog[open][data-state="ready"]')
    if not with_view:
        page.uncheck("#share-view")
        page.wait_for_function("() => document.querySelector('#share-url').getAttribute('href') === "
                               "document.querySelector('#share-url').textContent")
        page.wait_for_selector('#share-dialog[open][data-state="ready"]')
    href = page.get_attribute("#share-url", "href")
    page.click("#share-copy")
    expect(page.locator("#share-copy")).to_have_text(re.compile("Copied"))
    copied = page.evaluate("window.__copied")
    assert copied == [href], (copied, href)
    q = parse_qs(urlparse(copied[0]).query)
    if with_view:
        assert q["lesson"] == ["why-divide-by-sqrt-d"] and q["step"] == ["3"], q
        assert q["text"] == ["Tom said he was tired because he ran."], q
        assert copied[0] in page.locator("#share-detail").text_content()  # the link the dialog shows
    else:
        assert q == {} and copied[0] == page.locator("#share-url").text_content()


@pytest.mark.parametrize("size,present", [((1280, 720), True), ((1280, 720), False), ((390, 844), False)],
                         ids=["projector", "laptop", "phone"])
def test_the_share_dialog_fits_the_window(page: Page, size, present):
    """Share on a projector (presenter mode, 1280x720), a view too long for a QR code: with its note the dialog was
    46 px taller than it could be, and its Close button was cut at the window's bottom edge (the dialog scrolled)."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    text = "The quick brown fox jumps over the lazy dog again and again. " * 6
    page.goto("/?" + urlencode({"lesson": "many-heads", "step": 2, "text": text, **({"present": 1} if present else {})}))
    step_ready(page, "many-heads", 2)
    page.click("#share")
    page.wait_for_selector('#share-dialog[open][data-state="ready"]')
    expect(page.locator("#share-note")).to_be_visible()
    page.wait_for_timeout(300)
    fit = page.evaluate("""() => { const d = document.querySelector('#share-dialog');
        const close = document.querySelector('#share-close').getBoundingClientRect();
        const qr = document.querySelector('#share-qr').getBoundingClientRect();
        const note = document.querySelector('#share-note').getBoundingClientRect();
        return { over: d.scrollHeight - d.clientHeight, closeBottom: close.bottom, qr: qr.height, square: qr.width - qr.height,
                 onNote: qr.bottom - note.top, h: innerHeight }; }""")
    assert fit["over"] <= 1 and fit["closeBottom"] <= fit["h"], fit
    assert fit["onNote"] <= 0 and abs(fit["square"]) <= 1, fit  # (the code drawn whole, square, above the note)
    assert fit["qr"] >= 144, fit  # (a code still large enough to scan)


def test_share_of_a_view_too_long_for_a_qr_code_says_what_the_code_opens(page: Page):
    """A long sentence makes the view's address too long for a QR code, so the code opens the lesson step alone, on the
    lesson's own sentence: the dialog said "The code opens this view, at step 2 of this lesson" above a note that
    says the opposite."""
    text = "The quick brown fox jumps over the lazy dog again and again. " * 6
    page.goto("/?" + urlencode({"lesson": "many-heads", "step": 2, "text": text}))
    step_ready(page, "many-heads", 2)
    page.click("#share")
    page.wait_for_selector('#share-dialog[open][data-state="ready"]')
    href = page.get_attribute("#share-url", "href")
    assert parse_qs(urlparse(href).query) == {"lesson": ["many-heads"], "step": ["2"]}, href
    detail = page.locator("#share-detail").text_content()
    assert "this view" not in detail and "step 2 of this lesson" in detail and "the lesson’s own sentence" in detail, detail
    assert href in detail
    expect(page.locator("#share-note")).to_contain_text("too long for a QR code")


def test_share_of_a_view_longer_than_the_api_takes_opens_the_start_page(page: Page):
    """Two sentences of 700 characters of four UTF-8 bytes make a query string of over 16,000 characters, more than
    GET /api/share takes: the dialog said "The address could not be made" (a 422). The page sends the view cut to its
    lesson step (here none: the start page), and the note says why."""
    text = "🙂" * 700
    page.goto("/?" + urlencode({"text": text, "text2": text, "view": "compare"}))
    page.wait_for_selector('html[data-busy="0"]')
    page.click("#share")
    page.wait_for_selector('#share-dialog[open][data-state="ready"]')
    href = page.get_attribute("#share-url", "href")
    assert urlparse(href).query == "" and urlparse(href).path == "/", href
    expect(page.locator("#share-note")).to_contain_text("too long for a QR code (a long sentence): the code opens the start page")
    expect(page.locator("#share-note")).not_to_contain_text("could not be made")


def test_keys_pressed_while_the_share_dialog_is_open_leave_the_page_alone(page: Page):
    """With the QR code on the projector, the arrow keys moved the layer and head behind the dialog (and p left
    presenter mode): the code then opened another head than the one the page showed."""
    page.goto("/?" + urlencode({"view": "attention", "present": 1}))
    page.wait_for_selector('html[data-busy="0"] main .view:not([hidden])[data-state="ready"]')
    page.click("#share")
    page.wait_for_selector('#share-dialog[open][data-state="ready"]')
    before = parse_qs(urlparse(page.url).query)
    for key in ("ArrowRight", "ArrowDown", "p"):
        page.keyboard.press(key)
    page.wait_for_timeout(300)
    after = parse_qs(urlparse(page.url).query)
    assert {k: after.get(k) for k in ("layer", "head", "present")} == {k: before.get(k) for k in ("layer", "head", "present")}
    href = page.get_attribute("#share-url", "href")
    assert parse_qs(urlparse(href).query).get("head") == after.get("head")


def test_a_hostile_sentence_shows_literally_in_the_lesson_text(page: Page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/?lesson=attention-arithmetic&step=3")
    step_ready(page, "attention-arithmetic", 3)
    hostile = "<img src=x onerror=alert(1)> <script>alert(2)</script> javascript:alert(3) and it"
    page.fill("#text", hostile)
    page.wait_for_function("(t) => new URLSearchParams(location.search).get('text') === t", arg=hostile)
    step_ready(page, "attention-arithmetic", 3)
    page.wait_for_timeout(500)  # time for an injected image's onerror, were there one
    panel = page.locator("#lesson-panel")
    assert panel.locator("img, script, iframe, a[href^='javascript']").count() == 0
    strip = "".join(page.locator("#tokens .tok .tok-text").all_text_contents()).replace("\u2423", " ")
    assert "<img src=x onerror=alert(1)>" in strip
    texts = [n["text"] for n in live_numbers(page)]
    assert texts and all(t is not None for t in texts)
    assert dialogs == []


@pytest.mark.slow
def test_a_run_of_another_scheme_does_not_answer_the_next_steps_question(page: Page, errors):
    """Lesson 13: a run trained on step 1 (sinusoidal positions) is still on screen at step 2, whose question is about
    a run without positions: a guess is not judged by it; the reveal says whose run is on screen."""
    train_step_1_then_next(page, "positional-schemes-in-the-lab")
    page.locator("#lesson-panel .q-choice").nth(2).click()
    expect(page.locator("#lesson-panel .q-reveal")).to_contain_text(
        "The run on screen is reverse with sinusoidal positions, size small, not this step's: press Train")
    assert page.locator("#lesson-panel .q-choice.right, #lesson-panel .q-choice.wrong").count() == 0
    # the lab's controls are the step's (no positions) and its status line says what the run on screen is
    expect(page.locator('main .view[data-view="lab"] .lab-status')).to_contain_text(
        f"The run on screen: reverse, sinusoidal positions, size small, {LAB_STEPS} steps; the settings above are for the next Train.")
    train_lab(page)  # this step's run (no positions) answers it
    expect(page.locator("#lesson-panel .q-reveal")).to_contain_text("When the run ended (step 20)")
    expect(page.locator("#lesson-panel .q-choice.right")).to_have_count(1)
    assert errors == []


def test_a_step_s_question_shows_whole_in_presenter_mode(page: Page):
    """At 1280 x 720 in presenter mode, lesson 5 step 3's question began at the panel's foot and its choices were
    below it: the teacher had to scroll the panel before the class could answer. The panel now scrolls to show it."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?lesson=attention-arithmetic&step=3&present=1")
    step_ready(page, "attention-arithmetic", 3)
    page.wait_for_selector('#lesson-panel .lesson-question[data-answered="0"] button')
    box = page.locator("#lesson-panel .lesson-question").bounding_box()
    nav = page.locator("#lesson-panel .lesson-nav").bounding_box()
    panel = page.locator("#lesson-panel").bounding_box()
    assert box["y"] >= panel["y"] and box["y"] + box["height"] <= nav["y"] + 1, (box, nav)
    assert page.evaluate("document.getElementById('lesson-panel').scrollTop") > 0  # (it was below the fold)
    # the scroll cuts nothing at the panel's top: it scrolled 53 px, through the first line of the lesson's title
    assert page.evaluate(CUT_AT_THE_TOP) == []


# the lines of text (and the buttons) of the lesson panel that its top edge cuts through: partly scrolled out of sight
# above, partly in it (Previous / Next, sticky at its foot, left out)
CUT_AT_THE_TOP = """() => {
  const panel = document.getElementById('lesson-panel');
  const top = panel.getBoundingClientRect().top;
  const nav = panel.querySelector('.lesson-nav');
  const walk = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let t = walk.nextNode(); t; t = walk.nextNode()) {
    if (!t.textContent.trim() || (nav && nav.contains(t))) continue;
    const button = t.parentElement.closest('button');
    const range = document.createRange();
    range.selectNodeContents(t);
    for (const r of button ? [button.getBoundingClientRect()] : range.getClientRects())
      if (r.height > 0 && r.top < top - 1 && r.bottom > top + 1)
        found.push(`"${t.textContent.trim().slice(0, 30)}": ${(top - r.top).toFixed(0)} px of ${r.height.toFixed(0)} above the top`);
  }
  return found;
}"""


def test_a_question_shown_whole_in_presenter_mode_keeps_the_text_above_it(page: Page):
    """Lesson 8 step 5 at 1280 x 720 in presenter mode: the panel scrolls to show the step's question whole above
    Previous / Next, and to where a line starts, not to where a whole paragraph starts: to a paragraph's start it
    scrolled 508 px, the step's title and its text all out of sight for the question's 180 px (a blank below it)."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?lesson=positional-encoding&step=5&present=1")
    step_ready(page, "positional-encoding", 5)
    page.wait_for_selector('#lesson-panel .lesson-question[data-answered="0"] button')
    page.wait_for_timeout(300)
    box = page.locator("#lesson-panel .lesson-question").bounding_box()
    nav = page.locator("#lesson-panel .lesson-nav").bounding_box()
    assert box["y"] + box["height"] <= nav["y"] + 1, (box, nav)
    assert page.evaluate(CUT_AT_THE_TOP) == []
    # no more than a line's scroll past what showing the question whole needs (its foot within 2 lines of Next)
    assert nav["y"] - (box["y"] + box["height"]) < 2.5 * 19 * 1.12 * 1.5, (box, nav)


def test_a_top_key_question_with_one_word_to_choose_is_left_out(page: Page):
    """Lesson 5 step 3 at the first word of a tiny model (after the start token) asked "which word will The attend to
    most?" with one button, The: nothing to guess. The question, and the blur of the plots that waits on it, are left
    out where the query sees fewer than two words, and come back at a later token."""
    page.goto("/?lesson=attention-arithmetic&step=3")
    step_ready(page, "attention-arithmetic", 3)
    page.wait_for_selector('#lesson-panel .lesson-question[data-answered="0"] button')
    page.click('#tokens .tok[data-index="1"]')
    page.wait_for_function("() => !document.querySelector('#lesson-panel .lesson-question')")
    step_ready(page, "attention-arithmetic", 3)
    assert page.locator("#lesson-panel .lesson-question").count() == 0
    assert not page.evaluate("document.body.classList.contains('lesson-predict')")
    assert "see one key, itself" not in page.locator("#lesson-panel").inner_text()  # (two keys: the start token too)
    page.click('#tokens .tok[data-index="3"]')
    page.wait_for_selector('#lesson-panel .lesson-question[data-answered="0"] button')
    assert page.locator("#lesson-panel .lesson-question button").count() >= 2


ACTIVE = """() => { const e = document.activeElement;
  return e === document.body ? 'body'
    : (e.closest('#lesson-panel') ? 'panel ' : '') + (e.id ? '#' + e.id : e.className + ' ' + e.textContent.trim()); }"""


def test_the_keyboard_keeps_its_place_in_the_lesson_panel(page: Page):
    """Enter on a lesson, on Next, on the last step's Previous: each drew the panel anew and left the focus on the page's
    body (a second Enter did nothing, a screen reader heard nothing of the new step); closing the panel likewise."""
    page.goto("/?" + urlencode({"text": "The cat sat on the mat."}))
    ready(page)
    page.click("#lessons-toggle")
    first = page.locator("#lesson-panel .lesson-open").first
    lesson = first.get_attribute("data-lesson")
    first.focus()
    page.keyboard.press("Enter")
    step_ready(page, lesson, 1)
    assert page.evaluate(ACTIVE).startswith("panel step-title"), page.evaluate(ACTIVE)  # the new step's title
    page.locator("#lesson-panel .lesson-next").focus()
    page.keyboard.press("Enter")
    step_ready(page, lesson, 2)
    assert page.evaluate(ACTIVE) == "panel lesson-next primary Next ▸"
    page.keyboard.press("Enter")  # again: the next step
    step_ready(page, lesson, 3)
    page.locator("#lesson-panel .lesson-prev").focus()
    page.keyboard.press("Enter")
    step_ready(page, lesson, 2)
    page.keyboard.press("Enter")
    step_ready(page, lesson, 1)  # (Previous is disabled on the first step: the focus goes to the step's title)
    assert page.evaluate(ACTIVE).startswith("panel step-title"), page.evaluate(ACTIVE)
    page.locator("#lesson-panel .lesson-close").focus()
    page.keyboard.press("Enter")  # end the lesson: the list
    page.wait_for_selector("#lesson-panel .lesson-open")
    assert page.evaluate(ACTIVE).startswith("panel "), page.evaluate(ACTIVE)
    page.locator("#lesson-panel .lesson-close").focus()
    page.keyboard.press("Enter")  # hide the lessons: back on the button that shows them
    expect(page.locator("#lesson-panel")).to_be_hidden()
    assert page.evaluate(ACTIVE) == "#lessons-toggle"


def test_the_lessons_button_takes_the_keyboard_into_the_panel(page: Page):
    """Enter on the Lessons button showed the panel and left the focus on the button: the panel comes after the whole
    page in the tab order, so a teacher at the keyboard pressed Tab 31 times (presenter mode) to reach the first lesson.
    The focus now goes to the panel's title; Tab from there reaches the lessons."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"text": "The cat sat on the mat.", "present": "1"}))
    ready(page)
    page.focus("#lessons-toggle")
    page.keyboard.press("Enter")
    page.wait_for_selector("#lesson-panel .lesson-open")
    page.wait_for_timeout(300)
    assert page.evaluate(ACTIVE) == "panel lesson-title Lessons"
    for _ in range(3):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('lesson-open')"):
            break
    assert page.evaluate("() => document.activeElement.classList.contains('lesson-open')"), page.evaluate(ACTIVE)
    page.keyboard.press("Enter")  # the first lesson, its first step: the step's title (as before)
    page.wait_for_selector("#lesson-panel .step-title")
    page.wait_for_timeout(300)
    assert page.evaluate(ACTIVE).startswith("panel step-title"), page.evaluate(ACTIVE)


def test_a_step_on_a_sentence_too_long_for_the_model_says_why_in_the_page_s_words(page: Page):
    """A student's sentence past the model's trained length, in a lesson: the panel said "This step could not be
    prepared: ... send allow_beyond_trained: true to run up to 512 tokens", the API's words for its request flag. It
    says what the note by the sentence says, and what to do there."""
    long = "My cat is very tired today and sleeps on the warm mat. " * 12
    page.goto("/?" + urlencode({"text": long, "model": "tiny-sinusoidal", "lesson": "many-heads", "step": 2}))
    expect(page.locator('#beyond[data-kind="offer"]')).to_be_visible(timeout=60_000)
    page.wait_for_function("() => /too long|could not be prepared/.test(document.querySelector('#lesson-panel').textContent)",
                           timeout=60_000)
    said = page.locator("#lesson-panel").inner_text()
    assert "allow_beyond_trained" not in said and "max_tokens" not in said, said
    assert "Run it past the trained length" in said, said
    expect(page.locator('#beyond button[name="allow-beyond"]')).to_be_visible()


def test_a_guess_made_at_the_keyboard_leaves_the_focus_on_what_it_revealed(page: Page):
    """Enter on a guess (presenter mode, 1280x720): its buttons went disabled and the focus fell back to the step's
    title at the panel's top, which scrolled the answer the guess revealed out of sight. The focus is now on it."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"lesson": "attention-arithmetic", "step": 3, "present": 1}))
    step_ready(page, "attention-arithmetic", 3)
    page.locator("#lesson-panel .lesson-question .q-choice").nth(1).focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('#lesson-panel .lesson-question[data-answered="1"] .q-reveal')
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.activeElement.classList.contains('q-reveal')"), page.evaluate(ACTIVE)
    seen = page.evaluate("""() => { const r = document.activeElement.getBoundingClientRect();
        const p = document.querySelector('#lesson-panel').getBoundingClientRect();
        return r.top >= p.top && r.top < Math.min(p.bottom, innerHeight) - 40; }""")
    assert seen  # (its first lines on screen)
    # and the panel's top cuts no line: the focus scrolled the answer into sight just enough, through the step's title
    assert page.evaluate(CUT_AT_THE_TOP) == []


def test_show_the_answer_at_the_keyboard_leaves_the_focus_on_the_answer(page: Page):
    """Enter on "Show the answer" (a guess asked for in the text, a line `+++`; presenter mode, 1280x720): the button
    went and the focus fell back to the step's title at the panel's top, as a guess's choice button once did, away
    from the answer it revealed. The focus is now on the revealed text, and stays there once its numbers are in."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto("/?" + urlencode({"lesson": "where-does-the-answer-appear", "step": 3, "present": 1}))
    step_ready(page, "where-does-the-answer-appear", 3)
    expect(page.locator("#lesson-panel .lesson-revealed")).to_have_count(0)
    page.locator("#lesson-panel .lesson-reveal").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#lesson-panel .lesson-reveal")).to_have_count(0)
    step_ready(page, "where-does-the-answer-appear", 3)
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.activeElement.classList.contains('lesson-revealed')"), page.evaluate(ACTIVE)
    # the text below the `+++` (where the token becomes the top one), the end of the step's text, not the guess above
    said = page.evaluate("() => document.activeElement.textContent.trim()")
    body = page.evaluate("() => document.querySelector('#lesson-panel .lesson-body').textContent.trim()")
    assert said and body.endswith(said) and "Guess first" not in said and "top token" in said, said
    seen = page.evaluate("""() => { const r = document.activeElement.getBoundingClientRect();
        const p = document.querySelector('#lesson-panel').getBoundingClientRect();
        return r.top >= p.top && r.top < Math.min(p.bottom, innerHeight) - 40; }""")
    assert seen  # (its first lines on screen)
    # and the panel's top cuts no line: the focus scrolled the answer into sight just enough, through the step's title
    assert page.evaluate(CUT_AT_THE_TOP) == []


def test_a_lesson_quotes_the_training_checkpoint_the_views_show(page: Page, models):
    """With the *Training step* slider on an early checkpoint, the bars showed tiny-sinusoidal@16's guesses (“little”
    0.175) and the lesson quoted the final model's ("the top guess is girl, with probability 0.71"): the panel's
    numbers are those of the model the views show, asked of the API here for that checkpoint."""
    entry = models["tiny-sinusoidal"]
    early = entry["checkpoints"][1]
    page.goto("/?" + urlencode({"lesson": "next-word-prediction", "step": 2, "tstep": early["step"]}))
    step_ready(page, "next-word-prediction", 2)
    assert_clean_step(page, "at a checkpoint")
    text = url_state(page)["text"]
    top = ask(page, {"api": "predict", "params": {"text": text, "model": early["model"], "top_k": 10,
                                                   "temperature": 1.0}}, {})["predictions"][0]
    shown = {lv["raw"]: lv for lv in live_numbers(page)}
    assert shown["top_next_prob | 2"]["text"] == f"{top['prob']:.2f}", shown["top_next_prob | 2"]
    assert shown["top_next"]["text"] == word_of(top["text"]), shown["top_next"]
    assert shown["top_next"]["request"]["params"]["model"] == early["model"]
