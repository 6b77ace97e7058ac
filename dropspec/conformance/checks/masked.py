"""Checks of the ops whose training output is x times a scaled mask, read back from the
output: dropout, drop path and alpha dropout, and Gaussian dropout where its noise above 1
stands for a kept value (see ``_masks``). Their values, drop rate, moments, independence,
shared axes and non-finite inputs.

Each op's module registers these for its own clause ids.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ...dtypes import as_dtype, dtype_name
from ...reference import scale_for
from ...reference.expectations import (
    dropout_central_moment4,
    dropout_moments,
    kept_multipliers,
)
from .. import reduce
from .. import stats as st_
from .. import strategies as gen
from ..context import CheckFailure, Context, chunk_elements
from ..reduce import Array
from ..stats import StatResult
from . import _strata as strata
from ._examples import (
    Case,
    examples,
    first_index,
    first_mismatch,
    require_same,
    same_shape,
    unit_cases,
)
from ._geometry import Geometry, geometry
from ._masks import (
    dropped_probability,
    keep_mask,
    mask_calls,
    mask_layout,
    mask_total,
    scale,
    signed_input,
    unit_masks,
)
from ._statistical import (
    ANCHOR_RATES,
    NEIGHBOUR_OFFSETS,
    RATE_BANDS,
    Classes,
    declaration_hint,
    drawn_rates,
    drop_test,
    every_dtype,
    nearest_allowed,
    neighbour_sizes,
    neighbour_tables,
    plan_tables,
    planned,
    rate_test,
    verdict,
)
from .common import large_cases


def allowed_kept(x: np.ndarray, rate: float, s: float) -> list[np.ndarray]:
    """The roundings of x·s the VALUES clause accepts.

    x·s rounded once; x·fl(s); x/fl(1 − rate); and x·fl(1/fl(1 − rate)), which is what a
    division by 1 − rate becomes when a compiler (XLA) turns it into a reciprocal multiply.
    """
    d = x.dtype.type
    wide = x.astype(np.float64)
    if s == 1.0 or rate >= 1.0:
        return [x * d(s)]
    keep = np.float64(d(1.0 - rate))
    with np.errstate(over="ignore"):
        return [
            (wide * s).astype(x.dtype),
            x * d(s),
            (wide / keep).astype(x.dtype),
            x * d(1.0 / keep),
        ]


def explained(y: np.ndarray, x: np.ndarray, rate: float, s: float) -> np.ndarray:
    """Where y is 0 or an allowed rounding of x·s (:func:`allowed_kept`). Where x is NaN or
    infinite a NaN is x·0 (dropped, as *-DROPPED-MULTIPLY has it) or a kept NaN: which one is
    the DROPPED clauses' business."""
    ok = (y == 0) | (np.isnan(y) & ~np.isfinite(x))
    for kept in allowed_kept(x, rate, s):
        ok |= y == kept
    return np.asarray(ok)


def check_values(ctx: Context) -> None:
    def body(case: Case) -> None:
        (x,) = case.inputs()
        rate = case.rate
        y = ctx.call(x, rate=rate, seed=case.seed)
        if y.shape != x.shape:
            raise CheckFailure(f"output shape {y.shape} differs from {x.shape}")
        y = y.astype(x.dtype)
        ok = explained(y, x, rate, scale(ctx, rate))
        if not ok.all():
            idx = first_index(~ok)
            other = "classic" if ctx.options["scaling"] == "inverted" else "inverted"
            hint = ""
            if explained(y, x, rate, scale_for(rate, other)).all():
                hint = "\nhint: " + declaration_hint(
                    ctx, "scaling", other, f"kept values are x·{scale_for(rate, other):.6g}"
                )
            raise CheckFailure(
                f"output {y[idx]!r} at {idx} is neither 0 nor x·s for x={x[idx]!r}, "
                f"s={scale(ctx, rate)!r} ({case.describe()}){hint}"
            )

    examples(ctx, lambda d: unit_cases(ctx, d), body)
    for (x,), rate, what in large_cases(ctx):
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        s = scale(ctx, rate)
        allowed = kept_multipliers(rate, ctx.options["scaling"], dtype_name(x.dtype))
        wide = ctx.to_device(x.astype(np.float64))
        off = int(ctx.host(reduce.off_multipliers(y, wide, allowed=allowed)))
        if off:
            raise CheckFailure(
                f"{off} of {x.size} outputs are neither 0 nor x·s, s={s!r} rounded to the "
                f"dtype ({what}, rate={rate!r})"
            )


