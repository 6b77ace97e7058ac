"""TensorFlow: its backend (tensors, dtypes, gradients) and built-in targets for ``tf.nn``.

TensorFlow is imported on first use, never when this module is imported. Every target maps the
suite's integer seed onto one of TensorFlow's seeding models:

* ``tf.nn.dropout`` is a stateful op: the same op seed gives a different mask on every call, so
  the adapter resets the global seed with ``tf.random.set_seed(seed)`` before the call (the
  documented way to replay a stateful op; it changes the process's global TF seed).
* ``tf.nn.experimental.stateless_dropout`` takes a shape-[2] seed tensor: ``[seed, 0]``.

``tf.nn`` has no training flag: dropout always applies. The adapters return ``x`` unchanged
with ``training=False``, the convention of a dropout layer at inference.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import FLOAT_DTYPES, dtype_name
from ..target import Target, make_target
from ._backend import Backend, as_int64
from ._half_precision import with_half_uniform
from ._variants import Variant, rate_key


def _tf() -> Any:
    import tensorflow as tf

    return tf


_NAMESPACE: list[Any] = []


def array_namespace(value: Any) -> Any:
    """The array-API namespace for a TensorFlow tensor, None for anything else.

    array-api-compat has none for TensorFlow: the suite's own, which the reductions find
    through the ``namespace`` of TensorFlow's row in :data:`dropspec.frameworks.FRAMEWORKS`
    (it imports TensorFlow only when a tensor asks for it)."""
    tf = sys.modules.get("tensorflow")
    if tf is None or not tf.is_tensor(value):
        return None
    if not _NAMESPACE:
        from ._tf_array_api import TensorFlowNamespace

        _NAMESPACE.append(TensorFlowNamespace())
    return _NAMESPACE[0]


class _DLPackView:
    """What :func:`numpy.from_dlpack` takes: a CPU tensor's DLPack capsule."""

    def __init__(self, tensor: Any) -> None:
        self.tensor = tensor

    def __dlpack__(self, stream: Any = None, **_: Any) -> Any:
        return _tf().experimental.dlpack.to_dlpack(self.tensor)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # kDLCPU, device 0


def _tf_device(device: str) -> str:
    """TensorFlow's name for ``device`` (``cpu``, ``gpu``, ``cuda``, ``cuda:1``, ...)."""
    kind, _, index = device.partition(":")
    kind = {"cuda": "GPU", "gpu": "GPU", "cpu": "CPU"}.get(kind.lower(), kind.upper())
    return f"/{kind}:{index or 0}"


