import json

from models.config import ModelConfig
from models.train import TrainConfig, train

TEXT = "The little cat sat on the mat. The dog ran to the park and played with a red ball. " * 60


def _run(tmp_path, name, steps=30):
    (tmp_path / "train.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "val.txt").write_text(TEXT[:2000], encoding="utf-8")
    cfg = TrainConfig(train_files=[str(tmp_path / "train.txt")], val_file=str(tmp_path / "val.txt"),
                      out_dir=str(tmp_path / name), vocab_size=300, max_tokens=steps * 8 * 31, batch_size=8,
                      lr=3e-3, warmup_steps=5, seed=1, licence="test")
    model_cfg = ModelConfig(d_model=32, n_layers=1, n_heads=2, d_head=16, d_mlp=64, vocab_size=300, max_positions=32)
    return train(cfg, model_cfg, progress=False)


def test_training_lowers_the_loss_and_writes_the_card(tmp_path):
    card = _run(tmp_path, "a")
    first, last = card["training"]["first_losses"][0], card["training"]["final_train_loss"]
    assert card["training"]["steps"] == 30
    assert last < first - 1.0
    out = tmp_path / "a"
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "tokenizer.json", "card.json"}
    written = json.loads((out / "card.json").read_text())
    for key in ("val_nats_per_token", "val_bits_per_char", "val_top1_accuracy"):
        assert written["metrics"][key] > 0
    assert written["corpus"]["files"][0]["sha256"] and written["licence"] == "test"
    assert written["training"]["tokens_seen"] == 30 * 8 * 31 and written["date"] and written["command"]


def test_same_seed_same_first_losses(tmp_path):
    a = _run(tmp_path, "a", steps=5)
    b = _run(tmp_path, "b", steps=5)
    assert a["training"]["first_losses"] == b["training"]["first_losses"]


def test_strided_evaluation_scores_every_token_once(tmp_path):
    import torch

    from models.registry import load_folder
    from models.train import evaluate

    _run(tmp_path, "a", steps=5)
    loaded = load_folder(tmp_path / "a")
    text = TEXT[:1500]
    n = len(loaded.tokenizer.encode(text, add_bos=False))
    plain = evaluate(loaded.model, loaded.tokenizer, text)
    strided = evaluate(loaded.model, loaded.tokenizer, text, stride=8)
    assert plain["tokens"] == strided["tokens"] == n
    full = evaluate(loaded.model, loaded.tokenizer, text, stride=31)
    assert full == plain  # a stride of the whole window is the side-by-side layout
    with torch.no_grad():
        assert strided["nats_per_token"] != plain["nats_per_token"]
