"""Checks of what every op promises (or every op on units): shapes, dtypes, seeds, the rates
a call must refuse, inference and rate 0 as the identity, the gradient.

Each op's module registers these for its own clause ids.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...dtypes import as_dtype, dtype_name
from .. import reduce
from .. import stats as st_
from .. import strategies as gen
from ..context import CheckFailure, Context, NotApplicable, check_seed
from ..inputs import cost
from ..reduce import Array
from ..stats import StatResult
from ._examples import (
    WIDE,
    Case,
    LayerCase,
    case_text,
    cases,
    close,
    examples,
    first_mismatch,
    need_vjp,
    require_same,
    same_shape,
    unit_cases,
)
from ._geometry import geometry
from ._masks import (
    decoded_layout,
    decoded_masks,
    decoder_layer,
    dropped_probability,
    keep_mask,
    mask_layout,
    multipliers,
    signed_input,
)
from ._statistical import declaration_hint, every_dtype, planned, verdict


def check_shape(ctx: Context) -> None:
    def body(case: Case | LayerCase) -> None:
        arrays = case.inputs()
        for training in (True, False):
            out = ctx.call(*arrays, rate=case.rate, training=training, seed=case.seed)
            want = case.expected_shape()
            if out.shape != want:
                raise CheckFailure(
                    f"training={training}: output shape {out.shape}, expected "
                    f"{want} ({case.describe()})"
                )

    examples(ctx, lambda d: cases(ctx, d), body)


def check_dtype(ctx: Context) -> None:
    def body(case: Case | LayerCase) -> None:
        arrays = case.inputs()
        for training in (True, False):
            out = ctx.call(*arrays, rate=case.rate, training=training, seed=case.seed)
            if dtype_name(out.dtype) != case.dtype:
                raise CheckFailure(
                    f"training={training}: output dtype {dtype_name(out.dtype)}"
                    f", expected {case.dtype} ({case.describe()})"
                )

    examples(ctx, lambda d: cases(ctx, d), body)


def check_deterministic(ctx: Context) -> None:
    def body(case: Case | LayerCase) -> None:
        arrays = case.inputs()
        first = ctx.call(*arrays, rate=case.rate, seed=case.seed)
        second = ctx.call(*arrays, rate=case.rate, seed=case.seed)
        require_same(
            "same seed",
            second,
            first,
            f"two calls with seed {case.seed} differ ({case.describe()})",
        )

    examples(ctx, lambda d: cases(ctx, d), body)
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
    g = geometry(ctx)
    for dtype in ctx.dtypes:
        ctx.dtype = dtype
        try:
            rate = round(float(ctx.rng.uniform(0.05, 0.95)), 6)
            if g.layer:
                d = as_dtype(dtype)
                arrays: tuple[np.ndarray, ...] = (
                    ctx.rng.uniform(-1, 1, (2, 1024)).astype(d),
                    ctx.rng.uniform(-1, 1, (1024, 1024)).astype(d),
                    ctx.rng.uniform(-1, 1, 1024).astype(d),
                )
                yield arrays, rate, f"dtype={dtype}, x (2, 1024), weight (1024, 1024)"
            else:
                x, _ = signed_input(ctx, g.stat_shape(LARGE_ELEMENTS))
                yield (x,), rate, f"dtype={dtype}, shape={x.shape}"
        finally:
            ctx.dtype = None


def small_inputs(ctx: Context) -> tuple[np.ndarray, ...]:
    """A small valid input for the target's op, for checks that only need the call to run."""
    g = geometry(ctx)
    if g.layer:
        return LayerCase(ctx.stat_dtype, (3, 4, 5), 0.5, 7, 0).inputs()
    return (np.ones((3,) * max(g.min_rank, 2), as_dtype(ctx.stat_dtype)),)


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


def check_rate_one_error(ctx: Context) -> None:
    try:
        out = ctx.call_raw(*small_inputs(ctx), rate=1.0, seed=ctx.seed())
    except Exception:
        return
    raise CheckFailure(f"rate 1 was accepted in training (returned {type(out).__name__})")


