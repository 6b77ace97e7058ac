"""drop_path (stochastic depth): one mask value per example, shared over all other axes."""

from __future__ import annotations

from ._common import MUST, STRUCTURAL, basic, clause, layout, relations, state
from ._model import Clause, Op
from ._options import CALLS, MASKING, SCALING
from ._options import rate_one as rate_one_option
from .dropout import masked_clauses

OP = "drop_path"

CLAUSES: tuple[Clause, ...] = (
    *basic(
        OP,
        shape="DROPPATH-SHAPE",
        dtype="DROPPATH-DTYPE",
        deterministic="DROPPATH-DETERMINISTIC",
        independent_seeds="DROPPATH-INDEPENDENT-SEEDS",
        rate_invalid="DROPPATH-RATE-INVALID",
    ),
    *masked_clauses(
        OP,
        independence_text="The mask values of different examples (along axis 0) are independent.",
        inference_identity="DROPPATH-INFERENCE-IDENTITY",
        inference_classic="DROPPATH-INFERENCE-CLASSIC",
        values="DROPPATH-VALUES",
        rate="DROPPATH-RATE",
        unbiased="DROPPATH-UNBIASED",
        variance="DROPPATH-VARIANCE",
        independent_calls="DROPPATH-INDEPENDENT-CALLS",
        independent_axes="DROPPATH-INDEPENDENT-AXES",
        rate_zero="DROPPATH-RATE-ZERO",
        dropped_select="DROPPATH-DROPPED-SELECT",
        dropped_multiply="DROPPATH-DROPPED-MULTIPLY",
        gradient="DROPPATH-GRADIENT",
        rate_one_zeros="DROPPATH-RATE-ONE-ZEROS",
        rate_one_error="DROPPATH-RATE-ONE-ERROR",
    ),
    layout(OP, "DROPPATH-LAYOUT"),
    clause(
        "DROPPATH-PER-EXAMPLE",
        OP,
        MUST,
        STRUCTURAL,
        "Each example (a slice along axis 0) is dropped or kept as a whole: the mask is "
        "constant over every other axis.",
        rationale="This is what separates drop path from dropout; efficientnet_pytorch "
        "calls it drop_connect, which it is not.",
    ),
    *relations(
        OP,
        value_free="DROPPATH-MASK-VALUE-FREE",
        fresh_output="DROPPATH-FRESH-OUTPUT",
        rate_invalid_inference="DROPPATH-RATE-INVALID-INFERENCE",
        seed_process="DROPPATH-SEED-PROCESS",
        seed_space="DROPPATH-SEED-SPACE",
        seed_pairs="DROPPATH-SEED-PAIRS",
    ),
    *state(
        OP,
        calls="DROPPATH-STATE-CALLS",
        reproducible="DROPPATH-STATE-REPRODUCIBLE",
        inference="DROPPATH-STATE-INFERENCE",
        gradient="DROPPATH-STATE-GRADIENT",
        streams="DROPPATH-STATE-STREAMS",
    ),
)

OP_SPEC = Op(
    name=OP,
    title="Drop path (stochastic depth)",
    summary="A residual branch's output is dropped for a whole example with probability rate "
    "and kept ones are scaled by 1/(1 - rate) (Huang et al. 2016, in the per-example, inverted "
    "form popularised by EfficientNet and timm). x has shape (batch, ...).",
    signature="fn(x, rate, *, training, seed) -> y",
    positional=("x", "rate"),
    options=(SCALING, MASKING, rate_one_option("zeros"), CALLS),
    clauses=CLAUSES,
    order=50,
)
