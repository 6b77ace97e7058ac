"""The correct neighbour every harness fault is checked beside (the README's example)."""

import numpy as np

import dropspec


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.correct")
def good(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    scale = x.dtype.type(0.0 if rate == 1 else 1.0 / (1.0 - rate))
    return np.where(keep, x * scale, np.zeros((), x.dtype))
