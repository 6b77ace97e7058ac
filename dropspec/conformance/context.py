"""What a check sees: the :class:`Context` of one clause on one target, the exceptions a
check raises, and the table the checks register in.

The checks (:mod:`.checks`) import this module and never the engine; the engine
(:mod:`.engine`), which runs them, imports the checks. Each op's checks module registers the
check of every clause of the op with :func:`register`, together with what the checks need
to know about the op (:class:`OpFacts`: its kind of mask, its inputs, whether its mask is
per example).
"""

from __future__ import annotations

import contextlib
import math
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..adapters._backend import Backend
from ..dtypes import FLOAT_DTYPES, as_dtype
from ..spec import CLAUSES, Clause, get_op
from ..target import Target
from .config import Config
from .stats import StatResult

#: Elements per target call in statistical checks; bounds the suite's memory per call.
CHUNK_ELEMENTS = 1 << 20


def chunk_elements(n: int) -> int:
    """Mask values per statistical call for a sample of ``n``: :data:`CHUNK_ELEMENTS`, or
    the power of two at or above ``n`` when that is smaller.

    Samples are drawn in whole calls of these few sizes, whatever their n, so a target sees
    one call shape per dtype for almost every rate and clause: on JAX each new shape costs
    a compilation (of a jitted target, of every operation of an eager one, and of the
    suite's reductions), and a compiled shape is reused by the target's other clauses and by
    the other targets of the worker. The price is at most one call's worth of extra values.
    """
    return min(CHUNK_ELEMENTS, 1 << max(int(n) - 1, 1).bit_length())


class CheckFailure(AssertionError):
    """The target violates the clause; the message says how."""

    def __init__(
        self,
        message: str,
        stat: StatResult | None = None,
        dtypes: frozenset[str] = frozenset(),
        *,
        any_dtype: bool = False,
    ) -> None:
        super().__init__(message)
        self.stat = stat
        #: The dtypes the failure was seen in, where the check runs per dtype.
        self.dtypes = dtypes
        #: The cause is not the dtype it was seen in (a seed's width, an output's shape): a
        #: per-dtype check does not put the dtype in front of the message.
        self.any_dtype = any_dtype


class NotApplicable(Exception):
    """The clause cannot be checked for this target (e.g. no autodiff)."""


class NotChecked(Exception):
    """The clause applies to the target but this run cannot check it (e.g. the target
    cannot be rebuilt in a second process): reported as not checked, never as passed."""


class TargetError(Exception):
    """The target itself is unusable: wrong return type, bad declaration, import failure."""


#: The attribute that marks an exception as having left the target's call. A mark on the
#: object itself, not a set of ids: an id is reused once the exception is freed, so a
#: check's own exception could be taken for an earlier, caught one of the target's.
_FROM_TARGET = "_dropspec_from_target"


def mark_from_target(exc: BaseException) -> None:
    """Mark ``exc`` as raised from inside the target."""
    with contextlib.suppress(AttributeError, TypeError):  # a class with no __dict__
        setattr(exc, _FROM_TARGET, True)


def marked_from_target(exc: BaseException) -> bool:
    """Whether ``exc`` left a target's call (see :func:`mark_from_target`)."""
    return getattr(exc, _FROM_TARGET, False) is True


