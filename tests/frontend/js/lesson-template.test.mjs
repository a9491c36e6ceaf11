// The lessons' template language (frontend/js/lesson-template.js): parsing placeholders, following their paths
// through an answer, formatting, a placeholder's overrides, and the predict-then-reveal choices.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { probText } from "../../../frontend/js/derive.js";
import * as T from "../../../frontend/js/lesson-template.js";
import { DEFAULTS } from "../../../frontend/js/state.js";
import { SOURCE_NAMES } from "../../../frontend/js/sources.js";
import { setVocabulary } from "../../../frontend/js/vocab.js";
import { serverMeta } from "./meta.mjs";

before(() => setVocabulary(serverMeta()));

const tokens = ["<|bos|>", "␣The", "␣cat", "␣sat", "␣on", "␣the", "␣cat"].map((text, i) => ({ id: i, text: text === "<|bos|>" ? "" : text.replace("␣", " "), display: text, special: i === 0 }));
const explain = { tokens, weights: [0.5, 0.05, 0.2, 0.1, 0.05, 0.05, 0.05], mask: [false, false, false, false, false, false, false], entropy: 1.2345 };
const analyze = { tokens, heads: [[{ head: 0, entropy: 2 }, { head: 1, entropy: 0.5 }, { head: 2, entropy: 1 }]] };
const ctx = { layer: 0, head: 1, token: 3, depth: null, tokens };
const at = (root, expr) => T.resolve(root, T.parse(expr).segments, ctx);

test("placeholders: shortcuts, sources, overrides, formats", () => {
  const p = T.parse(" top_key_weight | pct ");
  assert.deepEqual([p.source, p.segments, p.format], ["explain", ["weights", "$max"], "pct"]);
  const q = T.parse("explain(model=tiny-nope, ablate=1.3+0.2).weights.$max");
  assert.deepEqual(q.overrides, { model: "tiny-nope", ablate: "1.3+0.2" });
  assert.equal(q.spec, "explain(ablate=1.3+0.2,model=tiny-nope)");
  assert.throws(() => T.parse("nothing.here"), T.TemplateError);
  assert.throws(() => T.parse("explain(colour=red).weights"), /not an override/);
  assert.throws(() => T.parse("explain..weights"), /empty path step/);
  for (const s of T.SOURCES) assert.ok(SOURCE_NAMES.includes(s)); // the sources of the views, one table
  assert.deepEqual(T.scan("a {{x}} b {{ y | 2 }}").map((m) => m.raw), ["x", " y | 2 "]);
});

