"""GPT-2 checkpoints (Hugging Face `GPT2Model` / `GPT2LMHeadModel` names) -> this Transformer.

GPT-2 is a pre-LayerNorm decoder with learned positions, tanh-GELU and tied embeddings.
Its projections are `Conv1D`s, whose weights are stored [in, out] (the transpose of
nn.Linear): `c_attn` holds Q, K and V side by side, [d_model, 3 * d_model].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from models.config import ModelConfig
from models.convert.common import ConversionError, Source, strip_prefix

_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh", "gelu": "gelu"}
IGNORED = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers of old checkpoints


def config_from_hf(hf: Mapping[str, Any]) -> ModelConfig:
    """A Hugging Face GPT2Config (config.json as a dict) -> ModelConfig."""
    act = hf.get("activation_function", "gelu_new")
    if act not in _ACTIVATIONS:
        raise ConversionError(f"GPT-2 with activation_function {act!r} is not supported (only {sorted(_ACTIVATIONS)})")
    if not hf.get("scale_attn_weights", True) or hf.get("scale_attn_by_inverse_layer_idx", False):
        raise ConversionError("only GPT-2 with scores divided by sqrt(d_head), and by nothing else, is supported")
    d_model, n_heads = int(hf["n_embd"]), int(hf["n_head"])
    if d_model % n_heads:
        raise ConversionError(f"n_embd {d_model} is not a multiple of n_head {n_heads}")
    return ModelConfig(
        d_model=d_model, n_layers=int(hf["n_layer"]), n_heads=n_heads, d_head=d_model // n_heads,
        d_mlp=int(hf.get("n_inner") or 4 * d_model), vocab_size=int(hf["vocab_size"]),
        max_positions=int(hf.get("n_positions", 1024)), positional="learned", norm="layernorm",
        norm_placement="pre", norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)), mlp=_ACTIVATIONS[act],
        causal=True, bias=True, tied_embeddings=bool(hf.get("tie_word_embeddings", True)))


def convert(sd: Mapping[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """A GPT-2 state dict (with or without the `transformer.` prefix) -> this Transformer's state dict."""
    prefix = strip_prefix(sd, "wte.weight", ["transformer."])
    src = Source(sd, prefix)
    h, e, d = cfg.n_heads, cfg.d_head, cfg.d_model
    out: dict[str, torch.Tensor] = {"W_E": src["wte.weight"], "pos_embed.W_pos": src["wpe.weight"]}
    for l in range(cfg.n_layers):
        p, b = f"h.{l}.", f"blocks.{l}."
        out[f"{b}ln1.w"], out[f"{b}ln1.b"] = src[f"{p}ln_1.weight"], src[f"{p}ln_1.bias"]
        w, bias = src[f"{p}attn.c_attn.weight"], src[f"{p}attn.c_attn.bias"]  # [d_model, 3 d_model], [3 d_model]
        for i, name in enumerate("QKV"):
            part = w[:, i * d:(i + 1) * d]  # [d_model, head * d_head]
            out[f"{b}attn.W_{name}"] = part.reshape(d, h, e).permute(1, 0, 2).contiguous()  # [head, d_model, d_head]
            out[f"{b}attn.b_{name}"] = bias[i * d:(i + 1) * d].reshape(h, e).contiguous()  # [head, d_head]
        out[f"{b}attn.W_O"] = src[f"{p}attn.c_proj.weight"].reshape(h, e, d).contiguous()  # [head, d_head, d_model]
        out[f"{b}attn.b_O"] = src[f"{p}attn.c_proj.bias"]
        out[f"{b}ln2.w"], out[f"{b}ln2.b"] = src[f"{p}ln_2.weight"], src[f"{p}ln_2.bias"]
        out[f"{b}mlp.W_in"], out[f"{b}mlp.b_in"] = src[f"{p}mlp.c_fc.weight"], src[f"{p}mlp.c_fc.bias"]
        out[f"{b}mlp.W_out"], out[f"{b}mlp.b_out"] = src[f"{p}mlp.c_proj.weight"], src[f"{p}mlp.c_proj.bias"]
    out["ln_final.w"], out["ln_final.b"] = src["ln_f.weight"], src["ln_f.bias"]
    lm_head = sd.get("lm_head.weight")
    if cfg.tied_embeddings:
        if lm_head is not None:
            src.used.add("lm_head.weight")
            if not torch.equal(torch.as_tensor(lm_head).float(), out["W_E"]):
                raise ConversionError("the config says tied embeddings, but lm_head.weight differs from wte.weight")
    else:
        if lm_head is None:
            raise ConversionError("the config says untied embeddings, but the checkpoint has no lm_head.weight")
        src.used.add("lm_head.weight")
        out["W_U"] = torch.as_tensor(lm_head).float().T  # [d_model, vocab]
        out["b_U"] = torch.zeros(cfg.vocab_size)  # GPT-2's lm_head has no bias
    src.check_all_used(IGNORED)
    return out
