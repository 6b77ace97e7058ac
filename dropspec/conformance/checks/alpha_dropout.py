"""The checks of alpha dropout's clauses (:mod:`dropspec.spec.alpha_dropout`), one per clause
id: its values a·x + b or a·α′ + b and its moments are checked here, the rest as for dropout
(its masks are read from the dropped value a·α′ + b, see ``_masks.keep_mask``)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ...dtypes import as_dtype, eps
from ...reference import ALPHA_PRIME, alpha_constants
from ...reference.expectations import alpha_group_variances, alpha_rounding_slack
from .. import stats as st_
from .. import strategies as gen
from ..context import CheckFailure, Context, chunk_elements, register
from ..stats import StatResult
from . import common, layouts, masked, relations, stateful
from ._examples import Case, examples, first_index, same_shape, unit_cases
from ._geometry import geometry
from ._statistical import every_dtype, planned, sums_of_values_and_squares, verdict


def check_alpha_values(ctx: Context) -> None:
    def body(case: Case) -> None:
        x = gen.values(case.data_seed, case.shape, case.dtype, low=0.0, high=1.0)
        y = ctx.call(x, rate=case.rate, seed=case.seed).astype(np.float64)
        a, b = alpha_constants(case.rate)
        kept = a * x.astype(np.float64) + b
        dropped = a * ALPHA_PRIME + b
        tol = (
            4.0
            * eps(case.dtype)
            * (np.abs(a * x.astype(np.float64)) + abs(b) + abs(a * ALPHA_PRIME))
            + 1e-12
        )
        ok = (np.abs(y - kept) <= tol) | (np.abs(y - dropped) <= tol)
        if y.shape != x.shape or not ok.all():
            idx = first_index(~ok) if y.shape == x.shape else ()
            raise CheckFailure(
                f"output {y[idx] if idx else y.shape!r} is neither a·x + b = "
                f"{kept[idx] if idx else ''!r} nor a·α′ + b = {dropped!r} "
                f"({case.describe()})"
            )

    examples(ctx, lambda d: unit_cases(ctx, d, gen.rates(0.001, 0.99)), body)


#: The rates ALPHA-MEAN and ALPHA-VARIANCE test, and the input values at each.
MOMENT_RATES = (0.05, 0.2, 0.5)
MOMENT_VALUES = 1 << 20


def alpha_layout(ctx: Context, n: int) -> tuple[tuple[int, ...], int, int]:
    """The input shape of :func:`alpha_group_sums`' calls for n values, the values per mask
    group (the shared axes' product) and the mask groups it sums over in all (whole calls)."""
    shape = geometry(ctx).stat_shape(chunk_elements(n))
    g = math.prod(shape[a] for a in geometry(ctx).shared_of(len(shape)))
    size = math.prod(shape)
    return shape, g, -(-n // size) * (size // g)


def alpha_group_sums(ctx: Context, rate: float, n: int) -> tuple[float, float, int, int]:
    """Σy and Σ(y² − 1) over n standard-normal inputs, and the number of mask groups."""
    total = total_sq = 0.0
    count = groups_seen = 0
    shape, g, _ = alpha_layout(ctx, n)
    while count < n:
        x = ctx.rng.standard_normal(shape).astype(as_dtype(ctx.stat_dtype))
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        sums = ctx.host(sums_of_values_and_squares(y, shift=1.0))
        total += float(sums[0])
        total_sq += float(sums[1])
        count += x.size
        groups_seen += x.size // g
    return total, total_sq, groups_seen, g


def alpha_moment_test(
    ctx: Context, rate: float, alpha: float, stat: float, groups: int, g: int, mean_clause: bool
) -> StatResult:
    """The z-test of ALPHA-MEAN (``mean_clause``: ``stat`` is Σy) or ALPHA-VARIANCE (Σ(y² −
    1)) over ``groups`` mask groups of g values, its null widened by the rounding slack of
    the dtype being checked."""
    var_sum, var_sq = alpha_group_variances(rate, g)
    slack_mean, slack_second = alpha_rounding_slack(rate, ctx.stat_dtype)
    values = groups * g
    # Σy against E[y] = 0 for the mean, Σ(y² − 1) against 0 for the variance.
    var, slack = (var_sum, slack_mean) if mean_clause else (var_sq, slack_second)
    expected: dict[str, Any] = {"expected_mean": 0.0} if mean_clause else {"expected_variance": 1.0}
    return st_.z_mean(
        stat,
        0.0,
        var * groups,
        groups,
        alpha=alpha,
        power=ctx.power,
        slack=slack * values,
        rate=rate,
        **expected,
    )


def plan_alpha_moments(ctx: Context, mean_clause: bool) -> list[StatResult]:
    """:func:`alpha_moments`' sub-tests, sized as it sizes them."""
    alpha = ctx.split(len(MOMENT_RATES))
    _, g, groups = alpha_layout(ctx, MOMENT_VALUES)
    return [
        alpha_moment_test(ctx, rate, alpha, 0.0, groups, g, mean_clause) for rate in MOMENT_RATES
    ]


def alpha_moments(ctx: Context, mean_clause: bool) -> StatResult:
    """ALPHA-MEAN (``mean_clause``) or ALPHA-VARIANCE, in the dtype being checked."""
    alpha = ctx.split(len(MOMENT_RATES))
    results = []
    for rate in MOMENT_RATES:
        total, total_sq, groups, g = alpha_group_sums(ctx, rate, MOMENT_VALUES)
        stat = total if mean_clause else total_sq
        results.append(alpha_moment_test(ctx, rate, alpha, stat, groups, g, mean_clause))
    return verdict(
        results,
        "alpha dropout does not keep mean 0"
        if mean_clause
        else "alpha dropout does not keep variance 1",
    )


@planned(functools.partial(plan_alpha_moments, mean_clause=True))
@every_dtype
def check_alpha_mean(ctx: Context) -> StatResult:
    return alpha_moments(ctx, mean_clause=True)


@planned(functools.partial(plan_alpha_moments, mean_clause=False))
@every_dtype
def check_alpha_variance(ctx: Context) -> StatResult:
    return alpha_moments(ctx, mean_clause=False)


register(
    "alpha_dropout",
    {
        "ALPHA-SHAPE": common.check_shape,
        "ALPHA-DTYPE": common.check_dtype,
        "ALPHA-DETERMINISTIC": common.check_deterministic,
        "ALPHA-INDEPENDENT-SEEDS": common.check_independent_seeds,
        "ALPHA-RATE-INVALID": common.check_rate_invalid,
        "ALPHA-INFERENCE-IDENTITY": common.check_inference_identity,
        "ALPHA-VALUES": check_alpha_values,
        "ALPHA-RATE": masked.check_rate,
        "ALPHA-MEAN": check_alpha_mean,
        "ALPHA-VARIANCE": check_alpha_variance,
        "ALPHA-INDEPENDENT-AXES": masked.check_independent_axes,
        "ALPHA-SHARED-CONSTANT": masked.check_shared_constant,
        "ALPHA-RATE-ZERO": common.check_rate_zero,
        "ALPHA-GRADIENT": common.check_gradient,
        "ALPHA-RATE-ONE-ZEROS": masked.check_rate_one_zeros,
        "ALPHA-RATE-ONE-ERROR": common.check_rate_one_error,
        "ALPHA-MASK-VALUE-FREE": relations.check_value_free,
        "ALPHA-FRESH-OUTPUT": relations.check_fresh_output,
        "ALPHA-RATE-INVALID-INFERENCE": relations.check_rate_invalid_inference,
        "ALPHA-SEED-PROCESS": relations.check_seed_process,
        "ALPHA-SEED-SPACE": relations.check_seed_space,
        "ALPHA-SEED-PAIRS": relations.check_seed_pairs,
        "ALPHA-LAYOUT": layouts.check_layout_invariant,
        "ALPHA-STATE-CALLS": stateful.check_state_calls,
        "ALPHA-STATE-REPRODUCIBLE": stateful.check_state_reproducible,
        "ALPHA-STATE-INFERENCE": stateful.check_state_inference,
        "ALPHA-STATE-GRADIENT": stateful.check_state_gradient,
        "ALPHA-STATE-STREAMS": stateful.check_state_streams,
    },
    mask="alpha",
    inputs="units",
)
