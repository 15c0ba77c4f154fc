"""The recorder's accelerator mode: layer compute as timed work on an :class:`EmulatedDevice`.

``commsim record --device accel`` replaces the arithmetic of every transformer block and of the
LM head with device time. Each wrapped module becomes one ``torch.autograd.Function``
(``DeviceOp``) whose forward returns the input unchanged (the head: zeros of the logits'
shape) and whose backward returns the output gradient unchanged, preceded by one identity
node per parameter (``Touch``) that gives the parameter a zero gradient in backward. So every
gradient exists with its real shape and dtype, in a real block's order: DDP's buckets,
FSDP2's reduce-scatters, the pipeline's activations and the parameter server's flat gradient
carry the same bytes as in CPU mode, in the same order. Numerics are meaningless. A ``tp``
recording keeps DTensor's collectives: :mod:`simulator.traces.accel_tp` replaces only the
arithmetic of its parallel linears, norms and attention core.

Forward and backward each enqueue the module's device time and wait for it (the host blocks as
under ``CUDA_LAUNCH_BLOCKING=1``): the host thread sleeps, so gloo's threads of every rank get
the cores. Waiting per item is what makes the mode honest with gloo: DDP's reducer launches a
bucket's all-reduce from C++ as soon as the autograd engine has accumulated its gradients, and
nothing in Python can make that launch wait for a device stream; since the gradient only
"exists" once its item has run, every collective and send is issued after the device work
that produced its input (NCCL's stream ordering), and none can run ahead of it.

Device times come from the CPU measured *alone* (:func:`measure_device_times`, run by the
launcher in its own single-threaded process before any rank starts): each block's forward and
backward, and the head's, at the configured batch, as seconds per token. A call's duration is
that rate times the tokens it gets (a pipeline micro-batch of 1 sequence takes a quarter of a
batch of 4): the emulated device is linear in tokens, as a saturated GPU is, unlike eager CPU
kernels (which run one-sequence micro-batches less efficiently).

Run as ``python -m simulator.traces.accel CONFIG.json OUT.json`` to measure the times.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.traces.device import EmulatedDevice
from simulator.traces.models import build_model
from simulator.traces.recipe import RecordConfig

#: Repetitions of each timed forward/backward when measuring alone (median taken), after
#: :data:`MEASURE_WARMUP` untimed ones.
MEASURE_REPS = 15
MEASURE_WARMUP = 3


def median_fwd_bwd_s(
    fn: Callable[..., Any],
    inputs: list[Any],
    reps: int = MEASURE_REPS,
    warmup: int = MEASURE_WARMUP,
) -> tuple[float, float]:
    """Median forward and backward wall time (s) of ``fn(*inputs)``, one thread: ``reps``
    timed runs after ``warmup`` untimed ones, each on fresh leaf copies of ``inputs``."""
    import torch

    fwd: list[float] = []
    bwd: list[float] = []
    for i in range(warmup + reps):
        xs = [x.detach().requires_grad_(True) for x in inputs]
        t0 = time.perf_counter()
        out = fn(*xs)
        t1 = time.perf_counter()
        out.backward(torch.ones_like(out))
        t2 = time.perf_counter()
        if i >= warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    return statistics.median(fwd), statistics.median(bwd)


def measure_device_times(cfg: RecordConfig) -> dict[str, Any]:
    """Per-token forward/backward seconds of every block and of the head, measured alone.

    Returns ``{"tokens", "block_fwd_s_per_token": [...], "block_bwd_s_per_token": [...],
    "head_fwd_s_per_token", "head_bwd_s_per_token", "method"}`` (one entry per block). For
    ``tp`` the blocks are one TP rank's shard, timed piece by piece
    (:func:`simulator.traces.accel_tp.measure_tp_ops`), with ``"tp_ops"`` and ``"tp"`` added.
    """
    import torch

    from simulator.traces.accel_tp import block_sums, measure_tp_ops
    from simulator.traces.recipe import RecordStrategy

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.gpt)
    g = cfg.gpt
    tokens = g.batch * g.seq_len
    x = torch.randn(g.batch, g.seq_len, g.d_model)
    fwd: list[float] = []
    bwd: list[float] = []
    for blk in model.blocks:
        f, b = median_fwd_bwd_s(blk, [x])
        fwd.append(f / tokens)
        bwd.append(b / tokens)
    hf, hb = median_fwd_bwd_s(model.head, [x])
    times: dict[str, Any] = {
        "tokens": tokens,
        "block_fwd_s_per_token": fwd,
        "block_bwd_s_per_token": bwd,
        "head_fwd_s_per_token": hf / tokens,
        "head_bwd_s_per_token": hb / tokens,
        "method": f"CPU alone, 1 thread, median of {MEASURE_REPS} after {MEASURE_WARMUP}",
    }
    if cfg.strategy is RecordStrategy.TP:
        ops = measure_tp_ops(g, cfg.world, MEASURE_REPS, MEASURE_WARMUP)
        fwd, bwd = block_sums(ops)
        times.update(block_fwd_s_per_token=fwd, block_bwd_s_per_token=bwd, tp_ops=ops)
        times["tp"] = cfg.world
        times["method"] += f"; blocks: one rank's 1/{cfg.world} shard, piece by piece"
    return times


class _Fns:
    """The autograd Functions (built on first use: torch is imported inside)."""

    device_op: Any = None
    touch: Any = None


def _fns() -> type[_Fns]:
    if _Fns.device_op is not None:
        return _Fns
    import torch

    class DeviceOp(torch.autograd.Function):
        """Identity (or zeros of ``out_dim``) on the host, timed work on the device."""

        @staticmethod
        def forward(ctx: Any, x: Any, spec: tuple[Any, ...]) -> Any:
            dev, name, fwd_rate, _, out_dim = spec
            ctx.spec = spec
            ctx.x_shape = x.shape
            ctx.tokens = x.numel() // max(1, x.shape[-1])
            if not x.is_meta and fwd_rate > 0:
                _run(dev, fwd_rate * ctx.tokens, f"{name}.fwd")
            if out_dim is None:
                return x.clone()
            return x.new_zeros((*x.shape[:-1], out_dim))

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            dev, name, _, bwd_rate, out_dim = ctx.spec
            if not grad.is_meta and bwd_rate > 0:
                _run(dev, bwd_rate * ctx.tokens, f"{name}.bwd")
            return (grad if out_dim is None else grad.new_zeros(ctx.x_shape)), None

    class Touch(torch.autograd.Function):
        """Identity on ``x`` that gives ``param`` a zero gradient when backward reaches it."""

        @staticmethod
        def forward(ctx: Any, x: Any, param: Any) -> Any:
            ctx.meta = (param.shape, param.dtype, param.device)
            return x.view_as(x)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            shape, dtype, device = ctx.meta
            return grad, torch.zeros(shape, dtype=dtype, device=device)

    _Fns.device_op, _Fns.touch = DeviceOp, Touch
    return _Fns


def _run(dev: EmulatedDevice, duration_s: float, label: str) -> None:
    """Enqueue ``duration_s`` and wait for it, inside a ``commsim.device`` annotation."""
    import torch

    with torch.profiler.record_function(f"commsim.device.{label}"):
        dev.enqueue(duration_s, label).wait()


def _wrap(mod: Any, dev: EmulatedDevice, name: str, fwd: float, bwd: float, out: Any) -> None:
    fns = _fns()
    spec = (dev, name, fwd, bwd, out)

    def forward(x: Any, _m: Any = mod, _spec: Any = spec) -> Any:
        # Parameters are read at call time: FSDP2 swaps in the unsharded ones around forward.
        # Each is touched *before* the device op, one autograd node each: backward reaches
        # them after the device time, last-registered first, the order in which a real
        # block's backward makes its gradients ready (so DDP rebuilds the same buckets).
        for p in _m.parameters():
            if p.requires_grad:
                x = fns.touch.apply(x, p)
        return fns.device_op.apply(x, _spec)

    mod.forward = forward


def install_device(
    model: Any, times: dict[str, Any], device: EmulatedDevice | None = None
) -> EmulatedDevice:
    """Replace the arithmetic of ``model.blocks`` and ``model.head`` by device time on
    ``device`` (a new :class:`EmulatedDevice` when None), which is returned.

    Raises:
        ValueError: the model has no ``blocks`` or ``head``, or ``times`` lists another number
            of blocks.
    """
    blocks = getattr(model, "blocks", None)
    head = getattr(model, "head", None)
    if blocks is None or head is None:
        raise ValueError("accelerator mode needs a model with .blocks and .head (gpt-tiny)")
    fwd, bwd = times["block_fwd_s_per_token"], times["block_bwd_s_per_token"]
    if len(fwd) != len(blocks) or len(bwd) != len(blocks):
        raise ValueError(f"device times for {len(fwd)} blocks, the model has {len(blocks)}")
    dev = device if device is not None else EmulatedDevice()
    if "tp_ops" in times:  # a tp recording: DTensor keeps its collectives, the device the rest
        from simulator.traces.accel_tp import install_tp_device

        install_tp_device(blocks, times["tp_ops"], dev)
    else:
        for i, blk in enumerate(blocks):
            _wrap(blk, dev, f"layer{i}", fwd[i], bwd[i], None)
    _wrap(
        head,
        dev,
        "head",
        times["head_fwd_s_per_token"],
        times["head_bwd_s_per_token"],
        head.out_features,
    )
    return dev


def main(argv: list[str] | None = None) -> int:
    """``python -m simulator.traces.accel CONFIG.json OUT.json``: measure device times."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m simulator.traces.accel CONFIG.json OUT.json", file=sys.stderr)
        return 2
    times = measure_device_times(RecordConfig.read(Path(args[0])))
    Path(args[1]).write_text(json.dumps(times, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
