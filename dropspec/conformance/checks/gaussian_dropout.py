"""The checks of Gaussian dropout's clauses (:mod:`dropspec.spec.gaussian_dropout`), one per
clause id: the law of its noise y/x is checked here; independence, as for dropout, on where
the noise lies above 1 (see ``_masks.keep_mask``)."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal

import ml_dtypes

from ...dtypes import as_dtype
from ...reference import gaussian_std
from .. import reduce
from .. import stats as st_
from ..context import Context, chunk_elements, register
from ..reduce import Array
from ..stats import StatResult
from . import _strata as strata
from . import common, layouts, masked, relations, stateful
from ._examples import WIDE, same_shape
from ._geometry import geometry
from ._statistical import (
    NEIGHBOUR_OFFSETS,
    every_dtype,
    neighbour_sizes,
    neighbour_tables,
    plan_tables,
    planned,
    sums_of_values_and_squares,
    verdict,
)


def noise_layout(ctx: Context, n: int) -> tuple[tuple[int, ...], int]:
    """The shape of :func:`gaussian_noise`'s calls for n values, and its values in all."""
    shape = geometry(ctx).stat_shape(chunk_elements(n))
    per_call = math.prod(shape)
    return shape, per_call * -(-n // per_call)


def gaussian_noise(ctx: Context, rate: float, n: int) -> Array:
    """At least n values of y/x (x = 1) as one flat float64 array where the outputs live."""
    shape, _ = noise_layout(ctx, n)
    x = ctx.constant(shape, ctx.stat_dtype)
    parts = []
    got = 0
    while got < n:
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        xp = reduce.namespace(y)
        parts.append(xp.reshape(xp.astype(y, xp.float64), (-1,)))
        got += x.size
    return parts[0] if len(parts) == 1 else xp.concat(parts)


Statistic = Literal["mean", "variance", "distribution"]


def _gaussian_sizes(ctx: Context, statistic: Statistic) -> tuple[tuple[float, ...], float]:
    """The rates, and each rate's share of alpha: the mean and the variance give one share
    more to their strata (``_strata.noise_strata``)."""
    rates = (0.1, 0.5, 0.8)
    return rates, ctx.split(len(rates) + (statistic != "distribution"))


def plan_gaussian(ctx: Context, statistic: Statistic) -> list[StatResult]:
    """The sub-tests :func:`gaussian_law` runs for ``statistic``, unrun."""
    rates, alpha = _gaussian_sizes(ctx, statistic)
    _, size = noise_layout(ctx, 1 << 20)
    out = []
    for rate in rates:
        if statistic == "distribution":
            res = st_.ks_normal_distance(0.0, size, alpha=alpha, power=ctx.power, rate=rate)
        elif statistic == "mean":
            res = st_.z_mean(0.0, 0.0, float(size), size, alpha=alpha, power=ctx.power, rate=rate)
        else:
            res = st_.chi2_variance(float(size), size, alpha=alpha, power=ctx.power, rate=rate)
        out.append(res)
    if statistic != "distribution":
        out += strata.plan_noise_strata(ctx, alpha, variance=statistic == "variance")
    return out


def gaussian_law(ctx: Context, statistic: Statistic) -> StatResult:
    """GAUSSIAN-MEAN, -VARIANCE or -DISTRIBUTION (``statistic``), in the dtype being checked:
    on 2^20 values at each rate, and (the mean and the variance) within every stratum of
    size class, rank and position of ``_strata`` (one share of alpha for all of them)."""
    rates, alpha = _gaussian_sizes(ctx, statistic)
    results = []
    if statistic != "distribution":
        results += strata.noise_strata(ctx, alpha, variance=statistic == "variance")
    for rate in rates:
        sigma = gaussian_std(rate)
        noise = gaussian_noise(ctx, rate, 1 << 20)
        size = math.prod(noise.shape)
        if statistic == "distribution":
            # Against the law of y/x rounded to the dtype (x = 1), which the half types
            # resolve coarsely enough for Kolmogorov-Smirnov to see.
            info = ml_dtypes.finfo(as_dtype(ctx.stat_dtype))  # type: ignore[no-untyped-call]
            form = {"mantissa": int(info.nmant), "min_exponent": int(info.minexp)}
            center = 1.0  # the noise's mean: y/x with x = 1
            if ctx.stat_dtype in WIDE:
                # Their rounding moves the law's CDF by 1e-7 at most (float32): the distance
                # to the unrounded law, less that bound, is at most the distance to the
                # rounded one (conservative), at half the cost of computing that.
                slack = reduce.rounding_shift(center, sigma, **form)
                z = (noise - center) / sigma
                distance = max(0.0, float(ctx.host(reduce.ks_distance(z))) - slack)
            else:
                rounded = reduce.ks_distance_rounded(noise, center, sigma, **form)
                distance = float(ctx.host(rounded))
            res = st_.ks_normal_distance(
                distance, size, alpha=alpha, power=ctx.power, rate=rate, std=sigma
            )
            results.append(dataclasses.replace(res, uniform=ctx.stat_dtype in WIDE))
            continue
        # z = (y/x − 1) / σ: Σz for the mean, Σz² for the variance
        total, total_sq = ctx.host(sums_of_values_and_squares(noise, 0.0, 1.0, sigma))
        if statistic == "mean":
            results.append(
                st_.z_mean(
                    float(total),
                    0.0,
                    float(size),
                    size,
                    alpha=alpha,
                    power=ctx.power,
                    rate=rate,
                    std=sigma,
                )
            )
        else:
            results.append(
                st_.chi2_variance(
                    float(total_sq), size, alpha=alpha, power=ctx.power, rate=rate, std=sigma
                )
            )
    return verdict(
        results,
        f"the noise y/x is not N(1, rate/(1 − rate)) ({statistic})",
    )


@planned(functools.partial(plan_gaussian, statistic="mean"))
@every_dtype
def check_gaussian_mean(ctx: Context) -> StatResult:
    return gaussian_law(ctx, "mean")


@planned(functools.partial(plan_gaussian, statistic="variance"))
@every_dtype
def check_gaussian_variance(ctx: Context) -> StatResult:
    return gaussian_law(ctx, "variance")


@planned(functools.partial(plan_gaussian, statistic="distribution"))
@every_dtype
def check_gaussian_distribution(ctx: Context) -> StatResult:
    return gaussian_law(ctx, "distribution")


def plan_gaussian_independence(ctx: Context) -> list[StatResult]:
    _, size = noise_layout(ctx, 1 << 20)
    return plan_tables(ctx, neighbour_sizes((size,), 1, [None]), pairs="noise above 1")


@planned(plan_gaussian_independence)
@every_dtype
def check_gaussian_independence(ctx: Context) -> StatResult:
    tables = neighbour_tables(ctx, [gaussian_noise(ctx, 0.5, 1 << 20) > 1.0], [None])
    alpha = ctx.split(len(tables))
    results = [table.test(alpha, pairs="noise above 1", **where) for where, table in tables]
    return verdict(
        results, f"noise values at offsets 1..{NEIGHBOUR_OFFSETS} in memory order are dependent"
    )


register(
    "gaussian_dropout",
    {
        "GAUSSIAN-SHAPE": common.check_shape,
        "GAUSSIAN-DTYPE": common.check_dtype,
        "GAUSSIAN-DETERMINISTIC": common.check_deterministic,
        "GAUSSIAN-INDEPENDENT-SEEDS": common.check_independent_seeds,
        "GAUSSIAN-RATE-INVALID": common.check_rate_invalid,
        "GAUSSIAN-INFERENCE-IDENTITY": common.check_inference_identity,
        "GAUSSIAN-MEAN": check_gaussian_mean,
        "GAUSSIAN-VARIANCE": check_gaussian_variance,
        "GAUSSIAN-DISTRIBUTION": check_gaussian_distribution,
        "GAUSSIAN-INDEPENDENT-ELEMENTS": check_gaussian_independence,
        "GAUSSIAN-INDEPENDENT-AXES": masked.check_independent_axes,
        "GAUSSIAN-INDEPENDENT-CALLS": masked.check_independent_calls,
        "GAUSSIAN-NO-PERIOD": masked.check_no_period,
        "GAUSSIAN-RATE-ZERO": common.check_rate_zero,
        "GAUSSIAN-RATE-ONE": common.check_rate_one_error,
        "GAUSSIAN-GRADIENT": common.check_gradient,
        "GAUSSIAN-NOISE-VALUE-FREE": relations.check_value_free,
        "GAUSSIAN-FRESH-OUTPUT": relations.check_fresh_output,
        "GAUSSIAN-RATE-INVALID-INFERENCE": relations.check_rate_invalid_inference,
        "GAUSSIAN-SEED-PROCESS": relations.check_seed_process,
        "GAUSSIAN-SEED-SPACE": relations.check_seed_space,
        "GAUSSIAN-SEED-PAIRS": relations.check_seed_pairs,
        "GAUSSIAN-LAYOUT": layouts.check_layout_invariant,
        "GAUSSIAN-STATE-CALLS": stateful.check_state_calls,
        "GAUSSIAN-STATE-REPRODUCIBLE": stateful.check_state_reproducible,
        "GAUSSIAN-STATE-INFERENCE": stateful.check_state_inference,
        "GAUSSIAN-STATE-GRADIENT": stateful.check_state_gradient,
        "GAUSSIAN-STATE-STREAMS": stateful.check_state_streams,
    },
    mask="noise",
    inputs="units",
)
