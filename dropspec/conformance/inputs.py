"""The input space of the example-based checks, declared once: what every exact clause is
exercised over, and how a run samples it.

Dimensions
    dtype (every float dtype the target supports), rank (:data:`RANKS`), axis lengths
    (:data:`AXIS_LENGTHS`: empty, 1, small primes, powers of two and their neighbours, and
    :data:`LONG_AXIS`), total size (:data:`SIZE_CLASSES`), memory layout (:data:`LAYOUTS`),
    value class (:data:`VALUE_CLASSES`) and rate band (:data:`RATE_BANDS`). Large sizes
    (2^20 values and up) belong to the statistical checks and to the large inputs of
    ``checks.common.large_cases``; the exact checks stop at :data:`MAX_ELEMENTS`.

Sampling
    Every run checks a fixed core (:data:`CORE_SHAPES`, each shape given a layout and a
    value class in turn so that the core alone visits every layout and value class a check
    takes) plus a randomized part: a pool of shapes drawn from the run's seed, from which
    hypothesis draws its examples together with layouts, value classes and rates. The pool is
    drawn from the op's examples seed, so a replay line repeats it exactly while other base
    seeds reach other shapes: coverage grows over runs.

Cost
    A framework that compiles per shape (JAX/XLA; TensorFlow, whose targets run under
    ``tf.function``) pays a compilation for each new shape and dtype, so its :class:`Cost`
    gives it fewer distinct shapes (part of the core, a smaller pool) and more values per
    shape; :func:`plan` says what it left out. Layouts reach a target as its framework's own
    strided arrays: NumPy takes every layout, PyTorch every one without negative strides or
    a read-only flag, and TensorFlow and JAX arrays are always dense, so those frameworks are
    checked in C order only (:data:`STRIDES`).

Each check's share of the space is its :class:`Design` in :data:`DESIGNS`, found by the
name of the check function registered for the clause; the docs render one coverage row per
clause from it (``dropspec-coverage``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..dtypes import FLOAT_DTYPES, as_dtype

# ---------------------------------------------------------------- dimensions ----

#: Dtypes: every float dtype (a target's own list narrows it).
DTYPES: tuple[str, ...] = FLOAT_DTYPES

#: Ranks an input may have (0 is a scalar); a target's declared rank or shared axes narrow it.
RANKS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)

#: Axis lengths: empty, 1, small primes, powers of two and their neighbours (vector widths
#: and their remainder lanes).
AXIS_LENGTHS: tuple[int, ...] = (
    *(0, 1, 2, 3, 5, 7, 11, 13),
    *(8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129),
)

#: A long axis (prime, just past 2^12), drawn for ranks 1 and 2.
LONG_AXIS = 4099

#: Most values one example may have: exact checks compare every output on the host.
MAX_ELEMENTS = 1 << 16


@dataclasses.dataclass(frozen=True)
class SizeClass:
    """Shapes whose number of values lies in [low, high]."""

    name: str
    low: int
    high: int


SIZE_CLASSES: tuple[SizeClass, ...] = (
    SizeClass("empty", 0, 0),
    SizeClass("tiny", 1, 7),
    SizeClass("small", 8, 255),
    SizeClass("medium", 256, 4095),
    SizeClass("large", 4096, MAX_ELEMENTS),
)


def size_class(shape: tuple[int, ...]) -> str:
    """The name of the :data:`SIZE_CLASSES` entry ``shape`` falls in."""
    n = math.prod(shape)
    return next(c.name for c in SIZE_CLASSES if c.low <= n <= c.high)


Array = np.ndarray[Any, Any]


@dataclasses.dataclass(frozen=True)
class Layout:
    """One memory layout: ``view`` lays a dense array's values out this way (same logical
    values, new memory), and ``min_rank`` is the least rank at which it differs from C."""

    name: str
    text: str
    view: Callable[[Array], Array]
    min_rank: int
    #: What a framework's arrays must allow to carry it (see :data:`STRIDES`).
    needs: str


def _c_order(x: Array) -> Array:
    return np.array(x, copy=True, order="C")  # (np.ascontiguousarray makes a scalar 1-D)


def _fortran(x: Array) -> Array:
    return np.asfortranarray(x)


def _transposed(x: Array) -> Array:
    # Storage with the last axis outermost: not Fortran order from rank 3 on.
    perm = (x.ndim - 1, *range(x.ndim - 1))
    inverse = tuple(int(i) for i in np.argsort(perm))
    return np.ascontiguousarray(x.transpose(perm)).transpose(inverse)


def _stepped(x: Array) -> Array:
    # Every second element of a buffer twice as long on each axis; the gaps hold NaN, so a
    # kernel that reads storage order meets them.
    buf = np.full(tuple(2 * n for n in x.shape), np.nan, dtype=x.dtype)
    view = buf[tuple(slice(None, None, 2) for _ in x.shape)]
    view[...] = x
    return view


def _reversed(x: Array) -> Array:
    flip = tuple(slice(None, None, -1) for _ in x.shape)
    out: Array = np.ascontiguousarray(x[flip])[flip]
    return out


def _broadcast(x: Array) -> Array:
    # Axis 0 of stride 0: the logical values are x's first row, repeated.
    if x.shape[0] == 0:
        return np.broadcast_to(x, x.shape)
    return np.broadcast_to(np.ascontiguousarray(x[:1]), x.shape)


def _read_only(x: Array) -> Array:
    out = np.array(x, copy=True)
    out.setflags(write=False)
    return out


LAYOUTS: tuple[Layout, ...] = (
    Layout("C", "C order (row-major, contiguous)", _c_order, 0, "dense"),
    Layout("F", "Fortran order (column-major)", _fortran, 2, "non-negative"),
    Layout("transposed", "axes permuted in storage (last axis outermost)", _transposed, 2,
           "non-negative"),
    Layout("stepped", "every second element of a larger buffer on each axis", _stepped, 1,
           "non-negative"),
    Layout("reversed", "negative strides on every axis", _reversed, 1, "any"),
    Layout("broadcast", "axis 0 of stride 0 (a broadcast view, read-only)", _broadcast, 1,
           "non-negative"),
    Layout("read-only", "C order, write-protected", _read_only, 0, "read-only"),
)  # fmt: skip
LAYOUT_NAMES: tuple[str, ...] = tuple(lay.name for lay in LAYOUTS)
_LAYOUT = {lay.name: lay for lay in LAYOUTS}

#: What each framework's arrays can carry, as its backend's ``strides`` says: "any" (NumPy:
#: every stride, read-only flags), "non-negative" (PyTorch: strided tensors, stride 0
#: included, but no negative strides and no read-only flag), "dense" (TensorFlow, JAX:
#: an array is always laid out densely by the framework).
STRIDES: Mapping[str, frozenset[str]] = {
    "any": frozenset({"dense", "non-negative", "any", "read-only"}),
    "non-negative": frozenset({"dense", "non-negative"}),
    "dense": frozenset({"dense"}),
}


def layout(name: str) -> Layout:
    return _LAYOUT[name]


def lay_out(x: Array, name: str) -> Array:
    """``x``'s values in layout ``name`` (a new array; ``x`` is not changed)."""
    lay = _LAYOUT[name]
    if x.ndim < lay.min_rank:
        return np.array(x, copy=True)
    return lay.view(x)


