"""The stateful NumPy targets (the reference through the stateful convention, and a second,
independent layer, for each op with a layer-style API) over base seeds 1-20: every clause,
one dtype per seed in rotation, as ``tests/test_correct_implementations.py`` runs the seeded
correct targets.

    python benchmarks/stateful_soak.py [--seeds 20] [--ops alpha_dropout,drop_path] [--state-only]
        [--out F]

Result: ``benchmarks/results/stateful_soak.json`` (dropout's two layers) and
``benchmarks/results/stateful_soak_ops.json`` (alpha dropout, Gaussian dropout and drop path).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dropspec.adapters import builtin_targets
from dropspec.conformance.soak import soak
from dropspec.dtypes import FLOAT_DTYPES
from dropspec.spec import Kind

OUT = Path(__file__).resolve().parent / "results" / "stateful_soak.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--ops", help="only these ops' stateful targets (comma-separated)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--state-only",
        action="store_true",
        help="only the state clauses (*-STATE-*): the rest is each target's seeded convention",
    )
    args = parser.parse_args()
    ops = set(args.ops.split(",")) if args.ops else None
    targets = [
        t
        for n, t in builtin_targets().items()
        if n.startswith("stateful.") and (ops is None or t.op in ops)
    ]
    seeds = list(range(1, args.seeds + 1))
    result = soak(
        targets,
        seeds,
        kinds=tuple(Kind),
        dtype_of_seed=lambda s: FLOAT_DTYPES[s % len(FLOAT_DTYPES)],
        only=(lambda cid: "-STATE-" in cid) if args.state_only else None,
    )
    print(result.summary())
    args.out.write_text(
        json.dumps(
            {
                "targets": [t.name for t in targets],
                "clauses": "state clauses only" if args.state_only else "every clause",
                "seeds": seeds,
                "clause_runs": result.clause_runs,
                "failures": [f"{r.target} {r.clause_id}: {r.message}" for r in result.failures],
                "uniformity_pvalue": result.uniformity_pvalue,
                "seconds": round(result.seconds, 1),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
