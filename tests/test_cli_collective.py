"""``commsim collective``: JSON contract, nccl-tests table, exit 2 on bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from simulator.cli import main

KEYS = {
    "time_s",
    "algbw_Bps",
    "busbw_Bps",
    "algo",
    "op",
    "size_B",
    "n_ranks",
    "topology",
    "backend",
    "fidelity",
    "protocol",
    "channels",
}


@pytest.fixture
def topo_file(tmp_path):
    n = 4
    data = {
        "name": "cli-star",
        "nodes": [{"name": f"h{i}", "kind": "cpu"} for i in range(n)]
        + [{"name": "sw", "kind": "switch"}],
        "links": [
            {"a": f"h{i}", "b": "sw", "bandwidth": "10Gbps", "latency": "5us", "kind": "ethernet"}
            for i in range(n)
        ],
    }
    p = tmp_path / "star.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


def test_json_contract(topo_file, capsys):
    rc = main(
        ["collective", "--topology", topo_file, "--op", "all_reduce", "--size", "64MiB", "--json"]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= KEYS
    assert out["size_B"] == 64 * 2**20
    assert out["n_ranks"] == 4
    assert out["topology"] == "cli-star"
    assert out["busbw_Bps"] == pytest.approx(out["algbw_Bps"] * 2 * 3 / 4)
    assert out["algbw_Bps"] == pytest.approx(out["size_B"] / out["time_s"])


def test_sizes_rows(topo_file, capsys):
    rc = main(
        [
            "collective",
            "--topology",
            topo_file,
            "--op",
            "all_gather",
            "--sizes",
            "1KiB:1MiB",
            "--ranks",
            "0,2,3",
            "--backend",
            "gloo",
            "--json",
        ]
    )
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["size_B"] for r in rows] == [2.0**k for k in range(10, 21)]
    assert all(r["n_ranks"] == 3 and r["backend"] == "gloo" for r in rows)
    busbw = [r["busbw_Bps"] for r in rows]
    assert busbw == sorted(busbw)  # latency-bound small sizes, rising to a plateau


def test_human_table(topo_file, capsys):
    assert (
        main(["collective", "--topology", topo_file, "--op", "broadcast", "--sizes", "1MiB:4MiB"])
        == 0
    )
    out = capsys.readouterr().out
    assert "busbw (GB/s)" in out and "1048576" in out and "4194304" in out
    assert (
        main(
            [
                "collective",
                "--topology",
                topo_file,
                "--op",
                "all_reduce",
                "--size",
                "1GiB",
                "--fidelity",
                "analytical",
            ]
        )
        == 0
    )
    assert "busbw" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--op", "gather", "--size", "1MiB"], "op"),
        (["--op", "all_reduce", "--size", "12 parsecs"], "--size"),
        (["--op", "all_reduce", "--size", "1MiB", "--ranks", "0-9"], "ranks"),
        (["--op", "all_reduce", "--size", "1MiB", "--ranks", "zero"], "--ranks"),
        (["--op", "all_reduce", "--size", "1MiB", "--algo", "butterfly"], "algo"),
        (["--op", "all_reduce", "--size", "1MiB", "--fidelity", "packet"], "fidelity"),
        (["--op", "all_reduce", "--size", "1MiB", "--backend", "mpi"], "backend"),
        (["--op", "all_to_all", "--size", "1MiB", "--algo", "tree"], "algo"),
        (["--op", "all_reduce", "--sizes", "8GiB:1KiB"], "--sizes"),
    ],
)
def test_bad_input_exits_2(topo_file, capsys, args, field):
    rc = main(["collective", "--topology", topo_file, *args, "--json"])
    assert rc == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("commsim collective: error:")
    assert field in cap.err
    assert len(cap.err.strip().splitlines()) == 1


def test_one_rank_reports_zero_not_infinity(topo_file, capsys):
    rc = main(
        [
            "collective",
            "--topology",
            topo_file,
            "--op",
            "all_reduce",
            "--size",
            "1MiB",
            "--ranks",
            "2",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["time_s"] == 0.0 and out["algbw_Bps"] == 0.0 and out["busbw_Bps"] == 0.0


def test_faults_in_force_are_said_in_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    """``--faults`` is echoed (JSON key, summary line, table comment) beside a changed result:
    until 2026-12-06 nothing in the output showed that faults were applied."""
    base = ["collective", "--topology", "dgx-a100-2node", "--op", "all_reduce"]
    faults = ["--faults", "{nics: [{node: node0.nic3}]}"]
    assert main([*base, "--size", "1GiB", "--json"]) == 0
    healthy = json.loads(capsys.readouterr().out)
    assert "faults" not in healthy
    assert main([*base, "--size", "1GiB", "--json", *faults]) == 0
    broken = json.loads(capsys.readouterr().out)
    assert broken["faults"] == {"nics": [{"node": "node0.nic3"}]}
    assert broken["time_s"] > healthy["time_s"]
    assert main([*base, "--size", "1GiB", *faults]) == 0
    assert 'faults              {"nics": [{"node": "node0.nic3"}]}' in capsys.readouterr().out
    assert main([*base, "--sizes", "1MiB:2MiB", *faults]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == '# faults in force: {"nics": [{"node": "node0.nic3"}]}'


def test_sizes_take_an_nccl_tests_factor(capsys: pytest.CaptureFixture[str]) -> None:
    """``MIN:MAX:FACTOR`` steps like nccl-tests' ``-f`` (``1MiB:1GiB:4``: 6 sizes)."""
    argv = ["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--json"]
    assert main([*argv, "--sizes", "1MiB:1GiB:4", "--fidelity", "analytical"]) == 0
    sizes = [r["size_B"] for r in json.loads(capsys.readouterr().out)["rows"]]
    assert sizes == [2**20 * 4**k for k in range(6)]
    for bad in ("1MiB:1GiB:1", "1MiB:1GiB:x", "1MiB:1GiB:2:2"):
        assert main([*argv, "--sizes", bad]) == 2
        assert "--sizes: expected MIN:MAX or MIN:MAX:FACTOR" in capsys.readouterr().err


