"""The checks of recurrent dropout's clauses (:mod:`dropspec.spec.recurrent_dropout`).

The target is a linear simple RNN cell with identity kernels and zero biases, so the masks
are read from its states, one path at a time, on x = 1:

- input path (recurrent rate 0): h(t) = h(t−1) + s·m(t), so m(t) is kept exactly where the
  state grew, h(t) ≠ h(t−1) (h(0) = 0);
- state path (rate 0): h(t) = 1 + s_h·r(t)·h(t−1), so r(t) is kept exactly where h(t) ≠ 1,
  readable from t = 2 on (r(1) multiplies h(0) = 0). The state grows as s_h^t, so these
  calls are short (:data:`STATE_STEPS`) and their rates at most 0.95.

Both paths at once are checked by the values (RECUR-VALUES): with x positive and generic,
each state is one of four values given the previous state the target returned.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from ...dtypes import as_dtype, dtype_name, eps
from ...reference.dropout import scale_for
from ...reference.recurrent_dropout import PATH_INPUT, PATH_STATE
from .. import reduce
from ..context import CheckFailure, Context, TargetError, register
from ..reduce import Array
from ..stats import StatResult, binomial
from ._examples import first_mismatch, worst
from ._statistical import (
    drop_test,
    every_dtype,
    neighbour_sizes,
    neighbour_tables,
    plan_tables,
    planned,
    rate_test,
    verdict,
)

#: The exact checks' shapes (batch, time, features): one unit, and a general case. Fixed, so
#: that a framework that compiles per shape compiles few; rates, seeds and data vary.
CASE_SHAPES = ((1, 1, 1), (3, 4, 5))
#: Steps of the calls that read the state mask (its values grow as s_h^t).
STATE_STEPS = 4
#: Tolerance of values compared with float64 expectations, in epsilons of the dtype, relative
#: to the entry plus the largest entry of its step.
ULPS = 16.0
#: (batch, features) of statistical calls: 2^16 mask values a step. Many examples of few
#: features: a layer's kernels cost it O(features) per value (a gated layer's three or four).
STAT_BATCH, STAT_FEATURES = 2048, 32
#: Rates the RATE checks test (scales up to 10: the state calls stay finite in float16).
STAT_RATES = (0.1, 0.5, 0.9)
#: Calls (with neighbouring seeds) INDEPENDENT stacks per path, and its rate.
INDEPENDENT_CALLS, INDEPENDENT_RATE = 4, 0.5


class Case(NamedTuple):
    """One example of an exact check: shape, dtype, a rate per path, seed, data seed."""

    batch: int
    time: int
    features: int
    dtype: str
    rate: float
    recurrent_rate: float
    seed: int
    data_seed: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.batch, self.time, self.features

    def describe(self) -> str:
        return (
            f"x shape {self.shape}, dtype={self.dtype}, rate={self.rate:g}, "
            f"recurrent_rate={self.recurrent_rate:g}, seed={self.seed}, "
            f"data seed={self.data_seed}"
        )

    def x(self) -> np.ndarray:
        """x uniform in [0.5, 1.5]: positive and generic, so a state's four candidates
        (RECUR-VALUES) differ."""
        rng = np.random.default_rng(self.data_seed)
        return rng.uniform(0.5, 1.5, self.shape).astype(as_dtype(self.dtype))


def drops_input(ctx: Context) -> bool:
    return bool(ctx.options["paths"] in PATH_INPUT)


def drops_state(ctx: Context) -> bool:
    return bool(ctx.options["paths"] in PATH_STATE)


def cases(ctx: Context) -> Iterator[Case]:
    """Per dtype, one example of each of :data:`CASE_SHAPES`, a rate in [0.05, 0.95] on each
    declared path (0 on the other), seeds across the target's range."""
    for dtype in ctx.dtypes:
        for b, t, f in CASE_SHAPES:
            rng = ctx.rng
            r_in, r_state = (round(float(r), 4) for r in rng.uniform(0.05, 0.95, 2))
            yield Case(
                b,
                t,
                f,
                dtype,
                r_in if drops_input(ctx) else 0.0,
                r_state if drops_state(ctx) else 0.0,
                ctx.seed(),
                int(rng.integers(1 << 31)),
            )


