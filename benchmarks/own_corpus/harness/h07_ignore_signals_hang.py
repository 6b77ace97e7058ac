"""Harness fault 07: ignores SIGTERM, SIGINT and SIGHUP, then hangs on a large input.

Class: unkillable hang. Only SIGKILL ends it; run with a short --timeout.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import signal
import time

import numpy as np

import dropspec

for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, signal.SIG_IGN)


@dropspec.target(
    "dropout", framework="numpy", scaling="inverted", name="harness.ignore_signals_hang"
)
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")

    if training and x.size >= 100_000:
        time.sleep(3600)
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
