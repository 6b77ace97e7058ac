"""JAX: the backend, and the JAX family's dropout layers as built-in targets.

Targets wrap ``flax.linen.Dropout``, ``flax.nnx.Dropout``, ``equinox.nn.Dropout`` and
``haiku.dropout``, plus two DropConnect compositions. Every framework is imported on the first
call, never when this module is imported.

The suite hands each call an integer seed below 2^64; a target turns it into a key as
``jax.random.key(seed)`` does (:func:`key`) and gives the key to the library the way a user
would (an ``rngs`` collection, a ``key=`` argument, ``hk.transform``'s ``apply``). Calls run
eagerly, as a user's code outside ``jax.jit`` does.
Under ``jit`` these libraries need the rate as a Python number (they branch on it), so every
rate is a compilation of its own; the checks draw rates from the seed, and a jitted target
spent about half its check compiling (measured: six JAX targets 109 s jitted, 81 s eager).
Eagerly, JAX compiles each operation once per shape and dtype and takes the rate as an
operand. The random bits are a function of the key alone, jitted or not
(``tests/test_adapters_jax.py`` compares the two on a large input).

float64: the suite runs JAX with ``jax_enable_x64`` on. Without it JAX silently computes
float64 input in float32, and no float64 clause could be checked. JAX's switch is
process-wide: while it is on, ``jnp.array(1.0)`` is float64, and ``jax.random.bernoulli``
draws its uniforms in float64 (the masks stay valid Bernoulli draws, but differ bit for bit
from an x64-off run with the same key). Where it is on:

- in ``dropspec check`` (and ``pytest --dropspec-target``), each target runs in a worker
  process that runs nothing else, and the switch stays on there;
- in your own process (``dropspec.suite``, or the engine's ``run_clause`` called directly),
  the engine turns it on for each check and restores it afterwards
  (:meth:`JaxBackend.settings`), so your code sees JAX as you configured it between checks;
- calling this module's targets, :data:`BACKEND` or :func:`key` yourself, outside a check,
  turns it on for the rest of your process (they need it to honour float64), as the first
  use always did.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..target import Target, make_stateful_target, make_target
from ._backend import Backend, as_int64, framework_settings_kept
from ._variants import Variant, maps_examples, rate_key
from .stateful import with_seeded_twins

#: The suite's device names -> JAX platform names.
_PLATFORMS = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}


def _jax() -> Any:
    """Import jax with float64 enabled (see the module docstring: outside a check, this turns
    it on for the rest of the process)."""
    import jax

    config: Any = jax.config  # typed loosely upstream; the flag is a runtime attribute
    if not config.jax_enable_x64:
        config.update("jax_enable_x64", True)
    return jax


def key(seed: int) -> Any:
    """``jax.random.key(seed)`` for every seed in [0, 2^64).

    ``jax.random.key`` takes the seed as a signed 64-bit integer and raises OverflowError
    from 2^63 up; a seed there is passed as the int64 with the same 64 bits (seed - 2^64),
    which JAX's key derivation reads bit for bit (for threefry: the high and the low 32
    bits). ``tests/test_adapters_jax.py`` checks both ranges. A seed that is already a JAX
    int64 array (traced, under a variant such as ``jit``: :mod:`dropspec.adapters.variants`)
    holds those 64 bits and is passed as it is."""
    jax = _jax()
    return jax.random.key(seed if isinstance(seed, jax.Array) else as_int64(seed))


class JaxBackend(Backend):
    """Arrays are ``jax.Array`` on the requested platform; gradients come from ``jax.vjp``."""

    name = "jax"
    supported_dtypes = ("float16", "bfloat16", "float32", "float64")
    startup_seconds = 6.0
    strides = "dense"  # a jax.Array is always laid out by XLA

    @contextlib.contextmanager
    def settings(self) -> Iterator[None]:
        """``jax_enable_x64`` on for a check, then back as it was; kept on in a worker of
        ``dropspec check`` (see the module docstring)."""
        import jax

        config: Any = jax.config
        before = bool(config.jax_enable_x64)
        if not before:
            config.update("jax_enable_x64", True)
        try:
            yield
        finally:
            if not before and not framework_settings_kept():
                config.update("jax_enable_x64", False)

    def is_array(self, value: Any) -> bool:
        jax = sys.modules.get("jax")  # an array of a framework never imported cannot exist
        return jax is not None and isinstance(value, jax.Array)

    def asarray(self, a: np.ndarray, device: str = "cpu") -> Any:
        jax = _jax()
        platform = _PLATFORMS.get(device)
        if platform is None:
            raise ValueError(
                f"unknown device {device!r} for jax; use one of {', '.join(_PLATFORMS)}"
            )
        # Copy first: on CPU device_put may alias the NumPy buffer, which the caller may reuse.
        return jax.device_put(np.array(a, copy=True), jax.devices(platform)[0])

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.array(value, copy=True)  # bfloat16 comes back as ml_dtypes.bfloat16

    def fresh(self, value: Any) -> Any:
        return value  # JAX arrays are immutable

    def vjp(
        self, f: Callable[[Any], Any], x: np.ndarray, cotangent: np.ndarray, device: str = "cpu"
    ) -> np.ndarray | None:
        jax = _jax()
        y, pullback = jax.vjp(f, self.asarray(x, device))
        (grad,) = pullback(jax.numpy.asarray(cotangent, dtype=y.dtype))
        return self.to_numpy(grad)


BACKEND = JaxBackend()


# ---------------------------------------------------------------- calling convention ----

#: ``body(*arrays, seed, *, rate, training)``: the library call, traceable by ``jax.jit``.
Body = Callable[..., Any]


def _compiled(body: Body) -> Callable[..., Any]:
    """``fn(*arrays, rate, *, training, seed)`` running ``body`` (eagerly: see the module
    docstring)."""

    def fn(*args: Any, training: bool, seed: int) -> Any:
        *arrays, rate = args
        _jax()
        return body(*arrays, seed, rate=rate, training=training)

    return fn


def _dropout_fn(body: Body) -> Callable[..., Any]:
    """A dropout target function with the op's named signature (make_target checks it)."""
    run = _compiled(body)

    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        return run(x, rate, training=training, seed=seed)

    fn.__doc__ = body.__doc__
    return fn


