"""Guided lessons: the Markdown files of one folder (Settings.lessons_dir), parsed into typed steps.

The format is documented in frontend/lessons/README.md. In short: a file `NN-some-id.md` is the lesson
`some-id` (listed in file-name order); it opens with a front matter between two `---` lines (title,
concept, summary, and default settings for its steps), then each `## Heading` starts a step: first its
settings as `key: value` lines (sentence, model, view, layer, head, token, interventions, ...), a blank
line, then two to four sentences of explanation in which `{{ ... }}` placeholders name numbers that the
page fills in from the API's answers (frontend/js/lesson-template.js).

Only *.md files directly inside the folder are read (README.md is the format's documentation, not a
lesson); a file whose real path lies outside the folder (a symbolic link) is refused. A malformed file
never fails the list: it is left out and reported by name in `errors`.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from backend.lesson_steps import reads_model, reads_text
from backend.schemas import Positions
from backend.vocabulary import POSITIONS, VIEW_IDS, parse_ablate

VIEWS = VIEW_IDS  # the page's views (backend/vocabulary.py)
QUESTIONS = ("top-key", "next-word", "loss-step", "lab-accuracy")
MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 200
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
SETTING_RE = re.compile(r"^([A-Za-z][A-Za-z_-]*)\s*:\s*(.*)$")
PLACEHOLDER_RE = re.compile(r"\{\{(.*?)\}\}")
PLACEHOLDER_OK = re.compile(r"^[\w$#@().,=+/|:~ -]{1,200}$")
# the panels a step's `focus` can bring into sight, by view: the keys frontend/js/plot.js panel() gives them (the
# figure's data-part), or part() a section of panels (`models`); tests/backend/test_lessons.py finds each in
# frontend/js/views. `grid` centres the step's head's tile in the grid of every head; any other, the panel with its
# section's heading below the tabs (frontend/js/lessons.js focusOffset).
FOCUS: dict[str, tuple[str, ...]] = {
    "attention": ("heatmap", "lines", "grid", "heads", "rows"),
    "arithmetic": ("scores", "weights", "table"),
    "qkv": ("projection",),
    "embeddings": ("onehot", "dense", "depth", "paths", "neighbors", "analogy"),
    "positional": ("encoding", "possim", "decompose"),
    "poslab": ("lengths-plot", "probe-plot"),
    "predictions": ("topk", "perpos"),
    "compare": ("a", "b", "diff", "pred-a", "pred-b"),
    "lens": ("prob", "top"),
    "attribution": ("heads", "parts"),
    "effects": ("effects",),
    "lab": ("loss", "pattern", "roles", "answer"),
    "heads": ("table", "probe-plot", "models"),
}
FOCUS_NAMES = sorted({k for keys in FOCUS.values() for k in keys})


# --------------------------------------------------------------------------- the response


class StepSettings(BaseModel):
    """Where a step puts the page. Unset keys are inherited from the step before (and from the front
    matter); the interventions (positions, scale, ablate) are reset to normal at every step that does not
    name them."""

    text: str = Field(..., description="the sentence")
    model: str | None = Field(None, description="a registry name; null: the default model")
    view: Literal[VIEWS] = "attention"  # type: ignore[valid-type]
    layer: int = 0
    head: int = 0
    token: int | str | None = Field(None, description="the query token: an index, a word to find in the sentence "
                                                      "(its first occurrence; `word/2` the second), or null: the last")
    positions: Positions = "normal"
    scale: bool = True
    ablate: list[tuple[int, int]] = Field(default_factory=list, description="[layer, head] pairs switched off")
    temp: float | None = Field(None, description="predictions: the temperature (null: the page's default)")
    word: str | None = Field(None, description="embeddings: the word whose nearest words are listed")
    a: str | None = Field(None, description="embeddings: a in a - b + c")
    b: str | None = None
    c: str | None = None
    expect: str | None = Field(None, description="embeddings: the word expected near a - b + c (its rank is shown)")
    depth: int | None = Field(None, description="embeddings: the depth shown (null: after the last block)")
    metric: Literal["cosine", "dot"] | None = None
    pn: int | None = Field(None, description="positional: how many positions the encoding heatmap shows")
    ablate_role: str | None = Field(None, description="`ablate: @strongest-head`: a head chosen on the live numbers "
                                                      "(backend/lesson_steps.py SETTING_ROLES) instead of `ablate`")
    head_role: str | None = Field(None, description="`head: @top-head`, `@focused-head` or `@strongest-head`: the "
                                                    "layer and head chosen on the live numbers "
                                                    "(backend/lesson_steps.py HEAD_ROLES) instead of `layer`, `head`")
    probe: bool = Field(False, description="heads: score the induction probe instead of the sentence")
    focus: str | None = Field(None, description="a panel of the step's view (FOCUS) that the page brings into sight "
                                                "once the step is drawn: `grid`, the attention view's grid with the "
                                                "tile of the step's head in the middle; another, the panel below the "
                                                "tabs (not inherited by the next step)")
    role: str | None = Field(None, description="heads: the role the head finder ranks by (null: the page's default)")
    ltask: str | None = Field(None, description="the training lab's task (`lab-task:`; null: the page's)")
    lpos: str | None = Field(None, description="the training lab's positional scheme (`lab-positional:`)")
    lsize: str | None = Field(None, description="the training lab's model size (`lab-size:`)")
    lsteps: int | None = Field(None, description="the training lab's step budget (`lab-steps:`)")
    needs: list[str] = Field(default_factory=list, description="the model kinds the step needs (causal, "
                                                                "bidirectional, positions, added-positions, "
                                                                "start-token, predictions): on another model the "
                                                                "page says why and offers the lesson's model")


class Question(BaseModel):
    kind: Literal[QUESTIONS] = Field(..., description="top-key: which key gets the most attention from the "  # type: ignore[valid-type]
                                                      "query; next-word: which token the model predicts next; "
                                                      "loss-step: by which step the training lab run's loss falls "
                                                      "below the lab's threshold; lab-accuracy: how much of the task's "
                                                      "example the run gets right when it ends")
    prompt: str | None = Field(None, description="the question as the lesson words it (placeholders allowed)")


class LessonStep(BaseModel):
    number: int = Field(..., description="1, 2, 3, ... (the URL's step=)")
    title: str
    settings: StepSettings
    body: str = Field(..., description="the explanation: paragraphs of text with **bold**, *italic*, `code` "
                                       "and {{placeholders}}")
    ask: Question | None = Field(None, description="a predict-then-reveal question, where the step has one")
    line: int = Field(..., description="the line of the step's heading in its file")
    reads_text: bool = Field(True, description="whether the step reads the sentence (its text, question or settings: "
                                               "backend/lesson_steps.py reads_text); false: the same on every "
                                               "sentence, and the page does not offer the lesson's")
    reads_model: bool = Field(True, description="whether the step reads the page's model (its view, text, question or "
                                                "settings: backend/lesson_steps.py reads_model); false: the same on "
                                                "every model, and the page does not offer the lesson's")


class Lesson(BaseModel):
    id: str = Field(..., description="the URL's lesson=: the file name without .md and without a leading number")
    number: int = Field(..., description="1, 2, 3, ...: its place in the list (file-name order)")
    file: str
    title: str
    concept: int | None = Field(None, description="which of the seven concepts of the design it teaches")
    summary: str = ""
    intro: str = Field("", description="text between the front matter and the first step")
    steps: list[LessonStep]


class LessonError(BaseModel):
    file: str
    error: str = Field(..., description="what is wrong, with the line where it can say")


class LessonList(BaseModel):
    lessons: list[Lesson]
    errors: list[LessonError] = Field(..., description="files that could not be read as lessons (left out of "
                                                       "`lessons`)")


# --------------------------------------------------------------------------- parsing


class LessonSyntaxError(ValueError):
    def __init__(self, line: int | None, message: str):
        super().__init__(f"line {line}: {message}" if line else message)


STEP_KEYS = {"sentence": "text", "text": "text", "model": "model", "view": "view", "layer": "layer", "head": "head",
             "token": "token", "positions": "positions", "scale": "scale", "ablate": "ablate", "temp": "temp",
             "temperature": "temp", "word": "word", "a": "a", "b": "b", "c": "c", "expect": "expect",
             "depth": "depth",
             "metric": "metric", "pn": "pn", "ask": "ask", "question": "question", "needs": "needs",
             "probe": "probe", "role": "role", "lab-task": "ltask", "lab-positional": "lpos", "lab-size": "lsize",
             "lab-steps": "lsteps", "focus": "focus"}
FRONT_KEYS = {"title", "concept", "summary"}
RESET_EACH_STEP = {"positions": "normal", "scale": True, "ablate": [], "ablate_role": None, "head_role": None,
                   "focus": None}


def _int(value: str, key: str, line: int, low: int = 0, high: int = 10_000) -> int:
    try:
        n = int(value)
    except ValueError:
        raise LessonSyntaxError(line, f"{key} must be a whole number, not {value!r}") from None
    if not low <= n <= high:
        raise LessonSyntaxError(line, f"{key} must be between {low} and {high}, not {n}")
    return n


def _bool(value: str, key: str, line: int) -> bool:
    v = value.strip().lower()
    if v in ("on", "true", "yes", "1"):
        return True
    if v in ("off", "false", "no", "0"):
        return False
    raise LessonSyntaxError(line, f"{key} must be on or off, not {value!r}")


def _ablate(value: str, line: int) -> list[tuple[int, int]]:
    try:
        return parse_ablate(value)  # the one reader of ablated heads (backend/vocabulary.py)
    except ValueError as e:
        raise LessonSyntaxError(line, str(e)) from None


def _unquote(value: str) -> str:
    """`"a: b"` -> `a: b`: a value may be quoted (as in YAML), e.g. to start with a space or hold a colon."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _setting(key: str, value: str, line: int) -> tuple[str, object]:
    """One `key: value` line of a step or of the front matter -> (field, parsed value)."""
    field = STEP_KEYS[key]
    value = _unquote(value)
    if field in ("text", "question"):
        if not value:
            raise LessonSyntaxError(line, f"{key} is empty")
        if len(value) > 2000:
            raise LessonSyntaxError(line, f"{key} is over 2000 characters")
        return field, value
    if field == "model":
        if not re.fullmatch(r"[\w.:/+-]{1,200}", value):
            raise LessonSyntaxError(line, f"model {value!r} is not a model name")
        return field, value
    if field == "view":
        if value not in VIEWS:
            raise LessonSyntaxError(line, f"view must be one of {', '.join(VIEWS)}, not {value!r}")
        return field, value
    if field == "head" and value.startswith("@"):
        from backend.lesson_steps import HEAD_ROLES
        if value[1:] not in HEAD_ROLES:
            raise LessonSyntaxError(line, f"head: {value!r} is not a head chosen by role (the roles: "
                                          f"{', '.join('@' + r for r in HEAD_ROLES)})")
        return "head_role", value[1:]
    if field in ("layer", "head"):
        return field, _int(value, key, line)
    if field == "probe":
        return field, _bool(value, key, line)
    if field == "role":
        from typing import get_args

        from backend.schemas import RoleName
        if value not in get_args(RoleName):
            raise LessonSyntaxError(line, f"role must be one of {', '.join(get_args(RoleName))}, not {value!r}")
        return field, value
    if field == "token":
        if re.fullmatch(r"-?\d+", value):
            return field, _int(value, key, line)
        if value.lower() in ("last", ""):
            return field, None
        if len(value) > 60 or "\n" in value:
            raise LessonSyntaxError(line, f"token must be an index, `last`, a role (`@pronoun`) or a word, not {value!r}")
        if value.startswith("@"):
            from backend.lesson_roles import ROLES
            m = re.fullmatch(r"@([a-z][a-z-]*)(?:/\d+)?", value)
            if not m or m[1] not in ROLES:
                raise LessonSyntaxError(line, f"token: {value!r} is not a role (the roles: "
                                              f"{', '.join('@' + r for r in ROLES)})")
        return field, value
    if field == "focus":  # (a panel of the step's view: parse_lesson checks it once the view is known)
        if value not in FOCUS_NAMES:
            raise LessonSyntaxError(line, f"focus must be a panel of the step's view (one of "
                                          f"{', '.join(FOCUS_NAMES)}), not {value!r}")
        return field, value
    if field == "positions":
        if value not in POSITIONS:
            raise LessonSyntaxError(line, f"positions must be {', '.join(POSITIONS[:-1])} or {POSITIONS[-1]}, not {value!r}")
        return field, value
    if field == "scale":
        return field, _bool(value, key, line)
    if field == "ablate":
        if value.startswith("@"):
            from backend.lesson_steps import SETTING_ROLES
            if value[1:] not in SETTING_ROLES:
                raise LessonSyntaxError(line, f"ablate: {value!r} is not a head chosen by role (the roles: "
                                              f"{', '.join('@' + r for r in SETTING_ROLES)})")
            return "ablate_role", value[1:]
        return field, _ablate(value, line)
    if field == "needs":
        from backend.lesson_steps import NEEDS
        kinds = [k.strip() for k in value.split(",") if k.strip()]
        bad = [k for k in kinds if k not in NEEDS]
        if bad or not kinds:
            raise LessonSyntaxError(line, f"needs: {', '.join(bad) or 'nothing'} is not a model kind (the kinds: "
                                          f"{', '.join(NEEDS)})")
        return field, kinds
    if field == "temp":
        try:
            t = float(value)
        except ValueError:
            raise LessonSyntaxError(line, f"temp must be a number, not {value!r}") from None
        if not 0.1 <= t <= 5:
            raise LessonSyntaxError(line, f"temp must be between 0.1 and 5, not {t}")
        return field, t
    if field in ("word", "a", "b", "c", "expect"):
        if not value or len(value) > 100:
            raise LessonSyntaxError(line, f"{key} must be a word (1 to 100 characters)")
        return field, value
    if field == "depth":  # `last`: null, the page's default (after the last block, whatever the model's depth)
        return field, None if value.strip().lower() == "last" else _int(value, key, line, 0, 1000)
    if field == "pn":
        return field, _int(value, key, line, 1, 512)
    if field == "metric":
        if value not in ("cosine", "dot"):
            raise LessonSyntaxError(line, f"metric must be cosine or dot, not {value!r}")
        return field, value
    if field in ("ltask", "lpos", "lsize"):
        from models.config import POSITIONAL_SCHEMES
        from models.lab import SIZES
        from models.tasks import TASKS
        allowed = {"ltask": TASKS, "lpos": POSITIONAL_SCHEMES, "lsize": SIZES}[field]
        if value not in allowed:
            raise LessonSyntaxError(line, f"{key} must be one of {', '.join(allowed)}, not {value!r}")
        return field, value
    if field == "lsteps":
        return field, _int(value, key, line, 1, 100_000)
    if field == "ask":
        if value not in QUESTIONS:
            raise LessonSyntaxError(line, f"ask must be one of {', '.join(QUESTIONS)}, not {value!r}")
        return field, value
    raise LessonSyntaxError(line, f"unknown setting {key!r}")  # pragma: no cover (STEP_KEYS lists them all)


