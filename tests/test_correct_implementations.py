"""Two independent correct implementations of every op pass the whole suite over 20 seeds.

This is also the CI version of the false-alarm soak (issue 5): every clause-run of a correct
target that fails is a false alarm, and the collected p-values must be uniform. To keep it
affordable in CI now that every statistical clause runs in every dtype, each seed checks one
dtype, in rotation (float16, bfloat16, float32, float64: five seeds each); the long soak
(``benchmarks/soak.py``) runs every dtype for every seed. The 20-seed soak is in the slow tier
(CI runs it); the fast tier runs the same check at this run's replay seed (tests/replay.py).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from impls import CORRECT
from replay import rerun_hint

from dropspec.adapters import builtin_targets
from dropspec.conformance.soak import SoakResult, merged, soak
from dropspec.dtypes import FLOAT_DTYPES
from dropspec.spec import OPS, Kind

SEEDS = range(1, 21)
REFERENCE = [t for n, t in builtin_targets().items() if n.startswith("reference.")]


def test_every_op_has_two_correct_implementations() -> None:
    for op in OPS:
        assert any(t.op == op for t in CORRECT), op
        assert any(t.op == op for t in REFERENCE), op


def rotation(seed: int) -> str:
    return FLOAT_DTYPES[seed % len(FLOAT_DTYPES)]


def soak_seeds(seeds: list[int]) -> SoakResult:
    """Every clause of every correct target at ``seeds`` (in a worker process of the test
    below: module-level, so that a spawned process can import it)."""
    return soak([*REFERENCE, *CORRECT], seeds, kinds=tuple(Kind), dtype_of_seed=rotation)


@pytest.mark.slow
def test_correct_implementations_pass_over_20_seeds() -> None:
    """The 20 seeds, split over one process per core (the seeds are independent, and the
    merged result is the same as one process's: its runs, failures and p-values)."""
    start = time.perf_counter()
    procs = max(1, min(len(SEEDS), os.cpu_count() or 1))
    shares = [list(SEEDS)[i::procs] for i in range(procs)]
    with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = merged(list(pool.map(soak_seeds, shares)), time.perf_counter() - start)
    assert sorted(s for share in shares for s in share) == list(SEEDS)
    print(result.summary())
    failures = "\n".join(
        f"{r.target} {r.clause_id} seed={r.seed}: {r.message}" for r in result.failures
    )
    assert not result.failures, failures
    assert result.clause_runs >= 1000
    # Second level: exact p-values of correct targets are uniform (alpha 1e-6).
    assert result.uniformity_pvalue >= 1e-6, result.summary()


def test_correct_implementations_pass_at_the_replay_seed(replay_seed: int) -> None:
    """One seed of the soak above, the run's replay seed: every clause of every correct
    target, in the dtype the rotation gives that seed, and its p-values uniform."""
    result = soak([*REFERENCE, *CORRECT], [replay_seed], kinds=tuple(Kind), dtype_of_seed=rotation)
    print(result.summary())
    failures = "\n".join(
        f"{r.target} {r.clause_id} seed={r.seed}: {r.message}" for r in result.failures
    )
    assert not result.failures, f"{failures}\n{rerun_hint(replay_seed)}"
    assert result.clause_runs >= 1000 // len(SEEDS)
    assert result.uniformity_pvalue >= 1e-6, f"{result.summary()}\n{rerun_hint(replay_seed)}"
