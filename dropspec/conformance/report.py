"""The run's report: the JSON document and the clause × target matrix printed from it."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..spec import OPS
from ..target import Target
from .engine import ClauseResult, Config

SYMBOLS = {"passed": "✓", "failed": "✗", "xfailed": "x", "xpassed": "!", "skipped": "-",
           "error": "E"}
LEGEND = ("✓ passed   ✗ failed   x expected failure   ! stale expected failure (now passes)   "
          "- skipped / not applicable   E target unusable")


def framework_version(target: Target) -> str | None:
    from ..adapters import get_backend

    try:
        backend = get_backend(target.framework)
        return backend.version() if backend.available() else None
    except Exception:
        return None


def target_entry(target: Target, results: Sequence[ClauseResult]) -> dict[str, Any]:
    return {
        "name": target.name,
        "op": target.op,
        "framework": target.framework,
        "framework_version": framework_version(target),
        "description": target.description,
        "options": {k: list(v) if isinstance(v, tuple) else v
                    for k, v in target.options.items()},
        "error": target.error,
        "expected_failures": dict(target.expected_failures),
        "seconds": round(sum(r.seconds for r in results), 3),
        "target_seconds": round(sum(r.target_seconds for r in results), 3),
        "clauses": [clause_entry(r) for r in results],
    }


def error_entry(name: str, problem: str, clause_id: str = "(load)") -> dict[str, Any]:
    """A report entry for a target that could not run at all."""
    return {
        "name": name, "op": "unknown", "framework": "unknown", "framework_version": None,
        "description": "", "options": {}, "error": problem, "expected_failures": {},
        "seconds": 0.0, "target_seconds": 0.0,
        "clauses": [{"id": clause_id, "level": "MUST", "kind": "error", "outcome": "error",
                     "pvalue": None, "alpha": None, "n": None, "detectable": None,
                     "seconds": 0.0, "target_seconds": 0.0, "output_bytes": 0,
                     "host_bytes": 0, "message": problem}],
    }


def clause_entry(r: ClauseResult) -> dict[str, Any]:
    return {
        "id": r.clause_id,
        "level": r.level,
        "kind": r.kind,
        "outcome": r.outcome,
        "pvalue": r.pvalue,
        "alpha": r.alpha,
        "n": None if r.stat is None else r.stat.n,
        "detectable": None if r.stat is None else {
            "deviation": r.stat.deviation, "unit": r.stat.deviation_unit,
            "power": r.stat.power, "test": r.stat.test},
        "seconds": round(r.seconds, 4),
        "target_seconds": round(r.target_seconds, 4),
        "output_bytes": r.output_bytes,
        "host_bytes": r.host_bytes,
        "message": r.message,
    }


def build_report(entries: Iterable[dict[str, Any]], config: Config) -> dict[str, Any]:
    from .. import __version__

    return {
        "dropspec_version": __version__,
        "seed": config.seed,
        "alpha": config.alpha,
        "power": config.power,
        "device": config.device,
        "platform": {"system": platform.platform(), "machine": platform.machine(),
                     "python": sys.version.split()[0]},
        "targets": list(entries),
    }


def merge(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One report from several (one per process), keeping the first one's header."""
    if not reports:
        raise ValueError("nothing to merge")
    out = dict(reports[0])
    out["targets"] = [t for r in reports for t in r["targets"]]
    return out


def false_alarm_bound(report: Mapping[str, Any]) -> float:
    """Σ α over the statistical checks that ran: a bound on P(any false alarm) for the run.

    Each clause's ``alpha`` is what the whole check spent, the sum over every sub-test
    (:attr:`StatResult.alpha_spent`), so this is the union bound over every test in the run.
    """
    return float(sum(c["alpha"] or 0.0 for t in report["targets"] for c in t["clauses"]
                     if c["outcome"] != "skipped"))


def blocking(report: Mapping[str, Any]) -> list[str]:
    """'target: clause' for every failed MUST clause and every unusable target."""
    out = []
    for t in report["targets"]:
        for c in t["clauses"]:
            if c["outcome"] == "error" or (c["outcome"] == "failed" and c["level"] == "MUST"):
                out.append(f"{t['name']}: {c['id']}")
    return out


def render_matrix(report: Mapping[str, Any]) -> str:
    """Clause rows × target columns, grouped by op, with framework versions in the header."""
    lines: list[str] = []
    by_op: dict[str, list[Mapping[str, Any]]] = {}
    for t in report["targets"]:
        by_op.setdefault(t["op"], []).append(t)
    for op_name, targets in by_op.items():
        lines.append("")
        title = OPS[op_name].title if op_name in OPS else op_name
        lines.append(f"== {title} ({op_name})")
        for i, t in enumerate(targets):
            version = t.get("framework_version") or "not installed"
            lines.append(f"  [{i + 1}] {t['name']}  ({t['framework']} {version})")
        clause_ids = list(dict.fromkeys(c["id"] for t in targets for c in t["clauses"]))
        width = max([len(c) for c in clause_ids] + [10]) + 8
        header = " " * width + " ".join(f"{i + 1:>3}" for i in range(len(targets)))
        lines.append(header)
        levels = {c["id"]: c["level"] for t in targets for c in t["clauses"]}
        for cid in clause_ids:
            cells = []
            for t in targets:
                outcome = next((c["outcome"] for c in t["clauses"] if c["id"] == cid), None)
                cells.append(f"{SYMBOLS.get(outcome or '', ' '):>3}")
            lines.append(f"  {cid:<{width - 8}} {levels[cid]:<6}" + " ".join(cells))
    lines.append("")
    lines.append(LEGEND)
    return "\n".join(lines)


def render_failures(report: Mapping[str, Any], *, include_expected: bool = False) -> str:
    lines = []
    for t in report["targets"]:
        for c in t["clauses"]:
            wanted = {"failed", "error"} | ({"xfailed", "xpassed"} if include_expected else
                                             {"xpassed"})
            if c["outcome"] in wanted:
                lines.append(f"--- {t['name']} :: {c['id']} ({c['level']}, {c['outcome']})")
                lines.extend("    " + m for m in str(c["message"]).splitlines())
    return "\n".join(lines)


def write_json(report: Mapping[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, default=str)
        fh.write("\n")
