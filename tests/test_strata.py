"""Faults confined to one stratum of the input space (issue 21, part 2).

Each wrong target below is dropout (or drop path) done right except in one stratum: the tail
lanes of a row (its last ``n mod w`` elements), inputs under 1,000 elements, rank 1, the
first element of each row, or batches of some sizes. Drawn on large rank-3 inputs only, the
statistical clauses missed five of these seven (before the strata: only the first element,
through the many small calls, and the batch above 64 were caught); the strata of RATE,
UNBIASED and VARIANCE (tiny, small, medium and large calls, every rank from 1 to 5, rows 63
modulo 64 long where they can be: ``checks/_strata.py``) must catch every one at the
default alpha and power, while the reference passes. They run in float32 only, to keep the
fast tier fast: these faults do not depend on the dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dropspec.conformance import Config, run_target
from dropspec.reference import drop_path, dropout
from dropspec.target import Target, make_target

#: The vector width the wrong kernels below process rows in.
WIDTH = 8
#: The clauses the strata live in.
CLAUSES = {
    "dropout": ("DROPOUT-RATE", "DROPOUT-UNBIASED", "DROPOUT-VARIANCE"),
    "drop_path": ("DROPPATH-RATE", "DROPPATH-UNBIASED", "DROPPATH-VARIANCE"),
}

Kernel = Callable[..., np.ndarray]


def _mask(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """A correct keep mask of x's shape at ``rate`` (the reference's own)."""
    _, keep = dropout(np.ones_like(x), rate, seed=seed, return_mask=True)
    return np.asarray(keep, dtype=bool)


def _apply(
    x: np.ndarray, keep: np.ndarray, rate: float, scale: np.ndarray | None = None
) -> np.ndarray:
    s = x.dtype.type(1.0 / (1.0 - rate)) if scale is None else scale
    return np.where(keep, x * s, np.zeros((), x.dtype)).astype(x.dtype)


def _tail(shape: tuple[int, ...]) -> np.ndarray:
    """The last (n mod WIDTH) lanes of every row (along the last axis) that holds at least
    one whole vector before them."""
    n = shape[-1] if shape else 1
    lanes = np.arange(n)
    row = (n >= WIDTH) & (lanes >= n - n % WIDTH)
    return np.broadcast_to(row, shape) if shape else np.zeros((), bool)


def wrapped(fault: Callable[[np.ndarray, float, int], np.ndarray]) -> Kernel:
    """A dropout kernel that is the reference in inference, at rates 0 and 1, and
    ``fault`` otherwise."""

    def kernel(x: np.ndarray, rate: float, *, training: bool = True, seed: int) -> np.ndarray:
        if not training or rate in (0.0, 1.0):
            return dropout(x, rate, training=training, seed=seed)
        return fault(x, rate, seed)

    return kernel


def tail_never_dropped(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    return _apply(x, _mask(x, rate, seed) | _tail(x.shape), rate)


def small_inverts_rate(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    # keeps with probability `rate` below 1,000 elements, scales as declared
    keep = _mask(x, 1.0 - rate, seed) if x.size < 1000 else _mask(x, rate, seed)
    return _apply(x, keep, rate)


def rank1_wrong_rate(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    actual = min(rate + 0.1, 0.99) if x.ndim == 1 else rate
    return _apply(x, _mask(x, actual, seed), rate)


def tail_unscaled(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    s = np.where(_tail(x.shape), x.dtype.type(1.0), x.dtype.type(1.0 / (1.0 - rate)))
    return _apply(x, _mask(x, rate, seed), rate, s.astype(x.dtype))


def first_never_dropped(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    first = np.zeros(x.shape, bool)
    if x.ndim:
        first[..., 0] = True
    return _apply(x, _mask(x, rate, seed) | first, rate)


def per_batch(above: int | None = None, at_most: int | None = None) -> Kernel:
    """Drop path whose mask is one value for the whole batch when the batch is larger than
    ``above`` (or at most ``at_most``)."""

    def kernel(x: np.ndarray, rate: float, *, training: bool = True, seed: int) -> np.ndarray:
        shared = (above is not None and x.shape[0] > above) or (
            at_most is not None and x.shape[0] <= at_most
        )
        if not training or rate in (0.0, 1.0) or not shared:
            return drop_path(x, rate, training=training, seed=seed)
        keep = np.random.default_rng(seed).random() >= rate
        return _apply(x, np.full(x.shape, keep), rate)

    return kernel


def wrong(name: str, kernel: Kernel, op: str = "dropout") -> Target:
    return make_target(kernel, op, name=name, dtypes=("float32",))


#: name -> (target, what it gets wrong)
WRONG: dict[str, tuple[Target, str]] = {
    "tail-never-dropped": (
        wrong("tail-never-dropped", wrapped(tail_never_dropped)),
        f"the last (n mod {WIDTH}) lanes of every row are never dropped",
    ),
    "small-inverts-rate": (
        wrong("small-inverts-rate", wrapped(small_inverts_rate)),
        "below 1,000 elements the keep probability is the rate",
    ),
    "rank1-wrong-rate": (
        wrong("rank1-wrong-rate", wrapped(rank1_wrong_rate)),
        "rank-1 inputs drop at rate + 0.1",
    ),
    "tail-unscaled": (
        wrong("tail-unscaled", wrapped(tail_unscaled)),
        f"kept values in the last partial vector of a row (width {WIDTH}) are not scaled",
    ),
    "first-never-dropped": (
        wrong("first-never-dropped", wrapped(first_never_dropped)),
        "the first element of every row is never dropped",
    ),
    "drop-path-per-batch-above-64": (
        wrong("drop-path-per-batch-above-64", per_batch(above=64), "drop_path"),
        "drop path shares one mask value across the batch above 64 examples",
    ),
    "drop-path-per-batch-small": (
        wrong("drop-path-per-batch-small", per_batch(at_most=64), "drop_path"),
        "drop path shares one mask value across batches of at most 64 examples",
    ),
}


def caught(target: Target, seed: int | None = None) -> list[str]:
    """The clauses (of RATE, UNBIASED, VARIANCE) that fail on ``target`` at the defaults
    (at base seed ``seed``, where given)."""
    config = Config() if seed is None else Config(seed=seed)
    results = run_target(target, clauses=CLAUSES[target.op], config=config)
    crashed = [r for r in results if "the target raised" in r.message]
    assert not crashed, crashed[0].message
    return [r.clause_id for r in results if r.outcome == "failed"]


@pytest.mark.parametrize("name", list(WRONG))
def test_a_fault_in_one_stratum_is_caught(name: str) -> None:
    target, what = WRONG[name]
    assert caught(target), f"{name} ({what}) passed RATE, UNBIASED and VARIANCE"


@pytest.mark.parametrize(
    "target",
    [
        make_target(dropout, "dropout", name="reference", dtypes=("float32",)),
        make_target(drop_path, "drop_path", name="reference", dtypes=("float32",)),
    ],
    ids=["dropout", "drop_path"],
)
def test_the_reference_passes_every_stratum(target: Target) -> None:
    assert caught(target) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_every_stratum_fault_is_caught_at_the_fixed_seeds(seed: int) -> None:
    """Each base seed draws its own pairing of sizes and ranks: every fault is still caught."""
    escaped = [name for name, (target, _) in WRONG.items() if not caught(target, seed)]
    assert not escaped, f"escaped at base seed {seed}: {escaped}"
