"""The page's vocabulary equals the server's: the views (tabs and view modules), the position modes and the ablate
syntax. The page has one parser of ablated heads (frontend/js/vocab.js) and the server one (backend/vocabulary.py):
here both read the same strings, thousands of them, and must agree on every one."""

from __future__ import annotations

import json
import random
import subprocess

from backend import vocabulary
from backend.settings import Settings
from models import registry
from tests.frontend.test_js import ROOT, node

READ_ALL = """
import { setVocabulary, parseAblate } from "./frontend/js/vocab.js";
import { VIEWS } from "./frontend/js/views/index.js";
import { SOURCES as TEMPLATE_SOURCES } from "./frontend/js/lesson-template.js";
let input = "";
for await (const chunk of process.stdin) input += chunk;
const { meta, strings } = JSON.parse(input);
setVocabulary(meta);
const read = strings.map((s) => { try { return parseAblate(s); } catch { return null; } });
console.log(JSON.stringify({ read, views: Object.keys(VIEWS), template: TEMPLATE_SOURCES }));
"""


def strings(count: int = 3000) -> list[str]:
    """Strings near the syntax: digits, dots, separators, signs, letters, other spaces."""
    rng = random.Random(15)
    alphabet = "0123456789" * 3 + "...,,,+  \t\n:-xXé\u00a0١"
    out = [ex for ex in vocabulary.ABLATE_EXAMPLES] + ["None", " none ", "1.2,,0.3", ",1.2", "1.2,", "00012.7", "1.2\u00a01.3"]
    while len(out) < count:
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
    return out


def python_reads(s: str):
    try:
        return [list(p) for p in vocabulary.parse_ablate(s)]
    except ValueError:
        return None


def test_the_two_ablate_parsers_agree_and_the_views_are_the_same():
    meta = vocabulary.meta(Settings(), registry.list_models())
    cases = strings()
    r = subprocess.run([node(), "--input-type=module", "-e", READ_ALL], cwd=ROOT, input=json.dumps({"meta": meta, "strings": cases}),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    js = json.loads(r.stdout)
    differ = [(s, python_reads(s), j) for s, j in zip(cases, js["read"], strict=True) if python_reads(s) != j]
    assert differ == [], differ[:10]
    assert sum(j is not None for j in js["read"]) > 100  # many strings read as heads, not only refusals
    # the page's view modules are the server's views
    assert sorted(js["views"]) == sorted(vocabulary.VIEW_IDS)
    assert set(js["template"]) >= {"analyze", "explain", "predict", "model", "state"}
