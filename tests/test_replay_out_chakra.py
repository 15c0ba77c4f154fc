"""``replay --out`` / ``--chakra-out`` / ``--strategy`` on a Chakra directory and on a re-shard.

Until 2026-12-06: ``--out`` wrote nothing for a Chakra directory or a re-shard (and said
nothing); ``--chakra-out`` on a Chakra directory read it again as Kineto traces and failed (a
directory with ASTRA-sim's ``comm_group.json`` beside its ETs: "traceEvents: expected a list");
``--strategy`` on a Chakra directory was ignored.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from simulator.cli import main

REAL = Path(__file__).parent / "fixtures" / "real"
GLOO = Path(__file__).parent / "fixtures" / "traces" / "ddp-2-gloo"
ASTRA = REAL / "astra-all_reduce-4npus_1MB"


def _astra_with_comm_group(tmp_path: Path) -> Path:
    """ASTRA-sim's 4-rank all-reduce ETs with a ``--comm-group-configuration`` file beside
    them (as ASTRA-sim's own examples keep it)."""
    d = tmp_path / "astra"
    shutil.copytree(ASTRA, d)
    (d / "comm_group.json").write_text('{"0": [0, 1, 2, 3]}')
    return d


def test_chakra_dir_out_writes_the_simulated_step(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["replay", str(ASTRA), "--topology", "dgx-a100", "--out", str(out), "--json"]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["out"] == str(out)
    assert {"result.json", "timeline.json", "ops.csv", ".commsim-output"} <= {
        p.name for p in out.iterdir()
    }
    assert json.loads((out / "result.json").read_text())["format"] == "chakra"


def test_reshard_out_writes_the_simulated_step(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["replay", str(GLOO), "--strategy", "fsdp", "--world", "4"]
    argv += ["--topology", "rig-4host-flat", "--out", str(out), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(out)
    assert json.loads((out / "result.json").read_text())["strategy"] == "fsdp"


def test_chakra_dir_chakra_out_round_trips(tmp_path, capsys):
    src = _astra_with_comm_group(tmp_path)
    out = tmp_path / "et"
    argv = ["replay", str(src), "--topology", "dgx-a100", "--json"]
    assert main([*argv, "--chakra-out", str(out)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["chakra_out"] == str(out) and len(list(out.glob("*.et"))) == 4
    assert main(["replay", str(out), "--topology", "dgx-a100", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["predicted_step_s"] == first["predicted_step_s"]


def test_chakra_dir_refuses_strategy(capsys):
    argv = ["replay", str(ASTRA), "--topology", "dgx-a100", "--strategy", "fsdp"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--strategy" in err and "Kineto recording" in err and "Traceback" not in err


def test_exported_steps_read_back_as_their_mean_step(tmp_path, capsys):
    """Kineto's 2-step ResNet-50 sample written with --chakra-out runs both steps back to back
    in one program per rank; read back, the predicted step is the replay's mean step
    (181.551 ms), not their sum (363.1 ms until 2026-12-06)."""
    src = REAL / "kineto-r50-legacy"
    out = tmp_path / "et"
    argv = ["replay", str(src), "--topology", "dgx-a100", "--json"]
    assert main([*argv, "--chakra-out", str(out)]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert len(replayed["per_step"]) == 2
    assert main(["replay", str(out), "--topology", "dgx-a100", "--json"]) == 0
    back = json.loads(capsys.readouterr().out)
    assert back["result"]["steps_per_program"] == 2
    assert back["predicted_step_s"] == replayed["predicted_step_s"]


def test_a_bad_steps_per_program_is_refused(tmp_path, capsys):
    from simulator.core.ir import Program
    from simulator.traces.chakra.codec import write_et

    prog = Program(rank=0)
    prog.compute("c", duration_s=1e-3)
    write_et(tmp_path / "commsim.0.et", prog, {"commsim.steps_per_program": "two"})
    assert main(["replay", str(tmp_path), "--topology", "dgx-a100"]) == 2
    err = capsys.readouterr().err
    assert "commsim.steps_per_program" in err and "commsim.0.et" in err


def test_text_output_says_where_it_wrote(tmp_path, capsys):
    """Without ``--json``, replay names the directories it wrote (as ``run --out`` does) and a
    re-shard names its backend (until 2026-12-06: nothing, and the gloo default was hidden)."""
    out, et = tmp_path / "o", tmp_path / "et"
    argv = ["replay", str(GLOO), "--strategy", "fsdp", "--world", "4", "--topology"]
    argv += ["rig-4host-flat", "--out", str(out), "--chakra-out", str(et)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "fsdp on 4 ranks, topology rig-4host-flat, backend " in lines[0]
    assert lines[-2:] == [f"wrote {out}/", f"wrote Chakra execution traces into {et}/"]
    assert (out / "result.json").is_file() and any(et.glob("*.et"))


def test_run_chakra_out_says_where_it_wrote(tmp_path, capsys):
    et = tmp_path / "et"
    assert main(["run", "ten-node-sync-vs-async", "--chakra-out", str(et)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote Chakra execution traces into {et}/"
    assert any(et.rglob("*.et"))


def test_foreign_trace_header_says_strategy_unknown(capsys):
    """A one-rank GPU trace from elsewhere reads "strategy unknown on 1 rank ... 1 step", not
    "unknown on 1 ranks ... 1 steps" (until 2026-12-06)."""
    assert main(["replay", str(REAL / "hta-autograd-1"), "--topology", "dgx-a100"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.endswith(": strategy unknown on 1 rank, topology dgx-a100, backend nccl, 1 step")
