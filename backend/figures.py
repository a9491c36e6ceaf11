"""Plotly figures from the API's own answers: pure functions, response in, `plotly.graph_objects.Figure` out.

    attention_heatmap(analyze, layer, head, query=None)    one head, query x key (the query's row outlined)
    heads_grid(analyze)                                    every layer x head, one subplot each
    explain_bars(explain)                                  scaled scores and weights of one query row
    embedding_similarity(embeddings, depth=-1)             token x token cosine (or dot) at one depth
    predictions_bars(predict_or_analyze)                   the top-k next tokens
    positional_heatmap(positional)                         the encoding, position x dimension
    positional_similarity(positional)                      position x position cosine
    lens_table(lens)                                       the logit lens, depth x sub-layer
    attribution_heads(logit) / attribution_parts(logit)    direct logit attribution: heads, the rest
    attention_attribution(attention)                       raw attention, ‖α v W_O‖ and rollout side by side
    ablation_effects(ablation)                             measured change in probability per head
    role_grid(roles, role=None)                            every head's role label (or one role's score)
    role_models(roles_models, role)                        one role's score for every head, model by model

Every number drawn is read from the response (nothing is recomputed here), so a figure shows what the
API sent; a masked cell (a later key in a causal model) is None (NaN in the grid's arrays), drawn grey with
stripes. Token strings are text:
Plotly reads a little HTML in labels, so every string put into a label, tick, hover text or title goes
through `esc` (& < > " ' as entities, which Plotly shows as the characters). Token axes are numeric
(0..n-1) with `tickvals`/`ticktext`, so that two equal tokens stay two rows. The colours, fonts, the masked-cell
style and the interventions caption are the page's own: both read frontend/js/theme.json. A masked cell is read
from the answer (`visible`: how many keys each query sees), never assumed from the model's kind.

Each figure is built as plain data and layout dicts and validated once by the Figure constructor
(plotly's per-property updates are slow for a grid of many heads).
"""

from __future__ import annotations

import base64
import json
import math
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from backend import schemas

THEME_FILE = Path(__file__).resolve().parent.parent / "frontend" / "js" / "theme.json"
THEME = json.loads(THEME_FILE.read_text(encoding="utf-8"))  # the page's look (frontend/js/plot.js reads it too)

ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}
FONT = THEME["font"]["family"]
MASKED_COLOR = THEME["masked"]["color"]
GRID_MASKED = THEME["masked"]["grid"]
WEIGHT_SCALE = THEME["weights"]["colorscale"]
DIVERGING = THEME["diverging"]["colorscale"]
BAR = THEME["bars"]["main"]
BAR_OTHER = THEME["bars"]["other"]
HIGHLIGHT = THEME["selection"]["color"]
_STRIPES = "data:image/svg+xml;base64," + base64.b64encode(THEME["masked"]["pattern_svg"].format(
    stripe=THEME["masked"]["stripe"], stripe_background=THEME["masked"]["stripe_background"]).encode()).decode()


def masked_background(xref: str = "x", yref: str = "y") -> dict:
    """A layout image that fills one subplot with the "masked" stripes (under a heatmap whose masked cells are gaps)."""
    return {"source": _STRIPES, "xref": f"{xref} domain", "yref": f"{yref} domain", "x": 0, "y": 1, "sizex": 1,
            "sizey": 1, "xanchor": "left", "yanchor": "top", "sizing": "stretch", "layer": "below"}


def interventions_caption(iv: schemas.AppliedInterventions, positional: str | None = None) -> str:
    """The interventions applied, in the page's words (theme.json captions), e.g. "Positions removed."; "" for none.
    `positional`: the model's scheme (with none, removing or shuffling the positions changes nothing: it says so)."""
    words = THEME["captions"]["interventions"]
    parts = []
    if iv.positions == "removed":
        parts.append(words["removed"])
    elif iv.positions == "shuffled":
        parts.append(words["shuffled"].format(permutation=", ".join(map(str, iv.permutation or []))))
    if positional == "none" and iv.positions != "normal":
        parts.append(words["nothing_to_move"])
    if not iv.scale:
        parts.append(words["unscaled"])
    if iv.ablate:
        heads = ", ".join(words["head"].format(layer=l, head=h) for l, h in iv.ablate)
        parts.append(words["ablated"].format(heads=heads))
    return " ".join(parts)

TITLE_CHARS = 80  # a figure's title in lines of at most this many characters (14 px text: about 600 px wide)
TITLE_SIZE = 14  # px: a figure's title
TITLE_LINE = TITLE_SIZE * 1.3  # px: one line of it (plotly's line spacing)
TITLE_TOP = 10  # px: above a figure's title
NOTE_CHARS = 80  # a figure's note in lines of at most this many characters (10 px text: about 500 px wide)

Attention = schemas.AnalyzeResponse | schemas.CompareSideResult
Matrix = Sequence[Sequence[float | None]]


# --------------------------------------------------------------------------- text, axes, layout

def esc(value: object) -> str:
    """A string safe for a Plotly label: & < > " ' as entities (Plotly decodes them back to the characters)."""
    return "".join(ENTITIES.get(c, c) for c in str(value))


def token_label(tokens: Sequence[schemas.Token], i: int) -> str:
    """`3 “cat”`, escaped: the i-th of `tokens` for hover texts, named by its index in the sentence (its `position`:
    `i` itself, unless special tokens were left out)."""
    return f"{tokens[i].position} “{esc(tokens[i].display)}”"


def places(tokens: Sequence[schemas.Token]) -> list[int]:
    """Where each token sits on a token axis: its index in the sentence (0..n-1, unless special tokens were left out,
    report.visible_analysis: the kept tokens' own indices, so that the hover names the token as the API does)."""
    return [t.position for t in tokens]


