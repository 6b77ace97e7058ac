"""The NumPy reference as built-in targets: the default of ``dropspec check``.

Each op's reference module (``dropspec/reference/<op>.py``) declares its own reference targets
as ``TARGETS``; this module finds them (:func:`reference_targets`) and lists them in the ops'
order, so adding an op adds its reference targets without an edit here.
"""

from __future__ import annotations

import importlib
import pkgutil

from .. import reference
from ..spec import OPS
from ..target import Target


def reference_targets() -> tuple[Target, ...]:
    """The ``TARGETS`` of every module of :mod:`dropspec.reference` that has them, in the
    ops' order (:attr:`dropspec.spec.Op.order`), each op's in its module's order."""
    found: list[Target] = []
    for info in sorted(pkgutil.iter_modules(reference.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{reference.__name__}.{info.name}")
        found.extend(getattr(module, "TARGETS", ()))
    position = {name: i for i, name in enumerate(OPS)}
    return tuple(sorted(found, key=lambda t: position[t.op]))


TARGETS: tuple[Target, ...] = reference_targets()
