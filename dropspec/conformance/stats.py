"""The statistical tests behind every statistical clause, on top of scipy.stats.

Each test returns a frozen :class:`StatResult` carrying its inputs, statistic, p-value, the
significance level it was held to, the sample size, and the smallest deviation it detects
with the configured power, so that "passed" says what it rules out.

Sample sizes are chosen, not guessed: :func:`binomial_sample_size` gives the n at which a
two-sided test at level alpha catches a drop-rate deviation delta with the requested power.
The rate and moment sub-tests that need millions of values are sequential
(:class:`SequentialBinomial`, :class:`SequentialMean`): they keep the same level and power
against the same deviation but stop drawing as soon as the evidence decides.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import special, stats

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
        return (
            f"{self.test}: statistic={self.statistic:.6g}, p={self.pvalue:.3g} "
            f"(alpha={self.alpha:.3g}, n={self.n}; detects {self.deviation_unit} >= "
            f"{self.deviation:.3g} with power {self.power}) [{inputs}]"
        )


@functools.lru_cache(maxsize=1024)
def z_two_sided(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2.0))


@functools.lru_cache(maxsize=1024)
def z_power(power: float) -> float:
    return float(stats.norm.ppf(power))


def rate_deviation(rate: float) -> float:
    """The drop-rate deviation the suite is sized to catch: 0.002, or 10% below rate 0.02."""
    closest = min(rate, 1.0 - rate)
    return 0.002 if closest >= 0.02 else 0.1 * closest


def normal_sample_size(p0: float, delta: float, alpha: float, power: float) -> int:
    """The normal-approximation n at which a two-sided test at ``alpha`` detects ``p0 ±
    delta`` with ``power``: n = ((z_a·sqrt(p0·q0) + z_b·sqrt(p1·q1)) / delta)², taking the
    alternative p1 on the side with the larger variance (Fleiss, Levin & Paik, *Statistical
    Methods for Rates and Proportions*, 3rd ed., 2003, sec. 2.5). A starting bracket for
    :func:`binomial_sample_size`, and the scale of the moment tests (:func:`rate_moment_test`),
    which are z-tests of sums, not binomial tests."""
    za, zb = z_two_sided(alpha), z_power(power)
    worst = 0.0
    for p1 in (p0 - delta, p0 + delta):
        if 0.0 < p1 < 1.0:
            n = ((za * math.sqrt(p0 * (1 - p0)) + zb * math.sqrt(p1 * (1 - p1))) / delta) ** 2
            worst = max(worst, n)
    return math.ceil(worst)


# ---------------------------------------------------------------- exact binomial power ----
#
# The power of a test of k ~ Binomial(n, p) is a sum over its rejection region, which depends
# on n, p0 and alpha only: P(k <= lo | p1) + P(k >= hi | p1). Both tests used here reject the
# two tails of k, so the region is two integers, found by asking the test itself (the
# p-value the check computes) at the boundary. Power, the smallest deviation detected and
# the sample size follow exactly, with no large-sample approximation: the normal
# approximation used before overstated the power of tests of a hundred or so values at
# small alpha (a width-8 tail stratum, n = 101, detected its stated deviation in 235 of 300
# runs against a claimed 0.9). Method: the exact (Clopper-Pearson type) power of a discrete
# test, as in Chernick & Liu, "The saw-toothed behavior of power versus sample size and
# software solutions", The American Statistician 56 (2002).

#: scipy's tolerance on "as likely as k" in the two-sided binomtest p-value (minlike).
_MINLIKE_RERR = 1 + 1e-7


def _binomtest_rejects(k: int, n: int, p0: float, alpha: float) -> bool:
    return float(stats.binomtest(k, n, p0).pvalue) < alpha


#: How far (relative) a p-value computed here must be from alpha for its side of alpha to
#: be taken as scipy's: the two sum the same pmf values in another order (error ~1e-13).
_MARGIN = 1e-9


def _minlike_guess(n: int, p0: float, alpha: float) -> tuple[int, int, bool]:
    """The two-sided "minlike" region of scipy's binomtest (the p-value of k sums the pmf
    over every outcome at most (1 + 1e-7) times as likely as k), computed over the values
    near the mean (the mass outside is below 1e-40), and whether it is certain: every
    p-value at the boundaries is clear of alpha, and no outcome's pmf is at the tolerance
    of a boundary's."""
    sd = math.sqrt(n * p0 * (1 - p0))
    width = int(15 * sd + 60)
    first, last = max(0, int(n * p0) - width), min(n, int(n * p0) + width)
    ks = np.arange(first, last + 1)
    pmf = stats.binom.pmf(ks, n, p0)
    ordered = np.sort(pmf)
    tails = np.cumsum(ordered)
    pvalues = tails[np.searchsorted(ordered, pmf * _MINLIKE_RERR, side="right") - 1]
    mode = int(ks[np.argmax(pmf)])
    rejected = ks[pvalues < alpha]
    below, above = rejected[rejected < mode], rejected[rejected > mode]
    lo = int(below.max()) if below.size else -1
    hi = int(above.min()) if above.size else n + 1
    edges = [k - first for k in (lo, lo + 1, hi - 1, hi) if first <= k <= last]
    clear = all(abs(pvalues[i] / alpha - 1.0) > _MARGIN for i in edges)
    near = [np.abs(pmf / (pmf[i] * _MINLIKE_RERR) - 1.0).min() for i in edges]
    return lo, hi, clear and min(near, default=1.0) > _MARGIN and first <= lo + 1 and hi <= last + 1


