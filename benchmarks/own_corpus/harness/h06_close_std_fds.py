"""Harness fault 06: closes file descriptors 1 and 2.

Class: standard descriptors. On its first training call the worker loses its stdout and stderr.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import os

import numpy as np

import dropspec

_CLOSED = []


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.close_std_fds")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")

    if training and not _CLOSED:
        _CLOSED.append(1)
        os.close(1)
        os.close(2)
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
