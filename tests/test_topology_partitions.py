"""The topology's partitions (host, datacenter) that both hierarchical all-reduces use."""

from __future__ import annotations

import pytest

from simulator.collectives.ring import host_blocks
from simulator.topology.loader import load_topology
from simulator.topology.partitions import by_datacenter, by_host, datacenter_of_ranks, split


def test_split_keeps_first_seen_part_order_and_group_order() -> None:
    assert split([5, 1, 7, 3], ["b", "a", "b", "a"]) == [[5, 7], [1, 3]]


def test_split_needs_one_key_per_rank() -> None:
    with pytest.raises(ValueError):
        split([0, 1], ["a"])


def test_two_datacenters_split_at_the_wan() -> None:
    t = load_topology("two-dc-wan")
    dc = datacenter_of_ranks(t)
    assert dc == (0,) * 16 + (1,) * 16
    assert by_datacenter(t, [0, 16, 8, 24]) == [[0, 8], [16, 24]]
    assert by_host(t, [0, 16, 8, 24, 1]) == [[0, 1], [16], [8], [24]]


def test_collectives_host_blocks_is_the_host_partition() -> None:
    t = load_topology("dgx-a100-2node")
    group = [0, 8, 1, 9]
    assert host_blocks(group, [t.host_of(r) for r in group]) == by_host(t, group)
