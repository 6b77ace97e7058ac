"""Input-space mutants (issue 21): wrong implementations that only some inputs reveal.

Each one breaks a rule of the spec only for part of the input space: a size class, a rank, a
memory layout, a value class, a relation between seeds, a structure at a distance, or one
mode. They were written from the spec's text and issue 21's fault list, before looking at
which checks catch them. :data:`CAUGHT`, those the suite catches on every base seed CI draws,
are part of :func:`mutants.corpus` (each naming the clauses measured to catch it);
:data:`NOT_YET_CAUGHT` names the rest, held out of it and still run by
``benchmarks/escape_score.py`` (through :func:`mutants.input_space_corpus`) as the measure of
what the input-space design must still reach.

:data:`ISSUE_CLASS` names issue 21's class of each mutant (shape, layout, values, seeds,
structure, validation); its :attr:`Mutant.fault_class` is the corpus's own class.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from . import Mutant, collector
from .numpy_mutants import (
    Array,
    bernoulli_keep,
    drop_path,
    dropconnect,
    gaussian_dropout,
    mask_shape,
    partial,
    scaled,
    validate,
)

M: list[Mutant] = []
#: mutant name -> issue 21's fault class.
ISSUE_CLASS: dict[str, str] = {}


_add = collector(M, "numpy", "input_space.")


def add(
    fn: Callable[..., Any],
    op: str,
    name: str,
    issue_class: str,
    *args: Any,
    **options: Any,
) -> None:
    """Declare a mutant (see :func:`mutants.collector`) of this corpus's class ``issue_class``."""
    ISSUE_CLASS[_add(fn, op, name, *args, **options).name] = issue_class


def inverted(x: Array, keep: Array, rate: float) -> Array:
    """Kept values x/(1 - rate), dropped ones 0."""
    return np.where(keep, scaled(x, 1.0 / (1.0 - rate)), np.zeros((), x.dtype))


def with_keep(keep_fn: Callable[[Array, float, int], Array]) -> Callable[..., Array]:
    """A dropout whose keep mask ``keep_fn(x, rate, seed)`` may look at x (its shape, layout)."""

    def call(x: Array, rate: float, *, training: bool, seed: int) -> Array:
        validate(rate)
        if not training:
            return x.copy()
        if rate == 1.0:
            return np.zeros_like(x)
        return inverted(x, keep_fn(x, rate, seed), rate)

    return call


def draw(seed: int, shape: tuple[int, ...], rate: float) -> Array:
    return bernoulli_keep(np.random.default_rng(seed), shape, rate)


# ---------------------------------------------------------------- shape, size and rank ----

LANES = 8


def _tail_lanes_kept(x: Array, rate: float, seed: int) -> Array:
    keep = draw(seed, (x.size,), rate)
    tail = x.size % LANES
    if tail:
        keep[x.size - tail :] = True  # the scalar remainder loop never drops
    return keep.reshape(x.shape)


add(
    with_keep(_tail_lanes_kept),
    "dropout",
    "remainder_lanes_never_dropped",
    "shape",
    "rate",
    "a vector kernel of 8 lanes: the last size % 8 elements are always kept (and scaled)",
    ("DROPOUT-RATE", "DROPOUT-UNBIASED", "DROPOUT-VARIANCE"),
)


def _small_inverted(x: Array, rate: float, seed: int) -> Array:
    if rate == 0.0:
        return np.ones(x.shape, bool)  # rate 0 short-cuts before either path
    u = np.random.default_rng(seed).random(x.shape)
    return u < rate if x.size < 1000 else u >= rate  # small-tensor path inverts the test


add(
    with_keep(_small_inverted),
    "dropout",
    "small_tensor_rate_inverted",
    "shape",
    "rate",
    "tensors under 1,000 elements drop with probability 1 - rate (rate 0 short-cuts)",
    ("DROPOUT-RATE", "DROPOUT-UNBIASED", "DROPOUT-VARIANCE"),
)


