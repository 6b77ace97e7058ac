"""The checks of DropConnect's clauses (:mod:`dropspec.spec.dropconnect`), one per clause id.

Its masks are decoded from a layer fed x = 1 and weights W[o, j] = 2^j (see
``_masks.decoded_masks``); its shape, dtype, seeds and invalid rates are checked as for every
op (``common``), on :class:`~._examples.LayerCase` examples.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st

from ...dtypes import as_dtype, eps
from ...reference.expectations import (
    dropconnect_moments,
    gaussian_activation_moments,
    kept_multipliers,
)
from .. import reduce
from .. import stats as st_
from .. import strategies as gen
from ..context import CheckFailure, Context, NotApplicable, register
from ..reduce import Array
from ..stats import StatResult
from . import common, relations, stateful
from ._examples import (
    WIDE,
    Cases,
    LayerCase,
    case_text,
    close,
    examples,
    first_mismatch,
    layer_cases,
    need_vjp,
    require_same,
    same_shape,
    worst,
)
from ._masks import decode, decoded_layout, decoded_masks, decoder_layer, scale
from ._statistical import (
    DISTANCE_TESTS,
    PairTable,
    declaration_hint,
    drawn_rates,
    drop_test,
    every_dtype,
    halves_pairs,
    nearest_allowed,
    plan_pairs,
    planned,
    rate_test,
    sums_of_values_and_squares,
    verdict,
    wide_dtypes,
)


def dc_activation(ctx: Context, u: np.ndarray) -> np.ndarray:
    if ctx.options["activation"] == "relu":
        out: np.ndarray = np.maximum(u, 0.0)
        return out
    return u


class DecoderCase(NamedTuple):
    """VALUES' example: a decoder layer (:func:`~._masks.decoder_layer`) of ``dims`` =
    (batch, n_out) in ``dtype``, called at ``rate`` with the call seed ``seed``."""

    dtype: str
    dims: tuple[int, int]
    rate: float
    data_seed: int
    seed: int

    def describe(self) -> str:
        return case_text(self.dtype, self.dims, self.rate, self.seed)


class BatchCase(NamedTuple):
    """PER-BATCH's example: a decoder layer of ``dims`` = (batch, n_out) in the statistical
    dtype, called at ``rate`` with the call seed ``seed``."""

    dims: tuple[int, int]
    rate: float
    seed: int


class GradientCase(NamedTuple):
    """GRADIENT's example: a float32 decoder layer of ``dims`` = (batch, n_out), called at
    ``rate`` with the call seed ``seed``, its cotangent drawn from ``data_seed``."""

    dims: tuple[int, int]
    rate: float
    data_seed: int
    seed: int


def check_dc_shape_mismatch(ctx: Context) -> None:
    d = as_dtype(ctx.stat_dtype)
    x, w, b = np.ones((2, 4), d), np.ones((3, 4), d), np.ones(3, d)
    accepted = []
    for label, args in (
        ("weight (3, 5) for x (2, 4)", (x, np.ones((3, 5), d), b)),
        ("bias (4,) for weight (3, 4)", (x, w, np.ones(4, d))),
    ):
        try:
            ctx.call_raw(*args, rate=0.5, seed=ctx.seed())
        except Exception:
            continue
        accepted.append(label)
    if accepted:
        raise CheckFailure(f"mismatched shapes were accepted: {'; '.join(accepted)}")


def check_dc_values(ctx: Context) -> None:
    def body(case: DecoderCase) -> None:
        (batch, n_out), rate, dtype = case.dims, case.rate, case.dtype
        n_in = 16 if dtype in WIDE else 4
        x, w, b = decoder_layer(ctx, batch, n_out, n_in, dtype)
        y = ctx.call(x, w, b, rate=rate, seed=case.seed)
        if y.shape != (batch, n_out):
            raise CheckFailure(f"output shape {y.shape}, expected {(batch, n_out)}")
        m, mb = decode(ctx, y, rate, n_in)
        pre = (m * w.astype(np.float64)).sum(-1) + mb * b.astype(np.float64)
        want = dc_activation(ctx, pre * scale(ctx, rate))
        if not close(y.astype(np.float64), want, dtype, 4.0):
            raise CheckFailure(
                f"output differs from a(s·x·(M ⊙ W)ᵀ + b′) for the decoded M: "
                f"{first_mismatch(y, want)} ({case.describe()})"
            )

    dims = st.tuples(gen.side(), gen.side())
    examples(
        ctx,
        lambda d: Cases(
            st.tuples(
                st.just(d),
                dims,
                gen.rates(0.01, 0.99),
                gen.data_seeds(),
                gen.call_seeds(ctx.target.seed_bits),
            ),
            DecoderCase._make,
        ),
        body,
    )


def _dc_rate_sizes(ctx: Context) -> tuple[tuple[float, ...], float]:
    rates = drawn_rates(ctx)
    return rates, ctx.split(len(rates))


def _dc_bias_sizes(ctx: Context) -> tuple[tuple[float, ...], float]:
    rates = (0.1, 0.5)
    return rates, ctx.split(len(rates))


def _plan_rates(sizes: tuple[tuple[float, ...], float], ctx: Context) -> list[StatResult]:
    rates, alpha = sizes
    return [rate_test(ctx, rate, alpha).result(rate=rate) for rate in rates]


@planned(lambda ctx: _plan_rates(_dc_rate_sizes(ctx), ctx))
@every_dtype
def check_dc_rate(ctx: Context) -> StatResult:
    rates, alpha = _dc_rate_sizes(ctx)
    results = []
    for rate in rates:
        test = rate_test(ctx, rate, alpha)
        weights = (m for m, _ in decoded_masks(ctx, rate, test.n_max))
        results.append(drop_test(ctx, weights, rate, alpha, test))
    return verdict(results, "the weight drop rate is off")


@planned(lambda ctx: _plan_rates(_dc_bias_sizes(ctx), ctx))
@every_dtype
def check_dc_bias_masked(ctx: Context) -> StatResult:
    rates, alpha = _dc_bias_sizes(ctx)
    results = []
    for rate in rates:
        test = rate_test(ctx, rate, alpha)
        per_example = ctx.options["masks"] == "per_example"
        biases = (
            mb
            for _, mb in decoded_masks(
                ctx, rate, test.n_max, n_in=1, batch=1024 if per_example else 1
            )
        )
        results.append(drop_test(ctx, biases, rate, alpha, test))
    never = [r.inputs["rate"] for r in results if r.statistic == 0]
    return verdict(
        results,
        "the bias drop rate is off",
        declaration_hint(ctx, "mask_bias", False, f"the bias was never dropped at rate {never[0]}")
        if never
        else "",
    )


#: Weight bits PER-CONNECTION and PER-EXAMPLE read (rate 0.5).
PAIR_BITS = 1 << 21
#: PER-CONNECTION's pairs: the mask axis they lie along, and what they are.
CONNECTION_PAIRS = {
    1: "connections into one input's column (dropped input unit)",
    2: "connections of one output's row (dropped output unit)",
}
EXAMPLE_PAIRS = "the same connection in neighbouring examples"
#: PER-CONNECTION's windows: a layer of WINDOWS·w inputs (w = 16, or 4 in a half type)
#: whose example b is 1 on window b's inputs and 0 elsewhere, with W[o, j] = 2^(j mod w).
#: Output (b, o) then holds the mask bits of row o over window b, so one call of a
#: per-batch target shows its whole (n_out, WINDOWS·w) mask. A per-example target shows
#: each example's mask over w inputs of its own: in float32 and float64 these are not
#: neighbours but a comb (:data:`RULER_STRIDES`), so that its every-distance test sees
#: inputs far apart in each example's mask.
WINDOWS = 64
#: The windows (examples) of a per-example target's windowed call: each example draws a
#: whole mask of which one window is read, so fewer and longer rows keep its cost down.
EXAMPLE_WINDOWS = 8
#: Weight bits the windowed call draws.
WINDOW_BITS = 1 << 20
#: The inputs of a per-example target's windowed layer in float32 and float64: wide enough
#: for the combs of :data:`RULER_STRIDES`.
RULER_WIDTH = 1024
#: A per-example target's windows in float32 and float64 are combs: window b reads inputs
#: c_b + k·σ_b (k < w = 16), so its pairs at lag L lie σ_b·L inputs apart. Over the eight
#: combs the distances include every power of two up to 512 (σ = 16, 64) and their
#: neighbours up to 65 (σ = 1 for those up to 15; σ = 17, 31, 33, 63, 65): a mask tiled
#: or mirrored with such a period agrees at some lag in a whole comb.
RULER_STRIDES = (1, 16, 64, 17, 31, 33, 63, 65)


def ruler_columns(width: int, n_in: int) -> np.ndarray:
    """(windows, width) distinct input columns below ``n_in``, window b the comb of stride
    :data:`RULER_STRIDES` [b] from the least start that keeps it clear of the combs
    before."""
    used: set[int] = set()
    out = np.zeros((len(RULER_STRIDES), width), dtype=np.int64)
    for b, stride in enumerate(RULER_STRIDES):
        comb = np.arange(width) * stride
        start = next(c for c in range(n_in) if used.isdisjoint((comb + c).tolist()))
        out[b] = comb + start
        used.update(out[b].tolist())
    if out.max() >= n_in:
        raise ValueError(f"the combs need more than {n_in} inputs")
    return out


def dc_pair_sizes(ctx: Context, axes: tuple[int, ...]) -> dict[int, int]:
    """The pairs :func:`~._statistical.PairTable.add_halves` counts along each of ``axes``
    of the weight masks that :func:`decoded_masks` draws for :data:`PAIR_BITS`, all calls."""
    batch, n_out, n_in, calls = decoded_layout(ctx, PAIR_BITS)
    return {axis: calls * halves_pairs((batch, n_out, n_in), axis) for axis in axes}


def window_layout(ctx: Context) -> tuple[int, int, int, int]:
    """PER-CONNECTION's windowed layer: (window width w, windows, n_out, n_in = windows·w),
    one call; :data:`WINDOW_BITS` weight bits drawn (per example, where each example
    draws its own mask)."""
    width = 16 if ctx.stat_dtype in WIDE else 4  # exact in the dtype, as in decoded_layout
    per_example = ctx.options["masks"] == "per_example"
    windows = EXAMPLE_WINDOWS if per_example else WINDOWS
    n_in = windows * width
    return width, windows, WINDOW_BITS // (n_in * (windows if per_example else 1)), n_in


def window_masks(ctx: Context) -> tuple[Array, Array]:
    """One windowed call's (n_out, n_in) weight mask and the bias mask of example 0 (whose
    window holds the first columns) at rate 0.5 (see :data:`WINDOWS`): window b's w
    columns are the inputs :func:`window_columns` gives example b."""
    width, windows, n_out, n_in = window_layout(ctx)
    columns = window_columns(ctx)
    layer_in = int(columns.max()) + 1
    d = as_dtype(ctx.stat_dtype)
    x = np.zeros((windows, layer_in), dtype=d)
    w = np.zeros((n_out, layer_in), dtype=d)
    for example, read in enumerate(columns):
        x[example, read] = 1
        w[:, read] = 2.0 ** np.arange(width)
    b = np.full(n_out, 2.0**width if ctx.options["mask_bias"] else 0.0, dtype=d)
    x, w, b = (ctx.reusable(a) for a in (x, w, b))
    y = ctx.call_device(x, w, b, rate=0.5)
    same_shape(y, (windows, n_out))
    m, mb = decode(ctx, y, 0.5, width)  # (windows, n_out, width), (windows, n_out)
    xp = reduce.namespace(m)
    return xp.reshape(xp.permute_dims(m, (1, 0, 2)), (n_out, n_in)), mb[0]


def window_columns(ctx: Context) -> np.ndarray:
    """The (windows, w) input columns each example of the windowed call reads: window b's
    own w neighbours, or for a per-example target in float32 and float64 a comb over
    :data:`RULER_WIDTH` inputs (:func:`ruler_columns`)."""
    width, windows, _, n_in = window_layout(ctx)
    if ctx.options["masks"] == "per_example" and ctx.stat_dtype in WIDE:
        return ruler_columns(width, RULER_WIDTH)
    return np.arange(n_in).reshape(windows, width)


def _distance_sizes(ctx: Context) -> dict[str, tuple[int, int]]:
    """Per every-distance test: (sums tested, fewest terms of a sum)."""
    *_, n_out, n_in = window_layout(ctx)
    out = {
        "inputs": (n_in - 1, n_out),  # lags 1..n_in − 1; the last has n_out pairs
        "outputs": (n_out // 2, n_in * (n_out - n_out // 2)),
    }
    if ctx.options["mask_bias"]:
        out["bias"] = (n_in, n_out)
    return out


def _distance_test(
    ctx: Context, kind: str, where: int, agreement: float, pairs: int, alpha: float
) -> StatResult:
    sums, fewest = _distance_sizes(ctx)[kind]
    return st_.agreement_peak(
        DISTANCE_TESTS[kind],
        agreement,
        pairs,
        sums,
        fewest,
        alpha=alpha,
        power=ctx.power,
        pairs=kind,
        worst=where,
    )


def plan_dc_per_connection(ctx: Context) -> list[StatResult]:
    distances = _distance_sizes(ctx)
    alpha = ctx.split(len(CONNECTION_PAIRS) + len(distances))
    sizes = dc_pair_sizes(ctx, tuple(CONNECTION_PAIRS))
    return [
        *(
            plan_pairs(ctx, sizes[axis], alpha, pairs=label)
            for axis, label in CONNECTION_PAIRS.items()
        ),
        *(
            _distance_test(ctx, kind, 0, 0.0, fewest, alpha)
            for kind, (_, fewest) in distances.items()
        ),
    ]


@planned(plan_dc_per_connection)
@every_dtype
def check_dc_per_connection(ctx: Context) -> StatResult:
    """Neighbouring connections (2x2 tables, as before), and at every distance on one
    windowed call (:data:`WINDOWS`): the agreement of connections L inputs apart in a row,
    every L, pooled over the rows; L outputs apart in a column, every L up to n_out/2,
    pooled over the columns; and, where the bias is masked, of the bias with every column."""
    distances = _distance_sizes(ctx)
    alpha = ctx.split(len(CONNECTION_PAIRS) + len(distances))
    tables = {axis: PairTable(ctx) for axis in CONNECTION_PAIRS}
    for m, _ in decoded_masks(ctx, 0.5, PAIR_BITS):
        for axis, table in tables.items():
            table.add_halves(m, axis)
    results = [tables[axis].test(alpha, pairs=label) for axis, label in CONNECTION_PAIRS.items()]
    m, mb = window_masks(ctx)
    *_, n_out, n_in = window_layout(ctx)
    xp = reduce.namespace(m)
    lag, s = ctx.host(reduce.row_autocorrelation_peak(m, lags=n_in - 1))
    results.append(
        _distance_test(ctx, "inputs", int(lag), float(s), n_out * (n_in - int(lag)), alpha)
    )
    lag, s = ctx.host(reduce.row_autocorrelation_peak(xp.permute_dims(m, (1, 0)), lags=n_out // 2))
    results.append(
        _distance_test(ctx, "outputs", int(lag), float(s), n_in * (n_out - int(lag)), alpha)
    )
    if "bias" in distances:
        column, s = ctx.host(reduce.column_agreement_peak(mb, m))
        results.append(_distance_test(ctx, "bias", int(column), float(s), n_out, alpha))
    return verdict(
        results,
        "mask values of different connections are dependent (neighbours: this looks like "
        "dropout of units, not DropConnect; or at a distance, or the bias with a column)",
    )


def plan_dc_per_example(ctx: Context) -> list[StatResult]:
    return [plan_pairs(ctx, dc_pair_sizes(ctx, (0,))[0], ctx.alpha, pairs=EXAMPLE_PAIRS)]


@planned(plan_dc_per_example)
@every_dtype
def check_dc_per_example(ctx: Context) -> StatResult:
    # Per-example targets are called with a batch of 256, so pairs stay within one call.
    table = PairTable(ctx)
    for m, _ in decoded_masks(ctx, 0.5, PAIR_BITS):
        table.add_halves(m, 0)
    res = table.test(ctx.alpha, pairs=EXAMPLE_PAIRS)
    return verdict(
        [res],
        "examples in a batch share weight masks",
        declaration_hint(
            ctx, "masks", "per_batch", "the examples of a batch share one weight mask"
        ),
    )


def check_dc_per_batch(ctx: Context) -> None:
    def body(case: BatchCase) -> None:
        (batch, n_out), rate, seed = case.dims, case.rate, case.seed
        # s·(2^(n_in + 1) − 1) must stay exact in the dtype (as in decoded_masks).
        n_in = 16 if ctx.stat_dtype in WIDE else 4
        x, w, b = decoder_layer(ctx, batch, n_out, n_in, ctx.stat_dtype)
        y = ctx.call(x, w, b, rate=rate, seed=seed)
        if y.shape != (batch, n_out):
            raise CheckFailure(f"output shape {y.shape}, expected {(batch, n_out)}")
        m, mb = decode(ctx, y, rate, n_in)
        if not (np.all(m == m[:1]) and np.all(mb == mb[:1])):
            raise CheckFailure(
                f"examples of one call see different weight masks "
                f"(batch={batch}, out={n_out}, rate={rate!r}, seed={seed})"
            )

    examples(
        ctx,
        Cases(
            st.tuples(
                st.tuples(gen.side(2), gen.side()),
                gen.rates(0.1, 0.9),
                gen.call_seeds(ctx.target.seed_bits),
            ),
            BatchCase._make,
        ),
        body,
    )


def positive_layer(
    ctx: Context, batch: int, n_out: int, n_in: int, dtype: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = as_dtype(dtype)
    return (
        ctx.rng.uniform(0.5, 2.0, (batch, n_in)).astype(d),
        ctx.rng.uniform(0.5, 2.0, (n_out, n_in)).astype(d),
        ctx.rng.uniform(0.5, 2.0, n_out).astype(d),
    )


#: The rates DROPCONNECT-UNBIASED tests.
UNBIASED_RATES = (0.1, 0.5, 0.9)


def dc_unbiased_sizes(ctx: Context) -> tuple[float, tuple[int, int, int], int]:
    """UNBIASED's share of alpha per rate, its layer's (batch, n_out, n_in) and the calls
    it sums over at each rate."""
    per_example = ctx.options["masks"] == "per_example"
    batch, n_in = (64, 16) if per_example else (1, 16)
    return ctx.split(len(UNBIASED_RATES)), (batch, 4096, n_in), 4 if per_example else 64


def dc_unbiased_test(
    ctx: Context,
    rate: float,
    alpha: float,
    total: float,
    masked: float,
    variance: float,
    outputs: int,
    calls: int,
) -> StatResult:
    """UNBIASED's test at ``rate``: Σ(y − E[y]) over ``calls`` calls of ``outputs`` outputs
    against 0, for each rounding of the scale the dtype allows (the nearest one)."""
    # The scale, rounded to the dtype, multiplies every kept term: E[y] moves with it.
    exact = scale(ctx, rate)
    return nearest_allowed(
        [
            st_.z_mean(
                total - (s / exact - 1.0) * masked * calls,
                0.0,
                variance * calls * (s / exact) ** 2,
                outputs * calls,
                alpha=alpha,
                power=ctx.power,
                rate=rate,
                kept_multiplier=s,
            )
            for s in kept_multipliers(rate, ctx.options["scaling"], ctx.stat_dtype)
        ]
    )


def plan_dc_unbiased(ctx: Context) -> list[StatResult]:
    alpha, (batch, n_out, _), calls = dc_unbiased_sizes(ctx)
    return [
        dc_unbiased_test(ctx, rate, alpha, 0.0, 0.0, 1.0, batch * n_out, calls)
        for rate in UNBIASED_RATES
    ]


@planned(plan_dc_unbiased)
@wide_dtypes
def check_dc_unbiased(ctx: Context) -> StatResult:
    alpha, (batch, n_out, n_in), calls = dc_unbiased_sizes(ctx)
    x, w, b = (ctx.reusable(a) for a in positive_layer(ctx, batch, n_out, n_in, ctx.stat_dtype))
    results = []
    for rate in UNBIASED_RATES:
        mean, var = dropconnect_moments(
            x,
            w,
            b,
            rate,
            scaling=ctx.options["scaling"],
            mask_bias=ctx.options["mask_bias"],
        )
        total = 0.0
        mean_d = ctx.to_device(mean)
        for _ in range(calls):
            y = ctx.call_device(x, w, b, rate=rate)
            same_shape(y, mean.shape)
            total += float(ctx.host(sums_of_values_and_squares(y, 0.0, mean_d))[0])
        masked = float(mean.sum()) - (
            0.0 if ctx.options["mask_bias"] else float(b.astype(np.float64).sum()) * batch
        )
        results.append(
            dc_unbiased_test(ctx, rate, alpha, total, masked, float(var.sum()), mean.size, calls)
        )
    return verdict(results, "E[pre-activation] differs from the inference mean")


def check_dc_bias_unmasked(ctx: Context) -> None:
    def body(case: LayerCase) -> None:
        batch, n_in, n_out = case.dims
        x, _, b = case.inputs()
        w = np.zeros((n_out, n_in), dtype=as_dtype(case.dtype))
        y = ctx.call(x, w, b, rate=case.rate, seed=case.seed)
        want = dc_activation(ctx, np.broadcast_to(b.astype(np.float64), (batch, n_out)))
        require_same(
            "bias",
            y.astype(np.float64),
            want,
            f"with zero weights the output is not a(b) ({case.describe()})",
        )

    examples(ctx, lambda d: layer_cases(ctx, d, gen.rates(0.05, 0.95)), body)


def dc_close(
    ctx: Context,
    got: np.ndarray,
    want: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    dtype: str,
) -> bool:
    """Within the rounding of a dot product: n_in + 2 ulps of Σ|terms|."""
    mag = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T + np.abs(
        b.astype(np.float64)
    )
    tol = (x.shape[1] + 2) * eps(dtype) * mag * 2 + 1e-30
    return bool(np.all(np.abs(got.astype(np.float64) - want) <= tol))


def dc_deterministic_form(ctx: Context, inference: bool) -> None:
    """DROPCONNECT-INFERENCE-MEAN (``inference``) or DROPCONNECT-RATE-ZERO."""

    def body(case: LayerCase) -> None:
        dtype, seed = case.dtype, case.seed
        x, w, b = case.inputs()
        rate = case.rate if inference else 0.0
        y = ctx.call(x, w, b, rate=rate, training=not inference, seed=seed)
        s_inf = (1.0 - rate) * scale(ctx, rate) if inference else 1.0
        bias = b.astype(np.float64) * (s_inf if ctx.options["mask_bias"] else 1.0)
        want = dc_activation(ctx, (x.astype(np.float64) @ w.astype(np.float64).T) * s_inf + bias)
        if y.shape != want.shape or not dc_close(ctx, y, want, x, w, b, dtype):
            what = "training=False" if inference else "rate 0"
            raise CheckFailure(
                f"{what}: output differs from the expected layer: "
                f"{first_mismatch(y, want) if y.shape == want.shape else y.shape}"
                f" ({case_text(dtype, x.shape, rate, seed)})"
            )

    examples(ctx, lambda d: layer_cases(ctx, d), body)


def check_dc_inference_mean(ctx: Context) -> None:
    dc_deterministic_form(ctx, inference=True)


def check_dc_rate_zero(ctx: Context) -> None:
    dc_deterministic_form(ctx, inference=False)


def mm_layer(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A layer with mixed signs and the exact E[a(u)], Var[a(u)] of moment matching."""
    d = as_dtype(ctx.stat_dtype)
    x = ctx.rng.uniform(-1, 1, (64, 32)).astype(d)
    w = ctx.rng.uniform(-1, 1, (64, 32)).astype(d)
    b = ctx.rng.uniform(-0.5, 0.5, 64).astype(d)
    return x, w, b, *_mm_moments(ctx, x, w, b, 0.5)


