"""Loss by position (models/lengths.py) and the lengths.json files of the tiny models, recomputed another way."""

import json
from pathlib import Path

import pytest
import torch

from models import lengths, registry
from models.config import ModelConfig
from models.corpus import sha256
from models.measure import LENGTHS_FILE, VAL
from models.tokenizer import Tokenizer
from models.transformer import Transformer

ROOT = Path(__file__).resolve().parents[2]
# the card's loss and the curve's mean over the same positions come from different windows of the same text (the
# card: all of val.txt in windows of 127 tokens; the curve: the first 127 positions of 91 windows of 512): they
# agree within sampling noise, about 0.02 nats for 11,557 tokens
CARD_TOLERANCE = 0.05


def by_hand(model: Transformer, tok: Tokenizer, window: list[int], n: int) -> torch.Tensor:
    """The loss at each of the first n positions of one window, one sequence through run_with_cache, in float64."""
    x = torch.tensor([tok.bos_id] + window[:n - 1])  # [pos]
    logits, _ = model.run_with_cache(x, max_tokens=n)  # [pos, vocab]
    logp = torch.log_softmax(logits.double(), dim=-1)
    return -logp[torch.arange(n), torch.tensor(window[:n])]  # [pos]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return registry.load(registry.DEFAULT_MODEL).tokenizer


@pytest.fixture(scope="module")
def val_text() -> str:
    return VAL.read_text(encoding="utf-8")


@pytest.mark.parametrize("positional", ["alibi", "learned", "rotary"])
def test_loss_matrix_is_each_window_run_alone(tok, val_text, positional):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(d_model=32, n_layers=2, n_heads=4, d_head=8, d_mlp=64, vocab_size=tok.vocab_size,
                                    max_positions=16, positional=positional)).eval()
    span = 40
    losses = lengths.loss_matrix(model, tok, val_text[:3000], span, batch_size=3)
    wins = lengths.windows(tok.encode(val_text[:3000], add_bos=False), span)
    n = 16 if positional == "learned" else span  # learned positions stop at the trained length
    assert losses.shape == (len(wins), n) and len(wins) >= 5
    for w, window in enumerate(wins):
        torch.testing.assert_close(losses[w], by_hand(model, tok, window, n), atol=1e-5, rtol=0)


def test_windows_are_full_and_side_by_side():
    ids = list(range(103))
    wins = lengths.windows(ids, 25)
    assert [w[0] for w in wins] == [0, 25, 50, 75] and all(len(w) == 25 for w in wins)
    with pytest.raises(ValueError):
        lengths.windows(ids, 0)


def test_summary_adds_up():
    g = torch.Generator().manual_seed(0)
    losses = torch.rand(7, 300, generator=g, dtype=torch.float64) * 5  # [window, pos]
    s = lengths.summarise(losses, trained=100, at=(100, 256, 512), bin_size=32)
    assert s["positions"] == 300 and s["windows"] == 7 and len(s["loss"]) == 300
    assert abs(sum(s["loss"]) / 300 - sum(s["window_loss"]) / 7) < 1e-4  # every window has every position
    assert [b["start"] for b in s["bins"]] == list(range(0, 300, 32)) and s["bins"][-1]["end"] == 300
    assert s["bins"][1]["loss"] == pytest.approx(float(losses[:, 32:64].mean()), abs=1e-4)
    assert s["at"]["100"]["mean_loss"] == pytest.approx(float(losses[:, :100].mean()), abs=1e-4)
    assert s["at"]["256"]["tail_loss"] == pytest.approx(float(losses[:, 192:256].mean()), abs=1e-4)
    assert s["at"]["512"] is None  # past the measured positions
    assert s["trained_mean_loss"] == pytest.approx(float(losses[:, :99].mean()), abs=1e-4)
    sem = losses[:, 5].std() / 7 ** 0.5
    assert s["sem"][5] == pytest.approx(float(sem), abs=1e-4)


def measured() -> list[str]:
    return [n for n in registry.tiny_models() if (registry.WEIGHTS_DIR / n / LENGTHS_FILE).is_file()]


