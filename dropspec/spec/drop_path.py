"""drop_path (stochastic depth): one mask value per example, shared over all other axes."""

from __future__ import annotations

from ._common import MUST, STRUCTURAL, basic, clause
from ._model import Clause, Op
from ._options import MASKING, SCALING
from ._options import rate_one as rate_one_option
from .dropout import masked_clauses

P, OP = "DROPPATH", "drop_path"

CLAUSES: tuple[Clause, ...] = (
    *basic(P, OP),
    *masked_clauses(
        P,
        OP,
        independence_text="The mask values of different examples (along axis 0) are independent.",
    ),
    clause(
        P,
        OP,
        "PER-EXAMPLE",
        MUST,
        STRUCTURAL,
        "Each example (a slice along axis 0) is dropped or kept as a whole: the mask is "
        "constant over every other axis.",
        rationale="This is what separates drop path from dropout; efficientnet_pytorch "
        "calls it drop_connect, which it is not.",
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
    options=(SCALING, MASKING, rate_one_option("zeros")),
    clauses=CLAUSES,
)
