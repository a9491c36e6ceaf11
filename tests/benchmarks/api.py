"""In-process API cost: /api/analyze against the bare forward pass, and the size on the wire."""

from __future__ import annotations

import gzip

import torch
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.service import ModelService
from backend.settings import Settings, torch_threads
from backend.work import GZIP_LEVEL
from models import registry
from tests.benchmarks.common import interleaved, paired_ratio, ratio_cell, verdict

SENTENCE_16 = "The little cat sat on the warm mat and looked at the dog"


def text_of(loaded, n_tokens: int) -> str:
    words = ("Once upon a time there was a little girl named Lily who loved to play in the park with her dog "
             "and her friends every day").split()
    text = ""
    i = 0
    while len(loaded.tokenizer.encode(text + " " + words[i % len(words)])) <= n_tokens:
        text = (text + " " + words[i % len(words)]).strip()
        i += 1
    return text


def run(quick: bool = False) -> str:
    runs = 10 if quick else 40
    settings = Settings(result_cache_mb=0)
    threads = torch_threads(settings)
    torch.set_num_threads(threads)  # as the app sets at start
    app = create_app(settings, ModelService(settings))  # uncached: every call is a forward pass
    loaded = registry.load("tiny-sinusoidal")
    ids = torch.tensor(loaded.tokenizer.encode(SENTENCE_16))
    n = len(ids)
    lines = ["## API cost, in process\n",
             f"`tiny-sinusoidal`, {n} tokens, {threads} torch thread(s) (the server's), result cache off, {runs} "
             "interleaved runs; median (min-max); the ratio is the median of the per-round ratios (middle half in brackets).\n",
             "| what | time | target | |", "| --- | ---: | ---: | --- |"]
    with TestClient(app, base_url="http://127.0.0.1") as client:  # a Host the app answers
        def analyze():
            r = client.post("/api/analyze", json={"text": SENTENCE_16})
            assert r.status_code == 200

        def bare():
            with torch.inference_mode():
                loaded.model(ids)

        t = interleaved({"analyze": analyze, "bare": bare}, runs=runs)
        ratio = paired_ratio(t["analyze"], t["bare"])
        lines += [f"| bare forward (no cache) | {t['bare'].cell()} | | |",
                  f"| POST /api/analyze, uncached | {t['analyze'].cell()} | 15 ms | "
                  f"{verdict(t['analyze'].median_ms, 15)} |",
                  f"| ratio analyze / bare forward | {ratio_cell(t['analyze'], t['bare'])} | 3.0 | "
                  f"{verdict(ratio, 3.0)} |", ""]
        lines += ["### Size of /api/analyze on the wire\n",
                  "Full: every layer at 4 decimals (the default). Compact: what the page asks for a model of more "
                  "than 32 heads, `layers: [0]` (one layer at 4 decimals) and `thumbnails: true` (every layer x head "
                  "in 8 bits). gzip at the server's level (`GZIP_LEVEL`).\n",
                  "| model | tokens | full JSON | full gzip | target | compact JSON | compact gzip |",
                  "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
        for info in registry.list_models():
            if not info.available or (info.name.startswith("tiny-") and info.name != "tiny-sinusoidal"):
                continue
            m = registry.load(info.name)
            text = text_of(m, 64)
            body = client.post("/api/analyze", json={"text": text, "model": info.name}).content
            small = client.post("/api/analyze", json={"text": text, "model": info.name, "layers": [0],
                                                       "thumbnails": True}).content
            ntok = len(m.tokenizer.encode(text))
            packed = len(gzip.compress(body, GZIP_LEVEL))
            target = f"100 KB: {verdict(packed / 1000, 100)}" if info.name == "tiny-sinusoidal" else "(reported)"
            lines.append(f"| `{info.name}` | {ntok} | {len(body) / 1000:.1f} KB | {packed / 1000:.1f} KB | {target} "
                         f"| {len(small) / 1000:.1f} KB | {len(gzip.compress(small, GZIP_LEVEL)) / 1000:.1f} KB |")
    return "\n".join(lines) + "\n"
