"""Keras 3: the dropout layers and ``keras.random.dropout``, on the tensorflow, jax and torch
backends.

Keras picks its backend once, when it is first imported (``KERAS_BACKEND``), so one process
can check the targets of one backend only: each target names its backend in ``env`` and
``dropspec check`` runs each group in its own process. Calling a target of another backend
raises an error saying how to run it. In your own process the engine checks a Keras target
only when ``KERAS_BACKEND`` is already its backend (else the clauses are "not checked", with
that reason); calling a target yourself before Keras is imported, with ``KERAS_BACKEND``
unset, imports Keras with the target's backend for the rest of the process (Keras's choice,
made once) while ``KERAS_BACKEND`` is set for that import only and then removed again, so
that it does not leak into the environment of your process and of what it starts. A target
takes and returns its backend's own arrays (``framework`` is the backend's name).

Seeds: every call builds a fresh layer with ``seed=seed`` (a layer's seed generator advances
on each call, so only the first call of a fresh layer is reproducible), and
``keras.random.dropout`` gets the integer seed, which Keras maps to the stateless seed
``[seed, 0]``. Layers are built with ``dtype`` set to the input's dtype: a layer of the
default float32 policy casts float16, bfloat16 and float64 inputs to float32.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from ..target import Target, make_stateful_target, make_target
from ._half_precision import HALVES, with_half_uniform
from .stateful import with_seeded_twins

#: Keras backends with a dropspec framework of the same name (their arrays are native).
BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")

#: The seeds each backend's Keras takes (``seed=`` of the layers and of keras.random): an
#: int64 with TensorFlow, a uint32 with JAX, an int32 with torch; a larger seed raises
#: (OverflowError, RuntimeError "cannot be converted to type int32"). Declared as the
#: targets' ``seed_bits``, so the suite passes only seeds the API takes.
SEED_BITS: dict[str, int] = {"tensorflow": 63, "jax": 32, "torch": 31}

Fn = Callable[..., Any]


class KerasBackendError(RuntimeError):
    """This process runs Keras on another backend than the target needs."""


def _keras(backend: str) -> Any:
    """Keras, checked to run on ``backend`` (chosen here if Keras is not imported yet)."""
    if "keras" not in sys.modules and "KERAS_BACKEND" not in os.environ:
        os.environ["KERAS_BACKEND"] = backend  # for Keras's import only (module docstring)
        try:
            import keras
        finally:
            os.environ.pop("KERAS_BACKEND", None)
    import keras

    actual = keras.backend.backend()
    if actual != backend:
        raise KerasBackendError(
            f"this target needs the Keras {backend} backend, but this process imported Keras "
            f"with the {actual} backend; Keras picks its backend once, at import: run it in a "
            f"fresh process with KERAS_BACKEND={backend} (`dropspec check` does so for you)"
        )
    return keras


def _layer_target(backend: str, build: Callable[[Any, float, int, str], Any]) -> Fn:
    """``fn(x, rate, *, training, seed)`` calling a fresh layer ``build(keras, rate, seed,
    dtype)``."""

    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        keras = _keras(backend)
        layer = build(keras, rate, seed, keras.backend.standardize_dtype(x.dtype))
        return layer(x, training=training)

    return fn


def _stateful_layer(backend: str, build: Callable[[Any, float, int, str], Any]) -> Fn:
    """``factory(rate, *, seed)`` of one layer ``build(keras, rate, seed, dtype)``, whose
    SeedGenerator (seeded once from ``seed``) advances at each training call; made at the
    first call, in its input's dtype (Keras layers take their dtype at construction)."""

    def factory(rate: float, *, seed: int) -> Fn:
        keras = _keras(backend)
        made: dict[str, Any] = {}

        def call(x: Any, *, training: bool) -> Any:
            dtype = keras.backend.standardize_dtype(x.dtype)
            if dtype not in made:
                made[dtype] = build(keras, rate, seed, dtype)
            return made[dtype](x, training=training)

        return call

    return factory


