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
            "Masks drawn with seeds of a structured relation are independent of each other, "
            "at every shift: neither equal, correlated, nor shifted copies of one another. "
            "The relations: s and s + k for k in 1, 2^16, 2^31 and 2^32 − 1; seeds that "
            "differ in any single one of their bits (64, or the seed width the target "
            "declares); s and −s; s and a·s + b; s and a seed with the same XOR of its two "
            "32-bit halves; and, for seeds s1, s2, s3 and s1 ⊕ s2 ⊕ s3, the XOR of the four "
            "masks is no more often 0 than for independent masks.",
            rationale="A seed that only perturbs a few bits of the generator's state, or is "
            "truncated, wrapped or folded, gives correlated or equal masks for related "
            "seeds; a seed used as an offset into one stream gives shifted copies; a "
            "generator whose state is GF(2)-linear in its seed gives masks that are "
            "pairwise uncorrelated but whose XOR over such a quadruple vanishes.",
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


def relations(
    op: str,
    *,
    value_free: str,
    fresh_output: str,
    rate_invalid_inference: str,
    seed_process: str,
    seed_space: str,
    seed_pairs: str,
    noise: bool = False,
) -> list[Clause]:
    """Metamorphic relations, each of which rules out a whole class of faults, under the ids
    given. ``noise``: the op multiplies x by continuous noise (Gaussian dropout) rather than
    dropping units."""
    if noise:
        value_free_text = (
            "Calls with the same seed, shape, dtype and rate multiply by the same noise y/x "
            "whatever the input holds (its signs, magnitudes scaled by powers of two, its "
            "values permuted, all ones), so the output's law scales with |x|: its standard "
            "deviation is |x|·√(rate/(1 − rate))."
        )
        value_free_why = (
            "Noise added instead of multiplied, or a noise drawn from the input's values, has "
            "the right moments at |x| = 1 and the wrong ones everywhere else."
        )
    else:
        value_free_text = (
            "Calls with the same seed, shape, dtype and rate drop the same positions "
            "whatever the input holds (its signs, magnitudes scaled by powers of two, its "
            "values permuted, all ones; for a layer, whatever x, weight and bias hold)."
        )
        value_free_why = (
            "A mask that reads the input (drawn from its bits, its sign, or a threshold on "
            "its values) is invisible to checks that only ever feed x = 1 or one kind of value."
        )
    return [
        clause(value_free, op, MUST, EXACT, value_free_text, rationale=value_free_why),
        clause(
            fresh_output,
            op,
            MUST,
            EXACT,
            "A training call returns a new array: it shares no memory with the input or with "
            "an array the target returned before, and no call (training or inference) "
            "changes its input.",
            rationale="A target that writes into one reused buffer passes every comparison of "
            "its outputs with themselves (DETERMINISTIC) while overwriting what the caller "
            "kept. The spec has no in-place option; inference may return the input itself, "
            "as the identity.",
        ),
        clause(
            rate_invalid_inference,
            op,
            MUST,
            ERROR,
            "A rate below 0, above 1, or NaN is rejected with an error with training=False "
            "as with training=True (at construction, for a layer that takes its rate there).",
            rationale="Validation done only on the training path lets a typo in a "
            "hyper-parameter pass every evaluation run. Rate 1 is not among these: where only "
            "training refuses it, inference at rate 1 is still the identity.",
        ),
        clause(
            seed_process,
            op,
            MUST,
            EXACT,
            "A training call with a given seed returns the same output in another Python "
            "process as in this one.",
            rationale="A seed mixed with a per-process salt (hash randomisation, a process "
            "id, the time of import) reproduces within a process and nowhere else.",
        ),
        *seed_edges(op, seed_space=seed_space, seed_pairs=seed_pairs),
    ]


