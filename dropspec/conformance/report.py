"""The run's report: the JSON document and the clause × target matrix printed from it."""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..frameworks import distribution
from ..spec import CLAUSES, OPS, SPEC_VERSION
from ..target import Target
from .config import Config
from .options import replay_line
from .outcomes import LEGEND, Outcome
from .schema import SCHEMA_VERSION
from .text import clipped, shown, shown_message

if TYPE_CHECKING:  # the engine imports the checks and SciPy: a runner's parent needs neither
    from .engine import ClauseResult

#: Exit codes of ``dropspec check`` and ``dropspec merge``: 0 every MUST clause that applies
#: was checked and passed; 1 a MUST clause failed; 2 usage error; 3 a MUST clause that was to
#: be checked could not be (crash, timeout, unusable target, framework missing); 4 a partial
#: run: what ran passed, but clauses were left out on purpose (``--clause``, a pytest ``-k``
#: selection, ``--allow-missing`` with a framework missing); 130 interrupted.
EXIT_CONFORMS, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_CHECKED = 0, 1, 2, 3
EXIT_PARTIAL, EXIT_INTERRUPTED = 4, 130

#: Why a clause in a report was left out on purpose, not for want of a way to check it.
LEFT_OUT_REASONS = frozenset({"deselected"})


def framework_version(target: Target) -> str | None:
    from ..adapters import get_backend

    try:
        backend = get_backend(target.framework)
        return backend.version() if backend.available() else None
    except Exception:
        return None


def _version(module: str) -> str | None:
    from importlib import metadata

    for dist in (distribution(module), module):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def library_versions(target: Target) -> dict[str, str | None]:
    """Versions of the libraries a target wraps beyond its array framework (flax, keras, ...),
    and of the package its function comes from when that is an installed distribution."""
    names = list(target.requires)
    top = (getattr(target.fn, "__module__", None) or "").split(".")[0]
    if (
        top
        and top not in ("dropspec", "__main__", target.framework)
        and not top.startswith("_dropspec_user")
    ):
        names.append(top)
    return {name: _version(name) for name in dict.fromkeys(names)}


def target_header(target: Target) -> dict[str, Any]:
    """A target's report entry without its clauses."""
    source_path = None
    if target.source:
        where = target.source.rpartition(":")[0]
        if where.endswith(".py"):
            source_path = str(Path(where).resolve())
    return {
        "name": target.name,
        "spec": target.source or target.name,
        "source_path": source_path,
        "op": target.op,
        "framework": target.framework,
        "framework_version": framework_version(target),
        "libraries": library_versions(target),
        "description": target.description,
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in target.options.items()},
        "seed_bits": target.seed_bits,
        "variants": list(target.variants),
        "status": "ok" if target.error is None else "error",
        "error": target.error,
        "expected_failures": dict(target.expected_failures),
        "expected_failure_dtypes": {k: list(v) for k, v in target.expected_failure_dtypes.items()},
        "seconds": 0.0,
        "target_seconds": 0.0,
        "clauses": [],
    }


def target_entry(target: Target, results: Sequence[ClauseResult]) -> dict[str, Any]:
    entry = target_header(target)
    entry["clauses"] = [clause_entry(r) for r in results]
    entry["seconds"] = round(sum(r.seconds for r in results), 3)
    entry["target_seconds"] = round(sum(r.target_seconds for r in results), 3)
    return entry


def not_checked_clause(
    clause_id: str, message: str, reason: str, level: str = "MUST", kind: str = "error"
) -> dict[str, Any]:
    return {
        "id": clause_id,
        "level": level,
        "kind": kind,
        "outcome": Outcome.NOT_CHECKED.value,
        "reason": reason,
        "pvalue": None,
        "alpha": None,
        "n": None,
        "detectable": None,
        "seconds": 0.0,
        "target_seconds": 0.0,
        "output_bytes": 0,
        "host_bytes": 0,
        "message": message,
        "replay": None,
    }


def error_entry(
    name: str, problem: str, clause_id: str = "(load)", reason: str = "unusable"
) -> dict[str, Any]:
    """A report entry for a target that could not run at all."""
    return {
        "name": name,
        "spec": name,
        "source_path": None,
        "op": "unknown",
        "framework": "unknown",
        "framework_version": None,
        "libraries": {},
        "description": "",
        "options": {},
        "status": "error",
        "error": problem,
        "expected_failures": {},
        "expected_failure_dtypes": {},
        "seconds": 0.0,
        "target_seconds": 0.0,
        "clauses": [not_checked_clause(clause_id, problem, reason)],
    }


