"""Runs the checks of a target's clauses and records one :class:`ClauseResult` per clause.

The engine is independent of pytest: the pytest plugin, :func:`dropspec.suite` and the
project's own tests all call :func:`run_clause`. A check is a function of a :class:`Context`
that returns its :class:`~dropspec.conformance.stats.StatResult` (or None for exact checks)
and raises :class:`CheckFailure` or :class:`NotApplicable`.
"""

from __future__ import annotations

import math
import os
import re
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..adapters._backend import Backend, get_backend
from ..dtypes import FLOAT_DTYPES, as_dtype
from ..spec import CLAUSES, Clause, Level, get_op
from ..target import Target
from .config import Config
from .defaults import DEFAULT_SEED
from .outcomes import Outcome
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
        self, message: str, stat: StatResult | None = None, dtypes: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(message)
        self.stat = stat
        #: The dtypes the failure was seen in, where the check runs per dtype.
        self.dtypes = dtypes


class NotApplicable(Exception):
    """The clause cannot be checked for this target (e.g. no autodiff)."""


class TargetError(Exception):
    """The target itself is unusable: wrong return type, bad declaration, import failure."""


@dataclass(frozen=True)
class ClauseResult:
    """The verdict on one clause for one target."""

    target: str
    clause_id: str
    level: str
    kind: str
    outcome: Outcome
    message: str = ""
    stat: StatResult | None = None
    seed: int = DEFAULT_SEED
    seconds: float = 0.0
    target_seconds: float = 0.0
    #: Bytes of target output the check received, and bytes it copied to NumPy.
    output_bytes: int = 0
    host_bytes: int = 0
    #: Seconds per dtype, for checks that run once in each dtype.
    dtype_seconds: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Built from a string too (tests, reports read back): always an Outcome.
        object.__setattr__(self, "outcome", Outcome(self.outcome))

    @property
    def pvalue(self) -> float | None:
        """The check's Bonferroni p-value over all its sub-tests (compare with ``alpha``)."""
        return None if self.stat is None else self.stat.adjusted_pvalue

    @property
    def alpha(self) -> float | None:
        """The α the whole check spent: the sum over its sub-tests, not one sub-test's share."""
        return None if self.stat is None else self.stat.alpha_spent

    #: Why a clause was not checked: "missing" (framework or package not installed) or "".
    reason: str = ""

    @property
    def blocking(self) -> bool:
        """A failed MUST clause: what makes ``dropspec check`` exit 1."""
        return self.outcome.fails and self.level == "MUST"


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
    #: ids of exceptions raised from inside the target, to tell them from dropspec's own.
    target_exceptions: set[int] = field(default_factory=set)
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
            self.target_exceptions.add(id(exc))
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
        return self.backend.for_reduction(out)

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


def register(op: str, table: Mapping[str, Check]) -> None:
    """Register the checks of every clause of ``op``: ``table`` maps each of the op's clause
    ids, in the spec's order, to the function that checks it."""
    want = [c.id for c in get_op(op).clauses]
    if list(table) != want:
        missing = [cid for cid in want if cid not in table]
        extra = [cid for cid in table if cid not in want]
        raise LookupError(
            f"the checks of {op} do not list its clauses in the spec's order"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not clauses of {op}: {', '.join(extra)}" if extra else "")
        )
    for cid, fn in table.items():
        checks(cid)(fn)


def registry() -> dict[str, Check]:
    """Every check, after verifying that each clause has exactly one (import-time errors)."""
    from . import checks as _checks  # noqa: F401  (registers the checks)

    missing = sorted(set(CLAUSES) - set(CHECKS))
    if missing:
        raise LookupError(f"clauses without a check: {', '.join(missing)}")
    return CHECKS


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


def replay_hint(target: Target, clause: Clause, config: Config) -> str:
    name = target.source or target.name
    return (
        f"replay: dropspec check {name} --seed {config.seed} --clause {clause.id} "
        f"(or pytest --dropspec-target {name} --dropspec-seed {config.seed} "
        f"--dropspec-clause {clause.id})"
    )


def clauses_of(target: Target) -> list[Clause]:
    """Every clause of the target's op (applicable or not), in spec order."""
    return list(get_op(target.op).clauses)


def seed_key(target: Target) -> str:
    """What a target's check seeds derive from: its source as given (unique in a run), else
    its name; so two targets that share a name still draw different examples."""
    return target.source or target.name


