"""Chakra's size convention for collectives, against the IR's (nccl-tests')."""

from __future__ import annotations

from simulator.core.vocab import CollectiveOp


def chakra_comm_size(op: CollectiveOp, size_B: float, n: int) -> float:
    """Chakra's ``comm_size`` (bytes) of an IR collective of ``size_B`` on ``n`` ranks.

    ASTRA-sim's ring (``astra-sim/system/astraccl/native_collectives/collective_algorithm/
    Ring.cc`` @ 518bd513: All_Gather ``msg_size = data_size``, ``final_data_size =
    data_size * nodes_in_ring``) and Chakra's PyTorch converter (``comm_size`` = the bytes of
    the ``nccl:all_gather`` inputs, ``src/converter/pytorch_node.py`` @ 21585d8f) take an
    all-gather's size as one rank's contribution; the IR (nccl-tests) takes the gathered
    output, ``n`` times that. Every other kind is the same in both.
    """
    return size_B / max(n, 1) if op is CollectiveOp.ALL_GATHER else size_B


def ir_size_B(op: CollectiveOp, comm_size: float, n: int) -> float:
    """The IR ``size_B`` of a Chakra collective of ``comm_size`` on ``n`` ranks (the inverse
    of :func:`chakra_comm_size`)."""
    return comm_size * max(n, 1) if op is CollectiveOp.ALL_GATHER else comm_size