def _check_placeholders(text: str, first_line: int) -> None:
    for offset, row in enumerate(text.split("\n")):
        if row.count("{{") != row.count("}}"):
            raise LessonSyntaxError(first_line + offset, "a {{ placeholder }} is not closed on its line")
        for m in PLACEHOLDER_RE.finditer(row):
            inner = m.group(1).strip()
            if not PLACEHOLDER_OK.fullmatch(inner):
                raise LessonSyntaxError(first_line + offset, f"{{{{{m.group(1)}}}}} is not a placeholder "
                                                             "(see frontend/lessons/README.md)")


def lesson_id(path: Path) -> str:
    """`05-attention-arithmetic.md` -> `attention-arithmetic`."""
    return re.sub(r"^\d+[-_]", "", path.stem).lower()


def parse_lesson(source: str, file: str, number: int = 1, check_model=None) -> Lesson:
    """One lesson file -> a Lesson; raises LessonSyntaxError (with the line) on anything malformed.
    `check_model(name, layer, head)` may raise ValueError for a layer or head that the model lacks."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise LessonSyntaxError(1, "a lesson starts with a front matter: a line `---`, `title: ...`, a line `---`")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise LessonSyntaxError(1, "the front matter is not closed by a line `---`") from None
    front: dict[str, object] = {}
    defaults: dict[str, object] = {}
    for i in range(1, end):
        row = lines[i].strip()
        if not row or row.startswith("#"):
            continue
        m = SETTING_RE.match(row)
        if not m:
            raise LessonSyntaxError(i + 1, f"expected `key: value`, not {row!r}")
        key, value = m[1].lower(), m[2].strip()
        if key in FRONT_KEYS:
            if key == "concept":
                front[key] = _int(value, key, i + 1, 1, 7)
            else:
                front[key] = _unquote(value)
        elif key in STEP_KEYS and STEP_KEYS[key] not in ("ask", "question"):
            field, parsed = _setting(key, value, i + 1)
            defaults[field] = parsed
        else:
            raise LessonSyntaxError(i + 1, f"unknown front-matter key {key!r} (title, concept, summary, or a "
                                           "step setting)")
    if not front.get("title"):
        raise LessonSyntaxError(1, "the front matter has no title")

    # split the rest into the intro and the steps (## headings)
    heads = [i for i in range(end + 1, len(lines)) if re.match(r"^##\s+\S", lines[i])]
    if not heads:
        raise LessonSyntaxError(None, "the lesson has no step: start each step with a `## Heading` line")
    intro = "\n".join(lines[end + 1:heads[0]]).strip()
    _check_placeholders(intro, end + 2)

    steps: list[LessonStep] = []
    current: dict[str, object] = dict(defaults)
    for n, start in enumerate(heads):
        stop = heads[n + 1] if n + 1 < len(heads) else len(lines)
        title = lines[start].lstrip("#").strip()
        block = lines[start + 1:stop]
        j = 0
        while j < len(block) and not block[j].strip():
            j += 1
        own: dict[str, object] = {}
        first = SETTING_RE.match(block[j].strip()) if j < len(block) else None
        if first and first[1].lower() in STEP_KEYS:
            while j < len(block) and block[j].strip():
                row = block[j].strip()
                m = SETTING_RE.match(row)
                if not m or m[1].lower() not in STEP_KEYS:
                    raise LessonSyntaxError(start + j + 2, f"expected a setting (`key: value`; the keys are: "
                                                           f"{', '.join(sorted(set(STEP_KEYS)))}), not {row!r}; "
                                                           "leave a blank line before the explanation")
                field, parsed = _setting(m[1].lower(), m[2], start + j + 2)
                own[field] = parsed
                j += 1
        body = "\n".join(block[j:]).strip()
        if not body:
            raise LessonSyntaxError(start + 1, f"step {n + 1} ({title!r}) has no explanation")
        _check_placeholders("\n".join(block[j:]), start + j + 2)
        ask = own.pop("ask", None)
        prompt = own.pop("question", None)
        if prompt is not None and ask is None:
            raise LessonSyntaxError(start + 1, f"step {n + 1} has a question but no `ask:` kind")
        if "needs" in own:
            own["needs"] = list(dict.fromkeys([*defaults.get("needs", []), *own["needs"]]))
        else:
            own["needs"] = list(defaults.get("needs", []))
        try:
            from backend.lesson_steps import split_claims
            split_claims("\n".join(block[j:]), start + j + 2)
        except ValueError as e:
            raise LessonSyntaxError(None, f"step {n + 1}: {e}") from None
        current = {**current, **RESET_EACH_STEP, **own}
        if "text" not in current:
            raise LessonSyntaxError(start + 1, f"step {n + 1} has no sentence (set `sentence:` in the front matter "
                                               "or in the step)")
        settings = StepSettings(**current)
        if settings.focus and settings.focus not in FOCUS.get(settings.view, ()):
            raise LessonSyntaxError(start + 1, f"step {n + 1}: focus: {settings.focus} is not a panel of the "
                                               f"{settings.view} view (its panels: "
                                               f"{', '.join(FOCUS.get(settings.view, ())) or 'none'})")
        if check_model is not None:
            try:
                check_model(settings.model, settings.layer, settings.head, settings.ablate)
            except ValueError as e:
                raise LessonSyntaxError(start + 1, f"step {n + 1}: {e}") from None
        question = Question(kind=ask, prompt=prompt) if ask else None
        steps.append(LessonStep(number=n + 1, title=title, settings=settings, body=body, ask=question, line=start + 1,
                                reads_text=reads_text(settings, body, question),
                                reads_model=reads_model(settings, body, question)))
    return Lesson(id="x", number=number, file=file, title=str(front["title"]), concept=front.get("concept"),
                  summary=str(front.get("summary", "")), intro=intro, steps=steps)


def _model_checker(default_model: str):
    """A check that a step's layer, head and ablations exist in its model (where the model is known here)."""
    from models import registry

    def check(model: str | None, layer: int, head: int, ablate: list[tuple[int, int]]) -> None:
        name = model or default_model
        try:
            info = registry.info(name)
        except KeyError:
            return  # not installed here: the page falls back to the default model and says so
        for what, l, h in [("layer/head", layer, head), *[("ablate", l, h) for l, h in ablate]]:
            if l >= info.n_layers or h >= info.n_heads:
                raise ValueError(f"{what} {l}.{h} does not exist in {name} ({info.n_layers} layers x "
                                 f"{info.n_heads} heads)")

    return check