def _random_dropout(backend: str) -> Fn:
    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        if not training:  # a function, not a layer: inference is the caller's identity
            return x
        keras = _keras(backend)
        # The torch backend needs a tensor on Keras's device, not a foreign array.
        return keras.random.dropout(keras.ops.convert_to_tensor(x), rate, seed=seed)

    return fn


def _weight_drop(backend: str) -> Fn:
    def fn(x: Any, weight: Any, bias: Any, rate: float, *, training: bool, seed: int) -> Any:
        keras = _keras(backend)
        ops = keras.ops
        weight = ops.convert_to_tensor(weight)
        if bias is not None and tuple(bias.shape) != tuple(weight.shape[:1]):
            # ops.add would broadcast a length-1 bias; a dense layer's bias is one per output.
            raise ValueError(
                f"bias of shape {tuple(bias.shape)} does not match weight of "
                f"shape {tuple(weight.shape)}"
            )
        if training:
            weight = keras.random.dropout(weight, rate, seed=seed)
        y = ops.matmul(x, ops.transpose(weight))
        return y if bias is None else ops.add(y, bias)

    return fn


#: The dtype MultiHeadAttention is checked in: what it adds to keras.random.dropout (checked in
#: every dtype by layers.Dropout) is where the dropout sits and what it returns, the same in
#: every dtype, and each further dtype would cost the layer's checks as much again.
_ATTENTION_DTYPES = ("float32",)


def _multi_head_attention(backend: str) -> Fn:
    """keras.layers.MultiHeadAttention with identity projections and no biases, so that its
    attention is the op's: q, k and v of (batch, heads, seq, d) laid out as (batch, seq,
    heads·d), key_dim = d (the layer scales q by 1/√key_dim), value_dim = d_v; returns the
    output back in (batch, heads, seq_q, d_v) and the scores the layer returns."""

    def fn(q: Any, k: Any, v: Any, rate: float, *, training: bool, seed: int) -> Any:
        import numpy as np

        keras = _keras(backend)
        ops = keras.ops
        q, k, v = (ops.convert_to_tensor(t) for t in (q, k, v))
        b, h, sq, d = (int(n) for n in q.shape)
        dv = int(v.shape[-1])

        def packed(t: Any) -> Any:
            return ops.reshape(ops.transpose(t, (0, 2, 1, 3)), (b, t.shape[2], h * t.shape[3]))

        query, key_, value = packed(q), packed(k), packed(v)
        layer = keras.layers.MultiHeadAttention(
            h,
            d,
            value_dim=dv,
            dropout=rate,
            use_bias=False,
            output_shape=h * dv,
            kernel_initializer="zeros",  # overwritten below; a random draw would only cost
            seed=seed,
            dtype=keras.backend.standardize_dtype(q.dtype),
        )
        layer.build(query.shape, value.shape, key_.shape)
        for dense, width in (
            (layer._query_dense, d),
            (layer._key_dense, d),
            (layer._value_dense, dv),
        ):
            dense.kernel.assign(np.eye(h * width).reshape(h * width, h, width))
        layer._output_dense.kernel.assign(np.eye(h * dv).reshape(h, dv, h * dv))
        out, scores = layer(query, value, key=key_, return_attention_scores=True, training=training)
        return ops.transpose(ops.reshape(out, (b, sq, h, dv)), (0, 2, 1, 3)), scores

    return fn


def _dropout(keras: Any, rate: float, seed: int, dtype: str) -> Any:
    return keras.layers.Dropout(rate, seed=seed, dtype=dtype)


def _dropout_nhwc_channels(keras: Any, rate: float, seed: int, dtype: str) -> Any:
    return keras.layers.Dropout(rate, noise_shape=(None, 1, 1, None), seed=seed, dtype=dtype)


