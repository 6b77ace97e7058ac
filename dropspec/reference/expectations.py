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
from .gaussian_dropout import gaussian_std


def kept_multipliers(
    rate: float, scaling: str = "inverted", dtype: str | None = None
) -> tuple[float, ...]:
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
    found = {
        float(d(s)),
        float(d(np.float32(s))),
        float(d(1.0 / keep)),
        float(d(np.float32(1.0) / np.float32(keep))),
    }
    return tuple(sorted(found))


def alpha_rounding_slack(rate: float, dtype: str | None) -> tuple[float, float]:
    """How far alpha dropout's output mean and variance (per value, standard-normal input)
    can honestly move when the affine constants are rounded to ``dtype``.

    An implementation keeps x as a·x + b and sets a dropped unit to a·α′ + b; in a narrow
    dtype those three constants are stored rounded (PyTorch computes them in the data dtype),
    which is the honest dtype effect here, as scale rounding is for dropout. The bound is the
    largest change of E[y] and E[y²] over every rounding of a, b and a·α′ + b by up to half
    an ulp each, plus E[δ²] ≤ u²·E[y²] for rounding the output itself. Without a dtype, or
    in float64, (0, 0).
    """
    if dtype is None or dtype == "float64":
        return 0.0, 0.0
    import itertools

    import ml_dtypes

    u = float(ml_dtypes.finfo(as_dtype(dtype)).eps) / 2.0  # type: ignore[no-untyped-call]
    a, b = alpha_constants(rate)
    c = a * ALPHA_PRIME + b
    keep = 1.0 - rate

    def moments(a_: float, b_: float, c_: float) -> tuple[float, float]:
        return keep * b_ + rate * c_, keep * (a_ * a_ + b_ * b_) + rate * c_ * c_

    mean0, second0 = moments(a, b, c)
    worst_mean = worst_second = 0.0
    for signs in itertools.product((-1.0, 1.0), repeat=3):
        m, s2 = moments(*(v * (1.0 + e * u) for v, e in zip((a, b, c), signs, strict=True)))
        worst_mean = max(worst_mean, abs(m - mean0))
        worst_second = max(worst_second, abs(s2 - second0))
    return worst_mean, worst_second + 2.0 * u * u * second0


def gaussian_at_most_one(rate: float, dtype: str | None = None) -> float:
    """P(fl(1 + σ·Z) ≤ 1) for Gaussian dropout's noise at ``rate`` rounded to nearest in
    ``dtype`` (Z ~ N(0, 1), σ² = rate/(1 − rate)): the noise rounds to at most 1 exactly
    when it is below 1 + h, h being half the spacing above 1 (a tie rounds to 1, whose
    last bit is even). Without a dtype, 1/2."""
    if dtype is None:
        return 0.5
    import ml_dtypes

    half_spacing = float(ml_dtypes.finfo(as_dtype(dtype)).eps) / 2.0  # type: ignore[no-untyped-call]
    return float(special.ndtr(half_spacing / gaussian_std(rate)))


def dropout_moments(
    rate: float, scaling: str = "inverted", multiplier: float | None = None
) -> tuple[float, float]:
    """Mean and variance of the multiplier m·s, so that E[y] = mean·x, Var[y] = var·x².

    ``multiplier`` is the value of a kept unit's multiplier (one of :func:`kept_multipliers`
    in a dtype); by default the exact scale.
    """
    s = scale_for(rate, scaling) if multiplier is None else multiplier
    keep = 1.0 - rate
    return s * keep, s * s * keep * rate


def dropout_central_moment4(
    rate: float, scaling: str = "inverted", multiplier: float | None = None
) -> float:
    """The fourth central moment of the multiplier m·s (see :func:`dropout_moments`), which
    sizes the test of its variance: (1 − rate)·(s − mean)⁴ + rate·mean⁴."""
    s = scale_for(rate, scaling) if multiplier is None else multiplier
    mean = dropout_moments(rate, scaling, multiplier=s)[0]
    return (1.0 - rate) * (s - mean) ** 4 + rate * mean**4


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


def alpha_group_variances(rate: float, g: int) -> tuple[float, float]:
    """Variance of one group's Σy and Σy² − g, for a group of g values sharing one mask value.

    y = a·(k·x + (1 − k)·α′) + b with k ~ Bernoulli(keep) shared in the group and x ~ N(0, 1).
    """
    a, b = alpha_constants(rate)
    keep = 1.0 - rate
    var_sum = a * a * (keep * g + g * g * ALPHA_PRIME**2 * keep * rate)
    e1 = a * a + b * b  # E[(a·x + b)²]
    e2 = 3 * a**4 + 6 * a * a * b * b + b**4  # E[(a·x + b)⁴]
    c2 = (a * ALPHA_PRIME + b) ** 2
    var_sq = keep * g * (e2 - e1 * e1) + g * g * keep * rate * (e1 - c2) ** 2
    return var_sum, var_sq


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
