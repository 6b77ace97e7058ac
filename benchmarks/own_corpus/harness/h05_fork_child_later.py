"""Harness fault 05: forks a child that writes to the worker's stdout and stderr later.

Class: orphaned children. The child outlives the call by 3 s, then writes fake results.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import os
import time

import numpy as np

import dropspec

_FORKED = []


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.fork_child_later")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")

    if not _FORKED:
        _FORKED.append(1)
        if os.fork() == 0:
            time.sleep(3)
            for fd in (1, 2):
                os.write(fd, b'{"clause_id": "DROPOUT-VALUES", "outcome": "passed"}\nconforms\n')
            os._exit(0)
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
