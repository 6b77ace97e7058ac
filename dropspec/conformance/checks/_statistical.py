"""The statistical checks' plumbing: runs per dtype, sub-tests of drop rates and of pairs,
homogeneity across classes, and the verdict that names every failing sub-test."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .. import reduce
from .. import stats as st_
from ..context import Check, CheckFailure, Context, NotApplicable
from ..reduce import Array
from ..stats import StatResult
from ._examples import WIDE
from ._masks import MOMENT_VALUES


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


def check_dtypes(ctx: Context, wide_only: bool) -> tuple[str, ...]:
    """The dtypes a per-dtype statistical check runs in (and so shares its alpha among)."""
    dtypes = tuple(d for d in ctx.dtypes if not wide_only or d in WIDE)
    if not dtypes:
        raise NotApplicable("the check runs in float32 or float64, which the target lacks")
    return dtypes


@contextmanager
def in_dtype(ctx: Context, dtype: str, parts: int) -> Iterator[None]:
    """Run what follows in ``dtype``, at a ``parts``-th of the clause's alpha."""
    ctx.dtype, ctx.alpha_parts = dtype, parts
    try:
        yield
    finally:
        ctx.dtype, ctx.alpha_parts = None, 1


def _per_dtype(check: Check, wide_only: bool) -> Check:
    @functools.wraps(check)
    def run(ctx: Context) -> StatResult:
        dtypes = check_dtypes(ctx, wide_only)
        leaves: list[StatResult] = []
        # Dtypes a declared expected failure is confined to: a failure there is noted and
        # the other dtypes still run, so it cannot hide a fault in them.
        scope = ctx.target.expected_failure_dtypes.get(ctx.clause.id, ())
        expected: list[CheckFailure] = []
        for dtype in dtypes:
            start = time.perf_counter()
            try:
                with in_dtype(ctx, dtype, len(dtypes)):
                    result = check(ctx)
            except CheckFailure as exc:
                stat = None if exc.stat is None else _in_dtype(exc.stat, dtype)
                where = "" if exc.any_dtype else f"in {dtype}: "
                failure = CheckFailure(f"{where}{exc}", stat, frozenset({dtype}))
                if dtype not in scope:
                    raise failure from None
                expected.append(failure)
                continue
            finally:
                ctx.dtype_seconds[dtype] = time.perf_counter() - start
            if result is not None:
                leaves.extend(_in_dtype(leaf, dtype) for leaf in result.leaves())
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


# ---------------------------------------------------------------- plans ----

#: The inputs that tell one sub-test of a check from another (kept in a leaf of its plan).
PLAN_INPUTS = (
    "rate",
    "family",
    "axis",
    "offset",
    "phase",
    "pair",
    "pairs",
    "shared_side",
    "calls",
    "stratum",
)
#: What a leaf's (and so a claim's) simulation needs beyond test, alpha, n and deviation.
SIZING_INPUTS = ("classes", "k", "lags", "slack", "sums")


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One sub-test a statistical check runs, as sized: its test, share of alpha, sample
    size (a sequential test's limit, ``n_max``/``m_max``) and the deviation it detects
    with ``power``, in ``unit``. ``inputs`` tell it from the check's other sub-tests."""

    clause: str
    dtype: str
    test: str
    alpha: float
    n: int
    deviation: float
    unit: str
    power: float
    inputs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, clause: str, dtype: str, result: StatResult) -> Leaf:
        inputs = result.inputs
        n = int(inputs.get("n_max", inputs.get("m_max", result.n)))
        keep = [k for k in (*PLAN_INPUTS, *SIZING_INPUTS) if k in inputs]
        return cls(
            clause,
            dtype,
            result.test,
            result.alpha,
            n,
            result.deviation,
            result.deviation_unit,
            result.power,
            tuple((k, _plain(inputs[k])) for k in keep),
        )

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.inputs).get(key, default)

    def fingerprint(self) -> str:
        """A short hash of what the leaf is: clause, dtype, test, alpha, n, deviation (12
        significant digits), unit, power and inputs. A claim measured at a leaf holds while
        the check still runs a leaf of the same fingerprint."""
        key = [
            self.clause,
            self.dtype,
            self.test,
            f"{self.alpha:.12g}",
            self.n,
            f"{self.deviation:.12g}",
            self.unit,
            f"{self.power:.12g}",
            [list(kv) for kv in self.inputs],
        ]
        return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]


