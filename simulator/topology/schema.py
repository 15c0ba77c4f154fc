"""The topology file format as pydantic models (read by :mod:`simulator.topology.loader`).

Field for field what the loader's module docstring describes; bandwidths, latencies and sizes
use the unit-typed aliases of :mod:`simulator.core.schema` (``400Mbps``, ``5us``). Unknown keys
are rejected with the closest known key. Cross-field rules (a link's ends exist, a rank is an
endpoint, ``build:`` excludes ``nodes``) are the loader's, where the built graph is at hand.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from simulator.core.schema import BandwidthBps, LatencyS, SchemaModel
from simulator.topology.model import LinkKind, NodeKind
from simulator.topology.routing import Ecmp

NonEmptyStr = Annotated[str, Field(min_length=1, strict=True)]
"""A string of at least one character (strict: ``1`` is not ``"1"``)."""


class NodeSpec(SchemaModel):
    """One node of the explicit form; ``host`` defaults to the node's own name for cpu/gpu."""

    name: NonEmptyStr
    kind: NodeKind
    host: NonEmptyStr | None = None


class LinkSpec(SchemaModel):
    """One full-duplex link of the explicit form: ``bandwidth`` per direction (B/s once read),
    ``latency`` one way (seconds once read)."""

    a: str
    b: str
    bandwidth: BandwidthBps
    latency: LatencyS
    kind: LinkKind


class RoutingSpec(SchemaModel):
    """``routing:``: how routes choose among equal-cost paths (``None``: the builder's default)."""

    ecmp: Ecmp | None = None


class TopologyFile(SchemaModel):
    """A topology file: the explicit form (``nodes``, ``links``, ``ranks``) or ``build:``.

    ``build`` maps ``type`` and the builder's parameters, which the loader checks against the
    builder's signature (:data:`simulator.topology.builders.BUILDERS`). ``metadata`` is
    free-form (checked to be JSON-representable by the loader).
    """

    name: NonEmptyStr | None = None
    description: str | None = None
    metadata: dict[object, object] | None = None
    routing: RoutingSpec | None = None
    build: dict[str, object] | None = None
    nodes: Annotated[list[NodeSpec], Field(min_length=1)] | None = None
    links: list[LinkSpec] | None = None
    ranks: list[str] | None = None
