"""Measured power: inject each test's stated deviation and count how often it is caught.

Every statistical test in :mod:`.stats` states the smallest deviation it detects with the
configured power. The checks state their sub-tests as a plan (:func:`plans`: clause id →
the leaves it runs, each with its test, share of α, n or n_max and deviation, computed by
the sizing code the check itself runs, see ``checks._statistical.planned``). A
:class:`Claim` picks one leaf of one clause's plan and simulates exactly the summary the
check hands that test (a count of dropped values, a 2x2 table, a sum, a histogram of drop
counts, a ±1 mask, a sample of noise) for a correct target and for one that deviates by
exactly the leaf's stated deviation, at the leaf's α and n. :func:`measure` runs it
``runs`` times each way and returns the detection rate and the false-alarm rate, keyed by
the leaf's fingerprint, which ``tests/test_power_claims.py`` holds to the claims with
one-sided binomial tests and to the checks' current plans, and which ``dropspec power`` and
the docs show beside each claim (``benchmarks/power_claims.py`` measures them:
:data:`REMEASURE`).

The simulated summaries have the distribution the check's reductions would produce: the
number of dropped values among n independent mask values with drop probability r is
Binomial(n, r) whatever the array library, and so on. Where the deviation has a direction,
the harder one is injected (the rate moved towards 1/2; the variance increased). The
moments of the dropout multiplier come from :mod:`dropspec.reference.expectations`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats as sst

from ..reference import ALPHA_PRIME, alpha_constants
from ..reference.expectations import (
    alpha_group_variances,
    dropout_central_moment4,
    dropout_moments,
    kept_multipliers,
)
from ..spec import CLAUSES, OPS, Kind
from ..target import Target
from . import reduce
from . import stats as st
from .checks._statistical import DISTANCE_TESTS, Leaf, plan_of
from .checks._strata import strata_null, strata_terms
from .checks.common import LINEAR, SEEDS_TEST, seed_pair_test
from .checks.masked import MIRROR_TEST
from .config import Config
from .engine import Context, check_seed, chunk_elements, registry, seed_key

#: The command that measures the claims again (after a check's α split or size changed).
REMEASURE = "python benchmarks/power_claims.py --write --skip-before"

#: One run of a test on simulated data deviating by ``deviation`` (0: a correct target).
Sampler = Callable[[np.random.Generator, float], st.StatResult]


# ---------------------------------------------------------------- plans ----


def plan_target(clause_id: str) -> Target | None:
    """The NumPy reference target a clause's plan is stated for: the first built-in
    ``reference.*`` target of its op whose options the clause applies to (for the state
    clauses, the stateful reference, ``stateful.reference.*``)."""
    from ..adapters import builtin_targets

    clause = CLAUSES[clause_id]
    for name, target in builtin_targets().items():
        reference = name.startswith(("reference.", "stateful.reference."))
        ours = reference and target.op == clause.op
        if ours and clause.applies(target.options):
            return target
    return None


def plan(clause_id: str, config: Config | None = None) -> list[Leaf] | None:
    """The leaves the clause's check runs on its reference target (:func:`plan_target`),
    every dtype's, at ``config`` (default: the suite's defaults); None where the check
    states no plan."""
    from ..adapters._backend import get_backend

    config = config or Config()
    target = plan_target(clause_id)
    if target is None:
        return None
    clause = CLAUSES[clause_id]
    seed = check_seed(config.seed, seed_key(target), clause_id)
    ctx = Context(target, clause, get_backend(target.framework), config, seed)
    return plan_of(registry()[clause_id], ctx)


def plans(config: Config | None = None) -> dict[str, list[Leaf]]:
    """Every statistical clause's plan (clause id → leaves), for those that state one."""
    out: dict[str, list[Leaf]] = {}
    for op in OPS.values():
        for clause in op.clauses:
            if clause.kind != Kind.STATISTICAL:
                continue
            leaves = plan(clause.id, config)
            if leaves is not None:
                out[clause.id] = leaves
    return out


def unplanned() -> list[str]:
    """Statistical clauses whose check states no plan (their claims are not yet tied)."""
    return sorted(
        cid
        for cid, c in CLAUSES.items()
        if c.kind == Kind.STATISTICAL and getattr(registry()[cid], "plan", None) is None
    )


# ---------------------------------------------------------------- claims ----


