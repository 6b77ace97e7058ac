"""The statistical checks' plumbing: runs per dtype, sub-tests of drop rates and of pairs,
homogeneity across classes, and the verdict that names every failing sub-test."""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Iterable
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


@reduce.fused()
def sums_of_values_and_squares(
    y: Array, shift: float, offset: float = 0.0, scale: float = 1.0
) -> Array:
    """``[Σ v, Σ (v² − shift)]`` with v = (y − offset) / scale, in float64."""
    xp = reduce.namespace(y)
    v = (xp.astype(y, xp.float64) - offset) / scale
    return xp.stack([xp.sum(v), xp.sum(v * v - shift)])
