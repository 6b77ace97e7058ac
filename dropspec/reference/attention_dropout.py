"""Reference attention dropout: a Bernoulli mask on softmax(q·kᵀ/√d) before it weights v."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..target import Target, make_target
from ._random import Seed, bernoulli, generator
from ._validation import SpecError, check_array, check_rate
from .dropout import scale_for

#: Axis of P each broadcast name shares the mask over.
BROADCAST_AXIS = {"batch": 0, "heads": 1}


def probabilities(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """P = softmax(q·kᵀ/√d) over the keys, in float64, for q (..., seq_q, d), k (..., seq_k, d)."""
    q64, k64 = q.astype(np.float64), k.astype(np.float64)
    logits = q64 @ np.swapaxes(k64, -1, -2) / math.sqrt(q.shape[-1])
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    p: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return p


def mask_shape(p_shape: tuple[int, ...], broadcast: tuple[str, ...]) -> tuple[int, ...]:
    """The shape of a mask of P's shape with the broadcast axes set to 1."""
    shared = {BROADCAST_AXIS[name] for name in broadcast}
    return tuple(1 if i in shared else n for i, n in enumerate(p_shape))


def _check_inputs(q: Any, k: Any, v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q, k, v = check_array(q, "q"), check_array(k, "k"), check_array(v, "v")
    if not q.ndim == k.ndim == v.ndim == 4:
        raise SpecError("q, k and v must each have shape (batch, heads, seq, d)")
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[3] != k.shape[3]:
        raise SpecError(
            f"q {q.shape}, k {k.shape} and v {v.shape} do not fit: q and k need the same "
            "(batch, heads, d), k and v the same (batch, heads, seq_k)"
        )
    if not q.dtype == k.dtype == v.dtype:
        raise SpecError(f"q, k and v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    return q, k, v


def attention_dropout(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rate: float,
    *,
    training: bool = True,
    seed: Seed = None,
    scaling: str = "inverted",
    broadcast: tuple[str, ...] = (),
    weights: str = "none",
    inference: str = "identity",
    rate_one: str = "zeros",
    return_mask: bool = False,
) -> Any:
    """Attention with dropout on its probabilities: (P ⊙ M · s)·v.

    Parameters
    ----------
    q, k, v : numpy.ndarray
        Queries (batch, heads, seq_q, d), keys (batch, heads, seq_k, d) and values
        (batch, heads, seq_k, d_v), of one float dtype.
    rate : float
        The probability of dropping each attention probability, in [0, 1].
    training : bool
        False gives plain attention P·v (times 1 - rate under classic scaling), unless
        ``inference='no_switch'``, where the flag is ignored.
    seed : int or numpy.random.Generator
        Where the mask comes from.
    scaling, broadcast, weights, inference, rate_one
        The options of the spec (``dropspec explain attention_dropout``).
    return_mask : bool
        Also return the keep mask (of P's shape with broadcast axes of length 1).

    Returns
    -------
    The output, or ``(output, weights)`` when ``weights`` is 'before' or 'after'; with
    ``return_mask``, the keep mask appended (None where nothing was drawn).
    """
    q, k, v = _check_inputs(q, k, v)
    rate = check_rate(rate)
    p = probabilities(q, k)
    keep: np.ndarray | None = None
    if training or inference == "no_switch":
        if rate == 1.0 and rate_one == "error":
            raise SpecError("rate 1 drops every probability and is rejected (rate_one='error')")
        keep = bernoulli(generator(seed), mask_shape(p.shape, broadcast), 1.0 - rate)
        dropped = p * keep * scale_for(rate, scaling)
    else:
        dropped = p * (1.0 - rate if scaling == "classic" else 1.0)
    out = (dropped @ v.astype(np.float64)).astype(q.dtype)
    result: list[Any] = [out]
    if weights != "none":
        result.append((p if weights == "before" else dropped).astype(q.dtype))
    if return_mask:
        result.append(keep)
    return result[0] if len(result) == 1 else tuple(result)


def _target(**options: Any) -> Any:
    def fn(
        q: np.ndarray, k: np.ndarray, v: np.ndarray, rate: float, *, training: bool, seed: int
    ) -> Any:
        return attention_dropout(q, k, v, rate, training=training, seed=seed, **options)

    return fn


#: The built-in reference targets: independent masks returning P; a flax-like declaration
#: (one mask broadcast over batch and heads, weights after dropout); and one with the option
#: values no framework target passes with: no training switch (torch's
#: scaled_dot_product_attention, which fails nothing else of the op, declares it too), rate 1
#: refused, classic scaling and a mask shared over the heads only.
TARGETS: tuple[Target, ...] = (
    make_target(
        _target(weights="before"),
        "attention_dropout",
        name="reference.attention_dropout",
        weights="before",
        description="dropspec.reference.attention_dropout (independent masks, weights before)",
    ),
    make_target(
        _target(broadcast=("batch", "heads"), weights="after"),
        "attention_dropout",
        name="reference.attention_dropout.broadcast",
        broadcast=("batch", "heads"),
        weights="after",
        description="dropspec.reference.attention_dropout(broadcast=('batch', 'heads'), "
        "weights='after')",
    ),
    make_target(
        _target(inference="no_switch", rate_one="error", scaling="classic", broadcast=("heads",)),
        "attention_dropout",
        name="reference.attention_dropout.no_switch",
        inference="no_switch",
        rate_one="error",
        scaling="classic",
        broadcast=("heads",),
        description="dropspec.reference.attention_dropout(inference='no_switch', "
        "rate_one='error', scaling='classic', broadcast=('heads',))",
    ),
)


#: The small call of the test vectors (:mod:`dropspec.reference.vectors`): each input's shape
#: (two examples of one head), and the broadcast axes of the clause that needs some.
VECTOR_SHAPES: dict[str, tuple[int, ...]] = {
    "q": (2, 1, 2, 2),
    "k": (2, 1, 3, 2),
    "v": (2, 1, 3, 2),
}
VECTOR_OPTIONS: dict[str, Any] = {"broadcast": ("batch",)}


def vector_gradient(
    inputs: dict[str, np.ndarray], rate: float, options: dict[str, Any], drawn: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The gradient of sum(out) with respect to v: (P ⊙ M · s)ᵀ applied to a cotangent of
    ones, with the call's own mask (for the test vectors)."""
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    p = probabilities(q, k)
    dropped = p * drawn["mask"] * scale_for(rate, options["scaling"])
    per_key = dropped.sum(axis=-2)[..., None]  # each key's total weight over the queries
    return {"grad_v": np.broadcast_to(per_key, v.shape).astype(v.dtype)}
