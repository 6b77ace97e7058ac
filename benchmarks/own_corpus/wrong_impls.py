"""A held-back corpus of wrong implementations, in fault classes issues 21 and 22 do not name.

Written as a kernel author would get things wrong, from the spec's text only, before looking at
which checks catch them; ``benchmarks/escape_score.py`` runs every clause of each one's op at
base seeds 0-4. It is not part of the test suite: it measures the suite, it does not gate it.
``clauses`` names the clauses that, by the spec's text, must fail; :data:`OWN_CLASS` names the
fault class of each (none of them is one of issue 21's or issue 22's).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from mutants import Mutant, collector
from mutants.numpy_mutants import (
    Array,
    alpha_affine,
    bernoulli_keep,
    drop_path,
    dropconnect,
    gaussian_dropout,
    partial,
    scaled,
    validate,
)

from dropspec.reference import ALPHA_PRIME, SELU_ALPHA

M: list[Mutant] = []
#: mutant name -> this corpus's fault class.
OWN_CLASS: dict[str, str] = {}


_add = collector(M, "numpy", "own.")


def add(
    fn: Callable[..., Any],
    op: str,
    name: str,
    own_class: str,
    *args: Any,
    **options: Any,
) -> None:
    """Declare a mutant (see :func:`mutants.collector`) of this corpus's class ``own_class``."""
    OWN_CLASS[_add(fn, op, name, *args, **options).name] = own_class


def kernel(
    keep_fn: Callable[[np.random.Generator, Array, float], Array],
    *,
    scale: Callable[[float, Array], float] = lambda r, x: 1.0 / (1.0 - r),
    out: Callable[[Array, float], Array] = scaled,
) -> Callable[..., Array]:
    """A dropout built from a keep mask, a scale and the rounding of x·s to x's dtype."""

    def call(x: Array, rate: float, *, training: bool, seed: int) -> Array:
        validate(rate)
        if not training:
            return x.copy()
        if rate == 1.0:
            return np.zeros_like(x)
        keep = keep_fn(np.random.default_rng(seed), x, rate)
        return np.where(keep, out(x, scale(rate, x)), np.zeros((), x.dtype))

    return call


def plain(rng: np.random.Generator, x: Array, rate: float) -> Array:
    return bernoulli_keep(rng, x.shape, rate)


# ---------------------------------------------------------------- threshold arithmetic ----


def _u8(rng: np.random.Generator, x: Array, rate: float) -> Array:
    return rng.integers(0, 256, x.shape) >= math.ceil(rate * 256)  # 8-bit draw, rounded up


add(
    kernel(_u8),
    "dropout",
    "keep_prob_in_1_256_steps",
    "threshold quantisation",
    "rate",
    "an 8-bit draw: the rate is rounded up to a multiple of 1/256 (rate 0.001 drops 1/256)",
    "DROPOUT-RATE",
)


def _u8_le(rng: np.random.Generator, x: Array, rate: float) -> Array:
    return rng.integers(0, 256, x.shape) > int(rate * 256)  # '<=' where '<' was meant


add(
    kernel(_u8_le),
    "dropout",
    "threshold_le_on_8_bit_draw",
    "comparison boundary",
    "edge",
    "drops when draw <= rate·256 on an 8-bit draw: rate 0 still drops 1 in 256",
    ("DROPOUT-RATE-ZERO", "DROPOUT-RATE"),
)


