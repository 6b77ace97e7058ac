"""Peak memory of the suite's statistical checks, one clause per fresh subprocess.

    python benchmarks/memory.py [--targets NAME ...] [--clauses ID ...] [--no-write]

Each (target, statistical clause) pair runs alone in a new Python process at the default
settings, so ``ru_maxrss`` (the process's peak resident set) is that check's peak, framework
import included. The child also reports its resident set just before the check (after
importing the target's framework) and the peak of the memory ``tracemalloc`` sees (Python and
NumPy allocations; framework-internal buffers are not traced). Issue 5 asks for a peak under
2 GiB: the statistical checks draw their samples in chunks of ``CHUNK_ELEMENTS`` per call.

Results: ``benchmarks/results/memory.json`` and the ``memory`` section of
``docs/_data/benchmarks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import RESULTS, ROOT, load_average, machine, now, update_docs_benchmarks, write_json

LIMIT_BYTES = 2 * 2**30
DEFAULT_TARGETS = (
    "reference.dropout",
    "reference.dropout.channel",
    "reference.alpha_dropout",
    "reference.gaussian_dropout",
    "reference.dropconnect",
    "reference.weight_drop",
    "reference.drop_path",
    "torch.dropout",
    "torch.dropconnect.per_example",
    "tf.nn.dropout",
)
FRAMEWORK_MODULE = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(target_name: str, clause_id: str) -> dict[str, Any]:
    import importlib
    import tracemalloc

    from dropspec.adapters import builtin_targets
    from dropspec.conformance.config import Config
    from dropspec.conformance.engine import run_clause
    from dropspec.spec import CLAUSES

    target = builtin_targets()[target_name]
    module = FRAMEWORK_MODULE.get(target.framework)
    if module:
        importlib.import_module(module)
    before = rss_now()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    start = time.perf_counter()
    result = run_clause(target, CLAUSES[clause_id], Config())
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "target": target_name,
        "clause": clause_id,
        "outcome": result.outcome,
        "n": None if result.stat is None else result.stat.n,
        "seconds": round(seconds, 2),
        "rss_before_bytes": before,
        "maxrss_before_bytes": maxrss_before,
        "peak_rss_bytes": peak,
        "peak_increase_bytes": peak - before,
        "tracemalloc_peak_bytes": traced_peak,
    }


def pairs(targets: list[str], only: list[str]) -> list[tuple[str, str]]:
    from dropspec.adapters import builtin_targets, get_backend
    from dropspec.spec import Kind, get_op

    known = builtin_targets()
    out = []
    for name in targets:
        t = known[name]
        try:
            if not get_backend(t.framework).available():
                print(f"skipping {name}: {t.framework} not installed", file=sys.stderr)
                continue
        except ValueError:
            continue
        for c in get_op(t.op).clauses:
            if c.kind == Kind.STATISTICAL and c.applies(t.options) and (not only or c.id in only):
                out.append((name, c.id))
    return out


def run_child(pair: tuple[str, str]) -> dict[str, Any] | None:
    target, clause = pair
    env = {**os.environ, **_env_of(target)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", target, clause],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"{target} {clause} failed: {proc.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    row: dict[str, Any] = json.loads(lines[-1])
    return row


def _env_of(target: str) -> dict[str, str]:
    from dropspec.adapters import builtin_targets

    return dict(builtin_targets()[target].env)


def mib(b: int) -> float:
    return round(b / 2**20, 1)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--targets", nargs="*", default=list(DEFAULT_TARGETS))
    p.add_argument("--clauses", nargs="*", default=[])
    p.add_argument(
        "--jobs", type=int, default=1, help="subprocesses at once (1 keeps the timings undisturbed)"
    )
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--child", nargs=2, metavar=("TARGET", "CLAUSE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    load_before = load_average()
    todo = pairs(args.targets, args.clauses)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = [r for r in pool.map(run_child, todo) if r is not None]
    load_after = load_average()
    rows.sort(key=lambda r: -r["peak_rss_bytes"])
    print(
        f"{'target':32s} {'clause':32s} {'n':>11s} {'s':>6s} {'RSS before':>10s} "
        f"{'peak RSS':>9s} {'increase':>9s} {'traced':>8s}  (MiB)"
    )
    for r in rows:
        print(
            f"{r['target']:32s} {r['clause']:32s} {r['n'] or 0:11d} {r['seconds']:6.1f} "
            f"{mib(r['rss_before_bytes']):10.0f} {mib(r['peak_rss_bytes']):9.0f} "
            f"{mib(r['peak_increase_bytes']):9.0f} {mib(r['tracemalloc_peak_bytes']):8.0f}"
        )
    worst = rows[0] if rows else None
    result = {
        "benchmark": "peak memory per statistical check (one subprocess each)",
        "date": now(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "limit_bytes": LIMIT_BYTES,
        "checks": len(rows),
        "max_peak_rss_bytes": worst["peak_rss_bytes"] if worst else None,
        "max_peak_rss_mib": mib(worst["peak_rss_bytes"]) if worst else None,
        "max_peak_check": f"{worst['target']} {worst['clause']}" if worst else None,
        "max_peak_increase_mib": max((mib(r["peak_increase_bytes"]) for r in rows), default=None),
        "max_tracemalloc_peak_mib": max(
            (mib(r["tracemalloc_peak_bytes"]) for r in rows), default=None
        ),
        "meets_limit": bool(rows) and all(r["peak_rss_bytes"] < LIMIT_BYTES for r in rows),
        "rows": rows,
    }
    print(
        f"largest peak: {result['max_peak_rss_mib']} MiB ({result['max_peak_check']}); "
        f"limit {mib(LIMIT_BYTES):.0f} MiB; load average before {load_before}, "
        f"after {load_after}"
    )
    if not args.no_write:
        write_json(RESULTS / "memory.json", result)
        update_docs_benchmarks(
            "memory", {k: v for k, v in result.items() if k != "rows"} | {"rows": rows[:12]}
        )
    return 0 if result["meets_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
