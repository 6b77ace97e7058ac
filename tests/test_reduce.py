"""Statistics are computed where a target's outputs live; only summaries cross to NumPy.

Two kinds of test: the array-API reductions give the same numbers in every framework as an
independent NumPy/SciPy computation, and running the statistical clauses on torch,
TensorFlow and JAX targets brings back only a few bytes per clause (counted by the engine,
and for PyTorch also by watching every tensor-to-NumPy conversion).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from scipy import stats

import dropspec
import dropspec.frameworks
from dropspec.adapters import builtin_targets
from dropspec.adapters._backend import get_backend
from dropspec.adapters._half_precision import HALF_UNIFORM_CLAUSES
from dropspec.conformance import reduce
from dropspec.conformance.engine import ClauseResult, run_clause
from dropspec.dtypes import FLOAT_DTYPES
from dropspec.reference import gaussian_std
from dropspec.spec import CLAUSES, Kind, get_op
from dropspec.target import Target

FRAMEWORKS = tuple(dropspec.frameworks.FRAMEWORKS)


def converter(framework: str) -> Callable[[np.ndarray], Any]:
    """NumPy -> the framework's array as the suite reduces it (``Backend.for_reduction``: the
    array itself, NumPy over its memory, or a host copy); for a framework whose row names an
    array-API namespace of dropspec's own (TensorFlow), the array itself, so that namespace is
    tested on the CPU too. Skips the test if the framework is absent."""
    if get_backend(framework).own_process:  # importing it here could crash this process
        pytest.skip(f"{framework} runs in a process of its own: tests/test_adapters_{framework}.py")
    if framework != "numpy":
        pytest.importorskip({"tensorflow": "tensorflow"}.get(framework, framework))
    backend = get_backend(framework)
    if dropspec.frameworks.FRAMEWORKS[framework].namespace is not None:
        return lambda a: backend.asarray(a)
    return lambda a: backend.for_reduction(backend.asarray(a))


def host(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_counts_and_pair_tables_match_numpy(framework: str) -> None:
    to = converter(framework)
    rng = np.random.default_rng(1)
    a, b = rng.random((6, 10)) < 0.3, rng.random((6, 10)) < 0.6
    got = host(reduce.pair_counts(to(a), to(b)))
    assert got.tolist() == [np.count_nonzero(a & b), np.count_nonzero(a), np.count_nonzero(b)]
    assert int(host(reduce.count(to(a)))) == np.count_nonzero(a)
    for axis in (0, 1):
        even, odd = reduce.halves(to(a), axis)
        want = np.take(a, np.arange(0, 6 if axis == 0 else 10, 2), axis=axis)
        assert host(even).tolist() == want.tolist()
        assert tuple(odd.shape) == want.shape
    first, second = reduce.flat_halves(to(a[:, :5]))  # 30 values in memory order
    assert host(first).tolist() == a[:, :5].ravel()[0::2].tolist()
    assert host(second).tolist() == a[:, :5].ravel()[1::2].tolist()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_histogram_and_bit_decoding_match_numpy(framework: str) -> None:
    to = converter(framework)
    values = np.random.default_rng(2).integers(0, 9, 500)
    got = host(reduce.histogram(to(values), 8))
    assert got.tolist() == np.bincount(values, minlength=9).tolist()
    words = np.array([[0.0, 5.0], [1023.0, 6.0]])
    bits = host(reduce.decode_bits(to(words), 10))
    want = [[[(int(w) >> j) & 1 == 1 for j in range(10)] for w in row] for row in words]
    assert bits.tolist() == want


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["bool", "float16", "float32"])
def test_label_sums_match_per_class_sums(framework: str, dtype: str) -> None:
    # Each library's scatter-add path against the class sums computed one class at a time.
    to = converter(framework)
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 8, size=(4, 3, 50), dtype=np.int8)
    labels[0, 0, :3] = (0, 7, 7)  # first and last class present; class 5 absent below
    labels[labels == 5] = 6
    values = (rng.random(labels.shape) < 0.4) if dtype == "bool" else rng.normal(size=labels.shape)
    values = values.astype(dtype)
    got = host(reduce.label_sums(to(values), to(labels), k=8))
    want = [float(values[labels == j].astype(np.float64).sum()) for j in range(8)]
    assert got.shape == (8,)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got[5] == 0.0


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_autocorrelation_peak_matches_a_direct_sum(framework: str) -> None:
    to = converter(framework)
    mask = np.random.default_rng(3).random(600) < 0.5
    mask[300:] = mask[:300]  # a period of 300: S_300 = 300, the largest score
    e = mask * 2.0 - 1.0
    lags = 400
    sums = np.array([np.dot(e[:-lag], e[lag:]) for lag in range(1, lags + 1)])
    scores = sums**2 / (600 - np.arange(1, lags + 1))
    lag, agreement = host(reduce.autocorrelation_peak(to(mask), lags))
    assert int(lag) == int(np.argmax(scores)) + 1 == 300
    assert agreement == sums[299] == 300


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_autocorrelation_peak_finds_the_exact_worst_lag_of_a_long_mask(framework: str) -> None:
    """The float32 FFT finds the lag, the count at it is exact: against a float64 FFT rounded
    to integers, on fair bits and on bits that copy the value 777 back with probability 0.02
    (an excess agreement the test is sized to catch, far below the noise of one value)."""
    to = converter(framework)
    rng = np.random.default_rng(8)
    n, lags = 1 << 17, 1 << 16
    fair = rng.random(n) < 0.5
    copied = fair.copy()
    for i in np.nonzero(rng.random(n) < 0.02)[0]:
        if i >= 777:
            copied[i] = copied[i - 777]
    for mask in (fair, copied):
        e = mask * 2.0 - 1.0
        size = reduce.correlation_size(n, lags)
        spec = np.fft.rfft(e, n=size)
        sums = np.round(np.fft.irfft(spec * np.conj(spec), n=size)[1 : lags + 1])
        scores = sums**2 / (n - np.arange(1, lags + 1))
        lag, agreement = host(reduce.autocorrelation_peak(to(mask), lags))
        assert int(lag) == int(np.argmax(scores)) + 1
        assert agreement == sums[int(lag) - 1]
    assert int(lag) == 777  # the copied mask's worst lag is the one it copies at


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_offset_tables_count_the_pairs_offset_pair_counts_states(framework: str) -> None:
    """offset_tables (per-coordinate sums first along long axes) against the pairs taken
    directly, on every axis of shapes with long, short, tiny and too-short axes."""
    to = converter(framework)
    rng = np.random.default_rng(9)
    for shape in [(4, 1000), (2, 3, 130), (8, 8, 70), (1,), (3,), (5, 7), (1, 9, 2), (200,)]:
        mask = rng.random(shape) < rng.uniform(0.2, 0.8)
        for axis in range(len(shape)):
            want = np.stack(
                [
                    np.stack(
                        [
                            reduce.offset_pair_counts(mask, axis=axis, offset=d, phase=p)
                            for p in (0, d)
                        ]
                    )
                    for d in range(1, 5)
                ]
            )
            got = host(reduce.offset_tables(to(mask), axis=axis, k=4))
            np.testing.assert_array_equal(got, want, err_msg=f"{shape} axis {axis}")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_window_repeats_count_equal_windows_as_a_direct_search_does(framework: str) -> None:
    """The exact-repeat search (NO-PERIOD across 2^22 values): windows built right, no match
    in fair bits, and a block of the stated length found at any lag, ahead or behind."""
    to = converter(framework)
    rng = np.random.default_rng(5)
    n = 1 << 15
    bits = rng.random(n) < 0.5
    windows = host(reduce.strided_windows(to(bits), 63))
    want = [sum(int(bits[63 * i + j]) << j for j in range(reduce.WINDOW_BITS)) for i in range(40)]
    assert windows[:40].tolist() == want and len(windows) == n // 63
    assert host(reduce.window_repeats(to(bits))).tolist() == [0]
    block = reduce.WINDOW_STRIDES[0] * reduce.WINDOW_STRIDES[1] + 64 + reduce.WINDOW_BITS
    for lag in (-9001, 4158, 8000):
        copied = bits.copy()
        copied[15000 + lag : 15000 + lag + block] = bits[15000 : 15000 + block]
        direct = (
            {  # the same count, from every pair of windows compared
                (a, b)
                for a in range(0, n - 63, 64)
                for b in range(0, n - 62, 63)
                if a != b and np.array_equal(copied[a : a + 62], copied[b : b + 62])
            }
            if framework == "numpy"
            else None
        )
        found = int(host(reduce.window_repeats(to(copied)))[0])
        assert found >= 1, lag
        if direct is not None:
            assert found == len(direct)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cross_correlation_peaks_match_direct_sums(framework: str) -> None:
    # Three partners of one mask: a copy shifted by +37, an inverted copy shifted by -5, and
    # an independent mask; each row's peak must be the direct sums' largest score.
    to = converter(framework)
    rng = np.random.default_rng(5)
    n, lags = (8, 40), 160
    a = rng.random(n) < 0.5
    flat = a.ravel()
    others = np.stack(
        [
            np.roll(flat, 37).reshape(n),
            ~np.roll(flat, -5).reshape(n),
            rng.random(n) < 0.5,
        ]
    )
    e = flat * 2.0 - 1.0
    got = host(reduce.cross_correlation_peaks(to(a), to(others), lags))
    assert got.shape == (6,)
    for row, other in enumerate(others):
        f = other.ravel() * 2.0 - 1.0
        shifts = np.arange(-lags, lags + 1)
        sums = np.array(
            [
                np.dot(e[: e.size - s], f[s:]) if s >= 0 else np.dot(e[-s:], f[: f.size + s])
                for s in shifts
            ]
        )
        best = int(np.argmax(sums**2 / (e.size - np.abs(shifts))))
        assert got[row] == abs(shifts[best]), row
        assert got[3 + row] == sums[best], row
    assert (got[0], got[3]) == (37, 320 - 37)
    assert (got[1], got[4]) == (5, -(320 - 5))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_ks_distance_matches_scipy(framework: str) -> None:
    to = converter(framework)
    z = np.random.default_rng(4).standard_normal(5000) * 1.02
    want = stats.kstest(z, "norm").statistic
    got = float(host(reduce.ks_distance(to(z))))
    assert abs(got - want) <= reduce.NORMAL_CDF_ERROR


def test_normal_cdf_is_within_its_stated_error() -> None:
    z = np.linspace(-9.0, 9.0, 200001)
    err = np.max(np.abs(reduce.normal_cdf(z) - stats.norm.cdf(z)))
    assert err <= reduce.NORMAL_CDF_ERROR


# ------------------------------------------------- what crosses to the host in a real run ----

#: Bytes a statistical clause may copy to NumPy per sub-test it runs: the few counts or sums
#: that test needs (a histogram of 0..24 drops, 200 bytes; one sum per class of a
#: homogeneity test, at most 16).
SUMMARY_PER_TEST = 256


def statistical_results(target: Target) -> list[ClauseResult]:
    clauses = [
        c
        for c in get_op(target.op).clauses
        if c.kind == Kind.STATISTICAL and c.applies(target.options)
    ]
    assert clauses, target.name
    return [run_clause(target, c) for c in clauses]


def assert_summaries_only(
    results: list[ClauseResult], may_pass: frozenset[str] = frozenset()
) -> None:
    """Every result passed or failed as declared (or, for the clauses in ``may_pass``,
    passed a declared failure), having brought back summaries only."""
    for r in results:
        ok = ("passed", "xfailed", "xpassed") if r.clause_id in may_pass else ("passed", "xfailed")
        assert r.outcome in ok, (r.clause_id, r.message)
        assert r.output_bytes >= 100_000, (r.clause_id, r.output_bytes)
        tests = len(r.stat.leaves()) if r.stat is not None else 1
        assert r.host_bytes <= min(SUMMARY_PER_TEST * tests, r.output_bytes // 100), (
            f"{r.target} {r.clause_id}: {r.host_bytes} bytes of {r.output_bytes} came to the host"
        )


def _gaussian_torch() -> Target:
    import torch

    @dropspec.target(
        "gaussian_dropout",
        framework="torch",
        name="user.torch_gaussian",
        dtypes=("float32", "float64"),
        seed_bits=32,  # torch's CPU generator keeps the low 32 bits of its seed
    )
    def fn(x: torch.Tensor, rate: float, *, training: bool, seed: int) -> torch.Tensor:
        if not training or rate == 0.0:
            return x
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.dtype)
        return x * (1.0 + gaussian_std(rate) * noise)

    return fn


def _gaussian_jax() -> Target:
    import jax

    @dropspec.target(
        "gaussian_dropout",
        framework="jax",
        name="user.jax_gaussian",
        dtypes=("float32", "float64"),
        seed_bits=63,  # jax.random.key takes seeds below 2^63
    )
    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        if not training or rate == 0.0:
            return x
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        noise = jax.random.normal(jax.random.key(seed), x.shape, x.dtype)
        return x * (1.0 + math.sqrt(rate / (1.0 - rate)) * noise)

    return fn


BUILTIN = [
    "reference.dropout",
    "reference.dropconnect",
    "torch.dropout",
    "torch.dropout2d",
    "torch.alpha_dropout",
    "torch.dropconnect.per_example",
    "tf.nn.dropout",
    "tf.dropconnect.per_example",
    "flax.linen.Dropout",
]


@pytest.mark.parametrize(
    "name",
    # the NumPy reference in the fast tier; every framework's statistical runs in the slow one
    [n if n.startswith("reference.") else pytest.param(n, marks=pytest.mark.slow) for n in BUILTIN],
)
def test_builtin_statistical_clauses_bring_back_summaries_only(name: str) -> None:
    target = builtin_targets()[name]
    pytest.importorskip(target.framework)
    if target.framework == "tensorflow":
        # TensorFlow's CPU kernels do not reduce bfloat16: those outputs come to NumPy whole,
        # a copy the report counts (Backend.copies_to_host, test_adapters_tensorflow); the
        # other dtypes are reduced where they live.
        # Without bfloat16, a half-precision divergence declared for both halves may pass.
        dtypes = target.dtypes or FLOAT_DTYPES
        assert "bfloat16" in dtypes
        target = replace(target, dtypes=tuple(d for d in dtypes if d != "bfloat16"))
        halves = frozenset(HALF_UNIFORM_CLAUSES.get(target.op, ()))
        assert_summaries_only(statistical_results(target), halves)
        return
    assert_summaries_only(statistical_results(target))


@pytest.mark.slow
@pytest.mark.parametrize("make", [_gaussian_torch, _gaussian_jax], ids=["torch", "jax"])
def test_user_gaussian_dropout_is_reduced_on_its_framework(make: Callable[[], Target]) -> None:
    pytest.importorskip("torch" if make is _gaussian_torch else "jax")
    assert_summaries_only(statistical_results(make()))


@pytest.mark.slow
def test_no_large_torch_tensor_is_converted_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent of the engine's own count: watch every torch -> NumPy conversion."""
    torch = pytest.importorskip("torch")
    largest = [0]
    numpy_fn, array_fn = torch.Tensor.numpy, torch.Tensor.__array__

    def watched_numpy(self: Any, *args: Any, **kwargs: Any) -> Any:
        largest[0] = max(largest[0], self.numel())
        return numpy_fn(self, *args, **kwargs)

    def watched_array(self: Any, *args: Any, **kwargs: Any) -> Any:
        largest[0] = max(largest[0], self.numel())
        return array_fn(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "numpy", watched_numpy)
    monkeypatch.setattr(torch.Tensor, "__array__", watched_array)
    for name in ("torch.dropout", "torch.dropconnect.per_example"):
        results = statistical_results(builtin_targets()[name])
        # INDEPENDENT-SEEDS is a declared divergence of torch-seeded targets (32-bit seeds).
        assert all(r.outcome in ("passed", "xfailed") for r in results), [
            r.message for r in results
        ]
    # The largest summary: the position sums behind the homogeneity tests (one per bit of the
    # flat index, then per coordinate class of each axis), under 64 values.
    assert 0 < largest[0] <= 64

    # The watch itself works: an exact clause compares whole outputs on the host.
    target = builtin_targets()["torch.dropout"]
    run_clause(target, CLAUSES["DROPOUT-VALUES"])
    assert largest[0] > 25
