"""Import the plots' matplotlib modules without writing the property tables of docstrings.

Every :class:`matplotlib.artist.Artist` subclass gets, when its class statement runs, a
``set()`` method whose docstring lists all its properties with their accepted values
(``matplotlib.artist.kwdoc``: an ``ArtistInspector`` walks the class's setters and parses
their docstrings), and modules such as ``matplotlib.patches`` register further such tables
for their own docstrings. About a hundred classes are defined while the plots' modules are
imported; building their tables was about a third of matplotlib's import (~0.08 s of ~0.25 s
CPU on the 2-core machine, issue 18). Nothing reads them in a ``commsim run --out`` process:
they are docstrings, shown by ``help()``.

:func:`import_plots` imports :mod:`simulator.report.plots` (and so every matplotlib module it
draws with) with ``kwdoc`` answering a one-line pointer instead of the table, then puts
``kwdoc`` back. Drawing does not read docstrings, so the PNGs are the same bytes
(``tests/test_mplimport.py``); what differs is ``help(SomeArtist.set)`` in that process, which
names ``matplotlib.artist.kwdoc`` instead of listing the properties. Where matplotlib's figure
module is already imported (a notebook, the test suite), nothing is left to save and the
import is the plain one.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

#: What the skipped tables say instead.
POINTER = "Properties: see matplotlib.artist.kwdoc(cls)."


def _pointer(artist: Any) -> str:
    return POINTER


def import_plots() -> ModuleType:
    """:mod:`simulator.report.plots`, imported without the docstrings' property tables where
    matplotlib's figure module is not imported yet (see the module docstring)."""
    if "simulator.report.plots" in sys.modules or "matplotlib.figure" in sys.modules:
        return importlib.import_module("simulator.report.plots")
    import matplotlib.artist as artist

    kwdoc = getattr(artist, "kwdoc", None)
    if kwdoc is None:  # a matplotlib that builds its docstrings otherwise: the plain import
        return importlib.import_module("simulator.report.plots")
    artist.kwdoc = _pointer
    try:
        return importlib.import_module("simulator.report.plots")
    finally:
        artist.kwdoc = kwdoc
