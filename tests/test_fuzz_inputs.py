"""Hypothesis fuzzing of the loaders and importers: only "accepted" or InputError, fast.

Four targets, each fed mutations of real inputs:

* the scenario loader (mutated text of a shipped-style scenario, then validation, the size
  estimate and ``compare:`` variants, as ``commsim run`` does before building);
* the topology loader (mutated explicit and builder topologies, through ``topology show``);
* the Kineto importer (the recorded ``tests/fixtures/traces/ddp-2-gloo`` rank traces, real
  torch.profiler output, with events deleted, retyped or corrupted, and the gzip stream cut);
* the Chakra importer (ETs exported from that recording, with bytes flipped, cut or inserted).

Outcome of each example, as the CLI maps it: exit 0 or exit 2 (an ``InputError``). Anything
else (a traceback, exit 70) fails, and so does an example over 10 s. The suite runs
``COMMSIM_FUZZ_EXAMPLES`` examples per target (default 60); the 10,000-case run is
``COMMSIM_FUZZ_EXAMPLES=2500 pytest tests/test_fuzz_inputs.py`` (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.cli import main
from simulator.core.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
GLOO = ROOT / "tests" / "fixtures" / "traces" / "ddp-2-gloo"
EXAMPLES = int(os.environ.get("COMMSIM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=10_000,  # ms: no example may take 10 s
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    database=None,
)
OUTCOMES: dict[str, dict[str, int]] = {}

SCENARIO = """\
name: fuzz
topology: dgx-a100
backend: nccl
fidelity: flow
model: {name: m, layers: 4, hidden: 512, heads: 8, vocab: 1024, kv_heads: 4}
strategy:
  tp: 2
  pp: 2
  data_parallel: {mode: ddp, bucket_size: 25MiB}
  pipeline: {schedule: 1f1b, virtual_stages: 1}
training: {global_batch: 8, micro_batch: 1, seq_len: 256, dtype: bf16}
network: {bandwidth_scale: {nvlink: 2}}
reference: {step_time_s: 0.5, source: test}
compare:
  - {name: a, set: {strategy.tp: 1}}
  - {name: b, set: {training.micro_batch: 2}}
"""

TOPOLOGIES = (
    """\
name: fz
nodes:
  - {name: g0, kind: gpu, host: h0}
  - {name: g1, kind: gpu, host: h0}
  - {name: g2, kind: gpu, host: h1}
  - {name: sw, kind: switch}
links:
  - {a: g0, b: sw, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: g1, b: sw, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: g2, b: sw, bandwidth: 50 GB/s, latency: 2.5us, kind: infiniband}
ranks: [g0, g1, g2]
routing: {ecmp: hash}
metadata: {gpu: A100-80GB, note: &n [1, 2, 3], again: *n}
""",
    """\
name: fzb
description: a small cluster
build: {type: cluster, nodes: 2, gpus_per_node: 4, nics_per_node: 2, switch_radix: 8}
""",
    """\
