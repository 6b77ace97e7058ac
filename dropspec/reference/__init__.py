"""The NumPy reference: the semantics every target is checked against.

Every function takes an explicit integer seed or ``numpy.random.Generator`` and can return
its mask; :mod:`dropspec.reference.expectations` gives the statistics the suite expects.

Each op has a module here named as the op, which holds its function (exported below) and
``TARGETS``, its built-in reference targets (what ``dropspec check`` runs by default;
:mod:`dropspec.adapters.reference` finds them, never lists them). Modules whose names start
with an underscore, and ``expectations``, hold what the ops share.
"""

from __future__ import annotations

from . import expectations
from ._validation import SpecError
from .alpha_dropout import ALPHA_PRIME, SELU_ALPHA, SELU_LAMBDA, alpha_constants, alpha_dropout
from .attention_dropout import attention_dropout
from .drop_path import drop_path
from .dropconnect import dropconnect
from .dropout import dropout, scale_for
from .gaussian_dropout import gaussian_dropout, gaussian_std
from .recurrent_dropout import recurrent_dropout

__all__ = [
    "ALPHA_PRIME",
    "SELU_ALPHA",
    "SELU_LAMBDA",
    "SpecError",
    "alpha_constants",
    "alpha_dropout",
    "attention_dropout",
    "drop_path",
    "dropconnect",
    "dropout",
    "expectations",
    "gaussian_dropout",
    "gaussian_std",
    "recurrent_dropout",
    "scale_for",
]
