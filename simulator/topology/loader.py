"""Reading topologies from YAML: the explicit node/link form and the ``build:`` form.

Explicit form (bandwidth per direction; every link is full duplex)::

    name: rig-2host
    description: two hosts on one switch
    nodes:
      - {name: h0, kind: cpu}          # host defaults to the node's own name for cpu/gpu
      - {name: sw0, kind: switch}
    links:
      - {a: h0, b: sw0, bandwidth: 400Mbps, latency: 5us, kind: ethernet}
    ranks: [h0]                        # optional; default: endpoints in file order

Builder form: ``build: {type: dgx_cluster, nodes: 2, ...}`` calls the builder of that name in
:data:`simulator.topology.builders.BUILDERS`. A YAML key ``x`` fills the builder parameter
``x`` or, with units parsed from a string, ``x_Bps`` (bandwidth), ``x_s`` (time) or ``x_B``
(size): ``nic_bandwidth: 200Gbps`` sets ``nic_bandwidth_Bps=25e9``.

Routing (either form, optional): ``routing: {ecmp: hash|dmodk}`` picks how routes choose among
equal-cost paths (:class:`~simulator.topology.routing.Ecmp`); without it, tree fabrics built by
the cluster builders use ``dmodk`` and everything else ``hash``.

Unknown keys, wrong types and bad values raise :class:`~simulator.core.errors.InputError` naming the
file and the field, e.g. ``topologies/x.yaml: links[3].bandwidth: ...``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.core.units import UnitError, parse_bandwidth, parse_size, parse_time
from simulator.resources import resolve
from simulator.topology.builders import BUILDERS
from simulator.topology.graph_builder import GraphBuilder
from simulator.topology.model import LinkKind, NodeKind, Topology
from simulator.topology.routing import Ecmp

_TOP_KEYS = ("name", "description", "nodes", "links", "ranks", "metadata", "build", "routing")
_ROUTING_KEYS = ("ecmp",)
_NODE_KEYS = ("name", "kind", "host")
_LINK_KEYS = ("a", "b", "bandwidth", "latency", "kind")
_UNIT_SUFFIXES: tuple[tuple[str, Callable[[Any], float]], ...] = (
    ("_Bps", parse_bandwidth),
    ("_s", parse_time),
    ("_B", parse_size),
)


def load_topology(name_or_path: str | Path) -> Topology:
    """Load a topology from a YAML path or a shipped NAME (``topologies/NAME.yaml``).

    Raises :class:`InputError` naming file and field on any problem.
    """
    from simulator.safeyaml import load_yaml_file

    path = resolve("topologies", name_or_path, what="topology")
    file = str(path)
    data = load_yaml_file(path, file)
    return topology_from_dict(data, file=file, default_name=path.stem)


def topology_from_dict(data: object, *, file: str = "<dict>", default_name: str = "") -> Topology:
    """Build a topology from already-parsed YAML ``data`` (see module docstring)."""
    if not isinstance(data, dict):
        raise InputError("a topology file must be a mapping", file=file)
    _reject_unknown(data, _TOP_KEYS, file, "")
    name = data.get("name", default_name) or default_name
    if not isinstance(name, str):
        raise InputError("must be a string", file=file, field="name")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise InputError("must be a string", file=file, field="description")
    extra_meta = data.get("metadata", {}) or {}
    if not isinstance(extra_meta, dict):
        raise InputError("must be a mapping", file=file, field="metadata")
    from simulator.topology.connectivity import check_plain_data

    check_plain_data(extra_meta, file, "metadata")
    ecmp = _routing(data.get("routing"), file)
    if "build" in data:
        for k in ("nodes", "links", "ranks"):
            if k in data:
                raise InputError(
                    "give either build: or nodes/links/ranks, not both", file=file, field=k
                )
        topo = _from_builder(data["build"], file, name)
    else:
        topo = _explicit(data, file, name)
    topo.metadata.setdefault("description", description)
    if description:
        topo.metadata["description"] = description
    topo.metadata.update(extra_meta)
    topo.metadata["source_file"] = file
    if ecmp is not None:
        topo.set_ecmp(ecmp)
    from simulator.topology.connectivity import check_connected

    check_connected(topo, file)
    return topo


def _routing(spec: Any, file: str) -> Ecmp | None:
    """The ``routing:`` section's ECMP policy, ``None`` when not given."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise InputError("must be a mapping {ecmp: hash|dmodk}", file=file, field="routing")
    _reject_unknown(spec, _ROUTING_KEYS, file, "routing")
    if "ecmp" not in spec:
        return None
    ecmp: Ecmp = _enum(Ecmp, spec["ecmp"], file, "routing.ecmp")
    return ecmp


def _reject_unknown(d: dict[str, Any], allowed: tuple[str, ...], file: str, where: str) -> None:
    for k in d:
        if k not in allowed:
            field = f"{where}.{k}" if where else str(k)
            raise InputError(f"unknown key (allowed: {', '.join(allowed)})", file=file, field=field)


