// What each head does, as the page shows it (frontend/js/roles.js, the role sources, the new state keys): the labels
// the grid draws are the API's, the finder's order matches the API's ranking rule, the Links overlay and the heatmap's
// picked rows toggle as the chips and Shift-clicks say, the combined row is picked (not computed) from the answer, and
// the new state survives its URL.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { sinkHidden } from "../../../frontend/js/views/grid.js";

import {
  acrossModelsIntro, combinedQueries, definitionText, headColor, labelsOf, modelCaption, noQueryWords, overlayHeads, PALETTE, pickRow, probeDropBand, probeDropWords, ruleText,
  MAX_PROBE_SEED, probeSeed, scoreText,
  sortHeads, strongest,
  fitTileText, tileText, toggleOverlay, toggleRow,
} from "../../../frontend/js/roles.js";
import { parse as parseTemplate, resolve } from "../../../frontend/js/lesson-template.js";
import { SOURCES } from "../../../frontend/js/sources.js";
import { DEFAULTS, intList, parse, serialize } from "../../../frontend/js/state.js";
import THEME from "../../../frontend/js/theme.json" with { type: "json" };
import { setVocabulary } from "../../../frontend/js/vocab.js";
import { analysis, byName, MODELS } from "./fixtures.mjs";
import { serverMeta } from "./meta.mjs";

before(() => setVocabulary(serverMeta()));

const ROLES = ["previous-token", "sink", "self", "duplicate-token", "induction", "fixed-offset", "entropy"];

/** A role table shaped like the API's: scores [layer][head] of {role: value}, labels where given. */
function table(scores, labels = {}) {
  return {
    roles: ROLES,
    queries: Object.fromEntries(ROLES.map((r) => [r, 5])),
    heads: scores.map((row, l) => row.map((sc, h) => {
      const lab = labels[`${l}.${h}`] || null;
      return { layer: l, head: h, scores: Object.fromEntries(ROLES.map((r) => [r, r in sc ? sc[r] : 0.1])), offset: 1,
               label: lab && lab[0], label_text: lab && lab[1], runner_up: null, margin: null };
    })),
  };
}

test("the grid's labels are the API's labels, as the API words them", () => {
  const t = table([[{}, { "previous-token": 0.92 }], [{ sink: 0.7 }, {}]], { "0.1": ["previous-token", "prev 0.92"], "1.0": ["sink", "sink 0.70"] });
  assert.deepEqual(labelsOf(t), [
    { layer: 0, head: 1, role: "previous-token", text: "prev 0.92" },
    { layer: 1, head: 0, role: "sink", text: "sink 0.70" },
  ]);
  assert.deepEqual(labelsOf(null), []);
  assert.equal(tileText("prev 0.92", false), "prev 0.92");
  assert.equal(tileText("offset 3 0.60", true), "offset 3\n0.60"); // a narrow tile: the score on a line of its own
  assert.equal(tileText("sink", true), "sink");
});

test("a causal tile's label: one line, two, or the role alone, whichever leaves every weight clear; else none", () => {
  // the label covers rows 0..r-1 and keys n-c..n-1 (r, c: its height and width in cells, rounded up); a weight
  // (key j <= query i) is covered when n - c <= r - 1
  const clear = (text, n, cell, size) => {
    const lines = text.split("\n");
    const c = Math.ceil((Math.max(...lines.map((l) => l.length)) * 0.65 * size + 3) / cell.w);
    const r = Math.ceil((lines.length * 1.3 * size + 3) / cell.h);
    return n - c >= r;
  };
  const big = { w: 12, h: 12 };
  assert.equal(fitTileText("sink 0.71", 12, big, 10), "sink 0.71"); // 62 px wide (6 cells), 16 px high (2 rows)
  assert.equal(fitTileText("sink 0.71", 7, big, 10), "sink\n0.71"); // one line needs 6 + 2 > 7; two: 3 + 3
  assert.equal(fitTileText("sink 0.71", 5, big, 10), "sink"); // two lines need 3 + 3 > 5; the role: 3 + 2
  assert.equal(fitTileText("sink 0.71", 4, big, 10), null); // nothing fits: not drawn
  assert.equal(fitTileText("offset 3 0.60", 30, big, 10), "offset 3 0.60");
  assert.equal(fitTileText("offset 3 0.60", 9, big, 10), "offset 3\n0.60");
  // whatever it returns leaves the weights clear, over many sizes; and it returns the longest form that does
  for (const text of ["prev 0.92", "induction 0.55", "offset 3 0.60", "dup 0.41"]) {
    for (let n = 1; n <= 40; n++) {
      for (const cell of [{ w: 2, h: 3 }, { w: 7, h: 5 }, { w: 20, h: 20 }, { w: 40, h: 30 }]) {
        for (const size of [8, 9, 10, 14]) {
          const got = fitTileText(text, n, cell, size);
          const forms = [text, text.replace(/ (\S+)$/, "\n$1"), text.replace(/ \S+$/, "")];
          if (got === null) assert.ok(forms.every((f) => !clear(f, n, cell, size)), [text, n, cell, size]);
          else {
            assert.ok(clear(got, n, cell, size), [text, n, cell, size, got]);
            assert.equal(got, forms.find((f) => clear(f, n, cell, size)));
          }
        }
      }
    }
  }
});

