import json

import pytest

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
    assert written["corpus"]["characters"] == "".join(sorted(set(TEXT)))  # what the model saw in training
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


def test_checkpoints_are_log_spaced_small_and_load(tmp_path):
    import torch

    from models import checkpoints
    from models.transformer import Transformer

    # the default model's recorded steps (models/weights/tiny-sinusoidal/checkpoints)
    assert checkpoints.log_spaced_steps(3938, 12) == [0, 16, 28, 48, 83, 145, 251, 435, 755, 1309, 2271, 3938]
    for total, count in ((5, 4), (40, 4), (100, 12), (3938, 12)):
        steps = checkpoints.log_spaced_steps(total, count)
        assert len(steps) == count and steps[0] == 0 and steps[-1] == total and steps == sorted(set(steps))
    (tmp_path / "train.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "val.txt").write_text(TEXT[:2000], encoding="utf-8")
    cfg = TrainConfig(train_files=[str(tmp_path / "train.txt")], val_file=str(tmp_path / "val.txt"),
                      out_dir=str(tmp_path / "c"), vocab_size=300, max_tokens=40 * 8 * 31, batch_size=8,
                      lr=3e-3, warmup_steps=5, seed=1, checkpoints=4)
    model_cfg = ModelConfig(d_model=32, n_layers=1, n_heads=2, d_head=16, d_mlp=64, vocab_size=300, max_positions=32)
    card = train(cfg, model_cfg, progress=False)
    index = json.loads((tmp_path / "c" / "checkpoints" / "index.json").read_text())
    steps = [c["step"] for c in index["checkpoints"]]
    assert steps == checkpoints.log_spaced_steps(40, 4) == card["training"]["checkpoints"]["steps"]
    assert index["checkpoints"][-1]["file"] == "model.safetensors" and len(index["train_loss"]) == 40
    # the training run is the same with or without checkpoints (evaluating them draws no random numbers)
    import dataclasses

    plain = train(dataclasses.replace(cfg, out_dir=str(tmp_path / "p"), checkpoints=0), model_cfg, progress=False)
    assert plain["training"]["first_losses"] == card["training"]["first_losses"]
    assert plain["training"]["final_train_loss"] == card["training"]["final_train_loss"]
    for entry in index["checkpoints"][:-1]:
        state = checkpoints.load(tmp_path / "c" / entry["file"])
        m = Transformer(model_cfg, init=False)
        m.load_state_dict(state, strict=True)
        # the 8-bit rounding costs little: the loss recorded before and after it are close
        assert abs(entry["val_nats_per_token"] - entry["val_nats_per_token_float32"]) < 0.05
    # the rounding is at most half a step of each row's scale
    w = torch.randn(5, 7)
    q = checkpoints.dequantize(checkpoints.quantize({"w": w}))["w"]
    assert float(((q - w).abs() - w.abs().amax(-1, keepdim=True) / 127 / 2).max()) <= 1e-6



def test_training_files_default_to_the_projects_corpus(monkeypatch, corpus, tmp_path):
    """No files: the project's data/tinystories (train.txt, val.txt); ATTNLAB_CORPUS points elsewhere."""
    from argparse import Namespace

    from models.corpus import PROJECT_CORPUS
    from models.train import default_files

    monkeypatch.delenv("ATTNLAB_CORPUS", raising=False)
    args = Namespace(train_files=[], val=None)
    default_files(args)
    assert args.train_files == [str(PROJECT_CORPUS / "train.txt")] and args.val == str(PROJECT_CORPUS / "val.txt")
    assert (PROJECT_CORPUS / "train.txt").is_file() and (PROJECT_CORPUS / "val.txt").is_file()
    monkeypatch.setenv("ATTNLAB_CORPUS", str(tmp_path))
    args = Namespace(train_files=[], val=None)
    default_files(args)
    assert args.train_files == [str(tmp_path / "train.txt")] and args.val == str(tmp_path / "val.txt")


def test_the_card_names_tinystories_only_for_its_text(tmp_path):
    """A card's corpus name, source and licence default to the TinyStories subset's only where the training text is the
    project's data/tinystories/train.txt (the same bytes, wherever the file lies); training files of one's own get
    their names and no source or licence (the card said TinyStories and CDLA-Sharing-1.0 of any text); an option
    given is kept."""
    import shutil
    from argparse import Namespace

    from models.corpus import PROJECT_CORPUS, sha256
    from models.train import TINYSTORIES, TINYSTORIES_SHA256, card_defaults

    assert sha256(PROJECT_CORPUS / "train.txt") == TINYSTORIES_SHA256

    def defaults(files, **given):
        args = Namespace(train_files=[str(f) for f in files], corpus_name=None, source=None, licence=None)
        vars(args).update(given)
        card_defaults(args)
        return args.corpus_name, args.source, args.licence

    tiny = (TINYSTORIES["corpus_name"], TINYSTORIES["source"], TINYSTORIES["licence"])
    assert defaults([PROJECT_CORPUS / "train.txt"]) == tiny
    copy = tmp_path / "stories.txt"
    shutil.copyfile(PROJECT_CORPUS / "train.txt", copy)
    assert defaults([copy]) == tiny
    own = tmp_path / "mine.txt"
    own.write_text(TEXT, encoding="utf-8")
    other = tmp_path / "more.txt"
    other.write_text(TEXT[:100], encoding="utf-8")
    assert defaults([own, other]) == ("mine.txt, more.txt", "", "")
    assert defaults([own], licence="CC-BY-4.0", source="my notes") == ("mine.txt", "my notes", "CC-BY-4.0")
    assert defaults([PROJECT_CORPUS / "train.txt", own]) == ("train.txt, mine.txt", "", "")


def test_attnlab_train_without_files_trains_on_the_corpus_folder(tmp_path, monkeypatch, capsys):
    """`attnlab train --out DIR` with no files reads train.txt and val.txt of the corpus folder (here a small one
    in ATTNLAB_CORPUS: encoding the whole TinyStories subset takes half a minute) and names them in the card."""
    import pytest

    from backend.cli import main
    from models.corpus import sha256

    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.txt").write_text(TEXT, encoding="utf-8")
    (folder / "val.txt").write_text(TEXT[:2000], encoding="utf-8")
    monkeypatch.setenv("ATTNLAB_CORPUS", str(folder))
    out = tmp_path / "m"
    main(["train", "--out", str(out), "--tokenizer", "models/weights/tiny-sinusoidal/tokenizer.json", "--tokens", "1024",
          "--layers", "1", "--heads", "2", "--d-model", "32", "--d-head", "16", "--d-mlp", "64", "--context", "32",
          "--batch-size", "4", "--eval-every", "0", "--no-progress"])
    card = json.loads((out / "card.json").read_text())
    assert card["corpus"]["files"] == [{"name": "train.txt", "sha256": sha256(folder / "train.txt")}]
    assert card["corpus"]["val"] == {"name": "val.txt", "sha256": sha256(folder / "val.txt")}
    assert card["corpus"]["characters"] == "".join(sorted(set(TEXT)))
    assert (card["corpus"]["name"], card["corpus"]["source"], card["licence"]) == ("train.txt", "", "")  # not TinyStories
    from models.registry import load_folder

    assert load_folder(out).info.source == "train.txt"  # the page's "Trained on", from the files' names
    assert "val" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="give --val FILE"):
        main(["train", str(folder / "train.txt"), "--out", str(out)])


