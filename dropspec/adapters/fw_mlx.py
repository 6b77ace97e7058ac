"""MLX: the backend and the built-in ``mlx.nn`` dropout layers as targets.

Rules: ``mlx.core`` is imported inside functions only, so importing this module (or listing
the built-in targets) never imports MLX. ``mlx[cpu]`` is MLX's CPU backend on Linux; every
dtype the suite knows runs on it, float64 included (MLX has float64 on the CPU only).

What the targets declare, and why:

* ``p`` is the drop probability, passed as the spec's ``rate``; the layers raise ValueError
  for ``p < 0 or p >= 1`` when built, so rate 1 is an error (``rate_one="error"``).
* The layers draw from MLX's global key (``mx.random.seed``) and take no key of their own,
  so each target seeds it before the call, as a training script does (MLX has no way to put
  a saved key back: ``mx.random.state`` takes no assignment, so a call leaves the global key
  seeded and advanced); the layers compute
  ``(mask * x) * (1 / (1 - p))``, so a dropped NaN or infinity gives NaN
  (``masking="multiply"``).
* ``Dropout2d`` and ``Dropout3d`` are channels last (NHWC, NDHWC): one mask value per
  (example, channel), shared over the spatial axes.
* ``training`` is the layer's ``.train(training)`` switch; in eval mode the layers return
  their input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import FLOAT_DTYPES, as_dtype, dtype_name
from ..target import Target, make_stateful_target, make_target
from ._backend import Backend
from ._variants import Variant, rate_key
from .stateful import with_seeded_twins


def _mx() -> Any:
    import mlx.core as mx

    return mx


class MlxBackend(Backend):
    """Conversion between NumPy and ``mlx.core.array`` (CPU), gradients from ``mx.vjp``."""

    name = "mlx"
    supported_dtypes = FLOAT_DTYPES
    startup_seconds = 0.5
    strides = "dense"  # mx.array copies its input into a layout of its own

    def is_array(self, value: Any) -> bool:
        mod = sys.modules.get("mlx.core")  # an array of a framework never imported cannot exist
        return mod is not None and isinstance(value, mod.array)

    def asarray(self, a: np.ndarray, device: str = "cpu") -> Any:
        mx = _mx()
        if device != "cpu":
            raise ValueError(f"device {device!r}: the mlx[cpu] backend runs on the CPU only")
        if dtype_name(a.dtype) == "bfloat16":
            # mx.array cannot read ml_dtypes.bfloat16; float32 holds every bfloat16 exactly.
            return mx.array(a.astype(np.float32)).astype(mx.bfloat16)
        # The dtype by name: mx.array makes float64 NumPy input float32 unless told otherwise.
        name = "bool_" if a.dtype == np.bool_ else dtype_name(a.dtype)  # MLX spells it bool_
        return mx.array(np.array(a, copy=True, order="C"), dtype=getattr(mx, name))

    def to_numpy(self, value: Any) -> np.ndarray:
        mx = _mx()
        if value.dtype == mx.bfloat16:
            # NumPy's buffer protocol has no bfloat16; the round trip through float32 is exact.
            wide: np.ndarray = np.array(value.astype(mx.float32))
            return wide.astype(as_dtype("bfloat16"))
        return np.array(value, copy=True)

    def fresh(self, value: Any) -> Any:
        return value  # MLX arrays are immutable

    def for_reduction(self, value: Any) -> Any:
        """The array as NumPy over the same memory (the buffer protocol: MLX's CPU memory is
        host memory, so nothing is copied; bfloat16, which the protocol cannot describe, is
        copied). ``mlx.core`` is not an array-API namespace (its names differ: ``concatenate``,
        ``right_shift``), so the suite's reductions run in NumPy on the CPU."""
        if self.copies_to_host(value):
            return self.to_numpy(value)
        return np.asarray(value)

    def copies_to_host(self, value: Any) -> bool:
        return bool(value.dtype == _mx().bfloat16)  # the buffer protocol has no bfloat16

    def vjp(
        self, f: Callable[[Any], Any], x: np.ndarray, cotangent: np.ndarray, device: str = "cpu"
    ) -> np.ndarray | None:
        mx = _mx()
        xa = self.asarray(x, device)
        (y,), (grad,) = mx.vjp(lambda v: [f(v)], [xa], [self.asarray(cotangent, device)])
        del y
        return self.to_numpy(grad)


BACKEND = MlxBackend()

#: ``body(x, rate, training)``: the layer's call, reading MLX's global key.
Body = Callable[[Any, float, bool], Any]


def _layer_body(name: str) -> Body:
    def body(x: Any, rate: float, training: bool) -> Any:
        import mlx.nn as nn

        layer = getattr(nn, name)(p=rate)  # a fresh layer per call; it checks p when built
        layer.train(training)
        return layer(x)

    body.__qualname__ = body.__name__ = f"mlx_nn_{name}"
    return body


def _seeded(body: Body) -> Callable[..., Any]:
    """A seeded target: ``mx.random.seed(seed)``, then the layer's call."""

    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        _mx().random.seed(seed)
        return body(x, rate, training)

    fn.__qualname__ = fn.__name__ = body.__name__
    return fn


