"""The specification as data: one :class:`Op` per op, each a tuple of :class:`Clause`.

Clause ids are stable: a clause may be reworded for clarity, never changed in meaning.
"""

from __future__ import annotations

from ._model import Clause, Kind, Level, Op, Option
from .alpha_dropout import OP_SPEC as _ALPHA
from .drop_path import OP_SPEC as _DROP_PATH
from .dropconnect import OP_SPEC as _DROPCONNECT
from .dropout import OP_SPEC as _DROPOUT
from .gaussian_dropout import OP_SPEC as _GAUSSIAN

OPS: dict[str, Op] = {op.name: op for op in (_DROPOUT, _ALPHA, _GAUSSIAN, _DROPCONNECT, _DROP_PATH)}
CLAUSES: dict[str, Clause] = {c.id: c for op in OPS.values() for c in op.clauses}


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


__all__ = ["CLAUSES", "OPS", "Clause", "Kind", "Level", "Op", "Option", "clauses_for", "get_op"]
