"""Measured power: inject each test's stated deviation and count how often it is caught.

Every statistical test in :mod:`.stats` states the smallest deviation it detects with the
configured power. A :class:`Claim` simulates exactly the summary a check hands its test (a
count of dropped values, a 2x2 table, a sum, a histogram of drop counts, a ±1 mask, a
sample of noise) for a correct target and for one that deviates by exactly that stated
amount, at the sample size and share of α the check uses. :func:`measure` runs it ``runs``
times each way and returns the detection rate and the false-alarm rate, which
``tests/test_power_claims.py`` holds to the claims with one-sided binomial tests, and which
``dropspec power`` and the docs show beside each claim (``benchmarks/power_claims.py``).

The simulated summaries have the distribution the check's reductions would produce: the
number of dropped values among n independent mask values with drop probability r is
Binomial(n, r) whatever the array library, and so on. Where the deviation has a direction,
the harder one is injected (the rate moved towards 1/2; the variance increased).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as sst

from . import reduce
from . import stats as st
from .engine import chunk_elements

#: One run of a test on simulated data deviating by ``deviation`` (0: a correct target).
Sampler = Callable[[np.random.Generator, float], st.StatResult]


@dataclass(frozen=True)
class Claim:
    """A statistical test as a check uses it, with a simulator of what the check sees."""

    name: str
    clauses: tuple[str, ...]
    sample: Sampler
    #: Runs each way that :func:`measure_all` makes (fewer where one run is slow).
    runs: int = 1000


@dataclass(frozen=True)
class Measurement:
    """Detections of a claim's stated deviation, and false alarms on a correct target."""

    claim: str
    clauses: tuple[str, ...]
    test: str
    n: int
    alpha: float
    power: float
    deviation: float
    unit: str
    runs: int
    detected: int
    null_rejected: int
    seed: int

    @property
    def detection_rate(self) -> float:
        return self.detected / self.runs

    @property
    def null_rate(self) -> float:
        return self.null_rejected / self.runs

    def power_pvalue(self, slack: float = 0.0) -> float:
        """P(this few detections | true power = claimed − slack): small means the claim fails."""
        return float(
            sst.binomtest(self.detected, self.runs, self.power - slack, alternative="less").pvalue
        )

    def null_pvalue(self) -> float:
        """P(this many false alarms | true rate = alpha): small means alpha is exceeded."""
        return float(
            sst.binomtest(self.null_rejected, self.runs, self.alpha, alternative="greater").pvalue
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "claim": self.claim,
            "clauses": list(self.clauses),
            "test": self.test,
            "n": self.n,
            "alpha": self.alpha,
            "power": self.power,
            "deviation": self.deviation,
            "unit": self.unit,
            "runs": self.runs,
            "detected": self.detected,
            "null_rejected": self.null_rejected,
            "detection_rate": self.detection_rate,
            "null_rate": self.null_rate,
            "seed": self.seed,
        }


def stated_n(result: st.StatResult) -> int:
    """The sample size a test is sized for: a sequential test's limit (what it draws at
    most; the n it used varies from run to run), else its n."""
    return int(result.inputs.get("n_max", result.inputs.get("m_max", result.n)))


def measure(claim: Claim, runs: int, seed: int) -> Measurement:
    """Run ``claim`` ``runs`` times on a correct target and ``runs`` times at its stated
    deviation, from one seed."""
    rng = np.random.default_rng(seed)
    null = [claim.sample(rng, 0.0) for _ in range(runs)]
    stated = null[0]
    alt = [claim.sample(rng, stated.deviation) for _ in range(runs)]
    return Measurement(
        claim.name,
        claim.clauses,
        stated.test,
        stated_n(stated),
        stated.alpha_spent,
        stated.power,
        stated.deviation,
        stated.deviation_unit,
        runs,
        sum(not r.passed for r in alt),
        sum(not r.passed for r in null),
        seed,
    )


# ---------------------------------------------------------------- the claims ----


def drop_rate(rate: float, alpha: float, power: float, share: int = 4) -> Claim:
    """The sequential test of a drop rate, as DROPOUT-RATE sizes it (α split 4 ways) and
    takes its values (a call at a time)."""
    a = alpha / share
    toward = 1.0 if rate <= 0.5 else -1.0
    chunk = chunk_elements(st.SequentialBinomial(rate, st.rate_deviation(rate), a, power).n_max)

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        test = st.SequentialBinomial(rate, st.rate_deviation(rate), a, power)
        while not test.done:  # one call's mask values at a time, as drop_test takes them
            test.add(int(rng.binomial(chunk, rate + toward * deviation)), chunk)
        return test.result(rate=rate)

    return Claim(
        f"drop rate {rate}",
        (
            "DROPOUT-RATE",
            "DROPPATH-RATE",
            "ALPHA-RATE",
            "DROPCONNECT-RATE",
            "DROPCONNECT-BIAS-MASKED",
        ),
        sample,
    )


