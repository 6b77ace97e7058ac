"""Harness fault 16: returns a lazy object whose __array__ works once and raises afterwards.

Class: lazy outputs. It has shape, dtype and ndim; the second conversion raises RuntimeError.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import numpy as np

import dropspec


class _Lazy:
    def __init__(self, value):
        self._value, self._used = value, False
        self.shape, self.dtype, self.ndim = value.shape, value.dtype, value.ndim

    def __array__(self, dtype=None, copy=None):
        if self._used:
            raise RuntimeError("lazy buffer already consumed")
        self._used = True
        return self._value if dtype is None else self._value.astype(dtype)


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.lazy_array")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return _Lazy(y)
