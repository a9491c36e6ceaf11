// Small answers shaped like the API's, for the unit tests of the data layer and the derived values.

/** An /api/analyze-like answer: n tokens (token 0 special when `bos`), causal or not, layers x heads of uniform rows. */
export function analysis({ n = 4, layers = 2, heads = 2, causal = true, bos = true, model = "tiny-sinusoidal", only = null } = {}) {
  const tokens = Array.from({ length: n }, (_, i) => ({ id: 100 + i, text: i === 0 && bos ? "<|bos|>" : `␣w${i}`, position: i, special: i === 0 && bos }));
  const visible = tokens.map((_, i) => (causal ? i + 1 : n));
  const row = (i) => tokens.map((_, j) => (j < visible[i] ? 1 / visible[i] : 0));
  const pattern = tokens.map((_, i) => row(i));
  const kept = only || [...Array(layers).keys()];
  return {
    model, tokens, n_layers: layers, n_heads: heads, causal, visible, layers: kept,
    attention: kept.map(() => Array.from({ length: heads }, () => pattern)),
    interventions: { positions: "normal", scale: true, ablate: [], seed: 0, permutation: null },
  };
}

export const MODELS = [
  { name: "tiny-sinusoidal", kind: "causal", n_layers: 4, n_heads: 4, positional: "sinusoidal", max_tokens: 128, available: true, unavailable_views: {} },
  { name: "tiny-nope", kind: "causal", n_layers: 4, n_heads: 4, positional: "none", max_tokens: 128, available: true,
    unavailable_views: { "positional.encoding": "no encoding", "positional.decompose": "no positions" } },
  { name: "big", kind: "bidirectional", n_layers: 6, n_heads: 12, positional: "learned", max_tokens: 128, available: true,
    unavailable_views: { predictions: "no next-word head" } },
];
export const byName = new Map(MODELS.map((m) => [m.name, m]));
