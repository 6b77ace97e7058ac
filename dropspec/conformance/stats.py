"""The statistical tests behind every statistical clause, on top of scipy.stats.

Each test returns a frozen :class:`StatResult` carrying its inputs, statistic, p-value, the
significance level it was held to, the sample size, and the smallest deviation it detects
with the configured power, so that "passed" says what it rules out.

Sample sizes are chosen, not guessed: :func:`binomial_sample_size` gives the n at which a
two-sided test at level alpha catches a drop-rate deviation delta with the requested power.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from . import reduce


@dataclass(frozen=True)
class StatResult:
    """The outcome of one hypothesis test.

    ``deviation`` is the smallest departure from the null (in the unit named by
    ``deviation_unit``) that the test detects with probability ``power`` at this sample size.
    """

    test: str
    statistic: float
    pvalue: float
    alpha: float
    n: int
    deviation: float
    deviation_unit: str
    power: float
    inputs: Mapping[str, Any] = field(default_factory=dict)
    #: False where the p-value is a bound (conservative), not uniform under the null.
    uniform: bool = True
    #: The sub-tests a check combined (Bonferroni), this one being the least favourable.
    parts: tuple[StatResult, ...] = ()

    def leaves(self) -> tuple[StatResult, ...]:
        """The individual tests behind this result, however deeply combined."""
        return tuple(leaf for part in self.parts for leaf in part.leaves()) or (self,)

    @property
    def alpha_spent(self) -> float:
        """Σ α over every individual test: by the union bound, the chance that this result
        fails a correct implementation is at most this (``alpha`` is one sub-test's share)."""
        return math.fsum(leaf.alpha for leaf in self.leaves())

    @property
    def adjusted_pvalue(self) -> float:
        """The Bonferroni p-value of the whole result, to compare with :attr:`alpha_spent`.

        min over sub-tests of p_i · (alpha_spent / alpha_i), capped at 1: below
        ``alpha_spent`` exactly when some sub-test fails its own share.
        """
        total = self.alpha_spent
        return min(1.0, min(leaf.pvalue * total / leaf.alpha for leaf in self.leaves()))

    @property
    def passed(self) -> bool:
        return bool(self.pvalue >= self.alpha)

    def describe(self) -> str:
        inputs = ", ".join(f"{k}={v}" for k, v in self.inputs.items())
        return (f"{self.test}: statistic={self.statistic:.6g}, p={self.pvalue:.3g} "
                f"(alpha={self.alpha:.3g}, n={self.n}; detects {self.deviation_unit} >= "
                f"{self.deviation:.3g} with power {self.power}) [{inputs}]")


def z_two_sided(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2.0))


def z_power(power: float) -> float:
    return float(stats.norm.ppf(power))


def rate_deviation(rate: float) -> float:
    """The drop-rate deviation the suite is sized to catch: 0.002, or 10% below rate 0.02."""
    closest = min(rate, 1.0 - rate)
    return 0.002 if closest >= 0.02 else 0.1 * closest


def binomial_sample_size(p0: float, delta: float, alpha: float, power: float) -> int:
    """n such that a two-sided binomial test at ``alpha`` detects ``p0 ± delta`` with ``power``.

    Normal approximation: n = ((z_a·sqrt(p0·q0) + z_b·sqrt(p1·q1)) / delta)², taking the
    alternative p1 on the side with the larger variance.
    """
    za, zb = z_two_sided(alpha), z_power(power)
    worst = 0.0
    for p1 in (p0 - delta, p0 + delta):
        if 0.0 < p1 < 1.0:
            n = ((za * math.sqrt(p0 * (1 - p0)) + zb * math.sqrt(p1 * (1 - p1))) / delta) ** 2
            worst = max(worst, n)
    return math.ceil(worst)


def binomial_detectable(p0: float, n: int, alpha: float, power: float) -> float:
    """Smallest |p1 - p0| detected with ``power`` by a two-sided test on n trials."""
    za, zb = z_two_sided(alpha), z_power(power)
    return (za + zb) * math.sqrt(p0 * (1 - p0) / n) if 0 < p0 < 1 else 0.0


def binomial(k: int, n: int, p0: float, *, alpha: float, power: float,
             **inputs: Any) -> StatResult:
    """Two-sided exact binomial test that k of n trials succeed with probability p0."""
    pvalue = float(stats.binomtest(int(k), int(n), p0).pvalue) if 0 < p0 < 1 else (
        1.0 if k == round(p0 * n) else 0.0)
    return StatResult("binomial test", k / n, pvalue, alpha, n,
                      binomial_detectable(p0, n, alpha, power), "|rate - expected|", power,
                      {"expected": p0, "observed": round(k / n, 6), **inputs})


