"""The clause registry: stable, complete, and strict about declared options."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

import dropspec.spec
from dropspec.conformance.engine import CHECKS, registry
from dropspec.spec import CLAUSES, OPS, Kind, Level, clauses_for, get_op


def test_ids_are_unique_and_well_formed() -> None:
    ids = [c.id for op in OPS.values() for c in op.clauses]
    assert len(ids) == len(set(ids)) == len(CLAUSES)
    for cid in ids:
        assert re.fullmatch(r"[A-Z]+(-[A-Z0-9]+)+", cid), cid


def test_every_clause_id_is_written_out_where_its_op_declares_it() -> None:
    # grep -rn '"DROPOUT-RATE"' dropspec/spec must find the declaration: each id is one complete
    # string literal in its op's module (dropspec/spec/<op>.py), never built from a prefix.
    spec_dir = Path(dropspec.spec.__file__).parent
    for name, op in OPS.items():
        source = (spec_dir / f"{name}.py").read_text(encoding="utf-8")
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        literals = [
            ast.literal_eval(t.string)
            for t in tokens
            # an f-string is never a complete literal id (Python 3.11 tokenizes it as a STRING)
            if t.type == tokenize.STRING and "f" not in re.match(r"\w*", t.string)[0].lower()
        ]
        for c in op.clauses:
            assert literals.count(c.id) == 1, f"{c.id} is not written out once in {name}.py"


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
