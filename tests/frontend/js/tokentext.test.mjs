// What the tokens stand for beyond their chips: the tokens of one id from different text, the characters typed before
// a WordPiece normaliser changed them, and the legend's and tooltips' words about it. The tokens are the API's (MiniLM,
// a tiny model, SmolLM2), as /api/embeddings gave them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { chipNote, sharedIds, sharedIdsNote, sources, tokenizerNotes, typedTexts } from "../../../frontend/js/tokentext.js";

const tok = (id, text, display, special = false) => ({ id, text, display, special, position: 0 });
// MiniLM, "🙂 and 🎉": both emoji are [UNK]
const MINI_EMOJI = [tok(101, "", "[CLS]", true), tok(100, "🙂", "[UNK]"), tok(1998, " and", "and"), tok(100, " 🎉", "[UNK]"), tok(102, "", "[SEP]", true)];
// MiniLM, "🙂🙂 The über café"
const MINI_CASE = [tok(101, "", "[CLS]", true), tok(100, "🙂🙂", "[UNK]"), tok(1996, " the", "the"), tok(19169, " uber", "uber"),
  tok(7668, " cafe", "cafe"), tok(102, "", "[SEP]", true)];
// a tiny model, "日 本": both characters begin with the byte <0xE6>
const TINY_CJK = [tok(0, "", "<|bos|>", true), tok(163, "日", "<0xE6>"), tok(246, "", "<0x97>"), tok(99, "", "<0xA5>"), tok(221, " ", "␣"),
  tok(163, "本", "<0xE6>"), tok(251, "", "<0x9C>"), tok(106, "", "<0xAC>")];
// SmolLM2, "🙂🙂 The": a true repeat (the same text twice)
const SMOL_REPEAT = [tok(10813, "🙂", "<0xF0><0x9F>"), tok(38887, "", "<0x99><0x82>"), tok(10813, "🙂", "<0xF0><0x9F>"),
  tok(38887, "", "<0x99><0x82>"), tok(378, " The", "␣The")];

test("one id from different text: [UNK] for two emoji, a byte shared by two characters; a true repeat is not one", () => {
  assert.deepEqual(sharedIds(MINI_EMOJI), [{ id: 100, display: "[UNK]", positions: [1, 3], texts: ["🙂", "🎉"] }]);
  assert.deepEqual(sources(TINY_CJK), ["", "日", "日", "日", " ", "本", "本", "本"]);
  assert.deepEqual(sharedIds(TINY_CJK), [{ id: 163, display: "<0xE6>", positions: [1, 5], texts: ["日", "本"] }]);
  assert.deepEqual(sharedIds(SMOL_REPEAT), []);
  assert.deepEqual(sharedIds([tok(1, "the", "the"), tok(1, " the", "the")]), []); // (WordPiece: the spaces before are not the token's)
  assert.equal(sharedIdsNote(SMOL_REPEAT, "they score 1"), "");
  assert.equal(sharedIdsNote(MINI_EMOJI, "they score 1"),
    " One id, different text: tokens 1 and 3 are both [UNK] (id 100), from “🙂” and “🎉”: they score 1.");
  assert.equal(sharedIdsNote(TINY_CJK, "they score 1"),
    " One id, different text: tokens 1 and 5 are both <0xE6> (id 163), from “日” and “本”: they score 1.");
});

test("the characters typed behind each token: lower-cased and accents stripped by WordPiece, exact elsewhere", () => {
  assert.deepEqual(typedTexts("🙂🙂 The über café", MINI_CASE), ["", "🙂🙂", " The", " über", " café", ""]);
  assert.deepEqual(typedTexts("日 本", TINY_CJK), TINY_CJK.map((t) => t.text));
  // a piece split in two: the accent goes with the piece that holds its letter
  assert.deepEqual(typedTexts("Über", [tok(1, "u", "u"), tok(2, "ber", "##ber")]), ["Ü", "ber"]);
  assert.equal(typedTexts("another sentence", MINI_CASE), null);
  assert.equal(typedTexts(null, MINI_CASE), null);
});

test("a chip's tooltip says what the chip hides: the text [UNK] replaced, a capital or an accent, a byte's character", () => {
  const typed = typedTexts("🙂🙂 The über café", MINI_CASE);
  const from = sources(MINI_CASE);
  assert.deepEqual(MINI_CASE.map((t, i) => chipNote(t, typed[i], from[i])), ["", " · typed “🙂🙂”", " · typed “The”", " · typed “über”", " · typed “café”", ""]);
  assert.equal(chipNote(tok(1998, " and", "and"), " and", "and"), "");
  assert.equal(chipNote(tok(5, "ber", "##ber"), "ber", "ber"), "");
  assert.deepEqual(TINY_CJK.map((t, i) => chipNote(t, t.text, sources(TINY_CJK)[i])),
    ["", " · part of “日”", " · part of “日”", " · part of “日”", "", " · part of “本”", " · part of “本”", " · part of “本”"]);
  assert.equal(chipNote(tok(378, " The", "␣The"), " The", "The"), "");
});

