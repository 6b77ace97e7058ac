"""The statistics the conformance suite tests against: moments and distributions.

Everything here is exact (closed form) for the reference semantics; the suite compares
observed samples with these values through the tests in :mod:`dropspec.conformance.stats`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ..dtypes import as_dtype
from .alpha_dropout import ALPHA_PRIME, alpha_constants
from .dropout import scale_for


def kept_multipliers(rate: float, scaling: str = "inverted",
                     dtype: str | None = None) -> tuple[float, ...]:
    """What a kept power-of-two input is multiplied by in ``dtype``: the scale, rounded.

    Scale rounding is the one honest dtype effect (the drop rate is the rate asked for in
    every dtype): a kept x = 2^e becomes 2^e·fl(s), where fl(s) is s = 1/(1 − rate) rounded
    to the data dtype directly or through float32 (half types computed in float32), or
    1/fl(1 − rate) rounded (x / (1 − rate), and its reciprocal-multiply form). These are
    the roundings the ``*-VALUES`` clauses accept; they differ by at most one ulp. Without
    a dtype, the exact s.
    """
    s = scale_for(rate, scaling)
    if dtype is None or s in (0.0, 1.0):
        return (s,)
    d = as_dtype(dtype).type
    keep = float(d(1.0 - rate))
    found = {float(d(s)), float(d(np.float32(s))), float(d(1.0 / keep)),
             float(d(np.float32(1.0) / np.float32(keep)))}
    return tuple(sorted(found))


def dropout_moments(rate: float, scaling: str = "inverted",
                    multiplier: float | None = None) -> tuple[float, float]:
    """Mean and variance of the multiplier m·s, so that E[y] = mean·x, Var[y] = var·x².

    ``multiplier`` is the value of a kept unit's multiplier (one of :func:`kept_multipliers`
    in a dtype); by default the exact scale.
    """
    s = scale_for(rate, scaling) if multiplier is None else multiplier
    keep = 1.0 - rate
    return s * keep, s * s * keep * rate


def alpha_moments(rate: float, order: int) -> float:
    """E[y**order] of alpha dropout applied to a standard-normal input (order 1..4).

    y = a·x + b with probability 1 - rate and a·α′ + b otherwise, x ~ N(0, 1); orders 1 and
    2 give 0 and 1 by construction, order 4 gives the variance of y² used by the variance
    test.
    """
    a, b = alpha_constants(rate)
    keep = 1.0 - rate
    # Raw moments of a·x + b for x ~ N(0, 1): binomial expansion with E[x^k] = (k-1)!! (k even).
    normal_moments = [1.0, 0.0, 1.0, 0.0, 3.0]
    kept = sum(
        special.comb(order, k) * a**k * normal_moments[k] * b ** (order - k)
        for k in range(order + 1)
    )
    dropped = (a * ALPHA_PRIME + b) ** order
    return float(keep * kept + rate * dropped)


def dropconnect_moments(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    rate: float,
    *,
    scaling: str = "inverted",
    mask_bias: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the training pre-activation, per (example, output), in float64.

    mean = s·keep·(x·Wᵀ + b̃) + b_unmasked and
    var = s²·keep·(1 - keep)·((x⊙x)·(W⊙W)ᵀ + b̃²), b̃ being the bias when it is masked. These
    are also the parameters of the paper's moment-matching Gaussian.
    """
    s, keep = scale_for(rate, scaling), 1.0 - rate
    xd, wd = x.astype(np.float64), weight.astype(np.float64)
    bd = np.zeros(wd.shape[0]) if bias is None else bias.astype(np.float64)
    masked_b = bd if mask_bias else np.zeros_like(bd)
    mean = s * keep * (xd @ wd.T + masked_b) + (0.0 if mask_bias else bd)
    var = s * s * keep * (1.0 - keep) * ((xd * xd) @ (wd * wd).T + masked_b**2)
    return mean, var


def gaussian_activation_moments(
    mu: Any, sigma: Any, activation: str
) -> tuple[np.ndarray, np.ndarray]:
    """E[a(u)] and Var[a(u)] for u ~ N(mu, sigma²), a the identity or ReLU, in closed form.

    ReLU: E = μΦ(μ/σ) + σφ(μ/σ) and E[a²] = (μ² + σ²)Φ(μ/σ) + μσφ(μ/σ).
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if activation == "identity":
        return mu, sigma**2
    if activation != "relu":
        raise ValueError(f"activation must be 'identity' or 'relu', got {activation!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(sigma > 0, mu / np.where(sigma > 0, sigma, 1.0), np.sign(mu) * np.inf)
    cdf = special.ndtr(t)
    pdf = np.where(np.isfinite(t), np.exp(-0.5 * np.where(np.isfinite(t), t, 0.0) ** 2), 0.0)
    pdf = pdf / np.sqrt(2.0 * np.pi)
    first = mu * cdf + sigma * pdf
    second = (mu * mu + sigma * sigma) * cdf + mu * sigma * pdf
    return first, np.maximum(second - first * first, 0.0)
