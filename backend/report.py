"""A handout: ONE self-contained HTML file with the main views of one sentence.

    attnlab report "The cat sat on the mat." -o cat.html --model tiny-rotary --layer 1 --head 2
    GET /api/report?text=...&model=...&layer=...&head=...      (the same file, as a download)

The file holds the tokens (as text), the attention of the chosen head, every layer x head, the attention
arithmetic for the chosen query token (default: the last token), token similarity at the first depth and at
the chosen one (default: the last), the next-token predictions at the chosen temperature where the model
predicts, the positional encoding where it has one, and why the next word (the logit lens, direct logit
attribution, attention beside what it moves) where they apply; a view that does not apply says why in one sentence
(ModelInfo.unavailable_views). The page's Download report passes every selection it has (layer, head, query
token, interventions, temperature, depth, similarity measure, whether the special tokens are hidden). plotly.js is
embedded inline from the installed `plotly` package; the file references nothing on the network (no CDN, no web font, no image),
so it opens from a USB stick in a classroom without internet.

The data come from the same functions the HTTP API answers with (backend.analysis), so the numbers in the
file are the API's; the figures are backend.figures. Every string from the user or the model is escaped:
in the HTML with html.escape, in the plots with figures.esc (and plotly's JSON writes < as \\u003c).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

import plotly.graph_objects as go
import plotly.io as pio
from pydantic import Field, StrictBool, StrictFloat, StrictInt

from backend import figures, schemas
from backend.analysis import attention as attention_analysis
from backend.analysis import attribution as attribution_analysis
from backend.analysis import embeddings as embeddings_analysis
from backend.analysis import positional as positional_analysis
from backend.analysis import predict as predict_analysis
from backend.analysis import roles as roles_analysis
from backend.analysis.common import interventions
from backend.service import ModelService
from backend.vocabulary import count
from models.registry import LoadedModel, ModelInfo
from models.transformer import check_layer_head

# orjson writes a figure in one short call; plotly's "json" engine writes, re-reads and writes it again, holding the
# GIL for hundreds of ms on a large report while /api/health waits. Both escape <, > and / the same way.
pio.json.config.default_engine = "orjson"

TOP_K = 10
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"]}


class ReportRequest(schemas.TextRequest):
    """What a report is made of: a text, a model, the head and query to show, the interventions, and the page's
    other selections."""

    layer: StrictInt = Field(0, description="the layer of the head shown large")
    head: StrictInt = Field(0, description="the head shown large")
    query: StrictInt | None = Field(None, description="the query token whose arithmetic is shown (an index); "
                                                      "null: the last token that stands for text")
    top_k: StrictInt = Field(TOP_K, ge=1, description="how many next-token predictions")
    temperature: StrictFloat = Field(1.0, gt=0, description="the temperature of the next-token predictions")
    depth: StrictInt | None = Field(None, description="the depth of the second similarity map (an index into the "
                                                      "embeddings' layers: 0 the token embedding, -1 the last, "
                                                      "-2 the one before); null: the last")
    metric: Literal["cosine", "dot"] = Field("cosine", description="the similarity measure of the maps")
    token: StrictInt | None = Field(None, ge=0, description="the token whose logit the Why section explains after the "
                                                            "query token (an id); null: the model's most probable "
                                                            "next token there")
    versus: StrictInt | None = Field(None, ge=0, description="a second token id: the attribution explains "
                                                             "logit(token) - logit(versus); null: the logit alone")
    hide_special: StrictBool = Field(False, description="leave the special tokens ([CLS], [SEP], BOS) out of the "
                                                         "tokens, the attention heatmap and the grid, as the page "
                                                         "does when it hides them")


@dataclass
class ReportData:
    """The API's answers for one sentence (what the report and the notebook draw): /api/analyze (whose
    `predictions` are at temperature 1), /api/attention/explain for the chosen query, /api/embeddings,
    /api/predict at the chosen temperature (None where the model does not predict: `unavailable` says why)
    and /api/positional (None where the model has no encoding)."""

    request: ReportRequest
    info: ModelInfo
    analyze: schemas.AnalyzeResponse
    explain: schemas.ExplainResponse
    embeddings: schemas.EmbeddingsResponse
    predict: schemas.PredictResponse | None
    positional: schemas.PositionalResponse | None
    unavailable: dict[str, str] = field(default_factory=dict)  # view or part id -> why it does not apply
    # why this next word (after the query token; the chosen token, else the model's top-1 there, and the one it is
    # compared with): None where it does not apply (see `unavailable`)
    lens: schemas.LensResponse | None = None
    logit: schemas.LogitAttributionResponse | None = None
    attention_attribution: schemas.AttentionAttributionResponse | None = None

    @property
    def depth(self) -> int:
        """The index of the second similarity map's depth (the chosen one, else the last)."""
        n, d = len(self.embeddings.layers), self.request.depth
        return n - 1 if d is None else d + n if d < 0 else d  # (gather() checked it: -n <= d < n)


