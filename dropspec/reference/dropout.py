"""Reference dropout and channel dropout (shared axes), and their built-in targets."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..target import Target, make_target
from ._random import (
    BLOCK_ELEMENTS,
    Seed,
    bernoulli,
    for_each_word_block,
    generator,
    threshold,
)
from ._validation import SpecError, check_array, check_rate, mask_shape


def scale_for(rate: float, scaling: str) -> float:
    """The training scale of kept values: 1/(1 - rate) (inverted) or 1 (classic)."""
    if scaling == "classic":
        return 1.0
    if scaling != "inverted":
        raise SpecError(f"scaling must be 'inverted' or 'classic', got {scaling!r}")
    return 0.0 if rate == 1.0 else 1.0 / (1.0 - rate)


def apply_mask(x: np.ndarray, keep_mask: np.ndarray, scale: float, masking: str) -> np.ndarray:
    """x scaled by ``scale`` (rounded to x's dtype) where kept, and 0 (select) or x*0 elsewhere."""
    s = x.dtype.type(scale)
    if masking == "select":
        out: np.ndarray = np.where(keep_mask, x * s, x.dtype.type(0))
        return out
    if masking == "multiply":
        prod: np.ndarray = x * keep_mask.astype(x.dtype) * s
        return prod
    raise SpecError(f"masking must be 'select' or 'multiply', got {masking!r}")


def dropout(
    x: np.ndarray,
    rate: float,
    *,
    training: bool = True,
    seed: Seed = None,
    scaling: str = "inverted",
    shared_axes: Sequence[int] = (),
    masking: str = "select",
    rate_one: str = "zeros",
    return_mask: bool = False,
) -> Any:
    """Dropout as the spec defines it.

    Parameters
    ----------
    x : numpy.ndarray
        Input of a floating dtype (float16, bfloat16, float32 or float64).
    rate : float
        Drop probability in [0, 1].
    training : bool
        False gives the inference form: the identity (inverted) or x * (1 - rate) (classic).
    seed : int, numpy.random.Generator or None
        Source of the mask.
    scaling : {"inverted", "classic"}
        Where the 1/(1 - rate) correction is applied.
    shared_axes : sequence of int
        Axes along which one mask value is shared (channel / spatial dropout).
    masking : {"select", "multiply"}
        Whether dropped slots are exactly 0 or x * 0 (NaN stays NaN).
    rate_one : {"zeros", "error"}
        Behaviour at rate 1 in training.
    return_mask : bool
        Also return the boolean keep mask (of the mask's broadcastable shape).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        The output in x's dtype, and the keep mask if requested.
    """
    x = check_array(x)
    rate = check_rate(rate, allow_one=rate_one != "error" or not training)
    shape = mask_shape(x.shape, shared_axes)
    if not training:
        y = x.copy() if scaling == "inverted" else x * x.dtype.type(1.0 - rate)
        return (y, np.ones(shape, dtype=bool)) if return_mask else y
    keep, scale = 1.0 - rate, scale_for(rate, scaling)
    if shape == x.shape and 0.0 < keep < 1.0 and x.dtype in _NATIVE and masking in _MASKINGS:
        return _fused(x, generator(seed), keep, scale, masking, return_mask)
    keep_mask = bernoulli(generator(seed), shape, keep)
    y = apply_mask(x, keep_mask, scale, masking)
    return (y, keep_mask) if return_mask else y


_NATIVE = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_MASKINGS = ("select", "multiply")
_local = threading.local()


def _scratch(bits: np.dtype[Any], n: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's reused buffers of at least ``n`` booleans and ``n`` words of ``bits``."""
    key = f"buffers_{bits.str}"
    buffers: tuple[np.ndarray, np.ndarray] | None = getattr(_local, key, None)
    if buffers is None or buffers[0].size < n:
        size = max(n, BLOCK_ELEMENTS)
        buffers = (np.empty(size, dtype=bool), np.empty(size, dtype=bits))
        setattr(_local, key, buffers)
    return buffers


def _fused(
    x: np.ndarray,
    rng: np.random.Generator,
    keep: float,
    scale: float,
    masking: str,
    return_mask: bool,
) -> Any:
    """``apply_mask(x, bernoulli(rng, x.shape, keep), scale, masking)`` block by block.

    The same words, the same comparisons and the same floating-point operations in the same
    order, so the same output bit for bit; only the temporaries are block-sized, and the blocks
    may run in parallel.
    """
    flat = np.ascontiguousarray(x).reshape(-1)
    y = np.empty(x.shape, dtype=x.dtype)
    out = y.reshape(-1)
    mask = np.empty(x.shape, dtype=bool) if return_mask else None
    flat_mask = None if mask is None else mask.reshape(-1)
    s, thr = x.dtype.type(scale), threshold(keep)
    bits = np.dtype(f"u{x.dtype.itemsize}")
    out_bits = out.view(bits)

    def block(lo: int, hi: int, words: np.ndarray) -> None:
        kept_buf, ones_buf = _scratch(bits, hi - lo)
        kept = np.less(
            words, thr, out=kept_buf[: hi - lo] if flat_mask is None else flat_mask[lo:hi]
        )
        if masking == "select":
            # x * s where kept, +0.0 elsewhere: AND the product's bits with all ones or zeros
            # (a masked copy, np.where or copyto(where=) is four times slower)
            ones = ones_buf[: hi - lo]
            np.copyto(ones, kept, casting="unsafe")
            np.negative(ones, out=ones)
            np.multiply(flat[lo:hi], s, out=out[lo:hi])
            np.bitwise_and(out_bits[lo:hi], ones, out=out_bits[lo:hi])
        else:  # x * mask.astype(dtype) * s, left to right as in apply_mask
            np.multiply(flat[lo:hi], kept.astype(x.dtype), out=out[lo:hi])
            np.multiply(out[lo:hi], s, out=out[lo:hi])

    for_each_word_block(rng, flat.size, block)
    return (y, mask) if return_mask else y


def _target(**options: Any) -> Any:
    def fn(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
        return dropout(x, rate, training=training, seed=seed, **options)

    return fn


#: The built-in reference targets of dropout (``dropspec check`` runs them by default).
TARGETS: tuple[Target, ...] = (
    make_target(
        _target(),
        "dropout",
        name="reference.dropout",
        description="dropspec.reference.dropout (inverted scaling)",
    ),
    make_target(
        _target(scaling="classic"),
        "dropout",
        name="reference.dropout.classic",
        scaling="classic",
        description="dropspec.reference.dropout(scaling='classic')",
    ),
    make_target(
        _target(shared_axes=(2, 3)),
        "dropout",
        name="reference.dropout.channel",
        shared_axes=(2, 3),
        rank=4,
        description="dropspec.reference.dropout(shared_axes=(2, 3)), like Dropout2d",
    ),
)


#: The small call of the test vectors (:mod:`dropspec.reference.vectors`): each input's shape,
#: and the shared axes of the clauses that need some.
VECTOR_SHAPES: dict[str, tuple[int, ...]] = {"x": (2, 3)}
VECTOR_OPTIONS: dict[str, Any] = {"shared_axes": (1,)}


def vector_gradient(
    inputs: dict[str, np.ndarray], rate: float, options: dict[str, Any], drawn: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The gradient of sum(y) with respect to x: the call's keep mask times the scale rounded
    to x's dtype, as the gradient clause states (for the test vectors)."""
    x = inputs["x"]
    s = x.dtype.type(scale_for(rate, options["scaling"]))
    grad = np.where(np.broadcast_to(drawn["mask"], x.shape), s, x.dtype.type(0))
    return {"grad_x": grad.astype(x.dtype)}
