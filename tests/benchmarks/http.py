"""The answer over HTTP against the forward pass that produces it.

One `attnlab serve` (default settings, result cache off, so every request is a forward pass) in its own process;
this process asks it for /api/analyze as the page does (gzip accepted, the JSON parsed with orjson: as fast as a
browser's JSON.parse, 1.9 ms for the default model's 366 KB answer at 64 tokens in both, where Python's json takes
12 ms; a packed attention decoded into whole rows, tests.benchmarks.server.as_the_page_holds) and, interleaved with
those requests, runs the forward pass of the same text itself: the glass box's `run_with_cache` for the default
model, transformers' eager forward with `output_attentions` for MiniLM and SmolLM2 (see tests/benchmarks/forward.py).
The server is on this machine, so it sends its answers unpacked (backend/work.py). The timed client is
tests.benchmarks.server.Client (http.client, one kept-alive connection); the same request through httpx is timed in
the same rounds, to show what a heavier client adds.
"""

from __future__ import annotations

import time

import httpx
import orjson
import torch

from backend.settings import Settings, torch_threads
from models import registry
from tests.benchmarks.api import text_of
from tests.benchmarks.common import interleaved, paired_ratio, ratio_cell, verdict
from tests.benchmarks.forward import _reference
from tests.benchmarks.server import Client, as_the_page_holds, serve

# (model, tokens, the request's extra fields, the baseline, target ratio)
CASES = [
    ("tiny-sinusoidal", 16, {}, "glass", 2.0),
    ("tiny-sinusoidal", 64, {}, "glass", 2.0),
    ("tiny-sinusoidal", 16, {"visible_only": True}, "glass", 2.0),
    ("tiny-sinusoidal", 64, {"visible_only": True}, "glass", 2.0),
    ("tiny-sinusoidal", 16, {"visible_only": True, "packed": True}, "glass", 2.0),  # the page's (frontend/js/sources.js)
    ("tiny-sinusoidal", 64, {"visible_only": True, "packed": True}, "glass", 2.0),
    ("minilm-l6", 16, {}, "transformers", 1.3),
    ("smollm2-135m", 32, {"layers": [0], "thumbnails": True, "visible_only": True, "packed": True}, "transformers", 1.15),
]


def ready(client: Client, body: dict, timeout: float = 120) -> None:
    """Ask until the model has loaded: a model other than the default loads on its first request, answering 503
    (with Retry-After) until then, and the timed requests must all be answers."""
    deadline = time.monotonic() + timeout
    while True:
        status, content = client.post_raw("/api/analyze", body)
        if status != 503 or time.monotonic() > deadline:
            if status != 200:
                raise RuntimeError(f"{status} {content[:300]!r}")
            return
        time.sleep(0.2)


def run(quick: bool = False) -> str:
    runs, warmup = (10, 3) if quick else (100, 10)
    threads = torch_threads(Settings())
    torch.set_num_threads(threads)  # as the server's passes
    lines = ["## The answer over HTTP against the forward pass\n",
             f"One `attnlab serve` with the result cache off; from this process, POST /api/analyze with gzip "
             f"accepted (the server sends a client on its own machine the bytes unpacked) and the JSON parsed "
             f"(orjson, as fast as a browser's JSON.parse), interleaved with the baseline pass of the same token ids in this "
             f"process with the server's {threads} torch thread(s) (`torch_threads`), {runs} rounds after {warmup} "
             "warm-up rounds. Times: median (min-max). Ratio: the median of the per-round ratios (middle half in brackets). "
             "The SmolLM2 request is the page's compact one (`layers: [0]`, `thumbnails: true`); the page asks "
             "every model with `visible_only: true` (each row of the attention up to the keys its query sees) and "
             "`packed: true` (the weights as 16-bit integers, decoded into whole rows as the page's data layer does: "
             "tests.benchmarks.server.as_the_page_holds), timed for the default model beside the full request and "
             "the request with lists. "
             "The ratio is the lean client's (tests.benchmarks.server.Client); httpx: the same request through httpx.\n",
             "| model | tokens | request | HTTP answer | httpx | baseline | baseline time | ratio | target | |",
             "| --- | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    with serve({"ATTNLAB_RESULT_CACHE_MB": "0"}) as (base, _), Client(base) as client, \
            httpx.Client(base_url=base, timeout=60, headers={"Accept-Encoding": "gzip"}) as heavy:
        references = {}
        for name, n, extra, baseline, target in CASES:
            info = registry.info(name)
            if not info.available:
                lines.append(f"| `{name}` | {n} | | not installed: {info.install} | | | | | {target} | |")
                continue
            loaded = registry.load(name)
            text = text_of(loaded, n)
            ids = torch.tensor(loaded.tokenizer.encode(text))
            body = {"text": text, "model": name, **extra}

            ready(client, body)

            def http(body=body):
                client.post("/api/analyze", body)

            def through_httpx(body=body):
                r = heavy.post("/api/analyze", json=body)
                r.raise_for_status()
                as_the_page_holds(orjson.loads(r.content))

            if baseline == "glass":
                def base_pass(ids=ids, model=loaded.model):
                    model.run_with_cache(ids)
                label = "glass box `run_with_cache`"
            else:
                ref = references.get(name) or references.setdefault(name, _reference(name))

                def base_pass(ids=ids, model=ref):
                    with torch.inference_mode():
                        model(ids[None], output_attentions=True)
                label = "transformers eager, `output_attentions`"
            t = interleaved({"http": http, "httpx": through_httpx, "base": base_pass}, runs=runs, warmup=warmup)
            ratio = paired_ratio(t["http"], t["base"])
            request = ", ".join(f"`{k}: {v}`" for k, v in extra.items()).replace("True", "true") or "full"
            lines.append(f"| `{name}` | {len(ids)} | {request} | {t['http'].cell()} | {t['httpx'].median_ms:.2f} ms | "
                         f"{label} | {t['base'].cell()} | "
                         f"{ratio_cell(t['http'], t['base'])} | {target} | {verdict(ratio, target)} |")
    return "\n".join(lines) + "\n"
