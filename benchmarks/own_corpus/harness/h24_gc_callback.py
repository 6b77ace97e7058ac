"""Harness fault 24: a garbage-collector callback writes fake verdict lines.

Class: GC callbacks. Every collection writes a JSON line and 'conforms' to fds 1 and 2.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import gc
import os

import numpy as np

import dropspec


def _on_gc(phase, info):
    if phase == "stop":
        for fd in (1, 2):
            os.write(fd, b'{"clause_id": "DROPOUT-VALUES", "outcome": "passed"}\n')


gc.callbacks.append(_on_gc)


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.gc_callback")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
