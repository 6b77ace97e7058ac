"""Harness fault 23: an output whose finalizer calls os._exit(0).

Class: finalizers. The 20th output collected ends the worker with status 0.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import os

import numpy as np

import dropspec

_DEAD = []


class _Doomed(np.ndarray):
    def __del__(self):
        _DEAD.append(1)
        if len(_DEAD) == 20:
            os._exit(0)


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.finalizer_exit")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y.view(_Doomed)