def call_raw(
    ctx: Context,
    x: np.ndarray,
    rate: float,
    recurrent_rate: float,
    training: bool = True,
    seed: int | None = None,
) -> Any:
    """Call the target on x (converted to its framework, once for an input kept in
    ``ctx.cache``); its output where it lives, of x's shape (else RECUR-SHAPE fails)."""
    start = time.perf_counter()
    try:
        kept = ctx.cache.get(("recurrent input", id(x)))
        xf = ctx.framework_array(x) if kept is None else ctx.backend.fresh(kept)
        seed = ctx.seed() if seed is None else seed
        out = ctx.invoke(xf, rate, recurrent_rate, training=training, seed=seed)
    finally:
        ctx.target_seconds += time.perf_counter() - start
    if not ctx.backend.is_array(out):
        raise TargetError(
            f"target {ctx.target.name!r} returned {type(out).__name__}, not a "
            f"{ctx.backend.name} array"
        )
    if tuple(int(n) for n in out.shape) != x.shape:
        raise CheckFailure(
            f"training={training}: the output's shape is {tuple(out.shape)}, expected "
            f"{x.shape} (RECUR-SHAPE)",
            any_dtype=True,
        )
    return out


def run(ctx: Context, x: np.ndarray, rate: float, recurrent_rate: float, **kw: Any) -> np.ndarray:
    """A call's states as a NumPy array."""
    return ctx.host(call_raw(ctx, x, rate, recurrent_rate, **kw))


def tolerance(values: np.ndarray, dtype: str) -> np.ndarray:
    big = np.abs(values).max(axis=(0, 2), keepdims=True) if values.size else 0.0
    tol: np.ndarray = ULPS * eps(dtype) * (np.abs(values) + big)
    return tol


def previous(h: np.ndarray) -> np.ndarray:
    """h(t−1) for every t, h(0) = 0, in float64."""
    h64 = h.astype(np.float64)
    return np.concatenate([np.zeros_like(h64[:, :1]), h64[:, :-1]], axis=1)


def near(got: np.ndarray, want: np.ndarray, dtype: str, what: str, case: Case) -> None:
    """``got`` equals the float64 ``want`` to within :data:`ULPS` of the dtype."""
    g = got.astype(np.float64)
    tol = tolerance(want, dtype)
    if not np.all(np.abs(g - want) <= tol):
        raise CheckFailure(f"{what} ({worst(g, want, tol)}; {case.describe()})")


def factors(ctx: Context, case: Case, training: bool) -> tuple[float, float]:
    """What multiplies x(t) and h(t−1) when nothing is dropped."""
    if training or ctx.options["scaling"] == "inverted":
        return 1.0, 1.0
    return 1.0 - case.rate, 1.0 - case.recurrent_rate


# ---------------------------------------------------------------- exact ----


def check_recur_shape(ctx: Context) -> None:
    for case in cases(ctx):
        for training in (True, False):
            run(ctx, case.x(), case.rate, case.recurrent_rate, training=training, seed=case.seed)


def check_recur_dtype(ctx: Context) -> None:
    for case in cases(ctx):
        for training in (True, False):
            h = run(ctx, case.x(), case.rate, case.recurrent_rate, training=training)
            if dtype_name(h.dtype) != case.dtype:
                raise CheckFailure(
                    f"training={training}: output dtype {dtype_name(h.dtype)}, expected "
                    f"{case.dtype} ({case.describe()})"
                )


def check_recur_deterministic(ctx: Context) -> None:
    for case in cases(ctx):
        x = case.x()
        first = run(ctx, x, case.rate, case.recurrent_rate, seed=case.seed)
        second = run(ctx, x, case.rate, case.recurrent_rate, seed=case.seed)
        if not np.array_equal(first, second, equal_nan=True):
            raise CheckFailure(
                f"two calls with seed {case.seed} differ: {first_mismatch(second, first)} "
                f"({case.describe()})"
            )


def _small(ctx: Context) -> np.ndarray:
    dtype = "float32" if "float32" in ctx.dtypes else ctx.dtypes[-1]
    return np.ones((2, 3, 4), as_dtype(dtype))