def _plain(value: Any) -> Any:
    """A JSON-able, hashable copy of an input (tuples for lists and shapes)."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


#: A check's plan: its sub-tests in the context's current dtype (alpha already split over
#: the dtypes), as results of the tests on empty data (only their sizing is read).
Planner = Callable[[Context], list[StatResult]]


def planned(plan: Planner) -> Callable[[Check], Check]:
    """Declare ``plan`` as the check's plan. ``plan`` must size the sub-tests with the
    same functions the check's body calls, so that the two cannot disagree."""

    def attach(check: Check) -> Check:
        check.plan = plan  # type: ignore[attr-defined]
        return check

    return attach


def plan_of(check: Check, ctx: Context) -> list[Leaf] | None:
    """The leaves ``check`` runs on ``ctx``'s target (None: the check states no plan),
    every dtype's, alpha split over the dtypes exactly as :func:`every_dtype` splits it."""
    plan: Planner | None = getattr(check, "plan", None)
    if plan is None:
        return None
    dtypes = check_dtypes(ctx, wide_only=getattr(check, "dtypes", "every") == "wide")
    leaves: list[Leaf] = []
    for dtype in dtypes:
        with in_dtype(ctx, dtype, len(dtypes)):
            leaves.extend(Leaf.of(ctx.clause.id, dtype, r) for r in plan(ctx))
    return leaves


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
        f"{option}={ctx.options[option]!r}). If it is meant to behave so, declare "
        f"{option}={value!r}; see `dropspec explain {ctx.target.op}`"
    )


def nearest_allowed(results: list[StatResult]) -> StatResult:
    """The test against the allowed expectation the data fits best.

    The null is composite (any of the scale roundings the dtype allows); rejecting only
    when every candidate is rejected keeps the level at alpha. With more than one candidate
    the p-value is a maximum, conservative rather than uniform, and is marked so.
    """
    best = max(results, key=lambda r: r.pvalue)
    return best if len(results) == 1 else dataclasses.replace(best, uniform=False)


# ---------------------------------------------------------------- drop rates ----


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


# ---------------------------------------------------------------- pairs and classes ----


def halves_pairs(shape: tuple[int, ...], axis: int) -> int:
    """The neighbouring pairs along ``axis`` that :meth:`PairTable.add_halves` counts in a
    mask of ``shape``."""
    return shape[axis] // 2 * math.prod(shape) // shape[axis]


def plan_pairs(ctx: Context, n: int, alpha: float, **inputs: Any) -> StatResult:
    """The 2x2 test of n pairs (:meth:`PairTable.test`) on no data, for its sizing."""
    return st_.contingency_2x2_counts(0, 0, 0, n, alpha=alpha, power=ctx.power, **inputs)


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
        self.add(reduce.halves_counts(mask, axis=axis), halves_pairs(tuple(mask.shape), axis))

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

    def family_counts(self) -> list[tuple[str, np.ndarray]]:
        """Per family (in the order :meth:`tests` tests them): its name and the number of
        values in each of its classes."""
        out: list[tuple[str, np.ndarray]] = []
        if self.labels is not None:
            per_value = np.bincount(self.labels.ravel(), minlength=len(MOMENT_VALUES))
            for name, groups in VALUE_FAMILIES.items():
                out.append(
                    (f"input value: {name}", np.array([per_value[list(g)].sum() for g in groups]))
                )
        for name, _, counts, _ in self.position_layout():
            out.append((f"position: {name}", np.array(counts)))
        return out

    def tests(
        self,
        ctx: Context,
        v: Array | None,
        alpha: float,
        *,
        variance: float | None,
        what: str,
        **inputs: Any,
    ) -> list[StatResult]:
        """One homogeneity test of ``v`` (an array of the input's shape, where it lives) per
        family, ``alpha`` split evenly among them; ``variance`` None for 0/1 values
        (proportions). ``v`` None: the tests on zero sums, for their sizing (a plan)."""
        families = self.family_counts()
        sums: list[np.ndarray] = [np.zeros(len(counts)) for _, counts in families]
        names: dict[str, str] = {}
        if self.labels is not None:
            for name, groups in VALUE_FAMILIES.items():
                names[f"input value: {name}"] = " | ".join(
                    "x in {" + ", ".join(f"{MOMENT_VALUES[i]:g}" for i in g) + "}" for g in groups
                )
        if v is not None:
            sums = []
            if self.labels is not None:
                by_value = ctx.host(reduce.label_sums(v, self.labels_device, k=len(MOMENT_VALUES)))
                sums += [
                    np.array([by_value[list(g)].sum() for g in groups])
                    for groups in VALUE_FAMILIES.values()
                ]
            by_position = ctx.host(
                reduce.position_sums(v, low_bits=self.low_bits(), period=COORDINATE_PERIOD)
            )
            for _, index, _, complement in self.position_layout():
                position = np.array([by_position[i].sum() for i in index])
                if complement:
                    position[0] -= position[1]
                sums.append(position)
        each = alpha / len(families)
        return [
            st_.homogeneity(
                family_sums,
                counts,
                variance,
                alpha=each,
                power=ctx.power,
                of=what,
                family=name,
                **({"class_names": names[name]} if name in names else {}),
                **inputs,
            )
            for (name, counts), family_sums in zip(families, sums, strict=True)
        ]


