"""Reference DropConnect (Wan et al. 2013) and weight drop (one mask per call)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import compute_dtype
from ..target import Target, make_target
from ._random import Seed, bernoulli, generator
from ._validation import SpecError, check_array, check_rate
from .dropout import scale_for
from .expectations import dropconnect_moments

#: Elements of a per-example mask block held at once; bounds memory to about 32 MiB.
_BLOCK_ELEMENTS = 1 << 22


def _activate(u: np.ndarray, activation: str) -> np.ndarray:
    if activation == "identity":
        return u
    if activation == "relu":
        out: np.ndarray = np.maximum(u, 0)
        return out
    raise SpecError(f"activation must be 'identity' or 'relu', got {activation!r}")


def check_layer(x: Any, weight: Any, bias: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a dense layer's arguments: x (batch, in), weight (out, in), bias (out,)."""
    x, weight = check_array(x, "x"), check_array(weight, "weight")
    if x.ndim != 2 or weight.ndim != 2:
        raise SpecError(
            f"dropconnect takes x of shape (batch, in) and weight of shape (out, in); got "
            f"x.shape={x.shape} and weight.shape={weight.shape}"
        )
    if weight.shape[1] != x.shape[1]:
        raise SpecError(
            f"weight.shape={weight.shape} does not match x.shape={x.shape}: weight must be "
            f"(out, in) with in = x.shape[1] = {x.shape[1]}"
        )
    if bias is not None:
        bias = check_array(bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise SpecError(
                f"bias.shape={bias.shape} does not match weight.shape={weight.shape}: bias "
                f"must be (out,) = ({weight.shape[0]},)"
            )
    return x, weight, bias


def dropconnect(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    rate: float,
    *,
    training: bool = True,
    seed: Seed = None,
    masks: str = "per_example",
    mask_bias: bool = True,
    scaling: str = "inverted",
    inference: str = "mean",
    activation: str = "identity",
    samples: int = 1000,
    rate_one: str = "zeros",
    return_mask: bool = False,
) -> Any:
    """A dense layer a(x·(M ⊙ W)ᵀ·s + b′) with a Bernoulli mask M on the weights.

    Parameters
    ----------
    x, weight, bias : numpy.ndarray
        Shapes (batch, in), (out, in) and (out,); bias may be None.
    rate : float
        Drop probability of each weight, in [0, 1].
    training : bool
        False gives the inference rule chosen by ``inference``.
    seed : int, numpy.random.Generator or None
        Source of the masks (and of the moment-matching draws).
    masks : {"per_example", "per_batch"}
        A fresh mask for every example (the paper) or one per call (weight drop).
    mask_bias : bool
        Whether the bias is masked (and scaled) too.
    scaling : {"inverted", "classic"}
        Training scale s = 1/(1 - rate) or 1.
    inference : {"mean", "moment_matching"}
        Mean weights, or the paper's Gaussian moment matching averaged over ``samples`` draws.
    activation : {"identity", "relu"}
        Applied to the pre-activation.
    rate_one : {"zeros", "error"}
        Behaviour at rate 1 in training.
    return_mask : bool
        Also return ``{"weight": M, "bias": mb}``, M of shape (batch, out, in) or (out, in).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, dict)
        Output of shape (batch, out) in x's dtype.
    """
    x, weight, bias = check_layer(x, weight, bias)
    rate = check_rate(rate, allow_one=rate_one != "error" or not training)
    if masks not in ("per_example", "per_batch"):
        raise SpecError(f"masks must be 'per_example' or 'per_batch', got {masks!r}")
    wide = compute_dtype(x.dtype)
    xw, ww = x.astype(wide), weight.astype(wide)
    bw = np.zeros(weight.shape[0], dtype=wide) if bias is None else bias.astype(wide)
    s, keep = wide.type(scale_for(rate, scaling)), 1.0 - rate
    rng = generator(seed)
    if not training:
        y = _infer(x, weight, bias, rate, rng, scaling, mask_bias, inference, activation, samples)
        return (y, None) if return_mask else y
    batch, (out, n_in) = x.shape[0], weight.shape
    if masks == "per_batch":
        m = bernoulli(rng, (out, n_in), keep)
        mb = bernoulli(rng, (out,), keep) if mask_bias else np.ones(out, dtype=bool)
        pre = (xw @ (ww * m).T) * s + (bw * mb * s if mask_bias else bw)
    else:
        m = np.empty((batch, out, n_in), dtype=bool)
        mb = np.ones((batch, out), dtype=bool)
        pre = np.empty((batch, out), dtype=wide)
        step = max(1, _BLOCK_ELEMENTS // max(1, out * n_in))
        for lo in range(0, batch, step):
            hi = min(batch, lo + step)
            m[lo:hi] = bernoulli(rng, (hi - lo, out, n_in), keep)
            pre[lo:hi] = np.einsum("ni,noi->no", xw[lo:hi], m[lo:hi] * ww) * s
            if mask_bias:
                mb[lo:hi] = bernoulli(rng, (hi - lo, out), keep)
                pre[lo:hi] += bw * mb[lo:hi] * s
            else:
                pre[lo:hi] += bw
    y = _activate(pre, activation).astype(x.dtype)
    return (y, {"weight": m, "bias": mb}) if return_mask else y


def _infer(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    rate: float,
    rng: np.random.Generator,
    scaling: str,
    mask_bias: bool,
    inference: str,
    activation: str,
    samples: int,
) -> np.ndarray:
    wide = compute_dtype(x.dtype)
    if inference == "mean":
        s_inf = wide.type((1.0 - rate) * scale_for(rate, scaling))
        bw = np.zeros(weight.shape[0], dtype=wide) if bias is None else bias.astype(wide)
        pre = (x.astype(wide) @ weight.astype(wide).T) * s_inf + (bw * s_inf if mask_bias else bw)
        return _activate(pre, activation).astype(x.dtype)
    if inference != "moment_matching":
        raise SpecError(f"inference must be 'mean' or 'moment_matching', got {inference!r}")
    mu, var = dropconnect_moments(x, weight, bias, rate, scaling=scaling, mask_bias=mask_bias)
    sigma = np.sqrt(var)
    total = np.zeros_like(mu)
    step = max(1, _BLOCK_ELEMENTS // max(1, mu.size))
    for lo in range(0, samples, step):
        k = min(step, samples - lo)
        u = mu + sigma * rng.standard_normal((k, *mu.shape))
        total += _activate(u, activation).sum(axis=0)
    return (total / samples).astype(x.dtype)


def _target(**options: Any) -> Any:
    def fn(
        x: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None,
        rate: float,
        *,
        training: bool,
        seed: int,
    ) -> Any:
        return dropconnect(x, weight, bias, rate, training=training, seed=seed, **options)

    return fn


_PAPER: dict[str, Any] = dict(
    masks="per_example",
    mask_bias=True,
    scaling="classic",
    inference="moment_matching",
    activation="relu",
    samples=1000,
)
_WEIGHT_DROP: dict[str, Any] = dict(
    masks="per_batch", mask_bias=False, scaling="inverted", inference="mean"
)

#: The built-in reference targets of DropConnect: the paper's, and weight drop.
TARGETS: tuple[Target, ...] = (
    make_target(
        _target(**_PAPER),
        "dropconnect",
        name="reference.dropconnect",
        description="dropspec.reference.dropconnect as in Wan et al. 2013: per-example "
        "masks, masked bias, classic scaling, moment-matching inference, ReLU",
        **_PAPER,
    ),
    make_target(
        _target(**_WEIGHT_DROP),
        "dropconnect",
        name="reference.weight_drop",
        description="dropspec.reference.dropconnect as weight drop: one mask per call, "
        "unmasked bias, inverted scaling, mean inference",
        **_WEIGHT_DROP,
    ),
)


#: The small call of the test vectors (:mod:`dropspec.reference.vectors`): each input's shape,
#: and the examples of the clause of its own (a weight, then a bias, of the wrong size).
VECTOR_SHAPES: dict[str, tuple[int, ...]] = {"x": (2, 3), "weight": (2, 3), "bias": (2,)}
VECTOR_CASES: dict[str, tuple[dict[str, Any], ...]] = {
    "SHAPE-MISMATCH": (
        {"shapes": {"weight": (2, 4)}, "raises": True},
        {"shapes": {"bias": (3,)}, "raises": True},
    )
}


def vector_gradient(
    inputs: dict[str, np.ndarray], rate: float, options: dict[str, Any], drawn: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The gradient of sum(y) with respect to x (identity activation): s·(M ⊙ W)ᵀ applied
    to a cotangent of ones, per example, with the call's own weight mask (for the test
    vectors)."""
    x, weight = inputs["x"], inputs["weight"]
    wide = compute_dtype(x.dtype)
    s = wide.type(scale_for(rate, options["scaling"]))
    masked = np.broadcast_to(drawn["mask_weight"], (x.shape[0], *weight.shape)) * weight.astype(
        wide
    )
    return {"grad_x": (masked.sum(axis=1) * s).astype(x.dtype)}
