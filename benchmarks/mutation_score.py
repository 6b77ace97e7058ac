"""Mutation score: run every clause of its op against every mutant of tests/mutants/.

A mutant is *caught* when at least one of the clauses it names fails; the report also lists
every other clause that fails on it (``caught_by``), which shows how the suite's clauses
overlap. Frameworks that are not installed are reported as skipped and left out of the score.

    python benchmarks/mutation_score.py [--framework numpy] [--out docs/_data/mutation.json]

Failing exact checks run without hypothesis's shrink phase (it changes no verdict; see
``tests/mutants/__init__.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mutants import FAULT_CLASSES, OPS, Mutant, corpus, no_shrinking  # noqa: E402
from mutants import run_mutant as mutant_results  # noqa: E402

from dropspec.conformance import Config  # noqa: E402


def run_mutant(m: Mutant, config: Config) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": m.name,
        "op": m.op,
        "framework": m.framework,
        "fault_class": m.fault_class,
        "description": m.description,
        "clauses": list(m.clauses),
    }
    if m.framework != "numpy" and importlib.util.find_spec(m.framework) is None:
        entry.update(status="skipped", caught_by=[], seconds=0.0)
        return entry
    start = time.perf_counter()
    results = mutant_results(m, None, config)  # Paddle's in a process of its own
    failed = [r.clause_id for r in results if r.outcome == "failed"]
    errors = [r.clause_id for r in results if r.outcome == "error"]
    caught = any(c in failed for c in m.clauses)
    entry.update(
        status="caught" if caught else "escaped",
        caught_by=failed,
        errors=errors,
        seconds=round(time.perf_counter() - start, 2),
    )
    if not caught:
        entry["named_outcomes"] = {
            r.clause_id: [r.outcome, r.message[:500]] for r in results if r.clause_id in m.clauses
        }
    return entry


def tally(
    entries: list[dict[str, Any]], key: str, order: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {k: {"caught": 0, "total": 0} for k in order}
    for e in entries:
        if e["status"] == "skipped":
            continue
        row = out.setdefault(e[key], {"caught": 0, "total": 0})
        row["total"] += 1
        row["caught"] += e["status"] == "caught"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--framework", action="append", help="only mutants of this framework (repeatable)"
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "_data" / "mutation.json"))
    parser.add_argument("--seed", type=int, default=Config().seed)
    args = parser.parse_args(argv)
    config = Config(seed=args.seed)
    mutants = [m for m in corpus() if not args.framework or m.framework in args.framework]
    entries = []
    start = time.perf_counter()
    with no_shrinking():
        for m in mutants:
            e = run_mutant(m, config)
            entries.append(e)
            mark = {"caught": "caught ", "escaped": "ESCAPED", "skipped": "skipped"}[e["status"]]
            others = [c for c in e["caught_by"] if c not in m.clauses]
            print(
                f"{mark} {e['seconds']:7.2f}s {m.name:64s} "
                f"{','.join(m.clauses)}" + (f" (+ {', '.join(others)})" if others else ""),
                flush=True,
            )
    counted = [e for e in entries if e["status"] != "skipped"]
    caught = sum(e["status"] == "caught" for e in counted)
    by = {
        "op": tally(counted, "op", OPS),
        "fault_class": tally(counted, "fault_class", FAULT_CLASSES),
        "framework": tally(counted, "framework", ("numpy", "torch", "tensorflow", "jax")),
    }
    print(
        f"\nmutation score: {caught}/{len(counted)} caught "
        f"({len(entries) - len(counted)} skipped), {time.perf_counter() - start:.0f}s"
    )
    for key, rows in by.items():
        print(f"\nby {key}:")
        for k, row in rows.items():
            print(f"  {k:18s} {row['caught']:3d}/{row['total']:<3d}")
    escaped = [e for e in counted if e["status"] == "escaped"]
    for e in escaped:
        print(f"\nESCAPED {e['name']}: {e['description']}\n  {e.get('named_outcomes')}")
    report = {
        "caught": caught,
        "total": len(counted),
        "skipped": len(entries) - len(counted),
        "seed": config.seed,
        "alpha": config.alpha,
        "power": config.power,
        "examples": config.examples,
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - start, 1),
        "by_op": by["op"],
        "by_fault_class": by["fault_class"],
        "by_framework": by["framework"],
        "mutants": [
            {
                k: e[k]
                for k in (
                    "name",
                    "op",
                    "framework",
                    "fault_class",
                    "description",
                    "clauses",
                    "status",
                    "caught_by",
                )
            }
            for e in entries
        ],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {out}")
    return 0 if not escaped else 1


if __name__ == "__main__":
    sys.exit(main())
