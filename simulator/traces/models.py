"""Models the recorder trains: a tiny GPT shipped with commsim, or a user's ``module:factory``.

Imports torch inside functions only, so that ``import simulator.traces`` works without torch.
The tiny GPT is a standard pre-norm decoder (token + position embedding, ``n_layer`` blocks of
causal self-attention and a 4x MLP, final norm, linear head). Its blocks are ``model.blocks``
(a ``ModuleList``) so that the recorder can annotate, shard or pipeline them per layer.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any

from simulator.core.errors import InputError


@dataclass(frozen=True, slots=True)
class GPTConfig:
    """Shape of the tiny GPT and of its training batch (counts, not bytes)."""

    vocab: int = 512
    d_model: int = 128
    n_head: int = 4
    n_layer: int = 4
    seq_len: int = 64
    batch: int = 8

    def to_dict(self) -> dict[str, int]:
        """The config as a JSON-able dict."""
        return asdict(self)


def build_gpt_tiny(cfg: GPTConfig) -> Any:
    """Build the tiny GPT as a ``torch.nn.Module`` (forward(idx) -> logits)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(cfg.d_model)
            self.q = nn.Linear(cfg.d_model, cfg.d_model)
            self.k = nn.Linear(cfg.d_model, cfg.d_model)
            self.v = nn.Linear(cfg.d_model, cfg.d_model)
            self.proj = nn.Linear(cfg.d_model, cfg.d_model)
            self.ln2 = nn.LayerNorm(cfg.d_model)
            self.fc1 = nn.Linear(cfg.d_model, 4 * cfg.d_model)
            self.fc2 = nn.Linear(4 * cfg.d_model, cfg.d_model)
            self.n_head = cfg.n_head

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.shape
            h = self.ln1(x)
            q, k, v = self.q(h), self.k(h), self.v(h)
            # Local head count: under tensor parallelism q/k/v's output dim is sharded.
            nh = max(1, self.n_head * q.shape[-1] // c)
            hd = q.shape[-1] // nh
            q = q.reshape(b, t, nh, hd).transpose(1, 2)
            k = k.reshape(b, t, nh, hd).transpose(1, 2)
            v = v.reshape(b, t, nh, hd).transpose(1, 2)
            a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            a = a.transpose(1, 2).reshape(b, t, nh * hd)
            x = x + self.proj(a)
            return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(cfg.vocab, cfg.d_model)
            self.pos = nn.Embedding(cfg.seq_len, cfg.d_model)
            self.blocks = nn.ModuleList([Block() for _ in range(cfg.n_layer)])
            self.ln_f = nn.LayerNorm(cfg.d_model)
            self.head = nn.Linear(cfg.d_model, cfg.vocab)

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.tok(idx) + self.pos(pos)
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln_f(x))

    return GPT()


def build_model(spec: str, cfg: GPTConfig) -> Any:
    """Build the model named by ``spec``: ``"gpt-tiny"`` or ``"module:factory"``.

    A user factory is called with no arguments and must return a ``torch.nn.Module`` whose
    forward takes an int64 tensor ``[batch, seq_len]`` of token ids < ``cfg.vocab`` and returns
    logits ``[batch, seq_len, vocab]`` (so the recorder's loss and data work unchanged).

    Raises:
        InputError: ``spec`` is neither form, or the module/factory cannot be found.
    """
    if spec == "gpt-tiny":
        return build_gpt_tiny(cfg)
    if ":" not in spec:
        raise InputError("expected 'gpt-tiny' or 'module:factory'", field="--model")
    mod_name, _, fn_name = spec.partition(":")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise InputError(f"cannot import {mod_name!r}: {exc}", field="--model") from exc
    factory = getattr(module, fn_name, None)
    if not callable(factory):
        raise InputError(f"{mod_name!r} has no callable {fn_name!r}", field="--model")
    return factory()
