"""Disjoint sets kept in a plain ``parent`` dict (absent key: its own root)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def find_root(parent: dict[T, T], x: T) -> T:
    """The root of ``x``'s set, compressing the path walked (every node on it then points at
    the root); a key missing from ``parent`` is a root."""
    root = x
    while parent.get(root, root) != root:
        root = parent[root]
    while x != root:
        parent[x], x = root, parent[x]
    return root
