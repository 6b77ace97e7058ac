"""The MLX adapter: the backend, the built-in mlx.nn targets and the mx.compile variant."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")

from adapter_checks import (  # noqa: E402
    assert_adapter_imports_no_framework,
    assert_registered,
    assert_runs_in_its_dtypes,
    host_bytes_of_a_call,
)

from dropspec.adapters import fw_mlx, get_backend, under  # noqa: E402
from dropspec.dtypes import FLOAT_DTYPES, as_dtype  # noqa: E402

BACKEND = get_backend("mlx")
TARGETS = {t.name: t for t in fw_mlx.TARGETS}
SHAPES = {None: (2, 3), 4: (2, 3, 4, 5), 5: (2, 3, 4, 2, 5)}


def test_importing_the_adapter_does_not_import_mlx() -> None:
    assert_adapter_imports_no_framework("fw_mlx", "mlx")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_is_registered_runs_and_keeps_shape_and_dtype(name: str) -> None:
    t = TARGETS[name]
    assert_registered(t, "mlx")
    x = np.random.default_rng(0).uniform(0.5, 2.0, SHAPES[t.options.get("rank")])
    assert_runs_in_its_dtypes(t, BACKEND, x, 0.25)
    if t.options.get("calls") != "stateful":
        with pytest.raises(ValueError):  # p = 1 is refused when the layer is built
            t.fn(BACKEND.asarray(x.astype("f4")), 1.0, training=True, seed=1)


def test_host_copies_are_counted_in_host_bytes() -> None:
    """MLX's outputs are reduced in NumPy over their own memory, except bfloat16, which
    the buffer protocol cannot describe: those are copied, and the report counts them."""
    t = TARGETS["mlx.nn.Dropout"]
    assert host_bytes_of_a_call(t, BACKEND, "float32")[0] == 0
    counted, output = host_bytes_of_a_call(t, BACKEND, "bfloat16")
    assert counted == output


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_backend_round_trip_keeps_values_and_dtype(dtype: str) -> None:
    # 1e300 is not a float32: mx.array(float64 array) alone would make it inf.
    big = 1e300 if dtype == "float64" else 3.0
    a = np.array([[0.0, -1.5, big], [np.inf, -np.inf, 1e-3]]).astype(as_dtype(dtype))
    t = BACKEND.asarray(a)
    assert BACKEND.is_array(t) and not BACKEND.is_array(a)
    back = BACKEND.to_numpy(t)
    assert back.dtype == a.dtype
    np.testing.assert_array_equal(back.astype(np.float64), a.astype(np.float64))
    reduced = BACKEND.for_reduction(t)
    assert isinstance(reduced, np.ndarray) and reduced.dtype == a.dtype


def test_backend_vjp() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    cot = np.full((2, 3), 2.0, dtype=np.float32)
    grad = BACKEND.vjp(lambda v: v * v, x, cot)
    assert grad is not None
    np.testing.assert_array_equal(grad, 4.0 * x)


def test_the_seed_alone_fixes_the_mask_and_mx_compile_keeps_it() -> None:
    """Seeded calls are reproducible and differ between seeds; under the mx.compile variant
    (mx.random.state as the compiled function's input and output) each seed gives the eager
    call's mask, so the compiled mask is not frozen."""
    t = TARGETS["mlx.nn.Dropout"]
    compiled = under(t, "mx.compile")
    assert compiled.error is None, compiled.error
    x = BACKEND.asarray(np.ones((64,), "f4"))
    eager = [BACKEND.to_numpy(t(x, 0.5, training=True, seed=s)) for s in (1, 2, 1)]
    np.testing.assert_array_equal(eager[0], eager[2])
    assert not np.array_equal(eager[0], eager[1])
    for s, want in zip((1, 2, 1), eager, strict=True):
        got = BACKEND.to_numpy(compiled(x, 0.5, training=True, seed=s))
        np.testing.assert_array_equal(got, want)


def test_mx_compile_refuses_a_target_it_cannot_split() -> None:
    """The variant seeds outside the compiled call, so it needs a built-in layer's call apart
    from its seeding; any other MLX target is reported as not checked, with the reason."""
    user = replace(TARGETS["mlx.nn.Dropout"], name="user.mlx_dropout")
    error = under(user, "mx.compile", probe=False).error or ""
    assert "not checked" in error and "seeds inside its own call" in error
