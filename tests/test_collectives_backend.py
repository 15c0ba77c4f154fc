"""Backend profiles load strictly; shipped ones carry what the brief promises."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from simulator.collectives import load_backend, simulate_collective
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.topology import LinkKind, load_topology


def test_shipped_profiles():
    nccl = load_backend("nccl")
    gloo = load_backend("gloo")
    assert nccl.name == "nccl" and gloo.name == "gloo"
    assert 0.7 < nccl.efficiency[LinkKind.NVLINK] < 0.8
    assert gloo.concurrency == 2
    assert gloo.reduce_scatter_as_all_reduce and not nccl.reduce_scatter_as_all_reduce
    assert nccl.algorithms[CollectiveOp.ALL_REDUCE] == (
        Algorithm.RING,
        Algorithm.TREE,
        Algorithm.NVLS,
        Algorithm.NVLS_TREE,
    )
    assert gloo.algorithms[CollectiveOp.ALL_REDUCE] == (Algorithm.RING,)
    assert {p.name for p in nccl.protocols} == {"LL", "simple"}


def _dump(tmp_path, data):
    p = tmp_path / "calib.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_path_loads_like_a_name(tmp_path):
    src = load_backend("gloo").source
    with open(src) as fh:
        data = yaml.safe_load(fh)
    data["name"] = "gloo-calibrated"
    data["efficiency"]["ethernet"] = 0.9
    data["send_buffer"] = "1.5MiB"
    prof = load_backend(str(_dump(tmp_path, data)))
    assert prof.name == "gloo-calibrated"
    assert prof.efficiency[LinkKind.ETHERNET] == 0.9
    assert prof.send_buffer_B == 1.5 * 2**20
    assert load_backend("gloo").send_buffer_B == 0.0


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["efficiency"].update(nvlnk=0.5), "efficiency.nvlnk"),
        (lambda d: d["efficiency"].pop("wan"), "efficiency.wan"),
        (lambda d: d["efficiency"].update(pcie=1.5), "efficiency.pcie"),
        (
            lambda d: d["protocols"]["tcp"].update(base_latency="5 parsecs"),
            "protocols.tcp.base_latency",
        ),
        (lambda d: d["algorithms"].update(all_reduce=["butterfly"]), "algorithms.all_reduce"),
        (lambda d: d.update(concurrency=-1), "concurrency"),
        (lambda d: d.pop("channels"), "channels"),
        (lambda d: d.update(send_buffer="2 MB/s"), "send_buffer"),
        (lambda d: d.update(send_buffer=-1), "send_buffer"),
    ],
)
def test_bad_profile_names_file_and_field(tmp_path, edit, field):
    with open(load_backend("gloo").source) as fh:
        data = yaml.safe_load(fh)
    edit(data)
    path = _dump(tmp_path, data)
    with pytest.raises(InputError) as exc:
        load_backend(str(path))
    assert exc.value.file == str(path)
    assert exc.value.field == field


def test_unknown_name_lists_shipped():
    with pytest.raises(InputError, match="gloo, nccl"):
        load_backend("mpi")


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (lambda d: d.update(chanels=1), "chanels", "did you mean 'channels'?"),
        (lambda d: d["efficiency"].update(nvlnk=0.5), "efficiency.nvlnk", "did you mean 'nvlink'?"),
        (
            lambda d: d["protocols"]["tcp"].update(step_latnecy={}),
            "protocols.tcp.step_latnecy",
            "did you mean 'step_latency'?",
        ),
        (
            lambda d: d["algorithms"].update(all_reduse=["ring"]),
            "algorithms.all_reduse",
            "did you mean 'all_reduce'?",
        ),
        (
            lambda d: d["algorithms"].update(all_reduce=["rign"]),
            "algorithms.all_reduce",
            "did you mean 'ring'?",
        ),
        (lambda d: d["algorithms"].update(all_reduce=["auto"]), "algorithms.all_reduce", "auto"),
        (lambda d: d["efficiency"].update(pcie=0), "efficiency.pcie", "fraction in [0.001, 1]"),
        (lambda d: d["efficiency"].update(pcie=True), "efficiency.pcie", "expected a number"),
        (
            lambda d: d["protocols"]["tcp"].update(base_latency="50 Mbps"),
            "protocols.tcp.base_latency",
            "unknown unit",
        ),
        (
            lambda d: d["protocols"]["tcp"].update(base_latency="-5us"),
            "protocols.tcp.base_latency",
            "non-negative",
        ),
        (
            lambda d: d["protocols"]["tcp"]["step_latency"].pop("wan"),
            "protocols.tcp.step_latency.wan",
            "missing key",
        ),
        (
            lambda d: d.update(tree_max_algbw={"two_hosts": "5GB", "more_hosts": "1GB/s"}),
            "tree_max_algbw.two_hosts",
            "needs /s or ps",
        ),
        (
            lambda d: d.update(local_copy={"all_gather": -1}),
            "local_copy.all_gather",
            "non-negative",
        ),
        (lambda d: d.update(concurrency=1.5), "concurrency", "expected an integer, got 1.5"),
        (lambda d: d.update(channels=True), "channels", "expected an integer, got True"),
        (
            lambda d: d.update(reduce_scatter_as_all_reduce="yes"),
            "reduce_scatter_as_all_reduce",
            "true or false",
        ),
        (lambda d: d.update(protocols={}), "protocols", "non-empty mapping"),
    ],
)
def test_schema_errors_are_one_clear_line(tmp_path, edit, field, message):
    """Misspelt keys get the closest known key; units, signs and types name the field."""
    with open(load_backend("gloo").source) as fh:
        data = yaml.safe_load(fh)
    edit(data)
    path = _dump(tmp_path, data)
    with pytest.raises(InputError) as exc:
        load_backend(str(path))
    assert (exc.value.file, exc.value.field) == (str(path), field)
    assert message in exc.value.message
    assert "\n" not in str(exc.value)


def test_nccl_ring_ll_latency_is_the_tuner_of_nccl_2_18_and_later():
    """An 8 B ring all_reduce on 8 NVLink GPUs pays NCCL >= 2.18.1's tuning-model latency for
    Ring/LL, baseLat 6.6 us + 2 x (8 - 1) steps x hwLat[NVLINK] 0.6 us = 15.0 us
    (src/graph/tuning.cc at v2.18.5-1; NCCL <= 2.17 had 3.6 + 14 x 0.47 = 10.2 us), on top of
    the path latencies, which a profile with zero protocol latencies isolates."""
    nccl = load_backend("nccl")
    ll = next(p for p in nccl.protocols if p.name == "LL")
    bare_ll = replace(ll, base_latency_s=0.0, step_latency_s=dict.fromkeys(ll.step_latency_s, 0.0))
    topo = load_topology("dgx-a100")
    runs = [
        simulate_collective(
            topo,
            "all_reduce",
            8,
            algo="ring",
            fidelity="analytical",
            backend=replace(nccl, protocols=(p,)),
        )
        for p in (ll, bare_ll)
    ]
    assert runs[0].time_s - runs[1].time_s == pytest.approx(15.0e-6, rel=1e-6)
