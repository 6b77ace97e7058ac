"""Stateful built-in targets in NumPy: the reference and a second, independent
implementation, each a layer that owns a generator seeded once (``calls="stateful"``).

They are not in the default ``dropspec check`` (the reference targets, whose names start
with ``reference.``), only in ``--all`` and by name: the seeded clauses they share with the
reference cost a second reference run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..target import Target, make_stateful_target


def _reference_layer(**options: Any) -> Callable[..., Any]:
    def factory(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
        from .. import reference  # here, not at import: the framework adapters import this

        rng = np.random.default_rng(seed)  # the layer's own state, seeded once

        def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
            out: np.ndarray = reference.dropout(x, rate, training=training, seed=rng, **options)
            return out

        return layer

    return factory


def _second_layer(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
    # Independent of the reference: a Philox counter stream, uniform floats, a multiply.
    if not 0.0 <= rate <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    bits = np.random.Philox(key=seed)

    def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
        if not training:
            return x.copy()
        keep = np.random.Generator(bits).random(x.shape) >= rate
        scale = x.dtype.type(0.0 if rate == 1.0 else 1.0 / (1.0 - rate))
        return np.where(keep, x * scale, np.zeros((), x.dtype))

    return layer


#: The dtypes a framework's built-in stateful layers are checked in. Every clause runs on
#: them, in float32: their kernels in the other dtypes are those of the same framework's
#: seeded built-ins (the same layer, rebuilt per call), which are checked in every dtype;
#: what the stateful ones add is how the state moves across calls. Checking them in every
#: dtype would cost ``dropspec check --all`` about another minute on two cores.
FRAMEWORK_DTYPES: tuple[str, ...] = ("float32",)

TARGETS: tuple[Target, ...] = (
    make_stateful_target(
        _reference_layer(),
        "dropout",
        name="stateful.reference.dropout",
        description="dropspec.reference.dropout called with one numpy Generator, seeded once",
    ),
    make_stateful_target(
        _second_layer,
        "dropout",
        name="stateful.numpy.philox.dropout",
        description="a NumPy layer drawing from one Philox stream, seeded once",
    ),
)
