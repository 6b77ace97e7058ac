"""Reference recurrent dropout: masks on x(t) and on h(t−1) inside a linear simple RNN cell."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..target import Target, make_target
from ._random import Seed, bernoulli, generator
from ._validation import SpecError, check_array, check_rate
from .dropout import scale_for

#: The paths each ``paths`` declaration drops.
PATH_INPUT, PATH_STATE = ("input", "both"), ("recurrent", "both")


def mask_shape(x_shape: tuple[int, ...], sharing: str) -> tuple[int, ...]:
    """The shape of one path's keep mask for x (batch, time, features): time of length 1
    when shared over the sequence."""
    b, t, f = x_shape
    return (b, 1 if sharing == "shared" else t, f)


def _draw(
    rng: np.random.Generator, x_shape: tuple[int, ...], rate: float, sharing: str
) -> np.ndarray:
    keep = bernoulli(rng, mask_shape(x_shape, sharing), 1.0 - rate)
    return np.broadcast_to(keep, x_shape)


def _check_path_rate(rate: Any, path: str, dropped: bool) -> float:
    value = check_rate(rate)
    if value and not dropped:
        raise SpecError(f"this layer does not drop its {path} path; its rate must be 0")
    return value


def recurrent_dropout(
    x: np.ndarray,
    rate: float,
    recurrent_rate: float = 0.0,
    *,
    training: bool = True,
    seed: Seed = None,
    scaling: str = "inverted",
    paths: str = "both",
    input_mask: str = "shared",
    state_mask: str = "shared",
    rate_one: str = "zeros",
    return_mask: bool = False,
) -> Any:
    """States of a linear simple RNN cell (identity kernels, zero biases) with dropout on its
    input and on its recurrent state: h(t) = s·(m(t) ⊙ x(t)) + s_h·(r(t) ⊙ h(t−1)), h(0) = 0.

    Parameters
    ----------
    x : numpy.ndarray
        The sequence, of shape (batch, time, features) and a float dtype.
    rate, recurrent_rate : float
        The probability of dropping each unit of x(t), and of h(t−1), in [0, 1].
    training : bool
        False drops nothing (each path times 1 - its rate under classic scaling).
    seed : int or numpy.random.Generator
        Where the masks come from: the input mask is drawn first, then the state mask.
    scaling, paths, input_mask, state_mask, rate_one
        The options of the spec (``dropspec explain recurrent_dropout``).
    return_mask : bool
        Also return the keep masks of the input and of the state, each of x's shape (None
        where nothing was drawn).

    Returns
    -------
    The states h of x's shape and dtype; with ``return_mask``, ``(h, masks)``, masks a dict of
    the keep masks by path, ``"input"`` and ``"state"`` (None for a path not dropped).
    """
    x = check_array(x)
    if x.ndim != 3:
        raise SpecError(f"x must have shape (batch, time, features), got {x.shape}")
    rate = _check_path_rate(rate, "input", paths in PATH_INPUT)
    recurrent_rate = _check_path_rate(recurrent_rate, "recurrent", paths in PATH_STATE)
    keep_in = keep_state = None
    if training:
        if 1.0 in (rate, recurrent_rate) and rate_one == "error":
            raise SpecError("rate 1 drops every unit and is rejected (rate_one='error')")
        rng = generator(seed)
        if paths in PATH_INPUT:
            keep_in = _draw(rng, x.shape, rate, input_mask)
        if paths in PATH_STATE:
            keep_state = _draw(rng, x.shape, recurrent_rate, state_mask)
        s_in, s_state = scale_for(rate, scaling), scale_for(recurrent_rate, scaling)
    elif scaling == "classic":
        s_in, s_state = 1.0 - rate, 1.0 - recurrent_rate
    else:
        s_in = s_state = 1.0
    xs = x.astype(np.float64) * s_in
    if keep_in is not None:
        xs = xs * keep_in
    h = np.zeros(x.shape, np.float64)
    prev = np.zeros((x.shape[0], x.shape[2]), np.float64)
    for t in range(x.shape[1]):
        state = prev * s_state
        if keep_state is not None:
            state = state * keep_state[:, t]
        prev = h[:, t] = xs[:, t] + state
    out = h.astype(x.dtype)
    return (out, {"input": keep_in, "state": keep_state}) if return_mask else out


#: The small call of the test vectors (dropspec.reference.vectors): (batch, time, features),
#: both rates the vector's rate.
VECTOR_SHAPES: dict[str, tuple[int, ...]] = {"x": (2, 3, 2)}
VECTOR_CASES: dict[str, tuple[dict[str, Any], ...]] = {
    "INPUT-SHARED": (
        {"options": {"paths": "both"}, "note": "the input mask is the same at every step"},
    ),
    "STATE-SHARED": (
        {"options": {"paths": "both"}, "note": "the state mask is the same at every step"},
    ),
}


def _target(**options: Any) -> Any:
    def fn(x: np.ndarray, rate: float, recurrent_rate: float, *, training: bool, seed: int) -> Any:
        return recurrent_dropout(x, rate, recurrent_rate, training=training, seed=seed, **options)

    return fn


#: The built-in reference targets: variational dropout on both paths (Keras's declaration),
#: and fresh masks at every step on both paths.
TARGETS: tuple[Target, ...] = (
    make_target(
        _target(),
        "recurrent_dropout",
        name="reference.recurrent_dropout",
        description="dropspec.reference.recurrent_dropout (both paths, masks shared over time)",
    ),
    make_target(
        _target(input_mask="per_step", state_mask="per_step"),
        "recurrent_dropout",
        name="reference.recurrent_dropout.per_step",
        input_mask="per_step",
        state_mask="per_step",
        description="dropspec.reference.recurrent_dropout(input_mask='per_step', "
        "state_mask='per_step')",
    ),
)