@dataclasses.dataclass(frozen=True)
class ValueClass:
    """One kind of input values; ``finite`` whether every value is finite."""

    name: str
    text: str
    finite: bool


VALUE_CLASSES: tuple[ValueClass, ...] = (
    ValueClass("ordinary", "signed magnitudes in [1/4, 4]", True),
    ValueClass("signed-zeros", "ordinary values with +0 and -0 at a third of positions", True),
    ValueClass("subnormal", "signed subnormals of the dtype at half of positions", True),
    ValueClass("largest", "the largest finite value (either sign) at a third of positions",
               True),
    ValueClass("mixed", "signed magnitudes spread over the dtype's whole exponent range",
               True),
    ValueClass("inf", "ordinary values with +inf and -inf at a third of positions", False),
    ValueClass("nan", "ordinary values with NaN at a third of positions", False),
)  # fmt: skip
VALUE_NAMES: tuple[str, ...] = tuple(v.name for v in VALUE_CLASSES)
FINITE_VALUES: tuple[str, ...] = tuple(v.name for v in VALUE_CLASSES if v.finite)


def values(
    seed: int, shape: tuple[int, ...], dtype: str, kind: str = "ordinary", *, signed: bool = True
) -> Array:
    """Values of ``dtype`` and ``shape`` of value class ``kind``, drawn from ``seed``
    (``signed=False``: ordinary magnitudes only, all positive)."""
    d = as_dtype(dtype)
    rng = np.random.default_rng(seed)
    sign = np.asarray(rng.choice([-1.0, 1.0], size=shape) if signed else np.ones(shape))
    wide = np.array(np.asarray(rng.uniform(0.25, 4.0, size=shape)) * sign)
    where = np.asarray(rng.random(shape))
    some = where < 1 / 3
    if kind == "signed-zeros":
        wide[some] = 0.0 * sign[some]
    elif kind == "subnormal":
        tiny = _smallest_normal(dtype)
        sub = np.array(np.asarray(rng.uniform(0.05, 0.95, size=shape)) * tiny * sign)
        half = where < 0.5
        wide[half] = sub[half]
    elif kind == "largest":
        wide[some] = _largest(dtype) * sign[some]
    elif kind == "mixed":
        lo, hi = math.log2(_smallest_normal(dtype)), math.log2(_largest(dtype))
        wide = np.array(np.exp2(np.asarray(rng.uniform(lo, hi - 2, size=shape))) * sign)
    elif kind == "inf":
        wide[some] = np.inf * sign[some]
    elif kind == "nan":
        wide[some] = np.nan
    elif kind != "ordinary":
        raise LookupError(f"unknown value class {kind!r}")
    out = np.array(wide, dtype=d)
    if kind != "signed-zeros":  # rounding may not make a zero the class did not ask for
        out[(out == 0) & (wide != 0)] = d.type(1.0)
    return out


