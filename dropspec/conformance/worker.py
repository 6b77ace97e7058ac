"""A worker process of ``dropspec check``: imports and runs targets, one job at a time.

The runner (:mod:`.runner`) starts a worker with ``python -P`` (the user's working directory
is not put in front of the standard library) under a parent that ignores stop signals (see
``runner._BOOT``), and sends it one JSON line per target. Events come back one JSON object a
line, each carrying the job's token::

    {"event": "ready"}                                          once, at start-up
    {"event": "target", "entry": {...}}                         the target's report entry
    {"event": "clause-start", "id": "DROPOUT-RATE"}             before each clause
    {"event": "clause", "entry": {...}}                         its verdict
    {"event": "done"}                                           the job is over

What target code could reach, and what the worker does about it (the threat model in
docs/guide.md, "What a target cannot do"):

- The channel. Jobs arrive and events leave on private duplicates of the original stdin
  and stdout, opened before any target code runs and never inherited by a subprocess. The
  target's stdin is ``/dev/null`` and its prints go to stderr, which the runner logs. A
  forked child loses both channels (:func:`os.register_at_fork`); one that returns into
  the checks ends quietly at its first event instead of sending verdicts twice. Events
  are written with an encoder taken before any target code runs.
- dropspec's code and data. The functions and classes of dropspec, of the protocol's
  ``json``, of ``builtins``, and (:data:`NUMERICS`) of the NumPy, SciPy and hypothesis
  modules the checks compute with, are fingerprinted (object, code, defaults) when the
  worker starts, and the spec's clauses (ids, levels, kinds, conditions) are too. A
  change ends the job with a ``tampered`` event: none of the target's results count, and
  the worker is not reused. dropspec's own code, the spec and the numerics are compared
  after each clause of a user's target, and at the end of a built-in target's job (the
  runner keeps no verdict before ``done``).
- Harness state. NumPy's floating-point error handling, the warning filters and the
  recursion limit are put back before each clause, so a target that sets them at import
  does not turn dropspec's own arithmetic into its failure.
- Size. Every message is cut to :data:`MAX_MESSAGE` characters.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .text import MESSAGE_LIMIT, clipped

#: Modules whose functions the checks compute with, beside dropspec, ``json`` and builtins.
NUMERICS = (
    "math",
    "numpy",
    "numpy.random",
    "numpy.linalg",
    "numpy.fft",
    "scipy.stats",
    "scipy.special",
    "scipy.stats._distn_infrastructure",
    "scipy.stats._continuous_distns",
    "scipy.stats._discrete_distns",
    "scipy.stats._stats_py",
    "scipy.stats._morestats",
    "hypothesis",
    "hypothesis.core",
    "hypothesis.control",
)
#: The longest message (a clause's, a target's error) a report keeps, in characters.
MAX_MESSAGE = MESSAGE_LIMIT
#: ``text``, its middle left out (and said) when longer than the limit.
cap = clipped


def cap_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A report entry (a target's or a clause's) with its texts cut to :data:`MAX_MESSAGE`."""
    for key in ("message", "error", "name", "description"):
        if isinstance(entry.get(key), str):
            entry[key] = cap(entry[key])
    for clause in entry.get("clauses") or ():
        cap_entry(clause)
    return entry


def _code(value: object) -> bool:
    return callable(value) or isinstance(value, staticmethod | classmethod | property)


def _print(value: object) -> tuple[int, ...]:
    """What identifies a function: itself, its code and its defaults (a code swap keeps
    the function's id)."""
    fn = getattr(value, "__func__", value)
    return (
        id(value),
        id(getattr(fn, "__code__", None)),
        id(getattr(fn, "__defaults__", None)),
        id(getattr(fn, "__kwdefaults__", None)),
    )


