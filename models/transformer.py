"""The one Transformer of Attention Lab, with a named hook point on every value a view shows.

Every model the app runs, our tiny ones and the converted pretrained ones, is an
instance of this class. Attention is computed by hand so that the scores and the
pattern exist as tensors. Weights are kept per head:
W_Q [head, d_model, d_head], W_K and W_V [kv_head, d_model, d_head], W_O [head, d_head, d_model].

`run_with_cache(ids)` runs one sequence and returns its logits and an
`ActivationCache` keyed by hook names (`blocks.0.attn.hook_pattern`, ...), with
the batch dimension removed. A model without an unembedding (`cfg.unembed=False`,
an encoder such as MiniLM) has no `logits` hook: its `forward` returns the final
hidden states [pos, d_model] and `run_with_cache` returns logits=None. Hook points are identity modules: the values pass
through them unchanged unless a hook function is given. Which hooks are active
lives in a context variable, so concurrent runs (threads, async tasks) never
see each other's cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.config import ModelConfig
from models.positional import Rotary, alibi_bias, alibi_slopes, make_additive, rotate, why_not_beyond

POSITION_MODES = ("normal", "removed", "shuffled")
HookFn = Callable[[torch.Tensor, str], torch.Tensor | None]


# --------------------------------------------------------------------------- hooks

class _Run:
    """The state of one forward pass with hooks: what to cache and what to call."""

    def __init__(self, cache: bool, hooks: Mapping[str, HookFn] | None):
        self.store: dict[str, torch.Tensor] | None = {} if cache else None
        self.hooks = dict(hooks or {})

    def visit(self, name: str, x: torch.Tensor) -> torch.Tensor:
        fn = self.hooks.get(name)
        if fn is not None:
            out = fn(x, name)
            x = x if out is None else out
        if self.store is not None:
            self.store[name] = x.detach() if x.requires_grad else x  # (no op per hook when nothing tracks gradients)
        return x


_ACTIVE: ContextVar[_Run | None] = ContextVar("attnlab_active_run", default=None)


class HookPoint(nn.Module):
    """An identity on one intermediate value; its `name` is its module path.

    It runs no nn.Module hooks: a function to call at a hook point is given to run_with_cache
    (`hooks={name: fn}`), and register_forward_hook refuses, so that it is not silently ignored."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        run = _ACTIVE.get()
        return x if run is None else run.visit(self.name, x)

    # called hundreds of times per forward pass: straight to forward, without nn.Module's hook dispatch
    __call__ = forward

    def register_forward_hook(self, *args, **kwargs):
        raise TypeError(f"hook point {self.name!r} runs no nn.Module hooks: give the function to run_with_cache, "
                        f"hooks={{{self.name!r}: fn}}")

    register_forward_pre_hook = register_forward_hook


@contextmanager
def hooks_active(cache: bool = True, hooks: Mapping[str, HookFn] | None = None) -> Iterator[_Run]:
    run = _Run(cache, hooks)
    token = _ACTIVE.set(run)
    try:
        yield run
    finally:
        _ACTIVE.reset(token)


# --------------------------------------------------------------------------- interventions