def _smallest_normal(dtype: str) -> float:
    import ml_dtypes

    return float(ml_dtypes.finfo(as_dtype(dtype)).smallest_normal)  # type: ignore[no-untyped-call]


def _largest(dtype: str) -> float:
    import ml_dtypes

    return float(ml_dtypes.finfo(as_dtype(dtype)).max)  # type: ignore[no-untyped-call]


@dataclasses.dataclass(frozen=True)
class RateBand:
    """Rates in [low, high]; ``anchor`` is the rate the core uses."""

    name: str
    low: float
    high: float
    anchor: float


RATE_BANDS: tuple[RateBand, ...] = (
    RateBand("tiny", 1e-3, 0.01, 1e-3),
    RateBand("low", 0.01, 0.2, 0.1),
    RateBand("middle", 0.2, 0.8, 0.5),
    RateBand("high", 0.8, 0.99, 0.9),
    RateBand("near one", 0.99, 0.999, 0.999),
)


# ---------------------------------------------------------------- the core ----

#: Shapes every run checks: the 2-D (batch, features) input of most models, rank 5, a scalar,
#: remainder lanes past a vector width, an empty batch, then the rest of the ranks up to 6
#: and more empty and single-value inputs. Most telling first: a cost model that keeps only
#: some of the core keeps the first ones.
CORE_SHAPES: tuple[tuple[int, ...], ...] = (
    (4, 9),
    (2, 1, 3, 2, 5),
    (),
    (33,),
    (0, 7),
    (2, 8, 3),
    (17, 2),
    (1, 2, 1, 2, 3, 2),
    (3, 1, 5),
    (2, 3, 1, 7),
    (0, 2, 3, 4),
    (1,),
    (0,),
)


#: (batch, n_in, n_out) every run checks for a layer (DropConnect): remainder lanes past
#: vector widths, single units, a wide input, an empty batch.
CORE_LAYER_DIMS: tuple[tuple[int, int, int], ...] = (
    (4, 9, 17),
    (1, 1, 1),
    (2, 33, 3),
    (3, 8, 16),
    (1, 129, 2),
    (0, 3, 5),
)


# ---------------------------------------------------------------- designs ----


