// The page's vocabulary, as the server defines it (backend/vocabulary.py, sent by GET /api/meta): the views (the
// tabs), the parts of a view a model can lack, the position modes, the syntax of ablated heads, the limits and the
// families of models that differ only in their positional scheme. Nothing here is a copy: until the answer is in,
// the lists are empty. Pure: no DOM, no fetch (main.js asks the data layer for /api/meta and hands it to setVocabulary).

export const vocab = {
  views: [], // [{id, title, description, kinds, layer_head}]
  parts: [], // [{id: "positional.encoding", title}]
  positions: [], // [{id, title}]
  kinds: [],
  ablate: null, // {description, pair, separators, none, max, examples}
  limits: {}, // {max_text_chars, max_top_k, max_temperature, max_continue_tokens, max_positions_n, max_neighbors, max_ablate}
  families: [], // [{id, title, description, models: [name, ...]}]
  default_model: "",
};

let pairRe = null;
let sepRe = null;

/** Take the server's vocabulary (the answer of GET /api/meta). */
export function setVocabulary(meta) {
  for (const key of Object.keys(vocab)) if (key in meta) vocab[key] = meta[key];
  // the same regular expressions as the Python parser (written so that both languages read them alike)
  pairRe = new RegExp(`^(?:${meta.ablate.pair})$`);
  sepRe = new RegExp(meta.ablate.separators);
}

export const ready = () => pairRe !== null;
export const viewIds = () => vocab.views.map((v) => v.id);
export const positionIds = () => vocab.positions.map((p) => p.id);
export const viewInfo = (id) => vocab.views.find((v) => v.id === id) || null;

/** The family (models that differ only in their positional scheme) that holds `name`, else the first one, else null. */
export function familyOf(name) {
  return vocab.families.find((f) => f.models.includes(name)) || vocab.families[0] || null;
}

/**
 * Why a view or a part of one (an id of vocab.views or vocab.parts) does not apply to `model` (a /api/models
 * entry), or "" when it does.
 */
export function unavailable(model, id) {
  if (!model) return "";
  const why = (model.unavailable_views || {})[id];
  if (why) return why;
  const info = viewInfo(id);
  if (info && !info.kinds.includes(model.kind)) return `This view does not apply to a ${model.kind} model.`;
  return "";
}

// ---------------------------------------------------------------------------------------------- ablated heads

const SPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g; // only these: as the Python side strips

/**
 * "1.2,0.3" -> [[0, 3], [1, 2]] (sorted, each pair once): the page's one reader of ablated heads (the URL, a
 * lesson placeholder's `ablate=1.2+0.3`). Throws an Error naming the part it cannot read. Same rules as
 * backend/vocabulary.py parse_ablate (tests/frontend/test_vocabulary.py runs both on the same strings).
 */
export function parseAblate(value) {
  if (!pairRe) throw new Error("the vocabulary is not loaded yet");
  const text = String(value ?? "").replace(SPACE, "");
  if (!text || text.toLowerCase() === vocab.ablate.none) return [];
  const seen = new Map();
  for (const part of text.split(sepRe)) {
    if (!part) continue;
    const m = pairRe.exec(part);
    if (!m) throw new Error(`ablate: “${part.slice(0, 40)}” is not layer.head (e.g. 1.2); give heads as 1.2,0.3`);
    seen.set(`${+m[1]}.${+m[2]}`, [+m[1], +m[2]]);
    if (seen.size > vocab.ablate.max) throw new Error(`ablate lists more than ${vocab.ablate.max} heads`);
  }
  return [...seen.values()].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

/** [[1, 2], [0, 3]] -> "0.3,1.2" (the URL's form). */
export function formatAblate(pairs) {
  const unique = new Map(pairs.map(([l, h]) => [`${l}.${h}`, [l, h]]));
  return [...unique.values()].sort((x, y) => x[0] - y[0] || x[1] - y[1]).map(([l, h]) => `${l}.${h}`).join(",");
}
