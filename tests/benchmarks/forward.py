"""Glass-box forward with the full cache against transformers' eager forward with output_attentions.

Same model weights, same token ids, same torch threads; the two sides interleaved.
"""

from __future__ import annotations

import torch

from backend.alloc import tune_allocator
from models import pretrained, registry
from tests.benchmarks.api import text_of
from tests.benchmarks.common import interleaved, paired_ratio, ratio_cell, verdict


def _reference(name: str):
    if name == "minilm-l6":
        from transformers import BertModel

        return BertModel.from_pretrained(str(pretrained.minilm_dir()), attn_implementation="eager",
                                         dtype=torch.float32).eval()
    from transformers import AutoModelForCausalLM

    path = pretrained.smollm2_file()
    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                attn_implementation="eager").eval()


def run(quick: bool = False) -> str:
    runs = 8 if quick else 40
    torch.set_num_threads(2)
    tuned = tune_allocator()  # as the server does at start; both sides run under it
    lines = ["## Forward pass: glass box with the full cache vs transformers eager with output_attentions\n",
             f"2 torch threads, {runs} interleaved runs after 3 warm-up rounds; times as median (min-max); ratio "
             "as the median of the per-round ratios (middle half in brackets). Target: ratio at most 1.0. Both run in "
             "one process with the server's allocator settings (`backend.alloc`: "
             f"{'applied' if tuned else 'not available here'}).\n",
             "| model | tokens | glass box, run_with_cache | transformers, output_attentions | ratio | |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name in ("minilm-l6", "smollm2-135m"):
        info = registry.info(name)
        if not info.available:
            lines.append(f"| `{name}` | | not installed: {info.install} | | | |")
            continue
        ours = registry.load(name)
        ref = _reference(name)
        for n in (16, 128):
            ids = torch.tensor(ours.tokenizer.encode(text_of(ours, n)))

            def glass(ids=ids, model=ours.model):
                model.run_with_cache(ids)

            def reference(ids=ids, model=ref):
                with torch.inference_mode():
                    model(ids[None], output_attentions=True)

            t = interleaved({"glass": glass, "ref": reference}, runs=runs)
            r = paired_ratio(t["glass"], t["ref"])
            lines.append(f"| `{name}` | {len(ids)} | {t['glass'].cell()} | {t['ref'].cell()} | "
                         f"{ratio_cell(t['glass'], t['ref'])} | {verdict(r, 1.0)} |")
        del ref
    return "\n".join(lines) + "\n"