def explain_query(tokens: list[schemas.Token]) -> int:
    """The query the arithmetic is shown for: the last token (the last one that stands for text, when the
    model ends the sentence with a special token such as [SEP]), schemas.default_query."""
    return schemas.default_query([t.special for t in tokens])


def _default_query_words(tokens: list[schemas.Token], query: int) -> str:
    """What the default query (explain_query) is, said after its name: the last token, or the last that stands for
    text where special tokens follow it (MiniLM's [SEP])."""
    if query == len(tokens) - 1:
        return " (the last token)"
    after = ", ".join(t.display for t in tokens[query + 1:])
    return f" (the last token that stands for text; {after} after it {'is' if len(tokens) - query == 2 else 'are'} special)"


def gather(service: ModelService, req: ReportRequest) -> ReportData:
    """Run the sentence once and collect every view's answer, as the API's routes would give them."""
    service.check_top_k(req.top_k)
    service.check_temperature(req.temperature)
    loaded = service.get(req.model)
    check_layer_head(loaded.cfg, req.layer, req.head)
    run = service.run(req.model, req.text, interventions(req))
    analyze = attention_analysis.analyze(run, req.top_k)
    query = explain_query(analyze.tokens) if req.query is None else req.query
    explain = attention_analysis.explain(run, req.layer, req.head, query)
    emb = embeddings_analysis.embeddings(run)
    if req.depth is not None and not -len(emb.layers) <= req.depth < len(emb.layers):
        raise ValueError(f"depth {req.depth} does not exist: there are {len(emb.layers)} depths, 0 to "
                         f"{len(emb.layers) - 1} ({', '.join(level.label for level in emb.layers)}; -1 is the last)")
    unavailable = dict(loaded.info.unavailable_views)
    predict = None
    if "predictions" not in unavailable:
        predict = predict_analysis.predict(run, req.top_k, req.temperature, 0)
    positional = None
    if "positional.encoding" not in unavailable:
        n = min(len(run.ids), service.settings.max_positions_n)
        positional = positional_analysis.encoding(loaded, n)
    # the Why views read the selected query token's next-token prediction, as the page's lens and attribution do
    lens = attribution_analysis.lens(run, query, req.token) if "lens" not in unavailable else None
    logit = (attribution_analysis.logit_attribution(run, query, req.token, req.versus)
             if "logit_attribution" not in unavailable else None)
    moved = attribution_analysis.attention_attribution(run, req.layer, req.head)
    return ReportData(req, loaded.info, analyze, explain, emb, predict, positional, unavailable, lens, logit, moved)


def hidden_tokens(data: ReportData) -> list[schemas.Token]:
    """The special tokens the report leaves out of the tokens, the attention heatmap and the grid (hide_special, as the
    page's setting): none unless asked, or where every token is special (the page then hides none either)."""
    tokens = data.analyze.tokens
    hidden = [t for t in tokens if t.special] if data.request.hide_special else []
    return [] if len(hidden) == len(tokens) else hidden


def visible_analysis(data: ReportData) -> schemas.AnalyzeResponse:
    """The analysis as the attention heatmap and the grid draw it: without the hidden special tokens' rows and columns
    (picked by index from the API's numbers, as the page's derive.visibleAnalysis), `visible` counting the kept keys
    each kept query sees. Each kept token keeps its index in the sentence (`position`), which the figures name."""
    a = data.analyze
    if not hidden_tokens(data):
        return a
    keep = [i for i, t in enumerate(a.tokens) if not t.special]
    return a.model_copy(update={
        "tokens": [a.tokens[i] for i in keep],
        "attention": [[[[m[i][j] for j in keep] for i in keep] for m in heads] for heads in a.attention],
        "visible": [sum(1 for j in keep if j < a.visible[i]) for i in keep],
        "thumbnails": None})


