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

import difflib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from simulator.core.errors import InputError
from simulator.core.gcpause import paused_gc
from simulator.core.suggest import hint as did_you_mean
from simulator.core.units import MAX_COUNT, UnitError, parse_bandwidth, parse_size, parse_time
from simulator.core.validated import validated
from simulator.limits import check_topology_size
from simulator.resources import resolve
from simulator.safeyaml import load_yaml_file
from simulator.topology.builders import BUILDERS
from simulator.topology.connectivity import check_connected, check_plain_data
from simulator.topology.graph_builder import GraphBuilder
from simulator.topology.model import NodeKind, Topology
from simulator.topology.routing import Ecmp

if TYPE_CHECKING:
    from simulator.topology.schema import TopologyFile

_Parser = Callable[[str | float], float]
_UNIT_SUFFIXES: tuple[tuple[str, _Parser], ...] = (
    ("_Bps", parse_bandwidth),
    ("_s", parse_time),
    ("_B", parse_size),
)


def load_topology(name_or_path: str | Path) -> Topology:
    """Load a topology from a YAML path or a shipped NAME (``topologies/NAME.yaml``).

    Raises :class:`InputError` naming file and field on any problem.
    """

    path = resolve("topologies", name_or_path, what="topology")
    file = str(path)
    data = load_yaml_file(path, file)
    return topology_from_dict(data, file=file, default_name=path.stem)


@dataclass(frozen=True, slots=True)
class _Checked:
    """A topology file once validated: the fields every form has, ``build`` for the builder
    form, and ``explicit`` (the validated :class:`~simulator.topology.schema.TopologyFile`)
    for the explicit form. The builder form holds no pydantic object, so the validated cache
    keeps it."""

    name: str | None
    description: str | None
    metadata: dict[object, object] | None
    ecmp: Ecmp | None
    build: dict[str, object] | None
    explicit: TopologyFile | None


def _check(data: object, file: str) -> _Checked:
    """Validate ``data`` (a topology mapping) and the rules across its sections.

    pydantic is imported here, on a miss of the validated cache only (start-up time,
    docs/decisions.md 2026-12-05).
    """
    from simulator.core.schema_messages import validate_input
    from simulator.topology.schema import TopologyFile

    if not isinstance(data, dict):
        raise InputError("a topology file must be a mapping", file=file)
    spec = validate_input(TopologyFile, data, file=file)
    check_plain_data(spec.metadata or {}, file, "metadata")
    if spec.build is not None:
        for k in ("nodes", "links", "ranks"):
            if k in data:
                raise InputError(
                    "give either build: or nodes/links/ranks, not both", file=file, field=k
                )
    return _Checked(
        name=spec.name,
        description=spec.description,
        metadata=spec.metadata,
        ecmp=spec.routing.ecmp if spec.routing is not None else None,
        build=spec.build,
        explicit=spec if spec.build is None else None,
    )


def topology_from_dict(data: object, *, file: str = "<dict>", default_name: str = "") -> Topology:
    """Build a topology from already-parsed YAML ``data`` (see module docstring).

    Validation is remembered across processes for the builder form
    (:func:`~simulator.core.validated.validated`, keyed by ``data`` and ``file``).
    """
    if not isinstance(data, dict):
        raise InputError("a topology file must be a mapping", file=file)
    spec = validated("topology", data, file, lambda: _check(data, file))
    name = spec.name or default_name
    description = spec.description or ""
    extra_meta = spec.metadata or {}
    with paused_gc():  # many acyclic objects (simulator/core/gcpause.py)
        if spec.build is not None:
            topo = _from_builder(spec.build, file, name)
        else:
            assert spec.explicit is not None  # _check: one form or the other
            topo = _explicit(spec.explicit, file, name)
    topo.metadata.setdefault("description", description)
    if description:
        topo.metadata["description"] = description
    topo.metadata.update(cast(dict[str, object], extra_meta))  # keys as written (str or number)
    if "gpu" in extra_meta:
        _check_gpu(extra_meta["gpu"], file)
    topo.metadata["source_file"] = file
    if spec.ecmp is not None:
        topo.set_ecmp(spec.ecmp)

    check_connected(topo, file)
    return topo


