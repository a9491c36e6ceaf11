// The model as one picture: the parts of a model's forward pass, in order, from its /api/models entry (sizes,
// norm and where it sits, positional scheme, unembedding). Pure: no DOM, no fetch; views/model.js draws it and the
// tests check it for each kind of model. Each part names the view that shows its numbers (`view`).
//
// modelPicture(model, n, interventions, layer) -> {sizes: [[label, value]], input: [part], block: [part], output: [part],
// notes: [string]}; part: {id, label, shape, view, note?, kind: "box" | "add" | "norm" | "position"}; `n` is the number
// of tokens, `interventions` the run's (an answer's: positions removed or shuffled, scaling off, heads ablated), drawn
// where they act; `layer`: the block drawn (its own ablated heads are named), or null.

const ADDED = ["sinusoidal", "learned"]; // schemes whose vector is added to the token embedding

const dims = (...xs) => `[${xs.join(" × ")}]`;

/** The words a position part adds for the run's positions: nothing as trained, else what the run did to them. */
function positionsWord(positions, removed, shuffled) {
  if (positions === "removed") return removed;
  if (positions === "shuffled") return shuffled;
  return "";
}

export function modelPicture(model, n = "n", interventions = null, layer = null) {
  const m = model;
  const iv = interventions || {};
  const positions = iv.positions || "normal";
  const scaled = iv.scale !== false;
  // the block drawn is `layer`'s: its own ablated heads (every block's where no layer is given)
  const off = (iv.ablate || []).filter(([l]) => layer === null || l === layer).map(([, h]) => h).sort((a, b) => a - b);
  const ablated = off.length;
  const gqa = m.n_kv_heads !== m.n_heads;
  const pre = m.norm_placement !== "post";
  const norm = m.norm === "rmsnorm" ? "RMSNorm" : "LayerNorm";
  const sizes = [
    ["layers", m.n_layers],
    ["heads", m.n_heads],
    ...(gqa ? [["K/V heads", m.n_kv_heads]] : []),
    ["d_model", m.d_model],
    ["d_head", m.d_head],
    ["d_mlp", m.d_mlp],
    ["vocabulary", m.vocab_size],
  ];
  const notes = [];

  // the pass multiplies the token embedding by embed_scale before the position is added (the tiny models: √d_model)
  const scaleBy = m.embed_scale && m.embed_scale !== 1 ? embedScale(m.embed_scale, m.d_model) : null;
  const input = [
    { id: "tokens", kind: "box", label: "tokens", shape: n === 1 ? "1 id" : `${n} ids`, view: "embeddings", note: "the sentence as token ids" },
    { id: "embed", kind: "box", label: `token embedding W_E${scaleBy ? ` × ${scaleBy.label}` : ""}`, shape: dims(n, m.d_model), view: "embeddings",
      note: `one row of W_E ${dims(m.vocab_size, m.d_model)} per token` + (scaleBy ? `, multiplied by ${scaleBy.words}` : "") },
  ];
  if (ADDED.includes(m.positional)) {
    input.push({ id: "pos", kind: "position", shape: dims(n, m.d_model), view: "positional",
      label: `+ ${m.positional} position` + positionsWord(positions, ": removed in this run", " (shuffled in this run)"),
      note: positionsWord(positions, "this run adds no position vector: the tokens carry no position",
        "each token gets the vector of another position (the run's permutation)") || "a vector per position, added to the embedding: it reaches Q, K and V" });
  }
  if (m.token_types) {
    input.push({ id: "token_type", kind: "box", label: "+ token-type embedding", shape: dims(n, m.d_model), view: "embeddings",
      note: `one of ${m.token_types} vectors per segment of the input (BERT's sentence A / B), added to every token: here all are type 0` });
  }
  if (m.embed_norm ?? m.norm_placement === "post") {
    // BERT: the embeddings are normalised before the first block
    input.push({ id: "embed_norm", kind: "norm", label: norm, shape: dims(n, m.d_model), view: "embeddings" });
  }

  // the block drawn's ablated heads on the box itself (a tooltip alone left "4 heads" on a block with two off)
  const offWords = ablated && layer !== null ? `head${ablated > 1 ? "s" : ""} ${off.join(", ")} ablated in this run` : "";
  const within = [...(gqa ? [`${m.n_kv_heads} K/V heads shared`] : []), ...(offWords ? [offWords] : [])];
  const headsLabel = `${m.n_heads} heads${within.length ? ` (${within.join("; ")})` : ""}`;
  const attn = [
    { id: "qkv", kind: "box", label: "Q, K, V per head", shape: `q ${dims(n, m.n_heads, m.d_head)} · k, v ${dims(n, m.n_kv_heads, m.d_head)}`,
      view: "qkv", note: gqa ? `each K/V head serves ${m.n_heads / m.n_kv_heads} query heads` : "x·W_Q, x·W_K, x·W_V (linear)" },
  ];
  if (m.positional === "rotary") {
    attn.push({ id: "rotary", kind: "position", shape: "angle grows with the position", view: "positional",
      label: "rotate q and k by position" + positionsWord(positions, ": not in this run (positions removed)", " (shuffled positions in this run)"),
      note: "rotary: the only place position enters" });
  }
  const scale = scaled ? `÷ √${m.d_head}` : "(not divided: scaling off in this run)";
  const causal = m.kind === "causal";
  const mask = causal ? "causal mask: a token sees itself and earlier ones" : "every token sees every token";
  if (m.positional === "alibi") {
    // the bias is added to the scaled scores, before the softmax
    attn.push({ id: "scores", kind: "box", label: `q·k ${scale}`, shape: `scores ${dims(m.n_heads, n, n)}`, view: "arithmetic", note: mask });
    attn.push({ id: "alibi", kind: "position", shape: "per head", view: "positional",
      label: "− slope × distance on the scores" + positionsWord(positions, ": 0 in this run (positions removed)", " (distances between shuffled positions)"),
      note: "ALiBi: the only place position enters" });
    attn.push({ id: "softmax", kind: "box", label: causal ? "causal mask, softmax" : "softmax", shape: `pattern ${dims(m.n_heads, n, n)}`, view: "arithmetic", note: "each row sums to 1" });
  } else {
    attn.push({ id: "scores", kind: "box", label: `q·k ${scale}, ${causal ? "causal mask, " : ""}softmax`, shape: `pattern ${dims(m.n_heads, n, n)}`, view: "arithmetic", note: mask });
  }
  attn.push({ id: "heads", kind: "box", label: headsLabel, shape: `z ${dims(n, m.n_heads, m.d_head)}`, view: "attention",
    note: "each head's weighted sum of values" + (ablated ? `; ${layer === null ? `${ablated}` : `head${ablated > 1 ? "s" : ""} ${off.join(", ")} of this block`} ablated in this run (${ablated > 1 ? "their outputs are" : "its output is"} 0)` : "") });
  attn.push({ id: "wo", kind: "box", label: "concatenate · W_O", shape: `${dims(m.n_heads * m.d_head, m.d_model)} → ${dims(n, m.d_model)}`,
    view: m.unembed ? "attribution" : "effects", note: m.unembed ? "what each head adds to the prediction, through W_O" : "what each head moves, through W_O" });

  const block = [];
  if (pre) block.push({ id: "norm1", kind: "norm", label: norm, shape: dims(n, m.d_model), view: "attention", note: "attention reads a normalised copy" });
  block.push(...attn);
  block.push({ id: "add1", kind: "add", label: "+ residual", shape: dims(n, m.d_model), view: m.unembed ? "lens" : "embeddings",
    note: m.unembed ? "the stream after attention (read by the lens)" : "the stream after attention" });
  if (!pre) block.push({ id: "norm1", kind: "norm", label: norm, shape: dims(n, m.d_model), view: "embeddings", note: "post-norm: the sum is normalised" });
  if (pre) block.push({ id: "norm2", kind: "norm", label: norm, shape: dims(n, m.d_model), view: m.unembed ? "lens" : "embeddings", note: "the MLP reads a normalised copy" });
  const act = m.mlp === "swiglu" ? "SwiGLU (gated)" : "GELU";
  block.push({ id: "mlp", kind: "box", label: `MLP: ${act}`, shape: `${dims(n, m.d_mlp)} → ${dims(n, m.d_model)}`, view: m.unembed ? "attribution" : "embeddings",
    note: `${m.d_model} → ${m.d_mlp} → ${m.d_model}, each token on its own` });
  block.push({ id: "add2", kind: "add", label: "+ residual", shape: dims(n, m.d_model), view: m.unembed ? "lens" : "embeddings",
    note: m.unembed ? "the stream after the MLP (read by the lens)" : "the stream after the MLP" });
  if (!pre) block.push({ id: "norm2", kind: "norm", label: norm, shape: dims(n, m.d_model), view: "embeddings", note: "post-norm: the sum is normalised" });

  const output = [];
  if (m.final_norm) output.push({ id: "final_norm", kind: "norm", label: `final ${norm}`, shape: dims(n, m.d_model), view: m.unembed ? "lens" : "embeddings" });
  if (m.unembed) {
    output.push({ id: "unembed", kind: "box", label: m.tied_embeddings ? "unembedding (W_E transposed)" : "unembedding W_U",
      shape: `${dims(m.d_model, m.vocab_size)} → logits ${dims(n, m.vocab_size)}`, view: "attribution", note: "a logit for every token of the vocabulary" });
    output.push({ id: "probs", kind: "box", label: "softmax: next-token probabilities", shape: dims(n, m.vocab_size), view: "predictions" });
  } else {
    output.push({ id: "vectors", kind: "box", label: "final vectors (no next-word head)", shape: dims(n, m.d_model), view: "embeddings",
      note: "an encoder: its vectors are used as they are (sentence embeddings), never turned into token probabilities" });
    notes.push("An encoder: no unembedding, so there is no next-word prediction, logit lens or logit attribution.");
  }
  if (m.positional === "none") notes.push("No positional encoding: only the causal mask tells a token what came before.");
  if (!pre) notes.push(`Post-norm: each sub-layer's output is added to the residual stream, then the sum is normalised (${norm}).`);
  return { sizes, input, block, output, notes };
}

/** How the picture names the token embedding's scale: √d_model as such (12.65 for 160), another factor as a number. */
function embedScale(scale, dModel) {
  const value = Number(scale.toFixed(2));
  if (Math.abs(scale - Math.sqrt(dModel)) < 1e-6) return { label: `√${dModel}`, words: `√${dModel} = ${value}` };
  return { label: `${value}`, words: `${value}` };
}

/** Every part of a picture in the order of the forward pass (the block once). */
export const partsOf = (pic) => [...pic.input, ...pic.block, ...pic.output];