@dataclass
class Context:
    """What a check sees: the target, the clause, settings, and seeded helpers."""

    target: Target
    clause: Clause
    backend: Backend
    config: Config
    check_seed: int
    rng: np.random.Generator = field(init=False)
    _seeds: np.random.Generator = field(init=False)
    target_seconds: float = 0.0
    output_bytes: int = 0
    host_bytes: int = 0
    #: The seed of the latest call (for the hint on seeds too wide for the target).
    last_seed: int | None = None
    #: The dtype a statistical check is running in (set per dtype by its runner), and the
    #: number of such runs sharing the clause's alpha.
    dtype: str | None = None
    alpha_parts: int = 1
    #: Seconds each dtype's run took (filled by the checks' per-dtype runner).
    dtype_seconds: dict[str, float] = field(default_factory=dict)
    #: Inputs the check passes to many calls unchanged (:meth:`reusable`): id -> (the array,
    #: its copy on the target's device once converted).
    _reusable: dict[int, tuple[np.ndarray, Any]] = field(default_factory=dict)
    _constants: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict)
    #: Inputs a check draws once and reuses (see ``checks.signed_input``).
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ss = np.random.SeedSequence(self.check_seed)
        inputs, seeds = ss.spawn(2)
        self.rng = np.random.default_rng(inputs)
        self._seeds = np.random.default_rng(seeds)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.target.options)

    @property
    def alpha(self) -> float:
        """The significance level of what runs now: the clause's, split over its dtypes."""
        return self.config.alpha / self.alpha_parts

    @property
    def power(self) -> float:
        return self.config.power

    @property
    def examples_seed(self) -> int:
        """The seed of the example-based checks' hypothesis runs: the op's in this run, the
        same for every clause and every target of the op (targets whose declared geometry
        differs still draw their own shapes from it). Each clause checks its own property on
        its target's examples, so sharing the draws loses no power for any target, and a
        framework that compiles per shape (eager JAX compiles every operation once per shape
        and dtype, shared by all its libraries in a process) compiles each shape once per
        worker instead of once per clause and target. The base seed still varies them from
        run to run."""
        return check_seed(self.config.seed, f"op:{self.target.op}", "examples")

    def seed(self) -> int:
        """A fresh seed for a target call, anywhere in the target's declared range
        [0, 2**seed_bits) (64 bits unless declared)."""
        return int(self._seeds.integers(0, 1 << self.target.seed_bits, dtype=np.uint64))

    @property
    def dtypes(self) -> tuple[str, ...]:
        supported = [d for d in FLOAT_DTYPES if d in self.backend.supported_dtypes]
        if self.target.dtypes is not None:
            supported = [d for d in supported if d in self.target.dtypes]
        if not supported:
            raise TargetError(f"target {self.target.name!r} supports none of the float dtypes")
        return tuple(supported)

    @property
    def stat_dtype(self) -> str:
        """The dtype statistical calls use: the one being checked, else float32 where
        supported, else the widest dtype."""
        if self.dtype is not None:
            return self.dtype
        return "float32" if "float32" in self.dtypes else self.dtypes[-1]

    def call_raw(
        self,
        *arrays: np.ndarray | None,
        rate: float,
        training: bool = True,
        seed: int | None = None,
    ) -> Any:
        """Call the target on ``arrays`` converted to its framework; return what it returns."""
        start = time.perf_counter()  # conversion to the framework counts as framework time
        try:
            converted = [None if a is None else self._convert(a) for a in arrays]
            return self.invoke(
                *converted, rate, training=training, seed=self.seed() if seed is None else seed
            )
        finally:
            self.target_seconds += time.perf_counter() - start

    def reusable(self, a: np.ndarray) -> np.ndarray:
        """Mark ``a`` as an input passed unchanged to many calls, and return it.

        It is converted to the target's framework once; each call then gets a fresh copy
        made on the device (:meth:`Backend.fresh`), so a target that writes into its input
        cannot change what the next call sees. Statistical checks call a target many times
        on one input; converting it from NumPy every time cost more than the calls.
        """
        self._reusable[id(a)] = (a, None)
        return a

    def constant(self, shape: tuple[int, ...], dtype: str, value: float = 1.0) -> np.ndarray:
        """A :meth:`reusable` array of ``value`` (made once per shape and dtype)."""
        key = (tuple(shape), dtype, value)
        if key not in self._constants:
            self._constants[key] = self.reusable(np.full(shape, value, dtype=as_dtype(dtype)))
        return self._constants[key]

    def _convert(self, a: np.ndarray) -> Any:
        kept = self._reusable.get(id(a))
        if kept is None or kept[0] is not a:
            return self.framework_array(a)
        if kept[1] is None:
            kept = (a, self.framework_array(a))
            self._reusable[id(a)] = kept
        return self.backend.fresh(kept[1])

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        """Call the target's function as is; what it raises is marked as the target's."""
        self.last_seed = kwargs.get("seed", self.last_seed)
        try:
            return self.target.fn(*args, **kwargs)
        except BaseException as exc:
            mark_from_target(exc)
            raise

    def _output(self, out: Any) -> Any:
        if not self.backend.is_array(out):
            raise TargetError(
                f"target {self.target.name!r} returned {type(out).__name__}, not a "
                f"{self.backend.name} array; a {self.target.op} target returns the output array"
            )
        self.output_bytes += _nbytes(out)
        return out

    def call(
        self,
        *arrays: np.ndarray | None,
        rate: float,
        training: bool = True,
        seed: int | None = None,
    ) -> np.ndarray:
        """Call the target and return its whole output as a NumPy array (exact checks)."""
        out = self._output(self.call_raw(*arrays, rate=rate, training=training, seed=seed))
        self._shaped(out, arrays, training)
        start = time.perf_counter()
        try:
            return self.host(out)
        finally:
            self.target_seconds += time.perf_counter() - start

    def call_device(
        self,
        *arrays: np.ndarray | None,
        rate: float,
        training: bool = True,
        seed: int | None = None,
    ) -> Any:
        """Call the target and return its output where it lives, for array-API reductions.

        Statistical checks use this: they reduce the output with :mod:`.reduce` (array-API
        code, run by the framework on its own device) and bring only the results to NumPy
        through :meth:`host`, which counts the bytes.
        """
        out = self._output(self.call_raw(*arrays, rate=rate, training=training, seed=seed))
        self._shaped(out, arrays, training)
        reduced = self.backend.for_reduction(out)
        if self.backend.copies_to_host(out):  # the whole output came to NumPy: count it
            self.host_bytes += np.asarray(reduced).nbytes
        return reduced

    def _shaped(self, out: Any, arrays: tuple[np.ndarray | None, ...], training: bool) -> None:
        """A wrong output shape is the target's failure (its op's SHAPE clause), said as such
        by every check that meets it, never a check's own crash on an array it cannot read."""
        facts = OP_FACTS.get(self.target.op)
        x = arrays[0] if arrays else None
        if facts is None or x is None:
            return
        weight = arrays[1] if len(arrays) > 1 else None
        want = tuple(x.shape)
        if facts.inputs == "layer" and weight is not None and x.ndim == 2:
            want = (x.shape[0], weight.shape[0])
        if facts.inputs == "attention" and len(arrays) == 3 and arrays[2] is not None:
            want = (*x.shape[:-1], arrays[2].shape[-1])
        got = tuple(int(d) for d in out.shape)
        if got != want:
            shape_clause = [c.id for c in get_op(self.target.op).clauses if c.id.endswith("SHAPE")]
            raise CheckFailure(
                f"training={training}: the output's shape is {got}, expected {want} for "
                f"inputs of shape {', '.join(str(a.shape) for a in arrays if a is not None)} "
                f"({', '.join(shape_clause) or 'the SHAPE clause'}); this check cannot read "
                f"such an output",
                any_dtype=True,
            )

    def framework_array(self, a: np.ndarray) -> Any:
        """A NumPy array as the target's framework takes it (an input for
        :meth:`invoke`, on the run's device)."""
        return self.backend.asarray(a, self.config.device)

    def to_device(self, a: np.ndarray) -> Any:
        """A NumPy array (an input or expected values) next to the target's outputs, as
        :meth:`call_device` hands them to reductions."""
        return self.backend.for_reduction(self.framework_array(a))

    def host(self, value: Any) -> np.ndarray:
        """``value`` as a NumPy array; its bytes are counted in :attr:`host_bytes`."""
        out = self.backend.to_numpy(value) if self.backend.is_array(value) else np.asarray(value)
        self.host_bytes += out.nbytes
        return out

    def split(self, parts: int) -> float:
        """The significance level of each of ``parts`` sub-tests (Bonferroni)."""
        return self.alpha / parts


