"""The machinery of the example-based checks: hypothesis runs, named cases, comparisons."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

import hypothesis
import numpy as np
from hypothesis import strategies as st

from ...dtypes import as_dtype, eps
from .. import inputs as space
from .. import strategies as gen
from ..context import CHECKS, CheckFailure, Context, NotApplicable
from ._geometry import geometry

#: The dtypes whose rounding is below what the checks resolve.
WIDE = ("float32", "float64")

C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)


@dataclasses.dataclass(frozen=True)
class Cases(Generic[C_co]):
    """A strategy of plain tuples, the named case (a ``NamedTuple``) each one becomes, and
    the core: tuples run as explicit examples before anything is drawn.

    Hypothesis reports a failing example as it was drawn; drawn as a plain tuple, it reads
    ``case=('float16', (2, 2), 0.25, 0, 0, 'C', 'ordinary')`` in a failure message, while
    the check's body gets the named case (:func:`examples` names it).
    """

    tuples: st.SearchStrategy[tuple[Any, ...]]
    name: Callable[[tuple[Any, ...]], C_co]
    core: tuple[tuple[Any, ...], ...] = ()


class Case(NamedTuple):
    """One example for an op on units: an input of ``shape`` and ``dtype`` drawn from
    ``data_seed`` in value class ``values``, laid out in memory as ``layout``
    (:mod:`..inputs`), called at ``rate`` with the call seed ``seed``."""

    dtype: str
    shape: tuple[int, ...]
    rate: float
    data_seed: int
    seed: int
    layout: str = "C"
    values: str = "ordinary"

    def inputs(self) -> tuple[np.ndarray, ...]:
        """The input: values of the case's class (:func:`~..inputs.values`) in its layout."""
        x = space.values(self.data_seed, self.shape, self.dtype, self.values)
        return (space.lay_out(x, self.layout),)

    def expected_shape(self) -> tuple[int, ...]:
        return self.shape

    def describe(self) -> str:
        return case_text(self.dtype, self.shape, self.rate, self.seed, self.layout, self.values)


class LayerCase(NamedTuple):
    """One example for a layer (DropConnect): ``dims`` = (batch, n_in, n_out), the input,
    weight and bias drawn from ``data_seed``, x and the weight laid out as ``layout``, called
    at ``rate`` with the call seed ``seed``."""

    dtype: str
    dims: tuple[int, int, int]
    rate: float
    data_seed: int
    seed: int
    layout: str = "C"
    values: str = "ordinary"

    def inputs(self) -> tuple[np.ndarray, ...]:
        """x (batch, n_in) in [-2, 2], weight (n_out, n_in) and bias (n_out,) in [-1, 1]."""
        batch, n_in, n_out = self.dims
        rng = np.random.default_rng(self.data_seed)
        d = as_dtype(self.dtype)
        return (
            space.lay_out(rng.uniform(-2, 2, (batch, n_in)).astype(d), self.layout),
            space.lay_out(rng.uniform(-1, 1, (n_out, n_in)).astype(d), self.layout),
            rng.uniform(-1, 1, n_out).astype(d),
        )

    def expected_shape(self) -> tuple[int, ...]:
        batch, _, n_out = self.dims
        return (batch, n_out)

    def describe(self) -> str:
        return case_text(self.dtype, self.dims, self.rate, self.seed, self.layout)


def case_text(
    dtype: str,
    shape: tuple[int, ...],
    rate: float,
    seed: int,
    layout: str = "C",
    values: str = "ordinary",
) -> str:
    where = "" if layout == "C" else f", layout={layout}"
    kind = "" if values == "ordinary" else f", values={values}"
    return f"dtype={dtype}, shape={shape}, rate={rate!r}, seed={seed}{where}{kind}"


def input_plan(ctx: Context, min_side: int = 1) -> space.Plan:
    """The run's :class:`~..inputs.Plan` for the context's check and target (made once)."""
    key = ("input plan", min_side)
    if key not in ctx.cache:
        g = geometry(ctx)
        allowed = g.allowed(min_side)
        ctx.cache[key] = space.plan(
            check_name(ctx),
            allowed,
            ctx.backend.name,
            ctx.backend.strides,
            ctx.examples_seed,
            dtypes=len(ctx.dtypes),
        )
    found: space.Plan = ctx.cache[key]
    return found