def _dropconnect_fn(body: Body) -> Callable[..., Any]:
    run = _compiled(body)

    def fn(x: Any, weight: Any, bias: Any, rate: float, *, training: bool, seed: int) -> Any:
        return run(x, weight, bias, rate, training=training, seed=seed)

    fn.__doc__ = body.__doc__
    return fn


# ---------------------------------------------------------------- dropout layers ----


def _linen(broadcast_dims: tuple[int, ...] = ()) -> Body:
    def body(x: Any, seed: Any, *, rate: float, training: bool) -> Any:
        """flax.linen.Dropout(rate, broadcast_dims).apply with rngs={"dropout": key}."""
        import flax.linen as nn

        layer = nn.Dropout(rate=rate, broadcast_dims=broadcast_dims)
        return layer.apply({}, x, deterministic=not training, rngs={"dropout": key(seed)})

    return body


def _nnx(x: Any, seed: Any, *, rate: float, training: bool) -> Any:
    """flax.nnx.Dropout(rate, rngs=nnx.Rngs(dropout=seed))(x, deterministic=not training)."""
    from flax import nnx

    # Rngs(dropout=seed) turns an int into jax.random.key(seed); under jit the seed is a
    # tracer, which Rngs refuses, so the key is made here.
    layer = nnx.Dropout(rate, rngs=nnx.Rngs(dropout=key(seed)))
    return layer(x, deterministic=not training)


def _equinox(x: Any, seed: Any, *, rate: float, training: bool) -> Any:
    """equinox.nn.Dropout(p=rate, inference=not training)(x, key=key)."""
    import equinox as eqx

    return eqx.nn.Dropout(p=rate, inference=not training)(x, key=key(seed))


def _haiku(x: Any, seed: Any, *, rate: float, training: bool) -> Any:
    """hk.dropout(hk.next_rng_key(), rate, x) inside hk.transform; x itself when not training."""
    import haiku as hk

    if not training:  # hk.dropout has no inference mode: a model skips the call
        return x
    model = hk.transform(lambda v: hk.dropout(hk.next_rng_key(), rate, v))
    return model.apply({}, key(seed), x)


# ---------------------------------------------------------------- stateful layers ----


class NnxLayer:
    """An nnx module held as (graph, state) and called through nnx's functional API: each
    call merges a copy of the state, runs ``step(module, x, training)`` and keeps the new
    state, the way nnx documents using a module under raw JAX transforms (a jax.vjp around
    a call of the module itself raises TraceContextError: an nnx Variable refuses an update
    from inside another trace; nnx.grad/nnx.vjp do this split and merge). The variants
    ``nnx.jit`` and ``nnx.vmap`` run the same call with their own ``step``."""

    def __init__(self, module: Any) -> None:
        from flax import nnx

        self.graph, self.state = nnx.split(module)

    def run(self, step: Callable[[Any, Any, bool], Any], x: Any, training: bool) -> Any:
        from flax import nnx

        inner = nnx.merge(self.graph, _jax().tree.map(lambda a: a, self.state))
        y = step(inner, x, training)
        self.state = nnx.state(inner)
        return y

    def __call__(self, x: Any, *, training: bool) -> Any:
        return self.run(_nnx_eager, x, training)


def _nnx_eager(module: Any, x: Any, training: bool) -> Any:
    return module(x, deterministic=not training)


def _nnx_stateful(rate: float, *, seed: int) -> Callable[..., Any]:
    """flax.nnx.Dropout(rate, rngs=nnx.Rngs(dropout=seed)) built once; its Rngs count goes
    up at each training call (see :class:`NnxLayer`)."""
    from flax import nnx

    return NnxLayer(nnx.Dropout(rate, rngs=nnx.Rngs(dropout=key(seed))))


def _threaded(apply: Callable[[Any, Any, float], Any]) -> Callable[..., Any]:
    """A factory whose layer holds a key, split at each training call as a training loop
    threads it (``key, step_key = jax.random.split(key)``); ``apply(x, step_key, rate)``
    is the library's training call, and inference is the library's (or the identity)."""

    def factory(rate: float, *, seed: int) -> Callable[..., Any]:
        state = [key(seed)]

        def call(x: Any, *, training: bool) -> Any:
            if not training:
                return apply(x, None, rate)
            state[0], step_key = _jax().random.split(state[0])
            return apply(x, step_key, rate)

        return call

    return factory


def _linen_step(x: Any, step_key: Any, rate: float) -> Any:
    import flax.linen as nn

    layer = nn.Dropout(rate=rate)
    rngs = None if step_key is None else {"dropout": step_key}
    return layer.apply({}, x, deterministic=step_key is None, rngs=rngs)


def _equinox_step(x: Any, step_key: Any, rate: float) -> Any:
    import equinox as eqx

    return eqx.nn.Dropout(p=rate, inference=step_key is None)(x, key=step_key)


def _haiku_step(x: Any, step_key: Any, rate: float) -> Any:
    import haiku as hk

    if step_key is None:  # hk.dropout has no inference mode: a model skips the call
        return x
    model = hk.transform(lambda v: hk.dropout(hk.next_rng_key(), rate, v))
    return model.apply({}, step_key, x)


# ---------------------------------------------------------------- DropConnect ----


def _check_layer(x: Any, weight: Any, bias: Any) -> None:
    # A matmul catches a wrong in-dimension, but a bias of length 1 would broadcast silently.
    if weight.shape[1:] != x.shape[-1:] or (bias is not None and bias.shape != weight.shape[:1]):
        raise ValueError(
            f"x {x.shape}, weight {weight.shape} and bias "
            f"{None if bias is None else bias.shape} do not form a dense layer: "
            f"need x (batch, in), weight (out, in), bias (out,)"
        )