def clause_entry(r: ClauseResult) -> dict[str, Any]:
    return {
        "id": r.clause_id,
        "level": r.level,
        "kind": r.kind,
        "outcome": Outcome(r.outcome).value,
        "pvalue": r.pvalue,
        "alpha": r.alpha,
        "n": None if r.stat is None else r.stat.n,
        "statistic": None if r.stat is None else r.stat.statistic,
        "detectable": None
        if r.stat is None
        else {
            "deviation": r.stat.deviation,
            "unit": r.stat.deviation_unit,
            "power": r.stat.power,
            "test": r.stat.test,
        },
        "seconds": round(r.seconds, 4),
        "target_seconds": round(r.target_seconds, 4),
        "dtype_seconds": {k: round(v, 4) for k, v in r.dtype_seconds.items()},
        "output_bytes": r.output_bytes,
        "host_bytes": r.host_bytes,
        "message": r.message,
        "reason": r.reason,
        "replay": replay_of(r),
        "counterexample": counterexample_of(r.message),
    }


def replay_of(r: ClauseResult) -> str | None:
    """The replay command a check printed into its message, as its own field."""
    for line in reversed(r.message.splitlines()):  # the engine's is last; a target's is not
        if line.startswith("replay: "):
            return line.removeprefix("replay: ")
    return None


#: How hypothesis introduces the example it shrank to (or the explicit one that failed).
_EXAMPLE_HEADS = (
    "Falsifying example:",
    "Falsifying explicit example:",
    "Failing explicit example:",
)


def counterexample_of(message: str) -> str | None:
    """The input that failed, as hypothesis printed it into a check's message (the call up
    to its closing parenthesis), as its own field; None when the message names none."""
    lines = message.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(_EXAMPLE_HEADS):
            depth, end = 0, i
            for end in range(i, len(lines)):
                depth += lines[end].count("(") - lines[end].count(")")
                if depth <= 0:
                    break
            return "\n".join(lines[i : end + 1])
    return None


def run_platform(device: str) -> dict[str, str]:
    return {
        "system": platform.platform(),
        "machine": platform.machine(),
        "node": platform.node(),
        "python": sys.version.split()[0],
        "device": device,
    }


def dropspec_commit() -> str | None:
    """The git commit dropspec runs from, where it is a checkout (else None)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def build_report(entries: Iterable[dict[str, Any]], config: Config, **run: Any) -> dict[str, Any]:
    """The report document; ``run`` adds run metadata (times, exit status, completeness)."""
    plat = run_platform(config.device)
    targets = list(entries)
    for t in targets:
        t.setdefault("platform", plat)
        clip_messages(t)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "dropspec_version": __version__,
        "spec_version": SPEC_VERSION,
        "dropspec_commit": dropspec_commit(),
        "complete": True,
        "exit_status": None,
        "started": None,
        "finished": None,
        "wall_seconds": None,
        "seed": config.seed,
        "alpha": config.alpha,
        "power": config.power,
        "device": config.device,
        "examples": config.examples,
        "platform": plat,
        **run,
        "targets": targets,
    }
    report["summary"] = summary(report)
    return report


def clip_messages(entry: dict[str, Any]) -> None:
    """Cut a target's error and its clauses' messages to :data:`.text.MESSAGE_LIMIT`
    characters (a crashed target's 50 MB line of output, an exception's huge text), with a
    note of how much was cut."""
    if isinstance(entry.get("error"), str):
        entry["error"] = clipped(entry["error"])
    for c in entry.get("clauses", ()):
        if isinstance(c.get("message"), str):
            c["message"] = clipped(c["message"])


def summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """Counts of clause outcomes, and the MUST-level declared divergences by name."""
    counts = {o.value: 0 for o in Outcome}
    divergences = []
    for t in report["targets"]:
        for c in t["clauses"]:
            known = Outcome.of(c["outcome"])
            outcome = c["outcome"] if known is None else known.value
            counts[outcome] = counts.get(outcome, 0) + 1
            if known is Outcome.XFAILED and c["level"] == "MUST":
                divergences.append(f"{t['name']}: {c['id']}")
    cover = coverage(report)
    return {
        **counts,
        "declared_divergences_must": divergences,
        "targets": len(report["targets"]),
        # MUST clauses that bind the targets (by their op and declared options), how many
        # were checked (passed, failed or declared), and how many the run left out on purpose
        # (--clause, -k); the rest of must_applicable could not be checked.
        "must_applicable": sum(c["applicable"] for c in cover),
        "must_checked": sum(c["checked"] for c in cover),
        "must_not_selected": sum(c["not_selected"] for c in cover),
    }


def _applies(clause: Any, options: Mapping[str, Any]) -> bool:
    try:
        return bool(clause.applies(options))
    except Exception:  # options of a report from another version: count the clause in
        return True


def coverage(report: Mapping[str, Any], *, allow_missing: bool = False) -> list[dict[str, Any]]:
    """Per target: the MUST clauses of its op that apply to its declared options
    (``applicable``), how many of them were checked (``checked``: passed, failed or a declared
    divergence), left out on purpose (``not_selected``: not in the run's selection, deselected,
    or a missing framework under ``allow_missing``) or not checked (``unchecked``), and
    ``none_selected`` when the run selected no clause of the target's op at all."""
    out = []
    for t in report["targets"]:
        present = {c["id"]: c for c in t["clauses"]}
        op = OPS.get(t.get("op", ""))
        options = t.get("options") or {}
        row = {"name": t["name"], "op": t.get("op"), "applicable": 0, "checked": 0}
        row.update(not_selected=0, missing=0, unchecked=0, absent=0)
        ids = [c.id for c in op.clauses if str(c.level) == "MUST"] if op else []
        ids += [cid for cid, c in present.items() if cid not in ids and c["level"] == "MUST"]
        for cid in ids:
            c = present.get(cid)
            if c is not None and c.get("level") != "MUST":
                continue
            clause = CLAUSES.get(cid)
            if c is None or c.get("reason") in LEFT_OUT_REASONS:
                if clause is not None and not _applies(clause, options):
                    continue
                row["applicable"] += 1
                row["not_selected"] += 1
                row["absent"] += c is None
                continue
            if _is(c, "ran") and not _is(c, "unchecked"):
                row["applicable"] += 1
                row["checked"] += 1
            elif _is(c, "unchecked"):
                row["applicable"] += 1
                if allow_missing and c.get("reason") == "missing":
                    row["not_selected"] += 1
                    row["missing"] += 1
                else:
                    row["unchecked"] += 1
        row["none_selected"] = bool(
            op is not None
            and t.get("status") in (None, "ok")
            and row["applicable"]
            and row["absent"] == row["applicable"]
        )
        out.append(row)
    return out