def _explicit(data: dict[str, Any], file: str, name: str) -> Topology:
    nodes = data.get("nodes")
    links = data.get("links")
    if not isinstance(nodes, list) or not nodes:
        raise InputError("a non-empty list of nodes is required", file=file, field="nodes")
    if not isinstance(links, list):
        raise InputError("a list of links is required", file=file, field="links")
    gb = GraphBuilder()
    for i, nd in enumerate(nodes):
        where = f"nodes[{i}]"
        if not isinstance(nd, dict):
            raise InputError("must be a mapping {name, kind, host}", file=file, field=where)
        _reject_unknown(nd, _NODE_KEYS, file, where)
        for req in ("name", "kind"):
            if req not in nd:
                raise InputError("required", file=file, field=f"{where}.{req}")
        nname = nd["name"]
        if not isinstance(nname, str) or not nname:
            raise InputError("must be a non-empty string", file=file, field=f"{where}.name")
        kind = _enum(NodeKind, nd["kind"], file, f"{where}.kind")
        host = nd.get("host")
        if host is not None and not isinstance(host, str):
            raise InputError("must be a string", file=file, field=f"{where}.host")
        try:
            gb.add_node(nname, kind, host=host)
        except ValueError as exc:
            raise InputError(str(exc), file=file, field=f"{where}.name") from None
    for i, lk in enumerate(links):
        where = f"links[{i}]"
        if not isinstance(lk, dict):
            raise InputError(
                "must be a mapping {a, b, bandwidth, latency, kind}", file=file, field=where
            )
        _reject_unknown(lk, _LINK_KEYS, file, where)
        for req in _LINK_KEYS:
            if req not in lk:
                raise InputError("required", file=file, field=f"{where}.{req}")
        for end in ("a", "b"):
            if lk[end] not in gb.graph:
                raise InputError(f"no node named {lk[end]!r}", file=file, field=f"{where}.{end}")
        bw = _unit(parse_bandwidth, lk["bandwidth"], file, f"{where}.bandwidth")
        lat = _unit(parse_time, lk["latency"], file, f"{where}.latency")
        kind = _enum(LinkKind, lk["kind"], file, f"{where}.kind")
        if bw <= 0:
            raise InputError("must be positive", file=file, field=f"{where}.bandwidth")
        try:
            gb.add_link(lk["a"], lk["b"], bw, lat, kind)
        except ValueError as exc:
            raise InputError(str(exc), file=file, field=where) from None
    ranks = data.get("ranks")
    if ranks is not None:
        if not isinstance(ranks, list) or not all(isinstance(r, str) for r in ranks):
            raise InputError("must be a list of node names", file=file, field="ranks")
        for i, r in enumerate(ranks):
            if r not in gb.graph:
                raise InputError(f"no node named {r!r}", file=file, field=f"ranks[{i}]")
            if not NodeKind(gb.graph.nodes[r]["kind"]).is_endpoint:
                raise InputError(f"{r!r} is not a gpu or cpu node", file=file, field=f"ranks[{i}]")
    try:
        return gb.build(name, ranks=ranks, metadata={"builder": "explicit"})
    except ValueError as exc:
        raise InputError(str(exc), file=file, field="ranks") from None


def _enum(enum: Any, value: Any, file: str, field: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InputError(
            f"unknown value {value!r} (allowed: {allowed})", file=file, field=field
        ) from None


def _unit(parser: Callable[[Any], float], value: Any, file: str, field: str) -> float:
    try:
        return parser(value)
    except UnitError as exc:
        raise InputError(str(exc), file=file, field=field) from None


def _from_builder(spec: Any, file: str, name: str) -> Topology:
    if not isinstance(spec, dict):
        raise InputError("must be a mapping with a 'type'", file=file, field="build")
    btype = spec.get("type")
    if btype not in BUILDERS:
        raise InputError(
            f"unknown builder {btype!r} (known: {', '.join(sorted(BUILDERS))})",
            file=file,
            field="build.type",
        )
    func = BUILDERS[btype]
    params = inspect.signature(func).parameters
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "type":
            continue
        field = f"build.{key}"
        target, parser = _param_for(key, params)
        if target is None:
            shown = sorted(_display_name(p) for p in params if p != "name")
            raise InputError(
                f"unknown parameter of builder {btype!r} (allowed: {', '.join(shown)})",
                file=file,
                field=field,
            )
        kwargs[target] = _unit(parser, value, file, field) if parser else value
    kwargs.setdefault("name", name)
    from simulator.limits import check_topology_size

    check_topology_size(str(btype), kwargs, file)
    try:
        topo = func(**kwargs)
    except InputError as exc:  # catalog look-ups (unknown GPU or link name)
        raise InputError(exc.message, file=file, field=_field_for(exc.message, spec)) from None
    except (ValueError, TypeError, KeyError) as exc:
        msg = str(exc)
        raise InputError(msg, file=file, field=_field_for(msg, spec)) from None
    topo.metadata.setdefault("builder", btype)
    return topo


def _field_for(msg: str, spec: dict[str, Any]) -> str:
    """Best guess of the ``build.KEY`` a builder's error message is about."""
    for key in spec:
        if key != "type" and msg.startswith(f"{key}:"):
            return f"build.{key}"
    for key, value in spec.items():
        if key != "type" and isinstance(value, str | int | float) and repr(value) in msg:
            return f"build.{key}"
    return "build"


def _display_name(param: str) -> str:
    for suffix, _ in _UNIT_SUFFIXES:
        if param.endswith(suffix):
            return param[: -len(suffix)]
    return param


def _param_for(key: str, params: Any) -> tuple[str | None, Callable[[Any], float] | None]:
    if key in params:
        for suffix, parser in _UNIT_SUFFIXES:
            if key.endswith(suffix):
                return key, parser  # SI numbers pass through parsers unchanged
        return key, None
    for suffix, parser in _UNIT_SUFFIXES:
        if key + suffix in params:
            return key + suffix, parser
    return None, None
