"""The project carries the training text of its tiny models (data/tinystories): the files the cards name, with the
sha256 its README gives, and the characters the models saw in training."""

import hashlib
import json
import re

import pytest

from models import registry
from models.corpus import PROJECT_CORPUS, characters, training_chars

CARDS = sorted(p for p in registry.WEIGHTS_DIR.glob("*/card.json"))


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_readme_gives_the_files_sha256():
    readme = (PROJECT_CORPUS / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^- (\w+\.txt)\s+([0-9a-f]{64})$", readme, flags=re.M))
    assert listed == {"train.txt": digest(PROJECT_CORPUS / "train.txt"), "val.txt": digest(PROJECT_CORPUS / "val.txt")}
    assert "CDLA-Sharing-1.0" in readme


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.parent.name)
def test_every_shipped_model_was_trained_on_these_files(card_path):
    corpus = json.loads(card_path.read_text(encoding="utf-8"))["corpus"]
    for f in [*corpus["files"], corpus["val"]]:
        assert f["sha256"] == digest(PROJECT_CORPUS / f["name"]), f


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.parent.name)
def test_the_characters_seen_in_training_are_known_and_ascii(card_path):
    card = json.loads(card_path.read_text(encoding="utf-8"))
    chars = training_chars(card)
    text = "".join((PROJECT_CORPUS / f["name"]).read_text(encoding="utf-8") for f in card["corpus"]["files"])
    assert chars == set(text)  # counted another way: the files read whole
    assert all(c == "\n" or " " <= c <= "~" for c in chars), sorted(chars)  # the README: ASCII only
    assert {"é", "日", "\t"}.isdisjoint(chars)


def test_characters_come_from_the_card_or_from_files_with_the_same_sha256():
    assert training_chars({"corpus": {"characters": "ab c"}}) == {"a", "b", " ", "c"}
    other = {"corpus": {"files": [{"name": "train.txt", "sha256": "0" * 64}]}}
    assert training_chars(other) is None  # not the same file: unknown, so nothing is claimed
    assert training_chars({"corpus": {}}) is None and training_chars({}) is None
    assert characters([PROJECT_CORPUS / "val.txt"]) == "".join(sorted(set((PROJECT_CORPUS / "val.txt").read_text())))
