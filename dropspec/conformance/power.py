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


def power_table(alpha: float, power: float, *, verbose: bool = False) -> str:
    """The table ``dropspec power`` prints: one line per clause and kind of test (how many
    sub-tests, their alpha, n, worst measured detection and the deviations they detect),
    or with ``verbose`` one line per sub-test; then the guarantee on rates and the kept
    measurements."""
    rows = power_rows(alpha, power)
    head = (
        f"alpha = {alpha} per clause check (split evenly among its sub-tests), "
        f"power = {power}; measured: how often this very sub-test (the same leaf: "
        "clause, dtype, test, alpha, n and deviation) caught its stated deviation, injected, "
        "where a claim below is measured at it (the worst of its claims)"
    )
    lines = [head, "", *(_every_row(rows, power) if verbose else _summary(rows, power))]
    if not verbose:
        lines += [
            "",
            f"({len(rows)} sub-tests in all; `dropspec power --verbose` prints each of them)",
        ]
    return "\n".join([*lines, "", rate_guarantee(), "", measured_table(alpha, power)])


def _every_row(rows: list[dict[str, Any]], power: float) -> list[str]:
    lines = [
        f"{'clause':32s} {'test':45s} {'alpha':>8s} {'n':>9s} {'measured':>9s}  "
        f"detects (power {power})"
    ]
    for r in rows:
        extra = ", ".join(f"{k}={v}" for k, v in r["inputs"].items())
        lines.append(
            f"{r['clause']:32s} {r['test'][:45]:45s} {r['alpha']:8.2g} {r['n']:9d} "
            f"{r['measured'] or '-':>9s}  "
            f"{r['unit']} >= {r['deviation']:.3g}  [{extra}]"
        )
    return lines


def _span(values: list[float], fmt: str) -> str:
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}..{high}"


def _summary(rows: list[dict[str, Any]], power: float) -> list[str]:
    """One line per clause and kind of test: the number of its sub-tests and the span of
    their alpha, n and detected deviation; measured, the worst of the measured ones."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["clause"], r["test"], r["unit"]), []).append(r)
    lines = [
        f"{'clause':32s} {'test':45s} {'tests':>5s} {'alpha':>17s} {'n':>19s} "
        f"{'measured':>9s}  detects (power {power})"
    ]
    for (clause, test, unit), group in groups.items():
        measured = [r["measured"] for r in group if r["measured"]]
        worst = min(
            measured, key=lambda m: int(m.split("/")[0]) / int(m.split("/")[1]), default="-"
        )
        lines.append(
            f"{clause:32s} {test[:45]:45s} {len(group):5d} "
            f"{_span([r['alpha'] for r in group], '.2g'):>17s} "
            f"{_span([r['n'] for r in group], 'd'):>19s} {worst:>9s}  "
            f"{unit} >= {_span([r['deviation'] for r in group], '.3g')}"
        )
    return lines
