"""PyTorch: the backend (tensor conversion, autograd) and the built-in ``torch.*`` targets.

Rules: torch is imported inside functions only, so importing this module (or listing the
built-in targets) never imports torch. PyTorch's dropout functions take no generator, so each
target seeds the global generator inside :func:`seeded`, which restores it afterwards.

What the targets declare, and why (sources in ``shared/research/frameworks.md``):

* ``p`` is the drop probability everywhere, so it is passed as the spec's ``rate``.
* ``dropout1d/2d/3d`` draw one value per (example, channel), channels first: the op is
  ``dropout`` with the spatial axes shared and the rank fixed.
* ``alpha_dropout`` at p = 1 returns ``x * 0`` (ATen special-cases it) instead of raising, so
  those targets declare ``rate_one="zeros"``.
* Every dropout kernel multiplies by the mask, so a dropped NaN or infinity stays NaN; that
  violates DROPOUT-DROPPED-SELECT (a SHOULD), which is recorded as an expected failure.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dtypes import FLOAT_DTYPES, as_dtype, dtype_name
from ..target import Target, make_stateful_target, make_target
from ._backend import Backend, strided_parts
from ._variants import Variant, maps_examples
from .stateful import with_seeded_twins

if TYPE_CHECKING:
    import torch


def torch_device(device: str) -> str:
    """The torch device for a suite device name (``gpu`` means ``cuda``)."""
    return "cuda" if device == "gpu" else device


class TorchBackend(Backend):
    """Conversion between NumPy and ``torch.Tensor``, and gradients through autograd."""

    name = "torch"
    supported_dtypes = FLOAT_DTYPES
    startup_seconds = 3.0
    strides = "non-negative"  # strided tensors, stride 0 too; no negative strides

    def is_array(self, value: Any) -> bool:
        # A tensor can only exist if torch was imported, so never import it here.
        mod = sys.modules.get("torch")
        return mod is not None and isinstance(value, mod.Tensor)

    def asarray(self, a: np.ndarray, device: str = "cpu") -> torch.Tensor:
        import torch

        dev = torch_device(device)
        if not a.flags.c_contiguous and min(a.strides, default=0) >= 0:
            # Keep the layout (transposed, stepped, broadcast): the tensor is a view of the
            # same strides over a copy of the memory a spans.
            buf, offset, steps = strided_parts(a)
            wide = dtype_name(a.dtype) == "bfloat16"
            base = torch.from_numpy(buf.astype(np.float32) if wide else buf).to(dev)
            if wide:
                base = base.to(torch.bfloat16)
            return torch.as_strided(base, a.shape, steps, offset)
        if dtype_name(a.dtype) == "bfloat16":
            # torch cannot read ml_dtypes.bfloat16; float32 holds every bfloat16 exactly.
            return torch.from_numpy(a.astype(np.float32)).to(device=dev, dtype=torch.bfloat16)
        # Copy: from_numpy shares memory, and a target may write into its input.
        return torch.from_numpy(np.array(a, copy=True, order="C")).to(dev)

    def to_numpy(self, value: Any) -> np.ndarray:
        import torch

        t = value.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()  # numpy has no bfloat16; the round trip through float32 is exact
            out: np.ndarray = t.numpy().astype(as_dtype("bfloat16"))
            return out
        return np.array(t.numpy(), copy=True)

    def fresh(self, value: Any) -> Any:
        return value.clone()  # a target may write into its input (inplace=True)

    def for_reduction(self, value: Any) -> Any:
        return value.detach()

    def vjp(
        self, f: Callable[[Any], Any], x: np.ndarray, cotangent: np.ndarray, device: str = "cpu"
    ) -> np.ndarray | None:
        """The gradient of ``sum(f(x) * cotangent)`` with respect to x, by autograd."""
        import torch

        xt = self.asarray(x, device).requires_grad_(True)
        with torch.enable_grad():
            y = f(xt)
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"the target returned {type(y).__name__}, not a torch.Tensor")
        if not y.requires_grad:
            # The output does not depend on x through autograd: its gradient is zero.
            return np.zeros_like(x)
        cot = self.asarray(cotangent, device).to(y.dtype)
        (grad,) = torch.autograd.grad(y, xt, cot, allow_unused=True)
        return np.zeros_like(x) if grad is None else self.to_numpy(grad)


BACKEND = TorchBackend()


@contextlib.contextmanager
def seeded(seed: int, *tensors: torch.Tensor) -> Iterator[None]:
    """Seed torch's global generator for the block and restore it afterwards.

    For functions without a ``generator`` argument (pytorch#76580). The CUDA generators of
    the devices ``tensors`` live on are forked too, so the caller's CUDA stream is kept.
    """
    import torch

    cuda = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):
        # What torch.manual_seed(seed) does for the generators in use, without its lazy
        # seeding of every other backend (which formats a stack trace each time).
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


DROPPED_SELECT_REASON = (
    "PyTorch's dropout kernels compute x * mask / (1 - p), so a dropped NaN or infinity gives "
    "NaN on CPU; kept as designed — https://github.com/pytorch/pytorch/issues/59421"
)


def _inside(op: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``op(*args, **kwargs)`` in a frame of its own. torch.compile cannot trace the seeding
    (torch.random.fork_rng breaks its graph and it runs the whole frame eagerly), so the
    targets call their op through this frame, which it compiles (the variant
    ``torch.compile``), the seeding running eagerly around it as a training script's does."""
    return op(*args, **kwargs)


def _functional(name: str) -> Callable[..., Any]:
    def fn(x: torch.Tensor, rate: float, *, training: bool, seed: int) -> torch.Tensor:
        import torch.nn.functional as F

        with seeded(seed, x):
            out: torch.Tensor = _inside(getattr(F, name), x, p=rate, training=training)
        return out

    fn.__qualname__ = fn.__name__ = f"torch_{name}"
    return fn


def _module(name: str) -> Callable[..., Any]:
    def fn(x: torch.Tensor, rate: float, *, training: bool, seed: int) -> torch.Tensor:
        from torch import nn

        layer = getattr(nn, name)(p=rate).train(training)  # a fresh layer per call
        with seeded(seed, x):
            out: torch.Tensor = _inside(layer, x)
        return out

    fn.__qualname__ = fn.__name__ = f"torch_nn_{name}"
    return fn


def _native_dropout(x: torch.Tensor, rate: float, *, training: bool, seed: int) -> torch.Tensor:
    import torch

    with seeded(seed, x):
        out, _mask = torch.native_dropout(x, rate, training)
    return out


def _weight_drop(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    rate: float,
    *,
    training: bool,
    seed: int,
) -> torch.Tensor:
    import torch.nn.functional as F

    with seeded(seed, x):
        return F.linear(x, F.dropout(weight, rate, training), bias)


def _per_example(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    rate: float,
    *,
    training: bool,
    seed: int,
) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    if not training:
        # F.dropout with training=False only validates the rate and hands back the weight.
        return F.linear(x, F.dropout(weight, rate, training=False), bias)
    if bias is not None and bias.shape != weight.shape[:1]:
        # Broadcasting would silently accept a length-1 bias (DROPCONNECT-SHAPE-MISMATCH).
        raise ValueError(f"bias has shape {tuple(bias.shape)}, expected ({weight.shape[0]},)")
    n = x.shape[0]
    with seeded(seed, x):
        # One (out, in) mask per example, and one (out,) bias mask per example, as in the paper.
        masked = F.dropout(weight.expand(n, *weight.shape), rate, training=True)
        masked_bias = None if bias is None else F.dropout(bias.expand(n, -1), rate, True)
    y = torch.bmm(x.unsqueeze(1), masked.transpose(1, 2)).squeeze(1)
    return y if masked_bias is None else y + masked_bias


_XFAIL_DROPOUT = {"DROPOUT-DROPPED-SELECT": DROPPED_SELECT_REASON}
#: ATen allocates the noise with empty_like(input), which keeps the input's strides, and
#: bernoulli_ fills it in storage order: a transposed or Fortran-ordered input gets another
#: mask than its contiguous copy under the same seed (VALUES still holds at every position).
#: The channel variants draw a separate (N, C, 1, ...) noise tensor and are not affected.
LAYOUT_REASON = (
    "the mask is drawn in the input's storage order (empty_like keeps its strides), so a "
    "transposed input gets another mask than its contiguous copy; "
    "https://github.com/pytorch/pytorch/pull/177077"
)
_XFAIL_ELEMENTWISE = {**_XFAIL_DROPOUT, "DROPOUT-LAYOUT": LAYOUT_REASON}
_XFAIL_ALPHA = {"ALPHA-LAYOUT": LAYOUT_REASON}
_CHANNEL: dict[str, dict[str, Any]] = {
    "1d": dict(shared_axes=(2,), rank=3),  # (N, C, L)
    "2d": dict(shared_axes=(2, 3), rank=4),  # (N, C, H, W)
    "3d": dict(shared_axes=(2, 3, 4), rank=5),  # (N, C, D, H, W)
}
# FeatureAlphaDropout documents (N, C, D, H, W) input; one value per (example, channel).
_FEATURE_ALPHA: dict[str, Any] = dict(shared_axes=(2, 3, 4), rank=5, rate_one="zeros")


def _dropout_targets() -> list[Target]:
    out = [
        make_target(
            _functional("dropout"),
            "dropout",
            name="torch.dropout",
            framework="torch",
            expected_failures=_XFAIL_ELEMENTWISE,
            description="torch.nn.functional.dropout(x, p=rate, training=training)",
        ),
        make_target(
            _module("Dropout"),
            "dropout",
            name="torch.nn.Dropout",
            framework="torch",
            expected_failures=_XFAIL_ELEMENTWISE,
            description="torch.nn.Dropout(p=rate), .train()/.eval() per call",
        ),
    ]
    for dims, options in _CHANNEL.items():
        out += [
            make_target(
                _functional(f"dropout{dims}"),
                "dropout",
                name=f"torch.dropout{dims}",
                framework="torch",
                expected_failures=_XFAIL_DROPOUT,
                **options,
                description=f"torch.nn.functional.dropout{dims}(x, p=rate, "
                "training=training): one mask value per (example, channel)",
            ),
            make_target(
                _module(f"Dropout{dims[0]}d"),
                "dropout",
                name=f"torch.nn.Dropout{dims}",
                framework="torch",
                expected_failures=_XFAIL_DROPOUT,
                **options,
                description=f"torch.nn.Dropout{dims}(p=rate): one mask value per "
                "(example, channel)",
            ),
        ]
    out.append(
        make_target(
            _native_dropout,
            "dropout",
            name="torch.native_dropout",
            framework="torch",
            expected_failures={
                **_XFAIL_ELEMENTWISE,
                "DROPOUT-RATE-INVALID-INFERENCE": "torch.native_dropout(x, p, train=False) "
                "returns (x.clone(), ones) without looking at p: only the training kernel's "
                "bernoulli_ checks it; no upstream issue found; https://github.com/pytorch/"
                "pytorch/blob/v2.13.0/aten/src/ATen/native/Dropout.cpp (native_dropout_cpu)",
            },
            description="torch.native_dropout(x, rate, training)[0], the ATen kernel that fused "
            "GPU dropout uses; returns (output, mask)",
        )
    )
    return out


def _stateful_module(name: str) -> Callable[..., Any]:
    """A factory of torch.nn.{name} layers whose state is torch's global generator, seeded
    once when the layer is built (``torch.manual_seed`` at the top of a training script),
    then advanced by each training call."""

    def factory(rate: float, *, seed: int) -> Callable[..., Any]:
        import torch
        from torch import nn

        layer = getattr(nn, name)(p=rate)
        # What torch.manual_seed(seed) does for the CPU generator (see ``seeded``).
        torch.default_generator.manual_seed(seed)

        def call(x: torch.Tensor, *, training: bool) -> torch.Tensor:
            out: torch.Tensor = layer.train(training)(x)
            return out

        return call

    factory.__qualname__ = factory.__name__ = f"torch_nn_{name}_stateful"
    return factory


def _stateful_targets() -> list[Target]:
    return [
        make_stateful_target(
            _stateful_module("Dropout"),
            "dropout",
            name="torch.nn.Dropout (stateful)",
            framework="torch",
            expected_failures=_XFAIL_ELEMENTWISE,
            description="torch.nn.Dropout(p=rate) built once after torch.manual_seed(seed), "
            "then called again and again; the global generator is its state",
        ),
        *(
            make_stateful_target(
                _stateful_module(f"Dropout{dims}"),
                "dropout",
                name=f"torch.nn.Dropout{dims} (stateful)",
                framework="torch",
                expected_failures=_XFAIL_DROPOUT,
                **_CHANNEL[dims],
                description=f"torch.nn.Dropout{dims}(p=rate) built once after "
                "torch.manual_seed(seed), then called again and again; the global generator "
                "is its state",
            )
            for dims in ("1d", "2d", "3d")
        ),
        make_stateful_target(
            _stateful_module("AlphaDropout"),
            "alpha_dropout",
            name="torch.nn.AlphaDropout (stateful)",
            framework="torch",
            rate_one="zeros",
            expected_failures=_XFAIL_ALPHA,
            description="torch.nn.AlphaDropout(p=rate) built once after torch.manual_seed(seed), "
            "then called again and again; the global generator is its state",
        ),
        make_stateful_target(
            _stateful_module("FeatureAlphaDropout"),
            "alpha_dropout",
            name="torch.nn.FeatureAlphaDropout (stateful)",
            framework="torch",
            **_FEATURE_ALPHA,
            description="torch.nn.FeatureAlphaDropout(p=rate) on (N, C, D, H, W), built once "
            "after torch.manual_seed(seed), then called again and again; the global generator "
            "is its state",
        ),
    ]


def _alpha_targets() -> list[Target]:
    return [
        make_target(
            _functional("alpha_dropout"),
            "alpha_dropout",
            name="torch.alpha_dropout",
            framework="torch",
            rate_one="zeros",
            expected_failures=_XFAIL_ALPHA,
            description="torch.nn.functional.alpha_dropout(x, p=rate, "
            "training=training); returns x * 0 at p = 1",
        ),
        make_target(
            _module("AlphaDropout"),
            "alpha_dropout",
            name="torch.nn.AlphaDropout",
            framework="torch",
            rate_one="zeros",
            expected_failures=_XFAIL_ALPHA,
            description="torch.nn.AlphaDropout(p=rate); returns x * 0 at p = 1",
        ),
        make_target(
            _functional("feature_alpha_dropout"),
            "alpha_dropout",
            name="torch.feature_alpha_dropout",
            framework="torch",
            **_FEATURE_ALPHA,
            description="torch.nn.functional.feature_alpha_dropout(x, p=rate, "
            "training=training) on (N, C, D, H, W): one value per (example, channel)",
        ),
        make_target(
            _module("FeatureAlphaDropout"),
            "alpha_dropout",
            name="torch.nn.FeatureAlphaDropout",
            framework="torch",
            **_FEATURE_ALPHA,
            description="torch.nn.FeatureAlphaDropout(p=rate) on (N, C, D, H, W): one "
            "value per (example, channel)",
        ),
    ]


def _dropconnect_targets() -> list[Target]:
    return [
        make_target(
            _weight_drop,
            "dropconnect",
            name="torch.weight_drop",
            framework="torch",
            masks="per_batch",
            mask_bias=False,
            scaling="inverted",
            inference="mean",
            description="F.linear(x, F.dropout(weight, p=rate, training), bias): weight "
            "drop, one mask per call shared by the batch, bias unmasked",
        ),
        make_target(
            _per_example,
            "dropconnect",
            name="torch.dropconnect.per_example",
            framework="torch",
            masks="per_example",
            mask_bias=True,
            scaling="inverted",
            inference="mean",
            description="a composition of torch ops: F.dropout on the weight expanded "
            "to (batch, out, in) and on the bias expanded to (batch, out), then a "
            "batched product; per-example masks as in Wan et al. 2013, but inverted "
            "scaling and mean inference",
        ),
    ]


def _sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rate: float, *, training: bool, seed: int
) -> torch.Tensor:
    import torch.nn.functional as F

    # No training switch: dropout_p is applied whenever it is > 0 (ATTN-NO-SWITCH).
    with seeded(seed, q):
        out: torch.Tensor = F.scaled_dot_product_attention(q, k, v, dropout_p=rate)
    return out