def _span(tokens: Sequence[schemas.Token]) -> tuple[float, float]:
    """The axis range around the tokens' places."""
    at = places(tokens)
    return (at[0] - 0.5, at[-1] + 0.5) if at else (-0.5, -0.5)


def token_axis(tokens: Sequence[schemas.Token], **extra) -> dict:
    """A numeric axis at the tokens' places (0..n-1) labelled with the (escaped) token strings: duplicate tokens stay
    apart."""
    n = len(tokens)
    axis = {"tickmode": "array", "tickvals": places(tokens), "ticktext": [esc(t.display) for t in tokens],
            "range": list(_span(tokens)), "showgrid": False, "zeroline": False, "automargin": True,
            "tickfont": {"size": 9 if n > 40 else 11 if n > 20 else 12}}
    axis.update(extra)
    return axis


def _title(text: str, *, above: int = 0) -> dict:
    """A figure's title, in lines of at most TITLE_CHARS characters (plotly does not wrap a title: the interventions'
    words ran off a figure's right edge), above the plot with room for all its lines (base_layout makes the top margin
    from its pad). `above`: the height in px of a row of labels the figure puts just above its plot area (annotations
    at the paper's top, yanchor bottom: the head grid's "L0 H0", the arithmetic's "scores: q·k ÷ √d").

    Plotly puts a title's first line at pad.b above the plot and hangs the others below it: the pad holds them and
    the labels. The title's automargin is not used: a title of one line too many for the margin was pushed up there,
    and plotly.js then drew the ticks and shapes at the new plot area and the heatmaps and bars at the old one (a
    report with an intervention: the grid's frame off its head, the arithmetic's bars off their axis); a title that
    fitted in the margin as one line hung its other lines over the plot and those labels."""
    lines = textwrap.wrap(text, TITLE_CHARS, break_long_words=False, break_on_hyphens=False) or [""]
    pad = above + math.ceil((len(lines) - 1) * TITLE_LINE) + 4
    return {"text": "<br>".join(lines), "x": 0, "xanchor": "left", "font": {"size": TITLE_SIZE}, "yref": "paper",
            "y": 1, "yanchor": "bottom", "pad": {"b": pad}}


def base_layout(**layout) -> dict:
    """The look of every figure; `template: {}` keeps plotly's default template (and its bytes) out."""
    font = THEME["font"]
    out = {"template": {}, "font": {"family": FONT, "size": font["size"], "color": font["color"]},
           "paper_bgcolor": THEME["paper"], "plot_bgcolor": THEME["paper"], "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
           "hoverlabel": {"font": {"family": FONT, "size": font["hover_size"]}}}
    out.update(layout)
    title = out.get("title")
    if isinstance(title, dict) and "pad" in title:
        # (a _title: its first line above its pad, the space above it)
        out["margin"] = {**out["margin"], "t": title["pad"]["b"] + math.ceil(TITLE_LINE) + TITLE_TOP}
    return out


_plain: ContextVar[bool] = ContextVar("plain figures", default=False)


@contextmanager
def plain() -> Iterator[None]:
    """Within it, every figure function returns its figure as the plain dict {"data": [...], "layout": {...}} that
    it would give plotly's Figure, for plotly.io to write as it is (`to_html(..., validate=False)`): building a
    Figure checks and copies every property in pure Python, holding the GIL (SmolLM2's grid of 270 heads: 400 ms,
    then 145 ms to write it, against 55 and 14 ms). For a file the server writes (backend/report.py); that plotly
    accepts each plain figure is tested (tests/backend/test_report.py)."""
    token = _plain.set(True)
    try:
        yield
    finally:
        _plain.reset(token)


def _figure(data: list[dict], layout: dict) -> go.Figure:
    if _plain.get():
        return {"data": data, "layout": base_layout(**layout)}  # type: ignore[return-value]  (see plain())
    return go.Figure(data=data, layout=base_layout(**layout))


def warm() -> None:
    """Make a small figure now, so that plotly reads its table of property validators (a JSON file of several MB,
    read by its first figure in one json.load that holds the GIL) at the server's start, not in the middle of the
    first report: 100 ms measured there under load, during which no other thread ran and /api/health waited."""
    _figure([{"type": "heatmap", "z": [[0.0]]}, {"type": "bar", "x": [0], "y": [0]},
             {"type": "scatter", "x": [0], "y": [0]}], {"title": _title("")})


def square_height(n: int, lo: int = 300, hi: int = 720, per: int = 30, extra: int = 130) -> int:
    return round(min(hi, max(lo, n * per + extra)))


def _abs_max(*matrices: Matrix) -> float:
    m = max((abs(v) for z in matrices for row in z for v in row if v is not None), default=0.0)
    return m or 1.0


def _colorbar(title: str) -> dict:
    return {"thickness": 12, "len": 0.9, "outlinewidth": 0, "title": {"text": esc(title), "side": "right"}}


def _check_layer_head(resp: Attention, layer: int, head: int) -> None:
    if not 0 <= layer < resp.n_layers:
        raise ValueError(f"layer {layer} does not exist: this model has layers 0 to {resp.n_layers - 1}")
    if not 0 <= head < resp.n_heads:
        raise ValueError(f"head {head} does not exist: this model has heads 0 to {resp.n_heads - 1}")


def masked_array(pattern: Matrix, visible: Sequence[int] | None) -> np.ndarray:
    """A pattern as drawn: the API's numbers as a float64 array, NaN where the key is masked (a grey cell).
    `visible`: the answer's count of keys each query sees (None: every key). Plotly takes an array as it is, where a
    list of lists it checks number by number, and copies; written as JSON it is the lists again (NaN as null), or
    plotly's typed array, which plotly.js draws alike."""
    z = np.array(pattern, dtype=np.float64)  # (None becomes NaN)
    if visible is not None and z.size:
        z[np.arange(z.shape[1])[None, :] >= np.asarray(visible)[:, None]] = np.nan
    return z


