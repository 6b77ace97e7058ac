"""Hypothesis strategies for the suite's example-based checks: dtypes, rates, seeds, axes.

The shapes, layouts and value classes of the exact checks come from the input design
(:mod:`.inputs`); array contents are drawn by NumPy from a hypothesis-chosen seed, which keeps
examples cheap while hypothesis still controls everything that matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from ..dtypes import as_dtype

#: Axis lengths of the few checks that draw their own small shapes (DropConnect's decoded
#: masks and gradient); every other exact check takes its shapes from :mod:`.inputs`.
SIDES: tuple[int, ...] = (1, 2, 3, 5)

#: Rates every exact check visits: tiny, ordinary and near 1.
SPECIAL_RATES: tuple[float, ...] = (1e-3, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999)


def rates(low: float = 1e-3, high: float = 0.999) -> st.SearchStrategy[float]:
    """Drop rates in [low, high], biased towards :data:`SPECIAL_RATES`."""
    special = [r for r in SPECIAL_RATES if low <= r <= high]
    return st.one_of(st.sampled_from(special), st.floats(low, high))


def dtypes(names: Sequence[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(tuple(names))


def side(low: int = 1, high: int = 8) -> st.SearchStrategy[int]:
    """An axis length in [low, high], from :data:`SIDES`."""
    return st.sampled_from([n for n in SIDES if low <= n <= high] or [low])


def shared_axes(rank: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Subsets of the axes of a rank-``rank`` array, as sorted tuples."""
    return st.sets(st.integers(0, rank - 1)).map(lambda s: tuple(sorted(s)))


def data_seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**32 - 1)


def call_seeds(bits: int) -> st.SearchStrategy[int]:
    """Seeds for target calls: any in [0, 2**bits), the range the target declares."""
    return st.integers(0, (1 << bits) - 1)


def values(
    seed: int,
    shape: tuple[int, ...],
    dtype: str,
    *,
    low: float = 0.25,
    high: float = 4.0,
    signed: bool = True,
) -> np.ndarray[Any, Any]:
    """Nonzero finite values of ``dtype`` with magnitudes in [low, high]."""
    rng = np.random.default_rng(seed)
    mag = rng.uniform(low, high, size=shape)
    if signed:
        mag *= rng.choice([-1.0, 1.0], size=shape)
    out: np.ndarray[Any, Any] = mag.astype(as_dtype(dtype))
    out[out == 0] = as_dtype(dtype).type(1.0)
    return out