def coverage_lines(report: Mapping[str, Any], *, allow_missing: bool = False) -> list[str]:
    """'target: N of M MUST clauses checked (why)' for each target the run did not cover
    whole on purpose."""
    lines = []
    for row in coverage(report, allow_missing=allow_missing):
        if not row["not_selected"]:
            continue
        line = f"{shown(row['name'])}: {row['checked']} of {row['applicable']} MUST clauses checked"
        if row["none_selected"]:
            line += f": the selection names none of op {shown(row['op'])}'s clauses"
        else:
            why = []
            if row["not_selected"] - row["missing"]:
                why.append(f"{row['not_selected'] - row['missing']} not selected")
            if row["missing"]:
                why.append(f"{row['missing']} left out by --allow-missing (framework missing)")
            line += f" ({', '.join(why)})"
        lines.append(line)
    return lines


def unchecked(report: Mapping[str, Any], *, allow_missing: bool = False) -> list[str]:
    """'target: clause' for every MUST clause that could not be checked (those the run left
    out on purpose are not among them: :func:`coverage` counts those)."""
    out = []
    for t in report["targets"]:
        if t.get("status") in ("error", "interrupted") and not t["clauses"]:
            out.append(f"{t['name']}: (target {t['status']})")
        for c in t["clauses"]:
            if c["level"] != "MUST" or not _is(c, "unchecked"):
                continue
            if c.get("reason") in LEFT_OUT_REASONS:  # a partial run, counted by coverage()
                continue
            if allow_missing and c.get("reason") == "missing":
                continue
            out.append(f"{t['name']}: {c['id']}")
    return out


def exit_status(report: Mapping[str, Any], *, allow_missing: bool = False) -> int:
    """0 conforms (every MUST clause that applies checked and passed), 1 a MUST clause failed,
    3 something was not checked, 4 a partial run (clauses left out on purpose, no failure),
    130 interrupted. Call it once every clause of the run is in ``report``."""
    if report.get("interrupted"):
        return EXIT_INTERRUPTED
    if blocking(report):
        return EXIT_FAILED
    if unchecked(report, allow_missing=allow_missing) or not report.get("complete", True):
        return EXIT_NOT_CHECKED
    cover = coverage(report, allow_missing=allow_missing)
    if not cover or any(row["not_selected"] or not row["applicable"] for row in cover):
        return EXIT_PARTIAL
    return EXIT_CONFORMS