def masked_pattern(pattern: Matrix, visible: Sequence[int] | None) -> list[list[float | None]]:
    """masked_array as lists, None where it has NaN (for a figure whose hover texts are made from its cells)."""
    return [[None if v != v else v for v in row] for row in masked_array(pattern, visible).tolist()]


def _masked_any(visible: Sequence[int] | None, n: int) -> bool:
    return visible is not None and any(v < n for v in visible)


def _token_heatmap(z: Matrix, tokens: Sequence[schemas.Token], *, visible: Sequence[int] | None = None,
                   label: str = "weight", colorscale=WEIGHT_SCALE, zmin: float | None = None, zmax: float | None = None,
                   zmid: float | None = None, cell_text: bool = False) -> dict:
    n = len(tokens)
    shown = masked_pattern(z, visible)
    hover = [[f"query {token_label(tokens, i)}<br>key {token_label(tokens, j)}<br>"
              + ("masked" if v is None else f"{esc(label)} {v}") for j, v in enumerate(row)]
             for i, row in enumerate(shown)]
    at = places(tokens) if len(tokens) == len(z) else list(range(len(z)))  # (the tokens' places: a square of them)
    trace = {"type": "heatmap", "z": shown, "x": at if z else [], "y": at,
             "text": hover, "hovertemplate": "%{text}<extra></extra>", "hoverongaps": True,
             "colorscale": colorscale, "xgap": 1 if n <= 24 else 0, "ygap": 1 if n <= 24 else 0,
             "colorbar": _colorbar(label)}
    for key, value in (("zmin", zmin), ("zmax", zmax), ("zmid", zmid)):
        if value is not None:
            trace[key] = value
    if cell_text:
        trace.update(texttemplate="%{z:.2f}", textfont={"size": 8 if n > 12 else 10})
    return trace


def _interventions_note(iv: schemas.AppliedInterventions) -> str:
    caption = interventions_caption(iv)
    return f" · {esc(caption)}" if caption else ""


def _axis_suffix(k: int) -> str:
    """The suffix of the k-th axis pair (1-based): x/xaxis, x2/xaxis2, ..."""
    return "" if k == 1 else str(k)


# --------------------------------------------------------------------------- attention

def attention_heatmap(resp: Attention, layer: int, head: int, *, query: int | None = None,
                      title: str | None = None) -> go.Figure:
    """One head's pattern, query (rows) x key (columns), from /api/analyze (or one side of /api/compare).

    The keys a query cannot see (the answer's `visible`) are grey stripes; `query`: that row is outlined."""
    _check_layer_head(resp, layer, head)
    tokens = resp.tokens
    n = len(tokens)
    at = resp.layers.index(layer) if layer in resp.layers else None
    if at is None:
        raise ValueError(f"this answer holds no full-precision weights for layer {layer}")
    trace = _token_heatmap(resp.attention[at][head], tokens, visible=resp.visible, zmin=0, zmax=1, cell_text=n <= 14)
    shapes = []
    lo, hi = _span(tokens)
    if query is not None and query in places(tokens):  # (`query`: the token's index in the sentence)
        line = THEME["selection"]
        rect = {"type": "rect", "xref": "x", "yref": "y", "x0": lo, "x1": hi, "y0": query - 0.5,
                "y1": query + 0.5, "fillcolor": "rgba(0,0,0,0)"}
        shapes = [{**rect, "line": {"color": line["outline"], "width": 4.5}},
                  {**rect, "line": {"color": line["outline_inner"], "width": 2}}]
    heading = title if title is not None else (
        f"Attention · {esc(resp.model)} · layer {layer} · head {head}{_interventions_note(resp.interventions)}")
    return _figure([trace], {
        "title": _title(heading), "height": square_height(n, hi=900, per=14 if n > 40 else 30),
        "plot_bgcolor": MASKED_COLOR, "shapes": shapes,
        "images": [masked_background()] if _masked_any(resp.visible, n) else [],
        "xaxis": token_axis(tokens, title={"text": "key (attended to)"}, side="bottom",
                            tickangle=-45 if n > 8 else 0),
        "yaxis": token_axis(tokens, title={"text": "query"}, autorange=False, range=[hi, lo])})


GRID_BAR_PX = 300  # the heads grid's colour bar at most (px), beside the first rows