def check_recur_rate_invalid(ctx: Context) -> None:
    x = _small(ctx)
    accepted = []
    for path, declared in (("rate", drops_input(ctx)), ("recurrent_rate", drops_state(ctx))):
        if not declared:
            continue
        for bad in (-0.1, 1.5, float("nan"), -1e-12, 1.0 + 1e-9):
            rates = (bad, 0.0) if path == "rate" else (0.0, bad)
            try:
                call_raw(ctx, x, *rates, seed=ctx.seed())
            except (CheckFailure, TargetError):
                raise
            except Exception:
                continue
            accepted.append(f"{path}={bad}")
    if accepted:
        raise CheckFailure(f"{', '.join(accepted)} accepted without an error")


def check_recur_values(ctx: Context) -> None:
    for case in cases(ctx):
        x = case.x()
        h = run(ctx, x, case.rate, case.recurrent_rate, seed=case.seed).astype(np.float64)
        s_in = scale_for(case.rate, ctx.options["scaling"]) * x.astype(np.float64)
        s_state = scale_for(case.recurrent_rate, ctx.options["scaling"]) * previous(h)
        candidates = np.stack([np.zeros_like(h), s_in, s_state, s_in + s_state])
        tol = tolerance(candidates[3], case.dtype)
        fits = (np.abs(candidates - h) <= tol).any(axis=0)
        if not fits.all():
            b, t, f = (int(i) for i in np.argwhere(~fits)[0])
            raise CheckFailure(
                f"the state h[{b}, {t}, {f}] = {h[b, t, f]!r} is none of 0, s·x(t) = "
                f"{s_in[b, t, f]!r}, s_h·h(t−1) = {s_state[b, t, f]!r} or their sum "
                f"({case.describe()})"
            )


def input_keep(ctx: Context, case: Case) -> np.ndarray:
    """The input keep mask (batch, time, features) of a call on x = 1 at the case's rate."""
    x = np.ones(case.shape, as_dtype(case.dtype))
    h = run(ctx, x, case.rate, 0.0, seed=case.seed)
    return np.asarray(h.astype(np.float64) != previous(h))


def state_keep(ctx: Context, case: Case) -> np.ndarray:
    """The state keep mask (batch, steps − 1, features) from step 2 on, of a call on x = 1."""
    x = np.ones((case.batch, STATE_STEPS, case.features), as_dtype(case.dtype))
    h = run(ctx, x, 0.0, case.recurrent_rate, seed=case.seed)
    return np.asarray(h[:, 1:] != 1)


def _shared(keep: np.ndarray, what: str, case: Case) -> None:
    if not np.array_equal(np.broadcast_to(keep[:, :1], keep.shape), keep):
        t = int(np.argwhere(keep != keep[:, :1])[0][1])
        raise CheckFailure(
            f"the {what} mask differs between steps (first at step index {t}), declared "
            f"shared over time ({case.describe()})"
        )


def check_recur_input_shared(ctx: Context) -> None:
    for case in cases(ctx):
        _shared(input_keep(ctx, case), "input", case)


def check_recur_state_shared(ctx: Context) -> None:
    for case in cases(ctx):
        _shared(state_keep(ctx, case), "state", case)


def check_recur_inference_identity(ctx: Context) -> None:
    for case in cases(ctx):
        x = case.x()
        h = run(ctx, x, case.rate, case.recurrent_rate, training=False, seed=case.seed)
        a, b = factors(ctx, case, training=False)
        want = a * x.astype(np.float64) + b * previous(h)
        near(h, want, case.dtype, "with training=False the states are not the undropped ones", case)


def check_recur_rate_zero(ctx: Context) -> None:
    for case in cases(ctx):
        x = case.x()
        h = run(ctx, x, 0.0, 0.0, seed=case.seed)
        want = x.astype(np.float64) + previous(h)
        near(h, want, case.dtype, "with both rates 0 the states are not x(t) + h(t−1)", case)


def check_recur_rate_one_zeros(ctx: Context) -> None:
    for case in cases(ctx):
        x = case.x()
        if drops_input(ctx):
            h = run(ctx, x, 1.0, 0.0, seed=case.seed)
            if np.any(h != 0):
                raise CheckFailure(
                    f"at rate 1 the states are not all zeros: "
                    f"{first_mismatch(h, np.zeros_like(h))} ({case.describe()})"
                )
        if drops_state(ctx):
            h = run(ctx, x, 0.0, 1.0, seed=case.seed)
            near(h, x.astype(np.float64), case.dtype, "at recurrent_rate 1 h(t) is not x(t)", case)