def _spatial_1d(keras: Any, rate: float, seed: int, dtype: str) -> Any:
    return keras.layers.SpatialDropout1D(rate, seed=seed, dtype=dtype)


def _spatial_2d(keras: Any, rate: float, seed: int, dtype: str) -> Any:
    return keras.layers.SpatialDropout2D(rate, data_format="channels_last", seed=seed, dtype=dtype)


def _spatial_3d(keras: Any, rate: float, seed: int, dtype: str) -> Any:
    return keras.layers.SpatialDropout3D(rate, data_format="channels_last", seed=seed, dtype=dtype)


def _gaussian(keras: Any, rate: float, seed: int, dtype: str) -> Any:
    return keras.layers.GaussianDropout(rate, seed=seed, dtype=dtype)


def _alpha(keras: Any, rate: float, seed: int, dtype: str) -> Any:
    return keras.layers.AlphaDropout(rate, seed=seed, dtype=dtype)


# Why keras.random.dropout accepts invalid rates, per backend (it has no range check of its own;
# keras/src/backend/<backend>/random.py). Upstream declined range checks in Keras 2's Dropout
# ("already specified in the docs"): https://github.com/keras-team/keras/issues/10629
_RATE_UNCHECKED = {
    "tensorflow": "keras.random.dropout leaves the range check to "
    "tf.nn.experimental.stateless_dropout, whose `rate < 0 or rate >= 1` test lets NaN through "
    "(every unit dropped); see https://github.com/keras-team/keras/issues/10629",
    "jax": "keras.random.dropout does not check the rate on the jax backend: a negative rate "
    "scales every unit by 1/(1 - rate) < 1, a rate above 1 or NaN drops every unit; see "
    "https://github.com/keras-team/keras/issues/10629",
    "torch": "keras.random.dropout leaves the range check to torch.bernoulli on a float32 keep "
    "probability, so a tiny negative rate (keep rounds to 1) passes; see "
    "https://github.com/keras-team/keras/issues/10629",
}

#: keras.random.dropout has no training flag: at inference the caller skips it.
_NO_INFERENCE_MODE = (
    "keras.random.dropout has no training flag: at inference the caller skips it (as this "
    "adapter does at training=False), so nothing checks the rate and an invalid one passes "
    "every evaluation (keras.layers.Dropout checks it at construction); "
    "https://keras.io/api/random/random_ops/ (dropout), "
    "https://github.com/keras-team/keras/issues/10629"
)

# On the torch backend ops.matmul computes float64 inputs in float32: Keras's type promotion
# maps float64 to float32 on every backend but tensorflow (keras/src/backend/common/dtypes.py,
# BIT64_TO_BIT32_DTYPE), and torch's matmul follows it (jax's does not).
_MATMUL_FLOAT64 = (
    "keras.ops.matmul of float64 inputs computes in float32 on the torch backend (Keras maps "
    "float64 to float32 in result_type), so float64 outputs carry float32 rounding: "
    "https://github.com/keras-team/keras/issues/23704"
)

#: The same in DROPCONNECT-RATE's float64 calls: their weight masks are read exactly from
#: outputs (x = 1, W[o, j] = 2^j), and float32 rounding of a float64 output is no code.
_MATMUL_FLOAT64_DECODE = (
    _MATMUL_FLOAT64 + " DROPCONNECT-RATE reads the float64 calls' weight masks exactly from "
    "such outputs (x = 1, W[o, j] = 2^j), and a value rounded to float32 is no mask's code "
    "(observed: 66196.96875 at rate 0.01)."
)

_LAYER_NOTE = " A fresh layer per call, seed=seed, dtype=the input's; layer(x, training=...)."


