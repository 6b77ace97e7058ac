"""Where the statistical checks look: every dtype, rates across (0, 1) (issue 10)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from scipy import stats

from dropspec.conformance import checks, reduce
from dropspec.conformance.engine import registry
from dropspec.reference.expectations import kept_multipliers
from dropspec.spec import CLAUSES, Kind


def test_every_statistical_clause_runs_in_every_dtype() -> None:
    checks_by_clause = registry()
    for cid, clause in CLAUSES.items():
        marked = getattr(checks_by_clause[cid], "dtypes", None)
        if clause.kind == Kind.STATISTICAL:
            assert marked in ("every", "wide"), cid
        else:
            assert marked is None, cid
    wide = sorted(c for c in CLAUSES if getattr(checks_by_clause[c], "dtypes", None) == "wide")
    # float32 and float64 only: a half type's rounding of the outputs is comparable to the
    # deviations these tests resolve (see each check's docstring)
    assert wide == [
        "ATTN-VARIANCE",
        "DROPCONNECT-INFERENCE-MM-MEAN",
        "DROPCONNECT-INFERENCE-MM-SPREAD",
        "DROPCONNECT-UNBIASED",
    ]


def test_kept_multiplier_is_the_scale_rounded_to_the_dtype() -> None:
    assert kept_multipliers(0.1) == (1.0 / 0.9,)
    assert 1.109375 in kept_multipliers(0.1, dtype="bfloat16")
    assert kept_multipliers(0.5, dtype="float16") == (2.0,)
    assert kept_multipliers(0.3, scaling="classic", dtype="bfloat16") == (1.0,)
    for dtype in ("float16", "bfloat16", "float32"):
        found = kept_multipliers(0.37, dtype=dtype)
        assert max(found) - min(found) <= 2.0 * float(ml_dtypes.finfo(dtype).eps)


def test_drawn_rates_cover_every_band_and_differ_between_runs() -> None:
    class Ctx:
        check_seed = 0

    seen = []
    for seed in range(50):
        Ctx.check_seed = seed
        rates = checks.drawn_rates(Ctx)  # type: ignore[arg-type]
        assert rates[: len(checks.ANCHOR_RATES)] == checks.ANCHOR_RATES
        drawn = rates[len(checks.ANCHOR_RATES) :]
        for (low, high), rate in zip(checks.RATE_BANDS, drawn, strict=True):
            assert low <= rate <= high
        seen.append(drawn)
    assert len(set(seen)) == 50


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("sigma", [1.0 / 3.0, 1.0, 2.0])
def test_rounding_shift_bounds_the_gap_between_the_two_ks_distances(
    dtype: str, sigma: float
) -> None:
    """GAUSSIAN-DISTRIBUTION in float32/float64 tests the distance to the unrounded law
    less reduce.rounding_shift: that must never exceed the distance to the rounded law."""
    rng = np.random.default_rng(11)
    info = ml_dtypes.finfo(dtype)
    shift = reduce.rounding_shift(
        1.0, sigma, mantissa=int(info.nmant), min_exponent=int(info.minexp)
    )
    if dtype != "bfloat16":
        assert shift < 2e-7
    for n in (50, 5000):
        v = (1.0 + sigma * rng.standard_normal(n)).astype(info.dtype).astype(np.float64)
        exact = float(
            reduce.ks_distance_rounded(
                v, 1.0, sigma, mantissa=int(info.nmant), min_exponent=int(info.minexp)
            )
        )
        # ks_distance standardises: the samples' z-scores against N(0, 1).
        unrounded = float(reduce.ks_distance((v - 1.0) / sigma))
        assert abs(unrounded - exact) <= shift + 1e-12, (unrounded, exact, shift)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_rounded_ks_distance_is_the_distance_to_the_rounded_law(dtype: str) -> None:
    rng = np.random.default_rng(3)
    sigma = 0.5
    v = (1.0 + sigma * rng.standard_normal(4000)).astype(ml_dtypes.finfo(dtype).dtype)
    info = ml_dtypes.finfo(dtype)
    got = float(
        reduce.ks_distance_rounded(
            v.astype(np.float64),
            1.0,
            sigma,
            mantissa=int(info.nmant),
            min_exponent=int(info.minexp),
        )
    )
    # Brute force: the rounded law's CDF on a fine grid of representable values.
    values = np.unique(v.astype(np.float64))
    spacing = np.spacing(values.astype(v.dtype)).astype(np.float64)
    below = np.spacing(-values.astype(v.dtype)).astype(np.float64)  # towards zero for >0
    upper = stats.norm.cdf((values + spacing / 2 - 1.0) / sigma)
    lower = stats.norm.cdf((values - np.abs(below) / 2 - 1.0) / sigma)
    sorted_v = np.sort(v.astype(np.float64))
    f_upper = np.searchsorted(sorted_v, values, side="right") / v.size
    f_lower = np.searchsorted(sorted_v, values, side="left") / v.size
    want = max(np.max(f_upper - upper), np.max(lower - f_lower))
    assert abs(got - want) <= 2 * reduce.NORMAL_CDF_ERROR