@functools.lru_cache(maxsize=8192)
def binomial_region(n: int, p0: float, alpha: float) -> tuple[int, int]:
    """(lo, hi): :func:`binomial` rejects k of n at ``alpha`` exactly when k <= lo or
    k >= hi (lo = -1, hi = n + 1 where a tail rejects nothing). The region of scipy's
    p-value, computed from its pmf; where a boundary's p-value is within rounding of alpha,
    settled by asking scipy's binomtest itself, the p-value the test reports."""
    lo, hi, certain = _minlike_guess(n, p0, alpha)
    if certain:
        return lo, hi
    mode = min(n, int((n + 1) * p0))
    while lo + 1 < mode and _binomtest_rejects(lo + 1, n, p0, alpha):
        lo += 1
    while lo >= 0 and not _binomtest_rejects(lo, n, p0, alpha):
        lo -= 1
    while hi - 1 > mode and _binomtest_rejects(hi - 1, n, p0, alpha):
        hi -= 1
    while hi <= n and not _binomtest_rejects(hi, n, p0, alpha):
        hi += 1
    return lo, hi


def region_power(n: int, lo: np.ndarray, hi: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """P(k <= lo) + P(k >= hi) for k ~ Binomial(n, p1): the exact power of a test that
    rejects those tails (element-wise)."""
    low = special.bdtr(np.maximum(lo, 0), n, p1) * (lo >= 0)
    high = special.bdtrc(np.maximum(hi - 1, 0), n, p1) * (hi <= n)
    return np.asarray(low + high)


def exact_detectable(
    n: int, p0: np.ndarray, lo: np.ndarray, hi: np.ndarray, power: float
) -> np.ndarray:
    """The smallest deviation delta that the tests rejecting k <= lo or k >= hi (of n, null
    p0; element-wise) detect with ``power`` on each side of p0 that is inside (0, 1): per
    side, the smallest delta at which the exact power at p0 ± delta reaches ``power``, or
    the distance to 0 (to 1) where it never does before p1 leaves (0, 1); the harder side
    decides. Bisection on delta (the power grows with the distance on either side once it
    exceeds alpha), returning the upper end: the power there is at least ``power``."""
    p0 = np.asarray(p0, dtype=np.float64)
    m = p0.size
    side = np.repeat([-1.0, 1.0], m)
    lo2, hi2 = np.tile(np.asarray(lo, np.float64), 2), np.tile(np.asarray(hi, np.float64), 2)
    room = np.concatenate([p0, 1.0 - p0])
    # Where even p1 = 0 (1) is caught short of ``power``, the side ends at its edge.
    reach = region_power(n, lo2, hi2, (side > 0).astype(np.float64)) >= power
    low, high = np.zeros_like(room), room.copy()
    start = np.tile(p0, 2)
    for _ in range(56):
        mid = (low + high) / 2.0
        ok = region_power(n, lo2, hi2, start + side * mid) >= power
        high, low = np.where(ok, mid, high), np.where(ok, low, mid)
    found = np.where(reach, high, room)
    return np.asarray(np.maximum(found[:m], found[m:]))


@functools.lru_cache(maxsize=8192)
def binomial_detectable(p0: float, n: int, alpha: float, power: float) -> float:
    """Smallest |p1 - p0| that :func:`binomial` on n trials at ``alpha`` detects with
    ``power``, exactly: the power at p1 is the binomial probability of the test's
    rejection region (:func:`binomial_region`), on each side of p0 inside (0, 1), the
    harder side deciding (see :func:`exact_detectable`)."""
    if not 0 < p0 < 1:
        return 0.0
    lo, hi = binomial_region(n, p0, alpha)
    return float(exact_detectable(n, np.array([p0]), np.array([lo]), np.array([hi]), power)[0])


def _catches(p0: float, delta: float, n: int, alpha: float, power: float) -> bool:
    """Whether :func:`binomial` on n trials catches p0 ± delta (each side inside (0, 1))
    with ``power``, exactly."""
    lo, hi = binomial_region(n, p0, alpha)
    p1 = np.array([p for p in (p0 - delta, p0 + delta) if 0.0 < p < 1.0])
    return bool((region_power(n, np.full(p1.shape, lo), np.full(p1.shape, hi), p1) >= power).all())


@functools.lru_cache(maxsize=1024)
def binomial_sample_size(p0: float, delta: float, alpha: float, power: float) -> int:
    """The smallest n at which :func:`binomial` at ``alpha`` detects ``p0 ± delta`` with
    ``power``, exactly (the binomial probability of its rejection region at p0 ± delta,
    each side inside (0, 1)), by bisection in n with the normal approximation
    (:func:`normal_sample_size`) as a starting bracket. (The power of a discrete test
    saw-tooths in n: an n a little above this one may fall short by a hair; a test states
    the deviation of the n it runs, :func:`binomial_detectable`.)"""
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    high = max(2, normal_sample_size(p0, delta, alpha, power))
    while not _catches(p0, delta, high, alpha, power):
        high = math.ceil(high * 1.25)
    low = math.floor(high / 1.25)  # n <= low falls short (checked below, else lowered)
    while low > 1 and _catches(p0, delta, low, alpha, power):
        low, high = math.floor(low / 1.25), low
    while high - low > 1:
        mid = (low + high) // 2
        if _catches(p0, delta, mid, alpha, power):
            high = mid
        else:
            low = mid
    return high


def binomial(k: int, n: int, p0: float, *, alpha: float, power: float, **inputs: Any) -> StatResult:
    """Two-sided exact binomial test that k of n trials succeed with probability p0."""
    pvalue = (
        float(stats.binomtest(int(k), int(n), p0).pvalue)
        if 0 < p0 < 1
        else (1.0 if k == round(p0 * n) else 0.0)
    )
    return StatResult(
        "binomial test",
        k / n,
        pvalue,
        alpha,
        n,
        binomial_detectable(p0, n, alpha, power),
        "|rate - expected|",
        power,
        {"expected": p0, "observed": round(k / n, 6), **inputs},
    )


class SequentialBinomial:
    """Wald's sequential probability ratio test of a drop rate, two-sided and truncated.

    The samples come in calls; after each, :meth:`add` updates the log likelihood ratio of
    each alternative ``p0 ± delta`` against ``p0`` and the test stops as soon as it can:

    - **reject** when either ratio reaches ``sides / alpha``. Under the null each ratio is
      a non-negative martingale of mean 1, so by Ville's inequality it ever reaches that
      bound with probability at most ``alpha / sides``: the level is alpha exactly, however
      many times the test looks, with no approximation.
    - **accept** when both ratios are at or below ``beta / 2`` (beta = 1 − power). Under an
      alternative the inverse ratio is such a martingale, so the test accepts it wrongly
      this way with probability at most beta / 2, again by Ville's inequality.
    - **truncate** at :attr:`n_max` and accept: n_max is where the log ratio under the
      alternative falls short of the rejection bound with probability beta / 2 (normal
      approximation to a sum of n terms; the detection rates are measured in
      :mod:`.calibration`). Power against a deviation of ``delta`` is therefore at least
      1 − beta.

    Under the null the ratios drift down by the Kullback-Leibler divergence per sample and
    the test accepts after about 2·log(2/beta) / (delta² / (p0·q0)) samples, about a third
    of the fixed-sample binomial test's n at alpha = 1e-6 and power 0.999 (the bound to
    reject sits far out, but a correct target never has to get there). Wald, *Sequential
    tests of statistical hypotheses*, Ann. Math. Statist. 16 (1945); Ville's inequality as
    in Ramdas et al., *Game-theoretic statistics and safe anytime-valid inference*,
    Statist. Sci. 38 (2023).

    The reported p-value is the anytime-valid one, min(1, sides · min over the alternatives
    of 1 / (largest ratio seen)): below alpha exactly when the test rejects, and a bound
    (conservative, not uniform under the null), so it is marked non-uniform.
    """

    test_name = "sequential probability ratio test (Wald, truncated)"

    def __init__(self, p0: float, delta: float, alpha: float, power: float) -> None:
        if not (0.0 < p0 < 1.0 and delta > 0.0):
            raise ValueError(f"a sequential rate test needs 0 < p0 < 1 and delta > 0, got {p0}")
        self.p0, self.delta, self.alpha, self.power = p0, delta, alpha, power
        self.sides = [p for p in (p0 - delta, p0 + delta) if 0.0 < p < 1.0]
        # Per alternative: the log ratio gained by a success and by a failure.
        self.steps = [(math.log(p / p0), math.log((1.0 - p) / (1.0 - p0))) for p in self.sides]
        self.log_reject = math.log(len(self.sides) / alpha)
        self.log_accept = math.log((1.0 - power) / 2.0)
        self.k = self.n = 0
        self.peak = [0.0 for _ in self.sides]
        self.n_max = self.sample_limit()

    def sample_limit(self) -> int:
        """The n at which, under either alternative, the log ratio is below the rejection
        bound with probability (1 − power) / 2 (normal approximation)."""
        z = z_power(1.0 - (1.0 - self.power) / 2.0)
        worst = 0.0
        for p, (up, down) in zip(self.sides, self.steps, strict=True):
            kl = p * up + (1.0 - p) * down
            sd = math.sqrt(p * (1.0 - p)) * abs(up - down)
            root = (z * sd + math.sqrt(z * z * sd * sd + 4.0 * kl * self.log_reject)) / (2 * kl)
            worst = max(worst, root * root)
        return math.ceil(worst)

    def ratios(self) -> list[float]:
        return [self.k * up + (self.n - self.k) * down for up, down in self.steps]

    def add(self, k: int, n: int) -> None:
        """Count ``k`` successes (dropped values) in ``n`` more trials."""
        self.k += int(k)
        self.n += int(n)
        self.peak = [max(a, b) for a, b in zip(self.peak, self.ratios(), strict=True)]

    @property
    def rejected(self) -> bool:
        return max(self.peak) >= self.log_reject

    @property
    def done(self) -> bool:
        """Whether the test has decided (rejected, accepted, or reached :attr:`n_max`)."""
        return (
            self.rejected
            or self.n >= self.n_max
            or all(r <= self.log_accept for r in self.ratios())
        )

    def result(self, **inputs: Any) -> StatResult:
        pvalue = min(1.0, len(self.sides) * math.exp(-max(self.peak)))
        if self.rejected:  # exactly consistent with the decision, whatever the rounding
            pvalue = min(pvalue, self.alpha * 0.999)
        observed = self.k / self.n if self.n else float("nan")
        return StatResult(
            self.test_name,
            observed,
            pvalue,
            self.alpha,
            self.n,
            self.delta,
            "|rate - expected|",
            self.power,
            {"expected": self.p0, "observed": round(observed, 6), "n_max": self.n_max, **inputs},
            uniform=False,
        )


class SequentialMean:
    """The Gaussian counterpart of :class:`SequentialBinomial`: a truncated two-sided
    sequential probability ratio test that a sum of independent terms with known mean and
    variance is on target, against a shift of the mean by ``deviation`` standard deviations
    of one term.

    :meth:`update` takes the running standardised sum S (the sum's deviation from its
    expectation in sd of one term) after m terms; the log ratio of the shifted means ±δ is
    ±δ·S − m·δ²/2. Reject at ``log(2 / alpha)``, accept when both ratios are at or below
    ``log(beta / (2·candidates))``, truncate (accept) at :attr:`m_max`, where the ratio under
    an alternative falls short of the rejection bound with probability beta / 2. The level
    is alpha by Ville's inequality for Gaussian sums (the terms here are sums over a call,
    normal by the central limit theorem, as the fixed-sample z-test assumes too); the power
    at ``deviation`` is at least 1 − beta per candidate null (see :func:`_moment_test` in the
    checks for a composite null of several candidates).
    """

    test_name = "sequential z-test (Wald, known variance, truncated)"

    def __init__(
        self, deviation: float, alpha: float, power: float, *, candidates: int = 1
    ) -> None:
        if deviation <= 0.0:
            raise ValueError(f"deviation must be positive, got {deviation}")
        self.deviation, self.alpha, self.power = deviation, alpha, power
        self.log_reject = math.log(2.0 / alpha)
        self.log_accept = math.log((1.0 - power) / (2.0 * candidates))
        z = z_power(1.0 - (1.0 - power) / 2.0)
        self.m_max = math.ceil(((z + math.sqrt(z * z + 2.0 * self.log_reject)) / deviation) ** 2)
        self.s, self.m, self.peak = 0.0, 0, 0.0

    def ratios(self) -> tuple[float, float]:
        d = self.deviation
        return (d * self.s - self.m * d * d / 2.0, -d * self.s - self.m * d * d / 2.0)

    def update(self, standardised_sum: float, m: int) -> None:
        self.s, self.m = float(standardised_sum), int(m)
        self.peak = max(self.peak, *self.ratios())

    @property
    def rejected(self) -> bool:
        return self.peak >= self.log_reject

    @property
    def accepted(self) -> bool:
        return not self.rejected and (self.m >= self.m_max or max(self.ratios()) <= self.log_accept)

    def result(self, unit: str = "|mean - expected| in sd", **inputs: Any) -> StatResult:
        pvalue = min(1.0, 2.0 * math.exp(-self.peak))
        if self.rejected:
            pvalue = min(pvalue, self.alpha * 0.999)
        z = self.s / math.sqrt(self.m) if self.m else 0.0
        return StatResult(
            self.test_name,
            z,
            pvalue,
            self.alpha,
            self.m,
            self.deviation,
            unit,
            self.power,
            {"m_max": self.m_max, **inputs},
            uniform=False,
        )


def rate_moment_test(
    rate: float, alpha: float, power: float, *, candidates: int = 1
) -> SequentialMean:
    """The sequential test of a moment of y/x at ``rate``, sized for the shift (in sd of one
    term) a fixed-sample z-test detects on the values RATE needs there (n for
    :func:`rate_deviation`, by the normal approximation: n only sets the scale of a z-test
    of millions of terms)."""
    n = normal_sample_size(rate, rate_deviation(rate), alpha, power)
    deviation = (z_two_sided(alpha) + z_power(power)) / math.sqrt(n)
    return SequentialMean(deviation, alpha, power, candidates=candidates)


def z_mean(
    total: float,
    expected: float,
    variance: float,
    n: int,
    *,
    alpha: float,
    power: float,
    unit: str = "|mean - expected| in sd",
    slack: float = 0.0,
    **inputs: Any,
) -> StatResult:
    """z-test that a sum of n independent terms with known mean and variance is on target.

    ``total`` is the observed sum, ``expected`` and ``variance`` those of the sum. The
    detectable deviation is stated per term, in standard deviations of one term.
    ``slack`` (≥ 0, on the sum) widens the null to |E[total] − expected| ≤ slack, for an
    honest effect of known bound such as rounding to the dtype: the observed deviation is
    shrunk by it first, which keeps the level at most alpha, and the stated deviation grows
    by the slack per term. The p-value is then a bound (it piles up at 1 when the true mean
    sits inside the slack), not uniform under the null, and is marked so.
    """
    sd = math.sqrt(variance)
    excess = math.copysign(max(0.0, abs(total - expected) - slack), total - expected)
    z = excess / sd if sd > 0 else (0.0 if excess == 0 else math.inf)
    pvalue = float(2.0 * stats.norm.sf(abs(z)))
    detect = (z_two_sided(alpha) + z_power(power)) / math.sqrt(max(n, 1))
    if slack and sd > 0:
        detect += slack / sd / math.sqrt(max(n, 1))
        inputs = {**inputs, "slack": slack}
    return StatResult(
        "z-test (known variance)",
        z,
        pvalue,
        alpha,
        n,
        detect,
        unit,
        power,
        dict(inputs),
        uniform=not slack,
    )


@functools.lru_cache(maxsize=4096)
def two_point_detectable(
    n: int, lo: float, hi: float, mid: float, var: float, half: float, alpha: float, power: float
) -> float:
    """The deviation :func:`z_mean` detects with ``power``, exactly, where each of its n
    terms is ``lo`` or ``hi`` (a moment of y/x within a stratum: dropped or kept), so that
    the sum is K·hi + (n − K)·lo with K binomial: ``expected`` = n·mid, ``variance`` =
    n·var, ``slack`` = n·half. The z-test rejects two tails of K (found from its own
    decision, confirmed by :func:`z_mean` at each boundary), and the deviation, in
    sd = sqrt(var) of one term, is the smallest shift of a term's mean from ``mid`` whose
    exact power reaches ``power`` on each side (:func:`exact_detectable`). The normal
    approximation, (z_a + z_b)/sqrt(n) plus the slack's share, falls short where n is a few
    hundred (0.889 for 0.9 at n = 162)."""
    sd, span = math.sqrt(var), hi - lo
    # K where the sum's excess over the slack is z_a sds: the boundaries, up to rounding.
    reach = n * half + z_two_sided(alpha) * math.sqrt(n * var)
    ends = sorted(((n * mid + side * reach) - n * lo) / span for side in (-1.0, 1.0))
    k_lo = min(n, max(-1, math.floor(ends[0])))
    k_hi = max(k_lo + 1, min(n + 1, math.ceil(ends[1])))
    q_mid = (mid - lo) / span

    def rejects(k: int) -> bool:
        total = k * hi + (n - k) * lo
        return not z_mean(
            total, n * mid, n * var, n, alpha=alpha, power=power, slack=n * half
        ).passed

    while k_lo + 1 < k_hi - 1 and rejects(k_lo + 1):
        k_lo += 1
    while k_lo >= 0 and not rejects(k_lo):
        k_lo -= 1
    while k_hi - 1 > k_lo + 1 and rejects(k_hi - 1):
        k_hi -= 1
    while k_hi <= n and not rejects(k_hi):
        k_hi += 1
    # K ~ Binomial(n, q), q the probability of ``hi``; a term's mean moves by span per q.
    shift = exact_detectable(n, np.array([q_mid]), np.array([k_lo]), np.array([k_hi]), power)
    return float(shift[0]) * abs(span) / sd


def contingency_2x2(
    a: np.ndarray, b: np.ndarray, *, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """Chi-square test that two paired boolean samples are independent (see the counts form)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n11, n1_, n_1 = (int(v) for v in reduce.pair_counts(a, b))
    return contingency_2x2_counts(n11, n1_, n_1, a.size, alpha=alpha, power=power, **inputs)


def contingency_2x2_counts(
    n11: int, n1_: int, n_1: int, n: int, *, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """Chi-square independence test of n pairs (a, b), given #(a and b), #a and #b.

    Power comes from the noncentral chi-square: the test detects a dependence of Cohen's
    w (the phi coefficient for 2x2) at least ``deviation``.
    """
    table = np.array([[n11, n1_ - n11], [n_1 - n11, n - n1_ - n_1 + n11]], dtype=np.float64)
    w = chi2_effect_size(1, n, alpha, power)
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        # A constant margin carries no information about dependence.
        return StatResult(
            "chi-square independence (2x2)",
            0.0,
            1.0,
            alpha,
            n,
            w,
            "Cohen's w",
            power,
            {"table": table.astype(int).tolist(), **inputs},
        )
    res = stats.chi2_contingency(table, correction=False)
    return StatResult(
        "chi-square independence (2x2)",
        float(res.statistic),
        float(res.pvalue),
        alpha,
        n,
        w,
        "Cohen's w",
        power,
        {"table": table.astype(int).tolist(), **inputs},
    )


def chi2_effect_size(df: int, n: int, alpha: float, power: float) -> float:
    """Cohen's w detected with ``power`` by a chi-square test with ``df`` degrees and n obs:
    sqrt(λ/n), λ the noncentrality at which the test's power reaches ``power``."""
    return math.sqrt(_chi2_noncentrality(df, alpha, power) / max(n, 1))


@functools.lru_cache(maxsize=256)
def _chi2_noncentrality(df: int, alpha: float, power: float) -> float:
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
    return hi


def homogeneity(
    sums: np.ndarray,
    counts: np.ndarray,
    variance: float | None = None,
    *,
    alpha: float,
    power: float,
    **inputs: Any,
) -> StatResult:
    """Chi-square test that k classes share one mean (or one proportion).

    ``sums[c]`` is the sum of the ``counts[c]`` values in class c. With ``variance`` None
    the values are 0/1 and the test is Pearson's chi-square of the k×2 table (successes,
    failures) with the pooled proportion; otherwise Σ_c (S_c − n_c·μ̂)² / (n_c·σ²) with the
    pooled mean μ̂ and the given variance of one value. Both are χ²(k − 1) under the null.
    The detectable deviation is Cohen's w: the class means' spread around the pooled mean,
    weighted by class size, in standard deviations of one value.
    """
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    keep = counts > 0
    sums, counts = sums[keep], counts[keep]
    n, k = int(counts.sum()), int(keep.sum())
    mean = float(sums.sum() / n) if n else 0.0
    var = mean * (1.0 - mean) if variance is None else variance
    test = "chi-square homogeneity of " + ("proportions" if variance is None else "means")
    w = chi2_effect_size(max(k - 1, 1), max(n, 1), alpha, power)
    info = {"classes": k, **inputs}
    if k < 2 or var <= 0:  # one class, or no spread: nothing to compare
        return StatResult(test, 0.0, 1.0, alpha, n, w, "Cohen's w", power, info)
    statistic = float(np.sum((sums - counts * mean) ** 2 / (counts * var)))
    pvalue = float(special.chdtrc(k - 1, statistic))  # chi2.sf, without scipy.stats' checks
    means = sums / counts
    worst = int(np.argmax(np.abs(means - mean) * np.sqrt(counts)))
    return StatResult(
        test,
        statistic,
        pvalue,
        alpha,
        n,
        w,
        "Cohen's w",
        power,
        {
            **info,
            "pooled": round(mean, 6),
            "most_off_class": worst,
            "its_mean": round(means[worst], 6),
        },
    )


def binomial_counts_gof(
    counts: np.ndarray, k: int, rate: float, *, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """Goodness of fit of per-element counts over k calls to Binomial(k, rate)."""
    counts = np.asarray(counts)
    observed = np.asarray(reduce.histogram(counts, k))
    if observed.sum() != counts.size:
        raise ValueError(f"counts must be integers in [0, {k}]")
    return binomial_histogram_gof(observed, k, rate, alpha=alpha, power=power, **inputs)


def binomial_histogram_gof(
    observed: np.ndarray, k: int, rate: float, *, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """Goodness of fit of a histogram of counts 0..k to Binomial(k, rate), bin by bin.

    ``observed[j]`` is how many of n elements were dropped in exactly j of k calls. Under the
    null the histogram is Multinomial(n, pmf), so each ``observed[j]`` is exactly
    Binomial(n, pmf[j]): an exact two-sided binomial test per bin at alpha/(k + 1) holds the
    whole test to alpha by the union bound, at any alpha and with no large-sample
    approximation. (Pearson's chi-square with bins pooled to expected counts >= 5, used
    before, rejected 1.02, 1.06, 1.12 and 1.14 times alpha at alpha = 1e-2 ... 1e-5 over 10^7
    null histograms of k = 24, n = 2^15: its chi-square tail is too light far out, where the
    suite's alpha lives.) A generator that reuses masks across calls piles elements into
    bins 0 and k, whose expected counts are tiny, so those bins are kept apart, not pooled.

    The deviation stated is the largest, over bins, of the change in a bin's share of the
    elements that the bin's own test detects with ``power``, exactly
    (:func:`count_bins_detectable`): a histogram any of whose bins is that far from
    Binomial(k, rate) fails with at least that probability.
    """
    observed = np.asarray(observed, dtype=np.int64)
    n = int(observed.sum())
    pmf = stats.binom.pmf(np.arange(k + 1), k, rate)
    worst = int(np.argmin(count_bin_pvalues(observed, rate)))
    detect = count_bins_detectable(n, k, rate, alpha, power)
    return StatResult(
        "exact binomial test per count bin vs Binomial(k, rate), Bonferroni",
        observed[worst] / n,
        float(histogram_gof_pvalue(observed, rate)),
        alpha,
        n,
        detect,
        "|share of elements in one count bin - Binomial(k, rate) pmf|",
        power,
        {
            "k": k,
            "rate": rate,
            "worst_bin": worst,
            "expected_share": round(float(pmf[worst]), 6),
            **inputs,
        },
        uniform=False,
    )


def count_bin_pvalues(observed: np.ndarray, rate: float) -> np.ndarray:
    """Exact two-sided p-value of each bin of histograms of counts 0..k (last axis) under
    Binomial(k, rate), by doubling the smaller tail, so that P(p <= a) <= a for every a."""
    observed = np.asarray(observed, dtype=np.int64)
    k = observed.shape[-1] - 1
    n = observed.sum(axis=-1, keepdims=True)
    return _doubled_tail(observed, n, stats.binom.pmf(np.arange(k + 1), k, rate))


def _doubled_tail(x: np.ndarray, n: Any, p: np.ndarray) -> np.ndarray:
    tails = np.minimum(stats.binom.cdf(x, n, p), stats.binom.sf(x - 1, n, p))
    return np.asarray(np.minimum(1.0, 2.0 * tails))


@functools.lru_cache(maxsize=1024)
def count_bins_detectable(n: int, k: int, rate: float, alpha: float, power: float) -> float:
    """The deviation :func:`binomial_histogram_gof` states for n elements and k calls:
    the largest, over bins, of the smallest change in a bin's share that the bin's own
    test detects with ``power``, exactly. A bin's count is Binomial(n, pmf[j]) and the
    histogram is rejected when (k + 1) times its doubled-tail p-value is below alpha: the
    count's rejection region is two tails, found from scipy's quantiles and confirmed by
    that p-value at each boundary, and the power is their binomial probability
    (:func:`exact_detectable`)."""
    pmf = stats.binom.pmf(np.arange(k + 1), k, rate)
    inside = (pmf > 0) & (pmf < 1)
    p0 = pmf[inside]
    if not p0.size:
        return 0.0

    def rejects(x: np.ndarray) -> np.ndarray:
        return np.asarray((k + 1) * _doubled_tail(x, n, p0) < alpha)

    half = alpha / (k + 1) / 2.0
    lo = np.asarray(stats.binom.ppf(half, n, p0), dtype=np.int64) - 1
    hi = np.asarray(stats.binom.isf(half, n, p0), dtype=np.int64) + 1
    mode = np.minimum(n, np.floor((n + 1) * p0).astype(np.int64))
    for _ in range(n + 2):  # a step or two at most: the quantiles are off by rounding only
        up = (lo + 1 < mode) & rejects(lo + 1)
        down = (lo >= 0) & ~rejects(lo)
        left = (hi - 1 > mode) & rejects(hi - 1)
        right = (hi <= n) & ~rejects(hi)
        if not (up | down | left | right).any():
            break
        lo = lo + up - (down & ~up)
        hi = hi - left + (right & ~left)
    return float(exact_detectable(n, p0, lo, hi, power).max())


def histogram_gof_pvalue(observed: np.ndarray, rate: float) -> np.ndarray:
    """The Bonferroni p-value of :func:`binomial_histogram_gof`, for histograms on the last
    axis: (k + 1) times the smallest bin p-value, capped at 1."""
    pvalues = count_bin_pvalues(observed, rate)
    return np.asarray(np.minimum(1.0, pvalues.shape[-1] * pvalues.min(axis=-1)))


def _hoeffding_rejects(agreement: float, terms: int, tests: int, alpha: float) -> bool:
    """Whether a sum of ``terms`` fair ±1 at ``agreement`` fails the Azuma–Hoeffding bound
    2·exp(−S²/(2m)), Bonferroni over ``tests`` sums, at ``alpha``."""
    bound = 2.0 * math.exp(-(agreement**2) / (2.0 * max(terms, 1)))
    return min(1.0, bound * tests) < alpha


@functools.lru_cache(maxsize=4096)
def agreement_detectable(terms: int, tests: int, alpha: float, power: float) -> float:
    """The excess agreement fraction d caught with ``power`` by the Hoeffding test of one of
    ``tests`` sums of ``terms`` ±1 (:func:`no_period_peak`, :func:`agreement_peak`), exactly:
    where its pairs agree with probability 1/2 + d, S = 2A − m with A ~ Binomial(m, 1/2 + d),
    and the test rejects two tails of A (found from its own bound); the power is their
    binomial probability (:func:`exact_detectable`, either side of 1/2). The normal
    approximation, (sqrt(2·ln(2·tests/alpha)) + z_power) / (2·sqrt(m)), falls short by up to
    a thousandth of the power (0.8989 for 0.9 at m = 4,096, 100 sums, alpha 1e-3)."""
    m = terms
    t = math.sqrt(2.0 * m * math.log(2.0 * tests / alpha))
    lo, hi = math.floor((m - t) / 2.0), math.ceil((m + t) / 2.0)

    def rejects(a: int) -> bool:
        return _hoeffding_rejects(float(2 * a - m), m, tests, alpha)

    while lo + 1 < hi - 1 and rejects(lo + 1):
        lo += 1
    while lo >= 0 and not rejects(lo):
        lo -= 1
    while hi - 1 > lo + 1 and rejects(hi - 1):
        hi -= 1
    while hi <= m and not rejects(hi):
        hi += 1
    return float(exact_detectable(m, np.array([0.5]), np.array([lo]), np.array([hi]), power)[0])


def no_period(
    mask: np.ndarray, *, alpha: float, power: float, max_lag: int | None = None, **inputs: Any
) -> StatResult:
    """Test a flattened rate-0.5 mask for agreement with shifted copies of itself."""
    n = np.asarray(mask).size
    lags = max_lag or n // 2
    lag, agreement = (float(v) for v in reduce.autocorrelation_peak(np.asarray(mask), lags))
    return no_period_peak(int(lag), agreement, n, lags, alpha=alpha, power=power, **inputs)


def no_period_peak(
    lag: int,
    agreement: float,
    n: int,
    lags: int,
    *,
    alpha: float,
    power: float,
    max_lag: int | None = None,
    **inputs: Any,
) -> StatResult:
    """The periodicity test from the least likely lag of :func:`reduce.autocorrelation_peak`.

    With e = 2·mask - 1 (independent fair ±1 under the null), the lag-L sum
    S_L = Σ e_i·e_{i+L} over m = n - L pairs is a martingale with increments bounded by 1,
    so Azuma–Hoeffding gives P(|S_L| >= t) <= 2·exp(-t²/(2m)). The p-value is the
    Bonferroni bound over all ``lags`` lags, taken at the lag where the bound is smallest;
    so the test rejects when some |S_L| passes t_L = sqrt(2m·ln(2·lags/alpha)).

    The deviation stated is an excess agreement fraction d at one lag (pairs (i, i + L) agree
    with probability 1/2 + d, e.g. each value copies the one L before it with probability 2d):
    then S_L = 2·Binomial(m, 1/2 + d) - m, and the d at which it passes t_L with probability
    ``power`` is computed exactly from that binomial (:func:`agreement_detectable`), largest
    at the largest lag (m = n - lags), which is what is stated. (Stating the threshold
    itself, t/(2n), as this did before, was caught in 95 of 200 runs at lag 7 and 3 of 200
    at lag n/2; the normal approximation to the binomial that followed could fall short by
    a thousandth of the power.)

    ``lags`` counts the shifts tested (the Bonferroni factor); ``max_lag``, the largest
    |shift| among them, defaults to ``lags`` (shifts 1..lags). A cross-correlation over the
    shifts −n/2..n/2 tests n + 1 shifts with max_lag n/2.
    """
    max_lag = lags if max_lag is None else max_lag
    bound = 2.0 * math.exp(-(agreement**2) / (2.0 * (n - lag)))
    pvalue = float(min(1.0, bound * lags))
    detect = agreement_detectable(n - max_lag, lags, alpha, power)
    return StatResult(
        "FFT autocorrelation, Azuma bound over lags",
        agreement,
        pvalue,
        alpha,
        n,
        detect,
        "excess agreement fraction at one lag",
        power,
        {"lags": lags, "worst_lag": lag, **inputs},
        uniform=False,
    )


def repeated_windows(
    matches: int, n: int, *, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """The exact-repeat test from :func:`reduce.window_repeats` over n values.

    Under the null the values are independent fair bits, so two windows of w =
    :data:`~.reduce.WINDOW_BITS` values at different starts are equal with probability
    2^-w whether or not they overlap (overlapping windows at shift k are equal only if the
    w + k values are k-periodic). The union bound over the pairs of windows compared gives
    P(any match) <= pairs·2^-w (about 1e-9 at n = 2^22): that is the p-value of a match, and
    1 without one. A block of at least 64·63 + 64 + w values that appears again at any lag is
    found with certainty, so the stated deviation is that length, at power 1 (0 should the
    bound exceed ``alpha``).
    """
    from .reduce import WINDOW_BITS, WINDOW_STRIDES, window_counts

    count_a, count_b, shared = window_counts(n)
    bound = (count_a * count_b - shared) * 2.0**-WINDOW_BITS
    a, b = WINDOW_STRIDES
    return StatResult(
        "repeated windows (exact, union bound)",
        float(matches),
        float(min(1.0, bound)) if matches > 0 else 1.0,
        alpha,
        n,
        float(a * b + a + WINDOW_BITS),
        "length of a block repeated at any lag (values)",
        1.0 if bound <= alpha else 0.0,
        {"window": WINDOW_BITS, **inputs},
        uniform=False,
    )


def agreement_peak(
    test: str,
    agreement: float,
    terms: int,
    sums: int,
    fewest: int,
    *,
    alpha: float,
    power: float,
    **inputs: Any,
) -> StatResult:
    """The Hoeffding test of the least likely of ``sums`` agreement sums, each a sum of
    independent fair ±1 under the null (disjoint pairs of independent fair values):
    P(|S| >= t) <= 2·exp(−t²/(2m)) for a sum of m terms, Bonferroni over the sums, taken
    at the sum found least likely, of ``terms`` terms. Its n is ``fewest``, what the
    power is stated at.

    The stated deviation is, as in :func:`no_period_peak`, an excess agreement fraction d
    at one sum (its pairs agree with probability 1/2 + d), caught with ``power`` at the sum
    with the ``fewest`` terms, exactly (:func:`agreement_detectable`).
    """
    bound = 2.0 * math.exp(-(agreement**2) / (2.0 * max(terms, 1)))
    return StatResult(
        test,
        agreement,
        float(min(1.0, bound * sums)),
        alpha,
        fewest,
        agreement_detectable(fewest, sums, alpha, power),
        "excess agreement fraction at one sum",
        power,
        {"sums": sums, "terms": terms, **inputs},
        uniform=False,
    )


def repeated_heads(
    matches: int, heads: int, n: int, *, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """The exact-repeat test of :func:`reduce.head_repeats`: ``heads`` heads against a
    stream of n values. Under the null every pair of windows compared is equal with
    probability 2^-w (see :func:`repeated_windows`); the union bound over heads·HEAD·⌊(n −
    w) / HEAD⌋ pairs is the p-value of a match. A stream periodic with any period up to
    n − HEAD − w, or a head found in it up to that far ahead, is found with certainty: the
    stated deviation is that largest period, at power 1."""
    from .reduce import HEAD, WINDOW_BITS

    bound = heads * HEAD * ((n - WINDOW_BITS) // HEAD) * 2.0**-WINDOW_BITS
    return StatResult(
        "repeated head (exact, union bound)",
        float(matches),
        float(min(1.0, bound)) if matches > 0 else 1.0,
        alpha,
        n,
        float(n - HEAD - WINDOW_BITS),
        "largest period or offset found (values)",
        1.0 if bound <= alpha else 0.0,
        {"window": WINDOW_BITS, **inputs},
        uniform=False,
    )


def ks_normal(z: np.ndarray, *, alpha: float, power: float, **inputs: Any) -> StatResult:
    """Kolmogorov–Smirnov test of standardised samples against N(0, 1)."""
    z = np.asarray(z, dtype=np.float64)
    return ks_normal_distance(
        float(reduce.ks_distance(z)), z.size, alpha=alpha, power=power, **inputs
    )


def ks_normal_distance(
    distance: float, n: int, *, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """Kolmogorov–Smirnov test against N(0, 1), given D = sup |F_n - Φ| of n samples.

    D comes from :func:`reduce.ks_distance`, whose Φ is within ``NORMAL_CDF_ERROR`` (7.5e-8)
    of the true one; that error is added to the stated deviation. The stated deviation is
    the sup-distance between CDFs caught with ``power``: the test's critical value plus the
    DKW bound on the empirical CDF's own error at 1 - power.
    """
    pvalue = float(stats.kstwo.sf(distance, n))
    crit = math.sqrt(math.log(2.0 / alpha) / (2.0 * n))
    dkw = math.sqrt(math.log(2.0 / (1.0 - power)) / (2.0 * n))
    return StatResult(
        "Kolmogorov-Smirnov vs N(0, 1)",
        distance,
        pvalue,
        alpha,
        n,
        crit + dkw + reduce.NORMAL_CDF_ERROR,
        "sup |F - Phi|",
        power,
        dict(inputs),
    )


def chi2_variance(
    sum_sq: float, n: int, *, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """Two-sided test that n standardised normal residuals have variance 1 (chi-square, n df).

    The stated deviation is the relative change in variance detected with ``power``.
    """
    lo = float(stats.chi2.sf(sum_sq, n))
    pvalue = min(1.0, 2.0 * min(lo, 1.0 - lo))
    crit_hi = float(stats.chi2.isf(alpha / 2.0, n))
    # The variance ratio at which the upper tail passes crit_hi with ``power``, exactly:
    # there sum_sq ~ ratio·chi2(n). A decrease by the same fraction is caught more easily.
    ratio = crit_hi / float(stats.chi2.isf(power, n))
    return StatResult(
        "chi-square variance test",
        sum_sq / n,
        pvalue,
        alpha,
        n,
        ratio - 1.0,
        "relative variance change",
        power,
        dict(inputs),
    )


def combine(results: list[StatResult]) -> StatResult:
    """The least favourable of several results (each already held to its share of alpha).

    The combined result keeps every sub-test in ``parts`` (flattened), so
    :attr:`StatResult.alpha_spent` is the α of the whole check.
    """
    leaves = tuple(leaf for r in results for leaf in r.leaves())
    worst = min(leaves, key=lambda r: r.pvalue / r.alpha)
    return replace(worst, parts=leaves) if len(leaves) > 1 else worst