@dataclasses.dataclass(frozen=True)
class Design:
    """How one check's examples cover the input space.

    ``values`` are the value classes its inputs take (empty: the check makes its own inputs,
    described by ``own``); ``layouts`` whether its inputs reach the target in every layout
    the framework can carry; ``empty`` whether zero-size shapes are drawn; ``bands`` the rate
    bands its rates come from (empty: it fixes its own rate).
    """

    values: tuple[str, ...] = VALUE_NAMES
    layouts: bool = True
    empty: bool = True
    bands: tuple[str, ...] = tuple(b.name for b in RATE_BANDS)
    own: str = ""
    #: Whether its shapes come from this design (else the check draws its own).
    shapes: bool = True
    #: Whether C order is among its layouts (not for a check that compares layouts to it).
    c_order: bool = True
    #: Examples per dtype a check that draws its own shapes makes (0: as the plan says).
    cells: int = 0


ALL_BANDS = tuple(b.name for b in RATE_BANDS)
_OWN = Design(values=(), layouts=False)

#: Attention dropout's exact checks: q, k, v drawn from [-1, 1] (v = I to read the mask) in
#: two fixed (batch, heads, seq_q, seq_k, d) shapes, so eager JAX compiles few; rates in
#: [0.05, 0.95] unless the check fixes its own.
_ATTENTION = dataclasses.replace(
    _OWN,
    shapes=False,
    cells=2,
    own="q, k, v in [-1, 1] (v = I to read the mask), shapes "
    "(batch, heads, seq_q, seq_k, d) (1, 2, 3, 1, 4) and (2, 3, 5, 8, 4)",
)
_ATTENTION_RATES = ("low", "middle", "high")
_ATTENTION_CHECKS: dict[str, tuple[str, ...]] = {
    "shape": _ATTENTION_RATES, "dtype": _ATTENTION_RATES, "deterministic": _ATTENTION_RATES,
    "values": _ATTENTION_RATES, "broadcast": _ATTENTION_RATES,
    "inference_identity": _ATTENTION_RATES, "no_switch": _ATTENTION_RATES,
    "weights_before": _ATTENTION_RATES, "weights_after": _ATTENTION_RATES,
    "gradient": _ATTENTION_RATES, "rate_zero": (), "seed_space": (), "seed_pairs": (),
    "mask_value_free": _ATTENTION_RATES, "fresh_output": (), "rate_invalid_inference": (),
    "seed_process": (),
}  # fmt: skip
_RECURRENT = dataclasses.replace(
    _OWN,
    shapes=False,
    cells=2,
    own="x (batch, time, features) in [0.5, 1.5], or x = 1 to read the masks, shapes "
    "(1, 1, 1) and (3, 4, 5) (the state mask's calls 4 steps)",
)
_RECURRENT_CHECKS: dict[str, tuple[str, ...]] = {
    "shape": _ATTENTION_RATES, "dtype": _ATTENTION_RATES, "deterministic": _ATTENTION_RATES,
    "values": _ATTENTION_RATES, "input_shared": _ATTENTION_RATES,
    "state_shared": _ATTENTION_RATES, "inference_identity": _ATTENTION_RATES,
    "rate_zero": (),
}  # fmt: skip