def _stateful(name: str) -> Callable[..., Any]:
    """A factory of mlx.nn.{name} layers whose state is MLX's global key, seeded once with
    ``mx.random.seed`` when the layer is built, then split by each training call."""

    def factory(rate: float, *, seed: int) -> Callable[..., Any]:
        import mlx.nn as nn

        layer = getattr(nn, name)(p=rate)
        _mx().random.seed(seed)

        def call(x: Any, *, training: bool) -> Any:
            layer.train(training)
            return layer(x)

        return call

    factory.__qualname__ = factory.__name__ = f"mlx_nn_{name}_stateful"
    return factory


#: Observed: nn.Dropout(p=nan) is built (``p < 0 or p >= 1`` is false for NaN), and its
#: training call returns all-NaN output; at inference it returns x.
NAN_RATE_REASON = (
    "mlx.nn.Dropout checks `p < 0 or p >= 1`, which NaN passes: p = NaN gives an all-NaN "
    "output in training and x at inference instead of an error (no upstream issue found; "
    "https://github.com/ml-explore/mlx/blob/main/python/mlx/nn/layers/dropout.py)"
)
#: Declared masking="multiply"; the SHOULD of a select is then the divergence.
DROPPED_SELECT_REASON = (
    "mlx.nn's dropout layers compute (mask * x) * (1 / (1 - p)), so a dropped NaN or infinity "
    "gives NaN, not 0 (no upstream issue found; "
    "https://github.com/ml-explore/mlx/blob/main/python/mlx/nn/layers/dropout.py)"
)
_XFAIL = {
    **dict.fromkeys(("DROPOUT-RATE-INVALID", "DROPOUT-RATE-INVALID-INFERENCE"), NAN_RATE_REASON),
    "DROPOUT-DROPPED-SELECT": DROPPED_SELECT_REASON,
}
_COMMON: dict[str, Any] = dict(
    framework="mlx", rate_one="error", masking="multiply", expected_failures=_XFAIL
)
#: The built-in layers by name: (body, options).
_LAYERS: dict[str, tuple[Body, dict[str, Any], str]] = {
    "mlx.nn.Dropout": (_layer_body("Dropout"), {}, "any rank"),
    "mlx.nn.Dropout2d": (
        _layer_body("Dropout2d"),
        dict(shared_axes=(1, 2), rank=4),
        "on NHWC input: one mask value per (example, channel), shared over H and W",
    ),
    "mlx.nn.Dropout3d": (
        _layer_body("Dropout3d"),
        dict(shared_axes=(1, 2, 3), rank=5),
        "on NDHWC input: one mask value per (example, channel), shared over D, H and W",
    ),
}

TARGETS: tuple[Target, ...] = (
    *(
        make_target(
            _seeded(body),
            "dropout",
            name=name,
            **_COMMON,
            **options,
            description=f"mx.random.seed(seed), then {name}(p=rate).train(training)(x); {what}",
        )
        for name, (body, options, what) in _LAYERS.items()
    ),
    make_stateful_target(
        _stateful("Dropout"),
        "dropout",
        name="mlx.nn.Dropout (stateful)",
        **_COMMON,
        description="mlx.nn.Dropout(p=rate) built once after mx.random.seed(seed), then "
        "called again and again; MLX's global key is its state",
    ),
)
TARGETS = with_seeded_twins(TARGETS)


# ---------------------------------------------------------------- variants ----


def _under_compile(t: Target) -> Callable[..., Any]:
    """mx.compile of the layer's call with ``mx.random.state`` as the compiled function's
    input and output (compiled once per rate and training flag; MLX retraces per shape and
    dtype); the seed is set with mx.random.seed before each call, outside it."""
    if t.name not in _LAYERS:
        return t.fn  # refused (_compile_refuses): never called under the variant
    body = _LAYERS[t.name][0]
    compiled: dict[tuple[str, bool], Any] = {}

    def under_mx_compile(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        mx = _mx()
        k = (rate_key(rate), bool(training))
        if k not in compiled:
            state = mx.random.state
            compiled[k] = mx.compile(lambda v: body(v, rate, training), inputs=state, outputs=state)
        mx.random.seed(seed)
        return compiled[k](x)

    return under_mx_compile


def _compile_refuses(t: Target) -> str:
    if t.name in _LAYERS:
        return ""
    return (
        "the mx.compile variant compiles a built-in MLX layer's call apart from its seeding "
        "(mx.random.seed before the compiled call, mx.random.state its input and output); a "
        "target that seeds inside its own call has no such part"
    )


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "mx.compile",
        "mlx",
        "mx.compile of the layer's call with mx.random.state as its inputs and outputs, "
        "mx.random.seed(seed) before each call",
        "MLX documents that a compiled function using random sampling must name "
        "mx.random.state among its inputs and outputs: without them the key is captured "
        "when the function is traced and every later call replays the first mask "
        "(MLX docs, 'Compilation': 'Compiling Training Graphs').",
        _under_compile,
        traced=False,
        refuses=_compile_refuses,
    ),
)

#: Run by ``dropspec check --all`` (see docs/transformed.md): none. mx.compile fuses the layer
#: into a kernel with the rate as a constant and builds each with g++ (cached under
#: $TMPDIR/mlx), so a cold check compiles once per rate drawn: 314 s for mlx.nn.Dropout, load
#: 10 (5.2 s warm, load 5). Its fault, a key frozen into the compiled function, is in the
#: mutation corpus (mutant.mlx.dropout.compile_without_state); ``--under mx.compile`` runs it.
DEFAULT_VARIANTS: tuple[str, ...] = ()