def check_inference_classic(ctx: Context) -> None:
    def body(case: Case) -> None:
        (x,) = case.inputs()
        rate = case.rate
        y = ctx.call(x, rate=rate, training=False, seed=case.seed).astype(x.dtype)
        keep = 1.0 - rate
        ok = np.zeros(x.shape, bool)
        for want in ((x.astype(np.float64) * keep).astype(x.dtype), x * x.dtype.type(keep)):
            ok |= y == want
        if not ok.all():
            raise CheckFailure(
                f"training=False output is not x·(1 − rate): "
                f"{first_mismatch(y, x * x.dtype.type(keep))} "
                f"({case.describe()})"
            )

    examples(ctx, lambda d: unit_cases(ctx, d), body)


def check_rate_one_zeros(ctx: Context) -> None:
    def body(case: Case) -> None:
        (x,) = case.inputs()
        y = ctx.call(x, rate=1.0, seed=case.seed)
        require_same("rate 1", y, np.zeros_like(x), "training output is not all zeros")

    examples(ctx, lambda d: unit_cases(ctx, d), body)


# ---------------------------------------------------------------- the drop rate ----


def rate_guarantee() -> str:
    """What one run's RATE checks rule out (for ``dropspec power``)."""
    bands = ", ".join(f"[{lo}, {hi}]" for lo, hi in RATE_BANDS)
    return (
        f"*-RATE: one run tests rates {', '.join(map(str, ANCHOR_RATES))} and one rate "
        f"drawn from the base seed in each of {bands}, in every dtype; each sub-test detects "
        f"a drop-rate error of 0.002, or 10% of min(rate, 1 - rate) where that is smaller, "
        f"with the stated power, so a 10% relative rate error anywhere in [0.001, 0.999] "
        f"is caught in the runs whose drawn rate falls where it is. Where axes are shared, "
        f"rate {GROUP_RATE} on groups of 2 along them detects a relative error of "
        f"{GROUP_DEVIATION:.0%} (a group-size-dependent rate). Within every stratum of "
        f"size class, rank and position (in a row, and at the end of a call), rate "
        f"{strata.STRATA_RATE} detects an absolute error of "
        f"{strata.STRATA_DEVIATION['tiny']} over tiny calls, "
        f"{strata.STRATA_DEVIATION['small']} over small ones, "
        f"{strata.STRATA_DEVIATION['one']} over drop path's batches of one and less "
        f"elsewhere (each stratum states its own)."
    )


def _rate_sizes(
    ctx: Context,
) -> tuple[Geometry, tuple[float, ...], bool, tuple[float, ...], float]:
    """RATE's geometry, rates, whether it tests groups, the rates it tests homogeneity at,
    and each sub-test's share of alpha."""
    g = geometry(ctx)
    rates = drawn_rates(ctx)
    grouped = bool(g.shared_of(len(g.stat_shape(2))))
    varied = homogeneity_rates(rates)
    return g, rates, grouped, varied, ctx.split(len(rates) + grouped + bool(varied) + 1)


def _rate_inputs(
    ctx: Context, g: Geometry, test: st_.SequentialBinomial
) -> tuple[tuple[int, ...], np.ndarray | None, np.ndarray | None]:
    """The shape of RATE's calls at one rate, and its input and value labels (None where
    the masks are read from x = 1)."""
    shape = g.stat_shape(chunk_elements(test.n_max))
    x, labels = signed_input(ctx, shape) if g.mask == "zero" else (None, None)
    return shape, x, labels


def _group_values(ctx: Context, alpha: float) -> int:
    """Mask values of RATE's groups-of-2 sub-test (see :func:`check_rate`)."""
    return st_.binomial_sample_size(GROUP_RATE, GROUP_DEVIATION * GROUP_RATE, alpha, ctx.power)


