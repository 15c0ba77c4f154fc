"""``run --out`` with less work (issue 18): one draw per PNG, link tiers per link class,
matplotlib imported without its docstrings' property tables. Each is checked against the path
it replaces: the same pixels, the same tiers, the same bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from simulator.config import load_scenario
from simulator.engine import StepResult
from simulator.report import plots
from simulator.report.linktiers import class_tiers, link_tiers, tier_of_class
from simulator.topology import load_topology
from simulator.topology.linkclass import link_classes

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "gan-dcgan-dgx1.yaml"


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize("plot", [plots.plot_timeline, plots.plot_links])
def test_png_is_the_tight_layout_savefig_png(
    plot: Any, gan_result: StepResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Laying out with the engine directly (no engine left on the figure, so savefig draws
    once) gives the bytes ``fig.tight_layout()`` then ``savefig(bbox_inches="tight")`` gave."""
    ours = plot(gan_result, tmp_path / "ours.png")
    draws: list[int] = []
    real_draw = Figure.draw

    def counted(fig: Figure, renderer: Any) -> None:
        draws.append(1)
        real_draw(fig, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    plot(gan_result, tmp_path / "again.png")
    assert len(draws) == 1  # the dry draw savefig makes for a layout engine is gone
    monkeypatch.setattr(plots, "_layout", lambda fig: fig.tight_layout())

    def tight(fig: Figure, path: Path) -> Path:
        fig.savefig(path, dpi=plots.DPI, bbox_inches="tight")
        return Path(path)

    monkeypatch.setattr(plots, "_save", tight)
    theirs = plot(gan_result, tmp_path / "theirs.png")
    assert len(draws) == 3  # the reference path draws twice
    assert ours.read_bytes() == theirs.read_bytes()
    assert _pixels(ours).shape[0] > 200


@pytest.mark.parametrize(
    "name",
    [
        "dgx-a100-8node",
        "two-dc-wan",
        "h100-superpod-1024",
        "dgx-a100-superpod",
        "tpu-torus-4x4x4",
        "pcie-8gpu",
        "rig-4host-2rack",
    ],
)
def test_class_tiers_are_the_tiers_of_their_links(name: str) -> None:
    """The tier named from a class's kind and levels is the tier link_tiers names for every
    link of the class, and tier_of_class's answer."""
    topo = load_topology(name)
    classes = link_classes(topo)
    got = class_tiers(classes)
    want = link_tiers(topo)
    assert [got[int(c)] for c in classes.of_link] == [want[lk.id] for lk in topo.links]
    assert got == tier_of_class(topo)


def test_tier_counters_are_those_of_the_per_link_tiers(
    gan_result: StepResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter tracks with tiers per class are the events the per-link tiers gave."""
    import simulator.report.linktiers as lt
    from simulator.report.timeline import chrome_trace

    first = load_scenario(SCENARIO).variants()[0]
    topo = load_topology(first.topology)
    got = chrome_trace(gan_result, k_links=3, topology=topo)

    def per_link(classes: Any) -> list[str]:  # the tiers as link_tiers names them, per class
        of_link = classes.of_link
        tiers = link_tiers(topo)
        return [tiers[int(np.flatnonzero(of_link == c)[0])] for c in range(len(classes.labels))]

    monkeypatch.setattr(lt, "class_tiers", per_link)
    want = chrome_trace(gan_result, k_links=3, topology=topo)
    assert got == want
    assert any("mean utilisation" in e.get("name", "") for e in got["traceEvents"])


_DRAW = (
    "import sys\n"
    "from pathlib import Path\n"
    "{pre}"
    "from simulator.report.mplimport import POINTER, import_plots\n"
    "from simulator.config import load_scenario\n"
    "from simulator.studies import run_variant\n"
    "first = load_scenario({scenario!r}).variants()[0]\n"
    "res = run_variant(first, record='timelines', faults=None).simulation.result\n"
    "plots = import_plots()\n"
    "out = Path({out!r})\n"
    "plots.plot_timeline(res, out / 'timeline.png')\n"
    "plots.plot_links(res, out / 'links.png')\n"
    "import matplotlib.artist, matplotlib.patches\n"
    "print(POINTER in (matplotlib.patches.Rectangle.set.__doc__ or ''))\n"
    "print(matplotlib.artist.kwdoc.__module__, matplotlib.artist.kwdoc.__name__)\n"
)


def _draw(tmp_path: Path, name: str, pre: str) -> tuple[list[str], Path]:
    out = tmp_path / name
    out.mkdir()
    code = _DRAW.format(pre=pre, scenario=str(SCENARIO), out=str(out))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return done.stdout.split("\n"), out


def test_plots_imported_without_docstring_tables_draw_the_same_bytes(tmp_path: Path) -> None:
    """In a fresh process import_plots skips the tables (a set() docstring points to kwdoc),
    puts kwdoc back, and the PNGs are the bytes the plain import draws."""
    quick, a = _draw(tmp_path, "quick", "")
    plain, b = _draw(tmp_path, "plain", "import matplotlib.figure\n")
    assert quick[:2] == ["True", "matplotlib.artist kwdoc"]
    assert plain[:2] == ["False", "matplotlib.artist kwdoc"]  # already imported: untouched
    for png in ("timeline.png", "links.png"):
        assert (a / png).read_bytes() == (b / png).read_bytes()
        assert _pixels(a / png).shape[0] > 200
