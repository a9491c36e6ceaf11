"""Llama-family checkpoints -> this Transformer: Hugging Face `LlamaForCausalLM` names, or GGUF tensors.

Llama is a pre-RMSNorm decoder with rotary positions ("rotate half" layout in Hugging Face
order), SwiGLU MLPs, no biases and grouped-query attention (n_kv_heads K/V heads, each
shared by n_heads / n_kv_heads query heads, in consecutive groups).

GGUF files written by llama.cpp's converter hold the same weights under other names, with
the rows of Q and K permuted for llama.cpp's interleaved rotary (pairs (2j, 2j+1) instead of
(j, j + d/2)). `gguf_to_hf` undoes that permutation, so the weights match Hugging Face's
order and this model's rotate-half Rotary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from models.config import ModelConfig
from models.convert.common import ConversionError, Source, heads_in, heads_out, strip_prefix

IGNORED = (".rotary_emb.inv_freq",)


def _rope_theta(hf: Mapping[str, Any]) -> float:
    params = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling") or {}
    for spec in (params, scaling):
        kind = spec.get("rope_type", spec.get("type", "default"))
        if kind not in ("default", None):
            raise ConversionError(f"Llama with rope scaling {kind!r} is not supported (only plain rotary)")
    return float(params.get("rope_theta", hf.get("rope_theta", 10000.0)))


def config_from_hf(hf: Mapping[str, Any]) -> ModelConfig:
    """A Hugging Face LlamaConfig (config.json as a dict) -> ModelConfig."""
    if hf.get("hidden_act", "silu") != "silu":
        raise ConversionError(f"Llama with hidden_act {hf['hidden_act']!r} is not supported (only silu)")
    if hf.get("attention_bias") or hf.get("mlp_bias"):
        raise ConversionError("Llama with attention or MLP biases is not supported")
    if hf.get("partial_rotary_factor", 1.0) != 1.0:
        raise ConversionError("Llama with partial rotary is not supported")
    d_model, n_heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    d_head = int(hf.get("head_dim") or d_model // n_heads)
    return ModelConfig(
        d_model=d_model, n_layers=int(hf["num_hidden_layers"]), n_heads=n_heads, d_head=d_head,
        n_kv_heads=int(hf.get("num_key_value_heads") or n_heads), d_mlp=int(hf["intermediate_size"]),
        vocab_size=int(hf["vocab_size"]), max_positions=int(hf.get("max_position_embeddings", 2048)),
        positional="rotary", rotary_base=_rope_theta(hf), norm="rmsnorm", norm_placement="pre",
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)), mlp="swiglu", causal=True, bias=False,
        tied_embeddings=bool(hf.get("tie_word_embeddings", False)))


def convert(sd: Mapping[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """A Llama state dict (LlamaForCausalLM names) -> this Transformer's state dict."""
    prefix = strip_prefix(sd, "embed_tokens.weight", ["model."])
    src = Source(sd, prefix)
    h, kv, e = cfg.n_heads, cfg.kv_heads, cfg.d_head
    out: dict[str, torch.Tensor] = {"W_E": src["embed_tokens.weight"]}  # [vocab, d_model]
    for l in range(cfg.n_layers):
        p, b = f"layers.{l}.", f"blocks.{l}."
        out[f"{b}ln1.w"] = src[f"{p}input_layernorm.weight"]
        out[f"{b}attn.W_Q"] = heads_in(src[f"{p}self_attn.q_proj.weight"], h, e)  # [head, d_model, d_head]
        out[f"{b}attn.W_K"] = heads_in(src[f"{p}self_attn.k_proj.weight"], kv, e)  # [kv_head, d_model, d_head]
        out[f"{b}attn.W_V"] = heads_in(src[f"{p}self_attn.v_proj.weight"], kv, e)
        out[f"{b}attn.W_O"] = heads_out(src[f"{p}self_attn.o_proj.weight"], h, e)  # [head, d_head, d_model]
        out[f"{b}ln2.w"] = src[f"{p}post_attention_layernorm.weight"]
        out[f"{b}mlp.W_gate"] = src[f"{p}mlp.gate_proj.weight"].T  # [d_model, d_mlp]
        out[f"{b}mlp.W_in"] = src[f"{p}mlp.up_proj.weight"].T  # [d_model, d_mlp]
        out[f"{b}mlp.W_out"] = src[f"{p}mlp.down_proj.weight"].T  # [d_mlp, d_model]
    out["ln_final.w"] = src["norm.weight"]
    lm_head = sd.get("lm_head.weight")
    if cfg.tied_embeddings:
        if lm_head is not None:
            src.used.add("lm_head.weight")
            if not torch.equal(torch.as_tensor(lm_head).float(), out["W_E"]):
                raise ConversionError("the config says tied embeddings, but lm_head.weight differs from embed_tokens")
    else:
        if lm_head is None:
            raise ConversionError("the config says untied embeddings, but the checkpoint has no lm_head.weight")
        src.used.add("lm_head.weight")
        out["W_U"] = torch.as_tensor(lm_head).float().T  # [d_model, vocab]
    src.check_all_used(IGNORED)
    return out


