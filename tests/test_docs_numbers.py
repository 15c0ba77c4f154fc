"""Numbers the docs print are the numbers the code prints now.

A new user runs the README's and docs' examples and compares; until 2026-12-06 the README said
13.66 s (-0.7 %) for GPT-3 175B on 64 A100s (the code: 13.68 s, -0.5 %), 1.72 s for the
balanced mixed cluster (1.84 s) and "12 of 12" nccl-tests rows (19 of 22 since the Azure curves).
Each test reads the doc, runs what it shows, and compares as printed.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CURVES = ROOT / "docs" / "collective-curves.md"
FIDELITY = ROOT / "docs" / "published-fidelity.md"
ROW = re.compile(r"^\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\S+/\S+$")


def _blocks(text: str) -> list[tuple[int, str]]:
    """``(offset, body)`` of every fenced code block."""
    return [(m.start(), m.group(1)) for m in re.finditer(r"```[a-z]*\n(.*?)```", text, re.S)]


def _collective_tables(doc: Path) -> list[tuple[list[str], list[str]]]:
    """``(argv, rows)`` for every nccl-tests style table of ``doc``: the command is the block's
    ``$ commsim collective`` line, else the last backticked one before the block."""
    text = doc.read_text()
    found = []
    for start, body in _blocks(text):
        rows = [line for line in body.splitlines() if ROW.match(line)]
        if not rows:
            continue
        cmd = re.search(r"^\$ commsim (collective .*)$", body, re.M)
        if cmd is None:
            before = re.findall(r"`commsim (collective [^`]*)`", text[max(0, start - 800) : start])
            assert before, f"{doc.name}: no command for the table at offset {start}"
            line = before[-1]
        else:
            line = cmd.group(1)
        found.append((line.split(), rows))
    return found


TABLES = [(doc, argv, rows) for doc in (README, CURVES) for argv, rows in _collective_tables(doc)]


def test_the_docs_have_collective_tables() -> None:
    assert len(TABLES) >= 4  # README's 2-node table; the curves doc's A100 x 2, H100


@pytest.mark.parametrize(
    "doc,argv,rows", TABLES, ids=[f"{d.name}:{' '.join(a[1:])}" for d, a, _ in TABLES]
)
def test_collective_tables_are_what_the_cli_prints(
    doc: Path, argv: list[str], rows: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if ROW.match(line)]
    assert printed == rows


def _rich_rows(text: str) -> dict[str, list[str]]:
    """``quantity -> [value, share]`` from a rich table's body rows."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 3 and cells[0]:
            out[cells[0]] = cells[1:]
    return out


def test_readme_demo_block_is_what_the_demo_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = README.read_text()
    block = text[text.index("`./dev.sh demo` prints") :]
    body = _blocks(block)[0][1]
    monkeypatch.setenv("COLUMNS", "200")  # no wrapped cells
    assert main(["run", str(ROOT / "scenarios" / "gpt3-175b-1024xh100.yaml")]) == 0
    printed = _rich_rows(capsys.readouterr().out)
    lines = [line for line in body.splitlines() if line.strip() and "..." not in line]
    for line in lines[1:]:  # the first line is the header
        name = max((n for n in printed if line.strip().startswith(n)), key=len)
        rest = re.split(r"\s{2,}", line.strip()[len(name) :].strip())
        assert [c for c in printed[name] if c] == rest, line


def _run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_readme_gpt3_64_a100_figures(capsys: pytest.CaptureFixture[str]) -> None:
    r = _run_json(["run", "gpt3-175b-64xa100"], capsys)
    text = " ".join(README.read_text().split())
    err = f"{100 * r['reference_error']:+.1f}".replace("-", "−")
    assert f"| commsim (flow fidelity, NCCL profile) | {r['step_time_s']:.2f} s |" in text
    assert f"| error | **{err} %** |" in text
    exposed = r["exposed_comm_by_category_s"]
    act = r["memory_per_gpu_B"]["activations"] / 2**30
    assert (
        f"compute {r['compute_s']:.2f} s, exposed communication {r['exposed_comm_s']:.2f} s "
        f"(tensor parallel {exposed['tp']:.2f} s, pipeline {exposed['pp']:.2f} s), pipeline "
        f"bubble {r['bubble_s']:.2f} s; activations {act:.2f} GiB per GPU"
    ) in text