@dataclass(frozen=True)
class Interventions:
    """What to change in a forward pass, as data.

    positions: "normal"; "removed" (no positional information: the additive
      encoding is zero, rotary is not applied); "shuffled" (each token gets the
      position of a random permutation, repeatable through `seed`).
    scale: divide the scores by sqrt(d_head) (True, as trained) or not.
    ablate: (layer, head) pairs whose output z is set to zero.
    """

    positions: str = "normal"
    scale: bool = True
    ablate: tuple[tuple[int, int], ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.positions not in POSITION_MODES:
            raise ValueError(f"positions must be one of {POSITION_MODES}, not {self.positions!r}")
        pairs = []
        for pair in self.ablate:
            if len(pair) != 2:
                raise ValueError(f"ablate takes [layer, head] pairs, got {list(pair)!r}")
            pairs.append((int(pair[0]), int(pair[1])))
        object.__setattr__(self, "ablate", tuple(sorted(set(pairs))))

    def check(self, cfg: ModelConfig) -> None:
        for layer, head in self.ablate:
            try:
                check_layer_head(cfg, layer, head)
            except ValueError as e:  # (which field asked for it: a request also names a layer and head to show)
                raise ValueError(f"ablate [{layer}, {head}]: {e}") from None

    def permutation(self, n: int) -> list[int] | None:
        """The positions given to tokens 0..n-1 under "shuffled" (never the identity when n > 1)."""
        if self.positions != "shuffled":
            return None
        g = torch.Generator().manual_seed(self.seed)
        perm = torch.randperm(n, generator=g).tolist()
        if n > 1 and perm == list(range(n)):
            perm = perm[1:] + perm[:1]
        return perm


def check_layer_head(cfg: ModelConfig, layer: int | None = None, head: int | None = None) -> None:
    if layer is not None and not 0 <= layer < cfg.n_layers:
        raise ValueError(f"layer {layer} does not exist: this model has layers 0 to {cfg.n_layers - 1}")
    if head is not None and not 0 <= head < cfg.n_heads:
        raise ValueError(f"head {head} does not exist: this model has heads 0 to {cfg.n_heads - 1}")


# --------------------------------------------------------------------------- cache

_HEAD_HOOKS = {"q", "k", "v", "rot_q", "rot_k", "z", "attn_scores", "pattern"}
_LAYER_HOOKS = {"resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"}


def hook_name(short: str, layer: int) -> str:
    """The full hook name of a block's intermediate: hook_name("resid_mid", 3) == "blocks.3.hook_resid_mid"."""
    if short in _HEAD_HOOKS:
        return f"blocks.{layer}.attn.hook_{short}"
    if short in _LAYER_HOOKS:
        return f"blocks.{layer}.hook_{short}"
    if short in {"pre", "post", "pre_linear"}:
        return f"blocks.{layer}.mlp.hook_{short}"
    raise KeyError(f"unknown short hook name {short!r}")


class ActivationCache(Mapping[str, torch.Tensor]):
    """Intermediates of one forward pass, keyed by hook name, batch dimension removed.

    cache["blocks.0.attn.hook_pattern"]   full name
    cache["pattern", 0]                   short name and layer
    cache["pattern", 0, 3]                short name, layer and head: [q_pos, k_pos]
    cache["q", 0, 3]                      [pos, d_head]; for k and v the K/V head that query head 3 reads
    """

    def __init__(self, store: dict[str, torch.Tensor], cfg: ModelConfig,
                 interventions: Interventions, permutation: list[int] | None):
        self._store = store  # hook name -> [batch=1, ...]
        self.cfg = cfg
        self.interventions = interventions
        self.permutation = permutation

    def __getitem__(self, key: str | tuple) -> torch.Tensor:
        if isinstance(key, str):
            if key not in self._store:
                raise KeyError(f"{key!r} is not in the cache; it holds {list(self._store)[:6]}...")
            return self._store[key][0]  # stored as the forward pass made it, [batch=1, ...]
        short, layer, *rest = key
        check_layer_head(self.cfg, layer)
        value = self[hook_name(short, layer)]
        if not rest:
            return value
        (head,) = rest
        check_layer_head(self.cfg, None, head)
        if short in {"attn_scores", "pattern"}:
            return value[head]  # [q_pos, k_pos]
        if short in {"k", "v", "rot_k"}:
            head = head // self.cfg.group_size
        return value[:, head, :]  # [pos, d_head]

    def __iter__(self) -> Iterator[str]:
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)

    def head(self, short: str, layer: int, head: int) -> torch.Tensor:
        return self[short, layer, head]

    def storage_bytes(self) -> dict[int, int]:
        """The memory of each storage its values hold, by address (many hook values share one), read off the tensors
        as stored: a third of the time of reading them through the cache (a view made for each)."""
        out = {}
        for t in self._store.values():
            storage = t.untyped_storage()
            out[storage.data_ptr()] = storage.nbytes()
        return out


# --------------------------------------------------------------------------- weight layout

def laid_out(t: torch.Tensor, perm: tuple[int, ...]) -> torch.Tensor:
    """The same values and shape as `t`, stored so that `t.permute(perm)` is contiguous.

    A weight used as `x @ W` is stored in-major: [in, out], each input's row of outputs contiguous, so that BLAS
    multiplies it as it is (no transposed operand). On two cores of an Intel Xeon (MKL, one thread) a whole pass took
    0.89x the CPU time of the [out, in] layout of nn.Linear for the default model at 16 tokens, 0.75x for MiniLM at 16
    and 0.88x for SmolLM2 at 32, with every cached activation the same bit for bit at those lengths (a one-token pass
    rounds otherwise: a product of one row is summed in another order). Shapes and values never change, only
    strides; an already laid-out tensor is returned as is."""
    if t.permute(perm).is_contiguous():
        return t
    inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
    return t.permute(perm).contiguous().permute(inverse)


