"""The specification as data: one :class:`Op` per op, each a tuple of :class:`Clause`.

Clause ids are stable: a clause keeps its id for as long as it states one requirement. When
its declaration or its check changes, the change is recorded, with a note on what it means, in
``changelog.toml`` beside this module (read by :mod:`._history`): :data:`SPEC_VERSION` is the
latest version recorded there and :attr:`Clause.since` the version each clause took its
current form in.

Each op is one module of this package, named as the op, whose ``OP_SPEC`` is its :class:`Op`;
the modules are found here (:func:`discover`), never listed, and ordered by their
:attr:`Op.order`. Modules whose names start with an underscore hold what the ops share.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._history import releases, spec_version
from ._model import Clause, Kind, Level, Op, Option


def discover() -> tuple[Op, ...]:
    """The ``OP_SPEC`` of every op module of this package, by :attr:`Op.order`.

    An op module must define ``OP_SPEC``, an :class:`Op` named as the module, at an order no
    other op has; anything else is an ``ImportError`` naming the module.
    """
    found: list[Op] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        op = getattr(module, "OP_SPEC", None)
        if not isinstance(op, Op):
            raise ImportError(f"{module.__name__} defines no OP_SPEC (an Op)")
        if op.name != info.name:
            raise ImportError(f"{module.__name__} defines the op {op.name!r}, not {info.name!r}")
        found.append(op)
    orders = [op.order for op in found]
    clash = sorted({o for o in orders if orders.count(o) > 1})
    if clash:
        names = [op.name for op in found if op.order in clash]
        raise ImportError(f"ops {', '.join(names)} share an order ({clash}); give each its own")
    return tuple(sorted(found, key=lambda op: op.order))


#: Every op by name, in their declared order (:attr:`Op.order`).
OPS: dict[str, Op] = {op.name: op for op in discover()}
CLAUSES: dict[str, Clause] = {c.id: c for op in OPS.values() for c in op.clauses}
#: The spec's version: the latest one its changelog records.
SPEC_VERSION: str = spec_version()


def get_op(name: str) -> Op:
    """The op called ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(
            f"unknown op {name!r}; the spec defines {', '.join(sorted(OPS))}"
        ) from None


def clauses_for(op: str, options: dict[str, object]) -> list[Clause]:
    """The clauses that bind a target of ``op`` declaring ``options`` (defaults filled)."""
    return [c for c in get_op(op).clauses if c.applies(options)]


__all__ = [
    "CLAUSES",
    "OPS",
    "SPEC_VERSION",
    "Clause",
    "Kind",
    "Level",
    "Op",
    "Option",
    "clauses_for",
    "discover",
    "get_op",
    "releases",
]