#: DROPCONNECT-PER-CONNECTION's every-distance tests (Hoeffding over their sums; see
#: ``dropconnect.check_dc_per_connection``), by what they pair.
DISTANCE_TESTS = {
    "inputs": "pooled autocorrelation along inputs, Hoeffding bound over lags",
    "outputs": "pooled autocorrelation along outputs, Hoeffding bound over lags",
    "bias": "bias against every column, Hoeffding bound over columns",
}


#: Neighbour offsets the dependence checks test: 1..NEIGHBOUR_OFFSETS, each in both phases.
NEIGHBOUR_OFFSETS = 4


def _neighbour_keys(axes: Iterable[int | None]) -> list[tuple[int | None, int, int]]:
    return [
        (axis, d, phase)
        for axis in axes
        for d in range(1, NEIGHBOUR_OFFSETS + 1)
        for phase in (0, d)
    ]


def _neighbour_pairs(shape: tuple[int, ...], along: int, d: int, phase: int) -> int:
    """Pairs (i, i + d) in blocks of 2d from ``phase`` along ``along`` of one mask."""
    blocks = (shape[along] - phase) // (2 * d)
    return blocks * d * (math.prod(shape) // shape[along])


def _where(axis: int | None, d: int, phase: int) -> dict[str, Any]:
    return {"axis": "memory order" if axis is None else axis, "offset": d, "phase": phase}


def neighbour_sizes(
    mask_shape: tuple[int, ...], calls: int, axes: Iterable[int | None]
) -> list[tuple[dict[str, Any], int]]:
    """The pairs :func:`neighbour_tables` counts from ``calls`` masks of ``mask_shape``, per
    table it returns (for a plan)."""
    out = []
    for axis, d, phase in _neighbour_keys(axes):
        shape = (math.prod(mask_shape),) if axis is None else mask_shape
        n = calls * _neighbour_pairs(shape, 0 if axis is None else axis, d, phase)
        if n > 0:
            out.append((_where(axis, d, phase), n))
    return out


def neighbour_tables(
    ctx: Context, masks: Iterable[Array], axes: Iterable[int | None]
) -> list[tuple[dict[str, Any], PairTable]]:
    """Pair tables at offsets 1..k in both phases, along each of ``axes`` (None: in memory
    order), filled from ``masks``."""
    keys = _neighbour_keys(axes)
    tables = {key: PairTable(ctx) for key in keys}
    for mask in masks:
        xp = reduce.namespace(mask)
        for axis in dict.fromkeys(axis for axis, _, _ in keys):
            a = xp.reshape(mask, (-1,)) if axis is None else mask
            along = 0 if axis is None else axis
            # (i, i + d) pairs in blocks of 2d from each phase (reduce.offset_pair_counts).
            counts = ctx.host(reduce.offset_tables(a, axis=along, k=NEIGHBOUR_OFFSETS))
            for d in range(1, NEIGHBOUR_OFFSETS + 1):
                for j, phase in enumerate((0, d)):
                    pairs = _neighbour_pairs(tuple(a.shape), along, d, phase)
                    tables[(axis, d, phase)].add_counted(counts[d - 1, j], pairs)
    return [
        (_where(axis, d, phase), tables[(axis, d, phase)])
        for axis, d, phase in keys
        if tables[(axis, d, phase)].n > 0
    ]  # an axis too short for the offset: no test


def plan_tables(
    ctx: Context, sizes: list[tuple[dict[str, Any], int]], **inputs: Any
) -> list[StatResult]:
    """The 2x2 tests of ``sizes`` (:func:`neighbour_sizes`), alpha split among them as the
    dependence checks split it."""
    alpha = ctx.split(len(sizes))
    return [
        st_.contingency_2x2_counts(0, 0, 0, n, alpha=alpha, power=ctx.power, **inputs, **where)
        for where, n in sizes
    ]


@reduce.fused()
def sums_of_values_and_squares(
    y: Array, shift: float, offset: float = 0.0, scale: float = 1.0
) -> Array:
    """``[Σ v, Σ (v² − shift)]`` with v = (y − offset) / scale, in float64."""
    xp = reduce.namespace(y)
    v = (xp.astype(y, xp.float64) - offset) / scale
    return xp.stack([xp.sum(v), xp.sum(v * v - shift)])
