"""Harness fault 11: raises pytest's Skipped (a BaseException) from training calls.

Class: foreign control-flow exceptions. A check might take it for its own skip.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import numpy as np
import pytest

import dropspec


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.raise_pytest_skip")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")

    if training:
        raise pytest.skip.Exception("not supported")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