def figures_of(data: ReportData) -> dict[str, go.Figure]:
    """The report's figures by name; a view that does not apply is left out (see data.unavailable)."""
    req = data.request
    shown = visible_analysis(data)
    out = {
        "attention": figures.attention_heatmap(shown, req.layer, req.head, query=data.explain.query),
        "grid": figures.heads_grid(shown, highlight=(req.layer, req.head)),
        "explain": figures.explain_bars(data.explain),
        "embeddings_first": figures.embedding_similarity(data.embeddings, 0, req.metric),
        "embeddings_last": figures.embedding_similarity(data.embeddings, data.depth, req.metric),
    }
    if data.predict is not None:
        out["predictions"] = figures.predictions_bars(data.predict)
    if data.positional is not None:
        out["positional"] = figures.positional_heatmap(data.positional)
        out["positional_similarity"] = figures.positional_similarity(data.positional)
    if data.lens is not None:
        out["lens"] = figures.lens_table(data.lens)
    if data.logit is not None:
        out["attribution_heads"] = figures.attribution_heads(data.logit)
        out["attribution_parts"] = figures.attribution_parts(data.logit)
    if data.attention_attribution is not None:
        out["attention_attribution"] = figures.attention_attribution(data.attention_attribution)
    return out


def roles_of(service: ModelService, req: ReportRequest) -> tuple[schemas.RolesResponse, go.Figure]:
    """The role table of the report's sentence (as POST /api/roles; from the same cached pass as the other
    views) and its plain figure: every head's label, layer x head, all scores in the hover."""
    resp = roles_analysis.on_text(service, req.model, req.text, interventions(req))
    return resp, figures.role_grid(resp)


# --------------------------------------------------------------------------- HTML

@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The minified plotly.js of the installed `plotly` package (read once)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@lru_cache(maxsize=1)
def _app_name() -> str:
    """"Attention Lab 0.1.0" (the installed version; without a number when run from a checkout not installed)."""
    try:
        return f"Attention Lab {version('attention-lab')}"
    except PackageNotFoundError:
        return "Attention Lab"


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _figure_html(name: str, fig: go.Figure | dict) -> str:
    """A figure's <div> and script; `fig` a Figure or a plain figure (figures.plain)."""
    height = (fig["layout"].get("height") if isinstance(fig, dict) else fig.layout.height) or 450
    return pio.to_html(fig, config={**PLOT_CONFIG, "toImageButtonOptions": {"format": "png", "filename": name,
                                                                            "scale": 2}},
                       include_plotlyjs=False, full_html=False, div_id=f"fig-{name}", default_width="100%",
                       default_height=f"{int(height)}px", validate=False)


def _reason(text: str) -> str:
    return f'<p class="reason">{e(text)}</p>'


def filename(data: ReportData) -> str:
    """attention-lab-<model>-L<layer>-H<head>.html, with only safe characters."""
    req = data.request
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", data.analyze.model).strip("-")[:60] or "model"
    return f"attention-lab-{model}-L{req.layer}-H{req.head}.html"


def depth_words(label: str) -> str:
    """A depth's label as words after "the": a sum's ("+ position", "+ position + token type, normalised") is the
    token embedding's, "the token embedding + position"; the others ("after block 2", "block input") as they are."""
    return f"token embedding {label}" if label.startswith("+") else label


def _settings_rows(data: ReportData, generated: datetime) -> list[tuple[str, str]]:
    info, req, iv = data.info, data.request, data.analyze.interventions
    positions = iv.positions + (f" (seed {iv.seed}: position given to each token {iv.permutation}; {iv.moved} of "
                                f"{len(iv.permutation or [])} tokens moved)" if iv.positions == "shuffled" else "")
    return [
        ("Model", f"{info.name} — {info.title}"),
        ("Kind", f"{info.kind}; {count(info.n_layers, 'layer')} × {info.n_heads} heads"
                 f"{f' ({info.n_kv_heads} K/V heads)' if info.n_kv_heads != info.n_heads else ''}; d_model {info.d_model}, "
                 f"d_head {info.d_head}; positional encoding: {info.positional}; {info.params:,} parameters"),
        ("Head shown", f"layer {req.layer}, head {req.head}"),
        ("Query token", f"{data.explain.query} “{data.analyze.tokens[data.explain.query].display}”"
                        + (_default_query_words(data.analyze.tokens, data.explain.query) if req.query is None else "")),
        ("Positions", positions),
        ("Scaling", "scores divided by √d_head (as trained)" if iv.scale else "scores NOT divided by √d_head"),
        ("Ablated heads", ", ".join(f"layer {l} head {h}" for l, h in iv.ablate) or "none"),
        *([("Special tokens", _special_words(data))] if any(t.special for t in data.analyze.tokens) else []),
        ("Similarity", f"{req.metric}, at the {data.embeddings.layers[0].label} and "
                       f"{'the ' if data.embeddings.layers[data.depth].label.startswith('+') else ''}"
                       f"{depth_words(data.embeddings.layers[data.depth].label)}"),
        *([("Temperature", f"{req.temperature:g} (next-token predictions)")] if data.predict is not None else []),
        *([("Token explained", _explained_words(data))] if data.lens is not None or data.logit is not None else []),
        ("Generated", f"{generated.strftime('%Y-%m-%d %H:%M:%S UTC')} by {_app_name()} "
                      f"(plotly.js {_plotlyjs_version()})"),
    ]


