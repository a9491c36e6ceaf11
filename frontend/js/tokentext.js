// What a sentence's tokens stand for beyond what their chips show: the text each one came from (the API's `text`,
// and the characters typed before a WordPiece normaliser lower-cased them or stripped their accents), and the
// tokens that are one id although they came from different text ([UNK] for two different words, one byte shared by
// two characters). Pure functions of the API's tokens ({id, text, display, special, index?}) and the sentence sent.

import { count } from "./derive.js";

const BYTE = /<0x[0-9A-F]{2}>/;
const UNK = /^(\[UNK\]|<unk>|<\|unk\|>)$/;

/** The text a WordPiece normaliser reads for `s`: lower-cased, without accents (marks) or control characters. */
export const fold = (s) => s.toLowerCase().normalize("NFD").replace(/[\p{Mn}\p{Cc}\p{Cf}]/gu, "");

/** Whether a token is its vocabulary's unknown token ([UNK]): it stands for text the vocabulary cannot spell. */
export const isUnknown = (t) => !t.special && UNK.test(t.display || "");

/**
 * For each token, the text it came from: its own `text` without the spaces before it, or, for a byte token with no
 * text of its own (the later bytes of a character split over several tokens), the character it is a byte of (the
 * last character of the text before it). "" for a special token (it stands for no text).
 */
export function sources(tokens) {
  let last = "";
  return tokens.map((t) => {
    if (t.special) return "";
    const text = t.text || "";
    if (text) {
      last = [...text].at(-1);
      return text.trimStart() || text;
    }
    return BYTE.test(t.display || "") ? last : "";
  });
}

/**
 * The ids that stand at two or more places of the sentence for different text (as `sources` gives it): [{id,
 * display, positions (the tokens' indices), texts (the different texts, in order)}], in the order they first occur.
 */
export function sharedIds(tokens) {
  const from = sources(tokens);
  const groups = new Map();
  tokens.forEach((t, i) => {
    if (!groups.has(t.id)) groups.set(t.id, []);
    groups.get(t.id).push(i);
  });
  const out = [];
  for (const [id, at] of groups) {
    const texts = [...new Set(at.map((i) => from[i]))];
    if (texts.length > 1) out.push({ id, display: tokens[at[0]].display, positions: at.map((i) => tokens[i].index ?? i), texts });
  }
  return out;
}

