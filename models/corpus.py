"""The training text: where it is, and which characters it holds.

    corpus_dir()                 $ATTNLAB_CORPUS, else the project's copy, data/tinystories (train.txt, val.txt)
    characters(["train.txt"])    the distinct characters of the files, as one sorted string
    training_chars(card)         the characters a model saw in training, from its card.json (None if unknown)

A model card (models/train.py) records the sha256 of each training file and, since 0.2.0, the characters of the
training text (corpus.characters). For a card written before that, the characters are read from the files
themselves where they are at hand with the same sha256 (the project's data/tinystories, or $ATTNLAB_CORPUS):
the same bytes, so the same characters. Otherwise they are unknown (None), and nothing is claimed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

CORPUS_ENV = "ATTNLAB_CORPUS"
PROJECT_CORPUS = Path(__file__).resolve().parents[1] / "data" / "tinystories"


def corpus_dir() -> Path:
    """The folder with train.txt and val.txt: $ATTNLAB_CORPUS where set, else the project's data/tinystories."""
    return Path(os.environ.get(CORPUS_ENV) or PROJECT_CORPUS)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def characters(paths: Iterable[str | Path]) -> str:
    """The distinct characters of these UTF-8 files, sorted, as one string."""
    chars: set[str] = set()
    for p in paths:
        chars.update(Path(p).read_text(encoding="utf-8"))
    return "".join(sorted(chars))


@lru_cache(maxsize=16)
def _file_chars(path: str, size: int, mtime_ns: int) -> tuple[str, str]:
    """(sha256, characters) of one file, once per version of it."""
    return sha256(path), characters([path])


def training_chars(card: dict) -> frozenset[str] | None:
    """The characters of a model's training text: recorded in its card, or read from training files that are at
    hand with the sha256 the card names (see the module's docstring). None when they cannot be known."""
    corpus = card.get("corpus") or {}
    if isinstance(corpus.get("characters"), str):
        return frozenset(corpus["characters"])
    files = corpus.get("files") or []
    if not files or not all(f.get("name") and f.get("sha256") for f in files):
        return None
    chars: set[str] = set()
    for f in files:
        for folder in dict.fromkeys((corpus_dir(), PROJECT_CORPUS)):
            path = folder / f["name"]
            if path.is_file():
                st = path.stat()
                digest, found = _file_chars(str(path), st.st_size, st.st_mtime_ns)
                if digest == f["sha256"]:
                    chars.update(found)
                    break
        else:
            return None  # a training file that is not here: its characters are unknown
    return frozenset(chars)
