"""In Chromium against one real `attnlab serve`: keystroke to updated heatmap, and the SmolLM2 grid.

Timed with the page's own performance marks (frontend/js/main.js): `attnlab:input` on each input event of the
sentence box, `attnlab:heatmap` and `attnlab:grid` once that plot has been drawn, each with the text it shows.
Every measured text is new to the server (its result cache cannot answer it).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import torch

from backend.service import ModelService
from backend.settings import Settings, torch_threads
from models import registry
from models.transformer import Interventions
from tests.benchmarks.common import verdict
from tests.benchmarks.server import serve
from tests.benchmarks.startup import CHROMIUM_ARGS

READY = 'html[data-busy="0"] main .view:not([hidden])[data-state="ready"]'
HEATMAP_TARGET_MS = 250
GRID_TARGET_MS = 1500
GRID_MODEL = "smollm2-135m"
# the marks of one change: the input event, and the first drawing of the plot `name` for `text` (with the role
# labels only: the first whose detail says `roles`), null until then
MARKS = """([name, text, roles]) => {
  const input = performance.getEntriesByName('attnlab:input', 'mark').at(-1);
  const drawn = performance.getEntriesByName(name, 'mark').find((m) => m.detail.text === text && (!roles || m.detail.roles));
  if (!input || !drawn || input.detail.text !== text) return null;
  return {ms: drawn.startTime - input.startTime, tokens: document.querySelectorAll('#tokens .tok').length};
}"""
WORDS = ("Once upon a time there was a little girl named Lily who loved to play in the park with her dog "
         "and her friends every day until the sun went down behind the tall green hills").split()
OPENINGS = ["", "So", "Then", "Later", "One day", "Mom said that", "Tim saw that", "After lunch", "In the morning",
            "Sam knew that", "At night"]


def sentence(tokenizer, n_tokens: int, start: int, opening: str = "") -> str:
    """`opening`, then the longest run of WORDS from `start` (wrapping) that keeps the text at most n_tokens tokens
    (special tokens included)."""
    text = opening
    i = start
    while len(tokenizer.encode((text + " " + WORDS[i % len(WORDS)]).strip())) <= n_tokens:
        text = (text + " " + WORDS[i % len(WORDS)]).strip()
        i += 1
    return text


def wait_for(page, name: str, text: str, timeout_ms: float = 30_000, roles: bool = False) -> dict:
    handle = page.wait_for_function(MARKS, arg=[name, text, roles], polling="raf", timeout=timeout_ms)
    return handle.json_value()


def ready(page, timeout_ms: float = 120_000) -> None:
    page.wait_for_selector(READY, state="attached", timeout=timeout_ms)


def typing_cases(tokenizer, n_tokens: int, count: int) -> list[tuple[str, str]]:
    """(sentence, letter) pairs, all different: the sentence with the letter typed at its end is n_tokens tokens."""
    out: list[tuple[str, str]] = []
    for k in range(len(OPENINGS) * len(WORDS)):
        text = sentence(tokenizer, n_tokens, k % len(WORDS), OPENINGS[k // len(WORDS)])
        letter = next((c for c in "sdyrnetlhk" if len(tokenizer.encode(text + c)) == n_tokens), None)
        if letter and len(tokenizer.encode(text)) == n_tokens and text not in {t for t, _ in out}:
            out.append((text, letter))
        if len(out) == count:
            return out
    raise RuntimeError(f"found only {len(out)} sentences of {n_tokens} tokens")


def keystroke_to_heatmap(page, base: str, runs: int) -> tuple[list[float], list[int]]:
    """Each run: put a fresh sentence in the box (not timed), then type one letter and time that keystroke."""
    tok = registry.load("tiny-sinusoidal").tokenizer
    page.goto(base + "/?" + urlencode({"model": "tiny-sinusoidal", "text": "Warm up."}))
    ready(page)
    times, counts = [], []
    for i, (text, letter) in enumerate(typing_cases(tok, 16, runs + 2)):  # the first two are a warm-up
        page.fill("#text", text)
        wait_for(page, "attnlab:heatmap", text)
        ready(page)
        page.focus("#text")
        page.keyboard.press("End")
        page.keyboard.type(letter)
        r = wait_for(page, "attnlab:heatmap", text + letter)
        ready(page)
        if i >= 2:
            times.append(r["ms"])
            counts.append(r["tokens"])
    return times, counts


# what the page waited for in one change: the input event, its /api/analyze request (sent, answered), the grid
# first drawn (as MARKS times it), and the grid drawn with the role labels (0 when the first drawing had them: the
# attention view's analysis carries the role table)
PHASES = """([text]) => {
  const input = performance.getEntriesByName('attnlab:input', 'mark').at(-1);
  const grid = performance.getEntriesByName('attnlab:grid', 'mark').filter((m) => m.detail.text === text);
  const labelled = grid.find((m) => m.detail.roles);
  const asked = performance.getEntriesByType('resource')
    .filter((e) => e.name.endsWith('/api/analyze') && e.startTime >= input.startTime).at(-1);
  return asked && labelled ? [asked.startTime - input.startTime, asked.responseEnd - asked.startTime,
    grid[0].startTime - asked.responseEnd, labelled.startTime - grid[0].startTime] : null;
}"""


@dataclass
class GridRuns:
    """What grid_draw measured: per timed change, the time to the grid, the tokens shown, the phases (PHASES), the
    forward pass and the time to the grid with its labels; and per change while the result cache fills, its ratio."""
    times: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    phases: list[list[float] | None] = field(default_factory=list)
    forward: list[float] = field(default_factory=list)
    labelled: list[float] = field(default_factory=list)
    filling: list[float] = field(default_factory=list)


def grid_draw(page, base: str, runs: int) -> GridRuns:
    """Each run: a new 32-token sentence into the box (one input event that puts in the whole text, as a paste does:
    the page analyses it at once, without the typing pause); time to the grid first drawn, its phases (PHASES), and
    the forward pass of that sentence in this process afterwards (the server's torch threads, uncached); and the time
    to the grid drawn again with its role labels.

    First, as many new sentences as fill the server's result cache (timed apart, `filling`): until it is full, each
    pass the server stores is memory new to the process, which the kernel hands it page by page (measured on the
    machine of this record, SmolLM2's answers at 32 tokens: 9-14K page faults and 60-190 ms of system time each while
    the cache fills, 1.5-3.4K and 0-30 ms once it is full), while the baseline pass here stores nothing and reuses
    its memory. The timed runs follow (`times`...): the server as it answers once it has run a dozen sentences, the
    cache evicting as it stores."""
    tok = registry.load(GRID_MODEL).tokenizer
    torch.set_num_threads(torch_threads(Settings()))
    service = ModelService(Settings(result_cache_mb=0))
    probe = service.run(GRID_MODEL, sentence(tok, 32, 0), Interventions())
    fill = math.ceil(Settings().result_cache_mb * 2**20 / probe.nbytes) + 2
    texts = [sentence(tok, 32, i % len(WORDS), OPENINGS[i // len(WORDS)]) for i in range(fill + runs + 1)]
    if len(set(texts)) != len(texts):
        raise RuntimeError("the sentences are not distinct")
    page.goto(base + "/?" + urlencode({"model": GRID_MODEL, "text": "Warm up: the model loads."}))
    ready(page)  # the model loads on the first request
    page.fill("#text", texts[0])  # and one change, not timed
    wait_for(page, "attnlab:grid", texts[0], 120_000)
    ready(page)
    out = GridRuns()
    for k, text in enumerate(texts[1:]):
        page.evaluate("performance.clearResourceTimings()")
        page.fill("#text", text)
        r = wait_for(page, "attnlab:grid", text)
        labelled = wait_for(page, "attnlab:grid", text, roles=True)["ms"]
        ready(page)
        start = time.perf_counter()
        service.run(GRID_MODEL, text, Interventions())
        forward = (time.perf_counter() - start) * 1000
        if k < fill:
            out.filling.append(r["ms"] / forward)
            continue
        out.times.append(r["ms"])
        out.counts.append(r["tokens"])
        out.phases.append(page.evaluate(PHASES, [text]))
        out.forward.append(forward)
        out.labelled.append(labelled)
    return out


def row(what: str, times: list[float], counts: list[int], target_ms: float) -> str:
    med = statistics.median(times)
    tokens = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
    return (f"| {what} | {tokens} | {med:.0f} ms ({min(times):.0f}-{max(times):.0f}) | {len(times)} | "
            f"{target_ms:.0f} ms | {verdict(med, target_ms)} |")


def run(quick: bool = False) -> str:
    from playwright.sync_api import sync_playwright

    runs = 5 if quick else 20
    lines = ["## In the browser\n",
             "Chromium (headless, 1280 x 800) against one `attnlab serve` (default settings); time from the input "
             "event of the sentence box to the plot drawn for that text, from the page's performance marks "
             "(`attnlab:input`, `attnlab:heatmap`, `attnlab:grid`), the typing pause included where there is one. "
             "Every timed text is new to the server's result cache; median (min-max).\n",
             "| what | tokens | time | runs | target | |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    with serve() as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            times, counts = keystroke_to_heatmap(page, base, runs)
            lines.append(row("keystroke to updated heatmap, `tiny-sinusoidal` (one letter typed)", times, counts,
                             HEATMAP_TARGET_MS))
            if registry.info(GRID_MODEL).available:
                g = grid_draw(page, base, runs)
                times, counts, phases, forward, labelled = g.times, g.counts, g.phases, g.forward, g.labelled
                lines.append(row(f"sentence change to the all-heads grid drawn, `{GRID_MODEL}` (30 x 9 heads, "
                                 "model already loaded, its result cache full)", times, counts, GRID_TARGET_MS))
                ratio = statistics.median(t / f for t, f in zip(times, forward, strict=True))
                with_labels = statistics.median(t / f for t, f in zip(labelled, forward, strict=True))
                lines += ["", f"The `{GRID_MODEL}` grid against the forward pass of the same sentence (ModelService.run, "
                          "uncached, in this process with the server's torch threads, right after each change), and "
                          "where the time went, from the page's marks and the resource timing of its /api/analyze "
                          "request (medians). The sentence goes in as one input event, as a paste does (the page then "
                          "analyses it at once; typed letters wait for the typing pause). The attention view's analysis "
                          "carries the role table (`roles: true`), so the grid is drawn once, with each head's role "
                          "label; a drawing without them first would show as time from grid to labels. The timed "
                          f"changes follow {len(g.filling)} new sentences that fill the server's result cache "
                          "(`result_cache_mb`): until it is full, each pass it stores takes memory new to the process, "
                          "which the baseline pass, storing nothing, does not; their ratio is the last column:\n",
                          "| forward pass | grid / forward | target | | with role labels / forward | typing pause "
                          "(input to request) | request (sent to answered) | answer to grid drawn | grid to labels "
                          "drawn | grid / forward while the cache fills |",
                          "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
                          f"| {statistics.median(forward):.0f} ms | {ratio:.2f} | 3.0 | {verdict(ratio, 3.0)} | "
                          f"{with_labels:.2f} | "
                          + " | ".join(f"{statistics.median(p[i] for p in phases if p):.0f} ms" for i in range(4))
                          + f" | {statistics.median(g.filling):.2f} ({min(g.filling):.2f}-{max(g.filling):.2f}) |"]
            else:
                lines.append(f"| all-heads grid, `{GRID_MODEL}` | | not measured: the model is not installed "
                             f"(`attnlab models install`) | | {GRID_TARGET_MS:.0f} ms | |")
        finally:
            browser.close()
    return "\n".join(lines) + "\n"