def _multihead_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rate: float, *, training: bool, seed: int
) -> torch.Tensor:
    """:func:`_multihead` called with need_weights=False, as nn.TransformerEncoderLayer and
    nn.TransformerDecoderLayer call their attention: F.multi_head_attention_forward then
    drops inside F.scaled_dot_product_attention(dropout_p=rate if training else 0), not
    through F.dropout on explicit weights."""
    out: torch.Tensor = _multihead(q, k, v, rate, training=training, seed=seed, need_weights=False)
    return out


def _multihead(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rate: float,
    *,
    training: bool,
    seed: int,
    need_weights: bool = True,
) -> Any:
    """nn.MultiheadAttention with identity projections and no biases, so that its attention is
    the op's: q, k and v of (batch, heads, seq, d) are laid out as (batch, seq, heads·width);
    the width is max(d, d_v), q and k padded with zeros (which leave q·kᵀ alone) and q scaled
    by √(width/d) so that the layer's 1/√width is the op's 1/√d; v is padded likewise and its
    padding sliced off the output."""
    import torch
    from torch import nn

    b, h, sq, d = q.shape
    dv = v.shape[-1]
    width = max(d, dv)

    def packed(t: torch.Tensor, factor: float = 1.0) -> torch.Tensor:
        padded = torch.nn.functional.pad(
            t * factor if factor != 1.0 else t, (0, width - t.shape[-1])
        )
        return padded.transpose(1, 2).reshape(b, t.shape[2], h * width)

    layer = nn.MultiheadAttention(
        h * width, h, dropout=rate, bias=False, batch_first=True, dtype=q.dtype, device=q.device
    ).train(training)
    with torch.no_grad():
        eye = torch.eye(h * width, dtype=q.dtype, device=q.device)
        layer.in_proj_weight.copy_(torch.cat([eye, eye, eye]))
        layer.out_proj.weight.copy_(eye)
    with seeded(seed, q):
        out, weights = layer(
            packed(q, (width / d) ** 0.5),
            packed(k),
            packed(v),
            need_weights=need_weights,
            average_attn_weights=False,
        )
    out = out.reshape(b, sq, h, width).transpose(1, 2)[..., :dv]
    return (out, weights) if need_weights else out


