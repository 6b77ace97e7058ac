"""Reductions that turn a target's outputs into the few numbers a statistical test needs.

Every function here is written against the Python array API standard and takes arrays of any
library that has a namespace for it (``array_api_compat.array_namespace``: NumPy, PyTorch, JAX,
CuPy, ...). The statistical checks run them on the arrays a target returns, where those arrays
live (a GPU, say), and bring back only the results: counts, sums, a 2x2 table, a histogram, the
worst lag of an autocorrelation, a Kolmogorov-Smirnov distance. The same functions on NumPy
arrays are what :mod:`dropspec.conformance.stats` uses for its array-taking wrappers, so the
device path and the host path share one implementation.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable
from typing import Any, TypeVar

import array_api_compat

from ..frameworks import FRAMEWORKS

Array = Any  # an array of any array-API library
F = TypeVar("F", bound=Callable[..., Any])

#: The namespace finders of the frameworks whose arrays array-api-compat does not know (the
#: ``namespace`` of their rows in :data:`dropspec.frameworks.FRAMEWORKS`), imported on first
#: need: each returns the namespace for an array, or None if the array is not its kind.
_FINDERS: list[Callable[[Any], Any]] = []


def _finders() -> list[Callable[[Any], Any]]:
    if not _FINDERS:
        for row in FRAMEWORKS.values():
            if row.namespace is not None:
                module, attr = row.namespace.split(":")
                _FINDERS.append(getattr(importlib.import_module(module), attr))
    return _FINDERS


def namespace(*arrays: Array) -> Any:
    """The array-API namespace of ``arrays`` (array-api-compat's wrapper where needed, else
    the namespace their framework's row names)."""
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError:
        for find in _finders():
            found = {find(a) for a in arrays}
            if len(found) == 1 and None not in found:
                return found.pop()
        raise


def device_of(a: Array) -> Any:
    try:
        return array_api_compat.device(a)
    except TypeError:
        return getattr(a, "device", None)


def fused(*static: str) -> Callable[[F], F]:
    """Run a reduction as one compiled program on JAX arrays, as written elsewhere.

    Eager JAX compiles every operation for every new shape; a reduction of a dozen
    operations costs a dozen compilations the first time, one when jitted. ``static`` names
    the keyword arguments that are Python values (sizes, axes, constants), not arrays.
    """

    def wrap(fn: F) -> F:
        compiled: list[Callable[..., Any]] = []

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not array_api_compat.is_jax_array(args[0]):
                return fn(*args, **kwargs)
            if not compiled:
                import jax

                compiled.append(jax.jit(fn, static_argnames=static))
            return compiled[0](*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap


def count(a: Array) -> Array:
    """The number of true values of a boolean array, as a 0-d int64 array."""
    xp = namespace(a)
    if hasattr(xp, "count_nonzero"):  # array API 2023.12; faster than a sum of int64
        return xp.astype(xp.count_nonzero(a), xp.int64)
    return xp.sum(xp.astype(a, xp.int64))


@fused("axis")
def halves_counts(a: Array, axis: int) -> Array:
    """:func:`pair_counts` of the neighbouring pairs of ``a`` along ``axis``."""
    return pair_counts(*halves(a, axis))


@fused()
def flat_halves_counts(a: Array) -> Array:
    """:func:`pair_counts` of the pairs (2i, 2i + 1) of ``a`` in memory order."""
    return pair_counts(*flat_halves(a))


def halves(a: Array, axis: int) -> tuple[Array, Array]:
    """Neighbouring pairs along ``axis``: the even and the odd slices, trimmed to even length."""
    n = a.shape[axis] // 2 * 2
    even = tuple(slice(0, n, 2) if i == axis else slice(None) for i in range(a.ndim))
    odd = tuple(slice(1, n, 2) if i == axis else slice(None) for i in range(a.ndim))
    return a[even], a[odd]


def flat_halves(a: Array) -> tuple[Array, Array]:
    """Neighbouring pairs (2i, 2i + 1) of ``a`` flattened in C (memory) order."""
    xp = namespace(a)
    return halves(xp.reshape(a, (-1,)), 0)


@fused()
def pair_counts(a: Array, b: Array) -> Array:
    """``[#(a & b), #a, #b]`` for two boolean arrays of one shape: a 2x2 table's margins."""
    xp = namespace(a, b)
    return xp.stack([count(xp.logical_and(a, b)), count(a), count(b)])


@fused("k")
def label_sums(v: Array, labels: Array, k: int) -> Array:
    """``[Σ v where labels == j, for j = 0 .. k − 1]`` in float64: the class sums of a
    homogeneity test whose classes are given per element (``labels``, of v's shape, values
    in 0 .. k − 1).

    One pass: the array API has no scatter-add, so the libraries that have one use theirs
    (``bincount``, ``index_add_``, ``.at[].add``, ``unsorted_segment_sum``), about ten times
    faster than the k masked sums of the portable form, which every other library gets.
    """
    xp = namespace(v, labels)
    vd = xp.reshape(xp.astype(v, xp.float64), (-1,))
    flat = xp.reshape(labels, (-1,))
    if array_api_compat.is_numpy_array(v):
        import numpy as np

        return np.bincount(np.asarray(flat, dtype=np.intp), weights=vd, minlength=k)
    if array_api_compat.is_torch_array(v):
        import torch

        out = torch.zeros(k, dtype=torch.float64, device=v.device)
        return out.index_add_(0, flat.to(torch.int64), vd)
    if array_api_compat.is_jax_array(v):
        import jax.numpy as jnp

        return jnp.zeros(k, dtype=jnp.float64).at[flat.astype(jnp.int32)].add(vd)
    if type(v).__module__.startswith("tensorflow"):
        import tensorflow as tf

        return tf.math.unsorted_segment_sum(vd, tf.cast(flat, tf.int32), k)
    zero = xp.zeros_like(vd)
    return xp.stack([xp.sum(xp.where(flat == j, vd, zero)) for j in range(k)])


@fused("low_bits", "period")
def position_sums(v: Array, low_bits: int, period: int) -> Array:
    """Sums of v (float64) by position, as one short vector of three parts:

    1. the sum of the first ``rows · 2^low_bits`` values in memory order (the grid below);
    2. for each bit of the flat index, the sum of those values whose index has the bit set:
       the low ``low_bits`` bits from the grid's column sums, the others from its row sums,
       the grid being those values as (rows, 2^low_bits);
    3. for each axis in turn, the sums over every other axis (one per coordinate), folded
       modulo ``period`` where the axis is longer (trailing coordinates that do not fill a
       period left out).

    The host turns these into class sums for every bit of the flat index and for the
    coordinate along every axis (see ``checks.Classes``).
    """
    xp = namespace(v)
    vd = xp.astype(v, xp.float64)
    flat = xp.reshape(vd, (-1,))
    width = 1 << low_bits
    rows = flat.shape[0] // width
    grid = xp.reshape(flat[: rows * width], (rows, width))
    cols, by_row = xp.sum(grid, axis=0), xp.sum(grid, axis=1)
    parts = [xp.reshape(xp.sum(cols), (1,))]
    for b in range(low_bits):
        halves = xp.reshape(cols, (width >> (b + 1), 2, 1 << b))
        parts.append(xp.reshape(xp.sum(halves[:, 1, :]), (1,)))
    index = xp.arange(rows, dtype=xp.int64, device=device_of(by_row))
    for b in range(max(rows - 1, 0).bit_length()):
        on = xp.bitwise_and(xp.bitwise_right_shift(index, b), 1) == 1
        parts.append(xp.reshape(xp.sum(xp.where(on, by_row, xp.zeros_like(by_row))), (1,)))
    for a in range(vd.ndim):
        others = tuple(i for i in range(vd.ndim) if i != a)
        line = xp.sum(vd, axis=others) if others else vd
        if line.shape[0] > period:
            folds = line.shape[0] // period
            line = xp.sum(xp.reshape(line[: folds * period], (folds, period)), axis=0)
        parts.append(line)
    return xp.concat(parts)


@fused("axis", "widths")
def row_position_counts(keep: Array, axis: int, widths: tuple[int, ...]) -> Array:
    """How many values of a boolean array are true by position: in all; along ``axis`` (the
    rows) at each row's first coordinate, at its last, and in its last (n mod w)
    coordinates for each w in ``widths`` (a vector loop's remainder lanes; none where w
    divides n); then in the whole array read flat in C order, in its last (size mod w)
    values for each w (the tail of one vector loop over the whole
    tensor). An int64 vector of 3 + 2·len(widths)."""
    xp = namespace(keep)
    others = tuple(i for i in range(keep.ndim) if i != axis)
    line = xp.sum(keep, axis=others, dtype=xp.int64) if others else xp.astype(keep, xp.int64)
    flat = xp.astype(xp.reshape(keep, (-1,)), xp.int64)
    return xp.stack(_row_positions(line, widths) + _call_positions(flat, widths))


@fused("axis", "widths", "power")
def row_position_sums(v: Array, axis: int, widths: tuple[int, ...], power: int) -> Array:
    """:func:`row_position_counts`' classes, for the sums of v ** ``power`` (v float64)."""
    xp = namespace(v)
    others = tuple(i for i in range(v.ndim) if i != axis)
    w = v if power == 1 else v**power
    line = xp.sum(w, axis=others) if others else w
    return xp.stack(_row_positions(line, widths) + _call_positions(xp.reshape(w, (-1,)), widths))


def _row_positions(line: Array, widths: tuple[int, ...]) -> list[Array]:
    """The sums over a row's coordinates of :func:`row_position_counts`' classes."""
    xp = namespace(line)
    n = line.shape[0]
    return [xp.sum(line), line[0], line[n - 1]] + [xp.sum(line[n - n % w :]) for w in widths]


def _call_positions(flat: Array, widths: tuple[int, ...]) -> list[Array]:
    """The sums of the flat array's last (size mod w) values, for each w in ``widths``."""
    xp = namespace(flat)
    n = flat.shape[0]
    return [xp.sum(flat[n - n % w :]) for w in widths]


@fused()
def mismatches(a: Array, b: Array) -> Array:
    """How many elements of two same-shape arrays differ (NaN equals NaN), as int64."""
    xp = namespace(a, b)
    same = (a == b) | ((a != a) & (b != b))
    return count(xp.logical_not(same))


@fused("allowed")
def off_multipliers(y: Array, x: Array, allowed: tuple[float, ...]) -> Array:
    """How many y/x (x without zeros, in float64) are neither 0 nor one of ``allowed``."""
    xp = namespace(y, x)
    m = xp.astype(y, xp.float64) / x
    ok = m == 0.0
    for value in allowed:
        ok = ok | (m == value)
    return count(xp.logical_not(ok))


@fused("k")
def histogram(values: Array, k: int) -> Array:
    """How many of the integers in ``values`` equal 0, 1, ..., k (values outside are ignored)."""
    xp = namespace(values)
    return xp.stack([count(values == j) for j in range(k + 1)])


def correlation_size(n: int, lags: int) -> int:
    """The FFT length for sums S_L over shifts |L| <= ``lags`` of length-``n`` sequences:
    the smallest 2^a·3^b >= n + lags. Zero-padded to it, a circular correlation holds
    every S_L unmixed with wrapped terms (which need |L| > size − n), and FFTs of such
    lengths are fast: 3·2^19 for n = 2^20, lags = n/2, against 2^21 for full padding."""
    need = max(n + lags, 1)
    best, three = 1 << (need - 1).bit_length(), 3
    while three // 3 < need:
        twos = -(-need // three)  # the power of two times 3^b must reach ``need``
        best = min(best, three << (twos - 1).bit_length())
        three *= 3
    return best


@fused("lags")
def autocorrelation_peak(mask: Array, lags: int) -> Array:
    """``[L, S_L]``: the lag 1 <= L <= ``lags`` whose agreement sum is the least likely.

    With e = 2·mask − 1 flattened, S_L = Σ_i e_i·e_(i+L) (an integer); all lags come from one
    zero-padded FFT. "Least likely" is the largest S_L² / (n − L), which is where the
    Azuma–Hoeffding bound 2·exp(−S_L² / (2(n − L))) used by the test is smallest.

    The FFT runs in float32, about three times faster than in float64 and within a small
    fraction of a count of every S_L (0.02 at most over 2^19 lags of 2^20 fair values,
    measured), which is enough to find the worst lag; S_L at that lag is then counted
    exactly (n − L − 2·#{i : mask_i ≠ mask_(i+L)}). Were rounding ever to pick a lag a hair
    less extreme than the worst, the statistic is that lag's exact sum: smaller, so the
    test is conservative, never more likely to reject.
    """
    xp = namespace(mask)
    flat = xp.reshape(mask, (-1,))
    spec, size = _spectrum(flat, xp, correlation_size(flat.shape[0], lags))
    return _worst_lag(flat, spec, size, lags, xp)


def _spectrum(flat: Array, xp: Any, size: int) -> tuple[Array, int]:
    """The rfft of e = 2·flat − 1 in float32, zero-padded to ``size``."""
    e = xp.astype(flat, xp.float32) * 2.0 - 1.0
    return _fft_of(flat, xp).rfft(e, n=size), size


def _worst_lag(flat: Array, spec: Array, size: int, lags: int, xp: Any) -> Array:
    n = flat.shape[0]
    fft = _fft_of(flat, xp)
    approx = fft.irfft(spec * xp.conj(spec), n=size)[1 : lags + 1]
    terms = float(n) - xp.arange(1, lags + 1, dtype=xp.float32, device=device_of(flat))
    lag = xp.argmax(approx * approx / terms) + 1
    index = xp.arange(n, dtype=xp.int64, device=device_of(flat))
    ahead = xp.take(flat, (index + lag) % n)  # mask_(i+L), wrapping past the end
    differ = count(xp.logical_and(flat != ahead, index < n - lag))
    exact = xp.astype(n - lag - 2 * differ, xp.float64)
    return xp.stack([xp.astype(lag, xp.float64), exact])


def _fft_of(a: Array, xp: Any) -> Any:
    """The FFT module for ``a``: the namespace's, but SciPy's for NumPy arrays (NumPy's own
    computes float32 input in float64)."""
    if array_api_compat.is_numpy_array(a):
        import scipy.fft

        return scipy.fft
    return xp.fft


#: The width of the windows :func:`window_repeats` compares: 62 consecutive 0/1 values read
#: as one int64 in [0, 2^62) (bit j is value i + j), so sums never reach the sign bit.
WINDOW_BITS = 62
#: The strides of its two sets of windows (coprime, see :func:`window_repeats`).
WINDOW_STRIDES = (64, 63)


def strided_windows(flat: Array, stride: int) -> Array:
    """The windows of :data:`WINDOW_BITS` values of the flat 0/1 array ``flat`` that start
    at 0, stride, 2·stride, ... (len // stride of them), as int64 (bit j of a window is its
    value j): the rows of a (len // stride, stride) view, their first WINDOW_BITS columns
    weighted by powers of two and summed; one pass over the array."""
    xp = namespace(flat)
    count = flat.shape[0] // stride
    rows = xp.reshape(flat[: count * stride], (count, stride))[:, :WINDOW_BITS]
    weights = xp.asarray([1 << j for j in range(WINDOW_BITS)], dtype=xp.int64)
    return xp.sum(xp.astype(rows, xp.int64) * weights, axis=1)


def window_counts(n: int) -> tuple[int, int, int]:
    """For n values: how many windows each stride of :data:`WINDOW_STRIDES` takes, and how
    many window starts the two share (multiples of both strides), which equal themselves."""
    a, b = WINDOW_STRIDES
    count_a, count_b = n // a, n // b
    shared = (min(count_a * a, count_b * b) - 1) // (a * b) + 1
    return count_a, count_b, shared


@fused()
def window_repeats(bits: Array) -> Array:
    """``[K]``: the number of pairs (a, b), a a window of :data:`WINDOW_BITS` consecutive
    values of the flat 0/1 array ``bits`` starting at a multiple of 64, b one starting at a
    multiple of 63 elsewhere, with a == b.

    A block of at least 64·63 + 64 + 62 values that appears again at any lag, ahead or
    behind, is found: its aligned starts run through every residue modulo 63 (64 = 1 mod
    63), so one of them lands, across the lag, on a start of the other set. Only about
    2·n/64 windows are built, sorted and compared.
    """
    xp = namespace(bits)
    flat = xp.reshape(bits, (-1,))
    shared = window_counts(flat.shape[0])[2]
    aligned = xp.sort(strided_windows(flat, WINDOW_STRIDES[0]))
    other = strided_windows(flat, WINDOW_STRIDES[1])
    left = xp.searchsorted(aligned, other, side="left")
    right = xp.searchsorted(aligned, other, side="right")
    hits = xp.sum(xp.astype(right - left, xp.int64))
    return xp.stack([hits - shared])


# Abramowitz & Stegun (1964), formula 7.1.26: erf(x) = 1 − t·P(t)·exp(−x²), t = 1/(1 + p·x),
# for x >= 0, with |error| <= 1.5e-7. The array API standard has no erf, and the
# Kolmogorov-Smirnov distance needs the normal CDF where the samples are.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
#: Bound on |Φ_approx − Φ| (half the bound on erf's error).
NORMAL_CDF_ERROR = 0.75e-7


def normal_cdf(z: Array) -> Array:
    """Φ(z) to within :data:`NORMAL_CDF_ERROR`, in array-API operations only."""
    xp = namespace(z)
    x = xp.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + _AS_P * x)
    poly = t * (_AS_A[0] + t * (_AS_A[1] + t * (_AS_A[2] + t * (_AS_A[3] + t * _AS_A[4]))))
    half_erfc = 0.5 * poly * xp.exp(-x * x)  # = 1 − Φ(|z|)
    return xp.where(z >= 0, 1.0 - half_erfc, half_erfc)


@fused()
def ks_distance(z: Array) -> Array:
    """sup |F_n − Φ| of the samples ``z`` (any shape), as a 0-d float64 array."""
    xp = namespace(z)
    s = xp.sort(xp.reshape(xp.astype(z, xp.float64), (-1,)))
    n = s.shape[0]
    cdf = normal_cdf(s)
    i = xp.arange(n, dtype=xp.float64, device=device_of(s))
    above = xp.max((i + 1.0) / n - cdf)
    below = xp.max(cdf - i / n)
    return xp.max(xp.stack([above, below]))


@fused("bits")
def decode_bits(values: Array, bits: int) -> Array:
    """The ``bits`` low binary digits of non-negative integer ``values``, on a new last axis."""
    xp = namespace(values)
    ints = xp.astype(values, xp.int64)
    shifts = xp.arange(bits, dtype=xp.int64, device=device_of(ints))
    return xp.astype(xp.bitwise_and(xp.bitwise_right_shift(ints[..., None], shifts), 1), xp.bool)


def rounding_shift(center: float, sigma: float, mantissa: int, min_exponent: int) -> float:
    """A bound on sup_x |G(x) − Φ((x − center)/σ)|, G the CDF of center + σZ rounded to
    nearest in a float format with ``mantissa`` fraction bits and smallest normal exponent
    ``min_exponent``: how far :func:`ks_distance` (to the unrounded law) can lie from
    :func:`ks_distance_rounded` (to the rounded one).

    Rounding moves v by at most r = u·|v| + η (u = 2^−(mantissa+1); η, half the subnormal
    spacing), so G(x) lies between the normal CDF at x − r and at x + r, within r·φ/σ of
    it; with x = center + σt, u·|x|·φ(t)/σ <= u·(|center|/σ·φ(0) + max |t|·φ(t)) and
    max |t|·φ(t) = 1/√(2πe). A factor 1.001 covers r's own rounding and φ's change across r.
    """
    u = 2.0 ** -(mantissa + 1)
    eta = 2.0 ** (min_exponent - mantissa - 1)
    phi0 = 1.0 / math.sqrt(2.0 * math.pi)
    peak = 1.0 / math.sqrt(2.0 * math.pi * math.e)
    return 1.001 * (u * (abs(center) / sigma * phi0 + peak) + eta * phi0 / sigma)


@fused("mantissa", "min_exponent")
def ks_distance_rounded(
    v: Array, center: float, sigma: float, mantissa: int, min_exponent: int
) -> Array:
    """sup |F_n − G| for samples ``v`` of fl(center + sigma·Z), Z ~ N(0, 1), rounded to
    nearest in a float format with ``mantissa`` fraction bits and smallest normal exponent
    ``min_exponent``; as a 0-d float64 array.

    G is the step CDF of the rounded value: G(v) = Φ((v + up − center)/σ) and
    G(v−) = Φ((v − down − center)/σ), where [v − down, v + up] is the interval that rounds
    to v. Comparing F_n with G at each sample's last and first tie gives the exact
    Kolmogorov–Smirnov distance to the rounded law (whose p-value is then conservative).
    """
    xp = namespace(v)
    s = xp.sort(xp.reshape(xp.astype(v, xp.float64), (-1,)))
    n = s.shape[0]
    mag = xp.abs(s)
    e = xp.floor(xp.log2(xp.where(mag > 0, mag, 1.0)))
    e = xp.where(2.0**e > mag, e - 1.0, e)
    e = xp.where(2.0 ** (e + 1.0) <= mag, e + 1.0, e)
    e = xp.where(e < min_exponent, xp.full_like(e, float(min_exponent)), e)
    ulp = 2.0 ** (e - mantissa)
    # Below a power of two the spacing halves: the gap towards zero is half an ulp there.
    toward = xp.where((mag == 2.0**e) & (e > min_exponent), ulp / 2.0, ulp)
    up = xp.where(s > 0, ulp, toward) / 2.0
    down = xp.where(s > 0, toward, ulp) / 2.0
    i = xp.arange(n, dtype=xp.float64, device=device_of(s))
    above = xp.max((i + 1.0) / n - normal_cdf((s + up - center) / sigma))
    below = xp.max(normal_cdf((s - down - center) / sigma) - i / n)
    return xp.max(xp.stack([above, below]))


@fused("lags")
def cross_correlation_peaks(a: Array, others: Array, lags: int) -> Array:
    """``[|L_1|, …, |L_k|, S_1, …, S_k]``: for each of the k arrays stacked in ``others``
    (each of a's shape), the shift −lags <= L <= lags whose agreement sum with ``a`` is the
    least likely, and that sum.

    With e = 2·a − 1 and f = 2·b − 1 flattened (one length n), S_L = Σ_i e_i·f_(i+L); all
    shifts of all k pairs come from one batch of zero-padded FFTs, a's transformed once. As
    in :func:`autocorrelation_peak`, "least likely" is the largest S_L² / (n − |L|).
    """
    xp = namespace(a, others)
    k = others.shape[0]
    e = xp.reshape(xp.astype(a, xp.float64), (1, -1)) * 2.0 - 1.0
    f = xp.reshape(xp.astype(others, xp.float64), (k, -1)) * 2.0 - 1.0
    n = e.shape[1]
    size = correlation_size(n, lags)
    full = xp.round(xp.fft.irfft(xp.conj(xp.fft.rfft(e, n=size)) * xp.fft.rfft(f, n=size), n=size))
    sums = xp.concat([full[:, size - lags :], full[:, : lags + 1]], axis=1)  # L = −lags .. lags
    shifts = xp.abs(xp.arange(-lags, lags + 1, dtype=xp.float64, device=device_of(e)))
    worst = xp.argmax(sums * sums / (n - shifts), axis=1)
    index = xp.arange(2 * lags + 1, dtype=xp.int64, device=device_of(e))
    hit = xp.reshape(index, (1, -1)) == xp.reshape(xp.astype(worst, xp.int64), (-1, 1))
    zero = xp.zeros_like(sums)
    peak = xp.sum(xp.where(hit, sums, zero), axis=1)
    where = xp.sum(xp.where(hit, zero + shifts, zero), axis=1)
    return xp.concat([where, peak])


#: Axes shorter than this take :func:`offset_pair_counts` directly in :func:`offset_tables`.
SHORT_AXIS = 64


@fused("axis", "k")
def offset_tables(a: Array, axis: int, k: int) -> Array:
    """:func:`offset_pair_counts` at every offset 1..k in both phases (0 and the offset), as
    one (k, 2, 3) array.

    Where ``a`` has other axes, their sums come first: c[j], the true values at coordinate
    j, and for each offset d, q[j], the pairs (j, j + d) both true. A phase's
    [#(a & b), #a, #b] is then q and c over the first halves of its blocks of 2d and c over
    the second halves, read off c and q (vectors as long as the axis): one pass over ``a``
    for c and two per offset, where the strided halves of ``a`` itself cost eight per
    offset (about 2 times slower along the long axis of the statistical shapes, measured).
    A one-dimensional ``a`` (memory order) has nothing to sum first, and along a short axis
    (under :data:`SHORT_AXIS`) the halves are cheap: those take the halves directly.
    :func:`offset_pair_counts` states the pairs; the tests compare the two."""
    xp = namespace(a)
    if a.ndim == 1 or a.shape[axis] < max(SHORT_AXIS, k + 1):
        return xp.stack(
            [
                xp.stack([offset_pair_counts(a, axis=axis, offset=d, phase=p) for p in (0, d)])
                for d in range(1, k + 1)
            ]
        )
    side = a.shape[axis]
    others = tuple(i for i in range(a.ndim) if i != axis)

    def along(v: Array) -> Array:  # per coordinate along the axis, summed over the others
        return xp.sum(v, axis=others, dtype=xp.int64)

    def cut(lo: int, hi: int) -> tuple[slice, ...]:
        return tuple(slice(lo, hi) if i == axis else slice(None) for i in range(a.ndim))

    c = along(a)
    rows = []
    for d in range(1, k + 1):
        # side > k: every offset fits the axis.
        pairs = along(xp.logical_and(a[cut(0, side - d)], a[cut(d, side)]))
        q = xp.concat([pairs, xp.zeros_like(c[:d])])  # as long as c
        phases = []
        for p in (0, d):
            blocks = (side - p) // (2 * d)
            # Per position within a block of 2d, summed over the blocks.
            cs, qs = (
                xp.sum(xp.reshape(v[p : p + blocks * 2 * d], (blocks, 2 * d)), axis=0)
                for v in (c, q)
            )
            phases.append(xp.stack([xp.sum(qs[:d]), xp.sum(cs[:d]), xp.sum(cs[d:])]))
        rows.append(xp.stack(phases))
    return xp.stack(rows)


@fused("axis", "offset", "phase")
def offset_pair_counts(a: Array, axis: int, offset: int, phase: int) -> Array:
    """:func:`pair_counts` of the disjoint pairs (i, i + offset) along ``axis`` with
    (i − phase) mod 2·offset < offset: blocks of 2·offset from ``phase``, first half against
    second half. Phases 0 and ``offset`` together pair every element with its neighbour at
    that offset once."""
    xp = namespace(a)
    span = 2 * offset
    blocks = (a.shape[axis] - phase) // span
    part = a[
        tuple(
            slice(phase, phase + blocks * span) if i == axis else slice(None) for i in range(a.ndim)
        )
    ]
    split = xp.reshape(part, (*a.shape[:axis], blocks, 2, offset, *a.shape[axis + 1 :]))
    lead = (slice(None),) * (axis + 1)
    return pair_counts(split[(*lead, 0)], split[(*lead, 1)])


@fused("lags", "lo", "hi")
def period_peaks(mask: Array, lags: int, lo: int, hi: int) -> Array:
    """``[L, S_L, c, S_c]``: :func:`autocorrelation_peak` at lags up to ``lags`` and the
    least likely mirror sum about a centre lo <= c < hi, from one FFT of the mask.

    With e = 2·mask − 1 flattened (length n), S_c = Σ e_i·e_(c−i) over the pairs i < c − i
    inside the array (:func:`mirror_pairs`); the pairs of one centre are disjoint, so under
    independence S_c is a sum of independent fair ±1. Every S_c comes from the
    self-convolution of e; "least likely" is the largest S_c² / m_c, and S_c there is then
    counted exactly, as S_L is. c = n − 1 pairs i with n − 1 − i: the mask against itself
    reversed.
    """
    xp = namespace(mask)
    flat = xp.reshape(mask, (-1,))
    n = flat.shape[0]
    # No wrapped term reaches a lag up to ``lags`` or a centre below ``hi``.
    spec, size = _spectrum(flat, xp, correlation_size(n, max(lags, hi - n)))
    auto = _worst_lag(flat, spec, size, lags, xp)
    conv = _fft_of(flat, xp).irfft(spec * spec, n=size)[lo:hi]
    c = xp.arange(lo, hi, dtype=xp.float32, device=device_of(flat))
    pairs = mirror_pairs(c, n, xp)
    sums = (conv - xp.astype(c % 2 == 0, xp.float32)) / 2.0  # less the pair (c/2, c/2)
    worst = xp.argmax(sums * sums / xp.where(pairs > 0, pairs, xp.ones_like(pairs)))
    centre = xp.astype(worst, xp.int64) + lo
    index = xp.arange(n, dtype=xp.int64, device=device_of(flat))
    partner = centre - index
    inside = (partner > index) & (partner < n)
    other = xp.take(flat, xp.where(inside, partner, index))
    differ = count(xp.logical_and(flat != other, inside))
    exact = xp.astype(count(inside) - 2 * differ, xp.float64)
    return xp.concat([auto, xp.stack([xp.astype(centre, xp.float64), exact])])


def mirror_pairs(c: Any, n: int, xp: Any) -> Any:
    """The pairs i < c − i with both in [0, n) of each centre c (an array of floats)."""
    first = xp.where(c - (n - 1) > 0, c - (n - 1), xp.zeros_like(c))
    last = xp.where(c < n - 1, c, xp.full_like(c, n - 1.0))
    return xp.floor((last - first + 1.0) / 2.0)


#: The dense head :func:`head_repeats` takes its windows from: every start in [0, HEAD).
HEAD = 1 << 12


@fused()
def head_repeats(stream: Array, heads: Array) -> Array:
    """``[K]``: the pairs (a, b), a a window of :data:`WINDOW_BITS` values starting at any of
    the first :data:`HEAD` positions of one of ``heads`` (rows), b one starting at a
    positive multiple of HEAD in the flat 0/1 array ``stream``, with a == b.

    A stream that is periodic from its start with any period P <= len − HEAD −
    WINDOW_BITS is found: its window at the first multiple j·HEAD >= P (which fits, as
    j·HEAD < P + HEAD) equals the head's window at j·HEAD − P, in [0, HEAD). Likewise a
    head (another call) that reappears in the stream ahead of its start by up to as much.
    Only HEAD windows per head and len / HEAD in the stream are built: about 2·sqrt(len)
    for a stream of 2^24.
    """
    xp = namespace(stream)
    flat = xp.reshape(stream, (-1,))
    # Every start j·HEAD, j >= 1, whose window fits.
    starts = xp.arange(1, (flat.shape[0] - WINDOW_BITS) // HEAD + 1, dtype=xp.int64) * HEAD
    offsets = xp.arange(WINDOW_BITS, dtype=xp.int64)
    sparse = xp.take(flat, xp.reshape(starts[:, None] + offsets[None, :], (-1,)))
    sparse = xp.reshape(sparse, (starts.shape[0], WINDOW_BITS))
    weights = xp.asarray([1 << j for j in range(WINDOW_BITS)], dtype=xp.int64)
    far = xp.sort(xp.sum(xp.astype(sparse, xp.int64) * weights, axis=1))
    hits = xp.zeros((), dtype=xp.int64)
    for h in range(heads.shape[0]):
        head = xp.astype(heads[h, : HEAD + WINDOW_BITS - 1], xp.int64)
        dense = xp.zeros((HEAD,), dtype=xp.int64)
        for j in range(WINDOW_BITS):
            dense = dense + head[j : j + HEAD] * (1 << j)
        left = xp.searchsorted(far, dense, side="left")
        right = xp.searchsorted(far, dense, side="right")
        hits = hits + xp.sum(xp.astype(right - left, xp.int64))
    return xp.stack([hits])


@fused()
def xor_count(masks: Array) -> Array:
    """The number of positions where the XOR of the stacked boolean ``masks`` (k, ...) is
    true, as a 0-d int64 array."""
    xp = namespace(masks)
    parity = xp.sum(xp.astype(masks, xp.int64), axis=0) % 2
    return count(parity == 1)


@fused("lags")
def row_autocorrelation_peak(mask: Array, lags: int) -> Array:
    """``[L, S_L]``: the lag 1 <= L <= ``lags`` along the rows of the 2-D 0/1 ``mask`` whose
    agreement sum, pooled over the rows, is the least likely: S_L = Σ_r Σ_i e_(r,i)·e_(r,i+L)
    over rows·(columns − L) pairs, e = 2·mask − 1 (the largest S_L² / (rows·(columns − L))).
    One batch of zero-padded float32 FFTs finds the lag, where S_L is then counted exactly
    (as in :func:`autocorrelation_peak`)."""
    xp = namespace(mask)
    rows, cols = mask.shape
    e = xp.astype(mask, xp.float32) * 2.0 - 1.0
    size = correlation_size(cols, lags)
    fft = _fft_of(mask, xp)
    spec = fft.rfft(e, n=size, axis=1)
    auto = fft.irfft(spec * xp.conj(spec), n=size, axis=1)[:, 1 : lags + 1]
    sums = xp.sum(auto, axis=0)
    terms = float(rows) * (cols - xp.arange(1, lags + 1, dtype=xp.float32, device=device_of(e)))
    lag = xp.argmax(sums * sums / terms) + 1
    index = xp.arange(cols, dtype=xp.int64, device=device_of(e))
    ahead = xp.take(mask, (index + lag) % cols, axis=1)
    differ = count(xp.logical_and(mask != ahead, xp.reshape(index < cols - lag, (1, -1))))
    exact = xp.astype(rows * (cols - lag) - 2 * differ, xp.float64)
    return xp.stack([xp.astype(lag, xp.float64), exact])


@fused()
def column_agreement_peak(vector: Array, mask: Array) -> Array:
    """``[j, S_j]``: the column j of the 2-D 0/1 ``mask`` (rows, columns) whose agreement sum
    with the 0/1 ``vector`` (rows) is the least likely, S_j = Σ_r f_r·e_(r,j) (the largest
    |S_j|; every sum has ``rows`` terms), e, f = 2·value − 1."""
    xp = namespace(mask)
    e = xp.astype(mask, xp.float64) * 2.0 - 1.0
    f = xp.astype(vector, xp.float64) * 2.0 - 1.0
    sums = xp.sum(e * xp.reshape(f, (-1, 1)), axis=0)
    worst = xp.argmax(xp.abs(sums))
    return xp.stack([xp.astype(worst, xp.float64), sums[worst]])
