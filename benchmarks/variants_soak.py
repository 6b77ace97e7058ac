"""Correct targets under transformations, every clause, over many base seeds (issue 23).

Each variant target of ``dropspec check --all``'s default set (and any given with --spec) is
checked by every clause of its op at base seeds 1..N, one dtype per seed in rotation as
``tests/test_correct_implementations.py`` does; every failure is a false alarm. Writes
``benchmarks/results/variants_soak.json``.

    python benchmarks/variants_soak.py --seeds 20 [--spec 'equinox.nn.Dropout under jit' ...]
    python benchmarks/variants_soak.py --seeds 20 --layers   # issue 23's layers under variants

``--layers`` soaks the layers (``calls="stateful"``) under the variants that wrap each call
of a layer (:data:`LAYERS`): torch's own and an independent second layer
(``tests/impls_transformed.py``), so every state clause runs under the transformation.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine, now, write_json  # noqa: E402

from dropspec.adapters import default_set, load_target  # noqa: E402
from dropspec.conformance.soak import soak  # noqa: E402
from dropspec.dtypes import FLOAT_DTYPES  # noqa: E402
from dropspec.spec import Kind  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "variants_soak.json"
#: Layers under the variants that wrap their calls: torch's and a second implementation.
LAYERS = [
    "torch.nn.Dropout (stateful) under torch.checkpoint",
    "tests/impls_transformed.py:torch_layer under torch.checkpoint",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--spec", action="append", default=[])
    parser.add_argument("--layers", action="store_true", help="soak LAYERS")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    specs = args.spec or (LAYERS if args.layers else default_set())
    seeds = list(range(1, args.seeds + 1))
    load = os.getloadavg()
    rows = []
    for spec in specs:
        t = load_target(spec)
        if t.error:
            rows.append({"target": spec, "error": t.error})
            continue
        dtypes = t.dtypes or FLOAT_DTYPES  # in rotation, among those the target declares
        r = soak(
            [t],
            seeds,
            kinds=tuple(Kind),
            dtype_of_seed=lambda s, d=dtypes: d[s % len(d)],
        )
        rows.append(
            {
                "target": spec,
                "clause_runs": r.clause_runs,
                "failures": [f"{f.clause_id} seed={f.seed}: {f.message[:300]}" for f in r.failures],
                "seconds": round(r.seconds, 1),
            }
        )
        print(rows[-1]["target"], rows[-1]["clause_runs"], len(rows[-1]["failures"]), flush=True)
    write_json(
        args.out,
        {
            "benchmark": "variants_soak",
            "date": now(),
            "machine": machine(),
            "load_average_before": load[:3],
            "load_average_after": os.getloadavg()[:3],
            "seeds": seeds,
            "targets": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
