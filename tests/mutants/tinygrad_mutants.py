"""tinygrad mutants: dropout written wrongly with tinygrad's tools (``TinyJit``, lazy tensors).

tinygrad is imported inside the functions only. Each seeds with ``Tensor.manual_seed``, which
keeps 32 bits of the seed (``fw_tinygrad.SEED_32_REASON``), so the mutants declare
``seed_bits=32``: the clauses that catch them do not depend on that truncation.
"""

from __future__ import annotations

from typing import Any

from . import Mutant, mutant

M: list[Mutant] = []

#: (shape, dtype, rate, training) -> the TinyJit made at the first call with them.
_JITTED: dict[tuple[Any, ...], Any] = {}


def _tinyjit_frozen_seed(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """Tensor.dropout under TinyJit with Tensor.manual_seed inside the jitted function: from
    the third call on TinyJit replays the captured kernels, whose seed buffer is the one of
    the capture, so every seed gets the same mask."""
    from tinygrad import Tensor, TinyJit
    from tinygrad.helpers import Context

    def body(v: Any, s: int) -> Any:
        Tensor.manual_seed(s)
        with Context(TRAINING=int(training)):
            return v.dropout(rate).realize()

    sig = (tuple(x.shape), str(x.dtype), rate, training)
    if sig not in _JITTED:
        _JITTED[sig] = TinyJit(body)
    return _JITTED[sig](x.clone().realize(), seed)


def _rate_one_divides(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """Tensor.dropout's formula without its rate-1 case: at rate 1 every slot is dropped and
    divided by 1 - rate = 0, so the output is NaN instead of zeros."""
    from tinygrad import Tensor, dtypes
    from tinygrad.helpers import Context

    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")
    if not training or rate == 0.0:
        return x
    Tensor.manual_seed(seed)
    with Context(TRAINING=1):
        keep = x.rand_like(dtype=dtypes.float32) >= rate
        return (keep.where(x, 0) / (1.0 - rate)).realize()


for fn, name, fault, description, clauses in (
    (
        _tinyjit_frozen_seed,
        "tinyjit_frozen_seed",
        "determinism",
        "Tensor.dropout under TinyJit, Tensor.manual_seed inside: replayed kernels keep the "
        "seed of the capture",
        ("DROPOUT-INDEPENDENT-CALLS",),
    ),
    (
        _rate_one_divides,
        "rate_one_divides",
        "edge",
        "Tensor.dropout without its rate-1 case: 0 / 0 gives NaN where every output must be 0",
        ("DROPOUT-RATE-ONE-ZEROS",),
    ),
):
    M.append(
        mutant(
            fn,
            "dropout",
            framework="tinygrad",
            name=name,
            fault_class=fault,
            description=description,
            clauses=clauses,
            rate_one="zeros",
            seed_bits=32,
        )
    )

MUTANTS: tuple[Mutant, ...] = tuple(M)
