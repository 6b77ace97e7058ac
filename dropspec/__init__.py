"""dropspec: the executable specification of the dropout family and its conformance suite.

>>> import dropspec
>>> sorted(dropspec.spec.OPS)
['alpha_dropout', 'drop_path', 'dropconnect', 'dropout', 'gaussian_dropout']

Importing dropspec imports NumPy and SciPy, never a deep-learning framework.
"""

from __future__ import annotations

from . import reference, spec
from .target import Target, make_target, target

__version__ = "0.1.0"


def suite(tgt: Target, **config: object) -> type:
    """A pytest test class with one test per clause that binds ``tgt``.

    Put ``TestMyDropout = dropspec.suite(my_dropout)`` in a test module; see
    :func:`dropspec.conformance.suite.make_suite` for the settings.
    """
    from .conformance.suite import make_suite

    cls: type = make_suite(tgt, **config)
    return cls


__all__ = ["Target", "__version__", "make_target", "reference", "spec", "suite", "target"]
