// The attribution view's heads heatmap: a head the run ablated is marked "off", not drawn as a plain 0.00 beside a
// head that adds about 0 by itself (ablate=1.2,0.0 showed L0 H0 and L1 H2 as "0.00", like L1 H1).
import assert from "node:assert/strict";
import { test } from "node:test";

import { headCellText, partsTitle } from "../../../frontend/js/views/attribution.js";

const answer = (ablate) => ({ heads: [[0, 0.5, -0.25], [0.004, 0, 1.5]], interventions: { positions: "normal", scale: true, ablate } });

test("an ablated head's cell says off; the others their number where the grid is small", () => {
  const r = answer([[1, 2], [0, 0]]);
  assert.deepEqual(headCellText(r, true), [["off", "0.50", "-0.25"], ["0.00", "0.00", "off"]]);
  assert.deepEqual(headCellText(r, false), [["off", "", ""], ["", "", "off"]]); // a large grid: only the marks
  assert.deepEqual(headCellText(answer([]), true), [["0.00", "0.50", "-0.25"], ["0.00", "0.00", "1.50"]]);
  assert.deepEqual(headCellText({ heads: [[0.25]] }, true), [["0.25"]]); // an answer without interventions
});

// The bars' title named "biases" on SmolLM2, whose answer has no bias part (no attn_bias, mlp_bias or norm_bias):
// the title names what the bars are.
test("the parts' title names biases only where the answer has a bias part", () => {
  const part = (kind) => ({ kind, layer: null, label: kind, value: 0.5 });
  assert.equal(partsTitle([part("embed"), part("mlp"), part("mlp")]), "Embeddings and MLPs");
  assert.equal(partsTitle([part("embed"), part("pos_embed"), part("attn_bias"), part("mlp"), part("mlp_bias"), part("norm_bias")]),
    "Embeddings, MLPs and biases");
  assert.equal(partsTitle([part("embed"), part("mlp"), part("norm_bias")]), "Embeddings, MLPs and biases");
});