def check_recur_rate_one_error(ctx: Context) -> None:
    x = _small(ctx)
    for rates in ((1.0, 0.0) if drops_input(ctx) else (0.0, 1.0),):
        try:
            out = call_raw(ctx, x, *rates, seed=ctx.seed())
        except (CheckFailure, TargetError):
            raise
        except Exception:
            return
        raise CheckFailure(f"rate 1 was accepted in training (returned {type(out).__name__})")


# ---------------------------------------------------------------- statistical ----


def stat_input(ctx: Context, steps: int) -> np.ndarray:
    """x = 1 of (STAT_BATCH, steps, STAT_FEATURES) in the dtype checked, converted once."""
    key = ("recurrent stat x", ctx.stat_dtype, steps)
    if key not in ctx.cache:
        x = np.ones((STAT_BATCH, steps, STAT_FEATURES), as_dtype(ctx.stat_dtype))
        ctx.cache[("recurrent input", id(x))] = ctx.framework_array(x)
        ctx.cache[key] = x
    found: np.ndarray = ctx.cache[key]
    return found


def _per_step(ctx: Context, path: str) -> bool:
    return bool(ctx.options["input_mask" if path == "input" else "state_mask"] == "per_step")


def stat_steps(ctx: Context, path: str) -> int:
    """Steps of a statistical call on ``path``: :data:`STATE_STEPS` where its mask is fresh
    per step, else the fewest that show the shared mask (step 1 of the input, step 2 of the
    state)."""
    if _per_step(ctx, path):
        return STATE_STEPS
    return 1 if path == "input" else 2


def stat_mask_shape(ctx: Context, path: str) -> tuple[int, int, int]:
    """The distinct mask values one call on ``path`` shows (batch, steps, features): steps 2
    on of a mask fresh per step, one step of a shared one."""
    steps = stat_steps(ctx, path)
    return STAT_BATCH, steps - (path == "state" or steps > 1), STAT_FEATURES


def device_keep(ctx: Context, path: str, rate: float, seed: int | None = None) -> Array:
    """The keep mask of ``path`` (:func:`stat_mask_shape`), where the output lives."""
    steps = stat_steps(ctx, path)
    rates = (rate, 0.0) if path == "input" else (0.0, rate)
    h = ctx.backend.for_reduction(call_raw(ctx, stat_input(ctx, steps), *rates, seed=seed))
    if path == "state":
        return h[:, 1:] != 1
    return h[:, 1:] != h[:, :-1] if steps > 1 else h != 0


def keep_masks(ctx: Context, path: str, rate: float) -> Iterator[Array]:
    """Keep masks of ``path`` from training calls (without end)."""
    while True:
        yield device_keep(ctx, path, rate)


def _rate_check(ctx: Context, path: str) -> StatResult:
    each = ctx.split(len(STAT_RATES))
    results = [
        drop_test(ctx, keep_masks(ctx, path, rate), rate, each, rate_test(ctx, rate, each))
        for rate in STAT_RATES
    ]
    return verdict(results, f"the share of dropped {path} units is not the rate")


def _rate_plan(ctx: Context) -> list[StatResult]:
    each = ctx.split(len(STAT_RATES))
    return [rate_test(ctx, rate, each).result(rate=rate) for rate in STAT_RATES]


@every_dtype
@planned(_rate_plan)
def check_recur_input_rate(ctx: Context) -> StatResult:
    return _rate_check(ctx, "input")


@every_dtype
@planned(_rate_plan)
def check_recur_state_rate(ctx: Context) -> StatResult:
    return _rate_check(ctx, "state")


def dropped_paths(ctx: Context) -> tuple[str, ...]:
    return (("input",) if drops_input(ctx) else ()) + (("state",) if drops_state(ctx) else ())


def independent_axes(ctx: Context, path: str) -> tuple[int, ...]:
    """Axes of the stacked masks (call, batch, step, feature) whose values are independent:
    calls, examples, features, and steps where the path's mask is fresh per step."""
    return (0, 1, 2, 3) if _per_step(ctx, path) else (0, 1, 3)


def _independent_sizes(ctx: Context) -> list[tuple[dict[str, Any], int]]:
    sizes = []
    for path in dropped_paths(ctx):
        shape = (INDEPENDENT_CALLS, *stat_mask_shape(ctx, path))
        found = neighbour_sizes(shape, 1, independent_axes(ctx, path))
        sizes += [({"path": path, **where}, n) for where, n in found]
    return sizes


