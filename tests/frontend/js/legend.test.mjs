// The legend's markers: each with an example from the strip and words true of that example.
import assert from "node:assert/strict";
import { test } from "node:test";

import { markersIn, specialIn } from "../../../frontend/js/views/legend.js";

const tok = (display) => ({ id: 1, text: "", display, special: false, position: 0 });

test("a chip of several bytes is explained as that many bytes, not as one byte", () => {
  // SmolLM2 "🙂": <0xF0><0x9F> then <0x99><0x82>
  const smol = markersIn([tok("<0xF0><0x9F>"), tok("<0x99><0x82>"), tok("␣and")]);
  const bytes = smol.find((m) => m.mark.startsWith("<0x"));
  assert.equal(bytes.mark, "<0xF0><0x9F>");
  assert.equal(bytes.meaning, "two bytes, each <0xNN> one byte of a character the model’s vocabulary splits into bytes");
  assert.doesNotMatch(bytes.meaning, /^one byte/);
  // a tiny model's chips hold one byte each: the wording stays
  const tiny = markersIn([tok("<0xE6>"), tok("<0x97>")]).find((m) => m.mark.startsWith("<0x"));
  assert.deepEqual(tiny, { mark: "<0xE6>", meaning: "one byte of a character the model’s vocabulary splits into bytes" });
  // the longest run in the strip is the example, wherever it is
  assert.equal(markersIn([tok("<0x8E>"), tok("␣<0xF0><0x9F>")]).find((m) => m.mark.startsWith("<0x")).mark, "<0xF0><0x9F>");
});

test("the special tokens the strip shows are explained where they are, not only in a tooltip", () => {
  // a phone has no hover: the dashed <|bos|> and MiniLM's [CLS] and [SEP] were explained only in a chip's title
  const special = (display) => ({ ...tok(display), special: true });
  assert.deepEqual(specialIn([special("<|bos|>"), tok("The")]),
    [{ mark: "<|bos|>", meaning: "(dashed) a token the tokenizer adds, standing for no text of the sentence" }]);
  // one line for them all, naming each: MiniLM's [SEP] was a dashed chip the legend did not explain
  assert.deepEqual(specialIn([special("[CLS]"), tok("hi"), special("[SEP]")]),
    [{ mark: "[CLS] [SEP]", meaning: "(dashed) tokens the tokenizer adds, standing for no text of the sentence" }]);
  assert.equal(specialIn([special("[CLS]"), tok("hi"), special("[SEP]"), tok("yo"), special("[SEP]")])[0].mark, "[CLS] [SEP]");
  assert.deepEqual(specialIn([tok("<|bos|>")]), []); // typed as text, it is not special
});
