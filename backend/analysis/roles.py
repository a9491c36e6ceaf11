"""What each head does: role scores and labels of a forward pass, the induction probe, and the same across models.

The scores themselves are models.roles (pure functions of a pattern and the ids); this module reads the pattern
from a cached pass, runs the probe through the ModelService (so the server's limits and cache apply) and turns
the numbers into the API's answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from backend import schemas
from backend.analysis import attention  # (a module: analysis.attention imports this one too)
from backend.analysis.common import number, packed_weights, rnd, rnd_masked, run_info, special_tokens
from backend.service import ModelService, Run, TextTooLong
from models import registry, roles
from models.transformer import Interventions, check_layer_head


def definition(role: str) -> schemas.RoleDefinition:
    d = roles.DEFINITION[role]
    return schemas.RoleDefinition(role=d.role, name=d.name, short=d.short, words=d.words, formula=d.formula,
                                  queries=d.queries, label=d.label)


def definitions() -> schemas.RoleDefinitions:
    return schemas.RoleDefinitions(
        roles=[definition(d.role) for d in roles.DEFINITIONS],
        common=roles.COMMON_RULES, labels=roles.LABEL_RULE,
        thresholds=schemas.LabelThresholds(min_score=roles.LABEL_MIN_SCORE, min_margin=roles.LABEL_MIN_MARGIN,
                                           min_queries=roles.LABEL_MIN_QUERIES))


def score_run(run: Run, pattern: torch.Tensor | None = None) -> roles.Scores:
    """The role scores of every head of a cached pass (`pattern` [layer, head, q, k]: its patterns, if stacked
    already)."""
    pattern = attention.patterns(run) if pattern is None else pattern  # [layer, head, q, k]
    return roles.scores(pattern, run.ids, special_tokens(run), causal=run.loaded.cfg.causal)


def ranking(s: roles.Scores, role: str) -> list[tuple[int, int]]:
    """Every head, highest `role` score first; ties by layer, then head; heads without a score last."""
    values = s.values[role]  # [layer, head]
    n_heads = values.shape[1]
    flat = values.flatten().tolist()
    order = sorted(range(len(flat)), key=lambda i: (math.isnan(flat[i]), -flat[i] if not math.isnan(flat[i]) else 0, i))
    return [divmod(i, n_heads) for i in order]


def table(run: Run, sort_by: str | None = None, pattern: torch.Tensor | None = None,
          scores: roles.Scores | None = None) -> schemas.RoleTable:
    """The role table of a pass: each head's scores (`scores`, if computed already), label and its evidence, and on
    request a ranking."""
    s = score_run(run, pattern) if scores is None else scores
    lab = roles.labels(s)
    values = rnd_masked(torch.stack([s.values[r] for r in roles.ROLES], -1))  # [layer][head][role]
    offsets = s.offset.tolist() if s.queries["fixed-offset"] > 0 else None
    margins = rnd_masked(lab.margin)  # [layer][head]
    heads = []
    for l, (row_values, row_labels) in enumerate(zip(values, lab.role, strict=True)):
        row = []
        for h, (head_values, label) in enumerate(zip(row_values, row_labels, strict=True)):
            head_scores = dict(zip(roles.ROLES, head_values, strict=True))
            offset = offsets[l][h] if offsets else None
            row.append(schemas.HeadRoles(
                layer=l, head=h, scores=head_scores, offset=offset, label=label,
                label_text=roles.label_text(label, head_scores[label], offset or 0) if label else None,
                runner_up=lab.runner_up[l][h], margin=margins[l][h]))
        heads.append(row)
    return schemas.RoleTable(roles=list(roles.ROLES), queries=s.queries, heads=heads, ranked_by=sort_by,
                             ranking=ranking(s, sort_by) if sort_by else None)


@dataclass(frozen=True)
class Options:
    """What a role request asks for besides the scores."""

    sort_by: str | None = None  # rank every head by this role
    layers: tuple[int, ...] = ()  # return these layers' attention in full
    thumbnails: bool = False  # return every pattern in 8 bits

    @classmethod
    def of(cls, req: schemas.RoleAttentionFields) -> Options:
        return cls(req.sort_by, tuple(req.layers), req.thumbnails)


def _response(run: Run, opts: Options, probe: schemas.ProbeResult | None = None) -> schemas.RolesResponse:
    cfg = run.loaded.cfg
    for layer in opts.layers:
        try:
            check_layer_head(cfg, layer)
        except ValueError as e:
            raise ValueError(f"layers: {e}") from None
    pattern = attention.patterns(run)  # [layer, head, q, k]
    return schemas.RolesResponse(
        **run_info(run), n_layers=cfg.n_layers, n_heads=cfg.n_heads, causal=cfg.causal, positional=cfg.positional,
        roles=table(run, opts.sort_by, pattern), probe=probe, layers=list(opts.layers),
        attention=rnd(pattern[list(opts.layers)]) if opts.layers else [],  # [len(layers), head, q, k]
        thumbnails=packed_weights(pattern) if opts.thumbnails else None)


# --------------------------------------------------------------------------- the induction probe

PROBE_LENGTH = 50  # the probe's length where a request names none and the model can read and draw that many


def check_probe(service: ModelService, spec: schemas.ProbeSpec) -> None:
    limit = service.settings.max_probe_length
    if spec.length is not None and spec.length > limit:
        raise ValueError(f"the probe's length is {spec.length}; the limit is {limit} (max_probe_length)")


def probe_length(service: ModelService, loaded: registry.LoadedModel, spec: schemas.ProbeSpec) -> int:
    """The spec's length, or where it names none: PROBE_LENGTH, or the longest probe the model can read and draw (a
    model trained in the lab reads 24 tokens and draws from 26 letters), within max_probe_length."""
    if spec.length is not None:
        return spec.length
    before, after = roles.special_frame(loaded.tokenizer)
    readable = (loaded.info.max_tokens - len(before) - len(after)) // 2
    return max(2, min(PROBE_LENGTH, service.settings.max_probe_length, readable,
                      roles.ordinary_tokens(loaded.tokenizer).numel()))  # (under 2: the probe says why not)


def probe_run(service: ModelService, model: str | None, spec: schemas.ProbeSpec, iv: Interventions) -> tuple[Run, roles.Probe]:
    """The induction probe of `model` (drawn from its vocabulary with the spec's seed), run through the service."""
    check_probe(service, spec)
    loaded = service.get(model)
    length = probe_length(service, loaded, spec)
    probe = roles.induction_probe(loaded.tokenizer, length, spec.seed)
    limit = loaded.info.max_tokens
    if len(probe.ids) > limit:
        frame = len(probe.ids) - 2 * length
        extra = f" and {frame} special token{'s' if frame > 1 else ''}" if frame else ""
        raise ValueError(f"the probe is {len(probe.ids)} tokens ({length} twice{extra}); model {loaded.name!r} "
                         f"reads at most {limit} tokens, so the length can be at most {(limit - frame) // 2}")
    return service.run_ids(loaded.name, probe.ids, iv), probe


def probe_result(run: Run, probe: roles.Probe) -> schemas.ProbeResult:
    first, second = probe.halves
    out = {"seed": probe.seed, "length": probe.length, "first_half": (first.start, first.stop),
           "second_half": (second.start, second.stop)}
    if run.logits is None:
        why = run.loaded.info.unavailable_views.get("predict", "this model has no next-word head")
        return schemas.ProbeResult(**out, loss_unavailable=why)
    loss = roles.token_losses(run.logits, run.ids)  # [pos], nan at position 0
    means = [float(loss[list(half)].nanmean()) for half in (first, second)]  # (a half starting at 0 skips it)
    return schemas.ProbeResult(**out, token_loss=[number(x) for x in loss.tolist()], first_half_loss=number(means[0]),
                               second_half_loss=number(means[1]), loss_drop=number(means[0] - means[1]))


def on_probe(service: ModelService, model: str | None, spec: schemas.ProbeSpec, iv: Interventions,
             opts: Options = Options()) -> schemas.RolesResponse:
    run, probe = probe_run(service, model, spec, iv)
    return _response(run, opts, probe_result(run, probe))


def on_text(service: ModelService, model: str | None, text: str, iv: Interventions,
            opts: Options = Options(), beyond: bool = False) -> schemas.RolesResponse:
    return _response(service.run(model, text, iv, beyond), opts)


# --------------------------------------------------------------------------- across models

def shipped_models() -> list[str]:
    """The models that ship with the project (models/weights/), in the registry's order."""
    return [name for name in registry.names() if (registry.WEIGHTS_DIR / name / "card.json").is_file()]


def across_models(service: ModelService, req: schemas.RolesModelsRequest) -> schemas.RolesModelsResponse:
    """The same text (or each model's probe) through every model named (default: the shipped tiny models)."""
    names = req.models if req.models is not None else shipped_models()
    limit = service.settings.max_role_models
    if len(names) > limit:
        raise ValueError(f"{len(names)} models; the limit is {limit} (max_role_models)")
    if not names:
        raise ValueError("no models to compare: none ship with this installation; name them in `models`")
    if req.probe is not None:
        check_probe(service, req.probe)
    left_out: list[schemas.LeftOutModel] = []
    run: list[str] = []  # the models that run
    refusals: list[ValueError] = []  # (the first is the answer's where no model runs)
    for name in names:
        loaded = service.get(name)  # every name known and installed before any pass runs
        if req.probe is None and req.allow_beyond_trained:
            try:  # a model that cannot read a text this long (learned positions end at their table) is left out
                service.tokenize(loaded, req.text, beyond=True)
            except ValueError as e:
                numbers = {"tokens": e.tokens, "limit": e.limit} if isinstance(e, TextTooLong) else {}
                left_out.append(schemas.LeftOutModel(model=loaded.name, why=str(e), **numbers))
                refusals.append(e)
                continue
        run.append(name)
    if not run:
        raise refusals[0]
    iv, opts = Interventions(), Options(sort_by=req.sort_by)
    results = [on_probe(service, name, req.probe, iv, opts) if req.probe is not None
               else on_text(service, name, req.text, iv, opts, req.allow_beyond_trained) for name in run]
    return schemas.RolesModelsResponse(models=[r.model for r in results], results=results, left_out=left_out)
