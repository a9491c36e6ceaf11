"""BERT-family checkpoints (Hugging Face `BertModel` names, e.g. MiniLM) -> this Transformer.

BERT is a post-LayerNorm encoder: learned absolute positions plus token-type embeddings,
a LayerNorm on the embeddings, bidirectional attention, exact-erf GELU. The pooler and any
masked-LM head (`cls.*`) are left out: the glass-box model keeps the encoder only, so it
has no unembedding (cfg.unembed=False) and its forward pass returns the final hidden states.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from models.config import ModelConfig
from models.convert.common import ConversionError, Source, head_bias, heads_in, heads_out, strip_prefix

_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
# tensors that exist in BERT checkpoints but are not part of the encoder
IGNORED = ("pooler.", "cls.", "embeddings.position_ids", "bert.pooler.", "bert.embeddings.position_ids")


def config_from_hf(hf: Mapping[str, Any]) -> ModelConfig:
    """A Hugging Face BertConfig (config.json as a dict) -> ModelConfig."""
    act = hf.get("hidden_act", "gelu")
    if act not in _ACTIVATIONS:
        raise ConversionError(f"BERT with hidden_act {act!r} is not supported (only {sorted(_ACTIVATIONS)})")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError("only BERT with absolute (learned) position embeddings is supported")
    d_model, n_heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    if d_model % n_heads:
        raise ConversionError(f"hidden_size {d_model} is not a multiple of num_attention_heads {n_heads}")
    return ModelConfig(
        d_model=d_model, n_layers=int(hf["num_hidden_layers"]), n_heads=n_heads, d_head=d_model // n_heads,
        d_mlp=int(hf["intermediate_size"]), vocab_size=int(hf["vocab_size"]),
        max_positions=int(hf.get("max_position_embeddings", 512)), positional="learned",
        norm="layernorm", norm_placement="post", norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
        mlp=_ACTIVATIONS[act], causal=False, bias=True, tied_embeddings=True, unembed=False,
        embed_norm=True, final_norm=False, n_token_types=int(hf.get("type_vocab_size", 2)))


def _ln(src: Source, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A LayerNorm's (weight, bias), under the current names or the old TF ones (gamma, beta)."""
    if f"{name}.weight" in src:
        return src[f"{name}.weight"], src[f"{name}.bias"]
    return src[f"{name}.gamma"], src[f"{name}.beta"]


def convert(sd: Mapping[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """A BERT state dict (BertModel names, with or without a `bert.` prefix) -> this Transformer's state dict."""
    prefix = strip_prefix(sd, "embeddings.word_embeddings.weight", ["bert."])
    src = Source(sd, prefix)
    h, e = cfg.n_heads, cfg.d_head
    out: dict[str, torch.Tensor] = {
        "W_E": src["embeddings.word_embeddings.weight"],  # [vocab, d_model]
        "pos_embed.W_pos": src["embeddings.position_embeddings.weight"],  # [pos, d_model]
        "W_token_type": src["embeddings.token_type_embeddings.weight"],  # [types, d_model]
    }
    out["embed_ln.w"], out["embed_ln.b"] = _ln(src, "embeddings.LayerNorm")
    for l in range(cfg.n_layers):
        p, b = f"encoder.layer.{l}.", f"blocks.{l}."
        for ours, theirs in (("Q", "query"), ("K", "key"), ("V", "value")):
            out[f"{b}attn.W_{ours}"] = heads_in(src[f"{p}attention.self.{theirs}.weight"], h, e)
            out[f"{b}attn.b_{ours}"] = head_bias(src[f"{p}attention.self.{theirs}.bias"], h, e)
        out[f"{b}attn.W_O"] = heads_out(src[f"{p}attention.output.dense.weight"], h, e)
        out[f"{b}attn.b_O"] = src[f"{p}attention.output.dense.bias"]
        out[f"{b}ln1.w"], out[f"{b}ln1.b"] = _ln(src, f"{p}attention.output.LayerNorm")
        out[f"{b}mlp.W_in"] = src[f"{p}intermediate.dense.weight"].T  # [d_model, d_mlp]
        out[f"{b}mlp.b_in"] = src[f"{p}intermediate.dense.bias"]
        out[f"{b}mlp.W_out"] = src[f"{p}output.dense.weight"].T  # [d_mlp, d_model]
        out[f"{b}mlp.b_out"] = src[f"{p}output.dense.bias"]
        out[f"{b}ln2.w"], out[f"{b}ln2.b"] = _ln(src, f"{p}output.LayerNorm")
    src.check_all_used(IGNORED)
    return out
