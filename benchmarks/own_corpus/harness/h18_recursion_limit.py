"""Harness fault 18: sets the recursion limit to 120.

Class: interpreter limits. Deep code run after it (pytest, hypothesis, json) raises RecursionError.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import sys

import numpy as np

import dropspec

sys.setrecursionlimit(120)


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.recursion_limit")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
