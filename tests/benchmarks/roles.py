"""Head roles: what the scores add to an analysis, the probe against a forward pass, and what the probe finds.

Both costs are measured uncached (result cache off: every request runs its forward pass), the two sides
interleaved; a ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import torch
from fastapi.testclient import TestClient

from backend import schemas
from backend.analysis import roles as roles_analysis
from backend.main import create_app
from backend.service import ModelService
from backend.settings import Settings
from models import registry, roles
from models.transformer import Interventions
from tests.benchmarks.api import SENTENCE_16
from tests.benchmarks.common import interleaved, paired_ratio, ratio_cell, verdict

PROBE = {"seed": 0, "length": 50}
SMOLLM2 = "smollm2-135m"


def _scores_cost(client: TestClient, runs: int) -> list[str]:
    """/api/analyze with `roles: true` against the same request without, on the default model; and the role table
    alone (from a pass already made) against the uncached analysis."""
    name = registry.DEFAULT_MODEL
    service = ModelService(Settings())
    run = service.run(name, SENTENCE_16, Interventions())

    def plain():
        assert client.post("/api/analyze", json={"text": SENTENCE_16}).status_code == 200

    def with_roles():
        assert client.post("/api/analyze", json={"text": SENTENCE_16, "roles": True}).status_code == 200

    def table():
        roles_analysis.table(run)

    t = interleaved({"plain": plain, "roles": with_roles, "table": table}, runs=runs)
    ratio = paired_ratio(t["roles"], t["plain"])
    share = paired_ratio(t["table"], t["plain"])
    return [f"`{name}`, {len(run.ids)} tokens, 2 torch threads, {runs} interleaved runs after 3 warm-up rounds.\n",
            "| what | time | target | |", "| --- | ---: | ---: | --- |",
            f"| POST /api/analyze, uncached | {t['plain'].cell()} | | |",
            f"| POST /api/analyze with `roles: true`, uncached | {t['roles'].cell()} | | |",
            f"| ratio with roles / without | {ratio_cell(t['roles'], t['plain'])} | 1.10 | {verdict(ratio, 1.10)} |",
            f"| the role table alone, from the pass (`backend.analysis.roles.table`) | {t['table'].cell()} | | |",
            f"| ratio role table / uncached analysis | {ratio_cell(t['table'], t['plain'])} | 0.10 | "
            f"{verdict(share, 0.10)} |", ""]


def _probe_cost(client: TestClient, runs: int) -> list[str]:
    info = registry.info(SMOLLM2)
    if not info.available:
        return [f"`{SMOLLM2}` is not installed ({info.install}): the probe was not timed.\n"]
    loaded = registry.load(SMOLLM2)
    probe = roles.induction_probe(loaded.tokenizer, PROBE["length"], PROBE["seed"])  # (its vocabulary scan, once)
    ids = torch.tensor(probe.ids)

    def endpoint():
        assert client.post("/api/roles/probe", json={"model": SMOLLM2, "probe": PROBE}).status_code == 200

    def bare():
        with torch.inference_mode():
            loaded.model(ids)

    t = interleaved({"probe": endpoint, "bare": bare}, runs=runs, warmup=2)
    ratio = paired_ratio(t["probe"], t["bare"])
    return [f"`{SMOLLM2}`, the probe of seed {PROBE['seed']} and length {PROBE['length']} ({len(ids)} tokens), "
            f"{runs} interleaved runs after 2 warm-up rounds (the first probe of a model also scans its vocabulary "
            "once for ordinary tokens; the warm-up holds that).\n",
            "| what | time | target | |", "| --- | ---: | ---: | --- |",
            f"| bare forward pass of the probe's {len(ids)} tokens (no cache) | {t['bare'].cell()} | | |",
            f"| POST /api/roles/probe, uncached | {t['probe'].cell()} | | |",
            f"| ratio probe / forward pass | {ratio_cell(t['probe'], t['bare'])} | 2.0 | {verdict(ratio, 2.0)} |", ""]


def _best(resp: schemas.RolesResponse, role: str) -> str:
    heads = [h for row in resp.roles.heads for h in row if h.scores[role] is not None]
    if not heads:
        return "–"
    top = max(heads, key=lambda h: h.scores[role])
    offset = f", offset {top.offset}" if role == "fixed-offset" else ""
    return f"{top.scores[role]:.3f} (L{top.layer} H{top.head}{offset})"


def _findings(service: ModelService) -> list[str]:
    """The probe and a sentence through every shipped model and SmolLM2: the strongest head of some roles."""
    names = roles_analysis.shipped_models() + ([SMOLLM2] if registry.info(SMOLLM2).available else [])
    spec = schemas.ProbeSpec(**PROBE)
    lines = [f"The probe (seed {PROBE['seed']}, {PROBE['length']} tokens twice) and the sentence “{SENTENCE_16}”; "
             "each cell is the highest score of any head of the model (its layer and head), labels counted by the "
             "rule of GET /api/roles/definitions.\n",
             "| model | positional | probe: induction | probe: labelled induction | probe: loss 1st → 2nd half (nats) | "
             "sentence: previous-token | sentence: fixed-offset | sentence: sink |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in names:
        p = roles_analysis.on_probe(service, name, spec, Interventions())
        s = roles_analysis.on_text(service, name, SENTENCE_16, Interventions())
        n_ind = sum(1 for row in p.roles.heads for h in row if h.label == "induction")
        loss = (f"{p.probe.first_half_loss:.2f} → {p.probe.second_half_loss:.2f}" if p.probe.first_half_loss is not None
                else "–")
        lines.append(f"| `{name}` | {p.positional} | {_best(p, 'induction')} | {n_ind} of {p.n_layers * p.n_heads} | "
                     f"{loss} | {_best(s, 'previous-token')} | {_best(s, 'fixed-offset')} | {_best(s, 'sink')} |")
    return lines + [""]


def run(quick: bool = False) -> str:
    torch.set_num_threads(2)
    settings = Settings(result_cache_mb=0)
    app = create_app(settings, ModelService(settings))  # uncached: every request is a forward pass
    lines = ["## Head roles\n", "### Role scores on top of an analysis\n"]
    with TestClient(app, base_url="http://127.0.0.1") as client:  # a Host the app answers
        lines += _scores_cost(client, 10 if quick else 40)
        lines += ["### The induction probe against one forward pass\n"]
        lines += _probe_cost(client, 4 if quick else 12)
    lines += ["### What the probe finds\n"]
    lines += _findings(ModelService(Settings()))
    return "\n".join(lines) + "\n"