# ---------------------------------------------------------------- seeds ----


#: Offsets k of the pairs (s, s + k) INDEPENDENT-SEEDS tests, where k < 2^seed_bits, and
#: their labels: a generator that takes its seed modulo 2^16, 2^31 or 2^32 − 1, or steps
#: one stream by the seed, gives equal or shifted masks at one of them.
SEED_OFFSETS = {1: "s + 1", 1 << 16: "s + 2^16", 1 << 31: "s + 2^31", (1 << 32) - 1: "s + 2^32 - 1"}


def seed_partners(ctx: Context, seed: int) -> list[tuple[int, str]]:
    """The seeds INDEPENDENT-SEEDS pairs with ``seed`` in the dtype being checked.

    In every dtype: s + k for each k of :data:`SEED_OFFSETS` below 2^seed_bits; −s
    (2^seed_bits − s: a seed read as signed and folded to its magnitude); a·s + b for an
    odd a and a b drawn from the run's base seed; and, for seeds wider than 32 bits, s XOR
    (c·(2^32 + 1)), a partner with the same XOR of its two 32-bit halves. Besides, ``seed``
    with one bit flipped for this dtype's share of the declared seed bits: the bits are
    dealt out over the dtypes checked (bit b goes to dtype (b + r) mod k, r drawn from the
    run's base seed), so one run flips every bit of the declared width in some dtype and
    every dtype sees bits across the whole width; across runs every bit meets every dtype.
    A relation that maps ``seed`` to itself (−0, say) gives no partner."""
    bits = ctx.target.seed_bits
    top = (1 << bits) - 1
    dtypes = ctx.dtypes
    k = len(dtypes)
    index = dtypes.index(ctx.stat_dtype) if ctx.stat_dtype in dtypes else 0
    turn = check_seed(ctx.config.seed, "INDEPENDENT-SEEDS", "bits") % k
    mul, add, fold = _seed_constants(ctx)
    out = [((seed + d) & top, label) for d, label in SEED_OFFSETS.items() if d <= top]
    out += [((-seed) & top, "-s"), ((mul * seed + add) & top, "a·s + b")]
    if bits > 32:
        out.append((seed ^ ((fold | fold << 32) & top), "halves XOR-folded"))
    out += [(seed ^ (1 << b), f"bit {b}") for b in range(bits) if (b + turn) % k == index]
    return [(other, label) for other, label in out if other != seed]


def _seed_constants(ctx: Context) -> tuple[int, int, int]:
    """The affine map's odd a and b, and the folded partner's nonzero 32-bit c, drawn from
    the run's base seed (one set per run, every dtype alike)."""
    rng = np.random.default_rng(check_seed(ctx.config.seed, "INDEPENDENT-SEEDS", "relations"))
    top = (1 << ctx.target.seed_bits) - 1
    mul = (int(rng.integers(0, 1 << 62)) << 1 | 1) & top
    add = int(rng.integers(0, 1 << 62)) & top
    return mul, add, int(rng.integers(1, 1 << 32))


def linear_seeds(ctx: Context, seed: int) -> tuple[int, int, int, int]:
    """s1 = ``seed``, s2, s3 (three distinct seeds) and s1 ⊕ s2 ⊕ s3, then distinct from
    them: a generator whose state is GF(2)-linear (or affine) in its seed gives masks whose
    XOR over the four is all zeros (or a constant). Seeds of 2 bits or more
    (:func:`has_linear`)."""
    chosen = [seed]
    while len(chosen) < 3:  # a redraw of the seeds, not of a test: s2 = s3 makes s4 = s1
        drawn = ctx.seed()
        if drawn not in chosen:
            chosen.append(drawn)
    s1, s2, s3 = chosen
    return s1, s2, s3, s1 ^ s2 ^ s3


#: Values of the mask :func:`seed_mask` reads from one call (about; see there).
SEED_MASK_VALUES = 1 << 15
#: The test of one pair of seeds' masks (:func:`seed_pair_test`).
SEEDS_TEST = "FFT cross-correlation of two seeds' masks, Azuma bound over shifts"
#: The label of the XOR relation's sub-test.
LINEAR = "s1, s2, s3, s1 ^ s2 ^ s3"