def z_mean(total: float, expected: float, variance: float, n: int, *, alpha: float,
           power: float, unit: str = "|mean - expected| in sd", **inputs: Any) -> StatResult:
    """z-test that a sum of n independent terms with known mean and variance is on target.

    ``total`` is the observed sum, ``expected`` and ``variance`` those of the sum. The
    detectable deviation is stated per term, in standard deviations of one term.
    """
    sd = math.sqrt(variance)
    z = (total - expected) / sd if sd > 0 else (0.0 if total == expected else math.inf)
    pvalue = float(2.0 * stats.norm.sf(abs(z)))
    detect = (z_two_sided(alpha) + z_power(power)) / math.sqrt(max(n, 1))
    return StatResult("z-test (known variance)", z, pvalue, alpha, n, detect, unit, power,
                      dict(inputs))


def contingency_2x2(a: np.ndarray, b: np.ndarray, *, alpha: float, power: float,
                    **inputs: Any) -> StatResult:
    """Chi-square test that two paired boolean samples are independent (see the counts form)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n11, n1_, n_1 = (int(v) for v in reduce.pair_counts(a, b))
    return contingency_2x2_counts(n11, n1_, n_1, a.size, alpha=alpha, power=power, **inputs)


def contingency_2x2_counts(n11: int, n1_: int, n_1: int, n: int, *, alpha: float,
                           power: float, **inputs: Any) -> StatResult:
    """Chi-square independence test of n pairs (a, b), given #(a and b), #a and #b.

    Power comes from the noncentral chi-square: the test detects a dependence of Cohen's
    w (the phi coefficient for 2x2) at least ``deviation``.
    """
    table = np.array([[n11, n1_ - n11], [n_1 - n11, n - n1_ - n_1 + n11]], dtype=np.float64)
    w = chi2_effect_size(1, n, alpha, power)
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        # A constant margin carries no information about dependence.
        return StatResult("chi-square independence (2x2)", 0.0, 1.0, alpha, n, w,
                          "Cohen's w", power, {"table": table.astype(int).tolist(), **inputs})
    res = stats.chi2_contingency(table, correction=False)
    return StatResult("chi-square independence (2x2)", float(res.statistic), float(res.pvalue),
                      alpha, n, w, "Cohen's w", power,
                      {"table": table.astype(int).tolist(), **inputs})


def chi2_effect_size(df: int, n: int, alpha: float, power: float) -> float:
    """Cohen's w detected with ``power`` by a chi-square test with ``df`` degrees and n obs."""
    crit = float(stats.chi2.isf(alpha, df))
    lo, hi = 0.0, 1.0
    while float(stats.ncx2.sf(crit, df, hi)) < power:
        hi *= 2.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if float(stats.ncx2.sf(crit, df, mid)) < power:
            lo = mid
        else:
            hi = mid
    return math.sqrt(hi / max(n, 1))


def binomial_counts_gof(counts: np.ndarray, k: int, rate: float, *, alpha: float,
                        power: float, **inputs: Any) -> StatResult:
    """Goodness of fit of per-element counts over k calls to Binomial(k, rate)."""
    counts = np.asarray(counts)
    observed = np.asarray(reduce.histogram(counts, k))
    if observed.sum() != counts.size:
        raise ValueError(f"counts must be integers in [0, {k}]")
    return binomial_histogram_gof(observed, k, rate, alpha=alpha, power=power, **inputs)


def binomial_histogram_gof(observed: np.ndarray, k: int, rate: float, *, alpha: float,
                           power: float, **inputs: Any) -> StatResult:
    """Chi-square goodness of fit of a histogram of counts 0..k to Binomial(k, rate).

    ``observed[j]`` is how many elements were dropped in exactly j of k calls. Bins with
    expected count below 5 are pooled with their neighbours.
    """
    observed = np.asarray(observed, dtype=np.float64)
    n = int(observed.sum())
    expected = stats.binom.pmf(np.arange(k + 1), k, rate) * n
    obs_bins, exp_bins = _pool(observed, expected)
    df = len(obs_bins) - 1
    stat = float(((obs_bins - exp_bins) ** 2 / exp_bins).sum())
    pvalue = float(stats.chi2.sf(stat, df)) if df > 0 else 1.0
    return StatResult("chi-square goodness of fit to Binomial(k, rate)", stat, pvalue, alpha, n,
                      chi2_effect_size(max(df, 1), n, alpha, power), "Cohen's w", power,
                      {"k": k, "rate": rate, "bins": len(obs_bins), **inputs})


