"""Llama-family conversion: SmolLM2-135M from its GGUF (PyPI package) against transformers' own GGUF load,
the converted-model cache, llama.cpp's Q/K permutation, and a tiny random Llama folder."""

import base64
import hashlib
import importlib
import math
import os
import time

import pytest
import torch

from models import pretrained, registry
from models.convert import hf_folder, llama
from models.convert.common import ConversionError
from models.convert.gguf_file import tokenizer_from_gguf
from models.tokenizer import Tokenizer
from models.transformer import Transformer

SENTENCES = [
    "The capital of France is",
    "Once upon a time, there was a little robot who loved to paint.",
    "def add(a, b):\n    return a + b  # 2 + 2 = 4",
    "café naïve Ünïcödé 日本語 🎉 — and “quotes”",
    "x",
]
PATTERN_TOL, LOGITS_TOL = 1e-4, 1e-3
# Hidden states: 1e-3, or 5e-5 of the value where it is larger. SmolLM2's residual stream has a few "massive
# activations" of up to ~2e4, where one float32 step is ~2e-3: no float32 implementation that sums in another
# order can match those to 1e-3 absolute (measured: at most ~3e-2 absolute there, ~1e-6 relative). The weights
# are stored in-major (models/transformer.py laid_out), so each product sums in another order than transformers'
# nn.Linear: on the one-token text, with one torch thread, an element of ~100 differed by 1.2e-5 of itself here
# and by 2.2e-5 in a full run of the suite (the logits stay within LOGITS_TOL).
HIDDEN_ATOL, HIDDEN_RTOL = 1e-3, 5e-5


@pytest.fixture(scope="module")
def reference(need):
    """transformers' own GGUF load (slow: ~20 s), once per module."""
    need(pretrained.SMOLLM2_PACKAGE.module, "gguf", "transformers", why="SmolLM2 parity against transformers")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = pretrained.smollm2_file()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    return model, tok


# --------------------------------------------------------------------------- SmolLM2

def test_smollm2_config_and_info(smollm2):
    assert smollm2.cfg == pretrained.SMOLLM2_CONFIG
    assert smollm2.info.params == smollm2.model.n_params() == registry.info("smollm2-135m").params
    assert smollm2.info.max_tokens == 128 and smollm2.info.n_kv_heads == 3
    assert set(smollm2.info.unavailable_views) == {"positional.encoding", "positional.decompose"}


@pytest.mark.parametrize("text", SENTENCES)
def test_smollm2_matches_transformers(smollm2, reference, text):
    ref, ref_tok = reference
    ids = smollm2.tokenizer.encode(text)
    assert ids == ref_tok(text)["input_ids"]
    logits, cache = smollm2.model.run_with_cache(torch.tensor(ids))
    with torch.no_grad():
        out = ref(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    n = smollm2.cfg.n_layers
    # transformers' last hidden state is after the final norm
    ours = [cache[f"blocks.{l}.hook_resid_post"] for l in range(n - 1)] + [cache["ln_final.hook_normalized"]]
    for layer in range(n):
        assert (cache["pattern", layer] - out.attentions[layer][0]).abs().max() <= PATTERN_TOL, layer
        torch.testing.assert_close(ours[layer], out.hidden_states[layer + 1][0], atol=HIDDEN_ATOL, rtol=HIDDEN_RTOL)
    assert (cache["hook_embed"] - out.hidden_states[0][0]).abs().max() == 0
    assert (logits - out.logits[0]).abs().max() <= LOGITS_TOL


def test_smollm2_tokenization_matches_transformers(smollm2, reference, varied_strings):
    _, ref_tok = reference
    assert len(varied_strings) == 200
    for text in varied_strings:
        # (a special token's name typed in the text is text here, as transformers reads it when asked to)
        assert smollm2.tokenizer.encode(text) == ref_tok(text, split_special_tokens=True)["input_ids"], text


def test_smollm2_says_paris(smollm2):
    tok = smollm2.tokenizer
    ids = tok.encode("The capital of France is")
    assert tok.bos_id is None and not any(tok.is_special(i) for i in ids)  # the reference adds no BOS
    logits, _ = smollm2.model.run_with_cache(torch.tensor(ids))
    probs = logits[-1].softmax(-1)
    top = int(probs.argmax())
    assert tok.decode([top]) == " Paris" and tok.display(top) == "\u2423Paris"
    assert 0.7 < float(probs[top]) < 0.85  # the reference: 0.77


def test_smollm2_control_tokens_are_special(smollm2):
    tok = smollm2.tokenizer
    assert tok.is_special(1) and tok.display(1) == "<|im_start|>" and tok.decode([1, *tok.encode("Hi")]) == "Hi"
    # typed, a control token's name is text, as in every model (tests/models/test_token_text.py)
    ids = tok.encode("<|im_start|>user\nHi<|im_end|>")
    assert not any(tok.is_special(i) for i in ids) and tok.decode(ids) == "<|im_start|>user\nHi<|im_end|>"


def test_smollm2_cache(smollm2, tmp_path, monkeypatch):
    """The converted model is cached as safetensors, keyed by the GGUF file; the second load is fast."""
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path))
    stale = tmp_path / "smollm2-135m-0123456789abcdef"
    stale.mkdir()
    model, tok = pretrained.load_smollm2()  # converts, writes the cache, removes the stale version
    folder = pretrained.cache_folder(pretrained.smollm2_file())
    assert folder.parent == tmp_path and sorted(p.name for p in folder.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json"]
    assert not stale.exists()
    t0 = time.perf_counter()
    again, tok2 = pretrained.load_smollm2()
    seconds = time.perf_counter() - t0
    assert seconds <= 3.0, f"the second load took {seconds:.2f} s"
    ref = smollm2.model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in again.state_dict().items())
    assert tok2.encode("The capital of France is") == smollm2.tokenizer.encode("The capital of France is")


