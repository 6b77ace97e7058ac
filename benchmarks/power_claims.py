"""Measured power of every statistical test, and the two corrections of issue 10 measured.

    python benchmarks/power_claims.py --write [--skip-before] [--only NAME]

Without ``--write`` it measures and prints, and writes nothing.

1. Runs :func:`dropspec.conformance.calibration.measure_all` at the suite's defaults
   (alpha 1e-6 per check, power 0.999, each claim at its leaf of the checks' plans: their
   own alpha split and sizes) and at the relaxed settings of ``tests/test_power_claims.py``
   (alpha 1e-2, power 0.9, small sizes for the slow claims), and writes both, each
   measurement with its leaf's fingerprint, to
   ``dropspec/conformance/measured_power.json``: what ``dropspec power`` and the docs show
   beside each claim, and what the tests re-measure (relaxed) or re-check (defaults).
2. Unless ``--skip-before``: the false-alarm rate of the drop-count histogram test across
   calls, Pearson's chi-square (the test before, re-implemented here) against the per-bin
   exact test (now), over ``--gof-draws`` correct histograms (k = 24, n = 2^15) at
   alpha = 1e-2 ... 1e-5; and the real detection rate of the old NO-PERIOD claim (the
   threshold t/(2n)) at the defaults. Result: ``benchmarks/results/power_claims.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np
from _common import RESULTS, ROOT, load_average, machine, now, write_json
from scipy import stats as sst

from dropspec.conformance import calibration
from dropspec.conformance import stats as st
from dropspec.conformance.checks._statistical import Leaf

PACKAGE_FILE = ROOT / "dropspec" / "conformance" / "measured_power.json"
SEED = 20261127  # tests/test_power_claims.py uses the same seed for the relaxed block
ALPHAS = (1e-2, 1e-3, 1e-4, 1e-5)


def measured(alpha: float, power: float, small: bool, only: str = "") -> dict[str, Any]:
    start = time.perf_counter()
    rows = calibration.measure_all(alpha, power, small=small, seed=SEED, only=only)
    for m in rows:
        print(
            f"  {m.claim:42s} n={m.n:>9,} {m.unit} >= {m.deviation:.4g}: "
            f"{m.detected}/{m.runs} detected, {m.null_rejected} false alarms",
            flush=True,
        )
    return {
        "alpha": alpha,
        "power": power,
        "small": small,
        "seed": SEED,
        "seconds": round(time.perf_counter() - start, 1),
        "measurements": [m.as_dict() for m in rows],
    }


def remeasure(only: str, write: bool) -> None:
    """Measure again the claims named by ``only`` at both settings and put them in place of
    their rows in the kept file (after a change to those checks' sizes)."""
    kept = json.loads(PACKAGE_FILE.read_text())
    for block in kept["settings"]:
        print(f"alpha {block['alpha']}, power {block['power']}, small {block['small']}:")
        fresh = measured(block["alpha"], block["power"], block["small"], only)
        rows = [m for m in block["measurements"] if only not in m["claim"]]
        block["measurements"] = sorted(rows + fresh["measurements"], key=lambda m: m["seed"])
        block.setdefault("remeasured", []).append(
            {"only": only, "at": now(), "seconds": fresh["seconds"]}
        )
    if write:
        write_json(PACKAGE_FILE, kept)


def pearson_pvalues(histograms: np.ndarray, pmf: np.ndarray) -> np.ndarray:
    """The test before: Pearson's chi-square, bins pooled left to right until the expected
    count reaches 5, the remainder joined to the last bin."""
    n = int(histograms[0].sum())
    expected = pmf * n
    groups: list[list[int]] = []
    current: list[int] = []
    acc = 0.0
    for j, e in enumerate(expected):
        current.append(j)
        acc += e
        if acc >= 5.0:
            groups.append(current)
            current, acc = [], 0.0
    groups[-1] += current
    member = np.zeros((len(pmf), len(groups)))
    for g, bins in enumerate(groups):
        member[bins, g] = 1.0
    obs, exp = histograms @ member, expected @ member
    stat = ((obs - exp) ** 2 / exp).sum(axis=1)
    return np.asarray(sst.chi2.sf(stat, len(groups) - 1))


def gof_null(draws: int) -> dict[str, Any]:
    k, rate, n, chunk = 24, 0.5, 1 << 15, 200_000
    pmf = sst.binom.pmf(np.arange(k + 1), k, rate)
    # The per-bin p-values through one table per bin (checked against the suite's own
    # histogram_gof_pvalue below), so that 10^7 histograms take minutes, not hours.
    counts = np.arange(n + 1)
    tails = np.minimum(
        sst.binom.cdf(counts[:, None], n, pmf), sst.binom.sf(counts[:, None] - 1, n, pmf)
    )
    table = np.minimum(1.0, 2.0 * tails)  # [count, bin]
    rng = np.random.default_rng(SEED + 1)
    before = np.zeros(len(ALPHAS), dtype=np.int64)
    after = np.zeros(len(ALPHAS), dtype=np.int64)
    done = 0
    while done < draws:
        h = rng.multinomial(n, pmf, size=min(chunk, draws - done))
        old = pearson_pvalues(h, pmf)
        new = np.minimum(1.0, (k + 1) * table[h, np.arange(k + 1)].min(axis=1))
        if done == 0:
            assert np.allclose(new[:1000], st.histogram_gof_pvalue(h[:1000], rate))
        for i, a in enumerate(ALPHAS):
            before[i] += int((old < a).sum())
            after[i] += int((new < a).sum())
        done += len(h)
    rows = []
    for i, a in enumerate(ALPHAS):
        rows.append(
            {
                "alpha": a,
                "expected_at_alpha": a * draws,
                "pearson_rejections": int(before[i]),
                "pearson_ratio": round(before[i] / (a * draws), 3),
                "pearson_excess_pvalue": float(
                    sst.binomtest(int(before[i]), draws, a, alternative="greater").pvalue
                ),
                "per_bin_rejections": int(after[i]),
                "per_bin_ratio": round(after[i] / (a * draws), 3),
            }
        )
        print(
            f"  alpha {a:g}: Pearson {rows[-1]['pearson_ratio']}x alpha, "
            f"per-bin exact {rows[-1]['per_bin_ratio']}x alpha",
            flush=True,
        )
    return {"k": k, "rate": rate, "n": n, "draws": draws, "rows": rows}


def old_no_period(runs: int) -> dict[str, Any]:
    """The old NO-PERIOD claim, t/(2n) with t = sqrt(2n·ln(2·lags/alpha)), injected."""
    alpha, power, n = 1e-6, 0.999, 1 << 20
    lags = n // 2
    old = math.sqrt(2.0 * n * math.log(2.0 * lags / alpha)) / (2.0 * n)
    out: dict[str, Any] = {
        "alpha": alpha,
        "power": power,
        "n": n,
        "runs": runs,
        "old_deviation": old,
    }
    for lag in (7, lags):
        leaf = Leaf("DROPOUT-NO-PERIOD", "float32", calibration.FFT, alpha / 2, n, old, "", power)
        sample = calibration.no_period(lag)(leaf)
        rng = np.random.default_rng(SEED + lag)
        hits = sum(not sample(rng, old).passed for _ in range(runs))
        out[f"detected_at_lag_{lag}"] = hits
        print(f"  old NO-PERIOD claim {old:.4g} at lag {lag}: {hits}/{runs} detected", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gof-draws", type=int, default=10_000_000)
    parser.add_argument("--old-no-period-runs", type=int, default=200)
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument(
        "--write",
        action="store_true",
        help="write the measurements to dropspec/conformance/measured_power.json (and the "
        "before/after results to benchmarks/results/power_claims.json)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="remeasure only the claims whose name contains this (e.g. 'no period') and "
        "replace those rows of measured_power.json, keeping the others",
    )
    args = parser.parse_args()
    started, load = now(), load_average()
    if args.only:
        remeasure(args.only, args.write)
        return
    print("relaxed settings (tests/test_power_claims.py):")
    relaxed = measured(1e-2, 0.9, small=True)
    print("defaults:")
    defaults = measured(1e-6, 0.999, small=False)
    if not args.write:
        return
    write_json(
        PACKAGE_FILE,
        {
            "about": "Detection of each test's stated deviation and false alarms on a correct "
            "target, simulated (dropspec.conformance.calibration); regenerate with "
            f"{calibration.REMEASURE}",
            "measured": started,
            "settings": [defaults, relaxed],
        },
    )
    if args.skip_before:
        return
    print("calls histogram test under the null, before and after:")
    gof = gof_null(args.gof_draws)
    print("old NO-PERIOD claim:")
    period = old_no_period(args.old_no_period_runs)
    write_json(
        RESULTS / "power_claims.json",
        {
            "measured": started,
            "machine": machine(),
            "load_before": load,
            "load_after": load_average(),
            "seconds": {"relaxed": relaxed["seconds"], "defaults": defaults["seconds"]},
            "gof_null": gof,
            "old_no_period": period,
        },
    )


if __name__ == "__main__":
    main()
