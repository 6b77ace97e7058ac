"""The wrong implementations named by the core issue (formerly ``WRONG`` in tests/impls.py).

Each breaks exactly one rule of the spec and names the one clause that must fail on it; they
are NumPy mutants like any other and are replayed under the same policy
(``tests/test_mutants.py``). Most are built on the independent correct implementations of
``tests/impls.py``, or on the reference itself, with the fault added.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from impls import _check_rate, _keep, alt_dropconnect, alt_dropout

import dropspec
from dropspec.reference import alpha_constants

from . import Mutant, mutant


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


def _wrong(
    fn: Any, op: str, name: str, fault_class: str, description: str, clause: str, **options: Any
) -> Mutant:
    return mutant(
        fn,
        op,
        framework="numpy",
        name=name,
        fault_class=fault_class,
        description=description,
        clauses=clause,
        **options,
    )


MUTANTS: tuple[Mutant, ...] = (
    _wrong(swapped, "dropout", "swapped", "rate", "keep/drop swapped", "DROPOUT-RATE"),
    _wrong(
        no_scaling, "dropout", "no_scaling", "scaling", "no scaling in training", "DROPOUT-VALUES"
    ),
    _wrong(
        no_scaling,
        "dropout",
        "no_scaling_moments",
        "scaling",
        "no scaling in training (moments)",
        "DROPOUT-UNBIASED",
    ),
    _wrong(scale_by_rate, "dropout", "scale_rate", "scaling", "scale 1/rate", "DROPOUT-VALUES"),
    _wrong(
        scale_by_rate,
        "dropout",
        "scale_rate_moments",
        "scaling",
        "scale 1/rate (moments)",
        "DROPOUT-VARIANCE",
    ),
    _wrong(
        scaled_inference,
        "dropout",
        "scaled_inference",
        "scaling",
        "scaling at inference",
        "DROPOUT-INFERENCE-IDENTITY",
    ),
    _wrong(
        ignores_training,
        "dropout",
        "ignores_training",
        "scaling",
        "training flag ignored",
        "DROPOUT-INFERENCE-IDENTITY",
    ),
    _wrong(
        same_mask,
        "dropout",
        "same_mask",
        "determinism",
        "same mask every call",
        "DROPOUT-INDEPENDENT-CALLS",
    ),
    _wrong(
        ignores_seed,
        "dropout",
        "ignores_seed",
        "determinism",
        "seed ignored",
        "DROPOUT-DETERMINISTIC",
    ),
    _wrong(rate_plus, "dropout", "rate_plus", "rate", "rate off by +0.01", "DROPOUT-RATE"),
    _wrong(
        batch_shared,
        "dropout",
        "batch_shared",
        "independence",
        "batch-shared mask declared elementwise",
        "DROPOUT-INDEPENDENT-AXES",
    ),
    _wrong(
        period_1024,
        "dropout",
        "period",
        "independence",
        "mask repeating every 1024 elements",
        "DROPOUT-NO-PERIOD",
    ),
    _wrong(
        wrong_axis,
        "dropout",
        "wrong_axis",
        "structure",
        "mask shared along the wrong axis",
        "DROPOUT-SHARED-CONSTANT",
        shared_axes=(2, 3),
        rank=4,
    ),
    _wrong(
        elementwise,
        "dropout",
        "elementwise",
        "structure",
        "elementwise mask where shared axes are declared",
        "DROPOUT-SHARED-CONSTANT",
        shared_axes=(2, 3),
        rank=4,
    ),
    _wrong(to_float64, "dropout", "dtype", "dtype", "output dtype changed", "DROPOUT-DTYPE"),
    _wrong(adds_axis, "dropout", "shape", "structure", "output shape changed", "DROPOUT-SHAPE"),
    _wrong(
        alpha_to_zero,
        "alpha_dropout",
        "alpha_zero",
        "scaling",
        "alpha dropout drops to 0",
        "ALPHA-VALUES",
    ),
    _wrong(
        alpha_to_zero,
        "alpha_dropout",
        "alpha_zero_moments",
        "scaling",
        "alpha dropout drops to 0 (moments)",
        "ALPHA-MEAN",
    ),
    _wrong(
        gaussian_std_wrong,
        "gaussian_dropout",
        "gaussian_std",
        "scaling",
        "gaussian std = rate/(1 - rate)",
        "GAUSSIAN-DISTRIBUTION",
    ),
    _wrong(
        dc_per_batch,
        "dropconnect",
        "dc_per_batch",
        "structure",
        "dropconnect per-batch declared per-example",
        "DROPCONNECT-PER-EXAMPLE",
        **_DC,
    ),
    _wrong(
        dc_input_units,
        "dropconnect",
        "dc_input_units",
        "structure",
        "dropconnect dropping input units",
        "DROPCONNECT-PER-CONNECTION",
        **_DC,
    ),
)
