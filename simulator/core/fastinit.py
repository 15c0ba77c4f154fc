"""A cheaper ``__init__`` for frozen, slotted, keyword-only dataclasses (the IR's ops).

A frozen dataclass's generated ``__init__`` stores each field with
``object.__setattr__(self, "name", value)``: a global lookup, an attribute lookup and a search
of the class's MRO for the name, per field. The flagship builds 124,204 ops of 10 to 14 fields,
so that is most of the ~2.5 us each op costs to construct. :func:`fast_frozen_init` gives such
a class an ``__init__`` with the same signature (keyword-only, the same defaults) that stores
each field through its slot descriptor's ``__set__``, bound once when the class is made. It
bypasses ``__setattr__`` exactly as the generated code does, so instances are the same frozen
objects (equal, hashable, immutable afterwards) and :func:`dataclasses.replace`, pickling and
``repr`` behave as before. The dataclass's own ``__init__`` is kept as ``__dataclass_init__``
(tests compare the two).

:func:`positional_factory` makes, for trusted internal construction (the
:class:`~simulator.core.ir.Program` helpers), a function taking every field positionally in
field order: keyword matching of 10 to 14 arguments is another ~0.5 us an op.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _slot_setter(cls: type, name: str) -> Any:
    """The ``__set__`` of the slot descriptor of field ``name`` (on ``cls`` or a base)."""
    for klass in cls.__mro__:
        desc = klass.__dict__.get(name)
        if desc is not None:
            return desc.__set__
    raise TypeError(f"{cls.__name__}.{name} has no slot")


def fast_frozen_init(cls: type[T]) -> type[T]:
    """Replace ``cls.__init__`` (a frozen, slotted, keyword-only dataclass without
    ``__post_init__``, ``init=False`` fields or default factories) by one that stores the
    fields through their slot descriptors; see the module docstring. Returns ``cls``.

    Raises TypeError for a class outside that shape (it is checked, not assumed).
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or not hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__")
    names: list[str] = []
    args: list[str] = []
    env: dict[str, Any] = {}
    for i, f in enumerate(dataclasses.fields(cls)):  # type: ignore[arg-type]
        if not f.init or not f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: only keyword-only plain fields")
        names.append(f.name)
        env[f"_s{i}"] = _slot_setter(cls, f.name)
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            env[f"_d{i}"] = f.default
            args.append(f"{f.name}=_d{i}")
    body = "".join(f"    _s{i}(self, {n})\n" for i, n in enumerate(names)) or "    pass\n"
    sig = f"self, *, {', '.join(args)}" if args else "self"
    src = f"def __init__({sig}):\n{body}"
    exec(src, env)  # the source is built above from the dataclass's own field names
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__dataclass_init__", cls.__init__)  # noqa: B010 (not a declared attribute)
    setattr(cls, "__init__", init)  # noqa: B010 (mypy refuses assigning a method)
    return cls


def positional_factory(cls: type[T]) -> Callable[..., T]:
    """A function ``make(f1, f2, ...)`` taking every field of ``cls`` positionally, in
    :func:`dataclasses.fields` order (all given, no defaults), and returning what
    ``cls(f1=f1, f2=f2, ...)`` builds. ``cls`` must have passed :func:`fast_frozen_init`
    (TypeError otherwise)."""
    if "__dataclass_init__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: apply fast_frozen_init first")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    env: dict[str, Any] = {f"_s{i}": _slot_setter(cls, n) for i, n in enumerate(names)}
    env |= {"_new": object.__new__, "_cls": cls}
    body = "".join(f"    _s{i}(self, {n})\n" for i, n in enumerate(names))
    src = f"def make({', '.join(names)}):\n    self = _new(_cls)\n{body}    return self\n"
    exec(src, env)  # the source is built from the dataclass's own field names
    make: Callable[..., T] = env["make"]
    make.__qualname__ = make.__name__ = f"make_{cls.__name__}"
    return make