# --------------------------------------------------------------------------- GGUF

def unpermute_rope(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's permutation of a Q or K weight [n_heads * d_head, d_model] (or a bias).

    llama.cpp: w.reshape(n_heads, 2, d_head // 2, ...).swapaxes(1, 2): row j of the first half and
    row j of the second half of each head become rows 2j and 2j + 1. This puts them back."""
    rows = w.shape[0]
    if rows % (2 * n_heads):
        raise ConversionError(f"a Q/K weight of {rows} rows cannot be {n_heads} heads of an even size")
    return (w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:])  # [head, d_head/2, 2, ...]
            .swapaxes(1, 2)  # [head, 2, d_head/2, ...]
            .reshape(w.shape))


def config_from_gguf(meta: Mapping[str, Any], has_output: bool = False) -> ModelConfig:
    """GGUF metadata (general.architecture == "llama") -> ModelConfig.

    has_output: the file has an `output.weight` (an unembedding of its own); without one the
    embeddings are tied, as llama.cpp writes them."""
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ConversionError(f"only Llama GGUF files are supported, not {arch!r}")

    def get(key: str, default: Any = None) -> Any:
        value = meta.get(f"llama.{key}", default)
        if value is None:
            raise ConversionError(f"the GGUF file has no llama.{key}")
        return value

    d_model, n_heads = int(get("embedding_length")), int(get("attention.head_count"))
    d_head = int(meta.get("llama.attention.key_length") or d_model // n_heads)
    if int(meta.get("llama.rope.dimension_count") or d_head) != d_head:
        raise ConversionError("Llama with partial rotary is not supported")
    if meta.get("llama.rope.scaling.type") not in (None, "none"):
        raise ConversionError("Llama with rope scaling is not supported (only plain rotary)")
    vocab = int(meta.get("llama.vocab_size") or len(meta.get("tokenizer.ggml.tokens") or ()))
    if not vocab:
        raise ConversionError("the GGUF file says nothing of its vocabulary size")
    return ModelConfig(
        d_model=d_model, n_layers=int(get("block_count")), n_heads=n_heads, d_head=d_head,
        n_kv_heads=int(get("attention.head_count_kv", n_heads)), d_mlp=int(get("feed_forward_length")),
        vocab_size=vocab, max_positions=int(get("context_length", 2048)), positional="rotary",
        rotary_base=float(get("rope.freq_base", 10000.0)), norm="rmsnorm", norm_placement="pre",
        norm_eps=float(get("attention.layer_norm_rms_epsilon", 1e-5)), mlp="swiglu", causal=True, bias=False,
        tied_embeddings=not has_output)


_GGUF_BLOCK = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def gguf_to_hf(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Dequantized GGUF tensors (numpy layout [rows, cols], as nn.Linear) -> LlamaForCausalLM names and order."""
    n_heads = int(meta["llama.attention.head_count"])
    n_kv = int(meta.get("llama.attention.head_count_kv") or n_heads)
    out: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        t = torch.as_tensor(t)
        if name == "token_embd.weight":
            out["model.embed_tokens.weight"] = t
        elif name == "output_norm.weight":
            out["model.norm.weight"] = t
        elif name == "output.weight":
            out["lm_head.weight"] = t
        elif name.startswith("blk."):
            _, layer, rest = name.split(".", 2)
            if rest not in _GGUF_BLOCK:
                raise ConversionError(f"a GGUF tensor this converter does not know: {name!r}")
            if rest == "attn_q.weight":
                t = unpermute_rope(t, n_heads)
            elif rest == "attn_k.weight":
                t = unpermute_rope(t, n_kv)
            out[f"model.layers.{int(layer)}.{_GGUF_BLOCK[rest]}"] = t
        else:
            raise ConversionError(f"a GGUF tensor this converter does not know: {name!r}")
    return out


def convert_gguf(tensors: Mapping[str, torch.Tensor],
                 meta: Mapping[str, Any]) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Dequantized GGUF tensors and metadata -> (ModelConfig, this Transformer's state dict)."""
    hf = gguf_to_hf(tensors, meta)
    cfg = config_from_gguf(meta, has_output="lm_head.weight" in hf)
    return cfg, convert(hf, cfg)
