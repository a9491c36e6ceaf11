"""Roles: the words a lesson step names by what they are, found in the sentence on screen.

A lesson names a token as `@role` (or `@role/2`, the second one) instead of a fixed word, so that its text stays
true on any sentence. A role names a *word*: the sentence is read back from the API's tokens (their exact `text`,
which joined gives the sentence; special tokens such as BOS, [CLS] and [SEP] hold none) and cut into words, and a
word is the tokens it overlaps (a BPE word can be several pieces: "suitcase" = "su" + "itc" + "ase"). Where a role
is used as one token index (a query, a key), it is the word's **last** token: in a causal model the last piece is
the one that has read the whole word.

The part-of-speech roles are a cheap guess from word lists, for English; they are documented as a guess in
frontend/lessons/README.md. A new role is one entry of ROLES: a function of the step's context that returns the
word (or None: no match), and the plain sentence said when there is none. Nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
ROLE_RE = re.compile(r"@([a-z][a-z-]*)(?:/(\d+))?")

PRONOUNS = ("he", "she", "it", "they", "him", "her", "them", "his", "its", "their", "hers", "theirs")
DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "my", "your", "his", "her", "its", "our", "their",
               "some", "every", "each", "no", "any", "one", "two", "three"}
FUNCTION_WORDS = DETERMINERS | set(PRONOUNS) | {
    "and", "or", "but", "because", "so", "if", "then", "than", "when", "while", "of", "in", "on", "at", "to", "for",
    "with", "from", "by", "up", "down", "out", "into", "over", "under", "about", "after", "before", "not", "very",
    "too", "i", "you", "we", "me", "us", "what", "who", "which", "where", "why", "how", "there", "here", "is", "was",
    "are", "were", "be", "been", "am", "do", "does", "did", "has", "have", "had", "will", "would", "can", "could",
    "just", "all", "as", "also", "only", "s", "t"}
ADJECTIVES = {"little", "big", "small", "old", "new", "good", "bad", "happy", "sad", "red", "blue", "green", "yellow",
              "black", "white", "tall", "short", "long", "nice", "pretty", "kind", "great", "large", "tiny", "young",
              "best", "favorite", "favourite", "brown", "shiny", "scary", "funny", "soft", "hot", "cold", "warm",
              "quick", "lazy", "huge", "beautiful", "first", "last", "other", "same", "fat"}
VERBS = {"is", "was", "are", "were", "be", "been", "am", "has", "have", "had", "do", "does", "did", "go", "goes",
         "went", "run", "runs", "ran", "sat", "sit", "sits", "see", "saw", "sees", "play", "plays", "played", "fit",
         "fits", "like", "likes", "liked", "love", "loves", "loved", "want", "wants", "wanted", "eat", "ate", "eats",
         "make", "made", "makes", "take", "took", "takes", "give", "gave", "gives", "get", "got", "gets", "come",
         "came", "comes", "say", "said", "says", "look", "looked", "looks", "find", "found", "finds", "think",
         "thought", "know", "knew", "knows", "chase", "chased", "chases", "jump", "jumped", "jumps", "walk", "walked",
         "help", "helped", "open", "opened", "fell", "fall", "falls", "put", "puts", "read", "reads", "wrote",
         "write", "writes", "fly", "flew", "flies", "sleep", "slept", "sleeps", "smile", "smiled", "cried", "cry",
         "laughed", "laugh", "lives", "lived", "live", "boils", "boil", "rises", "rise", "rose", "costs", "cost",
         "won", "win", "wins", "left", "leave", "leaves", "bought", "buy", "buys", "sang", "sing", "sings"}


@dataclass
class Word:
    """A word of the sentence: its text as the tokens give it, and the indices of the tokens it overlaps."""
    text: str
    tokens: list[int] = field(default_factory=list)
    at: int | None = None  # the token that stands for it where a role says which (@attended: the piece attended)

    @property
    def index(self) -> int:
        """The token that stands for the word where one index is needed: `at`, else its last."""
        return self.tokens[-1] if self.at is None else self.at

    @property
    def key(self) -> str:
        return self.text.lower()


def piece_note(word: str, tokens: list[int], index: int) -> str:
    """`{{@role | piece}}`: said after the token that stands for a word, where the word is in several pieces
    (" (the last piece of “Dogs”)"); "" for a word of one token."""
    if len(tokens) < 2:
        return ""
    which = "the last piece" if index == tokens[-1] else "the first piece" if index == tokens[0] else "a piece"
    return f" ({which} of “{word}”)"


def pieces_note(tokens: list[int]) -> str:
    """`{{@role | pieces}}`: said after a word whose numbers are added over its tokens (`$sum(@role)`), where it is in
    several pieces (" (its 3 pieces together)"); "" for a word of one token."""
    return f" (its {len(tokens)} pieces together)" if len(tokens) > 1 else ""


def position_note(texts: list[str], i: int, tokens: list[int]) -> str:
    """The one rule that tells apart two tokens (or two words) of the sentence that read alike, said after the text of
    the i-th of `texts` (what each reads as, in the lesson's text): " (token 7)", where another of them reads the same
    (case ignored: "The" and "the" are one word to the reader, as to @repeated), else "". `tokens`: the indices of
    the i-th's tokens, as the token strip numbers them. A word in several pieces is named by all of them, " (tokens 7
    to 9)": the reader looks for the word in the strip, whichever piece the step's numbers are read at (`| piece`
    says which)."""
    key = texts[i].lower()
    if sum(t.lower() == key for t in texts) < 2:
        return ""
    return f" (token {tokens[0]})" if len(tokens) == 1 else f" (tokens {tokens[0]} to {tokens[-1]})"


def words_of(tokens: list[dict]) -> list[Word]:
    """The sentence's words, from the API's tokens: their texts joined (special tokens hold none) give the sentence,
    each token an offset in it; a word (letters and digits, with an inner apostrophe) is every token it overlaps.
    A character split into bytes is given whole to its first byte's token, its other bytes' tokens holding no text:
    those belong to the word of the byte before them (猫 is <0xE7> <0x8C> <0xAB>: the word's tokens are all three, and
    its last piece <0xAB>, after which the next word's prediction is read)."""
    spans: list[tuple[int, int, int]] = []  # (start, end, token index)
    text = ""
    for i, t in enumerate(tokens):
        piece = "" if t.get("special") else str(t.get("text", ""))
        spans.append((len(text), len(text) + len(piece), i))
        text += piece
    words = []
    for m in WORD_RE.finditer(text):
        a, b = m.span()
        idx = [i for s, e, i in spans if e > s and s < b and e > a]
        rest = []  # the bytes after each byte that starts a character of the word
        for i in idx:
            j = i + 1
            while j < len(tokens) and not tokens[j].get("special") and not tokens[j].get("text") and j not in idx:
                rest.append(j)
                j += 1
        if idx:
            words.append(Word(m.group(0), sorted(set(idx + rest))))
    return words


def _is_noun(words: list[Word], i: int) -> bool:
    """A guess: a word that is not a function word, an adjective or a known verb, after a determiner (and any
    adjectives)."""
    w = words[i].key
    if w in FUNCTION_WORDS or w in ADJECTIVES or w in VERBS or w.isdigit() or w.endswith("ly"):
        return False
    j = i - 1
    while j >= 0 and words[j].key in ADJECTIVES:
        j -= 1
    return j >= 0 and words[j].key in DETERMINERS


def _is_verb(words: list[Word], i: int) -> bool:
    w = words[i].key
    if w in VERBS:
        return True
    return (len(w) > 4 and w.endswith("ed") and w not in FUNCTION_WORDS
            and not (i > 0 and words[i - 1].key in DETERMINERS))


def _distinct(words: list[Word], test: Callable[[list[Word], int], bool], n: int) -> Word | None:
    seen: list[str] = []
    for i, w in enumerate(words):
        if test(words, i) and w.key not in seen:
            seen.append(w.key)
            if len(seen) == n:
                return w
    return None


def pronoun(ctx, n: int) -> Word | None:
    """The n-th pronoun (he, she, it, they, him, her, them, his, its, their) that has a word before it."""
    found = [w for i, w in enumerate(ctx.words) if i > 0 and w.key in PRONOUNS]
    return found[n - 1] if len(found) >= n else None


def repeated(ctx, n: int) -> Word | None:
    """The n-th occurrence of the first word (not a function word, unless no other repeats) that occurs twice."""
    counts: dict[str, list[Word]] = {}
    for w in ctx.words:
        counts.setdefault(w.key, []).append(w)
    twice = [ws for ws in counts.values() if len(ws) >= 2]
    if not twice:
        return None
    content = [ws for ws in twice if ws[0].key not in FUNCTION_WORDS]
    first = min(content or twice, key=lambda ws: ws[1].tokens[0])  # the word whose repetition comes first
    return first[n - 1] if len(first) >= n else None


def noun(ctx, n: int) -> Word | None:
    """The n-th distinct noun (a guess: a word after a determiner and its adjectives)."""
    return _distinct(ctx.words, _is_noun, n)


def verb(ctx, n: int) -> Word | None:
    """The n-th distinct verb (a guess: a word list, and words ending in -ed)."""
    return _distinct(ctx.words, _is_verb, n)


def last(ctx, n: int) -> Word | None:
    """The n-th word from the end."""
    return ctx.words[-n] if len(ctx.words) >= n else None


def first(ctx, n: int) -> Word | None:
    """The n-th word."""
    return ctx.words[n - 1] if len(ctx.words) >= n else None


def _ranked_keys(ctx) -> tuple[list[int], list[float], int] | None:
    """The keys the step's query can see (those explain's `mask` hides left out: in a causal model, the keys after
    it, weight 0 and no score), most attended first; their weights; the query."""
    e = ctx.fetch_source("explain")
    weights, hidden = e["weights"], e.get("mask") or []
    order = sorted((i for i in range(len(weights)) if not (i < len(hidden) and hidden[i])), key=lambda i: -weights[i])
    return order, weights, e["query"]


def attended(ctx, n: int) -> Word | None:
    """The word the step's query attends to most in the step's layer and head (its tokens' largest weight),
    leaving out special tokens, the query's own word and the keys it cannot see; n: the n-th most attended such word.
    It stands for the word by the token that has that weight (a word in pieces, "Do" + "g": the piece attended, so
    that the numbers a step reads at it are of the key that won, not of another piece)."""
    order, _, query = _ranked_keys(ctx)
    own = next((w for w in ctx.words if query in w.tokens), None)
    got: list[Word] = []
    for i in order:
        w = next((w for w in ctx.words if i in w.tokens), None)
        if w is None or w is own or w in got:
            continue
        got.append(w)
        if len(got) == n:
            return Word(w.text, w.tokens, at=i)
    return None


def query(ctx, n: int) -> Word | None:
    """The word that holds the step's query token (the page's selection), standing at that token: none where the
    query is a special token or punctuation. For `{{@query | piece}}` after the query's token (n: always 1)."""
    at = ctx.query_of(ctx.state, ctx.tokens)
    w = next((w for w in ctx.words if at in w.tokens), None) if n == 1 else None
    return Word(w.text, w.tokens, at=at) if w else None


def top_key(ctx, n: int) -> Word | None:
    """The key (any token, a special one too, of those the query can see) with the n-th largest weight from the step's
    query in the step's layer and head; as a word, the token's own text."""
    order, _, _ = _ranked_keys(ctx)
    return _token_word(ctx, order[n - 1]) if len(order) >= n else None


def after_repeated(ctx, n: int) -> Word | None:
    """The token right after the n-th occurrence of @repeated's word (after its last piece), whatever it is: where
    an induction head looks from the next occurrence. A lesson reads its weight (`explain.weights.@after-repeated`)
    to compare with the row's largest: a position compared with the top key's would miss a key that ties with it."""
    w = repeated(ctx, n)
    return _token_word(ctx, w.index + 1) if w is not None and w.index + 1 < len(ctx.tokens) else None


def _token_word(ctx, i: int) -> Word:
    """The i-th token as a word of its own: its text (a special token's display)."""
    t = ctx.tokens[i]
    return Word(str(t.get("display") if t.get("special") else t.get("text", "")).strip() or str(t.get("display")), [i])


@dataclass(frozen=True)
class Role:
    find: Callable
    description: str
    missing: str  # what the step needs, said when the sentence has none
    # what @role/n needs (n > 1) and what the sentence then has, where "a second " + missing and "none" would not say
    # it: @repeated/2 is the second occurrence of one word, not a second repeated word; @last/2 needs two words
    nth: Callable[[int], tuple[str, str]] | None = None


ROLES: dict[str, Role] = {
    "pronoun": Role(pronoun, "a pronoun (he, she, it, they, him, her, them, his, its, their) after the first word",
                    "a pronoun (he, she, it, they, ...) after the first word"),
    "repeated": Role(repeated, "a word that occurs twice: @repeated is its first occurrence, @repeated/2 its second",
                     "a word that occurs twice",
                     lambda n: ("a word that occurs twice" if n == 2 else f"a word that occurs {n} times", "none")),
    # (what a sentence lacks is said of the guess, which is all that is known: "The dog went for a walk." has two
    # nouns, but "walk" is on the list of verbs)
    "noun": Role(noun, "a noun (a guess: the word after a determiner such as the, a, my, and its adjectives); "
                       "@noun/2 is the second different noun",
                 "a word it takes for a noun (a guess from word lists: a word after the, a or my)",
                 lambda n: (f"{n} different words it takes for nouns (a guess from word lists: words after the, a "
                            "or my)", "fewer")),
    "verb": Role(verb, "a verb (a guess: a word list, and words ending in -ed)",
                 "a word it takes for a verb (a guess from word lists: a common verb, or a word ending in -ed)"),
    "first": Role(first, "the first word (leaving out special tokens and punctuation)", "a word"),
    "last": Role(last, "the last word (leaving out punctuation); @last/2 the one before", "a word",
                 lambda n: (f"{n} words", "fewer")),
    "attended": Role(attended, "the word the step's query attends to most in the step's layer and head, leaving "
                               "out special tokens, the query's own word and the keys it cannot see",
                     "another word before the query",
                     lambda n: (f"{n} other words before the query", "fewer")),
    "query": Role(query, "the word that holds the step's query token (with `| piece`: what to say after the query "
                         "token where it is a piece of a longer word)", "a word at the query"),
    "after-repeated": Role(after_repeated, "the token right after @repeated (its last piece); @after-repeated/2: "
                                           "right after @repeated/2", "a token after a word that occurs twice",
                           lambda n: (f"a word that occurs {'twice' if n == 2 else f'{n} times'}, with a token after "
                                      "the last", "none")),
    "top-key": Role(top_key, "the key (any token, the start token too) the step's query attends to most in the "
                             "step's layer and head", "a key"),
}

ORDINALS = {2: "a second ", 3: "a third "}  # @role/n where the role has no words of its own for it


def missing_message(name: str, n: int, text: str) -> str:
    role = ROLES[name]
    what, has = role.missing, "none"
    if n > 1:
        what, has = role.nth(n) if role.nth else (f"{ORDINALS.get(n, f'a {n}th ')}{role.missing.removeprefix('a ')}", has)
    return f"This step needs {what}, and “{text}” has {has}."
