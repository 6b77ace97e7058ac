"""MLX mutants: dropout written wrongly with MLX's own tools (``mx.compile``, explicit keys).

``mlx.core`` is imported inside the functions only.
"""

from __future__ import annotations

from typing import Any

from . import Mutant, mutant

M: list[Mutant] = []


def _validate(rate: float) -> None:
    if not 0.0 <= rate < 1.0:  # as mlx.nn.Dropout, but NaN refused too
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")


#: (shape, dtype, rate, training) -> the function compiled at the first call with them.
_COMPILED: dict[tuple[Any, ...], Any] = {}


def _compile_without_state(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """mlx.nn.Dropout under mx.compile without mx.random.state among its inputs and outputs:
    the key read when the function was traced is a constant of it, so every later call with
    that shape, dtype and rate replays the first mask whatever the seed."""
    import mlx.core as mx
    import mlx.nn as nn

    _validate(rate)
    sig = (tuple(x.shape), str(x.dtype), rate, training)
    if sig not in _COMPILED:
        layer = nn.Dropout(p=rate)
        layer.train(training)
        _COMPILED[sig] = mx.compile(lambda v: layer(v))
    mx.random.seed(seed)
    return _COMPILED[sig](x)


def _dropout2d_height_only(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """Channel dropout on NHWC with an explicit key whose mask has shape (N, 1, W, C): it is
    shared over the height only, so values along a row of one channel differ."""
    import mlx.core as mx

    _validate(rate)
    if not training or rate == 0.0:
        return x
    n, _, w, c = x.shape
    keep = mx.random.bernoulli(1.0 - rate, (n, 1, w, c), key=mx.random.key(seed))
    return (keep * x) * (1.0 / (1.0 - rate))


for fn, name, fault, description, clauses, options in (
    (
        _compile_without_state,
        "compile_without_state",
        "determinism",
        "mx.compile of nn.Dropout without mx.random.state as its inputs and outputs: the "
        "first call's mask is replayed whatever the seed",
        ("DROPOUT-INDEPENDENT-CALLS", "DROPOUT-INDEPENDENT-SEEDS"),
        {},
    ),
    (
        _dropout2d_height_only,
        "dropout2d_height_only",
        "structure",
        "NHWC channel dropout whose mask (N, 1, W, C) is shared over the height only, not "
        "the width",
        ("DROPOUT-SHARED-CONSTANT",),
        {"shared_axes": (1, 2), "rank": 4},
    ),
):
    M.append(
        mutant(
            fn,
            "dropout",
            framework="mlx",
            name=name,
            fault_class=fault,
            description=description,
            clauses=clauses,
            rate_one="error",
            masking="multiply",
            **options,
        )
    )

MUTANTS: tuple[Mutant, ...] = tuple(M)