Check = Callable[[Context], StatResult | None]

#: clause id -> the function that checks it. Filled by :mod:`dropspec.conformance.checks`,
#: whose module for each op registers every clause of the op (:func:`register`).
CHECKS: dict[str, Check] = {}


def checks(*clause_ids: str) -> Callable[[Check], Check]:
    """Register a check for the clauses ``clause_ids`` (each must exist in the spec)."""

    def wrap(fn: Check) -> Check:
        for cid in clause_ids:
            if cid not in CLAUSES:
                raise LookupError(f"check {fn.__name__} names unknown clause {cid!r}")
            if cid in CHECKS:
                raise LookupError(
                    f"clause {cid} has two checks: {CHECKS[cid].__name__}, {fn.__name__}"
                )
            CHECKS[cid] = fn
        return fn

    return wrap


#: How a keep mask is read from a call on x = 1: ``zero``, a dropped output is 0; ``alpha``, a
#: dropped output is a·α′ + b and a kept one a + b; ``noise``, Gaussian dropout drops nothing
#: and a value counts as kept where its noise lies above 1; ``layer``, DropConnect's masks are
#: decoded from a layer whose weights are powers of two (see ``checks._masks.decoded_masks``);
#: ``attention``, attention dropout's mask is read from a call with q = 0 (uniform
#: probabilities) and v the identity, where the output is the dropped probabilities;
#: ``recurrent``, recurrent dropout's masks are read from the states of a linear cell run on
#: x = 1 with one path dropped at a time (``checks.recurrent_dropout``).
Mask = Literal["zero", "alpha", "noise", "layer", "attention", "recurrent"]