#: check function name -> its design. Every check that draws examples has an entry
#: (tests/test_inputs.py holds the table to the registered checks).
DESIGNS: Mapping[str, Design] = {
    "check_shape": Design(),
    "check_dtype": Design(),
    "check_deterministic": Design(),
    "check_inference_identity": Design(),
    "check_inference_classic": Design(values=FINITE_VALUES),
    "check_values": Design(),
    "check_rate_zero": Design(bands=()),
    "check_rate_one_zeros": Design(values=FINITE_VALUES, bands=()),
    "check_dropped_select": Design(values=FINITE_VALUES, layouts=False, bands=("middle",),
                                   own="NaN and ±inf put into them"),
    "check_dropped_multiply": Design(values=FINITE_VALUES, layouts=False, bands=("middle",),
                                     own="NaN and ±inf put into them"),
    "check_shared_constant": dataclasses.replace(_OWN, own="x = 1", empty=False,
                                                 bands=("middle",)),
    "check_gradient": dataclasses.replace(_OWN, own="positive ordinary values",
                                          bands=("low", "middle", "high")),
    "check_alpha_values": dataclasses.replace(_OWN, own="values in [0, 1]",
                                              bands=ALL_BANDS[:-1]),
    "check_layout_invariant": Design(values=("ordinary",), c_order=False),
    "check_dc_values": dataclasses.replace(_OWN, own="weights of powers of two; its own "
                                           "sides from (1, 2, 3, 5)", shapes=False),
    "check_dc_per_batch": dataclasses.replace(_OWN, own="weights of powers of two; its own "
                                              "sides from (1, 2, 3, 5)", shapes=False),
    "check_dc_bias_unmasked": dataclasses.replace(_OWN, own="x in [-2, 2], weight and bias "
                                                  "in [-1, 1]", layouts=True),
    "check_dc_inference_mean": dataclasses.replace(_OWN, own="x in [-2, 2], weight and bias "
                                                   "in [-1, 1]", layouts=True),
    "check_dc_rate_zero": dataclasses.replace(_OWN, own="x in [-2, 2], weight and bias in "
                                              "[-1, 1]", layouts=True, bands=()),
    "check_dc_gradient": dataclasses.replace(_OWN, own="its own sides from (1, 2, 3, 5)",
                                             shapes=False),
    "check_dc_rate_one": dataclasses.replace(_OWN, own="x in [-2, 2], weight and bias in "
                                             "[-1, 1]", layouts=True, bands=()),
    # The relations (checks/relations.py): value-free compares x with -x, 4x, x/4, permuted
    # x and ones, so its inputs stay ordinary (no overflow or flush under the scalings).
    "check_value_free": Design(values=("ordinary",), layouts=False),
    "check_fresh_output": dataclasses.replace(_OWN, own="2^15 ordinary mask values, rate "
                                              "0.5"),
    "check_rate_invalid_inference": dataclasses.replace(_OWN, own="ordinary values of a "
                                                        "small shape, invalid rates", bands=()),
    "check_seed_space": dataclasses.replace(_OWN, own="x = 1 in every size class (calls of "
                                            "1-7, 17, 255, 1031, 4095 and 2^15 mask values; "
                                            "7 at 15 rates), edge seeds", bands=()),
    "check_seed_pairs": dataclasses.replace(_OWN, own="x = 1 in every size class (calls of "
                                            "1-7, 17, 255, 1031, 4095 and 2^15 mask values; "
                                            "7 at 15 rates), structured seed pairs", bands=()),
    **{f"check_state_{name}": dataclasses.replace(
        _OWN, shapes=False, own="2^12 positive ordinary values per call in the op's statistical "
        "shape, one instance called again and again at rates 0.5 and 0.2")
       for name in ("reproducible", "inference", "gradient")},
    "check_state_streams": dataclasses.replace(
        _OWN, shapes=False, own="x = 1, calls of about 192 and 320 mask values in turn in the "
        "op's statistical shape, 1,025 calls of one instance at rate 0.5", bands=()),
    **{f"check_dc_state_{name}": dataclasses.replace(
        _OWN, shapes=False, own="a decoder layer (x = 1, W[o, j] = 2^j, batch 4, 8 outputs, "
        "12 inputs; 4 in a half type) per call, one instance called again and again at rates "
        "0.5 and 0.2")
       for name in ("reproducible", "inference", "gradient")},
    "check_seed_process": dataclasses.replace(_OWN, own="ordinary values, rate 0.3, a second "
                                              "process", bands=()),
    # Attention dropout's checks (checks/attention_dropout.py) make their own q, k and v.
    **{f"check_attn_{name}": dataclasses.replace(_ATTENTION, bands=bands)
       for name, bands in _ATTENTION_CHECKS.items()},
    # ATTN-LAYOUT lays q, k and v out in every layout the framework carries, against C order.
    "check_attn_layout": dataclasses.replace(_ATTENTION, bands=_ATTENTION_RATES, layouts=True,
                                             c_order=False),
    # Recurrent dropout's checks (checks/recurrent_dropout.py) make their own sequences.
    **{f"check_recur_{name}": dataclasses.replace(_RECURRENT, bands=bands)
       for name, bands in _RECURRENT_CHECKS.items()},
}  # fmt: skip

