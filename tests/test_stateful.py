"""Layers that own their random state (issue 23, item 1): the declaration, the seeded
convention derived from the factory, and the correct stateful layers on the state clauses.

The wrong stateful layers are in the mutation corpus (``tests/mutants/stateful_mutants.py``);
the full soak of the correct ones over every clause is ``benchmarks/stateful_soak.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from replay import rerun_hint

import dropspec
from dropspec.adapters import builtin_targets
from dropspec.conformance import Config, run_target
from dropspec.conformance.engine import ClauseResult, Outcome
from dropspec.dtypes import FLOAT_DTYPES
from dropspec.spec import CLAUSES, get_op


def torch_layer(rate: float, *, seed: int) -> Callable[..., Any]:
    """A correct stateful layer in torch, with a generator of its own (so gradients exist)."""
    import torch

    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    gen = torch.Generator().manual_seed(seed)

    def layer(x: Any, *, training: bool) -> Any:
        if not training:
            return x.clone()
        keep = torch.rand(x.shape, generator=gen, dtype=torch.float64) >= rate
        return torch.where(keep, x * (0.0 if rate == 1.0 else 1.0 / (1.0 - rate)), 0.0)

    return layer


#: The correct stateful layers: the built-in NumPy ones (the reference through the stateful
#: convention and a second, independent one) and a torch one for the gradient clause.
STATEFUL = [
    *(t for n, t in builtin_targets().items() if n.startswith("stateful.")),
    dropspec.make_stateful_target(
        torch_layer, "dropout", framework="torch", name="tests.torch_layer", seed_bits=63
    ),
]
STATE_CLAUSES = [c.id for c in get_op("dropout").clauses if "-STATE-" in c.id]


def state_clauses(op: str) -> list[str]:
    """The op's state clauses, in the spec's order (CALLS, REPRODUCIBLE, INFERENCE, GRADIENT)."""
    return [c.id for c in get_op(op).clauses if "-STATE-" in c.id]


#: The ops with a layer-style API, each with its state clauses.
STATEFUL_OPS = ("dropout", "alpha_dropout", "gaussian_dropout", "dropconnect", "drop_path")


def counting_factory(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
    rng = np.random.default_rng(seed)

    def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
        if not training:
            return x.copy()
        return np.where(rng.random(x.shape) >= rate, x / (1 - rate), 0.0).astype(x.dtype)

    return layer


def test_a_stateful_declaration_derives_the_seeded_convention() -> None:
    t = dropspec.make_stateful_target(counting_factory, "dropout", name="mine")
    assert t.error is None and t.factory is counting_factory
    assert t.options["calls"] == "stateful" and t.name == "mine"
    x = np.ones((4, 256), np.float32)
    first = counting_factory(0.5, seed=7)(x, training=True)
    assert np.array_equal(t.fn(x, 0.5, training=True, seed=7), first)
    assert not np.array_equal(t.fn(x, 0.5, training=True, seed=8), first)
    # with_options keeps the factory (and so the state clauses' instance)
    copy = t.with_options(scaling="inverted")
    assert copy.factory is counting_factory and copy.options["calls"] == "stateful"
    # the state clauses apply to it and to no seeded target
    for cid in STATE_CLAUSES:
        assert CLAUSES[cid].applies(t.options)
        assert not CLAUSES[cid].applies(builtin_targets()["reference.dropout"].options)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (
            lambda: dropspec.make_target(
                lambda x, r, *, training, seed: x, "dropout", calls="stateful"
            ),
            "declared by dropspec.stateful_target",
        ),
        (
            lambda: dropspec.make_stateful_target(counting_factory, "dropout", calls="seeded"),
            "declares calls='stateful' itself",
        ),
        (
            lambda: dropspec.make_stateful_target(lambda rate: None, "dropout"),
            "factory(rate, *, seed)",
        ),
        (
            lambda: dropspec.make_stateful_target(counting_factory, "attention_dropout"),
            "has no option 'calls'",
        ),
    ],
    ids=["seeded-declares-stateful", "calls-given", "factory-signature", "op-without-state"],
)
def test_bad_stateful_declarations_say_what_is_wrong(make: Callable[[], Any], problem: str) -> None:
    t = make()
    assert t.error is not None and problem in t.error, t.error


def test_the_decorator_declares_the_same_target() -> None:
    t = dropspec.stateful_target("dropout", name="decorated")(counting_factory)
    assert t.error is None and t.factory is counting_factory and t.name == "decorated"


def rotation(seed: int) -> str:
    return FLOAT_DTYPES[seed % len(FLOAT_DTYPES)]


def dtype_for(t: Any, seed: int) -> str:
    """The rotation's dtype; the torch layer, there for the gradient clause, in a wide one."""
    return ("float32", "float64")[seed % 2] if t.framework == "torch" else rotation(seed)


def at_seed(seed: int, rotate: bool) -> list[Any]:
    """The correct stateful layers run at ``seed``: all of them, or, with ``rotate``,
    dropout's at every seed and each other op's pair at every fourth seed (5 of 20 each:
    the slow tier's cost; benchmarks/stateful_soak.py runs every clause of every pair at all
    20)."""
    others = [op for op in STATEFUL_OPS if op != "dropout"]
    keep = {"dropout", others[seed % len(others)]} if rotate else set(STATEFUL_OPS)
    return [t for t in STATEFUL if t.op in keep]


def state_clause_results(seeds: list[int], rotate: bool = False) -> list[ClauseResult]:
    """The state clauses of the correct stateful layers at ``seeds`` (see :func:`at_seed`),
    one dtype per seed in rotation (as tests/test_correct_implementations.py runs the seeded
    ones)."""
    return [
        r
        for seed in seeds
        for t in at_seed(seed, rotate)
        for r in run_target(
            replace(t, dtypes=(dtype_for(t, seed),)),
            clauses=state_clauses(t.op),
            config=Config(seed=seed),
        )
    ]


@pytest.mark.parametrize(
    "seeds",
    [pytest.param(list(range(1, 21)), marks=pytest.mark.slow), None],
    ids=["20-seeds", "replay-seed"],
)
def test_correct_stateful_layers_pass_the_state_clauses(
    seeds: list[int] | None, replay_seed: int
) -> None:
    """The stateful reference and the second stateful layer of each op pass every state
    clause of their op: over base seeds 1-20 (slow tier: dropout's at all 20, each other
    op's at 5 of them; every clause of theirs at all 20 is ``benchmarks/stateful_soak.py``'s)
    and, all of them, at the run's replay seed."""
    pytest.importorskip("torch")
    used = seeds or [replay_seed]
    results = state_clause_results(used, rotate=seeds is not None)
    assert {t.op for t in STATEFUL} == set(STATEFUL_OPS)
    assert len(results) == sum(
        len(state_clauses(t.op)) for s in used for t in at_seed(s, seeds is not None)
    )
    # NumPy has no autodiff: its gradient clause is not applicable, the torch layer's runs.
    ran = {(r.target, r.clause_id) for r in results if r.outcome is not Outcome.NOT_APPLICABLE}
    assert ran == {(t.name, c) for t in STATEFUL for c in state_clauses(t.op)} - {
        (t.name, c)
        for t in STATEFUL
        if t.framework == "numpy"
        for c in state_clauses(t.op)
        if c.endswith("-STATE-GRADIENT")
    }
    bad = [
        f"{r.target} {r.clause_id}: {r.message}"
        for r in results
        if r.outcome not in (Outcome.PASSED, Outcome.NOT_APPLICABLE)
    ]
    hint = "" if seeds else f"\n{rerun_hint(replay_seed)}"
    assert not bad, "\n".join(bad) + hint
