"""Recurrent dropout's mutants whose two paths' masks are right alone and wrong together
(RECUR-PATHS-INDEPENDENT): each path's mask drops at its rate, independently over examples,
features and calls and shared over time as declared, but the state mask is made from the
input mask's random numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Mutant, mutant

Array = np.ndarray


def _validate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")


def paired(
    x: Array,
    rate: float,
    recurrent_rate: float,
    *,
    training: bool,
    seed: int,
    reseeded: bool = False,
    one_buffer: bool = False,
) -> Array:
    """The linear cell h(t) = s·m ⊙ x(t) + s_h·r ⊙ h(t−1), masks shared over time, with the
    state mask drawn from the input mask's random numbers: from a second generator seeded
    with the same seed (``reseeded``), or as the window one feature over of one buffer of
    features + 1 uniforms that also gives the input mask (``one_buffer``)."""
    _validate(rate)
    _validate(recurrent_rate)
    b, steps, f = x.shape
    keep_in = keep_state = np.ones((b, f), bool)
    if training:
        if one_buffer:
            u = np.random.default_rng(seed).random((b, f + 1))
            u_in, u_state = u[:, :f], u[:, 1:]
        else:
            u_in = np.random.default_rng(seed).random((b, f))
            rng = np.random.default_rng(seed) if reseeded else np.random.default_rng([seed, 1])
            u_state = rng.random((b, f))
        keep_in, keep_state = u_in >= rate, u_state >= recurrent_rate
    s_in = 1.0 / (1.0 - rate) if training and rate < 1 else 1.0
    s_state = 1.0 / (1.0 - recurrent_rate) if training and recurrent_rate < 1 else 1.0
    h = np.zeros((b, f))
    out = np.empty((b, steps, f))
    for t in range(steps):
        state = np.where(keep_state, h * s_state, 0.0)
        h = np.where(keep_in, x[:, t].astype(np.float64) * s_in, 0.0) + state
        out[:, t] = h
    return out.astype(x.dtype)


def _add(name: str, description: str, **hooks: Any) -> Mutant:
    def fn(x: Array, rate: float, recurrent_rate: float, *, training: bool, seed: int) -> Array:
        return paired(x, rate, recurrent_rate, training=training, seed=seed, **hooks)

    return mutant(
        fn,
        "recurrent_dropout",
        framework="numpy",
        name=name,
        fault_class="independence",
        description=description,
        clauses="RECUR-PATHS-INDEPENDENT",
    )


MUTANTS: tuple[Mutant, ...] = (
    _add(
        "recurrent_paths_reseeded",
        "seeds a second generator with the same seed for the state mask: at equal rates the "
        "state mask is the input mask",
        reseeded=True,
    ),
    _add(
        "recurrent_paths_one_buffer",
        "slices both masks from one (batch, features + 1) buffer of uniforms: the state mask of "
        "feature j is the input mask's draw of feature j + 1",
        one_buffer=True,
    ),
)
