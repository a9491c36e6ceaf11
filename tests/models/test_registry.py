import json
import threading
from pathlib import Path

import pytest
import torch

from models import registry
from models.cards import table
from models.config import ModelConfig
from models.train import evaluate

ROOT = Path(__file__).resolve().parents[2]


def test_the_four_tiny_models_are_registered():
    infos = {m.name: m for m in registry.list_models()}
    for name, scheme in [("tiny-sinusoidal", "sinusoidal"), ("tiny-learned", "learned"),
                         ("tiny-rotary", "rotary"), ("tiny-nope", "none")]:
        assert infos[name].positional == scheme and infos[name].available
    assert [m.name for m in infos.values() if m.default] == ["tiny-sinusoidal"]


def test_unknown_model_names_the_choices():
    with pytest.raises(KeyError, match="tiny-sinusoidal"):
        registry.load("tiny-gigantic")


def test_load_is_shared_and_thread_safe():
    got = []
    threads = [threading.Thread(target=lambda: got.append(registry.load("tiny-nope"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(m) for m in got}) == 1 and not got[0].model.training


def test_shipped_models_are_the_same_size_and_recipe():
    cards = [json.loads((registry.WEIGHTS_DIR / n / "card.json").read_text()) for n in registry.tiny_models()]
    # through ModelConfig, so that a card written before a field existed reads with its default
    configs = [ModelConfig.from_dict(c["config"]).replace(positional="none") for c in cards]
    assert all(c == configs[0] for c in configs)
    assert len({c["tokenizer"]["sha256"] for c in cards}) == 1
    assert len({(c["training"]["steps"], c["training"]["seed"], c["training"]["tokens_seen"]) for c in cards}) == 1
    for c in cards:
        size = (registry.WEIGHTS_DIR / c["name"] / "model.safetensors").stat().st_size
        assert 1_000_000 <= c["params"] <= 5_000_000 and size <= 20_000_000
        assert c["licence"] == "CDLA-Sharing-1.0" and "TinyStories" in c["corpus"]["source"]


def test_default_model_quality():
    card = json.loads((registry.WEIGHTS_DIR / registry.DEFAULT_MODEL / "card.json").read_text())
    assert card["metrics"]["val_bits_per_char"] <= 1.10


def test_readme_table_matches_the_cards():
    assert table() in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("name", registry.tiny_models())
def test_shipped_model_scores_val_as_its_card_says(corpus, name):
    loaded = registry.load(name)
    card = json.loads((registry.WEIGHTS_DIR / name / "card.json").read_text())
    with torch.inference_mode():
        got = evaluate(loaded.model, loaded.tokenizer, (corpus / "val.txt").read_text(), max_tokens=20_000)
    assert abs(got["nats_per_token"] - card["metrics"]["val_nats_per_token"]) <= 0.05
    assert (registry.WEIGHTS_DIR / name / "tokenizer.json").read_bytes() == \
        (registry.WEIGHTS_DIR / registry.DEFAULT_MODEL / "tokenizer.json").read_bytes()