def check_name(ctx: Context) -> str:
    """The name of the check registered for the context's clause (its design's key)."""
    fn = CHECKS.get(ctx.clause.id)
    return fn.__name__ if fn is not None else ""


def _drawn(
    ctx: Context, dtype: str, p: space.Plan, rates: st.SearchStrategy[float] | None
) -> st.SearchStrategy[tuple[Any, ...]]:
    shapes = p.pool or tuple(c.shape for c in p.core) or ((1,) * max(geometry(ctx).min_rank, 1),)
    return st.tuples(
        st.just(dtype),
        st.sampled_from(shapes),
        rates if rates is not None else gen.rates(),
        gen.data_seeds(),
        gen.call_seeds(ctx.target.seed_bits),
        st.sampled_from(p.layouts),
        st.sampled_from(p.values),
    )


def _core(ctx: Context, dtype: str, p: space.Plan) -> tuple[tuple[Any, ...], ...]:
    """The core cells run in ``dtype`` (all of them, or this dtype's turn of them where the
    cost model spreads the core over the dtypes), with anchor rates of the design's bands in
    turn and seeds drawn from the run's examples seed."""
    dtypes = ctx.dtypes
    index = dtypes.index(dtype) if dtype in dtypes else 0
    rates = space.band_rates(p.bands) or (0.5,)
    rng = np.random.default_rng([ctx.examples_seed, index, 0xC0])
    top = 1 << ctx.target.seed_bits
    out = []
    for j, cell in enumerate(p.core):
        data_seed = int(rng.integers(0, 2**32))
        seed = int(rng.integers(0, top, dtype=np.uint64))
        if not p.core_every_dtype and j % len(dtypes) != index:
            continue
        rate = rates[(j + index) % len(rates)]
        out.append((dtype, cell.shape, rate, data_seed, seed, cell.layout, cell.values))
    return tuple(out)


def unit_cases(
    ctx: Context,
    dtype: str,
    rates: st.SearchStrategy[float] | None = None,
    min_side: int = 1,
) -> Cases[Case]:
    """:class:`Case` examples in ``dtype`` from the input design (:mod:`..inputs`): its core,
    then shapes from the run's pool, in the layouts and value classes the check's design and
    the target's framework allow."""
    p = input_plan(ctx, min_side)
    return Cases(_drawn(ctx, dtype, p, rates), Case._make, _core(ctx, dtype, p))


def layer_cases(
    ctx: Context, dtype: str, rates: st.SearchStrategy[float] | None = None
) -> Cases[LayerCase]:
    """:class:`LayerCase` examples in ``dtype``, from the input design as for
    :func:`unit_cases`."""
    p = input_plan(ctx)
    return Cases(_drawn(ctx, dtype, p, rates), LayerCase._make, _core(ctx, dtype, p))


def cases(ctx: Context, dtype: str) -> Cases[Case | LayerCase]:
    """The target's examples in ``dtype``: layer cases for a layer, unit cases otherwise."""
    if geometry(ctx).layer:
        return layer_cases(ctx, dtype)
    return unit_cases(ctx, dtype)


def examples(
    ctx: Context,
    strategy: Cases[C] | Callable[[str], Cases[C]],
    body: Callable[[C], None],
    dtypes: tuple[str, ...] | None = None,
) -> None:
    """Run ``body`` on the named cases of examples from ``strategy``, seeded by the check's
    seed.

    A ``strategy`` given as a function of the dtype is run once per dtype (each dtype gets its
    share of the examples, at least two), so a fault in one dtype cannot hide behind the
    dtypes hypothesis happened to draw. Shrinking is off: a failing example is reported as
    found, which keeps failures cheap for frameworks that compile per shape.
    """
    if not isinstance(strategy, Cases):
        chosen = dtypes or ctx.dtypes
        each = max(2, math.ceil(ctx.config.examples / len(chosen)))
        for i, dtype in enumerate(chosen):
            _run_examples(ctx, strategy(dtype), body, each, i)
        return
    _run_examples(ctx, strategy, body, ctx.config.examples)


