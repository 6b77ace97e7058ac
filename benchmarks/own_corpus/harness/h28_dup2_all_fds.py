"""Harness fault 28: points every descriptor from 3 to 63 at /dev/null.

Class: inherited descriptors. Whatever pipes or sockets the worker inherited are silently replaced.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import contextlib
import os

import numpy as np

import dropspec

_DONE = []


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.dup2_all_fds")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")

    if not _DONE:
        _DONE.append(1)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in range(3, 64):
            if fd != null:
                with contextlib.suppress(OSError):
                    os.dup2(null, fd)
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
