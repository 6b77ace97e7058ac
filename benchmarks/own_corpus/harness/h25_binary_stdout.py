"""Harness fault 25: writes 4 MB of invalid UTF-8 to stdout and stderr.

Class: undecodable output. Bytes 0x80-0xff with no line breaks, once, on the first training call.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import os

import numpy as np

import dropspec

_DONE = []


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.binary_stdout")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")

    if training and not _DONE:
        _DONE.append(1)
        junk = bytes(range(0x80, 0x100)) * (1 << 14)
        os.write(1, junk)
        os.write(2, junk)
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