def _run_examples(
    ctx: Context,
    strategy: Cases[C],
    body: Callable[[C], None],
    count: int,
    stream: int = 0,
) -> None:
    @hypothesis.settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
        phases=(hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate),
    )
    @hypothesis.seed(ctx.examples_seed + stream)  # each dtype explores its own examples
    @hypothesis.given(strategy.tuples)
    def run(case: tuple[Any, ...]) -> None:
        body(strategy.name(case))

    for core in reversed(strategy.core):  # explicit examples run in the order given
        run = hypothesis.example(core)(run)

    try:
        run()
    except CheckFailure as exc:
        notes = "\n".join(getattr(exc, "__notes__", []))
        raise CheckFailure(f"{exc}\n{notes}".strip(), exc.stat) from None
    except hypothesis.errors.FlakyFailure as group:
        # The same example passed when replayed: the target is not deterministic. Report
        # the failure hypothesis saw first rather than the flakiness wrapper.
        inner = [e for e in group.exceptions if isinstance(e, CheckFailure)]
        if inner:
            raise CheckFailure(
                f"{inner[0]} (the same example passed when replayed: the "
                f"target is not deterministic)",
                inner[0].stat,
            ) from None
        raise
    except BaseExceptionGroup as group:
        # Several core examples failed in different ways: report the first verdict of the
        # check (else the first error), and how many.
        verdicts = [e for e in group.exceptions if isinstance(e, CheckFailure)]
        first = verdicts[0] if verdicts else group.exceptions[0]
        notes = "\n".join(getattr(first, "__notes__", []))
        more = f"\n({len(group.exceptions) - 1} more core examples failed differently)"
        if isinstance(first, CheckFailure):
            raise CheckFailure(f"{first}\n{notes}".strip() + more, first.stat) from None
        raise first from None


# ---------------------------------------------------------------- comparisons ----


def same_shape(y: Any, shape: tuple[int, ...]) -> None:
    if tuple(y.shape) != tuple(shape):
        raise CheckFailure(f"output shape {tuple(y.shape)} differs from the expected {shape}")


def require_same(name: str, got: np.ndarray, want: np.ndarray, what: str) -> None:
    if got.shape != want.shape or not np.array_equal(got, want, equal_nan=True):
        bad = "shape differs" if got.shape != want.shape else first_mismatch(got, want)
        raise CheckFailure(f"{name}: {what} ({bad})")


def first_mismatch(got: np.ndarray, want: np.ndarray) -> str:
    g, w = got.astype(np.float64), want.astype(np.float64)
    diff = ~((g == w) | (np.isnan(g) & np.isnan(w)))
    idx = first_index(diff)
    return (
        f"{int(diff.sum())} of {diff.size} values differ; first at index {idx}: "
        f"got {g[idx]!r}, expected {w[idx]!r}"
    )


def first_index(where: np.ndarray) -> tuple[int, ...]:
    """The index of the first True of ``where`` (``()`` for a scalar)."""
    return tuple(int(i[0]) for i in np.nonzero(where)) if where.ndim else ()


def worst(got: np.ndarray, want: np.ndarray, tol: np.ndarray) -> str:
    excess = np.abs(got - want) - tol
    idx = np.unravel_index(int(np.argmax(excess)), excess.shape)
    return (
        f"{int((excess > 0).sum())} of {excess.size} values out of tolerance; worst at "
        f"index {tuple(int(i) for i in idx)}: got {got[idx]!r}, expected {want[idx]!r}"
    )


def close(got: np.ndarray, want: np.ndarray, dtype: str, ulps: float = 8.0) -> bool:
    tol = ulps * eps(dtype) * (np.abs(want) + 1e-30) + 1e-30
    return bool(np.all(np.abs(got - want) <= tol))


def need_vjp(ctx: Context, f: Callable[[Any], Any], x: np.ndarray, cot: np.ndarray) -> np.ndarray:
    """The vector-Jacobian product of ``f`` at ``x`` with ``cot``, in float64; not applicable
    where the target's framework has no automatic differentiation."""
    start = time.perf_counter()
    try:
        grad = ctx.backend.vjp(f, x, cot, ctx.config.device)
    finally:
        ctx.target_seconds += time.perf_counter() - start
    if grad is None:
        raise NotApplicable(f"{ctx.backend.name} has no automatic differentiation")
    return grad.astype(np.float64)
