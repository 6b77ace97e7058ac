"""attention_dropout: a Bernoulli mask on the attention probabilities, before they weight V.

The target computes P = softmax(q·kᵀ/√d) over the keys and returns (P ⊙ M · s)·v for a 0/1
mask M of P's shape (batch, heads, seq_q, seq_k) and s the scale; v's rows are the keys'.
"""

from __future__ import annotations

from typing import Any

from ._common import (
    ERROR,
    EXACT,
    MUST,
    SHOULD,
    STATISTICAL,
    STRUCTURAL,
    clause,
    rate_one,
    seed_edges,
)
from ._model import Clause, Op, Option
from ._options import SCALING
from ._options import rate_one as rate_one_option

OP = "attention_dropout"

#: The axes of P a mask may be broadcast over, by name (axis 0 and axis 1 of P).
BROADCAST_AXES = ("batch", "heads")


def _broadcast(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise ValueError(f"broadcast must be a tuple of axis names, got {value!r}") from None
    unknown = [n for n in names if n not in BROADCAST_AXES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(
            f"broadcast must name each of {', '.join(BROADCAST_AXES)} at most once, got {value!r}"
        )
    return tuple(n for n in BROADCAST_AXES if n in names)


BROADCAST = Option(
    "broadcast",
    (),
    "The axes of P one mask value is shared over: () draws a mask value for every (example, "
    "head, query, key); ('batch',), ('heads',) or ('batch', 'heads') share one (query, key) "
    "mask over every example, every head, or both (flax's broadcast_dropout=True).",
    validate=_broadcast,
)
WEIGHTS = Option(
    "weights",
    "none",
    "What the target returns beside the output: 'none' (the output alone); 'before' (a pair "
    "(output, P), the probabilities before dropout); 'after' (a pair (output, P ⊙ M · s), the "
    "matrix that multiplied v).",
    choices=("none", "before", "after"),
)
INFERENCE = Option(
    "inference",
    "identity",
    "'identity': training=False gives plain attention, P·v (times 1 − rate under classic "
    "scaling); 'no_switch': the target has no training switch and drops whenever rate > 0, "
    "so a caller gets plain attention by passing rate 0 (torch's scaled_dot_product_attention).",
    choices=("identity", "no_switch"),
)

CLAUSES: tuple[Clause, ...] = (
    clause(
        "ATTN-SHAPE",
        OP,
        MUST,
        EXACT,
        "For q of shape (batch, heads, seq_q, d), k of shape (batch, heads, seq_k, d) and v of "
        "shape (batch, heads, seq_k, d_v) the output has shape (batch, heads, seq_q, d_v), and "
        "returned weights (batch, heads, seq_q, seq_k), in training and in inference.",
    ),
    clause(
        "ATTN-DTYPE",
        OP,
        MUST,
        EXACT,
        "The output (and returned weights) have the inputs' floating-point dtype, in training "
        "and in inference.",
    ),
    clause(
        "ATTN-DETERMINISTIC",
        OP,
        MUST,
        EXACT,
        "Two training calls with the same inputs, rate and seed return the same output.",
    ),
    clause(
        "ATTN-RATE-INVALID",
        OP,
        MUST,
        ERROR,
        "A rate below 0, above 1, or NaN is rejected with an error.",
    ),
    clause(
        "ATTN-VALUES",
        OP,
        MUST,
        EXACT,
        "In training the output is (P ⊙ M · s)·v for a 0/1 mask M that does not depend on v, "
        "with P = softmax(q·kᵀ/√d) over the keys and s = 1/(1 − rate) (inverted) or 1 "
        "(classic), to within the rounding of a softmax and a matrix product.",
        rationale="Dropout on the logits before the softmax, or on the output after the "
        "product, drops at the right rate and can keep the mean; only the values tell them "
        "from dropout on P.",
    ),
    clause(
        "ATTN-RATE",
        OP,
        MUST,
        STATISTICAL,
        "In training each attention probability is dropped with probability rate.",
    ),
    clause(
        "ATTN-INDEPENDENT",
        OP,
        MUST,
        STATISTICAL,
        "The mask values of different (query, key) positions are independent, and so are "
        "those of different heads and different examples along every axis the target does not "
        "declare broadcast.",
    ),
    clause(
        "ATTN-BROADCAST",
        OP,
        MUST,
        STRUCTURAL,
        "Along every axis declared broadcast (batch, heads) the mask is the same: one (query, "
        "key) mask serves every example or every head.",
        when_not_empty=("broadcast",),
        rationale="A broadcast mask leaves E[out] = P·v but correlates the heads (or examples) "
        "that share it, which a user who reads heads as independent samples must know.",
    ),
    clause(
        "ATTN-UNBIASED",
        OP,
        MUST,
        STATISTICAL,
        "Under inverted scaling the expected training output given q, k and v is P·v "
        "(classic: (1 − rate)·P·v).",
    ),
    clause(
        "ATTN-VARIANCE",
        OP,
        MUST,
        STATISTICAL,
        "Given q, k and v, a training output entry out_ij has variance "
        "s²·rate·(1 − rate)·Σ_k P_ik²·v_kj² (s the scale: 1/(1 − rate) inverted, 1 classic); "
        "along every axis declared broadcast the entries that share a mask covary, and the "
        "sum of out_ij over that axis has variance s²·rate·(1 − rate)·Σ_k (Σ P_ik·v_kj)², "
        "the inner sum over the examples or heads sharing the mask.",
        rationale="Masks with the right rate, mean and neighbour independence can still be "
        "correlated across a row's keys (a mask copied from one half of the row to the "
        "other), which changes the noise a layer adds; and a broadcast mask multiplies the "
        "variance of whatever averages the heads or the batch, by up to their number.",
    ),
    clause(
        "ATTN-INFERENCE-IDENTITY",
        OP,
        MUST,
        EXACT,
        "With training=False the output is P·v under inverted scaling and (1 − rate)·P·v "
        "under classic scaling, to within rounding, whatever the seed.",
        inference=("identity",),
    ),
    clause(
        "ATTN-NO-SWITCH",
        OP,
        MUST,
        EXACT,
        "The target has no training switch: a call with training=False returns what the "
        "same call with training=True returns, so plain attention is the caller's rate 0.",
        inference=("no_switch",),
        rationale="Declared so that it is checked, not excused: a model evaluated through "
        "such a target keeps dropping unless its code passes rate 0 outside training.",
    ),
    clause(
        "ATTN-WEIGHTS-BEFORE",
        OP,
        MUST,
        EXACT,
        "The returned weights are P, the probabilities before dropout, in training and in "
        "inference, to within rounding.",
        weights=("before",),
    ),
    clause(
        "ATTN-WEIGHTS-AFTER",
        OP,
        MUST,
        EXACT,
        "The returned weights are P ⊙ M · s, the matrix that multiplied v in the same call "
        "(P in inference), to within rounding.",
        weights=("after",),
    ),
    clause(
        "ATTN-GRADIENT",
        OP,
        MUST,
        EXACT,
        "The gradient of the training output with respect to v uses the forward pass's own "
        "mask: it is (P ⊙ M · s)ᵀ applied to the output's cotangent.",
    ),
    clause(
        "ATTN-RATE-ZERO",
        OP,
        MUST,
        EXACT,
        "At rate 0 the training output is P·v, to within rounding.",
    ),
    *rate_one(
        OP,
        "At rate 1 every attention probability is dropped: the training output is all zeros.",
        zeros="ATTN-RATE-ONE-ZEROS",
        error="ATTN-RATE-ONE-ERROR",
    ),
    *seed_edges(OP, seed_space="ATTN-SEED-SPACE", seed_pairs="ATTN-SEED-PAIRS"),
    clause(
        "ATTN-INDEPENDENT-SEEDS",
        OP,
        MUST,
        STATISTICAL,
        "Masks drawn with related seeds (s and s + k for k in 1, 2^16, 2^31 and 2^32 − 1, "
        "seeds one bit apart, s and −s, s and a·s + b, seeds with the same XOR of their "
        "32-bit halves, and the XOR of four masks whose seeds XOR to 0) are independent of "
        "each other at every shift, as for DROPOUT-INDEPENDENT-SEEDS.",
        rationale="SEED-SPACE and SEED-PAIRS find equal masks only; a seed taken as an "
        "offset into one stream, or perturbing a few bits of a generator's state, gives "
        "shifted or correlated masks that no exact comparison sees.",
    ),
    clause(
        "ATTN-MASK-VALUE-FREE",
        OP,
        MUST,
        EXACT,
        "Calls with the same seed, shapes, dtype and rate drop the same (example, head, "
        "query, key) positions whatever q, k and v hold (their signs, power-of-two "
        "scalings, permuted values, all ones, and v's columns permuted or scaled).",
        rationale="A mask drawn from the scores (a threshold on P, or bits of the inputs) "
        "passes every check that reads the mask on one kind of input only.",
    ),
    clause(
        "ATTN-FRESH-OUTPUT",
        OP,
        MUST,
        EXACT,
        "A training call returns new arrays, sharing no memory with q, k, v or any array "
        "returned before, and no call changes q, k or v.",
    ),
    clause(
        "ATTN-RATE-INVALID-INFERENCE",
        OP,
        MUST,
        ERROR,
        "A rate below 0, above 1, or NaN is rejected with an error with training=False as "
        "with training=True.",
        rationale="A rate validated only where it is used lets a mistyped hyper-parameter "
        "pass every evaluation run.",
    ),
    clause(
        "ATTN-SEED-PROCESS",
        OP,
        MUST,
        EXACT,
        "A training call with a given seed returns the same output in another Python "
        "process as in this one.",
    ),
    clause(
        "ATTN-LAYOUT",
        OP,
        SHOULD,
        EXACT,
        "For q, k and v in any memory layout the target's arrays can take (Fortran order, "
        "axes permuted in storage, every second element of a larger buffer, negative "
        "strides, broadcast and read-only views), a training call drops the same positions "
        "as for contiguous copies with the same rate and seed, and returns the same output "
        "to within the rounding of a softmax and a matrix product.",
        rationale="A kernel that walks its inputs in storage order misreads transposed or "
        "sliced q, k or v; a mask drawn in storage order is still a mask, so this is a "
        "SHOULD, as DROPOUT-LAYOUT is.",
    ),
)

OP_SPEC = Op(
    name=OP,
    title="Attention dropout",
    summary="Each attention probability P = softmax(q·kᵀ/√d) is dropped with probability rate "
    "before P weights v, kept ones scaled by 1/(1 - rate) (Vaswani et al. 2017); one mask per "
    "(example, head, query, key), or broadcast over examples or heads as declared. q, k and v "
    "have shape (batch, heads, seq, d).",
    signature="fn(q, k, v, rate, *, training, seed) -> out, or (out, weights)",
    positional=("q", "k", "v", "rate"),
    options=(SCALING, BROADCAST, WEIGHTS, INFERENCE, rate_one_option("zeros")),
    clauses=CLAUSES,
    order=60,
)
