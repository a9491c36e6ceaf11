"""Lessons as files (GET /api/lessons), the Share endpoint (GET /api/share) and `serve --host 0.0.0.0`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from backend.lessons import FOCUS, load_lessons, parse_lesson
from backend.main import create_app
from backend.service import ModelService
from backend.settings import LESSONS_DIR, Settings
from backend.share import lan_address, student_url
from tests.ports import free_port

GOOD = """---
title: My own lesson
concept: 4
summary: Added by a teacher, as a file.
sentence: The dog chased the ball.
---

## First look
view: attention
layer: 1
head: 2
token: dog
ablate: 0.1
focus: grid

The query **{{query}}** gives {{top_key_weight}} to **{{top_key}}**.

## Then the arithmetic
view: arithmetic
scale: off
ask: top-key
question: Which word will **{{query}}** read most?

Scores are q·k = {{explain.raw_scores.#ball}}.
"""


@pytest.fixture(scope="module")
def service() -> ModelService:
    return ModelService(Settings())


def client_for(folder: Path, service: ModelService) -> TestClient:
    return TestClient(create_app(Settings(lessons_dir=folder), service=service), raise_server_exceptions=False)


# ----------------------------------------------------------------------------------- the shipped lessons


def test_shipped_lessons_parse_and_cover_the_seven_concepts(client):
    r = client.get("/api/lessons")
    assert r.status_code == 200
    body = r.json()
    assert body["errors"] == []
    lessons = body["lessons"]
    assert [l["id"] for l in lessons] == [
        "next-word-prediction", "one-hot-vs-dense-embeddings", "similarity-and-vector-arithmetic", "context",
        "attention-arithmetic", "why-divide-by-sqrt-d", "many-heads", "positional-encoding",
        "where-does-the-answer-appear", "position-past-the-trained-length", "find-the-induction-head",
        "watch-an-induction-head-appear", "positional-schemes-in-the-lab"]
    assert [l["number"] for l in lessons] == list(range(1, len(lessons) + 1))
    assert {l["concept"] for l in lessons} == set(range(1, 8))
    views = {s["settings"]["view"] for l in lessons for s in l["steps"]}
    assert views == {"attention", "arithmetic", "qkv", "embeddings", "positional", "predictions", "model", "lens",
                     "attribution", "effects", "poslab", "heads", "lab"}
    asks = {s["ask"]["kind"] for l in lessons for s in l["steps"] if s["ask"]}
    assert asks == {"top-key", "next-word", "loss-step", "lab-accuracy"}
    # the lab's lessons put the lab where they teach (the page's ltask, lpos, lsize, lsteps)
    lab = {l["id"]: l["steps"] for l in lessons if any(s["settings"]["view"] == "lab" for s in l["steps"])}
    assert set(lab) == {"watch-an-induction-head-appear", "positional-schemes-in-the-lab"}
    assert {(s["settings"]["ltask"], s["settings"]["lpos"]) for s in lab["watch-an-induction-head-appear"]} == {("copy", "learned")}
    assert [s["settings"]["lpos"] for s in lab["positional-schemes-in-the-lab"]] == ["sinusoidal", "none", "rotary"]
    for lesson in lessons:
        assert len(lesson["steps"]) >= 3, lesson["id"]
        for step in lesson["steps"]:
            assert "{{" in step["body"], f"{lesson['id']} step {step['number']} quotes no live number"


# what quotes a question's answer: the lab's loss step and accuracy, the top next word, the word attended most
ANSWER_PLACEHOLDERS = {"loss-step": ("labrun.loss.",), "lab-accuracy": ("labrun.final.accuracy",),
                       "next-word": ("predictions.0.", "top_next"),
                       "top-key": ("top_word_key", "@(weights.$max", "weights.$maxword", "top_key", "scores.$max")}
# the views that draw the selected head's attention of the model on screen, where a top-key guess is checked
TOP_KEY_VIEWS = {"attention", "arithmetic"}


def test_a_question_s_answer_is_quoted_only_after_the_guess(client):
    """A step with a question quotes its answer only below a line `+++` (shown once the student has chosen): lesson 12
    step 2 said at which step the run's loss fell above the question that asks it, once a run had ended; lesson 5's
    "Softmax" quoted the query's highest scaled score (`scaled_scores.$max`, the key that wins the softmax) above its
    top-key question."""
    checked = 0
    for lesson in client.get("/api/lessons").json()["lessons"]:
        for step in lesson["steps"]:
            if not step["ask"]:
                continue
            before = step["body"].split("\n+++\n")[0]
            quoted = [p for p in re.findall(r"\{\{(.*?)\}\}", before)
                      if any(a in p for a in ANSWER_PLACEHOLDERS[step["ask"]["kind"]])]
            assert quoted == [], (lesson["id"], step["number"], quoted)
            checked += 1
    assert checked >= 4


def test_a_top_key_question_is_asked_where_the_attention_it_is_about_is_drawn(client):
    """A `top-key` question (which word the query attends to most, in the model on screen) is asked on a view that
    draws that attention: lesson 8's "Five schemes side by side" asked it on the Positional tab, where the page's
    model's attention row is not on screen to check the guess against (and quoted the winning weight,
    `weights.$maxword`, above the question)."""
    asked = [(lesson["id"], step["number"], step["settings"]["view"])
             for lesson in client.get("/api/lessons").json()["lessons"] for step in lesson["steps"]
             if step["ask"] and step["ask"]["kind"] == "top-key"]
    assert len(asked) >= 3 and [a for a in asked if a[2] not in TOP_KEY_VIEWS] == []


def test_the_readme_is_not_a_lesson():
    assert (LESSONS_DIR / "README.md").is_file()
    assert "readme" not in [l.id for l in load_lessons(LESSONS_DIR).lessons]


# ----------------------------------------------------------------------------------- a teacher's folder


def test_a_lesson_file_added_to_the_folder_appears(tmp_path, service):
    with client_for(tmp_path, service) as c:
        assert c.get("/api/lessons").json() == {"lessons": [], "errors": []}
        (tmp_path / "09-my-own-lesson.md").write_text(GOOD, encoding="utf-8")
        body = c.get("/api/lessons").json()  # read on every request: no restart
    assert body["errors"] == []
    (lesson,) = body["lessons"]
    assert lesson["id"] == "my-own-lesson" and lesson["title"] == "My own lesson" and lesson["concept"] == 4
    first, second = lesson["steps"]
    assert first["settings"] == {
        "text": "The dog chased the ball.", "model": None, "view": "attention", "layer": 1, "head": 2, "token": "dog",
        "positions": "normal", "scale": True, "ablate": [[0, 1]], "temp": None, "word": None, "a": None, "b": None,
        "c": None, "expect": None, "depth": None, "metric": None, "pn": None, "ablate_role": None, "needs": [],
        "head_role": None, "probe": False, "role": None, "ltask": None, "lpos": None, "lsize": None, "lsteps": None,
        "focus": "grid"}
    # the selection is inherited; the interventions and the grid's focus go back to normal unless the step names them
    assert second["settings"]["layer"] == 1 and second["settings"]["token"] == "dog"
    assert second["settings"]["focus"] is None
    assert second["settings"]["ablate"] == [] and second["settings"]["scale"] is False
    assert second["ask"] == {"kind": "top-key", "prompt": "Which word will **{{query}}** read most?"}
    assert "{{explain.raw_scores.#ball}}" in second["body"]


def test_a_lesson_is_parsed_once_and_again_only_when_its_file_changes(tmp_path, service, monkeypatch):
    """GET /api/lessons parsed every file on every request (about 25 ms for the shipped lessons): a file is parsed
    once and its lesson kept until the file's modification time or size changes, so that an edit still shows at the
    next request."""
    import backend.lessons

    parsed: list[str] = []
    real_parse = backend.lessons.parse_lesson

    def counting(source, file, *args, **kwargs):
        parsed.append(file)
        return real_parse(source, file, *args, **kwargs)

    monkeypatch.setattr(backend.lessons, "parse_lesson", counting)
    path = tmp_path / "09-my-own-lesson.md"
    path.write_text(GOOD, encoding="utf-8")
    (tmp_path / "10-broken.md").write_text("## Step\n\nText.\n", encoding="utf-8")
    with client_for(tmp_path, service) as c:
        first = c.get("/api/lessons").json()
        assert sorted(parsed) == ["09-my-own-lesson.md", "10-broken.md"]
        assert c.get("/api/lessons").json() == first  # the same answer, the broken file's error included
        assert len(parsed) == 2
        # an edit of the same size: the modification time tells it
        stat = path.stat()
        path.write_text(GOOD.replace("My own lesson", "My own lessen"), encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        body = c.get("/api/lessons").json()
        assert parsed[2:] == ["09-my-own-lesson.md"]
        assert body["lessons"][0]["title"] == "My own lessen" and body["errors"] == first["errors"]
        # an edit of another size, kept at the same modification time: the size tells it
        stat = path.stat()
        path.write_text(GOOD.replace("My own lesson", "Another lesson"), encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert c.get("/api/lessons").json()["lessons"][0]["title"] == "Another lesson"
        assert parsed[3:] == ["09-my-own-lesson.md"]
        # the broken file fixed: it loads, second in the list
        (tmp_path / "10-broken.md").write_text(GOOD.replace("My own lesson", "Fixed"), encoding="utf-8")
        body = c.get("/api/lessons").json()
        assert [(l["id"], l["number"], l["title"]) for l in body["lessons"]] == [
            ("my-own-lesson", 1, "Another lesson"), ("broken", 2, "Fixed")] and body["errors"] == []
        assert parsed[4:] == ["10-broken.md"]


def test_a_lesson_step_does_not_parse_the_lessons_again(client, monkeypatch):
    """POST /api/lessons/{id}/steps/{n} found its lesson by parsing every lesson file, on every step."""
    import backend.lessons

    client.get("/api/lessons")
    parsed: list[str] = []
    real_parse = backend.lessons.parse_lesson
    monkeypatch.setattr(backend.lessons, "parse_lesson", lambda *a, **k: parsed.append(a[1]) or real_parse(*a, **k))
    r = client.post("/api/lessons/next-word-prediction/steps/1", json={"text": "The cat sat on the mat."})
    assert r.status_code == 200 and r.json()["applies"] and parsed == []


def test_the_folder_comes_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "intro.md").write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("ATTNLAB_LESSONS_DIR", str(tmp_path))
    settings = Settings()
    assert settings.lessons_dir == tmp_path
    assert [l.id for l in load_lessons(settings.lessons_dir).lessons] == ["intro"]


BAD = {
    "no-front-matter.md": ("## Step\n\nText.\n", "front matter"),
    "no-title.md": ("---\nconcept: 2\n---\n## Step\nsentence: Hi there.\n\nText.\n", "no title"),
    "no-steps.md": ("---\ntitle: T\nsentence: Hi.\n---\nJust an intro.\n", "no step"),
    "bad-view.md": ("---\ntitle: T\nsentence: Hi.\n---\n## Step\nview: heatmaps\n\nText.\n", "line 6: view must be one of"),
    "typo.md": ("---\ntitle: T\nsentence: Hi.\n---\n## Step\nview: attention\nlayr: 2\n\nText.\n", "line 7"),
    "bad-layer.md": ("---\ntitle: T\nsentence: Hi.\n---\n## Step\nlayer: 40\n\nText.\n", "does not exist in tiny-sinusoidal"),
    "open-placeholder.md": ("---\ntitle: T\nsentence: Hi.\n---\n## Step\n\nA {{query number.\n", "line 7: a {{ placeholder }}"),
    "no-sentence.md": ("---\ntitle: T\n---\n## Step\nview: attention\n\nText.\n", "no sentence"),
    "no-text.md": ("---\ntitle: T\nsentence: Hi.\n---\n## Step\nview: attention\n", "no explanation"),
    "bad-focus.md": ("---\ntitle: T\nsentence: Hi.\n---\n## Step\nfocus: heatmaps\n\nText.\n",
                     "line 6: focus must be a panel of the step's view (one of"),
    "focus-elsewhere.md": ("---\ntitle: T\nsentence: Hi.\n---\n## Step\nview: embeddings\nfocus: grid\n\nText.\n",
                           "line 5: step 1: focus: grid is not a panel of the embeddings view (its panels: onehot"),
    "bad-ask.md": ("---\ntitle: T\nsentence: Hi.\n---\n## Step\nask: everything\n\nText.\n", "ask must be one of"),
    "Bad Name!.md": (GOOD, "lowercase letters"),
}


def test_each_focus_names_a_panel_its_view_draws():
    """A step's `focus` names a panel by the key plot.js panel() gives it (its data-part): each name the lesson
    check accepts for a view is a panel's key, or a section's, drawn by that view's module or a module it imports."""
    views = Path(__file__).resolve().parents[2] / "frontend" / "js" / "views"
    source = {f.name: f.read_text(encoding="utf-8") for f in views.glob("*.js")}
    module = {m[1]: name for name, src in source.items() for m in re.finditer(r'export const id = "([\w-]+)"', src)}

    def panels(name: str) -> set[str]:  # (the view's module and the modules it draws with)
        keys = {a or b for a, b in re.findall(r'panel\(\w+, "([\w-]+)"|part\(\w+, "([\w-]+)", \(\) => h\("section"',
                                                 source[name])}
        for sub in re.findall(r'import \* as \w+ from "\./([\w-]+\.js)"', source[name]):
            keys |= panels(sub)
        return keys

    for view, keys in FOCUS.items():
        drawn = panels(module[view])
        assert set(keys) <= drawn, (view, set(keys) - drawn)


def test_malformed_files_are_reported_by_name_and_the_rest_still_load(tmp_path, service):
    (tmp_path / "01-good.md").write_text(GOOD, encoding="utf-8")
    for name, (text, _) in BAD.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "latin1.md").write_bytes("---\ntitle: café\n---\n".encode("latin-1"))
    (tmp_path / "02-good.md").write_text(GOOD, encoding="utf-8")  # the same id as 01-good.md
    (tmp_path / "notes.txt").write_text("not a lesson", encoding="utf-8")
    with client_for(tmp_path, service) as c:
        r = c.get("/api/lessons")
    assert r.status_code == 200
    body = r.json()
    assert [l["id"] for l in body["lessons"]] == ["good"]
    errors = {e["file"]: e["error"] for e in body["errors"]}
    assert set(errors) == {*BAD, "latin1.md", "02-good.md"}
    for name, (_, expected) in BAD.items():
        assert expected in errors[name], (name, errors[name])
    assert "UTF-8" in errors["latin1.md"] and "taken by 01-good.md" in errors["02-good.md"]


