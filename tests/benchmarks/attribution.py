"""What the logit lens and the attributions add to an analysis (issue 17's speed targets).

Default model: POST /api/analyze on a sentence the server has not run (a fresh forward pass), against the same
followed by POST /api/attribution/lens, /logit and /attention on it (which reuse the server's kept pass), as the
page asks them; and the same two without HTTP (the answers made and serialised in process). Every call gets a
sentence of its own (same token count), so that each analysis is uncached. Target: at most +20%.

SmolLM2 at 32 tokens: the forward pass with its cache (ModelService.run, uncached) against the same followed by
the lens, the logit attribution and the attention attribution of one head, each answer serialised to JSON as the
server sends it. Target: within 1.5x the forward pass.
"""

from __future__ import annotations

import itertools

import torch
from fastapi.testclient import TestClient

from backend.analysis import attention, attribution
from backend.main import create_app
from backend.service import ModelService, Run
from backend.settings import Settings
from models import registry
from models.transformer import Interventions
from tests.benchmarks.common import interleaved, paired_ratio, ratio_cell, verdict

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


def default_model(runs: int) -> list[str]:
    name = registry.DEFAULT_MODEL
    loaded = registry.load(name)
    n = 16
    texts = iter(sentences(loaded, n, 4 * (runs + 3)))
    settings = Settings()
    service = ModelService(settings)
    app = create_app(settings, service)
    with TestClient(app, base_url="http://127.0.0.1") as client:  # a Host the app answers
        def post(path: str, body: dict) -> None:
            r = client.post(path, json=body)
            assert r.status_code == 200, r.text

        def http_analyze() -> None:
            post("/api/analyze", {"text": next(texts)})

        def http_with() -> None:
            text = next(texts)
            post("/api/analyze", {"text": text})
            post("/api/attribution/lens", {"text": text})
            post("/api/attribution/logit", {"text": text})
            post("/api/attribution/attention", {"text": text, "layer": 1, "head": 1})

        def analyze() -> Run:
            run = service.run(name, next(texts), Interventions())
            attention.analyze(run, 10).model_dump_json()
            return run

        def analyze_with() -> None:
            explain(analyze())

        t = interleaved({"http": http_analyze, "http_with": http_with, "analyze": analyze, "with": analyze_with},
                        runs=runs)
    http, compute = paired_ratio(t["http_with"], t["http"]), paired_ratio(t["with"], t["analyze"])
    return [f"`{name}`, {n} tokens, the server's result cache on, each call a sentence not seen before; {runs} "
            "interleaved runs. Over HTTP (TestClient, in process) each of the three answers is a request of its own, "
            "as the page asks them; in process the same answers are made and serialised to JSON without HTTP.\n",
            "| what | time | target | |", "| --- | ---: | ---: | --- |",
            f"| POST /api/analyze, uncached | {t['http'].cell()} | | |",
            f"| the same, then POST /api/attribution/lens, /logit, /attention | {t['http_with'].cell()} | | |",
            f"| ratio over HTTP (1 + what they add) | {ratio_cell(t['http_with'], t['http'])} | 1.20 | "
            f"{verdict(http, 1.2)} |",
            f"| analysis, uncached, in process (forward pass, /api/analyze's answer as JSON) | {t['analyze'].cell()} | | |",
            f"| the same, then the lens, logit and attention attributions as JSON | {t['with'].cell()} | | |",
            f"| ratio in process (1 + what they add) | {ratio_cell(t['with'], t['analyze'])} | 1.20 | "
            f"{verdict(compute, 1.2)} |", ""]


def explain(run: Run, layer: int = 1, head: int = 1) -> None:
    """The three answers the page shows beside an analysis, serialised as the server sends them."""
    attribution.lens(run).model_dump_json()
    attribution.logit_attribution(run).model_dump_json()
    attribution.attention_attribution(run, layer, head).model_dump_json()


def smollm2(runs: int) -> list[str]:
    name = "smollm2-135m"
    info = registry.info(name)
    if not info.available:
        return [f"`{name}`: not installed ({info.install}).", ""]
    loaded = registry.load(name)
    n = 32
    text = sentences(loaded, n, 1)[0]
    service = ModelService(Settings(result_cache_mb=0))  # every run a fresh forward pass

    def forward():
        return service.run(name, text, Interventions())

    def lens(run):
        return attribution.lens(run).model_dump_json()

    def logit(run):
        return attribution.logit_attribution(run).model_dump_json()

    def moved(run):
        return attribution.attention_attribution(run, 20, 4).model_dump_json()

    def full():
        explain(forward(), 20, 4)

    run = forward()
    t = interleaved({"forward": forward, "with": full, "lens": lambda: lens(run), "logit": lambda: logit(run),
                     "attention": lambda: moved(run)}, runs=runs)
    ratio = paired_ratio(t["with"], t["forward"])
    return [f"`{name}`, {n} tokens, in process, answers serialised to JSON; {runs} interleaved runs.\n",
            "| what | time | target | |", "| --- | ---: | ---: | --- |",
            f"| forward pass with its cache (ModelService.run, uncached) | {t['forward'].cell()} | | |",
            f"| logit lens on a kept pass | {t['lens'].cell()} | | |",
            f"| logit attribution on a kept pass | {t['logit'].cell()} | | |",
            f"| attention attribution (layer 20, head 4) on a kept pass | {t['attention'].cell()} | | |",
            f"| forward pass, then all three | {t['with'].cell()} | | |",
            f"| ratio to the forward pass | {ratio_cell(t['with'], t['forward'])} | 1.50 | {verdict(ratio, 1.5)} |", ""]


def run(quick: bool = False) -> str:
    runs = 8 if quick else 30
    torch.set_num_threads(2)
    lines = ["## Why this next word: the logit lens and the attributions\n", __doc__.split("\n\n", 1)[1].strip() + "\n"]
    lines += default_model(runs)
    lines += smollm2(runs)
    return "\n".join(lines) + "\n"