def run_clause(target: Target, clause: Clause, config: Config | None = None) -> ClauseResult:
    """Check one clause on one target and return the verdict.

    Never raises an ``Exception``; a ``SystemExit``, ``KeyboardInterrupt`` or other
    ``BaseException`` from the target is recorded as ``error`` too, except a
    ``KeyboardInterrupt`` that did not come from the target (the user pressed Ctrl-C).
    """
    config = config or Config()
    seed = check_seed(config.seed, seed_key(target), clause.id)
    start = time.perf_counter()
    #: The dtypes a per-dtype check failed in; a failure not confined to dtypes (or an
    #: error) leaves it holding "" and so never matches a declared dtype scope.
    failed_in: set[str] = {""}

    def result(
        outcome: Outcome,
        message: str = "",
        stat: StatResult | None = None,
        ctx: Context | None = None,
        reason: str = "",
    ) -> ClauseResult:
        if clause.id in target.expected_failures:
            why = target.expected_failures[clause.id]
            scope = target.expected_failure_dtypes.get(clause.id)
            if outcome is Outcome.FAILED and scope is not None and not failed_in <= set(scope):
                message += f"\n(an expected failure is declared in {', '.join(scope)} only: {why})"
            elif outcome is Outcome.FAILED:
                outcome, message = Outcome.XFAILED, f"expected failure: {why}\n{message}"
            elif outcome is Outcome.PASSED:
                outcome = Outcome.XPASSED
                message = f"STALE expected failure (the clause now passes): {why}"
        return ClauseResult(
            target.name,
            clause.id,
            str(clause.level),
            str(clause.kind),
            seed=config.seed,
            outcome=outcome,
            message=message,
            stat=stat,
            seconds=time.perf_counter() - start,
            target_seconds=ctx.target_seconds if ctx else 0.0,
            output_bytes=ctx.output_bytes if ctx else 0,
            host_bytes=ctx.host_bytes if ctx else 0,
            dtype_seconds=dict(ctx.dtype_seconds) if ctx else {},
            reason=reason,
        )

    if target.error:
        return result(Outcome.NOT_CHECKED, f"target unusable: {target.error}", reason="unusable")
    if not clause.applies(target.options):
        return result(
            Outcome.NOT_APPLICABLE,
            "the target declares "
            + ", ".join(f"{k}={target.options.get(k)!r}" for k in clause.when)
            if clause.when
            else "no shared axes declared",
        )
    missing_env = {k: v for k, v in target.env.items() if os.environ.get(k) != v}
    if missing_env:
        env = " ".join(f"{k}={v}" for k, v in missing_env.items())
        return result(
            Outcome.NOT_CHECKED,
            f"needs {env} in the environment (set at import); "
            f"`dropspec check` runs it in a worker with it set",
            reason="env",
        )
    try:
        backend = get_backend(target.framework)
    except ValueError as exc:
        return result(Outcome.NOT_CHECKED, f"target unusable: {exc}", reason="unusable")
    if not backend.available():
        return result(
            Outcome.NOT_CHECKED,
            f"{backend.name} is not installed: {backend.install_hint}",
            reason="missing",
        )
    absent = [m for m in target.requires if not _importable(m)]
    if absent:
        return result(
            Outcome.NOT_CHECKED,
            f"needs {', '.join(absent)}, which is not installed (pip install {' '.join(absent)})",
            reason="missing",
        )
    ctx = Context(target, clause, backend, config, seed)
    replay = replay_hint(target, clause, config)
    try:
        stat = registry()[clause.id](ctx)
    except NotApplicable as exc:
        return result(Outcome.NOT_APPLICABLE, str(exc), ctx=ctx)
    except CheckFailure as exc:
        failed_in = set(exc.dtypes) or {""}
        return result(Outcome.FAILED, f"{exc}\n{replay}", exc.stat, ctx)
    except TargetError as exc:
        return result(Outcome.FAILED, f"{exc}\n{replay}", ctx=ctx)
    except Exception as exc:
        if not _from_target(exc, ctx):
            return result(
                Outcome.ERROR,
                f"dropspec's own check failed (a bug in dropspec, not in "
                f"the target; please report it):\n{_traceback(exc, None)}\n{replay}",
                ctx=ctx,
                reason="internal",
            )
        return result(
            Outcome.FAILED,
            f"the target raised {_traceback(exc, target)}{seed_width_hint(exc, ctx)}\n{replay}",
            ctx=ctx,
        )
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and not _from_target(exc, ctx):
            raise
        return result(
            Outcome.ERROR,
            f"the target raised {type(exc).__name__}({exc}), which stops "
            f"a program rather than reporting an error; the clause could not be "
            f"checked\n{_traceback(exc, target)}\n{replay}",
            ctx=ctx,
            reason="raised",
        )
    return result(Outcome.PASSED, "" if stat is None else stat.describe(), stat, ctx)