def _flax_weight_drop(
    x: Any, weight: Any, bias: Any, seed: Any, *, rate: float, training: bool
) -> Any:
    """flax.linen.Dropout on the kernel, then x @ Wᵀ + b (bias unmasked)."""
    import flax.linen as nn

    _check_layer(x, weight, bias)
    dropped: Any = nn.Dropout(rate=rate).apply(
        {}, weight, deterministic=not training, rngs={"dropout": key(seed)}
    )
    y = x @ dropped.T
    return y if bias is None else y + bias


def _per_example(x: Any, weight: Any, bias: Any, rate: float, *, training: bool, seed: int) -> Any:
    """Per-example DropConnect in plain JAX: one (out, in) weight mask per example."""
    _check_layer(x, weight, bias)
    if not 0.0 <= rate <= 1.0:  # NaN fails too; jax.random.bernoulli checks nothing
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")
    return _per_example_jit()(x, weight, bias, key(seed), rate, training=training)


@functools.cache
def _per_example_jit() -> Any:
    jax = _jax()
    jnp = jax.numpy

    def layer(x: Any, weight: Any, bias: Any, rng: Any, rate: Any, training: bool) -> Any:
        if not training:
            y = x @ weight.T
            return y if bias is None else y + bias
        keep = 1.0 - rate
        kw, kb = jax.random.split(rng)
        masks = jax.random.bernoulli(kw, keep, (x.shape[0], *weight.shape))
        # select, not multiply: at rate 1, weight / keep is inf and must not reach the output
        thinned = jnp.where(masks, (weight / keep).astype(weight.dtype), 0)
        y = jnp.einsum("ni,noi->no", x, thinned)
        if bias is None:
            return y
        bias_masks = jax.random.bernoulli(kb, keep, y.shape)
        return y + jnp.where(bias_masks, (bias / keep).astype(bias.dtype), 0)

    # The rate is traced (this code never branches on it), so shapes alone trigger compiles.
    return jax.jit(layer, static_argnames=("training",))


# ---------------------------------------------------------------- targets ----

_FLAX_RATE = (
    "flax never validates the rate: rate < 0 keeps every unit and scales it by "
    "1/(1 - rate) < 1; rate > 1 and NaN give zeros (a request to limit it to [0, 1) "
    "is open: https://github.com/google/flax/issues/2538)"
)
_EQX_RATE = (
    "equinox.nn.Dropout never validates p: p < 0 keeps every unit and scales it by "
    "1/(1 - p) < 1; p > 1 and NaN give zeros (no upstream issue found; "
    "https://github.com/patrick-kidger/equinox/blob/main/equinox/nn/_dropout.py)"
)
_HAIKU_RATE = (
    "hk.dropout checks `rate < 0 or rate >= 1`, which NaN passes: rate NaN returns "
    "all-NaN output instead of an error (no upstream issue found; "
    "https://github.com/google-deepmind/dm-haiku/blob/main/haiku/_src/basic.py)"
)

_HAIKU_INFERENCE = (
    "hk.dropout has no training flag: at inference the caller skips it (as this adapter does "
    "at training=False), so no rate is checked; "
    "https://github.com/google-deepmind/dm-haiku/blob/main/haiku/_src/basic.py (dropout)"
)

# hk.dropout multiplies by the mask; XLA rewrites convert(mask) * x into a select, except in
# bfloat16, so the NaN policy depends on the dtype.
_HAIKU_MULTIPLY = (
    "hk.dropout computes keep * x / keep_rate, but XLA rewrites the multiply by "
    "a converted bool into a select, so in float16/32/64 a dropped NaN or inf "
    "gives 0, not NaN (https://github.com/jax-ml/jax/issues/12233, "
    "https://github.com/openxla/xla/issues/2438)"
)
_HAIKU_SELECT = (
    "hk.dropout multiplies by the mask; in bfloat16 XLA keeps the multiply, so a "
    "dropped NaN or inf gives NaN (https://github.com/jax-ml/jax/issues/12233: "
    "bfloat16 keeps NaN while float32 gives 0)"
)


def _flax_attention(broadcast_dropout: bool) -> Callable[..., Any]:
    def fn(q: Any, k: Any, v: Any, rate: float, *, training: bool, seed: int) -> Any:
        """flax.linen.dot_product_attention on (batch, seq, heads, d), the layout it takes."""
        import flax.linen as nn
        import jax.numpy as jnp

        def heads_last(t: Any) -> Any:
            return jnp.swapaxes(t, 1, 2)

        out = nn.dot_product_attention(
            heads_last(q),
            heads_last(k),
            heads_last(v),
            dropout_rng=key(seed),
            dropout_rate=rate,
            broadcast_dropout=broadcast_dropout,
            deterministic=not training,
        )
        return heads_last(out)

    fn.__qualname__ = fn.__name__ = "flax_dot_product_attention" + (
        "" if broadcast_dropout else "_independent"
    )
    return fn


#: The dtype flax's attention layers are checked in: their dropout is dot_product_attention's
#: (checked in every dtype through flax.linen.dot_product_attention), and each dtype would cost
#: a layer's compiling again (eager JAX compiles per shape and dtype).
_FLAX_LAYER_DTYPES = ("float32",)


def _packed(t: Any, width: int, factor: float = 1.0) -> Any:
    """(batch, heads, seq, d) as (batch, seq, heads·width): d padded with zeros to width (which
    leave q·kᵀ alone), times ``factor``."""
    import jax.numpy as jnp

    b, h, n, d = t.shape
    padded = jnp.pad(t * factor if factor != 1.0 else t, ((0, 0), (0, 0), (0, 0), (0, width - d)))
    return jnp.swapaxes(padded, 1, 2).reshape(b, n, h * width)


def _unpacked(out: Any, h: int, width: int, dv: int) -> Any:
    import jax.numpy as jnp

    b, n, _ = out.shape
    return jnp.swapaxes(out.reshape(b, n, h, width), 1, 2)[..., :dv]


