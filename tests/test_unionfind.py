"""find_root: the root of a set in a parent dict, with the walked path compressed."""

from simulator.core.unionfind import find_root


def test_find_root_follows_and_compresses_the_path() -> None:
    parent = {1: 2, 2: 3, 3: 4}
    assert find_root(parent, 1) == 4
    assert parent == {1: 4, 2: 4, 3: 4}  # every node walked now points at the root
    assert find_root(parent, 9) == 9 and 9 not in parent  # a missing key is its own root
