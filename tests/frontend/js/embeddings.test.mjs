// The Embeddings view's pure parts: the analogy's caption says where the expected word ranks, from the answer's numbers.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ordinal } from "../../../frontend/js/plot.js";
import { analogyCaption, denseCaption, depthCaption, neighborsCaption, onehotCaption, similarityAxes } from "../../../frontend/js/views/embeddings.js";

const tok = (id, display) => ({ id, text: display.replace("␣", " "), display, position: 0, special: false });
const answer = (expected) => ({
  model: "m", a: tok(1, "␣king"), b: tok(2, "␣man"), c: tok(3, "␣woman"),
  neighbors: [{ ...tok(10, "␣Grand"), cosine: 0.6459 }, { ...tok(11, "oup"), cosine: 0.6383 }, { ...tok(12, "␣queen"), cosine: 0.6 }],
  expected,
});

test("the analogy's caption: the three words, then the expected word's rank and cosine as the answer gives them", () => {
  assert.equal(analogyCaption(answer(null)), "Nearest tokens to “␣king” − “␣man” + “␣woman” (the three left out).");
  const far = analogyCaption(answer({ token: tok(20, "␣queen"), cosine: 0.5066, rank: 881, of: 4092 }));
  assert.match(far, /“␣queen”, the word expected, is at rank 881 of 4,092 \(cosine 0\.507; the nearest: 0\.646\), outside the 3 shown\.$/);
  const shown = analogyCaption(answer({ token: tok(12, "␣queen"), cosine: 0.6, rank: 3, of: 4092 }));
  assert.match(shown, /is at rank 3 of 4,092 \(cosine 0\.600; the nearest: 0\.646\), its bar highlighted\.$/);
  const first = analogyCaption(answer({ token: tok(10, "␣Grand"), cosine: 0.6459, rank: 1, of: 4092 }));
  assert.match(first, /“␣Grand”, the word expected, is the nearest \(cosine 0\.646\)\.$/);
  const none = analogyCaption({ ...answer(null), expected_unavailable: "No rank for the word expected: “␣king” is a, b or c." });
  assert.match(none, /\(the three left out\)\. No rank for the word expected: “␣king” is a, b or c\.$/);
});

const T = (id, text, display, special = false) => ({ id, text, display, special, position: 0 });

test("the one-hot caption speaks of ids, and names the tokens that are one id for different text", () => {
  const plain = [T(0, "", "<|bos|>", true), T(5, "The", "The"), T(9, " cat", "␣cat")];
  assert.equal(onehotCaption(plain), "Each token as a vector with a single 1, at its id: two tokens score 1 where they are the same id, else 0.");
  assert.doesNotMatch(onehotCaption(plain), /different words always score 0/);
  // MiniLM "🙂 and 🎉": both [UNK]
  const unk = [T(101, "", "[CLS]", true), T(100, "🙂", "[UNK]"), T(1998, " and", "and"), T(100, " 🎉", "[UNK]"), T(102, "", "[SEP]", true)];
  assert.match(onehotCaption(unk), /One id, different text: tokens 1 and 3 are both \[UNK\] \(id 100\), from “🙂” and “🎉”: they score 1\.$/);
  // a tiny model's "日 本": both characters begin with the byte <0xE6>, and the space token is a true repeat of nothing
  const cjk = [T(0, "", "<|bos|>", true), T(163, "日", "<0xE6>"), T(246, "", "<0x97>"), T(99, "", "<0xA5>"), T(221, " ", "␣"),
    T(163, "本", "<0xE6>"), T(251, "", "<0x9C>"), T(106, "", "<0xAC>")];
  assert.match(onehotCaption(cjk), /tokens 1 and 5 are both <0xE6> \(id 163\), from “日” and “本”: they score 1\.$/);
  assert.match(denseCaption(unk, "token embedding", "cosine"), /^The learned input embedding \(token embedding\), cosine: one vector per token id/);
  assert.match(denseCaption(unk, "token embedding", "cosine"), /tokens 1 and 3 are both \[UNK\] .*: they are the same vector \(cosine 1\)\.$/);
  assert.doesNotMatch(denseCaption(unk, "token embedding", "dot"), /cosine 1/);
});

