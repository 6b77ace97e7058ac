"""What isolating targets costs: the fingerprint guard per clause, a fresh worker per target.

    python benchmarks/isolation.py [--targets N] [--no-write]

Two figures, each beside the machine's load:

- the guard: seconds one comparison of the fingerprints takes in a worker (dropspec's code,
  ``json``, ``builtins`` and the spec, made after every clause; and the NumPy, SciPy and
  hypothesis modules, made after every clause of a user's target and once per built-in
  target), the median of 50;
- a fresh worker: ``dropspec check`` on 1 and on N copies of a NumPy target file with one
  cheap clause (``DROPOUT-SHAPE``), one worker slot; each user target gets a process of its
  own, so (t_N - t_1) / (N - 1) is what one more user target costs, its check included.

``dropspec check`` on the reference and ``check --all -j 2`` are timed as the README says
(``time dropspec check``), not here: their budgets (20 s, 5 minutes) include this cost.
Results: ``benchmarks/results/isolation.json``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, load_average, machine, now, write_json

TARGET = textwrap.dedent("""
    import dropspec

    @dropspec.target("dropout", name="bench")
    def bench(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)
""")


def guard_seconds(reps: int = 50) -> dict[str, float]:
    from dropspec.conformance import checks as _checks  # noqa: F401
    from dropspec.conformance.worker import Guard

    guard = Guard()
    out = {}
    for numerics in (False, True):
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            assert not guard.changed(numerics=numerics)
            times.append(time.perf_counter() - start)
        out["own_and_numerics" if numerics else "own"] = round(statistics.median(times), 5)
    return out


def check_seconds(folder: Path, n: int) -> float:
    specs = [f"t{i}.py:bench" for i in range(n)]
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "dropspec.cli", "check", *specs, "--clause", "DROPOUT-SHAPE", "-q"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 4:
        raise SystemExit(f"dropspec check failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = load_average()
    guard = guard_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.targets):
            (folder / f"t{i}.py").write_text(TARGET)
        one = check_seconds(folder, 1)
        many = check_seconds(folder, args.targets)
    result: dict[str, Any] = {
        "measured": now(),
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_average(),
        "guard_seconds_per_comparison": guard,
        "check_seconds": {"1": round(one, 2), str(args.targets): round(many, 2)},
        "seconds_per_more_user_target": round((many - one) / (args.targets - 1), 2),
    }
    print(result)
    if not args.no_write:
        write_json(RESULTS / "isolation.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
