"""Tell the JSON trace formats apart by their first bytes, without parsing whole files.

A trace directory people share often holds more than Kineto traces: PyTorch execution traces
(``ExecutionTraceObserver``: ``{"schema": "1.0.1", "pid": ..., "nodes": [...]}``, the
ExecutionTraceObserver writes ``schema`` first) recorded beside them, or Chakra's JSON forms
(``{"workload_graph": [...]}``, Chakra's ``tests/data/json_trace``; ``chakra_jsonizer``'s
output). File names do not say
which is which (param's ``dlrm_eg_0.json``, HTA's ``benchmark_simple_add_et.json.gz``), so
the importer looks at the start of each file.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

#: bytes read from the start of a file (decompressed) to tell its format
HEAD_B = 4096
_TORCH_ET = re.compile(rb'^\s*\{\s*"schema"\s*:\s*"')
#: Chakra JSON: the feeder's ``{"workload_graph": ...`` or ``chakra_jsonizer``'s messages, whose
#: first is a GlobalMetadata (``{"version": ...``, ``{"attr": ...``, or ``{}`` when empty).
_CHAKRA_JSON = re.compile(rb'^\s*\{\s*("workload_graph"\s*:|"version"\s*:|"attr"\s*:|\}\s*\{)')


def _head(path: Path, n: int) -> bytes | None:
    """The first ``n`` bytes of ``path`` (decompressed when it ends in ``.gz``), or None when it
    cannot be read."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            head: bytes = fh.read(n)
    except (OSError, EOFError, zlib.error):
        return None
    return head


def json_kind(path: Path) -> str:
    """``"torch-et"``, ``"chakra-json"`` or ``"kineto"`` (anything else: the Kineto reader
    says what is wrong with it)."""
    head = _head(path, HEAD_B)
    if head is None:
        return "kineto"
    if _TORCH_ET.match(head):
        return "torch-et"
    if _CHAKRA_JSON.match(head):
        return "chakra-json"
    return "kineto"


#: bytes of an execution trace searched for node times (only on the error path)
TIMES_HEAD_B = 1 << 20
#: a node time that Chakra's ``chakra_trace_link`` adds to an ET when it links the Kineto trace
#: ("ET+"): ``inclusive_dur``/``exclusive_dur`` (chakra @ 21585d8 ``trace_linker.py``) or, in
#: its 2023 form, ``dur`` beside ``ts`` (ASTRA-sim's ``et_plus/dlrm_eg_*_plus.json``)
_ET_TIMES = re.compile(rb'"(inclusive_dur|exclusive_dur|dur)"\s*:\s*\d')


def et_has_times(path: Path) -> bool:
    """Whether an execution trace's nodes carry Kineto times (an "ET+" from
    ``chakra_trace_link``), judged on its first :data:`TIMES_HEAD_B` bytes."""
    head = _head(path, TIMES_HEAD_B)
    if head is None:
        return False
    return _ET_TIMES.search(head) is not None


_PID = re.compile(rb'"pid"\s*:\s*(\d+)')


def et_pid(path: Path) -> int | None:
    """The process id an execution trace names at its top (``"pid": N``), or None."""
    head = _head(path, HEAD_B)
    if head is None:
        return None
    m = _PID.search(head)
    return int(m.group(1)) if m else None
