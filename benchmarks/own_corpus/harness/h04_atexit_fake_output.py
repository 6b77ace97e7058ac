"""Harness fault 04: an atexit handler prints a fake verdict and exits 0.

Class: exit handlers. At interpreter exit it writes 'conforms' lines to both streams and calls
os._exit(0).
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import atexit
import os

import numpy as np

import dropspec


def _fake() -> None:
    for fd in (1, 2):
        os.write(fd, b"harness.atexit_fake_output: conforms (exit 0)\n")
    os._exit(0)


atexit.register(_fake)


@dropspec.target(
    "dropout", framework="numpy", scaling="inverted", name="harness.atexit_fake_output"
)
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
