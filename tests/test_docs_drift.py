"""Documentation drift: every dotted ``simulator.*`` name the docs and docstrings mention exists.

Catches a module moved or a function renamed without its documentation (docs/*.md, README.md,
and Sphinx-style references ``:class:`~simulator...``` in the package's docstrings).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_NAME = re.compile(r"\bsimulator(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or an attribute chain below the longest module prefix."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if attr in getattr(obj, "__dataclass_fields__", {}):
                obj = None  # a field of a dataclass: exists, nothing below it to check
                break
            if not hasattr(obj, attr):  # an instance attribute set in __init__ counts
                return (
                    inspect.isclass(obj)
                    and attr == parts[-1]
                    and f"self.{attr}" in inspect.getsource(obj)
                )
            obj = getattr(obj, attr)
        return True
    return False


def _names(text: str) -> set[str]:
    return {m.group(0).rstrip(".") for m in _NAME.finditer(text)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_names_in_docs_exist(doc: Path) -> None:
    missing = sorted(n for n in _names(doc.read_text()) if not resolves(n))
    assert not missing, f"{doc.name} mentions names that do not exist: {missing}"


def test_names_in_docstrings_exist() -> None:
    missing = set()
    for path in sorted((ROOT / "simulator").rglob("*.py")):
        for name in _names(path.read_text()):
            if not resolves(name):
                missing.add(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, sorted(missing)


_ATTR_LINE = re.compile(r"^ {4}([a-z_][a-z0-9_]*(?:, [a-z_][a-z0-9_]*)*):", re.MULTILINE)


def _documented_attributes(cls: type) -> set[str]:
    """Names an ``Attributes:`` section lists (``name:`` or ``a, b:`` at its first indent)."""
    doc = inspect.getdoc(cls) or ""
    section = doc.partition("\nAttributes:\n")[2].split("\n\n")[0]
    return {n for m in _ATTR_LINE.finditer(section) for n in m.group(1).split(", ")}


def test_documented_attributes_of_classes_exist() -> None:
    """Every name an ``Attributes:`` section of a class docstring lists is an attribute."""
    stale = []
    for path in sorted((ROOT / "simulator").rglob("*.py")):
        mod_name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if mod_name.endswith("__main__"):
            continue
        module = importlib.import_module(mod_name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != mod_name:
                continue
            names = set(getattr(cls, "__dataclass_fields__", {})) | set(dir(cls))
            src = inspect.getsource(cls)
            for attr in _documented_attributes(cls):
                if attr not in names and f"self.{attr}" not in src:
                    stale.append(f"{mod_name}.{cls.__name__}.{attr}")
    assert not stale, stale


def _classes() -> dict[str, type]:
    found: dict[str, list[type]] = {}
    for path in sorted((ROOT / "simulator").rglob("*.py")):
        mod_name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if mod_name.endswith("__main__"):
            continue
        for obj in vars(importlib.import_module(mod_name)).values():
            if inspect.isclass(obj) and obj.__module__ == mod_name:
                found.setdefault(obj.__name__, []).append(obj)
    return {name: objs[0] for name, objs in found.items() if len(objs) == 1}


_CALL = re.compile(r"`?\b([A-Z][A-Za-z]+)\(([a-z_][^()]*)\)")


def test_fields_and_arguments_in_interfaces_exist() -> None:
    """``Class(a, b=...)`` in interfaces.md: every name is a parameter or attribute of Class."""
    classes = _classes()
    text = " ".join((ROOT / "docs" / "interfaces.md").read_text().split())
    stale = []
    for m in _CALL.finditer(text):
        cls = classes.get(m.group(1))
        if cls is None:
            continue
        known = set(getattr(cls, "__dataclass_fields__", {})) | set(dir(cls))
        with contextlib.suppress(TypeError, ValueError):  # no signature (a builtin base)
            known |= set(inspect.signature(cls).parameters)
        for arg in m.group(2).split(","):
            name = re.split(r"[=:\s]", arg.strip(), maxsplit=1)[0].strip("`")
            if name and name.isidentifier() and name not in known:
                stale.append(f"{cls.__name__}.{name}")
    assert not stale, stale


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)|`(\.\./[^`]+)`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_stay_inside_the_repository_and_exist(doc: Path) -> None:
    bad = []
    for m in _LINK.finditer(doc.read_text()):
        target = m.group(1) or m.group(2)
        if re.match(r"[a-z]+://", target):
            continue
        path = (doc.parent / target).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            bad.append(target)
    assert not bad, f"{doc.name}: links outside the repository or to nothing: {bad}"
