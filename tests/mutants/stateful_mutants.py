"""Stateful mutants: layers that own their random state (``dropspec.stateful_target``) and
mishandle it across calls, each caught by a ``*-STATE-*`` clause.

Each is a correct layer (a generator seeded once, advanced by training calls only) with one
fault: a mask that never changes, a state reset to its seed at every call, an inference call
that advances the state or reseeds it from its input, a backward pass that uses the next
call's mask. Dropout's are above; each other op with a layer-style API (alpha dropout,
Gaussian dropout, drop path, DropConnect) has its own below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dropspec.target import make_stateful_target

from . import Mutant

Array = np.ndarray
Layer = Callable[..., Array]


def _masked(x: Array, keep: Array, rate: float) -> Array:
    scale = x.dtype.type(0.0 if rate == 1.0 else 1.0 / (1.0 - rate))
    return np.where(keep, x * scale, np.zeros((), x.dtype))


def _validate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:  # false for NaN too
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")


def frozen(rate: float, *, seed: int) -> Layer:
    """Draws its mask at the first call and applies it at every call after."""
    _validate(rate)
    rng = np.random.default_rng(seed)
    kept: dict[tuple[int, ...], Array] = {}

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        if x.shape not in kept:
            kept[x.shape] = rng.random(x.shape) >= rate
        return _masked(x, kept[x.shape], rate)

    return layer


def reseeded(rate: float, *, seed: int) -> Layer:
    """Builds its generator from the initial seed at every call: one mask, every step."""
    _validate(rate)

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        return _masked(x, np.random.default_rng(seed).random(x.shape) >= rate, rate)

    return layer


def advances_at_inference(rate: float, *, seed: int) -> Layer:
    """Draws a mask in inference too, and throws it away: the state moves on."""
    _validate(rate)
    rng = np.random.default_rng(seed)

    def layer(x: Array, *, training: bool) -> Array:
        keep = rng.random(x.shape) >= rate
        return _masked(x, keep, rate) if training else x.copy()

    return layer


def reads_inference_inputs(rate: float, *, seed: int) -> Layer:
    """An inference call reseeds the state from its input's values."""
    _validate(rate)
    state = [np.random.default_rng(seed)]

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            state[0] = np.random.default_rng(
                [seed, int(np.abs(x.astype(np.float64)).sum() * 1024) % (1 << 32)]
            )
            return x.copy()
        return _masked(x, state[0].random(x.shape) >= rate, rate)

    return layer


#: How many uniforms the stream mutants precompute per instance (more than any check reads).
_STREAM = 1 << 21


def counter_wraps(rate: float, *, seed: int) -> Layer:
    """Keys each call's generator by the seed and an 8-bit call counter: call 257 repeats
    call 1's mask."""
    _validate(rate)
    calls = [0]

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        rng = np.random.default_rng([seed & ((1 << 64) - 1), calls[0] & 0xFF])
        calls[0] += 1
        return _masked(x, rng.random(x.shape) >= rate, rate)

    return layer


def offset_by_first_size(rate: float, *, seed: int) -> Layer:
    """Reads each call's uniforms from one stream at an offset that advances by the size of
    the instance's first call, whatever the later calls' sizes: a larger call overlaps the
    next one."""
    _validate(rate)
    stream = np.random.default_rng(seed).random(_STREAM)
    state = {"at": 0, "step": 0}

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        state["step"] = state["step"] or x.size
        u = stream[state["at"] : state["at"] + x.size].reshape(x.shape)
        state["at"] = (state["at"] + state["step"]) % (_STREAM - (1 << 16))
        return _masked(x, u >= rate, rate)

    return layer