def test_a_link_out_of_the_folder_is_not_read(tmp_path, service):
    folder = tmp_path / "lessons"
    folder.mkdir()
    secret = tmp_path / "secret.md"
    secret.write_text(GOOD.replace("My own lesson", "SECRET"), encoding="utf-8")
    (folder / "leak.md").symlink_to(secret)
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.md").write_text(GOOD, encoding="utf-8")  # only the folder itself is read
    with client_for(folder, service) as c:
        body = c.get("/api/lessons").json()
    assert body["lessons"] == []
    assert body["errors"] == [{"file": "leak.md", "error": "the file lies outside the lessons folder (a link): not read"}]
    assert "SECRET" not in str(body)


def test_a_missing_folder_is_an_error_in_the_list_not_a_500(tmp_path, service):
    with client_for(tmp_path / "nowhere", service) as c:
        r = c.get("/api/lessons")
    assert r.status_code == 200
    assert r.json()["lessons"] == [] and "cannot be read" in r.json()["errors"][0]["error"]


def test_quoted_values_and_tokens_by_index_or_last():
    lesson = parse_lesson('---\ntitle: "Context: words"\nsentence: "Hi: there."\n---\n## A\ntoken: 3\n\nx\n\n'
                          "## B\ntoken: last\n\ny\n\n## C\ntoken: cat/2\n\nz\n", "t.md")
    assert lesson.title == "Context: words" and lesson.steps[0].settings.text == "Hi: there."
    assert [s.settings.token for s in lesson.steps] == [3, None, "cat/2"]


