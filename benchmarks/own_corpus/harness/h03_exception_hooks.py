"""Harness fault 03: silences sys.excepthook, threading.excepthook and unraisablehook.

Class: exception hooks. Errors that would reach a hook vanish; the target raises from a thread too.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import sys
import threading

import numpy as np

import dropspec

sys.excepthook = lambda *a: None
threading.excepthook = lambda a: None
sys.unraisablehook = lambda u: None


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.exception_hooks")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")

    threading.Thread(target=lambda: 1 / 0).start()
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
