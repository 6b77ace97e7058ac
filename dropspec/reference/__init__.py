"""The NumPy reference: the semantics every target is checked against.

Every function takes an explicit integer seed or ``numpy.random.Generator`` and can return
its mask; :mod:`dropspec.reference.expectations` gives the statistics the suite expects.
"""

from __future__ import annotations

from . import expectations
from ._validation import SpecError
from .alpha_dropout import ALPHA_PRIME, SELU_ALPHA, SELU_LAMBDA, alpha_constants, alpha_dropout
from .dropconnect import dropconnect
from .dropout import drop_path, dropout, scale_for
from .gaussian_dropout import gaussian_dropout, gaussian_std

__all__ = [
    "ALPHA_PRIME",
    "SELU_ALPHA",
    "SELU_LAMBDA",
    "SpecError",
    "alpha_constants",
    "alpha_dropout",
    "drop_path",
    "dropconnect",
    "dropout",
    "expectations",
    "gaussian_dropout",
    "gaussian_std",
    "scale_for",
]
