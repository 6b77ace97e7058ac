"""recurrent_dropout: Bernoulli masks on a recurrent layer's input x(t) and on its state h(t−1).

The target is a recurrent layer built with weights that make its masks readable: a linear
simple RNN cell with identity input and recurrent kernels and zero biases, so that for x of
shape (batch, time, features) it returns the states h of the same shape with

    h(t) = s·(m(t) ⊙ x(t)) + s_h·(r(t) ⊙ h(t−1)),    h(0) = 0,

m the input mask (rate ``rate``), r the state mask (rate ``recurrent_rate``), s and s_h their
scales. A gated cell (GRU, LSTM) is brought to the same form by its gate weights. Each mask is
declared shared over time (variational dropout, Gal & Ghahramani 2016, arXiv:1512.05287) or
fresh at every step.

The input path alone, with its mask shared over time, is plain dropout of the sequence x with
the time axis shared (op ``dropout``, ``shared_axes=(1,)``): its dropout clauses apply to it
as they are. What this op adds is the state path, the mask on h(t−1) inside the cell, which no
dropout of the layer's input or output can express, and the declared sharing over time.
"""

from __future__ import annotations

from ._common import ERROR, EXACT, MUST, STATISTICAL, STRUCTURAL, clause, rate_one
from ._model import Clause, Op, Option
from ._options import SCALING
from ._options import rate_one as rate_one_option

OP = "recurrent_dropout"

PATHS = Option(
    "paths",
    "both",
    "Which paths the target drops: 'input' (x(t) only: the recurrent rate is always 0, e.g. "
    "the dropout between stacked layers of torch.nn.RNN), 'recurrent' (h(t−1) only: the input "
    "rate is always 0) or 'both'. The checks pass a nonzero rate only to a declared path.",
    choices=("both", "input", "recurrent"),
)
INPUT_MASK = Option(
    "input_mask",
    "shared",
    "The input mask m over time: 'shared' (one mask for the whole sequence, variational "
    "dropout, Keras) or 'per_step' (a fresh mask at every step, torch's dropout between layers).",
    choices=("shared", "per_step"),
)
STATE_MASK = Option(
    "state_mask",
    "shared",
    "The state mask r over time: 'shared' (one mask for the whole sequence, Gal & Ghahramani "
    "2016, Keras) or 'per_step' (a fresh mask at every step).",
    choices=("shared", "per_step"),
)

_INPUT = ("input", "both")
_STATE = ("recurrent", "both")

