"""A second held-back corpus of wrong implementations, for the parts of the spec added since
the first (``wrong_impls.py``): attention dropout, recurrent dropout, the stateful calling
convention, and plain dropout fed input structure a sweep may not reach.

Written blind, as a kernel or layer author would get things wrong, from the spec's text only
(``dropspec explain``, the reference, the target API), and committed before any check, mutant
test or result was read. ``benchmarks/escape_score.py --corpus own2`` runs every clause of
each one's op at base seeds 0-4. Not part of the test suite: it measures the suite.
``clauses`` names the clauses that, by the spec's text, must fail; :data:`OWN2_CLASS` names
the fault class of each, none of them one of ``wrong_impls.OWN_CLASS``'s nor one the issues
name (rate flipped, no scaling, dropout at inference, shared or frozen masks, ...).
:data:`SPEC_GAP` lists the mutants whose named clause fails only on a reading of the spec's
text that is arguable: their escapes say as much about the text as about the checks.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from mutants import Mutant, mutant

from dropspec.target import make_stateful_target

Array = np.ndarray
M: list[Mutant] = []
#: mutant name -> this corpus's fault class.
OWN2_CLASS: dict[str, str] = {}
#: mutants whose named clauses fail only on an arguable reading of the spec's text.
SPEC_GAP: dict[str, str] = {}


def add(
    fn: Callable[..., Any],
    op: str,
    name: str,
    own_class: str,
    fault_class: str,
    description: str,
    clauses: str | tuple[str, ...],
    **options: Any,
) -> None:
    m = mutant(
        fn,
        op,
        framework="numpy",
        name=f"own2.{name}",
        fault_class=fault_class,
        description=description,
        clauses=clauses,
        **options,
    )
    M.append(m)
    OWN2_CLASS[m.name] = own_class


def add_stateful(
    factory: Callable[..., Any],
    op: str,
    name: str,
    own_class: str,
    fault_class: str,
    description: str,
    clauses: str | tuple[str, ...],
    **options: Any,
) -> None:
    full = f"mutant.numpy.{op}.own2.{name}"  # named as mutant() names the seeded ones
    target = make_stateful_target(factory, op, framework="numpy", name=full, **options)
    m = Mutant(
        name=full,
        op=op,
        framework="numpy",
        fault_class=fault_class,
        description=description,
        target=target,
        clauses=(clauses,) if isinstance(clauses, str) else tuple(clauses),
    )
    M.append(m)
    OWN2_CLASS[m.name] = own_class


def validate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"rate must be in [0, 1], got {rate}")


def scale_of(rate: float) -> float:
    return 0.0 if rate == 1.0 else 1.0 / (1.0 - rate)


def apply(x: Array, keep: Array, rate: float) -> Array:
    """Kept values x·s rounded to x's dtype, dropped ones exactly 0."""
    return np.where(keep, x * x.dtype.type(scale_of(rate)), np.zeros((), x.dtype))


def seeded_dropout(keep_fn: Callable[[int, Array, float], Array]) -> Callable[..., Array]:
    """A correct plain dropout around a keep-mask function keep_fn(seed, x, rate)."""

    def call(x: Array, rate: float, *, training: bool, seed: int) -> Array:
        validate(rate)
        if not training:
            return x.copy()
        if rate == 1.0:
            return np.zeros_like(x)
        return apply(x, keep_fn(seed, x, rate), rate)

    return call


# =============================================================== plain dropout: input structure


def strided_written_in_c_order(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.size) >= rate
    # the kernel walks the input in memory order (fast for any strides) but writes the result
    # into a fresh C-ordered buffer with the same linear index: a permutation for any
    # non-C-contiguous input (a transpose, a Fortran-ordered array, a channels-last view)
    flat = x.ravel(order="K")
    out = np.where(keep, flat * x.dtype.type(scale_of(rate)), np.zeros((), x.dtype))
    return out.reshape(x.shape)