def _rank1_whole(x: Array, rate: float, seed: int) -> Array:
    if x.ndim == 1:
        return np.broadcast_to(draw(seed, (1,), rate), x.shape)  # one draw for the vector
    return draw(seed, x.shape, rate)


add(
    with_keep(_rank1_whole),
    "dropout",
    "rank1_one_draw",
    "shape",
    "independence",
    "a rank-1 input gets one mask value for the whole vector",
    "DROPOUT-RATE",
)


def rank5_unscaled(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = draw(seed, x.shape, rate)
    if x.ndim == 5:  # the volumetric kernel forgets the 1/(1 - rate)
        return np.where(keep, x, np.zeros((), x.dtype))
    return inverted(x, keep, rate)


add(
    rank5_unscaled,
    "dropout",
    "rank5_unscaled",
    "shape",
    "scaling",
    "rank-5 inputs keep values unscaled",
    ("DROPOUT-VALUES", "DROPOUT-UNBIASED", "DROPOUT-VARIANCE"),
)


def _channels_rank5(x: Array, rate: float, seed: int) -> Array:
    # declared: share along the last axis; the rank-5 path shares along axis 1 instead
    shared = (1,) if x.ndim == 5 else (-1,)
    return np.broadcast_to(draw(seed, mask_shape(x.shape, shared), rate), x.shape)


add(
    with_keep(_channels_rank5),
    "dropout",
    "channel_sharing_wrong_at_rank5",
    "shape",
    "structure",
    "shared_axes=(-1,): correct at every rank but 5, where the mask is shared along axis 1",
    "DROPOUT-SHARED-CONSTANT",
    shared_axes=(-1,),
)


def empty_batch_fails(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    if x.ndim == 0:
        return inverted(x, draw(seed, x.shape, rate), rate)
    flat = x.reshape(x.shape[0], -1)  # raises on an empty batch: size 0 has no -1
    keep = draw(seed, flat.shape, rate)
    return inverted(flat, keep, rate).reshape(x.shape)


add(
    empty_batch_fails,
    "dropout",
    "empty_batch_raises",
    "shape",
    "edge",
    "reshapes to (batch, -1), which raises for an empty batch",
    ("DROPOUT-SHAPE", "DROPOUT-DTYPE", "DROPOUT-VALUES", "DROPOUT-RATE-ZERO"),
    raises=True,
)


def drop_path_empty_batch(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if x.shape[0] == 0:
        raise ValueError("drop path needs a batch")
    return drop_path(x, rate, training=training, seed=seed)


add(
    drop_path_empty_batch,
    "drop_path",
    "empty_batch_raises",
    "shape",
    "edge",
    "raises for an empty batch",
    ("DROPPATH-SHAPE", "DROPPATH-DTYPE", "DROPPATH-VALUES", "DROPPATH-RATE-ZERO"),
    raises=True,
)


def features_unscaled(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = draw(seed, x.shape, rate)
    if x.ndim == 2 and x.shape[1] >= 6:  # the (batch, features) fast path forgets the scale
        return np.where(keep, x, np.zeros((), x.dtype))
    return inverted(x, keep, rate)


add(
    features_unscaled,
    "dropout",
    "batch_features_unscaled",
    "shape",
    "scaling",
    "2-D (batch, features >= 6) inputs keep values unscaled",
    ("DROPOUT-VALUES", "DROPOUT-UNBIASED", "DROPOUT-VARIANCE"),
)


# ---------------------------------------------------------------- memory layout ----


def storage_order(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    flat = x.ravel(order="K")  # memory order, then laid out as if it were C order
    keep = draw(seed, flat.shape, rate) if rate < 1.0 else np.zeros(flat.shape, bool)
    scale = 1.0 / (1.0 - rate) if rate < 1.0 else 0.0
    return np.where(keep, scaled(flat, scale), np.zeros((), x.dtype)).reshape(x.shape)


add(
    storage_order,
    "dropout",
    "reads_storage_order",
    "layout",
    "structure",
    "reads x in memory order and writes in C order: a transposed or Fortran input comes "
    "back permuted",
    ("DROPOUT-VALUES", "DROPOUT-RATE-ZERO"),
)


def assumes_contiguous(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if x.size and all(s > 0 for s in x.strides):
        # reads x's memory as if it were C-contiguous (strided views read the wrong elements)
        strides = tuple(int(np.prod(x.shape[i + 1 :])) * x.itemsize for i in range(x.ndim))
        x = np.lib.stride_tricks.as_strided(x, x.shape, strides).copy()
    if rate == 1.0:
        return np.zeros_like(x)
    return inverted(x, draw(seed, x.shape, rate), rate)


add(
    assumes_contiguous,
    "dropout",
    "assumes_contiguous",
    "layout",
    "structure",
    "reads a transposed or step-sliced input as if it were C-contiguous",
    ("DROPOUT-VALUES", "DROPOUT-RATE-ZERO"),
)


def negative_strides_reversed(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    flip = tuple(i for i, s in enumerate(x.strides) if s < 0)
    if flip:
        x = np.flip(x, flip)  # walks the buffer upwards, ignoring the negative stride
    if rate == 1.0:
        return np.zeros_like(x)
    return inverted(x, draw(seed, x.shape, rate), rate)


add(
    negative_strides_reversed,
    "dropout",
    "negative_strides_reversed",
    "layout",
    "structure",
    "an input with a negative stride is read from the buffer's start: the output is reversed",
    ("DROPOUT-VALUES", "DROPOUT-RATE-ZERO"),
)

_BUFFERS: dict[tuple[tuple[int, ...], str], Array] = {}


def reused_buffer(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    y = np.zeros_like(x)
    if rate < 1.0:
        keep = np.random.default_rng().random(x.shape) >= rate  # ignores the seed
        y = inverted(x, keep, rate)
    out = _BUFFERS.setdefault((x.shape, x.dtype.str), np.empty_like(x))
    np.copyto(out, y)  # every call returns the same buffer
    return out


add(
    reused_buffer,
    "dropout",
    "reused_output_buffer_unseeded",
    "layout",
    "determinism",
    "ignores the seed and returns one reused output buffer per shape and dtype, so two "
    "calls always compare equal",
    ("DROPOUT-FRESH-OUTPUT", "DROPOUT-DETERMINISTIC", "DROPOUT-SEED-SPACE"),
)


# ---------------------------------------------------------------- values ----


def _flush(a: Array) -> Array:
    tiny = ml_dtypes.finfo(a.dtype).smallest_normal
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(a) < tiny, np.zeros((), a.dtype), a)


def subnormals_flushed(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    x = _flush(x)  # flush-to-zero on the kernel's inputs and outputs
    return _flush(inverted(x, draw(seed, x.shape, rate), rate))


add(
    subnormals_flushed,
    "dropout",
    "subnormals_flushed",
    "values",
    "edge",
    "training flushes subnormal inputs and outputs to zero (at rate 0 too)",
    "DROPOUT-RATE-ZERO",
)


def infinities_clamped(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    y = inverted(x, draw(seed, x.shape, rate), rate)
    big = ml_dtypes.finfo(y.dtype).max
    return np.where(np.isinf(y), np.copysign(big, y), y).astype(x.dtype)


add(
    infinities_clamped,
    "dropout",
    "kept_infinities_clamped",
    "values",
    "edge",
    "kept infinities come out as the largest finite value of their sign",
    ("DROPOUT-VALUES", "DROPOUT-RATE-ZERO"),
)


def additive_noise(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1 gives infinite noise variance")
    if not training or rate == 0.0:
        return x.copy()
    z = np.random.default_rng(seed).standard_normal(x.shape)
    sigma = math.sqrt(rate / (1.0 - rate))
    return (x.astype(np.float64) + sigma * z).astype(x.dtype)  # x + σz, not x·(1 + σz)


add(
    additive_noise,
    "gaussian_dropout",
    "additive_noise",
    "values",
    "scaling",
    "adds N(0, rate/(1 - rate)) noise instead of multiplying by N(1, rate/(1 - rate))",
    "GAUSSIAN-NOISE-VALUE-FREE",
)


# ---------------------------------------------------------------- seeds ----


def seeded(seed_map: Callable[[int, Array], int | None]) -> Callable[..., Array]:
    """A correct dropout whose generator is seeded with ``seed_map(seed, x)``."""

    def keep(x: Array, rate: float, seed: int) -> Array:
        return bernoulli_keep(np.random.default_rng(seed_map(seed, x)), x.shape, rate)

    return with_keep(keep)


add(
    seeded(lambda s, x: None if s == 0 else s),
    "dropout",
    "seed_zero_unseeded",
    "seeds",
    "determinism",
    "seed 0 means 'no seed': fresh entropy on every call",
    "DROPOUT-SEED-SPACE",
)
add(
    seeded(lambda s, x: s % (2**32 - 1)),
    "dropout",
    "seed_mod_2_32_minus_1",
    "seeds",
    "determinism",
    "the seed is reduced modulo 2**32 - 1, so s and s + 2**32 - 1 give the same mask",
    ("DROPOUT-SEED-PAIRS", "DROPOUT-SEED-SPACE", "DROPOUT-INDEPENDENT-SEEDS"),
)
add(
    seeded(lambda s, x: abs(s - 2**64 if s >= 2**63 else s)),
    "dropout",
    "seed_sign_folded",
    "seeds",
    "determinism",
    "the seed is read as a signed 64-bit integer and its absolute value used: s and -s "
    "(2**64 - s) give the same mask",
    ("DROPOUT-SEED-PAIRS", "DROPOUT-SEED-SPACE", "DROPOUT-INDEPENDENT-SEEDS"),
)
add(
    seeded(lambda s, x: (s & 0xFFFFFFFF) ^ (s >> 32)),
    "dropout",
    "seed_halves_xor_folded",
    "seeds",
    "determinism",
    "the seed's two 32-bit halves are XOR-folded into one",
    ("DROPOUT-SEED-PAIRS", "DROPOUT-SEED-SPACE", "DROPOUT-INDEPENDENT-SEEDS"),
)
add(
    seeded(lambda s, x: s & 0xFFFFFFFF if x.size < 4096 else s),
    "dropout",
    "seed_32_bits_small_tensors",
    "seeds",
    "determinism",
    "tensors under 4,096 elements are seeded with the seed's low 32 bits only",
    ("DROPOUT-SEED-SPACE", "DROPOUT-SEED-PAIRS"),
)

_SALT = int.from_bytes(os.urandom(8), "little")
add(
    seeded(lambda s, x: s ^ _SALT),
    "dropout",
    "seed_salted_per_process",
    "seeds",
    "determinism",
    "the seed is XORed with a salt drawn when the process starts: the same seed gives "
    "another mask in another process",
    "DROPOUT-SEED-PROCESS",
)

_MIX = 0x9E3779B97F4A7C15
_BITS = 24


def _splitmix(z: Array) -> Array:
    z = (z + np.uint64(_MIX)) & np.uint64(2**64 - 1)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _gf2_keep(x: Array, rate: float, seed: int) -> Array:
    # each bit of each uniform is the parity of (seed AND a fixed 64-bit row): linear over
    # GF(2), so mask(a ^ b ^ c) is determined by mask(a), mask(b), mask(c)
    n = x.size
    out = np.empty(n, np.float64)
    s = np.uint64(seed)
    with np.errstate(over="ignore"):
        for start in range(0, n, 1 << 14):
            i = np.arange(start, min(n, start + (1 << 14)), dtype=np.uint64)
            rows = _splitmix(i[:, None] * np.uint64(_BITS) + np.arange(_BITS, dtype=np.uint64))
            bits = np.bitwise_count(rows & s) & np.uint8(1)
            weights = 0.5 ** np.arange(1, _BITS + 1)
            out[start : start + len(i)] = bits @ weights
    return (out >= rate).reshape(x.shape)


add(
    with_keep(_gf2_keep),
    "dropout",
    "seed_gf2_linear",
    "seeds",
    "determinism",
    "each bit of each uniform is a parity of the seed's bits: masks of different seeds are "
    "pairwise uncorrelated but linearly dependent",
    "DROPOUT-INDEPENDENT-SEEDS",
)

STRIDE = 2**20


def _offset_keep(x: Array, rate: float, seed: int) -> Array:
    bits = np.random.Philox(key=0x5EED)  # one stream for every seed
    bits.advance(seed * STRIDE)
    return np.random.Generator(bits).random(x.shape) >= rate


add(
    with_keep(_offset_keep),
    "dropout",
    "seed_offset_wide_stride",
    "seeds",
    "determinism",
    "the seed is an offset into one counter-based stream, 2**20 blocks apart: large masks "
    "of nearby seeds are shifted copies",
    "DROPOUT-NO-PERIOD",
)

PERIOD = 2**22


def _period_keep(x: Array, rate: float, seed: int) -> Array:
    keep = draw(seed, (min(x.size, PERIOD),), rate)
    return np.resize(keep, x.size).reshape(x.shape)  # repeats after 2**22 elements


add(
    with_keep(_period_keep),
    "dropout",
    "period_2_22_in_call",
    "seeds",
    "independence",
    "within one call the mask repeats every 2**22 elements",
    "DROPOUT-NO-PERIOD",
)


# ---------------------------------------------------------------- structure at a distance ----


def _mirrored(x: Array, rate: float, seed: int) -> Array:
    keep = draw(seed, (x.size,), rate)
    half = x.size // 2
    keep[x.size - half :] = keep[:half][::-1]  # a palindrome in memory order
    return keep.reshape(x.shape)


add(
    with_keep(_mirrored),
    "dropout",
    "mask_mirrored",
    "structure",
    "independence",
    "the second half of the flattened mask mirrors the first",
    "DROPOUT-NO-PERIOD",
)

LAG = 64


def _anti_at_lag(x: Array, rate: float, seed: int) -> Array:
    rng = np.random.default_rng(seed)
    u = rng.random(x.size)
    i = np.arange(x.size)
    # in odd blocks of 64, a quarter of the uniforms are 1 - u of the element 64 before
    # (sources lie in even blocks, which are never rewritten, so u stays uniform)
    take = ((i // LAG) % 2 == 1) & (rng.random(x.size) < 0.25)
    u[take] = 1.0 - u[i[take] - LAG]
    return (u >= rate).reshape(x.shape)


add(
    with_keep(_anti_at_lag),
    "dropout",
    "anticorrelated_at_lag_64",
    "structure",
    "independence",
    "a quarter of the mask values in every other block of 64 use 1 - u of the value 64 "
    "earlier: anti-correlated at distance 64 (each value still Bernoulli)",
    "DROPOUT-NO-PERIOD",
)


def _tiled_columns(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    n = shape[-1]
    keep = rng.random((*shape[:-1], min(n, 32))) >= rate
    reps = -(-n // 32)
    return np.concatenate([keep] * reps, axis=-1)[..., :n]


add(
    partial(dropconnect, keep_fn=_tiled_columns),
    "dropconnect",
    "mask_tiled_every_32_inputs",
    "structure",
    "independence",
    "the weight mask repeats every 32 input columns",
    "DROPCONNECT-PER-CONNECTION",
    masks="per_example",
    mask_bias=False,
)


def bias_first_column(
    x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int
) -> Array:
    validate(rate)
    out: Array = dropconnect(x, w, b, rate, training=training, seed=seed, mask_bias=True)
    if not training or rate == 1.0:
        return out
    # recompute with the bias mask taken from the weight mask's first column
    n, (o, i) = x.shape[0], w.shape
    keep = bernoulli_keep(np.random.default_rng(seed), (n, o, i), rate)
    s = 1.0 / (1.0 - rate)
    xd, wd, bd = (a.astype(np.float64) for a in (x, w, b))
    pre = np.einsum("ni,noi->no", xd, keep * wd) * s + bd * keep[:, :, 0] * s
    return pre.astype(x.dtype)


add(
    bias_first_column,
    "dropconnect",
    "bias_mask_is_first_column",
    "structure",
    "independence",
    "the bias entry of each output is dropped exactly when its first input's weight is",
    "DROPCONNECT-PER-CONNECTION",
    masks="per_example",
    mask_bias=True,
)


def per_batch_when_large(
    x: Array, w: Array, b: Array, rate: float, *, training: bool, seed: int
) -> Array:
    per_example = x.shape[0] * w.size <= 2**16  # saves memory on large batches
    return dropconnect(  # type: ignore[no-any-return]
        x, w, b, rate, training=training, seed=seed, per_example=per_example
    )


add(
    per_batch_when_large,
    "dropconnect",
    "per_example_becomes_per_batch_when_large",
    "structure",
    "structure",
    "declares per-example masks but shares one mask over the batch when batch·out·in > 2**16",
    (
        "DROPCONNECT-PER-EXAMPLE",
        "DROPCONNECT-PER-CONNECTION",
        "DROPCONNECT-RATE",
        "DROPCONNECT-UNBIASED",
    ),
    masks="per_example",
    mask_bias=False,
)


def _path_shared_small(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    if shape[0] < 8:
        return np.broadcast_to(rng.random(1) >= rate, shape)  # one draw for small batches
    return rng.random(shape) >= rate


add(
    partial(drop_path, keep_fn=_path_shared_small),
    "drop_path",
    "one_mask_for_small_batches",
    "structure",
    "independence",
    "batches under 8 examples share one mask value",
    ("DROPPATH-RATE", "DROPPATH-SEED-SPACE"),
)


def _path_inverted_batch1(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    if rate == 0.0:
        return np.ones(shape, bool)  # rate 0 short-cuts before either path
    u = rng.random(shape)
    return u < rate if shape[0] == 1 else u >= rate


add(
    partial(drop_path, keep_fn=_path_inverted_batch1),
    "drop_path",
    "inverted_at_batch_1",
    "structure",
    "rate",
    "a batch of one example is kept with probability rate instead of 1 - rate (rate 0 short-cuts)",
    ("DROPPATH-RATE", "DROPPATH-UNBIASED"),
)


# ---------------------------------------------------------------- validation ----


def validates_in_training(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if not training:
        return x.copy()  # returns before validating
    validate(rate)
    if rate == 1.0:
        return np.zeros_like(x)
    return inverted(x, draw(seed, x.shape, rate), rate)


add(
    validates_in_training,
    "dropout",
    "validates_only_in_training",
    "validation",
    "edge",
    "an invalid rate is accepted with training=False",
    "DROPOUT-RATE-INVALID-INFERENCE",
)


def gaussian_validates_in_training(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    if not training:
        return x.copy()
    return gaussian_dropout(x, rate, training=True, seed=seed)


add(
    gaussian_validates_in_training,
    "gaussian_dropout",
    "validates_only_in_training",
    "validation",
    "edge",
    "an invalid rate is accepted with training=False",
    "GAUSSIAN-RATE-INVALID-INFERENCE",
)

#: Every input-space mutant.
MUTANTS: tuple[Mutant, ...] = tuple(M)

#: The input-space mutants the suite does not yet catch on every base seed CI draws. Empty
#: since the strata and seed relations of issue 21 (every one caught on 5 of 5 base seeds,
#: ``benchmarks/escape_score.py``); a new mutant that escapes is held out here by name until
#: a change to the input design catches it.
NOT_YET_CAUGHT: tuple[str, ...] = ()

#: The input-space mutants the suite catches on every base seed CI draws: part of the corpus,
#: each naming the clauses measured to catch it (every one of them must fail at the default
#: base seed; see ``tests/test_mutants.py``).
CAUGHT: tuple[Mutant, ...] = tuple(m for m in MUTANTS if m.name not in NOT_YET_CAUGHT)