def _pool(observed: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs_out: list[float] = []
    exp_out: list[float] = []
    o_acc = e_acc = 0.0
    for o, e in zip(observed, expected, strict=True):
        o_acc += o
        e_acc += e
        if e_acc >= 5.0:
            obs_out.append(o_acc)
            exp_out.append(e_acc)
            o_acc = e_acc = 0.0
    if exp_out:
        obs_out[-1] += o_acc
        exp_out[-1] += e_acc
    else:
        obs_out, exp_out = [o_acc], [e_acc]
    return np.array(obs_out), np.array(exp_out)


def no_period(mask: np.ndarray, *, alpha: float, power: float, max_lag: int | None = None,
              **inputs: Any) -> StatResult:
    """Test a flattened rate-0.5 mask for agreement with shifted copies of itself."""
    n = np.asarray(mask).size
    lags = max_lag or n // 2
    lag, agreement = (float(v) for v in reduce.autocorrelation_peak(np.asarray(mask), lags))
    return no_period_peak(int(lag), agreement, n, lags, alpha=alpha, power=power, **inputs)


def no_period_peak(lag: int, agreement: float, n: int, lags: int, *, alpha: float,
                   power: float, **inputs: Any) -> StatResult:
    """The periodicity test from the least likely lag of :func:`reduce.autocorrelation_peak`.

    With e = 2·mask - 1 (independent fair ±1 under the null), the lag-L sum
    S_L = Σ e_i·e_{i+L} is a martingale with bounded increments, so Azuma–Hoeffding gives
    P(|S_L| >= t) <= 2·exp(-t²/(2(n-L))). The p-value is the Bonferroni bound over all
    ``lags`` lags, taken at the lag where the bound is smallest. The deviation stated is the
    excess agreement fraction at one lag detected with certainty by the bound.
    """
    bound = 2.0 * math.exp(-(agreement**2) / (2.0 * (n - lag)))
    pvalue = float(min(1.0, bound * lags))
    threshold = math.sqrt(2.0 * n * math.log(2.0 * lags / alpha))
    return StatResult("FFT autocorrelation, Azuma bound over lags", agreement, pvalue,
                      alpha, n, threshold / (2.0 * n), "excess agreement fraction at one lag",
                      power, {"lags": lags, "worst_lag": lag, **inputs}, uniform=False)


def ks_normal(z: np.ndarray, *, alpha: float, power: float, **inputs: Any) -> StatResult:
    """Kolmogorov–Smirnov test of standardised samples against N(0, 1)."""
    z = np.asarray(z, dtype=np.float64)
    return ks_normal_distance(float(reduce.ks_distance(z)), z.size, alpha=alpha, power=power,
                              **inputs)


def ks_normal_distance(distance: float, n: int, *, alpha: float, power: float,
                       **inputs: Any) -> StatResult:
    """Kolmogorov–Smirnov test against N(0, 1), given D = sup |F_n - Φ| of n samples.

    D comes from :func:`reduce.ks_distance`, whose Φ is within ``NORMAL_CDF_ERROR`` (7.5e-8)
    of the true one; that error is added to the stated deviation. The stated deviation is
    the sup-distance between CDFs caught with ``power``: the test's critical value plus the
    DKW bound on the empirical CDF's own error at 1 - power.
    """
    pvalue = float(stats.kstwo.sf(distance, n))
    crit = math.sqrt(math.log(2.0 / alpha) / (2.0 * n))
    dkw = math.sqrt(math.log(2.0 / (1.0 - power)) / (2.0 * n))
    return StatResult("Kolmogorov-Smirnov vs N(0, 1)", distance, pvalue, alpha, n,
                      crit + dkw + reduce.NORMAL_CDF_ERROR, "sup |F - Phi|", power,
                      dict(inputs))


def chi2_variance(sum_sq: float, n: int, *, alpha: float, power: float,
                  **inputs: Any) -> StatResult:
    """Two-sided test that n standardised normal residuals have variance 1 (chi-square, n df).

    The stated deviation is the relative change in variance detected with ``power``.
    """
    lo = float(stats.chi2.sf(sum_sq, n))
    pvalue = min(1.0, 2.0 * min(lo, 1.0 - lo))
    crit_hi = float(stats.chi2.isf(alpha / 2.0, n))
    ratio = 1.0
    while float(stats.chi2.sf(crit_hi / ratio, n)) < power:
        ratio *= 1.01
    return StatResult("chi-square variance test", sum_sq / n, pvalue, alpha, n, ratio - 1.0,
                      "relative variance change", power, dict(inputs))


def combine(results: list[StatResult]) -> StatResult:
    """The least favourable of several results (each already held to its share of alpha).

    The combined result keeps every sub-test in ``parts`` (flattened), so
    :attr:`StatResult.alpha_spent` is the α of the whole check.
    """
    leaves = tuple(leaf for r in results for leaf in r.leaves())
    worst = min(leaves, key=lambda r: r.pvalue / r.alpha)
    return replace(worst, parts=leaves) if len(leaves) > 1 else worst
