"""Harness fault 02: sets the process umask to 0o777.

Class: process-wide file mode. Every file created after import, by anyone in the process, is
unreadable.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import os

import numpy as np

import dropspec

os.umask(0o777)


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.umask")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