def project(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """x @ w (+ b) for w [in, out], as nn.Linear computes it: one BLAS call with the bias fused."""
    return F.linear(x, w.T, b)


# An unembedding larger than this is multiplied a block of the vocabulary at a time, each block about BLOCK_BYTES of
# the weight. One call over SmolLM2's [576 x 49152] (113 MB) runs at two thirds of the speed the same product gets in
# blocks that stay in the core's cache: for the logit lens's 61 rows 67 -> 53 ms on one thread and 53 -> 36 ms on
# two, for a 28-token forward pass's unembedding 37 -> 29 ms. Each logit is still one dot product over d_model in the
# same order, so the numbers are the same bit for bit (tests/models/test_transformer.py).
BLOCKED_ABOVE = 16 * 2**20
BLOCK_BYTES = 2**20


def project_vocab(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """x [..., d_model] @ w [d_model, vocab] (+ b): project(), in blocks of the vocabulary where w is larger than
    BLOCKED_ABOVE (and no gradient is asked for: the blocks are written into one tensor in place)."""
    return project_vocab_each([x], w, b)[0]


def project_vocab_each(xs: Sequence[torch.Tensor], w: torch.Tensor, b: torch.Tensor | None = None,
                       outs: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """project_vocab(x, w, b) of each x of xs, the same bit for bit as a call for each, with a large w read from memory
    once for all of them: each block of it is multiplied by every x in turn while it is in the core's cache. `outs`:
    where to write them ([rows, vocab] each, contiguous: the rows of a larger tensor), instead of new tensors."""
    if (w.numel() * w.element_size() <= BLOCKED_ABOVE
            or (torch.is_grad_enabled() and (w.requires_grad or any(x.requires_grad for x in xs)))):
        made = [project(x, w, b) for x in xs]
        return made if outs is None else [out.copy_(m.reshape(out.shape)) for out, m in zip(outs, made, strict=True)]
    d_model, vocab = w.shape
    rows = [x.reshape(-1, d_model) for x in xs]  # [rows, d_model] each
    if outs is None:
        outs = [r.new_empty(r.shape[0], vocab) for r in rows]  # [rows, vocab] each
    elif any(not out.is_contiguous() or out.shape != (r.shape[0], vocab) for r, out in zip(rows, outs, strict=True)):
        raise ValueError("each of outs must be a contiguous [rows, vocab] tensor")
    step = max(64, BLOCK_BYTES // (d_model * w.element_size()) // 64 * 64)  # columns per block
    for i in range(0, vocab, step):
        for r, out in zip(rows, outs, strict=True):
            if b is None:
                torch.mm(r, w[:, i:i + step], out=out[:, i:i + step])
            else:
                torch.addmm(b[i:i + step], r, w[:, i:i + step], out=out[:, i:i + step])
    return [out.reshape(*x.shape[:-1], vocab) for x, out in zip(xs, outs, strict=True)]  # [..., vocab] each


class LaidOut(nn.Module):
    """Keeps the weights named in LAYOUT (name -> permutation) stored as laid_out() stores them, also after
    load_state_dict(assign=True)."""

    LAYOUT: dict[str, tuple[int, ...]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.register_load_state_dict_post_hook(lambda module, incompatible: module.relayout())

    def relayout(self) -> None:
        for name, perm in self.LAYOUT.items():
            p = getattr(self, name, None)
            if isinstance(p, torch.Tensor):
                p.data = laid_out(p.data, perm)


# --------------------------------------------------------------------------- modules

@dataclass(frozen=True)
class Pass:
    """What every block of one forward pass shares, worked out once per pass."""

    angles: tuple[torch.Tensor, torch.Tensor] | None  # a rotary model's cos and sin [1, pos, 1, d_head]; else None
    # added to the scores: -inf where a query may not look (causal), else 0: [q_pos, k_pos]; with ALiBi also
    # each head's distance penalty, [batch * head, q_pos, k_pos]
    mask: torch.Tensor
    scale: bool  # divide the scores by sqrt(d_head)


class Norm(nn.Module):
    def __init__(self, cfg: ModelConfig, d: int):
        super().__init__()
        self.kind, self.eps, self.d = cfg.norm, cfg.norm_eps, d
        self.w = nn.Parameter(torch.ones(d))
        self.b = nn.Parameter(torch.zeros(d)) if cfg.norm == "layernorm" else None
        self.hook_normalized = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "layernorm":
            y = F.layer_norm(x, (self.d,), self.w, self.b, self.eps)
        else:
            y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w
        return self.hook_normalized(y)


class Attention(LaidOut):
    # W_Q, W_K, W_V [head, d_model, d_head] stored as [d_model, head, d_head]; W_O [head, d_head, d_model] as it is:
    # each projection is then one matmul on a view of the weight, with no copy
    LAYOUT = {"W_Q": (1, 0, 2), "W_K": (1, 0, 2), "W_V": (1, 0, 2), "W_O": (0, 1, 2)}

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        h, kv, d, e = cfg.n_heads, cfg.kv_heads, cfg.d_model, cfg.d_head
        self.W_Q = nn.Parameter(laid_out(torch.empty(h, d, e), self.LAYOUT["W_Q"]))
        self.W_K = nn.Parameter(laid_out(torch.empty(kv, d, e), self.LAYOUT["W_K"]))
        self.W_V = nn.Parameter(laid_out(torch.empty(kv, d, e), self.LAYOUT["W_V"]))
        self.W_O = nn.Parameter(torch.empty(h, e, d))
        if cfg.bias:
            self.b_Q = nn.Parameter(torch.zeros(h, e))
            self.b_K = nn.Parameter(torch.zeros(kv, e))
            self.b_V = nn.Parameter(torch.zeros(kv, e))
            self.b_O = nn.Parameter(torch.zeros(d))
        else:
            self.b_Q = self.b_K = self.b_V = self.b_O = None
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        if cfg.positional == "rotary":
            self.hook_rot_q, self.hook_rot_k = HookPoint(), HookPoint()
        self.hook_attn_scores, self.hook_pattern, self.hook_z = HookPoint(), HookPoint(), HookPoint()

    @staticmethod
    def _by_column(w: torch.Tensor) -> torch.Tensor:
        """W [head, d_model, d_head] as one [d_model, head * d_head] matrix (a view, given the layout)."""
        return w.permute(1, 0, 2).reshape(w.shape[1], -1)  # [d_model, head * d_head]

    def _heads(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """x W + b for every head of W at once: [batch, pos, d_model] -> [batch, pos, head, d_head]."""
        out = project(x, self._by_column(w), None if bias is None else bias.reshape(-1))  # [batch, pos, head * d_head]
        return out.view(*x.shape[:2], w.shape[0], self.cfg.d_head)  # [batch, pos, head, d_head]

    def forward(self, x: torch.Tensor, p: Pass, ablated: Sequence[int]) -> torch.Tensor:
        cfg = self.cfg
        b, n = x.shape[:2]
        q, k, v = self._heads(x, self.W_Q, self.b_Q), self._heads(x, self.W_K, self.b_K), self._heads(x, self.W_V, self.b_V)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        if cfg.positional == "rotary":
            if p.angles is not None:  # (positions removed: no angles, the rotation is the identity)
                q, k = rotate(q, *p.angles), rotate(k, *p.angles)
            q, k = self.hook_rot_q(q), self.hook_rot_k(k)
        if cfg.group_size > 1:
            k = k.repeat_interleave(cfg.group_size, dim=2)  # [batch, pos, head, d_head]
            v = v.repeat_interleave(cfg.group_size, dim=2)  # [batch, pos, head, d_head]
        # scores = q.k / sqrt(d_head) + mask, as one BLAS call (the scaling and the mask fused into it)
        qh = q.transpose(1, 2).reshape(b * cfg.n_heads, n, cfg.d_head)  # [batch * head, q_pos, d_head]
        kh = k.permute(0, 2, 3, 1).reshape(b * cfg.n_heads, cfg.d_head, n)  # [batch * head, d_head, k_pos]
        scores = torch.baddbmm(p.mask, qh, kh, alpha=1 / math.sqrt(cfg.d_head) if p.scale else 1.0)
        scores = self.hook_attn_scores(scores.view(b, cfg.n_heads, n, n))  # [batch, head, q_pos, k_pos]
        pattern = self.hook_pattern(torch.softmax(scores, dim=-1))  # [batch, head, q_pos, k_pos]
        if self.training and cfg.dropout:
            pattern = F.dropout(pattern, cfg.dropout)
        z = (pattern @ v.transpose(1, 2)).transpose(1, 2)  # [batch, head, pos, d_head] -> [batch, pos, head, d_head]
        if ablated:
            keep = torch.ones(cfg.n_heads, dtype=z.dtype, device=z.device)
            keep[list(ablated)] = 0.0
            z = z * keep[:, None]  # [batch, pos, head, d_head]
        z = self.hook_z(z)
        return project(z.reshape(b, n, -1), self.W_O.reshape(-1, cfg.d_model), self.b_O)  # [batch, pos, d_model]


class MLP(LaidOut):
    LAYOUT = {"W_in": (0, 1), "W_gate": (0, 1), "W_out": (0, 1)}  # [in, out] stored as it is (not as nn.Linear's)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.kind = cfg.mlp
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))  # [d_model, d_mlp]
        if cfg.mlp == "swiglu":
            self.W_gate = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))  # [d_model, d_mlp]
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))  # [d_mlp, d_model]
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp)) if cfg.bias else None
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model)) if cfg.bias else None
        self.hook_pre = HookPoint()
        if cfg.mlp == "swiglu":
            self.hook_pre_linear = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "swiglu":
            pre = self.hook_pre(project(x, self.W_gate))  # [batch, pos, d_mlp]
            lin = self.hook_pre_linear(project(x, self.W_in))
            post = self.hook_post(F.silu(pre) * lin)
        else:
            pre = self.hook_pre(project(x, self.W_in, self.b_in))  # [batch, pos, d_mlp]
            post = self.hook_post(F.gelu(pre, approximate="tanh" if self.kind == "gelu_tanh" else "none"))
        return project(post, self.W_out, self.b_out)  # [batch, pos, d_model]


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.hook_resid_pre = HookPoint()
        self.ln1 = Norm(cfg, cfg.d_model)
        self.attn = Attention(cfg)
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.ln2 = Norm(cfg, cfg.d_model)
        self.mlp = MLP(cfg)
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.cfg.dropout) if self.training and self.cfg.dropout else x

    def forward(self, x: torch.Tensor, p: Pass, ablated: Sequence[int]) -> torch.Tensor:
        x = self.hook_resid_pre(x)  # [batch, pos, d_model]
        if self.cfg.norm_placement == "pre":
            attn_out = self.hook_attn_out(self.attn(self.ln1(x), p, ablated))
            x = self.hook_resid_mid(x + self._drop(attn_out))
            mlp_out = self.hook_mlp_out(self.mlp(self.ln2(x)))
            return self.hook_resid_post(x + self._drop(mlp_out))
        attn_out = self.hook_attn_out(self.attn(x, p, ablated))
        x = self.hook_resid_mid(self.ln1(x + self._drop(attn_out)))
        mlp_out = self.hook_mlp_out(self.mlp(x))
        return self.hook_resid_post(self.ln2(x + self._drop(mlp_out)))


