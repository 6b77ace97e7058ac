"""The TensorFlow adapters: the backend, the built-in tf.nn targets, a user's own target."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import dropspec  # noqa: E402
from dropspec.adapters import builtin_targets, fw_tensorflow, get_backend  # noqa: E402
from dropspec.conformance import Config, run_target  # noqa: E402
from dropspec.dtypes import FLOAT_DTYPES, as_dtype, dtype_name  # noqa: E402
from dropspec.spec import CLAUSES  # noqa: E402
from dropspec.target import Target  # noqa: E402

BACKEND = get_backend("tensorflow")
TARGETS = {t.name: t for t in fw_tensorflow.TARGETS}


def _inputs(t: Target, dtype: str, rng: np.random.Generator) -> list[np.ndarray]:
    if t.op == "dropconnect":  # x (batch, in), weight (out, in), bias (out,)
        shapes: list[tuple[int, ...]] = [(3, 5), (4, 5), (4,)]
    else:
        rank = t.options.get("rank") or 2
        shapes = [(2, 3, 4, 5)[:rank]]
    return [rng.uniform(0.5, 2.0, s).astype(as_dtype(dtype)) for s in shapes]


def test_importing_the_adapter_does_not_import_tensorflow() -> None:
    code = (
        "import sys, dropspec.adapters.fw_tensorflow; "
        "from dropspec.adapters import builtin_targets; builtin_targets(); "
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backend_is_registered() -> None:
    assert BACKEND is fw_tensorflow.BACKEND
    assert BACKEND.available()
    assert BACKEND.version() == tf.__version__


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_is_registered_and_well_declared(name: str) -> None:
    t = TARGETS[name]
    assert builtin_targets()[name] is t
    assert t.error is None, t.error
    assert t.framework == "tensorflow"
    assert t.description
    for clause_id, reason in t.expected_failures.items():
        assert clause_id in CLAUSES and CLAUSES[clause_id].op == t.op
        assert "https://" in reason


@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.parametrize("training", [True, False])
def test_target_runs_on_every_dtype(name: str, training: bool) -> None:
    t = TARGETS[name]
    rng = np.random.default_rng(0)
    for dtype in t.dtypes or BACKEND.supported_dtypes:
        arrays = _inputs(t, dtype, rng)
        out = t(*(BACKEND.asarray(a) for a in arrays), 0.25, training=training, seed=7)
        assert BACKEND.is_array(out)
        y = BACKEND.to_numpy(out)
        want = (
            (arrays[0].shape[0], arrays[1].shape[0]) if t.op == "dropconnect" else arrays[0].shape
        )
        assert y.shape == want, (dtype, y.shape)
        assert dtype_name(y.dtype) == dtype
        if not training and t.op == "dropout":  # the layer convention: x unchanged
            np.testing.assert_array_equal(y, arrays[0])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeding_is_reproducible(name: str) -> None:
    t = TARGETS[name]
    arrays = [BACKEND.asarray(a) for a in _inputs(t, "float32", np.random.default_rng(1))]
    first, again, other = (t(*arrays, 0.5, training=True, seed=s).numpy() for s in (123, 123, 124))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_rate_one_raises_as_declared(name: str) -> None:
    t = TARGETS[name]
    assert t.options["rate_one"] == "error"
    arrays = [BACKEND.asarray(a) for a in _inputs(t, "float32", np.random.default_rng(2))]
    with pytest.raises(ValueError, match="rate"):
        t(*arrays, 1.0, training=True, seed=0)


def test_noise_shape_target_shares_the_mask_over_height_and_width() -> None:
    t = TARGETS["tf.nn.dropout.noise_shape"]
    x = np.ones((8, 5, 6, 16), dtype=np.float32)
    y = t(BACKEND.asarray(x), 0.5, training=True, seed=3).numpy()
    assert (y == y[:, :1, :1, :]).all()
    assert 0 < (y[:, 0, 0, :] == 0).mean() < 1


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_backend_round_trip_keeps_values_and_dtype(dtype: str) -> None:
    a = np.array([[0.0, -1.5, 3.25], [np.inf, -np.inf, 1e-3]]).astype(as_dtype(dtype))
    t = BACKEND.asarray(a)
    assert BACKEND.is_array(t) and not BACKEND.is_array(a)
    assert t.dtype == tf.as_dtype(dtype)
    back = BACKEND.to_numpy(t)
    assert back.dtype == a.dtype
    np.testing.assert_array_equal(back.astype(np.float64), a.astype(np.float64))
    a[0, 0] = 9  # the tensor is a copy, not a view of the caller's array
    assert float(t[0, 0]) == 0.0
    assert BACKEND.is_array(tf.Variable(t))


@pytest.mark.parametrize("dtype", [*FLOAT_DTYPES, "bool"])
def test_cpu_outputs_are_reduced_by_numpy_in_place(dtype: str) -> None:
    """On the CPU the suite reduces a tensor through a NumPy view of its own buffer (no
    copy, except bfloat16, which DLPack cannot hand to NumPy); the values are the tensor's."""
    a = np.array([[0.0, -1.5, 3.25], [np.inf, 0.0, 1e-3]]).astype(
        bool if dtype == "bool" else as_dtype(dtype)
    )
    t = BACKEND.asarray(a)
    seen = BACKEND.for_reduction(t)
    assert isinstance(seen, np.ndarray) and seen.dtype == a.dtype
    np.testing.assert_array_equal(seen.astype(np.float64), a.astype(np.float64))
    assert seen.flags.owndata == (dtype == "bfloat16")  # a view unless it had to be copied
    with tf.device("/GPU:0"):  # where no GPU exists TF places it on the CPU: still a view
        placed = tf.identity(t)
    if "GPU" in placed.device.upper():
        assert BACKEND.for_reduction(placed) is placed  # reduced by TensorFlow where it is