#: What an op is called on, and so the examples its checks draw: ``units``, one input x of any
#: shape (``checks._examples.Case``); ``layer``, a dense layer's x (batch, n_in), weight
#: (n_out, n_in) and bias (n_out,) (``checks._examples.LayerCase``); ``attention``, queries,
#: keys and values of shape (batch, heads, seq, d), the op's checks drawing their own;
#: ``recurrent``, a sequence x (batch, time, features) and two rates, likewise.
Inputs = Literal["units", "layer", "attention", "recurrent"]


@dataclass(frozen=True)
class OpFacts:
    """What the checks need to know about one op, as its checks module declares it to
    :func:`register` (the checks ask these, never the op's name)."""

    #: How a keep mask is read back from an output (:data:`Mask`).
    mask: Mask
    #: What the op is called on (:data:`Inputs`).
    inputs: Inputs
    #: One mask value per example, shared along every axis but axis 0 (drop path).
    per_example: bool


#: op -> what its checks module declared to :func:`register`.
OP_FACTS: dict[str, OpFacts] = {}


def register(
    op: str,
    table: Mapping[str, Check],
    *,
    mask: Mask | None = None,
    inputs: Inputs | None = None,
    per_example: bool = False,
) -> None:
    """Register the checks of every clause of ``op``, and what they need to know about it.

    ``table`` maps each of the op's clause ids, in the spec's order, to the function that
    checks it (one entry per clause: a variant of a shared check is its own function);
    ``mask`` is how the checks read the op's keep mask back from an output (:data:`Mask`);
    ``inputs`` what the op is called on (:data:`Inputs`); ``per_example`` whether its mask
    has one value per example (shared along every axis but axis 0). Together they are
    :data:`OP_FACTS` of ``op``; nothing else in the checks is keyed by an op's name.
    """
    want = [c.id for c in get_op(op).clauses]
    if list(table) != want:
        missing = [cid for cid in want if cid not in table]
        extra = [cid for cid in table if cid not in want]
        raise LookupError(
            f"the checks of {op} do not list its clauses in the spec's order"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not clauses of {op}: {', '.join(extra)}" if extra else "")
        )
    if mask not in ("zero", "alpha", "noise", "layer", "attention", "recurrent"):
        raise LookupError(
            f"the checks of {op} declare no kind of mask (mask=...: zero, alpha, noise, "
            f"layer, attention or recurrent), got {mask!r}"
        )
    if inputs not in ("units", "layer", "attention", "recurrent"):
        raise LookupError(
            f"the checks of {op} declare no inputs (inputs=...: units, layer, attention or "
            f"recurrent), got {inputs!r}"
        )
    if (mask == "recurrent") != (inputs == "recurrent"):
        raise LookupError(
            f"the checks of {op} declare mask={mask!r} with inputs={inputs!r}: a recurrent "
            f"mask is read from a recurrent layer's inputs and from nothing else"
        )
    if (mask == "attention") != (inputs == "attention"):
        raise LookupError(
            f"the checks of {op} declare mask={mask!r} with inputs={inputs!r}: an attention "
            f"mask is read from attention's inputs and from nothing else"
        )
    if (mask == "layer") != (inputs == "layer"):
        raise LookupError(
            f"the checks of {op} declare mask={mask!r} with inputs={inputs!r}: a mask is "
            f"decoded from a layer (mask='layer') exactly when the op is one (inputs='layer')"
        )
    if per_example and inputs != "units":
        raise LookupError(f"the checks of {op} declare a per-example mask for a layer")
    for cid, fn in table.items():
        checks(cid)(fn)
    OP_FACTS[op] = OpFacts(mask=mask, inputs=inputs, per_example=per_example)


def check_seed(base: int, target: str, clause_id: str) -> int:
    """The seed of one check: independent of test order, stable across runs.

    ``target`` is the target's key in the run: the name, qualified where two targets share
    it (:func:`seed_key`).
    """
    words = [
        base & 0xFFFFFFFF,
        base >> 32,
        zlib.crc32(target.encode()),
        zlib.crc32(clause_id.encode()),
    ]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> 1)


def _nbytes(array: Any) -> int:
    """Size in bytes of a framework array, from its shape and dtype (nothing is copied)."""
    dtype = array.dtype
    itemsize: Any = getattr(dtype, "itemsize", None) or getattr(dtype, "size", 0)  # TF: .size
    return int(math.prod(array.shape)) * int(itemsize)
