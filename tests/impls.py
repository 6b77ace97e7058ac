"""Implementations the project's tests run the suite against.

``CORRECT``: a second, independent NumPy implementation of every op (float draws instead of
the reference's raw words, different code paths), which the suite must pass over many seeds.
The wrong implementations that used to live here (``WRONG``) are part of the mutation corpus:
``tests/mutants/core_mutants.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dropspec.reference import ALPHA_PRIME, alpha_constants
from dropspec.target import Target, make_target

# ---------------------------------------------------------------- correct, independent ----


def _keep(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> np.ndarray:
    return rng.random(shape, dtype=np.float64) >= rate


def _mask_shape(shape: tuple[int, ...], shared: tuple[int, ...]) -> tuple[int, ...]:
    nd = len(shape)
    axes = {a % nd for a in shared}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _check_rate(rate: float) -> None:
    if not (0.0 <= rate <= 1.0):  # also false for NaN
        raise ValueError(f"rate must be in [0, 1], got {rate}")


def alt_dropout(
    x: np.ndarray,
    rate: float,
    *,
    training: bool,
    seed: int,
    shared_axes: tuple[int, ...] = (),
    scaling: str = "inverted",
) -> np.ndarray:
    _check_rate(rate)
    if not training:
        return x.copy() if scaling == "inverted" else (x * x.dtype.type(1 - rate))
    if rate == 1.0:
        return np.zeros_like(x)
    keep = _keep(
        np.random.Generator(np.random.Philox(seed)), _mask_shape(x.shape, shared_axes), rate
    )
    factor = 1.0 / (1.0 - rate) if scaling == "inverted" else 1.0
    out = (x.astype(np.float64) * factor).astype(x.dtype)
    return np.where(keep, out, np.zeros((), x.dtype))


def alt_alpha(
    x: np.ndarray, rate: float, *, training: bool, seed: int, shared_axes: tuple[int, ...] = ()
) -> np.ndarray:
    _check_rate(rate)
    if rate == 1.0 and training:
        raise ValueError("alpha dropout at rate 1 has no affine correction")
    if not training or rate == 0.0:
        return x.copy()
    keep = _keep(
        np.random.Generator(np.random.Philox(seed)), _mask_shape(x.shape, shared_axes), rate
    )
    a, b = alpha_constants(rate)
    y = np.where(keep, x.astype(np.float64), ALPHA_PRIME) * a + b
    return y.astype(x.dtype)


def alt_gaussian(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    _check_rate(rate)
    if rate == 1.0 and training:
        raise ValueError("rate 1 gives infinite noise variance")
    if not training or rate == 0.0:
        return x.copy()
    rng = np.random.Generator(np.random.Philox(seed))
    # Box–Muller from uniforms: a different route to the normal draws than the reference's.
    n = x.size
    u1 = 1.0 - rng.random((n + 1) // 2)
    u2 = rng.random((n + 1) // 2)
    r = np.sqrt(-2.0 * np.log(u1))
    z = np.concatenate([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)])[:n]
    noise = 1.0 + math.sqrt(rate / (1.0 - rate)) * z.reshape(x.shape)
    return (x.astype(np.float64) * noise).astype(x.dtype)


def alt_drop_path(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    _check_rate(rate)
    if not training:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = _keep(np.random.Generator(np.random.Philox(seed)), (x.shape[0],), rate)
    keep = keep.reshape((-1,) + (1,) * (x.ndim - 1))
    return np.where(
        keep, (x.astype(np.float64) / (1.0 - rate)).astype(x.dtype), np.zeros((), x.dtype)
    )


def alt_dropconnect(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    rate: float,
    *,
    training: bool,
    seed: int,
    per_example: bool = True,
) -> np.ndarray:
    _check_rate(rate)
    if w.shape[1] != x.shape[1] or b.shape != (w.shape[0],):
        raise ValueError(f"shapes x {x.shape}, weight {w.shape}, bias {b.shape} do not fit")
    xd, wd, bd = (a.astype(np.float64) for a in (x, w, b))
    if not training:
        return (xd @ wd.T + bd).astype(x.dtype)
    if rate == 1.0:
        return np.broadcast_to(bd, (x.shape[0], w.shape[0])).astype(x.dtype)
    rng = np.random.Generator(np.random.Philox(seed))
    s = 1.0 / (1.0 - rate)
    if per_example:
        out = np.empty((x.shape[0], w.shape[0]))
        for i in range(x.shape[0]):
            m = _keep(rng, w.shape, rate)
            out[i] = (wd * m) @ xd[i] * s + bd
        return out.astype(x.dtype)
    m = _keep(rng, w.shape, rate)
    return ((xd @ (wd * m).T) * s + bd).astype(x.dtype)


def alt_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rate: float,
    *,
    training: bool,
    seed: int,
    heads_share: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Attention dropout written apart from the reference: logits by einsum, a softmax by
    log-sum-exp, float draws from a Philox generator, the mask applied to each head in turn,
    and the weights returned after dropout."""
    _check_rate(rate)
    if q.ndim != 4 or k.shape[:2] != q.shape[:2] or v.shape[:3] != k.shape[:3]:
        raise ValueError("q, k, v must be (batch, heads, seq, d) with matching sides")
    logits = np.einsum("bhqd,bhkd->bhqk", q.astype(np.float64), k.astype(np.float64))
    logits /= math.sqrt(q.shape[-1])
    lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
    p = np.exp(logits - logits.max(-1, keepdims=True) - lse)
    if training and rate > 0:
        rng = np.random.Generator(np.random.Philox(seed))
        b, h, sq, sk = p.shape
        shared = rng.random((b, sq, sk)) >= rate if heads_share else None
        for head in range(h):
            keep = shared if shared is not None else rng.random((b, sq, sk)) >= rate
            p[:, head] = np.where(keep, p[:, head] / (1.0 - rate), 0.0) if rate < 1 else 0.0
    out = np.einsum("bhqk,bhkv->bhqv", p, v.astype(np.float64))
    return out.astype(q.dtype), p.astype(q.dtype)


