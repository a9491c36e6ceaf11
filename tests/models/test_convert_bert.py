"""BERT-family conversion: MiniLM-L6 from its PyPI package against transformers, a tiny random BERT folder,
and what the glass-box model grew for encoders (no unembedding)."""

import pytest
import torch

from models import pretrained, registry
from models.config import ModelConfig
from models.convert import bert, hf_folder
from models.convert.common import ConversionError
from models.decompose import decompose_scores
from models.transformer import Transformer

SENTENCES = [
    "The cat sat on the mat because it was tired.",
    "Attention is all you need, said the paper in 2017.",
    "café naïve résumé: Ünïcödé text, 日本語 and emoji 🎉",
    "a",
    "The bank of the river was steep; the bank downtown was closed on Sunday.",
]
PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3


@pytest.fixture(scope="module")
def reference(need):
    need(pretrained.MINILM_PACKAGE.module, "transformers", why="MiniLM parity against transformers")
    from transformers import AutoTokenizer, BertModel

    folder = str(pretrained.minilm_dir())
    model = BertModel.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(folder)


# --------------------------------------------------------------------------- MiniLM

def test_minilm_config_and_info(minilm):
    assert minilm.cfg == pretrained.MINILM_CONFIG
    assert minilm.info.params == minilm.model.n_params() == registry.info("minilm-l6").params
    assert minilm.info.kind == "bidirectional" and minilm.info.max_tokens == 128
    # learned positions: positional and decompose apply; without a next-word head the lens and attribution do not
    assert set(minilm.info.unavailable_views) == {"predictions", "lens", "logit_attribution"}
    assert not minilm.model.training


@pytest.mark.parametrize("text", SENTENCES)
def test_minilm_matches_transformers(minilm, reference, text):
    ref, ref_tok = reference
    ids = minilm.tokenizer.encode(text)
    assert ids == ref_tok(text)["input_ids"]
    logits, cache = minilm.model.run_with_cache(torch.tensor(ids))
    assert logits is None
    with torch.no_grad():
        out = ref(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(minilm.cfg.n_layers):
        assert (cache["pattern", layer] - out.attentions[layer][0]).abs().max() <= PATTERN_TOL, layer
        assert (cache[f"blocks.{layer}.hook_resid_post"] - out.hidden_states[layer + 1][0]).abs().max() <= HIDDEN_TOL
    assert (cache["blocks.0.hook_resid_pre"] - out.hidden_states[0][0]).abs().max() <= HIDDEN_TOL
    with torch.inference_mode():
        final = minilm.model(torch.tensor(ids))  # no unembedding: the final hidden states
    assert (final - out.last_hidden_state[0]).abs().max() <= HIDDEN_TOL


def test_minilm_tokenization_matches_transformers(minilm, reference, varied_strings):
    _, ref_tok = reference
    assert len(varied_strings) == 200
    for text in varied_strings:
        # (a special token's name typed in the text is text here, as transformers reads it when asked to)
        assert minilm.tokenizer.encode(text) == ref_tok(text, split_special_tokens=True)["input_ids"], text


def test_minilm_special_tokens_and_wordpiece_display(minilm):
    tok = minilm.tokenizer
    ids = tok.encode("Tokenization is unbelievable")
    shown = tok.displays(ids)
    assert shown[0] == "[CLS]" and shown[-1] == "[SEP]"
    assert [tok.is_special(i) for i in ids] == [True] + [False] * (len(ids) - 2) + [True]
    assert any(s.startswith("##") for s in shown)  # a piece that continues a word keeps its ## prefix
    assert tok.encode("Tokenization is unbelievable", add_bos=False) == ids[1:-1]
    assert tok.decode(ids) == "tokenization is unbelievable"
    assert not tok.is_special(tok.hf.token_to_id("[UNK]"))  # [UNK] stands for text


def test_minilm_decompose_adds_up(minilm):
    """embed_norm + post-LN + token types: layer 0's four terms still add up to the model's scores."""
    ids = minilm.tokenizer.encode("The quick brown fox jumps over the lazy dog.")
    _, cache = minilm.model.run_with_cache(torch.tensor(ids))
    for head in (0, 5, 11):
        t = decompose_scores(minilm.model, cache, 0, head)
        total = t.content_content + t.content_position + t.position_content + t.position_position
        assert (total - t.scores).abs().max() < 1e-3


# --------------------------------------------------------------------------- a model without an unembedding

SMALL = ModelConfig(d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=32, vocab_size=50, max_positions=12)


def test_model_without_unembedding():
    cfg = SMALL.replace(unembed=False, causal=False, norm_placement="post", embed_norm=True, final_norm=False,
                        positional="learned", n_token_types=2)
    torch.manual_seed(0)
    m = Transformer(cfg).eval()
    ids = torch.tensor([1, 4, 9, 2])
    logits, cache = m.run_with_cache(ids)
    assert logits is None
    names = m.hook_names()
    assert "logits" not in names and "ln_final.hook_normalized" not in names
    assert names[-1] == "blocks.1.hook_resid_post"
    with torch.inference_mode():
        hidden = m(ids)
        batch = m(ids[None])
    assert hidden.shape == (4, cfg.d_model) and batch.shape == (1, 4, cfg.d_model)
    assert torch.allclose(hidden, cache["blocks.1.hook_resid_post"])
    assert not any(n.startswith(("W_U", "b_U")) for n, _ in m.named_parameters())
    with pytest.raises(ValueError, match="no unembedding"):
        _ = m.unembed
    # with an unembedding the hook list is unchanged: `logits` is last
    assert Transformer(cfg.replace(unembed=True)).hook_names()[-1] == "logits"


def test_uninitialised_model_loads_strictly():
    torch.manual_seed(0)
    a = Transformer(SMALL).eval()
    b = Transformer(SMALL, init=False)
    assert [(n, p.shape) for n, p in a.named_parameters()] == [(n, p.shape) for n, p in b.named_parameters()]
    b.load_state_dict(a.state_dict(), strict=True, assign=True)
    ids = torch.tensor([3, 1, 4, 1, 5])
    with torch.inference_mode():
        assert torch.equal(a(ids), b.eval()(ids))


# --------------------------------------------------------------------------- a tiny random BERT folder

@pytest.fixture(scope="module")
def tiny_bert(need, tmp_path_factory):
    need("transformers", why="the tiny BERT folder")
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, type_vocab_size=2,
                        attn_implementation="eager")
    model = BertForMaskedLM(config).eval()  # saved with the `bert.` prefix and an MLM head (`cls.`), both handled
    folder = tmp_path_factory.mktemp("tiny-bert")
    model.save_pretrained(folder)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "##s", "a", ".", ","]
    (folder / "vocab.txt").write_text("\n".join(words + [f"w{i}" for i in range(120 - len(words))]) + "\n")
    return folder, model.bert


