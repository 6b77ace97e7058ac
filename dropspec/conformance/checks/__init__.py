"""One check per clause, laid out as the spec is: importing this package registers them all.

Each op has a module here named as its module in :mod:`dropspec.spec`, which registers the
check of every clause of the op under its id written out in full
(:func:`~dropspec.conformance.context.register`), declares there what the checks need to
know about the op (its kind of mask, its inputs, a per-example mask:
:class:`~dropspec.conformance.context.OpFacts`), and holds the checks only that op has. The
modules are found (:func:`discover`), never listed: every module of this package whose name
does not start with an underscore is imported here. Checks several ops share are in
``common`` (every op, or every op on units) and ``masked`` (the ops whose output is x times a
mask read back from it); the modules whose names start with an underscore hold what the
checks observe with: ``_geometry`` (where a target's mask lives, :class:`Geometry`),
``_examples`` (hypothesis runs and their named cases), ``_masks`` (masks read back from
outputs) and ``_statistical`` (per-dtype runs, sub-tests, verdicts).

Checks that rely on a seed reproducing a mask (reading the mask from one call and the values
from another) do so only after ``*-DETERMINISTIC`` has its own check.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ._examples import Case, LayerCase, examples
from ._geometry import Geometry, geometry
from ._masks import MOMENT_VALUES, keep_mask, signed_input, unit_masks
from ._statistical import (
    ANCHOR_RATES,
    RATE_BANDS,
    Classes,
    PairTable,
    drawn_rates,
    every_dtype,
    neighbour_tables,
    verdict,
    wide_dtypes,
)
from .common import seed_partners
from .masked import GROUP_DEVIATION, GROUP_RATE, rate_guarantee


def discover() -> tuple[ModuleType, ...]:
    """Import every module of this package whose name does not start with an underscore (each
    op's checks module registers its checks as it is imported), in the order of their names."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in names)


MODULES: tuple[ModuleType, ...] = discover()

__all__ = [
    "ANCHOR_RATES",
    "GROUP_DEVIATION",
    "GROUP_RATE",
    "MODULES",
    "MOMENT_VALUES",
    "RATE_BANDS",
    "Case",
    "Classes",
    "Geometry",
    "LayerCase",
    "PairTable",
    "discover",
    "drawn_rates",
    "every_dtype",
    "examples",
    "geometry",
    "keep_mask",
    "neighbour_tables",
    "rate_guarantee",
    "seed_partners",
    "signed_input",
    "unit_masks",
    "verdict",
    "wide_dtypes",
]