#: Observed: rates -0.1, -1e-12 and NaN accepted, 1.5 rejected (by F.dropout).
MHA_RATE_REASON = (
    "nn.MultiheadAttention never checks its dropout: F.multi_head_attention_forward calls "
    "F.dropout on the weights only `if dropout_p > 0.0`, so a negative or NaN rate silently "
    "drops nothing, while a rate above 1 reaches F.dropout and raises (torch/nn/functional.py; "
    "no upstream issue found)"
)


#: Observed: every invalid rate accepted with training=False, by both calls of the layer.
MHA_INFERENCE_RATE_REASON = (
    "in eval mode F.multi_head_attention_forward sets dropout_p = 0.0 before it uses it "
    "(`if not training: dropout_p = 0.0`), and the module checks its dropout nowhere else, "
    "so -0.1, 1.5 and NaN are all accepted outside training (torch/nn/functional.py; no "
    "upstream issue found)"
)


def _attention_targets() -> list[Target]:
    return [
        make_target(
            _sdpa,
            "attention_dropout",
            name="torch.scaled_dot_product_attention",
            framework="torch",
            inference="no_switch",
            description="F.scaled_dot_product_attention(q, k, v, dropout_p=rate): no training "
            "switch; on the CPU only the math backend drops (the CPU flash kernel refuses "
            "dropout_p > 0)",
        ),
        make_target(
            _multihead,
            "attention_dropout",
            name="torch.nn.MultiheadAttention",
            framework="torch",
            weights="after",
            expected_failures={
                "ATTN-RATE-INVALID": MHA_RATE_REASON,
                "ATTN-RATE-INVALID-INFERENCE": MHA_INFERENCE_RATE_REASON,
            },
            description="nn.MultiheadAttention(dropout=rate) with identity projections, "
            "need_weights=True, average_attn_weights=False: the weights it returns are "
            "taken after dropout",
        ),
        make_target(
            _multihead_sdpa,
            "attention_dropout",
            name="torch.nn.MultiheadAttention.need_weights_false",
            framework="torch",
            dtypes=("float32", "float64"),
            expected_failures={"ATTN-RATE-INVALID-INFERENCE": MHA_INFERENCE_RATE_REASON},
            description="nn.MultiheadAttention(dropout=rate) with identity projections and "
            "need_weights=False, the call nn.TransformerEncoderLayer makes: the dropout is "
            "F.scaled_dot_product_attention's; float32 and float64 only",
        ),
    ]