def _installed(root, content: bytes):
    """A package `fakemodel` installed under `root` (a site-packages of its own) with one file m.gguf of `content`,
    its RECORD giving the file's sha256, as pip writes it."""
    (root / "fakemodel").mkdir(parents=True)
    f = root / "fakemodel" / "m.gguf"
    f.write_bytes(content)
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    info = root / "fakemodel-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakemodel\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"fakemodel/m.gguf,sha256={digest},{len(content)}\nfakemodel-1.0.dist-info/RECORD,,\n")
    return f


def test_two_environments_with_the_same_package_share_one_conversion(tmp_path, monkeypatch):
    """Each clone of the project installs the model's package into its own .venv, at its own time: keyed by the
    file's time, the two keys differed and each conversion dropped the other's as stale, so every start converted
    again. Keyed by the content the package records, they are one; another content is another key."""
    one, two, other = (_installed(tmp_path / d, b"weights!" if d != "other" else b"weights?") for d in ("a", "b", "other"))
    os.utime(two, ns=(1, 10**18))
    keys = []
    for f in (one, two, other):
        with monkeypatch.context() as m:
            m.syspath_prepend(str(f.parent.parent))
            importlib.invalidate_caches()
            keys.append(pretrained.cache_key(f, dist="fakemodel"))
    assert keys[0] == keys[1] != keys[2]