def closing_line(report: Mapping[str, Any], *, allow_missing: bool = False) -> str:
    """What the run established, counted: the last two lines ``dropspec check`` prints."""
    s = summary(report)
    status = exit_status(report, allow_missing=allow_missing)
    missed = len(unchecked(report, allow_missing=allow_missing))
    cover = coverage(report, allow_missing=allow_missing)
    checked, applicable = sum(r["checked"] for r in cover), sum(r["applicable"] for r in cover)
    word, why = {
        EXIT_CONFORMS: ("conforms", "every MUST clause that applies was checked and passed"),
        EXIT_FAILED: ("does not conform", f"{len(blocking(report))} MUST clause failure(s)"),
        EXIT_NOT_CHECKED: ("cannot say it conforms", f"{missed} MUST clause(s) not checked"),
        EXIT_PARTIAL: (
            "partial",
            f"{checked} of {applicable} MUST clauses checked, no failure; not a verdict "
            f"on the whole op",
        ),
        EXIT_INTERRUPTED: ("interrupted", "the run is incomplete"),
    }[status]
    per_target = "".join(
        f"  {line}\n" for line in coverage_lines(report, allow_missing=allow_missing)
    )
    return (
        f"{per_target}{word}: {why}\n{s[Outcome.PASSED]} passed, {s[Outcome.FAILED]} failed, "
        f"{len(s['declared_divergences_must'])} declared divergences (MUST), "
        f"{s[Outcome.NOT_APPLICABLE]} not applicable, "
        f"{sum(s[o] for o in Outcome if o.unchecked)} not checked"
        f" -> {word} (exit {status})"
    )


def false_alarm_bound(report: Mapping[str, Any]) -> float:
    """Σ α over the statistical checks that ran: a bound on P(any false alarm) for the run.

    Each clause's ``alpha`` is what the whole check spent, the sum over every sub-test
    (:attr:`StatResult.alpha_spent`), so this is the union bound over every test in the run.
    """
    return float(
        sum(
            c["alpha"] or 0.0
            for t in report["targets"]
            for c in t["clauses"]
            if Outcome.of(c["outcome"]) is None or _is(c, "ran")
        )
    )


def blocking(report: Mapping[str, Any]) -> list[str]:
    """'target: clause' for every failed MUST clause."""
    return [
        f"{t['name']}: {c['id']}"
        for t in report["targets"]
        for c in t["clauses"]
        if _is(c, "fails") and c["level"] == "MUST"
    ]


def _is(clause: Mapping[str, Any], what: str) -> bool:
    """Whether a report clause's outcome has the property ``what`` of :class:`Outcome`
    (an outcome spelled in no way dropspec knows has none)."""
    known = Outcome.of(clause["outcome"])
    return known is not None and bool(getattr(known, what))


def _clause_numbers(op_name: str, clause_ids: list[str], width: int) -> list[str]:
    prefix = clause_ids[0].split("-")[0] + "-" if clause_ids else ""
    words = [f"{i + 1}={cid.removeprefix(prefix)}" for i, cid in enumerate(clause_ids)]
    lines, line = [], f"  clauses ({prefix}*):"
    for w in words:
        if len(line) + 1 + len(w) > width:
            lines.append(line)
            line = "   "
        line += " " + w
    lines.append(line)
    return lines


def _symbol(outcome: str | None) -> str:
    known = Outcome.of(outcome)
    return " " if known is None else known.symbol


