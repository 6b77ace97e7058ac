"""TensorFlow mutants: gradient faults through ``tf.custom_gradient``, and forward faults.

tensorflow is imported inside the functions only. Masks come from the stateless random ops
keyed by ``[seed, stream]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dropspec.adapters.fw_tensorflow import _NAN_RATE
from dropspec.reference import ALPHA_PRIME, alpha_constants

from . import Mutant, check_layer, collector, validate

M: list[Mutant] = []


add = collector(M, "tensorflow")


#: TensorFlow's own violation, inherited by the mutants built on stateless_dropout.
TF_XFAIL = {"DROPOUT-RATE-INVALID": _NAN_RATE}


def tf_module() -> Any:
    import tensorflow as tf

    return tf


def keep_mask(shape: Any, rate: float, seed: int, stream: int = 0) -> Any:
    tf = tf_module()
    u = tf.random.stateless_uniform(shape, seed=[seed, stream], dtype=tf.float64)
    return u >= rate


# ---------------------------------------------------------------- gradient faults ----


def _fresh_mask_grad(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    validate(rate)
    if not training:
        return tf.identity(x)
    if rate == 1.0:
        return tf.zeros_like(x)
    s = 1.0 / (1.0 - rate)
    keep = keep_mask(tf.shape(x), rate, seed)

    @tf.custom_gradient
    def f(v: Any) -> Any:
        y = tf.where(keep, v * tf.cast(s, v.dtype), tf.zeros_like(v))

        def grad(g: Any) -> Any:
            fresh = keep_mask(tf.shape(g), rate, seed, stream=1)  # a new mask for backward
            return tf.where(fresh, g * tf.cast(s, g.dtype), tf.zeros_like(g))

        return y, grad

    return f(x)


add(
    _fresh_mask_grad,
    "dropout",
    "custom_gradient_fresh_mask",
    "gradient",
    "tf.custom_gradient whose backward draws a new mask (stream 1) instead of the forward one",
    "DROPOUT-GRADIENT",
)


def _alpha_grad(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return tf.identity(x)
    a, b = alpha_constants(rate)
    keep = keep_mask(tf.shape(x), rate, seed)

    @tf.custom_gradient
    def f(v: Any) -> Any:
        vw = tf.cast(v, tf.float64)
        y = tf.cast(tf.where(keep, vw, tf.constant(ALPHA_PRIME, tf.float64)) * a + b, v.dtype)

        def grad(g: Any) -> Any:
            return g * tf.cast(a, g.dtype)  # dropped units get a·g too

        return y, grad

    return f(x)


add(
    _alpha_grad,
    "alpha_dropout",
    "custom_gradient_unmasked",
    "gradient",
    "alpha dropout whose custom gradient is a·g everywhere, dropped units included",
    "ALPHA-GRADIENT",
)


def _dc_grad(x: Any, w: Any, b: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    validate(rate)
    check_layer(x, w, b)
    if not training:
        return tf.matmul(x, w, transpose_b=True) + b
    if rate == 1.0:
        return tf.matmul(x, tf.zeros_like(w), transpose_b=True) + b
    s = 1.0 / (1.0 - rate)
    keep = keep_mask(tf.shape(w), rate, seed)
    thinned = tf.where(keep, w * tf.cast(s, w.dtype), tf.zeros_like(w))

    @tf.custom_gradient
    def f(v: Any) -> Any:
        y = tf.matmul(v, thinned, transpose_b=True) + b

        def grad(g: Any) -> Any:
            return tf.matmul(g, w * tf.cast(s, w.dtype))  # s·W, the mask forgotten

        return y, grad

    return f(x)


add(
    _dc_grad,
    "dropconnect",
    "custom_gradient_unmasked_weight",
    "gradient",
    "weight drop whose custom gradient uses s·W instead of s·(M ⊙ W)",
    "DROPCONNECT-GRADIENT",
    masks="per_batch",
    mask_bias=False,
    inference="mean",
)


# ---------------------------------------------------------------- forward faults ----


def _seed_8bit(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    if not training:
        return x
    return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=[seed & 0xFF, 0])


add(
    _seed_8bit,
    "dropout",
    "stateless_seed_8bit",
    "determinism",
    "stateless_dropout keyed by [seed & 0xFF, 0]: only 256 distinct masks",
    "DROPOUT-INDEPENDENT-SEEDS",
    rate_one="error",
    expected_failures=TF_XFAIL,
)


def _negative_axis_off_by_one(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    if not training:
        return x
    ndim = x.shape.rank
    shared = {ndim + (-2) + 1}  # normalises the declared axis -2 one too far
    noise_shape = [1 if i in shared else tf.shape(x)[i] for i in range(ndim)]
    return tf.nn.experimental.stateless_dropout(
        x, rate=rate, seed=[seed, 0], noise_shape=noise_shape
    )


add(
    _negative_axis_off_by_one,
    "dropout",
    "negative_shared_axis_off_by_one",
    "structure",
    "declares shared axis -2 but normalises it to ndim - 1: the last axis is shared instead",
    "DROPOUT-SHARED-CONSTANT",
    shared_axes=(-2,),
    rank=3,
    rate_one="error",
    expected_failures=TF_XFAIL,
)


def _bias_masked(x: Any, w: Any, b: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    validate(rate)
    check_layer(x, w, b)
    if not training:
        return tf.matmul(x, w, transpose_b=True) + b
    if rate == 1.0:
        return tf.zeros((tf.shape(x)[0], tf.shape(w)[0]), x.dtype) + tf.zeros_like(b)
    drop = tf.nn.experimental.stateless_dropout
    y = tf.matmul(x, drop(w, rate=rate, seed=[seed, 0]), transpose_b=True)
    return y + drop(b, rate=rate, seed=[seed, 1])  # the bias dropped with the weights


add(
    _bias_masked,
    "dropconnect",
    "bias_dropped_declared_unmasked",
    "structure",
    "weight drop that also drops (and scales) the bias while declaring it unmasked",
    "DROPCONNECT-BIAS-UNMASKED",
    masks="per_batch",
    mask_bias=False,
    inference="mean",
)


def _gauss_rate_one(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    validate(rate)
    if not training or rate == 0.0:
        return tf.identity(x)
    with np.errstate(divide="ignore"):
        sigma = float(np.sqrt(np.float64(rate) / np.float64(1.0 - rate)))
    z = tf.random.stateless_normal(tf.shape(x), seed=[seed, 0], dtype=tf.float64)
    return tf.cast(tf.cast(x, tf.float64) * (1.0 + sigma * z), x.dtype)


add(
    _gauss_rate_one,
    "gaussian_dropout",
    "rate_one_infinite",
    "edge",
    "no rate-1 error: the noise std is inf and the output inf/NaN",
    "GAUSSIAN-RATE-ONE",
)


def _op_seed_only(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    validate(rate)
    if not training:
        return tf.identity(x)
    if rate == 1.0:
        return tf.zeros_like(x)
    shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], 0)
    # An op-level seed without resetting the global seed: each eager call moves on.
    u = tf.random.uniform(shape, seed=seed, dtype=tf.float64)
    s = 1.0 / (1.0 - rate)
    return tf.where(u >= rate, x * tf.cast(s, x.dtype), tf.zeros_like(x))


add(
    _op_seed_only,
    "drop_path",
    "op_seed_without_global_seed",
    "determinism",
    "tf.random.uniform(seed=seed) in eager mode: the same op seed gives a new mask every call",
    "DROPPATH-DETERMINISTIC",
)


def _f16_rate_high(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    if not training:
        return x
    if rate == 1.0:
        raise ValueError("rate must be below 1")
    drop = min(1.0, 1.1 * rate) if x.dtype == tf.float16 else rate  # the f16 kernel
    # Uniform numbers in float64, unlike tf.nn.dropout's own (see _HALF_UNIFORM).
    u = tf.random.stateless_uniform(tf.shape(x), seed=[seed, 0], dtype=tf.float64)
    scaled = x * tf.cast(1.0 / (1.0 - rate), x.dtype)
    return tf.where(u >= drop, scaled, tf.zeros_like(x))


add(
    _f16_rate_high,
    "dropout",
    "float16_rate_10pct_high",
    "dtype",
    "correct in every dtype but float16, whose kernel drops with probability 1.1·rate",
    "DROPOUT-RATE",
    rate_one="error",
    expected_failures=TF_XFAIL,
)


# ---------------------------------------------------------------- dtype faults ----


def _bfloat16_scale(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    tf = tf_module()
    validate(rate)
    if not training:
        return x
    if rate == 1.0:
        return tf.zeros_like(x)
    # The bfloat16 kernel takes its scale from a rate 10% too high; the mask is right.
    s = 1.0 / (1.0 - min(0.999, 1.1 * rate)) if x.dtype == tf.bfloat16 else 1.0 / (1.0 - rate)
    keep = keep_mask(tf.shape(x), rate, seed)
    return tf.where(keep, x * tf.constant(s, x.dtype), tf.zeros((), x.dtype))


add(
    _bfloat16_scale,
    "dropout",
    "bfloat16_scale_from_wrong_rate",
    "dtype",
    "right masks in every dtype; in bfloat16 kept values are scaled by 1/(1 - 1.1·rate)",
    "DROPOUT-UNBIASED",
)


MUTANTS: tuple[Mutant, ...] = tuple(M)
