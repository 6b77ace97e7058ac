"""Recurrent dropout's two paths together: RECUR-PATHS-INDEPENDENT reads the state mask's
strata from the states exactly, and torch's gated layers pass the between-layer mask on
exactly (the weights of ``fw_torch._gated_weights``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest

from dropspec.conformance.checks import recurrent_dropout as checks
from dropspec.conformance.context import Context
from dropspec.reference import recurrent_dropout


@pytest.mark.parametrize("scaling", ["inverted", "classic"])
@pytest.mark.parametrize("input_mask", ["shared", "per_step"])
def test_the_strata_are_the_reference_s_masks(input_mask: str, scaling: str) -> None:
    x = np.empty((64, 2, 8), np.float16)
    x[:, 0], x[:, 1] = checks.PATHS_X
    rate = checks.PATHS_RATE
    h, masks = recurrent_dropout(
        x,
        rate,
        rate,
        seed=5,
        input_mask=input_mask,
        state_mask="per_step",
        scaling=scaling,
        return_mask=True,
    )
    m1, m2, r2 = masks["input"][:, 0], masks["input"][:, 1], masks["state"][:, 1]
    ctx = cast(Context, SimpleNamespace(options={"input_mask": input_mask, "scaling": scaling}))
    got = checks.paths_read(ctx, h)
    assert list(got) == checks.paths_strata(ctx)
    want = {"own input kept": ~r2[m1 & m2]}
    if input_mask == "per_step":
        want["own input dropped at step 2"] = ~r2[m1 & ~m2]
    want["feature +1 input dropped"] = ~r2[:, :-1][m1[:, :-1] & ~m1[:, 1:]]
    want["feature -1 input dropped"] = ~r2[:, 1:][m1[:, 1:] & ~m1[:, :-1]]
    want["example +1 input dropped"] = ~r2[:-1][m1[:-1] & ~m1[1:]]
    want["example -1 input dropped"] = ~r2[1:][m1[1:] & ~m1[:-1]]
    for name, dropped in want.items():
        assert got[name].size > 0, name
        np.testing.assert_array_equal(got[name], dropped, err_msg=name)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_torch_gated_layers_pass_the_between_layer_mask_exactly(kind: str) -> None:
    torch = pytest.importorskip("torch")
    from dropspec.adapters import builtin_targets

    fn = builtin_targets()[f"torch.nn.{kind} (dropout between layers)"].fn
    x = torch.rand(3, 6, 5, dtype=torch.float64) + 0.5
    h = fn(x, 0.25, 0.0, training=True, seed=3).detach().numpy()
    step = np.diff(np.concatenate([np.zeros_like(h[:, :1]), h], axis=1), axis=1)
    ratio = step / x.numpy()
    kept = ratio != 0
    assert kept.any() and not kept.all()
    np.testing.assert_allclose(ratio[kept], 1 / 0.75, rtol=1e-14)
    inferred = fn(x, 0.25, 0.0, training=False, seed=3).detach().numpy()
    np.testing.assert_allclose(inferred, np.cumsum(x.numpy(), axis=1), rtol=1e-14)
    with pytest.raises(ValueError):
        fn(x, 0.0, 0.25, training=True, seed=3)
