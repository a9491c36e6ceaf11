"""A token's exact text (Tokenizer.pieces, token_texts): joined, a sentence's tokens give the sentence back.

The default model and SmolLM2 (byte-level BPE) give back every string exactly. MiniLM (WordPiece) gives back the
sentence lower-cased, without accents, without control characters inside a word, and without the spaces after
its last piece: its normaliser lower-cases, strips accents and drops control characters, and no piece holds
trailing spaces. Spaces, tabs and newlines between words come back as typed, and so do the characters an [UNK]
replaced.
"""

import unicodedata

import pytest

from models import registry
from models.tokenizer import decode_owned

ODD = ["", " ", "a", "  leading and trailing  ", "tabs\tand\nnew\nlines\r\n", "日本語 Hello <|bos|> x",
       "café naïve e\u0301", "👨\u200d👩\u200d👧 🎉", "zero\u200bwidth", "<|endoftext|> <|im_start|>user [CLS] [SEP]",
       "a\x00b\x07c", "ＦＵＬＬ ｗｉｄｔｈ ﬁ", "don't  stop", "\u0301 lone mark", "x86-64 @user #hash 50%"]


@pytest.fixture(scope="module")
def tiny():
    return registry.load(registry.DEFAULT_MODEL).tokenizer


@pytest.fixture(scope="module")
def minilm(minilm):  # (tests/conftest.py's model: here its tokenizer)
    return minilm.tokenizer


@pytest.fixture(scope="module")
def smollm2(smollm2):  # (tests/conftest.py's model: here its tokenizer)
    return smollm2.tokenizer


def joined(pieces) -> str:
    return "".join(p.text for p in pieces if not p.special)


def fold(s: str) -> str:
    """What BERT's normaliser does to a word: lower-cased, no accents (combining marks after NFD), no control
    or format characters (tab, newline and carriage return aside)."""
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c)
                   and (c in "\t\n\r" or unicodedata.category(c) not in ("Cc", "Cf"))).lower()


@pytest.mark.parametrize("name", ["tiny", "smollm2"])
def test_byte_level_tokens_give_the_sentence_back(request, name, varied_strings):
    tok = request.getfixturevalue(name)
    for text in ODD + varied_strings:
        pieces = tok.pieces(text)
        assert [p.id for p in pieces] == tok.encode(text), text
        assert joined(pieces) == text, text


@pytest.mark.parametrize("name", ["tiny", "smollm2"])
def test_byte_level_text_is_each_tokens_bytes_recounted_another_way(request, name, varied_strings):
    """pieces() reads the tokenizer's character offsets; token_texts() decodes the tokens' own bytes: they agree."""
    tok = request.getfixturevalue(name)
    for text in ODD + varied_strings:
        pieces = [p for p in tok.pieces(text) if not tok.is_special(p.id)]  # (BOS: no bytes)
        assert tok.token_texts([p.id for p in pieces]) == [p.text for p in pieces], text


def test_a_character_split_over_byte_tokens_belongs_to_the_token_with_its_first_byte(tiny):
    pieces = [p for p in tiny.pieces("日") if not p.special]
    assert len(pieces) == 3 and [p.text for p in pieces] == ["日", "", ""]
    assert [tiny.display(p.id) for p in pieces] == ["<0xE6>", "<0x97>", "<0xA5>"]
    assert [tiny.token_text(p.id) for p in pieces] == ["\ufffd"] * 3  # on its own: the bytes decoded as decode does
    assert tiny.token_text(pieces[0].id) == tiny.decode([pieces[0].id])


def test_decode_owned():
    assert decode_owned([b"\xe6", b"\x97\xa5a", None, b" b"]) == ["日", "a", "", " b"]
    assert decode_owned([b"a\xe6", b"\x97"]) == ["a\ufffd", "\ufffd"]  # incomplete: one U+FFFD per byte
    assert "".join(decode_owned([b"\xf0\x9f", b"\x8e\x89"])) == "🎉"


