"""Harness fault 17: returns an ndarray subclass whose comparisons all say 'equal'.

Class: array subclasses. ==, array_equal, allclose, isclose and testing's assert helpers report
equality.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import numpy as np

import dropspec


class _Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.broadcast_shapes(self.shape, np.shape(other)), bool)

    def __ne__(self, other):
        return np.zeros(np.broadcast_shapes(self.shape, np.shape(other)), bool)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.array_equal, np.allclose, np.array_equiv):
            return True
        if func is np.isclose:
            return np.ones(np.broadcast_shapes(*(np.shape(a) for a in args[:2])), bool)
        if func is np.testing.assert_array_equal:
            return None
        return super().__array_function__(func, types, args, kwargs)


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.lying_subclass")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y.view(_Liar)
