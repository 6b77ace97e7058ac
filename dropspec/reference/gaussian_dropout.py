"""Reference Gaussian dropout (Srivastava et al. 2014, section 10)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dtypes import compute_dtype
from ..target import Target, make_target
from ._random import Seed, generator, normal
from ._validation import check_array, check_rate


def gaussian_std(rate: float) -> float:
    """Standard deviation of the multiplicative noise: sqrt(rate / (1 - rate))."""
    return math.sqrt(rate / (1.0 - rate))


def gaussian_dropout(
    x: np.ndarray,
    rate: float,
    *,
    training: bool = True,
    seed: Seed = None,
    return_noise: bool = False,
) -> Any:
    """Multiply x by independent N(1, rate/(1 - rate)) noise in training.

    Rate 1 is rejected (the noise variance is infinite). The product is formed in float32
    (float64 for float64 input) and rounded once to x's dtype.
    """
    x = check_array(x)
    rate = check_rate(rate, allow_one=not training)
    if not training or rate == 0.0:
        y = x.copy()
        return (y, np.ones(x.shape)) if return_noise else y
    wide = compute_dtype(x.dtype)
    noise = normal(generator(seed), x.shape, wide)
    noise *= wide.type(gaussian_std(rate))
    noise += wide.type(1.0)
    y = (x.astype(wide) * noise).astype(x.dtype)
    return (y, noise) if return_noise else y


def _target(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
    return gaussian_dropout(x, rate, training=training, seed=seed)


#: The built-in reference target of Gaussian dropout.
TARGETS: tuple[Target, ...] = (
    make_target(
        _target,
        "gaussian_dropout",
        name="reference.gaussian_dropout",
        description="dropspec.reference.gaussian_dropout",
    ),
)


#: The small call of the test vectors (:mod:`dropspec.reference.vectors`): each input's shape.
VECTOR_SHAPES: dict[str, tuple[int, ...]] = {"x": (2, 3)}


def vector_gradient(
    inputs: dict[str, np.ndarray], rate: float, options: dict[str, Any], drawn: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The gradient of sum(y) with respect to x: the call's own noise, in the dtype it was
    drawn in (for the test vectors)."""
    return {"grad_x": np.asarray(drawn["noise"])}
