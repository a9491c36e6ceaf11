"""The compact /api/analyze in the page (a large model: the selected layer in full, every head in 8 bits), the
grid's exports built on click, and the performance marks the browser benchmark reads."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.pages import SENTENCE, api, open_app, plot_data, ready

pytestmark = pytest.mark.browser

LARGE = "minilm-l6"  # 6 x 12 = 72 heads: over the page's limit for the full form; bidirectional, fast to load


def analyze_bodies(page: Page) -> list[dict]:
    bodies: list[dict] = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data)) if r.url.endswith("/api/analyze") else None)
    return bodies


def thumbnails(answer: dict) -> list:
    """The answer's 8-bit thumbnails as nested lists of bytes, [layer][head][query][key]."""
    t = answer["thumbnails"]
    raw = base64.b64decode(t["data"])
    n_layers, n_heads, n, _ = t["shape"]
    return [[[list(raw[((l * n_heads + h) * n + i) * n:((l * n_heads + h) * n + i + 1) * n]) for i in range(n)]
             for h in range(n_heads)] for l in range(n_layers)]


def grid_tile(z: list, layer: int, head: int, n: int) -> list:
    """One head's cells from the grid's z (tiles of n x n, one empty row and column between them)."""
    tile = n + 1
    return [z[layer * tile + i][head * tile:head * tile + n] for i in range(n)]


def download(page: Page, fig_selector: str, fmt: str) -> str:
    with page.expect_download() as info:
        page.locator(f'{fig_selector} button[data-export="{fmt}"]').click()
    return open(info.value.path(), encoding="utf-8").read()


# the role labels drawn on the grid: ["layer.head", label text] each
LABELS = """() => {
  const t = document.querySelector('#attn-grid .plot').data.find((d) => d.name === 'role labels');
  return t.customdata.map((k, i) => [k, t.text[i].replace('<br>', ' ')]);
}"""


def test_a_large_model_gets_one_layer_in_full_and_the_grid_its_thumbnails(page: Page, need_models, shot):
    need_models(LARGE)
    bodies = analyze_bodies(page)
    open_app(page, text=SENTENCE, model=LARGE, layer=2, head=5)
    assert bodies[-1]["layers"] == [2] and bodies[-1]["thumbnails"] is True
    full = api(page, "/api/analyze", {"text": SENTENCE, "model": LARGE})
    compact = api(page, "/api/analyze", {"text": SENTENCE, "model": LARGE, "layers": [2], "thumbnails": True})
    n = len(full["tokens"])
    # the heatmap: the API's full-precision numbers
    assert plot_data(page, "#attn-heatmap .plot")[0]["z"] == full["attention"][2][5]
    # the grid: byte / 255 of the thumbnails, each within 1/510 of the full weight
    grid = plot_data(page, "#attn-grid .plot")[0]
    thumbs = thumbnails(compact)
    for layer, head in [(0, 0), (2, 5), (5, 11)]:
        tile = grid_tile(grid["z"], layer, head, n)
        assert tile == [[b / 255 for b in row] for row in thumbs[layer][head]], (layer, head)
        want = full["attention"][layer][head]
        assert max(abs(tile[i][j] - want[i][j]) for i in range(n) for j in range(n)) <= 1 / 510 + 1e-4
    # hovering says how precise the thumbnail is
    assert grid["text"][0][0] == f"layer 0 · head 0<br>query 0 “[CLS]” → key 0 “[CLS]”: ≈{thumbs[0][0][0][0] / 255:.3f}"
    expect(page.locator("#attn-grid .caption")).to_contain_text("8-bit")
    shot(page, "minilm-compact")
    # another layer: that layer alone is asked for (the thumbnails and role table of this sentence are kept), the
    # grid stays
    assert bodies[-1]["roles"] is True
    labels = sorted(page.evaluate(LABELS))
    heads = api(page, "/api/roles", {"text": SENTENCE, "model": LARGE})["roles"]["heads"]
    assert labels == sorted([f"{h['layer']}.{h['head']}", h["label_text"]] for row in heads for h in row if h["label"])
    assert labels  # (the sentence labels some head of this model)
    asked = len(bodies)
    page.select_option("#layer", "4")
    ready(page)
    assert bodies[asked:] == [{**bodies[asked - 1], "layers": [4], "thumbnails": False, "roles": False}]
    assert sorted(page.evaluate(LABELS)) == labels  # the sentence's role table, kept
    assert plot_data(page, "#attn-heatmap .plot")[0]["z"] == full["attention"][4][5]
    expect(page.locator("#attn-heatmap .panel-title")).to_have_text("Attention · layer 4 · head 5")
    assert grid_tile(plot_data(page, "#attn-grid .plot")[0]["z"], 5, 11, n) == [[b / 255 for b in row] for row in thumbs[5][11]]
    # the links view draws the selected layer's full weights too
    page.locator('#tokens .tok[data-index="3"]').click()
    ready(page)
    hover = page.evaluate("() => document.querySelector('#attn-lines .plot').data[1].hovertext")
    assert hover[2].endswith(f"weight from query 3: {full['attention'][4][5][3][2]}")


