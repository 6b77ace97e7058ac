"""Dropout throughput: the NumPy reference against the frameworks' own CPU dropout.

    python benchmarks/throughput.py [--elements N] [--repeats R] [--no-keras] [--no-write]

Every implementation drops out the same 10**7 float32 elements at rate 0.5 in training mode;
inputs are already in the framework's array type, so only the dropout itself is timed (output
allocation included, as a user pays it). After a warm-up, the implementations are timed round
robin, ``--repeats`` times each, so a load change hits all of them alike; the median is
reported as millions of elements per second, with the ratio of the reference to the fastest
framework (issue 5 asks for at least 1.2) and to a plain ``np.copy`` (the memory ceiling).

Keras picks its backend at import, so each Keras backend runs in a subprocess of this script.
Results: ``benchmarks/results/throughput.json`` and the ``throughput`` section of
``docs/_data/benchmarks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import RESULTS, load_average, machine, now, update_docs_benchmarks, write_json

RATE = 0.5
Impl = tuple[str, str, Callable[[int], Any]]  # name, kind ("reference"/"framework"/"ceiling")


def numpy_impls(x: np.ndarray) -> list[Impl]:
    import dropspec.reference as ref

    return [
        ("numpy: dropspec.reference.dropout", "reference", lambda i: ref.dropout(x, RATE, seed=i)),
        ("numpy: np.copy (memory ceiling)", "ceiling", lambda i: np.copy(x)),
    ]


def torch_impls(x: np.ndarray) -> list[Impl]:
    import torch

    t = torch.from_numpy(x.copy())
    f = torch.nn.functional.dropout
    return [
        (
            f"torch {torch.__version__}: F.dropout ({torch.get_num_threads()} threads)",
            "framework",
            lambda i: f(t, RATE, training=True),
        )
    ]


def tensorflow_impls(x: np.ndarray) -> list[Impl]:
    import tensorflow as tf

    t = tf.constant(x)

    def stateless(i: int) -> Any:
        return tf.nn.experimental.stateless_dropout(t, RATE, seed=[i, 0])

    return [
        (
            f"tensorflow {tf.__version__}: tf.nn.dropout",
            "framework",
            lambda i: tf.nn.dropout(t, RATE),
        ),
        (
            f"tensorflow {tf.__version__}: tf.nn.experimental.stateless_dropout",
            "framework",
            stateless,
        ),
    ]


def jax_impls(x: np.ndarray) -> list[Impl]:
    import jax
    import jax.numpy as jnp

    t = jnp.asarray(x)

    @jax.jit
    def drop(key: Any, v: Any) -> Any:
        keep = jax.random.bernoulli(key, 1.0 - RATE, v.shape)
        return jnp.where(keep, v / (1.0 - RATE), 0.0)

    impls: list[Impl] = [
        (
            f"jax {jax.__version__}: jit(bernoulli + where)",
            "framework",
            lambda i: drop(jax.random.key(i), t).block_until_ready(),
        )
    ]
    try:
        import flax
        import flax.linen as nn

        layer = nn.Dropout(RATE, deterministic=False)
        apply = jax.jit(lambda key, v: layer.apply({}, v, rngs={"dropout": key}))
        impls.append(
            (
                f"flax {flax.__version__}: jit(linen.Dropout)",
                "framework",
                lambda i: apply(jax.random.key(i), t).block_until_ready(),
            )
        )
    except ImportError:
        pass
    return impls


def keras_impls(x: np.ndarray) -> list[Impl]:
    import keras

    backend = keras.backend.backend()
    t = keras.ops.convert_to_tensor(x)
    fn = keras.random.dropout
    if backend == "jax":
        import jax

        def run(i: int) -> Any:
            return jax.block_until_ready(fn(t, RATE, seed=i))
    else:

        def run(i: int) -> Any:
            return fn(t, RATE, seed=i)

    return [(f"keras {keras.__version__}[{backend}]: keras.random.dropout", "framework", run)]


def measure(
    impls: list[Impl], n: int, repeats: int, warmup: int, passes: int = 3
) -> list[dict[str, Any]]:
    """Median seconds per call: ``passes`` rounds over the implementations, each running one
    implementation's share of the repeats back to back after its warm-up (interleaving single
    calls would time each implementation with the previous one's thread pools still spinning).
    """
    times: dict[str, list[float]] = {name: [] for name, _, _ in impls}
    per_pass = max(1, -(-repeats // passes))
    for p in range(passes):
        for name, _, fn in impls:
            for i in range(warmup):
                fn(i)
            for rep in range(per_pass):
                start = time.perf_counter()
                fn(1000 + p * per_pass + rep)
                times[name].append(time.perf_counter() - start)
    rows = []
    for name, kind, _ in impls:
        med = float(np.median(times[name]))
        rows.append(
            {
                "name": name,
                "kind": kind,
                "median_ms": round(med * 1e3, 3),
                "min_ms": round(min(times[name]) * 1e3, 3),
                "melem_per_s": round(n / med / 1e6, 1),
            }
        )
    return rows


def _input(n: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(n).astype(np.float32)


def keras_subprocess(backend: str, n: int, repeats: int, warmup: int) -> list[dict[str, Any]]:
    env = {**os.environ, "KERAS_BACKEND": backend}
    cmd = [
        sys.executable,
        __file__,
        "--keras-child",
        "--elements",
        str(n),
        "--repeats",
        str(repeats),
        "--warmup",
        str(warmup),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"keras[{backend}] failed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return []
    rows: list[dict[str, Any]] = json.loads(lines[-1])["rows"]
    for r in rows:
        r["note"] = "separate process (Keras picks its backend at import)"
    return rows


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--elements", type=int, default=10**7)
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--no-keras", action="store_true")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--keras-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    x = _input(args.elements)
    if args.keras_child:
        print(
            json.dumps({"rows": measure(keras_impls(x), args.elements, args.repeats, args.warmup)})
        )
        return 0

    load_before = load_average()
    impls = numpy_impls(x)
    skipped = []
    for loader in (torch_impls, tensorflow_impls, jax_impls):
        try:
            impls += loader(x)
        except ImportError as exc:
            skipped.append(f"{loader.__name__}: {exc}")
    rows = measure(impls, args.elements, args.repeats, args.warmup)
    if not args.no_keras:
        for backend in ("tensorflow", "jax", "torch"):
            rows += keras_subprocess(backend, args.elements, args.repeats, args.warmup)
    load_after = load_average()

    ref = next(r for r in rows if r["kind"] == "reference")
    frameworks = [r for r in rows if r["kind"] == "framework"]
    fastest = max(frameworks, key=lambda r: r["melem_per_s"])
    for r in rows:
        r["ratio_reference_to_this"] = round(ref["melem_per_s"] / r["melem_per_s"], 2)
    result = {
        "benchmark": "dropout throughput, float32, rate 0.5, training",
        "elements": args.elements,
        "repeats": args.repeats,
        "date": now(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "rows": rows,
        "fastest_framework": fastest["name"],
        "reference_over_fastest_framework": round(ref["melem_per_s"] / fastest["melem_per_s"], 2),
        "reference_over_copy": round(
            ref["melem_per_s"] / next(r for r in rows if r["kind"] == "ceiling")["melem_per_s"], 2
        ),
        "required_ratio": 1.2,
        "skipped": skipped,
    }
    result["meets_requirement"] = result["reference_over_fastest_framework"] >= 1.2

    print(f"{'implementation':64s} {'median ms':>9s} {'M el/s':>8s} {'ref/this':>8s}")
    for r in rows:
        print(
            f"{r['name']:64s} {r['median_ms']:9.2f} {r['melem_per_s']:8.0f} "
            f"{r['ratio_reference_to_this']:8.2f}"
        )
    print(
        f"reference / fastest framework ({fastest['name']}): "
        f"{result['reference_over_fastest_framework']:.2f} (need >= 1.2); "
        f"load average before {load_before}, after {load_after}"
    )
    if not args.no_write:
        write_json(RESULTS / "throughput.json", result)
        update_docs_benchmarks("throughput", result)
    return 0 if result["meets_requirement"] else 1


if __name__ == "__main__":
    sys.exit(main())
