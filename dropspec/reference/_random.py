"""Random draws for the reference: Bernoulli masks from raw 32-bit words, normal noise."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Seed = int | np.random.Generator | None


def generator(seed: Seed) -> np.random.Generator:
    """A generator from an integer seed (hashed by SeedSequence) or a generator itself."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {seed!r}")
    return np.random.default_rng(None if seed is None else int(seed))


def bernoulli(rng: np.random.Generator, shape: tuple[int, ...], keep: float) -> np.ndarray:
    """Boolean array, True with probability ``keep`` to within 2**-32.

    Each element compares one raw 32-bit word with round(keep * 2**32), which is about four
    times faster than drawing floats and exact to 2.3e-10 in probability.
    """
    if keep >= 1.0:
        return np.ones(shape, dtype=bool)
    if keep <= 0.0:
        return np.zeros(shape, dtype=bool)
    threshold = np.uint32(min(max(round(keep * 2.0**32), 1), 2**32 - 1))
    n = math.prod(shape)
    words = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
    return (words < threshold).reshape(shape)


def normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Standard-normal draws in ``dtype`` (float32 or float64)."""
    return rng.standard_normal(shape, dtype=dtype)