def test_a_causal_large_model_leaves_the_masked_cells_of_its_thumbnails_empty(page: Page, need_models):
    need_models("smollm2-135m")
    text = "The cat sat on the mat."
    open_app(page, text=text, model="smollm2-135m", layer=11, head=6)
    full = api(page, "/api/analyze", {"text": text, "model": "smollm2-135m", "layers": [11]})
    compact = api(page, "/api/analyze", {"text": text, "model": "smollm2-135m", "layers": [11], "thumbnails": True})
    n = len(full["tokens"])
    assert plot_data(page, "#attn-heatmap .plot")[0]["z"] == [
        [w if j <= i else None for j, w in enumerate(row)] for i, row in enumerate(full["attention"][0][6])]
    z = plot_data(page, "#attn-grid .plot")[0]["z"]
    assert len(z) == 30 * (n + 1) - 1 and len(z[0]) == 9 * (n + 1) - 1
    thumbs = thumbnails(compact)
    for layer, head in [(0, 0), (11, 6), (29, 8)]:
        want = [[b / 255 if j <= i else None for j, b in enumerate(row)] for i, row in enumerate(thumbs[layer][head])]
        assert grid_tile(z, layer, head, n) == want, (layer, head)
    expect(page.locator("#attn-grid .caption")).to_contain_text("Grey: masked.")


def test_hidden_special_tokens_leave_the_thumbnails_too(page: Page, need_models):
    need_models(LARGE)
    open_app(page, text=SENTENCE, model=LARGE, layer=1, head=3, hidespecial=1)
    compact = api(page, "/api/analyze", {"text": SENTENCE, "model": LARGE, "layers": [1], "thumbnails": True})
    keep = [i for i, t in enumerate(compact["tokens"]) if not t["special"]]
    assert len(keep) == len(compact["tokens"]) - 2  # [CLS] and [SEP]
    m = len(keep)
    thumbs = thumbnails(compact)
    grid = plot_data(page, "#attn-grid .plot")[0]
    assert len(grid["z"]) == 6 * (m + 1) - 1
    for layer, head in [(0, 0), (3, 7)]:
        want = [[thumbs[layer][head][i][j] / 255 for j in keep] for i in keep]
        assert grid_tile(grid["z"], layer, head, m) == want
    hm = plot_data(page, "#attn-heatmap .plot")[0]["z"]
    assert hm == [[compact["attention"][0][3][i][j] for j in keep] for i in keep]


