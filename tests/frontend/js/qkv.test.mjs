// Q/K/V and the arithmetic on a grouped-query model: the keys and the values are a K/V head's, shared by a group of
// query heads, and both views say whose (the V panel said "K/V head 1", the K panel and the arithmetic did not).
import assert from "node:assert/strict";
import { test } from "node:test";

import { sharedWords } from "../../../frontend/js/views/explain.js";
import { tickSize } from "../../../frontend/js/plot.js";
import {
  flatRange, kvHeadName, labelBox, labelOrder, labelsNote, matrixTitles, projectionCaption, projectionLabels, tokenRows,
} from "../../../frontend/js/views/qkv.js";

test("the K and V panels name the K/V head where query heads share one", () => {
  assert.equal(kvHeadName(3, { head: 4, kv_head: 1 }, 3), "L3 H4 (K/V head 1)");
  assert.equal(kvHeadName(3, { head: 0, kv_head: 0 }, 3), "L3 H0 (K/V head 0)"); // shared with heads 1 and 2 too
  assert.equal(kvHeadName(2, { head: 2, kv_head: 2 }, 1), "L2 H2"); // a head of its own
  assert.equal(kvHeadName(2, { head: 2, kv_head: 2 }), "L2 H2");
});

test("the arithmetic says which heads share the keys and values", () => {
  // SmolLM2: 9 query heads, 3 K/V heads (groups of 3); head 4 reads K/V head 1, shared by heads 3 to 5
  assert.match(sharedWords({ head: 4, kv_head: 1, group_size: 3 }), /K\/V head 1's, which heads 3 to 5 of this layer share/);
  assert.match(sharedWords({ head: 8, kv_head: 2, group_size: 3 }), /heads 6 to 8/);
  assert.equal(sharedWords({ head: 2, kv_head: 2, group_size: 1 }), "");
});

test("q and k on a line (one token: axis 2 holds none of the variance) still get a plot of some height", () => {
  // SmolLM2's "Hello" is one token: its q and k 7.6 apart on axis 1, 0 on axis 2; the square-scaled plot was a few
  // pixels high, its y labels 0.4, 0.2, 0, −0.2, −0.4 over each other
  const y = flatRange([-3.8, 3.8], [0, 0]);
  assert.ok(y[1] - y[0] >= 7.6 / 3, y);
  assert.ok(y[0] < 0 && y[1] > 0, y);
  assert.deepEqual(flatRange([-3.8, 3.8], [0.5, 0.7]).map((v) => Math.round(v * 100) / 100), [-0.67, 1.87]); // (about their middle)
  assert.equal(flatRange([-4, 4, 0], [-2, 1, 2]), null); // spread out: Plotly's own range
  assert.equal(flatRange([1, 1], [2, 2]), null); // (a single point: nothing to scale)
});

test("the projection's caption says what the selected query's lines are, or that it has none of those drawn", () => {
  // the lines are the 2n strongest weights of the pattern: on 30 tokens most go to <|bos|> from the early queries, and
  // the caption said "The selected query's links are red" of a query with no line at all
  const tokens = Array.from({ length: 30 }, (_, i) => ({ id: i, display: i ? `␣w${i}` : "<|bos|>", text: i ? ` w${i}` : "" }));
  const links = Array.from({ length: 60 }, (_, m) => [m % 20, m < 20 ? 0 : m % 7, Math.round((0.9 - m * 0.01) * 1e4) / 1e4]);
  const p = { links };
  const none = projectionCaption(p, tokens, 29);
  assert.doesNotMatch(none, /are red|is red/);
  assert.match(none, /Lines: the 60 strongest attention weights \(query → key\)/);
  assert.match(none, /The selected query, 29 “␣w29”, has none of them: each of its weights is at most 0\.31, the weakest drawn\.$/);
  assert.match(projectionCaption(p, tokens, 3), /The selected query's 3 links are red\.$/);
  assert.match(projectionCaption({ links: [[2, 0, 0.7], [1, 0, 0.5]] }, tokens.slice(0, 3), 2), /The selected query's link is red\.$/);
  assert.match(projectionCaption(p, tokens, 0, true), /^Circles: queries; diamonds: keys \(after rotary\)\./);
  assert.doesNotMatch(projectionCaption(p, tokens, null), /selected/); // (no query selected: nothing said of one)
});

test("the Q, K and V titles fit on one line beside the export buttons at 1280x800, on SmolLM2's last head too", () => {
  // a third of 1280 px leaves about 230 px beside the buttons, 27 characters of the titles' bold type ("k_rot · L29 H8
  // (K/V head 2)" measured 216 px); "K after rotary (k_rot) · L0 H0 (K/V head 0)" took two lines and put the K plot
  // below the Q and V plots
  const last = matrixTitles(29, { head: 8, kv_head: 2 }, 3, true);
  assert.deepEqual(last, { q: "q_rot · L29 H8", k: "k_rot · L29 H8 (K/V head 2)", v: "V · L29 H8 (K/V head 2)" });
  for (const [layer, hd, group, rot] of [[0, { head: 0, kv_head: 0 }, 3, true], [29, { head: 8, kv_head: 2 }, 3, true], [3, { head: 3, kv_head: 3 }, 1, false]]) {
    for (const title of Object.values(matrixTitles(layer, hd, group, rot))) assert.ok([...title].length <= 27, title);
  }
  assert.deepEqual(matrixTitles(3, { head: 3, kv_head: 3 }), { q: "Q · L3 H3", k: "K · L3 H3", v: "V · L3 H3" });
});

test("the Q, K, V and z panels label as many tokens as have room down them, in presenter mode too", () => {
  // 30 tokens in presenter mode at 1280x720: every one labelled down 490 px, 16.3 px apart for labels 15 px high
  const tokens = Array.from({ length: 30 }, (_, i) => ({ display: i ? `␣w${i}` : "<|bos|>" }));
  const gap = (ticks) => Math.min(...ticks.slice(1).map((t, i) => t - ticks[i]));
  // [text scale, the token axis's length Plotly drew there (measured in the page)]
  for (const [k, down] of [[1, 503], [1.4, 490]]) {
    const { height, yaxis } = tokenRows(tokens, k);
    assert.equal(height, 560);
    assert.ok(gap(yaxis.tickvals) * (down / 30) >= 1.2 * tickSize(30) * k, `×${k}: ${yaxis.tickvals}`);
    assert.ok(yaxis.tickvals.length >= 15, `×${k}: ${yaxis.tickvals}`);
  }
  assert.equal(tokenRows(tokens).yaxis.tickvals.length, 30); // (outside presenter mode every token has room)
});

test("the Q, K, V and z panels keep the selected query's row labelled, as Beyond attention does", () => {
  // 30 tokens in presenter mode at 1280x720: every 2nd token labelled down them, so query 7 had no label
  const tokens = Array.from({ length: 30 }, (_, i) => ({ display: i ? `␣w${i}` : "<|bos|>" }));
  const { yaxis } = tokenRows(tokens, 1.4, [7]);
  assert.ok(tokenRows(tokens, 1.4).yaxis.tickvals.length < tokens.length, "every row labelled, nothing to keep");
  assert.ok(yaxis.tickvals.includes(7), `${yaxis.tickvals}`);
  assert.equal(yaxis.ticktext[yaxis.tickvals.indexOf(7)], "␣w7");
  assert.deepEqual(tokenRows(tokens, 1.4, [null]).yaxis.tickvals, tokenRows(tokens, 1.4).yaxis.tickvals); // (none selected: none kept)
});

test("the Q, K, V and z panels' thinned token axis says in its title which tokens are labelled; one that labels all has none", () => {
  // 49 tokens at 1280x800: every 2nd token labelled down them and no word of it
  const words = (n) => Array.from({ length: n }, (_, i) => ({ display: i ? ["␣the", "␣cat", "s", "␣sailors"][i % 4] : "<|bos|>" }));
  let thinned = 0;
  // (10 tokens in presenter mode, every 2nd labelled down a panel 300 px high, are left out: "token (every 2nd)"
  // is counted 200 px there, more than the room thinnedTitle is given)
  for (const [n, k] of [[10, 1], [30, 1], [30, 1.4], [49, 1], [49, 1.4], [120, 1], [120, 1.4]]) {
    const { yaxis } = tokenRows(words(n), k);
    const t = yaxis.tickvals;
    if (t.length === n) assert.equal(yaxis.title, undefined, `${n} tokens, ×${k}: all labelled, titled`);
    else {
      thinned++;
      assert.match(yaxis.title.text, new RegExp(`^token \\(every ${t[1]}(st|nd|rd|th)( labelled)?\\)$`), `${n} tokens, ×${k}: every ${t[1]}`);
    }
  }
  assert.ok(thinned >= 4, `${thinned} thinned`);
});

test("the projection labels the selected query first, then the strongest lines' ends, and its caption says how many", async () => {
  // SmolLM2 on a 32-token sentence drew 64 labels over each other; now those with room, the rest named by hover
  const tokens = Array.from({ length: 6 }, (_, i) => ({ display: ["␣the", "␣lamp", "␣ships", "␣the", ".", "␣keeper"][i] }));
  const links = [[1, 0, 0.2], [4, 2, 0.9]];
  assert.deepEqual(labelOrder(6, links, 3).slice(0, 6), [[0, 3], [1, 3], [0, 4], [1, 2], [0, 1], [1, 0]]);
  assert.equal(labelOrder(6, links, 3).length, 12); // (each mark once)
  assert.deepEqual(labelOrder(2, [], null), [[0, 0], [1, 0], [0, 1], [1, 1]]); // no selection, no lines: in order
  const at = ([x, y]) => [x, -y]; // (1 px a unit, y up)
  const width = (text, size) => text.length * 0.6 * size;
  const options = { at, size: 11, marker: (trace, i) => (trace === 0 && i === 3 ? 14 : 9), width };
  // far apart: every mark labelled, and nothing said of it
  const far = { q: tokens.map((_, i) => [i * 100, 0]), k: tokens.map((_, i) => [i * 100, -200]), links };
  const all = projectionLabels(far, tokens, 3, options);
  assert.deepEqual(all.map((s) => s.size), [6, 6]);
  assert.equal(labelsNote(all, 6, 3, links), "");
  // all on one spot: the selected token's circle (its label above) and diamond (below) alone
  const heap = { q: tokens.map(() => [0, 0]), k: tokens.map(() => [0, 0]), links };
  const one = projectionLabels(heap, tokens, 3, options);
  assert.deepEqual(one.map((s) => [...s]), [[3], [3]]);
  assert.equal(labelsNote(one, 6, 3, links), " Labelled: 2 of the 12 marks, as many as have room (the selected query's first, then the strongest lines' ends); hover over a mark for its token.");
  assert.match(labelsNote(one, 6, null, []), / Labelled: 2 of the 12 marks, as many as have room; hover/);
  assert.match(labelsNote(one, 6, null, links), /as many as have room \(the strongest lines' ends first\); hover/);
  // a circle's label above it, a diamond's below
  const [top, bottom] = [labelBox([0, 0], 20, 11, 9, true), labelBox([0, 0], 20, 11, 9, false)];
  assert.ok(top[3] <= 0 && bottom[1] >= 0 && top[3] - top[1] >= 11, `${top} ${bottom}`);
});
