"""The per-rank training process of ``commsim record`` (run as ``python -m ...worker CONFIG``).

Reads rank and rendezvous from the usual torch.distributed environment (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``, and ``LOCAL_RANK`` under torchrun), trains
``warmup_steps + steps`` steps of the configured model and strategy, profiles the measured
steps with ``torch.profiler`` (plus the execution trace where torch provides it) and writes,
into the config's ``out_dir``:

* ``rank{r}.trace.json``  Kineto chrome trace of the measured steps; each measured step is
  marked ``ProfilerStep#{i}`` by torch.profiler's schedule and each transformer block's
  forward in ``commsim.fwd.layer{l}``.
* ``rank{r}.et.json``     execution trace (ExecutionTraceObserver), when available.
* ``rank{r}.steps.json``  ``{"rank", "hostname", "step_times_s": [...], "pid"}``: wall time of
  each measured step on this rank (``time.perf_counter``, seconds; warm-up excluded).

This is the only place (with models.py) where the recorder touches torch.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.traces.accel import install_device
from simulator.traces.device import EmulatedDevice
from simulator.traces.models import build_model
from simulator.traces.recipe import CommBackend, RecordConfig, RecordStrategy

StepFn = Callable[[], None]


def _annotate_layers(model: Any) -> None:
    """Wrap each block's forward in a ``commsim.fwd.layer{l}`` profiler annotation."""
    import torch

    blocks = getattr(model, "blocks", None)
    if blocks is None:
        return
    for idx, blk in enumerate(blocks):
        rf_name = f"commsim.fwd.layer{idx}"
        orig = blk.forward

        def fwd(*a: Any, _orig: Any = orig, _n: str = rf_name, **kw: Any) -> Any:
            with torch.profiler.record_function(_n):
                return _orig(*a, **kw)

        blk.forward = fwd


def _batch(cfg: RecordConfig, seed: int, device: Any) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    shape = (cfg.gpt.batch, cfg.gpt.seq_len)
    x = torch.randint(0, cfg.gpt.vocab, shape, generator=g)
    y = torch.randint(0, cfg.gpt.vocab, shape, generator=g)
    return x.to(device), y.to(device)