def _overlap(rng: np.random.Generator, x: Array, rate: float) -> Array:
    n = x.size
    w = rng.integers(0, 2**63, (n + 1) // 2, dtype=np.int64).astype(np.uint64)
    hi = (w >> np.uint64(39)).astype(np.float64) / 2**24  # bits 39-62
    lo = ((w >> np.uint64(27)) & np.uint64(2**24 - 1)).astype(np.float64) / 2**24  # overlaps
    u = np.stack([hi, lo], axis=1).reshape(-1)[:n]
    return (u >= rate).reshape(x.shape)


add(
    kernel(_overlap),
    "dropout",
    "adjacent_draws_share_bits",
    "bit extraction",
    "independence",
    "two neighbours per 63-bit draw, from 24-bit windows that overlap in 12 bits",
    "DROPOUT-INDEPENDENT-ELEMENTS",
)


def _low_bits(rng: np.random.Generator, x: Array, rate: float) -> Array:
    w = rng.integers(0, 2**59, x.shape, dtype=np.int64) * 16  # a generator with dead low bits
    return (w & 0xFFFF) / 65536.0 >= rate  # ... and the kernel reads the low 16 bits


add(
    kernel(_low_bits),
    "dropout",
    "uniform_from_dead_low_bits",
    "bit extraction",
    "rate",
    "the uniform is read from the draw's low 16 bits, whose four lowest are always 0",
    ("DROPOUT-RATE", "DROPOUT-UNBIASED"),
)


# ---------------------------------------------------------------- scale arithmetic ----

add(
    kernel(plain, scale=lambda r, x: 1.0 + r),
    "dropout",
    "scale_first_order_taylor",
    "scale approximation",
    "scaling",
    "kept values are multiplied by 1 + rate (the first-order Taylor of 1/(1 - rate))",
    ("DROPOUT-VALUES", "DROPOUT-UNBIASED"),
)


def _f32_product(x: Array, s: float) -> Array:
    return (x.astype(np.float32) * np.float32(s)).astype(x.dtype)  # float64 data via float32


add(
    kernel(plain, out=_f32_product),
    "dropout",
    "float64_computed_in_float32",
    "intermediate precision",
    "dtype",
    "x·s is computed in float32 whatever the data dtype, so float64 outputs lose precision",
    "DROPOUT-VALUES",
)


def _bf16_truncate(x: Array, s: float) -> Array:
    y = (x.astype(np.float32) * np.float32(s)).astype(np.float32)
    if x.dtype != np.dtype(ml_dtypes.bfloat16):
        return y.astype(x.dtype)
    bits = y.view(np.uint32) & np.uint32(0xFFFF0000)  # truncates instead of rounding
    return bits.view(np.float32).astype(x.dtype)


add(
    kernel(plain, out=_bf16_truncate),
    "dropout",
    "bfloat16_truncated_not_rounded",
    "rounding mode",
    "dtype",
    "bfloat16 outputs are truncated towards zero instead of rounded to nearest",
    "DROPOUT-VALUES",
)


def _half_twice(x: Array, s: float) -> Array:
    y = scaled(x, s)
    return scaled(y, s) if x.dtype.itemsize == 2 else y  # the half path scales again


add(
    kernel(plain, out=_half_twice),
    "dropout",
    "half_precision_scaled_twice",
    "double application",
    "dtype",
    "16-bit dtypes apply the scale twice (once in the upcast, once in the kernel)",
    ("DROPOUT-VALUES", "DROPOUT-UNBIASED"),
)


# ---------------------------------------------------------------- rate handling ----


def _clamped(rng: np.random.Generator, x: Array, rate: float) -> Array:
    return bernoulli_keep(rng, x.shape, min(max(rate, 0.01), 0.99))


add(
    kernel(_clamped, scale=lambda r, x: 1.0 / (1.0 - min(max(r, 0.01), 0.99))),
    "dropout",
    "rate_clamped_to_0.01_0.99",
    "silent clamping",
    "rate",
    "for numerical safety the rate is clamped into [0.01, 0.99] (rate 0 drops 1%)",
    ("DROPOUT-RATE", "DROPOUT-RATE-ZERO"),
)


def _exact_count(rng: np.random.Generator, x: Array, rate: float) -> Array:
    keep = np.ones(x.size, bool)
    keep[rng.permutation(x.size)[: round(rate * x.size)]] = False  # exactly rate·n dropped
    return keep.reshape(x.shape)


add(
    kernel(_exact_count),
    "dropout",
    "exactly_rate_n_dropped",
    "fixed count",
    "independence",
    "drops exactly round(rate·n) elements (a random subset), not each independently",
    ("DROPOUT-RATE", "DROPOUT-INDEPENDENT-ELEMENTS", "DROPOUT-VARIANCE"),
)


def nan_rate_accepted(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if rate < 0.0 or rate > 1.0:  # false for NaN: NaN passes
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(keep, scaled(x, 1.0 / (1.0 - rate)), np.zeros((), x.dtype))


add(
    nan_rate_accepted,
    "dropout",
    "nan_rate_accepted",
    "NaN comparison",
    "edge",
    "validates with rate < 0 or rate > 1, which a NaN rate passes",
    "DROPOUT-RATE-INVALID",
)


def percent_rate(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if 1.0 < rate <= 100.0:
        rate = rate / 100.0  # 'rate 50' read as a percentage
    validate(rate)
    if not training:
        return x.copy()
    return kernel(plain)(x, rate, training=True, seed=seed)


add(
    percent_rate,
    "dropout",
    "rate_above_one_read_as_percent",
    "unit confusion",
    "edge",
    "a rate in (1, 100] is read as a percentage instead of rejected",
    "DROPOUT-RATE-INVALID",
)


def rate_one_identity(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training or rate in (0.0, 1.0):  # 'degenerate rates disable dropout'
        return x.copy()
    return kernel(plain)(x, rate, training=True, seed=seed)


add(
    rate_one_identity,
    "dropout",
    "rate_one_disables",
    "degenerate-rate shortcut",
    "edge",
    "rate 1 is treated like rate 0: the input passes through",
    "DROPOUT-RATE-ONE-ZEROS",
)


# ---------------------------------------------------------------- shared axes ----


def _neg_axes_off_by_one(rng: np.random.Generator, x: Array, rate: float) -> Array:
    # declared shared_axes=(-2,); normalised as ndim + a - 1, i.e. one axis too far left
    axis = (x.ndim - 2 - 1) % x.ndim
    shape = tuple(1 if i == axis else n for i, n in enumerate(x.shape))
    return np.broadcast_to(rng.random(shape) >= rate, x.shape)


add(
    kernel(_neg_axes_off_by_one),
    "dropout",
    "negative_shared_axis_off_by_one",
    "axis normalisation",
    "structure",
    "shared_axes=(-2,) is normalised as ndim - 3: the mask is shared along the wrong axis",
    ("DROPOUT-SHARED-CONSTANT", "DROPOUT-INDEPENDENT-AXES"),
    shared_axes=(-2,),
)


def _noise_shape_last_only(rng: np.random.Generator, x: Array, rate: float) -> Array:
    # declared shared_axes=(0,): the noise shape is built as (features,), broadcast from the
    # right, which also shares every middle axis
    return np.broadcast_to(rng.random(x.shape[-1:]) >= rate, x.shape)


add(
    kernel(_noise_shape_last_only),
    "dropout",
    "noise_shape_from_last_axis_only",
    "broadcasting",
    "structure",
    "shared_axes=(0,) is implemented as a (features,) noise shape: middle axes share too",
    "DROPOUT-INDEPENDENT-AXES",
    shared_axes=(0,),
)


# ---------------------------------------------------------------- gaussian, alpha ----

add(
    partial(gaussian_dropout, std=lambda r: r),
    "gaussian_dropout",
    "std_equals_rate",
    "parameter confusion",
    "scaling",
    "the noise's standard deviation is rate instead of sqrt(rate/(1 - rate))",
    "GAUSSIAN-VARIANCE",
)


def _uniform_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), shape)  # mean 0, variance 1


add(
    partial(gaussian_dropout, noise=_uniform_noise),
    "gaussian_dropout",
    "uniform_noise_right_moments",
    "wrong distribution",
    "scaling",
    "the noise is uniform with the right mean and variance, not Gaussian",
    "GAUSSIAN-DISTRIBUTION",
)


def alpha_wrong_prime(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("alpha dropout at rate 1 has no affine correction")
    if not training or rate == 0.0:
        return x.copy()
    keep = bernoulli_keep(np.random.default_rng(seed), x.shape, rate)
    # α′ = -α (SELU's α without λ): the affine constants are computed for the wrong α′
    return alpha_affine(x, keep, rate, alpha_prime=-SELU_ALPHA).astype(x.dtype)


add(
    alpha_wrong_prime,
    "alpha_dropout",
    "alpha_prime_without_lambda",
    "constant confusion",
    "scaling",
    "uses α′ = -α instead of -λα (-1.673 for -1.758)",
    ("ALPHA-VALUES", "ALPHA-MEAN", "ALPHA-VARIANCE"),
)


def alpha_dropped_unaffine(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("alpha dropout at rate 1 has no affine correction")
    if not training or rate == 0.0:
        return x.copy()
    keep = bernoulli_keep(np.random.default_rng(seed), x.shape, rate)
    y = alpha_affine(x, keep, rate)
    return np.where(keep, y, ALPHA_PRIME).astype(x.dtype)  # dropped units skip the affine map


add(
    alpha_dropped_unaffine,
    "alpha_dropout",
    "dropped_units_skip_affine",
    "partial transform",
    "scaling",
    "dropped units are set to α′ without the affine map a·α′ + b",
    ("ALPHA-VALUES", "ALPHA-MEAN"),
)


# ---------------------------------------------------------------- drop path, dropconnect ----


def path_realised_scale(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = bernoulli_keep(np.random.default_rng(seed), (x.shape[0],), rate)
    s = x.shape[0] / max(int(keep.sum()), 1)  # normalised by the batch's realised keep count
    keep = keep.reshape((-1,) + (1,) * (x.ndim - 1))
    return np.where(keep, scaled(x, s), np.zeros((), x.dtype))


add(
    path_realised_scale,
    "drop_path",
    "scale_by_realised_keep_fraction",
    "batch normalisation of the scale",
    "scaling",
    "kept examples are scaled by batch/kept instead of 1/(1 - rate)",
    ("DROPPATH-VALUES", "DROPPATH-UNBIASED"),
)


def path_last_axis(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = bernoulli_keep(np.random.default_rng(seed), (x.shape[-1],), rate)  # channels-last
    return np.where(keep, scaled(x, 1.0 / (1.0 - rate)), np.zeros((), x.dtype))


add(
    path_last_axis,
    "drop_path",
    "mask_along_last_axis",
    "layout convention",
    "structure",
    "one mask value per entry of the last axis (a channels-last mix-up), not per example",
    "DROPPATH-PER-EXAMPLE",
)


def dropconnect_drops_inputs(
    x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int
) -> Array:
    if not training or rate in (0.0, 1.0):
        return dropconnect(  # type: ignore[no-any-return]
            x, w, b, rate, training=training, seed=seed, mask_bias=False
        )
    validate(rate)
    keep = bernoulli_keep(np.random.default_rng(seed), x.shape, rate)  # masks x, not W
    xd = np.where(keep, x.astype(np.float64) / (1.0 - rate), 0.0)
    return (xd @ w.astype(np.float64).T + b.astype(np.float64)).astype(x.dtype)


add(
    dropconnect_drops_inputs,
    "dropconnect",
    "masks_inputs_not_weights",
    "wrong operand",
    "structure",
    "drops input units (dropout on x) instead of weights",
    "DROPCONNECT-PER-CONNECTION",
    masks="per_example",
    mask_bias=False,
)


def dropconnect_bias_scaled_unmasked(
    x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int
) -> Array:
    y = dropconnect(x, w, b, rate, training=training, seed=seed, mask_bias=False)
    if not training or rate == 1.0:
        return y  # type: ignore[no-any-return]
    extra = b.astype(np.float64) * (1.0 / (1.0 - rate) - 1.0)  # the unmasked bias is scaled
    return (y.astype(np.float64) + extra).astype(x.dtype)


add(
    dropconnect_bias_scaled_unmasked,
    "dropconnect",
    "unmasked_bias_scaled",
    "scale applied to the wrong term",
    "scaling",
    "mask_bias=False, but the bias is scaled by 1/(1 - rate) with the weights",
    ("DROPCONNECT-BIAS-UNMASKED", "DROPCONNECT-VALUES", "DROPCONNECT-UNBIASED"),
    masks="per_example",
    mask_bias=False,
)


def dropconnect_classic_inference_bias(
    x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int
) -> Array:
    validate(rate)
    if training:
        keep = bernoulli_keep(np.random.default_rng(seed), (x.shape[0], *w.shape), rate)
        pre = np.einsum("ni,noi->no", x.astype(np.float64), keep * w.astype(np.float64))
        return (pre + b).astype(x.dtype)
    # classic inference scales the whole pre-activation, the unmasked bias included
    return ((1.0 - rate) * (x.astype(np.float64) @ w.T + b)).astype(x.dtype)


add(
    dropconnect_classic_inference_bias,
    "dropconnect",
    "classic_inference_scales_unmasked_bias",
    "scale applied to the wrong term",
    "scaling",
    "classic scaling, unmasked bias: inference multiplies the bias by 1 - rate too",
    "DROPCONNECT-INFERENCE-MEAN",
    masks="per_example",
    mask_bias=False,
    scaling="classic",
)


def _path_sorted(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    keep = rng.random(shape) >= rate
    return np.sort(keep)  # the kernel sorts the batch by keep for a compacted launch


add(
    partial(drop_path, keep_fn=_path_sorted),
    "drop_path",
    "mask_sorted_for_compaction",
    "compaction order",
    "independence",
    "the batch's keep flags are sorted (dropped examples first) instead of left in place",
    ("DROPPATH-INDEPENDENT-AXES", "DROPPATH-INDEPENDENT-CALLS"),
)

MUTANTS: tuple[Mutant, ...] = tuple(M)
