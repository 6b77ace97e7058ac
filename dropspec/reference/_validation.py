"""Argument checks shared by the reference ops, with messages that say what to do."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..dtypes import FLOAT_DTYPES, dtype_name


class SpecError(ValueError):
    """An argument violates the spec; the message says which and what to pass instead."""


def check_rate(rate: Any, *, allow_one: bool = True) -> float:
    """Return ``rate`` as a float in [0, 1] (or [0, 1)); reject anything else."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)):
        raise SpecError(f"rate must be a real number in [0, 1], got {rate!r}")
    value = float(rate)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise SpecError(f"rate must be in [0, 1] (the probability of dropping), got {value!r}")
    if value == 1.0 and not allow_one:
        raise SpecError("rate 1 drops every unit and is rejected here (rate_one='error')")
    return value


def check_array(x: Any, name: str = "x") -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise SpecError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if dtype_name(x.dtype) not in FLOAT_DTYPES:
        raise SpecError(
            f"{name} must have a floating dtype ({', '.join(FLOAT_DTYPES)}), got {x.dtype}; "
            f"cast it first, e.g. {name}.astype(np.float32)"
        )
    return x


def normalize_axes(axes: Sequence[int], ndim: int) -> tuple[int, ...]:
    """Map possibly negative ``axes`` into ``range(ndim)``; out-of-range axes raise."""
    out = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise SpecError(
                f"shared axis {axis} is out of range for an input with {ndim} dimensions"
            )
        out.append(axis % ndim)
    if len(set(out)) != len(out):
        raise SpecError(f"shared_axes {tuple(axes)} names the same axis twice")
    return tuple(sorted(out))


def mask_shape(shape: tuple[int, ...], shared_axes: Sequence[int]) -> tuple[int, ...]:
    """The mask's shape: ``shape`` with every shared axis set to 1."""
    shared = normalize_axes(shared_axes, len(shape))
    return tuple(1 if i in shared else n for i, n in enumerate(shape))
