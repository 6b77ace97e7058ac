"""Runs the checks of a target's clauses and records one :class:`ClauseResult` per clause.

The engine is independent of pytest: the pytest plugin, :func:`dropspec.suite` and the
project's own tests all call :func:`run_clause`. A check is a function of a :class:`Context`
that returns its :class:`~dropspec.conformance.stats.StatResult` (or None for exact checks)
and raises :class:`CheckFailure` or :class:`NotApplicable`.

What a check sees (:class:`Context`, the exceptions, the registration table) lives in
:mod:`.context`, which the checks import; this module imports the checks (registering them)
and re-exports those names for the code that imported them from here.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..adapters._backend import get_backend
from ..frameworks import install_command
from ..spec import CLAUSES, Clause, Level, get_op
from ..target import Target
from . import checks as _checks  # noqa: F401  (importing the checks registers them)
from .config import Config
from .context import CHECKS as CHECKS
from .context import CHUNK_ELEMENTS as CHUNK_ELEMENTS
from .context import Check as Check
from .context import CheckFailure as CheckFailure
from .context import Context as Context
from .context import NotApplicable as NotApplicable
from .context import NotChecked as NotChecked
from .context import TargetError as TargetError
from .context import check_seed as check_seed
from .context import checks as checks
from .context import chunk_elements as chunk_elements
from .context import marked_from_target
from .context import register as register
from .defaults import DEFAULT_SEED
from .options import replay_line
from .outcomes import Outcome
from .stats import StatResult


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


def registry() -> dict[str, Check]:
    """Every check, after verifying that each clause has exactly one (the checks register
    when :mod:`.checks` is imported, at the top of this module)."""
    missing = sorted(set(CLAUSES) - set(CHECKS))
    if missing:
        raise LookupError(f"clauses without a check: {', '.join(missing)}")
    return CHECKS


def replay_hint(target: Target, clause: Clause, config: Config) -> str:
    """Both commands that repeat this check, shell-quoted, with every setting of the run."""
    values = {**dataclasses.asdict(config), "clause": [clause.id]}
    return replay_line(target.source or target.name, values)


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
            f"needs {', '.join(absent)}, which is not installed ({install_command(absent)})",
            reason="missing",
        )
    ctx = Context(target, clause, backend, config, seed)
    replay = replay_hint(target, clause, config)
    try:
        with backend.settings():  # e.g. JAX's float64, undone after the check outside workers
            stat = registry()[clause.id](ctx)
    except (NotApplicable, NotChecked, CheckFailure, TargetError) as exc:
        if _raised_by_target(exc, ctx):  # dropspec's exceptions are signals only from checks
            return result(
                Outcome.FAILED,
                f"the target raised {_traceback(exc, target)}\n{replay}",
                ctx=ctx,
            )
        if isinstance(exc, NotApplicable):
            return result(Outcome.NOT_APPLICABLE, str(exc), ctx=ctx)
        if isinstance(exc, NotChecked):
            return result(Outcome.NOT_CHECKED, str(exc), ctx=ctx, reason="unreachable")
        if isinstance(exc, CheckFailure):
            failed_in = set(exc.dtypes) or {""}
            return result(Outcome.FAILED, f"{exc}\n{replay}", exc.stat, ctx)
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


def _raised_by_target(exc: BaseException, ctx: Context) -> bool:
    """Whether ``exc`` itself (not an exception it was raised while handling) came out of
    the target: it left the target's call, or its innermost frame is on the target's side."""
    if marked_from_target(exc):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and _foreign(frames[-1].filename)


def _from_target(exc: BaseException, ctx: Context) -> bool:
    """Whether ``exc`` (or an exception it came from) was raised inside the target."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if marked_from_target(e) or any(
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