def _identity_kernels(h: int, width: int, dtype: Any) -> tuple[Any, Any]:
    """Identity kernels of the q/k/v projections (in, heads, width) and of the output
    projection (heads, width, out), in ``dtype``."""
    import jax.numpy as jnp

    eye = jnp.eye(h * width, dtype=dtype)
    return eye.reshape(h * width, h, width), eye.reshape(h, width, h * width)


def _layer_inputs(q: Any, k: Any, v: Any) -> tuple[int, int, int, tuple[Any, Any, Any]]:
    """heads, the width (max(d, d_v)) and q, k, v packed for a layer of identity projections:
    q scaled by √(width/d), so that the layer's 1/√width is the op's 1/√d."""
    h, d, dv = q.shape[1], q.shape[-1], v.shape[-1]
    width = max(d, dv)
    return (
        h,
        width,
        dv,
        (_packed(q, width, (width / d) ** 0.5), _packed(k, width), _packed(v, width)),
    )


def _flax_multi_head(
    q: Any, k: Any, v: Any, rate: float, *, training: bool, seed: int
) -> tuple[Any, Any]:
    """flax.linen.MultiHeadDotProductAttention with identity projections and no biases (its
    parameters given, not initialised), the weights it sows (sow_weights=True) returned."""
    import flax.linen as nn

    h, width, dv, (query, key_, value) = _layer_inputs(q, k, v)
    inner, outer = _identity_kernels(h, width, q.dtype)
    layer = nn.MultiHeadDotProductAttention(
        num_heads=h,
        qkv_features=h * width,
        out_features=h * width,
        dropout_rate=rate,
        use_bias=False,
        dtype=q.dtype,
        param_dtype=q.dtype,
    )
    params = {name: {"kernel": inner} for name in ("query", "key", "value")}
    params["out"] = {"kernel": outer}
    out, state = layer.apply(
        {"params": params},
        query,
        key_,
        value,
        deterministic=not training,
        dropout_rng=key(seed),
        sow_weights=True,
        mutable=["intermediates"],
    )
    return _unpacked(out, h, width, dv), state["intermediates"]["attention_weights"][0]


def _nnx_multi_head(
    q: Any, k: Any, v: Any, rate: float, *, training: bool, seed: int
) -> tuple[Any, Any]:
    """flax.nnx.MultiHeadAttention with identity projections and no biases, called with
    rngs=nnx.Rngs(dropout=key(seed)); the weights it sows (sow_weights=True) returned."""
    from flax import nnx

    h, width, dv, (query, key_, value) = _layer_inputs(q, k, v)
    inner, outer = _identity_kernels(h, width, q.dtype)
    layer = nnx.MultiHeadAttention(
        num_heads=h,
        in_features=h * width,
        qkv_features=h * width,
        out_features=h * width,
        dropout_rate=rate,
        use_bias=False,
        dtype=q.dtype,
        param_dtype=q.dtype,
        kernel_init=nnx.initializers.zeros_init(),
        rngs=nnx.Rngs(0),
        keep_rngs=False,
    )
    for proj in (layer.query, layer.key, layer.value):
        proj.kernel.value = inner
    layer.out.kernel.value = outer
    out = layer(
        query,
        key_,
        value,
        deterministic=not training,
        rngs=nnx.Rngs(dropout=key(seed)),
        sow_weights=True,
        decode=False,
    )
    return _unpacked(out, h, width, dv), layer.attention_weights.get_value()[0]  # type: ignore[attr-defined]


