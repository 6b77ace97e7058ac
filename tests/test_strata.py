"""Faults confined to one stratum of the input space (issue 21, part 2).

Each wrong target below is dropout (or drop path) done right except in one stratum: the tail
lanes of a row (its last ``n mod w`` elements) or of the whole flat tensor, inputs under
1,000 elements, rank 1, the first element of each row, or batches of some sizes (one, under
8, at most 64, above 64). Drawn on large rank-3 inputs only, the statistical clauses missed
five of the first seven (before the strata: only the first element, through the many small
calls, and the batch above 64 were caught); the strata of RATE, UNBIASED and VARIANCE
(``checks/_strata.py``) must catch every one at the default alpha and power, while the
reference passes. They run in float32 only, to keep the fast tier fast: these faults do
not depend on the dtype. The last tests hold the design itself to what those faults need.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dropspec.conformance import Config, calibration, run_target
from dropspec.conformance.checks import _strata
from dropspec.reference import drop_path, dropout, gaussian_dropout
from dropspec.target import Target, make_target

#: The vector width the wrong kernels below process rows in.
WIDTH = 8
#: The clauses the strata live in.
CLAUSES = {
    "dropout": ("DROPOUT-RATE", "DROPOUT-UNBIASED", "DROPOUT-VARIANCE"),
    "drop_path": ("DROPPATH-RATE", "DROPPATH-UNBIASED", "DROPPATH-VARIANCE"),
    "gaussian_dropout": ("GAUSSIAN-MEAN", "GAUSSIAN-VARIANCE"),
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


def call_tail_never_dropped(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    # one vector loop over the whole flat tensor: its last (size mod WIDTH) values are kept
    tail = np.zeros(x.size, bool)
    tail[x.size - x.size % WIDTH :] = True
    return _apply(x, _mask(x, rate, seed) | tail.reshape(x.shape), rate)


def rank1_one_draw(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    if x.ndim != 1:
        return _apply(x, _mask(x, rate, seed), rate)
    keep = np.random.default_rng(seed).random() >= rate  # one draw for the whole vector
    return _apply(x, np.full(x.shape, keep), rate)


def drop_path_inverted_at_batch_1(
    x: np.ndarray, rate: float, *, training: bool = True, seed: int
) -> np.ndarray:
    if not training or rate in (0.0, 1.0) or x.shape[0] != 1:
        return drop_path(x, rate, training=training, seed=seed)
    keep = np.random.default_rng(seed).random() < rate  # keeps with probability rate
    return _apply(x, np.full(x.shape, keep), rate)


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


def gaussian_tail_without_noise(
    x: np.ndarray, rate: float, *, training: bool = True, seed: int
) -> np.ndarray:
    """Gaussian dropout whose last (size mod WIDTH) values of the flat tensor pass unchanged."""
    y = gaussian_dropout(x, rate, training=training, seed=seed)
    if not training or rate == 0.0:
        return y
    flat, tail = y.reshape(-1).copy(), x.size % WIDTH
    flat[x.size - tail :] = x.reshape(-1)[x.size - tail :]
    return flat.reshape(x.shape)


def gaussian_small_half_rate(
    x: np.ndarray, rate: float, *, training: bool = True, seed: int
) -> np.ndarray:
    """Gaussian dropout whose path for tensors under 1,000 values takes rate / 2."""
    small = training and x.size < 1000
    return gaussian_dropout(x, rate / 2 if small else rate, training=training, seed=seed)


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
    "call-tail-never-dropped": (
        wrong("call-tail-never-dropped", wrapped(call_tail_never_dropped)),
        f"the last (size mod {WIDTH}) values of the whole tensor are never dropped",
    ),
    "rank1-one-draw": (
        wrong("rank1-one-draw", wrapped(rank1_one_draw)),
        "a rank-1 input gets one mask value for the whole vector",
    ),
    "drop-path-inverted-at-batch-1": (
        wrong("drop-path-inverted-at-batch-1", drop_path_inverted_at_batch_1, "drop_path"),
        "drop path keeps a batch of one example with probability rate",
    ),
    "drop-path-per-batch-under-8": (
        wrong("drop-path-per-batch-under-8", per_batch(at_most=7), "drop_path"),
        "drop path shares one mask value across batches of at most 7 examples",
    ),
    "gaussian-tail-without-noise": (
        wrong("gaussian-tail-without-noise", gaussian_tail_without_noise, "gaussian_dropout"),
        f"Gaussian dropout leaves the last (size mod {WIDTH}) values of the tensor unchanged",
    ),
    "gaussian-small-half-rate": (
        wrong("gaussian-small-half-rate", gaussian_small_half_rate, "gaussian_dropout"),
        "Gaussian dropout's noise has the variance of rate / 2 under 1,000 values",
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
        make_target(gaussian_dropout, "gaussian_dropout", name="reference", dtypes=("float32",)),
    ],
    ids=["dropout", "drop_path", "gaussian_dropout"],
)
def test_the_reference_passes_every_stratum(target: Target) -> None:
    assert caught(target) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_every_stratum_fault_is_caught_at_the_fixed_seeds(seed: int) -> None:
    """Each base seed draws its own pairing of sizes and ranks: every fault is still caught."""
    escaped = [name for name, (target, _) in WRONG.items() if not caught(target, seed)]
    assert not escaped, f"escaped at base seed {seed}: {escaped}"


# ---------------------------------------------------------------- the design itself ----


def _strata_leaves(clause: str, seed: int) -> dict[str, list[int]]:
    """Stratum -> the n of each of its tests in the clause's plan at base seed ``seed``."""
    out: dict[str, list[int]] = {}
    for leaf in calibration.plan(clause, Config(seed=seed)) or []:
        stratum = leaf.get("stratum")
        if stratum is not None:
            out.setdefault(str(stratum), []).append(leaf.n)
    return out