def render_matrix(report: Mapping[str, Any], width: int = 120) -> str:
    """One row per target (clauses as columns, numbered per op), ``width`` wide where names
    allow: a long name is shortened (``…``) to make room, a status tag is never cut.

    Every string from the report is escaped (:func:`.text.shown`). The full clause × target
    grid with messages is in the JSON report and the docs.
    """
    lines: list[str] = []
    by_op: dict[str, list[Mapping[str, Any]]] = {}
    for t in report["targets"]:
        by_op.setdefault(t["op"], []).append(t)
    names = {id(t): shown(t["name"]) for t in report["targets"]}
    for op_name, targets in by_op.items():
        title = OPS[op_name].title if op_name in OPS else shown(op_name)
        clause_ids = (
            [c.id for c in OPS[op_name].clauses]
            if op_name in OPS
            else list(dict.fromkeys(shown(c["id"]) for t in targets for c in t["clauses"]))
        )
        lines += [
            "",
            f"== {title} ({shown(op_name)})",
            *_clause_numbers(op_name, clause_ids, width),
        ]
        digits = "".join(str((i + 1) % 10) for i in range(len(clause_ids)))
        tags = {id(t): _tag(t) for t in targets}
        # the name column gives way to the rest of the row: the cells, counts and tag
        room = width - 48 - len(digits) - max(len(tag) for tag in tags.values())
        name_w = max(12, min(44, room, max([len(names[id(t)]) for t in targets] + [6])))
        lines.append(f"  {'target':<{name_w}} {'framework':<18} {digits}   pass fail xfail  n/a  ?")
        for t in targets:
            by_id = {shown(c["id"]): c["outcome"] for c in t["clauses"]}
            cells = "".join(_symbol(by_id.get(cid)) for cid in clause_ids)
            if not clause_ids:
                cells = "".join(_symbol(o) for o in by_id.values())
            n = Counter(Outcome.of(v) for v in by_id.values())
            fw = shown(f"{t['framework']} {t.get('framework_version') or ''}".strip())[:18]
            name = names[id(t)]
            name = name if len(name) <= name_w else name[: name_w - 1] + "…"
            row = (
                f"  {name:<{name_w}} {fw:<18} {cells:<{len(digits)}}   {n[Outcome.PASSED]:>4} "
                f"{n[Outcome.FAILED]:>4} {n[Outcome.XFAILED]:>5} "
                f"{n[Outcome.NOT_APPLICABLE]:>4} "
                f"{sum(n[o] for o in Outcome if o.unchecked):>2}"
            )
            lines.append(row + tags[id(t)])
    lines += ["", LEGEND]
    return "\n".join(lines)


def _tag(t: Mapping[str, Any]) -> str:
    return "" if t.get("status") in (None, "ok") else f"  [{shown(t['status'])}]"


def render_failures(report: Mapping[str, Any], *, include_expected: bool = False) -> str:
    """Every failure and clause not checked, with its message; a target that crashed or
    timed out gets its replay command; clauses not checked because a package is missing are
    said once per package, with the targets they cost. Every string from the report is
    escaped and every line of a message cut at :data:`.text.LINE_LIMIT` characters."""
    lines = []
    wanted = {o for o in Outcome if o.shown or (include_expected and o is Outcome.XFAILED)}
    missing: dict[str, list[str]] = {}
    for t in report["targets"]:
        name = shown(t["name"])
        if t.get("status") not in (None, "ok", "missing") and t.get("error"):
            lines.append(f"--- {name} ({shown(t['status'])})")
            lines.extend(shown_message(t["error"], "    "))
            if t["status"] == "error":
                lines.append("    " + shown(broken_replay(report, t)))
        for c in t["clauses"]:
            if Outcome.of(c["outcome"]) not in wanted:
                continue
            if Outcome.of(c["outcome"]) is Outcome.NOT_CHECKED and c["message"] == t.get("error"):
                continue  # said once for the target, above
            if c.get("reason") == "missing":
                targets = missing.setdefault(str(c["message"]), [])
                if name not in targets:
                    targets.append(name)
                continue
            lines.append(
                f"--- {name} :: {shown(c['id'])} ({shown(c['level'])}, {shown(c['outcome'])})"
            )
            lines.extend(shown_message(c["message"], "    "))
    for why, names in missing.items():
        count = f"{len(names)} target{'s' if len(names) > 1 else ''}"
        lines.append(f"--- not checked, {count}: {shown(why)}")
        lines.extend(
            textwrap.wrap(", ".join(names), 100, initial_indent="    ", subsequent_indent="    ")
        )
    return "\n".join(lines)


def broken_replay(report: Mapping[str, Any], t: Mapping[str, Any]) -> str:
    """The replay line of a target whose job did not finish (a crash, a timeout): the run's
    settings (the target's own, in a merged report of mixed settings), its timeout, and the
    clauses it was to check when they were not the whole op."""
    values = {key: report.get(key) for key in ("seed", "alpha", "power", "device", "examples")}
    values.update(t.get("settings") or {})
    values["timeout"] = report.get("timeout")
    ids = [c["id"] for c in t["clauses"] if c["id"] in CLAUSES]
    op = OPS.get(t.get("op", ""))
    if ids and (op is None or set(ids) != {c.id for c in op.clauses}):
        values["clause"] = ids
    return replay_line(str(t.get("spec") or t["name"]), values)


def write_json(report: Mapping[str, Any], path: str | Path) -> None:
    """Write the report atomically: a temporary file beside ``path``, then a rename.

    The temporary file is created with mode 0666 less the umask, as ``open`` would create
    the report itself (not :func:`tempfile.mkstemp`'s 0600, which CI artifact servers and
    other users cannot read). An ``OSError`` (the directory deleted or read-only) reaches
    the caller, with no temporary file left behind.
    """
    import os
    import secrets

    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    while True:
        tmp = parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1, default=str)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
