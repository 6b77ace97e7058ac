"""What the dropspec pytest plugin costs a project that does not use it.

    python benchmarks/plugin_cost.py [--runs N] [--no-write]

Makes an unrelated one-test project in a temporary directory and times
``python -m pytest --collect-only -q`` there, ``N`` times with the plugin installed (as it is
for every project where dropspec is installed: the ``pytest11`` entry point) and ``N`` times
with ``-p no:dropspec``, interleaved so that machine load hits both alike. Reports the ratio of
the medians (target: at most 1.05) and which heavy modules each variant had imported when
collection finished (target: the plugin adds none; NumPy in particular).

Results: ``benchmarks/results/plugin_cost.json`` and the ``plugin_cost`` section of
``docs/_data/benchmarks.json``.
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

from _common import RESULTS, load_average, machine, now, update_docs_benchmarks, write_json

HEAVY = (
    "numpy",
    "scipy",
    "hypothesis.strategies",
    "torch",
    "jax",
    "tensorflow",
    "dropspec.reference",
    "dropspec.conformance.engine",
)
RATIO_LIMIT = 1.05

CONFTEST = textwrap.dedent(f"""
    import sys
    def pytest_collection_finish(session):
        print("HEAVY:", [m for m in {HEAVY!r} if m in sys.modules])
""")


def one_run(project: Path, *extra: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            *extra,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    heavy = next(ln for ln in proc.stdout.splitlines() if ln.startswith("HEAVY:"))
    return wall, heavy


def measure(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dropspec-plugin-cost-") as tmp:
        project = Path(tmp)
        (project / "conftest.py").write_text(CONFTEST)
        (project / "test_unrelated.py").write_text("def test_it():\n    assert 1 + 1 == 2\n")
        one_run(project)  # warm the file system caches for both variants
        with_plugin: list[float] = []
        without: list[float] = []
        heavy_with = heavy_without = ""
        for _ in range(runs):
            wall, heavy_with = one_run(project)
            with_plugin.append(wall)
            wall, heavy_without = one_run(project, "-p", "no:dropspec")
            without.append(wall)
    ratio = statistics.median(with_plugin) / statistics.median(without)
    return {
        "runs_each": runs,
        "median_with_plugin_s": round(statistics.median(with_plugin), 4),
        "median_without_plugin_s": round(statistics.median(without), 4),
        "ratio": round(ratio, 4),
        "ratio_limit": RATIO_LIMIT,
        "heavy_modules_with_plugin": heavy_with,
        "heavy_modules_without_plugin": heavy_without,
        "plugin_adds_no_heavy_module": heavy_with == heavy_without,
        "numpy_imported_by_plugin": "numpy" in heavy_with and "numpy" not in heavy_without,
        "meets_targets": ratio <= RATIO_LIMIT and heavy_with == heavy_without,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    load_before = load_average()
    result = {
        "measured": now(),
        "machine": machine(),
        "load_before": load_before,
        **measure(args.runs),
        "load_after": load_average(),
    }
    print(
        f"median collection: {result['median_with_plugin_s']:.3f} s with the plugin, "
        f"{result['median_without_plugin_s']:.3f} s without: ratio {result['ratio']:.3f} "
        f"(limit {RATIO_LIMIT}); {result['heavy_modules_with_plugin']} with, "
        f"{result['heavy_modules_without_plugin']} without"
    )
    if not args.no_write:
        write_json(RESULTS / "plugin_cost.json", result)
        update_docs_benchmarks("plugin_cost", result)
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