def test_tiny_bert_folder_matches_transformers(tiny_bert):
    folder, ref = tiny_bert
    cfg, sd = hf_folder.convert_folder(folder)
    assert cfg.unembed is False and cfg.causal is False and cfg.norm_placement == "post"
    model = Transformer(cfg, init=False)
    model.load_state_dict(sd, strict=True)
    model.eval()
    ids = torch.tensor([2, 5, 6, 7, 8, 5, 9, 10, 12, 3])
    _, cache = model.run_with_cache(ids)
    with torch.no_grad():
        out = ref(ids[None], output_attentions=True, output_hidden_states=True)
    for layer in range(cfg.n_layers):
        assert (cache["pattern", layer] - out.attentions[layer][0]).abs().max() <= PATTERN_TOL
        assert (cache[f"blocks.{layer}.hook_resid_post"] - out.hidden_states[layer + 1][0]).abs().max() <= HIDDEN_TOL


def test_tiny_bert_folder_tokenizer_and_registry(tiny_bert, own_registry):
    registry = own_registry  # (the folder registered here is forgotten after the test)
    from transformers import BertTokenizer

    folder, _ = tiny_bert
    tok = hf_folder.tokenizer_from_folder(folder)
    ref = BertTokenizer.from_pretrained(str(folder))
    for text in ["The cats sat on the mat.", "a cat, the mat", "unknown words here"]:
        assert tok.encode(text) == ref(text)["input_ids"]
    name = registry.register_folder(folder)
    assert registry.register_folder(folder) == name  # the same folder twice is one model
    loaded = registry.load(name)
    assert loaded.info.kind == "bidirectional" and "predictions" in loaded.info.unavailable_views
    assert loaded.info.params == loaded.model.n_params()


def test_bert_converter_refuses_what_it_cannot_represent():
    base = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 64,
            "vocab_size": 10}
    with pytest.raises(ConversionError, match="absolute"):
        bert.config_from_hf({**base, "position_embedding_type": "relative_key"})
    with pytest.raises(ConversionError, match="hidden_act"):
        bert.config_from_hf({**base, "hidden_act": "relu"})
    cfg = bert.config_from_hf(base)
    with pytest.raises(ConversionError, match="no 'embeddings.word_embeddings.weight'"):
        bert.convert({}, cfg)
