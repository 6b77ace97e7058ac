"""Reference alpha dropout (Klambauer et al. 2017)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..dtypes import compute_dtype
from ..target import Target, make_target
from ._random import Seed, bernoulli, generator
from ._validation import check_array, check_rate, mask_shape

#: SELU's scale and alpha (Klambauer et al. 2017, eq. 14) and the saturation value -λα.
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA


def alpha_constants(rate: float) -> tuple[float, float]:
    """The affine correction (a, b) that keeps mean 0 and variance 1.

    a = ((1 - rate)(1 + rate·α′²))^(-1/2) and b = -a·rate·α′; at rate 0.5,
    a = 0.886404894665932.
    """
    keep = 1.0 - rate
    a = (keep * (1.0 + rate * ALPHA_PRIME**2)) ** -0.5
    return a, -a * rate * ALPHA_PRIME


def alpha_dropout(
    x: np.ndarray,
    rate: float,
    *,
    training: bool = True,
    seed: Seed = None,
    shared_axes: Sequence[int] = (),
    rate_one: str = "error",
    return_mask: bool = False,
) -> Any:
    """Alpha dropout as the spec defines it.

    Dropped units are set to α′ = -λα, then every unit goes through a·x + b
    (:func:`alpha_constants`). ``shared_axes`` gives feature alpha dropout. The affine map is
    computed in float64 for float64 input, float32 otherwise, and rounded once to x's dtype.
    At rate 1, ``rate_one="zeros"`` returns zeros and ``"error"`` raises.
    """
    x = check_array(x)
    rate = check_rate(rate, allow_one=rate_one != "error" or not training)
    shape = mask_shape(x.shape, shared_axes)
    if not training or rate == 0.0:
        y = x.copy()
        return (y, np.ones(shape, dtype=bool)) if return_mask else y
    if rate == 1.0:
        y = np.zeros_like(x)
        return (y, np.zeros(shape, dtype=bool)) if return_mask else y
    keep_mask = bernoulli(generator(seed), shape, 1.0 - rate)
    a, b = alpha_constants(rate)
    wide = np.float64 if compute_dtype(x.dtype) == np.float64 else np.float32
    xw = x.astype(wide)
    y = (np.where(keep_mask, xw, wide(ALPHA_PRIME)) * wide(a) + wide(b)).astype(x.dtype)
    return (y, keep_mask) if return_mask else y


def _target(**options: Any) -> Any:
    def fn(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
        return alpha_dropout(x, rate, training=training, seed=seed, **options)

    return fn


#: The built-in reference targets of alpha dropout.
TARGETS: tuple[Target, ...] = (
    make_target(
        _target(),
        "alpha_dropout",
        name="reference.alpha_dropout",
        description="dropspec.reference.alpha_dropout",
    ),
    make_target(
        _target(shared_axes=(2,)),
        "alpha_dropout",
        name="reference.feature_alpha_dropout",
        shared_axes=(2,),
        rank=3,
        description="dropspec.reference.alpha_dropout(shared_axes=(2,))",
    ),
)


#: The small call of the test vectors (:mod:`dropspec.reference.vectors`): each input's shape,
#: and the shared axes of the clauses that need some.
VECTOR_SHAPES: dict[str, tuple[int, ...]] = {"x": (2, 3)}
VECTOR_OPTIONS: dict[str, Any] = {"shared_axes": (1,)}


def vector_gradient(
    inputs: dict[str, np.ndarray], rate: float, options: dict[str, Any], drawn: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The gradient of sum(y) with respect to x: a where the call kept a unit, 0 where it
    dropped one, rounded to x's dtype (for the test vectors)."""
    x = inputs["x"]
    a = x.dtype.type(alpha_constants(rate)[0])
    return {"grad_x": np.where(np.broadcast_to(drawn["mask"], x.shape), a, x.dtype.type(0))}
