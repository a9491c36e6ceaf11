"""GPT-2 conversion: a tiny random GPT-2 saved by transformers, loaded through the HF-folder converter."""

import pytest
import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from models import registry
from models.convert import gpt2, hf_folder
from models.convert.common import ConversionError
from models.transformer import Transformer

TEXTS = ["Once upon a time there was a cat.", "The cat sat on the mat, and the dog ran.", "café 🎉 42"]


def _bpe(vocab_size: int) -> HFTokenizer:
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    hf.train_from_iterator(["Once upon a time there was a cat. The cat sat on the mat, and the dog ran."] * 50, trainer)
    return hf


def _save(tmp_path_factory, name: str, tied: bool, vocab_files: bool = False):
    from transformers import GPT2Config, GPT2LMHeadModel

    hf_tok = _bpe(300)
    torch.manual_seed(1)
    config = GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=hf_tok.get_vocab_size(),
                        tie_word_embeddings=tied, attn_implementation="eager")
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # larger weights than the init, so attention is far from uniform
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.2)
    folder = tmp_path_factory.mktemp(name)
    model.save_pretrained(folder)
    if vocab_files:
        hf_tok.model.save(str(folder))  # vocab.json + merges.txt
    else:
        hf_tok.save(str(folder / "tokenizer.json"))
    return folder, model, hf_tok


@pytest.fixture(scope="module")
def tied(need, tmp_path_factory):
    need("transformers", why="the tiny GPT-2 folder")
    return _save(tmp_path_factory, "tiny-gpt2", tied=True)


@pytest.fixture(scope="module")
def untied(need, tmp_path_factory):
    need("transformers", why="the tiny GPT-2 folder")
    return _save(tmp_path_factory, "tiny-gpt2-untied", tied=False, vocab_files=True)


@pytest.mark.parametrize("which", ["tied", "untied"])
def test_tiny_gpt2_folder_matches_transformers(which, request):
    folder, ref, hf_tok = request.getfixturevalue(which)
    cfg, sd = hf_folder.convert_folder(folder)
    assert cfg.tied_embeddings == (which == "tied") and cfg.mlp == "gelu_tanh" and cfg.positional == "learned"
    model = Transformer(cfg, init=False)
    model.load_state_dict(sd, strict=True)
    model.eval()
    for text in TEXTS:
        ids = torch.tensor(hf_tok.encode(text).ids)
        logits, cache = model.run_with_cache(ids)
        with torch.no_grad():
            out = ref(ids[None], output_attentions=True, output_hidden_states=True)
        # transformers' last hidden state is after ln_f
        ours = [cache[f"blocks.{l}.hook_resid_post"] for l in range(cfg.n_layers - 1)]
        ours.append(cache["ln_final.hook_normalized"])
        for layer in range(cfg.n_layers):
            assert (cache["pattern", layer] - out.attentions[layer][0]).abs().max() <= 1e-4
            assert (ours[layer] - out.hidden_states[layer + 1][0]).abs().max() <= 1e-3
        assert (cache["hook_embed"] + cache["hook_pos_embed"] - out.hidden_states[0][0]).abs().max() <= 1e-3
        assert (logits - out.logits[0]).abs().max() <= 1e-3


@pytest.mark.parametrize("which", ["tied", "untied"])
def test_tiny_gpt2_folder_tokenizer_and_registry(which, request, own_registry):
    registry = own_registry  # (the folder registered here is forgotten after the test)
    folder, _, hf_tok = request.getfixturevalue(which)
    tok = hf_folder.tokenizer_from_folder(folder)
    assert tok.style == "byte_level" and tok.bos_id is None
    for text in TEXTS:
        assert tok.encode(text) == hf_tok.encode(text).ids  # GPT-2 adds no special tokens
        assert tok.decode(tok.encode(text)) == text
    name = registry.register_folder(folder)
    loaded = registry.load(name)
    assert loaded.info.kind == "causal" and loaded.info.max_tokens == 64
    assert loaded.info.params == loaded.model.n_params() and loaded.info.unavailable_views == {}


def test_gpt2_converter_refuses_what_it_cannot_represent():
    base = {"n_embd": 32, "n_layer": 1, "n_head": 4, "vocab_size": 10}
    with pytest.raises(ConversionError, match="activation_function"):
        gpt2.config_from_hf({**base, "activation_function": "relu"})
    with pytest.raises(ConversionError, match="sqrt"):
        gpt2.config_from_hf({**base, "scale_attn_by_inverse_layer_idx": True})


def test_folder_errors_are_readable(tmp_path):
    with pytest.raises(ConversionError, match="no config.json"):
        hf_folder.model_config(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "t5"}')
    with pytest.raises(ConversionError, match="model_type 't5' is not supported"):
        hf_folder.model_config(tmp_path)
    with pytest.raises(ValueError, match="not supported"):
        registry.register_folder(tmp_path)