def _stacked_rnn(
    x: torch.Tensor, rate: float, recurrent_rate: float, *, training: bool, seed: int
) -> torch.Tensor:
    """The dropout between the two layers of nn.RNN(num_layers=2, dropout=rate,
    nonlinearity='relu'): layer 1 passes x on (input weights the identity, recurrent ones
    zero), layer 2 is the cell h(t) = relu(x(t) + h(t−1)) (identity weights, no biases), so
    the states it returns are the op's on the positive x the checks pass. torch drops
    nothing inside the cell: recurrent_rate must be 0 (declared paths='input')."""
    import torch
    from torch import nn

    if recurrent_rate != 0:
        raise ValueError("nn.RNN drops only between layers: recurrent_rate must be 0")
    f = x.shape[-1]
    layer = nn.RNN(
        f, f, num_layers=2, nonlinearity="relu", bias=False, batch_first=True,
        dropout=rate, dtype=x.dtype, device=x.device,
    ).train(training)  # fmt: skip
    with torch.no_grad():
        eye = torch.eye(f, dtype=x.dtype, device=x.device)
        # input-to-hidden and hidden-to-hidden weights of layers 0 and 1, in that order
        ih0, hh0, ih1, hh1 = layer.parameters()
        ih0.copy_(eye)
        hh0.zero_()
        ih1.copy_(eye)
        hh1.copy_(eye)
    with seeded(seed, x):
        out: torch.Tensor = layer(x)[0]
    return out