@lru_cache(maxsize=1)
def _plotlyjs_version() -> str:
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


CSS = """
:root { --ink: #1d2430; --muted: #5c6370; --line: #dde1e7; --accent: #1c7ed6; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 24px; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .4rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
.sentence { font-size: 1.15rem; background: #f4f6f9; border-left: 4px solid var(--accent); padding: .5rem .8rem;
            white-space: pre-wrap; overflow-wrap: anywhere; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .8rem 0; }
dl.settings dt { font-weight: 600; color: var(--muted); }
dl.settings dd { margin: 0; overflow-wrap: anywhere; }
nav ol { columns: 2; margin: .4rem 0; }
.note { color: var(--muted); margin: .3rem 0 .6rem; }
.reason { background: #fff8e6; border: 1px solid #f0d48a; padding: .5rem .8rem; border-radius: 4px; }
ol.tokens { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .35rem; }
ol.tokens li { border: 1px solid var(--line); border-radius: 4px; padding: .15rem .45rem; background: #fafbfc; }
ol.tokens li.special { color: var(--muted); border-style: dashed; }
ol.tokens .i { color: var(--muted); font-size: .75rem; margin-right: .3rem; }
ol.tokens .t { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre; }
table { border-collapse: collapse; font-size: .9rem; margin: .6rem 0; display: block; max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: .2rem .5rem; text-align: right; }
th { background: #f4f6f9; }
td.tok { text-align: left; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre; }
tr.masked td { color: #9aa0a6; }
.figure { margin: .6rem 0 1rem; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line);
         padding-top: .5rem; }
@media (max-width: 800px) { .pair { grid-template-columns: 1fr; } nav ol { columns: 1; } }
@media print { body { max-width: none; padding: 0; } section { break-inside: avoid; } nav { display: none; }
               .modebar-container { display: none !important; } }
"""


def _special_names(tokens: list[schemas.Token]) -> str:
    """"[CLS], [SEP]": the special tokens' displays, each once."""
    return ", ".join(dict.fromkeys(t.display for t in tokens if t.special))


def _special_words(data: ReportData) -> str:
    """The settings' row of the special tokens: hidden where (as the page's setting), or shown."""
    names = _special_names(data.analyze.tokens)
    if hidden_tokens(data):
        return (f"hidden ({names}) from the tokens, the attention heatmap and the grid, as on the page; the other "
                "sections keep them (the model reads them: every number is of the whole sentence)")
    if data.request.hide_special:
        return f"shown ({names}): every token of this sentence is special, so none is hidden"
    return f"shown ({names})"


def _hidden_note(data: ReportData, rows_sum: bool = True) -> str:
    """Said under the attention heatmap and the grid where the special tokens are hidden (the page's hiddenNote)."""
    if not hidden_tokens(data):
        return ""
    return (f" Special tokens hidden ({_special_names(data.analyze.tokens)}): their rows and columns are left out"
            + (", so a row may sum to less than 1." if rows_sum else "."))


def _first_hidden(data: ReportData) -> str:
    """Said under the grid where the first token is hidden: the bright first column it speaks of is not drawn."""
    hidden = hidden_tokens(data)
    if not hidden or hidden[0].position != 0:
        return ""
    return (f" The first token, {hidden[0].display}, is hidden here: a head that looks at it draws no bright column, "
            "only dim rows (their weight is on the column left out).")


