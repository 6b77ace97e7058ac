"""Statistics conditional on structure: the drop rate, E[y/x] and Var[y/x] within strata.

A kernel can be right on the large rank-3 inputs the other sub-tests draw and wrong where
they never look: on tensors under some size, at one rank, in the remainder lanes of a
vectorised row, at a row's first or last element. The strata are the classes of three
dimensions, each tested on its own:

- size class: tiny (under 64 values a call), small (under 1,000), medium (about 2^14, one
  call) and large (at least 2^22 values, one call; 2^20 in the moment checks, whose y/x in
  float64 costs 16 bytes a value); one call of a tiny or small tensor is too small to
  judge, so those classes pool many calls;
- rank: 1 to 5, from the lowest the target accepts (its declared rank only, where it
  declares one; an op's shared axes get side 1 and the sides given here go to its free
  axes), the 2-D case being (batch, features) with at least 7 features;
- position along a row (the last free axis): its first element, its last, and its
  remainder lanes (the last n mod w elements) for each vector width w of
  :data:`VECTOR_WIDTHS`; rows are 63 modulo 64 long where they can be, so that every width
  has w − 1 of them. The large call's many short rows give these classes most of their
  values.

Sizes and ranks are crossed as a Latin design, not a full grid (:func:`pairing`): each run
draws every size class and every rank, each at one partner drawn from the run's seed, so
that a compiled framework compiles five shapes rather than twenty, and in one dtype a run
(:func:`strata_dtype`); over runs every pair and every dtype is drawn. Every call is
drawn at :data:`STRATA_RATE` (not 1/2, where a kernel that keeps with probability ``rate``
is exact). One test per stratum, pooling every call in it, each at an even share of the
alpha the check gives the strata (Bonferroni). The drop rate is an exact binomial test;
E[y/x] and Var[y/x] are z-tests with the two-point law of y/x (0 or the kept multiplier)
as the null, widened by the scale roundings the dtype allows. RATE also tests that each
tiny call's dropped count is Binomial(values, rate): a mask shared by a whole tiny tensor
(a per-example mask turned per-batch) keeps the rate right on average but not its spread.

The tiny and small calls are as many as it takes for their class to detect the absolute
rate error of :data:`STRATA_DEVIATION` with the configured power; every other stratum takes
what the calls give it, and each test states the deviation its n detects. Calls cost a
framework its per-call overhead (9 ms for a Keras layer), so the tiny class is sized for a
coarser error than the small one; the moment checks draw the same shapes as RATE.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import numpy as np

from ...reference.expectations import kept_multipliers
from .. import reduce
from .. import stats as st_
from ..context import Context
from ..reduce import Array
from ..stats import StatResult
from ._examples import same_shape
from ._geometry import geometry
from ._masks import signed_input, unit_masks

#: The drop rate every stratum is tested at.
STRATA_RATE = 0.25
#: The absolute drop-rate error the tiny and the small class are each sized to detect.
STRATA_DEVIATION = {"tiny": 0.1, "small": 0.05}
#: Vector widths whose remainder lanes are a position class of their own.
VECTOR_WIDTHS = (4, 8, 16, 32, 64)
#: The highest rank tested (from the target's lowest).
MAX_RANK = 5
#: The largest size class of the moment checks, whose y/x in float64 costs 16 bytes a value:
#: 2^20 values, not 2^22.
MOMENTS_LARGE = "large (moments)"
#: The sides of the free axes of one call, by size class and number of free axes. Every row
#: (last side) is odd, and 63 modulo 64 where the class allows it.
SIDES: dict[str, dict[int, tuple[int, ...]]] = {
    "tiny": {1: (63,), 2: (4, 15), 3: (2, 2, 15), 4: (2, 2, 2, 7), 5: (1, 2, 2, 2, 7)},
    "small": {1: (959,), 2: (15, 63), 3: (3, 5, 63), 4: (2, 2, 3, 63), 5: (1, 2, 2, 3, 63)},
    "medium": {
        1: (16383,),
        2: (64, 255),
        3: (8, 8, 255),
        4: (4, 4, 4, 255),
        5: (2, 2, 4, 4, 255),
    },
    "large": {1: (2**22 + 63,), 2: (33027, 127)},
    MOMENTS_LARGE: {1: (2**20 + 63,), 2: (8257, 127)},
}
#: A tiny call with one free axis (a per-example mask: the batch) takes this many values at
#: each rank, so that small batches of several sizes are seen.
TINY_BATCH = {1: 63, 2: 61, 3: 31, 4: 15, 5: 7}
SIZE_NAMES = {
    "tiny": "tiny (< 64 values)",
    "small": "small (< 1,000 values)",
    "medium": "medium (about 2^14 values)",
    "large": "large (>= 2^22 values)",
    MOMENTS_LARGE: "large (>= 2^20 values)",
}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One size class at one rank: ``calls`` calls of ``shape``, whose rows lie along
    ``axis`` (the last free axis)."""

    size: str
    rank: int
    shape: tuple[int, ...]
    axis: int
    calls: int

    @property
    def values(self) -> int:
        """Mask values per call (shared axes have side 1: one value per element)."""
        return math.prod(self.shape)

    @property
    def rows(self) -> int:
        return self.values // self.shape[self.axis]

    def position_counts(self) -> dict[str, int]:
        """Values per call in each position class."""
        n = self.shape[self.axis]
        out = {"first of row": self.rows, "last of row": self.rows}
        for w in VECTOR_WIDTHS:
            out[f"remainder lanes mod {w}"] = self.rows * (n % w)
        return out


