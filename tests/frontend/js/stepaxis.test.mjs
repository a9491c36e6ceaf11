// The training-step axes (the lab's loss and role plots, views/lab.js; the replay's "How it learned", views/replay.js):
// steps are whole numbers, so every tick is one, for any run length and plot width. Plotly's own ticks put a 3-step
// run's at 0.5, 1.5, 2.5.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { stepAxis } from "../../../frontend/js/plot.js";

/** The ticks Plotly draws for a linear axis: tick0 + i * dtick inside the range. */
function ticks(axis) {
  assert.equal(axis.tickmode, "linear");
  const out = [];
  for (let v = axis.tick0; v <= axis.range[1] + 1e-9; v += axis.dtick) if (v >= axis.range[0] - 1e-9) out.push(v);
  return out;
}

test("a step axis ticks whole steps only, from step 0, for any run length and width", () => {
  for (const steps of [1, 2, 3, 5, 7, 12, 50, 400, 2000, 3000])
    for (const width of [280, 330, 600, 1200])
      for (const k of [1, 1.5]) {
        const axis = stepAxis(steps, width, k);
        const at = ticks(axis);
        assert.deepEqual(axis.range, [0, steps]);
        assert.ok(at.every(Number.isInteger), `${steps} steps, ${width} px: ticks ${at}`);
        assert.equal(at[0], 0);
        assert.ok(at.length >= 2, `${steps} steps, ${width} px: ticks ${at}`);
        // room for each label: no more than one per 40 px (the longest label, "3000", is 28 px wide)
        assert.ok(at.length <= Math.max(2, Math.floor(width / 40)), `${steps} steps, ${width} px: ${at.length} ticks`);
      }
});

test("a short run ticks every step; a long one at 1, 2 or 5 times a power of ten", () => {
  assert.deepEqual(ticks(stepAxis(3, 600)), [0, 1, 2, 3]);
  assert.deepEqual(ticks(stepAxis(1, 600)), [0, 1]);
  assert.deepEqual(ticks(stepAxis(2, 330)), [0, 1, 2]);
  for (const steps of [50, 2000]) assert.match(String(stepAxis(steps, 600).dtick), /^[125]0*$/);
});

test("every plot with a training-step axis builds it with stepAxis", () => {
  for (const file of ["views/lab.js", "views/replay.js"]) {
    const src = readFileSync(new URL(`../../../frontend/js/${file}`, import.meta.url), "utf8");
    assert.doesNotMatch(src, /title: \{ text: "training step" \}/, `${file} draws a step axis of its own`);
    assert.match(src, /stepAxis\(/, file);
  }
});
