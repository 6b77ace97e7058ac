"""dropspec: the executable specification of the dropout family and its conformance suite.

>>> import dropspec
>>> dropspec.spec.get_op("dropout").title
'Dropout'

Every op of the family is in ``dropspec.spec.OPS`` (and ``dropspec list``); each is found from
its own module of :mod:`dropspec.spec`, not listed here.

Importing dropspec imports no framework and not even NumPy: ``reference`` (NumPy) loads on
first use, so that the pytest plugin costs nothing in projects that do not ask for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import spec
from ._version import __version__
from .target import Target, make_stateful_target, make_target, stateful_target, target

if TYPE_CHECKING:
    from . import reference


def suite(tgt: Target, **config: object) -> type:
    """A pytest test class with one test per clause that binds ``tgt``.

    Put ``TestMyDropout = dropspec.suite(my_dropout)`` in a test module; see
    :func:`dropspec.conformance.suite.make_suite` for the settings.
    """
    from .conformance.suite import make_suite

    cls: type = make_suite(tgt, **config)
    return cls


def __getattr__(name: str) -> Any:
    if name == "reference":
        return importlib.import_module(".reference", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Target",
    "__version__",
    "make_stateful_target",
    "make_target",
    "reference",
    "spec",
    "stateful_target",
    "suite",
    "target",
]