# ----------------------------------------------------------------------------------- share


def test_share_returns_the_address_and_an_svg_qr_code(client):
    # (the test client takes the server's own address, scope["server"], from the URL)
    r = client.get("http://127.0.0.1:8000/api/share", params={"view": "lesson=attention-arithmetic&step=3"})
    assert r.status_code == 200
    body = r.json()
    assert body["url"] == "http://127.0.0.1:8000/?lesson=attention-arithmetic&step=3"
    assert body["base_url"] == "http://127.0.0.1:8000/"
    svg = ET.fromstring(body["qr_svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox")
    assert "<script" not in body["qr_svg"].lower()
    # the test client's default Settings listen on 127.0.0.1: students could not open it, and the note says so
    assert body["reachable"] is False and "--host 0.0.0.0" in body["note"]
    # as a user who started it with `make run` can type it (attnlab is not on the PATH then), on its own port
    assert "`make run HOST=0.0.0.0 PORT=8000`" in body["note"] and "`.venv/bin/attnlab serve --host 0.0.0.0" in body["note"]


def test_share_on_all_interfaces_gives_the_network_address(service):
    with TestClient(create_app(Settings(host="0.0.0.0"), service=service)) as c:
        body = c.get("http://localhost:8123/api/share").json()
    ip = lan_address()
    if ip is None:
        assert body["reachable"] is False and "No network address" in body["note"]
    else:
        assert body["url"] == f"http://{ip}:8123/" and body["reachable"] is True and body["note"] is None


def test_share_from_a_network_address_shares_that_address(service):
    # a page opened through one of the machine's network addresses (the socket's own, scope["server"]) shares it
    with TestClient(create_app(Settings(host="0.0.0.0", allowed_hosts=["192.168.1.23"]), service=service)) as c:
        body = c.get("http://192.168.1.23:8000/api/share", params={"view": "text=a b&view=attention"}).json()
    assert body["url"] == "http://192.168.1.23:8000/?text=a+b&view=attention" and body["reachable"] is True


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_share_never_takes_the_address_from_the_host_header(service, host):
    with TestClient(create_app(Settings(host=host, allowed_hosts=["*"]), service=service)) as c:
        body = c.get("http://127.0.0.1:8000/api/share", headers={"host": "evil.example.com:8000"}).json()
    assert "evil" not in body["url"] + body["base_url"] + body["qr_svg"]
    assert body["base_url"] == student_url(host, 8000)[0]


def test_share_too_long_for_a_qr_code_keeps_the_lesson_step(client):
    view = "text=" + "word+" * 300 + "&lesson=context&step=2"
    body = client.get("http://127.0.0.1:8000/api/share", params={"view": view}).json()
    assert body["url"].endswith("/?lesson=context&step=2") and "too long for a QR code" in body["note"]


def test_share_of_a_view_the_page_cut_says_the_code_opens_less(client):
    """A view longer than the API takes (GET /api/meta's limits.max_share_view: Compare's two sentences of characters
    of four UTF-8 bytes run to 48,000 characters) is cut by the page to its lesson step, with `cut`: the code opens
    that step or the start page, and the note says why (the page said "The address could not be made" on a 422)."""
    limit = client.get("/api/meta").json()["limits"]["max_share_view"]
    longest = "😀" * Settings().max_text_chars
    assert len(urlencode({"text": longest})) > limit
    assert client.get("/api/share", params={"view": "x" * (limit + 1)}).status_code == 422
    for view, opens in [("lesson=context&step=2", "/?lesson=context&step=2"), ("", ":8000/")]:
        body = client.get("http://127.0.0.1:8000/api/share", params={"view": view, "cut": True}).json()
        assert body["url"].endswith(opens) and "too long for a QR code" in body["note"], body
    assert "too long" not in client.get("http://127.0.0.1:8000/api/share", params={"view": "lesson=context&step=2"}).json()["note"]


# ----------------------------------------------------------------------------------- serve --host 0.0.0.0



@pytest.mark.slow
def test_serve_on_all_interfaces_prints_the_address_students_open():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--host", "0.0.0.0", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = "".join(proc.stdout.readline() for _ in range(3))
    finally:
        proc.terminate()
        proc.wait(10)
    assert "WARNING" in lines and "reachable by anyone on your network" in lines
    ip = lan_address()
    if ip is None:
        assert "no network address found" in lines
    else:
        m = re.search(r"Students open: (http://[\d.]+:(\d+)/)", lines)
        assert m, lines
        assert m.group(1) == f"http://{ip}:{port}/" and not ip.startswith("127.")


def test_a_weight_or_probability_in_a_lesson_s_text_names_its_decimals():
    """A whole number shows without decimals (a count, a layer), so a weight of exactly 1 read "1, against 0.81":
    every weight, probability, cosine and entropy quoted in a shipped lesson's text says `| 2` (or another format)."""
    floaty = re.compile(r"(^|\.)(weights\.[^.]+|other_weights\.[^.]+|prob|entropy|other_entropy|cosine\.[^.]+\.[^.]+)$"
                        r"|_(weight|prob|entropy)$|^entropy(_flipped)?$")
    bare = []
    for path in sorted(Path(LESSONS_DIR).glob("[0-9]*.md")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(":::"):  # a condition compares the numbers, it shows none
                continue
            bare += [f"{path.name}:{n}: {{{{{x}}}}}" for x in re.findall(r"\{\{([^{}]*?)\}\}", line)
                     if "|" not in x and floaty.search(x.strip())]
    assert bare == []


def test_an_alibi_slope_in_a_lesson_s_text_has_the_decimals_the_views_write_it_with():
    """tiny-alibi's last slope, 1/256 = 0.00390625, read 0.004 in lesson 10 and 0.0039 in lessons 5 and 6 and on the
    Positional and Arithmetic views: a student comparing them saw two numbers. Every slope a lesson quotes has the
    views' decimals (4, which keep the smallest slope of any ALiBi model, 2^-8, apart from 0 and from the next)."""
    views = Path(LESSONS_DIR).parent / "js" / "views"
    lines = [line for view in ("positional.js", "explain.js")
             for line in (views / view).read_text(encoding="utf-8").splitlines() if "slope" in line]
    digits = {d for line in lines for d in re.findall(r"fmt\([^()]*, (\d)\)", line)}
    assert len(digits) == 1, digits
    quoted = [(path.name, x.strip()) for path in sorted(Path(LESSONS_DIR).glob("[0-9]*.md"))
              for x in re.findall(r"\{\{([^{}]*slopes?\b[^{}]*)\}\}", path.read_text(encoding="utf-8"))]
    assert len({name for name, _ in quoted}) == 3, quoted  # (lessons 5, 6 and 10)
    assert [(name, x) for name, x in quoted if x.rpartition("|")[2].strip() not in digits] == []


# a number a lesson quotes (a pattern of its placeholder's path) -> the decimals of the panel that shows it: a role
# score or an attention weight, roles.js scoreText and the heatmaps; a head's mean entropy, the per-head summary
# (heads.js); a head's change of the top word's probability, the cells of the Beyond attention view's ablation
# heatmap (effects.js, "%{z:.3f}")
PANEL_DECIMALS = {r"scores\.[\w-]+|weights\.[^{}|]+|_weight|entropy": 2, r"delta_prob": 3}


def test_a_number_in_a_lesson_s_text_has_the_decimals_of_the_panel_that_shows_it():
    """Lesson 8 step 6 quoted the models' previous-token scores as 0.5040 and 0.3807 beside the Heads tab's 0.50 and 0.38
    for the same heads, and lesson 9's Beyond attention step the heatmap's lowest cell as -0.1971 beside the cell's
    -0.197 (its own sentence, another head selected): a student comparing them read two numbers. Such a number is quoted
    with its panel's decimals (PANEL_DECIMALS), and with more only in a block that tells apart numbers that read alike
    with those (its condition counts more than one, `alike ... >`; its text says so), that says how small a weight below
    0.005 is (lesson 4: "at most 0.004", which two decimals would write 0.00) or that compares two numbers less than
    0.01 apart (lesson 6: "with four decimals", the sharpest head with and without scaling)."""
    quoted = [(re.compile(r"\{\{([^{}]*(?:" + path + r")\s*\|\s*(\d))\s*\}\}"), digits)
              for path, digits in PANEL_DECIMALS.items()]
    assert Path(LESSONS_DIR).parent.joinpath("js", "views", "effects.js").read_text(encoding="utf-8").count(
        '"%{z:.3f}"') == 1
    more = []
    for path in sorted(Path(LESSONS_DIR).glob("[0-9]*.md")):
        condition = ""
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("::: when"):
                condition = line
            elif line.strip() == ":::":
                condition = ""
            elif (not line.startswith(":::") and not re.search(r"alike[^{}]*\}\}\s*>", condition)
                  and not re.search(r"< 0\.0(05|1)\b", condition)):  # (`::: else` keeps its block's condition)
                more += [f"{path.name}:{n}: {{{{{x}}}}}" for pattern, digits in quoted
                         for x, d in pattern.findall(line) if int(d) > digits]
    assert more == []


# a source whose numbers a view draws below the screen it opens on -> (the view's file, the title of their panel as the
# view writes it, as the step names it); at 1280x800 with the lesson open each title was 1,100 to 2,000 px down
BELOW_THE_FOLD = {
    "decompose": ("positional.js", '"Each score split into four terms (layer 0)"', "*Each score split into four terms*"),
    "analogy": ("embeddings.js", '"a − b + c"', "*a − b + c*"),
    "rolemodels": ("finder.js", "across the models that differ only in their positional scheme`",
                   "*previous token across the models that differ only in their positional scheme*"),
}


@pytest.mark.parametrize("source", sorted(BELOW_THE_FOLD))
def test_a_step_that_quotes_a_panel_below_the_first_screen_names_it(source):
    """The four terms of a score are in the Positional tab's panel "Each score split into four terms", two screens below
    the encoding's plots that the tab opens on: lesson 8's step quoted content·content 3.49 and the rest with no word of
    where they are, so a student looked for them in the encoding's heatmaps; so did lesson 3's a − b + c steps (the
    panel under the correlation plots) and lesson 8's last step, which named a panel "across models" that the page
    does not show. Every step that quotes such a source names its panel, by the title the view gives it."""
    view, title, named = BELOW_THE_FOLD[source]
    assert title in (Path(LESSONS_DIR).parent / "js" / "views" / view).read_text(encoding="utf-8")
    quoting = [(lesson.id, step.number, step.body) for lesson in load_lessons(LESSONS_DIR).lessons
               for step in lesson.steps if "{{" + source + "." in step.body or "{{" + source + "(" in step.body]
    assert quoting
    assert [(lesson, n) for lesson, n, body in quoting if named not in body] == []


def test_a_step_says_whether_it_reads_the_sentence(client):
    """Lesson 10's steps 1 to 5 draw and quote measured curves, and lesson 3's nearest-words steps the neighbours of
    their own words: the same on every sentence, yet the page said "This step is on your sentence; the lesson's is …"
    with a button for the lesson's. Each step now says whether it reads the sentence (`reads_text`): a placeholder of
    its text or question, a role, its question's answer, or a setting found in the sentence."""
    steps = {(l["id"], s["number"]): s for l in client.get("/api/lessons").json()["lessons"] for s in l["steps"]}
    free = [("position-past-the-trained-length", n) for n in range(1, 6)] + \
        [("similarity-and-vector-arithmetic", n) for n in range(1, 5)]
    assert [k for k in free if steps[k]["reads_text"]] == []
    # the others read it: roles, the query's numbers, a question on the sentence
    reads = [("attention-arithmetic", 2), ("attention-arithmetic", 3), ("positional-encoding", 5), ("context", 4),
             ("next-word-prediction", 1), ("find-the-induction-head", 1)]
    assert [k for k in reads if not steps[k]["reads_text"]] == []
    from backend.lesson_steps import reads_text
    from backend.lessons import Question, StepSettings
    plain = StepSettings(text="Birds sing.")
    assert not reads_text(plain, "{{model.d_head}} and {{lengths.models.0.trained_tokens | int}}; {{layer}}")
    assert reads_text(plain, "::: when {{top_key_weight}} > 0.5\\nMostly one.\\n:::")  # a condition, even unshown
    assert reads_text(plain, "**{{@noun}}**") and reads_text(plain, "{{explain.weights.#cat}}")
    assert reads_text(plain, "{{state.token}}") and not reads_text(plain, "{{state.positions}}")
    assert reads_text(plain, "{{neighbors.neighbors.0.display}}")  # the selected token's nearest words
    assert not reads_text(StepSettings(text="Birds sing.", word="king"), "{{neighbors.neighbors.0.display}}")
    assert reads_text(plain, "Guess.", Question(kind="next-word"))
    assert not reads_text(plain, "Guess.", Question(kind="loss-step"))
    assert reads_text(StepSettings(text="Birds sing.", token="@pronoun"), "{{model.n_layers}}")


def test_a_step_says_whether_it_reads_the_model(client):
    """Lesson 10's steps 1 to 5 (the position lab's measured curves) and the training-lab lessons 12 and 13 are the
    same on every model, yet on SmolLM2 the page said "This step is on smollm2-135m; the lesson's model is
    tiny-sinusoidal" with a button for it. Each step now says whether it reads the page's model (`reads_model`): its
    view, a placeholder of a source of the model, a head chosen by a role, its question, anything of the sentence."""
    lessons = client.get("/api/lessons").json()["lessons"]
    free = sorted((l["id"], s["number"]) for l in lessons for s in l["steps"] if not s["reads_model"])
    assert free == sorted([("position-past-the-trained-length", n) for n in range(1, 6)]
                          + [("watch-an-induction-head-appear", n) for n in range(1, 5)]
                          + [("positional-schemes-in-the-lab", n) for n in range(1, 4)])
    from backend.lesson_steps import reads_model
    from backend.lessons import Question, StepSettings
    lab, poslab = StepSettings(text="Birds sing.", view="lab"), StepSettings(text="Birds sing.", view="poslab")
    assert not reads_model(poslab, "{{lengths.models.0.trained_tokens | int}}; {{state.positions}}")
    assert not reads_model(lab, "Guess.", Question(kind="loss-step"))
    assert not reads_model(poslab, "{{scheme(model=tiny-learned).positions.0}}")  # a model of its own
    assert reads_model(poslab, "{{model.n_layers}}") and reads_model(poslab, "{{scheme.positions.0}}")
    assert reads_model(StepSettings(text="Birds sing."), "No placeholder.")  # the attention view draws the model
    assert reads_model(poslab, "{{query}}")  # a token of the sentence: the model's tokenizer made it
    assert reads_model(StepSettings(text="Birds sing.", view="lab", head_role="top-head", probe=True), "Look.")


def test_a_piece_s_note_is_the_only_parenthesis_after_its_token():
    """Lessons 5 and 8 wrote "**{{query | word}}**{{@query | piece}} (token {{query_index}})", which read "For **4**
    (the last piece of “384”) (token 18)" where the query is a piece: two parentheses in a row about one token. A
    `| piece` or `| pieces` note is written with no parenthesis of the lesson's own after it."""
    doubled = []
    for path in sorted(Path(LESSONS_DIR).glob("[0-9]*.md")):
        text = path.read_text(encoding="utf-8")
        doubled += [f"{path.name}: {m[0]!r}" for m in re.finditer(r"\|\s*pieces?\s*\}\}\**\s*\(", text)]
    assert doubled == []
