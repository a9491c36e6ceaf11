"""Replay of a model's training: each recorded checkpoint registers as NAME@STEP, loads (8-bit weights
dequantized), scores on val.txt what its index says, and the last one is the model itself."""

import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file

from models import checkpoints as ckpt
from models import registry, replay
from models.config import ModelConfig
from models.train import TrainConfig, evaluate, train

TEXT = "The little cat sat on the mat. The dog ran to the park and played with a red ball. " * 60
NAME = "replay-test"
SHIPPED = registry.WEIGHTS_DIR / registry.DEFAULT_MODEL


def _unregister(prefix: str) -> None:
    for name in [n for n in registry.names() if n == prefix or n.startswith(prefix + "@")]:
        registry._REGISTRY.pop(name, None)
        registry._LOADED.pop(name, None)
    replay._FOLDERS.pop(prefix, None)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A small model trained 40 steps with 4 checkpoints, registered as `replay-test` and its steps."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("replay")
    (tmp / "train.txt").write_text(TEXT, encoding="utf-8")
    (tmp / "val.txt").write_text(TEXT[:2000], encoding="utf-8")
    folder = tmp / NAME
    cfg = TrainConfig(train_files=[str(tmp / "train.txt")], val_file=str(tmp / "val.txt"), out_dir=str(folder),
                      vocab_size=300, max_tokens=40 * 8 * 31, batch_size=8, lr=3e-3, warmup_steps=5, seed=1,
                      checkpoints=4)
    model_cfg = ModelConfig(d_model=32, n_layers=1, n_heads=2, d_head=16, d_mlp=64, vocab_size=300, max_positions=32)
    train(cfg, model_cfg, progress=False)

    def info():
        return registry._info_from_card(folder, False)

    registry.register(NAME, info, lambda: registry.load_folder(folder, info=info()))
    names = replay.register_checkpoints(folder, NAME, info, registry.register, registry.LoadedModel)
    yield folder, names, tmp / "val.txt"
    _unregister(NAME)


def test_every_checkpoint_is_registered_unlisted_and_named_by_the_base_model(history):
    folder, names, _ = history
    index = json.loads((folder / "checkpoints" / "index.json").read_text())
    steps = [c["step"] for c in index["checkpoints"]]
    assert steps == ckpt.log_spaced_steps(40, 4)
    assert names == [f"{NAME}@{s}" for s in steps]
    listed = {m.name for m in registry.list_models()}
    assert NAME in listed and not listed & set(names)  # the steps are not in the model picker
    base = registry.info(NAME)
    assert [c["model"] for c in base.checkpoints] == names
    assert [c["val_nats_per_token"] for c in base.checkpoints] == [c["val_nats_per_token"] for c in index["checkpoints"]]
    for name, step in zip(names, steps, strict=True):
        info = registry.info(name)
        assert info.checkpoint_of == NAME and info.step == step and info.checkpoints is None and not info.default
        assert info.metrics["step"] == step and f"step {step} of 40" in info.title
    with pytest.raises(KeyError) as e:
        registry.info(f"{NAME}@7")  # not a recorded step
    assert e.value.args[0] == f"unknown model '{NAME}@7'; the training steps of {NAME} are: {', '.join(map(str, steps))}"
    history_ = replay.training(NAME)
    assert history_["steps"] == 40 and len(history_["train_loss"]) == 40
    assert history_["train_loss"] == index["train_loss"]


def test_each_checkpoint_loads_the_stored_weights_and_scores_what_its_index_says(history):
    folder, names, val = history
    index = json.loads((folder / "checkpoints" / "index.json").read_text())
    text = val.read_text(encoding="utf-8")
    for name, entry in zip(names, index["checkpoints"], strict=True):
        file = folder / entry["file"]
        assert hashlib.sha256(file.read_bytes()).hexdigest() == entry["sha256"]
        loaded = registry.load(name)
        state = loaded.model.state_dict()
        stored = load_file(str(file)) if entry["file"] == "model.safetensors" else ckpt.load(file)
        for k, v in stored.items():
            assert torch.equal(state[k], v), (name, k)
        # the validation loss recomputed from the loaded model (an independent pass) agrees with the index
        ev = evaluate(loaded.model, loaded.tokenizer, text)
        assert ev["nats_per_token"] == pytest.approx(entry["val_nats_per_token"], abs=1e-3), name
    losses = [c["val_nats_per_token"] for c in index["checkpoints"]]
    assert losses == sorted(losses, reverse=True)  # this short run's val loss falls at every checkpoint


def test_the_last_checkpoint_is_the_model_itself(history):
    folder, names, _ = history
    last, model = registry.load(names[-1]), registry.load_folder(folder)
    ids = torch.tensor(model.tokenizer.encode("The cat sat on the mat."))
    with torch.no_grad():
        assert torch.equal(last.model(ids), model.model(ids))
    first = registry.load(names[0])
    with torch.no_grad():
        assert not torch.equal(first.model(ids), model.model(ids))


def test_a_model_without_a_recorded_training_has_none():
    assert replay.checkpoints("tiny-learned") is None
    with pytest.raises(KeyError, match="no recorded training history"):
        replay.training("tiny-learned")


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "checkpoints" / "index.json").is_file(),
                    reason=f"{SHIPPED.name} has no recorded checkpoints in this tree (models/recipes/tiny.sh writes them)")
def test_the_shipped_models_checkpoints_load_fall_and_end_at_the_shipped_model():
    index = json.loads((SHIPPED / "checkpoints" / "index.json").read_text())
    entries = index["checkpoints"]
    assert len(entries) == 12 and entries[-1]["file"] == "model.safetensors"
    card = json.loads((SHIPPED / "card.json").read_text())
    assert entries[-1]["step"] == card["training"]["steps"]
    # the final entry is the shipped file itself (same hash), and NAME@LAST loads it unchanged
    assert hashlib.sha256((SHIPPED / "model.safetensors").read_bytes()).hexdigest() == entries[-1]["sha256"]
    last = registry.load(f"{SHIPPED.name}@{entries[-1]['step']}")
    shipped = load_file(str(SHIPPED / "model.safetensors"))
    state = last.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in shipped.items())
    for entry in entries:
        loaded = registry.load(f"{SHIPPED.name}@{entry['step']}")
        assert loaded.info.step == entry["step"]
        assert hashlib.sha256((SHIPPED / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    losses = [e["val_nats_per_token"] for e in entries]
    rises = [(a["step"], b["step"]) for a, b in zip(entries, entries[1:], strict=False)
             if b["val_nats_per_token"] > a["val_nats_per_token"]]
    assert not rises, f"val loss rises between steps {rises}: {losses}"
    # what the 8-bit storage costs: at most a few hundredths of a nat per token at any step
    assert max(abs(e["val_nats_per_token"] - e["val_nats_per_token_float32"]) for e in entries) < 0.05
    size = sum((SHIPPED / e["file"]).stat().st_size for e in entries[:-1])
    assert size < 40 * 2**20
