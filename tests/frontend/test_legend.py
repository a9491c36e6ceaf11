"""The legend by the token strip says what its markers mean (only those it shows), and a note names the characters
of the sentence the model never saw in training (where that is known)."""

import re

from playwright.sync_api import Page, expect

from tests.frontend.pages import api, open_app


def legend(page: Page) -> list[str]:
    return page.locator("#token-legend .legend-item").all_inner_texts()


def test_the_legend_explains_the_markers_the_strip_shows(page: Page, shot):
    text = "Le café\tdort."
    open_app(page, text=text)
    a = api(page, "/api/analyze", {"text": text})
    assert a["unseen_characters"] == ["é", "\t"]
    shown = legend(page)
    assert shown[0] == "␣ a space that belongs to the token"
    assert any(s.startswith("⇥ a tab") for s in shown)
    byte = next(t["display"] for t in a["tokens"] if t["display"].startswith("<0x"))
    assert f"{byte} one byte of a character the model’s vocabulary splits into bytes" in shown
    note = page.locator("#token-legend .unseen")
    expect(note).to_have_text("tiny-sinusoidal never saw these characters in training: é, ⇥. "
                              "It has tokens for them, but nothing taught it what they mean.")
    shot(page, "unseen", full_page=False)


def test_a_plain_sentence_gets_only_the_space_marker_and_no_note(page: Page):
    open_app(page, text="The cat sat on the mat.")
    assert legend(page) == ["␣ a space that belongs to the token",  # (and the dashed start token, out of a phone's reach)
                            "<|bos|> (dashed) a token the tokenizer adds, standing for no text of the sentence"]
    expect(page.locator("#token-legend .unseen")).to_have_count(0)


def test_no_note_where_the_training_text_is_not_known(page: Page, need_models):
    need_models("minilm-l6")
    open_app(page, text="Le café dort.", model="minilm-l6")
    assert api(page, "/api/analyze", {"text": "Le café dort.", "model": "minilm-l6"})["unseen_characters"] is None
    expect(page.locator("#token-legend .unseen")).to_have_count(0)
    assert "##" not in " ".join(legend(page)) or any(s.startswith("## a piece") for s in legend(page))


def test_minilm_s_strip_says_what_its_tokenizer_changed(page: Page, need_models):
    """MiniLM's [UNK] chip's tooltip names the text it replaced, a lower-cased or accent-stripped piece's names what was
    typed, and the legend explains [UNK], lower-casing and stripped accents, each only when the sentence shows it."""
    need_models("minilm-l6")
    open_app(page, text="🙂🙂 The über café", model="minilm-l6")
    chips = page.locator("#tokens .tok")
    assert chips.nth(1).get_attribute("title").endswith("· typed “🙂🙂”")
    assert chips.nth(2).get_attribute("title").endswith("· typed “The”")
    assert chips.nth(3).get_attribute("title").endswith("· typed “über”")
    shown = legend(page)
    assert shown[0].startswith("[UNK] text minilm-l6’s vocabulary has no token for (here “🙂🙂”)"), shown
    assert any(s.startswith("The → the minilm-l6 lower-cases") for s in shown), shown
    assert any(s.startswith("über → uber minilm-l6 strips accents") for s in shown), shown
    open_app(page, text="the cat sat.", model="minilm-l6")
    assert legend(page) == ["[CLS] [SEP] (dashed) tokens the tokenizer adds, standing for no text of the sentence"]
    assert not page.locator("#tokens .tok").nth(1).get_attribute("title").count("typed")


def test_a_special_token_s_name_typed_in_the_sentence_is_text_in_the_strip(page: Page, shot):
    """A typed "<|bos|>" was the start token itself (the model read a second BOS) in a chip drawn as text, and kept
    when special tokens were hidden: now it is its characters, and the one dashed chip is the start token."""
    text = "A <|bos|> cat"
    open_app(page, text=text)
    chips = page.locator("#tokens .tok")
    assert chips.locator(".tok-text").all_text_contents().count("<|bos|>") == 1
    expect(page.locator("#tokens .tok.special")).to_have_count(1)
    expect(chips.first).to_have_class(re.compile(r"\bspecial\b"))
    ids = [t["id"] for t in api(page, "/api/analyze", {"text": text})["tokens"]]
    assert ids.count(ids[0]) == 1  # the model reads one start token
    assert legend(page)[-1].startswith("<|bos|> (dashed) a token the tokenizer adds")
    shot(page, "typed-bos", full_page=False)
    open_app(page, text=text, hidespecial=1)
    assert "<|bos|>" not in page.locator("#tokens .tok .tok-text").all_text_contents()
    assert "<" in page.locator("#tokens").inner_text()
