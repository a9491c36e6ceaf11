import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.tokenizer import BOS, Tokenizer, display_bytes


@pytest.fixture(scope="module")
def tok(tmp_path_factory) -> Tokenizer:
    path = tmp_path_factory.mktemp("tok") / "text.txt"
    path.write_text("Once upon a time there was a cat. The cat sat on the mat. " * 200, encoding="utf-8")
    return Tokenizer.train([path], vocab_size=300)


# any Unicode scalar value (surrogates cannot be encoded as UTF-8, so no str holds them after decoding)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_round_trip_any_text(tok, text):
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("text", ["👨‍👩‍👧 family", "café naïve", "مرحبا بالعالم", "שלום", "e\u0301", "a\x00b\x07", "  two  spaces\n"])
def test_round_trip_examples(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_bos_comes_first(tok):
    ids = tok.encode("The cat")
    assert ids[0] == tok.bos_id and tok.display(ids[0]) == BOS
    assert tok.encode("The cat", add_bos=False) == ids[1:]


def test_a_text_is_encoded_once_for_its_ids_and_its_pieces(tok):
    """A request tokenizes its text to run it (encode) and again for its tokens' texts (pieces): the second reads
    the kept encoding, and both give what a fresh encoding gives."""
    text = "The cat sat on the mat, once upon a time."
    hf_calls = tok._kept.cache_info().misses
    ids = tok.encode(text)
    pieces = tok.pieces(text)
    assert tok._kept.cache_info().misses == hf_calls + 1
    assert [p.id for p in pieces] == ids == [tok.bos_id] + tok.hf.encode(text, add_special_tokens=False).ids
    assert "".join(p.text for p in pieces) == text
    assert tok.encode(text, add_bos=False) == ids[1:]  # the same encoding, read again
    long = "The cat sat. " * 400  # (a corpus's text is encoded, not kept)
    kept = tok._kept.cache_info().currsize
    assert tok.encode(long)[1:] == tok.hf.encode(long, add_special_tokens=False).ids
    assert tok._kept.cache_info().currsize == kept


@settings(max_examples=200, deadline=None)
@given(TEXT)
@example(f"a{BOS}b")  # a special token's name typed in the text is its characters
def test_display_hides_no_byte(tok, text):
    for i in tok.encode(text, add_bos=False):
        shown = tok.display(i)
        assert shown  # never empty
        raw = tok.token_bytes(i)
        if raw is None:  # a special token: no bytes of its own
            assert i in tok.special_ids and shown == tok.hf.id_to_token(i)
            continue
        # every byte either decodes to a visible character or is shown as <0xNN>
        assert len(shown) >= 1 and (raw.decode("utf-8", "ignore") or "<0x" in shown)


def test_display_marks_spaces_and_bytes(tok):
    shown = tok.displays(tok.encode(" cat 🙂", add_bos=False))
    assert shown[0].startswith("\u2423")
    assert "".join(shown).count("<0x") == 4  # the emoji's four bytes, none is a whole character alone
    assert display_bytes("🙂".encode()) == "🙂"
    assert display_bytes(b"\xf0\x9f") == "<0xF0><0x9F>"
    assert display_bytes("a\u200db".encode()) == "a<U+200D>b"


def test_combining_mark_stays_on_its_base():
    assert display_bytes("e\u0301".encode()) == "e\u0301"
    assert display_bytes("\u0301".encode()) == "\u25cc\u0301"
    assert display_bytes(b"\xc3" + "\u0301".encode()) == "<0xC3>\u25cc\u0301"


def test_unfinished_counts_the_tokens_of_a_character_left_unfinished():
    """A byte-level vocabulary writes a character of several bytes over several tokens: `unfinished` says how many
    of the last tokens hold one the ids end before finishing, from each byte's place in UTF-8."""
    from models import registry

    tok = registry.load(registry.DEFAULT_MODEL).tokenizer
    ids = tok.encode("a 日本", add_bos=False)
    data = [tok.token_bytes(i) for i in ids]
    for n in range(len(ids) + 1):
        joined = b"".join(data[:n])
        try:
            joined.decode("utf-8")
            whole = True
        except UnicodeDecodeError:
            whole = False
        cut = tok.unfinished(ids[:n])
        assert (cut == 0) == whole, n
        if cut:  # without those tokens the bytes are whole, and with one fewer cut they are not
            b"".join(data[:n - cut]).decode("utf-8")
            with pytest.raises(UnicodeDecodeError):
                b"".join(data[:n - cut + 1]).decode("utf-8")
    assert tok.unfinished([]) == 0