#: Gate pre-activations that saturate a sigmoid exactly: σ(+GATE_OPEN) = 1, σ(−GATE_OPEN) = 0.
GATE_OPEN = 1e4
#: Each layer of the gated targets scales its input by 2^−GATED_SHIFT: tanh(z) = z in float32
#: and float64 for |z| below 2^−17 (float32) and 2^−27 (float64), and x times the largest
#: dropout scale the checks use (20) stays far below both, so both layers' tanh pass their
#: arguments through. The target multiplies the top layer's states by 2^(2·GATED_SHIFT), a
#: power of two: exact.
GATED_SHIFT = 40


def _gated_weights(layer: Any, kind: str, f: int) -> None:
    """Weights that reduce ``nn.LSTM``/``nn.GRU`` of two layers (f units, with biases) to
    layer 1: h1(t) = a·x(t) and layer 2: h2(t) = a·d(t) + h2(t−1), d the dropped h1 and
    a = 2^−GATED_SHIFT:

    - LSTM (gates i, f, g, o): i = o = 1; f = 0 in layer 1, 1 in layer 2; g = tanh(a·input).
      So c1(t) = a·x(t), c2(t) = c2(t−1) + a·d(t), and h = tanh(c) = c.
    - GRU (gates r, z, n): r = 1, z = 0, so h(t) = n(t) = tanh(a·input + W_hn·h(t−1)), with
      W_hn zero in layer 1 and the identity in layer 2.

    Every gate weight is zero, so a saturated gate's pre-activation is its bias alone."""
    import torch

    a = 2.0**-GATED_SHIFT
    with torch.no_grad():
        for p in layer.parameters():
            p.zero_()
        eye = torch.eye(f, dtype=layer.weight_ih_l0.dtype, device=layer.weight_ih_l0.device)
        for i in (0, 1):
            getattr(layer, f"weight_ih_l{i}")[2 * f : 3 * f] = a * eye  # g (LSTM) or n (GRU)
            bias = getattr(layer, f"bias_ih_l{i}")
            if kind == "LSTM":
                bias[:f] = bias[3 * f :] = GATE_OPEN  # i and o
                bias[f : 2 * f] = GATE_OPEN if i else -GATE_OPEN  # f: forget, then keep
            else:
                bias[:f], bias[f : 2 * f] = GATE_OPEN, -GATE_OPEN  # r = 1, z = 0
        if kind == "GRU":
            layer.weight_hh_l1[2 * f : 3 * f] = eye


def _stacked_gated(kind: str) -> Callable[..., torch.Tensor]:
    """``fn(x, rate, recurrent_rate, *, training, seed)`` through ``nn.<kind>(num_layers=2,
    dropout=rate)`` with the weights of :func:`_gated_weights`. torch drops only between the
    layers, so recurrent_rate must be 0 (declared paths='input')."""

    def fn(
        x: torch.Tensor, rate: float, recurrent_rate: float, *, training: bool, seed: int
    ) -> torch.Tensor:
        from torch import nn

        if recurrent_rate != 0:
            raise ValueError(f"nn.{kind} drops only between layers: recurrent_rate must be 0")
        f = x.shape[-1]
        layer = getattr(nn, kind)(
            f, f, num_layers=2, batch_first=True, dropout=rate, dtype=x.dtype, device=x.device
        ).train(training)
        _gated_weights(layer, kind, f)
        with seeded(seed, x):
            out: torch.Tensor = layer(x)[0]
        return out * 2.0 ** (2 * GATED_SHIFT)

    return fn


def _recurrent_targets() -> list[Target]:
    gated = [
        make_target(
            _stacked_gated(kind),
            "recurrent_dropout",
            name=f"torch.nn.{kind} (dropout between layers)",
            framework="torch",
            paths="input",
            input_mask="per_step",
            dtypes=("float32", "float64"),
            description=f"nn.{kind}(num_layers=2, dropout=rate) with saturated gates "
            f"({'i = o = 1, f = 0 then 1' if kind == 'LSTM' else 'r = 1, z = 0'}) and "
            "input weights 2^-40·I, so each tanh passes its argument on: layer 2 adds the "
            "dropped layer-1 output to its state, and the states times 2^80 are the op's. "
            "The mask is read as for nn.RNN; float32 and float64 only (2^-80 is below "
            "float16's range)",
        )
        for kind in ("LSTM", "GRU")
    ]
    return [
        make_target(
            _stacked_rnn,
            "recurrent_dropout",
            name="torch.nn.RNN (dropout between layers)",
            framework="torch",
            paths="input",
            input_mask="per_step",
            description="nn.RNN(num_layers=2, dropout=rate, nonlinearity='relu'), the first "
            "layer passing x on: the dropout between layers (that of nn.LSTM and nn.GRU too, "
            "torch/nn/modules/rnn.py), a fresh mask at every step on layer 2's input",
        ),
        *gated,
    ]


#: Why torch targets fail *-INDEPENDENT-SEEDS: torch.manual_seed takes any seed below 2^64
#: (its documented range), but the CPU generator (mt19937) is seeded from the low 32 bits.
SEED_32_REASON = (
    "torch.manual_seed accepts seeds up to 2^64 - 1, but the CPU generator keeps only their "
    "low 32 bits: seeds that differ in bit 32 or above give the same mask "
    "(https://github.com/pytorch/pytorch/issues/87509)"
)


