"""Checks of what every op promises (or every op on units): shapes, dtypes, seeds, the rates
a call must refuse, inference and rate 0 as the identity, the gradient.

Each op's module registers these for its own clause ids.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...dtypes import as_dtype, dtype_name
from .. import reduce
from .. import stats as st_
from .. import strategies as gen
from ..context import CheckFailure, Context, NotApplicable, check_seed
from ..reduce import Array
from ..stats import StatResult
from ._examples import (
    WIDE,
    Case,
    LayerCase,
    case_text,
    cases,
    close,
    examples,
    first_mismatch,
    need_vjp,
    require_same,
    same_shape,
    unit_cases,
)
from ._geometry import geometry
from ._masks import (
    decoded_layout,
    decoded_masks,
    keep_mask,
    mask_layout,
    multipliers,
    signed_input,
)
from ._statistical import declaration_hint, every_dtype, planned, verdict


def check_shape(ctx: Context) -> None:
    def body(case: Case | LayerCase) -> None:
        arrays = case.inputs()
        for training in (True, False):
            out = ctx.call(*arrays, rate=case.rate, training=training, seed=case.seed)
            want = case.expected_shape()
            if out.shape != want:
                raise CheckFailure(
                    f"training={training}: output shape {out.shape}, expected "
                    f"{want} ({case.describe()})"
                )

    examples(ctx, lambda d: cases(ctx, d), body)


def check_dtype(ctx: Context) -> None:
    def body(case: Case | LayerCase) -> None:
        arrays = case.inputs()
        for training in (True, False):
            out = ctx.call(*arrays, rate=case.rate, training=training, seed=case.seed)
            if dtype_name(out.dtype) != case.dtype:
                raise CheckFailure(
                    f"training={training}: output dtype {dtype_name(out.dtype)}"
                    f", expected {case.dtype} ({case.describe()})"
                )

    examples(ctx, lambda d: cases(ctx, d), body)


def check_deterministic(ctx: Context) -> None:
    def body(case: Case | LayerCase) -> None:
        arrays = case.inputs()
        first = ctx.call(*arrays, rate=case.rate, seed=case.seed)
        second = ctx.call(*arrays, rate=case.rate, seed=case.seed)
        require_same(
            "same seed",
            second,
            first,
            f"two calls with seed {case.seed} differ ({case.describe()})",
        )

    examples(ctx, lambda d: cases(ctx, d), body)
    for arrays, rate, what in large_cases(ctx):
        seed = ctx.seed()
        first = ctx.call_device(*arrays, rate=rate, seed=seed)
        second = ctx.call_device(*arrays, rate=rate, seed=seed)
        differ = int(ctx.host(reduce.mismatches(first, second)))
        if differ:
            raise CheckFailure(
                f"same seed: two calls with seed {seed} differ in {differ} of "
                f"{math.prod(first.shape)} values ({what}, rate={rate!r})"
            )


#: Elements of the large input each exact check of the size regimes adds to its examples
#: (hypothesis' shapes stay small): large-tensor code paths are checked as well.
LARGE_ELEMENTS = 1 << 20


def large_cases(ctx: Context) -> Iterator[tuple[tuple[np.ndarray, ...], float, str]]:
    """(inputs, rate, description) of about :data:`LARGE_ELEMENTS` values, one per dtype.

    Unit ops get :func:`signed_input` in the statistical shape (no zeros, exact in every
    dtype); DropConnect a layer with a (1024, 1024) weight. Outputs are compared where
    they live (:mod:`.reduce`); only counts reach NumPy.
    """
    g = geometry(ctx)
    for dtype in ctx.dtypes:
        ctx.dtype = dtype
        try:
            rate = round(float(ctx.rng.uniform(0.05, 0.95)), 6)
            if g.layer:
                d = as_dtype(dtype)
                arrays: tuple[np.ndarray, ...] = (
                    ctx.rng.uniform(-1, 1, (2, 1024)).astype(d),
                    ctx.rng.uniform(-1, 1, (1024, 1024)).astype(d),
                    ctx.rng.uniform(-1, 1, 1024).astype(d),
                )
                yield arrays, rate, f"dtype={dtype}, x (2, 1024), weight (1024, 1024)"
            else:
                x, _ = signed_input(ctx, g.stat_shape(LARGE_ELEMENTS))
                yield (x,), rate, f"dtype={dtype}, shape={x.shape}"
        finally:
            ctx.dtype = None


def small_inputs(ctx: Context) -> tuple[np.ndarray, ...]:
    """A small valid input for the target's op, for checks that only need the call to run."""
    g = geometry(ctx)
    if g.layer:
        return LayerCase(ctx.stat_dtype, (3, 4, 5), 0.5, 7, 0).inputs()
    return (np.ones((3,) * max(g.min_rank, 2), as_dtype(ctx.stat_dtype)),)