test("the legend states the API's thresholds and each definition, with how many queries counted", () => {
  const words = ruleText({ min_score: 0.4, min_margin: 0.15, min_queries: 2 });
  // a head at 0.3977 shows 0.40 in the table and has no label: the rule is said of the scores as computed
  assert.match(words, /by the scores as computed \(a score just under 0\.4 may show rounded as 0\.40\)/);
  assert.match(words, /at least 0\.4,/);
  assert.match(words, /0\.15 above/);
  assert.match(words, /at least 2 queries/);
  // (MiniLM on "THE CAT SAT": prev 1.00, offset 0.67 at d=1: not "a little")
  assert.match(words, /fixed offset of 1 or 0 is the previous-token or own-token role \(its score differs: it also counts the second token, whose key at offset 1 is the first token, left out; on a short sentence that lowers it a lot\)/);
  assert.match(words, /Broad \(entropy\) describes a head and is never a label/); // not a runner-up: "prev 0.42" beside offset 0.38 (d=1)
  assert.equal(ruleText(null), "");
  const d = { name: "induction", words: "After an earlier copy.", formula: "mean A[q, k]", queries: "repeats" };
  assert.equal(definitionText(d, 7), "induction: After an earlier copy.\nFormula: mean A[q, k]\nQueries that count: repeats (7 here)");
  assert.doesNotMatch(definitionText(d), /here/);
});

test("the finder ranks by any role, highest or lowest first, ties by layer then head, heads with no score last", () => {
  const t = table([
    [{ induction: 0.5 }, { induction: null }],
    [{ induction: 0.9 }, { induction: 0.5 }],
  ]);
  const order = (hs) => hs.map((x) => `${x.layer}.${x.head}`);
  assert.deepEqual(order(sortHeads(t, "induction")), ["1.0", "0.0", "1.1", "0.1"]); // the API's `ranking` rule
  assert.deepEqual(order(sortHeads(t, "induction", true)), ["0.0", "1.1", "1.0", "0.1"]);
  assert.equal(strongest(t, "induction").layer, 1);
  assert.equal(strongest(table([[{ induction: null }]]), "induction"), null);
  assert.equal(scoreText(0.923), "0.92");
  assert.equal(scoreText(null), "—");
});

test("a lesson's first head of a role's ranking, the second and the next past a tie are the finder's", () => {
  // the finder ranks the API's scores (four decimals, the numbers a lesson reads too) by sortHeads; a lesson names the
  // first of heads that tie ($max(path): the first in layer-by-layer order), the other tied head ($2nd(path)) and the
  // head after the tie ($next(path)). On every table of 2 layers x 3 heads with scores from 0.4123, 0.4087, 0.1 and
  // none, the heads they name stand where the finder puts them: first, second, and first below the top score.
  const VALUES = [0.4123, 0.4087, 0.1, null];
  const ctx = { layer: 0, head: 0, token: 0, depth: null, tokens: [] };
  const named = (answer, step) => {
    try {
      const at = resolve(answer, parseTemplate(`roles.roles.heads.$all.${step}(scores.previous-token)`).segments, ctx).path.at(-1);
      return answer.roles.heads.flat()[at];
    } catch (e) {
      if (!/no number to compare/.test(e.message)) throw e;
      return null;
    }
  };
  const key = (x) => (x ? `${x.layer}.${x.head}` : null);
  let ties = 0;
  for (let n = 0; n < VALUES.length ** 6; n++) {
    const s = [...Array(6).keys()].map((i) => VALUES[Math.floor(n / VALUES.length ** i) % VALUES.length]);
    const t = table([s.slice(0, 3), s.slice(3)].map((row) => row.map((v) => ({ "previous-token": v }))));
    const ranked = sortHeads(t, "previous-token").filter((x) => x.scores["previous-token"] !== null);
    const top = ranked.length ? ranked[0].scores["previous-token"] : null;
    if (ranked.length > 1 && ranked[1].scores["previous-token"] === top) ties++;
    assert.equal(key(named({ roles: t }, "$max")), key(ranked[0]));
    assert.equal(key(named({ roles: t }, "$2nd")), key(ranked[1]));
    assert.equal(key(named({ roles: t }, "$next")), key(ranked.find((x) => x.scores["previous-token"] < top)));
  }
  assert.ok(ties > 1000); // (tables where heads tie for the top: most of them)
});

