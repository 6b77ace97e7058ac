"""dropout: a Bernoulli mask with keep probability 1 - rate, optionally shared along axes."""

from __future__ import annotations

from ._common import (
    EXACT,
    MUST,
    SHOULD,
    STATISTICAL,
    STRUCTURAL,
    basic,
    clause,
    layout,
    rate_one,
    relations,
    state,
)
from ._model import Clause, Op
from ._options import CALLS, MASKING, RANK, SCALING, SHARED_AXES
from ._options import rate_one as rate_one_option

OP = "dropout"


def masked_clauses(
    op: str,
    *,
    independence_text: str,
    inference_identity: str,
    inference_classic: str,
    values: str,
    rate: str,
    unbiased: str,
    variance: str,
    independent_calls: str,
    independent_axes: str,
    rate_zero: str,
    dropped_select: str,
    dropped_multiply: str,
    gradient: str,
    rate_one_zeros: str,
    rate_one_error: str,
) -> list[Clause]:
    """Clauses of every op whose training output is x times a scaled Bernoulli mask.

    The caller names each clause: every keyword but ``independence_text`` is a clause id.
    """
    return [
        clause(
            inference_identity,
            op,
            MUST,
            EXACT,
            "With training=False the output equals the input exactly.",
            scaling=("inverted",),
        ),
        clause(
            inference_classic,
            op,
            MUST,
            EXACT,
            "With training=False the output equals x·(1 − rate), rounded to the data dtype.",
            scaling=("classic",),
        ),
        clause(
            values,
            op,
            MUST,
            EXACT,
            "In training every output is either 0 or x·s, with s = 1/(1 − rate) under inverted "
            "scaling and s = 1 under classic scaling, the product rounded to the data dtype "
            "(computed as x·s, x·fl(s), x/fl(1 − rate) or x·fl(1/fl(1 − rate))).",
            rationale="Frameworks round the scale to the data dtype before multiplying, so "
            "in bfloat16 at rate 0.1 a kept 1 becomes 1.109375, not 1.1111.",
        ),
        clause(
            rate,
            op,
            MUST,
            STATISTICAL,
            "In training each mask value is 0 with probability rate, in every dtype: the "
            "rate is the probability asked for whatever the data dtype.",
        ),
        clause(
            unbiased,
            op,
            MUST,
            STATISTICAL,
            "The expected training output equals the inference output up to the rounding "
            "of the scale: E[y] = (1 − rate)·s_d·x, where s_d is the scale s rounded to the "
            "data dtype as VALUES allows (so E[y] = x under inverted scaling in exact "
            "arithmetic, and (1 − rate)·x under classic scaling), in every dtype.",
            rationale="Scale rounding is the one honest dtype effect: in bfloat16 at rate "
            "0.1 a kept value is multiplied by 1.109375, so E[y] = 0.9984·x.",
        ),
        clause(
            variance,
            op,
            MUST,
            STATISTICAL,
            "The training output's variance is x²·s_d²·rate·(1 − rate), s_d being the scale "
            "rounded to the data dtype (x²·rate/(1 − rate) under inverted scaling in exact "
            "arithmetic), in every dtype.",
        ),
        clause(
            independent_calls,
            op,
            MUST,
            STATISTICAL,
            "Over k calls with different seeds each mask value is dropped a Binomial(k, rate) "
            "number of times, so the masks of different calls are independent.",
        ),
        clause(independent_axes, op, MUST, STATISTICAL, independence_text),
        clause(rate_zero, op, MUST, EXACT, "At rate 0 the training output equals the input."),
        clause(
            dropped_select,
            op,
            SHOULD,
            EXACT,
            "Dropped outputs are exactly 0 even where the input is NaN or infinite: the "
            "unit's output is clamped to zero regardless of its input, while kept NaN and "
            "infinities pass through.",
        ),
        clause(
            dropped_multiply,
            op,
            MUST,
            EXACT,
            "Dropped outputs are x·0: 0 for finite x and NaN for NaN or infinite x, while "
            "kept values are x·s.",
            masking=("multiply",),
        ),
        clause(
            gradient,
            op,
            MUST,
            EXACT,
            "The gradient of the training output with respect to x is the forward pass's own "
            "mask times its scale.",
        ),
        *rate_one(
            op,
            "At rate 1 every training output is 0 (for finite input).",
            zeros=rate_one_zeros,
            error=rate_one_error,
        ),
    ]