def _bad_run(tmp_path, capsys, *extra):
    """`python -m models.train` on a small text with `extra` options: its exit code, stderr, and what it wrote."""
    from models.train import main

    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "t.txt"), "--val", str(tmp_path / "t.txt"), "--out", str(out), "--no-progress",
              "--vocab-size", "300", *extra])
    return e.value.code, capsys.readouterr().err, sorted(p.name for p in out.iterdir()) if out.exists() else []


@pytest.mark.parametrize("extra, words", [
    (["--tokens", "-5"], "--tokens must be 0 (no token budget) or more, not -5"),
    (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    (["--layers", "0"], "--layers must be at least 1, not 0"),
    (["--dropout", "1.5"], "--dropout must be in [0, 1), not 1.5"),
    (["--d-model", "33"], "sinusoidal positions need an even d_model (--d-model)"),
    (["--tokenizer", "nowhere/tokenizer.json"], "--tokenizer nowhere/tokenizer.json: no such file"),
    (["--val", "nowhere/val.txt"], "--val nowhere/val.txt: no such file"),
])
def test_bad_values_give_one_line_and_exit_code_2(tmp_path, capsys, extra, words):
    """A bad value ended in a Python traceback (exit code 1), some only after the tokenizer was trained and written:
    one line naming the option, exit code 2 (as argparse's own errors), before anything is trained or written."""
    code, err, written = _bad_run(tmp_path, capsys, *extra)
    assert code == 2
    assert err == f"python -m models.train: error: {words}\n"
    assert written == []


def test_a_missing_training_file_gives_one_line(tmp_path, capsys):
    """A training file that is not there ended in the tokenizer's 'Exception: No such file or directory (os error 2)'
    traceback, naming no file; `attnlab train` showed the same traceback."""
    from backend.cli import main as attnlab
    from models.train import main

    (tmp_path / "v.txt").write_text(TEXT, encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "missing.txt"), "--val", str(tmp_path / "v.txt"), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    assert capsys.readouterr().err == f"python -m models.train: error: {tmp_path / 'missing.txt'}: no such file\n"
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit, match=f"^attnlab train: {tmp_path / 'missing.txt'}: no such file$"):
        attnlab(["train", str(tmp_path / "missing.txt"), "--val", str(tmp_path / "v.txt"), "--out", str(tmp_path / "out")])