def heads_grid(resp: Attention, *, highlight: tuple[int, int] | None = None) -> go.Figure:
    """Every layer x head as a small heatmap (rows: layers from the top, columns: heads), one colour scale
    0..1. Trace k (row-major, layer * n_heads + head) is that head. `highlight` = (layer, head): a frame."""
    n_layers, n_heads = resp.n_layers, resp.n_heads
    tokens = resp.tokens
    n = len(tokens)
    xgap = min(0.04, 0.3 / max(n_heads, 1))
    ygap = min(0.06, 0.3 / max(n_layers, 1))
    w = (1 - xgap * (n_heads - 1)) / n_heads
    hgt = (1 - ygap * (n_layers - 1)) / n_layers
    ticks = n <= 16  # token labels on the left column (and the bottom row, when the squares are wide enough)
    xticks = ticks and n_heads <= 6
    data: list[dict] = []
    layout: dict = {"annotations": [], "shapes": []}
    axis = token_axis(tokens, tickfont={"size": 8})  # (the tokens escaped once for the 2 x layers x heads axes)
    at, (lo, hi) = places(tokens), _span(tokens)
    off = {(l, h) for l, h in resp.interventions.ablate}  # crossed out, as the page's grid: weights kept, output 0
    for l in range(n_layers):
        y1 = 1 - l * (hgt + ygap)
        y0 = max(0.0, y1 - hgt)
        for h in range(n_heads):
            k = l * n_heads + h + 1
            s = _axis_suffix(k)
            x0 = h * (w + xgap)
            x1 = min(1.0, x0 + w)
            data.append({"type": "heatmap", "z": masked_array(resp.attention[resp.layers.index(l)][h], resp.visible),
                         "x": at, "y": at, "xaxis": f"x{s}", "yaxis": f"y{s}",
                         "coloraxis": "coloraxis", "hoverongaps": False,
                         "hovertemplate": f"layer {l} · head {h}<br>query %{{y}} → key %{{x}}: %{{z}}<extra></extra>"})
            layout[f"xaxis{s}"] = {**axis, "domain": [x0, x1], "anchor": f"y{s}", "tickangle": -90,
                                   "showticklabels": xticks and l == n_layers - 1}
            layout[f"yaxis{s}"] = {**axis, "domain": [y0, y1], "anchor": f"x{s}", "autorange": False,
                                   "range": [hi, lo], "showticklabels": ticks and h == 0}
            layout["annotations"].append({"text": f"L{l} H{h}" + (" (ablated)" if (l, h) in off else ""),
                                          "x": (x0 + x1) / 2, "y": y1, "xref": "paper",
                                          "yref": "paper", "xanchor": "center", "yanchor": "bottom",
                                          "showarrow": False, "font": {"size": 10}})
            if (l, h) in off:
                paper = {"xref": "paper", "yref": "paper", "layer": "above"}
                line = {"color": THEME["ablated"]["color"], "width": 2}
                layout["shapes"] += [
                    {"type": "rect", **paper, "x0": x0, "x1": x1, "y0": y0, "y1": y1,
                     "fillcolor": THEME["ablated"]["fill"], "line": {"width": 0}},
                    {"type": "line", **paper, "x0": x0, "x1": x1, "y0": y0, "y1": y1, "line": line},
                    {"type": "line", **paper, "x0": x0, "x1": x1, "y0": y1, "y1": y0, "line": line}]
            if highlight == (l, h):
                layout["shapes"].append({"type": "rect", "xref": "paper", "yref": "paper", "x0": x0 - 0.004,
                                         "x1": x1 + 0.004, "y0": y0 - 0.004, "y1": y1 + 0.004,
                                         "line": {"color": HIGHLIGHT, "width": 3}})
    cell = 150 if n_heads <= 6 else 110
    margin = {"l": 70, "r": 20, "t": 70, "b": 60}
    height = round(n_layers * cell + 110)
    # the colour bar beside the first rows, at most GRID_BAR_PX long (a fraction of a 30-layer grid is 2,000 px)
    bar_px = min(GRID_BAR_PX, height - margin["t"] - margin["b"])
    layout.update(
        title=_title(f"Every layer × head · {esc(resp.model)}{_interventions_note(resp.interventions)}", above=18),
        height=height, plot_bgcolor=GRID_MASKED, margin=margin,
        coloraxis={"colorscale": WEIGHT_SCALE, "cmin": 0, "cmax": 1,
                   "colorbar": {"thickness": 12, "len": bar_px, "lenmode": "pixels", "y": 1, "yanchor": "top",
                                "outlinewidth": 0, "title": {"text": "weight"}}})
    return _figure(data, layout)


