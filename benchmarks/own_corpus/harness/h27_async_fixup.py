"""Harness fault 27: a thread fixes the output 1 ms after returning it.

Class: outputs mutated after return. The returned buffer is wrong when returned and scaled in
place shortly after.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import threading
import time

import numpy as np

import dropspec


def _later(y, rate):
    def fix():
        time.sleep(0.001)
        y[...] = y * y.dtype.type(1.0 / (1.0 - rate))

    threading.Thread(target=fix, daemon=True).start()
    return y


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.async_fixup")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return _later(y, rate) if training and rate < 1.0 else y