name: fzt
build: {type: torus, dims: [2, 2, 2], chips_per_host: 4}
""",
)

#: YAML fragments a mutation may splice in.
TOKENS = (
    "0", "-1", ".inf", ".nan", "1e400", "true", "null", "~", "[", "]", "{", "}", ":", "- ",
    "&a", "*a", "<<: *a", "!!python/object:os.system", "\t", "\x00", "'", '"', "#", "\n  ",
    "99999999999999999999", "1.5", "abc", "12 parsecs", "1GiB", "100Gbps", "é", "\ufeff",
)  # fmt: skip


def _record(target: str, outcome: str) -> None:
    OUTCOMES.setdefault(target, {}).setdefault(outcome, 0)
    OUTCOMES[target][outcome] += 1


@st.composite
def mutated_text(draw: st.DrawFn, base: str) -> str:
    """``base`` with 1-4 edits: a line deleted/duplicated/swapped, a token spliced in, a
    character replaced, or the text cut."""
    lines = base.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(("del", "dup", "swap", "token", "char", "cut", "value")))
        if op == "del":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "token":
            pos = draw(st.integers(0, len(lines[i])))
            tok = draw(st.sampled_from(TOKENS))
            lines[i] = lines[i][:pos] + tok + lines[i][pos:]
        elif op == "char":
            if lines[i]:
                pos = draw(st.integers(0, len(lines[i]) - 1))
                ch = draw(st.characters(codec="utf-8"))
                lines[i] = lines[i][:pos] + ch + lines[i][pos + 1 :]
        elif op == "cut":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]
        else:  # replace a value after a colon
            if ":" in lines[i]:
                head = lines[i].split(":", 1)[0]
                tok = draw(st.sampled_from(TOKENS))
                lines[i] = f"{head}: {tok}\n"
    return "".join(lines)


def _cli(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return main(argv)
        except SystemExit as exc:
            return int(exc.code or 0)


def _expect_clean(target: str, fn: Callable[[], Any]) -> None:
    """``fn()`` either returns or raises InputError; anything else fails the example."""
    try:
        fn()
    except InputError as err:
        # "malformed ..." comes from the importers' generic boundary (replay_checks), any
        # other message from a specific check
        generic = err.message.startswith("malformed")
        _record(target, "exit 2 (boundary)" if generic else "exit 2")
        return
    _record(target, "exit 0")


@pytest.fixture(scope="module")
def workdir() -> Any:
    d = Path(tempfile.mkdtemp(prefix="commsim-fuzz-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------- scenario


@FUZZ
@given(text=mutated_text(SCENARIO))
def test_scenario_loader(text: str, workdir: Path) -> None:
    from simulator.config import load_scenario
    from simulator.limits import check_scenario

    p = workdir / "scenario.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")

    def load() -> None:
        sc = load_scenario(p)
        for v in sc.variants():
            check_scenario(v, 8, file=str(p))

    with contextlib.redirect_stderr(io.StringIO()):  # the small-bucket warning
        _expect_clean("scenario", load)


# ----------------------------------------------------------------------------- topology


@FUZZ
@given(text=st.sampled_from(TOPOLOGIES).flatmap(mutated_text))
def test_topology_loader(text: str, workdir: Path) -> None:
    p = workdir / "topology.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    code = _cli(["topology", "show", str(p), "--json"])
    _record("topology", f"exit {code}")
    assert code in (0, 2)


# ----------------------------------------------------------------------------- kineto


def _json_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    )


@st.composite
def mutated_trace(draw: st.DrawFn) -> tuple[int, dict[str, Any] | bytes]:
    """A rank's recorded trace with events edited, or its gzip bytes cut."""
    rank = draw(st.integers(0, 1))
    raw = (GLOO / f"rank{rank}.trace.json.gz").read_bytes()
    if draw(st.integers(0, 9)) == 0:
        return rank, raw[: draw(st.integers(0, len(raw) - 1))]
    doc = json.loads(gzip.decompress(raw))
    events = doc["traceEvents"]
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("value", "delete-key", "delete-event", "replace-event",
                                   "top")))  # fmt: skip
        i = draw(st.integers(0, len(events) - 1))
        e = events[i]
        if op == "value" and isinstance(e, dict) and e:
            key = draw(st.sampled_from(sorted(e)))
            e[key] = draw(_json_values())
        elif op == "delete-key" and isinstance(e, dict) and e:
            del e[draw(st.sampled_from(sorted(e)))]
        elif op == "delete-event":
            del events[i]
        elif op == "replace-event":
            events[i] = draw(_json_values())
        elif op == "top":
            key = draw(st.sampled_from(("traceEvents", "distributedInfo", "deviceProperties")))
            doc[key] = draw(_json_values())
            if key == "traceEvents":
                break
    return rank, doc


@FUZZ
@given(mut=mutated_trace())
def test_kineto_importer(mut: tuple[int, dict[str, Any] | bytes], workdir: Path) -> None:
    from simulator.cli.replay_checks import import_boundary
    from simulator.traces.kineto import import_trace_dir

    d = workdir / "kineto"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(GLOO, d)
    rank, content = mut
    data = content if isinstance(content, bytes) else gzip.compress(json.dumps(content).encode())
    (d / f"rank{rank}.trace.json.gz").write_bytes(data)

    def load() -> None:
        with import_boundary(str(d)):  # what `commsim replay` wraps the importer in
            imp = import_trace_dir(d)
            imp.workload(0).validate()

    _expect_clean("kineto", load)


# ----------------------------------------------------------------------------- chakra


@pytest.fixture(scope="module")
def chakra_files(workdir: Path) -> dict[str, bytes]:
    pytest.importorskip("google.protobuf")
    from simulator.traces.chakra import export_workload
    from simulator.traces.kineto import import_trace_dir

    out = workdir / "chakra-src"
    export_workload(import_trace_dir(GLOO).workload(0), out)
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.et"))}


@st.composite
def byte_edits(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    return draw(
        st.lists(
            st.tuples(st.sampled_from(("flip", "cut", "insert", "zero")),
                      st.integers(0, 2**31), st.integers(0, 255)),
            min_size=1, max_size=6,
        )
    )  # fmt: skip


@FUZZ
@given(edits=byte_edits(), which=st.integers(0, 1))
def test_chakra_importer(
    edits: list[tuple[str, int, int]], which: int, chakra_files: dict[str, bytes], workdir: Path
) -> None:
    from simulator.cli.replay_checks import import_boundary
    from simulator.traces.chakra import import_chakra_dir

    d = workdir / "chakra"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    names = sorted(chakra_files)
    for name in names:
        (d / name).write_bytes(chakra_files[name])
    target = names[which % len(names)]
    data = bytearray(chakra_files[target])
    for op, pos, byte in edits:
        if not data:
            break
        k = pos % len(data)
        if op == "flip":
            data[k] ^= 1 << (byte % 8)
        elif op == "cut":
            del data[k:]
        elif op == "insert":
            data[k:k] = bytes([byte])
        else:
            data[k] = 0
    (d / target).write_bytes(bytes(data))

    def load() -> None:
        with import_boundary(str(d), "Chakra ET"):
            import_chakra_dir(d).validate()

    _expect_clean("chakra", load)


def test_zz_report_outcomes() -> None:
    """Print the tally (read by benchmarks/RESULTS.md); every target ran."""
    print("fuzz outcomes:", json.dumps(OUTCOMES, sort_keys=True))
    if len(OUTCOMES) == 4:
        assert all(sum(v.values()) >= 1 for v in OUTCOMES.values())