def test_readme_mixed_hardware_figures(capsys: pytest.CaptureFixture[str]) -> None:
    r = _run_json(["run", "mixed-h100-a100-ddp"], capsys)
    plain, balanced = r["variants"]
    shares = balanced["metadata"]["dp_microbatches"]
    text = " ".join(README.read_text().split())
    assert (
        f"reports {plain['step_time_s']:.2f} s per step unbalanced (the A100 replicas set the "
        f"pace: the same as an all-A100 cluster) and {balanced['step_time_s']:.2f} s balanced "
        f"(A100 replicas run {min(shares)} micro-batches, H100 replicas {max(shares)})"
    ) in text


def _generated_rows(kind: str) -> list[dict[str, object]]:
    """The rows of ``kind``'s generated table in docs/published-fidelity.md."""
    text = FIDELITY.read_text()
    table = text[text.index(f"BEGIN GENERATED {kind}") : text.index(f"END GENERATED {kind}")]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 7 and cells[4].endswith("%") and cells[0] != "reference":
            rows.append(
                {"name": cells[0], "error": float(cells[4].rstrip("%")),
                 "ok": cells[6] == "ok", "held_out": cells[7] == "held-out"}
            )  # fmt: skip
    return rows


def _pct(x: float) -> str:
    return f"{x:+.1f} %".replace("-", "−")


def test_readme_published_summary_matches_the_generated_tables() -> None:
    """The README's summary says what docs/published-fidelity.md's generated tables (written by
    ``commsim validate --published --write-doc``) say."""
    summary = README.read_text().split("<!-- published-summary -->")[1].split("<!--")[0]
    text = " ".join(summary.split())
    nccl = _generated_rows("nccl_tests")
    ok = sum(bool(r["ok"]) for r in nccl)
    assert f"**{ok} of {len(nccl)} within 10 %**" in text
    held = [r for r in nccl if r["held_out"]]
    inside = [float(r["error"]) for r in held if r["ok"]]  # type: ignore[arg-type]
    assert f"the {len(held)} held-out rows" in text
    assert f"between {_pct(min(inside))} and {_pct(max(inside))}" in text
    for r in held:
        if not r["ok"]:  # every miss is named with its error
            assert _pct(float(r["error"])) in text  # type: ignore[arg-type]
    train = _generated_rows("training")
    a100 = [r for r in train if str(r["name"]).startswith(("megatron-gpt", "korthikanti"))]
    assert f"**{sum(bool(r['ok']) for r in a100)} of {len(a100)} within 15 %**" in text
    errs = [float(r["error"]) for r in a100 if r["held_out"]]  # type: ignore[arg-type]
    assert f"the {len(errs)} held-out A100 rows between {_pct(min(errs))}" in text
    assert f"and {_pct(max(errs))} (1T" in text
    assert f"median |error| {statistics.median(abs(e) for e in errs):.1f} %" in text
    fsdp = [r for r in train if str(r["name"]).startswith("llm-foundry")]
    h100 = [r for r in train if r not in a100 and r not in fsdp]
    h_errs = [float(r["error"]) for r in h100 if r["held_out"]]  # type: ignore[arg-type]
    assert f"**{sum(bool(r['ok']) for r in h100)} of {len(h100)} within 15 %**" in text
    assert f"the {len(h_errs)} held-out between {_pct(min(h_errs))} and {_pct(max(h_errs))}" in text
    f_in = [float(r["error"]) for r in fsdp if r["held_out"] and r["ok"]]  # type: ignore[arg-type]
    assert f"**{len(f_in)} of {len(fsdp)} within 15 %**" in text
    assert f"the {len(f_in)} in band between {_pct(min(f_in))} and {_pct(max(f_in))}" in text
    for r in fsdp:
        if not r["ok"]:  # every miss is named with its error
            assert _pct(float(r["error"])) in text  # type: ignore[arg-type]


def test_readme_lists_every_shipped_scenario() -> None:
    from simulator.resources import shipped_names

    text = README.read_text()
    assert [n for n in shipped_names("scenarios") if f"`{n}`" not in text] == []
