"""Faults given on the command line: ``--faults`` as a YAML file or an inline YAML mapping.

``commsim collective --topology dgx-a100-2node --op all_reduce --size 1GiB
--faults '{nics: [{node: node0.nic3}]}'``. Errors are :class:`~simulator.core.errors.InputError`
naming ``--faults`` and the field, like a scenario's.
"""

from __future__ import annotations

from pathlib import Path

from simulator.core.errors import InputError
from simulator.core.schema_messages import validate_input
from simulator.faults.schema import FaultsConfig
from simulator.safeyaml import load_yaml_file, load_yaml_text


def load_faults(text: str) -> FaultsConfig:
    """The :class:`FaultsConfig` in file ``text`` or in ``text`` itself (inline YAML).

    Read with :mod:`simulator.safeyaml`'s guards (an alias bomb, duplicate keys or deep nesting
    are refused, as in a scenario) and validated with the scenario's messages (an unknown key
    gets a did-you-mean). A ``text`` that names a YAML file (``*.yaml``/``*.yml`` or a path
    with a ``/``, no braces or colons) that is not there, or a dangling or looping symbolic
    link, is refused as a missing file, not as "expected a mapping".
    """
    path = Path(text)
    try:
        is_file, exists = path.is_file(), path.exists() or path.is_symlink()
    except OSError:  # inline YAML longer than a file name may be
        is_file = exists = False
    named = "{" not in text and ":" not in text and "\n" not in text  # not a YAML mapping
    if is_file:
        where, raw = str(path), load_yaml_file(path)
    elif exists or (named and (text.strip().endswith((".yaml", ".yml")) or "/" in text)):
        what = "is not a regular file" if exists else "no such file"
        raise InputError(f"{what}: {text}", field="--faults")
    else:
        where, raw = "--faults", load_yaml_text(text, "--faults")
    if isinstance(raw, dict) and set(raw) == {"faults"}:
        raw = raw["faults"]
    if not isinstance(raw, dict):
        raise InputError("expected a mapping of faults (links, nics, switches, ...)", field=where)
    try:
        return validate_input(FaultsConfig, raw, file=where)
    except InputError as err:
        field = f"faults.{err.field}" if err.field else "faults"
        raise InputError(err.message, field=f"{where}: {field}") from None