test("path steps: the largest, the second, the largest word, a word, an index by path", () => {
  assert.deepEqual(at(explain, "explain.weights.$max"), { value: 0.5, path: ["weights", 0] });
  assert.deepEqual(at(explain, "explain.weights.$2nd").path, ["weights", 2]);
  assert.deepEqual(at(explain, "explain.weights.$maxword").path, ["weights", 2]); // BOS left out
  // the keys the query cannot see (masked) are left out too: BOS as the query sees only itself, a special token
  const bos = { ...explain, weights: [1, 0, 0, 0, 0, 0, 0], mask: [false, true, true, true, true, true, true] };
  assert.throws(() => at(bos, "explain.weights.$maxword"), /no number to compare/);
  const second = { ...explain, weights: [0.7, 0.3, 0, 0, 0, 0, 0], mask: [false, false, true, true, true, true, true] };
  assert.deepEqual(at(second, "explain.weights.$maxword").path, ["weights", 1]);
  // $maxwordcount: how many of those keys have the largest number (a word repeated with no positions is one key:
  // tiny-nope's four " dog" got 0.0429 each, and lesson 4 named the first alone as the one read most)
  assert.equal(at(explain, "explain.weights.$maxwordcount").value, 1);
  const tied = { ...explain, weights: [0.5, 0.05, 0.2, 0.2, 0.05, 0.2, 0], mask: [false, false, false, false, false, false, true] };
  assert.deepEqual(at(tied, "explain.weights.$maxwordcount"), { value: 3, path: ["weights", "$maxwordcount"] });
  const hiddenTie = { ...tied, mask: [false, false, false, false, false, true, true] }; // a masked key does not count
  assert.equal(at(hiddenTie, "explain.weights.$maxwordcount").value, 2);
  assert.throws(() => at(bos, "explain.weights.$maxwordcount"), /no number to compare/);
  // $maxwordalike, $2ndword: how many of those keys read as the largest does with two decimals, and the next of them
  // (tiny-learned gave 0.1206 and 0.1151, both "0.12", and lesson 4 named the first alone); the BOS and a masked key
  // left out
  const near = { ...explain, weights: [0.3, 0.1206, 0.1151, 0.4, 0.1, 0, 0], mask: [false, false, false, true, false, true, true] };
  assert.deepEqual(at(near, "explain.weights.$maxwordalike"), { value: 2, path: ["weights", "$maxwordalike"] });
  assert.deepEqual(at(near, "explain.weights.$2ndword"), { value: 0.1151, path: ["weights", 2] });
  // $next, $nextword: the index of the largest number below the largest, past every key that ties for it (tiny-nope,
  // " dog cat dog cat", layer 0, head 1: the two " cat" keys get 0.0308 each, the two " dog" keys 0.0291, all "0.03";
  // $2nd is the other " cat", and lesson 4 named no key after the tie); the start token and a masked key left out of
  // $nextword's
  const dogs = { ...explain, weights: [0.8803, 0.0291, 0.0308, 0.0291, 0.0308, 0.9, 0], mask: [false, false, false, false, false, true, true] };
  assert.deepEqual(at(dogs, "explain.weights.$next"), { value: 0.8803, path: ["weights", 0] });
  assert.deepEqual(at(dogs, "explain.weights.$nextword"), { value: 0.0291, path: ["weights", 1] });
  assert.deepEqual(at(dogs, "explain.weights.$2ndword").path, ["weights", 4]);
  assert.deepEqual(at({ ...explain, weights: [0.1, 0.45, 0.4, 0.45, 0] }, "explain.weights.$next"), { value: 0.4, path: ["weights", 2] });
  assert.deepEqual(at(near, "explain.weights.$nextword"), at(near, "explain.weights.$2ndword")); // no tie: the same
  assert.throws(() => at({ ...explain, weights: [0.5, 0.5] }, "explain.weights.$next"), /no number to compare/);
  // $maxcount: how many numbers of the list are its largest, special tokens and all (lesson 5 named one of two alike)
  assert.equal(at(explain, "explain.weights.$maxcount").value, 1);
  assert.deepEqual(at({ ...explain, weights: [0.1, 0.45, 0, 0.45, 0] }, "explain.weights.$maxcount"), { value: 2, path: ["weights", "$maxcount"] });
  // $maxalike: how many read as the largest does with two decimals, it too (tiny-rotary gave 0.3033 and 0.3029, both
  // "0.30" in the heatmap's cells, and lesson 5 named the first alone); 0.125 reads "0.13", half up, as 0.13 does
  assert.deepEqual(at({ ...explain, weights: [0.3033, 0.3029, 0.2938, 0.1, 0] }, "explain.weights.$maxalike"), { value: 2, path: ["weights", "$maxalike"] });
  assert.equal(at({ ...explain, weights: [0.125, 0.13, 0.1249, 0.6] }, "explain.weights.$maxalike").value, 1);
  assert.equal(at({ ...explain, weights: [0.125, 0.13, 0.1249] }, "explain.weights.$maxalike").value, 2);
  assert.equal(at(explain, "top_word_key").value, "␣cat");
  assert.deepEqual(at(explain, "explain.tokens.#cat/2").path, ["tokens", 6]);
  assert.equal(at(explain, "explain.tokens.$token.display").value, "␣sat");
  assert.equal(at(explain, "explain.tokens.$prev.display").value, "␣cat");
  assert.equal(at(explain, "explain.weights.-1").value, 0.05);
  assert.deepEqual(at(analyze, "analyze.heads.$layer.$min(entropy).head"), { value: 1, path: ["heads", 0, 1, "head"] });
  assert.throws(() => at(explain, "explain.tokens.#dog"), /no token “dog”/);
  // over records: how many share the smallest (largest), how many read as it does with two decimals, the next one
  // (lesson 7 named head 2 at "1.18" as the most focused where head 3 read 1.18 too: 1.1775 and 1.1829). 0.125 is
  // "0.13" as the page writes it (toFixed, Plotly's .2f: half up), as 0.1251 and 0.13; a head with no entropy counts
  // for nothing (backend/lesson_steps.py resolve_path: the same answers)
  const close = { tokens, heads: [[0.1251, 0.9, 0.125, null, 0.13, 0.9].map((entropy, head) => ({ head, entropy }))] };
  assert.deepEqual(at(close, "analyze.heads.$layer.$mincount(entropy)"), { value: 1, path: ["heads", 0, "$mincount(entropy)"] });
  assert.deepEqual(at(close, "analyze.heads.$layer.$minalike(entropy)"), { value: 3, path: ["heads", 0, "$minalike(entropy)"] });
  assert.deepEqual(at(close, "analyze.heads.$layer.$2ndmin(entropy).head"), { value: 0, path: ["heads", 0, 0, "head"] });
  assert.equal(at(close, "analyze.heads.$layer.$maxcount(entropy)").value, 2);
  assert.equal(at(close, "analyze.heads.$layer.$maxalike(entropy)").value, 2);
  assert.deepEqual(at(close, "analyze.heads.$layer.$2nd(entropy).head"), { value: 5, path: ["heads", 0, 5, "head"] });
  const tiedLow = { tokens, heads: [[0.3, 0, 0, 0.004].map((entropy, head) => ({ head, entropy }))] };
  assert.equal(at(tiedLow, "analyze.heads.$layer.$mincount(entropy)").value, 2);
  assert.equal(at(tiedLow, "analyze.heads.$layer.$minalike(entropy)").value, 3);
  assert.equal(at(tiedLow, "analyze.heads.$layer.$2ndmin(entropy).head").value, 2);
  assert.throws(() => at({ tokens, heads: [[{ head: 0, entropy: null }]] }, "analyze.heads.$layer.$minalike(entropy)"), /no number to compare/);
  // $next(path): the record with the largest `path` below the largest, past every record that ties for it (two heads
  // at 0.4123, one at 0.4087: all "0.41"; $2nd(path) is the other tied head), as backend/lesson_steps.py resolve_path
  const scored = {
    tokens,
    heads: [[0.1, 0.4123, null, 0.4087].map((s, head) => ({ layer: 0, head, s })), [0.4123, 0.2, 0.4087, 0.3].map((s, head) => ({ layer: 1, head, s }))],
  };
  assert.deepEqual(at(scored, "analyze.heads.$all.$next(s).head"), { value: 3, path: ["heads", "$all", 3, "head"] });
  assert.deepEqual(at(scored, "analyze.heads.$all.$2nd(s).layer").path, ["heads", "$all", 4, "layer"]);
  assert.equal(at(scored, "analyze.heads.$all.$maxcount(s)").value, 2);
  assert.equal(at(scored, "analyze.heads.$all.$maxalike(s)").value, 4);
  assert.equal(at(close, "analyze.heads.$layer.$next(entropy).head").value, 4); // no other 0.9: 0.13 next
  // $nextmin(path): the smallest above the smallest, past every record that ties for it (two heads at 0 nats, one at
  // 0.004: all "0.00"); where none ties, the same as $2ndmin(path)
  assert.deepEqual(at(tiedLow, "analyze.heads.$layer.$nextmin(entropy).head"), { value: 3, path: ["heads", 0, 3, "head"] });
  assert.equal(at(close, "analyze.heads.$layer.$nextmin(entropy).head").value, 0);
  assert.throws(() => at({ tokens, heads: [[{ s: 0.5 }, { s: 0.5 }]] }, "analyze.heads.$all.$nextmin(s)"), /no number to compare/);
  assert.throws(() => at({ tokens, heads: [[{ s: 0.5 }, { s: 0.5 }, { s: null }]] }, "analyze.heads.$all.$next(s)"), /no number to compare/);
  assert.throws(() => at(explain, "explain.weights.99"), /outside/);
  assert.throws(() => at(explain, "explain.nope"), /no “nope”/);
  // no query selected: the last token (the one place that says so, derive.js)
  assert.equal(T.resolve(explain, ["tokens", "$token", "display"], { ...ctx, token: null }).value, "␣cat");
});