def _equinox_multi_head(q: Any, k: Any, v: Any, rate: float, *, training: bool, seed: int) -> Any:
    """equinox.nn.MultiheadAttention (one example, (seq, features)) with identity projections
    and no biases, qk_size = d and vo_size = d_v, vmapped over the batch with
    jax.random.split(key(seed), batch): one key per example, as equinox expects (the layer
    splits each example's key over the heads itself)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    b, h, _, d = q.shape
    dv = v.shape[-1]

    def rows(t: Any) -> Any:
        return jnp.swapaxes(t, 1, 2).reshape(b, t.shape[2], h * t.shape[3])

    layer = eqx.nn.MultiheadAttention(
        h,
        h * d,
        key_size=h * d,
        value_size=h * dv,
        output_size=h * dv,
        qk_size=d,
        vo_size=dv,
        dropout_p=rate,
        dtype=q.dtype,
        key=key(0),
    )
    eye_qk, eye_v = jnp.eye(h * d, dtype=q.dtype), jnp.eye(h * dv, dtype=q.dtype)
    layer = eqx.tree_at(
        lambda m: (
            m.query_proj.weight,
            m.key_proj.weight,
            m.value_proj.weight,
            m.output_proj.weight,
        ),
        layer,
        (eye_qk, eye_qk, eye_v, eye_v),
    )
    keys = jax.random.split(key(seed), b)
    out = jax.vmap(lambda qi, ki, vi, kk: layer(qi, ki, vi, key=kk, inference=not training))(
        rows(q), rows(k), rows(v), keys
    )
    return jnp.swapaxes(out.reshape(b, q.shape[2], h, dv), 1, 2)


#: flax.linen.dot_product_attention drops only `if not deterministic and dropout_rate > 0.0`
#: and divides the mask by keep_prob: no rate is checked, and at rate 1 it divides 0 by 0.
_FLAX_ATTENTION_RATE = (
    "flax.linen.dot_product_attention checks no rate: a negative or NaN rate fails "
    "`dropout_rate > 0.0` and silently skips dropout, and a rate above 1 draws with a "
    "negative keep probability (flax/linen/attention.py, dot_product_attention_weights)"
)
_FLAX_ATTENTION_RATE_ONE = (
    "at rate 1 the multiplier is keep / keep_prob = 0 / 0, so every output is NaN instead of "
    "0 (flax/linen/attention.py, dot_product_attention_weights; flax.linen.Dropout "
    "special-cases rate 1, this path does not)"
)
_FLAX_ATTENTION_INFERENCE_RATE = (
    "with deterministic=True flax never reads dropout_rate, and checks it nowhere else: "
    "-0.1, 1.5 and NaN are all accepted at inference (flax/linen/attention.py, "
    "dot_product_attention_weights; https://github.com/google/flax/issues/5497, whose fix "
    "https://github.com/google/flax/pull/5510 is not merged in 0.12.8)"
)
_FLAX_ATTENTION_XFAIL = {
    "ATTN-RATE-INVALID": _FLAX_ATTENTION_RATE,
    "ATTN-RATE-ONE-ZEROS": _FLAX_ATTENTION_RATE_ONE,
    "ATTN-RATE-INVALID-INFERENCE": _FLAX_ATTENTION_INFERENCE_RATE,
}
#: flax.nnx's copy of dot_product_attention_weights (flax/nnx/nn/attention.py) has the same
#: guard and division. Observed with flax 0.12.8: -0.1 and NaN drop nothing, 1.5 draws with
#: keep probability -0.5 (every value dropped, no error), 1.0 gives NaN.
_NNX_ATTENTION_XFAIL = {
    "ATTN-RATE-INVALID": "flax.nnx.MultiHeadAttention checks no rate: its "
    "dot_product_attention_weights drops only `if not deterministic and dropout_rate > 0.0`, "
    "so a negative or NaN rate silently skips dropout, and 1.5 draws with a negative keep "
    "probability (https://github.com/google/flax/issues/5497, closed; the fix, "
    "https://github.com/google/flax/pull/5510, is not merged in 0.12.8)",
    "ATTN-RATE-ONE-ZEROS": "at rate 1 the multiplier is keep / keep_prob = 0 / 0, so every "
    "output is NaN instead of 0 (flax/nnx/nn/attention.py, dot_product_attention_weights)",
    "ATTN-RATE-INVALID-INFERENCE": "with deterministic=True flax.nnx.MultiHeadAttention "
    "never reads dropout_rate, and checks it nowhere else: -0.1, 1.5 and NaN are all "
    "accepted at inference (https://github.com/google/flax/issues/5497; fix "
    "https://github.com/google/flax/pull/5510 not merged in 0.12.8)",
}
_WEIGHT_DROP: dict[str, Any] = dict(
    masks="per_batch", mask_bias=False, scaling="inverted", inference="mean", activation="identity"
)
_PER_EXAMPLE: dict[str, Any] = dict(
    masks="per_example", mask_bias=True, scaling="inverted", inference="mean", activation="identity"
)

TARGETS: tuple[Target, ...] = (
    make_target(
        _dropout_fn(_linen()),
        "dropout",
        framework="jax",
        name="flax.linen.Dropout",
        requires=("flax",),
        rate_one="zeros",
        expected_failures=dict.fromkeys(
            ("DROPOUT-RATE-INVALID", "DROPOUT-RATE-INVALID-INFERENCE"), _FLAX_RATE
        ),
        description="flax.linen.Dropout(rate).apply({}, x, deterministic=not training, "
        "rngs={'dropout': jax.random.key(seed)}); dropped slots by lax.select",
    ),
    make_target(
        _dropout_fn(_linen(broadcast_dims=(1, 2))),
        "dropout",
        framework="jax",
        name="flax.linen.Dropout.broadcast_dims",
        requires=("flax",),
        shared_axes=(1, 2),
        rank=4,
        rate_one="zeros",
        expected_failures=dict.fromkeys(
            ("DROPOUT-RATE-INVALID", "DROPOUT-RATE-INVALID-INFERENCE"), _FLAX_RATE
        ),
        description="flax.linen.Dropout(rate, broadcast_dims=(1, 2)) on NHWC input: one mask "
        "value per (example, channel), shared over height and width",
    ),
    make_target(
        _dropout_fn(_nnx),
        "dropout",
        framework="jax",
        name="flax.nnx.Dropout",
        requires=("flax",),
        rate_one="zeros",
        expected_failures=dict.fromkeys(
            ("DROPOUT-RATE-INVALID", "DROPOUT-RATE-INVALID-INFERENCE"), _FLAX_RATE
        ),
        description="flax.nnx.Dropout(rate, rngs=nnx.Rngs(dropout=seed))(x, "
        "deterministic=not training); a fresh layer per call, so each seed gives one mask",
    ),
    make_target(
        _dropout_fn(_equinox),
        "dropout",
        framework="jax",
        name="equinox.nn.Dropout",
        requires=("equinox",),
        rate_one="zeros",
        expected_failures=dict.fromkeys(
            ("DROPOUT-RATE-INVALID", "DROPOUT-RATE-INVALID-INFERENCE"), _EQX_RATE
        ),
        description="equinox.nn.Dropout(p=rate, inference=not training)(x, "
        "key=jax.random.key(seed)); dropped slots by jnp.where",
    ),
    make_target(
        _dropout_fn(_haiku),
        "dropout",
        framework="jax",
        name="haiku.dropout",
        requires=("haiku",),
        rate_one="error",
        masking="multiply",
        expected_failures={
            "DROPOUT-RATE-INVALID": _HAIKU_RATE,
            "DROPOUT-RATE-INVALID-INFERENCE": _HAIKU_INFERENCE,
            "DROPOUT-DROPPED-MULTIPLY": _HAIKU_MULTIPLY,
            "DROPOUT-DROPPED-SELECT": _HAIKU_SELECT,
        },
        description="hk.dropout(hk.next_rng_key(), rate, x) in hk.transform, applied with "
        "jax.random.key(seed); training=False skips it. Declared as written, keep * x / "
        "keep_rate; what XLA makes of the multiply depends on the dtype",
    ),
    make_stateful_target(
        _nnx_stateful,
        "dropout",
        framework="jax",
        name="flax.nnx.Dropout (stateful)",
        requires=("flax",),
        rate_one="zeros",
        expected_failures=dict.fromkeys(
            ("DROPOUT-RATE-INVALID", "DROPOUT-RATE-INVALID-INFERENCE"), _FLAX_RATE
        ),
        description="flax.nnx.Dropout(rate, rngs=nnx.Rngs(dropout=seed)) built once and "
        "called again and again through nnx.split/nnx.merge; its Rngs are its state",
    ),
    make_stateful_target(
        _threaded(_linen_step),
        "dropout",
        framework="jax",
        name="flax.linen.Dropout (stateful)",
        requires=("flax",),
        rate_one="zeros",
        expected_failures=dict.fromkeys(
            ("DROPOUT-RATE-INVALID", "DROPOUT-RATE-INVALID-INFERENCE"), _FLAX_RATE
        ),
        description="flax.linen.Dropout(rate) applied with rngs={'dropout': k}, k split from "
        "a key the caller threads (jax.random.split per training call)",
    ),
    make_stateful_target(
        _threaded(_equinox_step),
        "dropout",
        framework="jax",
        name="equinox.nn.Dropout (stateful)",
        requires=("equinox",),
        rate_one="zeros",
        expected_failures=dict.fromkeys(
            ("DROPOUT-RATE-INVALID", "DROPOUT-RATE-INVALID-INFERENCE"), _EQX_RATE
        ),
        description="equinox.nn.Dropout(p=rate)(x, key=k), k split from a key the caller "
        "threads (jax.random.split per training call)",
    ),
    make_stateful_target(
        _threaded(_haiku_step),
        "dropout",
        framework="jax",
        name="haiku.dropout (stateful)",
        requires=("haiku",),
        rate_one="error",
        masking="multiply",
        expected_failures={
            "DROPOUT-RATE-INVALID": _HAIKU_RATE,
            "DROPOUT-RATE-INVALID-INFERENCE": _HAIKU_INFERENCE,
            "DROPOUT-DROPPED-MULTIPLY": _HAIKU_MULTIPLY,  # (bfloat16's SELECT: not run)
        },
        description="hk.dropout(hk.next_rng_key(), rate, x) in hk.transform, applied with "
        "a key k split from one the caller threads (jax.random.split per training call); "
        "training=False skips it",
    ),
    make_target(
        _dropconnect_fn(_flax_weight_drop),
        "dropconnect",
        framework="jax",
        name="flax.weight_drop",
        requires=("flax",),
        rate_one="zeros",
        expected_failures=dict.fromkeys(
            ("DROPCONNECT-RATE-INVALID", "DROPCONNECT-RATE-INVALID-INFERENCE"), _FLAX_RATE
        ),
        description="weight drop: flax.linen.Dropout applied to the weight (one mask per "
        "call), then x @ Wᵀ + b with the bias unmasked",
        **_WEIGHT_DROP,
    ),
    make_target(
        _per_example,
        "dropconnect",
        framework="jax",
        name="jax.dropconnect.per_example",
        rate_one="zeros",
        description="DropConnect in plain JAX: jax.random.bernoulli draws a (batch, out, in) "
        "weight mask and a (batch, out) bias mask, applied with jnp.where and an einsum; "
        "inverted scaling, mean inference, the rate checked against [0, 1]",
        **_PER_EXAMPLE,
    ),
    make_target(
        _flax_attention(broadcast_dropout=True),
        "attention_dropout",
        framework="jax",
        name="flax.linen.dot_product_attention",
        requires=("flax",),
        broadcast=("batch", "heads"),
        expected_failures=_FLAX_ATTENTION_XFAIL,
        description="flax.linen.dot_product_attention(q, k, v, dropout_rng=key(seed), "
        "dropout_rate=rate, deterministic=not training): broadcast_dropout=True by default, "
        "one (query, key) mask shared by every example and head",
    ),
    make_target(
        _flax_attention(broadcast_dropout=False),
        "attention_dropout",
        framework="jax",
        name="flax.linen.dot_product_attention.independent",
        requires=("flax",),
        expected_failures=_FLAX_ATTENTION_XFAIL,
        description="flax.linen.dot_product_attention(..., broadcast_dropout=False): a mask "
        "value per (example, head, query, key)",
    ),
    make_target(
        _flax_multi_head,
        "attention_dropout",
        framework="jax",
        name="flax.linen.MultiHeadDotProductAttention",
        requires=("flax",),
        dtypes=_FLAX_LAYER_DTYPES,
        broadcast=("batch", "heads"),
        weights="before",
        expected_failures=_FLAX_ATTENTION_XFAIL,
        description="flax.linen.MultiHeadDotProductAttention(heads, dropout_rate=rate, "
        "use_bias=False) with identity projections, applied with dropout_rng=key(seed), "
        "deterministic=not training, sow_weights=True: broadcast_dropout=True by default; the "
        "sown weights are taken before dropout; float32 only",
    ),
    make_target(
        _equinox_multi_head,
        "attention_dropout",
        framework="jax",
        name="equinox.nn.MultiheadAttention",
        requires=("equinox",),
        dtypes=_FLAX_LAYER_DTYPES,
        expected_failures={
            "ATTN-RATE-INVALID": _EQX_RATE,
            "ATTN-RATE-INVALID-INFERENCE": _EQX_RATE,
        },
        description="equinox.nn.MultiheadAttention(heads, ..., qk_size=d, vo_size=d_v, "
        "dropout_p=rate) with identity projections, vmapped over the batch with one key per "
        "example (jax.random.split(key(seed), batch)) and inference=not training: it splits "
        "an example's key over the heads, so every (example, head) has its own mask; float32 "
        "only (its mask is equinox.nn.Dropout's, checked in every dtype)",
    ),
    make_target(
        _nnx_multi_head,
        "attention_dropout",
        framework="jax",
        name="flax.nnx.MultiHeadAttention",
        requires=("flax",),
        dtypes=_FLAX_LAYER_DTYPES,
        broadcast=("batch", "heads"),
        weights="before",
        expected_failures=_NNX_ATTENTION_XFAIL,
        description="flax.nnx.MultiHeadAttention(heads, in_features, dropout_rate=rate, "
        "use_bias=False) with identity projections, called with rngs=nnx.Rngs(dropout=key(seed)), "
        "deterministic=not training, sow_weights=True: broadcast_dropout=True by default; the "
        "sown weights are taken before dropout; float32 only",
    ),
)
TARGETS = with_seeded_twins(TARGETS)


# ---------------------------------------------------------------- variants ----
# Transformations a JAX target is checked under (dropspec.adapters._variants): the target's
# own call inside jax.jit, jax.vmap or jax.checkpoint, with the seed traced.


def _traced_seed(seed: int) -> Any:
    """The seed as an int64 JAX array holding its 64 bits (:func:`key` reads it so)."""
    jnp = _jax().numpy
    return jnp.asarray(as_int64(seed), dtype=jnp.int64)


def _under_jit(t: Target) -> Callable[..., Any]:
    """jax.jit of the call with the seed a traced argument; the rate and the training flag
    are static (libraries branch on them), so each rate compiles once per shape and dtype."""
    compiled: dict[tuple[str, bool], Any] = {}

    def under_jit(*args: Any, training: bool, seed: int) -> Any:
        jax = _jax()
        *arrays, rate = args
        k = (rate_key(rate), bool(training))
        if k not in compiled:

            def body(arrays: tuple[Any, ...], s: Any) -> Any:
                return t.fn(*arrays, rate, training=training, seed=s)

            compiled[k] = jax.jit(body)
        return compiled[k](tuple(arrays), _traced_seed(seed))

    return under_jit


def _under_vmap(t: Target) -> Callable[..., Any]:
    """jax.vmap over the leading axis, example i called with the i-th of n seeds drawn as
    ``jax.random.bits(key(seed), (n,), uint64)``: a dropout of the whole batch."""

    def under_vmap(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        if x.ndim == 0 or x.shape[0] == 0:  # nothing to map over: the plain call
            return t.fn(x, rate, training=training, seed=seed)
        jax = _jax()
        bits = jax.random.bits(key(seed), (x.shape[0],), dtype=jax.numpy.uint64)
        seeds = jax.lax.bitcast_convert_type(bits, jax.numpy.int64)
        return jax.vmap(lambda e, s: t.fn(e, rate, training=training, seed=s))(x, seeds)

    return under_vmap


def _under_checkpoint(t: Target) -> Callable[..., Any]:
    """jax.checkpoint (remat) of the call, the seed a traced argument: the backward pass
    recomputes the forward from the saved inputs."""

    def under_checkpoint(*args: Any, training: bool, seed: int) -> Any:
        jax = _jax()
        *arrays, rate = args

        def body(arrays: tuple[Any, ...], s: Any) -> Any:
            return t.fn(*arrays, rate, training=training, seed=s)

        return jax.checkpoint(body)(tuple(arrays), _traced_seed(seed))

    return under_checkpoint


#: nnx.jit of the module call, one compiled function per training flag (a new function
#: object per call would compile at every call).
_NNX_JIT: dict[bool, Any] = {}


def _nnx_jit_step(module: Any, x: Any, training: bool) -> Any:
    if training not in _NNX_JIT:
        from flax import nnx

        _NNX_JIT[training] = nnx.jit(lambda m, v: m(v, deterministic=not training))
    return _NNX_JIT[training](module, x)


def _nnx_vmap_step(module: Any, x: Any, training: bool) -> Any:
    """nnx.vmap over the leading axis, the module's rng state split into one key per example
    (nnx.split_rngs, StateAxes mapping the RngState over the examples, the rest broadcast),
    as the flax docs vectorise a module with dropout."""
    from flax import nnx

    if x.ndim == 0 or x.shape[0] == 0:  # nothing to map over: the plain call
        return _nnx_eager(module, x, training)
    axes = nnx.StateAxes({nnx.RngState: 0, ...: None})  # type: ignore[arg-type]  # flax types the filters narrowly

    @nnx.split_rngs(splits=x.shape[0])
    @nnx.vmap(in_axes=(axes, 0))
    def each(m: Any, v: Any) -> Any:
        return _nnx_eager(m, v, training)

    return each(module, x)


def _nnx_layers(step: Callable[[Any, Any, bool], Any]) -> Callable[[Target], Callable[..., Any]]:
    """A factory whose layers (:class:`NnxLayer`) run each call through ``step``."""

    def wrap(t: Target) -> Callable[..., Any]:
        factory = t.factory
        assert factory is not None

        def factory_under_nnx(rate: float, *, seed: int) -> Callable[..., Any]:
            layer = factory(rate, seed=seed)
            if not isinstance(layer, NnxLayer):
                raise TypeError(
                    f"the nnx variants call a layer's module through nnx's own transform; "
                    f"build the layer as dropspec.adapters.fw_jax.NnxLayer(module), not "
                    f"{type(layer).__name__}"
                )
            return lambda x, *, training: layer.run(step, x, training)

        return factory_under_nnx

    return wrap


def _under_nnx_jit(t: Target) -> Callable[..., Any]:
    """nnx.jit of the call, the seed traced (an nnx module built inside from it)."""
    compiled: dict[tuple[str, bool], Any] = {}

    def under_nnx_jit(*args: Any, training: bool, seed: int) -> Any:
        from flax import nnx

        *arrays, rate = args
        k = (rate_key(rate), bool(training))
        if k not in compiled:

            def body(arrays: tuple[Any, ...], s: Any) -> Any:
                return t.fn(*arrays, rate, training=training, seed=s)

            compiled[k] = nnx.jit(body)
        return compiled[k](tuple(arrays), _traced_seed(seed))

    return under_nnx_jit


def _under_nnx_vmap(t: Target) -> Callable[..., Any]:
    """nnx.vmap over the leading axis, example i called with the i-th of n seeds drawn from
    jax.random.key(seed) (the seeded convention: a module built per example)."""

    def under_nnx_vmap(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        from flax import nnx

        if x.ndim == 0 or x.shape[0] == 0:
            return t.fn(x, rate, training=training, seed=seed)
        jax = _jax()
        bits = jax.random.bits(key(seed), (x.shape[0],), dtype=jax.numpy.uint64)
        seeds = jax.lax.bitcast_convert_type(bits, jax.numpy.int64)
        return nnx.vmap(lambda e, s: t.fn(e, rate, training=training, seed=s))(x, seeds)

    return under_nnx_vmap


#: Observed under the variant nnx.vmap (flax 0.12/jax 0.10 CPU, base seed 20131204).
_SPLIT_RNGS_INFERENCE = (
    "under nnx.split_rngs + nnx.vmap an inference call (deterministic=True) still advances "
    "the dropout stream: split_rngs draws the key it splits from the Rngs whether or not the "
    "module draws, so the training calls after an evaluation get other masks than without it "
    "(2,042 of 4,096 values differ at rate 0.5). No upstream issue found; split_rngs as the "
    "flax docs use it: https://github.com/google/flax/issues/4195"
)

#: The built-in targets ``--variants all`` checks under the nnx variants.
_NNX_SET = ("flax.nnx.Dropout", "flax.nnx.Dropout (stateful)")


_CHECKPOINT_LITERAL = (
    "under jax.checkpoint a function whose output is a constant returns it as "
    "jax._src.literals.TypedNdArray, not a jax.Array: flax's linen and nnx Dropout at rate 1 "
    "return jnp.zeros_like(x), and for a 0-d x jax.checkpoint hands back that literal "
    "(observed with jax 0.10.2, every dtype, seeded and stateful layers alike; jax.jit "
    "returns a jax.Array). No upstream issue found; "
    "https://github.com/jax-ml/jax/blob/main/jax/_src/literals.py"
)

#: Observed with --variants all (jax 0.10.2 CPU, base seed 20131204): under jax.checkpoint
#: hk.dropout's multiply stays a multiply.
_CHECKPOINT_MULTIPLY = (
    "under jax.checkpoint hk.dropout's keep * x / keep_rate stays a multiply in every dtype, "
    "where eagerly XLA rewrites it into a select in float16/32/64: a dropped NaN or inf gives "
    "NaN, not 0 (DROPOUT-DROPPED-SELECT: x=nan gave y=nan in float32 at rate 0.5, "
    "DROPOUT-DROPPED-MULTIPLY passes); https://github.com/jax-ml/jax/issues/12233"
)
_CHECKPOINT_MULTIPLY_HOLDS = (
    "under jax.checkpoint the multiply is kept and a dropped NaN gives NaN, as declared "
    "(xpassed at base seed 20131204, jax 0.10.2 CPU)"
)

VARIANTS: tuple[Variant, ...] = (
    Variant(
        "jit",
        "jax",
        "jax.jit of the call, the seed an int64 traced argument (rate and training static)",
        "jax.random is a function of its key alone: under jit a key built from a traced "
        "argument gives each call its own mask, while a key made at trace time from a "
        "constant is frozen into the compiled function (JAX docs: 'Pseudorandom numbers').",
        _under_jit,
    ),
    Variant(
        "vmap",
        "jax",
        "jax.vmap over the leading axis, example i called with its own seed drawn from "
        "jax.random.key(seed)",
        "jax.vmap maps the key too: examples get independent masks only when each gets a key "
        "of its own (split or fold_in); a key closed over is shared by every example.",
        _under_vmap,
        refuses=maps_examples,
    ),
    Variant(
        "checkpoint",
        "jax",
        "jax.checkpoint (remat) of the call, the seed a traced argument: the backward pass "
        "recomputes the forward",
        "jax.checkpoint recomputes the forward from its saved inputs, the key among them, so "
        "the recomputed mask is the forward's (jax.checkpoint docs).",
        _under_checkpoint,
        divergences={
            **{
                n: {"DROPOUT-RATE-ONE-ZEROS": _CHECKPOINT_LITERAL}
                for n in (
                    "flax.linen.Dropout",
                    "flax.nnx.Dropout",
                    "flax.linen.Dropout (stateful)",
                    "flax.nnx.Dropout (stateful)",
                )
            },
            "haiku.dropout": {"DROPOUT-DROPPED-SELECT": _CHECKPOINT_MULTIPLY},
            "haiku.dropout (stateful)": {"DROPOUT-DROPPED-SELECT": _CHECKPOINT_MULTIPLY},
        },
        holds={
            n: {"DROPOUT-DROPPED-MULTIPLY": _CHECKPOINT_MULTIPLY_HOLDS}
            for n in ("haiku.dropout", "haiku.dropout (stateful)")
        },
    ),
    Variant(
        "nnx.jit",
        "jax",
        "flax.nnx.jit of the call, the seed traced; a layer's module (NnxLayer) called through "
        "nnx.jit at each call, its rng state carried in and out",
        "nnx.jit propagates a module's state, its Rngs counts among it, into and out of the "
        "compiled function, so each call of a jitted module draws a new key (flax docs, "
        "'Transforms').",
        _under_nnx_jit,
        wrap_layer=_nnx_layers(_nnx_jit_step),
        all_set=_NNX_SET,
    ),
    Variant(
        "nnx.vmap",
        "jax",
        "flax.nnx.vmap over the leading axis: the seeded call with one seed per example; a "
        "layer's module under nnx.split_rngs(splits=n) and nnx.vmap with StateAxes mapping "
        "its RngState over the examples",
        "nnx.vmap gives the examples independent masks only when the module's rng state is "
        "split per example (nnx.split_rngs) and mapped (StateAxes); broadcast, every example "
        "shares one key (flax docs, 'Transforms').",
        _under_nnx_vmap,
        refuses=maps_examples,
        wrap_layer=_nnx_layers(_nnx_vmap_step),
        all_set=_NNX_SET,
        divergences={
            "flax.nnx.Dropout (stateful)": {"DROPOUT-STATE-INFERENCE": _SPLIT_RNGS_INFERENCE}
        },
    ),
)

#: Run by ``dropspec check --all``: one JAX library per transformation (see docs/transformed.md).
DEFAULT_VARIANTS: tuple[str, ...] = (
    "equinox.nn.Dropout under vmap",
    "flax.linen.Dropout under checkpoint",
)