def test_special_tokens_stand_for_no_text_unless_typed(tiny, minilm, smollm2):
    bos, *rest = tiny.pieces("x <|bos|>")
    assert (bos.id, bos.text, bos.special) == (tiny.bos_id, "", True)
    cls, *_, sep = minilm.pieces("[CLS] x")
    assert (cls.text, cls.special, sep.text, sep.special) == ("", True, "", True)
    # a special token's name typed in the sentence is its characters, in every model: a typed "<|bos|>" was the
    # start token itself (the model read a second BOS) in a chip marked as text
    typed = "a <|bos|> [CLS] [SEP] [UNK] [MASK] <|endoftext|> <|im_start|>user<|im_end|> z"
    for tok in (tiny, minilm, smollm2):
        pieces = tok.pieces(typed)
        assert [p.special for p in pieces] == [tok.is_special(p.id) for p in pieces], tok.style  # the marks are true
        assert sum(p.special for p in pieces) == sum(p.special for p in tok.pieces("a z")), tok.style  # only the added
        assert tok.unk_id not in [p.id for p in pieces], tok.style
        text = joined(pieces)
        assert (text if tok.style != "wordpiece" else fold(text)) == (typed if tok.style != "wordpiece" else fold(typed))
    assert smollm2.is_special(smollm2.hf.token_to_id("<|im_start|>"))  # (a special token, but only where added)


def test_a_special_token_named_in_a_word_box_is_that_token(tiny, minilm, smollm2):
    """id_of reads a word: a special token's name asks for that token (its neighbours, its logit), as its id does."""
    assert tiny.id_of("<|bos|>") == tiny.bos_id and minilm.id_of("[UNK]") == minilm.unk_id
    assert smollm2.id_of("<|endoftext|>") == smollm2.hf.token_to_id("<|endoftext|>")
    assert tiny.id_of("<|bos|> ") is None and tiny.id_of(" cat") == tiny.encode(" cat", add_bos=False)[0]


def test_minilm_gives_the_sentence_back_but_for_case_accents_controls_and_trailing_spaces(minilm, varied_strings):
    exact = 0
    for text in ODD + varied_strings:
        pieces = minilm.pieces(text)
        assert [p.id for p in pieces] == minilm.encode(text), text
        got = joined(pieces)
        assert fold(got) == fold(text).rstrip(), text
        exact += got == text
    assert minilm.pieces("the cat's mat,\tok")[1:-1] and joined(minilm.pieces("the cat's mat,\tok")) == "the cat's mat,\tok"
    assert joined(minilm.pieces("Café")) == "cafe" and joined(minilm.pieces("x  ")) == "x"
    assert exact > 10  # plain lower-case text does come back exactly


def test_minilm_unk_keeps_the_characters_it_replaced(minilm):
    pieces = minilm.pieces("zero 🎉 x")
    unk = [p for p in pieces if p.id == minilm.hf.token_to_id("[UNK]")]
    assert [p.text for p in unk] == [" 🎉"] and minilm.display(unk[0].id) == "[UNK]"


@pytest.mark.parametrize("name", ["tiny", "minilm", "smollm2"])
def test_kept_texts_and_displays_are_the_tokens_own(request, name):
    """token_text and display are kept per id after the first call: for every id of the vocabulary, asked twice
    (the second answer from what was kept), they equal what the token's bytes give (token_texts, _display)."""
    tok = request.getfixturevalue(name)
    ids = range(tok.vocab_size)
    for _ in range(2):
        assert [tok.token_text(i) for i in ids] == [tok.token_texts([i])[0] for i in ids]
        assert [tok.display(i) for i in ids] == [tok._display(i) for i in ids]
    with pytest.raises(ValueError):
        tok.display(tok.vocab_size + 5)
    with pytest.raises(ValueError):
        tok.token_text(tok.vocab_size + 5)
