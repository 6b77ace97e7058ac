"""Statistics conditional on structure: the drop rate, E[y/x] and Var[y/x] within strata.

A kernel can be right on the large rank-3 inputs the other sub-tests draw and wrong where
they never look: on tensors under some size, at one rank, in the remainder lanes of a
vectorised loop, at a row's first or last element, at a batch of one. The strata are the
classes of three dimensions, each tested on its own:

- size class: tiny (under 64 values a call), small (under 1,000), medium (about 2^14, one
  call) and large (at least 2^22 values, one call; 2^20 in the moment checks, whose y/x in
  float64 costs 16 bytes a value); where the mask has one value per example (drop path), a
  call's values are its batch and two classes come below tiny: a batch of one, and
  batches of 2, 3, 5 and 7 (:data:`BATCHES`). One call of these classes is too small to
  judge, so they pool many calls (:data:`POOLED`);
- rank: 1 to 5, from the lowest the target accepts (its declared rank only, where it
  declares one; an op's shared axes get side 1 and the sides given here go to its free
  axes), the 2-D case being (batch, features) with at least 7 features;
- position: along a row (the last free axis) its first element, its last, and its
  remainder lanes (the last n mod w elements) for each vector width w of
  :data:`VECTOR_WIDTHS`, each tested apart in the pooled calls and in the single medium
  and large ones (whose many rows would otherwise drown a fault of small tensors); and in
  the whole call read flat, its last (size mod w) values for each w (a vector loop over the
  whole tensor leaves those to its remainder code), pooled over every call. Every side is
  odd, so every call ends in remainder lanes of every width, in each row and in the whole
  call; rows are 63 modulo 64 where they can be, and the sizes of the classes differ
  modulo 64.

Sizes and ranks are crossed as a Latin design, not a full grid (:func:`pairing`): each run
draws every size class and every rank, each at one partner drawn from the run's seed, so
that a compiled framework compiles five shapes rather than twenty, and in one dtype a run
(:func:`strata_dtype`); over runs every pair and every dtype is drawn (drop path's batch
classes take the tiny class's rank). Every call is drawn at :data:`STRATA_RATE` (not 1/2,
where a kernel that keeps with probability ``rate`` is exact). One test per stratum,
pooling every call in it, each at an even share of the alpha the check gives the strata
(Bonferroni). The drop rate is an exact binomial test; E[y/x] and Var[y/x] are z-tests with
the two-point law of y/x (0 or the kept multiplier) as the null, widened by the scale
roundings the dtype allows. RATE also tests that each pooled cell's dropped count per call
is Binomial(values, rate) (:func:`counted_cells`): a mask shared by a whole call (a rank-1
vector given one draw, a per-example mask turned per-batch in small batches), or any
dependence between the values of a call at any distance, keeps the rate right on average
but not its spread across calls.

The pooled classes take as many calls as it takes for each to detect the absolute rate
error of :data:`STRATA_DEVIATION` with the configured power; every other stratum takes what
the calls give it, and each test states the deviation its n detects. Calls cost a
framework its per-call overhead (9 ms for a Keras layer), so the tiny class is sized for a
coarser error than the small one; the moment checks draw the same shapes as RATE.

Gaussian dropout's mean and variance take the moment checks' cells too
(:func:`noise_strata`): the standardised noise (y/x − 1)/σ of calls on x = 1, its sum a
z-test against N(0, n) and its sum of squares a chi-square test with n degrees of freedom.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import numpy as np

from ...reference import gaussian_std
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
#: The absolute drop-rate error each class of many small calls is sized to detect: a batch
#: of one and batches of 2 to 7 (drop path only, see :data:`BATCHES`), tiny and small.
STRATA_DEVIATION = {"one": 0.2, "few": 0.1, "tiny": 0.1, "small": 0.05}
#: Where a call's mask has one value per example (drop path), its values are its batch, and
#: the smallest batches are size classes of their own: one example, and 2 to 7 examples (in
#: turn, one cell each), each class pooling many calls at the tiny cell's rank.
BATCHES = {"one": (1,), "few": (2, 3, 5, 7)}
#: The size classes that pool many calls; their positions are strata apart from those of
#: the single medium and large calls, which would otherwise outnumber them.
POOLED = ("one", "few", "tiny", "small")
#: Vector widths whose remainder lanes are a position class of their own.
VECTOR_WIDTHS = (4, 8, 16, 32, 64)
#: The highest rank tested (from the target's lowest).
MAX_RANK = 5
#: The largest size class of the moment checks, whose y/x in float64 costs 16 bytes a value:
#: 2^20 values, not 2^22.
MOMENTS_LARGE = "large (moments)"
#: The sides of the free axes of one call, by size class and number of free axes. Every
#: side is odd, so every call's size is odd too and a loop of any width w leaves remainder
#: lanes both at the end of each row and at the end of the whole call; rows are 63 modulo
#: 64 where the class allows it, and the sizes differ modulo 64 between the classes.
SIDES: dict[str, dict[int, tuple[int, ...]]] = {
    "tiny": {1: (63,), 2: (3, 21), 3: (3, 3, 7), 4: (1, 3, 3, 7), 5: (1, 1, 3, 3, 7)},
    "small": {1: (959,), 2: (15, 63), 3: (3, 5, 63), 4: (3, 3, 3, 31), 5: (1, 3, 3, 3, 31)},
    "medium": {
        1: (16383,),
        2: (63, 255),
        3: (7, 9, 255),
        4: (3, 3, 7, 255),
        5: (1, 3, 3, 7, 255),
    },
    "large": {1: (2**22 + 63,), 2: (33027, 127)},
    MOMENTS_LARGE: {1: (2**20 + 63,), 2: (8257, 127)},
}
#: A tiny call with one free axis (a per-example mask: the batch) takes this many values at
#: each rank, so that small batches of several sizes are seen.
TINY_BATCH = {1: 63, 2: 61, 3: 31, 4: 15, 5: 7}
SIZE_NAMES = {
    "one": "batch of 1",
    "few": "batches of 2 to 7",
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

    @property
    def pooled(self) -> bool:
        """Whether the cell's class pools many calls (:data:`POOLED`)."""
        return self.size in POOLED

    def position_counts(self) -> list[tuple[str, int]]:
        """Values per call in each position class, in the order of
        :func:`reduce.row_position_counts` (after its total): a row's first, last and
        remainder lanes, then the whole call's (read flat) last (size mod w) values. (A
        call's first and last value alone are too few to judge: one value a call; they
        are in the first and last of a row, and in the call's tail.)"""
        n = self.shape[self.axis]
        out = [("first of row", self.rows), ("last of row", self.rows)]
        out += [(f"remainder lanes mod {w}", self.rows * (n % w)) for w in VECTOR_WIDTHS]
        return out + [(f"last (size mod {w}) of a call", self.values % w) for w in VECTOR_WIDTHS]


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


