"""``dropspec check --all``: one worker against two, over a warm JAX compilation cache.

    python benchmarks/parallel.py [--no-write] [--keep-report PATH] [--cache DIR]

Three runs of ``dropspec check --all`` with default settings, sharing one dropspec cache
directory (``DROPSPEC_CACHE_DIR``) that starts empty (or ``--cache DIR``, kept afterwards):

1. ``-j 2`` on that cache: what a first run costs (on an empty cache), and it fills JAX's
   persistent compilation cache;
2. ``-j 1`` over that cache;
3. ``-j 2`` over that cache.

Runs 2 and 3 differ only in the number of workers, so their ratio is the speed-up of
parallel workers; run 3 is what a repeat run costs. The JAX targets' compile time cut is
run 1's JAX seconds against run 3's. Every run must give the same outcome for every clause
of every target; the script says so and lists any difference. Targets: run 3 at least 1.5×
faster than run 2 on this 2-core machine, and at most 5 minutes.

Results: ``benchmarks/results/parallel.json`` and the ``parallel`` section of
``docs/_data/benchmarks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, load_average, machine, now, update_docs_benchmarks, write_json

SPEEDUP_TARGET = 1.5
WALL_LIMIT_S = 300.0
JAX_FRAMEWORKS = ("jax",)


def run(jobs: int, cache: Path, report: Path) -> dict[str, Any]:
    env = {**os.environ, "DROPSPEC_CACHE_DIR": str(cache)}
    for key in ("JAX_COMPILATION_CACHE_DIR", "HYPOTHESIS_STORAGE_DIRECTORY"):
        env.pop(key, None)
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dropspec.cli",
            "check",
            "--all",
            "-j",
            str(jobs),
            "--json",
            str(report),
            "-q",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    data = json.loads(report.read_text())
    jax_seconds = sum(t["seconds"] for t in data["targets"] if t["framework"] in JAX_FRAMEWORKS)
    return {
        "jobs": jobs,
        "wall_seconds": round(wall, 1),
        "exit_code": proc.returncode,
        "closing_line": proc.stdout.rstrip().splitlines()[-1],
        "jax_target_seconds": round(jax_seconds, 1),
        "report": data,
    }


def outcomes(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(t["name"], c["id"]): c["outcome"] for t in report["targets"] for c in t["clauses"]}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    oa, ob = outcomes(a), outcomes(b)
    return [
        f"{k[0]} {k[1]}: {oa.get(k)} vs {ob.get(k)}"
        for k in sorted(set(oa) | set(ob))
        if oa.get(k) != ob.get(k)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--cache",
        type=Path,
        help="use and keep this dropspec cache directory instead of an empty temporary one",
    )
    ap.add_argument(
        "--keep-report",
        type=Path,
        help="also save the -j 2 run's report here (e.g. docs/_data/matrix.json)",
    )
    args = ap.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="dropspec-parallel-") as tmp:
        base = Path(tmp)
        cache = args.cache or base / "cache"
        first = "the given cache" if args.cache else "empty cache"
        cold = run(2, cache, base / "j2-cold.json")
        print(f"-j 2, {first}: {cold['wall_seconds']} s, {cold['closing_line']}")
        one = run(1, cache, base / "j1.json")
        print(f"-j 1, warm cache: {one['wall_seconds']} s, {one['closing_line']}")
        two = run(2, cache, base / "j2.json")
        print(f"-j 2, warm cache: {two['wall_seconds']} s, {two['closing_line']}")
        if args.keep_report:
            args.keep_report.write_text((base / "j2.json").read_text())
    diff_j = differences(one["report"], two["report"])
    diff_w = differences(cold["report"], two["report"])
    speedup = one["wall_seconds"] / two["wall_seconds"]
    result = {
        "benchmark": "dropspec check --all: -j 2 to fill the cache, then -j 1 and -j 2 warm",
        "first_run_cache": str(args.cache) if args.cache else "empty",
        "date": now(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "runs": [{k: v for k, v in r.items() if k != "report"} for r in (cold, one, two)],
        "targets": len(one["report"]["targets"]),
        "clause_runs": len(outcomes(one["report"])),
        "speedup_j2_over_j1": round(speedup, 3),
        "speedup_target": SPEEDUP_TARGET,
        "wall_limit_seconds": WALL_LIMIT_S,
        "jax_seconds_cold": cold["jax_target_seconds"],
        "jax_seconds_warm": two["jax_target_seconds"],
        "same_outcomes_j1_j2": not diff_j,
        "differences_j1_j2": diff_j,
        "same_outcomes_cold_warm": not diff_w,
        "differences_cold_warm": diff_w,
        "meets_targets": speedup >= SPEEDUP_TARGET
        and two["wall_seconds"] <= WALL_LIMIT_S
        and not diff_j
        and not diff_w,
    }
    print(
        f"speed-up {speedup:.2f}x (target {SPEEDUP_TARGET}); -j 2 warm {two['wall_seconds']} s "
        f"(limit {WALL_LIMIT_S:.0f}); same outcomes -j1/-j2: {not diff_j}, cold/warm: "
        f"{not diff_w}; JAX targets {cold['jax_target_seconds']} s cold, "
        f"{two['jax_target_seconds']} s warm"
    )
    for d in diff_j + diff_w:
        print("  differs:", d)
    if not args.no_write:
        write_json(RESULTS / "parallel.json", result)
        update_docs_benchmarks("parallel", result)
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
