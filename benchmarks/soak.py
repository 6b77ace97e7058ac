"""The long false-alarm soak: correct targets over many fresh seeds.

    python benchmarks/soak.py [--seeds 100] [--framework-seeds 6] [--keras] [--jobs 2]
    python benchmarks/soak.py --correct --only reference --seeds 20 --framework-seeds 0

Runs :func:`dropspec.conformance.soak.soak` (every statistical clause, once per seed) on

* the NumPy reference targets, over ``--seeds`` seeds, and
* every installed built-in framework target that conforms (no expected failure on any of its
  statistical clauses), over the first ``--framework-seeds`` of those seeds; Keras targets
  only with ``--keras`` (each backend in its own process);
* with ``--correct``, the independent second implementation of every op (``tests/impls.py``)
  over the reference's seeds: issue 10's "the reference and a second implementation, 20 base
  seeds, every dtype, 0 failures, p-values uniform" (``soak_correct.json``).

Each group of targets (by framework and environment) runs in its own subprocess, ``--jobs`` at
a time; the parent merges the clause-runs, the failures, the false-alarm bound (the sum of the
alphas) and the exact p-values, whose uniformity a Kolmogorov–Smirnov test checks at the
second level, and prints the merged ``SoakResult.summary()``. A correct implementation fails
a check with probability at most its alpha, so the failures should be 0 (their expected
number is at most ``alpha_sum``) and the KS p-value should not be tiny.

The seeds are fresh: ``--base-seed`` (default 7_000_000) onwards, never the default run's
seed. Result: ``docs/_data/soak.json`` (and ``benchmarks/results/soak.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from _common import DOCS_DATA, RESULTS, ROOT, load_average, machine, now, write_json

BASE_SEED = 7_000_000
#: How ``--correct`` names the second implementations of tests/impls.py in a group.
CORRECT_PREFIX = "correct:"


def correct_targets() -> dict[str, Any]:
    """The second implementations of tests/impls.py, by their ``--correct`` group names."""
    sys.path.insert(0, str(ROOT / "tests"))
    from impls import CORRECT

    return {CORRECT_PREFIX + t.name: t for t in CORRECT}


def conforming_groups(keras: bool, only: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """group name -> {"targets": [...], "env": {...}, "reference": bool}; the excluded."""
    from dropspec.adapters import builtin_targets, get_backend
    from dropspec.spec import Kind, get_op

    groups: dict[str, dict[str, Any]] = {}
    excluded: list[str] = []
    for name, t in builtin_targets().items():
        if only and not any(name == o or name.startswith(o) for o in only):
            continue
        if t.error:
            excluded.append(f"{name}: {t.error}")
            continue
        try:
            if not get_backend(t.framework).available():
                continue
        except ValueError:
            continue
        stat = {c.id for c in get_op(t.op).clauses if c.kind == Kind.STATISTICAL}
        if stat & set(t.expected_failures):
            excluded.append(
                f"{name}: expected failure on {', '.join(sorted(stat & set(t.expected_failures)))}"
            )
            continue
        env = dict(t.env)
        if "KERAS_BACKEND" in env and not keras:
            continue
        reference = name.startswith("reference.")
        key = (
            "reference"
            if reference
            else (f"keras[{env['KERAS_BACKEND']}]" if "KERAS_BACKEND" in env else t.framework)
        )
        g = groups.setdefault(key, {"targets": [], "env": env, "reference": reference})
        g["targets"].append(name)
    if excluded:
        print("not soaked (not conforming):\n  " + "\n  ".join(excluded))
    return groups, excluded


def child(names: list[str], seeds: list[int], out: Path) -> None:
    from dropspec.adapters import builtin_targets
    from dropspec.conformance.soak import soak

    known = dict(builtin_targets())
    if any(n.startswith(CORRECT_PREFIX) for n in names):
        known.update(correct_targets())
    r = soak([known[n] for n in names], seeds)
    print(r.summary(), flush=True)
    out.write_text(
        json.dumps(
            {
                "clause_runs": r.clause_runs,
                "failures": [
                    {
                        "target": f.target,
                        "clause": f.clause_id,
                        "level": f.level,
                        "kind": f.kind,
                        "outcome": f.outcome,
                        "seed": f.seed,
                        "pvalue": f.pvalue,
                        "message": f.message[:1000],
                    }
                    for f in r.failures
                ],
                "alpha_sum": r.alpha_sum,
                "pvalues": [float(p) for p in r.pvalues],
                "uniformity_statistic": r.uniformity_statistic,
                "uniformity_pvalue": r.uniformity_pvalue,
                "seconds": r.seconds,
                "summary": r.summary(),
            }
        )
    )


def _soak_result(part: dict[str, Any]) -> Any:
    """A child's JSON (see :func:`child`) as the SoakResult it printed, for soak.merged."""
    from dropspec.conformance.engine import ClauseResult
    from dropspec.conformance.soak import SoakResult

    failures = tuple(
        ClauseResult(
            f["target"],
            f["clause"],
            f["level"],
            f["kind"],
            f["outcome"],
            f["message"],
            seed=f["seed"],
        )
        for f in part["failures"]
    )
    return SoakResult(
        part["clause_runs"],
        failures,
        part["alpha_sum"],
        np.array(part["pvalues"], dtype=np.float64),
        part["uniformity_statistic"],
        part["uniformity_pvalue"],
        part["seconds"],
    )


