"""Layers for the transformed and stateful soak (issue 23), written independently of
``torch.nn.Dropout`` (uniform float64 draws compared with the rate, dropped values selected
to zero), so that a variant's wrapping of layers is checked on code other than torch's own.

``torch_layer`` draws from torch's global generator, seeded once when it is built: correct
eagerly and under torch.utils.checkpoint, which restores that generator for the recomputed
forward. ``private_generator_layer`` draws from a ``torch.Generator`` of its own: correct
eagerly, but torch.utils.checkpoint stashes and restores only the global generators
(``preserve_rng_state``), so its recomputed forward draws a new mask and its gradient is
wrong: the state clauses find it under the variant.

    python benchmarks/variants_soak.py --seeds 20 --layers
"""

from __future__ import annotations

from typing import Any

import dropspec


def _select(x: Any, uniform: Any, rate: float) -> Any:
    import torch

    scale = 0.0 if rate == 1.0 else 1.0 / (1.0 - rate)
    return torch.where(uniform >= rate, x * scale, torch.zeros((), dtype=x.dtype))


def _check(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"rate must be in [0, 1], got {rate}")


# seed_bits=32: torch's global CPU generator keeps only the low 32 bits of a seed
# (pytorch#87509), which the seed clauses find when a wider range is declared.
@dropspec.stateful_target(
    "dropout", framework="torch", dtypes=("float32", "float64"), seed_bits=32, rate_one="zeros"
)
def torch_layer(rate: float, *, seed: int) -> Any:
    import torch

    _check(rate)
    torch.default_generator.manual_seed(seed)  # the script's torch.manual_seed, once

    def layer(x: Any, *, training: bool) -> Any:
        if not training:
            return x.clone()
        return _select(x, torch.rand(x.shape, dtype=torch.float64), rate)

    return layer


@dropspec.stateful_target(
    "dropout", framework="torch", dtypes=("float32", "float64"), seed_bits=63, rate_one="zeros"
)
def private_generator_layer(rate: float, *, seed: int) -> Any:
    import torch

    _check(rate)
    gen = torch.Generator().manual_seed(seed)

    def layer(x: Any, *, training: bool) -> Any:
        if not training:
            return x.clone()
        return _select(x, torch.rand(x.shape, generator=gen, dtype=torch.float64), rate)

    return layer
