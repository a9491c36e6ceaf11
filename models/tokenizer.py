"""Text <-> token ids, and display strings that show every byte of a token.

The tiny models use a byte-level BPE trained with the `tokenizers` library: any
string (emoji, accents, right-to-left scripts) encodes and decodes back exactly.
A beginning-of-text token is put first, so the model always has a first position
to attend to.

Pretrained models bring their own tokenizer (`Tokenizer.from_hf`): their special
tokens come from the tokenizer's own post-processor (BERT's [CLS] ... [SEP]; a
Llama tokenizer's BOS where it adds one), exactly as the reference implementation
adds them. Display strings follow the kind of vocabulary: byte-level BPE (GPT-2,
SmolLM2) shows a space as ␣ and a partial character as <0xNN>; WordPiece (BERT)
shows a piece that continues a word with its ## prefix; SentencePiece-style
pieces show ▁ as ␣ and byte-fallback pieces <0xNN> as the byte.

Each token of a sentence also has its exact text (`pieces`): the characters of the
sentence it stands for, so that joining the texts of a sentence's tokens gives the
sentence back. A character whose UTF-8 bytes are split over several byte tokens
belongs to the token that holds its first byte; the tokens with its other bytes have
the text "". A token the tokenizer adds ([CLS], [SEP], BOS) has the text "". A special token's name typed in
the sentence ("<|bos|>", "[CLS]", "<|endoftext|>") is text like any other, split into ordinary tokens: the model
reads only the special tokens the tokenizer adds, and those alone are marked special. WordPiece
(BERT) is the exception: its normaliser lower-cases, strips accents and drops control
characters, so a piece's text is the piece as the vocabulary spells it (without ##),
after the spaces typed before it; [UNK] has the characters it replaced. A token on its own (a
prediction, a neighbour: `token_text`) has its bytes decoded, with U+FFFD for the
bytes of a character it holds only part of, as `decode` gives them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

BOS = "<|bos|>"
SPACE_MARK = "\u2423"  # ␣
_NAMED = {"\n": "\u21b5", "\t": "\u21e5", "\r": "\\r"}
STYLES = ("byte_level", "wordpiece", "metaspace", "text")
ENCODINGS_KEPT = 32  # texts whose encoding a tokenizer keeps (the last used)
ENCODING_KEPT_CHARS = 4000  # and only a text this long at most (a sentence; not a training corpus)
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode: byte-level symbols -> byte values."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def display_text(text: str) -> str:
    """Make invisible characters visible: spaces as ␣, newline as ↵, tab as ⇥,
    other control and format characters (zero-width joiner, direction marks) as <U+XXXX>,
    and a combining mark with nothing to sit on on a dotted circle."""
    out = []
    for i, ch in enumerate(text):
        if ch == " ":
            out.append(SPACE_MARK)
        elif ch in _NAMED:
            out.append(_NAMED[ch])
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or (ch.isspace()):
            out.append(f"<U+{ord(ch):04X}>")
        elif i == 0 and unicodedata.combining(ch):
            out.append("\u25cc" + ch)
        else:
            out.append(ch)
    return "".join(out)


def display_bytes(data: bytes) -> str:
    """Decode UTF-8 where the bytes form whole characters; show any other byte as <0xNN>.

    Runs of whole characters go through display_text together, so a combining mark that
    follows its base character in the same token stays on it."""
    out: list[str] = []
    run: list[str] = []
    i = 0
    while i < len(data):
        for width in (1, 2, 3, 4):
            try:
                run.append(data[i:i + width].decode("utf-8"))
            except UnicodeDecodeError:
                continue
            i += width
            break
        else:
            out.append(display_text("".join(run)))
            run = []
            out.append(f"<0x{data[i]:02X}>")
            i += 1
    out.append(display_text("".join(run)))
    return "".join(out)


def decode_owned(chunks: Sequence[bytes | None]) -> list[str]:
    """The text of each chunk of a byte stream: each character goes to the chunk that holds its first byte
    (the chunks with its other bytes get ""), a byte that starts no whole character is U+FFFD, and a None
    chunk (a special token) is "". Joined, the texts are the stream decoded."""
    out = [""] * len(chunks)
    data = b"".join(c for c in chunks if c)
    owner = [k for k, c in enumerate(chunks) for _ in range(len(c or b""))]  # [byte] -> chunk index
    i = 0
    while i < len(data):
        for width in (1, 2, 3, 4):
            try:
                ch = data[i:i + width].decode("utf-8")
            except UnicodeDecodeError:
                continue
            break
        else:
            ch, width = "\ufffd", 1
        out[owner[i]] += ch
        i += width
    return out


@dataclass(frozen=True)
class Piece:
    """One token of a sentence: its id, its exact text (see the module's docstring), and whether it is a
    special token added by the tokenizer (BOS, [CLS], [SEP]): one that stands for no text of the sentence."""

    id: int
    text: str
    special: bool


class Tokenizer:
    """A thin wrapper over a `tokenizers.Tokenizer` with its special tokens and display strings.

    bos: a token this wrapper puts first itself (the tiny models' <|bos|>), or None.
    post_process: the special tokens come from the tokenizer's own post-processor
      (`add_special_tokens=True`), as the reference implementation adds them.
    style: how pieces are shown: "byte_level", "wordpiece", "metaspace" or "text"
      (default: "byte_level" if byte_level else "text").
    """

    def __init__(self, hf: HFTokenizer, bos: str | None = BOS, byte_level: bool = True, *,
                 post_process: bool = False, style: str | None = None):
        self.hf = hf
        self.style = style or ("byte_level" if byte_level else "text")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, not {self.style!r}")
        self.byte_level = self.style == "byte_level"
        self.post_process = post_process
        self.bos = bos
        self.bos_id = hf.token_to_id(bos) if bos is not None else None
        if bos is not None and self.bos_id is None:
            raise ValueError(f"the tokenizer has no {bos!r} token")
        self.vocab_size = hf.get_vocab_size(with_added_tokens=True)
        # special: tokens that stand for no text ([CLS], [SEP], BOS, padding, control tokens); [UNK] is not
        # among them, since it stands for text the vocabulary cannot spell
        unk = self._unk_token()
        self.special_ids = {i for i, t in hf.get_added_tokens_decoder().items() if t.special and t.content != unk}
        if self.bos_id is not None:
            self.special_ids.add(self.bos_id)
        # a special token's name typed in a text is read as its characters: a typed "<|bos|>" was the start token
        # itself, which the model cannot tell from the one put first, and "[CLS]" was MiniLM's [CLS], shown as text
        hf.encode_special_tokens = True
        # the special tokens (and [UNK]) by name: what a word box that names one means (`id_of`)
        self._named = {t.content: i for i, t in hf.get_added_tokens_decoder().items() if t.special}
        # token id -> token_text, display: each answer names its tokens and top predictions by both, and the
        # vocabulary does not change after this point (vocab_size and special_ids are read once above)
        self._texts: dict[int, str] = {}
        self._displays: dict[int, str] = {}
        # the last texts' encodings: a request tokenizes its text to run it (encode), then again for its tokens'
        # texts (pieces), 0.1-0.2 ms each at 64 tokens
        self._kept = lru_cache(maxsize=ENCODINGS_KEPT)(self.hf.encode)

    def _encode(self, text: str, add_special_tokens: bool):
        """The Hugging Face encoding of `text`, kept for the next call where the text is a sentence's length."""
        if len(text) > ENCODING_KEPT_CHARS:
            return self.hf.encode(text, add_special_tokens=add_special_tokens)
        return self._kept(text, add_special_tokens=add_special_tokens)

    def _unk_token(self) -> str | None:
        return getattr(self.hf.model, "unk_token", None)

    @property
    def unk_id(self) -> int | None:
        """The id of the token that stands for any text the vocabulary cannot spell ([UNK]); None where there is none."""
        unk = self._unk_token()
        return self.hf.token_to_id(unk) if unk else None

    @classmethod
    def from_hf(cls, hf: HFTokenizer, style: str | None = None) -> Tokenizer:
        """A pretrained model's tokenizer: its own special tokens, no truncation or padding, style detected."""
        hf.no_truncation()
        hf.no_padding()
        return cls(hf, bos=None, post_process=True, style=style or detect_style(hf))

    def is_special(self, token_id: int) -> bool:
        return int(token_id) in self.special_ids

    # ---------------------------------------------------------------- files

    @classmethod
    def from_file(cls, path: str | Path, bos: str | None = BOS) -> Tokenizer:
        return cls(HFTokenizer.from_file(str(path)), bos=bos)

    @classmethod
    def from_pretrained_file(cls, path: str | Path, style: str | None = None) -> Tokenizer:
        """A pretrained model's tokenizer.json (see `from_hf`)."""
        return cls.from_hf(HFTokenizer.from_file(str(path)), style=style)

    def save(self, path: str | Path) -> None:
        self.hf.save(str(path))

    @classmethod
    def train(cls, files: Sequence[str | Path], vocab_size: int = 4096, min_frequency: int = 2) -> Tokenizer:
        """A byte-level BPE over the given text files, with BOS as token 0."""
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[BOS],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        hf.train([str(f) for f in files], trainer)
        return cls(hf)

    # ---------------------------------------------------------------- text <-> ids

    def encode(self, text: str, add_bos: bool = True) -> list[int]:
        """Text -> ids; add_bos: with the model's special tokens (BOS, or [CLS] ... [SEP])."""
        if self.post_process:
            return self._encode(text, add_special_tokens=add_bos).ids
        ids = self._encode(text, add_special_tokens=False).ids
        return ([self.bos_id] + ids) if add_bos and self.bos_id is not None else ids

    def pieces(self, text: str, add_bos: bool = True) -> list[Piece]:
        """The tokens of `text` (the ids `encode` gives) with their exact text: joined, the texts of the
        tokens that are not special give `text` back, except for what a WordPiece normaliser changes inside a
        piece (lower-casing, accents, control characters) and the spaces after its last piece (no piece holds them)."""
        if self.post_process:
            enc = self._encode(text, add_special_tokens=add_bos)
            out = []
        else:
            enc = self._encode(text, add_special_tokens=False)
            out = [Piece(self.bos_id, "", True)] if add_bos and self.bos_id is not None else []
        unk = self.hf.token_to_id(self._unk_token()) if self._unk_token() else None
        end = 0  # the characters of `text` handed out so far
        for tid, (start, stop), added in zip(enc.ids, enc.offsets, enc.special_tokens_mask, strict=True):
            if added:  # put there by the post-processor ([CLS], [SEP], a BOS), not typed
                out.append(Piece(tid, "", True))
                continue
            if self.style == "wordpiece" and tid != unk:
                # the spaces typed before the piece, then the piece as the vocabulary spells it (lower-cased)
                piece = self.hf.id_to_token(tid).removeprefix("##")
                out.append(Piece(tid, text[end:start] + piece, False))
            else:
                # the characters it covers that no earlier token took: all of them, but for the bytes of a
                # character split over several tokens, which all cover that character (the first takes it)
                out.append(Piece(tid, text[end:stop], False))
            end = max(end, stop)
        return out

    def token_text(self, token_id: int) -> str:
        """The text of one token on its own: its bytes decoded (U+FFFD for the bytes of a character it holds
        only part of, as `decode` gives them); a WordPiece piece without its ##; "" for a special token."""
        key = int(token_id)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = self.token_texts([key])[0]
        return text

    def token_texts(self, ids: Sequence[int]) -> list[str]:
        """The text of each token of ids that have no original text (a generated continuation): each character
        goes to the token with its first byte; joined, they are the tokens' bytes decoded (`decode(ids)` for a
        byte-level vocabulary). WordPiece pieces come without ## and without the spaces between words."""
        return decode_owned([self.token_bytes(i) for i in ids])

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.hf.decode([int(i) for i in ids if int(i) not in self.special_ids], skip_special_tokens=False)

    def unfinished(self, ids: Sequence[int]) -> int:
        """How many of the last tokens of ids hold the bytes of a character that the tokens end before finishing
        (a byte-level model writes an emoji as several tokens): from the token with that character's first byte on;
        0 where the bytes end on a whole character."""
        chunks = [self.token_bytes(i) or b"" for i in ids]
        data = b"".join(chunks)
        for back in range(1, min(4, len(data)) + 1):  # a character is at most 4 bytes: find the last one's first byte
            lead = data[-back]
            if lead < 0x80 or lead >= 0xC0:  # an ASCII byte or a leading byte (not a continuation byte 10xxxxxx)
                length = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
                if back >= length:
                    return 0  # it is whole (or the bytes are not UTF-8 there: nothing to finish)
                start, seen = len(data) - back, 0
                for k, chunk in enumerate(chunks):  # the token that holds the character's first byte
                    seen += len(chunk)
                    if seen > start:
                        return len(chunks) - k
        return 0

    def token_bytes(self, token_id: int) -> bytes | None:
        """The raw bytes of a byte-level token (None for a special token)."""
        if int(token_id) in self.special_ids:
            return None
        piece = self.hf.id_to_token(int(token_id))
        if piece is None:
            raise ValueError(f"token id {token_id} is outside the vocabulary (0 to {self.vocab_size - 1})")
        if self.style == "byte_level":
            table = _byte_decoder()
            if all(c in table for c in piece):
                return bytes(table[c] for c in piece)
            return piece.encode("utf-8")  # an added token written as plain text
        if self.style == "wordpiece":
            return piece.removeprefix("##").encode("utf-8")
        if self.style == "metaspace":
            m = _BYTE_PIECE.match(piece)
            return bytes([int(m.group(1), 16)]) if m else piece.replace("\u2581", " ").encode("utf-8")
        return piece.encode("utf-8")

    def display(self, token_id: int) -> str:
        """How a token is shown: ␣ for a space, <0xNN> for a byte that is not a whole character;
        a WordPiece piece that continues a word keeps its ## prefix; a special token as it is written."""
        key = int(token_id)
        shown = self._displays.get(key)
        if shown is None:
            shown = self._displays[key] = self._display(key)
        return shown

    def _display(self, token_id: int) -> str:
        raw = self.token_bytes(token_id)
        if raw is None:
            return self.hf.id_to_token(int(token_id))
        if self.style == "wordpiece" and self.hf.id_to_token(int(token_id)).startswith("##"):
            return "##" + display_bytes(raw)
        return display_bytes(raw)

    def displays(self, ids: Sequence[int]) -> list[str]:
        return [self.display(i) for i in ids]

    def named(self, word: str) -> int | None:
        """The id of the special token (or [UNK]) whose name is `word` exactly, else None."""
        return self._named.get(word)

    def id_of(self, word: str) -> int | None:
        """The id of `word` if it is one token (with its exact spacing) or a special token's name ("[UNK]",
        "<|bos|>": the token it names, though a text reads the name as characters), else None."""
        named = self.named(word)
        if named is not None:
            return named
        ids = self.encode(word, add_bos=False)
        return ids[0] if len(ids) == 1 else None


def detect_style(hf: HFTokenizer) -> str:
    """Which kind of pieces a tokenizer has, from its model, pre-tokenizer and decoder."""
    spec = json.loads(hf.to_str())
    model = spec.get("model") or {}
    text = json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")])
    if model.get("type") == "WordPiece":
        return "wordpiece"
    if '"ByteLevel"' in text:
        return "byte_level"
    if '"Metaspace"' in text or "\u2581" in text or "\\u2581" in text or model.get("byte_fallback"):
        return "metaspace"
    return "text"


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m models.tokenizer", description="Train a byte-level BPE tokenizer.")
    p.add_argument("files", nargs="+", help="UTF-8 text files")
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--out", required=True, help="where to write tokenizer.json")
    args = p.parse_args(argv)
    tok = Tokenizer.train(args.files, args.vocab_size)
    tok.save(args.out)
    print(f"{args.out}: {tok.vocab_size} tokens")


if __name__ == "__main__":
    main()