test("Links: the chips add and take out heads; the selected head alone is the default", () => {
  const s = { head: 1, overlay: [] };
  assert.deepEqual(overlayHeads(s, 4), [1]);
  assert.deepEqual(toggleOverlay(s, 4, 3), [1, 3]);
  assert.deepEqual(toggleOverlay({ head: 1, overlay: [1, 3] }, 4, 3), []); // back to the selected head alone
  assert.deepEqual(toggleOverlay({ head: 1, overlay: [1, 3] }, 4, 1), [3]);
  assert.deepEqual(toggleOverlay({ head: 1, overlay: [3] }, 4, 3), []); // nothing left: the default
  assert.deepEqual(overlayHeads({ head: 0, overlay: [2, 9] }, 4), [2]); // a head the model lacks is left out
  assert.deepEqual(overlayHeads({ head: 0, overlay: [9] }, 4), [0]);
  // one colour per head, from the theme, repeated past its end
  assert.equal(PALETTE, THEME.heads.palette);
  assert.equal(new Set(PALETTE).size, PALETTE.length);
  assert.notEqual(headColor(0), headColor(1));
  assert.equal(headColor(PALETTE.length), headColor(0));
});

test("the heatmap's rows: Shift-click toggles a row; the server's combined row is picked, not recomputed", () => {
  assert.deepEqual(toggleRow([], 3), [3]);
  assert.deepEqual(toggleRow([5, 3], 4), [3, 4, 5]);
  assert.deepEqual(toggleRow([3, 4], 3), [4]);
  assert.equal(combinedQueries({ combine: "one", rows: [1] }, 5, 4), null);
  assert.deepEqual(combinedQueries({ combine: "sum", rows: [] }, 5, 4), [4]); // no rows picked: the query token
  assert.deepEqual(combinedQueries({ combine: "mean", rows: [1, 2, 9] }, 5, 4), [1, 2]); // a row the text lacks is left out
  const qr = { queries: [1, 2], combine: "sum", weights: [[[0.5, 1.5, 0, 0]], [[1, 0.25, 0.75, 0]]] }; // [layer][head][key]
  assert.deepEqual(pickRow(qr, 1, 0), [1, 0.25, 0.75, 0]);
  assert.deepEqual(pickRow(qr, 1, 0, [1, 2, 3]), [0.25, 0.75, 0]); // BOS hidden: its key left out
  assert.equal(pickRow(qr, 2, 0), null);
});

test("the role sources: the sentence's roles, the probe only when asked, the tiny models, the combined rows", () => {
  const ctx = (patch = {}, model = MODELS[0]) => ({ state: { ...structuredClone(DEFAULTS), model: model.name, ...patch }, model, models: byName, hover: null, overrides: {} });
  // the head finder asks; the attention view reads the table its analysis carries (sources.test.mjs)
  assert.deepEqual(SOURCES.roles(ctx({ view: "heads" })), { api: "roles", params: { text: DEFAULTS.text, model: "tiny-sinusoidal", positions: "normal", scale: true, ablate: [] } });
  assert.deepEqual(SOURCES.roledefs(ctx()), { api: "roleDefinitions" });
  assert.deepEqual(SOURCES.roleprobe(ctx()), { value: null });
  assert.deepEqual(SOURCES.roleprobe(ctx({ probe: true, pseed: 7, ablate: [[1, 2]] })).params,
    { model: "tiny-sinusoidal", positions: "normal", scale: true, ablate: [[1, 2]], probe: { seed: 7 } });
  const fam = serverMeta().families[0].models.filter((m) => byName.has(m));
  assert.deepEqual(SOURCES.rolemodels(ctx()).params, { models: fam, text: DEFAULTS.text });
  assert.deepEqual(SOURCES.rolemodels(ctx({ probe: true, pseed: 3 })).params, { models: fam, probe: { seed: 3 } });
  const have = () => ({ data: analysis({ n: 5 }), error: null, pending: false });
  assert.deepEqual(SOURCES.queryrows(ctx(), have), { value: null });
  assert.deepEqual(SOURCES.queryrows(ctx({ combine: "mean" }), have).params.query_rows, { queries: [4], combine: "mean" });
  const r = SOURCES.queryrows(ctx({ combine: "sum", rows: [1, 3, 8] }), have);
  assert.deepEqual(r.params.query_rows, { queries: [1, 3], combine: "sum" });
  assert.deepEqual(r.params.layers, []); // no full attention: only the combined rows
  assert.deepEqual(SOURCES.queryrows(ctx({ combine: "sum" }), () => ({ data: null, error: null, pending: true })), { wait: true });
});