CLAUSES: tuple[Clause, ...] = (
    clause(
        "RECUR-SHAPE",
        OP,
        MUST,
        EXACT,
        "For x of shape (batch, time, features) the output is the sequence of states, of the "
        "same shape, in training and in inference.",
    ),
    clause(
        "RECUR-DTYPE",
        OP,
        MUST,
        EXACT,
        "The output has the input's floating-point dtype, in training and in inference.",
    ),
    clause(
        "RECUR-DETERMINISTIC",
        OP,
        MUST,
        EXACT,
        "Two training calls with the same input, rates and seed return the same output.",
    ),
    clause(
        "RECUR-RATE-INVALID",
        OP,
        MUST,
        ERROR,
        "On each path the target drops, a rate below 0, above 1, or NaN is rejected with an error.",
    ),
    clause(
        "RECUR-VALUES",
        OP,
        MUST,
        EXACT,
        "In training each state is h(t) = s·(m(t) ⊙ x(t)) + s_h·(r(t) ⊙ h(t−1)) for 0/1 masks "
        "m and r, with s = 1/(1 − rate) and s_h = 1/(1 − recurrent_rate) (inverted) or 1 "
        "(classic), to within rounding.",
        rationale="Dropping the output h(t) instead of h(t−1) inside the cell, or scaling a "
        "path by the other path's rate, drops at the right rates; only the values tell.",
    ),
    clause(
        "RECUR-INPUT-RATE",
        OP,
        MUST,
        STATISTICAL,
        "In training each input unit x(t)_j is dropped with probability rate.",
        paths=_INPUT,
    ),
    clause(
        "RECUR-STATE-RATE",
        OP,
        MUST,
        STATISTICAL,
        "In training each state unit h(t−1)_j entering the cell is dropped with probability "
        "recurrent_rate.",
        paths=_STATE,
    ),
    clause(
        "RECUR-INPUT-SHARED",
        OP,
        MUST,
        STRUCTURAL,
        "A target declaring input_mask='shared' drops the same input units at every step of "
        "a sequence: m(t) = m(1) for every t.",
        paths=_INPUT,
        input_mask=("shared",),
    ),
    clause(
        "RECUR-STATE-SHARED",
        OP,
        MUST,
        STRUCTURAL,
        "A target declaring state_mask='shared' drops the same state units at every step of "
        "a sequence: r(t) = r(2) for every t ≥ 2.",
        paths=_STATE,
        state_mask=("shared",),
        rationale="Gal & Ghahramani's variational dropout: one mask per sequence is what "
        "makes dropout on the state an approximate Bayesian posterior; a mask redrawn per "
        "step drops at the same rate and is another method.",
    ),
    clause(
        "RECUR-INDEPENDENT",
        OP,
        MUST,
        STATISTICAL,
        "On each path the target drops, the mask values of different examples and features "
        "are independent, and so are the masks of calls with different seeds (neighbouring "
        "seeds included), and on a path declared 'per_step' those of different steps.",
    ),
    clause(
        "RECUR-PATHS-INDEPENDENT",
        OP,
        MUST,
        STATISTICAL,
        "A target dropping both paths draws the state mask independently of the input mask: "
        "whatever the input mask holds, at the same unit or at a neighbouring feature or "
        "example, each state unit h(t−1)_j is dropped with probability recurrent_rate.",
        paths=("both",),
        rationale="Each path's mask can be right on its own while the two are one draw: a "
        "state mask made from the input mask's random numbers (the same generator state, or "
        "one buffer sliced for both paths) drops at the right rates and shares nothing over "
        "time that it should not, yet the two paths then drop together.",
    ),
    clause(
        "RECUR-INFERENCE-IDENTITY",
        OP,
        MUST,
        EXACT,
        "With training=False nothing is dropped: h(t) = x(t) + h(t−1) under inverted "
        "scaling, (1 − rate)·x(t) + (1 − recurrent_rate)·h(t−1) under classic, to within "
        "rounding, whatever the seed.",
    ),
    clause(
        "RECUR-RATE-ZERO",
        OP,
        MUST,
        EXACT,
        "With both rates 0 the training output is h(t) = x(t) + h(t−1), to within rounding.",
    ),
    *rate_one(
        OP,
        "At rate 1 on a path every unit of that path is dropped: with rate 1 the output is "
        "all zeros, and with recurrent_rate 1 (rate 0) the output is h(t) = x(t).",
        zeros="RECUR-RATE-ONE-ZEROS",
        error="RECUR-RATE-ONE-ERROR",
    ),
)

OP_SPEC = Op(
    name=OP,
    title="Recurrent dropout",
    summary="Dropout inside a recurrent layer: each unit of the input x(t) is dropped with "
    "probability rate and each unit of the state h(t−1) entering the cell with probability "
    "recurrent_rate, kept ones scaled by 1/(1 - rate); each mask shared over the whole "
    "sequence (variational, Gal & Ghahramani 2016) or fresh per step, as declared. The target "
    "is a linear simple RNN cell with identity kernels and zero biases, x of shape "
    "(batch, time, features).",
    signature="fn(x, rate, recurrent_rate, *, training, seed) -> h",
    positional=("x", "rate", "recurrent_rate"),
    options=(SCALING, PATHS, INPUT_MASK, STATE_MASK, rate_one_option("zeros")),
    clauses=CLAUSES,
    order=70,
)
