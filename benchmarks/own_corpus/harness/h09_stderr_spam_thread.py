"""Harness fault 09: a thread writes to stdout and stderr every 5 ms.

Class: background output. Lines look like dropspec's own progress lines.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import os
import threading
import time

import numpy as np

import dropspec


def _spam() -> None:
    while True:
        os.write(2, b"DROPOUT-VALUES passed\n")
        os.write(1, b"harness.stderr_spam_thread conforms\n")
        time.sleep(0.005)


threading.Thread(target=_spam, daemon=True).start()


@dropspec.target(
    "dropout", framework="numpy", scaling="inverted", name="harness.stderr_spam_thread"
)
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
