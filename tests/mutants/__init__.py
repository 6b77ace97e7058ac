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


def validate(rate: float) -> None:
    """The rate check every correct building block of the corpus makes (NaN fails it too)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")


def check_layer(x: Any, w: Any, b: Any) -> None:
    """The shape check of a dense layer's operands, for arrays of any framework."""
    if (
        len(x.shape) != 2
        or len(w.shape) != 2
        or w.shape[1] != x.shape[1]
        or tuple(b.shape) != (w.shape[0],)
    ):
        raise ValueError(
            f"shapes x {tuple(x.shape)}, weight {tuple(w.shape)}, bias {tuple(b.shape)} "
            "do not form a dense layer"
        )


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


def collector(corpus: list[Mutant], framework: str, prefix: str = "") -> Callable[..., Mutant]:
    """An ``add(fn, op, name, fault_class, description, clauses, **options)`` that declares a
    ``framework`` mutant (named ``prefix + name``), appends it to ``corpus`` and returns it."""

    def add(
        fn: Callable[..., Any],
        op: str,
        name: str,
        fault_class: str,
        description: str,
        clauses: str | tuple[str, ...],
        **options: Any,
    ) -> Mutant:
        m = mutant(
            fn,
            op,
            framework=framework,
            name=prefix + name,
            fault_class=fault_class,
            description=description,
            clauses=clauses,
            **options,
        )
        corpus.append(m)
        return m

    return add


def corpus() -> tuple[Mutant, ...]:
    """Every mutant, numpy first; framework mutants are listed whether or not it is installed.
    Of issue 21's input-space mutants, only those caught on every seed CI draws are in it.
    Every other module of this package named ``*_mutants`` is found, not listed: its
    ``MUTANTS`` join the corpus in the order of the module names (a new framework's mutants
    are one new module)."""
    import importlib
    import pkgutil

    from . import core_mutants, input_space_mutants, numpy_mutants

    first = {"core_mutants", "numpy_mutants", "input_space_mutants"}
    found = sorted(
        info.name
        for info in pkgutil.iter_modules(__path__)
        if info.name.endswith("_mutants") and info.name not in first
    )
    out = (
        *core_mutants.MUTANTS,
        *numpy_mutants.MUTANTS,
        *input_space_mutants.CAUGHT,
        *(m for name in found for m in importlib.import_module(f"{__name__}.{name}").MUTANTS),
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


#: A process that runs mutants of one framework for the tests: requests and results are
#: length-prefixed pickles on its stdin and on a copy of its stdout (fd 1 itself goes to
#: stderr, so that nothing the framework prints can reach the protocol).
_SERVE = """
import os, pickle, struct, sys, traceback
answer = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
from mutants import corpus, no_shrinking
from dropspec.conformance import run_target
by_name = {m.name: m for m in corpus()}
while header := sys.stdin.buffer.read(8):
    name, clauses, config = pickle.loads(sys.stdin.buffer.read(struct.unpack("<Q", header)[0]))
    try:
        with no_shrinking():
            reply = ("ok", run_target(by_name[name].target, clauses=clauses, config=config))
    except Exception:
        reply = ("error", traceback.format_exc())
    data = pickle.dumps(reply)
    answer.write(struct.pack("<Q", len(data)) + data)
    answer.flush()
"""

_SERVERS: dict[str, Any] = {}


def _server(framework: str) -> Any:
    """The process that runs ``framework``'s mutants (started on first use, one per test
    process: importing the framework once)."""
    import atexit
    import os
    import subprocess
    import sys
    from pathlib import Path

    proc = _SERVERS.get(framework)
    if proc is None or proc.poll() is not None:
        tests = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent)])}
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        _SERVERS[framework] = proc
        atexit.register(_stop, proc)
    return proc


def _stop(proc: Any) -> None:
    """End a mutant process: its input closed, it leaves its loop."""
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except Exception:
        proc.kill()
        proc.wait()
    proc.stdout.close()


def run_mutant(
    m: Mutant, clauses: list[str] | tuple[str, ...] | None, config: Any
) -> list[ClauseResult]:
    """``run_target`` on ``m``'s target (``clauses``, or every clause of its op for None), in
    this process, or, where the mutant's framework cannot share a process with the others
    (``Backend.own_process``: Paddle after TensorFlow segfaults), in a process of that
    framework's own; the results come back pickled."""
    import pickle
    import struct

    from dropspec.adapters import get_backend
    from dropspec.conformance import run_target

    wanted = None if clauses is None else list(clauses)
    if not get_backend(m.framework).own_process:
        return run_target(m.target, clauses=wanted, config=config)
    proc = _server(m.framework)
    data = pickle.dumps((m.name, wanted, config))
    proc.stdin.write(struct.pack("<Q", len(data)) + data)
    proc.stdin.flush()
    header = proc.stdout.read(8)
    if len(header) < 8:
        raise RuntimeError(f"{m.name}: the {m.framework} process died (exit {proc.wait()})")
    status, value = pickle.loads(proc.stdout.read(struct.unpack("<Q", header)[0]))
    if status != "ok":
        raise RuntimeError(f"{m.name} in the {m.framework} process raised:\n{value}")
    results: list[ClauseResult] = value
    return results


def first_catch(m: Mutant, seed: int) -> tuple[ClauseResult | None, list[ClauseResult]]:
    """Run ``m``'s named clauses at base seed ``seed``, in order, until one catches it."""
    from dropspec.conformance import Config

    seen = []
    for cid in m.clauses:
        (r,) = run_mutant(m, [cid], Config(seed=seed))
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
