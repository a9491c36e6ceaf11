"""What the logit lens and the attributions add to an analysis (issue 17's speed targets).

Over HTTP, as the page asks (from this process to one `attnlab serve`): POST /api/analyze on a sentence the server
has not run (a fresh forward pass; the plain analysis, every layer in full), and what each view asks instead on such
a sentence, an analysis with no layer in full and no per-head summary (`layers: []`, `heads: false`: the Why views
draw neither): the
attribution view's with `why` (it carries the lens and the logit attribution); the effects view's with
`attention_attribution` (it carries the selected head's attention attribution). In process: the full analysis, then
the three answers, made and written to JSON
without HTTP (what the lens and the attributions cost on their own). Every round gets a sentence of its own (same
token count), so that each analysis is uncached.

Default model, 16 tokens: each view at most +20% over the analysis alone. SmolLM2 at 32 tokens: each view within
1.5x the forward pass with its cache (ModelService.run, uncached, in this process with the server's torch threads).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import NamedTuple

import orjson
import torch

from backend.analysis import attention, attribution
from backend.encode import dump
from backend.service import ModelService, Run
from backend.settings import Settings, torch_threads
from models import registry
from models.lens import ReadAhead
from models.transformer import Interventions
from tests.benchmarks.common import Timing, interleaved, paired_ratio, ratio_cell, verdict
from tests.benchmarks.http import ready
from tests.benchmarks.server import Client, serve

WORDS = ("cat dog bird fish girl boy mom dad king queen tree ball cake book car boat hat sun moon star frog "
         "bear duck cow pig hen fox owl bee ant").split()


def sentences(loaded, n_tokens: int, count: int) -> list[str]:
    """`count` different sentences of exactly `n_tokens` tokens (with the special tokens)."""
    filler = ("and then they all went to the park to play in the sun with their friends every day until the sky "
              "was dark and the stars came out over the quiet little town by the sea").split()
    out = []
    for a, b, c in itertools.permutations(WORDS, 3):
        text = f"The little {a} saw a big {b} and the {c} said"
        for word in filler:
            if len(loaded.tokenizer.encode(text)) >= n_tokens:
                break
            text += " " + word
        if len(loaded.tokenizer.encode(text)) == n_tokens:
            out.append(text)
            if len(out) == count:
                return out
    raise RuntimeError(f"could not make {count} sentences of {n_tokens} tokens")


class View(NamedTuple):
    """What a view asks the server on a new sentence (frontend/js/sources.js): its analysis's extra fields (the Why
    views' first pictures need no other request: the analysis carries what they draw first, CARRIES)."""
    analyze: dict

    def says(self) -> str:
        fields = ", ".join(f"`{k}: {orjson.dumps(v).decode()}`" for k, v in self.analyze.items())
        return "the analysis" + (f" with {fields}" if fields else "")


def page_asks(layer: int, head: int) -> dict[str, View]:
    """What each Why view asks instead of the plain analysis: an analysis with no layer in full and no per-head summary
    (they draw neither; frontend/js/sources.js, NO_ATTENTION); the attribution view's carries the lens and the logit
    attribution (`why`), the effects view's the attention attribution of the selected head (`attention_attribution`)."""
    return {"attribution": View({"why": True, "layers": [], "heads": False}),
            "effects": View({"layers": [], "heads": False, "attention_attribution": {"layer": layer, "head": head}})}


def page_views(name: str, texts: Iterator[str], analyze: dict, views: dict[str, View], runs: int,
               also: dict[str, Callable[[], object]] | None = None) -> dict[str, Timing]:
    """Over HTTP from this process to one `attnlab serve` (default settings, so the kept pass is reused), as the page:
    "http", POST /api/analyze (with the fields `analyze`) on a sentence the server has not run; each view, its
    analysis (with the view's fields) on such a sentence; each answer parsed (tests.benchmarks.server.Client).
    `also`: functions of this process timed in the same rounds (a baseline)."""
    with serve() as (base, _), Client(base) as client:

        def http(fields: dict) -> Callable[[], None]:
            def run() -> None:
                client.post("/api/analyze", {"model": name, "text": next(texts), **analyze, **fields})
            return run

        ready(client, {"text": "The model loads.", "model": name})
        return interleaved({"http": http({}), **{v: http(view.analyze) for v, view in views.items()}, **(also or {})},
                           runs=runs)


def view_rows(t: dict[str, Timing], views: dict[str, View], base: str, target: float) -> list[str]:
    out = []
    for v, view in views.items():
        ratio = paired_ratio(t[v], t[base])
        out.append(f"| the {v} view over HTTP: {view.says()} | {t[v].cell()} | {ratio_cell(t[v], t[base])} | "
                   f"{target:.2f} | {verdict(ratio, target)} |")
    return out


