"""The core layer: what every other layer shares, importing nothing else of commsim.

* :mod:`~simulator.core.ir`: the per-rank Program IR, the waist of commsim;
* :mod:`~simulator.core.vocab`: collective ops and algorithms, fidelity, dtypes, recomputation;
* :mod:`~simulator.core.units`: strings with units at the edges, SI floats inside;
* :mod:`~simulator.core.errors`: :class:`~simulator.core.errors.InputError`;
* :mod:`~simulator.core.schema`: the pydantic base and unit-typed field aliases.
"""
