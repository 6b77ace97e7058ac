"""Harness fault 22: arms SIGALRM for 8 s after import.

Class: timers. The default action of SIGALRM ends the process in the middle of whatever runs then.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import signal

import numpy as np

import dropspec

signal.alarm(8)


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.alarm_later")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
