"""The NumPy reference as built-in targets: the default of ``dropspec check``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import reference as ref
from ..target import Target, make_target


def _dropout(**options: Any) -> Any:
    def fn(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
        return ref.dropout(x, rate, training=training, seed=seed, **options)

    return fn


def _alpha(**options: Any) -> Any:
    def fn(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
        return ref.alpha_dropout(x, rate, training=training, seed=seed, **options)

    return fn


def _gaussian(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
    return ref.gaussian_dropout(x, rate, training=training, seed=seed)


def _drop_path(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
    return ref.drop_path(x, rate, training=training, seed=seed)


def _dropconnect(**options: Any) -> Any:
    def fn(
        x: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None,
        rate: float,
        *,
        training: bool,
        seed: int,
    ) -> Any:
        return ref.dropconnect(x, weight, bias, rate, training=training, seed=seed, **options)

    return fn


_PAPER: dict[str, Any] = dict(
    masks="per_example",
    mask_bias=True,
    scaling="classic",
    inference="moment_matching",
    activation="relu",
    samples=1000,
)
_WEIGHT_DROP: dict[str, Any] = dict(
    masks="per_batch", mask_bias=False, scaling="inverted", inference="mean"
)

TARGETS: tuple[Target, ...] = (
    make_target(
        _dropout(),
        "dropout",
        name="reference.dropout",
        description="dropspec.reference.dropout (inverted scaling)",
    ),
    make_target(
        _dropout(scaling="classic"),
        "dropout",
        name="reference.dropout.classic",
        scaling="classic",
        description="dropspec.reference.dropout(scaling='classic')",
    ),
    make_target(
        _dropout(shared_axes=(2, 3)),
        "dropout",
        name="reference.dropout.channel",
        shared_axes=(2, 3),
        rank=4,
        description="dropspec.reference.dropout(shared_axes=(2, 3)), like Dropout2d",
    ),
    make_target(
        _alpha(),
        "alpha_dropout",
        name="reference.alpha_dropout",
        description="dropspec.reference.alpha_dropout",
    ),
    make_target(
        _alpha(shared_axes=(2,)),
        "alpha_dropout",
        name="reference.feature_alpha_dropout",
        shared_axes=(2,),
        rank=3,
        description="dropspec.reference.alpha_dropout(shared_axes=(2,))",
    ),
    make_target(
        _gaussian,
        "gaussian_dropout",
        name="reference.gaussian_dropout",
        description="dropspec.reference.gaussian_dropout",
    ),
    make_target(
        _dropconnect(**_PAPER),
        "dropconnect",
        name="reference.dropconnect",
        description="dropspec.reference.dropconnect as in Wan et al. 2013: per-example "
        "masks, masked bias, classic scaling, moment-matching inference, ReLU",
        **_PAPER,
    ),
    make_target(
        _dropconnect(**_WEIGHT_DROP),
        "dropconnect",
        name="reference.weight_drop",
        description="dropspec.reference.dropconnect as weight drop: one mask per call, "
        "unmasked bias, inverted scaling, mean inference",
        **_WEIGHT_DROP,
    ),
    make_target(
        _drop_path,
        "drop_path",
        name="reference.drop_path",
        description="dropspec.reference.drop_path",
    ),
)