def test_every_call_of_every_class_ends_in_remainder_lanes_of_every_width() -> None:
    """Odd sides: every call's size and every row is odd, so a vector loop of any width
    leaves lanes over at the end of each row and of the whole call."""
    for size, by_free in _strata.SIDES.items():
        for sides in by_free.values():
            assert all(side % 2 for side in sides), (size, sides)
    assert all(b % 2 for b in _strata.TINY_BATCH.values())


@pytest.mark.parametrize("seed", range(5))
def test_the_tail_of_a_call_is_a_stratum_of_many_pooled_values(seed: int) -> None:
    found = _strata_leaves("DROPOUT-RATE", seed)
    for w in _strata.VECTOR_WIDTHS:
        # enough values that a tail never dropped (rate 0 there, not 0.25) fails it:
        # 0.75 ** 90 < 1e-11, far below any stratum's alpha
        (n,) = found[f"position: last (size mod {w}) of a call"]
        assert n >= 90, (w, n)
        # a row's remainder lanes in the pooled small calls are a stratum apart from the
        # large call's, whose many rows would otherwise drown them
        (small,) = found[f"position: remainder lanes mod {w}, calls under 1,000 values"]
        (large,) = found[f"position: remainder lanes mod {w}, calls of 2^14 values or more"]
        assert small > 0 and large > 0
    counted = [k for k in found if k.startswith("dropped count per call: ")]
    assert any("tiny" in k for k in counted) and any("small" in k for k in counted)


@pytest.mark.parametrize("seed", range(5))
def test_drop_path_has_strata_of_batch_sizes(seed: int) -> None:
    found = _strata_leaves("DROPPATH-RATE", seed)
    assert found["size: batch of 1"][0] >= 400
    assert found["size: batches of 2 to 7"][0] >= 1500
    counts = [k for k in found if k.startswith("dropped count per call: batches of 2 to 7")]
    assert sum(len(found[k]) for k in counts) == len(_strata.BATCHES["few"])
    moments = _strata_leaves("DROPPATH-UNBIASED", seed)
    assert "size: batch of 1" in moments and "size: batches of 2 to 7" in moments
    # a call of drop path is one row of examples: no call positions repeating the row's
    assert not [k for k in found if k.endswith("of a call")]