def check_rate_invalid(ctx: Context) -> None:
    arrays = small_inputs(ctx)
    accepted = []
    for rate in (-0.1, 1.5, float("nan"), -1e-12, 1.0 + 1e-9):
        try:
            ctx.call_raw(*arrays, rate=rate, seed=ctx.seed())
        except Exception:
            continue
        accepted.append(rate)
    if accepted:
        raise CheckFailure(f"rates {accepted} were accepted without an error")


def check_rate_one_error(ctx: Context) -> None:
    try:
        out = ctx.call_raw(*small_inputs(ctx), rate=1.0, seed=ctx.seed())
    except Exception:
        return
    raise CheckFailure(f"rate 1 was accepted in training (returned {type(out).__name__})")


# ---------------------------------------------------------------- seeds ----


def seed_partners(ctx: Context, seed: int) -> list[tuple[int, str]]:
    """The seeds INDEPENDENT-SEEDS pairs with ``seed`` in the dtype being checked: seed + 1,
    and ``seed`` with one bit flipped for this dtype's share of the declared seed bits.

    The bits are dealt out over the dtypes checked (bit b goes to dtype (b + r) mod k, r
    drawn from the run's base seed), so one run flips every bit of the declared width in
    some dtype and every dtype sees bits across the whole width; across runs every bit
    meets every dtype. Consecutive seeds are tested in every dtype."""
    bits = ctx.target.seed_bits
    top = (1 << bits) - 1
    dtypes = ctx.dtypes
    k = len(dtypes)
    index = dtypes.index(ctx.stat_dtype) if ctx.stat_dtype in dtypes else 0
    turn = check_seed(ctx.config.seed, "INDEPENDENT-SEEDS", "bits") % k
    flipped = [(seed ^ (1 << b), f"bit {b}") for b in range(bits) if (b + turn) % k == index]
    return [((seed + 1) & top, "s + 1"), *flipped]


#: Values of the mask :func:`seed_mask` reads from one call (about; see there).
SEED_MASK_VALUES = 1 << 15
#: The test of one pair of seeds' masks (:func:`seed_pair_test`).
SEEDS_TEST = "FFT cross-correlation of two seeds' masks, Azuma bound over shifts"


def seed_sizes(ctx: Context, seed: int) -> tuple[list[tuple[int, str]], float, int]:
    """INDEPENDENT-SEEDS' partners of ``seed`` (:func:`seed_partners`), each pair's share of
    alpha, and the values of each seed's mask (:func:`seed_mask`)."""
    partners = seed_partners(ctx, seed)
    return partners, ctx.split(len(partners)), seed_mask_size(ctx)


