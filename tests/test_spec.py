"""The clause registry: stable, complete, and strict about declared options."""

from __future__ import annotations

import re

import pytest

from dropspec.conformance.engine import CHECKS, registry
from dropspec.spec import CLAUSES, OPS, Kind, Level, clauses_for, get_op


def test_ids_are_unique_and_well_formed() -> None:
    ids = [c.id for op in OPS.values() for c in op.clauses]
    assert len(ids) == len(set(ids)) == len(CLAUSES)
    for cid in ids:
        assert re.fullmatch(r"[A-Z]+(-[A-Z0-9]+)+", cid), cid


def test_every_clause_is_one_sentence_with_a_level_and_kind() -> None:
    for c in CLAUSES.values():
        assert isinstance(c.level, Level) and isinstance(c.kind, Kind)
        assert c.text.endswith(".") and c.text[0].isupper(), c.id
        assert c.op in OPS


def test_ops_listed_by_the_core_issue_exist() -> None:
    assert set(OPS) == {"dropout", "alpha_dropout", "gaussian_dropout", "dropconnect", "drop_path"}


def test_every_clause_has_exactly_one_check() -> None:
    assert set(registry()) == set(CLAUSES)


def test_incomplete_suite_is_a_collection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    registry()
    monkeypatch.delitem(CHECKS, "DROPOUT-RATE")
    with pytest.raises(LookupError, match="DROPOUT-RATE"):
        registry()


def test_check_for_unknown_clause_is_rejected() -> None:
    from dropspec.conformance.engine import checks

    with pytest.raises(LookupError, match="unknown clause"):
        checks("DROPOUT-NO-SUCH-CLAUSE")(lambda ctx: None)


def test_options_are_validated() -> None:
    op = get_op("dropout")
    with pytest.raises(ValueError, match="no option 'keep_prob'"):
        op.resolve_options({"keep_prob": 0.5})
    with pytest.raises(ValueError, match="scaling"):
        op.resolve_options({"scaling": "sometimes"})
    assert op.resolve_options({"shared_axes": [2, 3]})["shared_axes"] == (2, 3)
    with pytest.raises(ValueError, match="unknown op"):
        get_op("dropblock")


def test_applicability_follows_declared_options() -> None:
    classic = {
        c.id
        for c in clauses_for("dropout", get_op("dropout").resolve_options({"scaling": "classic"}))
    }
    assert "DROPOUT-INFERENCE-CLASSIC" in classic
    assert "DROPOUT-INFERENCE-IDENTITY" not in classic
    shared = {
        c.id
        for c in clauses_for("dropout", get_op("dropout").resolve_options({"shared_axes": (1,)}))
    }
    assert "DROPOUT-SHARED-CONSTANT" in shared