def test_the_grid_exports_what_it_shows(page: Page, need_models):
    # the default model: full precision, every layer
    open_app(page, text=SENTENCE)
    full = api(page, "/api/analyze", {"text": SENTENCE})
    n_layers, n_heads, n = full["n_layers"], full["n_heads"], len(full["tokens"])
    fig = '#attn-grid [data-part="grid"]'
    # nothing is built until a button asks for it
    assert page.evaluate(f"() => typeof document.querySelector('{fig}')._export.csv") == "function"
    rows = list(csv.reader(io.StringIO(download(page, fig, "csv"))))
    assert rows[0] == ["layer", "head", "query", "key", "weight"] and len(rows) == 1 + n_layers * n_heads * n * n
    assert all(float(w) == full["attention"][int(l)][int(h)][int(i)][int(j)] for l, h, i, j, w in rows[1:])
    assert json.loads(download(page, fig, "json"))["attention"] == full["attention"]
    # with the special tokens hidden, the rows name the API's token indices (BOS, index 0, left out)
    open_app(page, text=SENTENCE, hidespecial=1)
    rows = list(csv.reader(io.StringIO(download(page, fig, "csv"))))
    assert len(rows) == 1 + n_layers * n_heads * (n - 1) ** 2
    assert {r[2] for r in rows[1:]} == {str(i) for i in range(1, n)}
    assert all(float(w) == full["attention"][int(l)][int(h)][int(i)][int(j)] for l, h, i, j, w in rows[1:])
    # a large model: the thumbnails, 8-bit, said so in the header and the JSON
    need_models(LARGE)
    open_app(page, text=SENTENCE, model=LARGE)
    big = api(page, "/api/analyze", {"text": SENTENCE, "model": LARGE})
    compact = api(page, "/api/analyze", {"text": SENTENCE, "model": LARGE, "layers": [0], "thumbnails": True})
    n = len(big["tokens"])
    rows = list(csv.reader(io.StringIO(download(page, fig, "csv"))))
    assert rows[0] == ["layer", "head", "query", "key", "weight_8bit"] and len(rows) == 1 + 6 * 12 * n * n
    worst = max(abs(float(w) - big["attention"][int(l)][int(h)][int(i)][int(j)]) for l, h, i, j, w in rows[1:])
    assert worst <= 1 / 510 + 5e-4 + 1e-4  # 8 bits, then written with 3 decimals
    data = json.loads(download(page, fig, "json"))
    assert data["shape"] == compact["thumbnails"]["shape"] and data["scale"] == 255 and "8-bit" in data["precision"]
    assert data["bytes"] == thumbnails(compact)


MARKS = """() => Object.fromEntries(['attnlab:input', 'attnlab:heatmap', 'attnlab:grid'].map((n) => {
  const m = performance.getEntriesByName(n, 'mark').at(-1);
  return [n, m ? {t: m.startTime, detail: m.detail} : null];
}))"""


def test_typing_leaves_performance_marks(page: Page):
    open_app(page, text="The cat sat on the mat")
    page.focus("#text")
    page.keyboard.press("End")
    page.keyboard.type("s")
    ready(page)
    marks = page.evaluate(MARKS)
    text = "The cat sat on the mats"
    assert marks["attnlab:input"]["detail"] == {"text": text}
    shows = {"text": text, "model": "tiny-sinusoidal", "layer": 0, "head": 0}
    assert marks["attnlab:heatmap"]["detail"] == shows
    assert marks["attnlab:grid"]["detail"] == {**shows, "roles": True}  # the last drawing has the role labels
    for name in ("attnlab:heatmap", "attnlab:grid"):
        assert marks[name]["t"] > marks["attnlab:input"]["t"], name
    # the heatmap is drawn (and on screen) before the grid
    assert marks["attnlab:heatmap"]["t"] < marks["attnlab:grid"]["t"]
    # the page keeps the latest marks of each name, at most 16 (the same module as the page's)
    kept = page.evaluate("""async () => { const {mark} = await import('/js/plot.js');
      for (let i = 0; i < 40; i++) mark('attnlab:test', {i});
      return performance.getEntriesByName('attnlab:test', 'mark').map((m) => m.detail.i); }""")
    assert 1 <= len(kept) <= 16 and kept[-1] == 39 and kept == list(range(40 - len(kept), 40))
