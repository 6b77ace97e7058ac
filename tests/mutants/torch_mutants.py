"""PyTorch mutants: gradient faults through custom autograd Functions, and forward faults.

torch is imported inside the functions only. Masks come from a ``torch.Generator`` seeded with
the call's seed (CPU), so the forward pass is deterministic without touching global state.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from dropspec.adapters.fw_torch import DROPPED_SELECT_REASON
from dropspec.reference import ALPHA_PRIME, alpha_constants

from . import Mutant, collector, validate

M: list[Mutant] = []


add = collector(M, "torch")


def keep_mask(shape: Any, rate: float, seed: int, device: Any) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    return (torch.rand(tuple(shape), generator=g, dtype=torch.float64) >= rate).to(device)


def normal(shape: Any, seed: int, device: Any) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=g, dtype=torch.float64).to(device)


@functools.cache
def functions() -> dict[str, Any]:
    """The custom autograd Functions, built on first use (torch imported here)."""
    import torch

    class MaskedScale(torch.autograd.Function):
        """y = where(keep, x·s, 0); the backward pass is chosen by ``mode``."""

        @staticmethod
        def forward(
            ctx: Any, x: Any, rate: float, seed: int, mode: str, shape: tuple[int, ...]
        ) -> Any:
            s = 1.0 / (1.0 - rate)
            keep = keep_mask(shape, rate, seed, x.device)
            ctx.save_for_backward(keep)
            ctx.rate, ctx.seed, ctx.mode, ctx.shape = rate, seed, mode, shape
            return torch.where(keep, x * s, torch.zeros((), dtype=x.dtype))

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (keep,) = ctx.saved_tensors
            s = 1.0 / (1.0 - ctx.rate)
            if ctx.mode == "fresh_mask":  # regenerates the mask from the next seed
                keep = keep_mask(ctx.shape, ctx.rate, ctx.seed + 1, g.device)
                grad = torch.where(keep, g * s, torch.zeros((), dtype=g.dtype))
            elif ctx.mode == "unscaled":  # forgets the 1/(1 - rate)
                grad = torch.where(keep, g, torch.zeros((), dtype=g.dtype))
            else:  # "unmasked": straight-through
                grad = g * s
            return grad, None, None, None, None

    class AlphaUnmasked(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, rate: float, seed: int) -> Any:
            a, b = alpha_constants(rate)
            keep = keep_mask(x.shape, rate, seed, x.device)
            ctx.a = a
            xw = x.to(torch.float64)
            y = torch.where(keep, xw, torch.tensor(ALPHA_PRIME, dtype=torch.float64)) * a + b
            return y.to(x.dtype)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * ctx.a, None, None  # a·g for dropped units too

    class GaussianFresh(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, rate: float, seed: int) -> Any:
            sigma = math.sqrt(rate / (1.0 - rate))
            ctx.rate, ctx.seed = rate, seed
            noise = 1.0 + sigma * normal(x.shape, seed, x.device)
            return (x.to(torch.float64) * noise).to(x.dtype)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            sigma = math.sqrt(ctx.rate / (1.0 - ctx.rate))
            noise = 1.0 + sigma * normal(g.shape, ctx.seed + 1, g.device)  # fresh noise
            return (g.to(torch.float64) * noise).to(g.dtype), None, None

    class LinearUnmaskedGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, w: Any, b: Any, rate: float, seed: int) -> Any:
            s = 1.0 / (1.0 - rate)
            keep = keep_mask(w.shape, rate, seed, w.device)
            ctx.save_for_backward(w)
            ctx.s = s
            thinned = torch.where(keep, w * s, torch.zeros((), dtype=w.dtype))
            return x @ thinned.T + b

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (w,) = ctx.saved_tensors
            return g @ (w * ctx.s), None, None, None, None  # the unmasked weights

    return {
        "masked_scale": MaskedScale,
        "alpha_unmasked": AlphaUnmasked,
        "gaussian_fresh": GaussianFresh,
        "linear_unmasked": LinearUnmaskedGrad,
    }


# ---------------------------------------------------------------- gradient faults ----


def _masked_scale(mode: str, per_example: bool = False) -> Any:
    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        import torch

        validate(rate)
        if not training:
            return x.clone()
        if rate == 1.0:
            return torch.zeros_like(x)
        shape = (x.shape[0],) + (1,) * (x.ndim - 1) if per_example else tuple(x.shape)
        out: Any = functions()["masked_scale"].apply(x, rate, seed, mode, shape)
        return out

    return fn


add(
    _masked_scale("fresh_mask"),
    "dropout",
    "backward_fresh_mask",
    "gradient",
    "custom autograd Function whose backward regenerates the mask from seed + 1",
    "DROPOUT-GRADIENT",
)
add(
    _masked_scale("unscaled"),
    "dropout",
    "backward_unscaled",
    "gradient",
    "custom autograd Function whose backward masks the gradient but forgets 1/(1 - rate)",
    "DROPOUT-GRADIENT",
)
add(
    _masked_scale("unmasked", per_example=True),
    "drop_path",
    "backward_straight_through",
    "gradient",
    "drop path whose backward passes the gradient through unmasked (scaled only)",
    "DROPPATH-GRADIENT",
)


def _alpha_grad(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x.clone()
    return functions()["alpha_unmasked"].apply(x, rate, seed)


add(
    _alpha_grad,
    "alpha_dropout",
    "backward_unmasked",
    "gradient",
    "alpha dropout whose backward is a·g everywhere, dropped units included",
    "ALPHA-GRADIENT",
)


def _gauss_grad(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x.clone()
    return functions()["gaussian_fresh"].apply(x, rate, seed)


add(
    _gauss_grad,
    "gaussian_dropout",
    "backward_fresh_noise",
    "gradient",
    "Gaussian dropout whose backward multiplies by noise drawn afresh from seed + 1",
    "GAUSSIAN-GRADIENT",
)


def _check_layer(x: Any, w: Any, b: Any) -> None:
    if x.ndim != 2 or w.ndim != 2 or w.shape[1] != x.shape[1] or tuple(b.shape) != (w.shape[0],):
        raise ValueError("x, weight and bias do not form a dense layer")


def _dc_grad(x: Any, w: Any, b: Any, rate: float, *, training: bool, seed: int) -> Any:
    import torch

    validate(rate)
    _check_layer(x, w, b)
    if not training:
        return x @ w.T + b
    if rate == 1.0:
        return (x @ torch.zeros_like(w).T) + b
    return functions()["linear_unmasked"].apply(x, w, b, rate, seed)


add(
    _dc_grad,
    "dropconnect",
    "backward_unmasked_weight",
    "gradient",
    "weight drop whose backward uses s·W instead of s·(M ⊙ W)",
    "DROPCONNECT-GRADIENT",
    masks="per_batch",
    mask_bias=False,
    inference="mean",
)


# ---------------------------------------------------------------- forward faults ----


def _dp_elementwise(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import torch
    import torch.nn.functional as F

    validate(rate)
    if not training:
        return x.clone()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out: Any = F.dropout(x, rate, training=True)  # per element, not per example
    return out


add(
    _dp_elementwise,
    "drop_path",
    "f_dropout_per_element",
    "structure",
    "drop path written as F.dropout: one mask value per element instead of per example",
    "DROPPATH-PER-EXAMPLE",
    masking="multiply",
)


def _uniform_gauss(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import torch

    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x.clone()
    g = torch.Generator().manual_seed(seed)
    u = (torch.rand(tuple(x.shape), generator=g, dtype=torch.float64) * 2 - 1) * math.sqrt(3)
    noise = 1.0 + math.sqrt(rate / (1.0 - rate)) * u.to(x.device)
    return (x.to(torch.float64) * noise).to(x.dtype)


add(
    _uniform_gauss,
    "gaussian_dropout",
    "uniform_noise",
    "scaling",
    "torch.rand noise rescaled to mean 0, variance 1: right moments, wrong distribution",
    "GAUSSIAN-DISTRIBUTION",
)


def _rate_one_nan(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import torch

    validate(rate)
    if not training:
        return x.clone()
    keep = keep_mask(x.shape, rate, seed, x.device).to(x.dtype)
    return x * keep / torch.tensor(1.0 - rate, dtype=x.dtype)  # 0/0 at rate 1


add(
    _rate_one_nan,
    "dropout",
    "rate_one_nan",
    "edge",
    "x·mask / (1 - rate) as a tensor division: at rate 1 every output is 0/0 = NaN",
    "DROPOUT-RATE-ONE-ZEROS",
    masking="multiply",
)


def _half_upcast(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import torch

    validate(rate)
    if not training:
        return x.clone()
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()  # "autocast" to float32, never cast back
    if rate == 1.0:
        return torch.zeros_like(x)
    keep = keep_mask(x.shape, rate, seed, x.device)
    return torch.where(keep, x * (1.0 / (1.0 - rate)), torch.zeros((), dtype=x.dtype))


add(
    _half_upcast,
    "dropout",
    "half_upcast_float32",
    "dtype",
    "float16 and bfloat16 inputs are upcast to float32 in training and returned as float32",
    "DROPOUT-DTYPE",
)

_SEEDED: dict[str, bool] = {}


def _seeded_once(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import torch
    import torch.nn.functional as F

    if not _SEEDED:
        torch.manual_seed(seed)  # seeds the global generator once, on the first call
        _SEEDED["done"] = True
    out: Any = F.dropout(x, rate, training=training)
    return out


add(
    _seeded_once,
    "dropout",
    "global_seed_set_once",
    "determinism",
    "F.dropout on torch's global generator, seeded only on the first call",
    "DROPOUT-DETERMINISTIC",
    expected_failures={"DROPOUT-DROPPED-SELECT": DROPPED_SELECT_REASON},
)


def _expanded_masks(x: Any, w: Any, b: Any, rate: float, *, training: bool, seed: int) -> Any:
    import torch

    validate(rate)
    _check_layer(x, w, b)
    if not training:
        return x @ w.T + b
    if rate == 1.0:
        return (x @ torch.zeros_like(w).T) + b
    n = x.shape[0]
    keep = keep_mask(w.shape, rate, seed, w.device).expand(n, *w.shape)  # one mask, n views
    thinned = torch.where(keep, w * (1.0 / (1.0 - rate)), torch.zeros((), dtype=w.dtype))
    return torch.bmm(x.unsqueeze(1), thinned.transpose(1, 2)).squeeze(1) + b


add(
    _expanded_masks,
    "dropconnect",
    "per_example_mask_expanded",
    "independence",
    "declares per-example masks but expands one (out, in) mask over the batch",
    "DROPCONNECT-PER-EXAMPLE",
    masks="per_example",
    mask_bias=False,
    inference="mean",
)


def _half_rate_high(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import torch

    validate(rate)
    if not training:
        return x
    if rate == 1.0:
        return torch.zeros_like(x)
    drop = min(1.0, 1.1 * rate) if x.dtype == torch.bfloat16 else rate  # the bf16 kernel
    keep = keep_mask(x.shape, drop, seed, x.device)
    return torch.where(keep, x * (1.0 / (1.0 - rate)), torch.zeros((), dtype=x.dtype))


add(
    _half_rate_high,
    "dropout",
    "bfloat16_rate_10pct_high",
    "dtype",
    "correct in every dtype but bfloat16, whose kernel drops with probability 1.1·rate",
    "DROPOUT-RATE",
)


# ---------------------------------------------------------------- attention dropout ----


def _attention_stale_backward(
    q: Any, k: Any, v: Any, rate: float, *, training: bool, seed: int
) -> Any:
    """Dropout on P whose forward value uses one mask and whose gradient another: the
    backward pass redraws the mask (as a kernel that recomputes it from a wrong offset)."""
    import torch

    p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if not training or rate == 0:
        return p @ v
    if rate == 1:
        return torch.zeros_like(p @ v)
    gen = torch.Generator().manual_seed(seed)
    first = (torch.rand(p.shape, generator=gen, dtype=torch.float64) >= rate).to(p.dtype)
    second = (torch.rand(p.shape, generator=gen, dtype=torch.float64) >= rate).to(p.dtype)
    forward = p * first / (1 - rate) @ v
    backward = p * second / (1 - rate) @ v
    return backward + (forward - backward).detach()


add(
    _attention_stale_backward,
    "attention_dropout",
    "backward_redraws_mask",
    "gradient",
    "the gradient with respect to v is taken through a second mask, not the forward one",
    "ATTN-GRADIENT",
)


MUTANTS: tuple[Mutant, ...] = tuple(M)