def alt_recurrent(
    x: np.ndarray,
    rate: float,
    recurrent_rate: float,
    *,
    training: bool,
    seed: int,
    per_step: bool = False,
) -> np.ndarray:
    """Recurrent dropout written apart from the reference: a cell stepped over time that
    applies its masks with np.where, float draws from a Philox generator (the state mask
    drawn before the input mask), masks drawn lazily at the step that first needs them."""
    _check_rate(rate)
    _check_rate(recurrent_rate)
    if x.ndim != 3:
        raise ValueError("x must be (batch, time, features)")
    rng = np.random.Generator(np.random.Philox(seed))
    b, steps, f = x.shape
    masks: dict[str, np.ndarray] = {}

    def dropped(a: np.ndarray, path: str, r: float) -> np.ndarray:
        if not training or r == 0:
            return a
        if per_step or path not in masks:
            masks[path] = rng.random((b, f)) >= r
        return np.where(masks[path], a / (1.0 - r), 0.0) if r < 1 else np.zeros_like(a)

    h = np.zeros((b, f))
    out = np.empty((b, steps, f))
    for t in range(steps):
        state = dropped(h, "state", recurrent_rate)
        h = dropped(x[:, t].astype(np.float64), "input", rate) + state
        out[:, t] = h
    return out.astype(x.dtype)


def _t(fn: Any, op: str, name: str, **options: Any) -> Target:
    return make_target(fn, op, name=name, **options)


def _partial(fn: Any, **kw: Any) -> Any:
    def call(*args: Any, training: bool, seed: int) -> Any:
        return fn(*args, training=training, seed=seed, **kw)

    return call


CORRECT: tuple[Target, ...] = (
    _t(alt_dropout, "dropout", "alt.dropout"),
    _t(
        _partial(alt_dropout, scaling="classic"),
        "dropout",
        "alt.dropout.classic",
        scaling="classic",
    ),
    _t(
        _partial(alt_dropout, shared_axes=(1,)),
        "dropout",
        "alt.dropout.shared",
        shared_axes=(1,),
        rank=3,
    ),
    _t(alt_alpha, "alpha_dropout", "alt.alpha_dropout", rate_one="error"),
    _t(
        _partial(alt_alpha, shared_axes=(-1,)),
        "alpha_dropout",
        "alt.feature_alpha",
        shared_axes=(-1,),
        rank=3,
    ),
    _t(alt_gaussian, "gaussian_dropout", "alt.gaussian_dropout"),
    _t(alt_drop_path, "drop_path", "alt.drop_path"),
    _t(
        alt_dropconnect,
        "dropconnect",
        "alt.dropconnect",
        masks="per_example",
        mask_bias=False,
        inference="mean",
    ),
    _t(
        _partial(alt_dropconnect, per_example=False),
        "dropconnect",
        "alt.weight_drop",
        masks="per_batch",
        mask_bias=False,
        inference="mean",
    ),
    _t(alt_attention, "attention_dropout", "alt.attention_dropout", weights="after"),
    _t(
        _partial(alt_attention, heads_share=True),
        "attention_dropout",
        "alt.attention_dropout.heads",
        weights="after",
        broadcast=("heads",),
    ),
    _t(alt_recurrent, "recurrent_dropout", "alt.recurrent_dropout"),
    _t(
        _partial(alt_recurrent, per_step=True),
        "recurrent_dropout",
        "alt.recurrent_dropout.per_step",
        input_mask="per_step",
        state_mask="per_step",
    ),
)