class Transformer(LaidOut):
    # [d_model, vocab] stored as [vocab, d_model], like W_E (whose .T is the tied unembedding): a large one is multiplied
    # a block of the vocabulary at a time (project_vocab_each), each block then a contiguous run of rows
    LAYOUT = {"W_U": (1, 0)}

    def __init__(self, cfg: ModelConfig, init: bool = True):
        """init=False leaves the parameters uninitialised (fast): for weights loaded right after."""
        super().__init__()
        self.cfg = cfg
        self._in_major: tuple[tuple[int, int], torch.Tensor] | None = None  # unembed's copy: (weight's key, copy)
        self.W_E = nn.Parameter(torch.empty(cfg.vocab_size, cfg.d_model))
        self.hook_embed = HookPoint()
        self.pos_embed = make_additive(cfg)
        if self.pos_embed is not None:
            self.hook_pos_embed = HookPoint()
        if cfg.n_token_types:
            self.W_token_type = nn.Parameter(torch.zeros(cfg.n_token_types, cfg.d_model))
            self.hook_token_type_embed = HookPoint()
        self.embed_ln = Norm(cfg, cfg.d_model) if cfg.embed_norm else None
        self.rotary = Rotary(cfg.d_head, cfg.rotary_base, cfg.max_positions) if cfg.positional == "rotary" else None
        if cfg.positional == "alibi":
            self.register_buffer("alibi_slopes", alibi_slopes(cfg.n_heads), persistent=False)  # [head], fixed
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = Norm(cfg, cfg.d_model) if cfg.final_norm else None
        if cfg.unembed and not cfg.tied_embeddings:
            self.W_U = nn.Parameter(torch.empty(cfg.vocab_size, cfg.d_model).T)  # [d_model, vocab]
            self.b_U = nn.Parameter(torch.zeros(cfg.vocab_size)) if cfg.bias else None
        if cfg.unembed:
            self.logits = HookPoint()
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
        if init:
            self.reset_parameters()

    # ---------------------------------------------------------------- weights

    def reset_parameters(self, seed: int | None = None) -> None:
        """GPT-2 style: N(0, 0.02), output projections scaled by 1/sqrt(2 n_layers), biases 0, norms 1.

        With an embed_scale (Vaswani et al.), W_E starts at N(0, 1/embed_scale^2) so that the
        scaled token embeddings have unit variance."""
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        out_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            with torch.no_grad():
                if name.endswith((".w",)):
                    p.fill_(1.0)
                elif name.rsplit(".", 1)[-1].startswith("b") or name == "W_token_type":
                    p.zero_()
                elif name == "W_E" and self.cfg.embed_scale != 1.0:
                    # scaled embeddings of unit variance, comparable to the sinusoidal values in [-1, 1]
                    p.copy_(torch.randn(p.shape, generator=g) / self.cfg.embed_scale)
                elif name.endswith(("W_O", "W_out")):
                    p.copy_(torch.randn(p.shape, generator=g) * out_std)
                else:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)

    @property
    def unembed(self) -> torch.Tensor:
        """[d_model, vocab]: W_E.T where the embeddings are tied, else W_U. Where no gradient is asked for, one of at
        most BLOCKED_ABOVE is an in-major copy (laid_out), kept until the weight changes: for the default model's
        unembedding of 16 positions 0.67x the CPU time of the out-major weight, the same logits bit for bit (one
        position: the same to float32's rounding). A larger one stays as it is, multiplied in blocks of its rows."""
        if not self.cfg.unembed:
            raise ValueError("this model has no unembedding (no next-word head)")
        w = self.W_E.T if self.cfg.tied_embeddings else self.W_U  # [d_model, vocab]
        if torch.is_grad_enabled() or w.numel() * w.element_size() > BLOCKED_ABOVE:
            return w
        key = (w.data_ptr(), w._version)  # a new weight, or one changed in place (a view shares both with its weight)
        kept = self._in_major
        if kept is None or kept[0] != key:
            kept = self._in_major = (key, w.detach().contiguous())
        return kept[1]

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---------------------------------------------------------------- forward

    def check_ids(self, ids: torch.Tensor, max_tokens: int | None = None) -> torch.Tensor:
        """ids as int64, or a ValueError that says what is wrong with them.

        max_tokens: the most tokens the caller allows; None (or any number up to it): the trained length,
        cfg.max_positions.
        More than the trained length is allowed only when the caller says so and the positional scheme can
        run there (every scheme but learned positions, see why_not_beyond)."""
        ids = torch.as_tensor(ids)
        if ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"token ids must be integers, got {ids.dtype}")
        if ids.dim() not in (1, 2):
            raise ValueError(f"token ids must be [pos] or [batch, pos], got shape {tuple(ids.shape)}")
        n = ids.shape[-1]
        if n == 0:
            raise ValueError("no tokens: the input is empty")
        trained = self.cfg.max_positions
        if n > trained:
            if max_tokens is None or max_tokens <= trained:
                raise ValueError(f"{n} tokens is more than this model's maximum of {trained} tokens")
            reason = why_not_beyond(self.cfg)
            if reason:
                raise ValueError(f"{n} tokens is more than this model's trained length of {trained} tokens. {reason}")
            if n > max_tokens:
                raise ValueError(f"{n} tokens is more than the {max_tokens} tokens allowed here")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.cfg.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"token id {bad} is outside the vocabulary (0 to {self.cfg.vocab_size - 1})")
        return ids.long()

    def forward(self, ids: torch.Tensor, interventions: Interventions | None = None,
                token_types: torch.Tensor | None = None, max_tokens: int | None = None) -> torch.Tensor:
        """ids [batch, pos] or [pos] -> logits [batch, pos, vocab] (or [pos, vocab]).

        Without an unembedding (cfg.unembed=False): the final hidden states [batch, pos, d_model].
        max_tokens: allow up to this many tokens, past the trained length where the scheme can (check_ids)."""
        iv = interventions or Interventions()
        iv.check(self.cfg)
        ids = self.check_ids(ids, max_tokens)
        single = ids.dim() == 1
        if single:
            ids = ids[None]  # [batch=1, pos]
        n = ids.shape[1]
        perm = iv.permutation(n)
        positions = None if iv.positions == "removed" else (
            torch.tensor(perm, device=ids.device) if perm is not None else torch.arange(n, device=ids.device))

        tokens = self.W_E[ids]  # [batch, pos, d_model]
        x = self.hook_embed(tokens * self.cfg.embed_scale if self.cfg.embed_scale != 1.0 else tokens)
        if self.pos_embed is not None:
            pos = self.pos_embed(positions) if positions is not None else torch.zeros(n, self.cfg.d_model)
            x = x + self.hook_pos_embed(pos[None].expand_as(x))  # [batch, pos, d_model]
        if self.cfg.n_token_types:
            types = torch.zeros_like(ids) if token_types is None else torch.as_tensor(token_types).reshape(ids.shape)
            x = x + self.hook_token_type_embed(self.W_token_type[types])
        if self.embed_ln is not None:
            x = self.embed_ln(x)
        if self.training and self.cfg.dropout:
            x = F.dropout(x, self.cfg.dropout)
        if self.cfg.causal:
            mask = torch.full((n, n), float("-inf"), dtype=self.W_E.dtype, device=ids.device).triu(1)  # [q_pos, k_pos]
        else:
            mask = torch.zeros((), dtype=self.W_E.dtype, device=ids.device)
        if self.cfg.positional == "alibi" and positions is not None:  # (positions removed: no distance penalty)
            bias = alibi_bias(self.alibi_slopes, positions).to(mask.dtype)  # [head, q_pos, k_pos]
            mask = (mask + bias).repeat(ids.shape[0], 1, 1)  # [batch * head, q_pos, k_pos]
        angles = None if self.rotary is None or positions is None else self.rotary.angles(positions)
        p = Pass(angles=angles, mask=mask, scale=iv.scale)
        for layer, block in enumerate(self.blocks):
            x = block(x, p, [h for (l2, h) in iv.ablate if l2 == layer])
        if self.ln_final is not None:
            x = self.ln_final(x)
        if not self.cfg.unembed:
            return x[0] if single else x  # [batch, pos, d_model]: the final hidden states
        logits = project_vocab(x, self.unembed, None if self.cfg.tied_embeddings else self.b_U)  # [batch, pos, vocab]
        logits = self.logits(logits)
        return logits[0] if single else logits

    @torch.inference_mode()
    def run_with_cache(self, ids: torch.Tensor | Sequence[int], interventions: Interventions | None = None, *,
                       token_types: torch.Tensor | None = None,
                       hooks: Mapping[str, HookFn] | None = None,
                       max_tokens: int | None = None) -> tuple[torch.Tensor | None, ActivationCache]:
        """One sequence [pos] -> (logits [pos, vocab], cache with the batch dimension removed).

        A model without an unembedding returns logits=None; its final hidden states are in the cache.
        max_tokens: allow up to this many tokens, past the trained length where the scheme can (check_ids)."""
        iv = interventions or Interventions()
        ids = self.check_ids(torch.as_tensor(ids), max_tokens)
        if ids.dim() != 1:
            raise ValueError(f"run_with_cache takes one sequence [pos], got shape {tuple(ids.shape)}")
        with hooks_active(cache=True, hooks=hooks) as run:
            out = self.forward(ids, iv, token_types, max_tokens)
        logits = out if self.cfg.unembed else None
        return logits, ActivationCache(run.store, self.cfg, iv, iv.permutation(ids.shape[0]))

    def hook_names(self) -> list[str]:
        """Every hook name, in the order a forward pass visits them."""
        _, cache = self.run_with_cache(torch.zeros(1, dtype=torch.long))
        return list(cache)