def test_every_tiny_model_has_a_current_lengths_file():
    for name in registry.tiny_models():
        path = registry.WEIGHTS_DIR / name / LENGTHS_FILE
        assert path.is_file(), f"{name}: no {LENGTHS_FILE}; run `python -m models.measure {name}`"
        data = json.loads(path.read_text())
        assert data["weights_sha256"] == sha256(registry.WEIGHTS_DIR / name / "model.safetensors"), \
            f"{name}: {LENGTHS_FILE} was measured on other weights; run `python -m models.measure {name}`"
        assert data["text"]["sha256"] == sha256(VAL)
        learned = data["positional"] == "learned"
        assert data["span"] == 512 and data["positions"] == (128 if learned else 512)
        assert (data["why_not_beyond"] is not None) == learned
        assert len(data["loss"]) == len(data["sem"]) == data["positions"]
        assert data["windows"] == len(data["window_loss"]) == len(tokenize_val()) // 512
        assert (data["at"]["256"] is None) == learned and data["at"]["128"] is not None


_IDS: list[int] = []


def tokenize_val() -> list[int]:
    if not _IDS:
        _IDS.extend(registry.load(registry.DEFAULT_MODEL).tokenizer.encode(VAL.read_text(encoding="utf-8"), add_bos=False))
    return _IDS


@pytest.mark.slow
@pytest.mark.parametrize("name", measured())
def test_the_file_is_recomputed_on_a_few_windows(name):
    loaded = registry.load(name)
    data = json.loads((registry.WEIGHTS_DIR / name / LENGTHS_FILE).read_text())
    wins = lengths.windows(tokenize_val(), data["span"])
    for w in (0, len(wins) // 2, len(wins) - 1):
        got = by_hand(loaded.model, loaded.tokenizer, wins[w], data["positions"])
        assert float(got.mean()) == pytest.approx(data["window_loss"][w], abs=1e-4)
    # the per-position means and the per-window means describe the same numbers
    assert sum(data["loss"]) / data["positions"] == pytest.approx(sum(data["window_loss"]) / data["windows"], abs=1e-3)


def test_the_default_models_curve_over_its_trained_range_is_its_card_loss():
    """Averaged like the card (every position of a window of 127 tokens after the start token: positions 0 to 126,
    equally weighted), the default model's curve gives its card's validation loss, within CARD_TOLERANCE."""
    data = json.loads((registry.WEIGHTS_DIR / registry.DEFAULT_MODEL / LENGTHS_FILE).read_text())
    card = json.loads((registry.WEIGHTS_DIR / registry.DEFAULT_MODEL / "card.json").read_text())
    trained = data["trained_tokens"]
    curve = sum(data["loss"][:trained - 1]) / (trained - 1)
    assert curve == pytest.approx(data["trained_mean_loss"], abs=1e-3)
    assert abs(curve - card["metrics"]["val_nats_per_token"]) <= CARD_TOLERANCE


def test_the_readme_quotes_the_measurements():
    """The README's tables are `python -m models.measure --table` of the files here, and its sentence on ALiBi compares
    like with like (it said the loss "keeps falling" from the mean over the first 128 tokens, 2.823, which the first
    positions raise, to the last 64 before 512, 2.728; over the last 64 trained tokens it was 2.735)."""
    from models.measure import table

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for part in table().split("\n\n"):
        assert part in readme
    at = {name: json.loads((registry.WEIGHTS_DIR / name / LENGTHS_FILE).read_text(encoding="utf-8"))["at"]
          for name in ("tiny-alibi", "tiny-rotary")}
    alibi, rotary = at["tiny-alibi"], at["tiny-rotary"]
    near, far = alibi["128"]["tail_loss"], alibi["512"]["tail_loss"]
    said = " ".join(readme.split())
    assert (f"holds steady past the trained length ({near:.3f} nats over tokens 64 to 127, the last 64 it was trained "
            f"on, and {far:.3f} over tokens 448 to 511, where rotary goes from {rotary['128']['tail_loss']:.3f} to "
            f"{rotary['512']['tail_loss']:.3f})") in said
    assert abs(far - near) < 0.1  # steady: within the noise of two 64-token means (lesson 10's margin)
    assert f"first 128 tokens ({alibi['128']['mean_loss']:.3f})" in said


def test_the_measure_command_s_help_says_what_it_writes(capsys):
    """`python -m models.measure --help` ended its description on "for the API to serve:" and said no more: the files
    it writes, its examples and why it is a command are the rest of the module's docstring."""
    import pytest

    from models.measure import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for words in ("lengths.json", "probe.json", "python -m models.measure --only lengths", "Too slow for a request"):
        assert words in out, out
