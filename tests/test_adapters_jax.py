"""The JAX adapter: its backend, its built-in targets, and a user's own JAX target."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")

import dropspec
from dropspec.adapters import builtin_targets, get_backend
from dropspec.adapters.fw_jax import TARGETS
from dropspec.conformance import Config, run_target
from dropspec.dtypes import FLOAT_DTYPES, as_dtype
from dropspec.spec import get_op

BACKEND = get_backend("jax")
NAMES = [t.name for t in TARGETS]
FAST = Config(examples=4)


#: q, k, v (batch, heads, seq, d) of an attention target, and its output's shape.
ATTENTION_SHAPES: list[tuple[int, ...]] = [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 3)]
ATTENTION_OUT = (2, 3, 4, 3)


def _inputs(op: str, dtype: str, rng: np.random.Generator) -> list[np.ndarray]:
    if op == "dropconnect":  # x (batch, in), weight (out, in), bias (out,)
        shapes: list[tuple[int, ...]] = [(3, 5), (4, 5), (4,)]
    elif op == "attention_dropout":
        shapes = ATTENTION_SHAPES
    else:
        shapes = [(2, 3, 4, 5)]  # rank 4 suits the broadcast_dims target too
    return [rng.uniform(0.5, 2.0, s).astype(as_dtype(dtype)) for s in shapes]


def test_every_target_is_registered_and_well_declared() -> None:
    registered = builtin_targets()
    for t in TARGETS:
        assert registered[t.name] is t
        assert t.error is None, t.error
        assert t.framework == "jax"
        assert t.description


def test_listing_targets_does_not_import_jax() -> None:
    code = (
        "import sys, dropspec.adapters.fw_jax as m; assert m.TARGETS; "
        "print(sorted(k for k in ('jax', 'flax', 'equinox', 'haiku') if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_calls_keep_shape_and_dtype(name: str, dtype: str) -> None:
    tgt = builtin_targets()[name]
    if tgt.dtypes is not None and dtype not in tgt.dtypes:
        pytest.skip(f"{name} is checked in {', '.join(tgt.dtypes)} only")
    arrays = _inputs(tgt.op, dtype, np.random.default_rng(0))
    want_shape = {"dropconnect": (3, 4), "attention_dropout": ATTENTION_OUT}.get(
        tgt.op, arrays[0].shape
    )
    for training in (True, False):
        out = tgt(*[BACKEND.asarray(a) for a in arrays], 0.25, training=training, seed=7)
        if tgt.options.get("weights", "none") != "none":
            out, weights = out
            assert tuple(weights.shape) == (*ATTENTION_OUT[:3], ATTENTION_SHAPES[1][2])
        assert BACKEND.is_array(out)
        got = BACKEND.to_numpy(out)
        assert got.shape == want_shape
        assert got.dtype == as_dtype(dtype)


@pytest.mark.parametrize("name", [n for n in NAMES if builtin_targets()[n].op == "dropout"])
def test_dropout_targets_are_dropout(name: str) -> None:
    """Kept values are x / (1 - rate), the seed fixes the mask, inference is the identity."""
    tgt = builtin_targets()[name]
    x = np.ones((4, 6, 6, 8), np.float32)
    first = BACKEND.to_numpy(tgt(BACKEND.asarray(x), 0.5, training=True, seed=3))
    again = BACKEND.to_numpy(tgt(BACKEND.asarray(x), 0.5, training=True, seed=3))
    assert set(np.unique(first)) == {0.0, 2.0}
    np.testing.assert_array_equal(first, again)
    inference = BACKEND.to_numpy(tgt(BACKEND.asarray(x), 0.5, training=False, seed=3))
    np.testing.assert_array_equal(inference, x)


def test_jitted_and_eager_calls_draw_the_same_mask() -> None:
    """The built-in JAX targets run eagerly; the random bits are the key's alone, so a user's
    jitted call of the same library drops the same elements (checked on a large input)."""
    import equinox as eqx
    import jax

    x = np.ones(1 << 16, np.float32)
    tgt = builtin_targets()["equinox.nn.Dropout"]
    eager = BACKEND.to_numpy(tgt(BACKEND.asarray(x), 0.3, training=True, seed=11))
    layer = eqx.nn.Dropout(p=0.3)
    jitted = jax.jit(lambda a, k: layer(a, key=k))(BACKEND.asarray(x), jax.random.key(11))
    np.testing.assert_array_equal(eager == 0, BACKEND.to_numpy(jitted) == 0)
    assert 0 < int((eager == 0).sum()) < x.size


def test_keys_for_64_bit_seeds_match_jax_random_key() -> None:
    """fw_jax.key(seed) is jax.random.key(seed) wherever that takes the seed (below 2^63),
    and distinct keys above, where jax.random.key overflows."""
    import jax

    from dropspec.adapters.fw_jax import key

    for seed in (0, 1, 7, 2**31 - 1, 2**31, 2**32 + 5, 2**62 + 3, 2**63 - 1):
        want = jax.random.key_data(jax.random.key(seed))
        assert np.array_equal(jax.random.key_data(key(seed)), want), seed
    for seed in (2**63, 2**63 + 1, 2**64 - 1):  # the key holds the seed's two 32-bit halves
        want = np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32)
        assert np.array_equal(jax.random.key_data(key(seed)), want), seed
    with pytest.raises(OverflowError):
        jax.random.key(2**63)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_backend_round_trip_keeps_dtype_and_values(dtype: str) -> None:
    x = np.array([[-1.5, 0.0, 0.25], [3.0, np.inf, np.nan]], dtype=as_dtype(dtype))
    arr = BACKEND.asarray(x)
    assert BACKEND.is_array(arr)
    assert not BACKEND.is_array(x)
    back = BACKEND.to_numpy(arr)
    assert back.dtype == x.dtype
    np.testing.assert_array_equal(back.astype(np.float64), x.astype(np.float64))


def test_backend_asarray_copies_and_rejects_unknown_devices() -> None:
    x = np.ones(4, np.float32)
    arr = BACKEND.asarray(x)
    x[:] = 5.0
    np.testing.assert_array_equal(BACKEND.to_numpy(arr), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="unknown device"):
        BACKEND.asarray(x, device="tpu0")


def test_backend_vjp() -> None:
    x = np.array([1.0, -2.0, 3.0], np.float32)
    cot = np.array([0.5, 1.0, -1.0], np.float32)
    grad = BACKEND.vjp(lambda v: v * v, x, cot)
    assert grad is not None and grad.dtype == np.float32
    np.testing.assert_allclose(grad, 2 * x * cot)


def test_vjp_of_a_target_is_its_mask_times_scale() -> None:
    tgt = builtin_targets()["flax.nnx.Dropout"]
    x = np.full((8, 8), 3.0, np.float32)
    cot = np.ones_like(x)
    y = BACKEND.to_numpy(tgt(BACKEND.asarray(x), 0.2, training=True, seed=5))
    grad = BACKEND.vjp(lambda v: tgt(v, 0.2, training=True, seed=5), x, cot)
    assert grad is not None
    np.testing.assert_allclose(grad, np.where(y != 0, np.float32(1 / 0.8), 0.0), rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_declared_rate_behaviour(name: str) -> None:
    """rate_one as declared, and the known rate-validation gaps fail as expected."""
    tgt = builtin_targets()[name]
    ids = [c.id for c in get_op(tgt.op).clauses]
    rate_one = next(i for i in ids if i.endswith(f"-RATE-ONE-{tgt.options['rate_one'].upper()}"))
    rate_invalid = next(i for i in ids if i.endswith("-RATE-INVALID"))
    results = {r.clause_id: r for r in run_target(tgt, [rate_one, rate_invalid], FAST)}
    want_one = "xfailed" if rate_one in tgt.expected_failures else "passed"
    assert results[rate_one].outcome == want_one, results[rate_one].message
    invalid = results[rate_invalid]
    want = "xfailed" if invalid.clause_id in tgt.expected_failures else "passed"
    assert invalid.outcome == want, invalid.message


# ---------------------------------------------------------------- a user's own target ----


def _user_dropout(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if not training:
        return x
    keep = 1.0 - rate
    mask = jax.random.bernoulli(jax.random.key(seed), keep, x.shape)
    return jnp.where(mask, x / keep, 0)


def _user_multiply(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax

    if not training:
        return x
    keep = 1.0 - rate  # no check of the rate
    mask = jax.random.bernoulli(jax.random.key(seed), keep, x.shape)
    return x * mask.astype(x.dtype) * (1 / keep)  # NaN * 0 keeps a dropped NaN


def test_a_seed_too_wide_for_the_target_gets_a_hint() -> None:
    """Undeclared, a jax.random.key(seed) target meets 64-bit seeds and overflows; the
    failure says which seed it was and what to declare."""
    user = dropspec.target("dropout", framework="jax", name="user.jax_dropout")(_user_dropout)
    (res,) = run_target(user, ["DROPOUT-DETERMINISTIC"], FAST)
    assert res.outcome == "failed"
    assert "OverflowError" in res.message
    assert "hint: the call's seed was" in res.message and "seed_bits=63" in res.message


USER_CLAUSES = [
    "DROPOUT-SHAPE",
    "DROPOUT-DTYPE",
    "DROPOUT-RATE-INVALID",
    "DROPOUT-VALUES",
    "DROPOUT-RATE",
    "DROPOUT-UNBIASED",
    "DROPOUT-DROPPED-SELECT",
    "DROPOUT-GRADIENT",
    "DROPOUT-RATE-ONE-ZEROS",
]


@pytest.mark.slow
def test_a_users_jax_function_is_checked_end_to_end() -> None:
    # jax.random.key(seed) takes seeds below 2^63: the target says so.
    user = dropspec.target("dropout", framework="jax", name="user.jax_dropout", seed_bits=63)(
        _user_dropout
    )
    assert user.error is None
    results = run_target(user, USER_CLAUSES, FAST)
    assert [r.clause_id for r in results] == USER_CLAUSES
    bad = {r.clause_id: r.message for r in results if r.outcome != "passed"}
    assert not bad


def test_a_users_multiplying_jax_function_is_checked_as_declared() -> None:
    user = dropspec.target(
        "dropout", framework="jax", name="user.jax_multiply", masking="multiply", seed_bits=63
    )(_user_multiply)
    results = {
        r.clause_id: r
        for r in run_target(user, ["DROPOUT-RATE-INVALID", "DROPOUT-DROPPED-MULTIPLY"], FAST)
    }
    assert results["DROPOUT-RATE-INVALID"].outcome == "failed"
    assert "accepted without an error" in results["DROPOUT-RATE-INVALID"].message
    assert results["DROPOUT-DROPPED-MULTIPLY"].outcome == "passed", results[
        "DROPOUT-DROPPED-MULTIPLY"
    ].message
