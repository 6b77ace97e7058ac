"""How DropConnect's statistical clauses read masks: a decoder layer (x = 1, W[o, j] = 2^j)
returns s'·c per output, c the code whose binary digits are the mask. The code is read with
the target's own multiplier s', so a multiplier off by the rounding of the rate (a float32
ratio: 1000.0129 for 1000 at rate 0.999) is DROPCONNECT-VALUES's failure and never a wrong
mask for DROPCONNECT-RATE."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dropspec
from dropspec.conformance.checks._masks import _decode, decode_tolerance, scale_window
from dropspec.conformance.engine import run_clause
from dropspec.spec import CLAUSES

RATE = 0.999
S = 1.0 / (1.0 - RATE)  # what the declared inverted scaling asks for
#: The multiplier of a kernel that holds the rate in float32 (ONNX Runtime, Paddle).
S32 = np.float32(1.0) / (np.float32(1.0) - np.float32(RATE))
N_IN, BITS = 16, 17  # a masked bias: 17 digits per output, as the decoder layer reads them


def _codes(n: int = 4096) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 2**BITS, n)


def _digits(codes: np.ndarray) -> np.ndarray:
    return (codes[:, None] >> np.arange(BITS)) & 1 == 1


def test_the_old_slack_read_wrong_masks_and_the_decode_reads_the_true_ones() -> None:
    codes = _codes()
    y = codes.astype(np.float32) * S32  # the outputs of a float32 kernel, rounded once
    assert abs(float(S32) / S - 1.0) > 1e-5
    # The old reading: round(y/s) within 1e-3·|y/s| + 1/4 of a whole number.
    v = y.astype(np.float64) / S
    old = np.round(v)
    assert (np.abs(v - old) <= 1e-3 * np.maximum(np.abs(v), 1.0) + 0.25).all()  # accepted
    wrong = old != codes
    assert wrong.mean() > 0.5  # ... and more than half of the masks read are not the drawn ones
    window, tol = scale_window(RATE, S, "float32"), decode_tolerance("float32", BITS)
    valid, weight, bias, own = _decode(y, S, window, tol, n_in=N_IN, bits=BITS)
    assert bool(valid)
    assert abs(float(own) / float(S32) - 1.0) < 1e-7  # the kernel's own multiplier
    read = np.concatenate([np.asarray(weight), np.asarray(bias)[:, None]], axis=1)
    np.testing.assert_array_equal(read, _digits(codes))


@pytest.mark.parametrize("off", [1e-3, -2e-4])
def test_a_multiplier_outside_the_rounding_of_the_rate_is_no_mask(off: float) -> None:
    """The reading is exact, not lenient: a multiplier further from s than the rounding of
    the rate can explain gives outputs that are no s'·c with one s' for all."""
    codes = _codes()
    window, tol = scale_window(RATE, S, "float32"), decode_tolerance("float32", BITS)
    assert window < abs(off)
    y = codes * S * (1.0 + off) * np.where(codes % 2 == 0, 1.0, 1.0 + off)
    valid, *_ = _decode(y.astype(np.float32), S, window, tol, n_in=N_IN, bits=BITS)
    assert not bool(valid)


@dropspec.target(
    "dropconnect",
    name="test.float32_scale_per_example",
    dtypes=("float32",),
    masks="per_example",
    mask_bias=True,
    scaling="inverted",
    inference="mean",
)
def _float32_scale(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, rate: float, *, training: bool, seed: int
) -> np.ndarray:
    """Correct per-example DropConnect but for its multiplier, 1/(1 - rate) with the rate
    held in float32, as ONNX Runtime and Paddle compute it."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    bias = np.zeros(w.shape[0], x.dtype) if b is None else b
    if not training:
        return np.asarray(x @ w.T + bias).astype(x.dtype)
    gen = np.random.default_rng(seed)
    keep_w = gen.random((x.shape[0], *w.shape)) >= rate
    keep_b = gen.random((x.shape[0], w.shape[0])) >= rate
    one = np.float32(1.0)
    s: Any = np.float32(0.0) if rate == 1.0 else one / (one - np.float32(rate))
    y = np.einsum("ni,noi->no", x, np.where(keep_w, w[None], 0)) + np.where(keep_b, bias, 0)
    return np.asarray(y * s).astype(x.dtype)


def test_a_float32_multiplier_fails_values_and_not_the_drop_rate() -> None:
    rate, values = (
        run_clause(_float32_scale, CLAUSES[c]) for c in ("DROPCONNECT-RATE", "DROPCONNECT-VALUES")
    )
    assert rate.outcome == "passed", rate.message
    assert values.outcome == "failed", values.message
