"""Shared helpers of the benchmark scripts: machine description, load, JSON output."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS_DATA = ROOT / "docs" / "_data"


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    try:
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem_gib: float | None = round(mem_kib / 2**20, 1)
    except (OSError, StopIteration):
        mem_gib = None
    return {
        "cpu": cpu_model(),
        "cpus": cpus,
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "env": {
            k: os.environ.get(k, "(unset)")
            for k in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
                "OMP_NUM_THREADS",
                "DROPSPEC_THREADS",
            )
        },
    }


def now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def update_docs_benchmarks(section: str, data: Any) -> None:
    """Set one section (``throughput``, ``check_all``, ``memory``) of docs/_data/benchmarks.json.

    The docs show the file's top-level fields as a table (long ones collapsed), so the file
    starts with one-line summaries of every section, followed by the sections themselves.
    """
    path = DOCS_DATA / "benchmarks.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    sections = {
        k: doc[k]
        for k in ("throughput", "check_all", "memory", "parallel", "plugin_cost")
        if k in doc
    }
    sections[section] = data
    write_json(path, {**summaries(sections), **sections})


def _machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m.get('cpus')}-CPU {m.get('cpu')}, {m.get('memory_gib')} GiB, Python {m.get('python')}"
    )


def summaries(sections: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    t = sections.get("throughput")
    if t:
        out["throughput"] = (
            f"{t['date']}, {_machine_line(t['machine'])}, load average "
            f"{t['load_average_before'][0]}: reference / fastest framework = "
            f"{t['reference_over_fastest_framework']} (need >= {t['required_ratio']}); "
            f"M elements/s (10^7 float32, rate 0.5): "
            + "; ".join(f"{r['name']} {r['melem_per_s']:.0f}" for r in t["rows"])
        )
    c = sections.get("check_all")
    if c:
        out["check_all"] = (
            f"{c['date']}, load average {c['load_average_before'][0]}: wall "
            f"{c['wall_seconds']} s (limit {c['wall_limit_seconds']:.0f}); {c['targets']} targets, "
            f"{c['clause_runs']} clause-runs; clause time {c['sum_seconds']} s, "
            f"{c['sum_target_seconds']} s in framework calls; suite's own share "
            f"{100 * c['suite_share']:.1f}% (limit {100 * c['suite_share_limit']:.0f}%); "
            f"lanes: " + ", ".join(f"{r['lane']} {r['seconds']} s" for r in c["lanes"])
        )
        out["check_all_per_target"] = "seconds (in framework calls): " + "; ".join(
            f"{r['target']} {r['seconds']} ({r['target_seconds']})" for r in c["per_target"]
        )
    m = sections.get("memory")
    if m:
        out["memory"] = (
            f"{m['date']}: {m['checks']} statistical checks, one process each; largest peak RSS "
            f"{m['max_peak_rss_mib']} MiB ({m['max_peak_check']}), limit "
            f"{m['limit_bytes'] / 2**20:.0f} MiB; largest increase during a check "
            f"{m['max_peak_increase_mib']} MiB; largest tracemalloc peak "
            f"{m['max_tracemalloc_peak_mib']} MiB"
        )
    par = sections.get("parallel")
    if par:
        walls = ", ".join(f"-j {r['jobs']} {r['wall_seconds']} s" for r in par["runs"])
        out["parallel"] = (
            f"{par['date']}: check --all {walls} (last: warm JAX cache); speed-up "
            f"{par['speedup_j2_over_j1']}x (target {par['speedup_target']}); same outcomes "
            f"clause for clause: {par['same_outcomes_j1_j2']}; JAX targets "
            f"{par['jax_seconds_cold']} s cold, {par['jax_seconds_warm']} s warm"
        )
    pc = sections.get("plugin_cost")
    if pc:
        out["plugin_cost"] = (
            f"{pc['measured']}: pytest collection of an unrelated project, median of "
            f"{pc['runs_each']}: {pc['median_with_plugin_s']} s with the plugin, "
            f"{pc['median_without_plugin_s']} s without, ratio {pc['ratio']} (limit "
            f"{pc['ratio_limit']}); heavy modules the plugin adds: "
            f"{'none' if pc['plugin_adds_no_heavy_module'] else 'SOME'}"
        )
    return {f"summary_{k}": v for k, v in out.items()}
