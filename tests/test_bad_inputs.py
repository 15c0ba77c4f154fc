"""Bad and edge inputs across every command: one table, each row one user mistake.

Every case runs ``simulator.cli.main(argv)`` in-process (stderr captured, argparse's
``SystemExit`` caught) and asserts:

* the exit status (2 for bad input, 0 where the input is fine);
* stderr: no traceback, and for exit 2 exactly one error line (argparse's usage line and
  ``warning:`` lines aside) that names the expected field or flag;
* nothing over 10 s (a hang);
* the sentinel file in any output directory the case names is still there, unchanged.

A few cases also run as real subprocesses (the console script) to prove there is no traceback
and that a broken pipe exits quietly. Inputs are written into one shared folder ``{d}``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "traces"
SENTINEL = "sentinel.txt"
SENTINEL_TEXT = "the user's own file; commsim must not touch it\n"


@dataclass(frozen=True)
class Case:
    """One command line and what must happen."""

    id: str
    argv: tuple[str, ...]
    code: int = 2
    field: str = ""  # text the error line must contain (the field, flag or file named)
    sentinel: str | None = None  # an output directory (relative to {d}) holding SENTINEL
    extra: tuple[str, ...] = ()  # more text the line must contain


# ----------------------------------------------------------------------------- inputs

TINY = """\
name: tiny
topology: dgx-a100
model: {name: tiny, layers: 4, hidden: 512, heads: 8, vocab: 1024}
strategy: {tp: 2, pp: 1}
training: {global_batch: 8, micro_batch: 1, seq_len: 256}
reference: {step_time_s: 0.01, source: made up for the test}
"""

CONNECTED = """\
name: ok
nodes:
  - {name: g0, kind: gpu}
  - {name: g1, kind: gpu}
  - {name: sw, kind: switch}
