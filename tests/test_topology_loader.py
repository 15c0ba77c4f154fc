"""Loading topology YAML: explicit and builder forms; errors name file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulator.core.errors import InputError
from simulator.topology import LinkKind, NodeKind, load_topology

GOOD = {
    "name": "two",
    "description": "two hosts on one switch",
    "nodes": [
        {"name": "h0", "kind": "cpu"},
        {"name": "h1", "kind": "cpu", "host": "boxB"},
        {"name": "sw0", "kind": "switch"},
    ],
    "links": [
        {"a": "h0", "b": "sw0", "bandwidth": "400Mbps", "latency": "5us", "kind": "ethernet"},
        {"a": "h1", "b": "sw0", "bandwidth": "1 GB/s", "latency": "1.5µs", "kind": "ethernet"},
    ],
}


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "x.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def test_explicit_topology_loads_with_duplex_links(tmp_path: Path) -> None:
    topo = load_topology(_write(tmp_path, GOOD))
    assert topo.name == "two"
    assert topo.ranks == ["h0", "h1"]
    assert topo.hosts() == ["h0", "boxB"]
    assert topo.ranks_by_host() == {"h0": [0], "boxB": [1]}
    assert len(topo.links) == 4  # two physical links, two directions each
    assert [lk.bandwidth_Bps for lk in topo.links] == [50e6, 50e6, 1e9, 1e9]
    assert topo.latency_s.tolist() == pytest.approx([5e-6, 5e-6, 1.5e-6, 1.5e-6])
    assert topo.capacity_Bps.tolist() == [50e6, 50e6, 1e9, 1e9]
    for i, lk in enumerate(topo.links):
        assert lk.id == i
        assert topo.graph.edges[lk.src, lk.dst]["link_id"] == i
        assert lk.kind is LinkKind.ETHERNET
    assert topo.graph.nodes["sw0"]["kind"] is NodeKind.SWITCH
    assert topo.metadata["description"] == "two hosts on one switch"
    assert topo.route(0, 1) == (0, 3)


def test_ranks_order_is_respected(tmp_path: Path) -> None:
    topo = load_topology(_write(tmp_path, {**GOOD, "ranks": ["h1", "h0"]}))
    assert topo.ranks == ["h1", "h0"]


def _mutate(path: str, value: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    target = data
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        ("links.1.bandwidth", "400GB", "links[1].bandwidth", "/s or ps"),
        ("links.0.latency", "5 parsecs", "links[0].latency", "unknown unit"),
        ("links.1.kind", "carrier_pigeon", "links[1].kind", "allowed"),
        ("links.0.speed", "1Gbps", "links[0].speed", "unknown key"),
        ("links.0.b", "nowhere", "links[0].b", "no node named"),
        ("links.0.bandwidth", KeyError, "links[0].bandwidth", "required"),
        ("nodes.2.kind", "router", "nodes[2].kind", "allowed"),
        ("nodes.1.name", "h0", "nodes[1].name", "defined twice"),
        ("nodes.0.color", "red", "nodes[0].color", "unknown key"),
        ("ranks", ["h0", "sw0"], "ranks[1]", "not a gpu or cpu"),
        ("ranks", ["h0", "zz"], "ranks[1]", "no node named"),
        ("extra", 1, "extra", "unknown key"),
        ("nodes", [], "nodes", "non-empty"),
    ],
)
def test_errors_name_file_and_field(
    tmp_path: Path, path: str, value: object, field: str, message: str
) -> None:
    p = _write(tmp_path, _mutate(path, value))
    with pytest.raises(InputError) as err:
        load_topology(p)
    assert err.value.file == str(p)
    assert err.value.field == field
    assert message in err.value.message
    assert str(err.value).startswith(f"{p}: {field}: ")


def test_duplicate_link_rejected(tmp_path: Path) -> None:
    data = _mutate("links.1.a", "h0")
    with pytest.raises(InputError, match=r"links\[1\].*twice"):
        load_topology(_write(tmp_path, data))


def test_builder_form_with_units(tmp_path: Path) -> None:
    spec = {
        "name": "b",
        "description": "d",
        "build": {
            "type": "cluster",
            "nodes": 2,
            "nic_bandwidth": "100Gbps",
            "fabric": "single_switch",
        },
    }
    topo = load_topology(_write(tmp_path, spec))
    assert topo.num_ranks == 16
    nic_links = [lk for lk in topo.links if lk.kind is LinkKind.INFINIBAND]
    assert {lk.bandwidth_Bps for lk in nic_links} == {12.5e9}
    assert topo.metadata["builder"] == "cluster"


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [
        ({"type": "mesh"}, "build.type", "unknown builder"),
        ({"type": "cluster", "colour": 3}, "build.colour", "unknown parameter"),
        ({"type": "cluster", "nic_bandwidth": "100GB"}, "build.nic_bandwidth", "/s or ps"),
        ({"type": "cluster", "nodes": 0}, "build.nodes", "integer >= 1"),
        ({"type": "cluster", "fabric": "star"}, "build.fabric", "star"),
        # the allowed values named (was Python's "'rail_optimised' is not a valid Fabric")
        (
            {"type": "cluster", "nodes": 2, "fabric": "rail_optimised"},
            "build.fabric",
            "unknown value 'rail_optimised'; did you mean 'rail_optimized'? (allowed: none, "
            "single_switch, fat_tree, rail_optimized, fat_tree_3tier)",
        ),
        ({"type": "cluster", "node": "dgxx"}, "build.node", "(allowed: dgx, pcie)"),
        ({"type": "cluster", "oversubscription": 0.5}, "build.oversubscription", ">= 1"),
        ({"type": "cluster", "gpu": "Z80"}, "build.gpu", "unknown GPU"),
        ({"type": "torus", "dims": [0, 2]}, "build.dims", "positive integers"),
        ({"type": "cluster", "switch_radix": 10**30}, "build.switch_radix", "<= 2,147,483,647"),
        ({"type": "cluster", "oversubscription": "two"}, "build.oversubscription", "a number"),
        ({"type": "cluster", "nic_bandwidth": "1e308Gbit/s"}, "build.nic_bandwidth", "too large"),
        (
            {
                "type": "cluster",
                "nodes": 128,
                "nics_per_node": 8,
                "fabric": "fat_tree",
                "nic_bandwidth": "1e300Gbit/s",
            },
            "build.nic_bandwidth",
            "at most 1e+15 bytes/s",  # 1.25e299 B/s links (their uplinks: more than a float)
        ),
    ],
)
def test_builder_errors_name_field(tmp_path: Path, build: dict, field: str, message: str) -> None:
    p = _write(tmp_path, {"name": "b", "build": build})
    with pytest.raises(InputError) as err:
        load_topology(p)
    assert err.value.file == str(p)
    assert err.value.field == field
    assert message in err.value.message


def test_build_and_nodes_together_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="either build"):
        load_topology(_write(tmp_path, {**GOOD, "build": {"type": "cluster"}}))


def test_not_yaml_and_unknown_name(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("nodes: [unclosed", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        load_topology(p)
    with pytest.raises(InputError, match="no shipped topology"):
        load_topology("no-such-cluster")


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        ("links.0.bandwidht", "1Gbps", "links[0].bandwidht", "did you mean 'bandwidth'?"),
        ("nodes.1.hots", "boxB", "nodes[1].hots", "did you mean 'host'?"),
        ("lnks", [], "lnks", "did you mean 'links'?"),
        ("routing", {"ecmpp": "hash"}, "routing.ecmpp", "did you mean 'ecmp'?"),
        ("links.0.latency", "5 Gbps", "links[0].latency", "unknown unit"),
        ("links.0.bandwidth", "5 ms", "links[0].bandwidth", "unknown unit"),
        ("links.0.bandwidth", "-400Mbps", "links[0].bandwidth", "non-negative"),
        ("links.0.bandwidth", 0, "links[0].bandwidth", "expected a bandwidth from 1 kB/s"),
        ("links.0.latency", "-5us", "links[0].latency", "non-negative"),
        ("links.0.latency", True, "links[0].latency", "expected a number"),
        ("nodes.0.name", 7, "nodes[0].name", "expected a string, got 7"),
        ("nodes.0.name", "", "nodes[0].name", "a non-empty string"),
        ("routing", {"ecmp": "random"}, "routing.ecmp", "allowed: hash, dmodk"),
        ("nodes", "abc", "nodes", "expected a list, got 'abc'"),
    ],
)
def test_schema_errors_are_one_clear_line(
    tmp_path: Path, path: str, value: object, field: str, message: str
) -> None:
    """Misspelt keys get the closest known key; units, signs and types name the field."""
    p = _write(tmp_path, _mutate(path, value))
    with pytest.raises(InputError) as err:
        load_topology(p)
    assert (err.value.file, err.value.field) == (str(p), field)
    assert message in err.value.message
    assert "\n" not in str(err.value)


def test_builder_parameter_typo_suggests_the_parameter(tmp_path: Path) -> None:
    p = _write(tmp_path, {"name": "b", "build": {"type": "cluster", "nic_bandwidht": "1Gbps"}})
    with pytest.raises(InputError, match="did you mean 'nic_bandwidth'") as err:
        load_topology(p)
    assert err.value.field == "build.nic_bandwidht"


def test_a_number_written_as_yaml_text_is_read(tmp_path: Path) -> None:
    """YAML 1.1 reads ``1e0`` as text: a float parameter takes it as the number it is."""
    spec = {"name": "b", "build": {"type": "cluster", "nodes": 4, "oversubscription": "2e0"}}
    same = {"name": "b", "build": {"type": "cluster", "nodes": 4, "oversubscription": 2.0}}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = load_topology(_write(tmp_path / "a", spec))
    b = load_topology(_write(tmp_path / "b", same))
    assert [lk.bandwidth_Bps for lk in a.links] == [lk.bandwidth_Bps for lk in b.links]
