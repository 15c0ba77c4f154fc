"""Faults given on the command line: ``--faults`` as a YAML file or an inline YAML mapping.

``commsim collective --topology dgx-a100-2node --op all_reduce --size 1GiB
--faults '{nics: [{node: node0.nic3}]}'``. Errors are :class:`~simulator.core.errors.InputError`
naming ``--faults`` and the field, like a scenario's.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from simulator.core.errors import InputError
from simulator.faults.schema import FaultsConfig


def load_faults(text: str) -> FaultsConfig:
    """The :class:`FaultsConfig` in file ``text`` or in ``text`` itself (inline YAML)."""
    path = Path(text)
    where = "--faults"
    try:
        if path.is_file():
            where = str(path)
            raw = yaml.safe_load(path.read_text())
        else:
            raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", field=where) from None
    if isinstance(raw, dict) and set(raw) == {"faults"}:
        raw = raw["faults"]
    if not isinstance(raw, dict):
        raise InputError("expected a mapping of faults (links, nics, switches, ...)", field=where)
    try:
        return FaultsConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()) if not str(p).startswith("function-"))
        msg = "unknown key" if err.get("type") == "extra_forbidden" else str(err.get("msg"))
        raise InputError(msg, field=f"{where}: faults.{loc}") from None
