"""Third-party PyTorch packages: weight drop, DropConnect and drop path outside torch itself.

Each target's description says what the code really does, which is not always what its name
says: ``efficientnet_pytorch.drop_connect`` is drop path, and the ``dropconnect`` package's
``p`` is the drop probability although its docstring calls it the retain probability. Every
package draws from torch's global generator, so the targets seed it with
:func:`~dropspec.adapters.fw_torch.seeded`. All imports happen at call time.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..target import Target, make_stateful_target, make_target
from .fw_torch import seeded, with_seed_truncation
from .stateful import with_seeded_twins

if TYPE_CHECKING:
    import torch


def _linear_params(weight: torch.Tensor, bias: torch.Tensor | None) -> dict[str, Any]:
    """Constructor arguments of a Linear-like layer whose parameters are replaced per call."""
    out_features, in_features = weight.shape
    return dict(in_features=in_features, out_features=out_features, bias=bias is not None)


def _torchnlp_weight_drop_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    rate: float,
    *,
    training: bool,
    seed: int,
) -> torch.Tensor:
    from torch.func import functional_call
    from torchnlp.nn import WeightDropLinear

    # Built on the meta device (no initialisation), then called with the suite's tensors.
    layer = WeightDropLinear(
        **_linear_params(weight, bias), weight_dropout=rate, device="meta", dtype=weight.dtype
    ).train(training)
    params = {"weight_raw": weight} | ({} if bias is None else {"bias": bias})
    with seeded(seed, x):
        out: torch.Tensor = functional_call(layer, params, (x,))
    return out


def _torchnlp_weight_drop_linear_stateful(rate: float, *, seed: int) -> Callable[..., Any]:
    """WeightDropLinear layers (one per parameter shape, built at its first call, as a model
    builds each of its layers once), torch's global generator seeded once (as
    ``torch.manual_seed`` at the top of a training script) and advanced by each training
    call; the weights are the caller's, passed at each call."""
    import torch
    from torch.func import functional_call
    from torchnlp.nn import WeightDropLinear

    made: dict[tuple[Any, ...], Any] = {}
    torch.default_generator.manual_seed(seed)

    def call(
        x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, training: bool
    ) -> torch.Tensor:
        key = (tuple(weight.shape), bias is not None, weight.dtype)
        if key not in made:
            made[key] = WeightDropLinear(
                **_linear_params(weight, bias),
                weight_dropout=rate,
                device="meta",
                dtype=weight.dtype,
            )
        params = {"weight_raw": weight} | ({} if bias is None else {"bias": bias})
        out: torch.Tensor = functional_call(made[key].train(training), params, (x,))
        return out

    return call


def _dropconnect_module_stateful(rate: float, *, seed: int) -> Callable[..., Any]:
    """Dropconnect layers (one per parameter shape, built at its first call), torch's global
    generator seeded once and advanced by each training call; the weights are the
    caller's, passed at each call."""
    import torch
    from dropconnect import Dropconnect  # type: ignore[import-untyped]
    from torch.func import functional_call

    made: dict[tuple[Any, ...], Any] = {}
    torch.default_generator.manual_seed(seed)

    def call(
        x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, training: bool
    ) -> torch.Tensor:
        key = (tuple(weight.shape), bias is not None)
        if key not in made:
            with torch.device("meta"):  # its __init__ takes no device argument
                made[key] = Dropconnect(**_linear_params(weight, bias), p=rate)
        params = {"weight": weight} | ({} if bias is None else {"bias": bias})
        out: torch.Tensor = functional_call(made[key].train(training), params, (x,))
        return out

    return call


def _dropconnect_module(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    rate: float,
    *,
    training: bool,
    seed: int,
) -> torch.Tensor:
    import torch
    from dropconnect import Dropconnect
    from torch.func import functional_call

    with torch.device("meta"):  # its __init__ takes no device argument
        layer = Dropconnect(**_linear_params(weight, bias), p=rate).train(training)
    params = {"weight": weight} | ({} if bias is None else {"bias": bias})
    with seeded(seed, x):
        out: torch.Tensor = functional_call(layer, params, (x,))
    return out


_EFFICIENTNET_HALF_RATE = (
    "the mask is floor(keep_prob + torch.rand(..., dtype=inputs.dtype)): in bfloat16 and "
    "float16 the sum is rounded to 8 or 11 significant bits before the floor, so the drop "
    "rate is not p (measured in bfloat16: 0 at p = 0.001, 0.0119 at p = 0.01, 0.98818 at "
    "p = 0.99; in float16: 0.001467 at p = 0.001659); found by "
    "dropspec's every-dtype check; no upstream issue found (the package is unmaintained). "
    "https://github.com/lukemelas/EfficientNet-PyTorch/blob/master/efficientnet_pytorch/utils.py"
)


