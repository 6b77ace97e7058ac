"""Harness fault 01: sets environment variables the next target's worker reads.

Class: environment leaks. On its first call it sets dropspec's, Keras's, hypothesis's and the
thread pools' variables.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import os

import numpy as np

import dropspec


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.env_vars")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")

    os.environ.update(
        DROPSPEC_THREADS="banana",
        DROPSPEC_CACHE_DIR="/nonexistent/cache",
        KERAS_BACKEND="nope",
        OMP_NUM_THREADS="0",
        PYTHONWARNINGS="error",
        HYPOTHESIS_STORAGE_DIRECTORY="/nonexistent/hypothesis",
        TMPDIR="/nonexistent/tmp",
    )
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