#: The clauses the 32-bit seeding fails: seeds 0 and 2^32 (SEED-SPACE), s and s ± 2^32
#: (SEED-PAIRS) give the same mask.
SEED_32_CLAUSES = ("-INDEPENDENT-SEEDS", "-SEED-SPACE", "-SEED-PAIRS")


def with_seed_truncation(targets: Iterable[Target]) -> tuple[Target, ...]:
    """``targets`` (seeded through torch's global CPU generator) with their
    *-INDEPENDENT-SEEDS, *-SEED-SPACE and *-SEED-PAIRS clauses marked as the expected
    failure :data:`SEED_32_REASON`."""
    from ..spec import get_op

    out = []
    for t in targets:
        seeds = [c.id for c in get_op(t.op).clauses if c.id.endswith(SEED_32_CLAUSES)]
        failures = {**t.expected_failures, **dict.fromkeys(seeds, SEED_32_REASON)}
        out.append(replace(t, expected_failures=failures))
    return tuple(out)


#: Module classes whose forward calls a checked functional (``nn.Dropout.forward`` is
#: ``F.dropout``, and so on): the same kernel, run by ``check --all --twins`` and the matrix.
TWINS: dict[str, str] = {
    "torch.nn.Dropout": "torch.dropout",
    "torch.nn.Dropout1d": "torch.dropout1d",
    "torch.nn.Dropout2d": "torch.dropout2d",
    "torch.nn.Dropout3d": "torch.dropout3d",
    "torch.nn.AlphaDropout": "torch.alpha_dropout",
    "torch.nn.FeatureAlphaDropout": "torch.feature_alpha_dropout",
    # torch drops between the layers of every RNN module with one call, at::dropout
    # (apply_layer_stack in aten/src/ATen/native/RNN.cpp; oneDNN's LSTM the same, mkldnn/RNN.cpp)
    "torch.nn.LSTM (dropout between layers)": "torch.nn.RNN (dropout between layers)",
    "torch.nn.GRU (dropout between layers)": "torch.nn.RNN (dropout between layers)",
}

TARGETS: tuple[Target, ...] = with_seed_truncation(
    (
        *_dropout_targets(),
        *_alpha_targets(),
        *_dropconnect_targets(),
        *_stateful_targets(),
        *_attention_targets(),
        *_recurrent_targets(),
    )
)
TARGETS = with_seeded_twins(TARGETS)


# ---------------------------------------------------------------- variants ----
# Transformations a PyTorch target is checked under (dropspec.adapters._variants). torch
# traces nothing here: the seed reaches the target as the int it is.


