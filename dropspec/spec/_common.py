"""Clause builders for the statements that several ops share, worded once.

A builder words the shared clauses; the op's module names each of them: every clause id is
written out literally where the op declares it, so a search for the id finds its declaration.
"""

from __future__ import annotations

from typing import Any

from ._model import Clause, Kind, Level

MUST, SHOULD = Level.MUST, Level.SHOULD
EXACT, STRUCTURAL, STATISTICAL, ERROR = Kind.EXACT, Kind.STRUCTURAL, Kind.STATISTICAL, Kind.ERROR


def clause(
    id: str,
    op: str,
    level: Level,
    kind: Kind,
    text: str,
    *,
    when_not_empty: tuple[str, ...] = (),
    rationale: str = "",
    **when: tuple[Any, ...],
) -> Clause:
    return Clause(
        id=id,
        op=op,
        level=level,
        kind=kind,
        text=text,
        when=when,
        when_not_empty=when_not_empty,
        rationale=rationale,
    )


def basic(
    op: str,
    *,
    shape: str,
    dtype: str,
    deterministic: str,
    independent_seeds: str,
    rate_invalid: str,
    output: str = "the input's shape",
) -> list[Clause]:
    """Shape, dtype, determinism, seeds and the rate's valid range, under the ids given."""
    return [
        clause(
            shape,
            op,
            MUST,
            EXACT,
            f"The output has {output}, in training and in inference.",
        ),
        clause(
            dtype,
            op,
            MUST,
            EXACT,
            "The output has the input's floating-point dtype, in training and in inference.",
        ),
        clause(
            deterministic,
            op,
            MUST,
            EXACT,
            "Two training calls with the same inputs, rate and seed return the same output.",
        ),
        clause(
            independent_seeds,
            op,
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
            rate_invalid,
            op,
            MUST,
            ERROR,
            "A rate below 0, above 1, or NaN is rejected with an error.",
        ),
    ]


def rate_one(op: str, zeros_text: str, *, zeros: str, error: str) -> list[Clause]:
    """What a training call does at rate 1, under the ``rate_one`` option ("zeros" or "error")."""
    return [
        clause(zeros, op, MUST, EXACT, zeros_text, rate_one=("zeros",)),
        clause(
            error,
            op,
            MUST,
            ERROR,
            "At rate 1 a training call raises an error.",
            rate_one=("error",),
        ),
    ]


def layout(op: str, id: str, level: Level = SHOULD) -> Clause:
    """The output does not depend on the input's memory layout, under the id given."""
    return clause(
        id,
        op,
        level,
        EXACT,
        "For inputs in any memory layout the target's arrays can take (Fortran order, axes "
        "permuted in storage, every second element of a larger buffer, negative strides, "
        "broadcast and read-only views), a training call returns, position by position, "
        "what it returns for a contiguous copy of the same values with the same rate and "
        "seed.",
        rationale="A kernel that walks its input in storage order instead of the logical "
        "order scrambles or misreads transposed and sliced inputs; VALUES, checked in every "
        "layout at each logical position, catches that whatever the mask. A mask drawn in "
        "storage order is still a valid mask, so that alone is a SHOULD: the same seed then "
        "gives a model different masks for x and for x.T.T made contiguous.",
    )