def _check_gpu(name: object, file: str) -> None:
    """``metadata.gpu``, the GPU every rank of the topology carries, checked against the
    catalogue here: a misspelt ``A100-80G`` was reported as the scenario's ``hardware.gpu``,
    and ``gpu: 7`` or ``gpu: true`` showed and ran collectives without a word."""
    from simulator.hardware import get_gpu

    if not isinstance(name, str) or not name.strip():
        raise InputError(f"expected a GPU name, got {name!r}", file=file, field="metadata.gpu")
    try:
        get_gpu(name)
    except InputError as exc:
        raise InputError(exc.message, file=file, field="metadata.gpu") from None


def _explicit(spec: TopologyFile, file: str, name: str) -> Topology:
    """The explicit form: nodes, then links between them, then the ranks."""
    if not spec.nodes:
        raise InputError("a non-empty list of nodes is required", file=file, field="nodes")
    if spec.links is None:
        raise InputError("a list of links is required", file=file, field="links")
    gb = GraphBuilder()
    for i, nd in enumerate(spec.nodes):
        try:
            gb.add_node(nd.name, nd.kind, host=nd.host)
        except ValueError as exc:
            raise InputError(str(exc), file=file, field=f"nodes[{i}].name") from None
    for i, lk in enumerate(spec.links):
        where = f"links[{i}]"
        for end, node in (("a", lk.a), ("b", lk.b)):
            if not gb.has_node(node):
                raise InputError(f"no node named {node!r}", file=file, field=f"{where}.{end}")
        try:
            gb.add_link(lk.a, lk.b, lk.bandwidth, lk.latency, lk.kind)
        except ValueError as exc:
            raise InputError(str(exc), file=file, field=where) from None
    for i, r in enumerate(spec.ranks or ()):
        if not gb.has_node(r):
            raise InputError(f"no node named {r!r}", file=file, field=f"ranks[{i}]")
        if not NodeKind(str(gb.nodes[r]["kind"])).is_endpoint:
            raise InputError(f"{r!r} is not a gpu or cpu node", file=file, field=f"ranks[{i}]")
    try:
        topo = gb.build(name, ranks=spec.ranks, metadata={"builder": "explicit"})
    except ValueError as exc:
        raise InputError(str(exc), file=file, field="ranks") from None
    if topo.num_ranks == 0:  # ``ranks: []``, or no gpu/cpu node: nothing can run on it
        raise InputError(
            "expected at least one gpu or cpu node as a rank (leave ranks out for all of them)",
            file=file,
            field="ranks",
        )
    return topo


def _bare_checked(target: str, value: object, file: str, field: str) -> object:
    """``value`` of a builder parameter, refused when a bare number cannot be what is meant
    (:mod:`simulator.core.bare_units`)."""
    from simulator.core.bare_units import unit_bandwidth, unit_latency

    check = {"_Bps": unit_bandwidth, "_s": unit_latency}.get("_" + target.rsplit("_", 1)[-1])
    if check is None or ("latency" not in target and check is unit_latency):
        return value  # a duration that is not a link latency (a period, a timeout)
    try:
        return check(value)
    except ValueError as exc:
        raise InputError(str(exc), file=file, field=field) from None


def _unit(parser: _Parser, value: object, file: str, field: str) -> float:
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise UnitError(f"expected a number or a string with a unit, got {value!r}")
        return parser(value)
    except UnitError as exc:
        raise InputError(str(exc), file=file, field=field) from None