test("formats", () => {
  assert.equal(T.format(0.12345, ""), "0.12");
  assert.equal(T.format(0.12345, "3"), "0.123");
  assert.equal(T.format(-0.001, ""), "0.00"); // not -0.00
  assert.equal(T.format(-0.0004, "3"), "0.000");
  assert.equal(T.format(-0.006, ""), "-0.01");
  assert.equal(T.format(0.5, "pct"), "50%");
  assert.equal(T.format(4, ""), "4");
  // a whole number's thousands grouped, as the captions write them (the vocabulary: 4,092 tokens)
  assert.deepEqual([T.format(4092, ""), T.format(1234567.4, "int"), T.format(-1234, ""), T.format(999, "")],
    ["4,092", "1,234,567", "-1,234", "999"]);
  assert.deepEqual([T.format(NaN, "int"), T.format(-0.4, "int")], ["NaN", "0"]); // not a number stays one; -0 is 0
  assert.equal(T.format("␣cat", ""), "cat");
  assert.equal(T.format("␣cat", "raw"), "␣cat");
  assert.equal(T.format(true, ""), "yes");
  assert.throws(() => T.format([1], ""), /add a path step/);
});

test("overrides change a copy of the state, ablate in the one syntax", () => {
  const s = { ...DEFAULTS };
  const o = T.applyOverrides(s, { ablate: "1.3+0.2", scale: "off", layer: "2", temp: "0.5", positions: "removed" });
  assert.deepEqual(o.ablate, [[0, 2], [1, 3]]);
  assert.deepEqual([o.scale, o.layer, o.temp, o.positions], [false, 2, 0.5, "removed"]);
  assert.equal(s.layer, 0);
  assert.deepEqual(T.applyOverrides(s, { ablate: "none" }).ablate, []);
  assert.throws(() => T.applyOverrides(s, { ablate: "1-3" }), /layer\.head/);
  assert.throws(() => T.applyOverrides(s, { positions: "sideways" }), /one of/);
  assert.throws(() => T.applyOverrides(s, { layer: "1.5" }), /not a number/);
  // the token the Why views explain stays, but not on another model (its ids are other tokens): that model's top-1
  const picked = { ...s, target: 313, versus: 12 };
  assert.deepEqual([T.applyOverrides(picked, { layer: "1" }).target, T.applyOverrides(picked, { layer: "1" }).versus], [313, 12]);
  const other = T.applyOverrides(picked, { model: "tiny-nope" });
  assert.deepEqual([other.model, other.target, other.versus], ["tiny-nope", null, null]);
  // ablate=selected: the selected head, after a layer= or head= of the same placeholder, in any order
  assert.deepEqual(T.applyOverrides({ ...s, layer: 3, head: 1 }, { ablate: "selected" }).ablate, [[3, 1]]);
  assert.deepEqual(T.applyOverrides({ ...s, layer: 3, head: 1 }, { ablate: "selected", head: "2" }).ablate, [[3, 2]]);
});

