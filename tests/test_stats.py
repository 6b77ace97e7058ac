"""The statistical engine: sample sizes, power and calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst

from dropspec.conformance import stats


def _region_by_scipy(n: int, p0: float, alpha: float) -> tuple[int, int]:
    """The region stats.binomial_region states, confirmed by scipy's binomtest at both
    boundaries (rejected at lo and hi, not just inside them)."""
    lo, hi = stats.binomial_region(n, p0, alpha)

    def rejects(k: int) -> bool:
        return 0 <= k <= n and sst.binomtest(k, n, p0).pvalue < alpha

    assert (lo < 0 or rejects(lo)) and not rejects(lo + 1), (n, p0, alpha, lo)
    assert (hi > n or rejects(hi)) and not rejects(hi - 1), (n, p0, alpha, hi)
    return lo, hi


def _power_by_pmf(n: int, lo: int, hi: int, p1: float) -> float:
    """P(k <= lo or k >= hi), k ~ Binomial(n, p1), summing the pmf (within 40 sd of the
    mean: the rest is below 1e-300)."""
    sd = (n * p1 * (1 - p1)) ** 0.5
    first, last = max(0, int(n * p1 - 40 * sd - 40)), min(n, int(n * p1 + 40 * sd + 40))
    ks = np.arange(first, last + 1)
    pmf = sst.binom.pmf(ks, n, p1)
    return float(pmf[(ks <= lo) | (ks >= hi)].sum())


def _sides(p0: float, delta: float) -> list[float]:
    return [p for p in (p0 - delta, p0 + delta) if 0 < p < 1]


@pytest.mark.parametrize(("alpha", "power"), [(1e-2 / 31, 0.9), (1e-6 / 31, 0.999)])
def test_the_stated_binomial_deviation_is_detected_with_the_stated_power(
    alpha: float, power: float
) -> None:
    """For n from 10 to 10^6 and p0 from 1e-3 to 0.99: the power of binomial() at p0 ±
    its stated deviation, summed from the pmf over the region where scipy's binomtest
    rejects, reaches the stated power on each side inside (0, 1), and a deviation 0.1%
    smaller falls short on one (the statement is tight). The normal approximation stated
    before fails the first at n = 101 (see the simulation below)."""
    for n in (10, 31, 101, 420, 2_104, 10_000, 100_000, 1_000_000):
        for p0 in (1e-3, 0.01, 0.25, 0.5, 0.9, 0.99):
            delta = stats.binomial_detectable(p0, n, alpha, power)
            lo, hi = _region_by_scipy(n, p0, alpha)
            reached = [_power_by_pmf(n, lo, hi, p1) for p1 in _sides(p0, delta)]
            assert all(r >= power - 1e-9 for r in reached), (n, p0, delta, reached)
            if delta < max(p0, 1 - p0):  # else nothing inside (0, 1) is caught
                short = [_power_by_pmf(n, lo, hi, p1) for p1 in _sides(p0, delta * 0.999)]
                edge = [p for p in (p0 - delta, p0 + delta) if p in (0.0, 1.0)]
                assert min(short) < power or edge, (n, p0, delta, short)


def test_the_normal_approximation_overstated_the_power_of_a_small_stratum() -> None:
    """The width-8 tail stratum at the relaxed settings (n = 101, rate 0.25, alpha 1e-2
    over 1,240: RATE's strata share split over their 31 tests, power 0.9): the deviation
    the normal approximation stated there is caught with exact power 0.82, and 2,000
    simulated runs of binomial() at the deviation stated now detect it at least 90% of the
    time (one-sided binomial test at 1e-4; at the old deviation the same runs fall short)."""
    n, p0, alpha, power = 101, 0.25, 1e-2 / 1240, 0.9
    za, zb = stats.z_two_sided(alpha), stats.z_power(power)
    old = za * (p0 * (1 - p0) / n) ** 0.5
    for _ in range(50):  # the former fixed point, towards 1/2
        old = (za * (p0 * (1 - p0)) ** 0.5 + zb * ((p0 + old) * (1 - p0 - old)) ** 0.5) / n**0.5
    lo, hi = _region_by_scipy(n, p0, alpha)
    assert _power_by_pmf(n, lo, hi, p0 + old) < 0.85
    rng = np.random.default_rng(20261207)
    runs = 2000
    for delta, enough in ((stats.binomial_detectable(p0, n, alpha, power), True), (old, False)):
        ks = rng.binomial(n, p0 + delta, size=runs)
        verdict = {
            k: not stats.binomial(int(k), n, p0, alpha=alpha, power=power).passed
            for k in np.unique(ks)
        }
        detected = sum(verdict[k] for k in ks)
        held = bool(sst.binomtest(detected, runs, power, alternative="less").pvalue >= 1e-4)
        assert held is enough, (delta, detected)


def test_sample_size_is_the_smallest_n_with_the_stated_power() -> None:
    alpha, power = 1e-6, 0.999
    for p0, delta in ((0.001, 0.0001), (0.1, 0.002), (0.25, 0.1), (0.25, 0.2), (0.5, 0.05)):
        n = stats.binomial_sample_size(p0, delta, alpha, power)
        for m, enough in ((n, True), (n - 1, False)):
            lo, hi = _region_by_scipy(m, p0, alpha)
            reached = min(_power_by_pmf(m, lo, hi, p1) for p1 in _sides(p0, delta))
            assert (reached >= power) is enough, (p0, delta, m, reached)


def test_the_histogram_test_states_an_exact_deviation() -> None:
    """binomial_histogram_gof's stated deviation: in every bin, a share moved by it (each
    side inside (0, 1)) is caught by that bin's own test with the stated power, summed
    from the pmf over the counts where (k + 1) times the bin's doubled-tail p-value is
    below alpha (every count tried)."""
    for n, k, rate, alpha, power in (
        (1_764, 24, 0.25, 1e-6 / 31, 0.999),
        (300, 7, 0.25, 1e-2, 0.9),
    ):
        delta = stats.count_bins_detectable(n, k, rate, alpha, power)
        counts = np.arange(n + 1)
        pmf = sst.binom.pmf(np.arange(k + 1), k, rate)
        for p0 in pmf:
            tails = np.minimum(sst.binom.cdf(counts, n, p0), sst.binom.sf(counts - 1, n, p0))
            rejected = (k + 1) * np.minimum(1.0, 2.0 * tails) < alpha
            lo = int(counts[rejected & (counts < n * p0)].max(initial=-1))
            hi = int(counts[rejected & (counts > n * p0)].min(initial=n + 1))
            assert rejected.sum() == (lo + 1) + (n + 1 - hi)  # two tails, nothing between
            reached = [_power_by_pmf(n, lo, hi, p1) for p1 in _sides(float(p0), delta)]
            assert all(r >= power - 1e-9 for r in reached), (n, k, p0, delta, reached)
        histogram = np.random.default_rng(k).multinomial(n, pmf)
        res = stats.binomial_histogram_gof(histogram, k, rate, alpha=alpha, power=power)
        assert res.deviation == delta


def test_a_two_point_z_test_states_its_exact_deviation() -> None:
    """A moment stratum's z-test (terms y/x - 0.75 in {-0.75, 0.25}: rate 0.25, multiplier
    1; the null's variance bound 0.25, no slack) at n = 162 and 40, alpha 3e-5, power 0.9:
    at its stated deviation (a term's mean moved by d sd, either side) the z-test's verdict
    on every K, weighted by the binomial pmf, rejects with the stated power. The normal
    approximation's (z_a + z_b)/sqrt(n) falls short at n = 162."""
    lo, hi, var, alpha, power = -0.75, 0.25, 0.25, 3e-5, 0.9
    for n in (162, 40):
        ks = np.arange(n + 1)
        rejected = np.array(
            [
                not stats.z_mean(
                    k * hi + (n - k) * lo, 0.0, n * var, n, alpha=alpha, power=power
                ).passed
                for k in ks
            ]
        )

        def power_at(
            d: float, n: int = n, ks: np.ndarray = ks, hit: np.ndarray = rejected
        ) -> list[float]:
            qs = [0.75 + side * d * var**0.5 / (hi - lo) for side in (-1, 1)]
            return [float(sst.binom.pmf(ks, n, q)[hit].sum()) for q in qs if 0 < q < 1]

        d = stats.two_point_detectable(n, lo, hi, 0.0, var, 0.0, alpha, power)
        assert min(power_at(d)) >= power - 1e-9 and min(power_at(d * 0.999)) < power
        if n == 162:
            normal = (stats.z_two_sided(alpha) + stats.z_power(power)) / n**0.5
            assert min(power_at(normal)) < power - 0.005


def test_the_agreement_tests_state_their_exact_deviation() -> None:
    """The Hoeffding test of one of 100 sums of m = 1,024 fair ±1 (NO-PERIOD's lags, the
    seed and mirror sums), alpha 1e-3, power 0.9: pairs agreeing with probability 1/2 ± d,
    d stated, fail the bound with the stated power (the pmf of the agreements summed where
    2·exp(-S²/(2m))·100 < alpha); the normal approximation's d falls short."""
    m, sums, alpha, power = 1024, 100, 1e-3, 0.9
    agreements = np.arange(m + 1)
    s = 2.0 * agreements - m
    rejected = np.minimum(1.0, 2.0 * np.exp(-(s**2) / (2.0 * m)) * sums) < alpha

    def power_at(d: float) -> float:
        return min(float(sst.binom.pmf(agreements, m, 0.5 + e)[rejected].sum()) for e in (-d, d))

    d = stats.agreement_detectable(m, sums, alpha, power)
    assert power_at(d) >= power - 1e-9 and power_at(d * 0.999) < power
    normal = ((2.0 * np.log(2.0 * sums / alpha)) ** 0.5 + stats.z_power(power)) / (2.0 * m**0.5)
    assert power_at(normal) < power
    res = stats.agreement_peak("t", 0.0, m, sums, m, alpha=alpha, power=power)
    assert res.deviation == d


def test_rate_deviation_is_relative_below_two_percent() -> None:
    assert stats.rate_deviation(0.5) == 0.002
    assert stats.rate_deviation(0.01) == pytest.approx(0.001)
    assert stats.rate_deviation(0.995) == pytest.approx(0.0005)


def test_binomial_result_carries_its_inputs() -> None:
    r = stats.binomial(5000, 10000, 0.5, alpha=1e-6, power=0.999, rate=0.5)
    assert r.passed and r.n == 10000 and r.inputs["rate"] == 0.5
    assert not stats.binomial(5300, 10000, 0.5, alpha=1e-6, power=0.999).passed
    with pytest.raises(AttributeError):
        r.pvalue = 0.0  # type: ignore[misc]


def test_contingency_detects_dependence() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(100_000) < 0.5
    b = rng.random(100_000) < 0.5
    assert stats.contingency_2x2(a, b, alpha=1e-6, power=0.999).passed
    assert not stats.contingency_2x2(a, a, alpha=1e-6, power=0.999).passed


def test_no_period_finds_a_repeating_block() -> None:
    rng = np.random.default_rng(1)
    good = rng.random(1 << 16) < 0.5
    assert stats.no_period(good, alpha=1e-6, power=0.999).passed
    bad = np.resize(rng.random(1024) < 0.5, 1 << 16)
    res = stats.no_period(bad, alpha=1e-6, power=0.999)
    assert not res.passed and res.inputs["worst_lag"] % 1024 == 0


def test_gof_and_ks_and_variance() -> None:
    rng = np.random.default_rng(2)
    counts = rng.binomial(24, 0.5, size=20_000)
    assert stats.binomial_counts_gof(counts, 24, 0.5, alpha=1e-6, power=0.999).passed
    stuck = np.where(rng.random(20_000) < 0.5, 0, 24)
    assert not stats.binomial_counts_gof(stuck, 24, 0.5, alpha=1e-6, power=0.999).passed
    z = rng.standard_normal(100_000)
    assert stats.ks_normal(z, alpha=1e-6, power=0.999).passed
    assert not stats.ks_normal(z * 1.1, alpha=1e-6, power=0.999).passed
    assert stats.chi2_variance(float((z * z).sum()), z.size, alpha=1e-6, power=0.999).passed


def test_false_alarm_rate_of_the_z_test_is_alpha() -> None:
    """At alpha = 0.01 a correct null rejects about 1% of the time (binomial check, 1e-6)."""
    rng = np.random.default_rng(3)
    rejections = 0
    trials = 20_000
    for _ in range(trials):
        x = rng.standard_normal(16)
        if not stats.z_mean(float(x.sum()), 0.0, 16.0, 16, alpha=0.01, power=0.9).passed:
            rejections += 1
    assert sst.binomtest(rejections, trials, 0.01).pvalue >= 1e-6


def test_a_combined_check_spends_the_sum_of_its_alphas() -> None:
    """k sub-tests at α/k each: the check spent k·(α/k) = α, not the worst part's α/k."""
    k, alpha = 4, 1e-6
    parts = [stats.binomial(5000 + i, 10000, 0.5, alpha=alpha / k, power=0.999) for i in range(k)]
    res = stats.combine(parts)
    assert len(res.leaves()) == k and res.alpha == alpha / k
    assert res.alpha_spent == pytest.approx(alpha)
    nested = stats.combine([res, stats.binomial(1, 2, 0.5, alpha=alpha, power=0.999)])
    assert len(nested.leaves()) == k + 1
    assert nested.alpha_spent == pytest.approx(2 * alpha)
    # The adjusted p-value is below the spent α exactly when some part fails its share.
    worst = min(p.pvalue for p in parts)
    assert res.adjusted_pvalue == pytest.approx(min(1.0, worst * k))
    failing = stats.combine(
        [*parts, stats.binomial(5400, 10000, 0.5, alpha=alpha / k, power=0.999)]
    )
    assert not failing.passed and failing.adjusted_pvalue < failing.alpha_spent


def test_the_run_bound_is_the_sum_of_every_sub_tests_alpha() -> None:
    from dropspec.conformance.engine import ClauseResult
    from dropspec.conformance.report import clause_entry, false_alarm_bound

    k, alpha = 3, 1e-3
    multi = stats.combine(
        [stats.z_mean(0.0, 0.0, 1.0, 1, alpha=alpha / k, power=0.9) for _ in range(k)]
    )
    single = stats.z_mean(0.0, 0.0, 1.0, 1, alpha=alpha, power=0.9)
    results = [
        ClauseResult("t", "A", "MUST", "statistical", "passed", stat=multi),
        ClauseResult("t", "B", "MUST", "statistical", "passed", stat=single),
        ClauseResult("t", "C", "MUST", "exact", "passed"),
    ]
    assert results[0].alpha == pytest.approx(alpha)
    report = {"targets": [{"clauses": [clause_entry(r) for r in results]}]}
    assert report["targets"][0]["clauses"][0]["alpha"] == pytest.approx(alpha)
    assert false_alarm_bound(report) == pytest.approx(2 * alpha)


def test_homogeneity_of_proportions_is_pearsons_chi_square() -> None:
    kept = np.array([480, 530, 505])
    counts = np.array([1000, 1000, 1000])
    res = stats.homogeneity(kept, counts, None, alpha=1e-3, power=0.9)
    table = np.stack([kept, counts - kept], axis=1)
    want = sst.chi2_contingency(table, correction=False)
    assert res.statistic == pytest.approx(want.statistic)
    assert res.pvalue == pytest.approx(want.pvalue)
    assert res.deviation_unit == "Cohen's w" and res.inputs["classes"] == 3


def test_homogeneity_of_means_finds_one_class_off() -> None:
    rng = np.random.default_rng(7)
    per = 10_000
    values = rng.normal(0.0, 1.0, (8, per))
    same = stats.homogeneity(values.sum(axis=1), np.full(8, per), 1.0, alpha=1e-6, power=0.9)
    assert same.passed
    values[3] += 0.1  # one class of eight off by 0.1 sd
    off = stats.homogeneity(values.sum(axis=1), np.full(8, per), 1.0, alpha=1e-6, power=0.9)
    assert not off.passed and off.inputs["most_off_class"] == 3
    # Empty classes are left out; one class left, or no spread, has nothing to compare.
    assert (
        stats.homogeneity(np.array([5.0, 0.0]), np.array([9, 0]), 1.0, alpha=1e-3, power=0.9).pvalue
        == 1.0
    )
    assert (
        stats.homogeneity(np.array([0, 0]), np.array([9, 9]), None, alpha=1e-3, power=0.9).pvalue
        == 1.0
    )


def test_a_z_test_with_slack_gives_a_bound_not_a_uniform_p_value() -> None:
    # Under a null whose mean sits inside the slack, the slacked p-value piles up at 1: it is
    # a bound, and the soak's uniformity test must not count it (it did, for alpha dropout
    # in the half dtypes).
    rng = np.random.default_rng(9)
    plain = [
        stats.z_mean(float(rng.normal()), 0.0, 1.0, 1, alpha=0.01, power=0.9) for _ in range(200)
    ]
    slacked = [
        stats.z_mean(float(rng.normal()), 0.0, 1.0, 1, alpha=0.01, power=0.9, slack=1.0)
        for _ in range(200)
    ]
    assert all(r.uniform for r in plain) and not any(r.uniform for r in slacked)
    assert sum(r.pvalue == 1.0 for r in slacked) > 100  # |z| <= 1 about 68% of the time
    assert all(r.passed for r in slacked if abs(r.statistic) == 0.0)


def _run_sequential(test: stats.SequentialBinomial, rate: float, chunk: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    while not test.done:
        test.add(int(rng.binomial(chunk, rate)), chunk)


def test_sequential_rate_test_stops_early_on_a_correct_rate_and_rejects_a_wrong_one() -> None:
    alpha, power, rate = 1e-6 / 40, 0.999, 0.5
    delta = stats.rate_deviation(rate)
    fixed = stats.binomial_sample_size(rate, delta, alpha, power)
    right = stats.SequentialBinomial(rate, delta, alpha, power)
    assert right.n_max > fixed  # the worst case costs more than the fixed test ...
    _run_sequential(right, rate, 1 << 18, seed=1)
    result = right.result(rate=rate)
    assert not right.rejected and result.passed and not result.uniform
    assert right.n < fixed  # ... a correct target far less
    for wrong in (rate - delta, rate + delta):
        test = stats.SequentialBinomial(rate, delta, alpha, power)
        _run_sequential(test, wrong, 1 << 18, seed=2)
        result = test.result(rate=rate)
        assert test.rejected and not result.passed and result.pvalue < alpha
        assert result.inputs["n_max"] == test.n_max and result.deviation == delta


def test_sequential_rate_test_holds_alpha_and_power_when_looking_often() -> None:
    """Ville's inequality bounds the level however often the test looks: 2,000 correct
    runs at alpha = 0.05 looking every 64 values reject at most alpha; 2,000 runs at the
    stated deviation (0.05) detect it at least at the stated power (one-sided binomial
    tests at 1e-4)."""
    alpha, power, rate, runs = 0.05, 0.9, 0.3, 2000
    delta = 0.05
    rng = np.random.default_rng(20261201)
    false_alarms = detected = 0
    for _ in range(runs):
        for truth in (rate, rate + delta):
            test = stats.SequentialBinomial(rate, delta, alpha, power)
            while not test.done:
                test.add(int(rng.binomial(64, truth)), 64)
            if truth == rate:
                false_alarms += test.rejected
            else:
                detected += test.rejected
    assert sst.binomtest(false_alarms, runs, alpha, alternative="greater").pvalue >= 1e-4
    assert sst.binomtest(detected, runs, power, alternative="less").pvalue >= 1e-4


def test_sequential_mean_test_decides_both_ways() -> None:
    alpha, power, deviation = 1e-6, 0.999, 0.01
    rng = np.random.default_rng(3)
    for shift, reject in ((0.0, False), (deviation, True), (-deviation, True)):
        test = stats.SequentialMean(deviation, alpha, power)
        s = m = 0
        while not (test.accepted or test.rejected):
            s += float(rng.normal(shift * 4096, 64.0))  # 4,096 unit-sd terms per look
            m += 4096
            test.update(s, m)
        result = test.result(rate=0.5)
        assert test.rejected is reject and result.passed is not reject
        assert m <= test.m_max + 4096
