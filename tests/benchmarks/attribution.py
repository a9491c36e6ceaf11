"""What the logit lens and the attributions add to an analysis (issue 17's speed targets).

Default model: POST /api/analyze on a sentence the server has not run (a fresh forward pass), against the same
followed by POST /api/attribution/lens, /logit and /attention on it (which reuse the server's kept pass), as the
page asks them. Every call of both sides gets a sentence of its own (same token count), so that each analysis
is uncached. Target: at most +20%.

SmolLM2 at 32 tokens: the forward pass with its cache (ModelService.run, uncached) against the same followed by
the lens, the logit attribution and the attention attribution of one head, each answer serialised to JSON as the
server sends it. Target: within 1.5x the forward pass.
"""

from __future__ import annotations

import itertools

import torch
from fastapi.testclient import TestClient

from backend.analysis import attribution
from backend.main import create_app
from backend.service import ModelService
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
    texts = iter(sentences(loaded, n, 2 * (runs + 3)))
    settings = Settings()
    app = create_app(settings, ModelService(settings))
    with TestClient(app) as client:
        def post(path: str, body: dict) -> None:
            r = client.post(path, json=body)
            assert r.status_code == 200, r.text

        def analyze() -> None:
            post("/api/analyze", {"text": next(texts)})

        def analyze_and_explain() -> None:
            text = next(texts)
            post("/api/analyze", {"text": text})
            post("/api/attribution/lens", {"text": text})
            post("/api/attribution/logit", {"text": text})
            post("/api/attribution/attention", {"text": text, "layer": 1, "head": 1})

        t = interleaved({"analyze": analyze, "with": analyze_and_explain}, runs=runs)
    ratio = paired_ratio(t["with"], t["analyze"])
    return [f"`{name}`, {n} tokens, in process (TestClient), the server's result cache on, each call a sentence not "
            f"seen before; {runs} interleaved runs.\n",
            "| what | time | target | |", "| --- | ---: | ---: | --- |",
            f"| POST /api/analyze, uncached | {t['analyze'].cell()} | | |",
            f"| the same, then /api/attribution/lens, /logit, /attention | {t['with'].cell()} | | |",
            f"| ratio (1 + what they add) | {ratio_cell(t['with'], t['analyze'])} | 1.20 | {verdict(ratio, 1.2)} |", ""]


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

    def attention(run):
        return attribution.attention_attribution(run, 20, 4).model_dump_json()

    def full():
        run = forward()
        lens(run), logit(run), attention(run)

    run = forward()
    t = interleaved({"forward": forward, "with": full, "lens": lambda: lens(run), "logit": lambda: logit(run),
                     "attention": lambda: attention(run)}, runs=runs)
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
