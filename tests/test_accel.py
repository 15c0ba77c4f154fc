"""Accelerator mode of the recorder: device time in place of layer arithmetic (no root).

The wrapped model must keep every parameter's gradient shape (so DDP, FSDP2, pipelining and
the parameter server move the same bytes), put each layer's forward and backward on the
device in autograd order, for rate x tokens seconds, and a 2-rank recording must issue the
same collectives as a CPU-mode one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch

from simulator.traces.accel import install_device, measure_device_times
from simulator.traces.accel_tp import TP_OPS, block_sums
from simulator.traces.device import EmulatedDevice
from simulator.traces.kineto import import_trace_dir
from simulator.traces.models import GPTConfig, build_gpt_tiny
from simulator.traces.recipe import RecordConfig, RecordStrategy
from simulator.traces.record import record

pytestmark = pytest.mark.torch

TINY = GPTConfig(vocab=64, d_model=32, n_head=4, n_layer=3, seq_len=8, batch=2)


class VirtualClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt


def _times(n_layer: int) -> dict[str, object]:
    return {
        "tokens": TINY.batch * TINY.seq_len,
        "block_fwd_s_per_token": [1e-3 * (i + 1) for i in range(n_layer)],
        "block_bwd_s_per_token": [2e-3 * (i + 1) for i in range(n_layer)],
        "head_fwd_s_per_token": 5e-4,
        "head_bwd_s_per_token": 7e-4,
    }


def test_device_runs_each_layer_in_autograd_order_for_rate_times_tokens() -> None:
    torch.manual_seed(0)
    model = build_gpt_tiny(TINY)
    clock = VirtualClock()
    dev = install_device(model, _times(TINY.n_layer), EmulatedDevice(clock.now, clock.sleep))
    idx = torch.randint(0, TINY.vocab, (TINY.batch, TINY.seq_len))
    logits = model(idx)
    assert logits.shape == (TINY.batch, TINY.seq_len, TINY.vocab)
    torch.nn.functional.cross_entropy(logits.reshape(-1, TINY.vocab), idx.reshape(-1)).backward()
    labels = [lab for lab, _, _ in dev.log]
    assert labels == [
        "layer0.fwd", "layer1.fwd", "layer2.fwd", "head.fwd",
        "head.bwd", "layer2.bwd", "layer1.bwd", "layer0.bwd",
    ]  # fmt: skip
    tokens = TINY.batch * TINY.seq_len
    took = {lab: end - start for lab, start, end in dev.log}
    assert took["layer1.fwd"] == pytest.approx(2e-3 * tokens)
    assert took["layer2.bwd"] == pytest.approx(6e-3 * tokens)
    assert took["head.bwd"] == pytest.approx(7e-4 * tokens)
    dev.close()


def test_every_parameter_gets_a_gradient_of_its_shape() -> None:
    model = build_gpt_tiny(TINY)
    clock = VirtualClock()
    install_device(model, _times(TINY.n_layer), EmulatedDevice(clock.now, clock.sleep))
    idx = torch.randint(0, TINY.vocab, (TINY.batch, TINY.seq_len))
    model(idx).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape and p.grad.dtype == p.dtype, name


def test_a_micro_batch_takes_its_share_of_the_time() -> None:
    model = build_gpt_tiny(TINY)
    clock = VirtualClock()
    dev = install_device(model, _times(TINY.n_layer), EmulatedDevice(clock.now, clock.sleep))
    model(torch.randint(0, TINY.vocab, (1, TINY.seq_len)))  # one sequence of the batch of 2
    took = {lab: end - start for lab, start, end in dev.log}
    assert took["layer0.fwd"] == pytest.approx(1e-3 * TINY.seq_len)


def test_wrong_times_are_refused() -> None:
    model = build_gpt_tiny(TINY)
    with pytest.raises(ValueError, match="blocks"):
        install_device(model, _times(TINY.n_layer + 1))


def test_measured_times_cover_every_block_and_the_head(tmp_path: Path) -> None:
    cfg = RecordConfig(world=1, strategy=RecordStrategy.DDP, steps=1, out_dir=str(tmp_path),
                       gpt=TINY)  # fmt: skip
    t = measure_device_times(cfg)
    assert t["tokens"] == TINY.batch * TINY.seq_len
    assert len(t["block_fwd_s_per_token"]) == TINY.n_layer
    assert all(x > 0 for x in t["block_fwd_s_per_token"] + t["block_bwd_s_per_token"])
    assert t["head_fwd_s_per_token"] > 0 and t["head_bwd_s_per_token"] > 0


def test_tp_times_are_one_ranks_shard_split_at_the_collectives(tmp_path: Path) -> None:
    cfg = RecordConfig(world=2, strategy=RecordStrategy.TP, steps=1, out_dir=str(tmp_path),
                       gpt=TINY, device="accel")  # fmt: skip
    t = measure_device_times(cfg)
    ops = t["tp_ops"]
    assert t["tp"] == 2 and set(ops) == set(TP_OPS)
    assert all(len(v) == TINY.n_layer and min(v) > 0 for v in ops.values())
    fwd, bwd = block_sums(ops)
    assert t["block_fwd_s_per_token"] == fwd and t["block_bwd_s_per_token"] == bwd


def test_accel_accepts_tp(tmp_path: Path) -> None:
    cfg = RecordConfig(world=2, strategy=RecordStrategy.TP, steps=1, out_dir=str(tmp_path),
                       gpt=TINY, device="accel")  # fmt: skip
    cfg.validate()  # no InputError: DTensor keeps its collectives (simulator.traces.accel_tp)


def _colls(path: Path) -> list[tuple[str, float]]:
    imp = import_trace_dir(path)
    return [(str(c.op), c.size_B) for c in imp.timelines[0][0].comms]


@pytest.mark.parametrize("strategy", [RecordStrategy.DDP, RecordStrategy.FSDP, RecordStrategy.TP])
def test_accel_recording_issues_the_cpu_modes_collectives(
    tmp_path: Path, strategy: RecordStrategy
) -> None:
    runs = {}
    for mode in ("cpu", "accel"):
        cfg = RecordConfig(
            world=2, strategy=strategy, steps=1, warmup_steps=1, out_dir=str(tmp_path / mode),
            gpt=TINY, bucket_cap_mb=0.01, execution_trace=False, device=mode,
        )  # fmt: skip
        manifest = record(cfg, timeout_s=300)
        runs[mode] = _colls(tmp_path / mode)
        assert manifest["config"]["device"] == mode
    assert runs["accel"] == runs["cpu"]
    assert runs["cpu"]  # there is something to compare
    # every layer's device time is its own forward and backward compute (FSDP2's hooks run
    # inside the backward node's op: the importer still finds the layer)
    tl = import_trace_dir(tmp_path / "accel").timelines[0][0]
    found = {(p.label.category, p.label.layer) for p in tl.pieces}
    for lay in range(TINY.n_layer):
        assert ("fwd", lay) in found and ("bwd", lay) in found, lay
    saved = RecordConfig.read(tmp_path / "accel" / "record_config.json")
    assert saved.device_times is not None
    assert len(saved.device_times["block_fwd_s_per_token"]) == TINY.n_layer
