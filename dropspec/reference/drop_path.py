"""Reference drop path (stochastic depth): dropout with one mask value per example."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..target import Target, make_target
from ._random import Seed
from ._validation import SpecError, check_array
from .dropout import dropout
from .dropout import vector_gradient as dropout_gradient


def drop_path(
    x: np.ndarray,
    rate: float,
    *,
    training: bool = True,
    seed: Seed = None,
    scaling: str = "inverted",
    masking: str = "select",
    rate_one: str = "zeros",
    return_mask: bool = False,
) -> Any:
    """Drop path (stochastic depth): one mask value per example along axis 0.

    Same parameters as :func:`dropout`, with the mask shared over every axis but the first.
    """
    x = check_array(x)
    if x.ndim < 1:
        raise SpecError("drop_path needs an input of at least one dimension (batch, ...)")
    return dropout(
        x,
        rate,
        training=training,
        seed=seed,
        scaling=scaling,
        shared_axes=tuple(range(1, x.ndim)),
        masking=masking,
        rate_one=rate_one,
        return_mask=return_mask,
    )


def _target(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
    return drop_path(x, rate, training=training, seed=seed)


#: The built-in reference target of drop path.
TARGETS: tuple[Target, ...] = (
    make_target(
        _target,
        "drop_path",
        name="reference.drop_path",
        description="dropspec.reference.drop_path",
    ),
)


#: The small call of the test vectors (:mod:`dropspec.reference.vectors`): each input's shape.
VECTOR_SHAPES: dict[str, tuple[int, ...]] = {"x": (2, 3)}
#: Drop path's gradient is dropout's: the keep mask (one value per example) times the scale.
vector_gradient = dropout_gradient
