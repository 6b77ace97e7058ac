"""gaussian_dropout: multiplicative noise N(1, rate/(1 - rate))."""

from __future__ import annotations

from ._common import ERROR, EXACT, MUST, STATISTICAL, basic, clause, layout, relations, state
from ._model import Clause, Op
from ._options import CALLS

OP = "gaussian_dropout"

CLAUSES: tuple[Clause, ...] = (
    *basic(
        OP,
        shape="GAUSSIAN-SHAPE",
        dtype="GAUSSIAN-DTYPE",
        deterministic="GAUSSIAN-DETERMINISTIC",
        independent_seeds="GAUSSIAN-INDEPENDENT-SEEDS",
        rate_invalid="GAUSSIAN-RATE-INVALID",
    ),
    clause(
        "GAUSSIAN-INFERENCE-IDENTITY",
        OP,
        MUST,
        EXACT,
        "With training=False the output equals the input exactly.",
    ),
    clause(
        "GAUSSIAN-MEAN", OP, MUST, STATISTICAL, "The expected training output equals the input."
    ),
    clause(
        "GAUSSIAN-VARIANCE",
        OP,
        MUST,
        STATISTICAL,
        "The training output's variance is x²·rate/(1 − rate), matching Bernoulli dropout "
        "with the same rate.",
    ),
    clause(
        "GAUSSIAN-DISTRIBUTION",
        OP,
        MUST,
        STATISTICAL,
        "The noise y/x is distributed as N(1, rate/(1 − rate)) as a whole, not only in its "
        "first two moments (Kolmogorov–Smirnov): for x = 1, y is that noise rounded to "
        "nearest in the data dtype, in every dtype.",
        rationale="Using rate/(1 − rate) as the standard deviation instead of the variance "
        "keeps the mean right and is invisible to a mean test.",
    ),
    clause(
        "GAUSSIAN-INDEPENDENT-ELEMENTS",
        OP,
        MUST,
        STATISTICAL,
        "The noise values of elements 1 to 4 apart in memory order (pairs starting at "
        "both phases) are independent.",
    ),
    clause(
        "GAUSSIAN-INDEPENDENT-AXES",
        OP,
        MUST,
        STATISTICAL,
        "Along every axis, whether the noise lies above 1 at offsets 1 to 4 (k = 4, pairs "
        "starting at both phases) is independent.",
    ),
    clause(
        "GAUSSIAN-INDEPENDENT-CALLS",
        OP,
        MUST,
        STATISTICAL,
        "Over k calls with different seeds each element's noise lies at or below 1 a "
        "Binomial(k, p) number of times, p being the probability that N(1, rate/(1 − rate)) "
        "rounded to the data dtype is at most 1, so the noise of different calls is "
        "independent.",
    ),
    clause(
        "GAUSSIAN-NO-PERIOD",
        OP,
        MUST,
        STATISTICAL,
        "The noise has no repeating, mirrored or anti-copied block, within a call or across "
        "calls, read as whether each value lies above 1: at no lag up to half a call does a "
        "call agree (or disagree) with a shifted copy of itself, about no centre with its "
        "own reflection, more often than independent draws would; no block of the stream "
        "of consecutive calls recurs; and no call is periodic with any period up to 2^24, "
        "nor starts inside a call with the previous seed up to 2^24 values ahead.",
        rationale="The noise comes from the same generators as dropout masks, with the same "
        "ways to go wrong; its mean and variance cannot see any of them.",
    ),
    clause(
        "GAUSSIAN-RATE-ZERO", OP, MUST, EXACT, "At rate 0 the training output equals the input."
    ),
    clause(
        "GAUSSIAN-RATE-ONE",
        OP,
        MUST,
        ERROR,
        "At rate 1 a training call raises an error, since the noise variance is infinite.",
    ),
    clause(
        "GAUSSIAN-GRADIENT",
        OP,
        MUST,
        EXACT,
        "The gradient of the training output with respect to x is the forward pass's own "
        "noise y/x.",
    ),
    *relations(
        OP,
        value_free="GAUSSIAN-NOISE-VALUE-FREE",
        fresh_output="GAUSSIAN-FRESH-OUTPUT",
        rate_invalid_inference="GAUSSIAN-RATE-INVALID-INFERENCE",
        seed_process="GAUSSIAN-SEED-PROCESS",
        seed_space="GAUSSIAN-SEED-SPACE",
        seed_pairs="GAUSSIAN-SEED-PAIRS",
        noise=True,
    ),
    layout(OP, "GAUSSIAN-LAYOUT"),
    *state(
        OP,
        calls="GAUSSIAN-STATE-CALLS",
        reproducible="GAUSSIAN-STATE-REPRODUCIBLE",
        inference="GAUSSIAN-STATE-INFERENCE",
        gradient="GAUSSIAN-STATE-GRADIENT",
        streams="GAUSSIAN-STATE-STREAMS",
        noise=True,
    ),
)

OP_SPEC = Op(
    name=OP,
    title="Gaussian dropout",
    summary="Each element is multiplied by independent N(1, rate/(1 − rate)) noise, which has "
    "the mean and variance of inverted Bernoulli dropout at the same rate (Srivastava et al. "
    "2014, section 10).",
    signature="fn(x, rate, *, training, seed) -> y",
    positional=("x", "rate"),
    options=(CALLS,),
    clauses=CLAUSES,
    order=30,
)
