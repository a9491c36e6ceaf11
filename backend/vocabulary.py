"""The one vocabulary of the app: the views, the position modes, the ablate syntax, the model kinds and the
families of models, defined once here and sent to the page by GET /api/meta (the page builds its tabs, its
position menu and its URL parsing from that answer). The lessons parser, the report, the CLI and the schemas
read the same names from here.

    VIEWS          the page's views: id, title, which model kinds they apply to, whether they show one layer/head
    PARTS          parts of a view that may not apply to a model (ModelInfo.unavailable_views names views or parts)
    POSITIONS      positional information: normal | removed | shuffled
    parse_ablate   "1.2,0.3" -> [(1, 2), (0, 3)]: the one reader of ablated heads (URL, lessons, report, CLI)
    families       models that differ only in their positional scheme (the tiny models)
    count          "1 token", "4 tokens": a number with its noun (the refusals, the report)

The JavaScript side has one parser of its own (frontend/js/vocab.js); tests/frontend/test_vocabulary.py runs
both on the same strings and checks that they agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("causal", "bidirectional")
MAX_SHARE_VIEW = 4000  # the longest query string of the page GET /api/share takes (a longer one the page cuts: `cut`)


@dataclass(frozen=True)
class View:
    id: str
    title: str
    description: str
    kinds: tuple[str, ...] = KINDS  # the model kinds it applies to (a model may still lack it: unavailable_views)
    layer_head: bool = False  # it shows one layer and head: the layer and head menus and the arrow keys apply


VIEWS: tuple[View, ...] = (
    View("model", "Model", "the whole model as one picture, with its sizes: each part opens the view that shows its "
                           "numbers"),
    View("attention", "Attention", "the selected head as a query x key heatmap, links, every layer x head, a summary "
                                   "per head", layer_head=True),
    View("arithmetic", "Arithmetic", "one query of one head step by step: q·k, ÷√d_head, mask, softmax, weighted "
                                     "values", layer_head=True),
    View("qkv", "Q / K / V", "the queries, keys, values and output of the selected head", layer_head=True),
    View("embeddings", "Embeddings", "one-hot vs dense, token similarity at every depth, nearest words, a − b + c"),
    View("positional", "Positional", "the encoding, positions removed or shuffled, the four-term split of the "
                                     "scores, the same sentence through each positional scheme", layer_head=True),
    View("poslab", "Position lab", "loss past the trained length for each positional scheme, where each scheme "
                                    "enters the computation, how much each layer knows about position"),
    View("predictions", "Predictions", "the next token, the prediction at every position, a greedy continuation",
         kinds=("causal",)),
    View("compare", "Compare", "two sentences, two models or two interventions side by side, with the attention "
                               "difference and both predictions", layer_head=True),
    View("lens", "Logit lens", "the prediction read from the residual stream after the attention and after the MLP "
                               "of every block, and the probability of a chosen token at each depth",
         kinds=("causal",)),
    View("attribution", "Attribution", "what each head (through W_O), each MLP, the embeddings and the biases add to "
                                       "a token's logit, adding up to it", kinds=("causal",)),
    View("effects", "Beyond attention", "raw attention beside what it moves (‖α·v·W_O‖), attention rollout and the "
                                        "measured effect of ablating each head", layer_head=True),
    View("lab", "Training lab", "train a small transformer on a task, live: the loss, a head's attention, every "
                                "head's role scores and the model's answer over the steps"),
    View("heads", "Heads", "what each head does: role scores with their definitions, a head finder sorted by any "
                           "role, the induction probe, and the same roles across the tiny models", layer_head=True),
)
VIEW_IDS: tuple[str, ...] = tuple(v.id for v in VIEWS)


@dataclass(frozen=True)
class Part:
    id: str  # "<view>.<part>", or an API family of its own ("lens")
    title: str


# parts of a view that a model can lack while the rest of the view still applies
PARTS: tuple[Part, ...] = (
    Part("positional.encoding", "the positional encoding itself"),
    Part("positional.decompose", "each score split into content and position terms"),
    # why this next word (POST /api/attribution/...): read through the unembedding, so a model without one lacks them
    Part("lens", "the logit lens"),
    Part("logit_attribution", "direct logit attribution and the measured effect of ablating a head"),
)
# what ModelInfo.unavailable_views may name
UNAVAILABLE_IDS: tuple[str, ...] = VIEW_IDS + tuple(p.id for p in PARTS)

POSITIONS: tuple[str, ...] = ("normal", "removed", "shuffled")
POSITION_TITLES = {"normal": "as trained", "removed": "positional information taken out",
                   "shuffled": "each token given another token's position (a fixed permutation, `seed`)"}

# ---------------------------------------------------------------------------------------------- ablated heads

# regular expressions that read the same in Python and in JavaScript (frontend/js/vocab.js builds its parser from them)
ABLATE_PAIR = r"([0-9]{1,4})\.([0-9]{1,4})"  # LAYER.HEAD
ABLATE_SEPARATORS = r"[ \t\r\n,+]+"  # a comma (the URL's form), or spaces, or + (inside a lesson placeholder)
ABLATE_NONE = "none"
ABLATE_MAX = 1000
ABLATE_SYNTAX = ("heads as LAYER.HEAD pairs, separated by commas: `1.2,0.3` (spaces or `+` separate them too, "
                 "as in a lesson placeholder `ablate=1.2+0.3`); empty or `none`: no head. Written back sorted, "
                 "each pair once, comma-separated.")
_PAIR_RE = re.compile(ABLATE_PAIR)
_SEP_RE = re.compile(ABLATE_SEPARATORS)


def parse_ablate(value: str | None) -> list[tuple[int, int]]:
    """"1.2,0.3" -> [(0, 3), (1, 2)]: sorted, each pair once. Raises ValueError naming the part it cannot read."""
    text = (value or "").strip(" \t\r\n")  # only these: JavaScript's trim() knows more spaces than Python's strip()
    if not text or text.lower() == ABLATE_NONE:
        return []
    pairs: set[tuple[int, int]] = set()
    for part in _SEP_RE.split(text):
        if not part:
            continue
        m = _PAIR_RE.fullmatch(part)
        if not m:
            raise ValueError(f"ablate: {part[:40]!r} is not layer.head (e.g. 1.2); give heads as 1.2,0.3")
        pairs.add((int(m.group(1)), int(m.group(2))))
        if len(pairs) > ABLATE_MAX:
            raise ValueError(f"ablate lists more than {ABLATE_MAX} heads")
    return sorted(pairs)


def format_ablate(pairs) -> str:
    """[(1, 2), (0, 3)] -> "0.3,1.2" (the URL's form)."""
    return ",".join(f"{l}.{h}" for l, h in sorted(set(map(tuple, pairs))))


# ---------------------------------------------------------------------------------------------- model families


def families(models) -> list[dict]:
    """Groups of models that are the same but for their positional scheme: same kind, sizes, vocabulary, context
    and training text, each with a different scheme (the tiny models). In the registry's order; a group needs
    two models at least. `models`: ModelInfo-like objects."""
    groups: dict[tuple, list] = {}
    for m in models:
        sig = (m.kind, m.n_layers, m.n_heads, m.n_kv_heads, m.d_model, m.d_head, m.vocab_size, m.max_tokens, m.source)
        groups.setdefault(sig, []).append(m)
    out = []
    for members in groups.values():
        schemes = [m.positional for m in members]
        if len(members) < 2 or len(set(schemes)) != len(schemes):
            continue
        first = members[0]
        out.append({
            "id": "positional-schemes" if not out else f"positional-schemes-{len(out) + 1}",
            "title": f"{len(members)} models that differ only in their positional scheme",
            "description": (f"{first.n_layers} layers × {first.n_heads} heads, d_model {first.d_model}, trained on the "
                            f"same text; schemes: {', '.join(schemes)}"),
            "models": [m.name for m in members],
        })
    return out


# ---------------------------------------------------------------------------------------------- GET /api/meta

ABLATE_EXAMPLES = ("1.2,0.3", "0.3, 1.2", "1.2+0.3", "1.2 0.3", "2.1,2.1", "none", "", "1:2", "1.2,x", "-1.0")


def meta(settings, models) -> dict:
    """The vocabulary as GET /api/meta sends it (schemas.Meta); `models`: the registry's ModelInfo list."""
    examples = []
    for text in ABLATE_EXAMPLES:
        try:
            examples.append({"text": text, "heads": parse_ablate(text), "error": None})
        except ValueError as e:
            examples.append({"text": text, "heads": None, "error": str(e)})
    return {
        "views": [{"id": v.id, "title": v.title, "description": v.description, "kinds": list(v.kinds),
                   "layer_head": v.layer_head} for v in VIEWS],
        "parts": [{"id": p.id, "title": p.title} for p in PARTS],
        "positions": [{"id": p, "title": POSITION_TITLES[p]} for p in POSITIONS],
        "kinds": list(KINDS),
        "ablate": {"description": ABLATE_SYNTAX, "pair": ABLATE_PAIR, "separators": ABLATE_SEPARATORS,
                   "none": ABLATE_NONE, "max": ABLATE_MAX, "examples": examples},
        "limits": {"max_text_chars": settings.max_text_chars, "max_top_k": settings.max_top_k,
                   "max_temperature": settings.max_temperature, "max_continue_tokens": settings.max_continue_tokens,
                   "max_positions_n": settings.max_positions_n, "max_neighbors": settings.max_neighbors,
                   "max_ablate": ABLATE_MAX, "max_share_view": MAX_SHARE_VIEW},
        "families": families(models),
        "default_model": settings.default_model,
    }


def count(n: int, noun: str) -> str:
    """“1 layer”, “4 layers”: n with its noun, plural but for 1 (the page's own is frontend/js/derive.js count)."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


if __name__ == "__main__":  # the vocabulary as GET /api/meta sends it (the JavaScript unit tests read it)
    import json

    from backend.settings import Settings
    from models import registry

    print(json.dumps(meta(Settings(), registry.list_models()), ensure_ascii=False))
