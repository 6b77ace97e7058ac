"""The suite must catch each wrong implementation on the clause it violates."""

from __future__ import annotations

import pytest
from impls import WRONG, Wrong

from dropspec.conformance import Config, run_target


@pytest.mark.parametrize("wrong", WRONG, ids=[w.name for w in WRONG])
def test_wrong_implementation_is_caught(wrong: Wrong) -> None:
    (result,) = run_target(wrong.target, clauses=[wrong.clause], config=Config())
    assert result.outcome == "failed", (
        f"{wrong.name}: {wrong.clause} gave {result.outcome}: {result.message}"
    )
    assert result.message


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_caught_whatever_the_seed(seed: int) -> None:
    """The statistical catches do not depend on a lucky base seed."""
    for wrong in WRONG:
        (result,) = run_target(wrong.target, clauses=[wrong.clause], config=Config(seed=seed))
        assert result.outcome == "failed", f"{wrong.name} escaped with seed {seed}"
