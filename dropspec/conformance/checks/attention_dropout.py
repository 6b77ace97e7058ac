"""The checks of attention dropout's clauses (:mod:`dropspec.spec.attention_dropout`).

The mask is read from outputs, value-free: with v the identity (seq_k = d_v) the output is
P ⊙ M · s itself, every entry of P exposed; with q = 0 as well, P is uniform (1/seq_k), so an
output entry is 0 exactly where the mask dropped. The expected P = softmax(q·kᵀ/√d) is the
reference's (:func:`dropspec.reference.attention_dropout.probabilities`), computed in float64
from the inputs as the target received them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from ...dtypes import as_dtype, dtype_name, eps, largest_finite
from ...reference.attention_dropout import BROADCAST_AXIS, mask_shape, probabilities
from ...reference.dropout import scale_for
from .. import inputs as space
from .. import reduce
from .. import stats as st_
from ..context import CheckFailure, Context, NotApplicable, TargetError, register
from ..reduce import Array
from ..stats import StatResult
from ._examples import WIDE, first_mismatch, need_vjp, worst
from ._statistical import (
    drop_test,
    every_dtype,
    neighbour_sizes,
    neighbour_tables,
    plan_tables,
    planned,
    rate_test,
    verdict,
    wide_dtypes,
)
from .common import independent_seeds, independent_seeds_plan
from .relations import (
    _variants,
    edge_seeds,
    fresh_output,
    rate_invalid_inference,
    seed_pairs,
    seed_process,
)

#: The exact checks' shapes (batch, heads, seq_q, seq_k, d): a single key (P = 1), and a
#: general case with batch, heads and sequences of different sides. Two only: eager JAX
#: compiles every operation per shape and dtype, and each shape cost a flax target ~10 s.
CASE_SHAPES = ((1, 2, 3, 1, 4), (2, 3, 5, 8, 4))
#: d_v of SHAPE's and GRADIENT's v (elsewhere d_v = seq_k, for v = I).
D_V = 3
#: Tolerance of values compared with float64 expectations, in epsilons of the dtype, relative
#: to the entry plus the largest entry (a softmax and a product of short rows round a few times).
ULPS = 16.0
#: Distinct mask values per statistical call (see :func:`stat_shape`), and seq_k = d_v there.
STAT_VALUES, STAT_SEQ_K = 1 << 16, 32
#: Side of the batch and heads axes in statistical calls, where not broadcast; d of q and k.
STAT_SIDE, STAT_D = 8, 8
#: Rates RATE tests (its sequential tests stop early: a few calls each at this size).
STAT_RATES = (0.1, 0.5, 0.9)
#: Calls INDEPENDENT pools per dtype, and its rate.
INDEPENDENT_CALLS, INDEPENDENT_RATE = 4, 0.5
#: Calls UNBIASED sums per rate, and its rates: scales 2 and 4 are exact in every dtype, and
#: so is the output at q = 0 and seq_k a power of two, so its mean has no rounding slack.
UNBIASED_CALLS, UNBIASED_RATES = 8, (0.5, 0.75)
#: Values v takes in UNBIASED: positive, so that the output's sum has a mean a wrong scale
#: moves (values of both signs sum to about 0); each output is then a multiple of 1/16 below
#: 8 (seq_k 32, scale 2 or 4), exact in every dtype down to bfloat16's 8 bits.
UNBIASED_VALUES = np.array([1.0, 2.0])


class Case(NamedTuple):
    """One example of an exact check: shapes, dtype, rate, seed and the data's seed."""

    batch: int
    heads: int
    seq_q: int
    seq_k: int
    d: int
    dtype: str
    rate: float
    seed: int
    data_seed: int
    #: The largest |logit| q is scaled to (0: q as drawn, logits within about ±2).
    sharp: float = 0.0

    def describe(self) -> str:
        return (
            f"batch={self.batch}, heads={self.heads}, seq_q={self.seq_q}, seq_k={self.seq_k}, "
            f"d={self.d}, dtype={self.dtype}, rate={self.rate:g}, seed={self.seed}, "
            f"data seed={self.data_seed}" + (f", largest |logit| {self.sharp:g}" * bool(self.sharp))
        )

    def qkv(
        self, *, d_v: int | None = None, q_zero: bool = False, v_identity: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return attention_inputs(
            np.random.default_rng(self.data_seed),
            (self.batch, self.heads, self.seq_q, self.seq_k),
            self.d,
            self.dtype,
            d_v=d_v,
            q_zero=q_zero,
            v_identity=v_identity,
            sharp=self.sharp,
        )


def sharp_logit(dtype: str) -> float:
    """A largest |logit| past which exp overflows in ``dtype`` (float16 about 11.1, bfloat16
    and float32 about 88.7, float64 about 709.8): a softmax that does not subtract the row's
    largest logit first returns inf or NaN there."""
    return math.ceil(math.log(largest_finite(dtype))) + 8.0


def attention_inputs(
    rng: np.random.Generator,
    shape: tuple[int, int, int, int],
    d: int,
    dtype: str,
    *,
    d_v: int | None = None,
    q_zero: bool = False,
    v_identity: bool = False,
    sharp: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, k and v for P of ``shape``, uniform in [-1, 1] and rounded to ``dtype``; q = 0
    gives uniform P, v the identity (d_v = seq_k) exposes P ⊙ M · s as the output; ``sharp``
    scales q so that the largest |q·kᵀ/√d| is that value (P close to one-hot)."""
    b, h, sq, sk = shape
    t = as_dtype(dtype)
    q = np.zeros((b, h, sq, d)) if q_zero else rng.uniform(-1, 1, (b, h, sq, d))
    k = rng.uniform(-1, 1, (b, h, sk, d)).astype(t).astype(np.float64)
    if sharp and not q_zero:
        largest = float(np.abs(q @ np.swapaxes(k, -1, -2)).max()) / math.sqrt(d)
        q = q * (sharp / largest)
    if v_identity:
        v = np.broadcast_to(np.eye(sk), (b, h, sk, sk)).copy()
    else:
        v = rng.uniform(-1, 1, (b, h, sk, sk if d_v is None else d_v))
    return q.astype(t), k.astype(t), v.astype(t)


def cases(ctx: Context, dtypes: tuple[str, ...] | None = None) -> Iterator[Case]:
    """Per dtype, one example of each of :data:`CASE_SHAPES` (a single key, then batch and
    heads of unequal sides), rates in [0.05, 0.95], seeds across the target's range. The
    shapes are fixed so that a framework that compiles per shape (eager JAX) compiles few;
    the rates, seeds and data vary from run to run."""
    for dtype in dtypes or ctx.dtypes:
        for b, h, sq, sk, d in CASE_SHAPES:
            rng = ctx.rng
            rate = round(float(rng.uniform(0.05, 0.95)), 4)
            yield Case(b, h, sq, sk, d, dtype, rate, ctx.seed(), int(rng.integers(1 << 31)))


def returns_weights(ctx: Context) -> bool:
    return bool(ctx.options["weights"] != "none")


def split(ctx: Context, raw: Any) -> tuple[Any, Any | None]:
    """The output and the returned weights (None unless declared) of what the target returned."""
    if not returns_weights(ctx):
        outs: tuple[Any, ...] = (raw,)
    elif isinstance(raw, (tuple, list)) and len(raw) == 2:
        outs = tuple(raw)
    else:
        raise TargetError(
            f"target {ctx.target.name!r} declares weights={ctx.options['weights']!r} and so "
            f"returns a pair (output, weights), but returned {type(raw).__name__}"
        )
    for a in outs:
        if not ctx.backend.is_array(a):
            raise TargetError(
                f"target {ctx.target.name!r} returned {type(a).__name__}, not a "
                f"{ctx.backend.name} array"
            )
    return outs[0], outs[1] if len(outs) == 2 else None


def expected_shapes(q: np.ndarray, v: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (*q.shape[:-1], v.shape[-1]), (*q.shape[:-1], v.shape[-2])


def require_shapes(out: Any, weights: Any, q: np.ndarray, v: np.ndarray, training: bool) -> None:
    want_out, want_w = expected_shapes(q, v)
    got = tuple(int(n) for n in out.shape)
    if got != want_out:
        raise CheckFailure(
            f"training={training}: the output's shape is {got}, expected {want_out} (ATTN-SHAPE)",
            any_dtype=True,
        )
    if weights is not None and tuple(int(n) for n in weights.shape) != want_w:
        raise CheckFailure(
            f"training={training}: the weights' shape is {tuple(weights.shape)}, expected "
            f"{want_w} (ATTN-SHAPE)",
            any_dtype=True,
        )


def run(
    ctx: Context,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rate: float,
    seed: int,
    training: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Call the target; its output and returned weights as NumPy arrays."""
    out, w = split(ctx, ctx.call_raw(q, k, v, rate=rate, training=training, seed=seed))
    require_shapes(out, w, q, v, training)
    return ctx.host(out), None if w is None else ctx.host(w)


def near(got: np.ndarray, want: np.ndarray, dtype: str, what: str, case: Case) -> None:
    """``got`` equals the float64 ``want`` to within :data:`ULPS` of the dtype, times the
    largest |logit| of a sharp case (exp turns a logit's rounding, relative to its size, into
    a relative error of P as large as the logit times eps)."""
    g = got.astype(np.float64)
    ulps = ULPS * eps(dtype) * max(1.0, case.sharp)
    tol = ulps * (np.abs(want) + float(np.abs(want).max(initial=0.0)))
    if g.shape != want.shape or not np.all(np.abs(g - want) <= tol):
        bad = "shape differs" if g.shape != want.shape else worst(g, want, tol)
        lost = ~np.isfinite(g) & np.isfinite(want) if g.shape == want.shape else np.zeros(0)
        if lost.any():
            at = tuple(int(i) for i in np.argwhere(lost)[0])
            bad = (
                f"{int(lost.sum())} of {g.size} values are not finite where finite ones are "
                f"expected; first at index {at}: got {g[at]!r}, expected {want[at]!r}"
            )
        raise CheckFailure(f"{what} ({bad}; {case.describe()})")


def scale(ctx: Context, rate: float) -> float:
    return scale_for(rate, ctx.options["scaling"])


def inference_factor(ctx: Context, rate: float) -> float:
    return 1.0 - rate if ctx.options["scaling"] == "classic" else 1.0


# ---------------------------------------------------------------- exact ----


def check_attn_shape(ctx: Context) -> None:
    for case in cases(ctx):
        q, k, v = case.qkv(d_v=D_V)
        for training in (True, False):
            run(ctx, q, k, v, case.rate, case.seed, training)


def check_attn_dtype(ctx: Context) -> None:
    for case in cases(ctx):
        q, k, v = case.qkv()
        for training in (True, False):
            out, w = run(ctx, q, k, v, case.rate, case.seed, training)
            for name, a in (("output", out), ("weights", w)):
                if a is not None and dtype_name(a.dtype) != case.dtype:
                    raise CheckFailure(
                        f"training={training}: {name} dtype {dtype_name(a.dtype)}, expected "
                        f"{case.dtype} ({case.describe()})"
                    )


def check_attn_deterministic(ctx: Context) -> None:
    for case in cases(ctx):
        q, k, v = case.qkv()
        first, _ = run(ctx, q, k, v, case.rate, case.seed)
        second, _ = run(ctx, q, k, v, case.rate, case.seed)
        if not np.array_equal(first, second, equal_nan=True):
            raise CheckFailure(
                f"two calls with seed {case.seed} differ: {first_mismatch(second, first)} "
                f"({case.describe()})"
            )


def _small(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dtype = "float32" if "float32" in ctx.dtypes else ctx.dtypes[-1]
    return attention_inputs(np.random.default_rng(ctx.check_seed), (2, 2, 3, 4), 4, dtype)


def check_attn_rate_invalid(ctx: Context) -> None:
    q, k, v = _small(ctx)
    accepted = []
    for rate in (-0.1, 1.5, float("nan"), -1e-12, 1.0 + 1e-9):
        try:
            ctx.call_raw(q, k, v, rate=rate, seed=ctx.seed())
        except Exception:
            continue
        accepted.append(rate)
    if accepted:
        raise CheckFailure(f"rates {accepted} were accepted without an error")


def dropped_probabilities(ctx: Context, case: Case) -> tuple[np.ndarray, np.ndarray]:
    """P ⊙ M · s as the target computes it (v the identity) and P, for the case's q and k."""
    q, k, eye = case.qkv(v_identity=True)
    a, _ = run(ctx, q, k, eye, case.rate, case.seed)
    return a.astype(np.float64), probabilities(q, k)


def check_attn_values(ctx: Context) -> None:
    """Per case, and per dtype for one case of logits past exp's overflow
    (:func:`sharp_logit`): the dropped probabilities read with v = I are 0 or s·P, and the
    output with another v is those times v."""
    sharp = [case._replace(sharp=sharp_logit(case.dtype)) for case in cases(ctx)][1::2]
    for case in [*cases(ctx), *sharp]:
        a, p = dropped_probabilities(ctx, case)
        keep = a != 0
        s = scale(ctx, case.rate)
        near(
            a,
            np.where(keep, p * s, 0.0),
            case.dtype,
            "the dropped probabilities are not 0 or s·P",
            case,
        )
        q, k, _ = case.qkv(v_identity=True)
        v = attention_inputs(
            np.random.default_rng(case.data_seed + 1),
            (case.batch, case.heads, case.seq_k, case.seq_k),
            1,
            case.dtype,
        )[2]
        out, _ = run(ctx, q, k, v, case.rate, case.seed)
        want = a @ v.astype(np.float64)
        near(
            out,
            want,
            case.dtype,
            "the output is not the dropped probabilities (read with v = I, same seed) times v",
            case,
        )


def check_attn_broadcast(ctx: Context) -> None:
    axes = [BROADCAST_AXIS[name] for name in ctx.options["broadcast"]]
    for case in cases(ctx):
        if case.batch < 2 or case.heads < 2:
            continue  # an axis of side 1 shares trivially
        a, _ = dropped_probabilities(ctx, case)
        keep = a != 0
        for axis in axes:
            first = np.take(keep, [0], axis=axis)
            if not np.array_equal(np.broadcast_to(first, keep.shape), keep):
                name = next(n for n, ax in BROADCAST_AXIS.items() if ax == axis)
                raise CheckFailure(
                    f"the mask differs along the {name} axis (axis {axis}), declared broadcast "
                    f"({case.describe()})"
                )


def check_attn_inference_identity(ctx: Context) -> None:
    for case in cases(ctx):
        q, k, v = case.qkv()
        out, _ = run(ctx, q, k, v, case.rate, case.seed, training=False)
        want = inference_factor(ctx, case.rate) * probabilities(q, k) @ v.astype(np.float64)
        near(out, want, case.dtype, "with training=False the output is not plain attention", case)


def check_attn_no_switch(ctx: Context) -> None:
    for case in cases(ctx):
        q, k, v = case.qkv()
        train, _ = run(ctx, q, k, v, case.rate, case.seed, training=True)
        infer, _ = run(ctx, q, k, v, case.rate, case.seed, training=False)
        if not np.array_equal(train, infer, equal_nan=True):
            raise CheckFailure(
                "training=False returns another output than training=True with the same seed, "
                f"so the target has a training switch: {first_mismatch(infer, train)} "
                f"({case.describe()}); declare inference='identity'"
            )


def _weights(ctx: Context, after: bool) -> None:
    for case in cases(ctx):
        q, k, eye = case.qkv(v_identity=True)
        p = probabilities(q, k)
        a, w = run(ctx, q, k, eye, case.rate, case.seed)
        assert w is not None
        want = a.astype(np.float64) if after else p
        near(
            w,
            want,
            case.dtype,
            "in training the weights are not " + ("P ⊙ M · s" if after else "P"),
            case,
        )
        _, w_inf = run(ctx, q, k, eye, case.rate, case.seed, training=False)
        assert w_inf is not None
        if ctx.options["inference"] == "identity":
            near(w_inf, p, case.dtype, "with training=False the weights are not P", case)


def check_attn_weights_before(ctx: Context) -> None:
    _weights(ctx, after=False)


def check_attn_weights_after(ctx: Context) -> None:
    _weights(ctx, after=True)


def check_attn_gradient(ctx: Context) -> None:
    wide = tuple(d for d in ctx.dtypes if d in WIDE)
    if not wide:
        raise NotApplicable("the gradient check runs in float32 or float64, which the target lacks")
    for case in cases(ctx, wide):
        a, _ = dropped_probabilities(ctx, case)
        q, k, _ = case.qkv(v_identity=True)
        rng = np.random.default_rng(case.data_seed + 2)
        v = rng.uniform(-1, 1, (case.batch, case.heads, case.seq_k, D_V)).astype(
            as_dtype(case.dtype)
        )
        cot = rng.uniform(-1, 1, (*q.shape[:-1], D_V)).astype(as_dtype(case.dtype))
        qf, kf = ctx.framework_array(q), ctx.framework_array(k)

        def f(va: Any, case: Case = case, qf: Any = qf, kf: Any = kf) -> Any:
            out = ctx.invoke(qf, kf, va, case.rate, training=True, seed=case.seed)
            return out[0] if returns_weights(ctx) else out

        got = need_vjp(ctx, f, v, cot)
        want = np.swapaxes(a, -1, -2) @ cot.astype(np.float64)
        near(
            got,
            want,
            case.dtype,
            "the gradient with respect to v is not (P ⊙ M · s)ᵀ·cotangent",
            case,
        )


def check_attn_rate_zero(ctx: Context) -> None:
    for case in cases(ctx):
        q, k, v = case.qkv()
        out, _ = run(ctx, q, k, v, 0.0, case.seed)
        near(
            out,
            probabilities(q, k) @ v.astype(np.float64),
            case.dtype,
            "at rate 0 the output is not P·v",
            case,
        )


def check_attn_rate_one_zeros(ctx: Context) -> None:
    for case in cases(ctx):
        q, k, v = case.qkv()
        out, _ = run(ctx, q, k, v, 1.0, case.seed)
        if np.any(out != 0):
            raise CheckFailure(
                f"at rate 1 the output is not all zeros: "
                f"{first_mismatch(out, np.zeros_like(out))} ({case.describe()})"
            )


def check_attn_rate_one_error(ctx: Context) -> None:
    q, k, v = _small(ctx)
    try:
        out = ctx.call_raw(q, k, v, rate=1.0, seed=ctx.seed())
    except Exception:
        return
    raise CheckFailure(f"rate 1 was accepted in training (returned {type(out).__name__})")


# ---------------------------------------------------------------- statistical ----


def stat_shape(ctx: Context) -> tuple[int, int, int, int]:
    """P's shape in statistical calls: :data:`STAT_VALUES` distinct mask values, a broadcast
    axis of side 1 (its values add none; the sharing is BROADCAST's, checked exactly) and
    seq_q taking the rest."""
    shared = {BROADCAST_AXIS[name] for name in ctx.options["broadcast"]}
    b, h = (1 if axis in shared else STAT_SIDE for axis in (0, 1))
    return b, h, STAT_VALUES // (b * h * STAT_SEQ_K), STAT_SEQ_K


def stat_inputs(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q = 0, k, v = I of :data:`STAT_SHAPE` in the dtype being checked (made once)."""
    key = ("attention stat inputs", ctx.stat_dtype)
    if key not in ctx.cache:
        rng = np.random.default_rng([ctx.check_seed, 0xA77])
        arrays = attention_inputs(
            rng, stat_shape(ctx), STAT_D, ctx.stat_dtype, q_zero=True, v_identity=True
        )
        ctx.cache[key] = tuple(ctx.reusable(a) for a in arrays)
    found: tuple[np.ndarray, np.ndarray, np.ndarray] = ctx.cache[key]
    return found


def device_output(
    ctx: Context, arrays: tuple[np.ndarray, ...], rate: float, seed: int | None = None
) -> Array:
    """A training call's output where it lives, for reductions."""
    q, k, v = arrays
    out, w = split(ctx, ctx.call_raw(q, k, v, rate=rate, seed=seed))
    require_shapes(out, w, q, v, True)
    return ctx.backend.for_reduction(out)


def distinct_mask(ctx: Context, keep: Array) -> Array:
    """The keep mask with each broadcast axis cut to its first entry (its distinct values)."""
    for name in ctx.options["broadcast"]:
        axis = BROADCAST_AXIS[name]
        index = tuple(slice(0, 1) if i == axis else slice(None) for i in range(4))
        keep = keep[index]
    return keep


def keep_masks(ctx: Context, rate: float) -> Iterator[Array]:
    """Keep masks read from training calls on :func:`stat_inputs` (without end)."""
    arrays = stat_inputs(ctx)
    while True:
        yield distinct_mask(ctx, device_output(ctx, arrays, rate) != 0)


def _rate_plan(ctx: Context) -> list[StatResult]:
    each = ctx.split(len(STAT_RATES))
    return [rate_test(ctx, rate, each).result(rate=rate) for rate in STAT_RATES]


@every_dtype
@planned(_rate_plan)
def check_attn_rate(ctx: Context) -> StatResult:
    each = ctx.split(len(STAT_RATES))
    results = [
        drop_test(ctx, keep_masks(ctx, rate), rate, each, rate_test(ctx, rate, each))
        for rate in STAT_RATES
    ]
    return verdict(results, "the share of dropped attention probabilities is not the rate")


def independent_axes(ctx: Context) -> tuple[int, ...]:
    shared = {BROADCAST_AXIS[name] for name in ctx.options["broadcast"]}
    return tuple(a for a in range(4) if a not in shared)


def _independent_plan(ctx: Context) -> list[StatResult]:
    shape = mask_shape(stat_shape(ctx), ctx.options["broadcast"])
    sizes = neighbour_sizes(shape, INDEPENDENT_CALLS, independent_axes(ctx))
    return plan_tables(ctx, sizes, rate=INDEPENDENT_RATE)


@every_dtype
@planned(_independent_plan)
def check_attn_independent(ctx: Context) -> StatResult:
    masks = keep_masks(ctx, INDEPENDENT_RATE)
    calls = (next(masks) for _ in range(INDEPENDENT_CALLS))
    tables = neighbour_tables(ctx, calls, independent_axes(ctx))
    alpha = ctx.split(len(tables))
    results = [t.test(alpha, rate=INDEPENDENT_RATE, **where) for where, t in tables]
    return verdict(
        results, "mask values of neighbouring positions, heads or examples are dependent"
    )


def unbiased_inputs(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = ("attention unbiased inputs", ctx.stat_dtype)
    if key not in ctx.cache:
        rng = np.random.default_rng([ctx.check_seed, 0xB1A5])
        q, k, _ = attention_inputs(rng, stat_shape(ctx), STAT_D, ctx.stat_dtype, q_zero=True)
        b, h, _, sk = stat_shape(ctx)
        v = rng.choice(UNBIASED_VALUES, (b, h, sk, sk)).astype(as_dtype(ctx.stat_dtype))
        ctx.cache[key] = (ctx.reusable(q), ctx.reusable(k), ctx.reusable(v))
    found: tuple[np.ndarray, np.ndarray, np.ndarray] = ctx.cache[key]
    return found


def output_sum_moments(ctx: Context, v: np.ndarray, rate: float) -> tuple[float, float, int]:
    """E and Var of the sum of one training output at q = 0 (P = 1/seq_k), and the number of
    distinct mask values it sums: Σ out = (s/seq_k)·Σ M·c with c the row sums of v, masks
    shared along the broadcast axes adding up their rows' c first."""
    _, _, sq, sk = stat_shape(ctx)
    c = v.astype(np.float64).sum(axis=-1)  # (b, h, sk)
    for name in ctx.options["broadcast"]:
        c = c.sum(axis=BROADCAST_AXIS[name], keepdims=True)
    s, keep = scale(ctx, rate), 1.0 - rate
    mean = s * keep * sq * float(c.sum()) / sk
    variance = (s / sk) ** 2 * keep * (1.0 - keep) * sq * float((c * c).sum())
    return mean, variance, sq * c.size


def _unbiased_plan(ctx: Context) -> list[StatResult]:
    each = ctx.split(len(UNBIASED_RATES))
    v = unbiased_inputs(ctx)[2]
    return [
        st_.z_mean(
            0.0,
            0.0,
            1.0,
            UNBIASED_CALLS * output_sum_moments(ctx, v, r)[2],
            alpha=each,
            power=ctx.power,
            rate=r,
        )
        for r in UNBIASED_RATES
    ]


@every_dtype
@planned(_unbiased_plan)
def check_attn_unbiased(ctx: Context) -> StatResult:
    arrays = unbiased_inputs(ctx)
    each = ctx.split(len(UNBIASED_RATES))
    results = []
    for rate in UNBIASED_RATES:
        mean, variance, n = output_sum_moments(ctx, arrays[2], rate)
        total = 0.0
        for _ in range(UNBIASED_CALLS):
            out = device_output(ctx, arrays, rate)
            xp = reduce.namespace(out)
            total += float(ctx.host(xp.sum(xp.astype(out, xp.float64))))
        results.append(
            st_.z_mean(
                total,
                UNBIASED_CALLS * mean,
                UNBIASED_CALLS * variance,
                UNBIASED_CALLS * n,
                alpha=each,
                power=ctx.power,
                rate=rate,
            )
        )
    return verdict(results, "the mean training output is not P·v")


#: VARIANCE's rates and its mask groups per rate (one group: a (query, example, head) row,
#: or the rows sharing one mask along the broadcast axes): n = 16,384 give a z-test that
#: detects 0.064 sd of one group's squared deviation at power 0.999, about a 9% change of
#: the variance (a squared deviation's sd is about √2 times its mean).
VARIANCE_RATES, VARIANCE_GROUPS = (0.25, 0.75), 1 << 14
#: The side of a batch or heads axis in VARIANCE's calls, 2 where broadcast (two rows share
#: each mask: a sum's variance up to doubled), 4 where not; and seq_q, kept short: the
#: reference's softmax costs several times more per row at seq_q 2048 than at 256.
VARIANCE_SHARED_SIDE, VARIANCE_SIDE, VARIANCE_SEQ_Q = 2, 4, 256
#: The range of v (one column): positive, so that masks that covary inside a row move the
#: variance of its output (signs of both kinds would cancel their covariance on average).
VARIANCE_V = (0.5, 1.5)


def variance_shape(ctx: Context) -> tuple[int, int, int, int]:
    """P's shape in VARIANCE's calls."""
    shared = {BROADCAST_AXIS[name] for name in ctx.options["broadcast"]}
    b, h = (VARIANCE_SHARED_SIDE if axis in shared else VARIANCE_SIDE for axis in (0, 1))
    return b, h, VARIANCE_SEQ_Q, STAT_SEQ_K


def variance_calls(ctx: Context) -> int:
    """Calls per rate: :data:`VARIANCE_GROUPS` over the mask groups of one call."""
    b, h, sq, _ = mask_shape((*variance_shape(ctx)[:3], 1), ctx.options["broadcast"])
    return VARIANCE_GROUPS // (b * h * sq)


def variance_inputs(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q and k uniform in [-1, 1] (P far from uniform), v of one column in :data:`VARIANCE_V`."""
    key = ("attention variance inputs", ctx.stat_dtype)
    if key not in ctx.cache:
        rng = np.random.default_rng([ctx.check_seed, 0x7A2])
        b, h, sq, sk = variance_shape(ctx)
        q, k, _ = attention_inputs(rng, (b, h, sq, sk), STAT_D, ctx.stat_dtype, d_v=1)
        v = rng.uniform(*VARIANCE_V, (b, h, sk, 1)).astype(as_dtype(ctx.stat_dtype))
        ctx.cache[key] = (ctx.reusable(q), ctx.reusable(k), ctx.reusable(v))
    found: tuple[np.ndarray, np.ndarray, np.ndarray] = ctx.cache[key]
    return found


def shared_sum(ctx: Context, a: np.ndarray) -> np.ndarray:
    """``a`` summed over the declared broadcast axes (kept, of side 1)."""
    for name in ctx.options["broadcast"]:
        a = a.sum(axis=BROADCAST_AXIS[name], keepdims=True)
    return a


def group_moments(
    ctx: Context, arrays: tuple[np.ndarray, ...], rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per mask group, the mean and variance of its output Y = Σ_k a_k·M_k (a_k = s·P_ik·v_k
    summed over the rows sharing the mask, M_k ~ Bernoulli(1 − rate)) and the variance of
    (Y − E[Y])², from the central moments of a Bernoulli: σ² = rate·(1 − rate), μ₄ =
    σ²·(1 − 3σ²), so Var[(Y − E Y)²] = (μ₄ − 3σ⁴)·Σa⁴ + 2σ⁴·(Σa²)²."""
    q, k, v = arrays
    a = shared_sum(ctx, scale(ctx, rate) * probabilities(q, k) * v[..., 0][..., None, :])
    sigma2 = rate * (1.0 - rate)
    mu4 = sigma2 * (1.0 - 3.0 * sigma2)
    a2, a4 = (a * a).sum(axis=-1), (a**4).sum(axis=-1)
    return (
        (1.0 - rate) * a.sum(axis=-1),
        sigma2 * a2,
        (mu4 - 3.0 * sigma2 * sigma2) * a4 + 2.0 * sigma2 * sigma2 * a2 * a2,
    )


def _variance_plan(ctx: Context) -> list[StatResult]:
    each = ctx.split(len(VARIANCE_RATES))
    n = VARIANCE_GROUPS
    return [
        st_.z_mean(0.0, 0.0, 1.0, n, alpha=each, power=ctx.power, rate=r) for r in VARIANCE_RATES
    ]


@wide_dtypes
@planned(_variance_plan)
def check_attn_variance(ctx: Context) -> StatResult:
    """A z-test per rate that Σ (Y − E[Y])² over the mask groups of :func:`variance_calls` is
    Σ Var[Y], with its known variance (:func:`group_moments`); float32 and float64 only,
    where the rounding of P and of the product moves the variance by ~1e-4 of the test's
    resolution, not in half types, where it is comparable to it."""
    arrays = variance_inputs(ctx)
    each = ctx.split(len(VARIANCE_RATES))
    results, calls = [], variance_calls(ctx)
    for rate in VARIANCE_RATES:
        mean, variance, spread = group_moments(ctx, arrays, rate)
        total = 0.0
        for _ in range(calls):
            out = ctx.host(device_output(ctx, arrays, rate)).astype(np.float64)
            y = shared_sum(ctx, out)[..., 0]
            total += float(((y - mean) ** 2).sum())
        results.append(
            st_.z_mean(
                total,
                calls * float(variance.sum()),
                calls * float(spread.sum()),
                calls * mean.size,
                alpha=each,
                power=ctx.power,
                rate=rate,
            )
        )
    return verdict(
        results,
        "the training output's variance given q, k and v is not s²·rate·(1 − rate)·Σ P²·v² "
        "(summed over the declared broadcast axes before squaring)",
    )


# ---------------------------------------------------------------- seeds ----


def seed_mask(ctx: Context, seed: int) -> np.ndarray:
    """The distinct keep mask of one training call at rate 0.5, read with v = I on the
    general exact case's shape (compiled already where a framework compiles per shape), in
    float32 where the target has it: 240 mask values, 40 where broadcast over batch and
    heads, so two independent seeds' masks agree with probability 2⁻⁴⁰ or less."""
    dtype = "float32" if "float32" in ctx.dtypes else ctx.dtypes[-1]
    case = Case(*CASE_SHAPES[-1], dtype, 0.5, seed, ctx.check_seed)
    keep = dropped_probabilities(ctx, case)[0] != 0
    found: np.ndarray = distinct_mask(ctx, keep)
    return found


def check_attn_seed_space(ctx: Context) -> None:
    """Each edge seed (:func:`.relations.edge_seeds`) gives one mask twice, and no two give
    the same mask."""
    masks: list[tuple[int, np.ndarray]] = []
    for s in edge_seeds(ctx.target.seed_bits):
        first, second = seed_mask(ctx, s), seed_mask(ctx, s)
        if not np.array_equal(first, second):
            raise CheckFailure(
                f"seed {s} gives two different masks in two calls of {first.size} values at "
                f"rate 0.5: it is not taken as a seed (seed 0 read as 'no seed' does this)"
            )
        for t, earlier in masks:
            if np.array_equal(first, earlier):
                raise CheckFailure(
                    f"seeds {t} and {s} give the same mask of {first.size} values at rate 0.5"
                )
        masks.append((s, first))


def check_attn_seed_pairs(ctx: Context) -> None:
    """A drawn seed's mask against those of its :func:`.relations.seed_pairs`."""
    bits = ctx.target.seed_bits
    # Both 32-bit halves nonzero (where the width has two), so that the folded and swapped
    # partners are seeds other than s.
    seed = ctx.seed() | (1 << min(bits - 1, 40)) | 1
    base = seed_mask(ctx, seed)
    for other, label in seed_pairs(seed, bits):
        if np.array_equal(base, seed_mask(ctx, other)):
            raise CheckFailure(
                f"seeds {seed} and {other} ({label}) give the same mask of {base.size} values "
                f"at rate 0.5"
            )


def _seed_keep_mask(ctx: Context, seed: int) -> Array:
    """The distinct keep mask of one training call at rate 0.5 on :func:`stat_inputs`
    (:data:`STAT_VALUES` values), where it lives."""
    return distinct_mask(ctx, device_output(ctx, stat_inputs(ctx), 0.5, seed) != 0)


def _independent_seeds_plan(ctx: Context) -> list[StatResult]:
    return independent_seeds_plan(ctx, STAT_VALUES)


@planned(_independent_seeds_plan)
@every_dtype
def check_attn_independent_seeds(ctx: Context) -> StatResult:
    """The test of DROPOUT-INDEPENDENT-SEEDS (:func:`.common.independent_seeds`) on the
    masks of :func:`stat_inputs` (q = 0, v = I: the output is 0 exactly where dropped)."""
    return independent_seeds(ctx, lambda s: _seed_keep_mask(ctx, s), STAT_VALUES)


def _readable(p: np.ndarray, dtype: str) -> np.ndarray:
    """Where a kept s·P stays far from 0 in ``dtype`` (q scaled by 4 can make P underflow)."""
    tiny = float(np.finfo(np.float32).tiny) if dtype == "bfloat16" else None
    floor = tiny if tiny is not None else float(np.finfo(as_dtype(dtype)).tiny)
    out: np.ndarray = p > 64 * floor
    return out


def check_attn_mask_value_free(ctx: Context) -> None:
    """For each case, the mask read with v = I (output 0 exactly where dropped) against the
    masks of the same seed on q and on k each replaced by its sign flip, power-of-two
    scalings, permutation and all ones (:func:`.relations._variants`), and on v = 2·I
    and v = I with its columns reversed (the output's columns reversed): every position
    whose P is readable in the dtype must be dropped alike."""
    for case in cases(ctx):
        q, k, eye = case.qkv(v_identity=True)
        p = probabilities(q, k)
        base, _ = run(ctx, q, k, eye, case.rate, case.seed)
        keep0, sure0 = base != 0, _readable(p, case.dtype)
        tried: list[tuple[str, np.ndarray, np.ndarray]] = []
        for name, index in (("q", 0), ("k", 1)):
            for label, x in _variants((q, k)[index], case.data_seed):
                qv, kv = (x, k) if index == 0 else (q, x)
                out, _ = run(ctx, qv, kv, eye, case.rate, case.seed)
                tried.append(
                    (f"{name} → {label}", out != 0, _readable(probabilities(qv, kv), case.dtype))
                )
        for label, v, cols in (
            ("v = 2·I", 2 * eye, slice(None)),
            ("v = I, columns reversed", eye[..., ::-1].copy(), slice(None, None, -1)),
        ):
            out, _ = run(ctx, q, k, v, case.rate, case.seed)
            tried.append((label, out[..., cols] != 0, sure0))
        for label, keep, sure in tried:
            bad = (keep != keep0) & sure & sure0
            if bad.any():
                idx = tuple(int(i[0]) for i in np.nonzero(bad))
                raise CheckFailure(
                    f"the same seed drops other positions for {label} than for the case's "
                    f"q, k and v = I: {int(bad.sum())} of {bad.size} differ, first at "
                    f"(example, head, query, key) {idx} ({case.describe()})"
                )


def _relation_case(ctx: Context, seed: int) -> Case:
    dtype = "float32" if "float32" in ctx.dtypes else ctx.dtypes[-1]
    return Case(*CASE_SHAPES[-1], dtype, 0.5, seed, ctx.check_seed & 0xFFFFFFFF)


def check_attn_fresh_output(ctx: Context) -> None:
    """:func:`.relations.fresh_output` on the general case's q, k and v: the output and the
    returned weights are each new arrays."""
    fresh_output(
        ctx,
        _relation_case(ctx, 0).qkv(),
        lambda raw: tuple(a for a in split(ctx, raw) if a is not None),
    )


def check_attn_rate_invalid_inference(ctx: Context) -> None:
    rate_invalid_inference(ctx, _small(ctx))


def check_attn_seed_process(ctx: Context) -> None:
    """:func:`.relations.seed_process` on the general case's q, k and v at rate 0.3."""
    case = _relation_case(ctx, 0)
    q, k, v = case.qkv()
    seed_process(ctx, (q, k, v), 0.3, lambda s: run(ctx, q, k, v, 0.3, s)[0])


def carried_layouts(ctx: Context) -> tuple[str, ...]:
    """The layouts other than C order that the target's arrays can carry."""
    carried = space.STRIDES[ctx.backend.strides]
    return tuple(lay.name for lay in space.LAYOUTS if lay.name != "C" and lay.needs in carried)


def check_attn_layout(ctx: Context) -> None:
    """For every layout the framework carries, the general case's q, k and v (and v = I)
    laid out so, against contiguous copies with the same seed: the same zeros with v = I,
    the same values to within :func:`near`'s tolerance."""
    layouts = carried_layouts(ctx)
    if not layouts:
        raise NotApplicable(
            f"{ctx.backend.name} arrays are always laid out densely by the framework: an "
            f"input reaches the target in C order whatever its NumPy layout"
        )
    for case in cases(ctx):
        if case.batch < 2:
            continue  # the general shape: every layout differs from C order there
        q, k, v = case.qkv()
        eye = case.qkv(v_identity=True)[2]
        for name in layouts:
            for vv, what in ((eye, "v = I"), (v, "random v")):
                lq, lk, lv = (space.lay_out(a, name) for a in (q, k, vv))
                # The contiguous copies hold the laid-out values (a broadcast view repeats
                # example 0).
                cq, ck, cv = (np.array(a, copy=True, order="C") for a in (lq, lk, lv))
                dense, _ = run(ctx, cq, ck, cv, case.rate, case.seed)
                got, _ = run(ctx, lq, lk, lv, case.rate, case.seed)
                if what == "v = I" and not np.array_equal(got != 0, dense != 0):
                    raise CheckFailure(
                        f"inputs in {name} layout drop other positions than their contiguous "
                        f"copies: {first_mismatch(got, dense)} ({case.describe()})"
                    )
                near(
                    got,
                    dense.astype(np.float64),
                    case.dtype,
                    f"inputs in {name} layout ({what}) give another output than their "
                    "contiguous copies",
                    case,
                )


register(
    "attention_dropout",
    {
        "ATTN-SHAPE": check_attn_shape,
        "ATTN-DTYPE": check_attn_dtype,
        "ATTN-DETERMINISTIC": check_attn_deterministic,
        "ATTN-RATE-INVALID": check_attn_rate_invalid,
        "ATTN-VALUES": check_attn_values,
        "ATTN-RATE": check_attn_rate,
        "ATTN-INDEPENDENT": check_attn_independent,
        "ATTN-BROADCAST": check_attn_broadcast,
        "ATTN-UNBIASED": check_attn_unbiased,
        "ATTN-VARIANCE": check_attn_variance,
        "ATTN-INFERENCE-IDENTITY": check_attn_inference_identity,
        "ATTN-NO-SWITCH": check_attn_no_switch,
        "ATTN-WEIGHTS-BEFORE": check_attn_weights_before,
        "ATTN-WEIGHTS-AFTER": check_attn_weights_after,
        "ATTN-GRADIENT": check_attn_gradient,
        "ATTN-RATE-ZERO": check_attn_rate_zero,
        "ATTN-RATE-ONE-ZEROS": check_attn_rate_one_zeros,
        "ATTN-RATE-ONE-ERROR": check_attn_rate_one_error,
        "ATTN-SEED-SPACE": check_attn_seed_space,
        "ATTN-SEED-PAIRS": check_attn_seed_pairs,
        "ATTN-INDEPENDENT-SEEDS": check_attn_independent_seeds,
        "ATTN-MASK-VALUE-FREE": check_attn_mask_value_free,
        "ATTN-FRESH-OUTPUT": check_attn_fresh_output,
        "ATTN-RATE-INVALID-INFERENCE": check_attn_rate_invalid_inference,
        "ATTN-SEED-PROCESS": check_attn_seed_process,
        "ATTN-LAYOUT": check_attn_layout,
    },
    mask="attention",
    inputs="attention",
)