def gaussian_half_step(rate: float, *, seed: int) -> Layer:
    """Gaussian dropout whose noise offset advances by half of each call's size: every
    call's first half is the previous call's second half."""
    _validate(rate)
    sigma = np.sqrt(rate / (1.0 - rate)) if rate < 1.0 else np.inf
    stream = np.random.default_rng(seed).standard_normal(_STREAM)
    state = {"at": 0}

    def layer(x: Array, *, training: bool) -> Array:
        if not training or rate == 0.0:
            return x.copy()
        z = stream[state["at"] : state["at"] + x.size].reshape(x.shape)
        state["at"] = (state["at"] + max(1, x.size // 2)) % (_STREAM - (1 << 16))
        return (x.astype(np.float64) * (1.0 + sigma * z)).astype(x.dtype)

    return layer


def next_mask_gradient(rate: float, *, seed: int) -> Layer:
    """torch: the forward applies this call's mask, the backward the one drawn for the next
    call (a mask cached one step ahead)."""
    import torch

    _validate(rate)
    gen = torch.Generator().manual_seed(seed & ((1 << 63) - 1))
    ahead: list[Any] = []

    class NextMask(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, now: Any, later: Any) -> Any:
            ctx.save_for_backward(later)
            return x * now

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            (later,) = ctx.saved_tensors
            return grad * later, None, None

    def draw(x: Any) -> Any:
        keep = torch.rand(x.shape, generator=gen, dtype=torch.float64) >= rate
        return keep.to(x.dtype) * (0.0 if rate == 1.0 else 1.0 / (1.0 - rate))

    def layer(x: Any, *, training: bool) -> Any:
        if not training:
            return x.clone()
        now = ahead.pop() if ahead and ahead[0].shape == x.shape else draw(x)
        ahead[:] = [draw(x)]
        return NextMask.apply(x, now, ahead[0])

    return layer


# ------------------------------------------------ alpha, Gaussian and drop path layers ----


def _alpha(x: Array, keep: Array, rate: float) -> Array:
    saturation = -1.0507009873554805 * 1.6732632423543772
    a = 1.0 / np.sqrt((1.0 - rate) * (1.0 + rate * saturation**2))
    out = np.where(keep, x.astype(np.float64), saturation) * a - a * rate * saturation
    return out.astype(x.dtype)


def alpha_frozen(rate: float, *, seed: int) -> Layer:
    """Alpha dropout that draws its mask at the first training call and applies it at every
    call after (a mask cached on the layer)."""
    _validate(rate)
    rng = np.random.default_rng(seed)
    kept: dict[tuple[int, ...], Array] = {}

    def layer(x: Array, *, training: bool) -> Array:
        if not training or rate == 0.0:
            return x.copy()
        if rate == 1.0:
            raise ValueError("rate 1 is refused in training")
        if x.shape not in kept:
            kept[x.shape] = rng.random(x.shape) >= rate
        return _alpha(x, kept[x.shape], rate)

    return layer


def gaussian_advances_at_inference(rate: float, *, seed: int) -> Layer:
    """Gaussian dropout that draws its noise in inference too and throws it away: every
    evaluation moves the state on."""
    _validate(rate)
    rng = np.random.default_rng(seed)

    def layer(x: Array, *, training: bool) -> Array:
        z = rng.standard_normal(x.shape)
        if not training or rate == 0.0:
            return x.copy()
        if rate == 1.0:
            raise ValueError("rate 1 has infinite noise variance")
        noise = 1.0 + np.sqrt(rate / (1.0 - rate)) * z
        return (x.astype(np.float64) * noise).astype(x.dtype)

    return layer


def drop_path_reseeded(rate: float, *, seed: int) -> Layer:
    """Drop path that builds its generator from the initial seed at every call: the same
    examples are dropped at every step."""
    _validate(rate)

    def layer(x: Array, *, training: bool) -> Array:
        if not training:
            return x.copy()
        draws = np.random.default_rng(seed).random(x.shape[0])
        keep = (draws >= rate).reshape((x.shape[0],) + (1,) * (x.ndim - 1))
        return _masked(x, keep, rate)

    return layer


def weight_drop_frozen(rate: float, *, seed: int) -> Callable[..., Array]:
    """Weight drop (one mask per call, bias unmasked) that draws its weight mask at the first
    training call and keeps it for every call after: the same connections are dropped at
    every step."""
    _validate(rate)
    rng = np.random.default_rng(seed)
    kept: dict[tuple[int, ...], Array] = {}

    def layer(x: Array, weight: Array, bias: Array | None, *, training: bool) -> Array:
        if x.shape[1] != weight.shape[1] or (bias is not None and bias.shape != weight.shape[:1]):
            raise ValueError(f"x {x.shape}, weight {weight.shape} and bias do not match")
        b = np.zeros(weight.shape[0]) if bias is None else bias.astype(np.float64)
        w = weight.astype(np.float64)
        if training:
            if weight.shape not in kept:
                kept[weight.shape] = rng.random(weight.shape) >= rate
            w = np.where(kept[weight.shape], w * (0.0 if rate == 1.0 else 1.0 / (1.0 - rate)), 0.0)
        out: Array = (x.astype(np.float64) @ w.T + b).astype(x.dtype)
        return out

    return layer


def drop_path_stale_gradient(rate: float, *, seed: int) -> Layer:
    """torch drop path whose backward pass uses the previous training call's per-example
    mask (a mask cached on the layer and read again by the next step's backward)."""
    import torch

    _validate(rate)
    gen = torch.Generator().manual_seed(seed & ((1 << 63) - 1))
    last: list[Any] = []

    class StaleMask(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, now: Any, before: Any) -> Any:
            ctx.save_for_backward(before)
            return x * now

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            (before,) = ctx.saved_tensors
            return grad * before, None, None

    def layer(x: Any, *, training: bool) -> Any:
        if not training:
            return x.clone()
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        keep = torch.rand(shape, generator=gen, dtype=torch.float64) >= rate
        now = keep.to(x.dtype) * (0.0 if rate == 1.0 else 1.0 / (1.0 - rate))
        before = last[0] if last and last[0].shape == now.shape else now
        last[:] = [now]
        return StaleMask.apply(x, now, before)

    return layer


def stateful_mutant(
    factory: Callable[..., Layer],
    *,
    framework: str,
    clauses: str,
    fault_class: str = "state",
    op: str = "dropout",
    **options: Any,
) -> Mutant:
    name = f"mutant.{framework}.{op}.stateful.{factory.__name__}"
    description = (factory.__doc__ or "").strip().replace("\n", " ")
    target = make_stateful_target(
        factory,
        op,
        framework=framework,
        name=name,
        description=description,
        **options,
    )
    return Mutant(name, op, framework, fault_class, description, target, (clauses,))


MUTANTS: tuple[Mutant, ...] = (
    stateful_mutant(frozen, framework="numpy", clauses="DROPOUT-STATE-CALLS"),
    stateful_mutant(reseeded, framework="numpy", clauses="DROPOUT-STATE-CALLS"),
    stateful_mutant(advances_at_inference, framework="numpy", clauses="DROPOUT-STATE-INFERENCE"),
    stateful_mutant(reads_inference_inputs, framework="numpy", clauses="DROPOUT-STATE-INFERENCE"),
    stateful_mutant(
        next_mask_gradient,
        framework="torch",
        clauses="DROPOUT-STATE-GRADIENT",
        fault_class="gradient",
        dtypes=("float32", "float64"),
    ),
    stateful_mutant(counter_wraps, framework="numpy", clauses="DROPOUT-STATE-STREAMS"),
    stateful_mutant(offset_by_first_size, framework="numpy", clauses="DROPOUT-STATE-STREAMS"),
    stateful_mutant(
        gaussian_half_step,
        framework="numpy",
        op="gaussian_dropout",
        clauses="GAUSSIAN-STATE-STREAMS",
    ),
    stateful_mutant(
        alpha_frozen, framework="numpy", op="alpha_dropout", clauses="ALPHA-STATE-CALLS"
    ),
    stateful_mutant(
        gaussian_advances_at_inference,
        framework="numpy",
        op="gaussian_dropout",
        clauses="GAUSSIAN-STATE-INFERENCE",
    ),
    stateful_mutant(
        drop_path_reseeded, framework="numpy", op="drop_path", clauses="DROPPATH-STATE-CALLS"
    ),
    stateful_mutant(
        drop_path_stale_gradient,
        framework="torch",
        op="drop_path",
        clauses="DROPPATH-STATE-GRADIENT",
        fault_class="gradient",
        dtypes=("float32", "float64"),
    ),
    stateful_mutant(
        weight_drop_frozen,
        framework="numpy",
        op="dropconnect",
        clauses="DROPCONNECT-STATE-CALLS",
        masks="per_batch",
        mask_bias=False,
        scaling="inverted",
        inference="mean",
    ),
)
