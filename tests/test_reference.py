"""Unit tests of the NumPy reference."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from dropspec import reference as ref
from dropspec.dtypes import FLOAT_DTYPES, as_dtype
from dropspec.reference import SpecError
from dropspec.reference.attention_dropout import probabilities
from dropspec.reference.expectations import (
    alpha_moments,
    dropconnect_moments,
    dropout_moments,
    gaussian_activation_moments,
)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_dropout_values_and_dtype(dtype: str) -> None:
    x = np.linspace(0.5, 3, 1000).astype(as_dtype(dtype))
    y, keep = ref.dropout(x, 0.25, seed=3, return_mask=True)
    assert y.dtype == x.dtype and y.shape == x.shape
    s = x.dtype.type(1 / 0.75)
    assert np.array_equal(y[keep], x[keep] * s)
    assert np.all(y[~keep] == 0)


def test_bfloat16_scale_is_rounded_to_the_dtype() -> None:
    x = np.ones(64, dtype=ml_dtypes.bfloat16)
    y = ref.dropout(x, 0.1, seed=0)
    assert set(np.unique(y.astype(np.float32))) <= {0.0, 1.109375}


def test_same_seed_same_mask_and_generators_accepted() -> None:
    x = np.ones((10, 10), np.float32)
    assert np.array_equal(ref.dropout(x, 0.5, seed=1), ref.dropout(x, 0.5, seed=1))
    assert not np.array_equal(ref.dropout(x, 0.5, seed=1), ref.dropout(x, 0.5, seed=2))
    ref.dropout(x, 0.5, seed=np.random.default_rng(0))


def test_inference_forms() -> None:
    x = np.arange(1, 7, dtype=np.float32)
    assert np.array_equal(ref.dropout(x, 0.3, training=False), x)
    assert np.array_equal(
        ref.dropout(x, 0.3, training=False, scaling="classic"), x * np.float32(0.7)
    )


def test_shared_axes_give_constant_slices() -> None:
    x = np.ones((4, 5, 6, 7), np.float32)
    y, keep = ref.dropout(x, 0.5, seed=2, shared_axes=(2, 3), return_mask=True)
    assert keep.shape == (4, 5, 1, 1)
    assert np.all((y == 0).all(axis=(2, 3)) == (y == 0).any(axis=(2, 3)))


def test_drop_path_is_per_example() -> None:
    _, keep = ref.drop_path(np.ones((50, 3, 4), np.float32), 0.5, seed=0, return_mask=True)
    assert keep.shape == (50, 1, 1)


def test_select_and_multiply_masking_of_nan() -> None:
    x = np.full(200, np.nan, np.float32)
    sel, keep = ref.dropout(x, 0.5, seed=4, return_mask=True)
    assert np.all(sel[~keep] == 0) and np.all(np.isnan(sel[keep]))
    mul = ref.dropout(x, 0.5, seed=4, masking="multiply")
    assert np.all(np.isnan(mul))


@pytest.mark.parametrize("rate", [-0.1, 1.01, float("nan"), "0.5", True])
def test_invalid_rates_are_rejected(rate: object) -> None:
    with pytest.raises(SpecError, match="rate"):
        ref.dropout(np.ones(3, np.float32), rate, seed=0)  # type: ignore[arg-type]


def test_rate_one_options() -> None:
    x = np.ones(5, np.float32)
    assert np.all(ref.dropout(x, 1.0, seed=0) == 0)
    with pytest.raises(SpecError, match="rate 1"):
        ref.dropout(x, 1.0, seed=0, rate_one="error")
    with pytest.raises(SpecError):
        ref.alpha_dropout(x, 1.0, seed=0)
    with pytest.raises(SpecError):
        ref.gaussian_dropout(x, 1.0, seed=0)


def test_bad_axes_and_arrays() -> None:
    with pytest.raises(SpecError, match="out of range"):
        ref.dropout(np.ones((2, 3), np.float32), 0.5, seed=0, shared_axes=(2,))
    with pytest.raises(SpecError, match="floating dtype"):
        ref.dropout(np.ones(3, np.int32), 0.5, seed=0)
    with pytest.raises(SpecError, match=r"numpy\.ndarray"):
        ref.dropout([1.0, 2.0], 0.5, seed=0)  # type: ignore[arg-type]


def test_alpha_constants() -> None:
    a, b = ref.alpha_constants(0.5)
    assert a == pytest.approx(0.886404894665932, rel=1e-12)
    assert b == pytest.approx(-a * 0.5 * ref.ALPHA_PRIME)
    assert pytest.approx(-1.7580993408473766) == ref.ALPHA_PRIME
    assert alpha_moments(0.3, 1) == pytest.approx(0.0, abs=1e-12)
    assert alpha_moments(0.3, 2) == pytest.approx(1.0, rel=1e-12)


def test_alpha_dropout_values() -> None:
    x = np.linspace(-1, 1, 101).astype(np.float64)
    y, keep = ref.alpha_dropout(x, 0.2, seed=1, return_mask=True)
    a, b = ref.alpha_constants(0.2)
    assert np.allclose(y[keep], a * x[keep] + b)
    assert np.allclose(y[~keep], a * ref.ALPHA_PRIME + b)


def test_gaussian_noise_and_moments() -> None:
    assert ref.gaussian_std(0.5) == 1.0
    y, noise = ref.gaussian_dropout(np.full(10, 2.0), 0.2, seed=0, return_noise=True)
    assert np.allclose(y, 2.0 * noise)
    assert dropout_moments(0.2) == pytest.approx((1.0, 0.25))


def test_dropconnect_masks_and_errors() -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=5)
    y, masks = ref.dropconnect(x, w, b, 0.5, seed=1, return_mask=True, mask_bias=True)
    m, mb = masks["weight"], masks["bias"]
    assert m.shape == (3, 5, 4) and mb.shape == (3, 5)
    want = np.einsum("ni,noi->no", x, m * w) * 2 + b * mb * 2
    assert np.allclose(y, want)
    y1, masks1 = ref.dropconnect(
        x, w, b, 0.5, seed=1, masks="per_batch", mask_bias=False, return_mask=True
    )
    assert masks1["weight"].shape == (5, 4)
    assert np.allclose(y1, x @ (w * masks1["weight"]).T * 2 + b)
    with pytest.raises(SpecError, match=r"weight\.shape"):
        ref.dropconnect(x, w[:, :3], b, 0.5, seed=0)
    with pytest.raises(SpecError, match=r"bias\.shape"):
        ref.dropconnect(x, w, b[:4], 0.5, seed=0)


def test_dropconnect_inference_rules() -> None:
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(6, 8)), rng.normal(size=(4, 8)), rng.normal(size=4)
    mean = ref.dropconnect(x, w, b, 0.3, training=False, scaling="classic", mask_bias=True)
    assert np.allclose(mean, 0.7 * (x @ w.T + b))
    mu, var = dropconnect_moments(x, w, b, 0.3, scaling="classic")
    mm = ref.dropconnect(
        x,
        w,
        b,
        0.3,
        training=False,
        scaling="classic",
        inference="moment_matching",
        activation="relu",
        samples=200_000,
        seed=0,
    )
    expected, variance = gaussian_activation_moments(mu, np.sqrt(var), "relu")
    # 200k draws: the average is within 6 standard errors of the closed form.
    assert np.all(np.abs(mm - expected) <= 6 * np.sqrt(variance / 200_000) + 1e-9)


def test_relu_gaussian_moments_match_quadrature() -> None:
    from scipy import integrate, stats

    for mu, sigma in [(0.3, 1.2), (-1.0, 0.5), (2.0, 0.1)]:
        m, v = gaussian_activation_moments(mu, sigma, "relu")
        pdf = stats.norm(mu, sigma).pdf
        e1 = integrate.quad(lambda u, p=pdf: u * p(u), 0, np.inf)[0]
        e2 = integrate.quad(lambda u, p=pdf: u * u * p(u), 0, np.inf)[0]
        assert float(m) == pytest.approx(e1, rel=1e-7, abs=1e-12)
        assert float(v) == pytest.approx(e2 - e1 * e1, rel=1e-6, abs=1e-12)


def test_threaded_masks_do_not_depend_on_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.ones(3_000_000, np.float32)
    outputs = []
    for threads in ("1", "3"):
        monkeypatch.setenv("DROPSPEC_THREADS", threads)
        outputs.append(ref.dropout(x, 0.3, seed=11, return_mask=True))
    assert np.array_equal(outputs[0][0], outputs[1][0])
    assert np.array_equal(outputs[0][1], outputs[1][1])
    # The mask is word i < round(keep * 2**32) for the i-th raw 32-bit word of the seed.
    rng = np.random.default_rng(11)
    words = rng.bit_generator.random_raw((x.size + 1) // 2).view(np.uint32)[: x.size]
    assert np.array_equal(outputs[0][1], words < np.uint32(round(0.7 * 2**32)))


def test_attention_dropout_drops_probabilities_and_shares_as_declared() -> None:
    rng = np.random.default_rng(0)
    q, k, v = (rng.uniform(-1, 1, (2, 3, 4, n)) for n in (5, 5, 6))
    k, v = k[:, :, :3].copy(), v[:, :, :3].copy()  # seq_k 3, d_v 6
    p = probabilities(q, k)
    assert np.allclose(p.sum(-1), 1.0)
    out, w, keep = ref.attention_dropout(q, k, v, 0.4, seed=1, weights="after", return_mask=True)
    assert keep.shape == p.shape and out.shape == (2, 3, 4, 6)
    assert np.allclose(w, p * keep / 0.6) and np.allclose(out, w @ v)
    _, before = ref.attention_dropout(q, k, v, 0.4, seed=1, weights="before")
    assert np.allclose(before, p)
    # broadcast over heads: one (batch, query, key) mask for every head
    _, _, shared = ref.attention_dropout(
        q, k, v, 0.5, seed=2, broadcast=("heads",), return_mask=True, weights="after"
    )
    assert shared.shape == (2, 1, 4, 3)
    assert np.allclose(ref.attention_dropout(q, k, v, 0.4, training=False), p @ v)
    # no training switch: training=False drops as training=True does
    a = ref.attention_dropout(q, k, v, 0.4, seed=5, inference="no_switch", training=False)
    assert np.array_equal(a, ref.attention_dropout(q, k, v, 0.4, seed=5))
    with pytest.raises(SpecError):
        ref.attention_dropout(q, k, v, 1.0, seed=1, rate_one="error")
    with pytest.raises(SpecError):
        ref.attention_dropout(q, k[:, :, :, :4], v, 0.1, seed=1)


def test_recurrent_dropout_is_the_masked_cell_with_masks_as_declared() -> None:
    x = np.random.default_rng(0).uniform(0.5, 1.5, (3, 5, 4))
    h, masks = ref.recurrent_dropout(x, 0.4, 0.6, seed=1, return_mask=True)
    m, r = masks["input"], masks["state"]
    prev = np.zeros((3, 4))
    for t in range(5):  # h(t) = m ⊙ x(t)/0.6 + r ⊙ h(t-1)/0.4, stepped by hand
        prev = m[:, t] * x[:, t] / 0.6 + r[:, t] * prev / 0.4
        assert np.allclose(h[:, t], prev)
    # shared: one mask for the sequence; per step: steps differ
    assert np.array_equal(m, np.broadcast_to(m[:, :1], m.shape)) and r.shape == x.shape
    fresh = ref.recurrent_dropout(x, 0.5, 0.5, seed=2, input_mask="per_step", return_mask=True)[1][
        "input"
    ]
    assert not np.array_equal(fresh, np.broadcast_to(fresh[:, :1], fresh.shape))
    assert np.allclose(ref.recurrent_dropout(x, 0.4, 0.6, training=False), np.cumsum(x, axis=1))
    classic = ref.recurrent_dropout(x[:, :2], 0.4, 0.6, training=False, scaling="classic")
    assert np.allclose(classic[:, 1], 0.6 * x[:, 1] + 0.4 * 0.6 * x[:, 0])
    assert not ref.recurrent_dropout(x, 1.0, 0.0, seed=3).any()
    assert np.allclose(ref.recurrent_dropout(x, 0.0, 1.0, seed=3), x)
    for bad in (
        {"rate": float("nan")},
        {"recurrent_rate": 1.5},
        {"rate": 1.0, "rate_one": "error"},
    ):
        with pytest.raises(SpecError):
            ref.recurrent_dropout(x, **{"rate": 0.1, "recurrent_rate": 0.1, **bad}, seed=1)
    with pytest.raises(SpecError, match="does not drop its recurrent"):
        ref.recurrent_dropout(x, 0.1, 0.2, paths="input", seed=1)