def _under_vmap(t: Target) -> Callable[..., Any]:
    """torch.func.vmap(..., randomness="different") over the leading axis."""

    def under_torch_vmap(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        import torch

        if x.dim() == 0 or x.shape[0] == 0:  # nothing to map over: the plain call
            return t.fn(x, rate, training=training, seed=seed)
        one = lambda e: t.fn(e, rate, training=training, seed=seed)  # noqa: E731
        return torch.func.vmap(one, randomness="different")(x)

    return under_torch_vmap


def _under_checkpoint(t: Target) -> Callable[..., Any]:
    """torch.utils.checkpoint.checkpoint(..., use_reentrant=False) of the call: the backward
    pass recomputes the forward (the RNG state preserved, the default)."""

    def under_torch_checkpoint(*args: Any, training: bool, seed: int) -> Any:
        from torch.utils.checkpoint import checkpoint

        *arrays, rate = args
        body = lambda *inner: t.fn(*inner, rate, training=training, seed=seed)  # noqa: E731
        return checkpoint(body, *arrays, use_reentrant=False)

    return under_torch_checkpoint


def _layer_under_checkpoint(t: Target) -> Callable[..., Any]:
    """The layer's training calls under torch.utils.checkpoint: the backward recomputes the
    forward, the global generator's state restored for it (the layer's state is that
    generator)."""
    factory = t.factory
    assert factory is not None

    def factory_under_checkpoint(rate: float, *, seed: int) -> Callable[..., Any]:
        from torch.utils.checkpoint import checkpoint

        layer = factory(rate, seed=seed)

        def call(*arrays: Any, training: bool) -> Any:
            body = lambda *inner: layer(*inner, training=training)  # noqa: E731
            return checkpoint(body, *arrays, use_reentrant=False)

        return call

    return factory_under_checkpoint


#: torch.compile's settings for the variants: the dynamo limits raised so that every rate,
#: shape and dtype the checks draw is compiled (past the default limit of 8 recompiles
#: dynamo would run the call eagerly, and the variant would check eager code).
_COMPILE_LIMITS: dict[str, Any] = {
    "recompile_limit": 1 << 20,
    "accumulated_recompile_limit": 1 << 20,
}
#: The activation memory budget the dynamo cache was compiled under (see _compiling).
_BUDGET = [1.0]


@contextlib.contextmanager
def _compiling(budget: float) -> Iterator[None]:
    """torch.compile's settings for one call: the limits, and the AOT partitioner's
    activation memory budget. Dynamo's cache does not key on the budget, so a change of
    budget in one process (two variants checked by one worker) resets it."""
    import torch

    if _BUDGET[0] != budget:
        torch._dynamo.reset()
        _BUDGET[0] = budget
    with (
        torch._dynamo.config.patch(_COMPILE_LIMITS),
        torch._functorch.config.patch(activation_memory_budget=budget),
    ):
        yield


def _under_compile(budget: float, backend: str) -> Callable[[Target], Callable[..., Any]]:
    """torch.compile of the target's call with ``backend``, under the activation memory
    budget ``budget`` (1.0, the default: no forced recomputation)."""

    def wrap(t: Target) -> Callable[..., Any]:
        compiled: list[Any] = []

        def under_torch_compile(*args: Any, training: bool, seed: int) -> Any:
            import torch

            if not compiled:
                compiled.append(torch.compile(t.fn, backend=backend))
            with _compiling(budget):
                return compiled[0](*args, training=training, seed=seed)

        return under_torch_compile

    return wrap


def _layer_under_compile(budget: float, backend: str) -> Callable[[Target], Callable[..., Any]]:
    """A factory of torch.compile'd layers: the layer built, then compiled as a training
    script compiles its model; each call draws from the generator inside the compiled code."""

    def wrap(t: Target) -> Callable[..., Any]:
        factory = t.factory
        assert factory is not None

        def factory_under_compile(rate: float, *, seed: int) -> Callable[..., Any]:
            import torch

            layer = torch.compile(factory(rate, seed=seed), backend=backend)

            def call(*arrays: Any, training: bool) -> Any:
                with _compiling(budget):
                    return layer(*arrays, training=training)  # type: ignore[no-untyped-call]

            return call

        return factory_under_compile

    return wrap


def _compiled_a_graph(t: Target) -> str:
    """Why torch.compile ran ``t`` eagerly ('' where it compiled a graph of it): one probe
    call, and dynamo's count of the graphs it has compiled."""
    from torch._dynamo.utils import counters

    from ._variants import probe_input

    if t.factory is not None or len(_positional(t)) != 2:
        return ""  # a layer, or an op of several arrays: the checks' calls tell
    before = counters["stats"]["unique_graphs"]
    try:
        t.fn(probe_input(t), 0.5, training=True, seed=1)
    except Exception:
        return ""  # the checks report what the target raises
    if counters["stats"]["unique_graphs"] > before or _SEEN_COMPILED.get(t.name):
        _SEEN_COMPILED[t.name] = True
        return ""
    return (
        "torch.compile compiled no graph of it and ran it eagerly (a graph break it cannot "
        "resume from, such as torch.random.fork_rng around the op): call the op from a "
        "function of its own, seeded outside it"
    )


#: Targets a probe has seen compile (a second load finds the graph cached, counting none).
_SEEN_COMPILED: dict[str, bool] = {}


def _positional(t: Target) -> tuple[str, ...]:
    from ..spec import get_op

    return get_op(t.op).positional


#: pytorch#190758: with activation_memory_budget < 1 the AOT partitioner may recompute an
#: RNG op in the backward, where it draws afresh (at 0 always: the budget-0 shortcut skips
#: the ban on recomputing random ops).
MEMORY_BUDGET_REASON = (
    "under torch.compile with torch._functorch.config.activation_memory_budget = 0 the "
    "backward recomputes the dropout and draws a new mask: the gradient's mask agrees with "
    "the forward's at about half the positions at rate 0.5 (observed with torch 2.13 CPU, "
    "inductor and aot_eager_decomp_partition alike); "
    "https://github.com/pytorch/pytorch/issues/190758, "
    "https://github.com/pytorch/pytorch/issues/190717"
)
#: What the compiled dropout (the decomposition of native_dropout that AOT autograd and
#: inductor trace) does differently from ATen's kernel.
COMPILED_NAN_REASON = (
    "under torch.compile a NaN rate is accepted: F.dropout's own check (p < 0 or p > 1) "
    "lets NaN through, and the traced decomposition drops ATen's kernel check that raises "
    "eagerly (observed with torch 2.13 CPU); https://github.com/pytorch/pytorch/issues/185246"
)
COMPILED_HALF_REASON = (
    "under torch.compile the mask comes from rand_like(x) in x's own dtype (the traced "
    "decomposition of native_dropout), so in float16 and bfloat16 the uniform draws are "
    "rounded before the comparison with the rate and the drop rate is off: 0.99070 at rate "
    "0.99 in float16 with aot_eager_decomp_partition, 0.99027 with inductor (16.7M values, "
    "11 sd), eager 0.98999; E[y] and Var[y] are off in bfloat16 at rate 0.1 (torch 2.13 "
    "CPU); no upstream issue found; https://github.com/pytorch/pytorch/blob/v2.13.0/torch/"
    "_decomp/decompositions.py (native_dropout)"
)
_HALF = ("float16", "bfloat16")
_COMPILED_DIVERGENCES = {
    "DROPOUT-RATE-INVALID": COMPILED_NAN_REASON,
    "DROPOUT-RATE-INVALID-INFERENCE": COMPILED_NAN_REASON,
    "DROPOUT-RATE": COMPILED_HALF_REASON,
    "DROPOUT-UNBIASED": COMPILED_HALF_REASON,
    "DROPOUT-VARIANCE": COMPILED_HALF_REASON,
}
_COMPILED_HALF_DTYPES = {
    "DROPOUT-RATE": _HALF,
    "DROPOUT-UNBIASED": _HALF,
    "DROPOUT-VARIANCE": _HALF,
}

#: Where ``--variants all`` checks a target's compiled call: one functional and one stateful
#: layer, for the cost of compiling (see docs/transformed.md).
_COMPILE_SET = ("torch.dropout", "torch.nn.Dropout (stateful)")
#: The AOT partitioner inductor uses (min-cut rematerialisation, which reads the memory
#: budget), its graphs run by ATen rather than compiled to C++: about 0.4 s a graph here
#: against 2-5 s for inductor's C++, and a check compiles hundreds of graphs.
_PARTITIONED = "aot_eager_decomp_partition"


#: The recurrent targets under torch.compile: Dynamo does not trace torch's RNN modules
#: (torch._dynamo.config.allow_rnn is False by default): it breaks the graph at the module and
#: runs it eagerly, and the probe (_compiled_a_graph) cannot tell for an op of three
#: positionals. Observed with torch 2.13.0 CPU, backend aot_eager_decomp_partition.
_RNN_NOT_COMPILED = dict.fromkeys(
    (f"torch.nn.{kind} (dropout between layers)" for kind in ("RNN", "LSTM", "GRU")),
    "Dynamo does not trace nn.RNN, nn.LSTM or nn.GRU (graph break 'Attempted to wrap RNN, "
    "GRU, or LSTM'; torch._dynamo.config.allow_rnn=False by default): the layer would run "
    "eagerly, so it is not checked under torch.compile "
    "(https://meta-pytorch.github.io/compile-graph-break-site/gb/gb0014.html)",
)

VARIANTS: tuple[Variant, ...] = (
    Variant(
        "torch.vmap",
        "torch",
        "torch.func.vmap(..., randomness='different') over the leading axis",
        "torch.func.vmap refuses random ops unless randomness is 'different' (each example "
        "draws its own) or 'same' (one draw shared by the batch) (torch.func.vmap docs).",
        _under_vmap,
        traced=False,
        refuses=maps_examples,
        holds={
            # torch.dropout's at first; the others xpassed likewise in --variants all
            **{
                name: {
                    cid: "under torch.func.vmap the batched draw follows the logical order, "
                    "not the input's strides: a transposed input gets its contiguous copy's "
                    "mask (xpassed at base seed 20131204, torch 2.13 CPU)"
                }
                for name, cid in (
                    ("torch.dropout", "DROPOUT-LAYOUT"),
                    ("torch.nn.Dropout", "DROPOUT-LAYOUT"),
                    ("torch.nn.Dropout (stateful)", "DROPOUT-LAYOUT"),
                    ("torch.alpha_dropout", "ALPHA-LAYOUT"),
                    ("torch.nn.AlphaDropout", "ALPHA-LAYOUT"),
                    ("torch.nn.AlphaDropout (stateful)", "ALPHA-LAYOUT"),
                )
            },
        },
    ),
    Variant(
        "torch.checkpoint",
        "torch",
        "torch.utils.checkpoint.checkpoint(..., use_reentrant=False): the backward pass "
        "recomputes the forward",
        "torch.utils.checkpoint stashes the RNG state at the forward and restores it for the "
        "recomputation (preserve_rng_state=True, the default), so the recomputed mask is the "
        "forward's; with preserve_rng_state=False it is not.",
        _under_checkpoint,
        traced=False,
        wrap_layer=_layer_under_checkpoint,
    ),
    Variant(
        "torch.compile",
        "torch",
        "torch.compile of the call (inductor, default settings); a layer is compiled once "
        "and called again and again. Not in --variants all: one check compiles hundreds of "
        "graphs (DROPOUT-SHAPE alone took 541 s at load 14); --under runs it",
        "Inductor draws its random numbers from seeds it takes from torch's generator at each "
        "call, so masks change from call to call and follow torch.manual_seed, but differ "
        "from eager's for one seed (torch.compile docs, 'Randomness').",
        _under_compile(1.0, "inductor"),
        traced=False,
        wrap_layer=_layer_under_compile(1.0, "inductor"),
        confirm=_compiled_a_graph,
        not_wrappable=_RNN_NOT_COMPILED,
        all_set=(),
        # observed by direct calls (4 calls of 2^22 float16 values; a NaN rate): the full check does
        # not fit one target's time limit here, see the variant's doc
        divergences={"torch.dropout": _COMPILED_DIVERGENCES},
        divergence_dtypes={"torch.dropout": _COMPILED_HALF_DTYPES},
    ),
    Variant(
        "torch.compile.memory_budget",
        "torch",
        "torch.compile of the call with torch._functorch.config.activation_memory_budget = 0 "
        "(backend aot_eager_decomp_partition: inductor's partitioner, ATen kernels): the "
        "backward recomputes the forward rather than save it",
        "A memory budget below 1 lets the AOT partitioner recompute activations in the "
        "backward; random ops are meant to be saved, not recomputed (pytorch#190758).",
        _under_compile(0.0, _PARTITIONED),
        traced=False,
        wrap_layer=_layer_under_compile(0.0, _PARTITIONED),
        confirm=_compiled_a_graph,
        not_wrappable=_RNN_NOT_COMPILED,
        all_set=_COMPILE_SET,
        divergence_dtypes={"torch.dropout": _COMPILED_HALF_DTYPES},
        divergences={
            "torch.dropout": {**_COMPILED_DIVERGENCES, "DROPOUT-GRADIENT": MEMORY_BUDGET_REASON},
            "torch.nn.Dropout (stateful)": {
                "DROPOUT-RATE-INVALID": COMPILED_NAN_REASON,
                "DROPOUT-RATE-INVALID-INFERENCE": COMPILED_NAN_REASON,
                "DROPOUT-GRADIENT": MEMORY_BUDGET_REASON,
                "DROPOUT-STATE-GRADIENT": MEMORY_BUDGET_REASON,
            },
        },
    ),
)

#: Run by ``dropspec check --all`` (see docs/transformed.md).
DEFAULT_VARIANTS: tuple[str, ...] = (
    "torch.dropout under torch.vmap",
    "torch.dropout under torch.checkpoint",
)
