"""Chakra execution traces: export any Program to Chakra ET files and import them back.

A Chakra ET file holds length-delimited protobuf messages (varint length, then the message):
one ``GlobalMetadata``, then one ``Node`` per op. One file per rank, ``<prefix>.<rank>.et``.
See :mod:`.codec` for the mapping between IR ops and Chakra nodes.
"""

try:
    import google.protobuf  # noqa: F401
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised by a test that hides it
    from simulator.core.errors import InputError

    raise InputError(
        "Chakra support needs protobuf, which is not installed: "
        "pip install 'commsim[chakra]' (the [chakra] extra)"
    ) from _exc

from simulator.traces.chakra.codec import (
    export_workload,
    import_chakra_dir,
    program_from_nodes,
    program_to_nodes,
    read_et,
    write_et,
)

__all__ = [
    "export_workload",
    "import_chakra_dir",
    "program_from_nodes",
    "program_to_nodes",
    "read_et",
    "write_et",
]
