"""The tinygrad adapter: the backend, Tensor.dropout as a target, its settings and TinyJit."""

from __future__ import annotations

import numpy as np
import pytest

tinygrad = pytest.importorskip("tinygrad")

from adapter_checks import (  # noqa: E402
    assert_adapter_imports_no_framework,
    assert_registered,
    assert_runs_in_its_dtypes,
    host_bytes_of_a_call,
)

from dropspec.adapters import fw_tinygrad, get_backend  # noqa: E402
from dropspec.dtypes import as_dtype  # noqa: E402

BACKEND = get_backend("tinygrad")
TARGETS = {t.name: t for t in fw_tinygrad.TARGETS}


def test_importing_the_adapter_does_not_import_tinygrad() -> None:
    assert_adapter_imports_no_framework("fw_tinygrad", "tinygrad")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_is_registered_runs_and_keeps_shape_and_dtype(name: str) -> None:
    t = TARGETS[name]
    assert_registered(t, "tinygrad")
    with BACKEND.settings():
        assert_runs_in_its_dtypes(
            t, BACKEND, np.random.default_rng(0).uniform(0.5, 2.0, (3, 4)), 0.5
        )


def test_host_copies_are_counted_in_host_bytes() -> None:
    """tinygrad's outputs are reduced in NumPy on a host copy (Tensor.numpy()): the report
    counts every byte of them."""
    counted, output = host_bytes_of_a_call(TARGETS["tinygrad.Tensor.dropout"], BACKEND, "float32")
    assert counted == output


def test_seeding_is_reproducible_32_bits_wide_and_leaves_the_state_alone() -> None:
    """The evidence behind SEED_32_REASON: seeds 2^32 apart give one mask; seeds 1 apart
    do not; tinygrad's own random state is as it was after a call."""
    from tinygrad import Tensor

    t = TARGETS["tinygrad.Tensor.dropout"]
    x = BACKEND.asarray(np.ones((8, 8), "f4"))
    before = (Tensor._seed, Tensor._device_seeds, Tensor._device_rng_counters)
    with BACKEND.settings():
        masks = {s: BACKEND.to_numpy(t(x, 0.5, training=True, seed=s)) for s in (5, 6, 5 + 2**32)}
    assert (Tensor._seed, Tensor._device_seeds, Tensor._device_rng_counters) == before
    np.testing.assert_array_equal(masks[5], masks[5 + 2**32])
    assert not np.array_equal(masks[5], masks[6])


def test_the_x86_renderer_the_checks_use_gives_the_default_renderers_outputs() -> None:
    """Checks render kernels with tinygrad's x86-64 back end (BACKEND.settings); a user's
    default CPU device runs clang. Both give the same outputs bit for bit."""
    from tinygrad.helpers import Context

    t = TARGETS["tinygrad.Tensor.dropout"]
    x = np.random.default_rng(1).uniform(-2.0, 2.0, (5, 7))
    for dtype in BACKEND.supported_dtypes:
        a = x.astype(as_dtype(dtype))
        with BACKEND.settings():
            fast = BACKEND.to_numpy(t(BACKEND.asarray(a), 0.3, training=True, seed=11))
        with Context(DEV="CPU:CLANG", PARALLEL=0):
            slow = BACKEND.to_numpy(t(BACKEND.asarray(a), 0.3, training=True, seed=11))
        np.testing.assert_array_equal(fast, slow)


def test_backend_round_trip_and_vjp() -> None:
    a = np.array([[0.0, -1.5, 1e300], [np.inf, -np.inf, 1e-3]])
    with BACKEND.settings():
        for dtype in BACKEND.supported_dtypes:
            b = a.astype(as_dtype(dtype)) if dtype == "float64" else np.ones(3, dtype)
            back = BACKEND.to_numpy(BACKEND.asarray(b))
            assert back.dtype == b.dtype
            np.testing.assert_array_equal(back, b)
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        grad = BACKEND.vjp(lambda v: v * v, x, np.full((2, 3), 2.0, np.float32))
    assert grad is not None
    np.testing.assert_array_equal(grad, 4.0 * x)


def test_under_tinyjit_replayed_calls_keep_the_captured_seed() -> None:
    """The evidence behind the TinyJit divergence: the first two calls are the eager ones,
    then every seed gets the second call's mask (tinygrad#9108)."""
    from dropspec.adapters import under

    t = TARGETS["tinygrad.Tensor.dropout"]
    jitted = under(t, "TinyJit", probe=False)
    x = BACKEND.asarray(np.ones((8, 8), "f4"))
    with BACKEND.settings():
        masks = [BACKEND.to_numpy(jitted(x, 0.5, training=True, seed=s)) for s in (1, 2, 3, 4)]
        eager = [BACKEND.to_numpy(t(x, 0.5, training=True, seed=s)) for s in (1, 2, 3)]
    np.testing.assert_array_equal(masks[0], eager[0])
    np.testing.assert_array_equal(masks[1], eager[1])
    assert not np.array_equal(eager[2], eager[1])
    np.testing.assert_array_equal(masks[2], masks[1])
    np.testing.assert_array_equal(masks[3], masks[1])