def has_linear(ctx: Context) -> bool:
    """Whether INDEPENDENT-SEEDS tests the XOR relation: three distinct seeds need 2 bits."""
    return ctx.target.seed_bits >= 2


def seed_pair_test(
    lag: int, agreement: float, n: int, alpha: float, power: float, **inputs: Any
) -> StatResult:
    """The cross-correlation test of one pair of seeds' masks of n values, from the least
    likely shift of :func:`reduce.cross_correlation_peaks` (shifts −n/2..n/2)."""
    res = st_.no_period_peak(
        lag, agreement, n, 2 * (n // 2) + 1, alpha=alpha, power=power, max_lag=n // 2, **inputs
    )
    return dataclasses.replace(res, test=SEEDS_TEST)


def xor_share(ctx: Context) -> float:
    """P(the XOR of four independent mask values is 1), each dropped with the probability
    :func:`dropped_probability` gives at rate 0.5."""
    p = dropped_probability(ctx, 0.5)
    return (1.0 - (1.0 - 2.0 * p) ** 4) / 2.0


def linear_test(ctx: Context, ones: int, n: int, alpha: float) -> StatResult:
    """The exact binomial test of the XOR of the four masks of :func:`linear_seeds`."""
    return st_.binomial(
        ones, n, xor_share(ctx), alpha=alpha, power=ctx.power, pair=LINEAR, rate=0.5
    )


def plan_independent_seeds(ctx: Context) -> list[StatResult]:
    """:func:`check_independent_seeds`' sub-tests, sized as it sizes them."""
    return independent_seeds_plan(ctx, seed_mask_size(ctx))


def independent_seeds_plan(ctx: Context, n: int) -> list[StatResult]:
    """:func:`independent_seeds`' sub-tests for masks of ``n`` values, sized as it sizes
    them (its seed is drawn as it draws it: the partners' labels do not depend on it)."""
    seed = ctx.seed()
    partners, alpha = seed_partners(ctx, seed), seed_alpha(ctx, seed)
    return [
        *(
            seed_pair_test(0, 0.0, n, alpha, ctx.power, seeds=(seed, other), pair=pair, rate=0.5)
            for other, pair in partners
        ),
        *([linear_test(ctx, 0, n, alpha)] if has_linear(ctx) else []),
    ]


@planned(plan_independent_seeds)
@every_dtype
def check_independent_seeds(ctx: Context) -> StatResult:
    """:func:`independent_seeds` on :func:`seed_mask`'s masks."""
    return independent_seeds(ctx, lambda s: seed_mask(ctx, s), seed_mask_size(ctx))


def seed_alpha(ctx: Context, seed: int) -> float:
    """Each INDEPENDENT-SEEDS sub-test's share of alpha: one per pair of
    :func:`seed_partners` and one for the XOR relation."""
    return ctx.split(len(seed_partners(ctx, seed)) + has_linear(ctx))


def independent_seeds(ctx: Context, mask: Callable[[int], Array], n: int) -> StatResult:
    """Seeds as streams, on the masks of ``n`` values ``mask(seed)`` reads (one call at rate
    0.5 each): s against the structured partners of :func:`seed_partners`, each pair tested
    for agreement at every shift (so a seed used as an offset into one stream, whose masks
    are shifted copies, fails as well as one whose masks coincide); and the XOR of the
    masks of :func:`linear_seeds` against fair independent values. Every op's
    INDEPENDENT-SEEDS check is this test on its own masks."""
    seed = ctx.seed()
    partners, alpha = seed_partners(ctx, seed), seed_alpha(ctx, seed)
    others = [other for other, _ in partners]
    first = mask(seed)
    xp = reduce.namespace(first)
    found = ctx.host(
        reduce.cross_correlation_peaks(
            first, xp.stack([mask(other) for other in others]), lags=n // 2
        )
    )
    results = [
        seed_pair_test(
            int(lag),
            float(agreement),
            n,
            alpha,
            ctx.power,
            seeds=(seed, other),
            pair=pair,
            rate=0.5,
        )
        for (other, pair), lag, agreement in zip(
            partners, found[: len(others)], found[len(others) :], strict=True
        )
    ]
    if has_linear(ctx):
        quad = [first if s == seed else mask(s) for s in linear_seeds(ctx, seed)]
        ones = int(ctx.host(reduce.xor_count(xp.stack(quad))))
        results.append(linear_test(ctx, ones, n, alpha))
    narrow = narrow_seed(ctx, partners, results)
    if narrow:
        raise CheckFailure(narrow, st_.combine(results), any_dtype=True)
    return verdict(
        results,
        "masks of related seeds (offsets, one bit apart, negated, affine, halves folded, or "
        "XOR-related) are dependent or shifted copies of each other",
    )


#: Seed widths generators keep: 32 (numpy.random.seed, torch's CPU generator), 31, 53, 63.
SEED_WIDTHS = (32, 31, 53, 63)


def narrow_seed(ctx: Context, partners: list[tuple[int, str]], results: list[StatResult]) -> str:
    """The failure of a target whose masks depend only on its seed's low bits (every flipped
    bit from some b up failed; s + 1 and every bit below b passed), said as what to declare;
    '' for any other failure."""
    paired = {pair: r.passed for (_, pair), r in zip(partners, results, strict=False)}
    flipped = {int(p.removeprefix("bit ")): ok for p, ok in paired.items() if p.startswith("bit ")}
    others = [ok for p, ok in paired.items() if not p.startswith("bit ")]
    others += [r.passed for r in results[len(partners) :]]  # the XOR test of linear seeds
    if not paired.get("s + 1", False) or not all(others) or all(flipped.values()):
        return ""
    failed = sorted(b for b, ok in flipped.items() if not ok)
    low = max([b for b, ok in flipped.items() if ok], default=-1)
    if low > failed[0]:
        return ""
    width = next((w for w in SEED_WIDTHS if low < w <= failed[0]), None)
    first = next(r for r in results if not r.passed)
    declare = (
        f"declare seed_bits={width} in @dropspec.target(...)"
        if width is not None
        else f"declare seed_bits=N in @dropspec.target(...) with {low + 1} <= N <= {failed[0]}"
    )
    kept = width if width is not None else failed[0]
    which = f"bit{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))}"
    declared = ctx.target.seed_bits
    return (
        f"the masks depend only on the low bits of the seed: seeds one bit apart in {which} "
        f"gave the same (or shifted) masks, while s + 1 and the bits below gave independent "
        f"ones. The target's generator keeps about {kept} bits of the {declared} it declares "
        f"(torch.Generator().manual_seed and numpy.random.seed keep 32). If it takes seeds "
        f"of that width, {declare}: the suite then passes it seeds in [0, 2**{kept}) only. "
        f"If it must take {declared}-bit seeds, derive the generator's seed from all of "
        f"them (e.g. hash the seed first).\n"
        f"{first.describe()} (and {len(failed) - 1} more pair(s) like it)"
    )


def seed_mask_size(ctx: Context) -> int:
    """The values of :func:`seed_mask`'s mask: one call's mask values (a layer's weight
    bits; a unit op's groups, shared axes compacted)."""
    g = geometry(ctx)
    if g.layer:
        batch, n_out, n_in, _ = decoded_layout(ctx, SEED_MASK_VALUES)
        return batch * n_out * n_in
    return mask_layout(ctx, SEED_MASK_VALUES, shape=g.stat_shape(SEED_MASK_VALUES))[1]


def seed_mask(ctx: Context, seed: int) -> Array:
    """A mask of about 2^15 values from one call with ``seed`` (rate 0.5; for Gaussian
    dropout, whether the noise is above 1)."""
    n = SEED_MASK_VALUES
    g = geometry(ctx)
    if g.layer:
        return next(decoded_masks(ctx, 0.5, n, seed=seed))[0]
    shape = g.stat_shape(n)
    x = ctx.constant(shape, ctx.stat_dtype)
    y = ctx.call_device(x, rate=0.5, seed=seed)
    same_shape(y, shape)
    return keep_mask(ctx, y, 0.5, g.shared_of(len(shape)))


#: The mask values of the calls :func:`seed_signature` makes below the large one, by size
#: class (:data:`~..inputs.SIZE_CLASSES`): sizes of the tiny class, and a prime and a
#: power of two's neighbour in the small and medium classes, up to 4,095. A generator that
#: seeds small tensors another way (a fast path keeping 32 bits of the seed, say) is seen
#: only at these sizes.
SEED_SIZES: dict[str, tuple[int, ...]] = {
    "tiny": (1, 2, 3, 5, 7),
    "small": (17, 255),
    "medium": (1031, 4095),
}
#: The sizes a framework that compiles per shape is called at (:func:`~..inputs.cost`): the
#: largest of each class, three compilations.
COMPILED_SEED_SIZES: dict[str, tuple[int, ...]] = {k: v[-1:] for k, v in SEED_SIZES.items()}
#: The rates of the largest tiny call: seven values at one rate hold 7 bits, too few to
#: tell two seeds' masks apart by chance; at 15 rates a value's draw is resolved to 1/16.
TINY_RATES = tuple(k / 16 for k in range(1, 16))
#: The class of :func:`seed_mask`'s one call of about :data:`SEED_MASK_VALUES` values.
SEED_LARGE = "large"


def seed_sizes_of(ctx: Context) -> dict[str, tuple[int, ...]]:
    """:data:`SEED_SIZES`, or :data:`COMPILED_SEED_SIZES` for a framework that compiles per
    shape."""
    return COMPILED_SEED_SIZES if cost(ctx.target.framework).name == "compiled" else SEED_SIZES


def seed_signature(ctx: Context, seed: int, large_only: bool = False) -> dict[str, np.ndarray]:
    """``seed``'s outputs in each size class: one call on x = 1 of each size of
    :func:`seed_sizes_of` at rate 0.5 (the largest tiny size at each of :data:`TINY_RATES`
    instead), pooled per class on the host, and :func:`seed_mask`'s large call (only that
    one with ``large_only``).

    Two seeds whose outputs agree in every call of a class collide there. A generator's
    calls of one seed share their first values across sizes, so a class holds as many
    independent values as its largest size: by chance two independent seeds agree in every
    call of the tiny class with probability 16^-7 = 2^-28 where a value's draw is a uniform
    compared with the rate (less for continuous noise or per-rate draws), and in the larger
    classes with probability 2^-255 or less."""
    pooled: dict[str, np.ndarray] = {}
    for size, sizes in ({} if large_only else seed_sizes_of(ctx)).items():
        calls = [(n, 0.5) for n in sizes]
        if size == "tiny":
            calls = calls[:-1] + [(sizes[-1], r) for r in TINY_RATES]
        pooled[size] = np.concatenate([_small_output(ctx, seed, n, r) for n, r in calls])
    pooled[SEED_LARGE] = ctx.host(seed_mask(ctx, seed)).reshape(-1)
    return pooled


def signature_text(ctx: Context, size: str, signature: dict[str, np.ndarray]) -> str:
    """How one class of a :func:`seed_signature` was made, for a failure message."""
    if size == SEED_LARGE:
        return f"one call of {signature[size].size} mask values at rate 0.5"
    made = seed_sizes_of(ctx)[size]
    sizes = ", ".join(map(str, made))
    rates = f" ({made[-1]} at 15 rates k/16 instead)" if size == "tiny" else ""
    return f"the {size} calls of {sizes} mask values at rate 0.5{rates}"


def _small_output(ctx: Context, seed: int, n: int, rate: float) -> np.ndarray:
    """The output of one call with ``seed`` and ``rate`` on x = 1 whose mask has ``n``
    values, in float64: a unit op's input of side n along its last free axis and 1
    elsewhere; a decoder layer (:func:`~._masks.decoder_layer`, whose output encodes its
    masks) of one example and one output with n inputs (up to 16; larger n take more
    outputs)."""
    g = geometry(ctx)
    if g.layer:
        width = 16 if ctx.stat_dtype in WIDE else 4
        n_in = min(n, width)
        n_out = -(-n // n_in)
        arrays = decoder_layer(ctx, 1, n_out, n_in, ctx.stat_dtype)
        y = ctx.call_device(*(ctx.reusable(a) for a in arrays), rate=rate, seed=seed)
        same_shape(y, (1, n_out))
    else:
        rank = g.stat_rank
        free = [a for a in range(rank) if a not in g.shared_of(rank)]
        shape = tuple(n if a == free[-1] else 1 for a in range(rank))
        y = ctx.call_device(ctx.constant(shape, ctx.stat_dtype), rate=rate, seed=seed)
        same_shape(y, shape)
    return ctx.host(y).astype(np.float64).reshape(-1)


# ---------------------------------------------------------------- ops on units ----


def check_inference_identity(ctx: Context) -> None:
    def body(case: Case) -> None:
        (x,) = case.inputs()
        y = ctx.call(x, rate=case.rate, training=False, seed=case.seed)
        # Either rounding of x·(1 − rate), as INFERENCE-CLASSIC accepts (they differ for
        # extreme values of the input design).
        roundings = [
            (x.astype(np.float64) * (1.0 - case.rate)).astype(x.dtype),
            np.asarray(x * x.dtype.type(1.0 - case.rate), dtype=x.dtype),
        ]
        hint = ""
        if (
            "scaling" in ctx.options
            and case.rate > 0
            and y.shape == x.shape
            and any(np.array_equal(y.astype(x.dtype), c, equal_nan=True) for c in roundings)
            and not np.array_equal(roundings[0], x, equal_nan=True)
        ):
            hint = "; hint: " + declaration_hint(
                ctx, "scaling", "classic", "training=False returned x·(1 − rate)"
            )
        require_same("training=False", y, x, f"output is not the input ({case.describe()}){hint}")

    examples(ctx, lambda d: unit_cases(ctx, d), body)
    for (x,), rate, what in large_cases(ctx):
        y = ctx.call_device(x, rate=rate, training=False)
        same_shape(y, x.shape)
        differ = int(ctx.host(reduce.mismatches(y, ctx.to_device(x))))
        if differ:
            raise CheckFailure(
                f"training=False: {differ} of {x.size} outputs differ from the input "
                f"({what}, rate={rate!r})"
            )


def check_rate_zero(ctx: Context) -> None:
    def body(case: Case) -> None:
        (x,) = case.inputs()
        y = ctx.call(x, rate=0.0, seed=case.seed)
        require_same(
            "rate 0",
            y,
            x,
            f"training output differs from the input "
            f"({case_text(case.dtype, case.shape, 0.0, case.seed)})",
        )

    examples(ctx, lambda d: unit_cases(ctx, d), body)


def check_gradient(ctx: Context) -> None:
    def body(case: Case) -> None:
        x = gen.values(case.data_seed, case.shape, case.dtype, signed=False)
        cot = gen.values(case.data_seed + 1, case.shape, case.dtype)
        y = ctx.call(x, rate=case.rate, seed=case.seed).astype(np.float64)
        want = cot.astype(np.float64) * multipliers(ctx, y, x.astype(np.float64), case.rate)

        def f(xa: Any) -> Any:
            return ctx.invoke(xa, case.rate, training=True, seed=case.seed)

        got = need_vjp(ctx, f, x, cot)
        ulps = 64.0 if noisy else 8.0
        dtype = case.dtype if case.dtype != "float64" else "float32"
        if not close(got, want, dtype, ulps):
            raise CheckFailure(
                f"gradient is not the forward mask times its scale: "
                f"{first_mismatch(got, want)} ({case.describe()})"
            )

    noisy = geometry(ctx).mask == "noise"  # its multiplier y/x is read from a rounded y
    wide = tuple(d for d in ctx.dtypes if d in WIDE)
    if not wide:
        raise NotApplicable("the gradient check runs in float32 or float64, which the target lacks")
    examples(ctx, lambda d: unit_cases(ctx, d, gen.rates(0.05, 0.95)), body, wide)