# what a marker on the tokens means, in the words of the page's legend by its token strip (frontend/js/views/legend.js)
_BYTES = re.compile(r"(<0x[0-9A-F]{2}>)+")
_MARKERS = [(re.compile("↵"), "a newline"), (re.compile("⇥"), "a tab"),
            (_BYTES, "one byte of a character the model’s vocabulary splits into bytes"),
            (re.compile(r"<U\+[0-9A-F]{4,6}>"), "an invisible character, by its code"),
            (re.compile("^##"), "a piece that continues the word before it")]
_COUNTS = ["", "one", "two", "three", "four"]


def _markers_words(tokens: list[schemas.Token]) -> str:
    """" ↵: a newline; <0xC3>: one byte of ..." for the markers these tokens show (none: ""), as the page's legend."""
    out = []
    for pattern, meaning in _MARKERS:
        hits = [m[0] for m in (pattern.search(t.display) for t in tokens) if m]
        if not hits:
            continue
        mark = max(hits, key=len) if pattern is _BYTES else hits[0]
        n = len(mark) // 6  # (bytes: a token may hold several, <0xF0><0x9F>)
        if pattern is _BYTES and n > 1:
            meaning = f"{_COUNTS[n] if n < len(_COUNTS) else n} bytes, each <0xNN> {meaning}"
        out.append(f"{mark}: {meaning}")
    return f" {'; '.join(out)}." if out else ""


def _tokens_html(tokens: list[schemas.Token]) -> str:
    special = ' class="special"'
    items = "".join(
        f'<li{special if t.special else ""} title="id {t.id}"><span class="i">{t.position}</span>'
        f'<span class="t">{e(t.display)}</span></li>' for t in tokens)
    return f'<ol class="tokens">{items}</ol>'


def _fmt(v: float | None, digits: int = 4) -> str:
    return "masked" if v is None else f"{v:.{digits}f}"