def seed_edges(op: str, *, seed_space: str, seed_pairs: str) -> list[Clause]:
    """The exact seed relations (the edges of the seed space, and seed pairs that truncated,
    folded or signed seeds make equal), under the ids given."""
    return [
        clause(
            seed_space,
            op,
            MUST,
            EXACT,
            "Seeds 0, 1, 2³² − 1, 2³², 2⁶³ and the largest seed the target declares (those "
            "within its declared seed bits) are ordinary seeds: each gives the same output "
            "twice, and no two of them give the same mask.",
            rationale="Seed 0 taken as 'no seed', a seed reduced modulo 2³², or a top bit "
            "dropped makes an edge of the seed space special.",
        ),
        clause(
            seed_pairs,
            op,
            MUST,
            EXACT,
            "No seed s gives the same mask as s + 2³², s + 2³² − 1, s with its two 32-bit "
            "halves XOR-folded, s with its halves swapped, or −s modulo 2^bits (each pair "
            "taken where both seeds lie within the target's declared seed bits).",
            rationale="Seeds truncated, folded or read as signed numbers collide in pairs "
            "that consecutive seeds and single bit flips do not meet; equal masks are found "
            "exactly (the statistics of dependent masks are INDEPENDENT-SEEDS').",
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


def state(
    op: str,
    *,
    calls: str,
    reproducible: str,
    inference: str,
    gradient: str,
    streams: str | None = None,
    noise: bool = False,
    inference_when: dict[str, tuple[Any, ...]] | None = None,
) -> list[Clause]:
    """What a layer that owns its random state does across calls (targets declared with
    ``calls="stateful"``), under the ids given: one family, declared for every op with a
    layer-style API. ``noise``: the op multiplies by continuous noise (Gaussian dropout),
    read as whether each value lies above 1, rather than dropping units. ``inference_when``:
    the options, beyond ``calls``, under which the inference clause applies (DropConnect's
    moment-matching inference draws samples, so only its mean inference is free of the
    state). ``streams``: the id of the clause that the calls' random streams do not overlap
    (for ops whose masks are read one bit per mask value)."""
    stateful = {"calls": ("stateful",)}
    if noise:
        calls_text = (
            "Successive training calls of one layer instance draw independent noise: over k "
            "calls, the number of times each element's noise y/x lies at or below 1 is "
            "Binomial(k, p), p the probability that it does so in one call."
        )
        gradient_text = (
            "The gradient of each call in a sequence is its own forward noise y/x (the noise "
            "the call's output shows), not that of another call."
        )
    else:
        calls_text = (
            "Successive training calls of one layer instance draw independent masks: each "
            "mask value's drop count over k calls is Binomial(k, p), p the probability it "
            "is dropped in one call."
        )
        gradient_text = (
            "The gradient of each call in a sequence is its own forward mask times its "
            "scale (the mask the call's output shows), not that of another call."
        )
    clauses = [
        clause(
            calls,
            op,
            MUST,
            STATISTICAL,
            calls_text,
            rationale="A layer whose state does not advance, or is reset to its initial "
            "seed on every call, applies one mask at every step of training; each call on "
            "its own still looks like dropout.",
            **stateful,
        ),
        clause(
            reproducible,
            op,
            MUST,
            EXACT,
            "Two instances built with the same initial seed return the same outputs over the "
            "same sequence of calls.",
            rationale="A state seeded from a global generator, the clock or an object's "
            "address reproduces its first call, if that, and no training run.",
            **stateful,
        ),
        clause(
            inference,
            op,
            MUST,
            EXACT,
            "Inference calls neither depend on the state nor advance it: wherever they fall "
            "in a sequence of calls they return what the same call of a newly built "
            "instance returns, and the training calls of a sequence with inference calls "
            "(of any input) interleaved return what the same training calls return "
            "without them.",
            rationale="A layer that draws a mask (and so advances its generator) even with "
            "training=False makes every evaluation during training change the masks of "
            "the steps after it, and a model's training run depend on how often it is "
            "evaluated.",
            **stateful,
            **(inference_when or {}),
        ),
        clause(
            gradient,
            op,
            MUST,
            EXACT,
            gradient_text,
            rationale="A backward pass that recomputes or re-reads the mask after the state "
            "has moved on (a cached mask of the next step, a recomputation from the current "
            "state) trains on a mask the forward pass never applied.",
            **stateful,
        ),
    ]
    if streams is not None:
        drawn, one = ("noise", "noise") if noise else ("masks", "mask")
        clauses.append(
            clause(
                streams,
                op,
                MUST,
                EXACT,
                f"Successive training calls of one layer instance, whatever their sizes, draw "
                f"their {drawn} from random streams that do not overlap: no call's {one} "
                f"repeats a run of another call's at any shift (checked on 1,025 calls of two "
                f"alternating sizes, with a false-alarm probability below 1e-9).",
                rationale="A counter-based generator whose offset advances by too little (by "
                "the first call's size, by half a call, or in a counter that wraps) gives each "
                "call new-looking masks that repeat parts of earlier ones; the drop counts per "
                "element over a few calls of one size stay Binomial.",
                **stateful,
            )
        )
    return clauses
