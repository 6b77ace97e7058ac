"""NumPy mutants: every op, every fault class but gradients (NumPy has no autodiff).

Each mutant is a correct implementation (written here, independent of the reference) with one
deliberate fault, injected through a hook of the correct code where possible so that the fault
is the only difference.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
from scipy import signal

from dropspec.reference import ALPHA_PRIME

from . import Mutant, check_layer, collector, validate

Array = np.ndarray
KeepFn = Callable[[np.random.Generator, tuple[int, ...], float], Array]

HALF = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


# ---------------------------------------------------------------- correct building blocks ----


def bernoulli_keep(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    return rng.random(shape) >= rate


def mask_shape(shape: tuple[int, ...], shared: tuple[int, ...]) -> tuple[int, ...]:
    axes = {a % len(shape) for a in shared}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def scaled(x: Array, s: float) -> Array:
    """x·s rounded once to x's dtype."""
    return (x.astype(np.float64) * s).astype(x.dtype)


def sticky(fresh: Array, copy: Array, axis: int) -> Array:
    """``fresh`` where ``copy`` is False, else the previous value along ``axis`` (a chain)."""
    fresh, copy = np.moveaxis(fresh, axis, 0), np.moveaxis(copy, axis, 0).copy()
    copy[0] = False
    index = np.arange(fresh.shape[0]).reshape((-1,) + (1,) * (fresh.ndim - 1))
    src = np.maximum.accumulate(np.where(copy, 0, index), axis=0)
    return np.moveaxis(np.take_along_axis(fresh, src, axis=0), 0, axis)


def dropout(
    x: Array,
    rate: float,
    *,
    training: bool,
    seed: int,
    shared_axes: tuple[int, ...] = (),
    keep_fn: KeepFn = bernoulli_keep,
    scale: Callable[[float], float] | None = None,
    classic: bool = False,
) -> Array:
    validate(rate)
    if not training:
        return x * x.dtype.type(1.0 - rate) if classic else x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = keep_fn(np.random.default_rng(seed), mask_shape(x.shape, shared_axes), rate)
    s = 1.0 if classic else (scale or (lambda r: 1.0 / (1.0 - r)))(rate)
    return np.where(keep, scaled(x, s), np.zeros((), x.dtype))


def drop_path(
    x: Array,
    rate: float,
    *,
    training: bool,
    seed: int,
    keep_fn: KeepFn = bernoulli_keep,
    s: float | None = None,
) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = keep_fn(np.random.default_rng(seed), (x.shape[0],), rate)
    keep = keep.reshape((-1,) + (1,) * (x.ndim - 1))
    return np.where(keep, scaled(x, 1.0 / (1.0 - rate) if s is None else s), np.zeros((), x.dtype))


def alpha_affine(
    x: Array, keep: Array, rate: float, *, alpha_prime: float = ALPHA_PRIME, wide: Any = np.float64
) -> Array:
    """a·x + b where kept, a·α′ + b where dropped, computed in ``wide``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.float64(1.0 - rate) * (1.0 + rate * alpha_prime**2)
        a = a**-0.5
        b = -a * rate * alpha_prime
        return np.where(keep, x.astype(wide), wide(alpha_prime)) * wide(a) + wide(b)


def alpha_dropout(
    x: Array,
    rate: float,
    *,
    training: bool,
    seed: int,
    shared_axes: tuple[int, ...] = (),
    keep_fn: KeepFn = bernoulli_keep,
    alpha_prime: float = ALPHA_PRIME,
) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("alpha dropout at rate 1 has no affine correction")
    if not training or rate == 0.0:
        return x.copy()
    keep = keep_fn(np.random.default_rng(seed), mask_shape(x.shape, shared_axes), rate)
    return alpha_affine(x, keep, rate, alpha_prime=alpha_prime).astype(x.dtype)


def gaussian_dropout(
    x: Array,
    rate: float,
    *,
    training: bool,
    seed: int,
    noise: Callable[[np.random.Generator, tuple[int, ...]], Array] | None = None,
    std: Callable[[float], float] | None = None,
) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1 gives infinite noise variance")
    if not training or rate == 0.0:
        return x.copy()
    rng = np.random.default_rng(seed)
    z = noise(rng, x.shape) if noise else rng.standard_normal(x.shape)
    sigma = std(rate) if std else math.sqrt(rate / (1.0 - rate))
    return (x.astype(np.float64) * (1.0 + sigma * z)).astype(x.dtype)


def dropconnect(
    x: Array,
    w: Array,
    b: Array,
    rate: float,
    *,
    training: bool,
    seed: int,
    per_example: bool = True,
    mask_bias: bool = False,
    keep_fn: KeepFn = bernoulli_keep,
    bias_keep_fn: KeepFn = bernoulli_keep,
) -> Array:
    """DropConnect with inverted scaling and mean inference, bias masked or not."""
    validate(rate)
    check_layer(x, w, b)
    xd, wd, bd = (a.astype(np.float64) for a in (x, w, b))
    if not training:
        return (xd @ wd.T + bd).astype(x.dtype)
    n, (o, i) = x.shape[0], w.shape
    if rate == 1.0:
        bias = np.zeros_like(bd) if mask_bias else bd
        return np.broadcast_to(bias, (n, o)).astype(x.dtype)
    rng = np.random.default_rng(seed)
    s = 1.0 / (1.0 - rate)
    m = keep_fn(rng, (n, o, i) if per_example else (1, o, i), rate)
    pre = np.einsum("ni,noi->no", xd, m * wd) * s
    if mask_bias:
        pre += bd * bias_keep_fn(rng, (n, o) if per_example else (1, o), rate) * s
    else:
        pre += bd
    return pre.astype(x.dtype)


def partial(fn: Callable[..., Array], **hooks: Any) -> Callable[..., Array]:
    """``fn`` with ``hooks`` bound, keeping the op's call signature."""

    def call(*args: Any, training: bool, seed: int) -> Array:
        return fn(*args, training=training, seed=seed, **hooks)

    return call


M: list[Mutant] = []


add = collector(M, "numpy")


# ---------------------------------------------------------------- dropout ----


def _bf16_scale(rate: float) -> float:
    return float(ml_dtypes.bfloat16(1.0 / (1.0 - rate)))


add(
    partial(dropout, scale=_bf16_scale),
    "dropout",
    "scale_bfloat16",
    "scaling",
    "the scale 1/(1 - rate) is stored in bfloat16 whatever the data dtype (exact at rate 0.5)",
    "DROPOUT-VALUES",
)