def _batch_cells(ctx: Context, cells: list[Cell]) -> list[Cell]:
    """The cells of :data:`BATCHES` where the mask has one value per example (at the tiny
    cell's rank), else none."""
    g = geometry(ctx)
    tiny = next((c for c in cells if c.size == "tiny"), None)
    if not g.per_example or tiny is None:
        return []
    out = []
    for size, batches in BATCHES.items():
        for b in batches:
            shape = (b,) + (1,) * (tiny.rank - 1)
            out.append(Cell(size, tiny.rank, shape, axis=0, calls=1))
    return out


def strata_cells(ctx: Context, alpha: float, large: str = "large") -> list[Cell]:
    """The cells of the strata (see :func:`pairing`, and :data:`BATCHES` for a per-example
    mask) and their calls, sized for tests at ``alpha`` each: as many as the class needs
    for the pooled classes (see :data:`STRATA_DEVIATION`; a class of several cells calls
    each in turn), one for medium and large."""
    cells: list[Cell] = []
    for size, rank in pairing(ctx, large):
        found = _shape(ctx, size, rank)
        if found is not None:
            cells.append(Cell(size, rank, *found, calls=1))
    cells = _batch_cells(ctx, cells) + cells
    for size, deviation in STRATA_DEVIATION.items():
        need = st_.binomial_sample_size(STRATA_RATE, deviation, alpha, ctx.power)
        per_round = sum(c.values for c in cells if c.size == size)
        calls = -(-need // per_round) if per_round else 0
        cells = [dataclasses.replace(c, calls=calls) if c.size == size else c for c in cells]
    return cells


# ---------------------------------------------------------------- tallies ----


@dataclasses.dataclass
class Tally:
    """Per stratum: [Σv, values] (v a kept value, y/x − center, or its square); per pooled
    cell (:func:`counted_cells`): each call's Σv."""

    sums: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    per_call: dict[Cell, list[float]] = dataclasses.field(default_factory=dict)

    def add(self, key: str, total: float, n: int) -> None:
        self.sums.setdefault(key, np.zeros(2))
        self.sums[key] += (total, n)


def _calls_of(cells: list[Cell]) -> bool:
    """Whether the positions of a whole call are strata of their own: not where every call
    is one row (drop path's calls are one row of examples: they would repeat the row's)."""
    return any(c.rows > 1 for c in cells)


def _group(cell: Cell) -> str:
    return "calls under 1,000 values" if cell.pooled else "calls of 2^14 values or more"


def _keys_of(cell: Cell, calls_too: bool) -> list[tuple[str, int, int]]:
    """The strata a cell's call adds to, each with its index in
    :func:`reduce.row_position_counts` (0: the whole call) and its values per call. A
    row's positions are strata apart in the pooled and the single calls (so that the
    large call's many rows do not drown a fault of small tensors); a call's positions pool
    every call (a call has at most 63 values in each)."""
    keys = [
        (f"size: {SIZE_NAMES[cell.size]}", 0, cell.values),
        (f"rank: {cell.rank}", 0, cell.values),
    ]
    rows = len(VECTOR_WIDTHS) + 2
    for i, (name, count) in enumerate(cell.position_counts()):
        if i < rows:
            if cell.pooled or cell.rows > 1:  # (a single call of one row: a few values)
                keys.append((f"position: {name}, {_group(cell)}", 1 + i, count))
        elif calls_too:
            keys.append((f"position: {name}", 1 + i, count))
    return [k for k in keys if k[2]]


def strata_keys(cells: list[Cell]) -> list[str]:
    """Every stratum the cells make, in the order the tests run."""
    calls_too = _calls_of(cells)
    found = [key for c in cells for key, _, _ in _keys_of(c, calls_too)]
    sizes = [k for k in found if k.startswith("size: ")]
    ranks = sorted({k for k in found if k.startswith("rank: ")})
    positions = [k for k in found if k.startswith("position: ")]
    return list(dict.fromkeys(sizes)) + ranks + list(dict.fromkeys(positions))


def counted_cells(cells: list[Cell]) -> list[Cell]:
    """The cells whose per-call count is tested: the pooled ones of 2 values or more."""
    return [c for c in cells if c.pooled and c.calls > 1 and c.values > 1]


def collect(
    ctx: Context,
    cells: list[Cell],
    values: Callable[[Cell], Iterator[Array]],
    power: int | None,
) -> Tally:
    """Tally the per-call arrays ``values(cell)`` yields (boolean masks, counted, where
    ``power`` is None; else float64 values, summed to that power; of the cell's shape,
    where they live) into every stratum, and each pooled cell's sum per call. The sums of
    a cell's calls are added where they live and come to the host once per cell."""
    tally = Tally()
    calls_too = _calls_of(cells)
    counted = counted_cells(cells)
    for cell in cells:
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
            if cell in counted:
                totals.append(found[0])
        sums = ctx.host(acc).astype(np.float64)
        for key, index, n in _keys_of(cell, calls_too):
            tally.add(key, float(sums[index]), n * cell.calls)
        if totals:
            xp = reduce.namespace(totals[0])
            tally.per_call[cell] = [float(t) for t in ctx.host(xp.stack(totals))]
    return tally


def planned_tally(cells: list[Cell]) -> Tally:
    """The tally of ``cells`` with every sum 0 (for a plan: only the sizes are read)."""
    tally = Tally()
    calls_too = _calls_of(cells)
    for cell in cells:
        for key, _, n in _keys_of(cell, calls_too):
            tally.add(key, 0.0, n * cell.calls)
    for cell in counted_cells(cells):
        tally.per_call[cell] = [0.0] * cell.calls
    return tally


# ---------------------------------------------------------------- the drop rate ----


def rate_test_count(ctx: Context, cells: list[Cell]) -> int:
    return len(strata_keys(cells)) + len(counted_cells(cells))


def rate_cells(ctx: Context, alpha: float) -> tuple[list[Cell], float]:
    """RATE's strata cells, given the share of alpha for all of them, and each test's."""
    cells = strata_cells(ctx, alpha)  # sized at the share first: the count needs the cells
    each = alpha / rate_test_count(ctx, cells)
    cells = strata_cells(ctx, each)
    return cells, alpha / rate_test_count(ctx, cells)


def rate_tests(ctx: Context, tally: Tally, cells: list[Cell], alpha: float) -> list[StatResult]:
    """The binomial test of the dropped share in each stratum (``tally`` of kept values),
    and the per-call count test of each pooled cell (:func:`counted_cells`)."""
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
                stratum=f"dropped count per call: {SIZE_NAMES[cell.size]}, rank {cell.rank}",
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
    """The z-test of E[y/x] (``variance``: of E[(y/x − E)²]) in each stratum, stating the
    deviation it detects exactly: its terms take two values (dropped, or kept with one of
    the dtype's multipliers), the hardest multiplier deciding
    (:func:`stats.two_point_detectable`)."""
    center, mid, half, var = _null(ctx, variance)
    multipliers = kept_multipliers(STRATA_RATE, ctx.options["scaling"], ctx.stat_dtype)
    out = []
    for key in strata_keys(cells):
        total, n = tally.sums[key]
        res = st_.z_mean(
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
        exact = max(
            st_.two_point_detectable(
                int(n), *strata_terms(center, s, variance), mid, var, half, alpha, ctx.power
            )
            for s in multipliers
        )
        out.append(dataclasses.replace(res, deviation=exact))
    return out


def moment_strata(ctx: Context, alpha: float, variance: bool) -> list[StatResult]:
    """UNBIASED's (VARIANCE's) strata at ``alpha`` for all of them, on inputs drawn from
    ``MOMENT_VALUES`` (powers of two: y/x is the multiplier itself in every dtype); none
    outside :func:`strata_dtype`."""
    center = _null(ctx, variance)[0]

    def ratios(cell: Cell) -> Iterator[Array]:
        x, _ = signed_input(ctx, cell.shape)
        wide = ctx.to_device(x.astype(np.float64))
        for _ in range(cell.calls):
            y = ctx.call_device(x, rate=STRATA_RATE)
            same_shape(y, x.shape)
            yield _ratio(y, wide, center=center)

    return _in_moment_cells(ctx, alpha, variance, moment_tests, ratios)


def plan_moment_strata(ctx: Context, alpha: float, variance: bool) -> list[StatResult]:
    return _in_moment_cells(ctx, alpha, variance, moment_tests, None)


Tests = Callable[[Context, Tally, list[Cell], float, bool], list[StatResult]]


def _in_moment_cells(
    ctx: Context,
    alpha: float,
    variance: bool,
    tests: Tests,
    values: Callable[[Cell], Iterator[Array]] | None,
) -> list[StatResult]:
    """``tests`` over the moment checks' cells at ``alpha`` for all of them, on the
    ``values`` of each call summed (``variance``: their squares), or for a plan (``values``
    None) on sums of 0; none outside :func:`strata_dtype`."""
    if ctx.dtype != strata_dtype(ctx):
        return []
    cells, each = moment_cells(ctx, alpha)
    if values is None:
        tally = planned_tally(cells)
    else:
        tally = collect(ctx, cells, values, power=2 if variance else 1)
    return tests(ctx, tally, cells, each, variance)


# ---------------------------------------------------------------- Gaussian noise ----


@reduce.fused()
def _standard(y: Array, sigma: float) -> Array:
    """(y − 1)/σ in float64: the standardised noise of a call on x = 1."""
    xp = reduce.namespace(y)
    return (xp.astype(y, xp.float64) - 1.0) / sigma


def noise_tests(
    ctx: Context, tally: Tally, cells: list[Cell], alpha: float, variance: bool
) -> list[StatResult]:
    """In each stratum, the z-test of E[z] = 0 (``variance``: the chi-square test of
    Var[z] = 1), z = (y/x − 1)/σ the standardised noise at :data:`STRATA_RATE`."""
    out = []
    for key in strata_keys(cells):
        total, n = tally.sums[key]
        if variance:
            res = st_.chi2_variance(
                total, int(n), alpha=alpha, power=ctx.power, rate=STRATA_RATE, stratum=key
            )
        else:
            res = st_.z_mean(
                total, 0.0, n, int(n), alpha=alpha, power=ctx.power, rate=STRATA_RATE, stratum=key
            )
        out.append(res)
    return out


def noise_strata(ctx: Context, alpha: float, variance: bool) -> list[StatResult]:
    """GAUSSIAN-MEAN's (GAUSSIAN-VARIANCE's) strata at ``alpha`` for all of them: the
    standardised noise of calls on x = 1 in every stratum of size class, rank and position
    (the cells of the moment checks); none outside :func:`strata_dtype`."""
    sigma = gaussian_std(STRATA_RATE)

    def noise(cell: Cell) -> Iterator[Array]:
        x = ctx.constant(cell.shape, ctx.stat_dtype)
        for _ in range(cell.calls):
            y = ctx.call_device(x, rate=STRATA_RATE)
            same_shape(y, x.shape)
            yield _standard(y, sigma=sigma)

    return _in_moment_cells(ctx, alpha, variance, noise_tests, noise)


def plan_noise_strata(ctx: Context, alpha: float, variance: bool) -> list[StatResult]:
    return _in_moment_cells(ctx, alpha, variance, noise_tests, None)