def plan_rate(ctx: Context) -> list[StatResult]:
    """:func:`check_rate`'s sub-tests, sized as it sizes them."""
    g, rates, grouped, varied, alpha = _rate_sizes(ctx)
    out: list[StatResult] = []
    for rate in rates:
        test = rate_test(ctx, rate, alpha)
        if rate in varied:
            shape, _, labels = _rate_inputs(ctx, g, test)
            out += Classes.of(ctx, labels, shape).tests(
                ctx, None, alpha / len(varied), variance=None, what="kept share", rate=rate
            )
        out.append(test.result(rate=rate))
    if grouped:
        n = mask_total(ctx, _group_values(ctx, alpha), shared_side=2)
        out.append(
            st_.binomial(
                0, n, GROUP_RATE, alpha=alpha, power=ctx.power, rate=GROUP_RATE, shared_side=2
            )
        )
    return out + strata.plan_rate_strata(ctx, alpha)


@planned(plan_rate)
@every_dtype
def check_rate(ctx: Context) -> StatResult:
    """Every rate of :func:`drawn_rates` on groups of one element (shared axes of side 1);
    at the rates of :func:`homogeneity_rates`, the kept share's homogeneity across value
    and position classes on the first call (one share of alpha for all of them); and, where
    axes are shared, rate :data:`GROUP_RATE` on groups of 2 along every shared axis: a
    group's drop rate must not depend on how many elements it holds. Last, the rate
    within every stratum of size class, rank and position (``_strata``: one
    share of alpha for all of them), so that tiny inputs, every rank and a row's remainder
    lanes are seen as well as the large inputs above.

    Inputs take the values of :data:`MOMENT_VALUES` where a dropped output is 0 (so value
    classes exist); alpha dropout, whose masks are read from x = 1, has position classes
    only."""
    g, rates, grouped, varied, alpha = _rate_sizes(ctx)
    results = strata.rate_strata(ctx, alpha)
    for rate in rates:
        test = rate_test(ctx, rate, alpha)
        shape, x, labels = _rate_inputs(ctx, g, test)
        masks = iter(unit_masks(ctx, rate, test.n_max, x=x, shape=shape))
        if rate in varied:  # the labels go to the device only where classes are tested
            classes = Classes.of(ctx, labels, shape)
            first = next(masks)
            share = alpha / len(varied)
            results.extend(
                classes.tests(ctx, first, share, variance=None, what="kept share", rate=rate)
            )
            masks = itertools.chain([first], masks)
        results.append(drop_test(ctx, masks, rate, alpha, test))
    if grouped:
        rate = GROUP_RATE
        # Sized for a 10% relative error, not rate_deviation's 0.002: this sub-test is there
        # for a rate that depends on the group's size (all draws of a group must drop, say:
        # rate² instead of rate); the rate itself is measured on groups of one above. A group
        # holds 2^(shared axes) elements, so at 0.002 it cost up to 8 times that sub-test.
        masks = unit_masks(ctx, rate, _group_values(ctx, alpha), shared_side=2)
        results.append(drop_test(ctx, masks, rate, alpha, shared_side=2))
    return verdict(results, "the drop rate is off")


#: The rate RATE also tests on groups longer than one element (see :func:`check_rate`), and
#: the relative rate error that sub-test is sized for.
GROUP_RATE, GROUP_DEVIATION = 0.5, 0.1


def homogeneity_rates(rates: Iterable[float]) -> tuple[float, ...]:
    """The rates at which RATE tests homogeneity across classes: those in [0.05, 0.95],
    where every class holds enough dropped and kept values to compare."""
    return tuple(r for r in rates if 0.05 <= r <= 0.95)


# ---------------------------------------------------------------- moments ----


def _multiplier_moments(ctx: Context, rate: float) -> list[tuple[float, float, float, float]]:
    """(kept multiplier, mean, variance, fourth central moment) of the two-point multiplier
    m·s, one per rounding of the scale the dtype allows (see ``kept_multipliers``)."""
    scaling = ctx.options["scaling"]
    out = []
    for s in kept_multipliers(rate, scaling, ctx.stat_dtype):
        mean, var = dropout_moments(rate, scaling, multiplier=s)
        out.append((s, mean, var, dropout_central_moment4(rate, scaling, multiplier=s)))
    return out


