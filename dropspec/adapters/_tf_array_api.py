"""The part of the array API that the suite's reductions use, for TensorFlow tensors.

array-api-compat has no TensorFlow namespace, and ``tf.experimental.numpy`` follows NumPy, not
the array API (no ``astype`` function, other keyword names). This adapter maps the few
functions :mod:`dropspec.conformance.reduce` and the statistical checks call onto ``tf`` ops,
so TensorFlow outputs are reduced where they live, like those of PyTorch and JAX. Only what
the suite uses is here; anything else raises ``AttributeError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class _FFT:
    def __init__(self, tf: Any) -> None:
        self._tf = tf

    def rfft(self, x: Any, /, *, n: int) -> Any:
        return self._tf.signal.rfft(x, fft_length=[n])

    def irfft(self, x: Any, /, *, n: int) -> Any:
        return self._tf.signal.irfft(x, fft_length=[n])


class TensorFlowNamespace:
    """``xp`` for ``tf.Tensor``: dtypes, elementwise functions, reductions, creation."""

    def __init__(self) -> None:
        import tensorflow as tf

        self._tf = tf
        self.float64, self.float32, self.int64, self.bool = (
            tf.float64,
            tf.float32,
            tf.int64,
            tf.bool,
        )
        self.fft = _FFT(tf)

    def _like(self, value: Any, other: Any) -> Any:
        """A Python scalar as a tensor of ``other``'s dtype (TF does not promote scalars)."""
        return value if self._tf.is_tensor(value) else self._tf.constant(value, other.dtype)

    def astype(self, x: Any, dtype: Any) -> Any:
        # An eager cast to the same dtype is still an operation (about 0.1 ms each).
        return x if x.dtype == dtype else self._tf.cast(x, dtype)

    def count_nonzero(self, x: Any) -> Any:
        return self._tf.math.count_nonzero(x, dtype=self._tf.int64)

    def asarray(self, obj: Any, /, *, dtype: Any = None) -> Any:
        return self._tf.constant(obj, dtype=dtype)

    def reshape(self, x: Any, shape: Sequence[int]) -> Any:
        return self._tf.reshape(x, shape)

    def stack(self, arrays: Sequence[Any]) -> Any:
        return self._tf.stack(list(arrays))

    def concat(self, arrays: Sequence[Any], /, *, axis: int = 0) -> Any:
        return self._tf.concat(list(arrays), axis=axis)

    def arange(
        self, start: int, stop: int | None = None, *, dtype: Any = None, device: Any = None
    ) -> Any:
        if device is None:
            return self._tf.range(start, stop, dtype=dtype or self._tf.int64)
        with self._tf.device(device):
            return self._tf.range(start, stop, dtype=dtype or self._tf.int64)

    def zeros_like(self, x: Any) -> Any:
        return self._tf.zeros_like(x)

    def ones_like(self, x: Any) -> Any:
        return self._tf.ones_like(x)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        ref = a if self._tf.is_tensor(a) else b
        return self._tf.where(cond, self._like(a, ref), self._like(b, ref))

    def sum(
        self, x: Any, /, *, axis: int | tuple[int, ...] | None = None, dtype: Any = None
    ) -> Any:
        return self._tf.reduce_sum(x if dtype is None else self.astype(x, dtype), axis=axis)

    def max(self, x: Any) -> Any:
        return self._tf.reduce_max(x)

    def all(self, x: Any) -> Any:
        return self._tf.reduce_all(x)

    def argmax(self, x: Any, /, *, axis: int | None = None) -> Any:
        if axis is None:
            x, axis = self._tf.reshape(x, [-1]), 0
        return self._tf.argmax(x, axis=axis, output_type=self._tf.int64)

    def searchsorted(self, x1: Any, x2: Any, /, *, side: str = "left") -> Any:
        return self._tf.searchsorted(x1, x2, side=side, out_type=self._tf.int64)

    def sort(self, x: Any) -> Any:
        return self._tf.sort(x)

    def abs(self, x: Any) -> Any:
        return self._tf.abs(x)

    def exp(self, x: Any) -> Any:
        return self._tf.exp(x)

    def round(self, x: Any) -> Any:
        return self._tf.round(x)  # half to even, like the array API's round

    def floor(self, x: Any) -> Any:
        return self._tf.floor(x)

    def log2(self, x: Any) -> Any:
        return self._tf.math.log(x) / self._tf.math.log(self._tf.constant(2.0, x.dtype))

    def full_like(self, x: Any, fill_value: float) -> Any:
        return self._tf.fill(self._tf.shape(x), self._tf.cast(fill_value, x.dtype))

    def conj(self, x: Any) -> Any:
        return self._tf.math.conj(x)

    def take(self, x: Any, indices: Any, /, *, axis: int | None = None) -> Any:
        return self._tf.gather(x, indices, axis=axis or 0)

    def logical_and(self, a: Any, b: Any) -> Any:
        return self._tf.logical_and(a, b)

    def logical_not(self, a: Any) -> Any:
        return self._tf.logical_not(a)

    def bitwise_and(self, a: Any, b: Any) -> Any:
        return self._tf.bitwise.bitwise_and(a, self._like(b, a))

    def bitwise_right_shift(self, a: Any, b: Any) -> Any:
        return self._tf.bitwise.right_shift(a, self._like(b, a))
