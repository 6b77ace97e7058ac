"""The checks of the state clauses (``*-STATE-*``): a layer that owns its random state,
built once by its target's factory and called again and again without a seed, as a training
loop calls it (targets declared with :func:`dropspec.stateful_target`).

Every other clause sees such a target through its seeded convention, one new layer per call;
these checks alone call one instance several times. The sequences they compare are built
one instance after the other, never interleaved: a layer whose state is a framework's global
generator (torch) is reproducible only so.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ...dtypes import as_dtype
from .. import reduce
from .. import stats as st_
from .. import strategies as gen
from ..context import CheckFailure, Context, NotApplicable, TargetError, mark_from_target
from ..stats import StatResult
from ._examples import WIDE, close, first_mismatch, need_vjp, require_same
from ._geometry import geometry
from ._masks import (
    decode,
    decoded_layout,
    decoder_layer,
    dropped_probability,
    keep_mask,
    mask_layout,
    multipliers,
    scale,
)
from ._statistical import every_dtype, planned, verdict

#: Calls of one instance that the exact state checks compare, and the rates they run at.
STATE_STEPS = 4
STATE_RATES = (0.5, 0.2)
#: Values per call of the exact state checks (two calls at rate 0.2 share a mask with
#: probability 0.68^4096: never).
STATE_VALUES = 1 << 12
#: STATE-CALLS: calls of one instance, its rate, and mask values per call.
STATE_CALLS_K, STATE_CALLS_RATE, STATE_CALLS_VALUES = 24, 0.5, 1 << 15


def build(ctx: Context, rate: float, seed: int) -> Any:
    """A new instance of the target's layer at ``rate``, its state seeded with ``seed``."""
    factory = ctx.target.factory
    if factory is None:
        raise NotApplicable("the target is a seeded function, not a layer with state")
    start = time.perf_counter()
    try:
        return factory(rate, seed=seed)
    except BaseException as exc:
        mark_from_target(exc)
        raise
    finally:
        ctx.target_seconds += time.perf_counter() - start


def step(ctx: Context, layer: Any, *arrays: Any, training: bool) -> Any:
    """One call of ``layer`` on framework arrays; its output where it lives."""
    start = time.perf_counter()
    try:
        out = layer(*arrays, training=training)
    except BaseException as exc:
        mark_from_target(exc)
        raise
    finally:
        ctx.target_seconds += time.perf_counter() - start
    if not ctx.backend.is_array(out):
        raise TargetError(
            f"target {ctx.target.name!r}: its layer returned {type(out).__name__}, not a "
            f"{ctx.backend.name} array"
        )
    return out


def host_step(ctx: Context, layer: Any, x: np.ndarray, training: bool) -> np.ndarray:
    """One call of ``layer`` on a fresh copy of ``x``; its output as a NumPy array."""
    y = ctx.host(step(ctx, layer, ctx.framework_array(x), training=training))
    if y.shape != x.shape:
        raise CheckFailure(
            f"training={training}: the layer's output has shape {y.shape}, expected {x.shape}",
            any_dtype=True,
        )
    return y


def state_inputs(ctx: Context, dtype: str, salt: int) -> np.ndarray:
    """Positive inputs of ``dtype`` for the exact state checks (no zeros, so a dropped
    value shows)."""
    shape = geometry(ctx).stat_shape(STATE_VALUES)
    return gen.values(int(ctx.rng.integers(1 << 62)) + salt, shape, dtype, signed=False)


def training_run(ctx: Context, rate: float, seed: int, x: np.ndarray) -> list[np.ndarray]:
    """The outputs of :data:`STATE_STEPS` training calls of a new instance."""
    layer = build(ctx, rate, seed)
    return [host_step(ctx, layer, x, True) for _ in range(STATE_STEPS)]


def _distinct(ctx: Context, outputs: list[np.ndarray], what: str) -> None:
    """A reproduced sequence shows nothing if each call repeats the first: say so here
    (STATE-CALLS has the statistics)."""
    if all(np.array_equal(o, outputs[0], equal_nan=True) for o in outputs[1:]):
        raise CheckFailure(
            f"{what}: the {len(outputs)} training calls of one instance returned the same "
            f"output each time: its state does not advance"
        )