#: Keras' TensorFlow backend drops through tf.nn.experimental.stateless_dropout, which draws
#: its uniform numbers in the data dtype (see the TensorFlow adapter's note): every target of
#: that backend gets the expected failures of :mod:`._half_precision` with this reason.
_TF_HALF_UNIFORM = (
    "on the TensorFlow backend keras.random.dropout calls "
    "tf.nn.experimental.stateless_dropout, which draws its uniform numbers in the data dtype "
    "and keeps where random >= rate: in float16 and bfloat16 the drop probability is rate "
    "rounded up to the dtype's grid (2^-10, 2^-7), and E[y], Var[y] move with it; "
    "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/tensorflow/random.py "
    "(dropout), https://github.com/tensorflow/tensorflow/blob/v2.21.0/tensorflow/python/ops/"
    "nn_ops.py (_dropout)"
)

_JAX_BF16_NORMAL = (
    "on the JAX backend keras.layers.GaussianDropout draws its noise with "
    "jax.random.normal in the layer's dtype; in bfloat16 those normals come from uniforms "
    "with 8 significant bits (128 values), so the noise mean is off by about 0.012 sd "
    "(measured: mean -0.0120 over 2^20 draws of jax.random.normal(key, dtype=bfloat16), "
    "+0.0003 in float32) and its law is coarse. Found by dropspec's every-dtype check; no "
    "upstream issue found. "
    "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/regularization/"
    "gaussian_dropout.py, https://github.com/jax-ml/jax/blob/jax-v0.10.2/jax/_src/random.py "
    "(normal)"
)


#: The dtypes each of those failures is confined to (the clause must pass in the others).
_REASON_DTYPES: dict[str, tuple[str, ...]] = {
    _JAX_BF16_NORMAL: ("bfloat16",),
}