CLAUSES: tuple[Clause, ...] = (
    *basic(
        OP,
        shape="DROPOUT-SHAPE",
        dtype="DROPOUT-DTYPE",
        deterministic="DROPOUT-DETERMINISTIC",
        independent_seeds="DROPOUT-INDEPENDENT-SEEDS",
        rate_invalid="DROPOUT-RATE-INVALID",
    ),
    *masked_clauses(
        OP,
        independence_text="Along every axis that is not shared, mask values at offsets 1 to 4 "
        "(k = 4, pairs starting at both phases) are independent.",
        inference_identity="DROPOUT-INFERENCE-IDENTITY",
        inference_classic="DROPOUT-INFERENCE-CLASSIC",
        values="DROPOUT-VALUES",
        rate="DROPOUT-RATE",
        unbiased="DROPOUT-UNBIASED",
        variance="DROPOUT-VARIANCE",
        independent_calls="DROPOUT-INDEPENDENT-CALLS",
        independent_axes="DROPOUT-INDEPENDENT-AXES",
        rate_zero="DROPOUT-RATE-ZERO",
        dropped_select="DROPOUT-DROPPED-SELECT",
        dropped_multiply="DROPOUT-DROPPED-MULTIPLY",
        gradient="DROPOUT-GRADIENT",
        rate_one_zeros="DROPOUT-RATE-ONE-ZEROS",
        rate_one_error="DROPOUT-RATE-ONE-ERROR",
    ),
    clause(
        "DROPOUT-INDEPENDENT-ELEMENTS",
        OP,
        MUST,
        STATISTICAL,
        "Mask values of elements 1 to 4 apart in memory order (groups, where axes are "
        "shared; pairs starting at both phases) are independent.",
    ),
    clause(
        "DROPOUT-NO-PERIOD",
        OP,
        MUST,
        STATISTICAL,
        "The mask has no repeating, mirrored or anti-copied block, within a call or across "
        "calls: at no lag up to half a call does a call's flattened mask agree (or disagree) "
        "with a shifted copy of itself, about no centre with its own reflection, more often "
        "than independent draws would; no block of the stream of consecutive calls' masks "
        "recurs; and no call is periodic with any period up to 2^24, nor starts inside the "
        "mask of a call with the previous seed up to 2^24 values ahead.",
        rationale="A counter-based generator fed a wrapped offset repeats its output, which "
        "moment tests cannot see.",
    ),
    clause(
        "DROPOUT-SHARED-CONSTANT",
        OP,
        MUST,
        STRUCTURAL,
        "The mask is constant along every shared axis: each slice along a shared axis is "
        "dropped or kept as a whole.",
        when_not_empty=("shared_axes",),
    ),
    *relations(
        OP,
        value_free="DROPOUT-MASK-VALUE-FREE",
        fresh_output="DROPOUT-FRESH-OUTPUT",
        rate_invalid_inference="DROPOUT-RATE-INVALID-INFERENCE",
        seed_process="DROPOUT-SEED-PROCESS",
        seed_space="DROPOUT-SEED-SPACE",
        seed_pairs="DROPOUT-SEED-PAIRS",
    ),
    layout(OP, "DROPOUT-LAYOUT"),
    *state(
        OP,
        calls="DROPOUT-STATE-CALLS",
        reproducible="DROPOUT-STATE-REPRODUCIBLE",
        inference="DROPOUT-STATE-INFERENCE",
        gradient="DROPOUT-STATE-GRADIENT",
        streams="DROPOUT-STATE-STREAMS",
    ),
)

OP_SPEC = Op(
    name=OP,
    title="Dropout",
    summary="Each element (or each group of elements sharing a mask value) is dropped with "
    "probability rate, independently; kept elements are scaled so the expected output is "
    "unchanged (Srivastava et al. 2014).",
    signature="fn(x, rate, *, training, seed) -> y",
    positional=("x", "rate"),
    options=(SCALING, SHARED_AXES, RANK, MASKING, rate_one_option("zeros"), CALLS),
    clauses=CLAUSES,
    order=10,
)
