"""Text <-> token ids, and display strings that show every byte of a token.

The tiny models use a byte-level BPE trained with the `tokenizers` library: any
string (emoji, accents, right-to-left scripts) encodes and decodes back exactly.
A beginning-of-text token is put first, so the model always has a first position
to attend to.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

BOS = "<|bos|>"
SPACE_MARK = "\u2423"  # ␣
_NAMED = {"\n": "\u21b5", "\t": "\u21e5", "\r": "\\r"}


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
    """Decode UTF-8 where the bytes form whole characters; show any other byte as <0xNN>."""
    out, i = [], 0
    while i < len(data):
        for width in (1, 2, 3, 4):
            chunk = data[i:i + width]
            try:
                ch = chunk.decode("utf-8")
            except UnicodeDecodeError:
                continue
            out.append(display_text(ch) if i else display_text(ch))
            i += width
            break
        else:
            out.append(f"<0x{data[i]:02X}>")
            i += 1
    return "".join(out)


class Tokenizer:
    """A thin wrapper over a `tokenizers.Tokenizer` with a BOS token and display strings."""

    def __init__(self, hf: HFTokenizer, bos: str | None = BOS, byte_level: bool = True):
        self.hf = hf
        self.byte_level = byte_level
        self.bos = bos
        self.bos_id = hf.token_to_id(bos) if bos is not None else None
        if bos is not None and self.bos_id is None:
            raise ValueError(f"the tokenizer has no {bos!r} token")
        self.vocab_size = hf.get_vocab_size(with_added_tokens=True)
        self.special_ids = {self.bos_id} if self.bos_id is not None else set()

    # ---------------------------------------------------------------- files

    @classmethod
    def from_file(cls, path: str | Path, bos: str | None = BOS) -> Tokenizer:
        return cls(HFTokenizer.from_file(str(path)), bos=bos)

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
        ids = self.hf.encode(text, add_special_tokens=False).ids
        return ([self.bos_id] + ids) if add_bos and self.bos_id is not None else ids

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.hf.decode([int(i) for i in ids if int(i) not in self.special_ids], skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes | None:
        """The raw bytes of a byte-level token (None for a special token)."""
        if int(token_id) in self.special_ids:
            return None
        piece = self.hf.id_to_token(int(token_id))
        if piece is None:
            raise ValueError(f"token id {token_id} is outside the vocabulary (0 to {self.vocab_size - 1})")
        if not self.byte_level:
            return piece.encode("utf-8")
        table = _byte_decoder()
        return bytes(table[c] for c in piece)

    def display(self, token_id: int) -> str:
        """How a token is shown: ␣ for a space, <0xNN> for a byte that is not a whole character."""
        raw = self.token_bytes(token_id)
        if raw is None:
            return self.hf.id_to_token(int(token_id))
        return display_bytes(raw)

    def displays(self, ids: Sequence[int]) -> list[str]:
        return [self.display(i) for i in ids]

    def id_of(self, word: str) -> int | None:
        """The id of `word` if it is one token (with its exact spacing), else None."""
        ids = self.encode(word, add_bos=False)
        return ids[0] if len(ids) == 1 else None


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
