// The legend by the token strip: what its markers mean (only those the strip shows: ␣, ↵, <0xE6>, ...), and a
// note when the sentence has characters the model never saw in training (the API's `unseen_characters`; null
// where the training text is not known, and then nothing is said). Text is set with textContent only.
import { h } from "../plot.js";
import { codeOf, tokenizerNotes, typedTexts } from "../tokentext.js";

const BYTES = /(<0x[0-9A-F]{2}>)+/;
const BYTE_MEANING = "one byte of a character the model’s vocabulary splits into bytes";

const MARKERS = [
  [/␣/, "a space that belongs to the token"],
  [/↵/, "a newline"],
  [/⇥/, "a tab"],
  [BYTES, BYTE_MEANING],
  [/<U\+[0-9A-F]{4,6}>/, "an invisible character, by its code"],
  [/^##/, "a piece that continues the word before it"],
];

/** A character as the note shows it: spaces, line breaks and invisible characters by a mark or their code. */
export function visible(c) {
  if (c === " ") return "␣";
  if (c === "\n") return "↵";
  if (c === "\t") return "⇥";
  if (/^[\p{C}\p{Z}]$/u.test(c)) return codeOf(c);
  return c;
}

const WORDS = ["", "one", "two", "three", "four"];

/** The markers the strip shows, each with an example from the strip and what it means. Bytes: a chip's run of them,
 * the longest (a chip may hold several bytes: <0xF0><0x9F> is two). */
export function markersIn(tokens) {
  const out = [];
  for (const [re, meaning] of MARKERS) {
    const hits = tokens.map((t) => re.exec(t.display || "")).filter(Boolean);
    if (!hits.length) continue;
    if (re !== BYTES) {
      out.push({ mark: hits[0][0], meaning });
      continue;
    }
    const mark = hits.reduce((a, b) => (b[0].length > a[0].length ? b : a))[0];
    const n = mark.length / 6;
    out.push({ mark, meaning: n === 1 ? meaning : `${WORDS[n] || n} bytes, each <0xNN> ${meaning}` });
  }
  return out;
}

/** The special tokens the strip shows (BOS; MiniLM's [CLS] and [SEP]), explained in one line, each named once in
 * the order the strip shows them: on a phone a chip's tooltip is out of reach, and a [SEP] the line did not name was
 * left unexplained. */
export function specialIn(tokens) {
  const marks = [...new Set(tokens.filter((t) => t.special).map((t) => t.display))];
  if (!marks.length) return [];
  return [{ mark: marks.join(" "), meaning: marks.length === 1 ? "(dashed) a token the tokenizer adds, standing for no text of the sentence"
    : "(dashed) tokens the tokenizer adds, standing for no text of the sentence" }];
}

/** data: {tokens, unseen (the API's unseen_characters), model, sentence (the text of the tokens, where known)}. */
export function render(element, data) {
  const tokens = (data && data.tokens) || [];
  const notes = tokenizerNotes(tokens, typedTexts(data && data.sentence, tokens), (data && data.model) || undefined);
  const items = [...markersIn(tokens), ...notes, ...specialIn(tokens)].map(({ mark, meaning }) =>
    h("span", { class: "legend-item" }, h("span", { class: "tokname" }, mark), ` ${meaning}`));
  const unseen = (data && data.unseen) || [];
  const note = unseen.length
    ? h("span", { class: "unseen", role: "note" },
        `${data.model} never saw ${unseen.length === 1 ? "this character" : "these characters"} in training: `,
        ...unseen.flatMap((c, i) => [i ? ", " : "", h("span", { class: "tokname" }, visible(c))]),
        ". It has tokens for them, but nothing taught it what they mean.")
    : null;
  element.replaceChildren(...items, ...(note ? [note] : []));
  element.hidden = !items.length && !note;
}