def _mm_moments(
    ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    mu, var = dropconnect_moments(
        x,
        w,
        b,
        rate,
        scaling=ctx.options["scaling"],
        mask_bias=ctx.options["mask_bias"],
    )
    return gaussian_activation_moments(mu, np.sqrt(var), ctx.options["activation"])


#: Calls of the moment-matching inference MM-MEAN and MM-SPREAD sum over.
MM_CALLS = 8


def mm_sizes(
    ctx: Context,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray, np.ndarray, int]:
    """MM-MEAN's and MM-SPREAD's layer (:func:`mm_layer`, drawn from the check's inputs),
    its E[a(u)] and the inverse sd of a mean of ``samples`` draws (0 where an output has no
    spread), and the standardised outputs the test sums (those with a spread, all calls)."""
    x, w, b, mean, var = mm_layer(ctx)
    samples = int(ctx.options["samples"])
    live = var > 1e-12  # outputs with a spread to standardise by
    # z = (y − E[a(u)]) / sqrt(Var[a(u)] / samples) where live, 0 elsewhere, summed on device.
    inv_sd = np.where(live, 1.0 / np.sqrt(np.where(live, var, 1.0) / samples), 0.0)
    return (x, w, b), mean, inv_sd, int(np.count_nonzero(live)) * MM_CALLS


def mm_test(ctx: Context, sums: np.ndarray, size: int, mean_clause: bool) -> StatResult:
    """MM-MEAN's z-test of Σz (``mean_clause``) or MM-SPREAD's chi-square test of Σz²."""
    samples = int(ctx.options["samples"])
    if mean_clause:
        return st_.z_mean(
            float(sums[0]),
            0.0,
            float(size),
            size,
            alpha=ctx.alpha,
            power=ctx.power,
            samples=samples,
            rate=0.5,
        )
    return st_.chi2_variance(
        float(sums[1]), size, alpha=ctx.alpha, power=ctx.power, samples=samples, rate=0.5
    )


def plan_dc_moment_matching(ctx: Context, mean_clause: bool) -> list[StatResult]:
    """:func:`dc_moment_matching`'s test, sized as it sizes it (the layer drawn as it draws
    it: the outputs without a spread, which it skips, are the layer's)."""
    *_, size = mm_sizes(ctx)
    return [mm_test(ctx, np.array([0.0, float(size)]), size, mean_clause)]


def dc_moment_matching(ctx: Context, mean_clause: bool) -> StatResult:
    """DROPCONNECT-INFERENCE-MM-MEAN (``mean_clause``) or -MM-SPREAD."""
    (x, w, b), mean, inv_sd, size = mm_sizes(ctx)
    sums = np.zeros(2)
    center, scale_by = ctx.to_device(mean), ctx.to_device(inv_sd)
    for _ in range(MM_CALLS):
        y = ctx.call_device(x, w, b, rate=0.5, training=False)
        same_shape(y, mean.shape)
        sums += ctx.host(_standardised_sums(y, center, scale_by))
    res = mm_test(ctx, sums, size, mean_clause)
    if mean_clause:
        return verdict([res], "moment-matching inference is biased: E[output] != E[a(u)]")
    return verdict([res], "moment-matching inference does not average `samples` draws")


@planned(functools.partial(plan_dc_moment_matching, mean_clause=True))
@wide_dtypes
def check_dc_mm_mean(ctx: Context) -> StatResult:
    return dc_moment_matching(ctx, mean_clause=True)


@planned(functools.partial(plan_dc_moment_matching, mean_clause=False))
@wide_dtypes
def check_dc_mm_spread(ctx: Context) -> StatResult:
    return dc_moment_matching(ctx, mean_clause=False)


@reduce.fused()
def _standardised_sums(y: Array, center: Array, inv_sd: Array) -> Array:
    """``[Σ z, Σ z²]`` of z = (y − center)·inv_sd, where inv_sd > 0 (no spread: skipped)."""
    xp = reduce.namespace(y)
    z = (xp.astype(y, xp.float64) - center) * inv_sd
    z = xp.where(inv_sd > 0, z, xp.zeros_like(z))
    return xp.stack([xp.sum(z), xp.sum(z * z)])


def check_dc_gradient(ctx: Context) -> None:
    def body(case: GradientCase) -> None:
        (batch, n_out), rate, seed = case.dims, case.rate, case.seed
        n_in = 12
        x, w, b = decoder_layer(ctx, batch, n_out, n_in, "float32")
        y = ctx.call(x, w, b, rate=rate, seed=seed)
        if y.shape != (batch, n_out):
            raise CheckFailure(f"output shape {y.shape}, expected {(batch, n_out)}")
        m, _ = decode(ctx, y, rate, n_in)
        cot = (
            np.random.default_rng(case.data_seed).uniform(-1, 1, (batch, n_out)).astype(np.float32)
        )
        want = scale(ctx, rate) * np.einsum(
            "no,noi,oi->ni", cot.astype(np.float64), m, w.astype(np.float64)
        )
        wt, bt = (ctx.framework_array(a) for a in (w, b))

        def f(xa: Any) -> Any:
            return ctx.invoke(xa, wt, bt, rate, training=True, seed=seed)

        got = need_vjp(ctx, f, x, cot)
        tol = 1e-5 * (np.abs(cot.astype(np.float64)) @ w.astype(np.float64) + 1e-30)
        if got.shape != want.shape or not np.all(np.abs(got - want) <= tol):
            raise CheckFailure(
                f"gradient with respect to x does not use the forward masks: "
                f"{worst(got, want, tol) if got.shape == want.shape else ''}"
                f" (batch={batch}, out={n_out}, rate={rate!r}, seed={seed})"
            )

    if "float32" not in ctx.dtypes:
        raise NotApplicable("the gradient check runs in float32, which the target lacks")
    examples(
        ctx,
        Cases(
            st.tuples(
                st.tuples(gen.side(), gen.side()),
                gen.rates(0.1, 0.9),
                gen.data_seeds(),
                gen.call_seeds(ctx.target.seed_bits),
            ),
            GradientCase._make,
        ),
        body,
    )


def check_dc_rate_one(ctx: Context) -> None:
    def body(case: LayerCase) -> None:
        x, w, b = case.inputs()
        y = ctx.call(x, w, b, rate=1.0, seed=case.seed).astype(np.float64)
        bias = (
            np.zeros_like(b, dtype=np.float64) if ctx.options["mask_bias"] else b.astype(np.float64)
        )
        want = dc_activation(ctx, np.broadcast_to(bias, y.shape))
        require_same("rate 1", y, want, "output is not a(b) (unmasked bias) or a(0) (masked)")

    examples(ctx, lambda d: layer_cases(ctx, d), body)


register(
    "dropconnect",
    {
        "DROPCONNECT-SHAPE": common.check_shape,
        "DROPCONNECT-DTYPE": common.check_dtype,
        "DROPCONNECT-DETERMINISTIC": common.check_deterministic,
        "DROPCONNECT-INDEPENDENT-SEEDS": common.check_independent_seeds,
        "DROPCONNECT-RATE-INVALID": common.check_rate_invalid,
        "DROPCONNECT-SHAPE-MISMATCH": check_dc_shape_mismatch,
        "DROPCONNECT-VALUES": check_dc_values,
        "DROPCONNECT-RATE": check_dc_rate,
        "DROPCONNECT-UNBIASED": check_dc_unbiased,
        "DROPCONNECT-PER-CONNECTION": check_dc_per_connection,
        "DROPCONNECT-PER-EXAMPLE": check_dc_per_example,
        "DROPCONNECT-PER-BATCH": check_dc_per_batch,
        "DROPCONNECT-BIAS-MASKED": check_dc_bias_masked,
        "DROPCONNECT-BIAS-UNMASKED": check_dc_bias_unmasked,
        "DROPCONNECT-INFERENCE-MEAN": check_dc_inference_mean,
        "DROPCONNECT-INFERENCE-MM-MEAN": check_dc_mm_mean,
        "DROPCONNECT-INFERENCE-MM-SPREAD": check_dc_mm_spread,
        "DROPCONNECT-RATE-ZERO": check_dc_rate_zero,
        "DROPCONNECT-GRADIENT": check_dc_gradient,
        "DROPCONNECT-RATE-ONE-ZEROS": check_dc_rate_one,
        "DROPCONNECT-RATE-ONE-ERROR": common.check_rate_one_error,
        "DROPCONNECT-MASK-VALUE-FREE": relations.check_value_free,
        "DROPCONNECT-FRESH-OUTPUT": relations.check_fresh_output,
        "DROPCONNECT-RATE-INVALID-INFERENCE": relations.check_rate_invalid_inference,
        "DROPCONNECT-SEED-PROCESS": relations.check_seed_process,
        "DROPCONNECT-SEED-SPACE": relations.check_seed_space,
        "DROPCONNECT-SEED-PAIRS": relations.check_seed_pairs,
        "DROPCONNECT-STATE-CALLS": stateful.check_dc_state_calls,
        "DROPCONNECT-STATE-REPRODUCIBLE": stateful.check_dc_state_reproducible,
        "DROPCONNECT-STATE-INFERENCE": stateful.check_dc_state_inference,
        "DROPCONNECT-STATE-GRADIENT": stateful.check_dc_state_gradient,
    },
    mask="layer",
    inputs="layer",
)