test("tokens read as words, but two different tokens never as the same word", () => {
  assert.deepEqual(T.tokenWords(["␣cat", "␣the", "␣cat", "dog"]), ["cat", "the", "cat", "dog"]); // one token twice: one word
  assert.deepEqual(T.tokenWords(["␣happy", "happy", "␣sad"]), ["␣happy", "happy", "sad"]);
  assert.deepEqual(T.tokenWords(["↵", "␣↵"]), ["↵", "␣↵"]);
  assert.deepEqual(T.tokenWords(["The", "␣the"]), ["The", "the"]); // a capital already tells them apart
  assert.deepEqual(T.tokenWords([]), []);
});

test("predict-then-reveal: the choices and the answer come from the answer", () => {
  const masked = { ...explain, mask: [false, false, false, false, true, true, true] };
  const q = T.questionChoices("top-key", masked);
  assert.deepEqual(q.choices.map((c) => c.index), [1, 2, 3]); // seen and not special
  assert.deepEqual(q.choices.map((c) => c.label), ["The", "cat", "sat"]);
  assert.equal(q.answer, 2);
  const pred = (id, word) => ({ id, text: word.replace("␣", " ").replace("↵", "\n"), display: word, prob: 0.1 });
  const p = { predictions: [pred(9, "␣a"), pred(3, "␣b"), pred(7, "␣c"), pred(1, "␣d"), pred(0, "␣e")] };
  const n = T.questionChoices("next-word", p);
  assert.deepEqual(n.choices.map((c) => c.id), [1, 3, 7, 9]); // by id: the order gives nothing away
  // each choice as the bars beside it write the token, its leading space marked: lesson 1's buttons read "I", "It"
  // beside the bars' "␣I", "␣It"
  assert.equal(n.choices.find((c) => c.index === n.answer).label, "␣a");
  // two tokens that read as one word stay two (tiny-learned's top two on a French sentence: ↵ and ␣↵)
  const alike = T.questionChoices("next-word", { predictions: [pred(199, "↵"), pred(370, "␣↵"), pred(5, "␣a"), pred(6, "A")] });
  assert.deepEqual(alike.choices.map((c) => c.label), ["␣a", "A", "↵", "␣↵"]);
  // a query that sees fewer than two words (a causal model's first word, after the start token or without one) is asked
  // nothing: a question with one choice, or none, gives nothing to guess
  assert.equal(T.questionChoices("top-key", { tokens: [tokens[0]], weights: [1], mask: [false] }), null);
  assert.equal(T.questionChoices("top-key", { ...explain, mask: [false, false, true, true, true, true, true] }), null);
  assert.equal(T.questionChoices("top-key", { tokens: [tokens[1]], weights: [1], mask: [false] }), null);
  // a repeated word: each copy with its position, so that the two buttons can be told apart
  const r = T.questionChoices("top-key", explain);
  assert.deepEqual(r.choices.map((c) => c.label), ["The", "cat (2)", "sat", "on", "the", "cat (6)"]);
  assert.deepEqual(r.choices.filter((c) => c.repeated).map((c) => c.index), [2, 6]);
  assert.deepEqual(r.tied, []);
  // two keys with the same weight (one word twice, no positions: the same key vector) are both right; choosing the
  // second copy said "✗ You chose dog at 5: it gets 0.13" where the "right" dog at 2 got 0.13 too
  const tie = { ...explain, weights: [0.1, 0.05, 0.3, 0.05, 0.05, 0.15, 0.3] };
  const t = T.questionChoices("top-key", tie);
  assert.equal(t.answer, 2);
  assert.deepEqual(t.tied, [2, 6]);
  assert.ok(T.isRight(t, 6) && T.isRight(t, 2) && !T.isRight(t, 5) && !T.isRight(t, -1));
  assert.ok(T.isRight(q, 2) && !T.isRight(q, 3));
});

test("predict-then-reveal: a top-key choice is named as the token strip names it, never blank", () => {
  // "🐱 🐶 ok" on a tiny model: 🐱 is four byte tokens, the first holding the whole character's text and the others
  // none, and a space is a token of its own. The buttons read "🐱", " (2)", " (3)", " (4)", "  (5)": three with no
  // name and one blank, where the strip shows <0xF0> <0x9F> <0x90> <0xB1> ␣ (and the reveal said "You chose <0xF0>")
  const strip = ["<|bos|>", "<0xF0>", "<0x9F>", "<0x90>", "<0xB1>", "␣", "<0xF0>", "<0x9F>", "<0x90>", "<0xB6>", "↵", "␣o", "k"];
  const text = ["", "🐱", "", "", "", " ", "🐶", "", "", "", "\n", " o", "k"];
  const bytes = { tokens: strip.map((display, i) => ({ id: i, text: text[i], display, special: i === 0 })),
    weights: strip.map(() => 1 / strip.length), mask: strip.map(() => false) };
  bytes.weights[11] = 0.2;
  const q = T.questionChoices("top-key", bytes);
  assert.deepEqual(q.choices.map((c) => c.label), ["<0xF0> (1)", "<0x9F> (2)", "<0x90> (3)", "<0xB1>", "␣", "<0xF0> (6)",
    "<0x9F> (7)", "<0x90> (8)", "<0xB6>", "↵", "o", "k"]);
  assert.equal(q.answer, 11);
  assert.match(fill(T.topKeyReveal(q, bytes, 1), bytes), /✗ You chose \*\*<0xF0> \(token 1\)\*\*/);
});