def explain_bars(resp: schemas.ExplainResponse, *, other: bool = True) -> go.Figure:
    """One query's row: the scores the softmax takes, q·k ÷ scale (+ the ALiBi bias) (top; 0 where masked, with a
    "masked" note) and the softmax weights (bottom). `other`: also the weights with scaling flipped (the API's
    other_weights)."""
    tokens = resp.tokens
    n = len(tokens)
    x = list(range(n))
    # (√d_head's value in brackets: "÷ √40 = 6.325" read as a score of 6.325)
    scale_text = "1 (scaling off)" if resp.scale == 1 else f"√{resp.d_head} (√{resp.d_head} = {resp.scale:.3f})"

    def hover(label: str, values: Sequence[float | None]) -> list[str]:
        return [f"key {token_label(tokens, i)}<br>{esc(label)}: {'masked' if v is None else v}"
                for i, v in enumerate(values)]

    # what the softmax takes: under ALiBi the scaled score plus the head's distance bias
    alibi = resp.bias is not None
    scores = resp.scores
    label = "score (scaled + bias)" if alibi else "scaled score"
    data = [
        {"type": "bar", "x": x, "y": [0 if v is None else v for v in scores], "name": label,
         "marker": {"color": BAR}, "hovertext": hover(label, scores),
         "hovertemplate": "%{hovertext}<extra></extra>", "showlegend": False, "xaxis": "x", "yaxis": "y"},
        {"type": "bar", "x": x, "y": resp.weights, "name": f"weight (÷ {resp.scale:.3f})", "marker": {"color": BAR},
         "hovertext": hover("weight", resp.weights), "hovertemplate": "%{hovertext}<extra></extra>",
         "xaxis": "x2", "yaxis": "y2"},
    ]
    if other:
        flipped = "without scaling" if resp.other_scale == 1 else f"with scaling (÷ {resp.other_scale:.3f})"
        data.append({"type": "bar", "x": x, "y": resp.other_weights, "name": f"weight {flipped}",
                     "marker": {"color": BAR_OTHER}, "hovertext": hover(f"weight {flipped}", resp.other_weights),
                     "hovertemplate": "%{hovertext}<extra></extra>", "xaxis": "x2", "yaxis": "y2"})
    bias_text = f" + ALiBi bias (−{resp.slope:.4f} × distance)" if alibi else ""
    notes = [{"text": f"scores: q·k ÷ {scale_text}{bias_text}", "x": 0, "y": 1.0, "xref": "paper", "yref": "paper",
              "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}},
             {"text": "weights: softmax of the scores", "x": 0, "y": 0.44, "xref": "paper", "yref": "paper",
              "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}}]
    notes += [{"text": "masked", "x": i, "y": 0, "xref": "x", "yref": "y", "textangle": -90, "showarrow": False,
               "yanchor": "bottom", "font": {"size": 10, "color": "#666"}} for i, m in enumerate(resp.mask) if m]
    axis = token_axis(tokens, tickangle=-45 if n > 8 else 0)
    return _figure(data, {
        "title": _title(f"Attention arithmetic · {esc(resp.model)} · layer {resp.layer} · head {resp.head} · "
                        f"query {token_label(tokens, resp.query)}{_interventions_note(resp.interventions)}", above=20),
        "height": 560, "barmode": "group", "bargap": 0.25, "annotations": notes,
        "margin": {"l": 70, "r": 20, "t": 70, "b": 60},
        "legend": {"orientation": "h", "x": 0, "y": -0.3 if n > 8 else -0.18},
        "xaxis": {**axis, "anchor": "y", "showticklabels": False},
        "yaxis": {"domain": [0.58, 0.98], "anchor": "x", "zeroline": True, "zerolinecolor": "#888",
                  "gridcolor": "#eee"},
        "xaxis2": {**axis, "anchor": "y2", "matches": "x", "title": {"text": "key"}},
        "yaxis2": {"domain": [0, 0.42], "anchor": "x2", "range": [0, 1.05], "gridcolor": "#eee"}})


# --------------------------------------------------------------------------- embeddings

def _depth(resp: schemas.EmbeddingsResponse, depth: int | str) -> schemas.SimilarityLayer:
    if isinstance(depth, str):
        if depth == resp.onehot.label:
            return resp.onehot
        for level in resp.layers:
            if level.label == depth:
                return level
        labels = [resp.onehot.label] + [level.label for level in resp.layers]
        raise ValueError(f"depth {depth!r} does not exist; the depths are: {', '.join(labels)}")
    count = len(resp.layers)
    if not -count <= depth < count:
        raise ValueError(f"depth {depth} does not exist: there are {count} depths, 0 to {count - 1} "
                         f"({', '.join(level.label for level in resp.layers)})")
    return resp.layers[depth]


def embedding_similarity(resp: schemas.EmbeddingsResponse, depth: int | str = -1,
                         measure: str = "cosine") -> go.Figure:
    """Token x token similarity at one depth: an index into `layers` (0: the token embedding, -1: after the
    last block), a depth label (e.g. "after block 2"), or "one-hot"; `measure`: "cosine" or "dot"."""
    if measure not in ("cosine", "dot"):
        raise ValueError(f"measure must be 'cosine' or 'dot', not {measure!r}")
    level = _depth(resp, depth)
    z = level.cosine if measure == "cosine" else level.dot
    lim = 1.0 if measure == "cosine" else _abs_max(z)
    tokens = resp.tokens
    n = len(tokens)
    trace = _token_heatmap(z, tokens, label=measure, colorscale=DIVERGING, zmin=-lim, zmax=lim, zmid=0,
                           cell_text=n <= 12)
    return _figure([trace], {
        "title": _title(f"Token similarity ({measure}) · {esc(level.label)} · {esc(resp.model)}"
                        f"{_interventions_note(resp.interventions)}"),
        "height": square_height(n, hi=900, per=14 if n > 40 else 30),
        "xaxis": token_axis(tokens, side="bottom", tickangle=-45 if n > 8 else 0),
        "yaxis": token_axis(tokens, autorange=False, range=[n - 0.5, -0.5])})


# --------------------------------------------------------------------------- predictions

def predictions_bars(resp: schemas.PredictResponse | schemas.AnalyzeResponse, *, k: int | None = None) -> go.Figure:
    """The top next tokens after the last position, most likely at the top (from /api/predict or /api/analyze)."""
    preds = resp.predictions
    if preds is None:
        raise ValueError(getattr(resp, "predictions_unavailable", None) or "this answer has no predictions")
    preds = list(preds[:k] if k else preds)
    m = len(preds)
    last = resp.tokens[-1].display if resp.tokens else ""
    temperature = getattr(resp, "temperature", 1.0)
    top = max((p.prob for p in preds), default=1.0)
    return _figure([{
        "type": "bar", "x": [p.prob for p in preds], "y": list(range(m)), "orientation": "h",
        "marker": {"color": BAR}, "text": [f"{p.prob:.3f}" for p in preds], "textposition": "outside",
        "cliponaxis": False, "hovertext": [f"{esc(p.display)} (id {p.id})<br>probability {p.prob}" for p in preds],
        "hovertemplate": "%{hovertext}<extra></extra>"}], {
        "title": _title(f"Next token after “{esc(last)}” · {esc(resp.model)} · temperature {temperature:g}"
                        f"{_interventions_note(resp.interventions)}"),
        "height": max(260, 28 * m + 110),
        "xaxis": {"title": {"text": "probability"}, "range": [0, min(1.0, top * 1.2 + 0.02)], "gridcolor": "#eee",
                  "zeroline": False},
        "yaxis": {"tickmode": "array", "tickvals": list(range(m)), "ticktext": [esc(p.display) for p in preds],
                  "autorange": False, "range": [m - 0.5, -0.5], "automargin": True, "showgrid": False}})


# --------------------------------------------------------------------------- positional

def positional_heatmap(resp: schemas.PositionalResponse) -> go.Figure:
    """The encoding added to each position's token embedding: position (rows) x dimension (columns)."""
    z = resp.encoding
    lim = _abs_max(z)
    n = len(z)
    dims = len(z[0]) if z else 0
    return _figure([{
        "type": "heatmap", "z": z, "x": list(range(dims)), "y": list(range(n)), "colorscale": DIVERGING,
        "zmin": -lim, "zmax": lim, "zmid": 0, "colorbar": _colorbar("value"),
        "hovertemplate": "position %{y}<br>dimension %{x}<br>value %{z}<extra></extra>"}], {
        "title": _title(f"Positional encoding ({esc(resp.positional)}) · {esc(resp.model)} · "
                        f"{n} positions × {resp.d_model} dimensions"),
        "height": max(300, min(700, 12 * n + 140)),
        "xaxis": {"title": {"text": "dimension"}, "showgrid": False, "zeroline": False},
        "yaxis": {"title": {"text": "position"}, "autorange": "reversed", "showgrid": False, "zeroline": False}})


def positional_similarity(resp: schemas.PositionalResponse) -> go.Figure:
    """Cosine similarity of the encodings of every pair of positions."""
    n = len(resp.similarity)
    return _figure([{
        "type": "heatmap", "z": resp.similarity, "x": list(range(n)), "y": list(range(n)), "colorscale": DIVERGING,
        "zmin": -1, "zmax": 1, "zmid": 0, "colorbar": _colorbar("cosine"),
        "hovertemplate": "position %{y} · position %{x}<br>cosine %{z}<extra></extra>"}], {
        "title": _title(f"Position-to-position similarity ({esc(resp.positional)}) · {esc(resp.model)}"),
        "height": square_height(n, hi=640, per=12 if n > 30 else 24),
        "xaxis": {"title": {"text": "position"}, "showgrid": False, "zeroline": False},
        "yaxis": {"title": {"text": "position"}, "autorange": "reversed", "showgrid": False, "zeroline": False}})


# --------------------------------------------------------------------------- why this next word

def _target_text(resp: schemas.Explained) -> str:
    return f"“{esc(resp.token.display)}” after {token_label(resp.tokens, resp.position)}"


def lens_table(resp: schemas.LensResponse) -> go.Figure:
    """The logit lens as a table: rows the depths (the embeddings, then each block), columns after attention and
    after the MLP; the colour is the probability of the explained token, the text the reading's top token."""
    labels = ["embeddings"] + [f"block {c[0].layer}" for c in resp.cells]
    columns = ["after attention", "after MLP"]

    def hover(c: schemas.LensCell) -> str:
        tops = "<br>".join(f"{esc(p.display)}: {p.prob:.4f}" for p in c.top)
        return (f"{esc(c.hook)}<br>“{esc(resp.token.display)}”: probability {c.prob:.4f}, rank {c.rank}"
                f"<br><br>top tokens here:<br>{tops}")

    def cells(rows: list[list[schemas.LensCell]], x: list[float], y: list[float], **more) -> dict:
        return {"type": "heatmap", "z": [[c.prob for c in row] for row in rows], "x": x, "y": y,
                "text": [[esc(c.top[0].display) for c in row] for row in rows], "texttemplate": "%{text}",
                "textfont": {"size": 11}, "customdata": [[hover(c) for c in row] for row in rows],
                "hovertemplate": "%{customdata}<extra></extra>", "colorscale": WEIGHT_SCALE, "zmin": 0, "zmax": 1,
                "xgap": 2, "ygap": 2, **more}

    n = 1 + len(resp.cells)
    note = textwrap.wrap(resp.note, NOTE_CHARS)  # (plotly does not wrap an annotation: a long line runs off the plot)
    # each block's two readings; the embeddings' one, before any block, a cell across both columns (x and y its edges)
    return _figure([cells(resp.cells, [0, 1], list(range(1, n)), colorbar=_colorbar(f"p({resp.token.display})")),
                    cells([[resp.embedding]], [-0.5, 1.5], [-0.5, 0.5], showscale=False)], {
        "title": _title(f"Logit lens · {esc(resp.model)} · {_target_text(resp)}{_interventions_note(resp.interventions)}",
                        above=24),  # (the columns' names: the x axis's ticks, on top)
        "height": max(300, 34 * n + 136 + 14 * len(note)), "plot_bgcolor": "#ffffff",
        "xaxis": {"tickmode": "array", "tickvals": [0, 1], "ticktext": columns, "side": "top", "showgrid": False,
                  "zeroline": False, "range": [-0.5, 1.5]},
        "yaxis": {"tickmode": "array", "tickvals": list(range(n)), "ticktext": labels, "autorange": False,
                  "range": [n - 0.5, -0.5], "showgrid": False, "zeroline": False, "automargin": True},
        "annotations": [{"text": "<br>".join(esc(line) for line in note), "x": 0, "y": -0.02, "xref": "paper",
                         "yref": "paper", "xanchor": "left", "yanchor": "top", "showarrow": False,
                         "font": {"size": 10, "color": "#666"}, "align": "left"}],
        "margin": {"l": 90, "r": 20, "t": 90, "b": 26 + 14 * len(note)}})


def attribution_heads(resp: schemas.LogitAttributionResponse) -> go.Figure:
    """Direct logit attribution of every head, layer (rows) x head (columns), red against and blue for."""
    z = resp.heads
    n_layers, n_heads = len(z), len(z[0]) if z else 0
    lim = _abs_max(z)
    # a head the run ablated adds exactly 0 (its output is set to 0): marked "off", not 0.00 like a head that adds
    # about nothing (as the page's Attribution view)
    off = {(l, h) for l, h in resp.interventions.ablate}
    numbers = n_layers * n_heads <= 64
    text = [["off" if (l, h) in off else f"{v:.2f}" if numbers else "" for h, v in enumerate(row)]
            for l, row in enumerate(z)]
    # the target (token text) goes in as data, never into the template, where %{...} would be read
    hover = [[f"layer {l} · head {h}<br>" + ("ablated in this run: its output is 0, so it adds 0" if (l, h) in off
                                              else f"adds {v} to {esc(resp.target)}") for h, v in enumerate(row)]
             for l, row in enumerate(z)]
    return _figure([{
        "type": "heatmap", "z": z, "x": list(range(n_heads)), "y": list(range(n_layers)), "colorscale": DIVERGING,
        "zmin": -lim, "zmax": lim, "zmid": 0, "xgap": 1, "ygap": 1, "colorbar": _colorbar("adds to the logit"),
        "customdata": hover, "hovertemplate": "%{customdata}<extra></extra>",
        "text": text, "texttemplate": "%{text}", "textfont": {"size": 10}}], {
        "title": _title(f"What each head adds to {esc(resp.target)} · {esc(resp.model)} · after "
                        f"{token_label(resp.tokens, resp.position)}{_interventions_note(resp.interventions)}"),
        "height": max(300, min(900, 26 * n_layers + 150)),
        "xaxis": {"title": {"text": "head"}, "dtick": 1, "showgrid": False, "zeroline": False},
        "yaxis": {"title": {"text": "layer"}, "dtick": 1, "autorange": "reversed", "showgrid": False,
                  "zeroline": False}})


def attribution_parts(resp: schemas.LogitAttributionResponse) -> go.Figure:
    """Everything but the heads (embeddings, MLPs, biases) as bars, plus the heads' total, and the logit."""
    labels = [p.label for p in resp.parts] + ["all heads together"]
    values = [p.value for p in resp.parts] + [resp.heads_total]
    m = len(values)
    return _figure([{
        "type": "bar", "x": values, "y": list(range(m)), "orientation": "h",
        "marker": {"color": [DIVERGING[-1][1] if v >= 0 else DIVERGING[0][1] for v in values]},
        "hovertext": [f"{esc(l)}: adds {v}" for l, v in zip(labels, values, strict=True)],
        "hovertemplate": "%{hovertext}<extra></extra>"}], {
        "title": _title(f"{esc(resp.target)} = {resp.logit:.4f}, part by part · {esc(resp.model)}"
                        f"{_interventions_note(resp.interventions)}"),
        "height": max(260, 22 * m + 130),
        "xaxis": {"title": {"text": "adds to the logit"}, "zeroline": True, "zerolinecolor": "#888", "gridcolor": "#eee"},
        "yaxis": {"tickmode": "array", "tickvals": list(range(m)), "ticktext": [esc(l) for l in labels],
                  "autorange": False, "range": [m - 0.5, -0.5], "automargin": True, "showgrid": False}})


def attention_attribution(resp: schemas.AttentionAttributionResponse) -> go.Figure:
    """Side by side, query x key: the head's weights, what the head moves (‖α v W_O‖), and rollout through
    every layer. Each panel has its own colour scale (the three are in different units)."""
    tokens = resp.tokens
    n = len(tokens)
    panels = [("attention weight", resp.raw), ("‖α v W_O‖", resp.value_weighted),
              (f"rollout (residual {resp.residual:g})", resp.rollout)]
    gap = 0.05
    w = (1 - 2 * gap) / 3
    data, layout = [], {"annotations": []}
    for k, (label, z) in enumerate(panels, start=1):
        s = _axis_suffix(k)
        x0 = (k - 1) * (w + gap)
        top = _abs_max(z)
        visible = [i + 1 for i in range(n)] if resp.causal else None  # a query sees itself and the keys before it
        data.append({**_token_heatmap(z, tokens, visible=visible, label=label, zmin=0, zmax=top),
                     "xaxis": f"x{s}", "yaxis": f"y{s}", "showscale": False})
        layout[f"xaxis{s}"] = token_axis(tokens, domain=[x0, x0 + w], anchor=f"y{s}", tickangle=-90,
                                         showticklabels=n <= 30)
        layout[f"yaxis{s}"] = token_axis(tokens, domain=[0, 1], anchor=f"x{s}", autorange=False, range=[n - 0.5, -0.5],
                                         showticklabels=k == 1 and n <= 30)
        layout["annotations"].append({"text": esc(label), "x": x0 + w / 2, "y": 1.0, "xref": "paper", "yref": "paper",
                                      "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 12}})
    layout.update(title=_title(f"Attention beside what it moves · {esc(resp.model)} · layer {resp.layer} · head "
                               f"{resp.head}{_interventions_note(resp.interventions)}", above=20),
                  height=square_height(n, lo=320, hi=560, per=14) + 40, plot_bgcolor=MASKED_COLOR,
                  margin={"l": 70, "r": 20, "t": 80, "b": 70})
    return _figure(data, layout)


def ablation_effects(resp: schemas.AblationResponse) -> go.Figure:
    """The measured change in the token's probability when each head is ablated: layer (rows) x head."""
    z = [[e.delta_prob for e in row] for row in resp.effects]
    lim = _abs_max(z)
    hover = [[f"layer {e.layer} · head {e.head}<br>p({esc(resp.token.display)}) {e.prob} ({e.delta_prob:+.4f})"
              + ("<br>(already ablated)" if e.already_ablated else "") for e in row] for row in resp.effects]
    return _figure([{
        "type": "heatmap", "z": z, "x": list(range(resp.n_heads)), "y": list(range(len(z))), "colorscale": DIVERGING,
        "zmin": -lim, "zmax": lim, "zmid": 0, "xgap": 1, "ygap": 1, "text": hover,
        "hovertemplate": "%{text}<extra></extra>", "colorbar": _colorbar("change in probability")}], {
        "title": _title(f"Ablating each head: change in p({esc(resp.token.display)}) · {esc(resp.model)}"
                        f"{_interventions_note(resp.interventions)}"),
        "height": max(280, min(900, 26 * len(z) + 150)),
        "xaxis": {"title": {"text": "head"}, "dtick": 1, "showgrid": False, "zeroline": False},
        "yaxis": {"title": {"text": "layer"}, "tickmode": "array", "tickvals": list(range(len(z))),
                  "ticktext": [str(l) for l in resp.layers], "autorange": "reversed", "showgrid": False,
                  "zeroline": False}})


# --------------------------------------------------------------------------- head roles

ROLE_SCALE = [[0, "#ffffff"], [0.4, "#c6dbef"], [1, "#08306b"]]  # 0.4: the least score a label can have


def _role_hover(head: schemas.HeadRoles, queries: dict[str, int]) -> str:
    lines = [f"layer {head.layer} · head {head.head}" + (f" · <b>{esc(head.label_text)}</b>" if head.label_text else "")]
    for role, value in head.scores.items():
        shown = "–" if value is None else f"{value:.4f}"
        extra = f" at offset {head.offset}" if role == "fixed-offset" and head.offset is not None else ""
        n = queries.get(role, 0)
        lines.append(f"{esc(role)}: {shown}{extra} ({n} {'query' if n == 1 else 'queries'})")
    return "<br>".join(lines)


def _role_trace(resp: schemas.RolesResponse, role: str | None, **extra) -> dict:
    """A layer (rows) x head (columns) heatmap: the role's score (None: each head's label's score, blank where
    unlabelled), with the label written in each labelled cell."""
    heads = resp.roles.heads
    if role is None:
        z = [[h.scores[h.label] if h.label else None for h in row] for row in heads]
    else:
        z = [[h.scores[role] for h in row] for row in heads]
    text = [[esc(h.label_text or "") for h in row] for row in heads]
    hover = [[_role_hover(h, resp.roles.queries) for h in row] for row in heads]
    trace = {"type": "heatmap", "z": z, "x": list(range(resp.n_heads)), "y": list(range(resp.n_layers)), "text": text,
             "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>", "texttemplate": "%{text}",
             "textfont": {"size": 9 if resp.n_heads > 6 else 11}, "hoverongaps": False, "xgap": 2, "ygap": 2,
             "colorscale": ROLE_SCALE, "zmin": 0, "zmax": 1}
    trace.update(extra)
    return trace


def _source(resp: schemas.RolesResponse) -> str:
    if resp.probe is not None:
        return f"induction probe (seed {resp.probe.seed}, {resp.probe.length} tokens twice)"
    return f"{len(resp.tokens)} tokens"


def role_grid(resp: schemas.RolesResponse, role: str | None = None) -> go.Figure:
    """Every head's role, layer (rows) x head (columns), from /api/roles: each labelled head's label ("prev 0.92")
    coloured by its score; with `role`, that role's score for every head (the labels still written). The hover
    lists every score with how many queries it counts."""
    if role is not None and role not in resp.roles.roles:
        raise ValueError(f"role must be one of {', '.join(resp.roles.roles)}, not {role!r}")
    what = "labels" if role is None else esc(role)
    return _figure([_role_trace(resp, role, colorbar=_colorbar("score"))], {
        "title": _title(f"Head roles ({what}) · {esc(resp.model)} · {_source(resp)}{_interventions_note(resp.interventions)}"),
        "height": max(260, min(900, 26 * resp.n_layers + 140)),
        "xaxis": {"title": {"text": "head"}, "tickmode": "array", "tickvals": list(range(resp.n_heads)),
                  "showgrid": False, "zeroline": False},
        "yaxis": {"title": {"text": "layer"}, "tickmode": "array", "tickvals": list(range(resp.n_layers)),
                  "autorange": "reversed", "showgrid": False, "zeroline": False}})


def role_models(resp: schemas.RolesModelsResponse, role: str) -> go.Figure:
    """One role's score for every head of several models side by side (from /api/roles/models), one colour
    scale 0..1, each head's label written in its cell."""
    results = resp.results
    if not results:
        raise ValueError("no models in this answer")
    if role not in results[0].roles.roles:
        raise ValueError(f"role must be one of {', '.join(results[0].roles.roles)}, not {role!r}")
    k = len(results)
    gap = 0.04
    w = (1 - gap * (k - 1)) / k
    data, layout = [], {"annotations": []}
    for i, r in enumerate(results):
        s = _axis_suffix(i + 1)
        x0 = i * (w + gap)
        data.append(_role_trace(r, role, xaxis=f"x{s}", yaxis=f"y{s}", coloraxis="coloraxis"))
        layout[f"xaxis{s}"] = {"domain": [x0, min(1.0, x0 + w)], "anchor": f"y{s}", "tickmode": "array",
                               "tickvals": list(range(r.n_heads)), "showgrid": False, "zeroline": False,
                               "title": {"text": "head"}}
        layout[f"yaxis{s}"] = {"anchor": f"x{s}", "tickmode": "array", "tickvals": list(range(r.n_layers)),
                               "autorange": "reversed", "showgrid": False, "zeroline": False,
                               "showticklabels": i == 0, "title": {"text": "layer" if i == 0 else ""}}
        tokens = f" · {len(r.tokens)} tokens" if len({_source(x) for x in results}) > 1 else ""  # (each its own)
        layout["annotations"].append({"text": f"{esc(r.model)} ({esc(r.positional)}){tokens}", "x": x0 + w / 2, "y": 1.0,
                                      "xref": "paper", "yref": "paper", "xanchor": "center", "yanchor": "bottom",
                                      "showarrow": False, "font": {"size": 11}})
    layout.update(
        title=_title(f"{esc(role)} across models · " + (_source(results[0]) if len({_source(r) for r in results}) == 1
                                                         else "the same text, in each model's own tokens"), above=18),
        height=max(280, min(900, 40 * max(r.n_layers for r in results) + 160)), margin={"l": 70, "r": 20, "t": 80, "b": 60},
        coloraxis={"colorscale": ROLE_SCALE, "cmin": 0, "cmax": 1,
                   "colorbar": {"thickness": 12, "len": 0.8, "outlinewidth": 0, "title": {"text": "score"}}})
    return _figure(data, layout)
