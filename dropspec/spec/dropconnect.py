"""dropconnect: a Bernoulli mask on the weights of a dense layer."""

from __future__ import annotations

from ._common import (
    ERROR,
    EXACT,
    MUST,
    STATISTICAL,
    STRUCTURAL,
    basic,
    clause,
    rate_one,
    relations,
    state,
)
from ._model import Clause, Op
from ._options import ACTIVATION, CALLS, INFERENCE, MASK_BIAS, MASKS, SAMPLES, SCALING
from ._options import rate_one as rate_one_option

OP = "dropconnect"

CLAUSES: tuple[Clause, ...] = (
    *basic(
        OP,
        shape="DROPCONNECT-SHAPE",
        dtype="DROPCONNECT-DTYPE",
        deterministic="DROPCONNECT-DETERMINISTIC",
        independent_seeds="DROPCONNECT-INDEPENDENT-SEEDS",
        rate_invalid="DROPCONNECT-RATE-INVALID",
        output="shape (batch, out) for x of shape (batch, in) and weight (out, in)",
    ),
    clause(
        "DROPCONNECT-SHAPE-MISMATCH",
        OP,
        MUST,
        ERROR,
        "A weight whose second dimension differs from x's last dimension, or a bias whose "
        "length differs from the weight's first dimension, is rejected with an error.",
    ),
    clause(
        "DROPCONNECT-VALUES",
        OP,
        MUST,
        EXACT,
        "In training the output is a(s·x·(M ⊙ W)ᵀ + b′) for a 0/1 mask M, with s = 1/(1 − rate) "
        "(inverted) or 1 (classic) and b′ the bias, masked and scaled likewise when the bias "
        "is masked.",
    ),
    clause(
        "DROPCONNECT-RATE",
        OP,
        MUST,
        STATISTICAL,
        "In training each weight of the mask is dropped with probability rate.",
    ),
    clause(
        "DROPCONNECT-UNBIASED",
        OP,
        MUST,
        STATISTICAL,
        "The expected training pre-activation is s·(1 − rate)·(x·Wᵀ + b) with the bias "
        "term scaled only when it is masked, i.e. x·Wᵀ + b under inverted scaling, with s "
        "rounded to the data dtype as VALUES allows. Checked in float32 and float64: in a "
        "half type the rounding of each scaled weight and of the sum is the "
        "implementation's.",
    ),
    clause(
        "DROPCONNECT-PER-CONNECTION",
        OP,
        MUST,
        STATISTICAL,
        "Within one example, the mask values of different connections are independent, "
        "at every distance: neither the connections into one output (a dropped input "
        "unit, or a mask tiled along the inputs) nor those out of one input (a dropped "
        "output unit, or a mask repeating along the outputs) agree more often than "
        "independent draws, and a masked bias is independent of every column.",
        rationale="Dropping input unit j is DropConnect with column j of W masked as a "
        "whole; a per-connection mask is what makes DropConnect more than dropout.",
    ),
    clause(
        "DROPCONNECT-PER-EXAMPLE",
        OP,
        MUST,
        STATISTICAL,
        "Each example in a batch gets its own weight mask: the masks of different examples "
        "are independent.",
        masks=("per_example",),
    ),
    clause(
        "DROPCONNECT-PER-BATCH",
        OP,
        MUST,
        STRUCTURAL,
        "Every example in a call sees the same weight mask.",
        masks=("per_batch",),
    ),
    clause(
        "DROPCONNECT-BIAS-MASKED",
        OP,
        MUST,
        STATISTICAL,
        "Each bias entry is dropped with probability rate, per example under per-example masks.",
        mask_bias=(True,),
    ),
    clause(
        "DROPCONNECT-BIAS-UNMASKED",
        OP,
        MUST,
        EXACT,
        "The bias is added unmasked and unscaled.",
        mask_bias=(False,),
    ),
    clause(
        "DROPCONNECT-INFERENCE-MEAN",
        OP,
        MUST,
        EXACT,
        "With training=False the output is a(x·Wᵀ + b) under inverted scaling and "
        "a((1 − rate)(x·Wᵀ) + b′) under classic scaling, b′ being (1 − rate)·b when the bias "
        "is masked, to within the rounding of a dot product.",
        inference=("mean",),
    ),
    clause(
        "DROPCONNECT-INFERENCE-MM-MEAN",
        OP,
        MUST,
        STATISTICAL,
        "With training=False the output is an unbiased estimate of E[a(u)], u ~ N(μ, σ²), "
        "μ = s·keep·(x·Wᵀ + b̃), σ² = s²·keep·(1 − keep)·((x⊙x)·(W⊙W)ᵀ + b̃²), "
        "where keep = 1 − rate and b̃ is the bias when masked (added to μ unmasked otherwise).",
        inference=("moment_matching",),
    ),
    clause(
        "DROPCONNECT-INFERENCE-MM-SPREAD",
        OP,
        MUST,
        STATISTICAL,
        "With training=False the output averages `samples` independent draws of a(u): its "
        "variance across seeds is Var[a(u)]/samples.",
        inference=("moment_matching",),
    ),
    clause(
        "DROPCONNECT-RATE-ZERO",
        OP,
        MUST,
        EXACT,
        "At rate 0 the training output equals the plain layer a(x·Wᵀ + b), to within the "
        "rounding of a dot product.",
    ),
    clause(
        "DROPCONNECT-GRADIENT",
        OP,
        MUST,
        EXACT,
        "The gradient of the training output with respect to x uses the forward pass's own "
        "masks: it is s·(M ⊙ W)ᵀ applied to the output's cotangent, per example.",
    ),
    *rate_one(
        OP,
        "At rate 1 every weight (and a masked bias) is dropped: the output is "
        "a(b) with an unmasked bias and a(0) with a masked one.",
        zeros="DROPCONNECT-RATE-ONE-ZEROS",
        error="DROPCONNECT-RATE-ONE-ERROR",
    ),
    *relations(
        OP,
        value_free="DROPCONNECT-MASK-VALUE-FREE",
        fresh_output="DROPCONNECT-FRESH-OUTPUT",
        rate_invalid_inference="DROPCONNECT-RATE-INVALID-INFERENCE",
        seed_process="DROPCONNECT-SEED-PROCESS",
        seed_space="DROPCONNECT-SEED-SPACE",
        seed_pairs="DROPCONNECT-SEED-PAIRS",
    ),
    *state(
        OP,
        calls="DROPCONNECT-STATE-CALLS",
        reproducible="DROPCONNECT-STATE-REPRODUCIBLE",
        inference="DROPCONNECT-STATE-INFERENCE",
        gradient="DROPCONNECT-STATE-GRADIENT",
        inference_when={"inference": ("mean",)},
    ),
)

OP_SPEC = Op(
    name=OP,
    title="DropConnect",
    summary="Each weight of a dense layer is dropped with probability rate, with a fresh mask "
    "for every example as in the paper or one mask per call as in weight drop "
    "(Wan et al. 2013; Merity et al. 2017).",
    signature="fn(x, weight, bias, rate, *, training, seed) -> y",
    positional=("x", "weight", "bias", "rate"),
    options=(
        MASKS,
        MASK_BIAS,
        SCALING,
        INFERENCE,
        ACTIVATION,
        SAMPLES,
        rate_one_option("zeros"),
        CALLS,
    ),
    clauses=CLAUSES,
    order=40,
)