# ---------------------------------------------------------------- the clauses ----


def _calls_layout(ctx: Context) -> tuple[tuple[int, ...], int]:
    shape = geometry(ctx).stat_shape(STATE_CALLS_VALUES)
    return mask_layout(ctx, STATE_CALLS_K * STATE_CALLS_VALUES, shape=shape)


def plan_state_calls(ctx: Context) -> list[StatResult]:
    k, p = STATE_CALLS_K, dropped_probability(ctx, STATE_CALLS_RATE)
    _, n = _calls_layout(ctx)
    histogram = np.zeros(k + 1, dtype=np.int64)
    histogram[k // 2] = n  # any histogram of n values: only the sizing is read
    return [st_.binomial_histogram_gof(histogram, k, p, alpha=ctx.alpha, power=ctx.power)]


@planned(plan_state_calls)
@every_dtype
def check_state_calls(ctx: Context) -> StatResult:
    """Each mask value's drop count over k calls of one instance against Binomial(k, p)."""
    k, rate = STATE_CALLS_K, STATE_CALLS_RATE
    p = dropped_probability(ctx, rate)
    shape, _ = _calls_layout(ctx)
    shared = geometry(ctx).shared_of(len(shape))
    x = ctx.framework_array(np.ones(shape, dtype=as_dtype(ctx.stat_dtype)))
    layer = build(ctx, rate, ctx.seed())
    counts: Any = None
    for _ in range(k):
        y = ctx.backend.for_reduction(step(ctx, layer, ctx.backend.fresh(x), training=True))
        keep = keep_mask(ctx, y, rate, shared)
        xp = reduce.namespace(keep)
        dropped = xp.astype(xp.logical_not(keep), xp.int64)
        counts = dropped if counts is None else counts + dropped
    histogram = ctx.host(reduce.histogram(counts, k=k))
    res = st_.binomial_histogram_gof(histogram, k, p, alpha=ctx.alpha, power=ctx.power)
    return verdict([res], "drop counts over k calls of one instance are not Binomial(k, rate)")


def check_state_reproducible(ctx: Context) -> None:
    for dtype in ctx.dtypes:
        x = state_inputs(ctx, dtype, 0)
        for rate in STATE_RATES:
            seed = ctx.seed()
            first = training_run(ctx, rate, seed, x)
            second = training_run(ctx, rate, seed, x)
            where = f"{dtype}, rate {rate}, initial seed {seed}"
            for i, (a, b) in enumerate(zip(first, second, strict=True)):
                require_same(
                    f"call {i + 1} of {STATE_STEPS} ({where})",
                    b,
                    a,
                    "a second instance from the same initial seed returned another output",
                )


def check_state_inference(ctx: Context) -> None:
    for dtype in ctx.dtypes:
        x = state_inputs(ctx, dtype, 0)
        others = [state_inputs(ctx, dtype, i) for i in (1, 2, 3)]
        for rate in STATE_RATES:
            seed = ctx.seed()
            where = f"{dtype}, rate {rate}, initial seed {seed}"
            plain = training_run(ctx, rate, seed, x)
            _distinct(ctx, plain, where)
            fresh = build(ctx, rate, ctx.seed())
            want = [host_step(ctx, fresh, v, False) for v in [x, *others]]
            layer = build(ctx, rate, seed)
            for i in range(STATE_STEPS):
                # Inference calls before each training call: of other inputs, then of x.
                for j, v in enumerate([*others[: i % 3 + 1], x]):
                    w = want[0] if v is x else want[1 + j]
                    got = host_step(ctx, layer, v, False)
                    require_same(
                        f"inference before training call {i + 1} ({where})",
                        got,
                        w,
                        "an inference call of a used instance differs from a new instance's",
                    )
                require_same(
                    f"training call {i + 1} of {STATE_STEPS} ({where})",
                    host_step(ctx, layer, x, True),
                    plain[i],
                    "with inference calls between them, the training calls return other "
                    "outputs than without: inference depends on or advances the state",
                )


def check_state_gradient(ctx: Context) -> None:
    wide = tuple(d for d in ctx.dtypes if d in WIDE)
    if not wide:
        raise NotApplicable("the gradient check runs in float32 or float64, which the target lacks")
    for dtype in wide:
        x = state_inputs(ctx, dtype, 0)
        cot = gen.values(int(ctx.rng.integers(1 << 62)), x.shape, dtype)
        for rate in STATE_RATES:
            seed = ctx.seed()
            where = f"{dtype}, rate {rate}, initial seed {seed}"
            forward = training_run(ctx, rate, seed, x)
            _distinct(ctx, forward, where)
            layer = build(ctx, rate, seed)

            def train(xa: Any, layer: Any = layer) -> Any:
                return step(ctx, layer, xa, training=True)

            for i, y in enumerate(forward):
                got = need_vjp(ctx, train, x, cot)
                m = multipliers(ctx, y.astype(np.float64), x.astype(np.float64), rate)
                want = cot.astype(np.float64) * m
                if not close(got, want, dtype if dtype != "float64" else "float32"):
                    raise CheckFailure(
                        f"call {i + 1} of {STATE_STEPS} ({where}): the gradient is not that "
                        f"call's forward mask times its scale: {first_mismatch(got, want)}"
                    )


#: STATE-STREAMS: calls of one instance, alternating between two numbers of mask values (a
#: generator that advances by the first call's size, or by a fixed amount, then overlaps
#: itself), and the largest false-alarm probability the check accepts.
STREAM_CALLS, STREAM_SIZES, STREAM_RATE, STREAM_FALSE_ALARM = 1025, (192, 320), 0.5, 1e-9


def window_bits(p: float, values: int, false_alarm: float = STREAM_FALSE_ALARM) -> int:
    """The window length w such that, among ``values`` independent mask bits each 1 with
    probability ``p``, the chance that any two of the windows of w bits starting at
    different positions are equal is at most ``false_alarm``: a union bound over the pairs,
    each equal with probability (p^2 + (1 - p)^2)^w at most (overlapping windows included,
    since a window equal to a shifted copy of itself is at most as likely)."""
    same = p * p + (1.0 - p) * (1.0 - p)
    pairs = values * values / 2.0
    return max(16, math.ceil(math.log(false_alarm / pairs) / math.log(same)))


def repeated_window(bits: np.ndarray, w: int) -> tuple[int, int] | None:
    """Two different start positions of equal windows of ``w`` bits in ``bits`` (0/1), the
    earlier first; None when every window is unique."""
    if bits.size < w + 1:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(bits.astype(np.uint8), w)
    packed = np.packbits(windows, axis=1)
    rows = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    order = np.argsort(rows, kind="stable")
    same = np.flatnonzero(rows[order][1:] == rows[order][:-1])
    if same.size == 0:
        return None
    a, b = int(order[same[0]]), int(order[same[0] + 1])
    return min(a, b), max(a, b)


def check_state_streams(ctx: Context) -> None:
    """Successive calls of one instance, of two alternating sizes: the mask bits of all
    calls, read in call order as one stream, hold no window of w bits twice (w from
    :func:`window_bits`, so that independent masks repeat one with probability below
    :data:`STREAM_FALSE_ALARM`): no call's mask repeats part of another's, at any shift."""
    rate, dtype = STREAM_RATE, as_dtype(ctx.stat_dtype)
    g = geometry(ctx)
    layouts = [mask_layout(ctx, n, shape=g.stat_shape(n)) for n in STREAM_SIZES]
    shapes = [shape for shape, _ in layouts]
    total = sum(layouts[i % 2][1] for i in range(STREAM_CALLS))
    w = window_bits(dropped_probability(ctx, rate), total)
    inputs = [ctx.framework_array(np.ones(shape, dtype=dtype)) for shape in shapes]
    layer = build(ctx, rate, ctx.seed())
    parts: list[np.ndarray] = []
    starts: list[int] = []
    at = 0
    for i in range(STREAM_CALLS):
        x = inputs[i % 2]
        y = ctx.backend.for_reduction(step(ctx, layer, ctx.backend.fresh(x), training=True))
        keep = ctx.host(keep_mask(ctx, y, rate, g.shared_of(len(shapes[i % 2]))))
        parts.append(np.asarray(keep, dtype=bool).ravel())
        starts.append(at)
        at += parts[-1].size
    found = repeated_window(np.concatenate(parts), w)
    if found is None:
        return
    where = []
    for pos in found:
        call = int(np.searchsorted(starts, pos, side="right")) - 1
        where.append(f"call {call + 1} from mask value {pos - starts[call]}")
    raise CheckFailure(
        f"{w} successive mask values of {where[1]} repeat those of {where[0]} (calls of "
        f"{' and '.join(str(n) for _, n in layouts)} mask values in turn, rate {rate}, "
        f"{STREAM_CALLS} calls; independent masks repeat {w} values with probability below "
        f"{STREAM_FALSE_ALARM:g}): the instance draws its masks from overlapping random streams"
    )


# ------------------------------------------------------- DropConnect layers ----
# A DropConnect layer is called as layer(x, weight, bias, *, training). Its masks are read
# from a decoder layer (x = 1, W[o, j] = 2^j: ``_masks.decoder_layer``), whose output's
# binary digits are the weight mask of each example and output.


def dc_arrays(
    ctx: Context, dtype: str, batch: int = 4, n_out: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A decoder layer in ``dtype``: its outputs are distinct for distinct masks."""
    return decoder_layer(ctx, batch, n_out, 12 if dtype in WIDE else 4, dtype)


def dc_host_step(
    ctx: Context, layer: Any, arrays: tuple[np.ndarray, ...], training: bool
) -> np.ndarray:
    """One call of a DropConnect ``layer`` on fresh copies of ``arrays``; its output on the
    host, of shape (batch, out)."""
    x, w, _ = arrays
    out = step(ctx, layer, *(ctx.framework_array(a) for a in arrays), training=training)
    y = ctx.host(out)
    if y.shape != (x.shape[0], w.shape[0]):
        raise CheckFailure(
            f"training={training}: the layer's output has shape {y.shape}, expected "
            f"{(x.shape[0], w.shape[0])}",
            any_dtype=True,
        )
    return y


def dc_training_run(
    ctx: Context, rate: float, seed: int, arrays: tuple[np.ndarray, ...]
) -> list[np.ndarray]:
    layer = build(ctx, rate, seed)
    return [dc_host_step(ctx, layer, arrays, True) for _ in range(STATE_STEPS)]


def _dc_calls_layout(ctx: Context) -> tuple[int, int, int, int]:
    return decoded_layout(ctx, STATE_CALLS_VALUES)


def plan_dc_state_calls(ctx: Context) -> list[StatResult]:
    k = STATE_CALLS_K
    batch, n_out, n_in, _ = _dc_calls_layout(ctx)
    histogram = np.zeros(k + 1, dtype=np.int64)
    histogram[k // 2] = batch * n_out * n_in  # any histogram of n values: only the sizing
    p = STATE_CALLS_RATE
    return [st_.binomial_histogram_gof(histogram, k, p, alpha=ctx.alpha, power=ctx.power)]


@planned(plan_dc_state_calls)
@every_dtype
def check_dc_state_calls(ctx: Context) -> StatResult:
    """Each weight mask value's drop count over k calls of one instance (a decoder layer,
    one call's masks (batch, out, in)) against Binomial(k, rate)."""
    k, rate = STATE_CALLS_K, STATE_CALLS_RATE
    batch, n_out, n_in, _ = _dc_calls_layout(ctx)
    arrays = [
        ctx.framework_array(a) for a in decoder_layer(ctx, batch, n_out, n_in, ctx.stat_dtype)
    ]
    layer = build(ctx, rate, ctx.seed())
    counts: Any = None
    for _ in range(k):
        fresh = [ctx.backend.fresh(a) for a in arrays]
        y = ctx.backend.for_reduction(step(ctx, layer, *fresh, training=True))
        weight, _ = decode(ctx, y, rate, n_in)
        xp = reduce.namespace(weight)
        dropped = xp.astype(xp.logical_not(xp.astype(weight, xp.bool)), xp.int64)
        counts = dropped if counts is None else counts + dropped
    histogram = ctx.host(reduce.histogram(counts, k=k))
    res = st_.binomial_histogram_gof(histogram, k, rate, alpha=ctx.alpha, power=ctx.power)
    return verdict(
        [res], "weight drop counts over k calls of one instance are not Binomial(k, rate)"
    )


def check_dc_state_reproducible(ctx: Context) -> None:
    for dtype in ctx.dtypes:
        arrays = dc_arrays(ctx, dtype)
        for rate in STATE_RATES:
            seed = ctx.seed()
            first = dc_training_run(ctx, rate, seed, arrays)
            second = dc_training_run(ctx, rate, seed, arrays)
            where = f"{dtype}, rate {rate}, initial seed {seed}"
            for i, (a, b) in enumerate(zip(first, second, strict=True)):
                require_same(
                    f"call {i + 1} of {STATE_STEPS} ({where})",
                    b,
                    a,
                    "a second instance from the same initial seed returned another output",
                )


def check_dc_state_inference(ctx: Context) -> None:
    for dtype in ctx.dtypes:
        arrays = dc_arrays(ctx, dtype)
        x, w, b = arrays
        others = [
            (gen.values(int(ctx.rng.integers(1 << 62)) + i, x.shape, dtype), w, b)
            for i in (1, 2, 3)
        ]
        for rate in STATE_RATES:
            seed = ctx.seed()
            where = f"{dtype}, rate {rate}, initial seed {seed}"
            plain = dc_training_run(ctx, rate, seed, arrays)
            _distinct(ctx, plain, where)
            fresh = build(ctx, rate, ctx.seed())
            want = [dc_host_step(ctx, fresh, v, False) for v in [arrays, *others]]
            layer = build(ctx, rate, seed)
            for i in range(STATE_STEPS):
                # Inference calls before each training call: of other inputs, then of x.
                for j, v in enumerate([*others[: i % 3 + 1], arrays]):
                    wanted = want[0] if v is arrays else want[1 + j]
                    require_same(
                        f"inference before training call {i + 1} ({where})",
                        dc_host_step(ctx, layer, v, False),
                        wanted,
                        "an inference call of a used instance differs from a new instance's",
                    )
                require_same(
                    f"training call {i + 1} of {STATE_STEPS} ({where})",
                    dc_host_step(ctx, layer, arrays, True),
                    plain[i],
                    "with inference calls between them, the training calls return other "
                    "outputs than without: inference depends on or advances the state",
                )


def check_dc_state_gradient(ctx: Context) -> None:
    if "float32" not in ctx.dtypes:
        raise NotApplicable("the gradient check runs in float32, which the target lacks")
    arrays = dc_arrays(ctx, "float32")
    x, w, b = arrays
    n_in = x.shape[1]
    cot = gen.values(int(ctx.rng.integers(1 << 62)), (x.shape[0], w.shape[0]), "float32")
    for rate in STATE_RATES:
        seed = ctx.seed()
        where = f"float32, rate {rate}, initial seed {seed}"
        forward = dc_training_run(ctx, rate, seed, arrays)
        _distinct(ctx, forward, where)
        layer = build(ctx, rate, seed)
        wt, bt = (ctx.framework_array(a) for a in (w, b))

        def train(xa: Any, layer: Any = layer, wt: Any = wt, bt: Any = bt) -> Any:
            return step(ctx, layer, xa, wt, bt, training=True)

        for i, y in enumerate(forward):
            m, _ = decode(ctx, y, rate, n_in)
            want = scale(ctx, rate) * np.einsum(
                "no,noi,oi->ni", cot.astype(np.float64), m, w.astype(np.float64)
            )
            got = need_vjp(ctx, train, x, cot)
            tol = 1e-5 * (np.abs(cot.astype(np.float64)) @ w.astype(np.float64) + 1e-30)
            if got.shape != want.shape or not np.all(np.abs(got - want) <= tol):
                raise CheckFailure(
                    f"call {i + 1} of {STATE_STEPS} ({where}): the gradient with respect to x "
                    f"is not s·(M ⊙ W)ᵀ of that call's forward masks: "
                    f"{first_mismatch(got, want) if got.shape == want.shape else got.shape}"
                )