def _explain_table(x: schemas.ExplainResponse) -> str:
    alibi = x.bias is not None  # ALiBi: the head's distance bias, then the score the softmax takes
    rows = []
    for i, t in enumerate(x.tokens):
        cls = ' class="masked"' if x.mask[i] else ""
        extra = f"<td>{_fmt(x.bias[i])}</td><td>{_fmt(x.scores[i])}</td>" if alibi else ""
        rows.append(f"<tr{cls}><td>{i}</td><td class=\"tok\">{e(t.display)}</td><td>{_fmt(x.raw_scores[i])}</td>"
                    f"<td>{_fmt(x.scaled_scores[i])}</td>{extra}<td>{_fmt(x.weights[i])}</td>"
                    f"<td>{_fmt(x.other_weights[i])}</td></tr>")
    other = "without scaling" if x.other_scale == 1 else f"÷ {x.other_scale:.4f}"
    heads = "<th>ALiBi bias</th><th>score</th>" if alibi else ""
    return ("<table><thead><tr><th>key</th><th>token</th><th>q·k</th>"
            f"<th>q·k ÷ {x.scale:.4f}</th>{heads}<th>weight</th><th>weight {e(other)}</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _predictions_table(predictions: list[schemas.Prediction]) -> str:
    rows = "".join(f'<tr><td>{i + 1}</td><td class="tok">{e(x.display)}</td><td>{x.id}</td><td>{x.prob:.4f}</td></tr>'
                   for i, x in enumerate(predictions))
    return (f"<table><thead><tr><th>rank</th><th>token</th><th>id</th><th>probability</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _shared(x: schemas.ExplainResponse) -> str:
    """Where the keys and values come from on a grouped-query model (one K/V head shared by several query heads)."""
    if x.group_size <= 1:
        return ""
    first = x.kv_head * x.group_size
    return (f" The keys and values are K/V head {x.kv_head}'s, which heads {first} to {first + x.group_size - 1} of this "
            "layer share (grouped-query attention): only q is this head's own.")


def _other_temperature(data: ReportData) -> str:
    """Said where the predictions table (after the last token) is at another temperature than the lens's 1."""
    t = data.predict.temperature if data.predict is not None else 1.0
    last = data.lens is None or data.lens.position == len(data.analyze.tokens) - 1
    return "" if t == 1 or not last else f"; the predictions above are at temperature {t:g}, so their probabilities differ"


def _explained_words(data: ReportData) -> str:
    """The settings' row of the Why section: which next token it explains, after which token, against which."""
    x = data.lens or data.logit
    t = x.token
    which = "the model's top-1" if x.token_is_default else "chosen"
    versus = data.logit.versus if data.logit is not None else None
    return (f"“{t.display}” ({which})" + (f" against “{versus.display}”" if versus is not None else "")
            + f", after token {x.position} “{data.analyze.tokens[x.position].display}”")


def _positions_run(iv: schemas.AppliedInterventions) -> str:
    """What the encoding drawn was in this report's run, where its positions were removed or shuffled."""
    if iv.positions == "removed":
        return " In this run the positions were removed: none of these encodings was added to any token."
    if iv.positions == "shuffled":
        perm = iv.permutation or []
        given = ", ".join(f"{i}→{p}" for i, p in enumerate(perm))
        moved = iv.moved  # (set whenever the positions are shuffled)
        others = "; the others kept their own" if moved < len(perm) else ""
        return (f" In this run the positions were shuffled: {moved} of the {len(perm)} tokens were given the encoding of "
                f"another position (token→position: {given}){others}.")
    return ""


def _why_html(data: ReportData, plot: dict[str, str]) -> str:
    """The logit lens, the direct logit attribution and attention beside what it moves (where they apply)."""
    parts = []
    if data.lens is not None:
        t, at = data.lens.token, data.lens.position
        which = ("the model's final top-1, probability" if data.lens.token_is_default
                 else f"chosen; rank {t.rank} in the model's output, probability")
        parts.append(f'<h3>At which depth does the answer appear?</h3><p class="note">The logit lens for the next token '
                     f'after token {at} “<span class="t">{e(data.analyze.tokens[at].display)}</span>”; the colour is '
                     f'the probability of “<span class="t">{e(t.display)}</span>” '
                     f"({which} {t.prob:.4f} at temperature 1, as the lens reads"
                     f"{_other_temperature(data)}). {e(data.lens.note)}</p>"
                     f'<div class="figure">{plot["lens"]}</div>')
    else:
        parts.append(_reason(data.unavailable["lens"]))
    ablated = data.analyze.interventions.ablate
    if data.logit is not None:
        off = "" if not ablated else (
            " Marked “off”: a head ablated in this run, whose output is set to 0, so it adds nothing." if len(ablated) == 1
            else " Marked “off”: heads ablated in this run, whose output is set to 0, so they add nothing.")
        parts.append(f'<h3>What each part adds to {e(data.logit.target)}</h3><p class="note">{e(data.logit.note)}{off}</p>'
                     f'<div class="figure">{plot["attribution_heads"]}</div>'
                     f'<div class="figure">{plot["attribution_parts"]}</div>')
    elif "logit_attribution" in data.unavailable:
        parts.append(_reason(data.unavailable["logit_attribution"]))
    if data.attention_attribution is not None:
        c, x = data.attention_attribution.captions, data.attention_attribution
        head_off = (f" Layer {x.layer}, head {x.head} is ablated: its output is set to zero, so what it attends to "
                    "moves nothing (its weights are still computed)." if [x.layer, x.head] in [list(p) for p in ablated]
                    else "")
        parts.append(f"<h3>Attention beside what it moves</h3><p class=\"note\">{e(c.raw)} {e(c.value_weighted)} "
                     f"{e(c.rollout)}{head_off}</p>" + f'<div class="figure">{plot["attention_attribution"]}</div>')
    return "".join(parts)


def render_html(data: ReportData, figs: dict[str, go.Figure | dict] | None = None,
                generated: datetime | None = None) -> str:
    """The report as one HTML document (plotly.js inline, nothing on the network)."""
    if figs is None:
        with figures.plain():  # written below as plotly would write the Figures, without building them
            figs = figures_of(data)
    generated = generated or datetime.now(UTC)
    req, a, x = data.request, data.analyze, data.explain
    plot = {name: _figure_html(name, fig) for name, fig in figs.items()}
    q = a.tokens[x.query]
    n = len(a.tokens)
    hidden = hidden_tokens(data)
    listed = [t for t in a.tokens if t not in hidden]
    first_label, last_label = data.embeddings.layers[0].label, data.embeddings.layers[data.depth].label
    sections: list[tuple[str, str, str]] = []

    left_out = (f" The special token{'s' if len(hidden) > 1 else ''} {e(_special_names(a.tokens))} "
                f"{'are' if len(hidden) > 1 else 'is'} hidden here, as on the page; the numbers show where each "
                "token is in the sentence." if hidden else "")
    sections.append(("tokens", "Tokens", (
        f'<p class="note">The model reads the sentence as {n} token{"" if n == 1 else "s"} (a space shows as ␣; dashed: a special '
        f"token that stands for no text).{e(_markers_words(listed))} Hover a token for its id.{left_out}</p>"
        f"{_tokens_html(listed)}")))
    masked = any(v < n for v in a.visible)  # the answer's mask: how many keys each query sees
    mask_note = (f" {figures.THEME['masked']['words']}" if masked
                 else " This model reads left to right, but with one token there is no later token to mask."
                 if data.info.kind == "causal"
                 else " This model reads in both directions: every query sees every key.")
    applied = figures.interventions_caption(a.interventions, data.info.positional)
    query_words = (f"Query token {x.query} “<span class=\"t\">{e(q.display)}</span>” is hidden here (a special token): "
                   "its row is in the arithmetic below." if q in hidden else
                   f"The outlined row is query token {x.query} “<span class=\"t\">{e(q.display)}</span>”.")
    sections.append(("attention", f"Attention of layer {req.layer}, head {req.head}", (
        f'<p class="note">Each row is a query token, each column a key it attends to{"" if hidden else "; a row sums to 1"}.'
        f"{mask_note}{e(_hidden_note(data))} {query_words}"
        f"{' ' + e(applied) if applied else ''}</p>" + f'<div class="figure">{plot["attention"]}</div>')))
    crossed = (" A crossed-out head is ablated in this run: its weights are still computed, but its output is set to 0."
               if a.interventions.ablate else "")
    sections.append(("grid", "Every layer × head", (
        f'<p class="note">Each small square is one head ({count(data.info.n_layers, "layer")} × {data.info.n_heads} heads), '
        f"drawn like the large heatmap; the framed one is layer {req.layer}, head {req.head}. A head that looks at the "
        "previous token draws a bright line just below the diagonal, one that looks at the first token a bright first "
        f"column, one that spreads its attention an even tint.{crossed}{e(_hidden_note(data, rows_sum=False))}"
        f"{e(_first_hidden(data))}</p>"
        f'<div class="figure">{plot["grid"]}</div>')))
    distance = "the distance between the shuffled positions" if x.interventions.positions == "shuffled" else "distance"
    bias = "" if x.bias is None else (
        f" + the ALiBi bias −m × {distance} (this head's slope m = {x.slope:.4f})" if x.interventions.positions != "removed"
        else f" + the ALiBi bias, 0 here: with the positions removed there is no distance (m = {x.slope:.4f})")
    ablated = [x.layer, x.head] in [list(p) for p in x.interventions.ablate]
    output = ("Σ weight × v is what the head would add, but it is ablated: the model sets its output to 0" if ablated
              else "the head's output is Σ weight × v")
    explain_intro = (
        f'<p class="note">Layer {x.layer}, head {x.head}, query token {x.query} “<span class="t">{e(q.display)}</span>”. '
        f"For each key: score = q·k ÷ {'1 (scaling off)' if x.scale == 1 else f'√{x.d_head} (√{x.d_head} = {x.scale:.4f})'}{bias}"
        f"{'; keys after the query are masked' if any(x.mask) else ''}; weight = softmax of the scores; {output}. "
        f"Entropy of this row: {x.entropy:.3f} nats; with scaling flipped: {x.other_entropy:.3f} nats.{_shared(x)}</p>")
    sections.append(("explain", f"The attention arithmetic for query token {x.query} “{q.display}”", (
        explain_intro + f'<div class="figure">{plot["explain"]}</div>' + _explain_table(x))))
    measure = "Cosine similarity" if req.metric == "cosine" else "The dot product"
    if data.depth == 0:
        then = " (the depth chosen is this first one, so the two pictures are the same)"
    elif data.depth <= len(data.embeddings.layers) - 1 - data.info.n_layers:  # the block input: no block has run
        then = f" and then at the {e(depth_words(last_label))}, before any block"
    else:
        # (a post-norm block, BERT's, normalises each sum: its output is not the input plus what was added)
        then = (f" and then {e(last_label)} (each block adds to every vector what its attention read from the other "
                + ("tokens and normalises the sum, then adds its MLP's output and normalises again)"
                   if data.info.norm_placement == "post" else "tokens, and its MLP's output)"))
    sections.append(("embeddings", "Embedding similarity", (
        f'<p class="note">{measure} of every pair of token vectors, first at the {e(first_label)} (the same token '
        "gives the same vector; a capital or a space before a word makes it another token)"
        f"{then}."
        f'</p><div class="pair"><div class="figure">{plot["embeddings_first"]}</div>'
        f'<div class="figure">{plot["embeddings_last"]}</div></div>')))
    if data.predict is not None:
        p = data.predict
        body = (f'<p class="note">The {len(p.predictions)} most likely next tokens after the sentence '
                f"(temperature {p.temperature:g}).</p>" + f'<div class="figure">{plot["predictions"]}</div>'
                + _predictions_table(p.predictions))
    else:
        body = _reason(data.unavailable.get("predictions") or a.predictions_unavailable or "No predictions.")
    sections.append(("predictions", "Next-token prediction", body))
    if data.positional is not None:
        body = (f'<p class="note">The {e(data.positional.positional)} positional encoding for the {data.positional.n} '
                "positions of this sentence, which the model adds to the token embeddings before Q, K and V are "
                f"computed; below, how similar the encodings of two positions are.{_positions_run(a.interventions)}"
                "</p>"
                f'<div class="figure">{plot["positional"]}</div>'
                f'<div class="figure">{plot["positional_similarity"]}</div>')
    else:
        body = _reason(data.unavailable["positional.encoding"])
    sections.append(("positional", "Positional encoding", body))

    sections.append(("why", "Why this next word", _why_html(data, plot)))

    nav = "".join(f'<li><a href="#{sid}">{e(title)}</a></li>' for sid, title, _ in sections)
    body_html = "".join(f'<section id="{sid}"><h2>{e(title)}</h2>{content}</section>'
                        for sid, title, content in sections)
    settings = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _settings_rows(data, generated))
    short = req.text if len(req.text) <= 60 else req.text[:57] + "…"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{e(_app_name())}">'
        f"<title>Attention Lab · {e(a.model)} · {e(short)}</title>"
        f"<style>{CSS}</style>"
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f'<script charset="utf-8">{plotly_js()}</script>'
        "</head><body>"
        "<header><h1>Attention Lab report</h1>"
        f'<p class="sentence">{e(req.text)}</p>'
        f'<dl class="settings">{settings}</dl></header>'
        f"<nav><ol>{nav}</ol></nav>"
        f"<main>{body_html}</main>"
        "<footer>Every number in this file comes from the model's own forward pass, as the Attention Lab API "
        "answers it (/api/analyze, /api/attention/explain, /api/embeddings, /api/predict, /api/positional, "
        "/api/attribution). "
        "The file is self-contained: it needs no network.</footer>"
        "</body></html>\n")


