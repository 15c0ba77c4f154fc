"""Accelerator mode for tensor parallelism: DTensor's collectives, the device's arithmetic.

In a ``tp`` recording (:func:`simulator.traces.worker._tensor_parallel`) every block's ``q``,
``k``, ``v``, ``fc1`` are DTensor ``ColwiseParallel`` and ``proj``, ``fc2`` ``RowwiseParallel``
linears; their forward hooks issue the TP collectives (the forward all-reduce of a row-wise
output, Partial -> Replicate, and in backward the all-reduce of a column-wise input's
gradient, Partial -> Replicate). Here each of those linears keeps its DTensor hooks and only
its arithmetic is replaced (design (a), docs/decisions.md): :func:`_linear_forward` takes the
hook's DTensor input, runs a device op on the local shard and returns a DTensor with the
placement the real ``F.linear`` gives (``Shard(-1)`` column-wise, ``Partial`` row-wise); its
input gradient is placed as the real one is (``Partial`` column-wise, via ``to_local``'s
``grad_placements``; ``Shard(-1)`` row-wise). So DTensor's own redistribution issues every
all-reduce, of the real local byte counts, in the real order. Layer norms, the attention core
and GELU have no collective of their own; their time is folded into the device op that runs
before the next collective:

* forward: ``proj`` carries ln1 + q + k + v + attention core + proj (before proj's
  all-reduce), ``fc2`` carries ln2 + fc1 + GELU + fc2 (before fc2's all-reduce);
* backward: ``fc1`` carries fc2 + GELU + fc1 (before fc1's input-gradient all-reduce), ``v``
  carries ln2 + proj + attention core + v, ``k`` carries k, ``q`` carries q + ln1 (ln1's
  backward really runs after q's all-reduce: the one placement that is off, by one layer
  norm's backward).

Every duration is one TP rank's share: measured alone on a shard of the block
(:func:`measure_tp_ops`, a block of ``d -> d/tp`` and ``d/tp -> d`` linears and
``n_head/tp`` heads) or, for roofline durations, the simulator's profile at ``tp``
(:func:`simulator.traces.roofline.roofline_device_times`). The LM head is not parallelized
(every TP rank computes it) and keeps the plain device op of :mod:`simulator.traces.accel`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.traces.accel import median_fwd_bwd_s
from simulator.traces.device import EmulatedDevice
from simulator.traces.models import GPTConfig

#: The device ops of one TP block that carry time (the others take none), seconds per token.
TP_OPS = ("proj_fwd", "fc2_fwd", "fc1_bwd", "v_bwd", "k_bwd", "q_bwd")


def measure_tp_ops(g: GPTConfig, tp: int, reps: int, warmup: int) -> dict[str, list[float]]:
    """Per-token seconds of :data:`TP_OPS` for every block, one TP rank's shard measured alone.

    Each piece (ln1, q, k, v, attention core, proj, ln2, fc1, GELU, fc2) is timed on its own at
    the shard's shapes (median of ``reps`` after ``warmup``) and summed as the module docstring
    says.
    """
    import torch
    from torch import nn

    c, ct, ht = g.d_model, g.d_model // tp, g.n_head // tp
    tokens = g.batch * g.seq_len
    x = torch.randn(g.batch, g.seq_len, c)
    xs = torch.randn(g.batch, g.seq_len, ct)
    xf = torch.randn(g.batch, g.seq_len, 4 * ct)

    def core(q: Any, k: Any, v: Any) -> Any:
        b, t = q.shape[0], q.shape[1]
        q, k, v = (z.reshape(b, t, ht, ct // ht).transpose(1, 2) for z in (q, k, v))
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return a.transpose(1, 2).reshape(b, t, ct)

    out: dict[str, list[float]] = {k: [] for k in TP_OPS}
    for _ in range(g.n_layer):
        mods: dict[str, tuple[Callable[..., Any], list[Any]]] = {
            "ln1": (nn.LayerNorm(c), [x]),
            "q": (nn.Linear(c, ct), [x]),
            "k": (nn.Linear(c, ct), [x]),
            "v": (nn.Linear(c, ct), [x]),
            "core": (core, [xs, xs, xs]),
            "proj": (nn.Linear(ct, c), [xs]),
            "ln2": (nn.LayerNorm(c), [x]),
            "fc1": (nn.Linear(c, 4 * ct), [x]),
            "gelu": (nn.functional.gelu, [xf]),
            "fc2": (nn.Linear(4 * ct, c), [xf]),
        }
        f: dict[str, float] = {}
        b: dict[str, float] = {}
        for name, (fn, inputs) in mods.items():
            f[name], b[name] = median_fwd_bwd_s(fn, inputs, reps, warmup)
        parts = {
            "proj_fwd": sum(f[n] for n in ("ln1", "q", "k", "v", "core", "proj")),
            "fc2_fwd": sum(f[n] for n in ("ln2", "fc1", "gelu", "fc2")),
            "fc1_bwd": sum(b[n] for n in ("fc2", "gelu", "fc1")),
            "v_bwd": sum(b[n] for n in ("ln2", "proj", "core", "v")),
            "k_bwd": b["k"],
            "q_bwd": b["q"] + b["ln1"],
        }
        for k, t in parts.items():
            out[k].append(t / tokens)
    return out


def block_sums(ops: dict[str, list[float]]) -> tuple[list[float], list[float]]:
    """Per-block forward and backward seconds per token: the sums of :data:`TP_OPS`."""
    fwd = [a + b for a, b in zip(ops["proj_fwd"], ops["fc2_fwd"], strict=True)]
    bwd = [
        sum(t) for t in zip(ops["fc1_bwd"], ops["v_bwd"], ops["k_bwd"], ops["q_bwd"], strict=True)
    ]
    return fwd, bwd


def _linear_forward(mod: Any, spec: tuple[Any, ...]) -> Callable[[Any], Any]:
    """A parallelized linear's forward: device time on the local shard, real placements."""
    from torch.distributed.tensor import DTensor, Partial, Shard

    from simulator.traces.accel import _fns

    fns = _fns()

    def forward(x: Any) -> Any:
        w = mod.weight
        colwise = w.placements[0] == Shard(0)
        # the real F.linear's input gradient: Partial for a column-wise linear (its all-reduce
        # is the from_local hook's backward), the input's own Shard(-1) for a row-wise one
        grad_pl = [Partial()] if colwise else None
        xl = x.to_local(grad_placements=grad_pl)
        for p in (mod.weight, mod.bias):
            if p is not None and p.requires_grad:
                xl = fns.touch.apply(xl, p.to_local())
        w_local = w.to_local()
        yl = fns.device_op.apply(xl, (*spec, w_local.shape[0]))
        out_pl = [Shard(yl.dim() - 1)] if colwise else [Partial()]
        return DTensor.from_local(yl, w.device_mesh, out_pl, run_check=False)

    return forward


