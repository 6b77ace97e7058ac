"""The ONNX adapters: the Dropout model, ONNX Runtime's and the reference evaluator's targets,
and the observations their declarations and expected failures rest on."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from adapter_checks import assert_adapter_imports_no_framework  # noqa: E402

from dropspec.adapters import builtin_targets, fw_onnxruntime, get_backend  # noqa: E402
from dropspec.dtypes import as_dtype, dtype_name  # noqa: E402
from dropspec.spec import CLAUSES  # noqa: E402

BACKEND = get_backend("onnxruntime")
TARGETS = {t.name: t for t in fw_onnxruntime.TARGETS}
SEEDED = ("onnxruntime.Dropout", "onnx.reference.Dropout")


def _x(dtype: str, shape: tuple[int, ...] = (6, 50)) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.5, 2.0, shape).astype(as_dtype(dtype))


def test_importing_the_adapter_imports_neither_onnx_nor_onnxruntime() -> None:
    assert_adapter_imports_no_framework("fw_onnxruntime", "onnx", "onnxruntime")


def test_targets_are_registered_and_declare_the_operator_alike() -> None:
    assert BACKEND is fw_onnxruntime.BACKEND and BACKEND.version() == ort.__version__
    options = set()
    for name, t in TARGETS.items():
        assert builtin_targets()[name] is t
        assert t.error is None, t.error
        assert t.framework == "onnxruntime" and t.description
        for clause_id, reason in t.expected_failures.items():
            assert CLAUSES[clause_id].op == t.op and "https://" in reason
        options.add((t.op, *(t.options.get(k) for k in ("scaling", "masking", "rate_one"))))
    # one model per op, one declaration of it for both runtimes
    assert options == {
        ("dropout", "inverted", "multiply", "error"),
        ("dropconnect", "inverted", None, "error"),
    }


@pytest.mark.parametrize("name", SEEDED)
def test_targets_run_in_their_dtypes_and_the_mask_output_is_the_zero_pattern(name: str) -> None:
    reference = name.startswith("onnx.reference")
    for dtype in TARGETS[name].dtypes or BACKEND.supported_dtypes:
        x = _x(dtype)
        run = fw_onnxruntime.run_reference if reference else _ort_run
        y, mask = run(x, 0.25, training=True, seed=11)
        assert y.shape == x.shape and mask.dtype == np.bool_
        np.testing.assert_array_equal(mask, y != 0)  # x has no zeros
        assert 0 < mask.mean() < 1
        kept = y[mask].astype(np.float64) / x[mask].astype(np.float64)
        np.testing.assert_allclose(kept, 1 / 0.75, rtol=1e-2)
        # DROPOUT-DTYPE's expected failure: the evaluator's half outputs are float32.
        half = dtype in ("float16", "bfloat16")
        assert dtype_name(y.dtype) == ("float32" if reference and half else dtype)
        y, mask = run(x, 0.25, training=False, seed=11)
        assert mask.all()
        np.testing.assert_array_equal(y, x)


def _ort_run(
    x: np.ndarray, rate: float, *, training: bool, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    session = fw_onnxruntime.ort_session(dtype_name(x.dtype), seed)
    return fw_onnxruntime.run_ort(session, x, rate, training)


def test_ort_has_no_bfloat16_kernel() -> None:
    """Why the ONNX Runtime targets leave bfloat16 out; when this fails, add it."""
    assert "bfloat16" not in fw_onnxruntime.ORT_DTYPES
    with pytest.raises(Exception, match=r"NOT_IMPLEMENTED|implementation"):
        fw_onnxruntime.ort_session("bfloat16", 0)


def test_an_ort_session_moves_its_generator_at_each_training_run_only() -> None:
    """What the stateful target is: a session's training runs draw new masks, its inference
    runs leave the sequence alone, and a fresh session with the seed starts it again."""
    x = _x("float32")
    session = fw_onnxruntime.ort_session("float32", 5)
    first = fw_onnxruntime.run_ort(session, x, 0.5, True)[1]
    fw_onnxruntime.run_ort(session, x, 0.5, False)
    second = fw_onnxruntime.run_ort(session, x, 0.5, True)[1]
    assert not np.array_equal(first, second)
    fresh = fw_onnxruntime.ort_session("float32", 5)
    np.testing.assert_array_equal(fw_onnxruntime.run_ort(fresh, x, 0.5, True)[1], first)
    np.testing.assert_array_equal(fw_onnxruntime.run_ort(fresh, x, 0.5, True)[1], second)


def test_ort_keeps_the_seed_modulo_2_31_minus_1() -> None:
    """The evidence of ORT_SEED_REASON (DROPOUT-SEED-SPACE)."""
    t = TARGETS["onnxruntime.Dropout"]
    x = _x("float32")

    def mask(seed: int) -> np.ndarray:
        return np.asarray(t(x, 0.5, training=True, seed=seed) != 0)

    np.testing.assert_array_equal(mask(0), mask(1))
    np.testing.assert_array_equal(mask(3), mask(3 + 2**31 - 1))
    assert not np.array_equal(mask(7), mask(7 + 2**32))


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1, float("nan")])
def test_ort_rejects_rates_outside_0_1_and_the_evaluator_does_not(rate: float) -> None:
    x = _x("float32")
    for training in (True, False):
        with pytest.raises(Exception, match=r"ratio must be in the range \[0, 1\)"):
            TARGETS["onnxruntime.Dropout"](x, rate, training=training, seed=0)
        with np.errstate(all="ignore"):
            TARGETS["onnx.reference.Dropout"](x, rate, training=training, seed=0)


def test_the_evaluator_takes_32_bit_seeds() -> None:
    t = TARGETS["onnx.reference.Dropout"]
    assert t.seed_bits == 32
    t(_x("float32"), 0.5, training=True, seed=2**32 - 1)
    with pytest.raises(ValueError):
        t(_x("float32"), 0.5, training=True, seed=2**32)


@pytest.mark.parametrize("bias", [True, False])
def test_weight_drop_is_gemm_of_the_masked_weight(bias: bool) -> None:
    """Both runtimes compute x (mask ⊙ W)ᵀ / (1 - rate) + b with the mask their Dropout
    node returns (float64: the evaluator's ratio is a double, ONNX Runtime's a float)."""
    rng = np.random.default_rng(3)
    x, w, b = (rng.uniform(0.5, 2.0, s) for s in ((3, 40), (20, 40), (20,)))
    model = fw_onnxruntime.weight_drop_model("float64", 9, bias=bias)
    inputs = fw_onnxruntime.weight_drop_feeds(x, w, b if bias else None, 0.3, True)
    ort_run = fw_onnxruntime.session_of(model).run(None, inputs)
    for (y, mask), rtol in ((ort_run, 1e-6), (fw_onnxruntime.evaluate(model, inputs), 1e-12)):
        assert 0 < mask.mean() < 1
        want = x @ (mask * w).T / 0.7 + (b if bias else 0)
        np.testing.assert_allclose(y, want, rtol=rtol)


def test_per_example_graph_masks_one_copy_of_weight_and_bias_per_example() -> None:
    rng = np.random.default_rng(4)
    x, w, b = (rng.uniform(0.5, 2.0, s) for s in ((5, 30), (8, 30), (8,)))
    model = fw_onnxruntime.per_example_model("float64", 2)
    inputs = fw_onnxruntime.weight_drop_feeds(x, w, b, 0.4, True)
    for y, mask in (
        fw_onnxruntime.session_of(model).run(None, inputs),
        fw_onnxruntime.evaluate(model, inputs),
    ):
        assert mask.shape == (5, 8, 31)  # (batch, out, in + bias)
        assert not (mask[0] == mask[1:]).all(axis=(1, 2)).any()  # each example its own
        wb = np.concatenate([w, b[:, None]], axis=1)
        x1 = np.concatenate([x, np.ones((5, 1))], axis=1)
        want = np.einsum("nj,noj->no", x1, mask * wb) / 0.6
        np.testing.assert_allclose(y, want, rtol=1e-6)
