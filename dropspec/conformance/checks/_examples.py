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
from .. import strategies as gen
from ..context import CheckFailure, Context, NotApplicable
from ._geometry import geometry

#: The dtypes whose rounding is below what the checks resolve.
WIDE = ("float32", "float64")

C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)


@dataclasses.dataclass(frozen=True)
class Cases(Generic[C_co]):
    """A strategy of plain tuples, and the named case (a ``NamedTuple``) each one becomes.

    Hypothesis reports a failing example as it was drawn; drawn as a plain tuple, it reads
    ``case=('float16', (2, 2), 0.25, 0, 0)`` in a failure message, while the check's body
    gets the named case (:func:`examples` names it).
    """

    tuples: st.SearchStrategy[tuple[Any, ...]]
    name: Callable[[tuple[Any, ...]], C_co]


class Case(NamedTuple):
    """One example for an op on units: an input of ``shape`` and ``dtype`` drawn from
    ``data_seed``, called at ``rate`` with the call seed ``seed``."""

    dtype: str
    shape: tuple[int, ...]
    rate: float
    data_seed: int
    seed: int

    def inputs(self) -> tuple[np.ndarray, ...]:
        """The input: nonzero finite values (:func:`~..strategies.values`)."""
        return (gen.values(self.data_seed, self.shape, self.dtype),)

    def expected_shape(self) -> tuple[int, ...]:
        return self.shape

    def describe(self) -> str:
        return case_text(self.dtype, self.shape, self.rate, self.seed)


class LayerCase(NamedTuple):
    """One example for a layer (DropConnect): ``dims`` = (batch, n_in, n_out), the input,
    weight and bias drawn from ``data_seed``, called at ``rate`` with the call seed ``seed``."""

    dtype: str
    dims: tuple[int, int, int]
    rate: float
    data_seed: int
    seed: int

    def inputs(self) -> tuple[np.ndarray, ...]:
        """x (batch, n_in) in [-2, 2], weight (n_out, n_in) and bias (n_out,) in [-1, 1]."""
        batch, n_in, n_out = self.dims
        rng = np.random.default_rng(self.data_seed)
        d = as_dtype(self.dtype)
        return (
            rng.uniform(-2, 2, (batch, n_in)).astype(d),
            rng.uniform(-1, 1, (n_out, n_in)).astype(d),
            rng.uniform(-1, 1, n_out).astype(d),
        )

    def expected_shape(self) -> tuple[int, ...]:
        batch, _, n_out = self.dims
        return (batch, n_out)

    def describe(self) -> str:
        return case_text(self.dtype, self.dims, self.rate, self.seed)


def case_text(dtype: str, shape: tuple[int, ...], rate: float, seed: int) -> str:
    return f"dtype={dtype}, shape={shape}, rate={rate!r}, seed={seed}"


def unit_cases(
    ctx: Context,
    dtype: str,
    rates: st.SearchStrategy[float] | None = None,
    min_side: int = 1,
) -> Cases[Case]:
    """:class:`Case` examples in ``dtype``, of the shapes the target's geometry allows."""
    drawn = st.tuples(
        st.just(dtype),
        geometry(ctx).case_shapes(min_side),
        rates if rates is not None else gen.rates(),
        gen.data_seeds(),
        gen.call_seeds(ctx.target.seed_bits),
    )
    return Cases(drawn, Case._make)


def layer_cases(
    ctx: Context, dtype: str, rates: st.SearchStrategy[float] | None = None
) -> Cases[LayerCase]:
    """:class:`LayerCase` examples in ``dtype``."""
    drawn = st.tuples(
        st.just(dtype),
        st.tuples(gen.side(), gen.side(), gen.side()),
        rates if rates is not None else gen.rates(),
        gen.data_seeds(),
        gen.call_seeds(ctx.target.seed_bits),
    )
    return Cases(drawn, LayerCase._make)


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
    idx = tuple(int(i[0]) for i in np.nonzero(diff))
    return (
        f"{int(diff.sum())} of {diff.size} values differ; first at index {idx}: "
        f"got {g[idx]!r}, expected {w[idx]!r}"
    )


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