def default_model(runs: int) -> list[str]:
    name = registry.DEFAULT_MODEL
    loaded = registry.load(name)
    n = 16
    texts = iter(sentences(loaded, n, 5 * (runs + 3)))
    views = page_asks(layer=1, head=1)
    t = page_views(name, texts, {"top_k": 10, "visible_only": True, "packed": True}, views, runs)
    service = ModelService(Settings())

    def analyze() -> Run:
        run = service.run(name, next(texts), Interventions())
        dump(attention.analyze(run, 10, to_send=True))
        return run

    def analyze_with() -> None:
        explain(analyze())

    t.update(interleaved({"analyze": analyze, "with": analyze_with}, runs=runs))
    compute = paired_ratio(t["with"], t["analyze"])
    return [f"`{name}`, {n} tokens, each round a sentence not seen before; {runs} interleaved rounds. Over HTTP: the "
            "page's requests (`page_views`; the plain analysis as the attention view asks it, `visible_only: true`, `packed: true`). "
            "In process: the same answers made and written to JSON without HTTP, all three.\n",
            "| what | time | ratio to the analysis | target | |", "| --- | ---: | ---: | ---: | --- |",
            f"| POST /api/analyze, uncached | {t['http'].cell()} | | | |",
            *view_rows(t, views, "http", 1.2),
            f"| analysis in process (forward pass, /api/analyze's answer as JSON) | {t['analyze'].cell()} | | | |",
            f"| the same, then the lens, logit and attention attributions as JSON | {t['with'].cell()} | "
            f"{ratio_cell(t['with'], t['analyze'])} | 1.20 | {verdict(compute, 1.2)} |", ""]


def explain(run: Run, layer: int = 1, head: int = 1, service: ModelService | None = None,
            ahead: ReadAhead | None = None) -> None:
    """The three answers the page shows beside an analysis, written to JSON as the server writes them (with `service`,
    the lens on its spare core where one is free, and the parts `ahead` read during the pass, as the server)."""
    dump(attribution.lens(run, wide=service.spare_threads if service else attribution.narrow, ahead=ahead))
    dump(attribution.logit_attribution(run))
    dump(attribution.attention_attribution(run, layer, head))


def smollm2(runs: int) -> list[str]:
    name = "smollm2-135m"
    info = registry.info(name)
    if not info.available:
        return [f"`{name}`: not installed ({info.install}).", ""]
    loaded = registry.load(name)
    n = 32
    texts = iter(sentences(loaded, n, 3 * (runs + 4)))
    text = next(texts)
    service = ModelService(Settings(result_cache_mb=0))  # every run a fresh forward pass

    def forward():
        return service.run(name, text, Interventions())

    def forward_then_all():  # as the server: the lens's parts read on the other core while the pass goes on
        run, ahead = attribution.run_reading_ahead(service, name, text, Interventions())
        explain(run, 20, 4, service, ahead)

    views = page_asks(layer=20, head=4)
    compact = {"top_k": 10, "layers": [0], "thumbnails": True, "visible_only": True, "packed": True}
    t = page_views(name, texts, compact, views, runs, {"forward": forward})
    run = forward()
    t.update(interleaved({"forward": forward, "with": forward_then_all,
                          "lens": lambda: dump(attribution.lens(run)),
                          "logit": lambda: dump(attribution.logit_attribution(run)),
                          "attention": lambda: dump(attribution.attention_attribution(run, 20, 4))}, runs=runs))
    ratio = paired_ratio(t["with"], t["forward"])
    return [f"`{name}`, {n} tokens; {runs} interleaved rounds. Over HTTP: the page's requests (`page_views`; the "
            "analysis is the page's compact one, `layers: [0]`, `thumbnails: true`, `visible_only: true`, `packed: true`), "
            "each round a sentence not seen before, against the forward pass in this process timed in the same rounds. "
            "In process: the answers written to JSON as the server writes them.\n",
            "| what | time | ratio to the forward pass | target | |", "| --- | ---: | ---: | ---: | --- |",
            f"| forward pass with its cache (ModelService.run, uncached), in the HTTP rounds | {t['forward'].cell()} | | | |",
            f"| POST /api/analyze, uncached | {t['http'].cell()} | {ratio_cell(t['http'], t['forward'])} | | |",
            *view_rows(t, views, "forward", 1.5),
            f"| logit lens on a kept pass | {t['lens'].cell()} | | | |",
            f"| logit attribution on a kept pass | {t['logit'].cell()} | | | |",
            f"| attention attribution (layer 20, head 4) on a kept pass | {t['attention'].cell()} | | | |",
            f"| in process: the forward pass, then all three (as the server: the lens's parts read during the "
            f"pass, on the other core) | {t['with'].cell()} | {ratio_cell(t['with'], t['forward'])} | "
            f"1.50 | {verdict(ratio, 1.5)} |", ""]


def run(quick: bool = False) -> str:
    runs = 8 if quick else 30
    torch.set_num_threads(torch_threads(Settings()))  # as the server's passes
    lines = ["## Why this next word: the logit lens and the attributions\n", __doc__.split("\n\n", 1)[1].strip() + "\n"]
    lines += default_model(3 * runs)  # (its rounds are short: more of them, for steadier medians)
    lines += smollm2(runs)
    return "\n".join(lines) + "\n"
