// The attribution view's heads heatmap: a head the run ablated is marked "off", not drawn as a plain 0.00 beside a
// head that adds about 0 by itself (ablate=1.2,0.0 showed L0 H0 and L1 H2 as "0.00", like L1 H1).
import assert from "node:assert/strict";
import { test } from "node:test";

import { headCellText } from "../../../frontend/js/views/attribution.js";

const answer = (ablate) => ({ heads: [[0, 0.5, -0.25], [0.004, 0, 1.5]], interventions: { positions: "normal", scale: true, ablate } });

test("an ablated head's cell says off; the others their number where the grid is small", () => {
  const r = answer([[1, 2], [0, 0]]);
  assert.deepEqual(headCellText(r, true), [["off", "0.50", "-0.25"], ["0.00", "0.00", "off"]]);
  assert.deepEqual(headCellText(r, false), [["off", "", ""], ["", "", "off"]]); // a large grid: only the marks
  assert.deepEqual(headCellText(answer([]), true), [["0.00", "0.50", "-0.25"], ["0.00", "0.00", "1.50"]]);
  assert.deepEqual(headCellText({ heads: [[0.25]] }, true), [["0.25"]]); // an answer without interventions
});
