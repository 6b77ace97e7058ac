"""Masks read back from outputs rather than asked for, so any implementation can be checked.

With x = 1 a dropout output is 0 exactly where the mask drops; alpha dropout's dropped value
a·α′ + b differs from the kept a + b; Gaussian dropout drops nothing, and its "kept" values
are those whose noise lies above 1; a DropConnect layer fed x = 1 and weights W[o, j] = 2^j
returns s·Σ_j M[o, j]·2^j, whose binary digits are the mask. Which of these a target's masks
are read by is its geometry's ``mask`` (:class:`~._geometry.Geometry`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ...dtypes import as_dtype, eps
from ...reference import ALPHA_PRIME, alpha_constants, scale_for
from ...reference.expectations import gaussian_at_most_one
from .. import reduce
from ..context import CheckFailure, Context, chunk_elements
from ..reduce import Array
from ._examples import WIDE, same_shape
from ._geometry import gen_even, geometry


def scale(ctx: Context, rate: float) -> float:
    """The kept multiplier s the target's declared scaling asks for at ``rate``."""
    return scale_for(rate, ctx.options["scaling"])


def compact(keep: Array, shared: tuple[int, ...]) -> Array:
    """The mask with every shared axis reduced to its first slice (kept as size 1)."""
    if not shared:  # nothing to reduce; slicing is an operation of its own in eager TF
        return keep
    index = tuple(slice(0, 1) if a in shared else slice(None) for a in range(keep.ndim))
    return keep[index]


def keep_mask(ctx: Context, y: Array, rate: float, shared: tuple[int, ...]) -> Array:
    """Which units were kept (compacted over ``shared``), from the output of a call on x = 1.

    Works on any array library's output, where it lives. For Gaussian dropout, which
    drops nothing, the "kept" units are those whose noise lies above 1 (x = 1).
    """
    kind = geometry(ctx).mask
    if kind == "noise":
        return _above_one(y)
    constants = alpha_constants(rate) if kind == "alpha" else None
    return _kept_units(y, shared=shared, constants=constants)


def dropped_probability(ctx: Context, rate: float) -> float:
    """The probability that a value of :func:`keep_mask` reads as dropped: the rate, or for
    Gaussian dropout that the noise (rounded to the dtype) is at most 1."""
    if geometry(ctx).mask == "noise":
        return gaussian_at_most_one(rate, ctx.stat_dtype)
    return rate


def multipliers(ctx: Context, y: np.ndarray, x: np.ndarray, rate: float) -> np.ndarray:
    """What each input value was multiplied by in the output ``y`` of a call on ``x`` (both
    float64): the mask value times its scale, d y / d x. Alpha dropout's kept values are
    a·x + b (multiplier a), its dropped ones a constant (0)."""
    kind = geometry(ctx).mask
    if kind == "noise":
        ratio: np.ndarray = y / x
        return ratio
    if kind == "alpha":
        a, b = alpha_constants(rate)
        kept = np.abs(y - (a * x + b)) < np.abs(y - (a * ALPHA_PRIME + b))
        return np.where(kept, a, 0.0)
    return np.where(y != 0, scale(ctx, rate), 0.0)


@reduce.fused()
def _above_one(y: Array) -> Array:
    return y > 1


@reduce.fused("shared", "constants")
def _kept_units(y: Array, shared: tuple[int, ...], constants: tuple[float, float] | None) -> Array:
    y = compact(y, shared)
    if constants is None:
        return y != 0
    # Alpha dropout: a dropped unit is a·α′ + b, a kept one (x = 1) is a + b.
    xp = reduce.namespace(y)
    a, b = constants
    yd = xp.astype(y, xp.float64)
    return xp.abs(yd - (a + b)) < xp.abs(yd - (a * ALPHA_PRIME + b))


def unit_masks(
    ctx: Context,
    rate: float,
    mask_values: int,
    *,
    shared_side: int = 1,
    shape: tuple[int, ...] | None = None,
    x: np.ndarray | None = None,
) -> Iterator[Array]:
    """Compact keep masks from calls on x = 1 (or on ``x``, a :meth:`Context.reusable`
    input without zeros, for ops whose dropped outputs are 0) until ``mask_values`` values
    are collected.

    The masks stay where the target's outputs live (see :meth:`Context.call_device`).
    """
    shape, per_call = mask_layout(
        ctx, mask_values, shared_side, x.shape if x is not None else shape
    )
    shared = geometry(ctx).shared_of(len(shape))
    if x is None:
        x = ctx.constant(shape, ctx.stat_dtype)
    got = 0
    while got < mask_values:
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        yield keep_mask(ctx, y, rate, shared)
        got += per_call