def classic_no_inference_scale(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if not training:
        validate(rate)
        return x.copy()  # forgets the (1 - rate) of classic scaling
    return dropout(x, rate, training=True, seed=seed, classic=True)


add(
    classic_no_inference_scale,
    "dropout",
    "classic_inference_unscaled",
    "scaling",
    "declares classic scaling but inference returns x instead of x·(1 - rate)",
    "DROPOUT-INFERENCE-CLASSIC",
    scaling="classic",
)


def _smaller_fraction(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    return rng.random(shape) >= min(rate, 1.0 - rate)


add(
    partial(dropout, keep_fn=_smaller_fraction),
    "dropout",
    "rate_as_keep_above_half",
    "rate",
    "for rates above 0.5 the rate is used as the keep probability (drops min(rate, 1 - rate))",
    "DROPOUT-RATE",
)


def _band_rate(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    if 0.001 <= rate <= 0.05:
        rate *= 1.1  # a separate small-rate code path with its threshold off by 10%
    return rng.random(shape) >= rate


add(
    partial(dropout, keep_fn=_band_rate),
    "dropout",
    "rate_10pct_high_in_band_0.001_0.05",
    "rate",
    "drops with probability 1.1·rate for rates in [0.001, 0.05], correctly elsewhere",
    "DROPOUT-RATE",
)


def _shared_all_drop(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    draws = np.random.default_rng(seed).random(x.shape) >= rate
    keep = draws.any(axis=1, keepdims=True)  # a channel is dropped only if all its draws drop
    return np.where(keep, scaled(x, 1.0 / (1.0 - rate)), np.zeros((), x.dtype))


add(
    _shared_all_drop,
    "dropout",
    "shared_group_drops_if_all_drop",
    "rate",
    "shared axis 1: one draw per element, the group dropped only when every draw drops, so "
    "the group drop rate is rate**group_size",
    "DROPOUT-RATE",
    shared_axes=(1,),
    rank=3,
)


def _neighbour_copy(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    n = math.prod(shape)
    fresh = rng.random(n) >= rate
    return sticky(fresh, rng.random(n) < 0.1, 0).reshape(shape)


add(
    partial(dropout, keep_fn=_neighbour_copy),
    "dropout",
    "neighbour_copy_10pct",
    "independence",
    "mask[i] = mask[i - 1] in memory order with probability 0.1 (each value still Bernoulli)",
    "DROPOUT-INDEPENDENT-ELEMENTS",
)


def _copies_third_previous(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    n = math.prod(shape)
    keep = rng.random(n) >= rate
    copy = np.zeros(n, bool)
    copy[3:] = rng.random(n - 3) < 0.15
    keep[copy] = keep[np.nonzero(copy)[0] - 3]  # a vectorised loop that reuses lane i - 3
    return keep.reshape(shape)


add(
    partial(dropout, keep_fn=_copies_third_previous),
    "dropout",
    "element_copies_offset_3",
    "independence",
    "mask[i] = mask[i - 3] in memory order with probability 0.15 (neighbours "
    "at offsets 1 and 2 independent)",
    "DROPOUT-INDEPENDENT-ELEMENTS",
)


def _seed_8bit(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    return dropout(x, rate, training=training, seed=seed & 0xFF)


add(
    _seed_8bit,
    "dropout",
    "seed_truncated_8bit",
    "determinism",
    "the seed is truncated to its low 8 bits: seeds differing in a high bit give one mask",
    "DROPOUT-INDEPENDENT-SEEDS",
)


def _seed_32bit(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    return dropout(x, rate, training=training, seed=seed & 0xFFFFFFFF)


add(
    _seed_32bit,
    "dropout",
    "seed_truncated_32bit",
    "determinism",
    "the seed keeps only its low 32 bits (as PyTorch's CPU generator does): seeds that "
    "differ in bit 32 or above give one mask",
    "DROPOUT-INDEPENDENT-SEEDS",
)


def _stream_offset(
    x: Array, rate: float, *, training: bool, seed: int, wrap: int | None = None
) -> Array:
    """Masks from one shared Philox stream, entered at the seed (or at seed mod ``wrap``):
    seed s + 1 starts 4 draws further on."""

    def keep_fn(rng: np.random.Generator, shape: tuple[int, ...], r: float) -> Array:
        bits = np.random.Philox(key=0)
        bits.advance(seed if wrap is None else seed % wrap)
        return np.random.Generator(bits).random(shape) >= r

    return dropout(x, rate, training=training, seed=seed, keep_fn=keep_fn)


add(
    _stream_offset,
    "dropout",
    "seed_is_offset_into_one_stream",
    "determinism",
    "the seed is an offset into one Philox stream: the masks of seeds s and s + 1 are "
    "shifted copies of each other",
    "DROPOUT-INDEPENDENT-SEEDS",
)

#: A counter that wraps after this many values: longer than a call of 2^20 values, shorter
#: than one of 2^21 (DROPOUT-NO-PERIOD's long call of 2^24 values holds many).
LONG_PERIOD = 3 << 19


def _keep_long_period(rng: np.random.Generator, shape: tuple[int, ...], r: float) -> Array:
    n = math.prod(shape)
    block = rng.random(min(n, LONG_PERIOD)) >= r
    return np.resize(block, n).reshape(shape)


add(
    partial(dropout, keep_fn=_keep_long_period),
    "dropout",
    "period_longer_than_2_20",
    "independence",
    f"the mask repeats every {LONG_PERIOD} values in memory order (a counter wrapped at 1.5·2^20): "
    "no call of 2^20 values or fewer holds a repeat",
    "DROPOUT-NO-PERIOD",
)


add(
    partial(_stream_offset, wrap=1 << 20),
    "dropout",
    "calls_overlap_in_one_stream",
    "independence",
    "every call enters one shared Philox stream at seed mod 2^20 (a wrapped offset), so the "
    "masks of any two calls of 2^20 values or more overlap, shifted: the repeat lies across "
    "calls, never within one",
    "DROPOUT-NO-PERIOD",
)

_MASK_CACHE: dict[tuple[Any, ...], Array] = {}


def _counter_reuse(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    def keep_fn(rng: np.random.Generator, shape: tuple[int, ...], r: float) -> Array:
        key = (shape, r)
        if seed % 2 == 0 and key in _MASK_CACHE:
            return _MASK_CACHE[key]
        keep = rng.random(shape) >= r
        if seed % 2 == 0:
            if len(_MASK_CACHE) > 64:
                _MASK_CACHE.clear()
            _MASK_CACHE[key] = keep
        return keep

    return dropout(x, rate, training=training, seed=seed, keep_fn=keep_fn)


add(
    _counter_reuse,
    "dropout",
    "counter_reused_across_calls",
    "determinism",
    "for even seeds the RNG counter is not advanced between calls: every such call with the "
    "same shape and rate reuses the first call's mask",
    "DROPOUT-INDEPENDENT-CALLS",
)


def _short_first_axis(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    if shape[0] < 2:
        return rng.random(shape) >= rate
    keep = rng.random((shape[0] - 1, *shape[1:])) >= rate  # one row short...
    return np.concatenate([keep, keep[-1:]])  # ...and the last row repeated to fit


add(
    partial(dropout, keep_fn=_short_first_axis),
    "dropout",
    "mask_one_row_short",
    "structure",
    "off-by-one in the mask shape: drawn with shape[0] - 1 rows, the last row repeated",
    "DROPOUT-INDEPENDENT-AXES",
)


def _shared_half_width(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    n, c, _, w = x.shape
    half = np.random.default_rng(seed).random((n, c, 1, (w + 1) // 2)) >= rate
    keep = np.repeat(half, 2, axis=3)[..., :w]  # the width axis is shared only in pairs
    return np.where(keep, scaled(x, 1.0 / (1.0 - rate)), np.zeros((), x.dtype))


add(
    _shared_half_width,
    "dropout",
    "shared_axis_in_pairs",
    "structure",
    "declares axes (2, 3) shared (Dropout2d) but draws one value per pair of columns along axis 3",
    "DROPOUT-SHARED-CONSTANT",
    shared_axes=(2, 3),
    rank=4,
)


def _f16_upcast(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if training and x.dtype == np.float16:
        x = x.astype(np.float32)  # "for precision", and never cast back
    return dropout(x, rate, training=training, seed=seed)


add(
    _f16_upcast,
    "dropout",
    "float16_upcast",
    "dtype",
    "float16 input is computed in float32 in training and returned as float32",
    "DROPOUT-DTYPE",
)


def _f16_rate_high(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    def keep_fn(rng: np.random.Generator, shape: tuple[int, ...], r: float) -> Array:
        return rng.random(shape) >= min(1.0, 1.1 * r)  # the half kernel's threshold

    if x.dtype != np.float16:
        return dropout(x, rate, training=training, seed=seed)
    return dropout(x, rate, training=training, seed=seed, keep_fn=keep_fn)


add(
    _f16_rate_high,
    "dropout",
    "float16_rate_10pct_high",
    "dtype",
    "correct in every dtype but float16, whose kernel drops with probability 1.1·rate "
    "(0.55 at rate 0.5)",
    "DROPOUT-RATE",
)


def _multiply_form(x: Array, rate: float, seed: int) -> Array:
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.float64(1.0) / np.float64(1.0 - rate)
        return (x.astype(np.float64) * keep * s).astype(x.dtype)


def _rate_one_nan(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    return _multiply_form(x, rate, seed) if training else x.copy()


add(
    _rate_one_nan,
    "dropout",
    "rate_one_nan",
    "edge",
    "x·mask/(1 - rate) with no rate-1 case: at rate 1 every output is 0·inf = NaN",
    "DROPOUT-RATE-ONE-ZEROS",
    masking="multiply",
)


def _dropped_nan(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    return np.zeros_like(x) if rate == 1.0 else _multiply_form(x, rate, seed)


add(
    _dropped_nan,
    "dropout",
    "dropped_nan_despite_select",
    "edge",
    "declares select masking but multiplies by the mask: a dropped NaN or inf gives NaN",
    "DROPOUT-DROPPED-SELECT",
)


def _nan_rate(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if rate < 0.0 or rate > 1.0:  # NaN passes both comparisons
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return np.where(keep, scaled(x, 1.0 / (1.0 - rate)), np.zeros((), x.dtype))


add(
    _nan_rate,
    "dropout",
    "nan_rate_accepted",
    "edge",
    "validates with `rate < 0 or rate > 1`, which NaN passes (then every unit is dropped)",
    "DROPOUT-RATE-INVALID",
)


# Conditional faults: the pooled rate (or E[y/x]) is right, but it depends on the input's value
# class or on the element's position. Each class is shifted by 10% of min(rate, 1 - rate) times
# a weight whose mean over the classes is 0, so the pooled figure does not move.

Weight = Callable[[Array], Array]


def _class_shifted(weight: Weight) -> Callable[..., Array]:
    """Inverted dropout whose drop probability is rate + 0.1·min(rate, 1 − rate)·weight(x)."""

    def fn(x: Array, rate: float, *, training: bool, seed: int) -> Array:
        validate(rate)
        if not training:
            return x.copy()
        if rate == 1.0:
            return np.zeros_like(x)
        p = rate + 0.1 * min(rate, 1.0 - rate) * weight(x)
        keep = np.random.default_rng(seed).random(x.shape) >= p
        return np.where(keep, scaled(x, 1.0 / (1.0 - rate)), np.zeros((), x.dtype))

    return fn


def _flat_index(x: Array) -> Array:
    return np.arange(x.size).reshape(x.shape)


def _first_axis_coordinate(x: Array) -> Array:
    axis = 1 if x.ndim > 1 else 0
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return np.broadcast_to(np.arange(x.shape[axis]).reshape(shape), x.shape)


for _name, _weight, _text in (
    (
        "value_class_rate_by_sign",
        lambda x: np.sign(x.astype(np.float64)),
        "negative inputs are dropped more often than positive ones, by the same amount",
    ),
    (
        "value_class_rate_by_magnitude",
        lambda x: np.where(np.abs(x.astype(np.float64)) >= 1.0, 1.0, -1.0),
        "inputs with |x| >= 1 are dropped more often than smaller ones",
    ),
    (
        "value_class_rate_at_unit",
        lambda x: np.where(np.abs(x.astype(np.float64)) == 1.0, -3.0, 1.0),
        "inputs exactly ±1 are dropped less often (a fast path for x = ±1)",
    ),
    (
        "position_class_rate_by_parity",
        lambda x: np.where(_flat_index(x) % 2 == 1, 1.0, -1.0),
        "odd positions in memory order are dropped more often than even ones",
    ),
    (
        "position_class_rate_by_half",
        lambda x: np.where(_flat_index(x) >= x.size // 2, 1.0, -1.0),
        "the second half of the array (a second block of a large-tensor kernel) is dropped "
        "more often than the first",
    ),
    (
        "position_class_rate_at_coordinate_0",
        lambda x: np.where(_first_axis_coordinate(x) == 0, 7.0, -1.0),
        "coordinate 0 along axis 1 is dropped far more often (an edge case of a tiled loop)",
    ),
):
    add(
        _class_shifted(_weight),
        "dropout",
        _name,
        "rate",
        _text + "; the pooled rate is right",
        "DROPOUT-RATE",
    )


def _scale_by_sign_on_large(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    s = 1.0 / (1.0 - rate)
    if x.size >= 1 << 16:  # the large-input kernel: a sign-dependent rounding bias
        s = s * (1.0 + 0.02 * np.sign(x.astype(np.float64)))
    return np.where(keep, (x.astype(np.float64) * s).astype(x.dtype), np.zeros((), x.dtype))


add(
    _scale_by_sign_on_large,
    "dropout",
    "value_class_scale_by_sign_on_large",
    "scaling",
    "on inputs of 2^16 elements or more, kept negative values are scaled 2% more and positive "
    "ones 2% less than 1/(1 - rate): E[y/x] is right pooled but depends on the sign",
    "DROPOUT-UNBIASED",
)


# Size regimes: correct on hypothesis' small shapes, wrong on large inputs (a second kernel for
# large tensors), or the other way round.

LARGE = 1 << 18


def _size_regime(
    *,
    unseeded_large: bool = False,
    classic_large: bool = False,
    bf16_scale_large: bool = False,
    small_rate_shift: float = 0.0,
) -> Callable[..., Array]:
    def fn(x: Array, rate: float, *, training: bool, seed: int) -> Array:
        validate(rate)
        large = x.size >= LARGE
        if not training:
            return x * x.dtype.type(1.0 - rate) if classic_large and large else x.copy()
        if rate == 1.0:
            return np.zeros_like(x)
        rng = np.random.default_rng(None if unseeded_large and large else seed)
        p = rate + (small_rate_shift * min(rate, 1.0 - rate) if x.size < 4096 else 0.0)
        keep = rng.random(x.shape) >= p
        s = 1.0 / (1.0 - rate)
        if bf16_scale_large and large:
            s = float(ml_dtypes.bfloat16(s))
        return np.where(keep, scaled(x, s), np.zeros((), x.dtype))

    return fn


add(
    _size_regime(unseeded_large=True),
    "dropout",
    "size_large_unseeded",
    "determinism",
    f"inputs of {LARGE} elements or more draw from an unseeded generator: two calls with "
    "one seed differ",
    "DROPOUT-DETERMINISTIC",
)
add(
    _size_regime(classic_large=True),
    "dropout",
    "size_large_inference_scaled",
    "scaling",
    f"with training=False, inputs of {LARGE} elements or more come back as x·(1 − rate)",
    "DROPOUT-INFERENCE-IDENTITY",
)
add(
    _size_regime(bf16_scale_large=True),
    "dropout",
    "size_large_bfloat16_scale",
    "scaling",
    f"inputs of {LARGE} elements or more are scaled by 1/(1 − rate) rounded to bfloat16, "
    "whatever their dtype",
    "DROPOUT-VALUES",
)
add(
    _size_regime(small_rate_shift=0.2),
    "dropout",
    "size_small_rate_off",
    "rate",
    "inputs under 4096 elements are dropped with probability rate + 0.2·min(rate, 1 − rate)",
    "DROPOUT-RATE",
)


# ---------------------------------------------------------------- alpha dropout ----

add(
    partial(alpha_dropout, alpha_prime=-ALPHA_PRIME),
    "alpha_dropout",
    "alpha_prime_sign",
    "scaling",
    "α′ = +λα instead of −λα: the dropped value and b have the wrong sign",
    "ALPHA-VALUES",
)


def _no_affine(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return np.where(keep, x, x.dtype.type(ALPHA_PRIME))  # sets dropped units to α′, no a, b


add(
    _no_affine,
    "alpha_dropout",
    "affine_correction_skipped",
    "scaling",
    "dropped units are set to α′ but the affine correction a·y + b is never applied",
    "ALPHA-VARIANCE",
)


def _rate_8bit(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    return rng.integers(0, 256, size=shape) >= round(rate * 256)


add(
    partial(alpha_dropout, keep_fn=_rate_8bit),
    "alpha_dropout",
    "rate_quantized_8bit",
    "rate",
    "the mask compares 8-bit random integers with round(rate·256): rate 0.001 never drops",
    "ALPHA-RATE",
)


def _channel_pairs(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x.copy()
    n, c, _ = x.shape
    half = np.random.default_rng(seed).random((n, (c + 1) // 2, 1)) >= rate
    keep = np.repeat(half, 2, axis=1)[:, :c]  # neighbouring channels share a draw
    return alpha_affine(x, keep, rate).astype(x.dtype)


add(
    _channel_pairs,
    "alpha_dropout",
    "feature_channels_in_pairs",
    "independence",
    "feature alpha dropout (last axis shared) whose channels (axis 1) are drawn in pairs",
    "ALPHA-INDEPENDENT-AXES",
    shared_axes=(-1,),
    rank=3,
)


def _alpha_rate_one(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training or rate == 0.0:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return alpha_affine(x, keep, rate).astype(x.dtype)  # a = inf at rate 1: NaN output


add(
    _alpha_rate_one,
    "alpha_dropout",
    "rate_one_nan",
    "edge",
    "declares rate_one='error' but has no rate-1 check: a = 0^(-1/2) = inf gives NaN output",
    "ALPHA-RATE-ONE-ERROR",
)


def _alpha_bf16(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    wide = np.float64 if x.dtype == np.float64 else np.float32
    y = alpha_affine(x, keep, rate, wide=wide)
    return y.astype(x.dtype) if x.dtype != HALF[1] else y  # forgets to cast bfloat16 back


add(
    _alpha_bf16,
    "alpha_dropout",
    "bfloat16_returned_float32",
    "dtype",
    "half types are computed in float32 and only float16 is cast back: bfloat16 in, float32 out",
    "ALPHA-DTYPE",
)

_ONCE: dict[str, np.random.Generator] = {}


def _seeded_once(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    def keep_fn(_: np.random.Generator, shape: tuple[int, ...], r: float) -> Array:
        rng = _ONCE.setdefault("alpha", np.random.default_rng(seed))  # seed used once only
        return rng.random(shape) >= r

    return alpha_dropout(x, rate, training=training, seed=seed, keep_fn=keep_fn)


add(
    _seeded_once,
    "alpha_dropout",
    "seeded_on_first_call_only",
    "determinism",
    "a module-level generator is seeded on the first call; later calls ignore the seed",
    "ALPHA-DETERMINISTIC",
)


def _alpha_rate_zero_f32(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate  # no rate-0 shortcut...
    return alpha_affine(x, keep, rate, wide=np.float32).astype(x.dtype)  # ...and float32 math


add(
    _alpha_rate_zero_f32,
    "alpha_dropout",
    "rate_zero_through_float32",
    "edge",
    "no rate-0 shortcut and the affine map in float32 for every dtype: at rate 0 float64 input "
    "comes back rounded to float32",
    "ALPHA-RATE-ZERO",
)


# ---------------------------------------------------------------- gaussian dropout ----


def _uniform_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), shape)  # mean 0, variance 1


add(
    partial(gaussian_dropout, noise=_uniform_noise),
    "gaussian_dropout",
    "uniform_noise",
    "scaling",
    "uniform noise with the right mean and variance: only the distribution differs",
    "GAUSSIAN-DISTRIBUTION",
)

add(
    partial(gaussian_dropout, std=lambda r: math.sqrt(r * (1.0 - r))),
    "gaussian_dropout",
    "std_of_bernoulli_mask",
    "scaling",
    "noise std sqrt(rate·(1 - rate)), the unscaled Bernoulli mask's, not sqrt(rate/(1 - rate))",
    "GAUSSIAN-VARIANCE",
)

add(
    partial(gaussian_dropout, std=lambda r: math.sqrt(min(r, 0.5) / (1.0 - min(r, 0.5)))),
    "gaussian_dropout",
    "rate_clipped_half",
    "rate",
    "the rate is silently clipped to 0.5 (noise std at most 1)",
    "GAUSSIAN-VARIANCE",
)


def _ar1(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    rho = 0.1
    e = rng.standard_normal(math.prod(shape))
    e[0] /= math.sqrt(1.0 - rho * rho)  # stationary start
    z = signal.lfilter([math.sqrt(1.0 - rho * rho)], [1.0, -rho], e)
    return np.asarray(z).reshape(shape)


add(
    partial(gaussian_dropout, noise=_ar1),
    "gaussian_dropout",
    "ar1_noise",
    "independence",
    "noise is an AR(1) sequence in memory order with correlation 0.1 (marginals still N(0, 1))",
    "GAUSSIAN-INDEPENDENT-ELEMENTS",
)


def _gauss_rate_one(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training or rate == 0.0:
        return x.copy()
    z = np.random.default_rng(seed).standard_normal(x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(np.float64(rate) / np.float64(1.0 - rate))
        return (x.astype(np.float64) * (1.0 + sigma * z)).astype(x.dtype)


add(
    _gauss_rate_one,
    "gaussian_dropout",
    "rate_one_infinite",
    "edge",
    "no rate-1 error: the noise std is inf and the output inf/NaN",
    "GAUSSIAN-RATE-ONE",
)


def _gauss_nan_rate(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if not training or rate == 0.0:
        return x.copy()
    sigma = math.sqrt(rate / (1.0 - rate))  # the only validation: math's domain errors
    z = np.random.default_rng(seed).standard_normal(x.shape)
    return (x.astype(np.float64) * (1.0 + sigma * z)).astype(x.dtype)


add(
    _gauss_nan_rate,
    "gaussian_dropout",
    "validated_by_sqrt_domain",
    "edge",
    "relies on math.sqrt's domain error to reject bad rates: rate 1 and out-of-range rates "
    "raise, NaN does not",
    "GAUSSIAN-RATE-INVALID",
)

_LAST: dict[str, Any] = {}


def _reseed_on_change(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    def noise(_: np.random.Generator, shape: tuple[int, ...]) -> Array:
        if _LAST.get("seed") != seed:  # re-seeds only when the seed changes
            _LAST["seed"], _LAST["rng"] = seed, np.random.default_rng(seed)
        out: Array = _LAST["rng"].standard_normal(shape)
        return out

    return gaussian_dropout(x, rate, training=training, seed=seed, noise=noise)


add(
    _reseed_on_change,
    "gaussian_dropout",
    "reseeds_only_on_change",
    "determinism",
    "a cached generator is re-seeded only when the seed changes: a repeated seed continues the "
    "stream",
    "GAUSSIAN-DETERMINISTIC",
)


def _gauss_bf16_wide(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    wide = x.dtype == np.dtype(ml_dtypes.bfloat16)
    return gaussian_dropout(
        x,
        rate,
        training=training,
        seed=seed,
        std=lambda r: (1.2 if wide else 1.0) * math.sqrt(r / (1.0 - r)),
    )


add(
    _gauss_bf16_wide,
    "gaussian_dropout",
    "bfloat16_noise_std_20pct_high",
    "dtype",
    "correct in every dtype but bfloat16, whose noise standard deviation is 1.2 times too large",
    "GAUSSIAN-VARIANCE",
)


def _gauss_f64(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x.copy()
    z = np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
    y = x.astype(np.float32) * (np.float32(1) + np.float32(math.sqrt(rate / (1 - rate))) * z)
    return y.astype(x.dtype) if x.dtype in HALF else y  # casts back only the half types


add(
    _gauss_f64,
    "gaussian_dropout",
    "float64_returned_float32",
    "dtype",
    "computes in float32 and casts back only half types: float64 in, float32 out",
    "GAUSSIAN-DTYPE",
)


def _gauss_inference_f32(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if not training:
        validate(rate)
        return x.astype(np.float32).astype(x.dtype)  # a "harmless" round trip
    return gaussian_dropout(x, rate, training=True, seed=seed)


add(
    _gauss_inference_f32,
    "gaussian_dropout",
    "inference_float32_round_trip",
    "dtype",
    "inference returns x through float32: float64 input loses its low bits",
    "GAUSSIAN-INFERENCE-IDENTITY",
)


# Dependence in Gaussian noise: the same generator faults as dropout masks, which the noise's
# mean, variance and law cannot see.


def _noise_copied_along_axis_1(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    fresh = rng.standard_normal(shape)
    if len(shape) < 2:
        return fresh
    return sticky(fresh, rng.random(shape) < 0.1, 1)


def _noise_period_4096(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    n = math.prod(shape)
    block = rng.standard_normal(min(n, 4096))
    return np.resize(block, n).reshape(shape)


def _noise_shared_across_calls(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    fixed = np.random.default_rng(12345).standard_normal(shape)  # the same in every call
    return 0.4 * fixed + math.sqrt(1.0 - 0.16) * rng.standard_normal(shape)


add(
    partial(gaussian_dropout, noise=_noise_copied_along_axis_1),
    "gaussian_dropout",
    "noise_copied_along_axis_1",
    "independence",
    "each noise value repeats its neighbour along axis 1 with probability 0.1 (each value "
    "still N(0, 1))",
    "GAUSSIAN-INDEPENDENT-AXES",
)
add(
    partial(gaussian_dropout, noise=_noise_period_4096),
    "gaussian_dropout",
    "noise_period_4096",
    "independence",
    "the noise repeats every 4096 values in memory order (a wrapped counter)",
    "GAUSSIAN-NO-PERIOD",
)
add(
    partial(gaussian_dropout, noise=_noise_shared_across_calls),
    "gaussian_dropout",
    "noise_shared_across_calls",
    "independence",
    "every call's noise shares a fixed component (0.4 of its scale): calls are correlated "
    "while each is N(0, 1)",
    "GAUSSIAN-INDEPENDENT-CALLS",
)


# ---------------------------------------------------------------- dropconnect ----

_DC = dict(masks="per_example", mask_bias=False, inference="mean")
_WD = dict(masks="per_batch", mask_bias=False, inference="mean")

add(
    partial(dropconnect, mask_bias=True),
    "dropconnect",
    "bias_masked_declared_unmasked",
    "structure",
    "declares an unmasked bias but masks (and scales) it like the weights",
    "DROPCONNECT-BIAS-UNMASKED",
    **_DC,
)


def _examples_sticky(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    fresh = rng.random(shape) >= rate
    return sticky(fresh, rng.random(shape) < 0.1, 0)


add(
    partial(dropconnect, keep_fn=_examples_sticky),
    "dropconnect",
    "examples_correlated",
    "independence",
    "each weight's mask repeats the previous example's with probability 0.1",
    "DROPCONNECT-PER-EXAMPLE",
    **_DC,
)


def _output_units(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    return np.broadcast_to(rng.random((*shape[:2], 1)) >= rate, shape)


add(
    partial(dropconnect, keep_fn=_output_units),
    "dropconnect",
    "drops_output_units",
    "independence",
    "one mask value per (example, output): dropout of output units, not of connections",
    "DROPCONNECT-PER-CONNECTION",
    **_DC,
)


def _keep_prob(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    return rng.random(shape) < rate  # rate read as TF1's keep_prob


add(
    partial(dropconnect, per_example=False, keep_fn=_keep_prob),
    "dropconnect",
    "rate_read_as_keep_prob",
    "rate",
    "weight drop that keeps each weight with probability rate (keep_prob confusion)",
    "DROPCONNECT-RATE",
    **_WD,
)


def _mm_inference(x: Array, w: Array, b: Array, rate: float, draws: int | None, seed: int) -> Array:
    xd, wd, bd = (a.astype(np.float64) for a in (x, w, b))
    mu = xd @ wd.T + bd
    if draws is None:
        return mu.astype(x.dtype)  # the mean rule
    keep = 1.0 - rate
    var = keep * (1.0 - keep) / keep**2 * ((xd * xd) @ (wd * wd).T)
    z = np.random.default_rng(seed).standard_normal((draws, *mu.shape))
    return (mu + np.sqrt(var) * z).mean(axis=0).astype(x.dtype)


def _mm(draws: int | None) -> Callable[..., Array]:
    def fn(x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int) -> Array:
        if training:
            return dropconnect(x, w, b, rate, training=True, seed=seed)
        validate(rate)
        check_layer(x, w, b)
        return _mm_inference(x, w, b, rate, draws, seed)

    return fn


_MM = dict(masks="per_example", mask_bias=False, inference="moment_matching", samples=1000)
add(
    _mm(1),
    "dropconnect",
    "moment_matching_one_sample",
    "scaling",
    "declares moment matching with 1000 samples but averages a single Gaussian draw",
    "DROPCONNECT-INFERENCE-MM-SPREAD",
    **_MM,
)
add(
    _mm(None),
    "dropconnect",
    "moment_matching_is_mean_rule",
    "scaling",
    "declares moment matching but returns the mean rule x·Wᵀ + b (no sampling at all)",
    "DROPCONNECT-INFERENCE-MM-SPREAD",
    **_MM,
)


def _double_scaled(
    x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int
) -> Array:
    if training:
        return dropconnect(x, w, b, rate, training=True, seed=seed)
    validate(rate)
    check_layer(x, w, b)
    xd, wd = x.astype(np.float64), w.astype(np.float64)
    return ((xd @ wd.T) * (1.0 - rate) + b.astype(np.float64)).astype(x.dtype)


add(
    _double_scaled,
    "dropconnect",
    "inference_scaled_twice",
    "scaling",
    "inverted scaling in training and still (1 - rate)·W at inference",
    "DROPCONNECT-INFERENCE-MEAN",
    **_DC,
)


def _dc_rate_one(x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    check_layer(x, w, b)
    xd, wd, bd = (a.astype(np.float64) for a in (x, w, b))
    if not training:
        return (xd @ wd.T + bd).astype(x.dtype)
    m = np.random.default_rng(seed).random((x.shape[0], *w.shape)) >= rate
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.float64(1.0) / np.float64(1.0 - rate)
        return (np.einsum("ni,noi->no", xd, m * wd) * s + bd).astype(x.dtype)


add(
    _dc_rate_one,
    "dropconnect",
    "rate_one_nan",
    "edge",
    "no rate-1 case: (x·0)·inf = NaN instead of the bias",
    "DROPCONNECT-RATE-ONE-ZEROS",
    **_DC,
)


def _dc_slicing(x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int) -> Array:
    w = w[:, : x.shape[1]]  # "tolerant" slicing instead of a shape check
    b = b[: w.shape[0]]
    return dropconnect(x, w, b, rate, training=training, seed=seed)


add(
    _dc_slicing,
    "dropconnect",
    "mismatch_sliced_to_fit",
    "edge",
    "slices a too-wide weight and a too-long bias to fit instead of rejecting them",
    "DROPCONNECT-SHAPE-MISMATCH",
    **_DC,
)


def _dc_f16(x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int) -> Array:
    if x.dtype in HALF:
        y = dropconnect(
            *(a.astype(np.float32) for a in (x, w, b)), rate, training=training, seed=seed
        )
        return y.astype(x.dtype) if x.dtype != np.float16 else y  # forgets float16
    return dropconnect(x, w, b, rate, training=training, seed=seed)


add(
    _dc_f16,
    "dropconnect",
    "float16_returned_float32",
    "dtype",
    "half types computed in float32, and float16 never cast back",
    "DROPCONNECT-DTYPE",
    **_DC,
)

_GLOBAL = np.random.default_rng(12345)


def _first_example_seeded(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    first = rng.random((1, *shape[1:])) >= rate
    rest = _GLOBAL.random((shape[0] - 1, *shape[1:])) >= rate  # the others from global state
    return np.concatenate([first, rest])


add(
    partial(dropconnect, keep_fn=_first_example_seeded),
    "dropconnect",
    "only_first_example_seeded",
    "determinism",
    "the seed drives the first example's mask; the others come from a global generator",
    "DROPCONNECT-DETERMINISTIC",
    **_DC,
)


def _bias_per_example(
    x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int
) -> Array:
    validate(rate)
    check_layer(x, w, b)
    xd, wd, bd = (a.astype(np.float64) for a in (x, w, b))
    if not training:
        return (xd @ wd.T + bd).astype(x.dtype)
    if rate == 1.0:
        return np.zeros((x.shape[0], w.shape[0]), x.dtype)
    rng = np.random.default_rng(seed)
    s = 1.0 / (1.0 - rate)
    m = rng.random(w.shape) >= rate  # one weight mask per call, as declared...
    mb = rng.random((x.shape[0], w.shape[0])) >= rate  # ...but a bias mask per example
    return ((xd @ (m * wd).T) * s + bd * mb * s).astype(x.dtype)


add(
    _bias_per_example,
    "dropconnect",
    "bias_mask_per_example",
    "structure",
    "weight drop (one weight mask per call) whose masked bias is drawn per example",
    "DROPCONNECT-PER-BATCH",
    masks="per_batch",
    mask_bias=True,
    inference="mean",
)


# ---------------------------------------------------------------- drop path ----


def _per_element(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate  # dropout, not drop path
    return np.where(keep, scaled(x, 1.0 / (1.0 - rate)), np.zeros((), x.dtype))


add(
    _per_element,
    "drop_path",
    "mask_per_element",
    "structure",
    "one mask value per element instead of per example",
    "DROPPATH-PER-EXAMPLE",
)

add(
    partial(drop_path, s=1.0),
    "drop_path",
    "not_scaled_by_keep",
    "scaling",
    "declares inverted scaling but kept examples are not divided by 1 - rate "
    "(timm's scale_by_keep=False)",
    "DROPPATH-UNBIASED",
)


def _f16_floor(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    random_tensor = np.float16(1.0 - rate) + rng.random(shape).astype(np.float16)
    return np.floor(random_tensor) >= 1  # floor(keep + U), formed in float16


add(
    partial(drop_path, keep_fn=_f16_floor),
    "drop_path",
    "floor_keep_plus_u_in_float16",
    "rate",
    "mask = floor(keep_prob + U) formed in a float16 buffer: the sum rounds up near 1, so small "
    "rates drop about 25% too rarely",
    "DROPPATH-RATE",
)


def _examples_sticky_dp(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    fresh = rng.random(shape) >= rate
    return sticky(fresh, rng.random(shape) < 0.2, 0)


add(
    partial(drop_path, keep_fn=_examples_sticky_dp),
    "drop_path",
    "examples_correlated",
    "independence",
    "example i repeats example i - 1's mask value with probability 0.2",
    "DROPPATH-INDEPENDENT-AXES",
)


def _eps_denominator(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape[0]) >= rate
    keep = keep.reshape((-1,) + (1,) * (x.ndim - 1))
    s = 1.0 / (1.0 - rate + 1e-7)  # "numerical safety" epsilon, and no rate-0 shortcut
    return np.where(keep, scaled(x, s), np.zeros((), x.dtype))


add(
    _eps_denominator,
    "drop_path",
    "epsilon_in_denominator",
    "edge",
    "scale 1/(1 - rate + 1e-7): at rate 0 float64 (and some float32) outputs are not x",
    "DROPPATH-RATE-ZERO",
)


def _mask_promotes(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return x * np.zeros((), x.dtype)
    keep = np.random.default_rng(seed).random(x.shape[0]) >= rate
    mask = keep.astype(np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
    out: Array = x * (mask / np.float32(1.0 - rate))  # a float32 mask promotes half inputs
    return out


add(
    _mask_promotes,
    "drop_path",
    "float32_mask_promotes",
    "dtype",
    "multiplies by a float32 mask: float16 and bfloat16 outputs are promoted to float32",
    "DROPPATH-DTYPE",
    masking="multiply",
)


def _dp_multiply(x: Array, rate: float, seed: int) -> Array:
    keep = np.random.default_rng(seed).random(x.shape[0]) >= rate
    keep = keep.reshape((-1,) + (1,) * (x.ndim - 1))
    with np.errstate(invalid="ignore"):
        return (x.astype(np.float64) * keep * (1.0 / (1.0 - rate))).astype(x.dtype)


def _dp_nan_dropped(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    return np.zeros_like(x) if rate == 1.0 else _dp_multiply(x, rate, seed)


add(
    _dp_nan_dropped,
    "drop_path",
    "dropped_nan_despite_select",
    "edge",
    "declares select masking but multiplies by the mask: dropped NaN/inf give NaN",
    "DROPPATH-DROPPED-SELECT",
)


def _dp_nan_zeroed(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    y = _dp_nan_dropped(x, rate, training=training, seed=seed)
    if training:
        y[np.isnan(y)] = 0  # "sanitises" NaN, kept or dropped
    return y


add(
    _dp_nan_zeroed,
    "drop_path",
    "nan_zeroed_despite_multiply",
    "edge",
    "declares multiply masking but replaces NaN outputs by 0",
    "DROPPATH-DROPPED-MULTIPLY",
    masking="multiply",
)


def _dp_tolerant(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if not -1e-6 <= rate <= 1.0 + 1e-6:  # tolerance for "rounding"
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")
    rate = min(max(rate, 0.0), 1.0)
    return drop_path(x, rate, training=training, seed=seed)


add(
    _dp_tolerant,
    "drop_path",
    "rate_checked_with_tolerance",
    "edge",
    "accepts rates within 1e-6 outside [0, 1] and clips them",
    "DROPPATH-RATE-INVALID",
)


def _dp_seed_shift(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    return drop_path(x, rate, training=training, seed=seed >> 1)


add(
    _dp_seed_shift,
    "drop_path",
    "seed_low_bit_dropped",
    "determinism",
    "the generator is keyed by seed >> 1: seeds 2k and 2k + 1 give the same masks",
    "DROPPATH-INDEPENDENT-SEEDS",
)


# ---------------------------------------------------------------- attention dropout ----


def attention(
    q: Array,
    k: Array,
    v: Array,
    rate: float,
    *,
    training: bool,
    seed: int,
    where: str = "probabilities",
    heads_share: bool = False,
    infer_drops: bool = False,
    unscaled: bool = False,
    weights_after: bool = False,
    keep_is_rate: bool = False,
    validate_rate: bool = True,
    fresh_generator: bool = False,
    mirrored_keys: bool = False,
    seed_of: Callable[[int], int] | None = None,
    validate_training_only: bool = False,
    keyed_by_k_sign: bool = False,
    stream_offset: bool = False,
    storage_order: bool = False,
    reused_buffer: bool = False,
    naive_softmax: bool = False,
) -> tuple[Array, Array]:
    """Attention dropout returning (output, weights before dropout), with one hook per fault:
    ``where`` the dropout acts ('probabilities', 'logits' or 'output')."""
    if validate_rate and (training or not validate_training_only):
        validate(rate)
    if storage_order:  # k's values read in memory order, as a kernel walking its buffer would
        k = np.ravel(k, order="K").reshape(k.shape)
    t = np.float64
    logits = q.astype(t) @ np.swapaxes(k.astype(t), -1, -2) / math.sqrt(q.shape[-1])
    if seed_of is not None:
        seed = seed_of(seed)
    if keyed_by_k_sign:
        seed ^= int(np.signbit(k.flat[0]))
    rng = np.random.default_rng() if fresh_generator else np.random.default_rng(seed)
    b, _, sq, sk = logits.shape
    drop = (training or infer_drops) and rate > 0

    def dropped(a: Array, shape: tuple[int, ...]) -> Array:
        shape = (b, 1, sq, sk) if heads_share else shape
        if stream_offset:  # the seed is an offset into one fixed stream
            start = seed % ATTENTION_STREAM
            draw = _attention_stream()[start : start + math.prod(shape)].reshape(shape)
        else:
            draw = rng.random(shape)
        keep = draw < rate if keep_is_rate else draw >= rate
        half = keep.shape[-1] // 2
        if mirrored_keys and half:
            keep[..., half : 2 * half] = keep[..., :half]
        s = 1.0 if unscaled or rate >= 1 else 1.0 / (1.0 - rate)
        return np.where(keep, a * s, 0.0)

    if drop and where == "logits":
        logits = dropped(logits, logits.shape)
    if naive_softmax:  # exp of the logits in the input's dtype, the row's largest not taken off
        e = np.exp(logits.astype(q.dtype))
        p = (e / e.sum(-1, keepdims=True)).astype(t)
    else:
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
    a = dropped(p, p.shape) if drop and where == "probabilities" else p
    out = a @ v.astype(t)
    if drop and where == "output":
        out = dropped(out, out.shape)
    result = out.astype(q.dtype)
    if reused_buffer and training:  # every training call returns one buffer per shape
        kept = _ATTENTION_BUFFERS.setdefault((result.shape, result.dtype.str), result)
        np.copyto(kept, result)
        result = kept
    return result, (a if weights_after else p).astype(q.dtype)


#: The length of the fixed stream ``stream_offset`` reads from (2^20 + the largest mask).
ATTENTION_STREAM = 1 << 20
_ATTENTION_BUFFERS: dict[tuple[tuple[int, ...], str], Array] = {}


@functools.cache
def _attention_stream() -> Array:
    out: Array = np.random.default_rng(0xA77).random(ATTENTION_STREAM + (1 << 17))
    return out


def _attention_add(
    name: str, fault_class: str, description: str, clause: str, **hooks: Any
) -> None:
    add(
        partial(attention, **hooks),
        "attention_dropout",
        name,
        fault_class,
        description,
        clause,
        weights="before",
    )


_attention_add(
    "dropout_at_inference",
    "scaling",
    "keeps dropping with training=False although it declares inference='identity'",
    "ATTN-INFERENCE-IDENTITY",
    infer_drops=True,
)
_attention_add(
    "mask_shared_over_heads",
    "independence",
    "draws one (batch, query, key) mask and gives it to every head, declaring independent masks",
    "ATTN-INDEPENDENT",
    heads_share=True,
)
_attention_add(
    "weights_after_dropout",
    "structure",
    "returns the dropped, rescaled probabilities as its weights, declaring weights='before'",
    "ATTN-WEIGHTS-BEFORE",
    weights_after=True,
)
_attention_add(
    "softmax_overflows",
    "edge",
    "takes exp of the logits in the input's dtype without subtracting each row's largest "
    "first: logits past exp's overflow give inf / inf = NaN",
    "ATTN-VALUES",
    naive_softmax=True,
)
_attention_add(
    "dropout_on_logits",
    "structure",
    "drops the logits before the softmax, which renormalises what is left, instead of P",
    "ATTN-VALUES",
    where="logits",
)
_attention_add(
    "kept_probabilities_unscaled",
    "scaling",
    "drops P without scaling the kept probabilities by 1/(1 - rate)",
    "ATTN-UNBIASED",
    unscaled=True,
)
_attention_add(
    "dropout_on_output",
    "structure",
    "drops the output P·v instead of P: the same rate and mean, other values",
    "ATTN-VALUES",
    where="output",
)
_attention_add(
    "rate_read_as_keep",
    "rate",
    "keeps a probability with probability rate (the papers' p) and drops it with 1 - rate",
    "ATTN-RATE",
    keep_is_rate=True,
)
_attention_add(
    "rate_not_validated",
    "edge",
    "accepts any rate: a negative one scales by less than 1, NaN drops nothing",
    "ATTN-RATE-INVALID",
    validate_rate=False,
)
_attention_add(
    "seed_ignored",
    "determinism",
    "draws its mask from a fresh unseeded generator: the same seed gives another output",
    "ATTN-DETERMINISTIC",
    fresh_generator=True,
)

_attention_add(
    "mask_mirrored_over_keys",
    "independence",
    "copies each row's mask over the first half of the keys onto the second half: the rate, "
    "the mean and neighbouring keys are right, the output's variance is not",
    "ATTN-VARIANCE",
    mirrored_keys=True,
)

_attention_add(
    "seed_truncated_to_32_bits",
    "determinism",
    "seeds its generator with the seed's low 32 bits: seeds 0 and 2^32 give one mask",
    "ATTN-SEED-SPACE",
    seed_of=lambda s: s & 0xFFFFFFFF,
)
_attention_add(
    "seed_halves_folded",
    "determinism",
    "seeds its generator with the XOR of the seed's 32-bit halves: s and that XOR give one mask",
    "ATTN-SEED-PAIRS",
    seed_of=lambda s: (s & 0xFFFFFFFF) ^ (s >> 32),
)
_attention_add(
    "rate_validated_only_in_training",
    "edge",
    "validates the rate only when it drops: with training=False any rate is accepted",
    "ATTN-RATE-INVALID-INFERENCE",
    validate_training_only=True,
)
_attention_add(
    "mask_keyed_by_k_sign",
    "determinism",
    "mixes the sign of k's first value into the seed: the mask follows the input's values",
    "ATTN-MASK-VALUE-FREE",
    keyed_by_k_sign=True,
)
_attention_add(
    "seed_as_stream_offset",
    "determinism",
    "reads its uniforms from one fixed stream starting at seed mod 2^20: seeds s and s + 1 "
    "give shifted copies of one mask",
    "ATTN-INDEPENDENT-SEEDS",
    stream_offset=True,
)
_attention_add(
    "k_read_in_storage_order",
    "structure",
    "reads k's values in memory order: a Fortran-ordered or transposed k is scrambled",
    "ATTN-LAYOUT",
    storage_order=True,
)
_attention_add(
    "reused_output_buffer",
    "determinism",
    "returns one reused output buffer per shape and dtype from every training call",
    "ATTN-FRESH-OUTPUT",
    reused_buffer=True,
)
_ATTENTION_SALT = int.from_bytes(os.urandom(8), "little")
_attention_add(
    "seed_salted_per_process",
    "determinism",
    "XORs the seed with a salt drawn when the process starts: another process, another mask",
    "ATTN-SEED-PROCESS",
    seed_of=lambda s: s ^ _ATTENTION_SALT,
)


# ---------------------------------------------------------------- recurrent dropout ----


def recurrent(
    x: Array,
    rate: float,
    recurrent_rate: float,
    *,
    training: bool,
    seed: int,
    input_redrawn: bool = False,
    state_redrawn: bool = False,
    state_undropped: bool = False,
    infer_drops: bool = False,
    batch_share: bool = False,
    unscaled: bool = False,
    drop_output: bool = False,
    validate_rate: bool = True,
    drawn_once: bool = False,
) -> Array:
    """The linear cell h(t) = s·m ⊙ x(t) + s_h·r ⊙ h(t−1) with masks shared over time (or
    fresh per step under ``drawn_once=False`` and a per-step declaration), one hook per fault."""
    if validate_rate:
        validate(rate)
        validate(recurrent_rate)
    rng = np.random.default_rng(seed)
    b, steps, f = x.shape
    drop = training or infer_drops
    masks: dict[str, Array] = {}

    def dropped(a: Array, path: str, r: float, redrawn: bool) -> Array:
        if not drop or r == 0:
            return a
        if path not in masks or redrawn:
            masks[path] = rng.random((1, f) if batch_share else (b, f)) >= r
        s = 1.0 if unscaled or r >= 1 else 1.0 / (1.0 - r)
        return np.where(masks[path], a * s, 0.0)

    h = np.zeros((b, f))
    out = np.empty((b, steps, f))
    for t in range(steps):
        if drop_output:  # drops the new state after the cell, not h(t−1) inside it
            h = dropped(x[:, t] + h, "state", recurrent_rate, state_redrawn)
        else:
            state = h if state_undropped else dropped(h, "state", recurrent_rate, state_redrawn)
            h = dropped(x[:, t].astype(np.float64), "input", rate, input_redrawn) + state
        out[:, t] = h
    return out.astype(x.dtype)


def _recurrent_add(
    name: str, fault_class: str, description: str, clause: str, **hooks: Any
) -> None:
    add(partial(recurrent, **hooks), "recurrent_dropout", name, fault_class, description, clause)


_recurrent_add(
    "recurrent_state_mask_redrawn_per_step",
    "structure",
    "draws a fresh state mask at every step although it declares state_mask='shared'",
    "RECUR-STATE-SHARED",
    state_redrawn=True,
)
_recurrent_add(
    "recurrent_input_mask_redrawn_per_step",
    "structure",
    "draws a fresh input mask at every step although it declares input_mask='shared'",
    "RECUR-INPUT-SHARED",
    input_redrawn=True,
)
_recurrent_add(
    "recurrent_state_path_undropped",
    "rate",
    "declares both paths but never drops h(t−1): the recurrent rate only feeds its scale",
    "RECUR-STATE-RATE",
    state_undropped=True,
)
_recurrent_add(
    "recurrent_dropout_at_inference",
    "scaling",
    "keeps dropping both paths with training=False",
    "RECUR-INFERENCE-IDENTITY",
    infer_drops=True,
)
_recurrent_add(
    "recurrent_one_mask_over_batch",
    "independence",
    "draws one (features,) mask per path and gives it to every example of the batch",
    "RECUR-INDEPENDENT",
    batch_share=True,
)
_recurrent_add(
    "recurrent_unscaled",
    "scaling",
    "drops both paths without scaling the kept units by 1/(1 - rate)",
    "RECUR-VALUES",
    unscaled=True,
)
_recurrent_add(
    "recurrent_state_dropped_after_the_cell",
    "structure",
    "drops the new state h(t) = x(t) + h(t−1) with the state mask instead of h(t−1) inside "
    "the cell (and leaves x(t) undropped)",
    "RECUR-VALUES",
    drop_output=True,
)
_recurrent_add(
    "recurrent_rate_not_validated",
    "edge",
    "accepts any rate on either path: a negative one scales by less than 1, NaN drops nothing",
    "RECUR-RATE-INVALID",
    validate_rate=False,
)
add(
    partial(recurrent, input_redrawn=False, state_redrawn=False),
    "recurrent_dropout",
    "recurrent_per_step_declared_but_shared",
    "independence",
    "declares masks fresh at every step but draws each path's mask once per sequence",
    "RECUR-INDEPENDENT",
    input_mask="per_step",
    state_mask="per_step",
)


MUTANTS: tuple[Mutant, ...] = tuple(M)