def _shape(ctx: Context, size: str, rank: int) -> tuple[tuple[int, ...], int] | None:
    """The shape of a call of ``size`` at ``rank`` and its row axis, or None (no free axis,
    or no sides for that many)."""
    g = geometry(ctx)
    shared = g.shared_of(rank)
    free = [a for a in range(rank) if a not in shared]
    if not free:
        return None
    if size == "tiny" and len(free) == 1:
        sides: tuple[int, ...] = (TINY_BATCH[rank],)
    else:  # more free axes than a class has sides for: leading sides of 1
        k = max(k for k in SIDES[size] if k <= len(free))
        sides = (1,) * (len(free) - k) + SIDES[size][k]
    shape = [1] * rank
    for a, side in zip(free, sides, strict=True):
        shape[a] = side
    return tuple(shape), free[-1]


def strata_ranks(ctx: Context) -> tuple[int, ...]:
    g = geometry(ctx)
    if g.rank is not None:
        return (g.rank,)
    return tuple(r for r in range(g.min_rank, MAX_RANK + 1) if _shape(ctx, "tiny", r))


def strata_dtype(ctx: Context) -> str:
    """The one dtype the strata run in this run, drawn from the run's seed among the
    target's: five new shapes in every dtype cost a Keras layer on JAX four times what the
    rest of its RATE, UNBIASED and VARIANCE cost (it compiles every shape and dtype); over
    runs every dtype is drawn."""
    dtypes = ctx.dtypes
    return dtypes[int(np.random.default_rng([ctx.examples_seed, 0xD7]).integers(len(dtypes)))]


def pairing(ctx: Context, large: str = "large") -> list[tuple[str, int]]:
    """Which rank each size class is drawn at in this run: the ranks in an order drawn from
    the run's seed (the same in every dtype, every strata check of the op and the plan),
    paired in turn with tiny, small, medium and ``large``, the ranks left over with small,
    and the sizes left over with the ranks again from the first. Every run sees every rank
    and every size class in a handful of shapes (a compiled framework compiles each once
    per dtype), and over runs every pair."""
    ranks = list(strata_ranks(ctx))
    # The op's seed of the run, not the check's: RATE, UNBIASED and VARIANCE pair alike.
    order = np.random.default_rng([ctx.examples_seed, 0x57A7A]).permutation(len(ranks))
    ranks = [ranks[i] for i in order]
    sizes = ["tiny", "small", "medium", large]
    sizes += ["small"] * (len(ranks) - len(sizes))
    return [(size, ranks[i % len(ranks)]) for i, size in enumerate(sizes)]