def load_lessons(folder: Path, default_model: str | None = None) -> LessonList:
    """Every lesson of `folder` (its *.md files but README.md, in file-name order), and the files that failed."""
    lessons: list[Lesson] = []
    errors: list[LessonError] = []
    try:
        root = folder.resolve(strict=True)
        if not root.is_dir():
            raise NotADirectoryError(str(folder))
        entries = sorted(p for p in root.iterdir() if p.suffix.lower() == ".md" and p.name.lower() != "readme.md")
    except OSError as e:
        return LessonList(lessons=[], errors=[LessonError(file=str(folder.name or folder),
                                                          error=f"the lessons folder cannot be read: "
                                                                f"{e.strerror or e.__class__.__name__}")])
    check = _model_checker(default_model) if default_model else None
    checked_against = (default_model, _model_names() if check else ())  # (a kept lesson was checked against these)
    seen: dict[str, str] = {}
    for path in entries[:MAX_FILES]:
        name = path.name
        try:
            real = path.resolve(strict=True)
            if real.parent != root:
                raise LessonSyntaxError(None, "the file lies outside the lessons folder (a link): not read")
            if not real.is_file():
                continue
            stat = real.stat()
            if stat.st_size > MAX_FILE_BYTES:
                raise LessonSyntaxError(None, f"the file is over {MAX_FILE_BYTES // 1024} KB")
            ident = lesson_id(path)
            if not ID_RE.fullmatch(ident):
                raise LessonSyntaxError(None, f"the name gives the id {ident!r}: use lowercase letters, digits and "
                                              "dashes (e.g. 09-my-lesson.md)")
            if ident in seen:
                raise LessonSyntaxError(None, f"the id {ident!r} is taken by {seen[ident]}")
            lesson = _parsed_file(path, real, stat, checked_against, check)
        except (LessonSyntaxError, ValueError) as e:
            errors.append(LessonError(file=name, error=str(e)))
            continue
        except OSError as e:
            errors.append(LessonError(file=name, error=f"cannot be read: {e.strerror or e.__class__.__name__}"))
            continue
        seen[ident] = name
        lessons.append(lesson.model_copy(update={"id": ident, "number": len(lessons) + 1}))
    if len(entries) > MAX_FILES:
        errors.append(LessonError(file=entries[MAX_FILES].name,
                                  error=f"more than {MAX_FILES} lesson files: the rest are not read"))
    with _PARSED_LOCK:  # files gone from the folder are forgotten
        for gone in [p for p in _PARSED if p.parent == root and p not in entries]:
            del _PARSED[gone]
    return LessonList(lessons=lessons, errors=errors)