/** A text's placeholders filled from one answer as the page fills them (lessons.js evaluate): format, then tokenNote. */
function fill(text, root, context = ctx) {
  return text.replace(/\{\{(.*?)\}\}/g, (_, raw) => {
    const p = T.parse(raw);
    const { value, path } = T.resolve(root, p.segments, context);
    return T.placeholderText(value, p.format, root, path, context.token).text;
  });
}

test("`| self`: a key that is the query's own position is written itself, any other as a word", () => {
  // lesson 5 and 8 had a block for each of their keys being the query or not, only to write "itself"
  const own = { ...explain, query: 3, weights: [0.1, 0.05, 0.2, 0.5, 0.05, 0.05, 0.05] };
  assert.equal(fill("**{{top_key | self}}**", own), "**itself**");
  assert.equal(fill("**{{explain.tokens.2.display | self}}**", own), "**cat (token 2)**"); // repeated: its position
  assert.equal(fill("**{{explain.tokens.0.display | self}}**", own), "**<|bos|>**");
  assert.equal(fill("{{explain.tokens.3.text | self}}", own, { ...ctx, token: 5 }), "itself"); // the answer's own query
  // an answer without a `query` of its own: the selected token's
  assert.equal(fill("{{analyze.tokens.$token.display | self}}", analyze), "itself");
  assert.equal(fill("{{analyze.tokens.4.display | self}}", analyze), "on");
  // a number, or a text that is not one of the sentence's tokens, is never itself
  assert.equal(fill("{{explain.weights.3 | self}}", own), "0.50");
  const predicted = { predictions: [{ display: "␣sat" }], query: 0 };
  assert.equal(T.placeholderText("␣sat", "self", predicted, ["predictions", 0, "display"], 0).text, "sat");
  // "itself" is not a word to tell apart from others (lessons.js tokenWords): no `word`
  assert.deepEqual(T.placeholderText("␣sat", "self", own, ["tokens", 3, "display"], 3), { text: "itself" });
  assert.deepEqual(T.placeholderText("␣cat", "", own, ["tokens", 2, "display"], 3),
    { text: "cat (token 2)", word: "␣cat", note: " (token 2)" });
});

test("a token whose word the sentence repeats is named with its position, wherever a placeholder shows it", () => {
  // lesson 5 said "it gives 0.80 of its attention to it" where the sentence has "it" twice: which it, which key?
  assert.equal(fill("**{{top_word_key}}**", explain), "**cat (token 2)**");
  assert.equal(fill("**{{explain.tokens.6.display}}**", explain), "**cat (token 6)**");
  assert.equal(fill("**{{explain.tokens.5.text}}**", explain), "**the (token 5)**"); // "The" and "the": one word
  assert.equal(fill("**{{explain.tokens.5.display | raw}}**", explain), "**␣the (token 5)**");
  assert.equal(fill("**{{query}}**", explain), "**sat**"); // said once: no position
  assert.equal(fill("**{{explain.tokens.2.display | word}}** (token 2)", explain), "**cat** (token 2)"); // said already
  // only the sentence's own tokens: a predicted token, a number, a list's item elsewhere are not positions
  assert.equal(T.tokenNote({ predictions: [{ display: "␣cat" }], tokens }, ["predictions", 0, "display"]), "");
  assert.equal(T.tokenNote(explain, ["weights", 2]), "");
  assert.equal(T.tokenNote({ tokens: [{ display: "it" }, { display: "␣it" }] }, ["tokens", 1, "display"]), " (token 1)");
});

test("predict-then-reveal: a repeated word is named with its position in the reveal, the answer too", () => {
  // the answer is "cat" at 2 of "The cat sat on the cat": the reveal said "The model: cat gets 0.20", which could be
  // either cat, beside the buttons "cat (2)" and "cat (6)"
  const r = T.questionChoices("top-key", explain);
  const reveal = fill(T.topKeyReveal(r, explain, 6), explain);
  assert.match(reveal, /^The model: \*\*cat \(token 2\)\*\* gets 0\.20 of the attention of \*\*sat\*\*/);
  assert.match(reveal, /✗ You chose \*\*cat \(token 6\)\*\*: it gets 0\.05\./);
  assert.match(reveal, /the start token, where a head parks what it does not need, gets/);
  // a word said once has no position; a right guess is said so; no guess (-1) says nothing of one
  const once = { ...explain, weights: [0.1, 0.05, 0.1, 0.5, 0.05, 0.1, 0.1] };
  const o = T.questionChoices("top-key", once);
  assert.match(fill(T.topKeyReveal(o, once, 3), once), /^The model: \*\*sat\*\* gets .*✓ You predicted it\.$/s);
  assert.doesNotMatch(T.topKeyReveal(o, once, -1), /You/);
  // tied keys: each named, with its position
  const tie = { ...explain, weights: [0.1, 0.05, 0.3, 0.05, 0.05, 0.15, 0.3] };
  assert.match(fill(T.topKeyReveal(T.questionChoices("top-key", tie), tie, 6), tie),
    /\*\*cat \(token 2\)\*\* and \*\*cat \(token 6\)\*\* each get .*✓ You predicted it/s);
  // no start token (SmolLM2): none named
  const plain = { ...explain, tokens: explain.tokens.map((t) => ({ ...t, special: false })) };
  assert.doesNotMatch(T.topKeyReveal(T.questionChoices("top-key", plain), plain, -1), /start token/);
});