@pytest.mark.parametrize("spelling", ["allreduce", "AllReduce", "all-reduce", "ALL_REDUCE"])
def test_op_spellings_of_nccl_and_gloo(spelling: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--op allreduce`` (NCCL's and gloo's spelling) is all_reduce; a typo still exits 2."""
    argv = ["collective", "--topology", "dgx-a100", "--size", "1MiB", "--json"]
    assert main([*argv, "--op", spelling]) == 0
    assert json.loads(capsys.readouterr().out)["op"] == "all_reduce"
    assert main([*argv, "--op", "alreduce"]) == 2


def test_the_sizes_limit_counts_the_sizes_a_factor_makes() -> None:
    """``MAX_SIZES`` bounds the sizes run, not the doublings between MIN and MAX: 1 B to 1e24 B
    is 80 doublings but 27 sizes by a factor of 8 (runs, with --force over the size bound)."""
    from simulator.cli.collective import parse_sizes
    from simulator.core.errors import InputError
    from simulator.limits import MAX_SIZES, check_sizes_count, forced

    with forced(True):  # over the message-size bound, within the count's
        assert len(parse_sizes("1:1e24:8")) == 27
        assert len(parse_sizes("1:1e24")) == 80  # counted, lifted by --force
        assert len(parse_sizes(f"1:{3**63}:3")) == 64  # 3^0 .. 3^63
    with pytest.raises(InputError, match="80 sizes from MIN to MAX by doubling"):
        check_sizes_count(80)
    with pytest.raises(InputError, match="by a factor of 3"):
        check_sizes_count(MAX_SIZES + 1, 3)
    check_sizes_count(MAX_SIZES, 3)  # exactly MAX_SIZES sizes
    assert len(parse_sizes("1:1000:10")) == 4