class TensorFlowBackend(Backend):
    """Tensors, dtypes and gradients (``tf.GradientTape``) for TensorFlow."""

    name = "tensorflow"
    supported_dtypes = FLOAT_DTYPES
    startup_seconds = 7.0
    strides = "dense"  # a tf.Tensor is always dense

    def is_array(self, value: Any) -> bool:
        tf = _tf()
        return isinstance(value, (tf.Tensor, tf.Variable))

    def asarray(self, a: np.ndarray, device: str = "cpu") -> Any:
        tf = _tf()
        a = np.asarray(a)
        # Name the dtype: bfloat16 arrays are ml_dtypes.bfloat16, which must map to tf.bfloat16.
        dtype = tf.bfloat16 if dtype_name(a.dtype) == "bfloat16" else None
        with tf.device(_tf_device(device)):
            return tf.identity(tf.constant(a, dtype=dtype))

    def to_numpy(self, value: Any) -> np.ndarray:
        out: np.ndarray = np.asarray(value.numpy())  # keeps bfloat16 as ml_dtypes.bfloat16
        return out

    def fresh(self, value: Any) -> Any:
        return value  # tf.Tensor is immutable

    def for_reduction(self, value: Any) -> Any:
        """On the CPU, the tensor's own memory seen as a NumPy array (DLPack, no copy;
        bfloat16, which DLPack cannot describe to NumPy, is copied); elsewhere the tensor.

        Eager TensorFlow runs each reduction step as a separate single-threaded kernel
        launch, 5 to 25 times slower than NumPy over the same values in memory (measured,
        2^20 values: ``y != 0`` and a count, 6.9 ms against 0.28 ms), so on the CPU the
        suite reduces a TensorFlow output with NumPy where it lies; on a GPU it stays a
        tensor and TensorFlow reduces it there.
        """
        if "CPU" not in value.device.upper():
            return value
        if self.copies_to_host(value):
            return self.to_numpy(value)
        return np.from_dlpack(_DLPackView(value))

    def copies_to_host(self, value: Any) -> bool:
        return "CPU" in value.device.upper() and value.dtype == _tf().bfloat16

    def vjp(
        self, f: Callable[[Any], Any], x: np.ndarray, cotangent: np.ndarray, device: str = "cpu"
    ) -> np.ndarray | None:
        tf = _tf()
        xt = self.asarray(x, device)
        ct = self.asarray(cotangent, device)
        with tf.device(_tf_device(device)), tf.GradientTape() as tape:
            tape.watch(xt)
            y = f(xt)
        # An output that does not depend on x (every unit dropped) has a zero gradient.
        grad = tape.gradient(
            y, xt, output_gradients=ct, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        return self.to_numpy(grad)


BACKEND = TensorFlowBackend()


# ------------------------------------------------------------------------------ dropout ----


def _nn_dropout(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    if not training:
        return x
    tf = _tf()
    tf.random.set_seed(seed)  # restarts the stateful op's sequence: same seed, same mask
    return tf.nn.dropout(x, rate=rate, seed=seed)


def _nn_dropout_nhwc_channels(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    if not training:
        return x
    tf = _tf()
    if x.shape.rank != 4:
        raise ValueError(f"expects NHWC input of rank 4, got shape {tuple(x.shape)}")
    shape = tf.shape(x)
    tf.random.set_seed(seed)
    # One mask value per (example, channel), shared over height and width (SpatialDropout2D).
    return tf.nn.dropout(x, rate=rate, noise_shape=[shape[0], 1, 1, shape[3]], seed=seed)


def _stateless_seed(seed: int, stream: int = 0) -> Any:
    """The shape-[2] int64 seed of TensorFlow's stateless ops: ``[seed, stream]``, the seed's
    64 bits read as a signed int64 (seeds from 2^63 up do not fit one otherwise)."""
    tf = _tf()
    if isinstance(seed, tf.Tensor):  # an int64 tensor already (under tf.function: variants)
        return tf.stack([seed, tf.constant(stream, dtype="int64")])
    return tf.constant([as_int64(seed), stream], dtype="int64")


def _stateless_dropout(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    if not training:
        return x
    return _tf().nn.experimental.stateless_dropout(x, rate=rate, seed=_stateless_seed(seed))


# -------------------------------------------------------------------------- dropconnect ----


def _dense(x: Any, weight: Any, bias: Any) -> Any:
    tf = _tf()
    y = tf.matmul(x, weight, transpose_b=True)
    # bias_add rejects a bias whose length is not the output width (no silent broadcasting).
    return y if bias is None else tf.nn.bias_add(y, bias)


def _weight_drop(x: Any, weight: Any, bias: Any, rate: float, *, training: bool, seed: int) -> Any:
    if training:
        weight = _tf().nn.experimental.stateless_dropout(
            weight, rate=rate, seed=_stateless_seed(seed)
        )
    return _dense(x, weight, bias)


def _dropconnect_per_example(
    x: Any, weight: Any, bias: Any, rate: float, *, training: bool, seed: int
) -> Any:
    if not training:
        return _dense(x, weight, bias)
    tf = _tf()
    if x.shape.rank != 2 or weight.shape.rank != 2:
        raise ValueError(
            f"expects x (batch, in) and weight (out, in), got shapes "
            f"{tuple(x.shape)} and {tuple(weight.shape)}"
        )
    n = tf.shape(x)[0]
    drop = tf.nn.experimental.stateless_dropout
    # A (batch, out, in) stack of weights, each example's copy with its own mask.
    weights = tf.broadcast_to(weight[tf.newaxis], tf.concat([[n], tf.shape(weight)], 0))
    weights = drop(weights, rate=rate, seed=_stateless_seed(seed, 0))
    y = tf.einsum("ni,noi->no", x, weights)
    if bias is None:
        return y
    # The bias, checked against the output width by bias_add, masked per (example, output).
    biases = tf.nn.bias_add(tf.zeros_like(y), bias)
    return y + drop(biases, rate=rate, seed=_stateless_seed(seed, 1))


# ------------------------------------------------------------------------------ targets ----

# No upstream issue found (searched 2026-11); the check is in nn_ops._dropout, shared by
# tf.nn.dropout, stateless_dropout and general_dropout.
_NAN_RATE = (
    "tf.nn.dropout and stateless_dropout check a Python rate with `rate < 0 or rate >= 1`, which "
    "NaN passes: a NaN rate drops every unit (all zeros) instead of raising; "
    "https://github.com/tensorflow/tensorflow/blob/v2.21.0/tensorflow/python/ops/nn_ops.py "
    "(_dropout)"
)

# tf.nn.dropout and the other stateless-free ops have no training flag: an inference call is
# the caller skipping the op (as these adapters do), so no TensorFlow code sees its rate.
_NO_INFERENCE_MODE = (
    "tf.nn.dropout and tf.nn.experimental.stateless_dropout have no training flag: at "
    "inference the caller skips the op (as this adapter does at training=False), so no "
    "TensorFlow code checks the rate and an invalid one passes every evaluation; "
    "https://www.tensorflow.org/api_docs/python/tf/nn/dropout"
)

# random_seed.get_seed reduces the global and the op seed modulo 2^31 - 1 (_truncate_seed).
_SEED_MODULO = (
    "tf.random.set_seed and the op seed of tf.nn.dropout are reduced modulo 2^31 - 1 "
    "(random_seed._truncate_seed), so seeds 1 and 2^32 - 1, or any two seeds 2^31 - 1 "
    "apart, give the same mask; no upstream issue found; https://github.com/tensorflow/"
    "tensorflow/blob/v2.21.0/tensorflow/python/framework/random_seed.py (_truncate_seed)"
)

_HALF_UNIFORM = (
    "tf.nn.dropout and stateless_dropout draw their uniform numbers in the data dtype "
    "(random_uniform(noise_shape, dtype=x.dtype)) and keep where random >= rate: in float16 the "
    "numbers are multiples of 2^-10 and in bfloat16 of 2^-7, so the drop probability is rate "
    "rounded up to that grid (0.00195 instead of 0.001 in float16, 0.1016 instead of 0.1 in "
    "bfloat16); E[y] and Var[y] move with it; "
    "https://github.com/tensorflow/tensorflow/blob/v2.21.0/tensorflow/python/ops/nn_ops.py "
    "(_dropout)"
)

_INFERENCE_NOTE = (
    " tf.nn has no training flag; with training=False the adapter returns x "
    "unchanged, as a dropout layer does at inference."
)

_TARGETS: tuple[Target, ...] = (
    make_target(
        _nn_dropout,
        "dropout",
        framework="tensorflow",
        name="tf.nn.dropout",
        rate_one="error",
        masking="select",
        expected_failures={
            "DROPOUT-RATE-INVALID": _NAN_RATE,
            "DROPOUT-RATE-INVALID-INFERENCE": _NO_INFERENCE_MODE,
            "DROPOUT-SEED-SPACE": _SEED_MODULO,
        },
        description="tf.nn.dropout(x, rate, seed=seed) after tf.random.set_seed(seed)."
        + _INFERENCE_NOTE,
    ),
    make_target(
        _nn_dropout_nhwc_channels,
        "dropout",
        framework="tensorflow",
        name="tf.nn.dropout.noise_shape",
        rank=4,
        shared_axes=(1, 2),
        rate_one="error",
        masking="select",
        expected_failures={
            "DROPOUT-RATE-INVALID": _NAN_RATE,
            "DROPOUT-RATE-INVALID-INFERENCE": _NO_INFERENCE_MODE,
            "DROPOUT-SEED-SPACE": _SEED_MODULO,
        },
        description="tf.nn.dropout(x, rate, noise_shape=(N, 1, 1, C)) on NHWC input: channel "
        "dropout, one mask value per example and channel." + _INFERENCE_NOTE,
    ),
    make_target(
        _stateless_dropout,
        "dropout",
        framework="tensorflow",
        name="tf.nn.experimental.stateless_dropout",
        rate_one="error",
        masking="select",
        expected_failures={
            "DROPOUT-RATE-INVALID": _NAN_RATE,
            "DROPOUT-RATE-INVALID-INFERENCE": _NO_INFERENCE_MODE,
        },
        description="tf.nn.experimental.stateless_dropout(x, rate, seed=[seed, 0])."
        + _INFERENCE_NOTE,
    ),
    make_target(
        _weight_drop,
        "dropconnect",
        framework="tensorflow",
        name="tf.weight_drop",
        masks="per_batch",
        mask_bias=False,
        scaling="inverted",
        inference="mean",
        rate_one="error",
        expected_failures={
            "DROPCONNECT-RATE-INVALID": _NAN_RATE,
            "DROPCONNECT-RATE-INVALID-INFERENCE": _NO_INFERENCE_MODE,
        },
        description="weight drop composed from TensorFlow ops: stateless_dropout on the weight "
        "(one mask per call, seed [seed, 0]), then x @ W^T + b with the bias unmasked; "
        "inference uses W itself.",
    ),
    make_target(
        _dropconnect_per_example,
        "dropconnect",
        framework="tensorflow",
        name="tf.dropconnect.per_example",
        masks="per_example",
        mask_bias=True,
        scaling="inverted",
        inference="mean",
        rate_one="error",
        expected_failures={
            "DROPCONNECT-RATE-INVALID": _NAN_RATE,
            "DROPCONNECT-RATE-INVALID-INFERENCE": _NO_INFERENCE_MODE,
        },
        description="DropConnect with a mask per example, composed from TensorFlow ops: "
        "stateless_dropout on a (batch, out, in) stack of W (seed [seed, 0]) and on the "
        "(batch, out) bias (seed [seed, 1]), inverted scaling; inference is x @ W^T + b "
        "(mean inference, not the paper's moment matching).",
    ),
)

#: Every target draws its uniform numbers in the data dtype (see :mod:`._half_precision`).
TARGETS: tuple[Target, ...] = tuple(with_half_uniform(t, _HALF_UNIFORM) for t in _TARGETS)


# ---------------------------------------------------------------- variants ----
# Transformations a TensorFlow target is checked under (dropspec.adapters._variants).


def _under_function(jit_compile: bool) -> Callable[[Target], Callable[..., Any]]:
    """tf.function of the call, the seed an int64 tensor argument (rate and training static:
    one concrete function per rate, retraced per shape and dtype)."""

    def wrap(t: Target) -> Callable[..., Any]:
        compiled: dict[tuple[str, bool], Any] = {}
        layers = None if t.factory is None else _layer_under_function(jit_compile)(t)

        def under_tf_function(*args: Any, training: bool, seed: int) -> Any:
            tf = _tf()
            *arrays, rate = args
            if layers is not None:  # a layer: built from the int seed, its call traced
                return layers(rate, seed=seed)(*arrays, training=training)
            k = (rate_key(rate), bool(training))
            if k not in compiled:

                def body(arrays: tuple[Any, ...], s: Any) -> Any:
                    return t.fn(*arrays, rate, training=training, seed=s)

                compiled[k] = tf.function(body, jit_compile=jit_compile, reduce_retracing=True)
            return compiled[k](tuple(arrays), tf.constant(as_int64(seed), dtype=tf.int64))

        return under_tf_function

    return wrap


def _layer_under_function(jit_compile: bool) -> Callable[[Target], Callable[..., Any]]:
    """A factory of layers whose every call runs inside tf.function, as a Keras training step
    does: the layer (a Keras layer and its SeedGenerator) is built outside from the int seed,
    and each call of one function per training flag (retraced per shape and dtype) reads and
    advances the layer's state inside the traced graph."""

    def wrap(t: Target) -> Callable[..., Any]:
        factory = t.factory
        assert factory is not None

        def factory_under_function(rate: float, *, seed: int) -> Callable[..., Any]:
            tf = _tf()
            layer = factory(rate, seed=seed)
            traced = {
                training: tf.function(
                    lambda *arrays, training=training: layer(*arrays, training=training),
                    jit_compile=jit_compile,
                    reduce_retracing=True,
                )
                for training in (True, False)
            }

            def call(*arrays: Any, training: bool) -> Any:
                return traced[bool(training)](*arrays)

            return call

        return factory_under_function

    return wrap


_PYTHON_SEED = (
    "tf.nn.dropout is seeded by tf.random.set_seed(seed), which takes a Python int: a seed "
    "traced as a tensor cannot reach it"
)
_NOT_TRACEABLE = {"tf.nn.dropout": _PYTHON_SEED, "tf.nn.dropout.noise_shape": _PYTHON_SEED}

# Observed on the under branch: tensorflow-cpu 2.21, seed 20131204, `dropspec check
# "tf.nn.experimental.stateless_dropout under tf.function.xla"` (eager and tf.function pass).
_XLA_SEED_32 = (
    "under tf.function(jit_compile=True) stateless_dropout keeps only the low 32 bits of each "
    "int64 seed element: seeds 0 and 2^32, s and s + 2^32, and seeds one bit apart in bits "
    "35-63 give the same mask (eager and non-XLA tf.function use all 64). XLA lowers the "
    "stateless RNG ops apart from the eager kernels "
    "(https://github.com/tensorflow/tensorflow/issues/121243, "
    "https://github.com/tensorflow/tensorflow/pull/121252); no issue on the truncation itself "
    "found"
)

VARIANTS: tuple[Variant, ...] = (
    Variant(
        "tf.function",
        "tensorflow",
        "tf.function of the call, the seed an int64 tensor argument (rate and training static)",
        "Stateless random ops are functions of their seed tensor, so under tf.function a seed "
        "passed as an argument gives each call its own mask; a stateful op's seed is fixed "
        "when the function is traced (TensorFlow guide: 'Random number generation').",
        _under_function(jit_compile=False),
        not_wrappable=_NOT_TRACEABLE,
        wrap_layer=_layer_under_function(jit_compile=False),
        env_layers=True,
    ),
    Variant(
        "tf.function.xla",
        "tensorflow",
        "tf.function(jit_compile=True) of the call (XLA), the seed an int64 tensor argument",
        "As tf.function; XLA compiles the stateless random ops with the same seed semantics "
        "(tf.function's jit_compile docs).",
        _under_function(jit_compile=True),
        not_wrappable=_NOT_TRACEABLE,
        wrap_layer=_layer_under_function(jit_compile=True),
        # Not the Keras stateful layers: their seeded convention builds a layer per call, and
        # XLA compiles each anew (keras[tensorflow].layers.GaussianDropout (stateful) ran past
        # the 900 s limit after 15 clauses at load 15-24); `--under tf.function.xla` runs them
        # (the Dropout layer's 4 state clauses, -GRADIENT and -DETERMINISTIC pass there).
        all_set=tuple(t.name for t in _TARGETS),
        divergences={
            "tf.nn.experimental.stateless_dropout": dict.fromkeys(
                ("DROPOUT-INDEPENDENT-SEEDS", "DROPOUT-SEED-SPACE", "DROPOUT-SEED-PAIRS"),
                _XLA_SEED_32,
            ),
            # --variants all, base seed 20131204: seeds 0 and 2^32 (and s, s + 2^32; seeds one
            # bit apart in bits 35-63) give the same weight masks.
            **{
                name: dict.fromkeys(
                    (
                        "DROPCONNECT-INDEPENDENT-SEEDS",
                        "DROPCONNECT-SEED-SPACE",
                        "DROPCONNECT-SEED-PAIRS",
                    ),
                    _XLA_SEED_32,
                )
                for name in ("tf.weight_drop", "tf.dropconnect.per_example")
            },
        },
        holds={
            "tf.dropconnect.per_example": {
                "DROPCONNECT-BIAS-MASKED": "under tf.function(jit_compile=True) the bias mask "
                "clause passed (xpassed at base seed 20131204, tensorflow-cpu 2.21) where "
                "eagerly the half-precision uniform draws fail it in float16/bfloat16; "
                "DROPCONNECT-RATE still fails there (0.010937 dropped at rate 0.01 in float16). "
                "Not explained",
            },
        },
    ),
)

#: Run by ``dropspec check --all`` (see docs/transformed.md).
DEFAULT_VARIANTS: tuple[str, ...] = ("tf.nn.experimental.stateless_dropout under tf.function",)