def _loss(logits: Any, y: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def _data_parallel(cfg: RecordConfig, model: Any, rank: int, device: Any) -> StepFn:
    """DDP (optionally with a comm hook) or FSDP2: every rank trains on its own batch."""
    import torch
    import torch.distributed as dist

    if cfg.strategy is RecordStrategy.FSDP:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (cfg.world,))
        for blk in getattr(model, "blocks", []):
            fully_shard(blk, mesh=mesh)
        fully_shard(model, mesh=mesh)
        net = model
    else:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        net = DDP(model, device_ids=ids, bucket_cap_mb=cfg.bucket_cap_mb)
        if cfg.strategy is RecordStrategy.DDP_FP16:
            from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

            net.register_comm_hook(dist.group.WORLD, default_hooks.fp16_compress_hook)
        elif cfg.strategy is RecordStrategy.DDP_POWERSGD:
            from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as psgd

            state = psgd.PowerSGDState(
                process_group=None,
                matrix_approximation_rank=cfg.powersgd_rank,
                start_powerSGD_iter=2,
                min_compression_rate=1.0,
            )
            # PowerSGD chains its all-reduces in future callbacks; on gloo those run on either
            # of its 2 worker threads, so two buckets in flight can launch collectives in a
            # different order on different ranks ("Received data size doesn't match", seen
            # with torch 2.13 + gloo). Bucket k therefore starts after bucket k-1 finished.
            last: list[Any] = []

            def serial_powersgd(st: Any, bucket: Any) -> Any:
                if last:
                    last[0].wait()
                fut = psgd.powerSGD_hook(st, bucket)
                last[:] = [fut]
                return fut

            # DDP checks the hook's annotations against real classes; ours are strings
            # (postponed annotations), so hand it an unannotated hook.
            serial_powersgd.__annotations__.clear()
            net.register_comm_hook(state, serial_powersgd)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr)
    x, y = _batch(cfg, 1000 + rank, device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        _loss(net(x), y).backward()
        opt.step()

    return step


def _tensor_parallel(cfg: RecordConfig, model: Any, device: Any) -> StepFn:
    """Megatron-style TP of every block with DTensor (q/k/v/fc1 column-, proj/fc2 row-wise)."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    mesh = init_device_mesh(device.type, (cfg.world,))
    plan = {
        "q": ColwiseParallel(),
        "k": ColwiseParallel(),
        "v": ColwiseParallel(),
        "proj": RowwiseParallel(),
        "fc1": ColwiseParallel(),
        "fc2": RowwiseParallel(),
    }
    for blk in model.blocks:
        parallelize_module(blk, mesh, plan)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    x, y = _batch(cfg, 1000, device)  # TP ranks see the same batch

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        _loss(model(x), y).backward()
        opt.step()

    return step


def _pipeline(cfg: RecordConfig, model: Any, rank: int, device: Any) -> StepFn:
    """One pipeline stage per rank (blocks split evenly), GPipe or 1F1B schedule."""
    import torch
    from torch import nn
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    n_layer = len(model.blocks)
    per = [n_layer // cfg.world + (1 if s < n_layer % cfg.world else 0) for s in range(cfg.world)]
    lo = sum(per[:rank])
    first, last = rank == 0, rank == cfg.world - 1

    class Stage(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = model.tok if first else None
            self.pos = model.pos if first else None
            self.blocks = nn.ModuleList(model.blocks[lo : lo + per[rank]])
            self.ln_f = model.ln_f if last else None
            self.head = model.head if last else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.tok is not None and self.pos is not None:
                x = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))
            for blk in self.blocks:
                x = blk(x)
            if self.head is not None and self.ln_f is not None:
                x = self.head(self.ln_f(x))
            return x

    stage_mod = Stage().to(device)
    stage = PipelineStage(stage_mod, rank, cfg.world, device)
    cls = ScheduleGPipe if cfg.strategy is RecordStrategy.PP_GPIPE else Schedule1F1B
    sched = cls(stage, n_microbatches=cfg.microbatches, loss_fn=_loss)
    opt = torch.optim.SGD(stage_mod.parameters(), lr=cfg.lr)
    x, y = _batch(cfg, 1000, device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        if first and last:
            sched.step(x, target=y)
        elif first:
            sched.step(x)
        elif last:
            sched.step(target=y)
        else:
            sched.step()
        opt.step()

    return step


def _param_server(cfg: RecordConfig, model: Any, rank: int, device: Any) -> StepFn:
    """Rank 0 holds the parameters; workers send gradients and receive parameters.

    ``ps-sync``: the server waits for every worker's gradient, averages, updates and sends the
    new parameters to all. ``ps-async``: the server applies each gradient as it arrives (any
    source) and answers that worker at once. Tensors are flattened into one buffer each way.
    """
    import torch
    import torch.distributed as dist

    params = [p for p in model.parameters() if p.requires_grad]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    buf = torch.empty_like(flat)
    workers = list(range(1, cfg.world))

    def unflatten(src: torch.Tensor) -> None:
        off = 0
        with torch.no_grad():
            for p in params:
                n = p.numel()
                p.copy_(src[off : off + n].view_as(p))
                off += n

    if rank == 0:

        def server_step() -> None:
            if cfg.strategy is RecordStrategy.PS_SYNC:
                acc = torch.zeros_like(flat)
                for w in workers:
                    dist.recv(buf, src=w)
                    acc += buf
                flat.sub_(acc, alpha=cfg.lr / len(workers))
                for w in workers:
                    dist.send(flat, dst=w)
            else:
                for _ in workers:
                    src = dist.recv(buf)
                    flat.sub_(buf, alpha=cfg.lr)
                    dist.send(flat, dst=src)

        return server_step

    x, y = _batch(cfg, 1000 + rank, device)

    def worker_step() -> None:
        for p in params:
            p.grad = None
        _loss(model(x), y).backward()
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        dist.send(grad, dst=0)
        dist.recv(buf, src=0)
        unflatten(buf)

    return worker_step


def _make_step(cfg: RecordConfig, model: Any, rank: int, device: Any) -> StepFn:
    s = cfg.strategy
    if s in (RecordStrategy.PP_GPIPE, RecordStrategy.PP_1F1B):
        return _pipeline(cfg, model, rank, device)
    if s is RecordStrategy.TP:
        return _tensor_parallel(cfg, model, device)
    if s in (RecordStrategy.PS_SYNC, RecordStrategy.PS_ASYNC):
        return _param_server(cfg, model, rank, device)
    return _data_parallel(cfg, model, rank, device)


def _install_accel(cfg: RecordConfig, model: Any) -> EmulatedDevice | None:
    """Accel mode: put the model's layer compute on an emulated device (else None)."""
    if cfg.device != "accel":
        return None

    assert cfg.device_times is not None, "the launcher measures device times first"
    return install_device(model, cfg.device_times)


def _device_info(dev: EmulatedDevice) -> dict[str, Any]:
    """Items run and how late they finished (s), for ``rank{r}.steps.json``."""
    return {
        "device_items": len(dev.log),
        "device_late_s_max": max(dev.late_s, default=0.0),
        "device_late_s_median": statistics.median(dev.late_s or [0.0]),
    }


def run(cfg: RecordConfig) -> None:
    """Train and profile on this rank; write this rank's files into ``cfg.out_dir``."""
    import torch
    import torch.distributed as dist
    from torch.profiler import ExecutionTraceObserver, ProfilerActivity, profile, schedule

    torch.set_num_threads(1)  # 2 ranks fit on 2 cores
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    if world != cfg.world:
        raise SystemExit(f"WORLD_SIZE={world} but the config says world={cfg.world}")
    if cfg.backend is CommBackend.NCCL:
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    dist.init_process_group(cfg.backend.value, rank=rank, world_size=world)
    torch.manual_seed(0)  # same initial weights on every rank
    model = build_model(cfg.model, cfg.gpt).to(device)
    accel = _install_accel(cfg, model)
    _annotate_layers(model)
    step = _make_step(cfg, model, rank, device)
    out = Path(cfg.out_dir)

    def sync() -> None:
        if accel is not None:
            accel.synchronize()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(cfg.warmup_steps):
        step()
    sync()
    dist.barrier()

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    et = None
    if cfg.execution_trace:
        et = ExecutionTraceObserver().register_callback(str(out / f"rank{rank}.et.json"))
    times: list[float] = []
    # torch.profiler's own schedule marks each measured step ``ProfilerStep#i`` (i = 1..steps),
    # the annotation HTA and Chakra's trace linker read; step 0 is the profiler's warm-up.
    sched = schedule(wait=0, warmup=1, active=cfg.steps, repeat=1)
    with profile(
        activities=activities,
        record_shapes=True,
        execution_trace_observer=et,
        schedule=sched,
    ) as prof:
        # Starting the profiler takes a different time on each rank; without this barrier the
        # first measured step of a fast-starting rank would include waiting for the others.
        dist.barrier()
        sync()
        prof.step()  # end of the warm-up "step": the measured steps start here
        for _ in range(cfg.steps):
            t0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t0)
            prof.step()
    prof.export_chrome_trace(str(out / f"rank{rank}.trace.json"))
    if et is not None:
        et.unregister_callback()
    info = {
        "rank": rank,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "torch_version": str(torch.__version__),
        "step_times_s": times,
    }
    if accel is not None:
        info.update(_device_info(accel))
    (out / f"rank{rank}.steps.json").write_text(json.dumps(info, indent=2))
    dist.barrier()
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m simulator.traces.worker CONFIG.json``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m simulator.traces.worker CONFIG.json", file=sys.stderr)
        return 2
    run(RecordConfig.read(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