test("predict-then-reveal: a wrong guess whose weight rounds as the answer's is shown with the digits that differ", () => {
  // MiniLM, lesson 5 step 3 on a long sentence: "The model: keeper gets 0.17 ... ✗ You chose when (token 1): it gets
  // 0.17" (0.1734 and 0.1692): a wrong guess beside the same number
  const close = { ...explain, weights: [0.4274, 0.05, 0.1734, 0.1692, 0.05, 0.05, 0.0774] };
  const q = T.questionChoices("top-key", close);
  assert.equal(q.answer, 2);
  const reveal = fill(T.topKeyReveal(q, close, 3), close);
  assert.match(reveal, /\*\*cat \(token 2\)\*\* gets 0\.173 of the attention/);
  assert.match(reveal, /✗ You chose \*\*sat\*\*: it gets 0\.169\./);
  // where two decimals tell them apart, two decimals; a right guess changes nothing
  assert.match(fill(T.topKeyReveal(q, close, 6), close), /gets 0\.17 of the attention.*it gets 0\.08\./s);
  assert.match(fill(T.topKeyReveal(q, close, 2), close), /gets 0\.17 of the attention.*✓/s);
  // equal to four decimals: four, and no more
  const same = { ...close, weights: [0.4, 0.05, 0.17341, 0.17339, 0.05, 0.05, 0.08] };
  assert.match(fill(T.topKeyReveal(T.questionChoices("top-key", same), same, 3), same), /gets 0\.1734 of .*it gets 0\.1734\./s);
});

test("predict-then-reveal: a wrong next word whose probability rounds as the top one's gets the digits that differ", () => {
  // "The model's top guess: is, with probability 0.10 ... ✗ You chose the: probability 0.10" (0.1041 and 0.0978)
  const pred = (id, word, prob) => ({ id, text: word.replace("␣", " "), display: word, prob });
  const p = { predictions: [pred(9, "␣is", 0.1041), pred(3, "␣the", 0.0978), pred(7, "␣was", 0.05), pred(1, ".", 0.04)] };
  const q = T.questionChoices("next-word", p);
  const label = (i) => q.choices.find((c) => c.index === i).label;
  assert.equal(label(1), "␣the");
  const reveal = (chosen) => T.nextWordReveal(q, p, chosen);
  assert.match(reveal(1), /^The model’s top guess: \*\*\{\{top_next\}\}\*\*, with probability \{\{top_next_prob \| 3\}\}\./);
  assert.match(reveal(1), /✗ You chose \*\*\{\{predict\.predictions\.1\.display\}\}\*\*: probability \{\{predict\.predictions\.1\.prob \| 3\}\}\.$/);
  // where two decimals tell them apart, two; a right guess, or none, as before
  assert.match(reveal(2), /top_next_prob \| 2.*predictions\.2\.prob \| 2/s);
  assert.match(reveal(0), /top_next_prob \| 2\}\}\.\n\n✓ You predicted it\.$/);
  assert.doesNotMatch(reveal(-1), /You/);
});

test("a number on a record is its key (the lengths answer's `at`), as in backend/lesson_steps.py", () => {
  const lengths = { models: [{ model: "tiny-alibi", at: { 128: { mean_loss: 2.8 }, 512: { tail_loss: 2.7 }, 256: null } }] };
  assert.deepEqual(at(lengths, "lengths.models.0.at.512.tail_loss"), { value: 2.7, path: ["models", 0, "at", "512", "tail_loss"] });
  assert.throws(() => at(lengths, "lengths.models.0.at.256.tail_loss"), /nothing at/);
  assert.throws(() => at(lengths, "lengths.models.0.at.1024"), /not a list/); // no such key: still an index, on a record
  assert.equal(at(lengths, "lengths.models.-1.model").value, "tiny-alibi"); // on a list, a number stays an index
});

test("$all reads a list of lists as one list: every head of every layer", () => {
  const roles = { heads: [[{ layer: 0, head: 0, s: 0.1 }, { layer: 0, head: 1, s: null }], [{ layer: 1, head: 0, s: 0.7 }, { layer: 1, head: 1, s: 0.3 }]] };
  const top = T.resolve(roles, ["heads", "$all", "$max(s)", "layer"], ctx);
  assert.equal(top.value, 1);
  assert.deepEqual(top.path, ["heads", "$all", 2, "layer"]);
  assert.equal(T.resolve(roles, ["heads", "$all", "$min(s)", "head"], ctx).value, 0);
  assert.throws(() => T.resolve({ heads: [1, 2] }, ["heads", "$all"], ctx), /list of lists/);
});

test("$sum(i,j) adds those items: the attention a word in pieces gets, as backend/lesson_steps.py resolve_path", () => {
  const explain = { weights: [0.125, 0.5, 0.25, 0.0625, 0.0625] };
  const got = T.resolve(explain, ["weights", "$sum(1,2)"], ctx);
  assert.equal(got.value, 0.75);
  assert.deepEqual(got.path, ["weights", "$sum(1,2)"]);
  assert.equal(T.resolve(explain, ["weights", "$sum(3)"], ctx).value, 0.0625);
  assert.throws(() => T.resolve(explain, ["weights", "$sum(1,5)"], ctx), /needs a list of numbers/);
  assert.throws(() => T.resolve({ weights: [0.5, null] }, ["weights", "$sum(0,1)"], ctx), /needs a list of numbers/);
});