def independence(alpha: float, power: float, pairs: int = 1 << 19) -> Claim:
    """The 2x2 chi-square test of paired mask values (fair margins, phi = Cohen's w)."""

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        agree, differ = (1.0 + deviation) / 4.0, (1.0 - deviation) / 4.0
        n11, n10, n01, _ = (int(v) for v in rng.multinomial(pairs, [agree, differ, differ, agree]))
        return st.contingency_2x2_counts(n11, n11 + n10, n11 + n01, pairs, alpha=alpha, power=power)

    return Claim(
        "independence of paired mask values",
        (
            "DROPOUT-INDEPENDENT-ELEMENTS",
            "DROPOUT-INDEPENDENT-AXES",
            "DROPOUT-INDEPENDENT-SEEDS",
            "DROPPATH-INDEPENDENT-AXES",
            "DROPPATH-INDEPENDENT-SEEDS",
            "ALPHA-INDEPENDENT-AXES",
            "ALPHA-INDEPENDENT-SEEDS",
            "GAUSSIAN-INDEPENDENT-ELEMENTS",
            "GAUSSIAN-INDEPENDENT-AXES",
            "GAUSSIAN-INDEPENDENT-SEEDS",
            "DROPCONNECT-PER-CONNECTION",
            "DROPCONNECT-PER-EXAMPLE",
            "DROPCONNECT-INDEPENDENT-SEEDS",
        ),
        sample,
    )


def unbiased(rate: float, alpha: float, power: float, share: int = 3) -> Claim:
    """The sequential test of E[y/x] for inverted dropout, as DROPOUT-UNBIASED sizes it.

    y/x = m·s with m ~ Bernoulli(keep): the sum of n terms is s·K − n, K ~ Binomial(n, keep').
    The deviation is a shift of E[y/x] by that many sd of one term.
    """
    a = alpha / share
    keep, s = 1.0 - rate, 1.0 / (1.0 - rate)
    sd = s * math.sqrt(keep * rate)

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        kept = _kept_per_call(rng, rate, a, power, keep + deviation * sd / s)
        return _sequential_mean(kept, rate, a, power, lambda k, n: (s * k - n) / sd)

    return Claim(
        f"mean of y/x, rate {rate}",
        (
            "DROPOUT-UNBIASED",
            "DROPPATH-UNBIASED",
            "ALPHA-MEAN",
            "GAUSSIAN-MEAN",
            "DROPCONNECT-UNBIASED",
            "DROPCONNECT-INFERENCE-MM-MEAN",
        ),
        sample,
    )


def second_moment(rate: float, alpha: float, power: float, share: int = 3) -> Claim:
    """The sequential test of Var[y/x] for inverted dropout, as DROPOUT-VARIANCE sizes it.

    Terms (m·s − 1)² − Var take two values, so their sum is again a function of
    K ~ Binomial(n, keep'); the deviation is a shift of the term's mean in its own sd.
    """
    a = alpha / share
    keep, s = 1.0 - rate, 1.0 / (1.0 - rate)
    var = s * s * keep * rate
    hi, lo = (s - 1.0) ** 2 - var, 1.0 - var  # the term when kept, when dropped
    sd = abs(hi - lo) * math.sqrt(keep * rate)

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        kept = _kept_per_call(rng, rate, a, power, keep + deviation * sd / (hi - lo))
        return _sequential_mean(kept, rate, a, power, lambda k, n: (k * hi + (n - k) * lo) / sd)

    return Claim(
        f"variance of y/x, rate {rate}",
        ("DROPOUT-VARIANCE", "DROPPATH-VARIANCE", "ALPHA-VARIANCE"),
        sample,
    )


def _moment_sizes(rate: float, alpha: float, power: float) -> tuple[st.SequentialMean, int]:
    """The sequential moment test as the checks size it, and the values per call it sees."""
    test = st.rate_moment_test(rate, alpha, power)
    return test, chunk_elements(test.m_max)