def test_cache_key_follows_the_file(tmp_path, monkeypatch):
    """A file no installed package records (here, SmolLM2's package does not): keyed by its time too."""
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path / "c"))
    f = tmp_path / "m.gguf"
    f.write_bytes(b"x" * 10)
    key = pretrained.cache_key(f)
    assert pretrained.cache_key(f) == key
    os.utime(f, ns=(1, 10**18))
    assert pretrained.cache_key(f) != key
    assert pretrained.cache_folder(f).parent == tmp_path / "c"
    monkeypatch.delenv("ATTNLAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pretrained.cache_root() == tmp_path / "xdg" / "attnlab"


# --------------------------------------------------------------------------- llama.cpp's permutation

def _llama_cpp_permute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """What llama.cpp's convert_hf_to_gguf.py does to Q and K."""
    return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _interleaved_rope(x: torch.Tensor, pos: torch.Tensor, base: float) -> torch.Tensor:
    """x [pos, head, d]: llama.cpp's rope, pairs (2j, 2j + 1) rotated by pos * base^(-2j/d)."""
    d = x.shape[-1]
    angle = pos[:, None].double() * base ** (-torch.arange(0, d, 2).double() / d)  # [pos, d/2]
    cos, sin = angle.cos()[:, None].float(), angle.sin()[:, None].float()
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


def test_unpermute_undoes_llama_cpp_and_matches_rotate_half():
    torch.manual_seed(0)
    n_heads, d_head, d_model, n = 3, 8, 12, 5
    w = torch.randn(n_heads * d_head, d_model)  # Hugging Face order
    permuted = _llama_cpp_permute(w, n_heads)
    assert not torch.equal(permuted, w)
    assert torch.equal(llama.unpermute_rope(permuted, n_heads), w)
    # the reason: interleaved rope on llama.cpp's rows == rotate-half rope (our Rotary) on Hugging Face's rows
    from models.positional import Rotary

    x = torch.randn(n, d_model)
    pos = torch.arange(n)
    q_cpp = _interleaved_rope((x @ permuted.T).reshape(n, n_heads, d_head), pos, 10000.0)
    q_hf = Rotary(d_head, 10000.0, 16)((x @ w.T).reshape(1, n, n_heads, d_head), pos)[0]
    scores_cpp = torch.einsum("qhd,khd->hqk", q_cpp, q_cpp)
    scores_hf = torch.einsum("qhd,khd->hqk", q_hf, q_hf)
    assert torch.allclose(scores_cpp, scores_hf, atol=1e-4)


def test_gguf_tokenizer_adds_bos_only_when_the_file_says_so():
    tokens = ["<s>", "</s>", "a", "b", "ab", "\u0120", "\u0120ab"]
    meta = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt2", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": [3, 3, 1, 1, 1, 1, 1], "tokenizer.ggml.merges": ["a b", "\u0120 ab"],
            "tokenizer.ggml.bos_token_id": 0}
    plain = Tokenizer.from_hf(tokenizer_from_gguf(meta))
    assert plain.encode("ab ab") == [4, 6] and plain.special_ids == {0, 1}
    with_bos = Tokenizer.from_hf(tokenizer_from_gguf({**meta, "tokenizer.ggml.add_bos_token": True}))
    assert with_bos.encode("ab ab") == [0, 4, 6] and with_bos.encode("ab ab", add_bos=False) == [4, 6]
    assert with_bos.displays([0, 4, 6]) == ["<s>", "ab", "\u2423ab"]
    with pytest.raises(ConversionError, match="byte-level BPE"):
        tokenizer_from_gguf({**meta, "tokenizer.ggml.model": "llama"})


# --------------------------------------------------------------------------- a tiny random Llama folder

@pytest.fixture(scope="module")
def tiny_llama(need, tmp_path_factory):
    need("transformers", why="the tiny Llama folder")
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(2)
    config = LlamaConfig(vocab_size=97, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
                         rope_theta=5000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                         attn_implementation="eager")
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.2)
            elif "norm" in name:
                p.uniform_(0.5, 1.5)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    return folder, model


def test_tiny_llama_folder_matches_transformers(tiny_llama):
    folder, ref = tiny_llama
    cfg, sd = hf_folder.convert_folder(folder)
    assert (cfg.n_kv_heads, cfg.group_size, cfg.rotary_base, cfg.tied_embeddings) == (2, 3, 5000.0, False)
    model = Transformer(cfg, init=False)
    model.load_state_dict(sd, strict=True)
    model.eval()
    g = torch.Generator().manual_seed(0)
    for n in (1, 7, 30):
        ids = torch.randint(0, cfg.vocab_size, (n,), generator=g)
        logits, cache = model.run_with_cache(ids)
        with torch.no_grad():
            out = ref(ids[None], output_attentions=True, output_hidden_states=True)
        for layer in range(cfg.n_layers):
            assert (cache["pattern", layer] - out.attentions[layer][0]).abs().max() <= PATTERN_TOL
        assert (cache["blocks.0.hook_resid_post"] - out.hidden_states[1][0]).abs().max() <= 1e-3
        assert (logits - out.logits[0]).abs().max() <= LOGITS_TOL
        assert not math.isnan(float(logits.sum()))


def test_llama_converter_refuses_what_it_cannot_represent():
    base = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 64,
            "vocab_size": 10}
    with pytest.raises(ConversionError, match="rope scaling"):
        llama.config_from_hf({**base, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}})
    with pytest.raises(ConversionError, match="biases"):
        llama.config_from_hf({**base, "attention_bias": True})
    with pytest.raises(ConversionError, match="only Llama"):
        llama.config_from_gguf({"general.architecture": "qwen2"})
