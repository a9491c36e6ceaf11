"""Tasks for the training lab: generators of sequences with a known answer.

Every task makes token sequences that start with BOS, and for each position the token the model should
predict next, or IGNORE where that token cannot be known (it is random) and is not scored. The loss and the
accuracy count the scored positions only.

    task = get_task("copy")
    batch = task.batch(32, random.Random(0))   # batch.ids [batch, pos], batch.targets [batch, pos]
    task.example()                              # one fixed sequence, the same every time: what the page shows
    task.tokenizer()                            # text <-> ids, so a trained model opens in the explorer

The synthetic tasks (copy, reverse, sort, after-marker) share one small vocabulary of readable tokens:
BOS, an unknown-character token, the separator "|", the marker "*", the padding "." and the letters a to z (their ids in
alphabetical order, so sorting ids sorts letters). Typed text is read one character at a time, case
folded, spaces skipped: "abc" and "a b c" are the same three tokens. The TinyStories task uses the shipped
models' byte-level BPE (4,096 tokens) on the first part of the project's corpus (data/tinystories).

Each task's `description` says what a sequence looks like, which positions are scored and the expected
answer; tests/models/test_tasks.py checks each against its generator.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from models.tokenizer import BOS, Tokenizer

IGNORE = -100  # the target of a position that is not scored (as torch's cross_entropy ignore_index)

UNK = "<unk>"
SEP = "|"
MARK = "*"
PAD = "."
LETTERS = tuple(string.ascii_lowercase)
SYMBOLS: tuple[str, ...] = (BOS, UNK, SEP, MARK, PAD, *LETTERS)  # token id -> its text
BOS_ID, UNK_ID, SEP_ID, MARK_ID, PAD_ID = 0, 1, 2, 3, 4
FIRST_LETTER = 5  # ids FIRST_LETTER .. FIRST_LETTER + 25 are a .. z

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "tinystories"
STORIES_TOKENIZER = Path(__file__).resolve().parent / "weights" / "tiny-sinusoidal" / "tokenizer.json"
EXAMPLE_SEED = 20240  # the seed of every task's fixed example
PROBE_SEED = 7  # the seed of the induction probe


@dataclass(frozen=True)
class Batch:
    """Sequences and what to predict after each position.

    ids [batch, pos]: the input, BOS first. targets [batch, pos]: targets[b, i] is the token the model
    should predict after reading ids[b, :i + 1] (so ids[b, i + 1] where the sequence goes on), or IGNORE
    where the position is not scored."""

    ids: torch.Tensor
    targets: torch.Tensor

    @property
    def scored(self) -> torch.Tensor:
        return self.targets != IGNORE  # [batch, pos]


class Task:
    """One task: `sample(rng)` makes one sequence (ids, targets) of `seq_len` tokens."""

    name: str = ""
    title: str = ""
    description: str = ""
    seq_len: int = 0

    def sample(self, rng: random.Random) -> tuple[list[int], list[int]]:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return len(SYMBOLS)

    def tokenizer(self) -> Tokenizer:
        return symbol_tokenizer()

    def batch(self, n: int, rng: random.Random) -> Batch:
        rows = [self.sample(rng) for _ in range(n)]
        ids = torch.tensor([r[0] for r in rows], dtype=torch.long)  # [batch, pos]
        targets = torch.tensor([r[1] for r in rows], dtype=torch.long)  # [batch, pos]
        return Batch(ids, targets)

    def example(self) -> Batch:
        """The fixed example the lab shows (one sequence, the same on every call)."""
        return self.batch(1, random.Random(EXAMPLE_SEED))

    def probe(self) -> list[int]:
        """The probe the role scores are measured on: BOS, random distinct tokens s, then s again in a shuffled
        order. Every token of the second half occurred once before, each at a different distance back, so a
        head that looks a fixed distance back does not pass for an induction head."""
        return _probe(random.Random(PROBE_SEED), list(range(FIRST_LETTER, FIRST_LETTER + len(LETTERS))),
                      BOS_ID, min(10, (self.seq_len - 1) // 2))

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description, "seq_len": self.seq_len,
                "vocab_size": self.vocab_size}


def _next_token_targets(ids: list[int], scored: list[int]) -> list[int]:
    """targets for `ids`: at each position in `scored`, the token that follows it; IGNORE elsewhere."""
    targets = [IGNORE] * len(ids)
    for i in scored:
        targets[i] = ids[i + 1]
    return targets


def letters(rng: random.Random, n: int, distinct: bool = False, exclude: set[int] | frozenset = frozenset()) -> list[int]:
    pool = [i for i in range(FIRST_LETTER, FIRST_LETTER + len(LETTERS)) if i not in exclude]
    return rng.sample(pool, n) if distinct else [rng.choice(pool) for _ in range(n)]


class Copy(Task):
    name = "copy"
    title = "Copy a repeated sequence (induction)"

    def __init__(self, seq_len: int = 24, min_len: int = 5, max_len: int = 11):
        if not 2 <= min_len <= max_len or 1 + 2 * max_len > seq_len or max_len > len(LETTERS):
            raise ValueError(f"copy: need 2 <= min_len <= max_len <= {len(LETTERS)} and 1 + 2 * max_len <= seq_len")
        self.seq_len, self.min_len, self.max_len = seq_len, min_len, max_len
        self.description = (
            f"BOS, a random sequence s of {min_len} to {max_len} distinct letters, s again, then the padding . up "
            f"to {seq_len} tokens. The length of s changes from one sequence to the next, so no fixed offset tells "
            "where to look, only the content. Scored: the second copy of s from its second letter on; after "
            "reading letter k of the second copy the answer is letter k + 1 of s, the letter right after the "
            "first occurrence of the one just read (what an induction head finds). The first letter of the second "
            "copy cannot be known and is not scored, nor is the padding.")

    def sample(self, rng: random.Random) -> tuple[list[int], list[int]]:
        n = rng.randint(self.min_len, self.max_len)
        s = letters(rng, n, distinct=True)
        ids = [BOS_ID, *s, *s]
        ids += [PAD_ID] * (self.seq_len - len(ids))
        start = 1 + n  # the position of the second copy's first letter
        return ids, _next_token_targets(ids, list(range(start, start + n - 1)))


class Reverse(Task):
    name = "reverse"
    title = "Reverse a sequence"

    def __init__(self, length: int = 8):
        if length < 2:
            raise ValueError("reverse: length must be at least 2")
        self.length, self.seq_len = length, 2 * length + 2
        self.description = (
            f"BOS, {length} random letters s (repeats allowed), the separator |, then s reversed; {self.seq_len} "
            f"tokens. Scored: the {length} letters of the reversed copy, each predicted from the token before it "
            f"(the first from |). Letter k of the answer (k from 1 to {length}) is letter {length + 1} - k of s: which "
            "letter to copy depends on where the model is, so this task needs position information.")

    def sample(self, rng: random.Random) -> tuple[list[int], list[int]]:
        s = letters(rng, self.length)
        ids = [BOS_ID, *s, SEP_ID, *s[::-1]]
        sep = 1 + self.length
        return ids, _next_token_targets(ids, list(range(sep, sep + self.length)))


class Sort(Task):
    name = "sort"
    title = "Sort a sequence"

    def __init__(self, length: int = 8):
        if length < 2:
            raise ValueError("sort: length must be at least 2")
        self.length, self.seq_len = length, 2 * length + 2
        self.description = (
            f"BOS, {length} random letters s (repeats allowed), the separator |, then s sorted alphabetically; "
            f"{self.seq_len} tokens. Scored: the {length} letters of the sorted copy, each predicted from the token "
            "before it (the first from |).")

    def sample(self, rng: random.Random) -> tuple[list[int], list[int]]:
        s = letters(rng, self.length)
        ids = [BOS_ID, *s, SEP_ID, *sorted(s)]
        sep = 1 + self.length
        return ids, _next_token_targets(ids, list(range(sep, sep + self.length)))


class AfterMarker(Task):
    name = "after-marker"
    title = "The letter after the marker"

    def __init__(self, seq_len: int = 16):
        if seq_len < 5:
            raise ValueError("after-marker: seq_len must be at least 5")
        self.seq_len = seq_len
        self.description = (
            f"BOS, {seq_len - 2} tokens: random letters with the marker * once among them (never last) and a "
            f"letter right after it, then * again at the end; {seq_len} tokens. Scored: the last position only; "
            "the answer is the letter that follows the first *.")

    def sample(self, rng: random.Random) -> tuple[list[int], list[int]]:
        body = letters(rng, self.seq_len - 2)
        at = rng.randrange(0, len(body) - 1)  # the marker's place in the body; a letter always follows it
        body[at] = MARK_ID
        ids = [BOS_ID, *body, MARK_ID]
        targets = [IGNORE] * len(ids)
        targets[-1] = body[at + 1]
        return ids, targets


class Stories(Task):
    name = "tinystories"
    title = "A slice of TinyStories"

    def __init__(self, seq_len: int = 64, chars: int = 200_000):
        self.seq_len, self.chars = seq_len, chars
        self.description = (
            f"BOS and {seq_len - 1} tokens of a window at a random place in the first {chars:,} characters of "
            "data/tinystories/train.txt, in the shipped models' byte-level BPE (4,096 tokens). Scored: every "
            "position; the answer is the next token of the text. The example is the start of val.txt.")

    @property
    def vocab_size(self) -> int:
        return self.tokenizer().vocab_size

    def tokenizer(self) -> Tokenizer:
        return stories_tokenizer()

    def _data(self) -> list[int]:
        return stories_ids(self.chars)

    def sample(self, rng: random.Random) -> tuple[list[int], list[int]]:
        data = self._data()
        span = self.seq_len - 1
        start = rng.randrange(0, len(data) - span)
        ids = [self.tokenizer().bos_id, *data[start:start + span]]  # seq_len tokens
        return ids, data[start:start + span + 1]  # after BOS the first token, after token k the token k + 1

    def example(self) -> Batch:
        tok = self.tokenizer()
        val = (DATA_DIR / "val.txt").read_text(encoding="utf-8")[:2000].lstrip()
        ids = tok.encode(val)[:self.seq_len + 1]  # [BOS, tokens...]: one more, the last position's answer
        x, after = ids[:self.seq_len], ids[self.seq_len]
        targets = [*x[1:], after]
        return Batch(torch.tensor([x], dtype=torch.long), torch.tensor([targets], dtype=torch.long))

    def probe(self) -> list[int]:
        tok = self.tokenizer()
        return _probe(random.Random(PROBE_SEED), [i for i in range(tok.vocab_size) if not tok.is_special(i)],
                      tok.bos_id, 10)


def _probe(rng: random.Random, pool: list[int], bos: int, length: int) -> list[int]:
    first = rng.sample(pool, length)
    second = first[:]
    while any(a == b for a, b in zip(first, second, strict=True)):  # (no token at the same place in both halves)
        rng.shuffle(second)
    return [bos, *first, *second]


@lru_cache(maxsize=1)
def symbol_tokenizer() -> Tokenizer:
    """The synthetic tasks' tokenizer: one token per character (a-z, |, *, .), case folded, spaces skipped."""
    from tokenizers import AddedToken, Regex, normalizers, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models as hf_models

    hf = HFTokenizer(hf_models.WordLevel({t: i for i, t in enumerate(SYMBOLS)}, unk_token=UNK))
    hf.normalizer = normalizers.Lowercase()
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                pre_tokenizers.Split(Regex("."), behavior="isolated")])
    hf.add_special_tokens([AddedToken(BOS, special=True), AddedToken(UNK, special=True)])
    return Tokenizer(hf, bos=BOS, style="text")


@lru_cache(maxsize=1)
def stories_tokenizer() -> Tokenizer:
    return Tokenizer.from_file(STORIES_TOKENIZER)


@lru_cache(maxsize=2)
def stories_ids(chars: int) -> list[int]:
    text = (DATA_DIR / "train.txt").read_text(encoding="utf-8")[:chars]
    return stories_tokenizer().encode(text, add_bos=False)


TASKS: dict[str, type[Task]] = {t.name: t for t in (Copy, Reverse, Sort, AfterMarker, Stories)}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; the tasks are: {', '.join(TASKS)}")
    return TASKS[name]()
