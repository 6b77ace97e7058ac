"""Harness fault 19: turns every warning into an error.

Class: global warning filters. warnings.simplefilter('error') at import.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import warnings

import numpy as np

import dropspec

warnings.simplefilter("error")


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.warnings_error")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