def seed_pair_test(
    lag: int, agreement: float, n: int, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """The cross-correlation test of one pair of seeds' masks of n values, from the least
    likely shift of :func:`reduce.cross_correlation_peaks` (shifts −n/2..n/2)."""
    res = st_.no_period_peak(
        lag, agreement, n, 2 * (n // 2) + 1, alpha=alpha, power=power, max_lag=n // 2, **inputs
    )
    return dataclasses.replace(res, test=SEEDS_TEST)


def plan_independent_seeds(ctx: Context) -> list[StatResult]:
    """:func:`check_independent_seeds`' sub-tests, sized as it sizes them (its seed is drawn
    as it draws it: the partners' labels do not depend on it)."""
    seed = ctx.seed()
    partners, alpha, n = seed_sizes(ctx, seed)
    return [
        seed_pair_test(0, 0.0, n, alpha, ctx.power, seeds=(seed, other), pair=pair, rate=0.5)
        for other, pair in partners
    ]


@planned(plan_independent_seeds)
@every_dtype
def check_independent_seeds(ctx: Context) -> StatResult:
    """Seeds as streams: s against s + 1 and against s with single bits flipped (see
    :func:`seed_partners`), each pair tested for agreement at every shift (so a seed used
    as an offset into one stream, whose masks are shifted copies, fails as well as one
    whose masks coincide)."""
    seed = ctx.seed()
    partners, alpha, n = seed_sizes(ctx, seed)
    others = [other for other, _ in partners]
    first = seed_mask(ctx, seed)
    xp = reduce.namespace(first)
    found = ctx.host(
        reduce.cross_correlation_peaks(
            first, xp.stack([seed_mask(ctx, other) for other in others]), lags=n // 2
        )
    )
    results = [
        seed_pair_test(
            int(lag),
            float(agreement),
            n,
            alpha,
            ctx.power,
            seeds=(seed, other),
            pair=pair,
            rate=0.5,
        )
        for (other, pair), lag, agreement in zip(
            partners, found[: len(others)], found[len(others) :], strict=True
        )
    ]
    return verdict(
        results,
        "masks of neighbouring seeds (s + 1, or one bit apart) are "
        "dependent or shifted copies of each other",
    )


def seed_mask_size(ctx: Context) -> int:
    """The values of :func:`seed_mask`'s mask: one call's mask values (a layer's weight
    bits; a unit op's groups, shared axes compacted)."""
    g = geometry(ctx)
    if g.layer:
        batch, n_out, n_in, _ = decoded_layout(ctx, SEED_MASK_VALUES)
        return batch * n_out * n_in
    return mask_layout(ctx, SEED_MASK_VALUES, shape=g.stat_shape(SEED_MASK_VALUES))[1]


def seed_mask(ctx: Context, seed: int) -> Array:
    """A mask of about 2^15 values from one call with ``seed`` (rate 0.5; for Gaussian
    dropout, whether the noise is above 1)."""
    n = SEED_MASK_VALUES
    g = geometry(ctx)
    if g.layer:
        return next(decoded_masks(ctx, 0.5, n, seed=seed))[0]
    shape = g.stat_shape(n)
    x = ctx.constant(shape, ctx.stat_dtype)
    y = ctx.call_device(x, rate=0.5, seed=seed)
    same_shape(y, shape)
    return keep_mask(ctx, y, 0.5, g.shared_of(len(shape)))


# ---------------------------------------------------------------- ops on units ----


def check_inference_identity(ctx: Context) -> None:
    def body(case: Case) -> None:
        (x,) = case.inputs()
        y = ctx.call(x, rate=case.rate, training=False, seed=case.seed)
        # Either rounding of x·(1 − rate), as INFERENCE-CLASSIC accepts (they differ for
        # extreme values of the input design).
        roundings = [
            (x.astype(np.float64) * (1.0 - case.rate)).astype(x.dtype),
            np.asarray(x * x.dtype.type(1.0 - case.rate), dtype=x.dtype),
        ]
        hint = ""
        if (
            "scaling" in ctx.options
            and case.rate > 0
            and y.shape == x.shape
            and any(np.array_equal(y.astype(x.dtype), c, equal_nan=True) for c in roundings)
            and not np.array_equal(roundings[0], x, equal_nan=True)
        ):
            hint = "; hint: " + declaration_hint(
                ctx, "scaling", "classic", "training=False returned x·(1 − rate)"
            )
        require_same("training=False", y, x, f"output is not the input ({case.describe()}){hint}")

    examples(ctx, lambda d: unit_cases(ctx, d), body)
    for (x,), rate, what in large_cases(ctx):
        y = ctx.call_device(x, rate=rate, training=False)
        same_shape(y, x.shape)
        differ = int(ctx.host(reduce.mismatches(y, ctx.to_device(x))))
        if differ:
            raise CheckFailure(
                f"training=False: {differ} of {x.size} outputs differ from the input "
                f"({what}, rate={rate!r})"
            )


def check_rate_zero(ctx: Context) -> None:
    def body(case: Case) -> None:
        (x,) = case.inputs()
        y = ctx.call(x, rate=0.0, seed=case.seed)
        require_same(
            "rate 0",
            y,
            x,
            f"training output differs from the input "
            f"({case_text(case.dtype, case.shape, 0.0, case.seed)})",
        )

    examples(ctx, lambda d: unit_cases(ctx, d), body)


def check_gradient(ctx: Context) -> None:
    def body(case: Case) -> None:
        x = gen.values(case.data_seed, case.shape, case.dtype, signed=False)
        cot = gen.values(case.data_seed + 1, case.shape, case.dtype)
        y = ctx.call(x, rate=case.rate, seed=case.seed).astype(np.float64)
        want = cot.astype(np.float64) * multipliers(ctx, y, x.astype(np.float64), case.rate)

        def f(xa: Any) -> Any:
            return ctx.invoke(xa, case.rate, training=True, seed=case.seed)

        got = need_vjp(ctx, f, x, cot)
        ulps = 64.0 if noisy else 8.0
        dtype = case.dtype if case.dtype != "float64" else "float32"
        if not close(got, want, dtype, ulps):
            raise CheckFailure(
                f"gradient is not the forward mask times its scale: "
                f"{first_mismatch(got, want)} ({case.describe()})"
            )

    noisy = geometry(ctx).mask == "noise"  # its multiplier y/x is read from a rounded y
    wide = tuple(d for d in ctx.dtypes if d in WIDE)
    if not wide:
        raise NotApplicable("the gradient check runs in float32 or float64, which the target lacks")
    examples(ctx, lambda d: unit_cases(ctx, d, gen.rates(0.05, 0.95)), body, wide)