def _efficientnet_drop_connect(
    x: torch.Tensor, rate: float, *, training: bool, seed: int
) -> torch.Tensor:
    from efficientnet_pytorch.utils import drop_connect

    # drop_connect documents (B, C, H, W) input and hard-codes a (B, 1, 1, 1) mask, which
    # broadcasts any other rank to a wrong (and possibly huge) shape. Viewing (batch, ...) as
    # (batch, 1, 1, rest) is only a change of layout: the per-example mask is the same.
    flat = x if x.ndim == 4 else x.reshape(x.shape[0], 1, 1, math.prod(x.shape[1:]))
    with seeded(seed, x):
        out: torch.Tensor = drop_connect(flat, p=rate, training=training)
    return out.reshape(x.shape)


_TIMM_INFERENCE = (
    "timm's drop_path returns x when drop_prob == 0 or not training before anything looks at "
    "drop_prob (only torch's bernoulli_ checks it, in training), so DropPath(drop_prob=1.5) "
    "passes every evaluation; no upstream issue found; https://github.com/huggingface/"
    "pytorch-image-models/blob/v1.0.31/timm/layers/drop.py (drop_path)"
)


@functools.cache
def _timm_drop() -> ModuleType:
    """timm's ``layers/drop.py``, loaded by path: ``import timm`` needs torchvision."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("timm is not installed: pip install timm", name="timm")
    path = Path(next(iter(spec.submodule_search_locations))) / "layers" / "drop.py"
    file_spec = importlib.util.spec_from_file_location("_dropspec_timm_drop", path)
    assert file_spec is not None and file_spec.loader is not None
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module


def _timm_drop_path(x: torch.Tensor, rate: float, *, training: bool, seed: int) -> torch.Tensor:
    with seeded(seed, x):
        out: torch.Tensor = _timm_drop().drop_path(x, drop_prob=rate, training=training)
    return out


def _timm_drop_path_module(
    x: torch.Tensor, rate: float, *, training: bool, seed: int
) -> torch.Tensor:
    layer = _timm_drop().DropPath(drop_prob=rate).train(training)
    with seeded(seed, x):
        out: torch.Tensor = layer(x)
    return out


def _timm_drop_path_stateful(rate: float, *, seed: int) -> Callable[..., torch.Tensor]:
    """One timm DropPath, its state torch's global generator seeded once (as
    ``torch.manual_seed`` at the top of a training script), advanced by each training call."""
    import torch

    layer = _timm_drop().DropPath(drop_prob=rate)
    torch.default_generator.manual_seed(seed)

    def call(x: torch.Tensor, *, training: bool) -> torch.Tensor:
        out: torch.Tensor = layer.train(training)(x)
        return out

    return call


_MULTIPLIES = (
    "the mask is applied by multiplication, so a dropped NaN or infinity gives NaN (x * 0); "
    "no upstream issue found"
)
_WEIGHT_DROP: dict[str, Any] = dict(
    masks="per_batch", mask_bias=False, scaling="inverted", inference="mean"
)

_DROPCONNECT_PACKAGE: dict[str, Any] = dict(
    masks="per_example",
    mask_bias=False,
    scaling="inverted",
    inference="mean",
    rate_one="error",
    expected_failures=dict.fromkeys(
        (
            "DROPCONNECT-SHAPE",
            "DROPCONNECT-DTYPE",
            "DROPCONNECT-DETERMINISTIC",
            "DROPCONNECT-VALUES",
            "DROPCONNECT-BIAS-UNMASKED",
            "DROPCONNECT-RATE-ZERO",
            "DROPCONNECT-GRADIENT",
            "DROPCONNECT-MASK-VALUE-FREE",
        ),
        "dropconnect() ends with features.squeeze(), which drops every size-1 axis: a "
        "batch of one (or out_features = 1) loses its axis, e.g. (1, 1) comes back "
        "as (1,); "
        "no issue tracker linked from https://pypi.org/project/dropconnect/0.1.2/",
    ),
)

#: timm's ``DropPath.forward`` calls ``drop_path``: the same kernel (see fw_torch.TWINS).
TWINS: dict[str, str] = {"timm.DropPath": "timm.drop_path"}

TARGETS: tuple[Target, ...] = with_seed_truncation(
    (
        make_target(
            _torchnlp_weight_drop_linear,
            "dropconnect",
            name="torchnlp.WeightDropLinear",
            framework="torch",
            requires=("torchnlp",),
            **_WEIGHT_DROP,
            description="pytorch-nlp torchnlp.nn.WeightDropLinear(weight_dropout=rate): weight "
            "drop; each forward sets weight = F.dropout(weight_raw, p, training), one mask per "
            "call shared by the batch, bias unmasked",
        ),
        make_stateful_target(
            _torchnlp_weight_drop_linear_stateful,
            "dropconnect",
            name="torchnlp.WeightDropLinear (stateful)",
            framework="torch",
            requires=("torchnlp",),
            **_WEIGHT_DROP,
            description="pytorch-nlp WeightDropLinear(weight_dropout=rate) built once after "
            "torch.manual_seed(seed), then called again and again with the caller's weights; "
            "torch's global generator is its state",
        ),
        make_target(
            _dropconnect_module,
            "dropconnect",
            name="dropconnect.Dropconnect",
            framework="torch",
            requires=("dropconnect",),
            **_DROPCONNECT_PACKAGE,
            description="PyPI dropconnect 0.1.2 Dropconnect(p=rate): a (batch, out, in) weight "
            "mask dropping each weight with probability p (its docstring says p is the retain "
            "probability; it is not), input scaled by 1/(1 - p), bias unmasked, plain linear in "
            "eval; p = 1 raises",
        ),
        make_stateful_target(
            _dropconnect_module_stateful,
            "dropconnect",
            name="dropconnect.Dropconnect (stateful)",
            framework="torch",
            requires=("dropconnect",),
            **_DROPCONNECT_PACKAGE,
            description="PyPI dropconnect 0.1.2 Dropconnect(p=rate) built once after "
            "torch.manual_seed(seed), then called again and again with the caller's weights; "
            "torch's global generator is its state",
        ),
        make_target(
            _efficientnet_drop_connect,
            "drop_path",
            name="efficientnet_pytorch.drop_connect",
            framework="torch",
            requires=("efficientnet_pytorch",),
            expected_failures={
                "DROPPATH-DROPPED-SELECT": "it returns inputs / keep_prob * mask: " + _MULTIPLIES,
                "DROPPATH-VALUES": "it divides before it masks (inputs / keep_prob * mask): "
                "where x / keep_prob overflows (x near the largest finite value) a dropped slot "
                "is inf * 0 = NaN, not 0; found by the input design's largest-finite value "
                "class; no upstream issue found (the package is unmaintained). "
                "https://github.com/lukemelas/EfficientNet-PyTorch/blob/master/efficientnet_pytorch/utils.py",
                "DROPPATH-RATE-ONE-ZEROS": "at p = 1 keep_prob is 0 and inputs / 0 * 0 is NaN "
                "everywhere instead of zeros; the assert accepts p = 1; no upstream issue found",
                "DROPPATH-RATE": _EFFICIENTNET_HALF_RATE,
                "DROPPATH-VARIANCE": "follows from the half-precision drop rate error: "
                + _EFFICIENTNET_HALF_RATE,
                "DROPPATH-UNBIASED": "follows from the half-precision drop rate error (E[y/x] is "
                "(1 - realised rate) / (1 - p), not 1): " + _EFFICIENTNET_HALF_RATE,
            },
            expected_failure_dtypes=dict.fromkeys(
                ("DROPPATH-RATE", "DROPPATH-VARIANCE", "DROPPATH-UNBIASED"),
                ("float16", "bfloat16"),
            ),
            description="efficientnet_pytorch.utils.drop_connect(x, p=rate, training): drop path "
            "(stochastic depth) under DropConnect's name; one (batch, 1, 1, 1) mask per call, "
            "x / (1 - p) * mask; inputs of another rank than 4 are viewed as (batch, 1, 1, rest)",
        ),
        make_target(
            _timm_drop_path,
            "drop_path",
            name="timm.drop_path",
            framework="torch",
            requires=("timm",),
            expected_failures={
                "DROPPATH-DROPPED-SELECT": "x * random_tensor: " + _MULTIPLIES,
                "DROPPATH-RATE-INVALID-INFERENCE": _TIMM_INFERENCE,
            },
            description="timm.layers.drop_path(x, drop_prob=rate, training=training) with "
            "scale_by_keep=True: a (batch, 1, ..., 1) mask, x * mask / (1 - p)",
        ),
        make_target(
            _timm_drop_path_module,
            "drop_path",
            name="timm.DropPath",
            framework="torch",
            requires=("timm",),
            expected_failures={
                "DROPPATH-DROPPED-SELECT": "x * random_tensor: " + _MULTIPLIES,
                "DROPPATH-RATE-INVALID-INFERENCE": _TIMM_INFERENCE,
            },
            description="timm.layers.DropPath(drop_prob=rate), .train()/.eval() per call",
        ),
        make_stateful_target(
            _timm_drop_path_stateful,
            "drop_path",
            name="timm.DropPath (stateful)",
            framework="torch",
            requires=("timm",),
            expected_failures={
                "DROPPATH-DROPPED-SELECT": "x * random_tensor: " + _MULTIPLIES,
                "DROPPATH-RATE-INVALID-INFERENCE": _TIMM_INFERENCE,
            },
            description="timm.layers.DropPath(drop_prob=rate) built once after "
            "torch.manual_seed(seed), then called again and again; torch's global generator "
            "is its state",
        ),
    )
)
TARGETS = with_seeded_twins(TARGETS)