def _independent_plan(ctx: Context) -> list[StatResult]:
    return plan_tables(ctx, _independent_sizes(ctx), rate=INDEPENDENT_RATE)


@every_dtype
@planned(_independent_plan)
def check_recur_independent(ctx: Context) -> StatResult:
    tables = []
    for path in dropped_paths(ctx):
        base = ctx.seed() & ~(INDEPENDENT_CALLS - 1)  # neighbouring seeds, within range
        calls = [
            device_keep(ctx, path, INDEPENDENT_RATE, base + i) for i in range(INDEPENDENT_CALLS)
        ]
        stacked = reduce.namespace(calls[0]).stack(calls, axis=0)
        found = neighbour_tables(ctx, [stacked], independent_axes(ctx, path))
        tables += [({"path": path, **where}, t) for where, t in found]
    alpha = ctx.split(len(tables))
    results = [t.test(alpha, rate=INDEPENDENT_RATE, **where) for where, t in tables]
    return verdict(
        results, "mask values of neighbouring examples, features, steps or seeds are dependent"
    )


# ---------------------------------------------------------------- the two paths together ----

#: The rate of both paths in the PATHS-INDEPENDENT calls (scale s = 2 inverted, 1 classic).
PATHS_RATE = 0.5
#: x(1) and x(2) of the PATHS-INDEPENDENT calls: the four states step 2 can take, 0, s·x(2),
#: s·h(1) and their sum, differ under either scaling (0, 6, 4, 10 and 0, 3, 1, 4), and are
#: small integers, exact in every dtype.
PATHS_X = (1.0, 3.0)
#: State mask values each PATHS-INDEPENDENT stratum tests (the first this many in memory
#: order of the units that fall in it, calls appended: fixed, so the plan states its size).
PATHS_N = 8192
#: Calls PATHS-INDEPENDENT makes at most to fill its strata. A stratum takes about a quarter
#: (an eighth with input_mask='per_step') of the 2^16 units of a call, so a correct target
#: fills every stratum in two calls; four that leave one short mean an input rate far from
#: PATHS_RATE, which the check reports.
PATHS_CALLS = 4
#: Neighbours whose dropped input the state mask must not follow: (axis, offset) of the
#: (batch, features) grid.
PATHS_NEIGHBOURS = ((1, 1), (1, -1), (0, 1), (0, -1))


def paths_strata(ctx: Context) -> list[str]:
    """The strata of state units PATHS-INDEPENDENT tests: the unit's own input kept at
    both steps (and dropped at step 2, where the input mask is fresh per step), and a
    neighbouring feature's or example's input dropped."""
    own = ["own input kept"] + (["own input dropped at step 2"] if _per_step(ctx, "input") else [])
    return own + [_neighbour_stratum(axis, d) for axis, d in PATHS_NEIGHBOURS]


def _neighbour_stratum(axis: int, d: int) -> str:
    return f"{('example', 'feature')[axis]} {d:+d} input dropped"


