"""commsim: a discrete-event simulator of communication cost in distributed LLM training.

SI units everywhere inside the package: bytes (``_B``), seconds (``_s``), bytes per second
(``_Bps``), FLOP per second (``_flops``). Strings with units exist only at the edges (YAML, CLI,
display) and are converted by :mod:`simulator.core.units`.
"""

__version__ = "0.1.0"