test("the new state keys survive their URL; what a link names wrongly falls back", () => {
  const s = { ...structuredClone(DEFAULTS), view: "heads", overlay: [0, 2], rows: [3, 5], combine: "mean", probe: true, pseed: 42,
              role: "induction", asc: true };
  assert.deepEqual(parse(serialize(s)), s);
  const q = new URLSearchParams(serialize(s));
  assert.equal(q.get("overlay"), "0,2");
  assert.equal(q.get("rows"), "3,5");
  assert.equal(q.get("probe"), "1");
  const bad = parse("overlay=x,1,1,-2&rows=7,3,3&combine=max&pseed=-1&role=<b>");
  assert.deepEqual(bad.overlay, []); // a list with a part the page cannot use is dropped whole (state.test.mjs)
  assert.deepEqual(bad.rows, [3, 7]); // whole numbers, repeated and out of order: read
  assert.equal(bad.combine, "one");
  assert.equal(bad.pseed, 0);
  assert.equal(bad.role, DEFAULTS.role);
  assert.deepEqual(intList("4, 2,2,abc,", 10), [2, 4]);
});

test("the probe's loss words follow lesson 11's bands: the block the lesson keeps for a drop says what the Heads view says", async () => {
  const { readFile } = await import("node:fs/promises");
  const md = await readFile(new URL("../../../frontend/lessons/11-find-the-induction-head.md", import.meta.url), "utf8");
  const blocks = [...md.matchAll(/^::: when (.*loss_drop.*)\n([^\n]+)/gm)].map(([, cond, text]) => ({ cond, text }));
  assert.equal(blocks.length, 4);
  // the lesson's answer for each band, by the words its block starts with
  const bandOf = { "Much lower": "much", "Somewhat lower": "some", "About the same": "same", "Higher": "worse" };
  const holds = (cond, drop) => Function(`return (${cond.replaceAll("{{roleprobe.probe.loss_drop}}", `(${drop})`)
    .replaceAll("abs(", "Math.abs(").replaceAll(" and ", " && ")});`)();
  for (const drop of [-2, -0.3, -0.2999, 0, 0.2999, 0.3, 0.5, 1, 1.0001, 4.2]) {
    const kept = blocks.filter((b) => holds(b.cond, drop));
    assert.equal(kept.length, 1, `drop ${drop}: ${kept.length} blocks kept`);
    const band = Object.entries(bandOf).find(([start]) => kept[0].text.startsWith(start))[1];
    assert.equal(probeDropBand(drop), band, `drop ${drop}`);
  }
  assert.match(probeDropWords(2), /learned the sequence in context/);
  assert.doesNotMatch(probeDropWords(0.6), /learned/);
  assert.match(probeDropWords(0.1), /no sign/);
});

