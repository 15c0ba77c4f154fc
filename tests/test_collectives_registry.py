"""The algorithm registry finds every algorithm by its name (two files to add one)."""

from __future__ import annotations

import importlib

import pytest

from simulator.collectives.registry import ALGORITHMS, _implementation
from simulator.core.vocab import Algorithm, CollectiveOp


def test_every_algorithm_but_auto_has_its_module() -> None:
    assert set(ALGORITHMS) == set(Algorithm) - {Algorithm.AUTO}
    for algo, (builder, ops) in ALGORITHMS.items():
        module = importlib.import_module(f"simulator.collectives.{algo.value}")
        assert builder is getattr(module, algo.value)
        assert ops and ops <= set(CollectiveOp)


def test_a_module_without_implements_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("simulator.collectives.tree")
    monkeypatch.delattr(module, "IMPLEMENTS")
    with pytest.raises(ImportError, match=r"simulator.collectives.tree must define tree\(\)"):
        _implementation(Algorithm.TREE)