test("the depth caption follows the model's norm placement: a post-norm block normalises after each add", () => {
  assert.match(depthCaption({ norm_placement: "pre" }), /each block adds to every vector what its attention read/);
  const post = depthCaption({ norm_placement: "post" });
  assert.match(post, /normalises the sum \(LayerNorm\), then adds its MLP's output and normalises again/);
  assert.notEqual(post, depthCaption({ norm_placement: "pre" }));
});

test("the analogy's caption counts the words left out as the answer's ids do", () => {
  // "cat − cat + dog" left out two tokens, and said "the three left out"
  const twice = { ...answer(null), a: tok(1, "␣cat"), b: tok(1, "␣cat"), c: tok(3, "␣dog") };
  const ids = new Set([twice.a.id, twice.b.id, twice.c.id]);
  assert.equal(ids.size, 2);
  assert.equal(analogyCaption(twice), "Nearest tokens to “␣cat” − “␣cat” + “␣dog” (the two left out).");
  const once = { ...answer(null), a: tok(1, "␣cat"), b: tok(1, "␣cat"), c: tok(1, "␣cat") };
  assert.equal(analogyCaption(once), "Nearest tokens to “␣cat” − “␣cat” + “␣cat” (it left out).");
});

test("a long sentence's similarity heatmaps label as many tokens as have room, down and across", () => {
  // 40 tokens at 1280x800: the token axis labelled every token (up to 40) down 442 px, 11 px apart for labels 13 px high;
  // 30 in presenter mode, 14 px apart for its 18 px labels; on a phone the 30 slanted key labels ran into each other
  const words = (n) => [{ display: "<|bos|>" }, ...Array.from({ length: n - 1 }, (_, i) => ({ display: `␣word${String(i).padStart(2, "0")}`.slice(0, 7) }))];
  // [panel width, height, text scale, tokens, the axes' lengths Plotly drew there (measured in the page): down, across]
  const drawn = [[618, 520, 1, 40, 442, 452], [373, 520, 1, 40, 447, 212], [373, 520, 1, 30, 448, 213], [610, 520, 1.4, 30, 429, 418]];
  const gap = (ticks) => Math.min(...ticks.slice(1).map((t, i) => t - ticks[i]));
  for (const [width, height, k, n, down, across] of drawn) {
    const { xaxis, yaxis } = similarityAxes(width, height, words(n), k);
    const size = 11 * k; // (the labels of 21 to 40 tokens)
    assert.ok(gap(yaxis.tickvals) * (down / n) >= 1.2 * size, `${width} px, ×${k}, ${n} tokens: down ${yaxis.tickvals}`);
    assert.ok((gap(xaxis.tickvals) * (across / n)) / Math.SQRT2 >= 0.9 * size, `${width} px, ×${k}, ${n} tokens: across ${xaxis.tickvals}`);
  }
});

test("a similarity heatmap's thinned axis says in its title which tokens are labelled; one that labels all has none", () => {
  const words = (n) => Array.from({ length: n }, (_, i) => ({ display: ["␣the", "␣cat", "␣sat", "ing", "."][i % 5] }));
  for (const n of [6, 30, 40, 100]) {
    for (const [width, height, k] of [[618, 520, 1], [373, 520, 1], [610, 520, 1.4]]) {
      const { xaxis, yaxis } = similarityAxes(width, height, words(n), k);
      for (const axis of [xaxis, yaxis]) {
        const t = axis.tickvals;
        const title = axis.title ? axis.title.text : "";
        if (t.length === n) assert.equal(title, "", `${n} tokens, ${width} px, ×${k}: all labelled, titled “${title}”`);
        else assert.match(title, new RegExp(`^token \\(every ${t[1] - t[0]}(st|nd|rd|th)( labelled)?\\)$`), `${n} tokens, ${width} px, ×${k}: every ${t[1] - t[0]}`);
      }
    }
  }
});

test("a similarity heatmap's caption says which tokens a thinned axis without room for its title labels", () => {
  // a phone's panel (300 px) on long words: every 4th to 8th column labelled, the axis untitled, the caption silent
  const long = ["␣Suddenly", "␣everything", "␣wonderful", "␣remembered", "␣together", "␣something", "␣beautiful", ","];
  const words = (n) => Array.from({ length: n }, (_, i) => ({ display: long[i % long.length] }));
  for (const [n, width] of [[12, 300], [23, 300], [30, 340], [40, 300], [40, 618], [6, 300]]) {
    const height = Math.max(260, Math.min(520, n * 26 + 90));
    const { xaxis, yaxis, note } = similarityAxes(width, height, words(n), 1);
    const said = [[xaxis, "column"], [yaxis, "row"]].filter(([axis]) => !axis.title && axis.tickvals.length < n)
      .map(([axis, name]) => `every ${ordinal(axis.tickvals[1] - axis.tickvals[0])} ${name}`);
    assert.equal(note, said.length ? ` Labelled: ${said.join(" and ")}; hover over a cell for its tokens.` : "", `${n} tokens, ${width} px`);
  }
  assert.equal(similarityAxes(300, 260, words(23), 1).note, " Labelled: every 4th column; hover over a cell for its tokens.");
});

test("the nearest words' caption says the word itself is left out", () => {
  // "Hello": the list began with "␣Hello" at 0.807, where a reader looked for “Hello” itself at cosine 1
  const r = { model: "m", word: "Hello", token: tok(1471, "Hello"), neighbors: [{ ...tok(5, "␣Hello"), cosine: 0.807 }] };
  assert.equal(neighborsCaption(r), "Input-embedding vectors nearest to “Hello” (token id 1471) by cosine, “Hello” itself and the special tokens left out.");
});