test("the panels across models say whose probe or sentence they run, and that a model not among them is not a panel", () => {
  const members = ["tiny-sinusoidal", "tiny-learned"];
  assert.equal(acrossModelsIntro({ members, onScreen: "tiny-learned", probe: false, seed: 0 }), "The same sentence through each model");
  assert.equal(acrossModelsIntro({ members, onScreen: "tiny-learned", probe: true, seed: 3 }),
    "The same probe (seed 3; they share one vocabulary, so one probe) through each model");
  const smol = acrossModelsIntro({ members, onScreen: "smollm2-135m", probe: true, seed: 0 });
  // ("final" is said of the trained models beside a checkpoint; beside SmolLM2 it read "The final tiny-sinusoidal, ...")
  assert.match(smol, /^The models tiny-sinusoidal, tiny-learned, not smollm2-135m: /);
  assert.match(smol, /not smollm2-135m's above/);
  assert.match(acrossModelsIntro({ members, onScreen: "tiny-learned@48", probe: false, seed: 0 }), /^The final .*, not tiny-learned@48: the same sentence/);
  // the panels run the models as trained: said where the page's own run has interventions (the table above has them)
  assert.equal(acrossModelsIntro({ members, onScreen: "tiny-learned", probe: false, seed: 0, intervened: true }),
    "The same sentence through each model, as trained: without the page's interventions");
});

test("with special tokens hidden, the grid's legend names the hidden first token a sink label's weight is on", () => {
  // tiles said "sink 0.71" of a <|bos|> column that was not drawn; a reader took it for the first word's
  const bos = { id: 0, text: "", display: "<|bos|>", special: true, position: 0 };
  assert.equal(sinkHidden({ hidden: [bos] }), "<|bos|>");
  assert.equal(sinkHidden({ hidden: [{ ...bos, display: "[SEP]", position: 9 }] }), null); // only a [SEP] at the end
  assert.equal(sinkHidden({ hidden: [] }), null);
  assert.equal(sinkHidden({ tokens: [bos] }), null); // nothing hidden
});

test("a model's panel across models names its scheme, and a fixed offset of 1 as the previous token", () => {
  // every tiny model's strongest fixed-offset head is at offset 1: "(offset 1)" answered "does a model without positions
  // grow fixed-offset heads?" with what the table calls a previous-token head
  const head = (layer, h, fo, offset) => ({ layer, head: h, offset, scores: { "fixed-offset": fo } });
  const r = (positional, offset) => ({ positional, probe: null,
    roles: { roles: ["fixed-offset"], heads: [[head(0, 0, 0.2, 2), head(0, 1, 0.41, offset)]] } });
  assert.equal(modelCaption(r("none", 1), "fixed-offset"), "No positions. Strongest: L0 H1 0.41 (offset 1: the previous token).");
  assert.equal(modelCaption(r("sinusoidal", 3), "fixed-offset"), "Sinusoidal positions. Strongest: L0 H1 0.41 (offset 3).");
  assert.equal(modelCaption(r("rotary", 0), "fixed-offset"), "Rotary positions. Strongest: L0 H1 0.41 (offset 0: the token itself).");
  const none = { positional: "alibi", probe: null, roles: { roles: ["induction"], heads: [[{ layer: 0, head: 0, offset: null, scores: { induction: null } }]] } };
  assert.equal(modelCaption(none, "induction"), "ALiBi positions. No head has this score here.");
});

test("a model's panel across models says where other heads tie with its strongest head", () => {
  // on the probe tiny-alibi's two best duplicate-token heads both score 0.0135: "Strongest: L… H… 0.01." named the
  // lower layer's alone (sortHeads' order on a tie), as if the other scored less
  const head = (layer, h, s) => ({ layer, head: h, offset: null, scores: { "duplicate-token": s } });
  const r = (heads) => ({ positional: "alibi", probe: null, roles: { roles: ["duplicate-token"], heads } });
  assert.equal(modelCaption(r([[head(0, 0, 0.0101), head(0, 1, 0.0135)], [head(1, 0, 0.0135), head(1, 1, 0.0131)]]), "duplicate-token"),
    "ALiBi positions. Strongest: L0 H1 0.0135, tied with L1 H0; 2 other heads read 0.01 too, the next L1 H1 0.0131.");
  assert.equal(modelCaption(r([[head(0, 0, 0.5), head(0, 1, 0.5)], [head(1, 0, 0.5), head(1, 1, 0.2)]]), "duplicate-token"),
    "ALiBi positions. Strongest: L0 H0 0.50, tied with 2 other heads.");
  // (a score shown the same but not equal is no tie: the caption names the higher, with the digits that tell it from
  // the others, and says which read the same in the grid)
  assert.equal(modelCaption(r([[head(0, 0, 0.0131), head(0, 1, 0.0135)]]), "duplicate-token"),
    "ALiBi positions. Strongest: L0 H1 0.0135; L0 H0 (0.0131) reads 0.01 too.");
});

test("a model's panel across models does not call one head the strongest with the score another shows alike", () => {
  // the probe (seed 0), tiny-sinusoidal, previous-token (the API's scores): L0 H1 0.1921 and L0 H2 0.1887, both
  // "0.19" in the grid, and the caption said "Strongest: L0 H1 0.19." as if the grid showed it above the other
  const head = (layer, h, s) => ({ layer, head: h, offset: null, scores: { "previous-token": s } });
  const r = (heads) => ({ positional: "sinusoidal", probe: null, roles: { roles: ["previous-token"], heads } });
  const probe = [[head(0, 0, 0.0312), head(0, 1, 0.1921), head(0, 2, 0.1887), head(0, 3, 0.1024)],
    [head(1, 0, 0.0402), head(1, 1, 0.0875), head(1, 2, 0.0511), head(1, 3, 0.0733)]];
  const said = modelCaption(r(probe), "previous-token");
  assert.equal(said, "Sinusoidal positions. Strongest: L0 H1 0.192; L0 H2 (0.189) reads 0.19 too.");
  // every score the caption writes differs from the next one's at the digits it writes them with
  const [a, b] = said.match(/\d\.\d+/g);
  assert.notEqual(a, b);
  // "Hello", tiny-rotary, sink: L3 H1 0.9932 and L0 H1 0.9906, both "0.99"
  const sink = (layer, h, s) => ({ layer, head: h, offset: null, scores: { sink: s } });
  const rotary = (heads) => ({ positional: "rotary", probe: null, roles: { roles: ["sink"], heads } });
  const hello = [[sink(0, 0, 0.91), sink(0, 1, 0.9906)], [sink(1, 0, 0.62), sink(1, 1, 0.5)], [sink(2, 0, 0.7), sink(2, 1, 0.8)],
    [sink(3, 0, 0.97), sink(3, 1, 0.9932)]];
  assert.equal(modelCaption(rotary(hello), "sink"), "Rotary positions. Strongest: L3 H1 0.993; L0 H1 (0.991) reads 0.99 too.");
  // several heads read alike: how many, and the next one's score
  const three = [[sink(0, 0, 0.9), sink(0, 1, 0.9962)], [sink(1, 0, 0.9951), sink(1, 1, 0.997)]];
  assert.equal(modelCaption(rotary(three), "sink"), "Rotary positions. Strongest: L1 H1 0.997; 2 other heads read 1.00 too, the next L0 H1 0.996.");
  // one head well above the rest: 2 decimals, as before
  assert.equal(modelCaption(r([[head(0, 0, 0.61), head(0, 1, 0.1887)]]), "previous-token"), "Sinusoidal positions. Strongest: L0 H0 0.61.");
});

test("probeSeed: the probe's seed from its box, or why the probe is not run", () => {
  // -3, 2.5 and 99999999999 ran seed 0 with no word, the box still showing the number typed
  for (const [raw, seed] of [["7", 7], [" 12 ", 12], ["0", 0], ["", 0], [String(MAX_PROBE_SEED), MAX_PROBE_SEED]]) {
    assert.deepEqual(probeSeed(raw), { seed }, raw);
  }
  for (const bad of ["-3", "2.5", "99999999999", "abc"]) {
    const got = probeSeed(bad);
    assert.equal(got.seed, undefined, bad);
    assert.equal(got.problem, `Seed “${bad}” is not a whole number from 0 to 2147483647: the probe was not run. Type one and run the probe again.`);
  }
});

test("noQueryWords: a role no query of the text counts for (induction with no repeated token) is said, not just “—”", () => {
  // "The cat sat on a mat." ranked by induction: every cell "—" and "No head has this score here.", with no reason
  const def = { role: "induction", name: "induction", queries: "queries whose token appeared earlier with another token after it" };
  const queries = { "previous-token": 6, sink: 7, induction: 0 };
  assert.equal(noQueryWords(queries, "induction", def), " No query of this text counts for induction (queries whose token " +
    "appeared earlier with another token after it), so no head has this score here: every score is “—”.");
  assert.equal(noQueryWords(queries, "sink", def), "");
  assert.equal(noQueryWords(null, "induction", def), "");
  const r = { positional: "rotary", probe: null, roles: { roles: ["induction"], queries, heads: [[{ layer: 0, head: 0, offset: null, scores: { induction: null } }]] } };
  // (the five panels name the role only: the ranked table above says which queries count)
  assert.equal(modelCaption(r, "induction", def), "Rotary positions. No query of this text counts for induction, so no head has " +
    "this score here.");
});
