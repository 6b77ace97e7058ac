"""``dropspec power``: what each statistical check rules out at the current settings.

The table is measured, not computed on paper: it runs every statistical clause on the NumPy
reference targets and reports, for each sub-test, the test used, its share of alpha, the
sample size and the smallest deviation it detects with the configured power.
"""

from __future__ import annotations

from typing import Any

from ..spec import Kind, get_op
from .checks import rate_guarantee
from .engine import Config, run_clause


def power_rows(alpha: float, power: float) -> list[dict[str, Any]]:
    from ..adapters import builtin_targets

    config = Config(alpha=alpha, power=power)
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
                rows.append({"clause": clause.id, "target": name, "test": leaf.test,
                             "alpha": leaf.alpha, "n": leaf.n, "deviation": leaf.deviation,
                             "unit": leaf.deviation_unit, "power": leaf.power,
                             "inputs": {k: v for k, v in leaf.inputs.items()
                                        if k in ("rate", "axis", "k", "samples", "pairs")}})
    return rows


def power_table(alpha: float, power: float) -> str:
    rows = power_rows(alpha, power)
    lines = [f"alpha = {alpha} per clause check (split evenly among its sub-tests), "
             f"power = {power}", "",
             f"{'clause':32s} {'test':45s} {'alpha':>8s} {'n':>9s}  detects (power {power})"]
    for r in rows:
        extra = ", ".join(f"{k}={v}" for k, v in r["inputs"].items())
        lines.append(f"{r['clause']:32s} {r['test'][:45]:45s} {r['alpha']:8.2g} {r['n']:9d}  "
                     f"{r['unit']} >= {r['deviation']:.3g}  [{extra}]")
    lines += ["", rate_guarantee()]
    return "\n".join(lines)