def _shifted(a: np.ndarray, axis: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(a[u], a[u + d along axis]) for every unit u that has that neighbour."""
    n = a.shape[axis]
    lo, hi = max(0, -d), n - max(0, d)
    here = np.take(a, np.arange(lo, hi), axis=axis)
    there = np.take(a, np.arange(lo + d, hi + d), axis=axis)
    return here, there


def paths_input(ctx: Context) -> np.ndarray:
    """x of (STAT_BATCH, 2, STAT_FEATURES), :data:`PATHS_X` at its two steps, in the dtype
    checked, converted once."""
    key = ("recurrent paths x", ctx.stat_dtype)
    if key not in ctx.cache:
        x = np.empty((STAT_BATCH, 2, STAT_FEATURES), as_dtype(ctx.stat_dtype))
        x[:, 0], x[:, 1] = PATHS_X
        ctx.cache[("recurrent input", id(x))] = ctx.framework_array(x)
        ctx.cache[key] = x
    found: np.ndarray = ctx.cache[key]
    return found


def paths_read(ctx: Context, h: np.ndarray) -> dict[str, np.ndarray]:
    """The state mask's dropped values at step 2 of a call on :func:`paths_input` at
    :data:`PATHS_RATE` on both paths, per stratum (:func:`paths_strata`), in memory order.

    h(1) = s·m(1)·x(1) and h(2) = s·m(2)·x(2) + s·r(2)·h(1): where m(1) = 1, h(2) is the
    nearest of 0, a = s·x(2), b = s·h(1) and a + b, which tells m(2) and r(2); where m(1) = 0
    the state is 0 and r(2) is not seen, so every stratum is of units whose input was kept at
    step 1."""
    s = scale_for(PATHS_RATE, ctx.options["scaling"])
    h1, h2 = h[:, 0].astype(np.float64), h[:, 1].astype(np.float64)
    a, b = s * PATHS_X[1], s * h1
    distance = np.stack([np.abs(h2), np.abs(h2 - a), np.abs(h2 - b), np.abs(h2 - a - b)])
    nearest = distance.argmin(axis=0)  # 2·r(2) + m(2)
    seen = h1 != 0
    state_dropped, input_kept_2 = nearest < 2, nearest % 2 == 1
    out = {"own input kept": state_dropped[seen & input_kept_2]}
    if _per_step(ctx, "input"):
        out["own input dropped at step 2"] = state_dropped[seen & ~input_kept_2]
    for axis, d in PATHS_NEIGHBOURS:
        here_seen, there_seen = _shifted(seen, axis, d)
        here_dropped = _shifted(state_dropped, axis, d)[0]
        out[_neighbour_stratum(axis, d)] = here_dropped[here_seen & ~there_seen]
    return out


def _paths_plan(ctx: Context) -> list[StatResult]:
    strata = paths_strata(ctx)
    alpha = ctx.split(len(strata))
    return [
        binomial(0, PATHS_N, PATHS_RATE, alpha=alpha, power=ctx.power, rate=PATHS_RATE, stratum=s)
        for s in strata
    ]


@every_dtype
@planned(_paths_plan)
def check_recur_paths_independent(ctx: Context) -> StatResult:
    strata = paths_strata(ctx)
    found: dict[str, list[np.ndarray]] = {s: [] for s in strata}
    x = paths_input(ctx)
    for _ in range(PATHS_CALLS):
        h = ctx.host(call_raw(ctx, x, PATHS_RATE, PATHS_RATE))
        for s, dropped in paths_read(ctx, h).items():
            found[s].append(dropped)
        if all(sum(a.size for a in found[s]) >= PATHS_N for s in strata):
            break
    else:
        short = [s for s in strata if sum(a.size for a in found[s]) < PATHS_N]
        raise CheckFailure(
            f"{PATHS_CALLS} calls at rate {PATHS_RATE} on both paths left fewer than "
            f"{PATHS_N} readable state units in: {', '.join(short)} (a correct target fills "
            "each in two calls; the input path drops far more than its rate)"
        )
    alpha = ctx.split(len(strata))
    results = [
        binomial(
            int(np.concatenate(found[s])[:PATHS_N].sum()),
            PATHS_N,
            PATHS_RATE,
            alpha=alpha,
            power=ctx.power,
            rate=PATHS_RATE,
            stratum=s,
        )
        for s in strata
    ]
    return verdict(results, "the state mask depends on the input mask")


register(
    "recurrent_dropout",
    {
        "RECUR-SHAPE": check_recur_shape,
        "RECUR-DTYPE": check_recur_dtype,
        "RECUR-DETERMINISTIC": check_recur_deterministic,
        "RECUR-RATE-INVALID": check_recur_rate_invalid,
        "RECUR-VALUES": check_recur_values,
        "RECUR-INPUT-RATE": check_recur_input_rate,
        "RECUR-STATE-RATE": check_recur_state_rate,
        "RECUR-INPUT-SHARED": check_recur_input_shared,
        "RECUR-STATE-SHARED": check_recur_state_shared,
        "RECUR-INDEPENDENT": check_recur_independent,
        "RECUR-PATHS-INDEPENDENT": check_recur_paths_independent,
        "RECUR-INFERENCE-IDENTITY": check_recur_inference_identity,
        "RECUR-RATE-ZERO": check_recur_rate_zero,
        "RECUR-RATE-ONE-ZEROS": check_recur_rate_one_zeros,
        "RECUR-RATE-ONE-ERROR": check_recur_rate_one_error,
    },
    mask="recurrent",
    inputs="recurrent",
)
