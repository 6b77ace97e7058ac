"""Options shared by several ops."""

from __future__ import annotations

from typing import Any

from ._model import Option


def _axes(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, int):
        value = (value,)
    try:
        axes = tuple(value)
    except TypeError:
        raise ValueError(f"shared_axes must be a tuple of ints, got {value!r}") from None
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"shared_axes must be a tuple of ints, got {value!r}")
    if len(set(axes)) != len(axes):
        raise ValueError(f"shared_axes has a repeated axis: {value!r}")
    return axes


def _rank(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"rank must be a positive int or None, got {value!r}")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"samples must be a positive int, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected True or False, got {value!r}")
    return value


SCALING = Option(
    "scaling",
    "inverted",
    "'inverted': kept values are scaled by 1/(1 - rate) in training and inference is the "
    "identity; 'classic': no scaling in training, inference multiplies by 1 - rate "
    "(Srivastava et al. 2014).",
    choices=("inverted", "classic"),
)
SHARED_AXES = Option(
    "shared_axes",
    (),
    "Axes along which one mask value is shared (covers Dropout1d/2d/3d, SpatialDropout, "
    "noise_shape and broadcast_dims). Negative axes count from the end.",
    validate=_axes,
)
RANK = Option(
    "rank",
    None,
    "The number of dimensions the target accepts, or None for any rank of at least 1.",
    validate=_rank,
)
MASKING = Option(
    "masking",
    "select",
    "'select': dropped outputs are exactly 0 whatever the input holds; 'multiply': the output is "
    "x * mask * scale, so a dropped NaN or infinity gives NaN.",
    choices=("select", "multiply"),
)


def rate_one(default: str) -> Option:
    return Option(
        "rate_one",
        default,
        "What training mode does at rate 1: 'zeros' (every output is 0) or 'error' (the call "
        "raises).",
        choices=("zeros", "error"),
    )


MASKS = Option(
    "masks",
    "per_example",
    "'per_example': a fresh weight mask for every example in the batch (Wan et al. 2013); "
    "'per_batch': one weight mask per call, shared by the whole batch (weight drop).",
    choices=("per_example", "per_batch"),
)
MASK_BIAS = Option(
    "mask_bias",
    True,
    "Whether the bias is masked along with the weights (the paper masks it; weight drop does not).",
    validate=_bool,
)
INFERENCE = Option(
    "inference",
    "mean",
    "'mean': inference uses the expected weights (W for inverted scaling, (1 - rate) W for "
    "classic); 'moment_matching': the paper's rule, a Gaussian matched to the mean and variance "
    "of the pre-activation, with the activation averaged over `samples` draws.",
    choices=("mean", "moment_matching"),
)
ACTIVATION = Option(
    "activation",
    "identity",
    "The activation applied to the layer's pre-activation, in training and inference.",
    choices=("identity", "relu"),
)
SAMPLES = Option(
    "samples",
    1000,
    "Z, the number of Gaussian draws averaged by moment-matching inference (the paper uses 1000).",
    validate=_positive_int,
)

CALLS = Option(
    "calls",
    "seeded",
    "How the target is called. 'seeded': fn(x, rate, *, training, seed), a pure function of "
    "an explicit seed. 'stateful': a layer that owns its random state "
    "(dropspec.stateful_target): factory(rate, *, seed) builds it once and layer(x, *, "
    "training) is called repeatedly without a seed, as a training loop calls it; the suite "
    "checks the seeded convention through factory(rate, seed=seed)(x, training=training) and "
    "the state clauses on repeated calls. Set by the declaration, never by hand.",
    choices=("seeded", "stateful"),
)
