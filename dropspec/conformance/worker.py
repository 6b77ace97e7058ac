"""A worker process of ``dropspec check``: imports and runs targets, one job at a time.

The runner (:mod:`.runner`) starts ``python -m dropspec.conformance.worker`` and sends it one
JSON line per target on stdin. The worker answers on its original stdout, which it keeps for
the protocol alone: the target's own prints go to stderr, which the runner logs. Events, one
JSON object a line::

    {"event": "ready"}                                          once, at start-up
    {"event": "target", "entry": {...}}                         the target's report entry
    {"event": "clause-start", "id": "DROPOUT-RATE"}             before each clause
    {"event": "clause", "entry": {...}}                         its verdict
    {"event": "done"}                                           the job is over

A worker that dies, hangs or stops answering is the runner's to notice; the clause it had
started is the one that broke it. A target that changes dropspec's own functions or classes
(monkey-patching the checks, say) has its results discarded and ends the worker, so the next
target starts in a fresh process.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO


def _code(value: object) -> bool:
    return callable(value) or isinstance(value, staticmethod | classmethod | property)


def _snapshot(modules: list[str]) -> dict[str, int]:
    """id() of the functions and classes of dropspec's own modules, and of their methods
    (module-level caches and other data may change as a run goes; code may not)."""
    out: dict[str, int] = {}
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        for attr, value in list(vars(module).items()):
            if not _code(value):
                continue
            out[f"{name}.{attr}"] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for member, inner in list(vars(value).items()):
                    if _code(inner):
                        out[f"{name}.{attr}.{member}"] = id(inner)
    from . import engine

    for clause_id, check in engine.CHECKS.items():
        out[f"CHECKS[{clause_id}]"] = id(check)
    return out


def _tampered(before: dict[str, int], now: dict[str, int]) -> list[str]:
    return sorted(k for k in before if now.get(k) != before[k])


def run_job(
    job: dict[str, Any], emit: Callable[[dict[str, Any]], None], guard: Callable[[], list[str]]
) -> bool:
    """Run one target; False when the process must not be reused (dropspec was patched)."""
    from ..adapters import TargetLoadError, load_target
    from ..spec import get_op
    from .config import Config
    from .engine import run_clause
    from .report import clause_entry, error_entry, not_checked_clause, target_header

    spec: str = job["spec"]
    config = Config(**job["config"])
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
                    spec, f"importing the target raised {type(exc).__name__}: {exc}"
                ),
            }
        )
        return True
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
        return True
    wanted = set(job.get("clauses") or ())
    emit(
        {
            "event": "target",
            "entry": entry,
            "clauses": [c.id for c in clauses if not wanted or c.id in wanted],
        }
    )
    if job.get("describe_only"):
        return True
    for clause in clauses:
        if wanted and clause.id not in wanted:
            continue
        emit({"event": "clause-start", "id": clause.id})
        result = run_clause(target, clause, config)
        changed = guard()
        if changed:
            emit({"event": "tampered", "what": changed[:10]})
            return False
        emit({"event": "clause", "entry": clause_entry(result)})
    return True


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


def main() -> int:
    _die_with_parent()
    proto: TextIO = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # the target's prints go to the log, never into the protocol
    sys.stdout = sys.stderr

    def emit(event: dict[str, Any]) -> None:
        proto.write(json.dumps(event, default=str) + "\n")
        proto.flush()

    from ..adapters._backend import keep_framework_settings
    from . import checks as _checks  # noqa: F401  (registers every check before the snapshot)
    from . import engine

    # This process runs nothing but targets: a framework-wide setting a check needs (JAX's
    # float64) is made once and stays, instead of being undone after each check as in the
    # user's own process.
    keep_framework_settings()

    engine.registry()
    watched = sorted(m for m in sys.modules if m.startswith("dropspec"))
    before = _snapshot(watched)
    emit({"event": "ready"})
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        reusable = run_job(job, emit, lambda: _tampered(before, _snapshot(watched)))
        emit({"event": "done"})
        if not reusable:
            return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