test("questions on the lab's run: fixed choices, the answer from its summary, none before it is known", () => {
  const summary = (patch) => ({ ended: false, loss: { reached: false, step: null }, final: { accuracy: null }, ...patch });
  const q = T.questionChoices("loss-step", summary({}));
  assert.deepEqual(q.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(q.answer, null); // no run, or a run that has neither dropped nor ended
  assert.equal(T.questionChoices("loss-step", null).answer, null);
  const at = (step) => T.questionChoices("loss-step", summary({ loss: { reached: true, step } })).answer;
  assert.deepEqual([5, 99, 100, 299, 300, 999, 1000, 2400].map(at), [0, 0, 1, 1, 2, 2, 3, 3]); // bounds 100, 300, 1000
  assert.deepEqual(T.LOSS_STEP_BINS, [100, 300, 1000]);
  // ended without the drop: the last choice once the run went past its first step (1000), else not known (a run
  // stopped at step 195 marked "steps 300 to 999" wrong)
  const ended = (step, end = "steps") => T.questionChoices("loss-step", summary({ ended: true, end, final: { step, accuracy: 0.5 } }));
  assert.deepEqual([ended(2999).answer, ended(2999).cut], [3, false]);
  assert.deepEqual([ended(999, "stopped").answer, ended(998, "stopped").cut], [3, true]);
  assert.deepEqual([ended(195, "stopped").answer, ended(195, "stopped").cut], [null, true]);
  assert.deepEqual([ended(299).answer, ended(299).cut], [null, true]); // a budget of 300 steps: 300-999 or later?
  const acc = (accuracy, ended = true, end = "steps") => T.questionChoices("lab-accuracy", summary({ ended, end, final: { accuracy } }));
  assert.deepEqual([0, 0.39, 0.4, 0.89, 0.9, 1].map((a) => acc(a).answer), [0, 0, 1, 1, 2, 2]);
  assert.equal(acc(1, false).answer, null); // only once the run has ended
  for (const end of ["stopped", "time", "failed", "reset"]) assert.deepEqual([acc(1, true, end).answer, acc(1, true, end).cut], [null, true]);
  assert.deepEqual(Object.keys(T.QUESTION_SOURCES), ["top-key", "next-word", "loss-step", "lab-accuracy"]);
  assert.throws(() => T.questionChoices("when", {}), /loss-step/);
});

test("a probability of the logit lens's answer is written as the lens writes it (| prob4)", () => {
  // lesson 9 wrote "(probability 0.000)" beside the lens's "< 0.0001" for the same 0 (an answer of 4 decimals)
  for (const p of [0, 0.00005, 0.0023, 0.0096, 0.01, 0.196, 0.9569, 1]) assert.equal(T.format(p, "prob4"), probText(p, { decimals: 4 }), String(p));
  assert.deepEqual([0, 0.0023, 0.9569].map((p) => T.format(p, "prob4")), ["< 0.0001", "0.0023", "0.957"]);
});

test("numbers round half up, as backend/lesson_steps.py format_value", () => {
  assert.deepEqual([T.format(0.125, "pct"), T.format(2.5, "int"), T.format(0.135, "pct"), T.format(-0.5, "int")], ["13%", "3", "14%", "0"]);
  assert.deepEqual([T.format(4092, ""), T.format(-1234.5, "int")], ["4,092", "-1,234"]); // as format_value too
});

test("endSentence: a full stop where the sentence has none, also after a closing quote", () => {
  assert.equal(T.endSentence("This step is on tiny-rotary"), "This step is on tiny-rotary.");
  assert.equal(T.endSentence("the lesson’s is “The cat was tired.”"), "the lesson’s is “The cat was tired.”");
  assert.equal(T.endSentence("the lesson’s is “Is it?”"), "the lesson’s is “Is it?”");
  assert.equal(T.endSentence("the lesson’s is “a cat”"), "the lesson’s is “a cat”.");
  assert.equal(T.endSentence("done."), "done.");
});

test("splitReveal: the text cut at its first line +++, what follows it hidden", () => {
  assert.deepEqual(T.splitReveal("Guess first: which?\n\n+++\n\nThis one."), { shown: "Guess first: which?\n", hidden: "\nThis one." });
  assert.deepEqual(T.splitReveal("Guess.\n +++ "), { shown: "Guess.", hidden: "" }); // (the plots are the answer)
  assert.deepEqual(T.splitReveal("No guess here, a+++b."), { shown: "No guess here, a+++b.", hidden: null });
  assert.deepEqual(T.splitReveal("a\n+++\nb\n+++\nc"), { shown: "a", hidden: "b\n+++\nc" });
  assert.deepEqual(T.splitReveal(null), { shown: "", hidden: null });
});

test("a question on the lab's run is not answered by a run of another task, scheme or size than its step sets", () => {
  const run = { run: 3, task: "reverse", positional: "sinusoidal", size: "small", ended: true, loss: { reached: true, step: 420 },
    final: { accuracy: 1 } };
  const want = { task: "reverse", positional: "none", size: undefined };
  const q = T.questionChoices("lab-accuracy", run, want);
  assert.equal(q.answer, null);
  assert.equal(q.other, "reverse with sinusoidal positions, size small");
  assert.equal(T.questionChoices("loss-step", run, { task: "copy" }).answer, null);
  // the step's own run answers; a setting the step leaves to the page is not checked
  assert.equal(T.questionChoices("lab-accuracy", { ...run, positional: "none" }, want).answer, 2);
  assert.equal(T.questionChoices("loss-step", run, { task: "reverse", size: null }).answer, 2);
  assert.equal(T.otherRun({ run: null }, want), "");
  assert.equal(T.otherRun({ ...run, positional: "none", size: "tiny" }, { size: "small" }), "reverse with no positions, size tiny");
});

test("$maxseen and $minseen leave out the keys the answer's mask hides", () => {
  // a causal query at token 2: keys 3 and 4 are masked, and their weight × value rows are 0, larger than every
  // visible one (all negative): $max(0) picks a masked key, $maxseen(0) the largest of the visible ones
  const e = { tokens: tokens.slice(0, 5), mask: [false, false, false, true, true], weights: [0.5, 0.3, 0.2, 0, 0],
    weighted_values: [[-0.2, 1], [-0.1, 2], [-0.3, 0], [0, 0], [0, 0]] };
  assert.deepEqual(at(e, "explain.weighted_values.$max(0).0").path, ["weighted_values", 3, 0]);
  assert.deepEqual(at(e, "explain.weighted_values.$maxseen(0).0"), { value: -0.1, path: ["weighted_values", 1, 0] });
  assert.deepEqual(at(e, "explain.weighted_values.$minseen(0).0"), { value: -0.3, path: ["weighted_values", 2, 0] });
  assert.equal(at(e, "explain.tokens.@(weighted_values.$maxseen(0)).display").value, "␣The");
  assert.deepEqual(at(e, "explain.weights.$minseen").path, ["weights", 2]);
  assert.throws(() => at({ tokens, weights: [1, 2] }, "explain.weights.$maxseen"), /mask as long as the list/);
});

test("sentenceWhose: a lesson link's sentence is not called the student's", () => {
  // /?lesson=attention-arithmetic&step=3&text=… said "This step is on your sentence" of a sentence nobody typed
  const link = "Tom had a red ball.";
  // the link's sentence, or one of the student's own brought back by a reload: named by itself, not "the sentence on
  // screen" (every step's sentence is on screen)
  assert.equal(T.sentenceWhose(link, { opened: link }), "“Tom had a red ball.”");
  const long = "The quick brown fox jumps over the lazy dog while the cat watches from the fence.";
  const named = T.sentenceWhose(long, { opened: long });
  assert.ok(named.startsWith("“The quick brown fox") && named.endsWith("…”"), named);
  assert.ok(Array.from(named).length <= 50, named);
  assert.equal(T.sentenceWhose("🙂🙂🙂", { opened: "🙂🙂🙂", max: 2 }), "“🙂…”"); // cut between characters, not halves
  assert.equal(T.sentenceWhose("Anna was cold.", { opened: link }), "your sentence"); // typed since
  assert.equal(T.sentenceWhose("Anna was cold."), "your sentence");
  assert.equal(T.sentenceWhose(link, { linked: true, opened: link }), "the link’s sentence"); // a whole page's link
});

test("a head role's number in a step's text: the server's read of it, shown as the page's other numbers", () => {
  // 'Beyond attention' (tiny-nope, "Birds sing."): the server wrote -0.0169, 2, -0.017 into the text as plain words,
  // unmarked beside the page's numbers; it leaves them as placeholders now, with its reads in the step's `numbers`
  const numbers = [
    { placeholder: "layer | int", value: 3, shown: "3", source: "state", path: ["layer"] },
    { placeholder: "@strongest-head.delta_prob | 4", value: -0.01692, shown: "-0.0169", source: "@strongest-head", path: ["delta_prob"], error: null },
    { placeholder: "@strongest-head.next.head", value: 0, shown: "0", source: "@strongest-head", path: ["next", "head"], error: null },
    { placeholder: "@strongest-head.alike | int", value: null, shown: null, source: "@strongest-head", path: [], error: "No head could be chosen." },
  ];
  assert.deepEqual(T.stepNumber(" @strongest-head.delta_prob | 4 ", numbers), {
    text: "-0.0169", expr: "@strongest-head.delta_prob", src: "@strongest-head", path: ["delta_prob"], fmt: "4", kind: "number", request: null,
  });
  assert.equal(T.stepNumber("@strongest-head.next.head", numbers).text, "0");
  assert.deepEqual(T.stepNumber("@strongest-head.alike | int", numbers), { error: "No head could be chosen." });
  assert.match(T.stepNumber("@strongest-head.lowest", numbers).error, /no @strongest-head.lowest/);
  // every other placeholder is the page's own to read
  for (const raw of ["layer | int", "top_key_weight | 2", "explain.weights.$max", "@noun"]) assert.equal(T.stepNumber(raw, numbers), null);
});
