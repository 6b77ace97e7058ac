"""Harness fault 15: returns a numpy.ma masked array with the dropped entries masked.

Class: array subclasses. The data is x itself (nothing dropped, nothing scaled); only the mask
marks drops.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import numpy as np

import dropspec


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.masked_array")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return np.ma.masked_array(x.copy(), mask=~keep) if training else y