add(
    strided_written_in_c_order,
    "dropout",
    "strided_input_written_in_c_order",
    "stride-dependent layout",
    "structure",
    "reads a non-contiguous input in memory order and writes the result in C order: outputs "
    "land on the wrong positions for transposed or Fortran-ordered inputs",
    ("DROPOUT-VALUES", "DROPOUT-LAYOUT"),
)

BLOCK = 4096
PARALLEL_MIN = 1 << 16


def _blocks_seed_plus_index(seed: int, x: Array, rate: float) -> Array:
    if x.size < PARALLEL_MIN:
        return (np.random.default_rng(seed).random(x.size) >= rate).reshape(x.shape)
    # the parallel path: one generator per 4096-element block, seeded seed + block index, so
    # block b + 1 of seed s is block b of seed s + 1
    n_blocks = -(-x.size // BLOCK)
    u = np.concatenate([np.random.default_rng(seed + b).random(BLOCK) for b in range(n_blocks)])
    return (u[: x.size] >= rate).reshape(x.shape)


add(
    seeded_dropout(_blocks_seed_plus_index),
    "dropout",
    "large_input_blocks_seeded_seed_plus_block",
    "size-threshold parallel path",
    "independence",
    "inputs of 65536 elements or more take a parallel path seeding block b with seed + b: "
    "neighbouring seeds give the same mask shifted by one block",
    ("DROPOUT-INDEPENDENT-SEEDS", "DROPOUT-NO-PERIOD"),
)


def numpy2_scalar_promotion(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    scale = np.float32(1.0 / (1.0 - rate))  # a NumPy scalar: under NEP 50 it promotes
    return np.where(keep, x * scale, 0.0)


add(
    numpy2_scalar_promotion,
    "dropout",
    "float32_scalar_promotes_half_inputs",
    "dtype promotion",
    "dtype",
    "multiplies by a np.float32 scale: NumPy 2 promotes float16 and bfloat16 training outputs "
    "to float32 (and np.where(..., 0.0) keeps that)",
    "DROPOUT-DTYPE",
)


def _seed_via_float(seed: int, x: Array, rate: float) -> Array:
    # the seed passes through a float64 (a JSON config, a Python float() on the way to the
    # kernel): seeds above 2**53 lose their low bits
    return np.random.default_rng(int(float(seed))).random(x.shape) >= rate


add(
    seeded_dropout(_seed_via_float),
    "dropout",
    "seed_rounded_through_float64",
    "seed conversion",
    "independence",
    "the seed is converted to a float64 and back: seeds above 2**53 that differ only in their "
    "low bits give the same mask",
    ("DROPOUT-INDEPENDENT-SEEDS",),
)


def _seed_sign_dropped(seed: int, x: Array, rate: float) -> Array:
    # stored in an int64 field with the sign bit masked off to keep it non-negative
    return np.random.default_rng(seed & (2**63 - 1)).random(x.shape) >= rate


add(
    seeded_dropout(_seed_sign_dropped),
    "dropout",
    "seed_top_bit_masked_off",
    "seed conversion",
    "independence",
    "the seed's bit 63 is masked off (an int64 field kept non-negative): s and s + 2**63 "
    "give the same mask",
    ("DROPOUT-SEED-SPACE", "DROPOUT-INDEPENDENT-SEEDS"),
)

SIMD = 8


def simd_tail_unmasked(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    flat = x.reshape(-1)
    keep = np.random.default_rng(seed).random(flat.size) >= rate
    out = np.where(keep, flat * x.dtype.type(scale_of(rate)), np.zeros((), x.dtype))
    main = flat.size - flat.size % SIMD
    out[main:] = flat[main:]  # the scalar tail loop copies its elements through
    return out.reshape(x.shape)


add(
    simd_tail_unmasked,
    "dropout",
    "vector_tail_copied_through",
    "vectorised tail loop",
    "rate",
    "an 8-wide vector loop masks and scales; the scalar loop over the last size % 8 elements "
    "copies them through unmasked and unscaled",
    ("DROPOUT-VALUES", "DROPOUT-RATE", "DROPOUT-INDEPENDENT-CALLS"),
)

TABLE = 1 << 18


def _table_tiled(seed: int, x: Array, rate: float) -> Array:
    # a precomputed random table of 2**18 uniforms per seed, reused cyclically beyond that
    n = min(x.size, TABLE)
    u = np.random.default_rng(seed).random(n)
    return (np.resize(u, x.size) >= rate).reshape(x.shape)


add(
    seeded_dropout(_table_tiled),
    "dropout",
    "random_table_reused_above_2_18",
    "buffer reuse",
    "independence",
    "draws at most 2**18 uniforms and tiles them: an input larger than that has a mask with "
    "period 2**18",
    ("DROPOUT-NO-PERIOD",),
)


def vector_treated_as_bias(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training or x.ndim == 1:  # a 1-D input is taken for an unbatched bias: passed
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return apply(x, keep, rate)


add(
    vector_treated_as_bias,
    "dropout",
    "one_d_input_passed_through",
    "rank-dependent path",
    "rate",
    "a 1-D input is passed through unchanged in training (taken for an unbatched vector)",
    ("DROPOUT-VALUES", "DROPOUT-RATE"),
)


def zero_d_promoted(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    x = np.atleast_1d(x)  # the kernel wants at least one axis
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return apply(x, keep, rate)


add(
    zero_d_promoted,
    "dropout",
    "zero_d_input_returned_as_1_d",
    "rank-dependent path",
    "structure",
    "a 0-d input comes back with shape (1,) (np.atleast_1d on the way in)",
    "DROPOUT-SHAPE",
)


def flush_subnormals(x: Array, rate: float, *, training: bool, seed: int) -> Array:
    validate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    out = apply(x, keep, rate)
    tiny = np.finfo(x.dtype).tiny if x.dtype.kind == "f" else np.float32(1.17549435e-38)
    out[np.abs(out.astype(np.float64)) < float(tiny)] = 0  # flush-to-zero mode in the kernel
    return out


add(
    flush_subnormals,
    "dropout",
    "subnormal_outputs_flushed",
    "flush to zero",
    "scaling",
    "the training kernel runs with flush-to-zero: kept outputs that are subnormal come out 0",
    ("DROPOUT-UNBIASED", "DROPOUT-MASK-VALUE-FREE"),
)


# ============================================================================= attention dropout


def softmax64(q: Array, k: Array) -> Array:
    logits = q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2)
    logits /= math.sqrt(q.shape[-1])
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    p: Array = e / e.sum(axis=-1, keepdims=True)
    return p


def attention(
    keep_fn: Callable[[np.random.Generator, tuple[int, ...], float], Array] | None = None,
    *,
    post: Callable[[Array, Array, float], Array] | None = None,
    probs: Callable[[Array, Array], Array] = softmax64,
) -> Callable[..., Array]:
    """Attention dropout, correct unless keep_fn (the keep mask, broadcast onto P), post
    (the dropped matrix from P and the mask) or probs (P from q and k) is wrong."""

    def call(q: Array, k: Array, v: Array, rate: float, *, training: bool, seed: int) -> Array:
        validate(rate)
        p = probs(q, k)
        if training:
            rng = np.random.default_rng(seed)
            shape = p.shape
            keep = (rng.random(shape) >= rate) if keep_fn is None else keep_fn(rng, shape, rate)
            keep = np.broadcast_to(keep, shape)
            dropped = (p * keep * scale_of(rate)) if post is None else post(p, keep, rate)
        else:
            dropped = p
        out: Array = (dropped @ v.astype(np.float64)).astype(q.dtype)
        return out

    return call


def _renormalise(p: Array, keep: Array, rate: float) -> Array:
    kept = p * keep
    total = kept.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Array = np.where(total > 0, kept / total, 0.0)
    return out


add(
    attention(post=_renormalise),
    "attention_dropout",
    "kept_probabilities_renormalised",
    "renormalisation after the drop",
    "scaling",
    "after dropping, each row's kept probabilities are renormalised to sum to 1 (what masking "
    "the logits to -inf before the softmax also gives) instead of scaled by 1/(1 - rate)",
    ("ATTN-VALUES", "ATTN-UNBIASED"),
)


def attention_output_dropped(
    q: Array, k: Array, v: Array, rate: float, *, training: bool, seed: int
) -> Array:
    validate(rate)
    out = softmax64(q, k) @ v.astype(np.float64)
    if training:
        keep = np.random.default_rng(seed).random(out.shape) >= rate
        out = out * keep * scale_of(rate)
    result: Array = out.astype(q.dtype)
    return result


add(
    attention_output_dropped,
    "attention_dropout",
    "dropout_on_attention_output",
    "drop site",
    "structure",
    "drops entries of the output P·v instead of attention probabilities (dropout placed "
    "after the attention instead of inside it)",
    ("ATTN-VALUES", "ATTN-VARIANCE"),
)


def _per_query(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    return rng.random((*shape[:3], 1)) >= rate  # one value per query row


def _per_key(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    b, h, _, sk = shape
    return rng.random((b, h, 1, sk)) >= rate  # one value per key column


add(
    attention(_per_query),
    "attention_dropout",
    "one_mask_value_per_query_row",
    "mask granularity",
    "independence",
    "draws one mask value per (example, head, query) and drops whole rows of P",
    "ATTN-INDEPENDENT",
)
add(
    attention(_per_key),
    "attention_dropout",
    "one_mask_value_per_key_column",
    "mask granularity",
    "independence",
    "draws one mask value per (example, head, key): every query drops the same keys",
    "ATTN-INDEPENDENT",
)


def _heads_share_when_large(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> Array:
    b, h, sq, sk = shape
    if b * h >= 8:  # the fused kernel tiles over examples and reuses a tile's mask per head
        return rng.random((b, 1, sq, sk)) >= rate
    return rng.random(shape) >= rate


add(
    attention(_heads_share_when_large),
    "attention_dropout",
    "heads_share_mask_from_8_slices",
    "size-threshold parallel path",
    "independence",
    "from batch·heads >= 8 on, one mask is shared over the heads (undeclared broadcast)",
    "ATTN-INDEPENDENT",
)


def _softmax_in_dtype(q: Array, k: Array) -> Array:
    # no max subtraction, exponentials in the input dtype (float32 for bfloat16)
    work = np.float16 if q.dtype == np.float16 else (np.float64 if q.itemsize == 8 else np.float32)
    logits = (q.astype(work) @ np.swapaxes(k.astype(work), -1, -2)) / work(math.sqrt(q.shape[-1]))
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(logits)
        p = e / e.sum(axis=-1, keepdims=True)
    result: Array = p.astype(np.float64)
    return result


add(
    attention(probs=_softmax_in_dtype),
    "attention_dropout",
    "softmax_without_max_subtraction",
    "numerical stability",
    "dtype",
    "the softmax skips the max subtraction and exponentiates in the input dtype: float16 "
    "logits above ~11 overflow to inf and the row becomes NaN",
    ("ATTN-VALUES", "ATTN-INFERENCE-IDENTITY", "ATTN-RATE-ZERO"),
)


def weights_after_second_draw(
    q: Array, k: Array, v: Array, rate: float, *, training: bool, seed: int
) -> tuple[Array, Array]:
    validate(rate)
    p = softmax64(q, k)
    if not training:
        return (p @ v.astype(np.float64)).astype(q.dtype), p.astype(q.dtype)
    keep = np.random.default_rng(seed).random(p.shape) >= rate
    out = ((p * keep * scale_of(rate)) @ v.astype(np.float64)).astype(q.dtype)
    # the weights come from a second kernel launch whose offset was already advanced
    keep2 = np.random.default_rng(seed + 1).random(p.shape) >= rate
    return out, (p * keep2 * scale_of(rate)).astype(q.dtype)


add(
    weights_after_second_draw,
    "attention_dropout",
    "returned_weights_from_another_draw",
    "returned weights",
    "structure",
    "weights='after', but the returned matrix is P ⊙ M'·s for a second mask M' (drawn by a "
    "second launch), not the one that multiplied v",
    "ATTN-WEIGHTS-AFTER",
    weights="after",
)


def attention_slice_seeds(
    q: Array, k: Array, v: Array, rate: float, *, training: bool, seed: int
) -> Array:
    validate(rate)
    p = softmax64(q, k)
    if training:
        b, h, sq, sk = p.shape
        keep = np.empty(p.shape, bool)
        for i in range(b):
            for j in range(h):  # each (example, head) program seeds its own generator
                keep[i, j] = np.random.default_rng(seed + i * h + j).random((sq, sk)) >= rate
        p = p * keep * scale_of(rate)
    out: Array = (p @ v.astype(np.float64)).astype(q.dtype)
    return out


add(
    attention_slice_seeds,
    "attention_dropout",
    "slice_seeded_seed_plus_slice_index",
    "seed derivation",
    "independence",
    "each (example, head) slice draws from seed + its index: seed s's slice i + 1 is seed "
    "s + 1's slice i, so neighbouring seeds share all but one slice",
    "ATTN-INDEPENDENT",
)
SPEC_GAP["mutant.numpy.attention_dropout.own2.slice_seeded_seed_plus_slice_index"] = (
    "ATTN-INDEPENDENT's text speaks of positions, heads and examples, not of seeds; no "
    "attention clause names neighbouring seeds (ATTN-SEED-PAIRS names s + 2**32 and others)"
)


# ============================================================================= recurrent dropout


def recurrent(
    draw: Callable[..., tuple[Array, Array]] | None = None,
    *,
    step: Callable[..., tuple[Array, Array]] | None = None,
    scales: Callable[[float, float], tuple[float, float]] | None = None,
) -> Callable[..., Array]:
    """The linear RNN cell with input and state dropout (both paths, shared masks, inverted),
    correct unless draw (the two keep masks, (batch, 1, features)), step (one step: returns
    the output h(t) and the state carried on) or scales is wrong."""

    def call(x: Array, rate: float, recurrent_rate: float, *, training: bool, seed: int) -> Array:
        validate(rate)
        validate(recurrent_rate)
        b, t, f = x.shape
        if training:
            if draw is None:
                rng = np.random.default_rng(seed)
                keep_in = rng.random((b, 1, f)) >= rate
                keep_st = rng.random((b, 1, f)) >= recurrent_rate
            else:
                keep_in, keep_st = draw(seed, x.shape, rate, recurrent_rate)
            s_in, s_st = (
                (scale_of(rate), scale_of(recurrent_rate))
                if scales is None
                else scales(rate, recurrent_rate)
            )
        else:
            keep_in = keep_st = np.ones((b, 1, f), bool)
            s_in = s_st = 1.0
        xs = x.astype(np.float64) * keep_in * s_in
        h = np.zeros(x.shape, np.float64)
        prev = np.zeros((b, f), np.float64)
        for i in range(t):
            if step is None:
                prev = h[:, i] = xs[:, i] + prev * keep_st[:, 0] * s_st
            else:
                h[:, i], prev = step(
                    i,
                    x[:, i].astype(np.float64),
                    xs[:, i],
                    prev,
                    keep_in[:, 0],
                    keep_st[:, 0],
                    s_in,
                    s_st,
                )
        out: Array = h.astype(x.dtype)
        return out

    return call


def _mask_cell_output(
    i: int,
    x: Array,
    xs: Array,
    prev: Array,
    keep_in: Array,
    keep_st: Array,
    s_in: float,
    s_st: float,
) -> tuple[Array, Array]:
    h = (xs + prev) * keep_st * s_st  # the state mask applied to the new state, after the add
    return h, h


add(
    recurrent(step=_mask_cell_output),
    "recurrent_dropout",
    "state_mask_on_cell_output",
    "drop site",
    "structure",
    "the recurrent mask multiplies the cell's new state (after the input is added) instead "
    "of h(t-1) entering the cell: the input path is dropped twice",
    "RECUR-VALUES",
)


def _state_mask_over_batch(
    seed: int, shape: tuple[int, ...], rate: float, recurrent_rate: float
) -> tuple[Array, Array]:
    b, _, f = shape
    rng = np.random.default_rng(seed)
    keep_in = rng.random((b, 1, f)) >= rate
    keep_st = np.broadcast_to(rng.random((1, 1, f)) >= recurrent_rate, (b, 1, f))
    return keep_in, keep_st


add(
    recurrent(_state_mask_over_batch),
    "recurrent_dropout",
    "state_mask_shared_over_batch",
    "mask granularity",
    "independence",
    "the recurrent mask is drawn once per feature (shape (1, 1, features), like a kernel "
    "mask) and shared by every example",
    "RECUR-INDEPENDENT",
)


def _one_draw_both_paths(
    seed: int, shape: tuple[int, ...], rate: float, recurrent_rate: float
) -> tuple[Array, Array]:
    b, _, f = shape
    u = np.random.default_rng(seed).random((b, 1, f))  # one uniform per unit, both thresholds
    return u >= rate, u >= recurrent_rate


add(
    recurrent(_one_draw_both_paths),
    "recurrent_dropout",
    "one_uniform_for_both_paths",
    "shared randomness across paths",
    "independence",
    "one uniform per (example, feature) is compared with both rates: a unit whose input is "
    "dropped has its state dropped too whenever recurrent_rate >= rate",
    "RECUR-INDEPENDENT",
)
SPEC_GAP["mutant.numpy.recurrent_dropout.own2.one_uniform_for_both_paths"] = (
    "RECUR-INDEPENDENT's text asks for independence on each path (examples, features, "
    "steps, seeds), not between the input and the state path"
)

add(
    recurrent(scales=lambda r, rr: (scale_of(r), scale_of(r))),
    "recurrent_dropout",
    "state_scaled_by_input_rate",
    "rate of the other path",
    "scaling",
    "the kept state units are scaled by 1/(1 - rate), the input path's scale, instead of "
    "1/(1 - recurrent_rate)",
    "RECUR-VALUES",
)


def _per_example_seed(
    seed: int, shape: tuple[int, ...], rate: float, recurrent_rate: float
) -> tuple[Array, Array]:
    b, _, f = shape
    keep_in = np.empty((b, 1, f), bool)
    keep_st = np.empty((b, 1, f), bool)
    for i in range(b):  # each example (a CUDA block) seeds its own generator with seed + i
        rng = np.random.default_rng(seed + i)
        keep_in[i, 0] = rng.random(f) >= rate
        keep_st[i, 0] = rng.random(f) >= recurrent_rate
    return keep_in, keep_st


add(
    recurrent(_per_example_seed),
    "recurrent_dropout",
    "example_seeded_seed_plus_row",
    "seed derivation",
    "independence",
    "example i draws from seed + i: seed s's example i + 1 has seed s + 1's example i's masks",
    "RECUR-INDEPENDENT",
)


def _output_is_dropped_state(
    i: int,
    x: Array,
    xs: Array,
    prev: Array,
    keep_in: Array,
    keep_st: Array,
    s_in: float,
    s_st: float,
) -> tuple[Array, Array]:
    h = xs + prev * keep_st * s_st
    # the layer returns the state as the next step sees it (dropped and scaled), not h(t)
    return h * keep_st * s_st, h


add(
    recurrent(step=_output_is_dropped_state),
    "recurrent_dropout",
    "returns_dropped_state_sequence",
    "returned quantity",
    "structure",
    "the returned sequence is r ⊙ h(t)·s_h, the state as the next step consumes it, not h(t)",
    "RECUR-VALUES",
)


def unguarded_scales(rate: float, recurrent_rate: float) -> tuple[float, float]:
    with np.errstate(divide="ignore"):
        return float(np.float64(1.0) / np.float64(1.0 - rate)), float(
            np.float64(1.0) / np.float64(1.0 - recurrent_rate)
        )


def _unguarded(x: Array, rate: float, recurrent_rate: float, *, training: bool, seed: int) -> Array:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return recurrent(scales=unguarded_scales)(
            x, rate, recurrent_rate, training=training, seed=seed
        )


add(
    _unguarded,
    "recurrent_dropout",
    "scale_unguarded_at_rate_one",
    "unguarded division",
    "edge",
    "s = 1/(1 - rate) with no case for rate 1: inf times a dropped 0 gives NaN, so rate 1 "
    "(or recurrent_rate 1) yields NaN instead of zeros (or h(t) = x(t))",
    "RECUR-RATE-ONE-ZEROS",
)


def _first_step_unscaled(
    i: int,
    x: Array,
    xs: Array,
    prev: Array,
    keep_in: Array,
    keep_st: Array,
    s_in: float,
    s_st: float,
) -> tuple[Array, Array]:
    # the first step is peeled out of the loop (h(0) = 0) and forgets the scale
    h = x * keep_in if i == 0 else xs + prev * keep_st * s_st
    return h, h


add(
    recurrent(step=_first_step_unscaled),
    "recurrent_dropout",
    "first_step_input_unscaled",
    "peeled first iteration",
    "scaling",
    "the first time step, peeled out of the loop, masks the input but does not scale it",
    "RECUR-VALUES",
)


# ================================================================= stateful calling convention


def _pcg_uniforms(seed: int, offset: int, n: int) -> Array:
    bits = np.random.PCG64(seed)
    bits.advance(offset)  # one 64-bit word per double from Generator.random
    return np.random.Generator(bits).random(n)


def counter_layer(advance: Callable[[int, int, int], int]) -> Callable[..., Any]:
    """A counter-based layer: call uses the stream from the offset, which then moves by
    advance(offset, size, first_size) (correct: offset + size)."""

    def factory(rate: float, *, seed: int) -> Callable[..., Array]:
        validate(rate)
        state = {"offset": 0, "first": 0}

        def layer(x: Array, *, training: bool) -> Array:
            if not training:
                return x.copy()
            if state["first"] == 0:
                state["first"] = x.size
            u = _pcg_uniforms(seed, state["offset"], x.size)
            state["offset"] = advance(state["offset"], x.size, state["first"])
            if rate == 1.0:
                return np.zeros_like(x)
            return apply(x, (u >= rate).reshape(x.shape), rate)

        return layer

    return factory


add_stateful(
    counter_layer(lambda off, n, first: off + 1),
    "dropout",
    "stateful_offset_advances_by_one",
    "state advance amount",
    "independence",
    "the stream offset advances by 1 per call instead of by the elements drawn: each call's "
    "mask is the previous one shifted by one element",
    "DROPOUT-STATE-CALLS",
)
add_stateful(
    counter_layer(lambda off, n, first: off + first),
    "dropout",
    "stateful_offset_advances_by_first_size",
    "state advance amount",
    "independence",
    "the offset advances by the size of the first call's input (cached at build): a later, "
    "larger call overlaps the next call's stream",
    "DROPOUT-STATE-CALLS",
)


def wall_clock_minute_layer(rate: float, *, seed: int) -> Callable[..., Array]:
    validate(rate)
    rng = np.random.default_rng(seed ^ (int(time.time()) // 60))  # "extra entropy"

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        if rate == 1.0:
            return np.zeros_like(x)
        return apply(x, rng.random(x.shape) >= rate, rate)

    return layer


add_stateful(
    wall_clock_minute_layer,
    "dropout",
    "stateful_seed_mixed_with_wall_clock_minute",
    "wall-clock entropy",
    "independence",
    "the generator's seed is XORed with the current minute: reproducible within a minute, "
    "not across one (another process, a later run)",
    ("DROPOUT-STATE-REPRODUCIBLE", "DROPOUT-SEED-PROCESS", "DROPOUT-DETERMINISTIC"),
)


def seed_zero_is_random_layer(rate: float, *, seed: int) -> Callable[..., Array]:
    validate(rate)
    rng = np.random.default_rng(time.time_ns() if seed == 0 else seed)  # 0 means "random"

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        if rate == 1.0:
            return np.zeros_like(x)
        return apply(x, rng.random(x.shape) >= rate, rate)

    return layer


add_stateful(
    seed_zero_is_random_layer,
    "dropout",
    "stateful_seed_zero_reseeds_from_clock",
    "wall-clock entropy",
    "independence",
    "seed 0 means 'seed from the clock' (a framework convention): seed 0 is not reproducible",
    ("DROPOUT-SEED-SPACE", "DROPOUT-DETERMINISTIC"),
)


def wrapping_counter_layer(rate: float, *, seed: int) -> Callable[..., Array]:
    validate(rate)
    state = {"calls": np.uint8(0)}

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        n = int(state["calls"])
        with np.errstate(over="ignore"):
            state["calls"] = np.uint8(state["calls"] + np.uint8(1))  # an 8-bit call counter
        if rate == 1.0:
            return np.zeros_like(x)
        u = np.random.default_rng([seed, n]).random(x.shape)
        return apply(x, u >= rate, rate)

    return layer


add_stateful(
    wrapping_counter_layer,
    "dropout",
    "stateful_call_counter_wraps_at_256",
    "counter wrap",
    "independence",
    "each call's generator is keyed by (seed, an 8-bit call counter): call n + 256 repeats "
    "call n's mask",
    "DROPOUT-STATE-CALLS",
)


def lazy_init_layer(rate: float, *, seed: int) -> Callable[..., Array]:
    validate(rate)
    state: dict[str, Any] = {"rng": None, "calls": 0}

    def layer(x: Array, *, training: bool) -> Array:
        state["calls"] += 1
        if not training:
            return x.copy()
        if state["rng"] is None:  # built on the first training call, keyed by the call count
            state["rng"] = np.random.default_rng([seed, state["calls"]])
        if rate == 1.0:
            return np.zeros_like(x)
        return apply(x, state["rng"].random(x.shape) >= rate, rate)

    return layer


add_stateful(
    lazy_init_layer,
    "dropout",
    "stateful_lazy_generator_keyed_by_call_count",
    "lazy initialisation",
    "independence",
    "the generator is created at the first training call, keyed by how many calls came "
    "before it, inference calls included: inference calls first change every later mask",
    "DROPOUT-STATE-INFERENCE",
)

_SHARED: dict[int, np.random.Generator] = {}


def shared_generator_layer(rate: float, *, seed: int) -> Callable[..., Array]:
    validate(rate)
    rng = _SHARED.setdefault(seed, np.random.default_rng(seed))  # a module-level cache

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        if rate == 1.0:
            return np.zeros_like(x)
        return apply(x, rng.random(x.shape) >= rate, rate)

    return layer


add_stateful(
    shared_generator_layer,
    "dropout",
    "stateful_instances_share_generator_per_seed",
    "global state",
    "independence",
    "instances built with the same seed share one module-level generator: a second instance "
    "continues the first one's stream",
    ("DROPOUT-STATE-REPRODUCIBLE", "DROPOUT-DETERMINISTIC"),
)


def gaussian_half_advance_layer(rate: float, *, seed: int) -> Callable[..., Array]:
    validate(rate)
    std = math.sqrt(rate / (1.0 - rate)) if rate < 1.0 else math.inf
    state = {"offset": 0}

    def layer(x: Array, *, training: bool) -> Array:
        if training and rate == 1.0:
            raise ValueError("rate 1: the noise variance is infinite")
        if not training or rate == 0.0:
            return x.copy()
        u = _pcg_uniforms(seed, state["offset"], x.size)
        state["offset"] += max(1, x.size // 2)  # counts pairs, not values
        z = special.ndtri(np.clip(u, 1e-300, None)).reshape(x.shape)
        wide = np.float64 if x.dtype == np.float64 else np.float32
        out: Array = (x.astype(wide) * (1.0 + std * z).astype(wide)).astype(x.dtype)
        return out

    return layer


add_stateful(
    gaussian_half_advance_layer,
    "gaussian_dropout",
    "stateful_gaussian_offset_advances_half",
    "state advance amount",
    "independence",
    "the noise stream's offset advances by half the values drawn (pairs counted as values): "
    "each call's second half of noise is the next call's first half",
    "GAUSSIAN-STATE-CALLS",
)


MUTANTS: tuple[Mutant, ...] = tuple(M)
