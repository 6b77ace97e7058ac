"""alpha_dropout: dropout for SELU networks that keeps mean 0 and variance 1."""

from __future__ import annotations

from ._common import (
    EXACT,
    MUST,
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
from ._options import CALLS, RANK, SHARED_AXES
from ._options import rate_one as rate_one_option

OP = "alpha_dropout"

CLAUSES: tuple[Clause, ...] = (
    *basic(
        OP,
        shape="ALPHA-SHAPE",
        dtype="ALPHA-DTYPE",
        deterministic="ALPHA-DETERMINISTIC",
        independent_seeds="ALPHA-INDEPENDENT-SEEDS",
        rate_invalid="ALPHA-RATE-INVALID",
    ),
    clause(
        "ALPHA-INFERENCE-IDENTITY",
        OP,
        MUST,
        EXACT,
        "With training=False the output equals the input exactly.",
    ),
    clause(
        "ALPHA-VALUES",
        OP,
        MUST,
        EXACT,
        "In training every output is a·x + b where the unit is kept and a·α′ + b where it is "
        "dropped, with α′ = −λα, a = ((1 − rate)(1 + rate·α′²))^(−1/2) and b = −a·rate·α′, "
        "to within the rounding of the data dtype.",
        rationale="Setting dropped units to 0 instead of α′ breaks self-normalisation; "
        "see Klambauer et al. 2017.",
    ),
    clause(
        "ALPHA-RATE",
        OP,
        MUST,
        STATISTICAL,
        "In training each unit (each group, where axes are shared) is dropped with "
        "probability rate, in every dtype.",
    ),
    clause(
        "ALPHA-MEAN",
        OP,
        MUST,
        STATISTICAL,
        "For standard-normal input the training output has mean 0, in every dtype (in a "
        "narrow dtype, up to what rounding the affine constants to it can move).",
    ),
    clause(
        "ALPHA-VARIANCE",
        OP,
        MUST,
        STATISTICAL,
        "For standard-normal input the training output has variance 1, in every dtype (in "
        "a narrow dtype, up to what rounding the affine constants to it can move).",
    ),
    clause(
        "ALPHA-INDEPENDENT-AXES",
        OP,
        MUST,
        STATISTICAL,
        "Along every axis that is not shared, mask values at offsets 1 to 4 (k = 4, pairs "
        "starting at both phases) are independent.",
    ),
    clause(
        "ALPHA-SHARED-CONSTANT",
        OP,
        MUST,
        STRUCTURAL,
        "The mask is constant along every shared axis (feature alpha dropout).",
        when_not_empty=("shared_axes",),
    ),
    clause("ALPHA-RATE-ZERO", OP, MUST, EXACT, "At rate 0 the training output equals the input."),
    clause(
        "ALPHA-GRADIENT",
        OP,
        MUST,
        EXACT,
        "The gradient of the training output with respect to x is a times the forward "
        "pass's own mask.",
    ),
    *rate_one(
        OP,
        "At rate 1 every training output is 0 (for finite input).",
        zeros="ALPHA-RATE-ONE-ZEROS",
        error="ALPHA-RATE-ONE-ERROR",
    ),
    *relations(
        OP,
        value_free="ALPHA-MASK-VALUE-FREE",
        fresh_output="ALPHA-FRESH-OUTPUT",
        rate_invalid_inference="ALPHA-RATE-INVALID-INFERENCE",
        seed_process="ALPHA-SEED-PROCESS",
        seed_space="ALPHA-SEED-SPACE",
        seed_pairs="ALPHA-SEED-PAIRS",
    ),
    layout(OP, "ALPHA-LAYOUT"),
    *state(
        OP,
        calls="ALPHA-STATE-CALLS",
        reproducible="ALPHA-STATE-REPRODUCIBLE",
        inference="ALPHA-STATE-INFERENCE",
        gradient="ALPHA-STATE-GRADIENT",
        streams="ALPHA-STATE-STREAMS",
    ),
)

OP_SPEC = Op(
    name=OP,
    title="Alpha dropout",
    summary="Dropped units are set to SELU's negative saturation α′ = −λα and an affine map "
    "a·x + b restores mean 0 and variance 1 (Klambauer et al. 2017).",
    signature="fn(x, rate, *, training, seed) -> y",
    positional=("x", "rate"),
    options=(SHARED_AXES, RANK, rate_one_option("error"), CALLS),
    clauses=CLAUSES,
    order=20,
)