/** a, b and c */
export function listed(items) {
  return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/** A character by its code point: "U+200B". */
export const codeOf = (c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;

/** A text in quotes, its line breaks, tabs and invisible characters shown by a mark or their code. */
export function quoted(s) {
  if (!s) return "no text";
  const shown = [...s].map((c) => (c === "\n" ? "↵" : c === "\t" ? "⇥" : /^[\p{C}]$/u.test(c) ? codeOf(c) : c)).join("");
  return `“${shown}”`;
}

/**
 * The sentence of a caption that names the tokens of one id that came from different text (`sharedIds`), and
 * `then`, what follows from being one id ("they score 1"); "" where there are none. At most `max` ids are named.
 */
export function sharedIdsNote(tokens, then, max = 3) {
  const groups = sharedIds(tokens);
  if (!groups.length) return "";
  const one = (g) => `tokens ${listed(g.positions.map(String))} are all ${g.display} (id ${g.id}), from ${listed(g.texts.map(quoted))}`
    .replace(/^tokens (\S+ and \S+) are all/, "tokens $1 are both");
  const named = groups.slice(0, max).map(one);
  const more = groups.length > max ? `; and ${count(groups.length - max, "more id", "more ids")} like these` : "";
  const text = named.join("; ") + more;
  return ` One id, different text: ${text}: ${then}.`;
}

/**
 * For each token, the characters of `sentence` it stands for, as typed: its `text`, or, where a WordPiece normaliser
 * changed them (lower-cased, stripped accents, dropped control characters), the characters before that ("" for a
 * special token). null where the tokens' texts cannot be lined up with the sentence (another sentence's tokens).
 */
export function typedTexts(sentence, tokens) {
  if (typeof sentence !== "string") return null;
  const out = [];
  let p = 0;
  const textOf = (t) => (t && !t.special ? t.text || "" : "");
  for (let k = 0; k < tokens.length; k++) {
    const text = textOf(tokens[k]);
    if (sentence.startsWith(text, p)) {
      out.push(text);
      p += text.length;
      continue;
    }
    const lead = text.match(/^\s*/)[0];
    if (!sentence.startsWith(lead, p)) return null;
    const piece = text.slice(lead.length);
    let q = p + lead.length;
    let got = "";
    while (fold(got) !== piece) {
      if (q >= sentence.length || !piece.startsWith(fold(got))) return null;
      const c = String.fromCodePoint(sentence.codePointAt(q));
      got += c;
      q += c.length;
    }
    // the marks and invisible characters right after the piece were dropped with it, unless the next token's text
    // starts with them (the API gives an invisible character before a space to the next token: "\u200b end")
    const next = tokens.slice(k + 1).map(textOf).find(Boolean);
    while (q < sentence.length && !(next && sentence.startsWith(next, q))) {
      const c = String.fromCodePoint(sentence.codePointAt(q));
      if (/\s/u.test(c) || fold(c) !== "") break;
      got += c;
      q += c.length;
    }
    out.push(lead + got);
    p = q;
  }
  return out;
}

/** The text a chip's display spells (## left out, ␣ ↵ ⇥ as the characters), without the spaces before it. */
const spelled = (display) => display.replace(/^##/, "").replace(/␣/g, " ").replace(/↵/g, "\n").replace(/⇥/g, "\t").trimStart();

/**
 * What a chip's tooltip adds about the text behind the token, where its display does not show it: " · typed “The”"
 * (a WordPiece piece lower-cased or without its accents; [UNK] and the text it replaced), " · part of “日”" (a byte
 * token); "" where the display spells the text. `typed`: the token's characters as typed (typedTexts), if known.
 */
export function chipNote(t, typed, from) {
  if (t.special) return "";
  const original = (typed ?? t.text ?? "").trimStart();
  if (BYTE.test(t.display || "")) return from ? ` · part of ${quoted(from)}` : "";
  if (!original || original === spelled(t.display || "")) return "";
  return ` · typed ${quoted(original)}`;
}

/**
 * The legend's entries for what the tokenizer did to this sentence, only where it shows: [UNK] (with the texts it
 * replaced, each different one), lower-casing and stripped accents (a piece as typed → as the model reads it). `typed` as typedTexts
 * gives it (null: unknown, and then only [UNK] is said); `model`: the model's name.
 */
export function tokenizerNotes(tokens, typed, model = "this model") {
  const out = [];
  const unks = tokens.map((t, i) => i).filter((i) => isUnknown(tokens[i]));
  if (unks.length) {
    // every different text an [UNK] of the sentence stands for, in order (a few, then how many more)
    const texts = [...new Set(unks.map((i) => ((typed && typed[i]) ?? tokens[i].text ?? "").trimStart()).filter(Boolean))];
    const max = 4;
    const named = texts.slice(0, max).map(quoted);
    if (texts.length > max) named.push(count(texts.length - max, "more text", "more texts"));
    out.push({ mark: tokens[unks[0]].display, meaning: `text ${model}’s vocabulary has no token for${named.length ? ` (here ${listed(named)})` : ""}: ` +
      "any such text is this one token" });
  }
  if (!typed) return out;
  // a piece whose characters as typed are not what its chip spells (WordPiece's `text` is already lower-cased; a
  // training-lab model's is as typed, and only its display is folded)
  const changed = tokens.map((t, i) => {
    if (t.special || isUnknown(t) || BYTE.test(t.display || "")) return null;
    const original = typed[i].trimStart();
    return original && original !== spelled(t.display || "") ? { original, shown: t.display } : null;
  });
  const lowered = changed.find((c) => c && c.original !== c.original.toLowerCase());
  if (lowered) out.push({ mark: `${lowered.original} → ${lowered.shown}`, meaning: `${model} lower-cases the text: it reads no capitals` });
  const marked = changed.find((c) => c && /\p{Mn}/u.test(c.original.normalize("NFD")));
  if (marked) out.push({ mark: `${marked.original} → ${marked.shown}`, meaning: `${model} strips accents: it reads the letter without its mark` });
  return out;
}

/** A token's display as a screen reader should say it: the marks ␣ ↵ ⇥ as the words the legend gives them. */
export function spoken(display) {
  return String(display ?? "").replace(/[␣↵⇥]/g, (c) => ` ${{ "␣": "space", "↵": "newline", "⇥": "tab" }[c]} `).replace(/ {2,}/g, " ").trim();
}
