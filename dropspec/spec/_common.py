"""Clause builders for the statements that several ops share, worded once."""

from __future__ import annotations

from typing import Any

from ._model import Clause, Kind, Level

MUST, SHOULD = Level.MUST, Level.SHOULD
EXACT, STRUCTURAL, STATISTICAL, ERROR = Kind.EXACT, Kind.STRUCTURAL, Kind.STATISTICAL, Kind.ERROR


def clause(
    prefix: str,
    op: str,
    suffix: str,
    level: Level,
    kind: Kind,
    text: str,
    *,
    when_not_empty: tuple[str, ...] = (),
    rationale: str = "",
    **when: tuple[Any, ...],
) -> Clause:
    return Clause(
        id=f"{prefix}-{suffix}",
        op=op,
        level=level,
        kind=kind,
        text=text,
        when=when,
        when_not_empty=when_not_empty,
        rationale=rationale,
    )


def basic(prefix: str, op: str, output: str = "the input's shape") -> list[Clause]:
    """Shape, dtype, determinism, seeds and the rate's valid range."""
    return [
        clause(
            prefix,
            op,
            "SHAPE",
            MUST,
            EXACT,
            f"The output has {output}, in training and in inference.",
        ),
        clause(
            prefix,
            op,
            "DTYPE",
            MUST,
            EXACT,
            "The output has the input's floating-point dtype, in training and in inference.",
        ),
        clause(
            prefix,
            op,
            "DETERMINISTIC",
            MUST,
            EXACT,
            "Two training calls with the same inputs, rate and seed return the same output.",
        ),
        clause(
            prefix,
            op,
            "INDEPENDENT-SEEDS",
            MUST,
            STATISTICAL,
            "Masks drawn with consecutive seeds, or with seeds that differ in any single one "
            "of their bits (64, or the seed width the target declares), are independent of "
            "each other, at every shift: neither equal, correlated, nor shifted copies of one "
            "another.",
            rationale="A seed that only perturbs a few bits of the generator's state, or is "
            "truncated, gives correlated or equal masks for nearby seeds; a seed used as an "
            "offset into one stream gives shifted copies.",
        ),
        clause(
            prefix,
            op,
            "RATE-INVALID",
            MUST,
            ERROR,
            "A rate below 0, above 1, or NaN is rejected with an error.",
        ),
    ]


def rate_one(prefix: str, op: str, zeros_text: str) -> list[Clause]:
    return [
        clause(prefix, op, "RATE-ONE-ZEROS", MUST, EXACT, zeros_text, rate_one=("zeros",)),
        clause(
            prefix,
            op,
            "RATE-ONE-ERROR",
            MUST,
            ERROR,
            "At rate 1 a training call raises an error.",
            rate_one=("error",),
        ),
    ]
