"""Divergences of dropouts that draw their uniform numbers in the data dtype, declared once.

TensorFlow's ``tf.nn.dropout`` and ``stateless_dropout`` (and so Keras' TensorFlow backend,
which calls ``stateless_dropout``) draw ``random_uniform(noise_shape, dtype=x.dtype)`` and keep
where ``random >= rate``: in float16 and bfloat16 the drop probability is the rate rounded up to
the dtype's grid, so the clauses that measure it (and the moments that follow from it) fail in
those dtypes only. Each adapter words its own reason; the clauses and the dtypes are here.
"""

from __future__ import annotations

from dataclasses import replace

from ..spec import get_op
from ..target import Target

#: The clauses, per op, whose statistics move with the drop probability.
HALF_UNIFORM_CLAUSES: dict[str, tuple[str, ...]] = {
    "dropout": ("DROPOUT-RATE", "DROPOUT-UNBIASED", "DROPOUT-VARIANCE"),
    "dropconnect": ("DROPCONNECT-RATE", "DROPCONNECT-BIAS-MASKED"),
}

#: The dtypes those failures are confined to: float32 and float64 must still pass.
HALVES: tuple[str, ...] = ("float16", "bfloat16")


def with_half_uniform(target: Target, reason: str) -> Target:
    """``target`` with the expected failures of a dropout that draws its uniform numbers in
    the data dtype added: the clauses above that apply to its declaration, for ``reason``,
    confined to :data:`HALVES`."""
    applies = {c.id for c in get_op(target.op).clauses if c.applies(target.options)}
    clauses = [cid for cid in HALF_UNIFORM_CLAUSES.get(target.op, ()) if cid in applies]
    return replace(
        target,
        expected_failures={**target.expected_failures, **dict.fromkeys(clauses, reason)},
        expected_failure_dtypes={
            **target.expected_failure_dtypes,
            **dict.fromkeys(clauses, HALVES),
        },
    )