def _kept_per_call(
    rng: np.random.Generator, rate: float, alpha: float, power: float, keep: float
) -> np.ndarray:
    """Kept values in each call the sequential moment test could take (drawn up front; the
    test reads them in order and stops when it decides)."""
    test, chunk = _moment_sizes(rate, alpha, power)
    return rng.binomial(chunk, keep, size=-(-test.m_max // chunk))


def _sequential_mean(
    kept: np.ndarray,
    rate: float,
    alpha: float,
    power: float,
    standardised: Callable[[float, int], float],
) -> st.StatResult:
    """Run the sequential moment test over the calls' kept counts; ``standardised(K, n)``
    is the sum's deviation in sd of one term after n values with K kept."""
    test, chunk = _moment_sizes(rate, alpha, power)
    total = 0
    for i, k in enumerate(kept, start=1):
        total += int(k)
        test.update(standardised(total, i * chunk), i * chunk)
        if test.accepted or test.rejected:
            break
    return test.result(rate=rate)


def variance_chi2(
    alpha: float, power: float, n: int = 1 << 20, share: int = 3, sign: float = 1.0
) -> Claim:
    """The chi-square test that standardised normal values have variance 1."""
    a = alpha / share

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        sum_sq = float(rng.chisquare(n)) * (1.0 + sign * deviation)
        return st.chi2_variance(sum_sq, n, alpha=a, power=power)

    side = "increase" if sign > 0 else "decrease"
    return Claim(
        f"variance of standardised noise ({side})",
        ("GAUSSIAN-VARIANCE", "DROPCONNECT-INFERENCE-MM-SPREAD"),
        sample,
    )


def normal_distribution(alpha: float, power: float, n: int = 1 << 20, share: int = 3) -> Claim:
    """Kolmogorov–Smirnov against N(0, 1); the deviation injected is a shift of the mean
    by mu, whose sup-distance to Φ is 2Φ(mu/2) − 1."""
    a = alpha / share

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        mu = 2.0 * float(sst.norm.ppf((1.0 + deviation) / 2.0))
        z = rng.standard_normal(n) + mu
        return st.ks_normal_distance(float(reduce.ks_distance(z)), n, alpha=a, power=power)

    return Claim("distribution of standardised noise", ("GAUSSIAN-DISTRIBUTION",), sample)


def no_period(alpha: float, power: float, n: int = 1 << 20, lag: int | None = None) -> Claim:
    """The Azuma-bounded autocorrelation test over lags 1..n/2; the deviation injected is
    at ``lag`` (default n/2, the hardest): each value copies the one ``lag`` before it
    with probability 2d (pairs agree with probability 1/2 + d). At half of ``alpha``: the
    check shares its alpha with the exact-repeat search (:func:`repeats`)."""
    lags = n // 2
    at = lag or lags
    alpha = alpha / 2

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        rows = -(-n // at)
        # e[i] = e[i - at]·eta[i] with eta = +1 w.p. 1/2 + d: row r of the (rows, at) layout
        # is row 0 times the product of eta over rows 1..r.
        eta = np.where(rng.random((rows, at)) < 0.5 + deviation, 1, -1).astype(np.int8)
        eta[0] = rng.integers(0, 2, size=at, dtype=np.int8) * 2 - 1
        e = np.cumprod(eta, axis=0, dtype=np.int8).reshape(-1)[:n]
        peak_lag, agreement = (float(v) for v in reduce.autocorrelation_peak(e > 0, lags))
        return st.no_period_peak(int(peak_lag), agreement, n, lags, alpha=alpha, power=power)

    return Claim(
        f"no period (injected at lag {at})", ("DROPOUT-NO-PERIOD", "GAUSSIAN-NO-PERIOD"), sample
    )


def repeats(alpha: float, power: float, n: int = 1 << 22) -> Claim:
    """The exact-repeat search over n fair bits; the deviation injected is a block of the
    stated length copied from a random place to another (random lag): certain detection."""
    half = alpha / 2  # NO-PERIOD's split between its two sub-tests

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        bits = rng.integers(0, 2, size=n, dtype=np.int64)
        block = int(deviation)
        if block:  # two places that do not overlap, in random order
            first = int(rng.integers(0, n - 2 * block + 1))
            second = int(rng.integers(first + block, n - block + 1))
            src, dst = (first, second) if rng.random() < 0.5 else (second, first)
            bits[dst : dst + block] = bits[src : src + block]
        (matches,) = reduce.window_repeats(bits)
        return st.repeated_windows(int(matches), n, alpha=half, power=power)

    return Claim(
        "repeated block at a random lag", ("DROPOUT-NO-PERIOD", "GAUSSIAN-NO-PERIOD"), sample
    )


def calls_gof(
    alpha: float, power: float, k: int = 24, rate: float = 0.5, n: int = 1 << 15
) -> Claim:
    """The per-bin exact test of drop counts over k calls against Binomial(k, rate); the
    deviation injected moves that share of the elements into the bin the claim is stated
    for (the one with the largest detectable change), from all others in proportion."""
    pmf = sst.binom.pmf(np.arange(k + 1), k, rate)

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        p1 = pmf.copy()
        if deviation > 0:
            j = int(np.argmax(pmf * (1 - pmf)))
            p1 = pmf * (1.0 - deviation / (1.0 - pmf[j]))
            p1[j] = pmf[j] + deviation
        histogram = rng.multinomial(n, p1 / p1.sum())
        return st.binomial_histogram_gof(histogram, k, rate, alpha=alpha, power=power)

    return Claim(
        "drop counts across calls",
        ("DROPOUT-INDEPENDENT-CALLS", "DROPPATH-INDEPENDENT-CALLS", "GAUSSIAN-INDEPENDENT-CALLS"),
        sample,
    )


def homogeneity(
    alpha: float, power: float, n: int = 1 << 20, classes: int = 2, means: bool = False
) -> Claim:
    """The chi-square homogeneity test across value or position classes (RATE and UNBIASED,
    at rate 0.5), with ``classes`` equal classes.

    Proportions: each class's kept count is Binomial(n/k, p_c) with p_c = 1/2 ± d, half the
    classes up and half down, so Cohen's w = d / sqrt(p·q) = 2d. Means: each class's sum of
    y/x − E[y/x] is normal with variance (n/k)·σ² and mean (n/k)·(±w·σ), σ = 1 (rate 0.5),
    the variance handed to the test being the sample's own, as the check does.
    """
    per = n // classes
    sign = np.where(np.arange(classes) % 2 == 0, 1.0, -1.0)
    counts = np.full(classes, per)

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        if means:
            sums = rng.normal(per * deviation * sign, math.sqrt(per))
            # The check's variance is the whole sample's: within classes (a scaled χ²) plus
            # the spread of the class means.
            var = float(rng.chisquare(n - 1)) / n + deviation**2
            return st.homogeneity(sums, counts, var, alpha=alpha, power=power)
        kept = rng.binomial(per, 0.5 + sign * deviation / 2.0)
        return st.homogeneity(kept, counts, None, alpha=alpha, power=power)

    kind = "E[y/x]" if means else "the kept share"
    return Claim(
        f"homogeneity of {kind} over {classes} classes",
        ("DROPOUT-RATE", "DROPPATH-RATE", "ALPHA-RATE")
        if not means
        else ("DROPOUT-UNBIASED", "DROPPATH-UNBIASED"),
        sample,
    )


def claims(alpha: float, power: float, *, small: bool = False) -> list[Claim]:
    """Every claim at these settings, with the checks' own sizes.

    ``small``: samples of 2^14 where a check's size is fixed and 300 runs (100 for the
    slow Kolmogorov–Smirnov p-value) instead of 1000 (200), for the quick tests; the claims
    are the same formulas at another n.
    """
    from .checks.masked import NO_PERIOD_FFT, NO_PERIOD_VALUES

    size = 1 << 14 if small else 1 << 20
    period = 1 << 14 if small else NO_PERIOD_FFT
    stream = 1 << 14 if small else NO_PERIOD_VALUES
    many, few = (300, 100) if small else (1000, 200)
    fft = few if not small else many  # one FFT of 1.5·2^20 per run at full size
    return [
        replace(drop_rate(0.001, alpha, power), runs=many),
        replace(drop_rate(0.1, alpha, power), runs=many),
        replace(drop_rate(0.99, alpha, power), runs=many),
        replace(independence(alpha, power, pairs=size // 2), runs=many),
        replace(unbiased(0.1, alpha, power), runs=many),
        replace(second_moment(0.3, alpha, power), runs=many),
        replace(variance_chi2(alpha, power, n=size), runs=many),
        replace(variance_chi2(alpha, power, n=size, sign=-1.0), runs=many),
        replace(normal_distribution(alpha, power, n=size), runs=few),
        replace(no_period(alpha, power, n=period), runs=fft),
        replace(no_period(alpha, power, n=period, lag=7), runs=fft),
        replace(calls_gof(alpha, power), runs=many),
        replace(homogeneity(alpha, power, n=size), runs=many),
        replace(homogeneity(alpha, power, n=size, classes=16, means=True), runs=many),
        # Last, so that the claims above keep their seeds (seed + index).
        replace(repeats(alpha, power, n=stream), runs=few),
    ]


def measure_all(
    alpha: float, power: float, *, small: bool, seed: int, only: str = ""
) -> list[Measurement]:
    """:func:`measure` every claim (those whose name contains ``only``, if given), each from
    its own seed derived from ``seed`` (the same whether or not others are left out)."""
    return [
        measure(c, c.runs, seed + i)
        for i, c in enumerate(claims(alpha, power, small=small))
        if only in c.name
    ]
