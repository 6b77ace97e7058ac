"""Implementations the project's tests run the suite against.

``CORRECT``: a second, independent NumPy implementation of every op (float draws instead of
the reference's raw words, different code paths), which the suite must pass over many seeds.
``WRONG``: each breaks exactly one rule, paired with the clause that must catch it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import dropspec
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
)

# ---------------------------------------------------------------- wrong ----


@dataclass(frozen=True)
class Wrong:
    """A wrong implementation and the clause that must fail on it."""

    name: str
    target: Target
    clause: str


def _ref(x: np.ndarray, rate: float, seed: int, **kw: Any) -> Any:
    return dropspec.reference.dropout(x, rate, seed=seed, **kw)


def swapped(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    if not training or rate in (0.0, 1.0):
        return alt_dropout(x, rate, training=training, seed=seed)
    keep = _keep(np.random.default_rng(seed), x.shape, 1.0 - rate)  # keeps with prob. rate
    return np.where(keep, x * x.dtype.type(1 / (1 - rate)), np.zeros((), x.dtype))


def no_scaling(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, seed, training=training, scaling="classic") if training else x.copy()


def scale_by_rate(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    if not training or rate in (0.0, 1.0):
        return x.copy() if not training else _ref(x, rate, seed)
    keep = _keep(np.random.default_rng(seed), x.shape, rate)
    return np.where(keep, x * x.dtype.type(1 / rate), np.zeros((), x.dtype))


def scaled_inference(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, seed) if training else x * x.dtype.type(1 - rate)


def ignores_training(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, seed, training=True)


def same_mask(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, 1234, training=training)


def ignores_seed(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, None, training=training)


def rate_plus(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    if not training or rate in (0.0, 1.0):
        return _ref(x, rate, seed, training=training)
    keep = _keep(np.random.default_rng(seed), x.shape, min(rate + 0.01, 1.0))
    return np.where(keep, x * x.dtype.type(1 / (1 - rate)), np.zeros((), x.dtype))


def batch_shared(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, seed, training=training, shared_axes=(0,) if x.ndim > 1 else ())


def period_1024(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    if not training or rate in (0.0, 1.0):
        return _ref(x, rate, seed, training=training)
    block = _keep(np.random.default_rng(seed), (1024,), rate)
    keep = np.resize(block, x.size).reshape(x.shape)
    return np.where(keep, x * x.dtype.type(1 / (1 - rate)), np.zeros((), x.dtype))


def wrong_axis(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, seed, training=training, shared_axes=(1,))  # declared (2, 3)


def elementwise(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, seed, training=training)  # declared (2, 3)


def to_float64(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x.astype(np.float64), rate, seed, training=training)


def adds_axis(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return _ref(x, rate, seed, training=training)[None]


def alpha_to_zero(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    if not training or rate == 0.0:
        return x.copy()
    _check_rate(rate)
    if rate == 1.0:
        raise ValueError("rate 1")
    keep = _keep(np.random.default_rng(seed), x.shape, rate)
    a, b = alpha_constants(rate)
    return (np.where(keep, x.astype(np.float64), 0.0) * a + b).astype(x.dtype)


def gaussian_std_wrong(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    _check_rate(rate)
    if rate == 1.0 and training:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x.copy()
    noise = 1.0 + np.random.default_rng(seed).standard_normal(x.shape) * (rate / (1 - rate))
    return (x.astype(np.float64) * noise).astype(x.dtype)


def dc_per_batch(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, rate: float, *, training: bool, seed: int
) -> np.ndarray:
    return alt_dropconnect(x, w, b, rate, training=training, seed=seed, per_example=False)


def dc_input_units(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, rate: float, *, training: bool, seed: int
) -> np.ndarray:
    """Dropout on the inputs: column j of W masked as a whole, per example."""
    _check_rate(rate)
    if w.shape[1] != x.shape[1] or b.shape != (w.shape[0],):
        raise ValueError("shape mismatch")
    if not training:
        return (x.astype(np.float64) @ w.astype(np.float64).T + b).astype(x.dtype)
    if rate == 1.0:
        return np.broadcast_to(b, (x.shape[0], w.shape[0])).astype(x.dtype)
    keep = _keep(np.random.default_rng(seed), x.shape, rate)
    xd = np.where(keep, x.astype(np.float64), 0.0) / (1 - rate)
    return (xd @ w.astype(np.float64).T + b).astype(x.dtype)


_DC = dict(masks="per_example", mask_bias=False, inference="mean")

WRONG: tuple[Wrong, ...] = (
    Wrong("keep/drop swapped", _t(swapped, "dropout", "wrong.swapped"), "DROPOUT-RATE"),
    Wrong(
        "no scaling in training", _t(no_scaling, "dropout", "wrong.no_scaling"), "DROPOUT-VALUES"
    ),
    Wrong(
        "no scaling in training (moments)",
        _t(no_scaling, "dropout", "wrong.no_scaling2"),
        "DROPOUT-UNBIASED",
    ),
    Wrong("scale 1/rate", _t(scale_by_rate, "dropout", "wrong.scale_rate"), "DROPOUT-VALUES"),
    Wrong(
        "scale 1/rate (moments)",
        _t(scale_by_rate, "dropout", "wrong.scale_rate2"),
        "DROPOUT-VARIANCE",
    ),
    Wrong(
        "scaling at inference",
        _t(scaled_inference, "dropout", "wrong.scaled_inference"),
        "DROPOUT-INFERENCE-IDENTITY",
    ),
    Wrong(
        "training flag ignored",
        _t(ignores_training, "dropout", "wrong.ignores_training"),
        "DROPOUT-INFERENCE-IDENTITY",
    ),
    Wrong(
        "same mask every call",
        _t(same_mask, "dropout", "wrong.same_mask"),
        "DROPOUT-INDEPENDENT-CALLS",
    ),
    Wrong(
        "seed ignored", _t(ignores_seed, "dropout", "wrong.ignores_seed"), "DROPOUT-DETERMINISTIC"
    ),
    Wrong("rate off by +0.01", _t(rate_plus, "dropout", "wrong.rate_plus"), "DROPOUT-RATE"),
    Wrong(
        "batch-shared mask declared elementwise",
        _t(batch_shared, "dropout", "wrong.batch_shared"),
        "DROPOUT-INDEPENDENT-AXES",
    ),
    Wrong(
        "mask repeating every 1024 elements",
        _t(period_1024, "dropout", "wrong.period"),
        "DROPOUT-NO-PERIOD",
    ),
    Wrong(
        "mask shared along the wrong axis",
        _t(wrong_axis, "dropout", "wrong.wrong_axis", shared_axes=(2, 3), rank=4),
        "DROPOUT-SHARED-CONSTANT",
    ),
    Wrong(
        "elementwise mask where shared axes are declared",
        _t(elementwise, "dropout", "wrong.elementwise", shared_axes=(2, 3), rank=4),
        "DROPOUT-SHARED-CONSTANT",
    ),
    Wrong("output dtype changed", _t(to_float64, "dropout", "wrong.dtype"), "DROPOUT-DTYPE"),
    Wrong("output shape changed", _t(adds_axis, "dropout", "wrong.shape"), "DROPOUT-SHAPE"),
    Wrong(
        "alpha dropout drops to 0",
        _t(alpha_to_zero, "alpha_dropout", "wrong.alpha_zero"),
        "ALPHA-VALUES",
    ),
    Wrong(
        "alpha dropout drops to 0 (moments)",
        _t(alpha_to_zero, "alpha_dropout", "wrong.alpha_zero2"),
        "ALPHA-MEAN",
    ),
    Wrong(
        "gaussian std = rate/(1 - rate)",
        _t(gaussian_std_wrong, "gaussian_dropout", "wrong.gaussian_std"),
        "GAUSSIAN-DISTRIBUTION",
    ),
    Wrong(
        "dropconnect per-batch declared per-example",
        _t(dc_per_batch, "dropconnect", "wrong.dc_per_batch", **_DC),
        "DROPCONNECT-PER-EXAMPLE",
    ),
    Wrong(
        "dropconnect dropping input units",
        _t(dc_input_units, "dropconnect", "wrong.dc_input_units", **_DC),
        "DROPCONNECT-PER-CONNECTION",
    ),
)