@dataclass(frozen=True)
class Claim:
    """A statistical test as one leaf of a check runs it, with a simulator of what the
    check hands it: the leaf of ``clause`` in ``dtype`` whose test is ``test`` and whose
    inputs include ``where``."""

    name: str
    clause: str
    test: str
    simulator: Callable[[Leaf], Sampler]
    where: Mapping[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    #: Runs each way that :func:`measure_all` makes (fewer where one run is slow).
    runs: int = 1000
    #: A smaller n for the relaxed block of the tests (where one run at the check's n is slow).
    small_n: int | None = None

    def leaf(self, leaves: list[Leaf]) -> Leaf:
        """The leaf this claim is stated for; LookupError unless exactly one matches."""
        found = [
            leaf
            for leaf in leaves
            if leaf.clause == self.clause
            and leaf.dtype == self.dtype
            and leaf.test == self.test
            and all(leaf.get(k) == v for k, v in self.where.items())
        ]
        if len(found) != 1:
            raise LookupError(
                f"claim {self.name!r}: {len(found)} leaves of {self.clause} in {self.dtype} "
                f"run {self.test!r} with {dict(self.where)} (expected exactly one); the "
                f"check changed: update the claim in dropspec/conformance/calibration.py and "
                f"re-measure: {REMEASURE}"
            )
        return found[0]


@dataclass(frozen=True)
class Measurement:
    """Detections of a leaf's stated deviation, and false alarms on a correct target."""

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
    fingerprint: str = ""
    dtype: str = ""

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
            "fingerprint": self.fingerprint,
            "clauses": list(self.clauses),
            "dtype": self.dtype,
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


def measure(claim: Claim, leaf: Leaf, runs: int, seed: int) -> Measurement:
    """Run ``claim``'s simulator of ``leaf`` ``runs`` times on a correct target and
    ``runs`` times at the stated deviation, from one seed."""
    rng = np.random.default_rng(seed)
    sample = claim.simulator(leaf)
    null = [sample(rng, 0.0) for _ in range(runs)]
    stated = null[0]
    alt = [sample(rng, stated.deviation) for _ in range(runs)]
    return Measurement(
        claim.name,
        (leaf.clause,),
        stated.test,
        stated_n(stated),
        stated.alpha,
        stated.power,
        stated.deviation,
        stated.deviation_unit,
        runs,
        sum(not r.passed for r in alt),
        sum(not r.passed for r in null),
        seed,
        leaf.fingerprint(),
        leaf.dtype,
    )


# ---------------------------------------------------------------- simulators ----


def drop_rate(leaf: Leaf) -> Sampler:
    """The sequential test of a drop rate, taking its values a call at a time."""
    rate, a, power = float(leaf.get("rate")), leaf.alpha, leaf.power
    toward = 1.0 if rate <= 0.5 else -1.0
    chunk = chunk_elements(leaf.n)

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        test = st.SequentialBinomial(rate, st.rate_deviation(rate), a, power)
        while not test.done:  # one call's mask values at a time, as drop_test takes them
            test.add(int(rng.binomial(chunk, rate + toward * deviation)), chunk)
        return test.result(rate=rate)

    return sample


def exact_rate(leaf: Leaf) -> Sampler:
    """The exact binomial test of a drop rate on n values (towards 1/2)."""
    rate, n = float(leaf.get("rate")), leaf.n
    toward = 1.0 if rate <= 0.5 else -1.0

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        k = int(rng.binomial(n, rate + toward * deviation))
        return st.binomial(k, n, rate, alpha=leaf.alpha, power=leaf.power, rate=rate)

    return sample


def independence(leaf: Leaf) -> Sampler:
    """The 2x2 chi-square test of paired mask values (fair margins, phi = Cohen's w)."""
    pairs = leaf.n

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        agree, differ = (1.0 + deviation) / 4.0, (1.0 - deviation) / 4.0
        n11, n10, n01, _ = (int(v) for v in rng.multinomial(pairs, [agree, differ, differ, agree]))
        return st.contingency_2x2_counts(
            n11, n11 + n10, n11 + n01, pairs, alpha=leaf.alpha, power=leaf.power
        )

    return sample


def _moment_test(leaf: Leaf) -> st.SequentialMean:
    """The sequential moment test of ``leaf``, sized as the checks size it."""
    return st.rate_moment_test(float(leaf.get("rate")), leaf.alpha, leaf.power)


def unbiased(leaf: Leaf) -> Sampler:
    """The sequential test of E[y/x] for inverted dropout, as UNBIASED runs it.

    y/x = m·s with m ~ Bernoulli(keep): the sum of n terms is s·K, K ~ Binomial(n, keep').
    The deviation is a shift of E[y/x] by that many sd of one term.
    """
    rate = float(leaf.get("rate"))
    (s,) = kept_multipliers(rate)
    mean, var = dropout_moments(rate)
    sd = math.sqrt(var)

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        kept = _kept_per_call(rng, leaf, 1.0 - rate + deviation * sd / s)
        return _sequential_mean(kept, leaf, lambda k, n: (s * k - n * mean) / sd)

    return sample


def second_moment(leaf: Leaf) -> Sampler:
    """The sequential test of Var[y/x] for inverted dropout, as VARIANCE runs it.

    Terms (m·s − E)² − Var take two values, so their sum is again a function of
    K ~ Binomial(n, keep'); the deviation is a shift of the term's mean in its own sd,
    sqrt(μ4 − Var²).
    """
    rate = float(leaf.get("rate"))
    (s,) = kept_multipliers(rate)
    mean, var = dropout_moments(rate)
    sd = math.sqrt(dropout_central_moment4(rate) - var * var)
    hi, lo = (s - mean) ** 2 - var, mean**2 - var  # the term when kept, when dropped

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        kept = _kept_per_call(rng, leaf, 1.0 - rate + deviation * sd / (hi - lo))
        return _sequential_mean(kept, leaf, lambda k, n: (k * hi + (n - k) * lo) / sd)

    return sample


def _kept_per_call(rng: np.random.Generator, leaf: Leaf, keep: float) -> np.ndarray:
    """Kept values in each call the sequential moment test could take (drawn up front; the
    test reads them in order and stops when it decides)."""
    test = _moment_test(leaf)
    chunk = chunk_elements(test.m_max)
    return rng.binomial(chunk, keep, size=-(-test.m_max // chunk))


def _sequential_mean(
    kept: np.ndarray, leaf: Leaf, standardised: Callable[[float, int], float]
) -> st.StatResult:
    """Run the sequential moment test over the calls' kept counts; ``standardised(K, n)``
    is the sum's deviation in sd of one term after n values with K kept."""
    test = _moment_test(leaf)
    chunk = chunk_elements(test.m_max)
    total = 0
    for i, k in enumerate(kept, start=1):
        total += int(k)
        test.update(standardised(total, i * chunk), i * chunk)
        if test.accepted or test.rejected:
            break
    return test.result(rate=leaf.get("rate"))


def z_mean(leaf: Leaf) -> Sampler:
    """The z-test of a mean: a sum of n terms of sd 1, shifted by the deviation per term."""
    n = leaf.n

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        total = float(rng.normal(n * deviation, math.sqrt(n)))
        return st.z_mean(total, 0.0, float(n), n, alpha=leaf.alpha, power=leaf.power)

    return sample


def variance_chi2(sign: float = 1.0) -> Callable[[Leaf], Sampler]:
    """The chi-square test that standardised normal values have variance 1."""

    def simulator(leaf: Leaf) -> Sampler:
        n = leaf.n

        def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
            sum_sq = float(rng.chisquare(n)) * (1.0 + sign * deviation)
            return st.chi2_variance(sum_sq, n, alpha=leaf.alpha, power=leaf.power)

        return sample

    return simulator


def normal_distribution(leaf: Leaf) -> Sampler:
    """Kolmogorov–Smirnov against N(0, 1); the deviation injected is a shift of the mean
    by mu, whose sup-distance to Φ is 2Φ(mu/2) − 1."""
    n = leaf.n

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        mu = 2.0 * float(sst.norm.ppf((1.0 + deviation) / 2.0))
        z = rng.standard_normal(n) + mu
        return st.ks_normal_distance(
            float(reduce.ks_distance(z)), n, alpha=leaf.alpha, power=leaf.power
        )

    return sample


def no_period(lag: int | None = None) -> Callable[[Leaf], Sampler]:
    """The Azuma-bounded autocorrelation test over lags 1..n/2; the deviation injected is
    at ``lag`` (default n/2, the hardest): each value copies the one ``lag`` before it
    with probability 2d (pairs agree with probability 1/2 + d)."""

    def simulator(leaf: Leaf) -> Sampler:
        n = leaf.n
        lags = n // 2
        at = lag or lags

        def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
            rows = -(-n // at)
            # e[i] = e[i - at]·eta[i] with eta = +1 w.p. 1/2 + d: row r of the (rows, at)
            # layout is row 0 times the product of eta over rows 1..r.
            eta = np.where(rng.random((rows, at)) < 0.5 + deviation, 1, -1).astype(np.int8)
            eta[0] = rng.integers(0, 2, size=at, dtype=np.int8) * 2 - 1
            e = np.cumprod(eta, axis=0, dtype=np.int8).reshape(-1)[:n]
            peak_lag, agreement = (float(v) for v in reduce.autocorrelation_peak(e > 0, lags))
            return st.no_period_peak(
                int(peak_lag), agreement, n, lags, alpha=leaf.alpha, power=leaf.power
            )

        return sample

    return simulator


def repeats(leaf: Leaf) -> Sampler:
    """The exact-repeat search over n fair bits; the deviation injected is a block of the
    stated length copied from a random place to another (random lag): certain detection."""
    n = leaf.n

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        bits = rng.integers(0, 2, size=n, dtype=np.int64)
        block = int(deviation)
        if block:  # two places that do not overlap, in random order
            first = int(rng.integers(0, n - 2 * block + 1))
            second = int(rng.integers(first + block, n - block + 1))
            src, dst = (first, second) if rng.random() < 0.5 else (second, first)
            bits[dst : dst + block] = bits[src : src + block]
        (matches,) = reduce.window_repeats(bits)
        return st.repeated_windows(int(matches), n, alpha=leaf.alpha, power=leaf.power)

    return sample


def calls_gof(leaf: Leaf) -> Sampler:
    """The per-bin exact test of drop counts over k calls against Binomial(k, rate); the
    deviation injected moves that share of the elements into the bin the claim is stated
    for (the one with the largest detectable change), from all others in proportion."""
    k, rate, n = int(leaf.get("k")), float(leaf.get("rate")), leaf.n
    pmf = sst.binom.pmf(np.arange(k + 1), k, rate)

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        p1 = pmf.copy()
        if deviation > 0:
            j = int(np.argmax(pmf * (1 - pmf)))
            p1 = pmf * (1.0 - deviation / (1.0 - pmf[j]))
            p1[j] = pmf[j] + deviation
        histogram = rng.multinomial(n, p1 / p1.sum())
        return st.binomial_histogram_gof(histogram, k, rate, alpha=leaf.alpha, power=leaf.power)

    return sample


def homogeneity(means: bool = False) -> Callable[[Leaf], Sampler]:
    """The chi-square homogeneity test across a family of equal classes (at rate 0.5).

    Proportions: each class's kept count is Binomial(n/k, p_c) with p_c = 1/2 ± d, half the
    classes up and half down, so Cohen's w = d / sqrt(p·q) = 2d. Means: each class's sum of
    y/x − E[y/x] is normal with variance (n/k)·σ² and mean (n/k)·(±w·σ), σ = 1 (rate 0.5),
    the variance handed to the test being the sample's own, as the check does.
    """

    def simulator(leaf: Leaf) -> Sampler:
        n, classes = leaf.n, int(leaf.get("classes"))
        if n % classes:
            raise ValueError(f"{leaf.get('family')}: {n} values in {classes} unequal classes")
        per = n // classes
        sign = np.where(np.arange(classes) % 2 == 0, 1.0, -1.0)
        counts = np.full(classes, per)

        def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
            if means:
                sums = rng.normal(per * deviation * sign, math.sqrt(per))
                # The check's variance is the whole sample's: within classes (a scaled χ²)
                # plus the spread of the class means.
                var = float(rng.chisquare(n - 1)) / n + deviation**2
                return st.homogeneity(sums, counts, var, alpha=leaf.alpha, power=leaf.power)
            kept = rng.binomial(per, 0.5 + sign * deviation / 2.0)
            return st.homogeneity(kept, counts, None, alpha=leaf.alpha, power=leaf.power)

        return sample

    return simulator


def seed_pair(shift: int | None = None) -> Callable[[Leaf], Sampler]:
    """The cross-correlation test of two seeds' masks of n fair values over the shifts
    −n/2..n/2, as INDEPENDENT-SEEDS runs it on one pair; the deviation injected is at
    ``shift`` (default n/2, the hardest: the fewest pairs): each value of the second mask
    copies the value ``shift`` before it in the first with probability 2d (those pairs
    agree with probability 1/2 + d), the others are independent."""

    def simulator(leaf: Leaf) -> Sampler:
        n = leaf.n
        lags = n // 2
        at = lags if shift is None else shift

        def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
            a = rng.integers(0, 2, size=n, dtype=np.int8)
            b = rng.integers(0, 2, size=n, dtype=np.int8)
            copied = rng.random(n - at) < 2.0 * deviation
            b[at:][copied] = a[: n - at][copied]
            lag, agreement = (
                float(v) for v in reduce.cross_correlation_peaks(a > 0, (b > 0)[None], lags)
            )
            return seed_pair_test(int(lag), agreement, n, leaf.alpha, leaf.power, rate=0.5)

        return sample

    return simulator


def alpha_moment(mean: bool) -> Callable[[Leaf], Sampler]:
    """ALPHA-MEAN's (``mean``) or ALPHA-VARIANCE's z-test of Σy or Σ(y² − 1) over n
    standard-normal inputs, each its own mask group (the plan's reference target shares no
    axis), its null widened by the leaf's rounding slack.

    Simulated exactly through sufficient statistics: K ~ Binomial(n, 1 − rate) values are
    kept (y = a·x + b), the others are c = a·α′ + b; over the kept, S = Σx ~ N(0, K) and
    Σx² = S²/K + χ²(K − 1). A correct target sits at the edge of the widened null (its sum
    moved by the whole slack, the worst an honest rounding of the constants can do); the
    deviation injected moves the sum by n·d sd of one term, the slack included in d.
    """

    def simulator(leaf: Leaf) -> Sampler:
        target = plan_target(leaf.clause)
        if target is None or target.options.get("shared_axes"):
            raise ValueError(f"{leaf.clause}: the simulation takes groups of one value")
        rate, n = float(leaf.get("rate")), leaf.n
        slack = float(leaf.get("slack", 0.0))
        a, b = alpha_constants(rate)
        c = a * ALPHA_PRIME + b
        var_sum, var_sq = alpha_group_variances(rate, 1)
        sd = math.sqrt(var_sum if mean else var_sq)

        def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
            k = int(rng.binomial(n, 1.0 - rate))
            s1 = float(rng.normal(0.0, math.sqrt(k)))
            if mean:
                total = a * s1 + k * b + (n - k) * c
            else:
                squares = s1 * s1 / k + float(rng.chisquare(k - 1))
                total = a * a * squares + 2 * a * b * s1 + k * b * b + (n - k) * c * c - n
            total += n * deviation * sd if deviation else slack
            return st.z_mean(
                total, 0.0, sd * sd * n, n, alpha=leaf.alpha, power=leaf.power, slack=slack
            )

        return sample

    return simulator


def stratum_moment(variance: bool) -> Callable[[Leaf], Sampler]:
    """The z-test of one moment stratum of UNBIASED (VARIANCE: ``variance``), exactly: each
    of n terms takes one of two values (y/x dropped or kept, less the null's center, or its
    square), so their sum is a function of K ~ Binomial(n, q). A correct target keeps with
    probability 1 − rate and multiplier the largest rounding of s the dtype allows (inside
    the widened null); the deviation injected moves the term's mean by d·sd from the
    null's mid towards q = 1/2 (the harder side, whose spread grows), d the stated
    deviation (which includes the slack) and sd the test's bound on a term's sd."""

    def simulator(leaf: Leaf) -> Sampler:
        target = plan_target(leaf.clause)
        if target is None:
            raise ValueError(f"{leaf.clause}: no reference target")
        scaling, rate, n = target.options["scaling"], float(leaf.get("rate")), leaf.n
        center, mid, _, var = strata_null(scaling, leaf.dtype, variance)
        s = kept_multipliers(rate, scaling, leaf.dtype)[-1]
        lo, hi = strata_terms(center, s, variance)
        sd = math.sqrt(var)

        def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
            toward = 1.0 if (hi - lo) * (rate - 0.5) > 0 else -1.0  # q = 1 - rate to 1/2
            moved = mid + toward * deviation * sd
            q = 1.0 - rate if not deviation else (moved - lo) / (hi - lo)
            k = int(rng.binomial(n, q))
            total = k * hi + (n - k) * lo
            res = st.z_mean(
                total,
                n * mid,
                n * var,
                n,
                alpha=leaf.alpha,
                power=leaf.power,
                slack=float(leaf.get("slack", 0.0)),
            )
            # The check states its exact deviation (st.two_point_detectable), not z_mean's.
            return replace(res, deviation=leaf.deviation)

        return sample

    return simulator


def mirror(leaf: Leaf) -> Sampler:
    """NO-PERIOD's mirror sums over a call of n = 4·(fewest) fair values (centres n/2 ..
    3n/2, as the check takes them); the deviation injected is at centre n/2, the fewest
    pairs: each value i > n/4 copies the value n/2 − i with probability 2d."""
    n = 4 * leaf.n
    lo, hi = n // 2, n + n // 2

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        bits = rng.integers(0, 2, size=n, dtype=np.int8)
        i = np.arange(lo // 2 + 1, lo + 1)  # partners lo − i < i
        copied = rng.random(i.size) < 2.0 * deviation
        bits[i[copied]] = bits[lo - i[copied]]
        *_, centre, agreement = (float(v) for v in reduce.period_peaks(bits > 0, n // 2, lo, hi))
        pairs = int(reduce.mirror_pairs(np.array([centre]), n, np)[0])
        return st.agreement_peak(
            MIRROR_TEST, agreement, pairs, hi - lo, leaf.n, alpha=leaf.alpha, power=leaf.power
        )

    return sample


def head_repeat(leaf: Leaf) -> Sampler:
    """NO-PERIOD's search for a period or offset in a long call of n fair values, with a
    second call's head; the deviation injected is a call periodic with the stated period
    (the largest the search covers): certain detection."""
    n = leaf.n
    width = reduce.HEAD + reduce.WINDOW_BITS

    def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
        bits = rng.integers(0, 2, size=n, dtype=np.int8) > 0
        period = int(deviation)
        if period:
            bits[period:] = bits[: n - period]
        heads = np.stack([bits[:width], rng.integers(0, 2, size=width, dtype=np.int8) > 0])
        (matches,) = reduce.head_repeats(bits, heads)
        return st.repeated_heads(int(matches), 2, n, alpha=leaf.alpha, power=leaf.power)

    return sample


def connection_distance(kind: str) -> Callable[[Leaf], Sampler]:
    """DropConnect's every-distance tests on an (n_out, n_in) fair mask shaped as the leaf's
    sizing says; the deviation is injected where the fewest pairs are: the last column
    copies the first (inputs, lag n_in − 1), the rows n_out/2 apart (outputs), or the bias
    copies the first column, each value with probability 2d."""

    def simulator(leaf: Leaf) -> Sampler:
        sums, fewest = int(leaf.get("sums")), leaf.n
        n_out, n_in = {
            "inputs": (fewest, sums + 1),
            "outputs": (2 * sums, fewest // sums),
            "bias": (fewest, sums),
        }[kind]

        def sample(rng: np.random.Generator, deviation: float) -> st.StatResult:
            m = rng.integers(0, 2, size=(n_out, n_in), dtype=np.int8) > 0
            bias = rng.integers(0, 2, size=n_out, dtype=np.int8) > 0
            if kind == "inputs":
                copied = rng.random(n_out) < 2.0 * deviation
                m[copied, n_in - 1] = m[copied, 0]
            elif kind == "outputs":
                copied = rng.random((n_out - sums, n_in)) < 2.0 * deviation
                m[sums:][copied] = m[: n_out - sums][copied]
            else:
                copied = rng.random(n_out) < 2.0 * deviation
                bias[copied] = m[copied, 0]
            if kind == "bias":
                where, agreement = (float(v) for v in reduce.column_agreement_peak(bias, m))
                terms = n_out
            elif kind == "inputs":
                where, agreement = (float(v) for v in reduce.row_autocorrelation_peak(m, sums))
                terms = n_out * (n_in - int(where))
            else:
                where, agreement = (float(v) for v in reduce.row_autocorrelation_peak(m.T, sums))
                terms = n_in * (n_out - int(where))
            return st.agreement_peak(
                DISTANCE_TESTS[kind],
                agreement,
                terms,
                sums,
                fewest,
                alpha=leaf.alpha,
                power=leaf.power,
            )

        return sample

    return simulator


def kind(leaf: Leaf) -> str:
    """The kind of test a leaf runs, as the claims cover them: its test, and whether its
    null is widened by a rounding slack (the stated deviation then has a term of its own)."""
    return leaf.test + (" (null widened by a rounding slack)" if leaf.get("slack") else "")


# ---------------------------------------------------------------- the claims ----

SPRT = st.SequentialBinomial.test_name
MOMENT = "sequential z-test (Wald, known variance, truncated)"
PAIRS = "chi-square independence (2x2)"
FFT = "FFT autocorrelation, Azuma bound over lags"
Z = "z-test (known variance)"
BIT0 = "position: bit 0 of the flat index"
#: The dtype the strata of reference.dropout run in at the default base seed (one a run:
#: ``checks._strata.strata_dtype``).
STRATA_DTYPE = "bfloat16"
#: The same for reference.drop_path and reference.gaussian_dropout.
PATH_STRATA_DTYPE = GAUSSIAN_STRATA_DTYPE = "float16"


def claims() -> list[Claim]:
    """Every claim: one leaf of a check's plan each (the kinds of test the checks run, at
    the hardest or most common of their sizes), with its simulator. Measured in this order
    (seed + index), so a claim added last keeps the others' seeds."""
    slow, fft = 200, 200  # runs of the claims whose one run takes a second or so
    return [
        # rate 0.999: keep probability 0.001, the largest anchored n (1e-4 resolution)
        Claim("drop rate 0.999", "DROPOUT-RATE", SPRT, drop_rate, {"rate": 0.999}),
        Claim("drop rate 0.1", "DROPOUT-RATE", SPRT, drop_rate, {"rate": 0.1}),
        Claim("drop rate 0.01", "DROPOUT-RATE", SPRT, drop_rate, {"rate": 0.01}),
        Claim(
            "drop rate 0.1 (DropConnect weights)",
            "DROPCONNECT-RATE",
            SPRT,
            drop_rate,
            {"rate": 0.1},
        ),
        Claim(
            "drop rate, many small calls",
            "DROPOUT-RATE",
            "binomial test",
            exact_rate,
            {"stratum": "size: tiny (< 64 values)"},
            dtype=STRATA_DTYPE,
        ),
        Claim(
            "independence of neighbouring mask values",
            "DROPOUT-INDEPENDENT-ELEMENTS",
            PAIRS,
            independence,
            {"offset": 1, "phase": 0},
        ),
        Claim(
            "mean of y/x, rate 0.1",
            "DROPOUT-UNBIASED",
            MOMENT,
            unbiased,
            {"rate": 0.1},
            dtype="float64",
        ),
        Claim(
            "variance of y/x, rate 0.3",
            "DROPOUT-VARIANCE",
            MOMENT,
            second_moment,
            {"rate": 0.3},
            dtype="float64",
        ),
        Claim("mean of noise", "GAUSSIAN-MEAN", Z, z_mean, {"rate": 0.5}),
        Claim(
            "variance of noise (increase)",
            "GAUSSIAN-VARIANCE",
            "chi-square variance test",
            variance_chi2(1.0),
            {"rate": 0.5},
        ),
        Claim(
            "variance of noise (decrease)",
            "GAUSSIAN-VARIANCE",
            "chi-square variance test",
            variance_chi2(-1.0),
            {"rate": 0.5},
        ),
        Claim(
            "distribution of noise",
            "GAUSSIAN-DISTRIBUTION",
            "Kolmogorov-Smirnov vs N(0, 1)",
            normal_distribution,
            {"rate": 0.5},
            runs=slow,
            small_n=1 << 14,
        ),
        Claim(
            "no period (injected at the largest lag)",
            "DROPOUT-NO-PERIOD",
            FFT,
            no_period(),
            runs=fft,
            small_n=1 << 14,
        ),
        Claim(
            "no period (injected at lag 7)",
            "DROPOUT-NO-PERIOD",
            FFT,
            no_period(7),
            runs=fft,
            small_n=1 << 14,
        ),
        Claim(
            "drop counts across calls",
            "DROPOUT-INDEPENDENT-CALLS",
            "exact binomial test per count bin vs Binomial(k, rate), Bonferroni",
            calls_gof,
        ),
        Claim(
            "homogeneity of the kept share (2 classes)",
            "DROPOUT-RATE",
            "chi-square homogeneity of proportions",
            homogeneity(),
            {"rate": 0.5, "family": BIT0},
        ),
        Claim(
            "homogeneity of E[y/x] (2 classes)",
            "DROPOUT-UNBIASED",
            "chi-square homogeneity of means",
            homogeneity(means=True),
            {"rate": 0.5, "family": BIT0},
            dtype="float64",
        ),
        Claim(
            "repeated block at a random lag",
            "DROPOUT-NO-PERIOD",
            "repeated windows (exact, union bound)",
            repeats,
            runs=slow,
            small_n=1 << 14,
        ),
        Claim(
            "seeds' masks copied at the largest shift",
            "DROPOUT-INDEPENDENT-SEEDS",
            SEEDS_TEST,
            seed_pair(),
            {"pair": "s + 1"},
        ),
        Claim(
            "seeds' masks copied at shift 1",
            "DROPOUT-INDEPENDENT-SEEDS",
            SEEDS_TEST,
            seed_pair(1),
            {"pair": "s + 1"},
        ),
        Claim(
            "alpha dropout mean, rate 0.5, bfloat16 slack",
            "ALPHA-MEAN",
            Z,
            alpha_moment(mean=True),
            {"rate": 0.5},
            dtype="bfloat16",
        ),
        Claim(
            "alpha dropout variance, rate 0.2, bfloat16 slack",
            "ALPHA-VARIANCE",
            Z,
            alpha_moment(mean=False),
            {"rate": 0.2},
            dtype="bfloat16",
        ),
        Claim(
            "mirror sums (injected at the centre with the fewest pairs)",
            "DROPOUT-NO-PERIOD",
            MIRROR_TEST,
            mirror,
            runs=fft,
            small_n=1 << 12,
        ),
        Claim(
            "period 2^24 in a long call",
            "DROPOUT-NO-PERIOD",
            "repeated head (exact, union bound)",
            head_repeat,
            runs=slow,
            small_n=1 << 16,
        ),
        Claim(
            "XOR of four XOR-related seeds' masks",
            "DROPOUT-INDEPENDENT-SEEDS",
            "binomial test",
            exact_rate,
            {"pair": LINEAR},
        ),
        *(
            Claim(
                f"DropConnect connections at every distance: {kind}",
                "DROPCONNECT-PER-CONNECTION",
                DISTANCE_TESTS[kind],
                connection_distance(kind),
                {"pairs": kind},
                runs=slow,
                small_n=small,
            )
            for kind, small in (("inputs", 1 << 8), ("outputs", 1 << 16), ("bias", 1 << 8))
        ),
        Claim(
            "drop rate in the remainder lanes mod 4 only",
            "DROPOUT-RATE",
            "binomial test",
            exact_rate,
            {"stratum": "position: remainder lanes mod 4, calls of 2^14 values or more"},
            dtype=STRATA_DTYPE,
        ),
        Claim(
            "drop rate at the first element of a row only",
            "DROPOUT-RATE",
            "binomial test",
            exact_rate,
            {"stratum": "position: first of row, calls of 2^14 values or more"},
            dtype=STRATA_DTYPE,
        ),
        Claim(
            "E[y/x] in the remainder lanes mod 4 only",
            "DROPOUT-UNBIASED",
            Z,
            stratum_moment(variance=False),
            {"stratum": "position: remainder lanes mod 4, calls of 2^14 values or more"},
            dtype=STRATA_DTYPE,
        ),
        Claim(
            "Var[y/x] over the tiny calls only",
            "DROPOUT-VARIANCE",
            Z,
            stratum_moment(variance=True),
            {"stratum": "size: tiny (< 64 values)"},
            dtype=STRATA_DTYPE,
        ),
        Claim(
            "drop rate in the last (size mod 64) values of each call only",
            "DROPOUT-RATE",
            "binomial test",
            exact_rate,
            {"stratum": "position: last (size mod 64) of a call"},
            dtype=STRATA_DTYPE,
        ),
        Claim(
            "drop rate in the remainder lanes mod 8 of small calls only",
            "DROPOUT-RATE",
            "binomial test",
            exact_rate,
            {"stratum": "position: remainder lanes mod 8, calls under 1,000 values"},
            dtype=STRATA_DTYPE,
        ),
        Claim(
            "drop path: drop rate at batch 1",
            "DROPPATH-RATE",
            "binomial test",
            exact_rate,
            {"stratum": "size: batch of 1"},
            dtype=PATH_STRATA_DTYPE,
        ),
        Claim(
            "drop path: dropped count per call, tiny batches",
            "DROPPATH-RATE",
            "exact binomial test per count bin vs Binomial(k, rate), Bonferroni",
            calls_gof,
            {"stratum": "dropped count per call: tiny (< 64 values), rank 5"},
            dtype=PATH_STRATA_DTYPE,
        ),
        Claim(
            "drop path: E[y/x] at batch 1",
            "DROPPATH-UNBIASED",
            Z,
            stratum_moment(variance=False),
            {"stratum": "size: batch of 1"},
            dtype=PATH_STRATA_DTYPE,
        ),
        Claim(
            "mean of noise over the tiny calls only",
            "GAUSSIAN-MEAN",
            Z,
            z_mean,
            {"stratum": "size: tiny (< 64 values)"},
            dtype=GAUSSIAN_STRATA_DTYPE,
        ),
        Claim(
            "variance of noise in the last (size mod 64) values of each call only (decrease)",
            "GAUSSIAN-VARIANCE",
            "chi-square variance test",
            variance_chi2(-1.0),
            {"stratum": "position: last (size mod 64) of a call"},
            dtype=GAUSSIAN_STRATA_DTYPE,
        ),
        # Appended last: a claim's measurement seed is the base seed plus its position.
        Claim(
            "drop counts across calls of one instance",
            "DROPOUT-STATE-CALLS",
            "exact binomial test per count bin vs Binomial(k, rate), Bonferroni",
            calls_gof,
        ),
        Claim(
            "recurrent: state mask where a neighbouring feature's input is dropped",
            "RECUR-PATHS-INDEPENDENT",
            "binomial test",
            exact_rate,
            {"stratum": "feature +1 input dropped"},
        ),
        Claim(
            "attention seeds' masks copied at shift 1",
            "ATTN-INDEPENDENT-SEEDS",
            SEEDS_TEST,
            seed_pair(1),
            {"pair": "s + 1"},
        ),
    ]


def measure_all(
    alpha: float, power: float, *, small: bool, seed: int, only: str = ""
) -> list[Measurement]:
    """:func:`measure` every claim (those whose name contains ``only``, if given) at its
    leaf of the checks' plans at this alpha and power, each from its own seed derived from
    ``seed`` (the same whether or not others are left out).

    ``small``: for the quick tests, 300 runs (100 for the slow claims) instead of 1000
    (200), and a claim's ``small_n`` for its n where one run at the check's n is slow (the
    same formulas at another n; such a measurement states that n, not the leaf's)."""
    config = Config(alpha=alpha, power=power)
    cache: dict[str, list[Leaf]] = {}
    out = []
    for i, claim in enumerate(claims()):
        if only not in claim.name:
            continue
        if claim.clause not in cache:
            cache[claim.clause] = plan(claim.clause, config) or []
        leaf = claim.leaf(cache[claim.clause])
        runs = claim.runs
        if small:
            runs = 100 if claim.runs < 1000 else 300
            if claim.small_n is not None:
                leaf = _resized(leaf, claim.small_n)
        out.append(measure(claim, leaf, runs, seed + i))
    return out


def _resized(leaf: Leaf, n: int) -> Leaf:
    """``leaf`` at another n (its stated deviation is recomputed by the simulated test)."""
    return replace(leaf, n=n)
