"""The mutation corpus: wrong implementations the suite must catch.

Each :class:`Mutant` is a target that honestly declares what it claims (op and options) but
breaks one rule of the spec, and names the clause(s) that must catch it: the mutant is
*caught* when at least one of them fails. Mutants are spread over every op and over the fault
classes in :data:`FAULT_CLASSES`; each module holds one framework's mutants and imports its
framework only inside the mutant functions, so building the corpus imports no framework.

``core_mutants`` holds the wrong implementations named by the core issue (once ``WRONG`` in
``tests/impls.py``), each naming the one clause that must fail on it.

``tests/test_mutants.py`` checks each mutant on its named clauses, at the default base seed and
at the run's replay seed (``tests/replay.py``), and, in the slow tier, at base seeds 0-4;
``benchmarks/mutation_score.py`` runs every clause of each mutant's op and writes the mutation
score.

``input_space_mutants`` (issue 21) holds wrong implementations that only part of the input
space reveals (a size class, a rank, a memory layout, a value class, a seed relation, a
structure at a distance, a mode). Those the suite catches on every base seed CI draws
(``input_space_mutants.CAUGHT``) are part of :func:`corpus`; the others
(``input_space_mutants.NOT_YET_CAUGHT``) are not, and :func:`input_space_corpus` collects all
of them for ``benchmarks/escape_score.py``. ``benchmarks/corpus_detection.py`` measures the
detection on the corpus at the seeds CI draws (``docs/_data/corpus_detection.json``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dropspec.spec import OPS as _SPEC_OPS
from dropspec.target import Target, make_target

if TYPE_CHECKING:
    from dropspec.conformance.engine import ClauseResult

#: What a mutant gets wrong.
FAULT_CLASSES: tuple[str, ...] = (
    "scaling",  # the multiplier: 1/(1 - rate), alpha constants, noise law, inference rule
    "rate",  # the probability a unit (weight, example) is dropped
    "independence",  # masks of neighbouring elements, examples or connections are correlated
    "structure",  # the mask's shape: shared axes, per example, per connection, bias
    "determinism",  # seeds: same seed same output, seeds one bit apart independent
    "dtype",  # the output dtype or precision
    "edge",  # rate 0, rate 1, NaN / infinite inputs, invalid rates and shapes
    "gradient",  # the backward pass does not use the forward pass's own mask and scale
    "state",  # a layer's random state across calls: frozen, reset, moved by inference
)

#: The spec's ops, in its order (a corpus covers every op the spec defines).
OPS: tuple[str, ...] = tuple(_SPEC_OPS)


@dataclass(frozen=True)
class Mutant:
    """A wrong implementation, what it gets wrong, and the clauses that must catch it."""

    name: str
    op: str
    framework: str
    fault_class: str
    description: str
    target: Target
    clauses: tuple[str, ...]
    #: The fault is that the target raises on inputs the spec accepts (an empty batch): a
    #: failure whose message says the target raised is then the catch, not a crash.
    raises: bool = False

    def __post_init__(self) -> None:
        if self.fault_class not in FAULT_CLASSES:
            raise ValueError(f"{self.name}: unknown fault class {self.fault_class!r}")
        if self.target.error:
            raise ValueError(f"{self.name}: {self.target.error}")


#: The seed widths the framework mutants' own seeding takes (see :func:`mutant`).
SEED_BITS = {"jax": 63, "tensorflow": 63}


def mutant(
    fn: Callable[..., Any],
    op: str,
    *,
    framework: str,
    name: str,
    fault_class: str,
    description: str,
    clauses: str | tuple[str, ...],
    raises: bool = False,
    **options: Any,
) -> Mutant:
    """Declare ``fn`` as ``op`` with ``options`` (what it claims) and the catching clauses.

    JAX and TensorFlow mutants seed their framework as a user would (``jax.random.key(seed)``,
    int64 stateless seeds), which takes seeds below 2^63: they declare ``seed_bits=63``."""
    full = f"mutant.{framework}.{op}.{name}"
    options.setdefault("seed_bits", SEED_BITS.get(framework, 64))
    target = make_target(fn, op, framework=framework, name=full, description=description, **options)
    return Mutant(
        full,
        op,
        framework,
        fault_class,
        description,
        target,
        (clauses,) if isinstance(clauses, str) else tuple(clauses),
        raises,
    )


def corpus() -> tuple[Mutant, ...]:
    """Every mutant, numpy first; framework mutants are listed whether or not it is installed.
    Of issue 21's input-space mutants, only those caught on every seed CI draws are in it."""
    from . import (
        core_mutants,
        input_space_mutants,
        jax_mutants,
        mlx_mutants,
        numpy_mutants,
        stateful_mutants,
        tensorflow_mutants,
        tinygrad_mutants,
        torch_mutants,
        transformed_mutants,
    )

    out = (
        *core_mutants.MUTANTS,
        *numpy_mutants.MUTANTS,
        *input_space_mutants.CAUGHT,
        *torch_mutants.MUTANTS,
        *tensorflow_mutants.MUTANTS,
        *jax_mutants.MUTANTS,
        *stateful_mutants.MUTANTS,
        *transformed_mutants.MUTANTS,
        *mlx_mutants.MUTANTS,
        *tinygrad_mutants.MUTANTS,
    )
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate mutant names: {', '.join(dupes)}")
    return out


def input_space_corpus() -> tuple[Mutant, ...]:
    """Every one of issue 21's input-space mutants (``input_space_mutants.MUTANTS``): those in
    :func:`corpus` and those not yet caught on every seed (``NOT_YET_CAUGHT``), which it holds
    out until the suite catches them."""
    from . import input_space_mutants

    return input_space_mutants.MUTANTS


def crashed(r: ClauseResult) -> bool:
    """A failure that comes from the mutant raising, not from the check. The one exception is
    hypothesis's own flakiness detection, which the engine reports as a raised FlakyFailure
    when a non-deterministic target fails only on the first of two calls."""
    return "the target raised" in r.message and "FlakyFailure" not in r.message


def catches(m: Mutant, r: ClauseResult) -> bool:
    """``r`` catches ``m``: the clause failed by the check's own verdict (or, for a mutant
    whose fault is raising, because the target raised)."""
    return r.outcome == "failed" and bool(r.message) and (m.raises or not crashed(r))


def first_catch(m: Mutant, seed: int) -> tuple[ClauseResult | None, list[ClauseResult]]:
    """Run ``m``'s named clauses at base seed ``seed``, in order, until one catches it."""
    from dropspec.conformance import Config, run_target

    seen = []
    for cid in m.clauses:
        (r,) = run_target(m.target, clauses=[cid], config=Config(seed=seed))
        assert r.clause_id == cid
        seen.append(r)
        if catches(m, r):
            return r, seen
    return None, seen


@contextlib.contextmanager
def no_shrinking() -> Iterator[None]:
    """Run the suite's example-based checks without hypothesis's shrink phase.

    Shrinking only minimises a counterexample after a check has already failed, so it changes
    no verdict; but for frameworks that compile per shape (JAX) a failing exact clause spends
    most of its time shrinking. The suite's checks take their unset settings (``phases``)
    from the active profile, which this swaps for the duration and then restores.
    """
    import hypothesis
    from hypothesis import Phase

    hypothesis.settings.register_profile("dropspec-mutants-previous", hypothesis.settings.default)
    hypothesis.settings.register_profile(
        "dropspec-mutants-no-shrink",
        hypothesis.settings.default,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
    )
    hypothesis.settings.load_profile("dropspec-mutants-no-shrink")
    try:
        yield
    finally:
        hypothesis.settings.load_profile("dropspec-mutants-previous")