links:
  - {a: g0, b: sw, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: g1, b: sw, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
"""


def _topo_variant(old: str, new: str) -> str:
    assert old in CONNECTED
    return CONNECTED.replace(old, new)


ISOLATED = CONNECTED.replace(
    "  - {name: sw, kind: switch}\n", "  - {name: sw, kind: switch}\n  - {name: g2, kind: gpu}\n"
)
TWO_ISLANDS = """\
name: islands
nodes:
  - {name: a0, kind: gpu}
  - {name: a1, kind: gpu}
  - {name: b0, kind: gpu}
  - {name: b1, kind: gpu}
links:
  - {a: a0, b: a1, bandwidth: 100Gbps, latency: 1us, kind: nvlink}
  - {a: b0, b: b1, bandwidth: 100Gbps, latency: 1us, kind: nvlink}
"""
BOMB = "".join(
    f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['x'] * 9)}]\n"
    for i in range(9)
)
ALIAS_BOMB_TOPO = CONNECTED + "metadata:\n" + BOMB

#: name -> file content (str: UTF-8 text, bytes: raw)
FILES: dict[str, str | bytes] = {
    "tiny.yaml": TINY,
    "dup-key.yaml": TINY + "training: {global_batch: 16}\n",
    "typo-top.yaml": TINY.replace("training:", "trainig:"),
    "not-utf8.yaml": TINY.encode() + b"description: caf\xe9\n",
    "deep.yaml": TINY + "description: " + "[" * 500 + "]" * 500 + "\n",
    "bomb.yaml": TINY + "extra:\n" + BOMB,
    "empty.yaml": "",
    "list.yaml": "- a\n- b\n",
    "syntax.yaml": TINY + "model: {layers: [1, 2\n",
    "tab.yaml": TINY + "\tname: x\n",
    "binary.yaml": bytes(range(256)),
    "no-model.yaml": "\n".join(ln for ln in TINY.splitlines() if not ln.startswith("model")),
    "bad-topo-ref.yaml": TINY.replace("topology: dgx-a100", "topology: dgx-a100-8nodee"),
    "bad-backend-ref.yaml": TINY + "backend: ncll\n",
    "compare-collide.yaml": TINY
    + "compare:\n  - {name: 'a b', set: {strategy.tp: 1}}\n"
    + "  - {name: 'a_b', set: {strategy.tp: 2}}\n",
    "topo-ok.yaml": CONNECTED,
    "topo-isolated.yaml": ISOLATED,
    "topo-islands.yaml": TWO_ISLANDS,
    "topo-bomb.yaml": ALIAS_BOMB_TOPO,
    "topo-meta-inf.yaml": CONNECTED + "metadata: {x: .inf}\n",
    "topo-unknown-key.yaml": CONNECTED + "colour: red\n",
    "topo-dup-node.yaml": CONNECTED.replace(
        "  - {name: sw, kind: switch}\n",
        "  - {name: sw, kind: switch}\n  - {name: g0, kind: gpu}\n",
    ),
    "topo-missing-node.yaml": _topo_variant("{a: g1, b: sw", "{a: g9, b: sw"),
    "topo-bw-inf.yaml": _topo_variant(
        "{a: g0, b: sw, bandwidth: 100Gbps", "{a: g0, b: sw, bandwidth: .inf"
    ),
    "topo-bw-neg.yaml": _topo_variant(
        "{a: g0, b: sw, bandwidth: 100Gbps", "{a: g0, b: sw, bandwidth: -5"
    ),
    "topo-bw-size.yaml": _topo_variant(
        "{a: g0, b: sw, bandwidth: 100Gbps", "{a: g0, b: sw, bandwidth: 400GB"
    ),
    "topo-bw-parsec.yaml": _topo_variant(
        "{a: g0, b: sw, bandwidth: 100Gbps", "{a: g0, b: sw, bandwidth: 12 parsecs"
    ),
    "topo-bw-1e400.yaml": _topo_variant(
        "{a: g0, b: sw, bandwidth: 100Gbps", "{a: g0, b: sw, bandwidth: 1e400 Gbps"
    ),
    "topo-lat-abc.yaml": _topo_variant(
        "latency: 1us, kind: ethernet}\n  - {a: g1", "latency: abc, kind: ethernet}\n  - {a: g1"
    ),
    "topo-lat-nan.yaml": _topo_variant(
        "latency: 1us, kind: ethernet}\n  - {a: g1", "latency: .nan, kind: ethernet}\n  - {a: g1"
    ),
    "topo-kind.yaml": _topo_variant("kind: ethernet}\n  - {a: g1", "kind: pigeon}\n  - {a: g1"),
    "topo-node-kind.yaml": CONNECTED.replace(
        "{name: sw, kind: switch}", "{name: sw, kind: router}"
    ),
    "topo-nodes-str.yaml": "name: x\nnodes: abc\nlinks: []\n",
    "topo-no-nodes.yaml": "name: x\nnodes: []\nlinks: []\n",
    "topo-rank-switch.yaml": CONNECTED + "ranks: [sw]\n",
    "topo-rank-missing.yaml": CONNECTED + "ranks: [g7]\n",
    "topo-huge.yaml": "name: huge\nbuild: {type: cluster, nodes: 10000000}\n",
    "topo-huge-gpus.yaml": "name: huge\nbuild: {type: cluster, nodes: 2, gpus_per_node: 100000}\n",
    "topo-huge-torus.yaml": "name: huge\nbuild: {type: torus, dims: [1000, 1000, 1000]}\n",
    "topo-builder.yaml": "name: x\nbuild: {type: hypercube}\n",
    "topo-builder-param.yaml": "name: x\nbuild: {type: cluster, nodez: 2}\n",
    "topo-both.yaml": CONNECTED + "build: {type: cluster}\n",
    "topo-routing.yaml": CONNECTED + "routing: {ecmp: random}\n",
    "topo-dup-key.yaml": CONNECTED + "name: again\n",
    "topo-not-utf8.yaml": CONNECTED.encode() + b"description: \xff\xfe\n",
    "topo-deep.yaml": CONNECTED + "metadata: {x: " + "[" * 300 + "]" * 300 + "}\n",
    "prices-inf.yaml": "A100-80GB: .inf\n",
    "gloo-channels-huge.yaml": (ROOT / "simulator/data/backends/gloo.yaml")
    .read_text()
    .replace("\nchannels: 1\n", "\nchannels: 1000000000000000000000000000000\n"),
    "a-file": "I am a file, not a directory\n",
    "existing.png": "not really a png, but the user's\n",
}


def _traces(d: Path) -> None:
    """Broken copies of the recorded fixture traces."""
    nccl = FIXTURES / "nccl-2"
    gloo = FIXTURES / "ddp-2-gloo"

    def copy(src: Path, name: str) -> Path:
        dst = d / name
        shutil.copytree(src, dst)
        return dst

    copy(nccl, "tr-events-ints")
    (d / "tr-events-ints" / "rank0.trace.json").write_text('{"traceEvents":[1,2,3]}')
    t = copy(nccl, "tr-ts-text")
    doc = json.loads((t / "rank0.trace.json").read_text())
    for e in doc["traceEvents"]:
        if e.get("ph") == "X":
            e["ts"] = "yesterday"
            break
    (t / "rank0.trace.json").write_text(json.dumps(doc))
    t = copy(nccl, "tr-dur-inf")
    doc = json.loads((t / "rank0.trace.json").read_text())
    for e in doc["traceEvents"]:
        if e.get("ph") == "X":
            e["dur"] = 1e400
            break
    (t / "rank0.trace.json").write_text(json.dumps(doc))
    t = copy(gloo, "tr-gz-truncated")
    data = (t / "rank0.trace.json.gz").read_bytes()
    (t / "rank0.trace.json.gz").write_bytes(data[: len(data) // 3])
    t = copy(gloo, "tr-gz-garbage")
    (t / "rank1.trace.json.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    t = copy(nccl, "tr-not-json")
    (t / "rank1.trace.json").write_text("{not json")
    t = copy(nccl, "tr-not-object")
    (t / "rank1.trace.json").write_text('"a string"')
    t = copy(nccl, "tr-manifest-bad")
    (t / "manifest.json").write_text("[1, 2")
    t = copy(nccl, "tr-manifest-list")
    (t / "manifest.json").write_text("[1, 2]")
    t = copy(nccl, "tr-hole")
    (t / "rank1.trace.json").unlink()  # a world of 2 with rank 1 missing
    (d / "tr-empty").mkdir()
    (d / "et-garbage").mkdir()
    (d / "et-garbage" / "x.0.et").write_bytes(b"\xff" * 64)
    (d / "et-truncated").mkdir()
    (d / "et-truncated" / "x.0.et").write_bytes(b"\x8f\x01\x0a")
    copy(gloo, "tr-gloo")
    _typed_traces(d)


def _typed_traces(d: Path) -> None:
    """Copies whose values have the right place but an absurd size or the wrong type."""
    t = d / "tr-world-huge"  # a world of 10^30 ranks used to hang building 10^30 timelines
    shutil.copytree(FIXTURES / "nccl-2", t)
    doc = json.loads((t / "rank0.trace.json").read_text())
    doc["distributedInfo"]["world_size"] = 10**30
    (t / "rank0.trace.json").write_text(json.dumps(doc))
    t = d / "tr-dims-float"  # an ``Input Dims`` that is a number was a TypeError, unlocated
    shutil.copytree(FIXTURES / "ddp-2-gloo", t)
    f = t / "rank0.trace.json.gz"
    doc = json.loads(gzip.decompress(f.read_bytes()))
    for e in doc["traceEvents"]:
        if "Input Dims" in (e.get("args") or {}):
            e["args"]["Input Dims"] = 1.5
            break
    f.write_bytes(gzip.compress(json.dumps(doc).encode()))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad-inputs")
    for name, content in FILES.items():
        p = d / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    _traces(d)
    # import everything once, so a case's 10 s bound times the case, not the interpreter's imports
    run_case(["run", str(d / "tiny.yaml"), "--set", "strategy.tp=0"], limit_s=300)
    run_case(["topology", "show", "dgx-a100", "--json"], limit_s=300)
    return d


# ----------------------------------------------------------------------------- the table

T = "{d}/tiny.yaml"
RUN = ("run", T)

INT_FIELDS = (
    "strategy.tp",
    "strategy.pp",
    "strategy.dp",
    "strategy.ep",
    "model.layers",
    "model.hidden",
    "model.heads",
    "model.vocab",
    "model.experts",
    "model.top_k",
    "training.global_batch",
    "training.micro_batch",
    "training.seq_len",
    "strategy.pipeline.virtual_stages",
    "strategy.compression.rank",
    "strategy.local_sgd.period",
    "strategy.parameter_server.servers",
    "strategy.parameter_server.steps",
)
BAD_INTS = ("0", "-1", "true", "2.5", "abc", ".inf", ".nan", "[1, 2]", "{a: 1}")
FLOAT_FIELDS = (
    "hardware.mfu",
    "hardware.memory_efficiency",
    "strategy.compression.ratio",
    "reference.step_time_s",
    "network.bandwidth_scale.nvlink",
    "network.latency_scale.infiniband",
)
BAD_FLOATS = ("0", "-1", ".inf", "-.inf", ".nan", "abc", "true")
ENUM_FIELDS = (
    "strategy.kind",
    "strategy.data_parallel.mode",
    "strategy.pipeline.schedule",
    "training.dtype",
    "training.recompute",
    "strategy.compression.kind",
    "strategy.tensor.qkv",
    "fidelity",
    "strategy.data_parallel.hierarchical",
)
BAD_ENUMS = ("nosuch", "3", "true")
BOOL_FIELDS = (
    "strategy.sequence_parallel",
    "model.gated_mlp",
    "strategy.fold",
    "model.flash_attention",
)
BAD_BOOLS = ("1", "0", "abc")
BAD_SIZES = ("12 parsecs", "-1", ".inf", "0", "1e400", "true", "1GB/s", "[1]")


def _cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    # --- run --set: every schema field refuses bad values, naming the field
    for f in INT_FIELDS:
        for v in BAD_INTS:
            add(Case(f"set-{f}={v}", (*RUN, "--set", f"{f}={v}"), field=f))
    for f in FLOAT_FIELDS:
        for v in BAD_FLOATS:
            add(Case(f"set-{f}={v}", (*RUN, "--set", f"{f}={v}"), field=f))
    for v in BAD_SIZES:
        f = "strategy.data_parallel.bucket_size"
        add(Case(f"set-bucket={v}", (*RUN, "--set", f"{f}={v}"), field=f))
    for f in ENUM_FIELDS:
        for v in BAD_ENUMS:
            add(Case(f"set-{f}={v}", (*RUN, "--set", f"{f}={v}"), field=f))
    for f in BOOL_FIELDS:
        for v in BAD_BOOLS:
            add(Case(f"set-{f}={v}", (*RUN, "--set", f"{f}={v}"), field=f))
    for key, near in (
        ("trainig.global_batch", "training"),  # the unknown top-level key is named: trainig
        ("strategy.tpp", "tp"),
        ("model.layer", "layers"),
        ("strategy.data_parallel.bucket", "bucket_size"),
        ("hardware.mfuu", "mfu"),
        ("strategy.pipeline.shedule", "schedule"),
    ):
        named = key if not key.startswith("trainig") else "trainig"
        add(Case(f"set-typo-{key}", (*RUN, "--set", f"{key}=1"), field=named, extra=(near,)))
    # cross-field checks
    add(Case("hidden%heads", (*RUN, "--set", "model.heads=7"), field="model.hidden"))
    add(Case("heads%kv", (*RUN, "--set", "model.kv_heads=3"), field="model.kv_heads"))
    add(Case("top_k>experts", (*RUN, "--set", "model.top_k=2"), field="model.top_k"))
    add(Case("layers%pp", (*RUN, "--set", "strategy.pp=3"), field="strategy.pp"))
    add(Case("vstages", (*RUN, "--set", "strategy.pipeline.virtual_stages=2"),
             field="strategy.pipeline.virtual_stages"))  # fmt: skip
    add(Case("batch%dp", (*RUN, "--set", "strategy.dp=3"), field="training.global_batch"))
    add(Case("mfu-source", (*RUN, "--set", "hardware.mfu=0.5"), field="hardware.mfu_source"))
    add(Case("unknown-gpu", (*RUN, "--set", "hardware.gpu=Z80"), field="hardware"))
    add(Case("tp>world", (*RUN, "--set", "strategy.tp=16"), field="strategy"))
    # --set syntax
    add(Case("set-no-eq", (*RUN, "--set", "strategy.tp"), field="--set"))
    add(Case("set-empty-key", (*RUN, "--set", "=3"), field="--set"))
    add(Case("set-dots", (*RUN, "--set", "a..b=1"), field="a..b"))
    add(Case("set-not-section", (*RUN, "--set", "strategy.tp.x=1"), field="strategy.tp"))
    add(Case("set-yaml-syntax", (*RUN, "--set", "strategy.tp=[1"), field="strategy.tp"))
    bomb = ", ".join(f"&x{k} [{', '.join([f'*x{k - 1}' if k else '1'] * 10)}]" for k in range(6))
    add(Case("set-bomb", (*RUN, "--set", f"model.name=[{bomb}]"), field="model.name"))
    # references that do not exist name the scenario file and the field
    add(Case("topology-ref", ("run", "{d}/bad-topo-ref.yaml"), field="topology",
             extra=("bad-topo-ref.yaml",)))  # fmt: skip
    add(Case("backend-ref", ("run", "{d}/bad-backend-ref.yaml"), field="backend",
             extra=("bad-backend-ref.yaml",)))  # fmt: skip
    add(Case("set-topology-nosuch", (*RUN, "--set", "topology=nosuch"), field="topology"))
    add(Case("set-topology-isolated", (*RUN, "--set", "topology={d}/topo-isolated.yaml"),
             field="topology", extra=("g2",)))  # fmt: skip
    # scenario files
    add(Case("dup-key", ("run", "{d}/dup-key.yaml"), field="dup-key.yaml:7:1",
             extra=("duplicate key 'training'", "line 5")))  # fmt: skip
    add(Case("typo-top", ("run", "{d}/typo-top.yaml"), field="trainig",
             extra=("did you mean 'training'",)))  # fmt: skip
    add(Case("not-utf8", ("run", "{d}/not-utf8.yaml"), field="not-utf8.yaml", extra=("UTF-8",)))
    add(Case("deep", ("run", "{d}/deep.yaml"), field="deep.yaml:7:", extra=("nested deeper",)))
    add(Case("bomb", ("run", "{d}/bomb.yaml"), field="bomb.yaml", extra=("alias",)))
    add(Case("empty", ("run", "{d}/empty.yaml"), field="empty.yaml"))
    add(Case("list", ("run", "{d}/list.yaml"), field="list.yaml"))
    add(Case("syntax", ("run", "{d}/syntax.yaml"), field="syntax.yaml:8:"))
    add(Case("tab", ("run", "{d}/tab.yaml"), field="tab.yaml:7:"))
    add(Case("binary", ("run", "{d}/binary.yaml"), field="binary.yaml"))
    add(Case("no-model", ("run", "{d}/no-model.yaml"), field="model", extra=("required",)))
    add(Case("nosuch-scenario", ("run", "{d}/nosuch.yaml"), field="nosuch.yaml"))
    add(Case("scenario-is-dir", ("run", "{d}/tr-empty"), field="tr-empty"))
    # refuse before building (each used to hang)
    add(Case("batch-in-tokens", ("run", "gpt3-175b-64xa100", "--set",
             "training.global_batch=4000000"), field="training.global_batch",
             extra=("limit",)))  # fmt: skip
    add(Case("bucket-25-bytes", ("run", "gpt3-175b-1024xh100", "--set",
             "strategy.data_parallel.bucket_size=25"), field="strategy.data_parallel.bucket_size",
             extra=("limit",)))  # fmt: skip
    add(Case("ten-million-gpus", (*RUN, "--set", "topology={d}/topo-huge.yaml"),
             field="build.nodes"))  # fmt: skip
    add(Case("layers-huge", (*RUN, "--set", "model.layers=100000000"), field="model.layers"))
    # run flags and output directories
    add(Case("links-neg", (*RUN, "--links", "-3"), field="--links"))
    add(Case("links-text", (*RUN, "--links", "x"), field="--links"))
    add(Case("run-fidelity", (*RUN, "--fidelity", "exact"), field="--fidelity"))
    add(Case("run-backend", (*RUN, "--backend", "nosuch"), field="--backend"))
    add(Case("run-out-nonempty", (*RUN, "--out", "{d}/user-dir-run"), field="--out",
             sentinel="user-dir-run"))  # fmt: skip
    add(Case("run-out-file", (*RUN, "--out", "{d}/a-file"), field="--out"))
    add(Case("run-out-under-file", (*RUN, "--out", "{d}/a-file/sub"), field="--out"))
    add(Case("run-no-scenario", ("run",), field="SCENARIO"))
    # topology show
    for name, fld in (
        ("topo-isolated", "links"),
        ("topo-islands", "links"),
        ("topo-bomb", "topo-bomb.yaml"),
        ("topo-meta-inf", "metadata.x"),
        ("topo-unknown-key", "colour"),
        ("topo-dup-node", "nodes[3].name"),
        ("topo-missing-node", "links[1].a"),
        ("topo-bw-inf", "links[0].bandwidth"),
        ("topo-bw-neg", "links[0].bandwidth"),
        ("topo-bw-size", "links[0].bandwidth"),
        ("topo-bw-parsec", "links[0].bandwidth"),
        ("topo-bw-1e400", "links[0].bandwidth"),
        ("topo-lat-abc", "links[0].latency"),
        ("topo-lat-nan", "links[0].latency"),
        ("topo-kind", "links[0].kind"),
        ("topo-node-kind", "nodes[2].kind"),
        ("topo-nodes-str", "nodes"),
        ("topo-no-nodes", "nodes"),
        ("topo-rank-switch", "ranks[0]"),
        ("topo-rank-missing", "ranks[0]"),
        ("topo-huge", "build.nodes"),
        ("topo-huge-gpus", "build.gpus_per_node"),
        ("topo-huge-torus", "build.dims"),
        ("topo-builder", "build.type"),
        ("topo-builder-param", "build.nodez"),
        ("topo-both", "nodes"),
        ("topo-routing", "routing.ecmp"),
        ("topo-dup-key", "topo-dup-key.yaml:9:1"),
        ("topo-not-utf8", "topo-not-utf8.yaml"),
        ("topo-deep", "topo-deep.yaml:9:"),
    ):
        add(Case(f"show-{name}", ("topology", "show", f"{{d}}/{name}.yaml", "--json"), field=fld))
    add(Case("show-nosuch", ("topology", "show", "nosuch"), field="nosuch"))
    add(Case("show-png-ext", ("topology", "show", "dgx-a100", "--png", "{d}/x.xyz"),
             field="--png"))  # fmt: skip
    add(Case("show-png-exists", ("topology", "show", "dgx-a100", "--png", "{d}/existing.png"),
             field="--png"))  # fmt: skip
    add(Case("show-png-under-file", ("topology", "show", "dgx-a100", "--png",
             "{d}/a-file/x.png"), field="--png"))  # fmt: skip
    add(Case("topology-no-sub", ("topology",), field="SUBCOMMAND"))
    # collective
    col = ("collective", "--topology", "dgx-a100")
    ar = (*col, "--op", "all_reduce")
    for name, args, fld in (
        ("op", ("--op", "allreduse", "--size", "1MiB"), "op"),
        ("size-parsec", ("--op", "all_reduce", "--size", "12 parsecs"), "--size"),
        ("size-neg", ("--op", "all_reduce", "--size", "-1"), "--size"),
        ("size-inf", ("--op", "all_reduce", "--size", "inf"), "--size"),
        ("size-1e400", ("--op", "all_reduce", "--size", "1e400"), "--size"),
        ("size-rate", ("--op", "all_reduce", "--size", "1GB/s"), "--size"),
    ):
        add(Case(f"col-{name}", (*col, *args), field=fld))
    for v in ("1KiB:1e400", "1:0", "abc", "1KiB", "0:1KiB", "1:1e300", "8GiB:1KiB", ":", "1KiB:inf",
              "-1:1KiB"):  # fmt: skip
        add(Case(f"col-sizes-{v}", (*ar, "--sizes", v), field="--sizes"))
    for v in ("a-b", "5-2", "0-99", "0,0", "0-1000000000", "x", "0-", "99"):
        add(Case(f"col-ranks-{v}", (*ar, "--size", "1MiB", "--ranks", v), field="ranks"))
    add(Case("col-root-99", (*col, "--op", "broadcast", "--size", "1MiB", "--root", "99"),
             field="--root"))  # fmt: skip
    add(Case("col-root-neg", (*col, "--op", "reduce", "--size", "1MiB", "--root", "-1"),
             field="--root"))  # fmt: skip
    add(Case("col-sendrecv-3", (*col, "--op", "send_recv", "--size", "1MiB", "--ranks", "0-2"),
             field="--ranks"))  # fmt: skip
    add(Case("col-sendrecv-all", (*col, "--op", "send_recv", "--size", "1MiB"), field="--ranks"))
    for v in ("0", "-1", "100000000"):
        add(Case(f"col-channels-{v}", (*ar, "--size", "1MiB", "--channels", v),
                 field="--channels"))  # fmt: skip
    for v in ("0", "-5", "100000000"):
        add(Case(f"col-chunks-{v}", (*ar, "--size", "1MiB", "--fidelity", "chunk", "--chunks", v),
                 field="--chunks"))  # fmt: skip
    add(Case("col-algo", (*ar, "--size", "1MiB", "--algo", "bogus"), field="algo"))
    add(Case("col-backend", (*ar, "--size", "1MiB", "--backend", "nosuch"), field="nosuch"))
    add(Case("col-fidelity", (*ar, "--size", "1MiB", "--fidelity", "exact"), field="fidelity"))
    add(Case("col-topology", ("collective", "--topology", "nosuch", "--op", "all_reduce",
             "--size", "1MiB"), field="nosuch"))  # fmt: skip
    add(Case("col-isolated", ("collective", "--topology", "{d}/topo-isolated.yaml", "--op",
             "all_reduce", "--size", "1MiB"), field="links", extra=("g2",)))  # fmt: skip
    profile = "{d}/gloo-channels-huge.yaml"  # a profile's 10^30 channels planned 10^30 rings
    add(Case("col-profile-channels", (*ar, "--size", "1MiB", "--backend", profile),
             field="channels"))  # fmt: skip
    add(Case("col-size-and-sizes", (*ar, "--size", "1MiB", "--sizes", "1:2"), field="--sizes"))
    # replay
    rp = ("replay",)
    for name, fld in (
        ("tr-events-ints", "traceEvents[0]"),
        ("tr-ts-text", "ts"),
        ("tr-dur-inf", "dur"),
        ("tr-gz-truncated", "rank0.trace.json.gz"),
        ("tr-gz-garbage", "rank1.trace.json.gz"),
        ("tr-not-json", "rank1.trace.json"),
        ("tr-not-object", "traceEvents"),
        ("tr-manifest-bad", "manifest.json"),
        ("tr-manifest-list", "manifest.json"),
        ("tr-hole", "--mirror-ranks"),
        ("tr-empty", "tr-empty"),
        ("et-garbage", "et-garbage"),
        ("et-truncated", "et-truncated"),
        ("tr-world-huge", "distributedInfo.world_size"),
        ("tr-dims-float", "args.Input Dims"),
    ):
        extra: tuple[str, ...] = ("--topology", "dgx-a100") if name.startswith("et-") else ()
        add(Case(f"replay-{name}", (*rp, f"{{d}}/{name}", *extra), field=fld))
    g = "{d}/tr-gloo"
    add(Case("replay-not-dir", (*rp, "{d}/a-file"), field="a-file"))
    add(Case("replay-world-0", (*rp, g, "--world", "0"), field="--world"))
    add(Case("replay-world-neg", (*rp, g, "--world", "-2"), field="--world"))
    add(Case("replay-tp-world-3", (*rp, g, "--strategy", "tp", "--world", "3", "--topology",
             "loopback-4"), field="--world"))  # fmt: skip
    add(Case("replay-strategy", (*rp, g, "--strategy", "bogus"), field="--strategy"))
    add(Case("replay-topology", (*rp, g, "--topology", "nosuch"), field="nosuch"))
    add(Case("replay-world-big", (*rp, g, "--world", "64", "--topology", "loopback-4"),
             field="--world"))  # fmt: skip
    add(Case("replay-chakra-out", (*rp, g, "--chakra-out", "{d}/user-dir-chakra"),
             field="--chakra-out", sentinel="user-dir-chakra"))  # fmt: skip
    add(Case("replay-chakra-out-file", (*rp, g, "--chakra-out", "{d}/a-file"),
             field="--chakra-out"))  # fmt: skip
    add(Case("replay-fidelity", (*rp, g, "--fidelity", "exact"), field="--fidelity"))
    # record (all refused before any rank starts)
    rec = ("record", "--world", "2", "--strategy", "ddp")
    for flag, v in (
        ("--microbatches", "0"),
        ("--steps", "0"),
        ("--layers", "0"),
        ("--batch", "0"),
        ("--seq-len", "-1"),
        ("--d-model", "0"),
        ("--warmup", "-1"),
        ("--bucket-cap-mb", "0"),
        ("--bucket-cap-mb", "nan"),
        ("--bucket-cap-mb", "inf"),
        ("--timeout", "-1"),
        ("--model", "nosuch:factory"),
        ("--model", "os:nosuch"),
        ("--model", "justaname"),
    ):
        add(Case(f"record{flag}={v}", (*rec, flag, v, "--out", "{d}/rec-new"), field=flag))
    add(Case("record-world-0", ("record", "--world", "0", "--strategy", "ddp", "--out",
             "{d}/rec-new"), field="--world"))  # fmt: skip
    add(Case("record-out-nonempty", (*rec, "--out", "{d}/user-dir-rec"), field="--out",
             sentinel="user-dir-rec"))  # fmt: skip
    add(Case("record-out-under-file", (*rec, "--out", "{d}/a-file/x"), field="--out"))
    add(Case("record-strategy", ("record", "--world", "2", "--strategy", "magic", "--out",
             "{d}/rec-new"), field="--strategy"))  # fmt: skip
    # sweep
    sw = ("sweep", T, "--scheduler", "inline")
    for name, args, fld in (
        ("vary-form", ("--vary", "strategy.tp"), "--vary"),
        ("vary-empty", ("--vary", "strategy.tp="), "--vary"),
        ("vary-twice", ("--vary", "strategy.tp=1,2", "--vary", "strategy.tp=4"), "--vary"),
        ("vary-typo", ("--vary", "strategy.tpp=1,2"), "strategy.tpp"),
        ("vary-all-bad", ("--vary", "strategy.tp=0,-1"), "strategy.tp"),
        ("no-vary", (), "--vary"),
        ("workers-0", ("--vary", "strategy.tp=1,2", "--workers", "0"), "--workers"),
        ("resume-no-out", ("--vary", "strategy.tp=1,2", "--resume"), "--resume"),
        ("timeout-neg", ("--vary", "strategy.tp=1,2", "--timeout", "-1"), "--timeout"),
        ("timeout-inf", ("--vary", "strategy.tp=1,2", "--timeout", "inf"), "--timeout"),
        ("lost-0", ("--vary", "strategy.tp=1,2", "--lost-after", "0"), "--lost-after"),
        ("set-bad", ("--vary", "strategy.tp=1,2", "--set", "model.layers=0"), "model.layers"),
        (
            "resume-nothing",
            ("--vary", "strategy.tp=1,2", "--out", "{d}/sweep-empty", "--resume"),
            "--resume",
        ),
    ):
        add(Case(f"sweep-{name}", (*sw, *args), field=fld))
    add(Case("sweep-out-nonempty", (*sw, "--vary", "strategy.tp=1,2", "--out",
             "{d}/user-dir-sweep"), field="--out", sentinel="user-dir-sweep"))  # fmt: skip
    add(Case("sweep-scheduler", ("sweep", T, "--vary", "strategy.tp=1,2", "--scheduler",
             "tcp://127.0.0.1:1"), field="--scheduler"))  # fmt: skip
    # plan
    pl = ("plan", T, "--scheduler", "inline")
    for name, args, fld in (
        ("topo-typo", ("--target-step", "10s", "--topologies", "dgx-a100-8nodee"), "--topologies"),
        (
            "topo-isolated",
            ("--target-step", "10s", "--topologies", "{d}/topo-isolated.yaml"),
            "--topologies",
        ),
        (
            "target-parsec",
            ("--target-step", "1 parsec", "--topologies", "dgx-a100"),
            "--target-step",
        ),
        ("target-inf", ("--target-step", "inf", "--topologies", "dgx-a100"), "--target-step"),
        ("target-0", ("--target-step", "0", "--topologies", "dgx-a100"), "--target-step"),
        ("tp-x", ("--target-step", "10s", "--topologies", "dgx-a100", "--tp", "x"), "--tp"),
        ("pp-x", ("--target-step", "10s", "--topologies", "dgx-a100", "--pp", "1,x"), "--pp"),
        ("no-topologies", ("--target-step", "10s", "--topologies", ","), "--topologies"),
        (
            "prices-inf",  # an infinite price was accepted and every cost printed as inf
            ("--target-step", "10s", "--topologies", "dgx-a100", "--prices", "{d}/prices-inf.yaml"),
            "A100-80GB",
        ),
        (
            "workers-0",
            ("--target-step", "10s", "--topologies", "dgx-a100", "--workers", "0"),
            "--workers",
        ),
    ):
        add(Case(f"plan-{name}", (*pl, *args), field=fld))
    # validate and rig: flags checked before anything runs
    add(Case("validate-world", ("validate", "--topology", "rig-2host", "--world", "4"),
             field="--world"))  # fmt: skip
    add(Case("rig-plan-nosuch", ("rig", "plan", "nosuch"), field="nosuch"))
    add(Case("rig-plan-gpu-topo", ("rig", "plan", "dgx-a100"), field="dgx-a100"))
    add(Case("unknown-command", ("simulate",), field="COMMAND"))
    # run --steps/--seed: outsized step counts are refused before drawing (10^9 was an
    # internal error: a 60 GiB array), a negative seed names --seed (it named --steps)
    add(Case("run-steps-huge", (*RUN, "--steps", "1000000000"), field="--steps",
             extra=("limit",)))  # fmt: skip
    add(Case("run-exact-steps-huge", (*RUN, "--steps", "1000000", "--exact-steps"),
             field="--steps", extra=("simulated ops",)))  # fmt: skip
    for key, val in (("compute_factor", ".inf"), ("compute_factor", ".nan")):
        faults = f"faults={{slow_ranks: [{{ranks: [0], {key}: {val}}}]}}"  # inf: exit 1 (nan times)
        add(Case(f"run-faults-{key}={val}", (*RUN, "--set", faults),
                 field=f"faults.slow_ranks[0].{key}"))  # fmt: skip
    add(Case("run-faults-stall-inf", (*RUN, "--set",
             "faults={stalls: [{ranks: [0], every: 2, duration: .inf}]}"),
             field="faults.stalls[0].duration"))  # fmt: skip
    add(Case("run-seed-neg", (*RUN, "--steps", "2", "--seed", "-1"), field="--seed"))
    # pairwise collectives count n (n - 1) flows (a 1,024-rank all-to-all ran past a minute)
    for op, algo in (("all_to_all", ()), ("all_reduce", ("--algo", "direct"))):
        add(Case(f"col-pairwise-1024-{op}", ("collective", "--topology", "h100-superpod-1024",
                 "--op", op, *algo, "--size", "1GiB"), field="--ranks", extra=("flows",)))  # fmt: skip
    # output files and --published's flags are checked before minutes of work (a bad one ran
    # the whole published validation first; sweep --plot overwrote an existing file)
    for name, args, fld in (
        ("sweep-plot-exists", (*sw, "--vary", "strategy.tp=1,2", "--plot", "{d}/existing.png"),
         "--plot"),
        ("sweep-plot-ext", (*sw, "--vary", "strategy.tp=1,2", "--plot", "{d}/x.txt"), "--plot"),
        ("validate-pub-plot-exists", ("validate", "--published", "--plot", "{d}/existing.png"),
         "--plot"),
        ("validate-pub-backend", ("validate", "--published", "--backend", "nosuch"), "--backend"),
        ("validate-pub-world", ("validate", "--published", "--world", "0"), "--world"),
        ("validate-pub-doc-missing", ("validate", "--published", "--write-doc", "{d}/no.md"),
         "--write-doc"),
        ("validate-pub-doc-markers", ("validate", "--published", "--write-doc", "{d}/a-file"),
         "--write-doc"),
        ("validate-rig-plot-ext", ("validate", "--plot", "{d}/x.txt"), "--plot"),
    ):  # fmt: skip
        add(Case(name, args, field=fld))
    # fine inputs: exit 0
    add(Case("ok-collective", (*ar, "--size", "1MiB", "--json"), code=0))
    add(Case("ok-collective-sizes", (*ar, "--sizes", "1KiB:1MiB", "--fidelity", "analytical"),
             code=0))  # fmt: skip
    add(Case("ok-topology", ("topology", "show", "{d}/topo-ok.yaml", "--json"), code=0))
    add(Case("ok-run", (*RUN, "--json"), code=0))
    add(Case("ok-run-small-bucket", (*RUN, "--set", "strategy.data_parallel.bucket_size=512KiB",
             "--json"), code=0))  # fmt: skip
    add(Case("ok-compare", ("run", "{d}/compare-collide.yaml", "--fidelity", "analytical",
             "--json"), code=0))  # fmt: skip
    add(Case("ok-sweep", (*sw, "--vary", "strategy.tp=1,2,3", "--json"), code=0))
    return c


CASES = _cases()


# ----------------------------------------------------------------------------- running


class Hang(BaseException):
    """A case ran past its deadline (a BaseException, so the CLI's guard does not catch it)."""


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def _fail(*_: object) -> None:
        raise Hang(f"over {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, _fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_case(argv: list[str], limit_s: int = 10) -> tuple[int, str, str, float]:
    """``main(argv)`` in-process: exit status, stdout, stderr, seconds (``Hang`` past limit)."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with _deadline(limit_s), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - t0


def error_lines(stderr: str) -> list[str]:
    """stderr without argparse's usage lines and without warnings/notes."""
    lines = []
    in_usage = False
    for ln in stderr.splitlines():
        if ln.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and ln.startswith(" "):
            continue
        in_usage = False
        if not ln.strip() or ln.startswith(("warning:", "note:")):
            continue
        lines.append(ln)
    return lines


def one_error(argv: list[str], *texts: str, limit_s: int = 60) -> str:
    """Run ``commsim argv``: exit 2, no traceback, one error line holding every ``texts``;
    return that line."""
    code, _, err, _ = run_case(argv, limit_s)
    assert "Traceback" not in err, err
    assert code == 2, f"exit {code}, stderr: {err}"
    lines = error_lines(err)
    assert len(lines) == 1, lines
    for text in texts:
        assert text in lines[0], lines[0]
    return lines[0]


def _prepare(case: Case, d: Path) -> Path | None:
    if case.sentinel is None:
        return None
    sdir = d / case.sentinel
    sdir.mkdir(exist_ok=True)
    (sdir / SENTINEL).write_text(SENTINEL_TEXT)
    if case.id == "replay-chakra-out":
        (sdir / "rank0.et").write_text("mine")
    if case.id == "record-out-nonempty":
        (sdir / "manifest.json").write_text('{"mine": true}')
    return sdir


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, inputs: Path) -> None:
    sdir = _prepare(case, inputs)
    before = {p.name: p.read_bytes() for p in sdir.iterdir()} if sdir else {}
    png = (inputs / "existing.png").read_bytes()
    argv = [a.replace("{d}", str(inputs)) for a in case.argv]
    code, _, err, seconds = run_case(argv)
    assert "Traceback" not in err, err
    assert seconds < 10
    assert code == case.code, f"exit {code}, stderr: {err}"
    lines = error_lines(err)
    if case.code == 2:
        assert len(lines) == 1, lines
        for text in (case.field, *case.extra):
            assert text.replace("{d}", str(inputs)) in lines[0], lines[0]
    else:
        assert not [ln for ln in lines if "error" in ln], lines
    if sdir is not None:
        assert {p.name: p.read_bytes() for p in sdir.iterdir()} == before
    assert (inputs / "existing.png").read_bytes() == png


def test_table_size() -> None:
    """The issue asks for at least 300 cases across every command."""
    assert len(CASES) >= 300
    commands = {c.argv[0] for c in CASES}
    assert commands >= {"run", "collective", "topology", "replay", "record", "sweep", "plan",
                        "validate", "rig"}  # fmt: skip
    assert len({c.id for c in CASES}) == len(CASES)


def test_variant_folders_never_collide(inputs: Path) -> None:
    """``a b`` and ``a_b`` clean up to the same name; they get two folders."""
    out = inputs / "out-cmp2"
    argv = [
        "run",
        str(inputs / "compare-collide.yaml"),
        "--out",
        str(out),
        "--fidelity",
        "analytical",
    ]
    code, _, err, _ = run_case(argv, limit_s=120)  # writes plots: not a bad-input case
    assert code == 0, err
    subs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert subs == ["a_b", "a_b-2"]
    assert all((out / s / "result.json").is_file() for s in subs)


def test_force_lifts_the_limits(inputs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the op limit lowered below the tiny scenario, it is refused; ``--force`` runs it."""
    import simulator.limits as limits
    from simulator.config import load_scenario

    sc = load_scenario(inputs / "tiny.yaml")
    estimate = limits.estimate_scenario_ops(sc, 8)[0]
    monkeypatch.setattr(limits, "MAX_OPS", int(estimate) - 1)
    argv = ["run", str(inputs / "tiny.yaml"), "--fidelity", "analytical", "--json"]
    code, _, err, _ = run_case(argv, limit_s=120)
    assert code == 2 and "limit" in err
    code, out, err, _ = run_case([*argv, "--force"], limit_s=120)
    assert code == 0, err
    assert json.loads(out)["step_time_s"] > 0


def test_estimate_is_an_upper_bound_on_the_tiny_scenario(inputs: Path) -> None:
    """The estimate bounds the ops really built (it only has to be the right order)."""
    from simulator.build import build_workload
    from simulator.config import load_scenario
    from simulator.limits import estimate_scenario_ops
    from simulator.topology import load_topology

    sc = load_scenario(inputs / "tiny.yaml")
    topo = load_topology(sc.topology)
    built = build_workload(sc, topo).workload
    ops = sum(len(p) for p in built.programs)
    estimate = estimate_scenario_ops(sc, int(topo.num_ranks))[0]
    assert ops <= estimate <= 100 * ops


def test_force_overwrites_a_users_directory(inputs: Path) -> None:
    out = inputs / "forced-out"
    out.mkdir()
    (out / SENTINEL).write_text(SENTINEL_TEXT)
    argv = ["run", str(inputs / "tiny.yaml"), "--out", str(out), "--force"]
    code, _, err, _ = run_case(argv, limit_s=120)
    assert code == 0, err
    assert (out / SENTINEL).read_text() == SENTINEL_TEXT  # written beside, never deleted
    assert (out / "result.json").is_file()


def test_small_bucket_warns(inputs: Path) -> None:
    argv = ["run", str(inputs / "tiny.yaml"), "--set",
            "strategy.data_parallel.bucket_size=512KiB", "--json"]  # fmt: skip
    code, _, err, _ = run_case(argv)
    assert code == 0
    assert "strategy.data_parallel.bucket_size" in err and "below 1 MiB" in err


def test_json_is_strict() -> None:
    from simulator.cli import emit_json

    with pytest.raises(ValueError):
        emit_json({"x": float("inf")})


def test_internal_bug_shows_traceback_and_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import simulator.cli.topology as topo_cli

    def boom(args: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(topo_cli, "_list", boom)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["topology", "list"])
    assert code == 70
    text = err.getvalue()
    assert "Traceback" in text and "ZeroDivisionError" in text
    assert (
        text.strip().splitlines()[-1].startswith("commsim topology: internal error: this is a bug")
    )


# ----------------------------------------------------------------------------- subprocesses

SUBPROCESS_IDS = ("replay-tr-gz-truncated", "show-topo-bomb", "col-sizes-1KiB:1e400", "dup-key",
                  "batch-in-tokens", "record--model=nosuch:factory")  # fmt: skip


def _console(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "simulator", *argv], env=env, capture_output=True, text=True,
        timeout=60, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("case_id", SUBPROCESS_IDS)
def test_real_process_has_no_traceback(case_id: str, inputs: Path) -> None:
    case = next(c for c in CASES if c.id == case_id)
    argv = [a.replace("{d}", str(inputs)) for a in case.argv]
    res = _console(argv)
    assert res.returncode == case.code
    assert "Traceback" not in res.stderr
    assert len(error_lines(res.stderr)) == 1


def test_broken_pipe_exits_quietly() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = (f"{sys.executable} -m simulator collective --topology dgx-a100 --op all_reduce "
           "--sizes 1:8GiB --fidelity analytical | true")  # fmt: skip  # reader gone before a write
    res = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 141
    assert res.stderr == ""


def test_gzip_fixture_is_real() -> None:
    """The truncated-gzip case starts from a real recorded trace."""
    data = (FIXTURES / "ddp-2-gloo" / "rank0.trace.json.gz").read_bytes()
    assert json.loads(gzip.decompress(data))["traceEvents"]