def no_token_explained(loaded: LoadedModel, option: str) -> str | None:
    """Why `option` (the token the Why section explains, or the one it is compared with) cannot be given for this
    model, or None: a model without a next-word head (MiniLM) has no logit lens and no logit attribution, so its
    report has no Why section to explain a token in (taken without a word, the report would read as if it had)."""
    unavailable = loaded.info.unavailable_views
    if "lens" in unavailable and "logit_attribution" in unavailable:
        return (f"{option}: model {loaded.name!r} predicts no next token, so its report explains none (no logit lens, "
                f"no logit attribution): {unavailable['logit_attribution']} Leave {option} out")
    return None


def check(service: ModelService, req: ReportRequest) -> None:
    """Refuse (ValueError) a report past what one may cost before any forward pass: a report draws every head, so
    its text may take at most ModelService.max_report_tokens(model) tokens (max_report_weights); and a `token` or
    `versus` on a model whose report explains no next token (no_token_explained)."""
    service.check_top_k(req.top_k)
    loaded = service.get(req.model)
    check_layer_head(loaded.cfg, req.layer, req.head)
    for option in ("token", "versus"):
        if getattr(req, option) is not None and (why := no_token_explained(loaded, option)):
            raise ValueError(why)
    # the report's own limit first (at most the trained length): a longer text gets the report's words, not the
    # API's offer of allow_beyond_trained, which a report does not take
    service.check_text(req.text)
    service.check_report(loaded, len(loaded.tokenizer.encode(req.text)))
    service.tokenize(loaded, req.text)


def build(service: ModelService, req: ReportRequest, generated: datetime | None = None) -> tuple[str, str]:
    """(file name, HTML) of the report for `req`. Raises ValueError / LookupError on bad input, as the API does."""
    check(service, req)
    data = gather(service, req)
    return filename(data), render_html(data, generated=generated)