#: The design of a check without an entry: ordinary values, C order, every band.
DEFAULT_DESIGN = Design(values=("ordinary",), layouts=False)


def design(check_name: str) -> Design:
    return DESIGNS.get(check_name, DEFAULT_DESIGN)


# ---------------------------------------------------------------- cost ----


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one framework's examples may cost.

    ``core`` is how many of the core shapes (of those a target allows) it checks, every
    run; ``pool`` how many distinct random shapes a run adds; ``max_elements`` the most
    values one example may have; ``core_every_dtype`` whether the core runs in every dtype
    (else each core shape runs in one dtype, in turn).
    """

    name: str
    core: int
    pool: int
    max_elements: int
    core_every_dtype: bool
    why: str


EAGER = Cost(
    "eager",
    core=len(CORE_SHAPES),
    pool=16,
    max_elements=MAX_ELEMENTS,
    core_every_dtype=True,
    why="runs each call as it comes",
)
COMPILED = Cost("compiled", core=5, pool=2, max_elements=1 << 12, core_every_dtype=False,
                why="compiles per shape and dtype (XLA; tf.function)")  # fmt: skip

#: framework -> its cost (frameworks not named are eager).
COSTS: Mapping[str, Cost] = {"jax": COMPILED, "tensorflow": COMPILED}


def cost(framework: str) -> Cost:
    return COSTS.get(framework, EAGER)


# ---------------------------------------------------------------- sampling ----


@dataclasses.dataclass(frozen=True)
class Allowed:
    """What a target's geometry allows: a fixed rank or a least rank, a least axis length."""

    rank: int | None = None
    min_rank: int = 0
    min_side: int = 0
    #: A layer's (batch, n_in, n_out) rather than an input's shape.
    layer: bool = False

    def ranks(self) -> tuple[int, ...]:
        if self.rank is not None:
            return (self.rank,)
        return tuple(r for r in RANKS if r >= self.min_rank)

    def fit(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """``shape`` made to fit (its sides raised to ``min_side``), or None where its rank
        is not allowed."""
        if len(shape) not in self.ranks():
            return None
        if self.min_side > 1 and 0 in shape:
            return None
        return tuple(max(n, self.min_side) if n else 0 for n in shape)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One point of the space: a shape, a layout and a value class."""

    shape: tuple[int, ...]
    layout: str
    values: str


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one run checks for one check on one target: the core cells (every run), the pool
    of random shapes hypothesis draws from, the layouts and value classes it may pair them
    with, and what the cost model and the framework left out (with why)."""

    core: tuple[Cell, ...]
    pool: tuple[tuple[int, ...], ...]
    layouts: tuple[str, ...]
    values: tuple[str, ...]
    bands: tuple[str, ...]
    core_every_dtype: bool
    skipped: tuple[str, ...]


def core_shapes(allowed: Allowed, d: Design) -> list[tuple[int, ...]]:
    """The core shapes ``allowed`` admits (a declared rank gets core shapes of that rank:
    those of the core's ranks, padded or cut to it)."""
    out: list[tuple[int, ...]] = []
    if allowed.layer:
        return [s for s in CORE_LAYER_DIMS if d.empty or 0 not in s]
    for shape in CORE_SHAPES:
        if allowed.rank is not None:
            shape = (shape + (3,) * allowed.rank)[: allowed.rank]
        fitted = allowed.fit(shape)
        if fitted is None or (not d.empty and 0 in fitted) or fitted in out:
            continue
        out.append(fitted)
    return out


def random_shape(
    rng: np.random.Generator, allowed: Allowed, max_elements: int, empty: bool
) -> tuple[int, ...]:
    """One shape of an allowed rank and a random non-empty size class (empty ones too,
    rarely, where ``empty``), its axis lengths from :data:`AXIS_LENGTHS`; for a layer,
    :func:`random_dims`."""
    if allowed.layer:
        return random_dims(rng, max_elements, empty)
    rank = int(rng.choice(allowed.ranks()))
    classes = [c for c in SIZE_CLASSES if c.low <= max_elements and (empty or c.high > 0)]
    if rank == 0:
        return ()
    weights = np.array([0.1 if c.high == 0 else 1.0 for c in classes])
    chosen = classes[int(rng.choice(len(classes), p=weights / weights.sum()))]
    high = min(chosen.high, max_elements)
    if high == 0:
        rest = random_shape(rng, dataclasses.replace(allowed, rank=rank), max_elements, False)
        return (0, *rest[1:]) if allowed.min_side <= 1 else rest
    lengths = [n for n in AXIS_LENGTHS if n >= max(allowed.min_side, 1)]
    if rank <= 2 and high >= LONG_AXIS:
        lengths.append(LONG_AXIS)
    # A total drawn log-uniformly in the class; each axis near the share still to come.
    total = math.exp(rng.uniform(math.log(max(chosen.low, 1)), math.log(high)))
    shape: list[int] = []
    for i in range(rank):
        ideal = (total / math.prod(shape)) ** (1 / (rank - i))
        near = [n for n in lengths if ideal / 2.5 <= n <= ideal * 2.5]
        pick = int(rng.choice(near)) if near else min(lengths, key=lambda n: abs(n - ideal))
        shape.append(pick)
    while math.prod(shape) > max_elements:  # keep within the cost model's bound
        k = int(np.argmax(shape))
        shape[k] = max(n for n in lengths if n < shape[k]) if shape[k] > min(lengths) else 1
    return tuple(shape)


def random_dims(rng: np.random.Generator, max_elements: int, empty: bool) -> tuple[int, ...]:
    """A layer's (batch, n_in, n_out): sides from :data:`AXIS_LENGTHS`, batch 0 rarely."""
    sides = [n for n in AXIS_LENGTHS if n > 0]
    no_batch = empty and rng.random() < 0.05
    for _ in range(64):
        batch, n_in, n_out = (int(rng.choice(sides)) for _ in range(3))
        batch = 0 if no_batch else batch
        if max(batch, 1) * n_in * n_out <= max_elements // 4:
            return (batch, n_in, n_out)
    return (2, 3, 5)


def plan(
    check_name: str,
    allowed: Allowed,
    framework: str,
    strides: str,
    seed: int,
    *,
    dtypes: int = 1,
) -> Plan:
    """What one run checks for ``check_name`` on a target whose geometry allows ``allowed``,
    of ``framework`` (its arrays carrying ``strides``, see :data:`STRIDES`), the run's
    examples seed being ``seed``."""
    d = design(check_name)
    c = cost(framework)
    skipped: list[str] = []
    carried = STRIDES[strides]
    layouts = [lay.name for lay in LAYOUTS if d.layouts or lay.name == "C"]
    kept = tuple(n for n in layouts if _LAYOUT[n].needs in carried)
    if not d.c_order:
        kept = tuple(n for n in kept if n != "C") or ("C",)
    lost = [n for n in layouts if n not in kept]
    if lost:
        skipped.append(
            f"layouts {', '.join(lost)}: {framework} arrays cannot carry them ({strides} strides)"
        )
    core_all = core_shapes(allowed, d)
    core = [s for s in core_all if math.prod(s) <= c.max_elements][: c.core]
    if len(core) < len(core_all):
        left = [s for s in core_all if s not in core]
        skipped.append(
            f"core shapes {', '.join(map(str, left))}: {framework} {c.why} "
            f"({c.name} cost: {c.core} core shapes, {c.pool} random)"
        )
    if not c.core_every_dtype and dtypes > 1:
        skipped.append(f"each core shape runs in one dtype per run ({c.name} cost)")
    value_names = d.values or ("ordinary",)
    cells = _rotate(core, kept, value_names)
    rng = np.random.default_rng([seed, 0x1A7])
    pool: list[tuple[int, ...]] = []
    for _ in range(4 * c.pool):
        if len(pool) == c.pool:
            break
        s = random_shape(rng, allowed, c.max_elements, d.empty)
        if s not in pool:
            pool.append(s)
    return Plan(
        core=tuple(cells),
        pool=tuple(pool),
        layouts=kept,
        values=value_names,
        bands=d.bands,
        core_every_dtype=c.core_every_dtype,
        skipped=tuple(skipped),
    )


def _rotate(
    shapes: list[tuple[int, ...]], layouts: tuple[str, ...], value_names: tuple[str, ...]
) -> list[Cell]:
    """Core cells: each shape in turn takes the next layout (that differs from C at its rank)
    and the next value class; shapes are repeated until every layout and value class has
    appeared once."""
    if not shapes:
        return []
    cells: list[Cell] = []
    lay_i = val_i = 0
    seen_l: set[str] = set()
    seen_v: set[str] = set()
    i = 0
    while i < len(shapes) or len(seen_l) < len(layouts) or len(seen_v) < len(value_names):
        shape = shapes[i % len(shapes)]
        i += 1
        if i > 8 * (len(shapes) + len(layouts) + len(value_names)):
            break
        fits = [
            k
            for k in range(len(layouts))
            if len(shape) >= _LAYOUT[layouts[(lay_i + k) % len(layouts)]].min_rank
            and (math.prod(shape) > 0 or layouts[(lay_i + k) % len(layouts)] == "C")
        ]
        if fits:
            lay = layouts[(lay_i + fits[0]) % len(layouts)]
            lay_i += fits[0] + 1
        else:
            lay = layouts[0]
        val = value_names[val_i % len(value_names)]
        val_i += 1
        if i > len(shapes) and lay in seen_l and val in seen_v:
            continue
        cells.append(Cell(shape, lay, val))
        seen_l.add(lay)
        seen_v.add(val)
    return cells


def band_rates(bands: tuple[str, ...]) -> tuple[float, ...]:
    """The anchor rates of ``bands`` (the rates core cells take in turn)."""
    return tuple(b.anchor for b in RATE_BANDS if b.name in bands)


# ---------------------------------------------------------------- coverage ----

#: The frameworks a coverage row counts cells for, with what their arrays carry.
COVERAGE_FRAMEWORKS: tuple[tuple[str, str], ...] = (
    ("numpy", "any"),
    ("torch", "non-negative"),
    ("jax", "dense"),
)


@dataclasses.dataclass(frozen=True)
class CoverageRow:
    """One clause's share of the space in one run (what the docs' coverage table shows)."""

    clause: str
    check: str
    shapes: str
    layouts: str
    values: str
    bands: str
    #: framework -> examples one run checks (core cells plus drawn examples, every dtype).
    cells: Mapping[str, int]


def cells_per_run(p: Plan, examples: int, dtypes: int) -> int:
    """Examples one run checks with plan ``p``: the core (in every dtype, or spread over
    them) and each dtype's share of the drawn examples (at least two), as
    ``checks._examples.examples`` runs them."""
    core = len(p.core) * (dtypes if p.core_every_dtype else 1)
    return core + max(2, math.ceil(examples / dtypes)) * dtypes


def coverage_row(
    clause: str, check_name: str, allowed: Allowed, examples: int, seed: int
) -> CoverageRow:
    """The coverage of ``clause`` (checked by ``check_name``) for a target whose geometry
    allows ``allowed``, in a run of ``examples`` examples whose examples seed is ``seed``."""
    d = design(check_name)
    dtypes = len(DTYPES)
    plans = {fw: plan(check_name, allowed, fw, strides, seed, dtypes=dtypes)
             for fw, strides in COVERAGE_FRAMEWORKS}  # fmt: skip
    first = plans[COVERAGE_FRAMEWORKS[0][0]]
    if d.shapes:
        ranks = sorted({len(c.shape) for c in first.core} | {len(s) for s in first.pool})
        if allowed.layer:
            shapes = f"(batch, n_in, n_out): {len(first.core)} core, {len(first.pool)} drawn"
        else:
            shapes = (f"ranks {', '.join(map(str, ranks))}: {len(first.core)} core cells, "
                      f"{len(first.pool)} drawn shapes")  # fmt: skip
        if not d.empty:
            shapes += "; no empty shapes"
    else:
        shapes = "its own: " + d.own
    layouts = ", ".join(first.layouts) if d.shapes else "C"
    values = ", ".join(d.values) if d.values else "its own: " + d.own
    bands = ", ".join(d.bands) if d.bands else "its own rate"
    cells = {fw: d.cells * dtypes if d.cells else cells_per_run(p, examples, dtypes)
             for fw, p in plans.items()}  # fmt: skip
    return CoverageRow(clause, check_name, shapes, layouts, values, bands, cells)