def test_backend_vjp() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    cot = np.full((2, 3), 2.0, dtype=np.float32)
    grad = BACKEND.vjp(lambda t: t * 3.0, x, cot)
    assert grad is not None
    np.testing.assert_array_equal(grad, np.full((2, 3), 6.0, dtype=np.float32))
    bf = x.astype(as_dtype("bfloat16"))
    grad_bf = BACKEND.vjp(lambda t: t * t, bf, cot.astype(as_dtype("bfloat16")))
    assert grad_bf is not None and dtype_name(grad_bf.dtype) == "bfloat16"
    np.testing.assert_array_equal(grad_bf.astype(np.float32), 4.0 * x)
    # An output that does not depend on x has a zero gradient, not None.
    const = BACKEND.vjp(lambda t: tf.ones((2, 3)), x, cot)
    assert const is not None and const.shape == x.shape and not const.any()


@pytest.mark.slow
def test_builtin_stateless_target_end_to_end() -> None:
    results = run_target(TARGETS["tf.nn.experimental.stateless_dropout"], config=Config(examples=4))
    outcomes = {r.clause_id: r.outcome for r in results}
    assert "failed" not in outcomes.values(), outcomes
    assert outcomes["DROPOUT-RATE-INVALID"] == "xfailed"  # a NaN rate is accepted
    assert outcomes["DROPOUT-DROPPED-SELECT"] == "passed"


@dropspec.target(
    "dropout", framework="tensorflow", name="test.user_tf_dropout", rate_one="zeros", seed_bits=63
)
def user_dropout(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """A user's dropout: stateless uniforms, select masking, rate 1 gives zeros. Its seed is
    an int64 in TensorFlow's seed pair, hence seed_bits=63."""
    if not 0.0 <= rate <= 1.0:  # also rejects NaN
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if not training:
        return x
    keep = tf.random.stateless_uniform(tf.shape(x), seed=[seed, 7]) >= rate
    scale = tf.constant(0.0 if rate == 1.0 else 1.0 / (1.0 - rate), dtype=x.dtype)
    return tf.where(keep, x * scale, tf.zeros_like(x))


@pytest.mark.slow
def test_user_tensorflow_target_end_to_end() -> None:
    assert user_dropout.error is None, user_dropout.error
    results = run_target(user_dropout, config=Config(examples=4))
    blocking = [f"{r.clause_id}: {r.message}" for r in results if r.blocking]
    assert not blocking, "\n".join(blocking)
    outcomes = {r.clause_id: r.outcome for r in results}
    assert outcomes["DROPOUT-DROPPED-SELECT"] == "passed"
    assert outcomes["DROPOUT-GRADIENT"] == "passed"
    assert outcomes["DROPOUT-RATE-ONE-ZEROS"] == "passed"