def _block_forward(blk: Any, fns: Any) -> Callable[[Any], Any]:
    def forward(x: Any) -> Any:
        h = x
        for p in blk.ln1.parameters():
            h = fns.touch.apply(h, p)
        q, k, v = blk.q(h), blk.k(h), blk.v(h)
        x = x + blk.proj(q + k + v)
        h = x
        for p in blk.ln2.parameters():
            h = fns.touch.apply(h, p)
        return x + blk.fc2(blk.fc1(h))

    return forward


def install_tp_device(blocks: Any, ops: dict[str, list[float]], dev: EmulatedDevice) -> None:
    """Replace the arithmetic of every TP block's linears, norms and attention core by device
    time on ``dev``, keeping the linears' DTensor hooks (call before or after
    ``parallelize_module``: the forwards read the parameters at call time).

    Raises:
        ValueError: ``ops`` lacks one of :data:`TP_OPS` or lists another number of blocks.
    """
    from simulator.traces.accel import _fns

    fns = _fns()
    for key in TP_OPS:
        if len(ops.get(key, [])) != len(blocks):
            raise ValueError(f"tp device times {key!r} do not list {len(blocks)} blocks")
    for i, blk in enumerate(blocks):
        rates = {
            "q": (0.0, ops["q_bwd"][i]),
            "k": (0.0, ops["k_bwd"][i]),
            "v": (0.0, ops["v_bwd"][i]),
            "proj": (ops["proj_fwd"][i], 0.0),
            "fc1": (0.0, ops["fc1_bwd"][i]),
            "fc2": (ops["fc2_fwd"][i], 0.0),
        }
        for name, (fwd, bwd) in rates.items():
            lin = getattr(blk, name)
            lin.forward = _linear_forward(lin, (dev, f"layer{i}.{name}", fwd, bwd))
        blk.forward = _block_forward(blk, fns)