def _from_builder(spec: dict[str, object], file: str, name: str) -> Topology:
    """The ``build:`` form: the builder ``spec["type"]`` called with the other keys."""
    btype = spec.get("type")
    if btype is None:  # `tyep: cluster` read as "unknown builder None"
        close = difflib.get_close_matches("type", [str(k) for k in spec], n=1, cutoff=0.6)
        said = f"; is {close[0]!r} a misspelling of 'type'?" if close else ""
        raise InputError(
            f"required field missing{said} (builders: {', '.join(sorted(BUILDERS))})",
            file=file,
            field="build.type",
        )
    if not isinstance(btype, str) or btype not in BUILDERS:
        raise InputError(
            f"unknown builder {btype!r}{did_you_mean(btype, BUILDERS)} "
            f"(known: {', '.join(sorted(BUILDERS))})",
            file=file,
            field="build.type",
        )
    func = BUILDERS[btype]
    params = inspect.signature(func).parameters
    kwargs: dict[str, object] = {}
    parsed: dict[str, object] = {}  # YAML key -> the value as the builder gets it
    for key, value in spec.items():
        if key == "type":
            continue
        field = f"build.{key}"
        target, parser = _param_for(key, params)
        if target is None:
            shown = sorted(_display_name(p) for p in params if p != "name")
            close = difflib.get_close_matches(key, shown, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(
                f"unknown parameter of builder {btype!r} ({hint}allowed: {', '.join(shown)})",
                file=file,
                field=field,
            )
        if parser:
            if target != key:  # written without the unit suffix: a bare number needs a unit
                value = _bare_checked(target, value, file, field)
            value = _unit(parser, value, file, field)
        else:
            value = _typed_param(value, str(params[target].annotation), file, field)
        kwargs[target] = parsed[key] = value
    kwargs.setdefault("name", name)

    check_topology_size(btype, kwargs, file)
    try:
        topo = func(**kwargs)
    except InputError as exc:  # catalog look-ups (unknown GPU or link name)
        field = _field_for(exc.message, spec, parsed)
        raise InputError(exc.message, file=file, field=field) from None
    except (ValueError, TypeError, KeyError) as exc:
        msg = str(exc)
        raise InputError(msg, file=file, field=_field_for(msg, spec, parsed)) from None
    topo.metadata.setdefault("builder", btype)
    return topo


def _typed_param(value: object, annotation: str, file: str, field: str) -> object:
    """``value`` of a builder parameter without a unit, checked against the parameter's
    annotation: a name is a non-empty string, a count an integer (never ``true``), a factor a
    finite number. Until 2026-12-06 values went to the builder unchecked: ``name: 1e400`` (a
    YAML string for YAML 1.1, a float inf for others), ``nodes: true`` (one node) and
    ``gpus_per_switch: abc`` built topologies or failed with a traceback."""
    if value is None and annotation.endswith(" | None"):
        return None
    kind = annotation.removesuffix(" | None")
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"expected a non-empty string, got {value!r}", file=file, field=field)
        return value
    if kind == "int":
        return _int_param(value, file, field)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InputError(f"expected a number, got {value!r}", file=file, field=field)
        return _number_text(str(value), file, field)
    if kind == "Sequence[int]":
        if not isinstance(value, list) or not value:
            raise InputError(f"expected a list of integers, got {value!r}", file=file, field=field)
        return [_int_param(v, file, f"{field}[{i}]") for i, v in enumerate(value)]
    return value


def _int_param(value: object, file: str, field: str) -> int:
    """An integer builder parameter (a count, a degree) in 0..:data:`MAX_COUNT`, or
    :class:`InputError` (``chips_per_host: 2**63`` built a topology, and ``nodes: 2**1000``
    under ``--force`` listed hosts until the memory ran out)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"expected an integer >= 0, got {value!r}", file=file, field=field)
    if value > MAX_COUNT:
        raise InputError(
            f"expected an integer <= {MAX_COUNT:,}, got {value:.3g}", file=file, field=field
        )
    return value


def _number_text(value: str, file: str, field: str) -> float:
    """A number written as text (``"1e3"``), or :class:`InputError` naming the field."""
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"expected a number, got {value!r}", file=file, field=field) from None
    if not math.isfinite(number):
        raise InputError(f"expected a finite number, got {value!r}", file=file, field=field)
    return number


def _field_for(
    msg: str, spec: Mapping[str, object], parsed: Mapping[str, object] | None = None
) -> str:
    """Best guess of the ``build.KEY`` a builder's error message is about: the key it starts
    with, else the key whose value (as written, then as parsed: ``1e300Gbit/s`` is
    ``1.25e+299``) it quotes."""
    for key in spec:
        if key != "type" and msg.startswith(f"{key}:"):
            return f"build.{key}"
    for key, value in [*spec.items(), *(parsed or {}).items()]:
        if key == "type" or isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        shown = {repr(value)} | ({f"{value:g}"} if isinstance(value, int | float) else set())
        # a whole token only: 8 (nics_per_node) is not the 8 in "got 1.25e+308"
        if any(re.search(rf"(?<![\w.+-]){re.escape(text)}(?![\w.])", msg) for text in shown):
            return f"build.{key}"
    return "build"


def _display_name(param: str) -> str:
    for suffix, _ in _UNIT_SUFFIXES:
        if param.endswith(suffix):
            return param[: -len(suffix)]
    return param


def _param_for(
    key: str, params: Mapping[str, inspect.Parameter]
) -> tuple[str | None, _Parser | None]:
    if key in params:
        for suffix, parser in _UNIT_SUFFIXES:
            if key.endswith(suffix):
                return key, parser  # SI numbers pass through parsers unchanged
        return key, None
    for suffix, parser in _UNIT_SUFFIXES:
        if key + suffix in params:
            return key + suffix, parser
    return None, None
