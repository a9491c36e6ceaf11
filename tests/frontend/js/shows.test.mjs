// What a view's plots say they draw (plot.js panel's `shows`, the position lab's scheme diagrams): on a phone a
// lesson's revealed answer scrolls the plot that draws its number above the sheet (lessons.js readPlot), and a name
// that matches no placeholder falls back to the view's first plot without a word. Each name must be the start of a
// placeholder a lesson writes (the shipped lessons, the questions' reveals), or name fields the view reads.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { parse, SOURCES } from "../../../frontend/js/lesson-template.js";
import { schemesShown } from "../../../frontend/js/views/poslab.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const read = (path) => readFileSync(`${ROOT}/${path}`, "utf8");
const VIEWS = readdirSync(`${ROOT}/frontend/js/views`).filter((f) => f.endsWith(".js"));

/** Every placeholder the lessons write, as readPlot reads one: its source (with its settings) and path, by dots. */
function placeholders() {
  const texts = [
    ...readdirSync(`${ROOT}/frontend/lessons`).filter((f) => /^\d+-.*\.md$/.test(f)).map((f) => read(`frontend/lessons/${f}`)),
    read("frontend/js/lessons.js"), read("frontend/js/lesson-template.js"), // (the questions' reveals)
  ];
  const out = new Set();
  for (const text of texts) {
    for (const [, raw] of text.matchAll(/\{\{(.*?)\}\}/g)) {
      try {
        const p = parse(raw);
        out.add([p.spec, ...p.segments].join("."));
      } catch {
        // (a placeholder written in a comment or a doc string: not one a lesson shows)
      }
    }
  }
  return [...out];
}

const PLACEHOLDERS = placeholders();
const used = (name) => PLACEHOLDERS.some((p) => p === name || p.startsWith(`${name}.`));
const SHOWS = /shows:\s*\[([^\]]*)\]/g;
/** The view's source, but for its names of what it shows, reads each field of the name after its source: `.final`
 * and `.accuracy` of "labrun.final.accuracy". */
const readBy = (source, name) => name.split(".").slice(1)
  .every((field) => new RegExp(`\\.${field}\\b`).test(source.replace(SHOWS, "")));

test("every name a view's panel says it shows is a lesson's placeholder or a field the view reads", () => {
  let seen = 0;
  for (const file of VIEWS) {
    const source = read(`frontend/js/views/${file}`);
    for (const [, list] of source.matchAll(SHOWS)) {
      for (const [, name] of list.matchAll(/"([^"]*)"/g)) {
        seen++;
        assert.match(name, /^[a-z]+(\([^)]*\))?(\.\w+)+$/, `${file}: “${name}” is not a source and a path`);
        assert.ok(SOURCES.includes(name.split(/[.(]/)[0]), `${file}: “${name}” names no source`);
        assert.ok(used(name) || readBy(source, name), `${file}: “${name}” is no lesson's placeholder and no field the view reads`);
      }
    }
  }
  assert.ok(seen >= 10, `${seen} names found`); // (the explain view's, the position lab's and the training lab's)
});

test("the scheme diagrams show what each model drawn enters and reaches, the model on screen's as the page's own", () => {
  const item = (name, positional) => ({ name, data: { model: name, positional } });
  const items = [item("tiny-sinusoidal", "sinusoidal"), item("tiny-rotary", "rotary"), { name: "tiny-alibi", error: "not installed" },
    { name: "tiny-nope", data: null }];
  const names = schemesShown(items, { name: "tiny-rotary" }).split(" ");
  assert.deepEqual(names, ["scheme(model=tiny-sinusoidal).enters", "scheme(model=tiny-sinusoidal).reaches",
    "scheme(model=tiny-rotary).enters", "scheme(model=tiny-rotary).reaches", "scheme.enters", "scheme.reaches"]);
  // a model not drawn (no diagram yet, or one that failed) is not named; the page's model among none drawn neither
  assert.equal(schemesShown(items, { name: "tiny-alibi" }).includes("scheme.enters"), false);
  const poslab = read("frontend/js/views/poslab.js");
  for (const name of names) assert.ok(used(name) || readBy(poslab, name), name);
  assert.ok(names.filter(used).length >= 2); // (lesson 10 step 4's answer quotes them)
});