def run_group(name: str, group: dict[str, Any], seeds: list[int], tmp: Path) -> dict[str, Any]:
    out = tmp / f"{name}.json"
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(out),
        "--seed-list",
        ",".join(map(str, seeds)),
        "--targets",
        *group["targets"],
    ]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env={**os.environ, **group["env"]},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"soak group {name} failed:\n{proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(out.read_text())
    data.update(
        group=name,
        targets=group["targets"],
        seeds=len(seeds),
        wall_seconds=time.perf_counter() - start,
    )
    print(
        f"[{name}] {len(group['targets'])} targets x {len(seeds)} seeds: {data['summary']}",
        flush=True,
    )
    return data


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, default=100, help="seeds for the reference targets")
    p.add_argument(
        "--framework-seeds",
        type=int,
        default=6,
        help="seeds for the framework targets (0: reference only)",
    )
    p.add_argument("--base-seed", type=int, default=BASE_SEED)
    p.add_argument("--keras", action="store_true", help="also the Keras targets")
    p.add_argument("--only", nargs="*", default=[], help="target names or name prefixes")
    p.add_argument(
        "--correct",
        action="store_true",
        help="also the independent second implementations (tests/impls.py), over the "
        "reference's seeds; results go to soak_correct.json",
    )
    p.add_argument("--jobs", type=int, default=2, help="groups run at once")
    p.add_argument("--note", default="", help="recorded with the result (e.g. the load)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--seed-list", help=argparse.SUPPRESS)
    p.add_argument("--targets", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.targets, [int(s) for s in args.seed_list.split(",")], args.child)
        return 0

    from dropspec.conformance import soak as soaks
    from dropspec.conformance.config import Config

    seeds = list(range(args.base_seed, args.base_seed + args.seeds))
    fw_seeds = seeds[: args.framework_seeds]
    groups, excluded = conforming_groups(args.keras, args.only)
    if args.correct:
        groups["correct"] = {"targets": list(correct_targets()), "env": {}, "reference": True}
    plan = [
        (name, g, seeds if g["reference"] else fw_seeds)
        for name, g in groups.items()
        if (seeds if g["reference"] else fw_seeds)
    ]
    # the longest groups first, so the two lanes end together
    plan.sort(key=lambda x: -len(x[1]["targets"]) * len(x[2]) * (1 if x[1]["reference"] else 8))
    load_before = load_average()
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="dropspec-soak-") as tmp,
        ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool,
    ):
        futures = [pool.submit(run_group, name, g, s, Path(tmp)) for name, g, s in plan]
        parts = [f.result() for f in futures]
    wall = time.perf_counter() - start
    load_after = load_average()

    merged = soaks.merged([_soak_result(part) for part in parts], wall)
    pv, failures = merged.pvalues, merged.failures
    print(merged.summary())
    for f in failures:
        print(f"  FAILURE {f.target} {f.clause_id} seed {f.seed}: {f.message[:300]}")
    cfg = Config()
    result = {
        "date": now(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "settings": {"alpha": cfg.alpha, "power": cfg.power, "device": cfg.device},
        "seeds": {
            "reference": len(seeds),
            "frameworks": len(fw_seeds),
            "first": args.base_seed,
            "keras": args.keras,
        },
        "targets": {g["group"]: g["targets"] for g in parts},
        "not_soaked": excluded,
        "clause_runs": merged.clause_runs,
        "failures": len(failures),
        "failure_details": [f for part in parts for f in part["failures"]],
        "alpha_sum": merged.alpha_sum,
        "exact_pvalues": int(pv.size),
        "uniformity": {
            "test": "Kolmogorov-Smirnov vs U(0, 1)",
            "statistic": merged.uniformity_statistic,
            "pvalue": merged.uniformity_pvalue,
        },
        "wall_seconds": round(wall, 1),
        "summary": merged.summary(),
        "note": args.note,
        "groups": [
            {k: v for k, v in part.items() if k not in ("pvalues", "failures")} for part in parts
        ],
    }
    if not args.no_write:
        name = "soak_correct.json" if args.correct else "soak.json"
        write_json(RESULTS / name, result)
        write_json(DOCS_DATA / name, result)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
