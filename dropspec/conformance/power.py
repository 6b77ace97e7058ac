"""``dropspec power``: what each statistical check rules out at the current settings.

The table is measured, not computed on paper: it runs every statistical clause on the NumPy
reference targets and reports, for each sub-test, the test used, its share of alpha, the
sample size and the smallest deviation it detects with the configured power. Beside each,
the detection rate measured by injecting its stated deviation at that very sub-test
(:mod:`.calibration`, kept in ``measured_power.json`` by the leaf's fingerprint), where a
claim is measured there, and below, those measurements.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ..spec import Kind, get_op
from .checks import rate_guarantee
from .checks._statistical import Leaf
from .config import Config
from .engine import run_clause


def power_rows(alpha: float, power: float) -> list[dict[str, Any]]:
    from ..adapters import builtin_targets

    config = Config(alpha=alpha, power=power)
    measured = measured_block(alpha, power)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name, target in builtin_targets().items():
        if not name.startswith("reference."):
            continue
        for clause in get_op(target.op).clauses:
            if clause.kind != Kind.STATISTICAL or clause.id in seen:
                continue
            if not clause.applies(target.options):
                continue
            seen.add(clause.id)
            result = run_clause(target, clause, config)
            if result.stat is None:
                continue
            for leaf in result.stat.leaves():
                rows.append(
                    {
                        "clause": clause.id,
                        "target": name,
                        "test": leaf.test,
                        "alpha": leaf.alpha,
                        "n": leaf.n,
                        "deviation": leaf.deviation,
                        "unit": leaf.deviation_unit,
                        "power": leaf.power,
                        "measured": measured_rate(
                            measured,
                            Leaf.of(clause.id, leaf.inputs.get("dtype", ""), leaf).fingerprint(),
                        ),
                        "inputs": {
                            k: v
                            for k, v in leaf.inputs.items()
                            if k in ("rate", "axis", "k", "samples", "pairs", "n_max", "m_max")
                        },
                    }
                )
    return rows


def measured_blocks() -> list[dict[str, Any]]:
    """The kept measurements (``benchmarks/power_claims.py``), one block per setting."""
    path = resources.files("dropspec.conformance").joinpath("measured_power.json")
    try:
        blocks: list[dict[str, Any]] = json.loads(path.read_text())["settings"]
    except (OSError, ValueError, KeyError):
        return []
    return blocks


def measured_block(alpha: float, power: float) -> list[dict[str, Any]]:
    """The measurements at the checks' own sizes for this alpha and power (or none)."""
    for block in measured_blocks():
        if not block["small"] and (block["alpha"], block["power"]) == (alpha, power):
            return list(block["measurements"])
    return []


def measured_rate(measured: list[dict[str, Any]], fingerprint: str) -> str:
    """'detected/runs' of the worst-detected measurement made at the leaf of this
    ``fingerprint`` (:meth:`~.checks._statistical.Leaf.fingerprint`), or '' if none."""
    same = [m for m in measured if m.get("fingerprint") == fingerprint]
    if not same:
        return ""
    worst = min(same, key=lambda m: m["detected"] / m["runs"])
    return f"{worst['detected']}/{worst['runs']}"


def measured_table(alpha: float, power: float) -> str:
    rows = measured_block(alpha, power)
    if not rows:
        return (
            f"No measured detection rates kept for alpha = {alpha}, power = {power} "
            "(python benchmarks/power_claims.py measures the defaults)."
        )
    lines = [
        "Measured: each test's stated deviation injected into simulated outputs of a "
        "correct target (dropspec.conformance.calibration)",
        "",
        f"{'claim':42s} {'alpha':>8s} {'n':>9s}  {'stated deviation':>16s} "
        f"{'detected':>10s} {'false alarms':>12s}",
    ]
    for m in rows:
        lines.append(
            f"{m['claim'][:42]:42s} {m['alpha']:8.2g} {m['n']:9d}  "
            f"{m['deviation']:16.4g} {m['detected']:>5d}/{m['runs']:<4d} "
            f"{m['null_rejected']:>7d}/{m['runs']:<4d}"
        )
    return "\n".join(lines)


def power_table(alpha: float, power: float) -> str:
    rows = power_rows(alpha, power)
    lines = [
        f"alpha = {alpha} per clause check (split evenly among its sub-tests), "
        f"power = {power}; measured: how often this very sub-test (the same leaf: "
        "clause, dtype, test, alpha, n and deviation) caught its stated deviation, injected, "
        "where a claim below is measured at it (the worst of its claims)",
        "",
        f"{'clause':32s} {'test':45s} {'alpha':>8s} {'n':>9s} {'measured':>9s}  "
        f"detects (power {power})",
    ]
    for r in rows:
        extra = ", ".join(f"{k}={v}" for k, v in r["inputs"].items())
        lines.append(
            f"{r['clause']:32s} {r['test'][:45]:45s} {r['alpha']:8.2g} {r['n']:9d} "
            f"{r['measured'] or '-':>9s}  "
            f"{r['unit']} >= {r['deviation']:.3g}  [{extra}]"
        )
    return "\n".join([*lines, "", rate_guarantee(), "", measured_table(alpha, power)])