#: How the frameworks word a seed they cannot take (OverflowError "Python int too large to
#: convert", "out of bounds for uint32", TensorFlow's "out-of-range integer", torch's "cannot
#: be converted to type int32 without overflow", NumPy's "Seed must be between 0 and 2**32 - 1").
_SEED_TOO_WIDE = re.compile(
    r"overflow|out.of.(range|bounds)|too (large|big)|seed must|u?int(32|64)", re.IGNORECASE
)


def seed_width_hint(exc: BaseException, ctx: Context) -> str:
    """A hint when the target may have rejected a seed wider than it takes: the suite passes
    seeds across the declared width (64 bits unless ``seed_bits`` says less)."""
    seed = ctx.last_seed
    if (
        seed is None
        or seed < 1 << 31
        or not isinstance(exc, ValueError | TypeError | RuntimeError | OverflowError)
        or not _SEED_TOO_WIDE.search(str(exc))
    ):
        return ""
    return (
        f"\nhint: the call's seed was {seed} (the target declares seed_bits="
        f"{ctx.target.seed_bits}); if it takes narrower seeds, declare that: seed_bits=63 "
        f"for jax.random.key(seed) or int64 TensorFlow seeds, 32 for "
        f"numpy.random.seed(seed)"
    )


def _from_target(exc: BaseException, ctx: Context) -> bool:
    """Whether ``exc`` (or an exception it came from) was raised inside the target."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if id(e) in ctx.target_exceptions or any(
            _foreign(f.filename) for f in traceback.extract_tb(e.__traceback__)
        ):
            return True
        todo += [e.__cause__, e.__context__]
        todo += list(getattr(e, "exceptions", ()))
    return False


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Libraries dropspec itself computes with: an exception raised only in them and in
#: dropspec (outside its adapters) is dropspec's own.
_OWN_LIBRARIES = ("numpy", "scipy", "hypothesis", "array_api_compat", "ml_dtypes", "_pytest")


def _foreign(filename: str) -> bool:
    """Whether a frame's file is the target's side: user code, a framework, an adapter."""
    if filename.startswith(_PACKAGE_DIR + os.sep):
        return os.sep + "adapters" + os.sep in filename
    parts = filename.replace("\\", "/").split("/")
    if any(lib in parts for lib in _OWN_LIBRARIES):
        return False
    return not filename.startswith((sys_prefix_lib(), "<"))


def sys_prefix_lib() -> str:
    """The standard library's directory."""
    import sysconfig

    return sysconfig.get_paths()["stdlib"]


def _traceback(exc: BaseException, target: Target | None) -> str:
    """The exception with its frames; for a target's exception, only the frames outside
    dropspec (the target's own code and the libraries it calls), innermost last."""
    frames = traceback.extract_tb(exc.__traceback__)
    if target is not None:
        frames = traceback.StackSummary.from_list(
            [
                f
                for f in frames
                if not f.filename.startswith(_PACKAGE_DIR + os.sep) or "/adapters/" in f.filename
            ][-12:]
        )
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    notes = "\n".join(getattr(exc, "__notes__", []))
    body = "".join(frames.format()).rstrip()
    title = (
        "Traceback (most recent call last, frames outside dropspec):"
        if target
        else "Traceback (most recent call last):"
    )
    return "\n".join(part for part in (head, notes, body and f"{title}\n{body}") if part)


def _nbytes(array: Any) -> int:
    """Size in bytes of a framework array, from its shape and dtype (nothing is copied)."""
    dtype = array.dtype
    itemsize: Any = getattr(dtype, "itemsize", None) or getattr(dtype, "size", 0)  # TF: .size
    return int(math.prod(array.shape)) * int(itemsize)


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def run_target(
    target: Target, clauses: Iterable[str] | None = None, config: Config | None = None
) -> list[ClauseResult]:
    """Check every clause of ``target``'s op (or those named) and return the verdicts."""
    wanted = None if clauses is None else set(clauses)
    try:
        op_clauses = clauses_of(target)
    except ValueError as exc:
        return [
            ClauseResult(
                target.name,
                "(op)",
                str(Level.MUST),
                "error",
                Outcome.NOT_CHECKED,
                f"target unusable: {exc}",
                reason="unusable",
            )
        ]
    return [run_clause(target, c, config) for c in op_clauses if wanted is None or c.id in wanted]


def outcomes(results: Iterable[ClauseResult]) -> dict[str, str]:
    """clause id -> outcome, a convenience for tests."""
    return {r.clause_id: r.outcome for r in results}