def _moment_shape(ctx: Context, n: int) -> tuple[int, ...]:
    return geometry(ctx).stat_shape(chunk_elements(n))


def signed_stat_inputs(ctx: Context, n: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(input, value labels) for moment checks, until ``n`` mask values are covered.

    One input is drawn and passed to every call: y/x is the multiplier itself whatever x
    is, so the calls' masks alone make the draws independent.
    """
    shape = _moment_shape(ctx, n)
    x, labels = signed_input(ctx, shape)
    got = 0
    while got < n:
        yield x, labels
        got += math.prod(shape)


def _multiplier_sums(
    ctx: Context,
    rate: float,
    n: int,
    center: float,
    enough: Callable[[float, float, int, int], bool],
    homogeneity_alpha: float | None = None,
) -> list[StatResult]:
    """Call the target until ``enough(Σ (y/x − center), Σ (y/x − center)², values, group
    size)`` says so or ``n`` values are covered; return (given ``homogeneity_alpha``) the
    homogeneity tests of E[y/x] across value and position classes on the first call."""
    sums, count, groups = np.zeros(2), 0, 1
    wide: Array = None  # x in float64 on the device, converted once
    homogeneous: list[StatResult] = []
    for x, labels in signed_stat_inputs(ctx, n):
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        if wide is None:
            wide = ctx.to_device(x.astype(np.float64))
        groups = math.prod(x.shape[a] for a in geometry(ctx).shared_of(x.ndim))
        part = ctx.host(_multiplier_sum(y, wide, center=center))
        if homogeneity_alpha is not None and count == 0:
            classes = Classes.of(ctx, labels)
            var = max(0.0, float(part[1]) / x.size - (float(part[0]) / x.size) ** 2)
            homogeneous = classes.tests(
                ctx,
                _multiplier(y, wide, center=center),
                homogeneity_alpha,
                variance=var,
                what="E[y/x]",
                rate=rate,
            )
        sums += part
        count += x.size
        if enough(float(sums[0]), float(sums[1]), count, groups):
            break
    return homogeneous


@reduce.fused()
def _multiplier(y: Array, x: Array, center: float) -> Array:
    """y/x − center in float64."""
    xp = reduce.namespace(y)
    return xp.astype(y, xp.float64) / x - center


@reduce.fused()
def _multiplier_sum(y: Array, x: Array, center: float) -> Array:
    """``[Σ (y/x − center), Σ (y/x − center)²]``."""
    xp = reduce.namespace(y)
    dev = xp.astype(y, xp.float64) / x - center
    return xp.stack([xp.sum(dev), xp.sum(dev * dev)])


def _moment_test(
    ctx: Context,
    rate: float,
    alpha: float,
    variance: bool,
    homogeneity_alpha: float | None = None,
) -> list[StatResult]:
    """The sequential moment test at ``rate``, then any homogeneity tests (see
    :func:`_multiplier_sums`).

    Sized by :func:`~.stats.rate_moment_test`; one test per allowed scale rounding (a
    composite null): the check fails only when every candidate is rejected, which keeps the
    level at alpha, and stops drawing as soon as one is accepted (its accept bound is split
    among the candidates, which keeps the power) or every one is rejected."""
    candidates, tests = _moment_sizes(ctx, rate, alpha)
    center = candidates[0][1]

    def enough(s1: float, s2: float, count: int, groups: int) -> bool:
        m = count // groups
        for test, (_, mean, var, m4) in zip(tests, candidates, strict=True):
            shift = mean - center
            dev1 = s1 - count * shift  # Σ (v − mean)
            # Values sharing a mask move together: the sum's variance is groups² per value.
            if variance:
                total = s2 - 2.0 * shift * s1 + count * shift * shift - count * var
                spread = (m4 - var * var) * count * groups
            else:
                total, spread = dev1, var * count * groups
            sd_unit = math.sqrt(spread / m) if spread > 0 else 0.0
            test.update(total / sd_unit if sd_unit > 0 else (0.0 if total == 0 else math.inf), m)
        return any(t.accepted for t in tests) or all(t.rejected for t in tests)

    homogeneous = _multiplier_sums(ctx, rate, tests[0].m_max, center, enough, homogeneity_alpha)
    return [nearest_allowed(_moment_results(rate, variance, candidates, tests)), *homogeneous]


def _moment_sizes(
    ctx: Context, rate: float, alpha: float
) -> tuple[list[tuple[float, float, float, float]], list[st_.SequentialMean]]:
    """The candidates of :func:`_multiplier_moments` and one sequential test for each."""
    candidates = _multiplier_moments(ctx, rate)
    tests = [
        st_.rate_moment_test(rate, alpha, ctx.power, candidates=len(candidates)) for _ in candidates
    ]
    return candidates, tests


def _moment_results(
    rate: float,
    variance: bool,
    candidates: list[tuple[float, float, float, float]],
    tests: list[st_.SequentialMean],
) -> list[StatResult]:
    return [
        t.result(rate=rate, expected_variance=var, kept_multiplier=s)
        if variance
        else t.result(rate=rate, expected_multiplier=mean, kept_multiplier=s)
        for t, (s, mean, var, _) in zip(tests, candidates, strict=True)
    ]


def _plan_moments(
    ctx: Context, rates: tuple[float, ...], alpha: float, variance: bool, each: float | None
) -> list[StatResult]:
    """The sub-tests of :func:`_moment_test` at each rate, sized as it sizes them."""
    out: list[StatResult] = []
    for rate in rates:
        candidates, tests = _moment_sizes(ctx, rate, alpha)
        out.append(nearest_allowed(_moment_results(rate, variance, candidates, tests)))
        if each is not None:
            _, labels = signed_input(ctx, _moment_shape(ctx, tests[0].m_max))
            out += Classes.of(ctx, labels).tests(
                ctx, None, each, variance=1.0, what="E[y/x]", rate=rate
            )
    return out


def _unbiased_sizes(ctx: Context) -> tuple[tuple[float, ...], float, float]:
    """UNBIASED's rates, each moment test's share of alpha (and the strata's, one share
    for all of them), and each rate's share of the homogeneity tests' (one share for all
    of them)."""
    rates = (0.1, 0.5, 0.9)
    alpha = ctx.split(len(rates) + 2)
    return rates, alpha, alpha / len(rates)


def _variance_sizes(ctx: Context) -> tuple[tuple[float, ...], float]:
    """VARIANCE's rates, and each moment test's share of alpha (and the strata's)."""
    rates = (0.1, 0.3, 0.9)
    return rates, ctx.split(len(rates) + 1)


def plan_unbiased(ctx: Context) -> list[StatResult]:
    rates, alpha, each = _unbiased_sizes(ctx)
    return [
        *_plan_moments(ctx, rates, alpha, variance=False, each=each),
        *strata.plan_moment_strata(ctx, alpha, variance=False),
    ]


def plan_variance(ctx: Context) -> list[StatResult]:
    rates, alpha = _variance_sizes(ctx)
    return [
        *_plan_moments(ctx, rates, alpha, variance=True, each=None),
        *strata.plan_moment_strata(ctx, alpha, variance=True),
    ]


@planned(plan_unbiased)
@every_dtype
def check_unbiased(ctx: Context) -> StatResult:
    """E[y/x] at each rate, and its homogeneity across value and position classes (one share
    of alpha for every homogeneity test, split evenly among them); then E[y/x] within every
    stratum of size class, rank and position (``_strata``, one share)."""
    rates, alpha, each = _unbiased_sizes(ctx)
    results = [
        r
        for rate in rates
        for r in _moment_test(ctx, rate, alpha, variance=False, homogeneity_alpha=each)
    ]
    results += strata.moment_strata(ctx, alpha, variance=False)
    return verdict(
        results,
        "E[y] differs from the inference output (with the scale rounded to the dtype), or "
        "E[y/x] depends on the input's value or position",
    )


@planned(plan_variance)
@every_dtype
def check_variance(ctx: Context) -> StatResult:
    """Var[y/x] at each rate, then within every stratum of size class, rank and position
    (``_strata``, one share of alpha)."""
    rates, alpha = _variance_sizes(ctx)
    results = [_moment_test(ctx, rate, alpha, variance=True)[0] for rate in rates]
    results += strata.moment_strata(ctx, alpha, variance=True)
    return verdict(
        results, "Var[y] differs from x²·s²·rate·(1 − rate) (with s rounded to the dtype)"
    )


# ---------------------------------------------------------------- independence ----


CALLS_K, CALLS_RATE, CALLS_VALUES = 24, 0.5, 1 << 15


def plan_independent_calls(ctx: Context) -> list[StatResult]:
    k, p = CALLS_K, dropped_probability(ctx, CALLS_RATE)
    _, n = mask_layout(ctx, k * CALLS_VALUES, shape=geometry(ctx).stat_shape(CALLS_VALUES))
    histogram = np.zeros(k + 1, dtype=np.int64)
    histogram[k // 2] = n  # any histogram of n values: only the sizing is read
    return [st_.binomial_histogram_gof(histogram, k, p, alpha=ctx.alpha, power=ctx.power)]


@planned(plan_independent_calls)
@every_dtype
def check_independent_calls(ctx: Context) -> StatResult:
    """Each mask value's drop count over k calls (for Gaussian dropout, how often its noise
    is at most 1) against Binomial(k, p)."""
    k, rate = CALLS_K, CALLS_RATE
    p = dropped_probability(ctx, rate)
    shape = geometry(ctx).stat_shape(CALLS_VALUES)
    counts: Array | None = None
    for keep in unit_masks(ctx, rate, k * CALLS_VALUES, shape=shape):
        xp = reduce.namespace(keep)
        dropped = xp.astype(xp.logical_not(keep), xp.int64)
        counts = dropped if counts is None else counts + dropped
    assert counts is not None
    histogram = ctx.host(reduce.histogram(counts, k=k))
    res = st_.binomial_histogram_gof(histogram, k, p, alpha=ctx.alpha, power=ctx.power)
    return verdict([res], "drop counts over k calls are not Binomial(k, rate)")


def _axes_layout(ctx: Context) -> tuple[tuple[int, ...], list[int]]:
    """INDEPENDENT-AXES' input shape and the (non-shared) axes it pairs values along."""
    g = geometry(ctx)
    shape = g.stat_shape(1 << 20)
    return shape, [a for a in range(len(shape)) if a not in g.shared_of(len(shape))]


def plan_independent_axes(ctx: Context) -> list[StatResult]:
    shape, free = _axes_layout(ctx)
    sizes = neighbour_sizes(*mask_calls(ctx, 1 << 20, shape=shape), free)
    return plan_tables(ctx, sizes, shape=shape, rate=0.5)


@planned(plan_independent_axes)
@every_dtype
def check_independent_axes(ctx: Context) -> StatResult:
    rate = 0.5
    shape, free = _axes_layout(ctx)
    tables = neighbour_tables(ctx, unit_masks(ctx, rate, 1 << 20, shape=shape), free)
    alpha = ctx.split(len(tables))
    results = [table.test(alpha, shape=shape, rate=rate, **where) for where, table in tables]
    return verdict(
        results,
        f"mask values at offsets 1..{NEIGHBOUR_OFFSETS} along a non-shared axis are dependent",
    )


#: NO-PERIOD's stream: the masks of this many consecutive calls of this many values each,
#: laid end to end (2^21 values). The exact-repeat search reads all of it: a period up to
#: 2^20 − 4,158 within a call, or a stream the next call re-enters ahead of or behind the
#: first call's start, repeats a block of 4,158 values or more somewhere in it (longer
#: periods are the long call's, below). The first call's whole mask is read by one FFT:
#: its autocorrelation at every lag up to half the call (a dependence, positive or
#: negative, between values that far apart), and its mirror sums about every centre c in
#: [n/2, 3n/2) (values i and c − i; c = n − 1 is the mask against itself reversed).
NO_PERIOD_CALLS, NO_PERIOD_CALL = 2, 1 << 20
NO_PERIOD_VALUES = NO_PERIOD_CALLS * NO_PERIOD_CALL
#: NO-PERIOD's long call, in one dtype (:func:`long_period_dtype`): 2^24 values plus the
#: head and a window, so that every exact period P <= 2^24 within a call is found
#: (``reduce.head_repeats``: the call's values from P on equal those from 0), and so is a
#: call with the next seed (s + 1) whose head reappears in the long call up to 2^24 values
#: ahead (a seed used as an offset into one stream, with a stride up to 2^24).
NO_PERIOD_LONG = (1 << 24) + reduce.HEAD + reduce.WINDOW_BITS
#: NO-PERIOD's sub-tests in each dtype (the long call's in one of them): alpha's split.
NO_PERIOD_TESTS = 4


def long_period_dtype(ctx: Context) -> str:
    """The dtype NO-PERIOD makes its long call in: float32 where the target has it (the
    cheapest call of 2^24 values in most frameworks; a generator's period does not depend
    on the dtype it is rounded to), else its first dtype. One long call per run keeps the
    check within its budget."""
    return "float32" if "float32" in ctx.dtypes else ctx.dtypes[0]


def _no_period_sizes(ctx: Context) -> tuple[tuple[int, ...], int, int, int, int]:
    """NO-PERIOD's call shape, mask values per call, FFT lags, mirror centres [lo, hi) and
    the fewest pairs of a centre."""
    shape, n = mask_layout(ctx, NO_PERIOD_VALUES, shape=geometry(ctx).stat_shape(NO_PERIOD_CALL))
    lo, hi = n // 2, n + n // 2
    fewest = int(min(reduce.mirror_pairs(np.array([lo, hi - 1.0]), n, np)))
    return shape, n, n // 2, hi - lo, fewest


def _long_layout(ctx: Context) -> tuple[tuple[int, ...], int]:
    return mask_layout(ctx, NO_PERIOD_LONG, shape=geometry(ctx).stat_shape(NO_PERIOD_LONG))


def plan_no_period(ctx: Context) -> list[StatResult]:
    shape, n, lags, centres, fewest = _no_period_sizes(ctx)
    alpha = ctx.split(NO_PERIOD_TESTS)
    out = [
        st_.no_period_peak(1, 0.5, n, lags, alpha=alpha, power=ctx.power, shape=shape),
        st_.agreement_peak(
            MIRROR_TEST, 0.0, fewest, centres, fewest, alpha=alpha, power=ctx.power, shape=shape
        ),
        st_.repeated_windows(
            0,
            n * NO_PERIOD_CALLS,
            alpha=alpha,
            power=ctx.power,
            calls=f"{NO_PERIOD_CALLS} of {shape}",
        ),
    ]
    if ctx.stat_dtype == long_period_dtype(ctx):
        long_shape, size = _long_layout(ctx)
        out.append(
            st_.repeated_heads(0, 2, size, alpha=alpha, power=ctx.power, calls=f"{long_shape}")
        )
    return out


#: The test of NO-PERIOD's mirror sums.
MIRROR_TEST = "FFT mirror sums, Hoeffding bound over centres"


@planned(plan_no_period)
@every_dtype
def check_no_period(ctx: Context) -> StatResult:
    shape, n, lags, centres, fewest = _no_period_sizes(ctx)
    masks = list(
        itertools.islice(unit_masks(ctx, 0.5, NO_PERIOD_VALUES, shape=shape), NO_PERIOD_CALLS)
    )
    xp = reduce.namespace(masks[0])
    stream = xp.concat([xp.reshape(m, (-1,)) for m in masks])
    alpha = ctx.split(NO_PERIOD_TESTS)
    lag, agreement, centre, mirror = ctx.host(
        reduce.period_peaks(masks[0], lags=lags, lo=n // 2, hi=n + n // 2)
    )
    within = st_.no_period_peak(
        int(lag), float(agreement), n, lags, alpha=alpha, power=ctx.power, shape=shape
    )
    pairs = int(reduce.mirror_pairs(np.array([float(centre)]), n, np)[0])
    mirrored = st_.agreement_peak(
        MIRROR_TEST,
        float(mirror),
        pairs,
        centres,
        fewest,
        alpha=alpha,
        power=ctx.power,
        shape=shape,
        worst_centre=int(centre),
    )
    (matches,) = ctx.host(reduce.window_repeats(stream))
    size = math.prod(stream.shape)
    repeats = st_.repeated_windows(
        int(matches), size, alpha=alpha, power=ctx.power, calls=f"{len(masks)} of {shape}"
    )
    results = [within, mirrored, repeats]
    if ctx.stat_dtype == long_period_dtype(ctx):
        results.append(_long_period(ctx, alpha))
    return verdict(
        results,
        "the mask repeats, mirrors or anti-copies itself, within a call or across calls",
    )


def _long_period(ctx: Context, alpha: float) -> StatResult:
    """NO-PERIOD's long call with seed s and the head of a call with seed s + 1 (a short
    call: only its head is read), searched for an exact period or offset up to 2^24
    (:func:`reduce.head_repeats`)."""
    g = geometry(ctx)
    long_shape, size = _long_layout(ctx)
    width = reduce.HEAD + reduce.WINDOW_BITS
    seed = ctx.seed()
    heads, stream = [], None
    for s, shape in ((seed, long_shape), ((seed + 1) % (1 << ctx.target.seed_bits), None)):
        shape = shape or g.stat_shape(width)
        y = ctx.call_device(ctx.constant(shape, ctx.stat_dtype), rate=0.5, seed=s)
        same_shape(y, shape)
        xp = reduce.namespace(y)
        flat = xp.reshape(keep_mask(ctx, y, 0.5, g.shared_of(len(shape))), (-1,))
        stream = flat if stream is None else stream
        heads.append(flat[:width])
        del y
    xp = reduce.namespace(stream)
    (matches,) = ctx.host(reduce.head_repeats(stream, xp.stack(heads)))
    return st_.repeated_heads(
        int(matches),
        2,
        size,
        alpha=alpha,
        power=ctx.power,
        calls=f"{long_shape}",
        seeds=(seed, "s + 1"),
    )


# ---------------------------------------------------------------- structure ----


def check_shared_constant(ctx: Context) -> None:
    def body(case: Case) -> None:
        x = np.ones(case.shape, dtype=as_dtype(case.dtype))
        y = ctx.call(x, rate=case.rate, seed=case.seed)
        if y.shape != x.shape:
            raise CheckFailure(f"output shape {y.shape} differs from {x.shape}")
        keep = keep_mask(ctx, y, case.rate, ())
        shared = geometry(ctx).shared_of(len(case.shape))
        if not shared:
            return
        if not np.array_equal(keep.all(axis=shared), keep.any(axis=shared)):
            raise CheckFailure(f"the mask varies along shared axes {shared} ({case.describe()})")

    examples(ctx, lambda d: unit_cases(ctx, d, gen.rates(0.2, 0.8), 2), body)


def nan_inf_input(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    special = rng.random(x.shape)
    out = x.copy()
    out[special < 0.3] = np.nan
    out[(special >= 0.3) & (special < 0.5)] = np.inf
    out[(special >= 0.5) & (special < 0.6)] = -np.inf
    return out


def dropped_nonfinite(ctx: Context, select: bool) -> None:
    """*-DROPPED-SELECT (``select``): dropped outputs are exactly 0 whatever x; else
    *-DROPPED-MULTIPLY: they are x·0."""

    def body(case: Case) -> None:
        ones = np.ones(case.shape, dtype=as_dtype(case.dtype))
        keep = ctx.call(ones, rate=case.rate, seed=case.seed) != 0
        (given,) = case.inputs()
        x = nan_inf_input(given, case.data_seed)
        y = ctx.call(x, rate=case.rate, seed=case.seed).astype(np.float64)
        xd = x.astype(np.float64)
        finite = np.isfinite(xd)
        if select:
            bad = ~keep & (y != 0)
            what = "a dropped slot is not exactly 0"
        else:
            bad = ~keep & ((finite & (y != 0)) | (~finite & ~np.isnan(y)))
            what = "a dropped slot is not x·0"
        kept_bad = keep & ~finite & ~((np.isnan(xd) & np.isnan(y)) | (y == xd))
        bad |= kept_bad
        if bad.any():
            idx = first_index(bad)
            raise CheckFailure(
                f"{what if not kept_bad[idx] else 'a kept NaN/inf changed'}: "
                f"x={xd[idx]!r} gave y={y[idx]!r} at {idx} ({case.describe()})"
            )

    examples(ctx, lambda d: unit_cases(ctx, d, gen.rates(0.2, 0.8), 2), body)


def check_dropped_select(ctx: Context) -> None:
    dropped_nonfinite(ctx, select=True)


def check_dropped_multiply(ctx: Context) -> None:
    dropped_nonfinite(ctx, select=False)