# each lesson file as last parsed, by its path in the folder: (what it was parsed from, the lesson or why it is not one)
_PARSED: dict[Path, tuple[tuple, Lesson | str]] = {}
_PARSED_LOCK = threading.Lock()


def _model_names() -> tuple[str, ...]:
    from models import registry

    return tuple(registry.names())


def _parsed_file(path: Path, real: Path, stat: os.stat_result, checked_against: tuple, check) -> Lesson:
    """The lesson of the file `path` (its real path `real`, whose stat() is `stat`), parsed once and kept while the
    file's modification time, size and inode and `checked_against` (the default model and the registered models it
    was checked against) stay the same: an edited file is read again at the next request. Raises LessonSyntaxError as
    parse_lesson does."""
    key = (stat.st_mtime_ns, stat.st_size, stat.st_ino, checked_against)
    with _PARSED_LOCK:
        kept = _PARSED.get(path)
    if kept is not None and kept[0] == key:
        result = kept[1]
    else:
        try:
            text = real.read_bytes().decode("utf-8")
            result = parse_lesson(text.removeprefix("\ufeff"), path.name, 1, check)
        except UnicodeDecodeError as e:
            result = str(LessonSyntaxError(None, f"not UTF-8 text (byte {e.start})"))
        except (LessonSyntaxError, ValueError) as e:
            result = str(e)
        with _PARSED_LOCK:
            _PARSED[path] = (key, result)
    if isinstance(result, str):
        raise LessonSyntaxError(None, result)
    return result
