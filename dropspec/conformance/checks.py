"""One check per clause. Each is registered for the clause ids it checks.

Masks are read back from outputs rather than asked for, so any implementation can be checked:
with x = 1 a dropout output is 0 exactly where the mask drops; alpha dropout's dropped value
a·α′ + b differs from the kept a + b; a DropConnect layer fed x = 1 and weights W[o, j] = 2^j
returns s·Σ_j M[o, j]·2^j, whose binary digits are the mask.

Checks that rely on a seed reproducing a mask (reading the mask from one call and the values
from another) do so only after ``*-DETERMINISTIC`` has its own check.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import hypothesis
import ml_dtypes
import numpy as np
from hypothesis import strategies as st

from ..dtypes import as_dtype, dtype_name, eps
from ..reference import ALPHA_PRIME, alpha_constants, gaussian_std, scale_for
from ..reference.expectations import (
    alpha_rounding_slack,
    dropconnect_moments,
    dropout_moments,
    gaussian_activation_moments,
    gaussian_at_most_one,
    kept_multipliers,
)
from . import reduce
from . import stats as st_
from . import strategies as gen
from .engine import (
    Check,
    CheckFailure,
    Context,
    NotApplicable,
    check_seed,
    checks,
    chunk_elements,
)
from .reduce import Array
from .stats import StatResult

MASK_OPS = {"dropout": "DROPOUT", "drop_path": "DROPPATH", "alpha_dropout": "ALPHA"}
UNIT_OPS = {**MASK_OPS, "gaussian_dropout": "GAUSSIAN"}
PREFIXES = {**UNIT_OPS, "dropconnect": "DROPCONNECT"}
WIDE = ("float32", "float64")


def ids(suffix: str, ops: dict[str, str]) -> tuple[str, ...]:
    return tuple(f"{p}-{suffix}" for p in ops.values())


# ---------------------------------------------------------------- example machinery ----


def examples(
    ctx: Context,
    strategy: st.SearchStrategy[Any] | Callable[[str], st.SearchStrategy[Any]],
    body: Callable[[Any], None],
    dtypes: tuple[str, ...] | None = None,
) -> None:
    """Run ``body`` on examples from ``strategy``, seeded by the check's seed.

    A ``strategy`` given as a function of the dtype is run once per dtype (each dtype gets its
    share of the examples, at least two), so a fault in one dtype cannot hide behind the
    dtypes hypothesis happened to draw. Shrinking is off: a failing example is reported as
    found, which keeps failures cheap for frameworks that compile per shape.
    """
    if callable(strategy) and not isinstance(strategy, st.SearchStrategy):
        chosen = dtypes or ctx.dtypes
        each = max(2, math.ceil(ctx.config.examples / len(chosen)))
        for i, dtype in enumerate(chosen):
            _run_examples(ctx, strategy(dtype), body, each, i)
        return
    _run_examples(ctx, strategy, body, ctx.config.examples)


def _run_examples(
    ctx: Context,
    strategy: st.SearchStrategy[Any],
    body: Callable[[Any], None],
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
    @hypothesis.given(strategy)
    def run(case: Any) -> None:
        body(case)

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


def unit_geometry(ctx: Context) -> tuple[int | None, tuple[int, ...]]:
    """(declared rank or None, shared axes as non-negative ints given that rank)."""
    op, opts = ctx.target.op, ctx.options
    if op == "drop_path":
        return None, ()
    rank = opts.get("rank")
    shared = tuple(opts.get("shared_axes") or ())
    return rank, shared


def norm_shared(shared: tuple[int, ...], rank: int) -> tuple[int, ...]:
    return tuple(sorted(a % rank for a in shared))


def min_rank(ctx: Context) -> int:
    rank, shared = unit_geometry(ctx)
    if rank is not None:
        return rank
    need = max([a + 1 if a >= 0 else -a for a in shared], default=1)
    return max(need, 2 if ctx.target.op == "drop_path" else 1)


def shared_of(ctx: Context, ndim: int) -> tuple[int, ...]:
    if ctx.target.op == "drop_path":
        return tuple(range(1, ndim))
    return norm_shared(unit_geometry(ctx)[1], ndim)


def case_shapes(ctx: Context, min_side: int = 1) -> st.SearchStrategy[tuple[int, ...]]:
    rank, _ = unit_geometry(ctx)
    lo = min_rank(ctx)
    return gen.shapes(rank, min_rank=lo, max_rank=max(lo, 4), min_side=min_side)


def unit_cases(
    ctx: Context,
    rates: st.SearchStrategy[float] | None = None,
    min_side: int = 1,
    dtype: str | None = None,
) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(
        st.just(dtype) if dtype else gen.dtypes(ctx.dtypes),
        case_shapes(ctx, min_side),
        rates if rates is not None else gen.rates(),
        gen.data_seeds(),
        gen.call_seeds(ctx.target.seed_bits),
    )


def stat_shape(ctx: Context, mask_values: int, shared_side: int = 1) -> tuple[int, ...]:
    """A shape for statistical calls whose mask has about ``mask_values`` values.

    Non-shared axes get side 8 except the last, which takes the rest (rounded to even);
    shared axes get ``shared_side``. Side 1 by default: the statistics are about mask
    values, one per group, and a longer shared axis would multiply the elements a call
    computes (eightfold for three shared axes of side 2) without adding a mask value.
    That the mask is constant along a shared axis is the structural SHARED-CONSTANT
    clause's, checked on shapes whose shared axes are longer than 1.
    """
    rank = max(min_rank(ctx), 1 if ctx.target.op != "drop_path" else 2)
    if unit_geometry(ctx)[0] is None and ctx.target.op != "drop_path":
        rank = max(rank, 3)
    if ctx.target.op == "drop_path":
        rank = 2
    shared = shared_of(ctx, rank)
    free = [a for a in range(rank) if a not in shared]
    sides = [shared_side if a in shared else 8 for a in range(rank)]
    if free:
        rest = mask_values / 8 ** (len(free) - 1)
        sides[free[-1]] = gen_even(rest)
    return tuple(sides)


def gen_even(n: float) -> int:
    return max(2, 2 * math.ceil(n / 2))


def compact(keep: Array, shared: tuple[int, ...]) -> Array:
    """The mask with every shared axis reduced to its first slice (kept as size 1)."""
    index = tuple(slice(0, 1) if a in shared else slice(None) for a in range(keep.ndim))
    return keep[index]


def keep_mask(ctx: Context, y: Array, rate: float, shared: tuple[int, ...]) -> Array:
    """Which units were kept (compacted over ``shared``), from the output of a call on x = 1.

    Works on any array library's output, where it lives. For Gaussian dropout, which
    drops nothing, the "kept" units are those whose noise lies above 1 (x = 1).
    """
    if ctx.target.op == "gaussian_dropout":
        return _above_one(y)
    constants = alpha_constants(rate) if ctx.target.op == "alpha_dropout" else None
    return _kept_units(y, shared=shared, constants=constants)


@reduce.fused()
def _above_one(y: Array) -> Array:
    return y > 1


@reduce.fused("shared", "constants")
def _kept_units(y: Array, shared: tuple[int, ...], constants: tuple[float, float] | None) -> Array:
    y = compact(y, shared)
    if constants is None:
        return y != 0
    # Alpha dropout: a dropped unit is a·α′ + b, a kept one (x = 1) is a + b.
    xp = reduce.namespace(y)
    a, b = constants
    yd = xp.astype(y, xp.float64)
    return xp.abs(yd - (a + b)) < xp.abs(yd - (a * ALPHA_PRIME + b))


def same_shape(y: Array, shape: tuple[int, ...]) -> None:
    if tuple(y.shape) != tuple(shape):
        raise CheckFailure(f"output shape {tuple(y.shape)} differs from the expected {shape}")


def unit_masks(
    ctx: Context,
    rate: float,
    mask_values: int,
    *,
    shared_side: int = 1,
    shape: tuple[int, ...] | None = None,
    x: np.ndarray | None = None,
) -> Iterator[Array]:
    """Compact keep masks from calls on x = 1 (or on ``x``, a :meth:`Context.reusable`
    input without zeros, for ops whose dropped outputs are 0) until ``mask_values`` values
    are collected.

    The masks stay where the target's outputs live (see :meth:`Context.call_device`).
    """
    if x is not None:
        shape = x.shape
    shape = shape or stat_shape(ctx, chunk_elements(mask_values), shared_side)
    shared = shared_of(ctx, len(shape))
    if x is None:
        x = ctx.constant(shape, ctx.stat_dtype)
    per_call = math.prod(1 if a in shared else n for a, n in enumerate(shape))
    got = 0
    while got < mask_values:
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        yield keep_mask(ctx, y, rate, shared)
        got += per_call


class PairTable:
    """A 2x2 table of paired boolean samples, summed on the device, counted on the host."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.counts = np.zeros(3, dtype=np.int64)  # #(a & b), #a, #b
        self.n = 0

    def add(self, counts: Array, n: int) -> None:
        """Add ``[#(a & b), #a, #b]`` of n pairs (from :mod:`.reduce`, on the device)."""
        self.add_counted(self.ctx.host(counts), n)

    def add_halves(self, mask: Array, axis: int) -> None:
        """Add the neighbouring pairs of ``mask`` along ``axis``."""
        self.add(
            reduce.halves_counts(mask, axis=axis),
            mask.shape[axis] // 2 * math.prod(mask.shape) // mask.shape[axis],
        )

    def add_flat_halves(self, mask: Array) -> None:
        """Add the pairs (2i, 2i + 1) of ``mask`` in memory order."""
        self.add(reduce.flat_halves_counts(mask), math.prod(mask.shape) // 2)

    def test(self, alpha: float, **inputs: Any) -> StatResult:
        n11, n1_, n_1 = (int(v) for v in self.counts)
        return st_.contingency_2x2_counts(
            n11, n1_, n_1, self.n, alpha=alpha, power=self.ctx.power, **inputs
        )

    def add_counted(self, counts: np.ndarray, n: int) -> None:
        """Add ``[#(a & b), #a, #b]`` of n pairs, already on the host."""
        self.counts += counts.astype(np.int64)
        self.n += n


#: Classes of the input values (indices into MOMENT_VALUES): a rate or a mean that depends on
#: the sign, the magnitude, or on x being exactly ±1 fails the homogeneity test of its family.
VALUE_FAMILIES: dict[str, tuple[tuple[int, ...], ...]] = {
    "sign": ((0, 1, 2, 3), (4, 5, 6, 7)),
    "magnitude": ((3, 4), (2, 5), (1, 6), (0, 7)),
    "exactly ±1": ((1, 6), (0, 2, 3, 4, 5, 7)),
}
#: Coordinates along an axis longer than this are classed modulo it.
COORDINATE_PERIOD = 16
#: The flat index's bits are read from a grid 2^LOW_BITS wide (low bits: columns; high
#: bits: rows).
LOW_BITS = 11


@dataclasses.dataclass
class Classes:
    """The value and position classes of one statistical input, for homogeneity tests.

    Families: the input value's sign, magnitude and whether it is ±1 (where the input has
    varied values); every bit of the flat (memory-order) index, bit 0 being parity; and the
    coordinate along every axis longer than 1 (modulo :data:`COORDINATE_PERIOD`). Each
    family is one chi-square test of homogeneity over its classes.
    """

    shape: tuple[int, ...]
    labels: np.ndarray | None  # index into MOMENT_VALUES per element; None where x = 1
    labels_device: Array

    @classmethod
    def of(cls, ctx: Context, labels: np.ndarray | None, shape: tuple[int, ...] = ()) -> Classes:
        shape = tuple(labels.shape) if labels is not None else shape
        device = None if labels is None else ctx.to_device(labels)
        return cls(shape, labels, device)

    def low_bits(self) -> int:
        return min(LOW_BITS, max(math.prod(self.shape).bit_length() - 1, 1))

    def position_layout(self) -> list[tuple[str, list[np.ndarray], list[int], bool]]:
        """Per family: its name, per class the indices into :func:`reduce.position_sums`'
        output to add up, per class the number of values, and whether the first class is
        the grid total less the second (a bit of the flat index: unset = all − set)."""
        n = math.prod(self.shape)
        low = self.low_bits()
        width = 1 << low
        rows = n // width
        out: list[tuple[str, list[np.ndarray], list[int], bool]] = []
        cols, high = np.arange(width), np.arange(rows)
        for b in range(low):
            on = int(((cols >> b) & 1).sum()) * rows
            out.append(
                (
                    f"bit {b} of the flat index",
                    [np.array([0]), np.array([1 + b])],
                    [rows * width - on, on],
                    True,
                )
            )
        high_bits = max(rows - 1, 0).bit_length()
        for b in range(high_bits):
            on = int(((high >> b) & 1).sum()) * width
            out.append(
                (
                    f"bit {low + b} of the flat index",
                    [np.array([0]), np.array([1 + low + b])],
                    [rows * width - on, on],
                    True,
                )
            )
        start = 1 + low + high_bits
        for axis, side in enumerate(self.shape):
            classes = min(side, COORDINATE_PERIOD)
            folds = side // COORDINATE_PERIOD if side > COORDINATE_PERIOD else 1
            if classes >= 2:
                name = f"coordinate along axis {axis}" + (
                    f" (mod {COORDINATE_PERIOD})" if side > COORDINATE_PERIOD else ""
                )
                out.append(
                    (
                        name,
                        [np.array([start + c]) for c in range(classes)],
                        [n // side * folds] * classes,
                        False,
                    )
                )
            start += classes
        return out

    def tests(
        self,
        ctx: Context,
        v: Array,
        alpha: float,
        *,
        variance: float | None,
        what: str,
        **inputs: Any,
    ) -> list[StatResult]:
        """One homogeneity test of ``v`` (an array of the input's shape, where it lives) per
        family, ``alpha`` split evenly among them; ``variance`` None for 0/1 values
        (proportions)."""
        families: list[tuple[str, np.ndarray, np.ndarray]] = []
        names: dict[str, str] = {}
        if self.labels is not None:
            by_value = ctx.host(reduce.label_sums(v, self.labels_device, k=len(MOMENT_VALUES)))
            per_value = np.bincount(self.labels.ravel(), minlength=len(MOMENT_VALUES))
            for name, groups in VALUE_FAMILIES.items():
                names[f"input value: {name}"] = " | ".join(
                    "x in {" + ", ".join(f"{MOMENT_VALUES[i]:g}" for i in g) + "}" for g in groups
                )
                families.append(
                    (
                        f"input value: {name}",
                        np.array([by_value[list(g)].sum() for g in groups]),
                        np.array([per_value[list(g)].sum() for g in groups]),
                    )
                )
        by_position = ctx.host(
            reduce.position_sums(v, low_bits=self.low_bits(), period=COORDINATE_PERIOD)
        )
        for name, index, counts, complement in self.position_layout():
            sums = np.array([by_position[i].sum() for i in index])
            if complement:
                sums[0] -= sums[1]
            families.append((f"position: {name}", sums, np.array(counts)))
        each = alpha / len(families)
        return [
            st_.homogeneity(
                sums,
                counts,
                variance,
                alpha=each,
                power=ctx.power,
                of=what,
                family=name,
                **({"class_names": names[name]} if name in names else {}),
                **inputs,
            )
            for name, sums, counts in families
        ]


#: Neighbour offsets the dependence checks test: 1..NEIGHBOUR_OFFSETS, each in both phases.
NEIGHBOUR_OFFSETS = 4


def neighbour_tables(
    ctx: Context, masks: Iterable[Array], axes: Iterable[int | None]
) -> list[tuple[dict[str, Any], PairTable]]:
    """Pair tables at offsets 1..k in both phases, along each of ``axes`` (None: in memory
    order), filled from ``masks``."""
    keys = [
        (axis, d, phase)
        for axis in axes
        for d in range(1, NEIGHBOUR_OFFSETS + 1)
        for phase in (0, d)
    ]
    tables = {key: PairTable(ctx) for key in keys}
    for mask in masks:
        xp = reduce.namespace(mask)
        for axis in dict.fromkeys(axis for axis, _, _ in keys):
            a = xp.reshape(mask, (-1,)) if axis is None else mask
            along = 0 if axis is None else axis
            # (i, i + d) pairs in blocks of 2d from each phase (reduce.offset_pair_counts).
            counts = ctx.host(reduce.offset_tables(a, axis=along, k=NEIGHBOUR_OFFSETS))
            lines = math.prod(a.shape) // a.shape[along]
            for d in range(1, NEIGHBOUR_OFFSETS + 1):
                for j, phase in enumerate((0, d)):
                    blocks = (a.shape[along] - phase) // (2 * d)
                    tables[(axis, d, phase)].add_counted(counts[d - 1, j], blocks * d * lines)
    return [
        (
            {"axis": "memory order" if axis is None else axis, "offset": d, "phase": phase},
            tables[(axis, d, phase)],
        )
        for axis, d, phase in keys
        if tables[(axis, d, phase)].n > 0
    ]  # an axis too short for the offset: no test


def rate_test(ctx: Context, rate: float, alpha: float) -> st_.SequentialBinomial:
    """The sequential test of a drop rate sized for :func:`~.stats.rate_deviation`; draw
    masks for up to its ``n_max`` values and hand them to :func:`drop_test`, which stops
    drawing as soon as the test decides."""
    return st_.SequentialBinomial(rate, st_.rate_deviation(rate), alpha, ctx.power)


def drop_test(
    ctx: Context,
    keep_masks: Iterable[Array],
    rate: float,
    alpha: float,
    sequential: st_.SequentialBinomial | None = None,
    **inputs: Any,
) -> StatResult:
    """Test of the dropped share of keep masks (counted where the masks live): the
    ``sequential`` test, which stops taking masks once it has decided (the rest are never
    drawn: ``keep_masks`` is lazy), or else the exact binomial test on all of them."""
    dropped = total = 0
    for keep in keep_masks:
        size = math.prod(keep.shape)
        k = size - int(ctx.host(reduce.count(keep)))
        if sequential is not None:
            sequential.add(k, size)
            if sequential.done:
                break
        dropped += k
        total += size
    if sequential is not None:
        return sequential.result(rate=rate, **inputs)
    return st_.binomial(dropped, total, rate, alpha=alpha, power=ctx.power, rate=rate, **inputs)


def every_dtype(check: Check) -> Check:
    """Run a statistical check once in each float dtype the target supports.

    The clause's alpha is split evenly over the dtypes (Bonferroni; each run splits its
    share again over its sub-tests), and every sub-test names its dtype, so a fault confined
    to float16 fails the clause and says so.
    """
    return _per_dtype(check, wide_only=False)


def wide_dtypes(check: Check) -> Check:
    """:func:`every_dtype` over float32 and float64 only, for expectations of a layer's
    output: in a half type the rounding of each scaled weight and of the dot product is
    the implementation's (and biases E[y] by more than the test resolves), and the spread
    of a moment-matching mean of many draws is below the type's resolution."""
    return _per_dtype(check, wide_only=True)


def _per_dtype(check: Check, wide_only: bool) -> Check:
    @functools.wraps(check)
    def run(ctx: Context) -> StatResult:
        dtypes = tuple(d for d in ctx.dtypes if not wide_only or d in WIDE)
        if not dtypes:
            raise NotApplicable("the check runs in float32 or float64, which the target lacks")
        leaves: list[StatResult] = []
        # Dtypes a declared expected failure is confined to: a failure there is noted and
        # the other dtypes still run, so it cannot hide a fault in them.
        scope = ctx.target.expected_failure_dtypes.get(ctx.clause.id, ())
        expected: list[CheckFailure] = []
        ctx.alpha_parts = len(dtypes)
        try:
            for dtype in dtypes:
                ctx.dtype = dtype
                start = time.perf_counter()
                try:
                    result = check(ctx)
                except CheckFailure as exc:
                    stat = None if exc.stat is None else _in_dtype(exc.stat, dtype)
                    failure = CheckFailure(f"in {dtype}: {exc}", stat, frozenset({dtype}))
                    if dtype not in scope:
                        raise failure from None
                    expected.append(failure)
                    continue
                finally:
                    ctx.dtype_seconds[dtype] = time.perf_counter() - start
                if result is not None:
                    leaves.extend(_in_dtype(leaf, dtype) for leaf in result.leaves())
        finally:
            ctx.dtype, ctx.alpha_parts = None, 1
        if expected:
            passed = [d for d in dtypes if not any(d in f.dtypes for f in expected)]
            raise CheckFailure(
                "\n".join(str(f) for f in expected)
                + (f"\n(passed in {', '.join(passed)})" if passed else ""),
                expected[0].stat,
                frozenset().union(*(f.dtypes for f in expected)),
            )
        return st_.combine(leaves)

    run.dtypes = "wide" if wide_only else "every"  # type: ignore[attr-defined]
    return run


def _in_dtype(result: StatResult, dtype: str) -> StatResult:
    parts = tuple(_in_dtype(p, dtype) for p in result.parts)
    return dataclasses.replace(result, inputs={"dtype": dtype, **result.inputs}, parts=parts)


def require_same(name: str, got: np.ndarray, want: np.ndarray, what: str) -> None:
    if got.shape != want.shape or not np.array_equal(got, want, equal_nan=True):
        bad = "shape differs" if got.shape != want.shape else _first_mismatch(got, want)
        raise CheckFailure(f"{name}: {what} ({bad})")


def _first_mismatch(got: np.ndarray, want: np.ndarray) -> str:
    g, w = got.astype(np.float64), want.astype(np.float64)
    diff = ~((g == w) | (np.isnan(g) & np.isnan(w)))
    idx = tuple(int(i[0]) for i in np.nonzero(diff))
    return (
        f"{int(diff.sum())} of {diff.size} values differ; first at index {idx}: "
        f"got {g[idx]!r}, expected {w[idx]!r}"
    )


def _worst(got: np.ndarray, want: np.ndarray, tol: np.ndarray) -> str:
    excess = np.abs(got - want) - tol
    idx = np.unravel_index(int(np.argmax(excess)), excess.shape)
    return (
        f"{int((excess > 0).sum())} of {excess.size} values out of tolerance; worst at "
        f"index {tuple(int(i) for i in idx)}: got {got[idx]!r}, expected {want[idx]!r}"
    )


def describe(case: tuple[Any, ...]) -> str:
    return case_text(case[0], case[1], case[2], case[4])


def case_text(dtype: str, shape: tuple[int, ...], rate: float, seed: int) -> str:
    return f"dtype={dtype}, shape={shape}, rate={rate!r}, seed={seed}"


# ---------------------------------------------------------------- every op ----


def _layer_case(ctx: Context, case: tuple[Any, ...]) -> tuple[np.ndarray, ...]:
    dtype, (batch, n_in, n_out), _, data_seed, _ = case
    rng = np.random.default_rng(data_seed)
    d = as_dtype(dtype)
    return (
        rng.uniform(-2, 2, (batch, n_in)).astype(d),
        rng.uniform(-1, 1, (n_out, n_in)).astype(d),
        rng.uniform(-1, 1, n_out).astype(d),
    )


def layer_cases(
    ctx: Context, rates: st.SearchStrategy[float] | None = None, dtype: str | None = None
) -> st.SearchStrategy[tuple[Any, ...]]:
    dims = st.tuples(gen.side(), gen.side(), gen.side())
    return st.tuples(
        st.just(dtype) if dtype else gen.dtypes(ctx.dtypes),
        dims,
        rates if rates is not None else gen.rates(),
        gen.data_seeds(),
        gen.call_seeds(ctx.target.seed_bits),
    )


def inputs_for(ctx: Context, case: tuple[Any, ...]) -> tuple[np.ndarray, ...]:
    if ctx.target.op == "dropconnect":
        return _layer_case(ctx, case)
    dtype, shape, _, data_seed, _ = case
    return (gen.values(data_seed, shape, dtype),)


def cases(
    ctx: Context, rates: st.SearchStrategy[float] | None = None, dtype: str | None = None
) -> st.SearchStrategy[tuple[Any, ...]]:
    if ctx.target.op == "dropconnect":
        return layer_cases(ctx, rates, dtype)
    return unit_cases(ctx, rates, dtype=dtype)


def expected_shape(ctx: Context, arrays: tuple[np.ndarray, ...]) -> tuple[int, ...]:
    if ctx.target.op == "dropconnect":
        return (arrays[0].shape[0], arrays[1].shape[0])
    return arrays[0].shape


@checks(*ids("SHAPE", PREFIXES))
def check_shape(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        arrays = inputs_for(ctx, case)
        for training in (True, False):
            out = ctx.call(*arrays, rate=case[2], training=training, seed=case[4])
            want = expected_shape(ctx, arrays)
            if out.shape != want:
                raise CheckFailure(
                    f"training={training}: output shape {out.shape}, expected "
                    f"{want} ({describe(case)})"
                )

    examples(ctx, lambda d: cases(ctx, dtype=d), body)


@checks(*ids("DTYPE", PREFIXES))
def check_dtype(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        arrays = inputs_for(ctx, case)
        for training in (True, False):
            out = ctx.call(*arrays, rate=case[2], training=training, seed=case[4])
            if dtype_name(out.dtype) != case[0]:
                raise CheckFailure(
                    f"training={training}: output dtype {dtype_name(out.dtype)}"
                    f", expected {case[0]} ({describe(case)})"
                )

    examples(ctx, lambda d: cases(ctx, dtype=d), body)


@checks(*ids("DETERMINISTIC", PREFIXES))
def check_deterministic(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        arrays = inputs_for(ctx, case)
        first = ctx.call(*arrays, rate=case[2], seed=case[4])
        second = ctx.call(*arrays, rate=case[2], seed=case[4])
        require_same(
            "same seed", second, first, f"two calls with seed {case[4]} differ ({describe(case)})"
        )

    examples(ctx, lambda d: cases(ctx, dtype=d), body)
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
    for dtype in ctx.dtypes:
        ctx.dtype = dtype
        try:
            rate = round(float(ctx.rng.uniform(0.05, 0.95)), 6)
            if ctx.target.op == "dropconnect":
                d = as_dtype(dtype)
                arrays: tuple[np.ndarray, ...] = (
                    ctx.rng.uniform(-1, 1, (2, 1024)).astype(d),
                    ctx.rng.uniform(-1, 1, (1024, 1024)).astype(d),
                    ctx.rng.uniform(-1, 1, 1024).astype(d),
                )
                yield arrays, rate, f"dtype={dtype}, x (2, 1024), weight (1024, 1024)"
            else:
                x, _ = signed_input(ctx, stat_shape(ctx, LARGE_ELEMENTS))
                yield (x,), rate, f"dtype={dtype}, shape={x.shape}"
        finally:
            ctx.dtype = None


def small_inputs(ctx: Context) -> tuple[np.ndarray, ...]:
    """A small valid input for the target's op, for checks that only need the call to run."""
    if ctx.target.op == "dropconnect":
        return inputs_for(ctx, (ctx.stat_dtype, (3, 4, 5), 0.5, 7, 0))
    return (np.ones((3,) * max(min_rank(ctx), 2), as_dtype(ctx.stat_dtype)),)


@checks(*ids("RATE-INVALID", PREFIXES))
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


@checks(*ids("INDEPENDENT-SEEDS", PREFIXES))
@every_dtype
def check_independent_seeds(ctx: Context) -> StatResult:
    """Seeds as streams: s against s + 1 and against s with single bits flipped (see
    :func:`seed_partners`), each pair tested for agreement at every shift (so a seed used
    as an offset into one stream, whose masks are shifted copies, fails as well as one
    whose masks coincide)."""
    seed = ctx.seed()
    partners = seed_partners(ctx, seed)
    others = [other for other, _ in partners]
    alpha = ctx.split(len(others))
    first = seed_mask(ctx, seed)
    xp = reduce.namespace(first)
    n = math.prod(first.shape)
    found = ctx.host(
        reduce.cross_correlation_peaks(
            first, xp.stack([seed_mask(ctx, other) for other in others]), lags=n // 2
        )
    )
    results = []
    for (other, pair), lag, agreement in zip(
        partners, found[: len(others)], found[len(others) :], strict=True
    ):
        res = st_.no_period_peak(
            int(lag),
            float(agreement),
            n,
            2 * (n // 2) + 1,
            alpha=alpha,
            power=ctx.power,
            max_lag=n // 2,
            seeds=(seed, other),
            pair=pair,
            rate=0.5,
        )
        results.append(
            dataclasses.replace(
                res, test="FFT cross-correlation of two seeds' masks, Azuma bound over shifts"
            )
        )
    return verdict(
        results,
        "masks of neighbouring seeds (s + 1, or one bit apart) are "
        "dependent or shifted copies of each other",
    )


def seed_mask(ctx: Context, seed: int) -> Array:
    """A mask of about 2^15 values from one call with ``seed`` (rate 0.5; for Gaussian
    dropout, whether the noise is above 1)."""
    n = 1 << 15
    if ctx.target.op == "dropconnect":
        return next(decoded_masks(ctx, 0.5, n, seed=seed))[0]
    shape = stat_shape(ctx, n)
    x = ctx.constant(shape, ctx.stat_dtype)
    y = ctx.call_device(x, rate=0.5, seed=seed)
    same_shape(y, shape)
    if ctx.target.op == "gaussian_dropout":
        return y > 1
    return keep_mask(ctx, y, 0.5, shared_of(ctx, len(shape)))


def verdict(results: list[StatResult], what: str, hint: str = "") -> StatResult:
    """The combined result; a failure names every failing sub-test, and ``hint`` (which
    declaration would match what was observed) where the check knows one."""
    worst = st_.combine(results)
    failed = [r for r in results if not r.passed]
    if failed:
        raise CheckFailure(
            f"{what}:\n"
            + "\n".join(r.describe() for r in failed)
            + (f"\nhint: {hint}" if hint else ""),
            worst,
        )
    return worst


def declaration_hint(ctx: Context, option: str, value: Any, observed: str) -> str:
    """'what was observed matches option=value': the declaration that would explain it."""
    return (
        f"{observed}; that is what {option}={value!r} declares (this target declares "
        f"{option}={ctx.options.get(option)!r}). If it is meant to behave so, declare "
        f"{option}={value!r}; see `dropspec explain {ctx.target.op}`"
    )


# ---------------------------------------------------------------- masked unit ops ----


def scale(ctx: Context, rate: float) -> float:
    return scale_for(rate, ctx.options.get("scaling", "inverted"))


def allowed_kept(x: np.ndarray, rate: float, s: float) -> list[np.ndarray]:
    """The roundings of x·s the VALUES clause accepts.

    x·s rounded once; x·fl(s); x/fl(1 − rate); and x·fl(1/fl(1 − rate)), which is what a
    division by 1 − rate becomes when a compiler (XLA) turns it into a reciprocal multiply.
    """
    d = x.dtype.type
    wide = x.astype(np.float64)
    if s == 1.0 or rate >= 1.0:
        return [x * d(s)]
    keep = np.float64(d(1.0 - rate))
    with np.errstate(over="ignore"):
        return [
            (wide * s).astype(x.dtype),
            x * d(s),
            (wide / keep).astype(x.dtype),
            x * d(1.0 / keep),
        ]


@checks(*ids("VALUES", {"dropout": "DROPOUT", "drop_path": "DROPPATH"}))
def check_values(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        (x,) = inputs_for(ctx, case)
        rate, seed = case[2], case[4]
        y = ctx.call(x, rate=rate, seed=seed)
        if y.shape != x.shape:
            raise CheckFailure(f"output shape {y.shape} differs from {x.shape}")
        y = y.astype(x.dtype)
        ok = y == 0
        for kept in allowed_kept(x, rate, scale(ctx, rate)):
            ok |= y == kept
        if not ok.all():
            idx = tuple(int(i[0]) for i in np.nonzero(~ok))
            other = "classic" if ctx.options.get("scaling") == "inverted" else "inverted"
            hint = ""
            if all(
                ((y == 0) | (y == k)).all() for k in allowed_kept(x, rate, scale_for(rate, other))
            ):
                hint = "\nhint: " + declaration_hint(
                    ctx, "scaling", other, f"kept values are x·{scale_for(rate, other):.6g}"
                )
            raise CheckFailure(
                f"output {y[idx]!r} at {idx} is neither 0 nor x·s for x={x[idx]!r}, "
                f"s={scale(ctx, rate)!r} ({describe(case)}){hint}"
            )

    examples(ctx, lambda d: unit_cases(ctx, dtype=d), body)
    for (x,), rate, what in large_cases(ctx):
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        s = scale(ctx, rate)
        scaling = ctx.options.get("scaling", "inverted")
        allowed = kept_multipliers(rate, scaling, dtype_name(x.dtype))
        wide = ctx.to_device(x.astype(np.float64))
        off = int(ctx.host(reduce.off_multipliers(y, wide, allowed=allowed)))
        if off:
            raise CheckFailure(
                f"{off} of {x.size} outputs are neither 0 nor x·s, s={s!r} rounded to the "
                f"dtype ({what}, rate={rate!r})"
            )


@checks(*ids("INFERENCE-IDENTITY", UNIT_OPS))
def check_inference_identity(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        (x,) = inputs_for(ctx, case)
        y = ctx.call(x, rate=case[2], training=False, seed=case[4])
        classic = (x.astype(np.float64) * (1.0 - case[2])).astype(x.dtype)
        hint = ""
        if (
            ctx.target.op in ("dropout", "drop_path")
            and case[2] > 0
            and y.shape == x.shape
            and np.array_equal(y.astype(x.dtype), classic)
            and not np.array_equal(classic, x)
        ):
            hint = "; hint: " + declaration_hint(
                ctx, "scaling", "classic", "training=False returned x·(1 − rate)"
            )
        require_same("training=False", y, x, f"output is not the input ({describe(case)}){hint}")

    examples(ctx, lambda d: unit_cases(ctx, dtype=d), body)
    for (x,), rate, what in large_cases(ctx):
        y = ctx.call_device(x, rate=rate, training=False)
        same_shape(y, x.shape)
        differ = int(ctx.host(reduce.mismatches(y, ctx.to_device(x))))
        if differ:
            raise CheckFailure(
                f"training=False: {differ} of {x.size} outputs differ from the input "
                f"({what}, rate={rate!r})"
            )


@checks(*ids("INFERENCE-CLASSIC", {"dropout": "DROPOUT", "drop_path": "DROPPATH"}))
def check_inference_classic(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        (x,) = inputs_for(ctx, case)
        rate = case[2]
        y = ctx.call(x, rate=rate, training=False, seed=case[4]).astype(x.dtype)
        keep = 1.0 - rate
        ok = np.zeros(x.shape, bool)
        for want in ((x.astype(np.float64) * keep).astype(x.dtype), x * x.dtype.type(keep)):
            ok |= y == want
        if not ok.all():
            raise CheckFailure(
                f"training=False output is not x·(1 − rate): "
                f"{_first_mismatch(y, x * x.dtype.type(keep))} "
                f"({describe(case)})"
            )

    examples(ctx, lambda d: unit_cases(ctx, dtype=d), body)


@checks(*ids("RATE-ZERO", UNIT_OPS))
def check_rate_zero(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        (x,) = inputs_for(ctx, case)
        y = ctx.call(x, rate=0.0, seed=case[4])
        require_same(
            "rate 0",
            y,
            x,
            f"training output differs from the input ({case_text(case[0], case[1], 0.0, case[4])})",
        )

    examples(ctx, lambda d: unit_cases(ctx, dtype=d), body)


@checks(*ids("RATE-ONE-ZEROS", MASK_OPS))
def check_rate_one_zeros(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        (x,) = inputs_for(ctx, case)
        y = ctx.call(x, rate=1.0, seed=case[4])
        require_same("rate 1", y, np.zeros_like(x), "training output is not all zeros")

    examples(ctx, lambda d: unit_cases(ctx, dtype=d), body)


@checks(*ids("RATE-ONE-ERROR", MASK_OPS), "GAUSSIAN-RATE-ONE", "DROPCONNECT-RATE-ONE-ERROR")
def check_rate_one_error(ctx: Context) -> None:
    try:
        out = ctx.call_raw(*small_inputs(ctx), rate=1.0, seed=ctx.seed())
    except Exception:
        return
    raise CheckFailure(f"rate 1 was accepted in training (returned {type(out).__name__})")


#: Rates every RATE check tests: keep probabilities 0.99 and 0.001, and the common 0.1 and
#: 0.5 between.
ANCHOR_RATES = (0.01, 0.1, 0.5, 0.99, 0.999)
#: Bands each run draws one further rate from, log-uniformly (in the rate, or the keep
#: probability above 0.95), so that over runs every rate in [0.001, 0.999] is tested. The
#: low band reaches down to 0.001 instead of a fixed anchor there: the smallest rates need the
#: largest samples (about a quarter of RATE's), and a drawn rate covers the whole band.
RATE_BANDS = ((0.001, 0.05), (0.05, 0.95), (0.95, 0.998))


def drawn_rates(ctx: Context) -> tuple[float, ...]:
    """The anchors and one rate per band drawn from the check's seed (the same in every
    dtype of the run, different from run to run)."""
    rng = np.random.default_rng([ctx.check_seed, 0x5A7E])
    drawn = []
    for low, high in RATE_BANDS:
        if high <= 0.5:
            drawn.append(float(np.exp(rng.uniform(math.log(low), math.log(high)))))
        elif low >= 0.5:
            drawn.append(1.0 - float(np.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))))
        else:
            drawn.append(float(rng.uniform(low, high)))
    return ANCHOR_RATES + tuple(round(r, 6) for r in drawn)


def rate_guarantee() -> str:
    """What one run's RATE checks rule out (for ``dropspec power``)."""
    bands = ", ".join(f"[{lo}, {hi}]" for lo, hi in RATE_BANDS)
    return (
        f"*-RATE: one run tests rates {', '.join(map(str, ANCHOR_RATES))} and one rate "
        f"drawn from the base seed in each of {bands}, in every dtype; each sub-test detects "
        f"a drop-rate error of 0.002, or 10% of min(rate, 1 - rate) where that is smaller, "
        f"with the stated power, so a 10% relative rate error anywhere in [0.001, 0.999] "
        f"is caught in the runs whose drawn rate falls where it is. Where axes are shared, "
        f"rate {GROUP_RATE} on groups of 2 along them detects a relative error of "
        f"{GROUP_DEVIATION:.0%} (a group-size-dependent rate)."
    )


@checks(*ids("RATE", {"dropout": "DROPOUT", "drop_path": "DROPPATH", "alpha_dropout": "ALPHA"}))
@every_dtype
def check_rate(ctx: Context) -> StatResult:
    """Every rate of :func:`drawn_rates` on groups of one element (shared axes of side 1);
    at the rates of :func:`homogeneity_rates`, the kept share's homogeneity across value
    and position classes on the first call (one share of alpha for all of them); and, where
    axes are shared, rate :data:`GROUP_RATE` on groups of 2 along every shared axis: a
    group's drop rate must not depend on how many elements it holds. Last, rate
    :data:`GROUP_RATE` over :data:`SMALL_CALLS` calls of about :data:`SMALL_ELEMENTS`
    values, so that small inputs are seen as well as the large ones above.

    Inputs take the values of :data:`MOMENT_VALUES` where a dropped output is 0 (so value
    classes exist); alpha dropout, whose masks are read from x = 1, has position classes
    only."""
    rates = drawn_rates(ctx)
    grouped = bool(shared_of(ctx, len(stat_shape(ctx, 2))))
    varied = homogeneity_rates(rates)
    alpha = ctx.split(len(rates) + grouped + bool(varied) + 1)
    # Many small calls (large-tensor fast paths aside): SMALL_CALLS calls of SMALL_ELEMENTS.
    small = stat_shape(ctx, SMALL_ELEMENTS)
    masks = unit_masks(ctx, GROUP_RATE, SMALL_CALLS * math.prod(small), shape=small)
    small_calls = drop_test(ctx, masks, GROUP_RATE, alpha, calls=f"{SMALL_CALLS} of {small}")
    results = []
    for rate in rates:
        test = rate_test(ctx, rate, alpha)
        shape = stat_shape(ctx, chunk_elements(test.n_max))
        x, labels = (None, None) if ctx.target.op == "alpha_dropout" else signed_input(ctx, shape)
        masks = iter(unit_masks(ctx, rate, test.n_max, x=x, shape=shape))
        if rate in varied:  # the labels go to the device only where classes are tested
            classes = Classes.of(ctx, labels, shape)
            first = next(masks)
            share = alpha / len(varied)
            results.extend(
                classes.tests(ctx, first, share, variance=None, what="kept share", rate=rate)
            )
            masks = itertools.chain([first], masks)
        results.append(drop_test(ctx, masks, rate, alpha, test))
    if grouped:
        rate = GROUP_RATE
        # Sized for a 10% relative error, not rate_deviation's 0.002: this sub-test is there
        # for a rate that depends on the group's size (all draws of a group must drop, say:
        # rate² instead of rate); the rate itself is measured on groups of one above. A group
        # holds 2^(shared axes) elements, so at 0.002 it cost up to 8 times that sub-test.
        n = st_.binomial_sample_size(rate, GROUP_DEVIATION * rate, alpha, ctx.power)
        masks = unit_masks(ctx, rate, n, shared_side=2)
        results.append(drop_test(ctx, masks, rate, alpha, shared_side=2))
    results.append(small_calls)
    return verdict(results, "the drop rate is off")


#: The rate RATE also tests on groups longer than one element, and on many small calls (see
#: :func:`check_rate`), and the relative rate error the groups' sub-test is sized for.
GROUP_RATE, GROUP_DEVIATION = 0.5, 0.1
#: RATE's small calls: this many calls of about this many mask values each (2^17 in all).
SMALL_CALLS, SMALL_ELEMENTS = 64, 2048


def homogeneity_rates(rates: Iterable[float]) -> tuple[float, ...]:
    """The rates at which RATE tests homogeneity across classes: those in [0.05, 0.95],
    where every class holds enough dropped and kept values to compare."""
    return tuple(r for r in rates if 0.05 <= r <= 0.95)


def _multiplier_moments(ctx: Context, rate: float) -> list[tuple[float, float, float, float]]:
    """(kept multiplier, mean, variance, fourth central moment) of the two-point multiplier
    m·s, one per rounding of the scale the dtype allows (see ``kept_multipliers``)."""
    scaling = ctx.options.get("scaling", "inverted")
    out = []
    for s in kept_multipliers(rate, scaling, ctx.stat_dtype):
        mean, var = dropout_moments(rate, scaling, multiplier=s)
        m4 = (1.0 - rate) * (s - mean) ** 4 + rate * mean**4
        out.append((s, mean, var, m4))
    return out


#: Powers of two, so that x·fl(s) is exact and y/x is the multiplier itself in every dtype.
MOMENT_VALUES = np.array([-2.0, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 2.0])


def signed_input(ctx: Context, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """An input of ``shape`` whose values are drawn from :data:`MOMENT_VALUES` (exact in
    every dtype), marked :meth:`Context.reusable`, and each value's index in that list.

    One per shape and dtype in a check, shared by its rates: every call draws its own
    mask, so the sub-tests stay valid given the input, and the input is drawn and moved to
    the target's device once."""
    key = ("signed", tuple(shape), ctx.stat_dtype)
    if key not in ctx.cache:
        labels = ctx.rng.integers(0, len(MOMENT_VALUES), size=shape, dtype=np.int8)
        x = ctx.reusable(MOMENT_VALUES.astype(as_dtype(ctx.stat_dtype))[labels])
        ctx.cache[key] = (x, labels)
    x, labels = ctx.cache[key]
    return x, labels


def signed_stat_inputs(ctx: Context, n: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(input, value labels) for moment checks, until ``n`` mask values are covered.

    One input is drawn and passed to every call: y/x is the multiplier itself whatever x
    is, so the calls' masks alone make the draws independent.
    """
    shape = stat_shape(ctx, chunk_elements(n))
    x, labels = signed_input(ctx, shape)
    got = 0
    while got < n:
        yield x, labels
        got += math.prod(shape)


def _multiplier_sums(
    ctx: Context,
    rate: float,
    n: int,
    center: float,
    enough: Callable[[float, float, int, int], bool],
    homogeneity_alpha: float | None = None,
) -> list[StatResult]:
    """Call the target until ``enough(Σ (y/x − center), Σ (y/x − center)², values, group
    size)`` says so or ``n`` values are covered; return (given ``homogeneity_alpha``) the
    homogeneity tests of E[y/x] across value and position classes on the first call."""
    sums, count, groups = np.zeros(2), 0, 1
    wide: Array = None  # x in float64 on the device, converted once
    homogeneous: list[StatResult] = []
    for x, labels in signed_stat_inputs(ctx, n):
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        if wide is None:
            wide = ctx.to_device(x.astype(np.float64))
        groups = math.prod(x.shape[a] for a in shared_of(ctx, x.ndim))
        part = ctx.host(_multiplier_sum(y, wide, center=center))
        if homogeneity_alpha is not None and count == 0:
            classes = Classes.of(ctx, labels)
            var = max(0.0, float(part[1]) / x.size - (float(part[0]) / x.size) ** 2)
            homogeneous = classes.tests(
                ctx,
                _multiplier(y, wide, center=center),
                homogeneity_alpha,
                variance=var,
                what="E[y/x]",
                rate=rate,
            )
        sums += part
        count += x.size
        if enough(float(sums[0]), float(sums[1]), count, groups):
            break
    return homogeneous


@reduce.fused()
def _multiplier(y: Array, x: Array, center: float) -> Array:
    """y/x − center in float64."""
    xp = reduce.namespace(y)
    return xp.astype(y, xp.float64) / x - center


@reduce.fused()
def _multiplier_sum(y: Array, x: Array, center: float) -> Array:
    """``[Σ (y/x − center), Σ (y/x − center)²]``."""
    xp = reduce.namespace(y)
    dev = xp.astype(y, xp.float64) / x - center
    return xp.stack([xp.sum(dev), xp.sum(dev * dev)])


def nearest_allowed(results: list[StatResult]) -> StatResult:
    """The test against the allowed expectation the data fits best.

    The null is composite (any of the scale roundings the dtype allows); rejecting only
    when every candidate is rejected keeps the level at alpha. With more than one candidate
    the p-value is a maximum, conservative rather than uniform, and is marked so.
    """
    best = max(results, key=lambda r: r.pvalue)
    return best if len(results) == 1 else dataclasses.replace(best, uniform=False)


def _moment_test(
    ctx: Context,
    rate: float,
    alpha: float,
    variance: bool,
    homogeneity_alpha: float | None = None,
) -> list[StatResult]:
    """The sequential moment test at ``rate``, then any homogeneity tests (see
    :func:`_multiplier_sums`).

    Sized by :func:`~.stats.rate_moment_test`; one test per allowed scale rounding (a
    composite null): the check fails only when every candidate is rejected, which keeps the
    level at alpha, and stops drawing as soon as one is accepted (its accept bound is split
    among the candidates, which keeps the power) or every one is rejected."""
    candidates = _multiplier_moments(ctx, rate)
    center = candidates[0][1]
    tests = [
        st_.rate_moment_test(rate, alpha, ctx.power, candidates=len(candidates)) for _ in candidates
    ]

    def enough(s1: float, s2: float, count: int, groups: int) -> bool:
        m = count // groups
        for test, (_, mean, var, m4) in zip(tests, candidates, strict=True):
            shift = mean - center
            dev1 = s1 - count * shift  # Σ (v − mean)
            # Values sharing a mask move together: the sum's variance is groups² per value.
            if variance:
                total = s2 - 2.0 * shift * s1 + count * shift * shift - count * var
                spread = (m4 - var * var) * count * groups
            else:
                total, spread = dev1, var * count * groups
            sd_unit = math.sqrt(spread / m) if spread > 0 else 0.0
            test.update(total / sd_unit if sd_unit > 0 else (0.0 if total == 0 else math.inf), m)
        return any(t.accepted for t in tests) or all(t.rejected for t in tests)

    homogeneous = _multiplier_sums(ctx, rate, tests[0].m_max, center, enough, homogeneity_alpha)
    results = [
        t.result(rate=rate, expected_variance=var, kept_multiplier=s)
        if variance
        else t.result(rate=rate, expected_multiplier=mean, kept_multiplier=s)
        for t, (s, mean, var, _) in zip(tests, candidates, strict=True)
    ]
    return [nearest_allowed(results), *homogeneous]


@checks("DROPOUT-UNBIASED", "DROPPATH-UNBIASED")
@every_dtype
def check_unbiased(ctx: Context) -> StatResult:
    """E[y/x] at each rate, and its homogeneity across value and position classes (one share
    of alpha for every homogeneity test, split evenly among them)."""
    rates = (0.1, 0.5, 0.9)
    alpha = ctx.split(len(rates) + 1)
    each = alpha / len(rates)
    results = [
        r
        for rate in rates
        for r in _moment_test(ctx, rate, alpha, variance=False, homogeneity_alpha=each)
    ]
    return verdict(
        results,
        "E[y] differs from the inference output (with the scale rounded to the dtype), or "
        "E[y/x] depends on the input's value or position",
    )


@checks("DROPOUT-VARIANCE", "DROPPATH-VARIANCE")
@every_dtype
def check_variance(ctx: Context) -> StatResult:
    rates = (0.1, 0.3, 0.9)
    alpha = ctx.split(len(rates))
    results = [_moment_test(ctx, rate, alpha, variance=True)[0] for rate in rates]
    return verdict(
        results, "Var[y] differs from x²·s²·rate·(1 − rate) (with s rounded to the dtype)"
    )


@checks(
    *ids(
        "INDEPENDENT-CALLS",
        {"dropout": "DROPOUT", "drop_path": "DROPPATH", "gaussian_dropout": "GAUSSIAN"},
    )
)
@every_dtype
def check_independent_calls(ctx: Context) -> StatResult:
    """Each mask value's drop count over k calls (for Gaussian dropout, how often its noise
    is at most 1) against Binomial(k, p)."""
    k, rate = 24, 0.5
    p = rate
    if ctx.target.op == "gaussian_dropout":
        p = gaussian_at_most_one(rate, ctx.stat_dtype)
    shape = stat_shape(ctx, 1 << 15)
    counts: Array | None = None
    for keep in unit_masks(ctx, rate, k * (1 << 15), shape=shape):
        xp = reduce.namespace(keep)
        dropped = xp.astype(xp.logical_not(keep), xp.int64)
        counts = dropped if counts is None else counts + dropped
    assert counts is not None
    histogram = ctx.host(reduce.histogram(counts, k=k))
    res = st_.binomial_histogram_gof(histogram, k, p, alpha=ctx.alpha, power=ctx.power)
    return verdict([res], "drop counts over k calls are not Binomial(k, rate)")


@checks(*ids("INDEPENDENT-AXES", UNIT_OPS))
@every_dtype
def check_independent_axes(ctx: Context) -> StatResult:
    rate = 0.5
    shape = stat_shape(ctx, 1 << 20)
    free = [a for a in range(len(shape)) if a not in shared_of(ctx, len(shape))]
    tables = neighbour_tables(ctx, unit_masks(ctx, rate, 1 << 20, shape=shape), free)
    alpha = ctx.split(len(tables))
    results = [table.test(alpha, shape=shape, rate=rate, **where) for where, table in tables]
    return verdict(
        results,
        f"mask values at offsets 1..{NEIGHBOUR_OFFSETS} along a non-shared axis are dependent",
    )


@checks("DROPOUT-INDEPENDENT-ELEMENTS")
@every_dtype
def check_independent_elements(ctx: Context) -> StatResult:
    # Pairs never straddle two calls: each call's mask is paired within itself.
    tables = neighbour_tables(ctx, unit_masks(ctx, 0.5, 1 << 20), [None])
    alpha = ctx.split(len(tables))
    results = [table.test(alpha, rate=0.5, **where) for where, table in tables]
    return verdict(
        results, f"mask values at offsets 1..{NEIGHBOUR_OFFSETS} in memory order are dependent"
    )


@checks("DROPOUT-NO-PERIOD", "GAUSSIAN-NO-PERIOD")
@every_dtype
def check_no_period(ctx: Context) -> StatResult:
    n = 1 << 20
    shape = stat_shape(ctx, n)
    mask = next(unit_masks(ctx, 0.5, n, shape=shape))
    size = math.prod(mask.shape)
    lag, agreement = ctx.host(reduce.autocorrelation_peak(mask, lags=size // 2))
    res = st_.no_period_peak(
        int(lag), float(agreement), size, size // 2, alpha=ctx.alpha, power=ctx.power, shape=shape
    )
    return verdict([res], "the mask repeats itself")


@checks("DROPOUT-SHARED-CONSTANT", "ALPHA-SHARED-CONSTANT", "DROPPATH-PER-EXAMPLE")
def check_shared_constant(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        dtype, shape, rate, _, seed = case
        x = np.ones(shape, dtype=as_dtype(dtype))
        y = ctx.call(x, rate=rate, seed=seed)
        if y.shape != x.shape:
            raise CheckFailure(f"output shape {y.shape} differs from {x.shape}")
        keep = keep_mask(ctx, y, rate, ())
        shared = shared_of(ctx, len(shape))
        if not shared:
            return
        if not np.array_equal(keep.all(axis=shared), keep.any(axis=shared)):
            raise CheckFailure(
                f"the mask varies along shared axes {shared} "
                f"({case_text(dtype, shape, rate, seed)})"
            )

    examples(ctx, lambda d: unit_cases(ctx, gen.rates(0.2, 0.8), 2, d), body)


def nan_inf_input(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    special = rng.random(x.shape)
    out = x.copy()
    out[special < 0.3] = np.nan
    out[(special >= 0.3) & (special < 0.5)] = np.inf
    out[(special >= 0.5) & (special < 0.6)] = -np.inf
    return out


@checks(
    *ids("DROPPED-SELECT", {"dropout": "DROPOUT", "drop_path": "DROPPATH"}),
    *ids("DROPPED-MULTIPLY", {"dropout": "DROPOUT", "drop_path": "DROPPATH"}),
)
def check_dropped_nonfinite(ctx: Context) -> None:
    select = ctx.clause.id.endswith("SELECT")

    def body(case: tuple[Any, ...]) -> None:
        dtype, shape, rate, data_seed, seed = case
        ones = np.ones(shape, dtype=as_dtype(dtype))
        keep = ctx.call(ones, rate=rate, seed=seed) != 0
        x = nan_inf_input(gen.values(data_seed, shape, dtype), data_seed)
        y = ctx.call(x, rate=rate, seed=seed).astype(np.float64)
        xd = x.astype(np.float64)
        finite = np.isfinite(xd)
        if select:
            bad = ~keep & (y != 0)
            what = "a dropped slot is not exactly 0"
        else:
            bad = ~keep & ((finite & (y != 0)) | (~finite & ~np.isnan(y)))
            what = "a dropped slot is not x·0"
        kept_bad = keep & ~finite & ~((np.isnan(xd) & np.isnan(y)) | (y == xd))
        bad |= kept_bad
        if bad.any():
            idx = tuple(int(i[0]) for i in np.nonzero(bad))
            raise CheckFailure(
                f"{what if not kept_bad[idx] else 'a kept NaN/inf changed'}: "
                f"x={xd[idx]!r} gave y={y[idx]!r} at {idx} "
                f"({case_text(dtype, shape, rate, seed)})"
            )

    examples(ctx, lambda d: unit_cases(ctx, gen.rates(0.2, 0.8), 2, d), body)


def need_vjp(ctx: Context, f: Callable[[Any], Any], x: np.ndarray, cot: np.ndarray) -> np.ndarray:
    start = time.perf_counter()
    try:
        grad = ctx.backend.vjp(f, x, cot, ctx.config.device)
    finally:
        ctx.target_seconds += time.perf_counter() - start
    if grad is None:
        raise NotApplicable(f"{ctx.backend.name} has no automatic differentiation")
    return grad.astype(np.float64)


def close(got: np.ndarray, want: np.ndarray, dtype: str, ulps: float = 8.0) -> bool:
    tol = ulps * eps(dtype) * (np.abs(want) + 1e-30) + 1e-30
    return bool(np.all(np.abs(got - want) <= tol))


@checks("DROPOUT-GRADIENT", "DROPPATH-GRADIENT", "ALPHA-GRADIENT", "GAUSSIAN-GRADIENT")
def check_gradient(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        dtype, shape, rate, data_seed, seed = case
        x = gen.values(data_seed, shape, dtype, signed=False)
        cot = gen.values(data_seed + 1, shape, dtype)
        op = ctx.target.op
        y = ctx.call(x, rate=rate, seed=seed).astype(np.float64)
        xd = x.astype(np.float64)
        if op == "gaussian_dropout":
            factor = y / xd
        elif op == "alpha_dropout":
            a, b = alpha_constants(rate)
            kept = np.abs(y - (a * xd + b)) < np.abs(y - (a * ALPHA_PRIME + b))
            factor = np.where(kept, a, 0.0)
        else:
            factor = np.where(y != 0, scale(ctx, rate), 0.0)
        want = cot.astype(np.float64) * factor

        def f(xa: Any) -> Any:
            return ctx.invoke(xa, rate, training=True, seed=seed)

        got = need_vjp(ctx, f, x, cot)
        ulps = 64.0 if op == "gaussian_dropout" else 8.0
        if not close(got, want, dtype if dtype != "float64" else "float32", ulps):
            raise CheckFailure(
                f"gradient is not the forward mask times its scale: "
                f"{_first_mismatch(got, want)} ({describe(case)})"
            )

    wide = tuple(d for d in ctx.dtypes if d in ("float32", "float64"))
    if not wide:
        raise NotApplicable("the gradient check runs in float32 or float64, which the target lacks")
    examples(
        ctx,
        lambda d: st.tuples(
            st.just(d),
            case_shapes(ctx),
            gen.rates(0.05, 0.95),
            gen.data_seeds(),
            gen.call_seeds(ctx.target.seed_bits),
        ),
        body,
        wide,
    )


# ---------------------------------------------------------------- alpha dropout ----


@checks("ALPHA-VALUES")
def check_alpha_values(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        dtype, shape, rate, data_seed, seed = case
        x = gen.values(data_seed, shape, dtype, low=0.0, high=1.0)
        y = ctx.call(x, rate=rate, seed=seed).astype(np.float64)
        a, b = alpha_constants(rate)
        kept = a * x.astype(np.float64) + b
        dropped = a * ALPHA_PRIME + b
        tol = (
            4.0 * eps(dtype) * (np.abs(a * x.astype(np.float64)) + abs(b) + abs(a * ALPHA_PRIME))
            + 1e-12
        )
        ok = (np.abs(y - kept) <= tol) | (np.abs(y - dropped) <= tol)
        if y.shape != x.shape or not ok.all():
            idx = tuple(int(i[0]) for i in np.nonzero(~ok)) if y.shape == x.shape else ()
            raise CheckFailure(
                f"output {y[idx] if idx else y.shape!r} is neither a·x + b = "
                f"{kept[idx] if idx else ''!r} nor a·α′ + b = {dropped!r} "
                f"({case_text(dtype, shape, rate, seed)})"
            )

    examples(ctx, lambda d: unit_cases(ctx, gen.rates(0.001, 0.99), dtype=d), body)


def alpha_group_sums(ctx: Context, rate: float, n: int) -> tuple[float, float, int, int]:
    """Σy and Σ(y² − 1) over n standard-normal inputs, and the number of mask groups."""
    total = total_sq = 0.0
    count = groups_seen = 0
    shape = stat_shape(ctx, chunk_elements(n))
    g = math.prod(shape[a] for a in shared_of(ctx, len(shape)))
    while count < n:
        x = ctx.rng.standard_normal(shape).astype(as_dtype(ctx.stat_dtype))
        y = ctx.call_device(x, rate=rate)
        same_shape(y, x.shape)
        sums = ctx.host(_sums_of_values_and_squares(y, shift=1.0))
        total += float(sums[0])
        total_sq += float(sums[1])
        count += x.size
        groups_seen += x.size // g
    return total, total_sq, groups_seen, g


@reduce.fused()
def _sums_of_values_and_squares(
    y: Array, shift: float, offset: float = 0.0, scale: float = 1.0
) -> Array:
    """``[Σ v, Σ (v² − shift)]`` with v = (y − offset) / scale, in float64."""
    xp = reduce.namespace(y)
    v = (xp.astype(y, xp.float64) - offset) / scale
    return xp.stack([xp.sum(v), xp.sum(v * v - shift)])


def alpha_group_variances(rate: float, g: int) -> tuple[float, float]:
    """Variance of one group's Σy and Σy² − g, for a group of g values sharing one mask value.

    y = a·(k·x + (1 − k)·α′) + b with k ~ Bernoulli(keep) shared in the group and x ~ N(0, 1).
    """
    a, b = alpha_constants(rate)
    keep = 1.0 - rate
    var_sum = a * a * (keep * g + g * g * ALPHA_PRIME**2 * keep * rate)
    e1 = a * a + b * b  # E[(a·x + b)²]
    e2 = 3 * a**4 + 6 * a * a * b * b + b**4  # E[(a·x + b)⁴]
    c2 = (a * ALPHA_PRIME + b) ** 2
    var_sq = keep * g * (e2 - e1 * e1) + g * g * keep * rate * (e1 - c2) ** 2
    return var_sum, var_sq


@checks("ALPHA-MEAN", "ALPHA-VARIANCE")
@every_dtype
def check_alpha_moments(ctx: Context) -> StatResult:
    rates = (0.05, 0.2, 0.5)
    alpha = ctx.split(len(rates))
    mean_clause = ctx.clause.id == "ALPHA-MEAN"
    results = []
    for rate in rates:
        total, total_sq, groups, g = alpha_group_sums(ctx, rate, 1 << 20)
        var_sum, var_sq = alpha_group_variances(rate, g)
        slack_mean, slack_second = alpha_rounding_slack(rate, ctx.stat_dtype)
        values = groups * g
        if mean_clause:
            results.append(
                st_.z_mean(
                    total,
                    0.0,
                    var_sum * groups,
                    groups,
                    alpha=alpha,
                    power=ctx.power,
                    slack=slack_mean * values,
                    rate=rate,
                    expected_mean=0.0,
                )
            )
        else:
            results.append(
                st_.z_mean(
                    total_sq,
                    0.0,
                    var_sq * groups,
                    groups,
                    alpha=alpha,
                    power=ctx.power,
                    slack=slack_second * values,
                    rate=rate,
                    expected_variance=1.0,
                )
            )
    return verdict(
        results,
        "alpha dropout does not keep mean 0"
        if mean_clause
        else "alpha dropout does not keep variance 1",
    )


# ---------------------------------------------------------------- gaussian dropout ----


def gaussian_noise(ctx: Context, rate: float, n: int) -> Array:
    """At least n values of y/x (x = 1) as one flat float64 array where the outputs live."""
    shape = stat_shape(ctx, chunk_elements(n))
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


@checks("GAUSSIAN-MEAN", "GAUSSIAN-VARIANCE", "GAUSSIAN-DISTRIBUTION")
@every_dtype
def check_gaussian(ctx: Context) -> StatResult:
    rates = (0.1, 0.5, 0.8)
    alpha = ctx.split(len(rates))
    results = []
    for rate in rates:
        sigma = gaussian_std(rate)
        noise = gaussian_noise(ctx, rate, 1 << 20)
        size = math.prod(noise.shape)
        if ctx.clause.id == "GAUSSIAN-DISTRIBUTION":
            # Against the law of y/x rounded to the dtype (x = 1), which the half types
            # resolve coarsely enough for Kolmogorov-Smirnov to see.
            info = ml_dtypes.finfo(as_dtype(ctx.stat_dtype))  # type: ignore[no-untyped-call]
            distance = float(
                ctx.host(
                    reduce.ks_distance_rounded(
                        noise, 1.0, sigma, mantissa=int(info.nmant), min_exponent=int(info.minexp)
                    )
                )
            )
            res = st_.ks_normal_distance(
                distance, size, alpha=alpha, power=ctx.power, rate=rate, std=sigma
            )
            results.append(dataclasses.replace(res, uniform=ctx.stat_dtype in WIDE))
            continue
        # z = (y/x − 1) / σ: Σz for the mean, Σz² for the variance
        total, total_sq = ctx.host(_sums_of_values_and_squares(noise, 0.0, 1.0, sigma))
        if ctx.clause.id == "GAUSSIAN-MEAN":
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
        f"the noise y/x is not N(1, rate/(1 − rate)) ({ctx.clause.id.rsplit('-', 1)[1].lower()})",
    )


@checks("GAUSSIAN-INDEPENDENT-ELEMENTS")
@every_dtype
def check_gaussian_independence(ctx: Context) -> StatResult:
    tables = neighbour_tables(ctx, [gaussian_noise(ctx, 0.5, 1 << 20) > 1.0], [None])
    alpha = ctx.split(len(tables))
    results = [table.test(alpha, pairs="noise above 1", **where) for where, table in tables]
    return verdict(
        results, f"noise values at offsets 1..{NEIGHBOUR_OFFSETS} in memory order are dependent"
    )


# ---------------------------------------------------------------- dropconnect ----


def dc_activation(ctx: Context, u: np.ndarray) -> np.ndarray:
    if ctx.options.get("activation") == "relu":
        out: np.ndarray = np.maximum(u, 0.0)
        return out
    return u


def decoder_layer(
    ctx: Context, batch: int, n_out: int, n_in: int, dtype: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x = 1, W[o, j] = 2^j and a bias of 2^n_in (masked bias) or 0 (unmasked)."""
    d = as_dtype(dtype)
    x = np.ones((batch, n_in), dtype=d)
    w = np.broadcast_to(2.0 ** np.arange(n_in), (n_out, n_in)).astype(d)
    bias_value = 2.0**n_in if ctx.options.get("mask_bias", True) else 0.0
    return x, w, np.full(n_out, bias_value, dtype=d)


def decode(ctx: Context, y: Array, rate: float, n_in: int) -> tuple[Array, Array]:
    """Weight masks (batch, out, in) and bias masks (batch, out) from a decoder call.

    Works on any array library's output and returns masks of the same library.
    """
    s = scale(ctx, rate)
    bits = n_in + (1 if ctx.options.get("mask_bias", True) else 0)
    valid, weight, bias = _decode(y, s, n_in=n_in, bits=bits)
    if not bool(ctx.host(valid)):
        yh = ctx.host(y).astype(np.float64)  # a failure: show where
        vh = yh / s
        rh = np.round(vh)
        bad = tuple(
            int(i[0]) for i in np.nonzero(~((np.abs(vh - rh) <= 0.25) & (rh >= 0) & (rh < 2**bits)))
        )
        raise CheckFailure(
            f"the output {yh[bad] if bad else yh!r} at {bad} is not s·x·(M ⊙ W)ᵀ (+ masked "
            f"bias) for any 0/1 mask M, with s={s!r}, x = 1 and W[o, j] = 2^j"
        )
    return weight, bias


@reduce.fused("n_in", "bits")
def _decode(y: Array, s: float, n_in: int, bits: int) -> tuple[Array, Array, Array]:
    """Whether every y/s is a whole number in [0, 2^bits), and its binary digits."""
    xp = reduce.namespace(y)
    v = xp.astype(y, xp.float64) / s
    r = xp.round(v)
    slack = 1e-3 * xp.where(xp.abs(v) > 1.0, xp.abs(v), xp.ones_like(v)) + 0.25
    valid = xp.all((xp.abs(v - r) <= slack) & (r >= 0) & (r < 2**bits))
    digits = reduce.decode_bits(r, bits=n_in + 1)
    return valid, digits[..., :n_in], digits[..., n_in]


def decoded_masks(
    ctx: Context,
    rate: float,
    bits: int,
    *,
    seed: int | None = None,
    n_in: int = 16,
    batch: int | None = None,
) -> Iterator[tuple[Array, Array]]:
    """Weight masks (batch, out, in) and bias masks, per call, until ``bits`` weight bits.

    With a ``seed`` there is one call (every call would repeat its masks).
    """
    per_example = ctx.options.get("masks") == "per_example"
    if batch is None:
        batch = 256 if per_example else 1
    if ctx.stat_dtype not in WIDE:
        n_in = min(n_in, 4)  # s·(2^(n_in + 1) − 1) must stay exact enough in a half type
    n_out = gen_even(chunk_elements(bits) / (batch * n_in))
    x, w, b = (ctx.reusable(a) for a in decoder_layer(ctx, batch, n_out, n_in, ctx.stat_dtype))
    got = 0
    while got < bits:
        y = ctx.call_device(x, w, b, rate=rate, seed=seed)
        same_shape(y, (batch, n_out))
        yield decode(ctx, y, rate, n_in)
        got += batch * n_out * n_in
        if seed is not None:
            break


@checks("DROPCONNECT-SHAPE-MISMATCH")
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


@checks("DROPCONNECT-VALUES")
def check_dc_values(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        dtype, (batch, n_out), rate, _, seed = case
        n_in = 16 if dtype in ("float32", "float64") else 4
        x, w, b = decoder_layer(ctx, batch, n_out, n_in, dtype)
        y = ctx.call(x, w, b, rate=rate, seed=seed)
        if y.shape != (batch, n_out):
            raise CheckFailure(f"output shape {y.shape}, expected {(batch, n_out)}")
        m, mb = decode(ctx, y, rate, n_in)
        pre = (m * w.astype(np.float64)).sum(-1) + mb * b.astype(np.float64)
        want = dc_activation(ctx, pre * scale(ctx, rate))
        if not close(y.astype(np.float64), want, dtype, 4.0):
            raise CheckFailure(
                f"output differs from a(s·x·(M ⊙ W)ᵀ + b′) for the decoded M: "
                f"{_first_mismatch(y, want)} "
                f"({case_text(dtype, (batch, n_out), rate, seed)})"
            )

    dims = st.tuples(gen.side(), gen.side())
    examples(
        ctx,
        lambda d: st.tuples(
            st.just(d),
            dims,
            gen.rates(0.01, 0.99),
            gen.data_seeds(),
            gen.call_seeds(ctx.target.seed_bits),
        ),
        body,
    )


@checks("DROPCONNECT-RATE")
@every_dtype
def check_dc_rate(ctx: Context) -> StatResult:
    rates = drawn_rates(ctx)
    alpha = ctx.split(len(rates))
    results = []
    for rate in rates:
        test = rate_test(ctx, rate, alpha)
        weights = (m for m, _ in decoded_masks(ctx, rate, test.n_max))
        results.append(drop_test(ctx, weights, rate, alpha, test))
    return verdict(results, "the weight drop rate is off")


@checks("DROPCONNECT-BIAS-MASKED")
@every_dtype
def check_dc_bias_masked(ctx: Context) -> StatResult:
    rates = (0.1, 0.5)
    alpha = ctx.split(len(rates))
    results = []
    for rate in rates:
        test = rate_test(ctx, rate, alpha)
        per_example = ctx.options.get("masks") == "per_example"
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


@checks("DROPCONNECT-PER-CONNECTION")
@every_dtype
def check_dc_per_connection(ctx: Context) -> StatResult:
    alpha = ctx.split(2)
    labels = {
        1: "connections into one input's column (dropped input unit)",
        2: "connections of one output's row (dropped output unit)",
    }
    tables = {axis: PairTable(ctx) for axis in labels}
    for m, _ in decoded_masks(ctx, 0.5, 1 << 21):
        for axis, table in tables.items():
            table.add_halves(m, axis)
    results = [tables[axis].test(alpha, pairs=label) for axis, label in labels.items()]
    return verdict(
        results,
        "mask values of different connections are dependent: this "
        "looks like dropout of units, not DropConnect",
    )


@checks("DROPCONNECT-PER-EXAMPLE")
@every_dtype
def check_dc_per_example(ctx: Context) -> StatResult:
    # Per-example targets are called with a batch of 256, so pairs stay within one call.
    table = PairTable(ctx)
    for m, _ in decoded_masks(ctx, 0.5, 1 << 21):
        table.add_halves(m, 0)
    res = table.test(ctx.alpha, pairs="the same connection in neighbouring examples")
    return verdict(
        [res],
        "examples in a batch share weight masks",
        declaration_hint(
            ctx, "masks", "per_batch", "the examples of a batch share one weight mask"
        ),
    )


@checks("DROPCONNECT-PER-BATCH")
def check_dc_per_batch(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        (batch, n_out), rate, seed = case
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
        st.tuples(
            st.tuples(gen.side(2), gen.side()),
            gen.rates(0.1, 0.9),
            gen.call_seeds(ctx.target.seed_bits),
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


@checks("DROPCONNECT-UNBIASED")
@wide_dtypes
def check_dc_unbiased(ctx: Context) -> StatResult:
    rates = (0.1, 0.5, 0.9)
    alpha = ctx.split(len(rates))
    per_example = ctx.options.get("masks") == "per_example"
    batch, n_in = (64, 16) if per_example else (1, 16)
    n_out = 4096
    x, w, b = (ctx.reusable(a) for a in positive_layer(ctx, batch, n_out, n_in, ctx.stat_dtype))
    results = []
    for rate in rates:
        mean, var = dropconnect_moments(
            x,
            w,
            b,
            rate,
            scaling=ctx.options.get("scaling", "inverted"),
            mask_bias=ctx.options.get("mask_bias", True),
        )
        total = 0.0
        calls = 4 if per_example else 64
        mean_d = ctx.to_device(mean)
        for _ in range(calls):
            y = ctx.call_device(x, w, b, rate=rate)
            same_shape(y, mean.shape)
            total += float(ctx.host(_sums_of_values_and_squares(y, 0.0, mean_d))[0])
        # The scale, rounded to the dtype, multiplies every kept term: E[y] moves with it.
        exact = scale(ctx, rate)
        masked = float(mean.sum()) - (
            0.0 if ctx.options.get("mask_bias", True) else float(b.astype(np.float64).sum()) * batch
        )
        results.append(
            nearest_allowed(
                [
                    st_.z_mean(
                        total - (s / exact - 1.0) * masked * calls,
                        0.0,
                        float(var.sum()) * calls * (s / exact) ** 2,
                        mean.size * calls,
                        alpha=alpha,
                        power=ctx.power,
                        rate=rate,
                        kept_multiplier=s,
                    )
                    for s in kept_multipliers(
                        rate, ctx.options.get("scaling", "inverted"), ctx.stat_dtype
                    )
                ]
            )
        )
    return verdict(results, "E[pre-activation] differs from the inference mean")


@checks("DROPCONNECT-BIAS-UNMASKED")
def check_dc_bias_unmasked(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        dtype, (batch, n_in, n_out), rate, _, seed = case
        x, _, b = _layer_case(ctx, case)
        w = np.zeros((n_out, n_in), dtype=as_dtype(dtype))
        y = ctx.call(x, w, b, rate=rate, seed=seed)
        want = dc_activation(ctx, np.broadcast_to(b.astype(np.float64), (batch, n_out)))
        require_same(
            "bias",
            y.astype(np.float64),
            want,
            f"with zero weights the output is not a(b) "
            f"({case_text(dtype, (batch, n_in, n_out), rate, seed)})",
        )

    examples(ctx, lambda d: layer_cases(ctx, gen.rates(0.05, 0.95), d), body)


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


@checks("DROPCONNECT-INFERENCE-MEAN", "DROPCONNECT-RATE-ZERO")
def check_dc_deterministic_forms(ctx: Context) -> None:
    inference = ctx.clause.id.endswith("INFERENCE-MEAN")

    def body(case: tuple[Any, ...]) -> None:
        dtype, _, rate, _, seed = case
        x, w, b = _layer_case(ctx, case)
        rate = rate if inference else 0.0
        y = ctx.call(x, w, b, rate=rate, training=not inference, seed=seed)
        s_inf = (1.0 - rate) * scale(ctx, rate) if inference else 1.0
        bias = b.astype(np.float64) * (s_inf if ctx.options.get("mask_bias", True) else 1.0)
        want = dc_activation(ctx, (x.astype(np.float64) @ w.astype(np.float64).T) * s_inf + bias)
        if y.shape != want.shape or not dc_close(ctx, y, want, x, w, b, dtype):
            what = "training=False" if inference else "rate 0"
            raise CheckFailure(
                f"{what}: output differs from the expected layer: "
                f"{_first_mismatch(y, want) if y.shape == want.shape else y.shape}"
                f" ({case_text(dtype, x.shape, rate, seed)})"
            )

    examples(ctx, lambda d: layer_cases(ctx, dtype=d), body)


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
        scaling=ctx.options.get("scaling", "inverted"),
        mask_bias=ctx.options.get("mask_bias", True),
    )
    return gaussian_activation_moments(mu, np.sqrt(var), ctx.options.get("activation", "identity"))


@checks("DROPCONNECT-INFERENCE-MM-MEAN", "DROPCONNECT-INFERENCE-MM-SPREAD")
@wide_dtypes
def check_dc_moment_matching(ctx: Context) -> StatResult:
    x, w, b, mean, var = mm_layer(ctx)
    samples = int(ctx.options.get("samples", 1000))
    calls = 8
    live = var > 1e-12  # outputs with a spread to standardise by
    # z = (y − E[a(u)]) / sqrt(Var[a(u)] / samples) where live, 0 elsewhere, summed on device.
    inv_sd = np.where(live, 1.0 / np.sqrt(np.where(live, var, 1.0) / samples), 0.0)
    sums = np.zeros(2)
    center, scale_by = ctx.to_device(mean), ctx.to_device(inv_sd)
    for _ in range(calls):
        y = ctx.call_device(x, w, b, rate=0.5, training=False)
        same_shape(y, mean.shape)
        sums += ctx.host(_standardised_sums(y, center, scale_by))
    size = int(np.count_nonzero(live)) * calls
    if ctx.clause.id.endswith("MM-MEAN"):
        res = st_.z_mean(
            float(sums[0]),
            0.0,
            float(size),
            size,
            alpha=ctx.alpha,
            power=ctx.power,
            samples=samples,
            rate=0.5,
        )
        return verdict([res], "moment-matching inference is biased: E[output] != E[a(u)]")
    res = st_.chi2_variance(
        float(sums[1]), size, alpha=ctx.alpha, power=ctx.power, samples=samples, rate=0.5
    )
    return verdict([res], "moment-matching inference does not average `samples` draws")


@reduce.fused()
def _standardised_sums(y: Array, center: Array, inv_sd: Array) -> Array:
    """``[Σ z, Σ z²]`` of z = (y − center)·inv_sd, where inv_sd > 0 (no spread: skipped)."""
    xp = reduce.namespace(y)
    z = (xp.astype(y, xp.float64) - center) * inv_sd
    z = xp.where(inv_sd > 0, z, xp.zeros_like(z))
    return xp.stack([xp.sum(z), xp.sum(z * z)])


@checks("DROPCONNECT-GRADIENT")
def check_dc_gradient(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        (batch, n_out), rate, data_seed, seed = case
        n_in = 12
        x, w, b = decoder_layer(ctx, batch, n_out, n_in, "float32")
        y = ctx.call(x, w, b, rate=rate, seed=seed)
        if y.shape != (batch, n_out):
            raise CheckFailure(f"output shape {y.shape}, expected {(batch, n_out)}")
        m, _ = decode(ctx, y, rate, n_in)
        cot = np.random.default_rng(data_seed).uniform(-1, 1, (batch, n_out)).astype(np.float32)
        want = scale(ctx, rate) * np.einsum(
            "no,noi,oi->ni", cot.astype(np.float64), m, w.astype(np.float64)
        )
        wt, bt = (ctx.to_device(a) for a in (w, b))

        def f(xa: Any) -> Any:
            return ctx.invoke(xa, wt, bt, rate, training=True, seed=seed)

        got = need_vjp(ctx, f, x, cot)
        tol = 1e-5 * (np.abs(cot.astype(np.float64)) @ w.astype(np.float64) + 1e-30)
        if got.shape != want.shape or not np.all(np.abs(got - want) <= tol):
            raise CheckFailure(
                f"gradient with respect to x does not use the forward masks: "
                f"{_worst(got, want, tol) if got.shape == want.shape else ''}"
                f" (batch={batch}, out={n_out}, rate={rate!r}, seed={seed})"
            )

    if "float32" not in ctx.dtypes:
        raise NotApplicable("the gradient check runs in float32, which the target lacks")
    examples(
        ctx,
        st.tuples(
            st.tuples(gen.side(), gen.side()),
            gen.rates(0.1, 0.9),
            gen.data_seeds(),
            gen.call_seeds(ctx.target.seed_bits),
        ),
        body,
    )


@checks("DROPCONNECT-RATE-ONE-ZEROS")
def check_dc_rate_one(ctx: Context) -> None:
    def body(case: tuple[Any, ...]) -> None:
        x, w, b = _layer_case(ctx, case)
        y = ctx.call(x, w, b, rate=1.0, seed=case[4]).astype(np.float64)
        bias = (
            np.zeros_like(b, dtype=np.float64)
            if ctx.options.get("mask_bias", True)
            else b.astype(np.float64)
        )
        want = dc_activation(ctx, np.broadcast_to(bias, y.shape))
        require_same("rate 1", y, want, "output is not a(b) (unmasked bias) or a(0) (masked)")

    examples(ctx, lambda d: layer_cases(ctx, dtype=d), body)
