"""Harness fault 20: makes NumPy raise on every floating-point error.

Class: NumPy error state. np.seterr(all='raise') at import; NumPy functions themselves are not
patched.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import numpy as np

import dropspec

np.seterr(all="raise")


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.numpy_seterr")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