test("the legend names [UNK], lower-casing and stripped accents only where the sentence shows them", () => {
  const notes = tokenizerNotes(MINI_CASE, typedTexts("🙂🙂 The über café", MINI_CASE), "minilm-l6");
  assert.deepEqual(notes.map((n) => n.mark), ["[UNK]", "The → the", "über → uber"]);
  assert.match(notes[0].meaning, /no token for \(here “🙂🙂”\)/);
  assert.match(notes[1].meaning, /^minilm-l6 lower-cases/);
  assert.match(notes[2].meaning, /^minilm-l6 strips accents/);
  const plain = [tok(101, "", "[CLS]", true), tok(1996, "the", "the"), tok(4937, " cat", "cat"), tok(102, "", "[SEP]", true)];
  assert.deepEqual(tokenizerNotes(plain, typedTexts("the cat", plain), "minilm-l6"), []);
  // the other tokenizers change nothing: their text is what was typed
  assert.deepEqual(tokenizerNotes(SMOL_REPEAT, typedTexts("🙂🙂 The", SMOL_REPEAT), "smollm2-135m"), []);
  // without the sentence, [UNK] is still explained from the text it replaced
  assert.deepEqual(tokenizerNotes(MINI_CASE, null, "minilm-l6").map((n) => n.mark), ["[UNK]"]);
  // a training-lab model (one token per letter, case folded, spaces skipped): its tokens' text is as typed and only
  // their display is lower-cased; it said nothing of "The Cat" read as "t h e c a t"
  const LAB = [tok(0, "", "<|bos|>", true), tok(20, "T", "t"), tok(8, "h", "h"), tok(5, "e", "e"), tok(3, " C", "c"), tok(1, "a", "a"),
    tok(20, "t", "t"), tok(29, " é", "<unk>")];
  const lab = tokenizerNotes(LAB, typedTexts("The Cat é", LAB), "lab-1@20");
  assert.deepEqual(lab.map((n) => n.mark), ["<unk>", "T → t"]);
  assert.match(lab[0].meaning, /no token for \(here “é”\)/);
  assert.match(lab[1].meaning, /^lab-1@20 lower-cases/);
  assert.equal(chipNote(LAB[4], typedTexts("The Cat é", LAB)[4], "C"), " · typed “C”");
});

test("an invisible character after a word that the API gives to the next token's text: the tokens still line up", () => {
  // MiniLM, "Hi naïve\u200b end" (a zero-width space, common in pasted text): the API puts U+200B at the start of
  // "end"'s text; the piece "naive" took it too, the tokens no longer lined up, and the legend lost its notes
  const MINI_ZW = [tok(101, "", "[CLS]", true), tok(7632, "hi", "hi"), tok(15743, " naive", "naive"), tok(2203, "\u200b end", "end"),
    tok(102, "", "[SEP]", true)];
  const typed = typedTexts("Hi naïve\u200b end", MINI_ZW);
  assert.deepEqual(typed, ["", "Hi", " naïve", "\u200b end", ""]);
  assert.equal(typed.join(""), "Hi naïve\u200b end"); // every character typed, each once
  assert.deepEqual(tokenizerNotes(MINI_ZW, typed, "minilm-l6").map((n) => n.mark), ["Hi → hi", "naïve → naive"]);
  // a word joiner after the first word (MiniLM, "Ünïcode\u2060 word")
  const MINI_WJ = [tok(101, "", "[CLS]", true), tok(27260, "unicode", "unicode"), tok(2773, "\u2060 word", "word"), tok(102, "", "[SEP]", true)];
  assert.deepEqual(typedTexts("Ünïcode\u2060 word", MINI_WJ), ["", "Ünïcode", "\u2060 word", ""]);
});

test("a token's marks said as words", async () => {
  const { spoken } = await import("../../../frontend/js/tokentext.js");
  assert.equal(spoken("␣the"), "space the");
  assert.equal(spoken("␣"), "space");
  assert.equal(spoken("↵↵"), "newline newline");
  assert.equal(spoken("⇥x␣"), "tab x space");
  assert.equal(spoken("<0xF0>"), "<0xF0>");
});

test("the legend's [UNK] names every text it stood for in the sentence, not only the first", () => {
  // MiniLM, "I love 🙂 and 🎉 with ☃ ok" (the API's tokens): three [UNK]s for three different texts; the legend said
  // "(here “🙂”)" only
  const sentence = "I love 🙂 and 🎉 with ☃ ok";
  const three = [tok(101, "", "[CLS]", true), tok(1045, "i", "i"), tok(2293, " love", "love"), tok(100, " 🙂", "[UNK]"), tok(1998, " and", "and"),
    tok(100, " 🎉", "[UNK]"), tok(2007, " with", "with"), tok(100, " ☃", "[UNK]"), tok(7929, " ok", "ok"), tok(102, "", "[SEP]", true)];
  for (const typed of [typedTexts(sentence, three), null]) {
    const [unk] = tokenizerNotes(three, typed, "minilm-l6");
    assert.equal(unk.mark, "[UNK]");
    assert.match(unk.meaning, /no token for \(here “🙂”, “🎉” and “☃”\)/);
  }
  // the same text twice is named once
  assert.match(tokenizerNotes(MINI_EMOJI.concat([tok(100, " 🙂", "[UNK]")]), null, "minilm-l6")[0].meaning, /\(here “🙂” and “🎉”\)/);
  // many: the first few and how many more
  const many = ["α", "β", "γ", "δ", "ε", "ζ"].map((c, i) => tok(100, ` ${c}`, "[UNK]", false, i));
  assert.match(tokenizerNotes(many, null, "minilm-l6")[0].meaning, /\(here “α”, “β”, “γ”, “δ” and 2 more texts\)/);
});
