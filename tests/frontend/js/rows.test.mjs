// The Attention view's combined rows (views/rows.js): the bar chart's key axis says which keys are labelled where a
// long text labels every k-th one.
import assert from "node:assert/strict";
import { test } from "node:test";

import { rowsLayout } from "../../../frontend/js/views/rows.js";
import { ordinal } from "../../../frontend/js/plot.js";

const tokens = (n) => Array.from({ length: n }, (_, i) => ({ display: i ? ["␣the", "␣harbour", "s", "␣gulls"][i % 4] : "<|bos|>" }));

test("the combined rows' key axis labels as many keys as have room and says which where not all are", () => {
  // a 56-token text at 1280x800 (the bars 696 px wide) labelled every 2nd key with no title saying so
  assert.equal(rowsLayout(tokens(56), 696, 1).xaxis.title.text, "key (every 2nd labelled; hover for all)");
  assert.equal(rowsLayout(tokens(56), 358, 1).xaxis.title.text, "key (every 4th labelled)"); // a phone: 18 labels have room
  assert.equal(rowsLayout(tokens(130), 358, 1.5).xaxis.title.text, "key (every 11th)");
  // every key labelled: no title (an empty one still takes room); none that fits: none at all
  assert.equal(rowsLayout(tokens(39), 696, 1).xaxis.title, undefined);
  assert.equal(rowsLayout(tokens(40), 1240, 1).xaxis.title, undefined);
  assert.equal(rowsLayout(tokens(56), 120, 1.5).xaxis.title, undefined);
  for (const n of [3, 12, 40, 41, 56, 81, 200])
    for (const width of [120, 358, 500, 696, 1240])
      for (const k of [1, 1.5]) {
        const { height, xaxis } = rowsLayout(tokens(n), width, k);
        const at = xaxis.tickvals;
        const step = at.length > 1 ? at[1] - at[0] : 1;
        assert.ok(at.every((v, i) => v === i * step), `${n} ${width} ${k}: ${at}`);
        // each label has 16 px times k across the bars (less the margins), or the axis labels its least, 3
        assert.ok(at.length <= Math.max(3, (width - 70) / (16 * k)) && at.length <= 40, `${n} ${width} ${k}: ${at.length} labels`);
        if (step > 1) assert.ok(Math.ceil(n / (step - 1)) > Math.min(40, Math.max(3, Math.floor((width - 70) / (16 * k)))), `${n} ${width} ${k}: a smaller step fits`);
        const title = xaxis.title ? xaxis.title.text : "";
        if (step === 1) assert.equal(title, "", `${n} ${width} ${k}`);
        // a title says the step the ticks have, and fits the plot's width (less its margins) at 8.4 px a letter
        else if (title) {
          assert.match(title, new RegExp(`^key \\(every ${ordinal(step)}( labelled)?(; hover for all)?\\)$`));
          assert.ok(title.length * 8.4 * k <= width - 70, `${n} ${width} ${k}: ${title}`);
        } else assert.ok(`key (every ${ordinal(step)})`.length * 8.4 * k > width - 70, `${n} ${width} ${k}`);
        // the title's line is added to the chart's height: the bars keep theirs
        assert.equal(height, 230 + (title ? 20 * k : 0));
      }
});