def _snapshot(modules: list[str] | tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """The fingerprints of the functions and classes of ``modules``, and of their methods
    (module-level caches and other data may change as a run goes; code may not)."""
    out: dict[str, tuple[int, ...]] = {}
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        for attr, value in list(vars(module).items()):
            if not _code(value):
                continue
            out[f"{name}.{attr}"] = _print(value)
            if isinstance(value, type) and value.__module__ == name:
                for member, inner in list(vars(value).items()):
                    if _code(inner):
                        out[f"{name}.{attr}.{member}"] = _print(inner)
    return out


def _own(watched: list[str]) -> dict[str, tuple[int, ...]]:
    """dropspec's code, the protocol's, the built-ins, the check table and the spec."""
    from ..spec import CLAUSES, OPS
    from . import engine

    out = _snapshot([*watched, "json", "json.encoder", "builtins"])
    for clause_id, check in engine.CHECKS.items():
        out[f"CHECKS[{clause_id}]"] = _print(check)
    out["the spec's clauses"] = (hash(repr(sorted(CLAUSES.items()))), hash(repr(OPS)))
    return out


def _tampered(before: dict[str, tuple[int, ...]], now: dict[str, tuple[int, ...]]) -> list[str]:
    return sorted(k for k in before if now.get(k) != before[k])


class Guard:
    """The fingerprints taken at start-up, and the harness state put back before each clause."""

    def __init__(self) -> None:
        import warnings

        import numpy as np

        self.watched = sorted(m for m in sys.modules if m.startswith("dropspec"))
        self.own = _own(self.watched)
        self.numerics = _snapshot(NUMERICS)
        self.errstate = np.geterr()
        self.filters = list(warnings.filters)
        self.recursion = sys.getrecursionlimit()

    def changed(self, numerics: bool) -> list[str]:
        """What target code changed of what the checks rely on (empty: nothing)."""
        found = _tampered(self.own, _own(self.watched))
        if numerics:
            found += _tampered(self.numerics, _snapshot(NUMERICS))
        return found

    def restore(self) -> None:
        import warnings

        import numpy as np

        np.seterr(**self.errstate)
        warnings.filters[:] = self.filters  # type: ignore[index]
        warnings._filters_mutated()  # type: ignore[attr-defined]
        sys.setrecursionlimit(self.recursion)


def _add_path(spec: str) -> None:
    """Make a target file's own directory importable (its sibling modules), after the
    standard library and the installed packages, as the working directory is."""
    where = spec.rpartition(":")[0]
    if where.endswith(".py"):
        folder = os.path.dirname(os.path.abspath(where))
        if folder not in sys.path:
            sys.path.append(folder)


def run_job(job: dict[str, Any], emit: Callable[[dict[str, Any]], None], guard: Guard) -> bool:
    """Run one target; False when the process must not be reused (something was patched)."""
    from ..adapters import TargetLoadError, load_target
    from ..spec import get_op
    from .config import Config
    from .engine import run_clause
    from .report import clause_entry, error_entry, not_checked_clause, target_header

    spec: str = job["spec"]
    builtin = bool(job.get("builtin"))
    config = Config(**job["config"])
    _add_path(spec)
    try:
        target = load_target(spec)
    except TargetLoadError as exc:
        emit({"event": "target", "entry": error_entry(spec, str(exc))})
        return True
    except BaseException as exc:
        emit(
            {
                "event": "target",
                "entry": error_entry(
                    spec, f"importing the target raised {type(exc).__name__}: {_text(exc)}"
                ),
            }
        )
        return True
    changed = guard.changed(numerics=True)  # what importing the target did
    entry = target_header(target)
    try:
        clauses = list(get_op(target.op).clauses)
    except ValueError as exc:
        entry.update(
            status="error",
            error=str(exc),
            clauses=[not_checked_clause("(op)", f"target unusable: {exc}", "unusable")],
        )
        emit({"event": "target", "entry": entry})
        if changed:
            emit({"event": "tampered", "what": changed[:10]})
        return not changed
    wanted = set(job.get("clauses") or ())
    emit(
        {
            "event": "target",
            "entry": entry,
            "clauses": [c.id for c in clauses if not wanted or c.id in wanted],
        }
    )
    if changed:
        emit({"event": "tampered", "what": changed[:10]})
        return False
    if job.get("describe_only"):
        return True
    for clause in clauses:
        if wanted and clause.id not in wanted:
            continue
        guard.restore()
        emit({"event": "clause-start", "id": clause.id})
        result = run_clause(target, clause, config)
        # A user's target is compared after every clause; a built-in one (dropspec's own
        # reference or a framework's function, no code of the user's) once, at the end of its
        # job: the runner keeps none of a job's verdicts before its ``done``.
        changed = [] if builtin else guard.changed(numerics=True)
        if changed:
            emit({"event": "tampered", "what": changed[:10]})
            return False
        emit({"event": "clause", "entry": clause_entry(result)})
    changed = guard.changed(numerics=True) if builtin else []
    if changed:
        emit({"event": "tampered", "what": changed[:10]})
        return False
    return True


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() raised>"


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when the runner dies (even by SIGKILL), so
    that a hanging target never outlives the run that started it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the runner is already gone
        os._exit(1)


def _channels() -> tuple[TextIO, TextIO]:
    """The private job and event channels (duplicates of stdin and stdout); stdin becomes
    ``/dev/null``, stdout the log, and a forked child loses both channels."""
    jobs_fd, proto_fd = os.dup(0), os.dup(1)  # not inheritable (PEP 446)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # the target's prints go to the log, never into the protocol
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
    sys.stdout = sys.stderr
    for stream in (sys.stdout, sys.stderr):  # the log, whatever the locale
        stream.reconfigure(encoding="utf-8", errors="backslashreplace")  # type: ignore[union-attr]

    def cut_off() -> None:
        for fd in (jobs_fd, proto_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    os.register_at_fork(after_in_child=cut_off)
    jobs = os.fdopen(jobs_fd, "r", encoding="utf-8")
    proto = os.fdopen(proto_fd, "w", buffering=1, encoding="utf-8")
    return jobs, proto


def main() -> int:
    _die_with_parent()
    owner = os.getpid()
    jobs, proto = _channels()
    # The user's working directory, after the standard library and installed packages: a
    # target named package.module:function still imports, a random.py there shadows nothing.
    sys.path.append(os.getcwd())
    encode = json.JSONEncoder(default=str).encode  # taken before any target code runs
    write, flush = proto.write, proto.flush
    token = ""

    def emit(event: dict[str, Any]) -> None:
        if os.getpid() != owner:  # a forked child that returned into the checks
            os._exit(0)
        if "entry" in event:
            cap_entry(event["entry"])
        write(encode({**event, "token": token}) + "\n")
        flush()

    from ..adapters._backend import keep_framework_settings
    from . import checks as _checks  # noqa: F401  (registers every check before the snapshot)
    from . import engine

    # This process runs nothing but targets: a framework-wide setting a check needs (JAX's
    # float64) is made once and stays, instead of being undone after each check as in the
    # user's own process.
    keep_framework_settings()

    engine.registry()
    guard = Guard()
    emit({"event": "ready"})
    for line in jobs:
        if not line.strip():
            continue
        job = json.loads(line)
        token = str(job.get("token", ""))
        reusable = run_job(job, emit, guard)
        emit({"event": "done"})
        if not reusable:
            return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