def mask_layout(
    ctx: Context, mask_values: int, shared_side: int = 1, shape: tuple[int, ...] | None = None
) -> tuple[tuple[int, ...], int]:
    """The input shape :func:`unit_masks` calls with, and the mask values per call."""
    g = geometry(ctx)
    shape = shape or g.stat_shape(chunk_elements(mask_values), shared_side)
    shared = g.shared_of(len(shape))
    return shape, math.prod(1 if a in shared else n for a, n in enumerate(shape))


def mask_total(
    ctx: Context, mask_values: int, shared_side: int = 1, shape: tuple[int, ...] | None = None
) -> int:
    """How many mask values :func:`unit_masks` collects for ``mask_values`` (whole calls)."""
    per_call = mask_layout(ctx, mask_values, shared_side, shape)[1]
    return per_call * -(-mask_values // per_call)


def mask_calls(
    ctx: Context, mask_values: int, shared_side: int = 1, shape: tuple[int, ...] | None = None
) -> tuple[tuple[int, ...], int]:
    """The shape of the compact masks :func:`unit_masks` yields, and how many it yields."""
    shape, per_call = mask_layout(ctx, mask_values, shared_side, shape)
    shared = geometry(ctx).shared_of(len(shape))
    return tuple(1 if a in shared else n for a, n in enumerate(shape)), -(-mask_values // per_call)


#: Powers of two, so that x·fl(s) is exact and y/x is the multiplier itself in every dtype.
MOMENT_VALUES = np.array([-2.0, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 2.0])


def signed_input(ctx: Context, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """An input of ``shape`` whose values are drawn from :data:`MOMENT_VALUES` (exact in
    every dtype), marked :meth:`Context.reusable`, and each value's index in that list.

    One per shape and dtype in a check, shared by its rates: every call draws its own
    mask, so the sub-tests stay valid given the input, and the input is drawn and moved to
    the target's device once."""
    key = ("signed", tuple(shape), ctx.stat_dtype)
    if key not in ctx.cache:
        labels = ctx.rng.integers(0, len(MOMENT_VALUES), size=shape, dtype=np.int8)
        x = ctx.reusable(MOMENT_VALUES.astype(as_dtype(ctx.stat_dtype))[labels])
        ctx.cache[key] = (x, labels)
    x, labels = ctx.cache[key]
    return x, labels


# ---------------------------------------------------------------- DropConnect layers ----


def decoder_layer(
    ctx: Context, batch: int, n_out: int, n_in: int, dtype: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x = 1, W[o, j] = 2^j and a bias of 2^n_in (masked bias) or 0 (unmasked)."""
    d = as_dtype(dtype)
    x = np.ones((batch, n_in), dtype=d)
    w = np.broadcast_to(2.0 ** np.arange(n_in), (n_out, n_in)).astype(d)
    bias_value = 2.0**n_in if ctx.options["mask_bias"] else 0.0
    return x, w, np.full(n_out, bias_value, dtype=d)


def decode(ctx: Context, y: Array, rate: float, n_in: int) -> tuple[Array, Array]:
    """Weight masks (batch, out, in) and bias masks (batch, out) from a decoder call.

    Works on any array library's output and returns masks of the same library. The code
    y/s' is read with the target's own kept multiplier s', which may differ from the declared
    s by the rounding of the rate or of s (:func:`scale_window`; whether it may is
    DROPCONNECT-VALUES's verdict, not this reading's): s' is measured on the outputs whose code
    no multiplier in that window could change, and every code is then read exactly.
    """
    s = scale(ctx, rate)
    bits = n_in + (1 if ctx.options["mask_bias"] else 0)
    window, tol = scale_window(rate, s, ctx.stat_dtype), decode_tolerance(ctx.stat_dtype, bits)
    valid, weight, bias, own = _decode(y, s, window, tol, n_in=n_in, bits=bits)
    if not bool(ctx.host(valid)):
        s_own = float(ctx.host(own))
        yh = ctx.host(y).astype(np.float64)  # a failure: show where
        vh = yh / s_own
        rh = np.round(vh)
        miss = np.abs(vh - rh)
        ok = (miss <= np.minimum(tol * np.maximum(np.abs(vh), 1.0), 0.25)) & (rh >= 0)
        ok &= rh < 2**bits
        bad = tuple(int(i[0]) for i in np.nonzero(~ok))
        hint = (
            " (mask_bias=True is declared: if the bias is added whether or not its mask "
            "drops it, declare mask_bias=False)"
            if ctx.options["mask_bias"]
            else ""
        )
        raise CheckFailure(
            f"the output {yh[bad] if bad else yh!r} at {bad} is not s·x·(M ⊙ W)ᵀ (+ masked "
            f"bias) for any 0/1 mask M, with s={s_own!r} (declared {s!r}), x = 1 and "
            f"W[o, j] = 2^j{hint}"
        )
    return weight, bias


def scale_window(rate: float, s: float, dtype: str) -> float:
    """How far (relatively) a target's kept multiplier may lie from the declared ``s`` and
    still be read as ``s``: the rate held in float32 or in ``dtype`` before 1/(1 − rate) is
    formed, and s rounded to ``dtype``."""
    held = [float(as_dtype(d).type(rate)) for d in ("float32", dtype)]
    near = [1.0 / (1.0 - r) for r in held if s not in (0.0, 1.0) and r < 1.0]
    return max((abs(t / s - 1.0) for t in near), default=0.0) + eps(dtype)


def decode_tolerance(dtype: str, bits: int) -> float:
    """The relative error of s'·Σ_j M_j·2^j computed in ``dtype`` (a sum of ``bits`` terms, a
    product, a cast): what a code may miss a whole number by, relative to its size."""
    return (bits + 2) * eps(dtype)


@reduce.fused("n_in", "bits")
def _decode(
    y: Array, s: float, window: float, tol: float, n_in: int, bits: int
) -> tuple[Array, Array, Array, Array]:
    """Whether every y/s' is a whole number in [0, 2^bits) (within ``tol`` of its size, at
    most 1/4), its binary digits, and s': measured on the codes c with c·window ≤ 1/4, which
    round to c whatever multiplier within ``window`` of s the target used (s if none)."""
    xp = reduce.namespace(y)
    y64 = xp.astype(y, xp.float64)
    code = xp.round(y64 / s)
    sure = (code >= 1) & (code * window <= 0.25)
    n = xp.sum(xp.where(sure, code, xp.zeros_like(code)))
    total = xp.sum(xp.where(sure, y64, xp.zeros_like(y64)))
    own = xp.where(
        n > 0, total / xp.where(n > 0, n, xp.ones_like(n)), xp.asarray(s, dtype=xp.float64)
    )
    v = y64 / own
    r = xp.round(v)
    miss = xp.abs(v - r)
    slack = tol * xp.where(xp.abs(v) > 1.0, xp.abs(v), xp.ones_like(v))
    valid = xp.all((miss <= slack) & (miss <= 0.25) & (r >= 0) & (r < 2**bits))
    digits = reduce.decode_bits(r, bits=n_in + 1)
    return valid, digits[..., :n_in], digits[..., n_in], own


def decoded_masks(
    ctx: Context,
    rate: float,
    bits: int,
    *,
    seed: int | None = None,
    n_in: int = 16,
    batch: int | None = None,
) -> Iterator[tuple[Array, Array]]:
    """Weight masks (batch, out, in) and bias masks, per call, until ``bits`` weight bits.

    With a ``seed`` there is one call (every call would repeat its masks).
    """
    batch, n_out, n_in, calls = decoded_layout(ctx, bits, n_in=n_in, batch=batch)
    x, w, b = (ctx.reusable(a) for a in decoder_layer(ctx, batch, n_out, n_in, ctx.stat_dtype))
    for _ in range(1 if seed is not None else calls):
        y = ctx.call_device(x, w, b, rate=rate, seed=seed)
        same_shape(y, (batch, n_out))
        yield decode(ctx, y, rate, n_in)


def decoded_layout(
    ctx: Context, bits: int, *, n_in: int = 16, batch: int | None = None
) -> tuple[int, int, int, int]:
    """The decoder layer :func:`decoded_masks` calls for ``bits`` weight bits, as (batch,
    n_out, n_in, calls): its weight masks are (batch, n_out, n_in), one per call."""
    if batch is None:
        batch = 256 if ctx.options["masks"] == "per_example" else 1
    if ctx.stat_dtype not in WIDE:
        n_in = min(n_in, 4)  # s·(2^(n_in + 1) − 1) must stay exact enough in a half type
    n_out = gen_even(chunk_elements(bits) / (batch * n_in))
    per_call = batch * n_out * n_in
    return batch, n_out, n_in, -(-bits // per_call)
