"""The mutation corpus (tests/mutants/): the suite must catch every wrong implementation.

Each mutant runs only the clauses it names (the full picture, every clause of the op against
every mutant, is ``benchmarks/mutation_score.py``). Failing exact checks run without
hypothesis's shrink phase (see :func:`mutants.no_shrinking`): the verdict is the same, and a
JAX mutant no longer spends seconds minimising its counterexample.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
from mutants import FAULT_CLASSES, OPS, Mutant, corpus, no_shrinking

from dropspec.conformance import Config, run_target
from dropspec.spec import get_op

CORPUS = corpus()


@pytest.fixture(scope="module", autouse=True)
def _no_shrinking() -> Iterator[None]:
    with no_shrinking():
        yield


@pytest.mark.parametrize("m", CORPUS, ids=[m.name for m in CORPUS])
def test_mutant_is_caught(m: Mutant) -> None:
    if m.framework != "numpy":
        pytest.importorskip(m.framework)
    results = run_target(m.target, clauses=m.clauses, config=Config())
    assert sorted(r.clause_id for r in results) == sorted(m.clauses)
    failed = [r for r in results if r.outcome == "failed"]
    assert failed, f"{m.name} ({m.description}) escaped: " + "; ".join(
        f"{r.clause_id} {r.outcome}: {r.message}" for r in results
    )
    for r in failed:
        assert r.message
        # A catch must come from the check, not from the mutant crashing. The one exception is
        # hypothesis's own flakiness detection, which the engine reports as a raised
        # FlakyFailure when a non-deterministic target fails only on the first of two calls.
        if "the target raised" in r.message:
            assert "FlakyFailure" in r.message, f"{m.name} crashed: {r.message}"


#: (mutant, base seed) pairs the suite misses. Exact clauses draw the dtype (and the rate) of
#: each of their 10 examples at random, so a fault confined to one dtype is caught only when
#: hypothesis happens to draw that dtype: a gap in the suite, reported, not hidden here.
# Mutants that escaped with some base seeds before every exact check ran every dtype
# explicitly; none is known now. An entry here is (mutant name, base seed).
SEED_GAPS: frozenset[tuple[str, int]] = frozenset()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_caught_whatever_the_seed(seed: int) -> None:
    """The catches do not hang on the default base seed: base seeds 0-4 catch every mutant
    too (beyond the known gaps)."""
    escaped = set()
    for m in CORPUS:
        if m.framework != "numpy" and importlib.util.find_spec(m.framework) is None:
            continue
        results = run_target(m.target, clauses=m.clauses, config=Config(seed=seed))
        if not any(r.outcome == "failed" for r in results):
            escaped.add(m.name)
    known = {name for name, s in SEED_GAPS if s == seed}
    assert escaped <= known, f"escaped with seed {seed}: {sorted(escaped - known)}"


def test_corpus_size_and_spread() -> None:
    names = {m.name for m in CORPUS}
    assert len(names) == len(CORPUS) >= 30
    assert {m.op for m in CORPUS} == set(OPS)
    assert {m.fault_class for m in CORPUS} == set(FAULT_CLASSES)
    assert {m.framework for m in CORPUS} == set(
        importlib.import_module("dropspec.frameworks").FRAMEWORKS
    )
    numpy_classes = {m.fault_class for m in CORPUS if m.framework == "numpy"}
    assert numpy_classes == set(FAULT_CLASSES) - {"gradient"}  # NumPy has no autodiff
    for op in OPS:
        assert len({m.fault_class for m in CORPUS if m.op == op}) >= 5, op
    for fw in ("torch", "tensorflow", "jax"):
        assert any(m.framework == fw and m.fault_class == "gradient" for m in CORPUS), fw
        # a statistical fault confined to one dtype, per framework (issue 10's dtype gap)
        assert any(m.framework == fw and m.fault_class == "dtype" for m in CORPUS), fw
    # dropout with shared axes, and both DropConnect mask schemes
    assert any(m.op == "dropout" and m.target.options["shared_axes"] for m in CORPUS)
    assert any(m.op == "alpha_dropout" and m.target.options["shared_axes"] for m in CORPUS)
    dc = {m.target.options["masks"] for m in CORPUS if m.op == "dropconnect"}
    assert dc == {"per_example", "per_batch"}


@pytest.mark.parametrize("m", CORPUS, ids=[m.name for m in CORPUS])
def test_mutant_declaration(m: Mutant) -> None:
    """Each mutant is well declared and names clauses that apply to what it declares."""
    assert m.target.error is None
    assert m.target.op == m.op and m.target.framework == m.framework
    assert m.description and "\n" not in m.description
    op = get_op(m.op)
    by_id = {c.id: c for c in op.clauses}
    assert m.clauses
    for cid in m.clauses:
        assert cid in by_id, f"{m.name} names {cid}, not a clause of {m.op}"
        assert by_id[cid].applies(m.target.options), f"{cid} does not apply to {m.name}"