def _scopes(failures: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """``expected_failure_dtypes`` for ``failures``: those whose reason is a dtype's."""
    return {cid: _REASON_DTYPES[why] for cid, why in failures.items() if why in _REASON_DTYPES}


def _layer_failures(backend: str, op: str) -> dict[str, str]:
    if op == "gaussian_dropout" and backend == "jax":
        return {cid: _JAX_BF16_NORMAL for cid in ("GAUSSIAN-MEAN", "GAUSSIAN-DISTRIBUTION")}
    return {}


def _weight_drop_failures(backend: str) -> dict[str, str]:
    failures = {
        "DROPCONNECT-RATE-INVALID": _RATE_UNCHECKED[backend],
        "DROPCONNECT-RATE-INVALID-INFERENCE": _NO_INFERENCE_MODE,
    }
    if backend == "torch":
        failures.update(
            {
                cid: _MATMUL_FLOAT64
                for cid in (
                    "DROPCONNECT-VALUES",
                    "DROPCONNECT-INFERENCE-MEAN",
                    "DROPCONNECT-RATE-ZERO",
                )
            }
        )
        failures["DROPCONNECT-RATE"] = _MATMUL_FLOAT64_DECODE
    return failures


def _targets(backend: str) -> tuple[Target, ...]:
    env = {"KERAS_BACKEND": backend}
    prefix = f"keras[{backend}]"

    def layer(
        build: Callable[[Any, float, int, str], Any],
        op: str,
        name: str,
        description: str,
        **options: Any,
    ) -> Target:
        return make_target(
            _layer_target(backend, build),
            op,
            framework=backend,
            name=f"{prefix}.{name}",
            env=env,
            requires=("keras",),
            seed_bits=SEED_BITS[backend],
            description=description + _LAYER_NOTE,
            expected_failures=_layer_failures(backend, op),
            expected_failure_dtypes=_scopes(_layer_failures(backend, op)),
            **options,
        )

    def stateful(
        build: Callable[[Any, float, int, str], Any], op: str, cls: str, **options: Any
    ) -> Target:
        # Its dtypes and its kernel's divergences: those of f"{prefix}.layers.{cls}"
        # (adapters.stateful.with_seeded_twins).
        return make_stateful_target(
            _stateful_layer(backend, build),
            op,
            framework=backend,
            name=f"{prefix}.layers.{cls} (stateful)",
            env=env,
            requires=("keras",),
            seed_bits=SEED_BITS[backend],
            description=f"keras.layers.{cls}(rate, seed=seed) built once and called again "
            "and again; its SeedGenerator is its state; dtype=the input's.",
            **options,
        )

    return (
        layer(
            _dropout,
            "dropout",
            "layers.Dropout",
            "keras.layers.Dropout(rate).",
            masking="select",
            rate_one="zeros",
        ),
        layer(
            _dropout_nhwc_channels,
            "dropout",
            "layers.Dropout.noise_shape",
            "keras.layers.Dropout(rate, noise_shape=(None, 1, 1, None)) on NHWC input: one "
            "mask value per example and channel.",
            rank=4,
            shared_axes=(1, 2),
            masking="select",
            rate_one="zeros",
        ),
        layer(
            _spatial_1d,
            "dropout",
            "layers.SpatialDropout1D",
            "keras.layers.SpatialDropout1D(rate) on (N, T, C) input: one mask value per "
            "example and channel, shared over time.",
            rank=3,
            shared_axes=(1,),
            masking="select",
            rate_one="zeros",
        ),
        layer(
            _spatial_2d,
            "dropout",
            "layers.SpatialDropout2D",
            "keras.layers.SpatialDropout2D(rate, data_format='channels_last') on NHWC input.",
            rank=4,
            shared_axes=(1, 2),
            masking="select",
            rate_one="zeros",
        ),
        layer(
            _spatial_3d,
            "dropout",
            "layers.SpatialDropout3D",
            "keras.layers.SpatialDropout3D(rate, data_format='channels_last') on NDHWC input.",
            rank=5,
            shared_axes=(1, 2, 3),
            masking="select",
            rate_one="zeros",
        ),
        layer(
            _gaussian,
            "gaussian_dropout",
            "layers.GaussianDropout",
            "keras.layers.GaussianDropout(rate): noise N(1, rate/(1 - rate)).",
        ),
        layer(
            _alpha,
            "alpha_dropout",
            "layers.AlphaDropout",
            "keras.layers.AlphaDropout(rate).",
            rate_one="error",
        ),
        stateful(_alpha, "alpha_dropout", "AlphaDropout", rate_one="error"),
        stateful(_gaussian, "gaussian_dropout", "GaussianDropout"),
        stateful(_dropout, "dropout", "Dropout", masking="select", rate_one="zeros"),
        make_target(
            _random_dropout(backend),
            "dropout",
            framework=backend,
            name=f"{prefix}.random.dropout",
            env=env,
            requires=("keras",),
            seed_bits=SEED_BITS[backend],
            masking="select",
            rate_one="zeros",
            expected_failures={
                "DROPOUT-RATE-INVALID": _RATE_UNCHECKED[backend],
                "DROPOUT-RATE-INVALID-INFERENCE": _NO_INFERENCE_MODE,
            },
            description="keras.random.dropout(x, rate, seed=seed); a function with no "
            "training flag: with training=False the adapter returns x unchanged.",
        ),
        make_target(
            _weight_drop(backend),
            "dropconnect",
            framework=backend,
            name=f"{prefix}.weight_drop",
            env=env,
            requires=("keras",),
            seed_bits=SEED_BITS[backend],
            masks="per_batch",
            mask_bias=False,
            scaling="inverted",
            inference="mean",
            rate_one="zeros",
            expected_failures=_weight_drop_failures(backend),
            expected_failure_dtypes=_scopes(_weight_drop_failures(backend)),
            description="weight drop composed from Keras ops: keras.random.dropout on "
            "the weight (one mask per call), then x @ W^T + b with the bias unmasked; "
            "inference uses W itself.",
        ),
        make_target(
            _multi_head_attention(backend),
            "attention_dropout",
            framework=backend,
            name=f"{prefix}.layers.MultiHeadAttention",
            env=env,
            requires=("keras",),
            seed_bits=SEED_BITS[backend],
            dtypes=_ATTENTION_DTYPES,
            weights="before",
            description="keras.layers.MultiHeadAttention(heads, key_dim=d, value_dim=d_v, "
            "dropout=rate, use_bias=False, seed=seed) with identity projections, called with "
            "return_attention_scores=True: the scores it returns are taken before dropout; "
            "float32 only (its mask is keras.random.dropout, checked in every dtype by "
            "layers.Dropout)." + _LAYER_NOTE,
        ),
    )


# ---------------------------------------------------------------- recurrent dropout ----

#: Keras's recurrent layers checked as recurrent dropout, by class name.
RECURRENT_LAYERS = ("SimpleRNN", "GRU", "LSTM")


def _recurrent_weights(kind: str, units: int, bias_shape: tuple[int, ...]) -> tuple[Any, ...]:
    """Kernel, recurrent kernel and bias that reduce ``kind`` (with linear activations) to
    h(t) = x(t) + h(t−1) before dropout: the candidate's kernels the identity, the other
    gates' zero, held by their biases (GRU: update gate 0, reset gate 1; LSTM: input and
    output gates 1, forget gate 0)."""
    import numpy as np

    eye, zero = np.eye(units), np.zeros((units, units))
    if kind == "GRU":
        kernel = np.concatenate([zero, zero, eye], axis=1)
        bias = np.zeros(bias_shape)  # (3·units,), or (2, 3·units) with reset_after
        bias.reshape(-1, 3 * units)[0, units : 2 * units] = 1.0
    else:
        kernel = np.concatenate([zero, zero, eye, zero], axis=1)
        bias = np.zeros(bias_shape)
        bias[:units] = bias[3 * units :] = 1.0
    return kernel, kernel, bias


def _recurrent_layer(
    keras: Any, kind: str, units: int, dtype: str, rate: float, recurrent_rate: float
) -> Any:
    """A ``kind`` layer over ``units`` features returning every state, with
    ``dropout=rate, recurrent_dropout=recurrent_rate`` and the weights of
    :func:`_recurrent_weights` (SimpleRNN: identity kernels, no bias)."""
    common = {
        "return_sequences": True,
        "dtype": dtype,
        "activation": None,
        "dropout": rate,
        "recurrent_dropout": recurrent_rate,
        # Seeded: an unseeded SeedGenerator draws from the global generator on the torch
        # backend, whatever its state (keras/src/backend/torch/random.py); the state is then
        # set at every call.
        "seed": 0,
    }
    if kind == "SimpleRNN":
        layer = keras.layers.SimpleRNN(
            units,
            use_bias=False,
            kernel_initializer="identity",
            recurrent_initializer="identity",
            **common,
        )
        layer.build((None, None, units))
        return layer
    layer = getattr(keras.layers, kind)(units, recurrent_activation=None, **common)
    layer.build((None, None, units))
    weights = _recurrent_weights(kind, units, tuple(layer.cell.bias.shape))
    layer.set_weights([w.astype(dtype) for w in weights])
    return layer


#: Layers an adapter keeps built (building one costs more than calling it).
_RECURRENT_KEPT = 16


def _recurrent_target(backend: str, kind: str) -> Fn:
    """``fn(x, rate, recurrent_rate, *, training, seed)`` through a ``kind`` layer, kept per
    dtype, width and rates, its seed generator given at each call the state a fresh layer
    with ``seed=seed`` starts from, [seed, 0]: each call is that of a fresh layer."""
    made: dict[tuple[Any, ...], Any] = {}

    def fn(x: Any, rate: float, recurrent_rate: float, *, training: bool, seed: int) -> Any:
        keras = _keras(backend)
        dtype = keras.backend.standardize_dtype(x.dtype)
        key = (dtype, int(x.shape[-1]), rate, recurrent_rate)
        if key not in made:
            if len(made) >= _RECURRENT_KEPT:
                made.pop(next(iter(made)))
            made[key] = _recurrent_layer(keras, kind, key[1], dtype, rate, recurrent_rate)
        layer = made[key]
        state = layer.cell.seed_generator.state
        state.assign(keras.ops.convert_to_tensor([seed, 0], dtype=state.dtype))
        return layer(x, training=training)

    return fn


#: Keras's recurrent layers clamp their rates to [0, 1] (``min(1.0, max(0.0, dropout))`` in
#: each cell's constructor): a negative rate or NaN drops nothing, a rate above 1 drops all.
_RECURRENT_RATE_CLAMPED = (
    "keras.layers.SimpleRNN, GRU and LSTM clamp dropout= and recurrent_dropout= to [0, 1] "
    "in the cell's constructor (min(1.0, max(0.0, rate))): a negative rate or NaN drops "
    "nothing and a rate above 1 is rate 1, without an error; "
    "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/rnn/simple_rnn.py "
    "(SimpleRNNCell.__init__); range checks declined upstream: "
    "https://github.com/keras-team/keras/issues/10629"
)


#: GRU and LSTM cells drop only `if training and 0.0 < self.dropout < 1.0` (and likewise
#: recurrent_dropout): at rate 1 their cells drop nothing. Observed with keras 3.15.1.
_GATED_RATE_ONE = (
    "keras.layers.GRU and LSTM cells apply a dropout only where 0 < rate < 1 (GRUCell.call "
    "and LSTMCell.call test `0.0 < self.dropout < 1.0`): recurrent_dropout=1 drops nothing on "
    "every backend, and dropout=1 drops nothing where the layer runs its cell loop "
    "(tensorflow on CPU, LSTM on jax), but every input where the backend's fused kernel "
    "takes the sequence masked before it (torch, GRU on jax); observed with keras 3.15.1 "
    "(SimpleRNN drops every unit at rate 1); "
    "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/rnn/lstm.py, "
    "no upstream issue found"
)


def _recurrent_failures(backend: str, kind: str) -> dict[str, str]:
    failures = {"RECUR-RATE-INVALID": _RECURRENT_RATE_CLAMPED}
    if kind != "SimpleRNN":
        failures["RECUR-RATE-ONE-ZEROS"] = _GATED_RATE_ONE
    return failures


def _recurrent_targets(backend: str) -> tuple[Target, ...]:
    return tuple(
        make_target(
            _recurrent_target(backend, kind),
            "recurrent_dropout",
            framework=backend,
            name=f"keras[{backend}].layers.{kind}",
            env={"KERAS_BACKEND": backend},
            requires=("keras",),
            seed_bits=SEED_BITS[backend],
            dtypes=("float32",),
            expected_failures=_recurrent_failures(backend, kind),
            description=f"keras.layers.{kind}(units, dropout=rate, "
            "recurrent_dropout=recurrent_rate, seed=seed, activation=None, "
            "return_sequences=True)"
            + ("" if kind == "SimpleRNN" else ", recurrent_activation=None")
            + ", its kernels set so that h(t) = x(t) + h(t−1) before dropout; float32 "
            "only (a recurrent layer's statistical checks cost seconds per dtype).",
        )
        for kind in RECURRENT_LAYERS
    )


def _in_halves(t: Target) -> bool:
    """Whether ``t`` is checked in a half dtype (where the half-uniform failures show)."""
    return t.dtypes is None or bool(set(t.dtypes) & set(HALVES))


TARGETS: tuple[Target, ...] = tuple(
    with_half_uniform(t, _TF_HALF_UNIFORM) if b == "tensorflow" and _in_halves(t) else t
    for b in BACKENDS
    for t in _targets(b)
) + tuple(t for b in BACKENDS for t in _recurrent_targets(b))
TARGETS = with_seeded_twins(TARGETS)