def strata_cells(ctx: Context, alpha: float, large: str = "large") -> list[Cell]:
    """The cells of the strata (see :func:`pairing`) and their calls, sized for tests at
    ``alpha`` each: as many as the class needs for tiny and small (see
    :data:`STRATA_DEVIATION`), one for medium and large."""
    cells: list[Cell] = []
    for size, rank in pairing(ctx, large):
        found = _shape(ctx, size, rank)
        if found is not None:
            cells.append(Cell(size, rank, *found, calls=1))
    for size, deviation in STRATA_DEVIATION.items():
        need = st_.binomial_sample_size(STRATA_RATE, deviation, alpha, ctx.power)
        per_round = sum(c.values for c in cells if c.size == size)
        calls = -(-need // per_round) if per_round else 0
        cells = [dataclasses.replace(c, calls=calls) if c.size == size else c for c in cells]
    return cells


# ---------------------------------------------------------------- tallies ----


@dataclasses.dataclass
class Tally:
    """Per stratum: [Σv, values] (v a kept value, y/x − center, or its square); per tiny
    cell: each call's Σv."""

    sums: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    per_call: dict[Cell, list[float]] = dataclasses.field(default_factory=dict)

    def add(self, key: str, total: float, n: int) -> None:
        self.sums.setdefault(key, np.zeros(2))
        self.sums[key] += (total, n)


def strata_keys(cells: list[Cell]) -> list[str]:
    """Every stratum the cells make, in the order the tests run."""
    keys = list(dict.fromkeys(f"size: {SIZE_NAMES[c.size]}" for c in cells))
    keys += [f"rank: {r}" for r in sorted({c.rank for c in cells})]
    positions = [name for c in cells for name, count in c.position_counts().items() if count]
    return keys + [f"position: {p}" for p in dict.fromkeys(positions)]


def _keys_of(cell: Cell) -> list[tuple[str, int | None]]:
    """The strata a cell's call adds to, each with its index in
    :func:`reduce.row_position_sums` (None: the whole call)."""
    keys: list[tuple[str, int | None]] = [
        (f"size: {SIZE_NAMES[cell.size]}", None),
        (f"rank: {cell.rank}", None),
    ]
    return keys + [(f"position: {p}", 1 + i) for i, p in enumerate(cell.position_counts())]


def collect(
    ctx: Context,
    cells: list[Cell],
    values: Callable[[Cell], Iterator[Array]],
    power: int | None,
) -> Tally:
    """Tally the per-call arrays ``values(cell)`` yields (boolean masks, counted, where
    ``power`` is None; else float64 values, summed to that power; of the cell's shape,
    where they live) into every stratum, and each tiny call's sum. The sums of a cell's
    calls are added where they live and come to the host once per cell."""
    tally = Tally()
    for cell in cells:
        counts = cell.position_counts()
        acc: Array = None
        totals: list[Array] = []
        for v in values(cell):
            if power is None:
                found = reduce.row_position_counts(v, axis=cell.axis, widths=VECTOR_WIDTHS)
            else:
                found = reduce.row_position_sums(
                    v, axis=cell.axis, widths=VECTOR_WIDTHS, power=power
                )
            acc = found if acc is None else acc + found
            if cell.size == "tiny":
                totals.append(found[0])
        sums = ctx.host(acc).astype(np.float64)
        for key, index in _keys_of(cell):
            n = cell.values if index is None else counts[key.removeprefix("position: ")]
            if n:
                tally.add(key, float(sums[0 if index is None else index]), n * cell.calls)
        if totals:
            xp = reduce.namespace(totals[0])
            tally.per_call[cell] = [float(t) for t in ctx.host(xp.stack(totals))]
    return tally


def planned_tally(cells: list[Cell]) -> Tally:
    """The tally of ``cells`` with every sum 0 (for a plan: only the sizes are read)."""
    tally = Tally()
    for cell in cells:
        counts = cell.position_counts()
        for key, index in _keys_of(cell):
            n = cell.values if index is None else counts[key.removeprefix("position: ")]
            if n:
                tally.add(key, 0.0, n * cell.calls)
        if cell.size == "tiny":
            tally.per_call[cell] = [0.0] * cell.calls
    return tally


# ---------------------------------------------------------------- the drop rate ----


def rate_test_count(ctx: Context, cells: list[Cell]) -> int:
    return len(strata_keys(cells)) + sum(c.size == "tiny" for c in cells)


def rate_cells(ctx: Context, alpha: float) -> tuple[list[Cell], float]:
    """RATE's strata cells, given the share of alpha for all of them, and each test's."""
    cells = strata_cells(ctx, alpha)  # sized at the share first: the count needs the cells
    each = alpha / rate_test_count(ctx, cells)
    cells = strata_cells(ctx, each)
    return cells, alpha / rate_test_count(ctx, cells)


def rate_tests(ctx: Context, tally: Tally, cells: list[Cell], alpha: float) -> list[StatResult]:
    """The binomial test of the dropped share in each stratum (``tally`` of kept values),
    and the per-call count test of each tiny cell."""
    rate = STRATA_RATE
    out = []
    for key in strata_keys(cells):
        kept, n = tally.sums[key]
        out.append(
            st_.binomial(
                int(n - kept), int(n), rate, alpha=alpha, power=ctx.power, rate=rate, stratum=key
            )
        )
    for cell, kept_per_call in tally.per_call.items():
        k = cell.values
        dropped = np.array([k - round(v) for v in kept_per_call], dtype=np.int64)
        histogram = np.bincount(dropped, minlength=k + 1)
        out.append(
            st_.binomial_histogram_gof(
                histogram,
                k,
                rate,
                alpha=alpha,
                power=ctx.power,
                stratum=f"dropped count per call: tiny, rank {cell.rank}",
                calls=f"{cell.calls} of {cell.shape}",
            )
        )
    return out


def rate_strata(ctx: Context, alpha: float) -> list[StatResult]:
    """RATE's strata at ``alpha`` for all of them (none outside :func:`strata_dtype`)."""
    if ctx.dtype != strata_dtype(ctx):
        return []
    cells, each = rate_cells(ctx, alpha)

    def masks(cell: Cell) -> Iterator[Array]:
        yield from unit_masks(ctx, STRATA_RATE, cell.values * cell.calls, shape=cell.shape)

    return rate_tests(ctx, collect(ctx, cells, masks, power=None), cells, each)


def plan_rate_strata(ctx: Context, alpha: float) -> list[StatResult]:
    if ctx.dtype != strata_dtype(ctx):
        return []
    cells, each = rate_cells(ctx, alpha)
    return rate_tests(ctx, planned_tally(cells), cells, each)


# ---------------------------------------------------------------- moments ----


def moment_cells(ctx: Context, alpha: float) -> tuple[list[Cell], float]:
    """A moment check's strata cells, given the share of alpha for all of them, and each
    test's."""
    cells = strata_cells(ctx, alpha, MOMENTS_LARGE)
    each = alpha / len(strata_keys(cells))
    cells = strata_cells(ctx, each, MOMENTS_LARGE)
    return cells, alpha / len(strata_keys(cells))


@reduce.fused()
def _ratio(y: Array, x: Array, center: float) -> Array:
    """y/x − center in float64."""
    xp = reduce.namespace(y)
    return xp.astype(y, xp.float64) / x - center


def _null(ctx: Context, variance: bool) -> tuple[float, float, float, float]:
    return strata_null(ctx.options["scaling"], ctx.stat_dtype, variance)


def strata_terms(center: float, s: float, variance: bool) -> tuple[float, float]:
    """A moment term when the value is dropped and when it is kept with multiplier s: y/x −
    center (``variance``: its square)."""
    lo, hi = -center, s - center
    return (lo * lo, hi * hi) if variance else (lo, hi)


def strata_null(scaling: str, dtype: str, variance: bool) -> tuple[float, float, float, float]:
    """(center, mid, half-width, variance of one term) of the composite null of the moment
    strata at :data:`STRATA_RATE`: the term is :func:`strata_terms`', y/x being 0 with
    probability rate and the kept multiplier s otherwise, s any rounding the dtype allows;
    its mean lies within mid ± half-width. The variance given is the largest a two-point
    law on those values can have, (hi − lo)²/4, not the null's: the test keeps its level,
    and its power at the stated deviation holds for a target whose keep probability moved
    towards 1/2 too (which widens the spread of the sum; the null's own variance would
    leave the test short of its power there)."""
    rate = STRATA_RATE
    candidates = kept_multipliers(rate, scaling, dtype)
    center = (1.0 - rate) * candidates[0]
    means, spreads = [], []
    for s in candidates:
        lo, hi = strata_terms(center, s, variance)
        means.append(rate * lo + (1.0 - rate) * hi)
        spreads.append((hi - lo) ** 2 / 4.0)
    mid = (max(means) + min(means)) / 2.0
    return center, mid, (max(means) - min(means)) / 2.0, max(spreads)


def moment_tests(
    ctx: Context, tally: Tally, cells: list[Cell], alpha: float, variance: bool
) -> list[StatResult]:
    """The z-test of E[y/x] (``variance``: of E[(y/x − E)²]) in each stratum."""
    _, mid, half, var = _null(ctx, variance)
    out = []
    for key in strata_keys(cells):
        total, n = tally.sums[key]
        out.append(
            st_.z_mean(
                total,
                n * mid,
                n * var,
                int(n),
                alpha=alpha,
                power=ctx.power,
                slack=n * half,
                rate=STRATA_RATE,
                stratum=key,
            )
        )
    return out


def moment_strata(ctx: Context, alpha: float, variance: bool) -> list[StatResult]:
    """UNBIASED's (VARIANCE's) strata at ``alpha`` for all of them, on inputs drawn from
    ``MOMENT_VALUES`` (powers of two: y/x is the multiplier itself in every dtype); none
    outside :func:`strata_dtype`."""
    if ctx.dtype != strata_dtype(ctx):
        return []
    cells, each = moment_cells(ctx, alpha)
    center = _null(ctx, variance)[0]

    def ratios(cell: Cell) -> Iterator[Array]:
        x, _ = signed_input(ctx, cell.shape)
        wide = ctx.to_device(x.astype(np.float64))
        for _ in range(cell.calls):
            y = ctx.call_device(x, rate=STRATA_RATE)
            same_shape(y, x.shape)
            yield _ratio(y, wide, center=center)

    tally = collect(ctx, cells, ratios, power=2 if variance else 1)
    return moment_tests(ctx, tally, cells, each, variance)


def plan_moment_strata(ctx: Context, alpha: float, variance: bool) -> list[StatResult]:
    if ctx.dtype != strata_dtype(ctx):
        return []
    cells, each = moment_cells(ctx, alpha)
    return moment_tests(ctx, planned_tally(cells), cells, each, variance)
