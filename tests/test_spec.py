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


def test_every_clause_is_registered_by_its_id_in_its_ops_checks_module() -> None:
    # grep -rn '"DROPOUT-RATE"' dropspec/conformance/checks must find the registration: the
    # checks module of each op, dropspec/conformance/checks/<op>.py (named as the op's module in
    # dropspec/spec), registers every clause of the op in one register(op, {...}) call whose
    # keys are the clause ids written out as string literals, in the spec's order.
    import dropspec.conformance.checks

    checks_dir = Path(dropspec.conformance.checks.__file__).parent
    registered = registry()
    for name, op in OPS.items():
        path = checks_dir / f"{name}.py"
        assert path.is_file(), f"{name} has no checks module {path}"
        calls = [
            node
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "register"
        ]
        assert len(calls) == 1, f"checks/{name}.py has {len(calls)} register() calls, not 1"
        (call,) = calls
        assert isinstance(call.args[0], ast.Constant) and call.args[0].value == name
        table = call.args[1]
        assert isinstance(table, ast.Dict), f"checks/{name}.py registers no literal dict"
        keys = [k.value if isinstance(k, ast.Constant) else None for k in table.keys]
        assert keys == [c.id for c in op.clauses], f"checks/{name}.py: {keys}"
        for c in op.clauses:
            assert registered[c.id].__module__.startswith("dropspec.conformance.checks."), c.id


def test_an_ops_checks_list_every_clause_in_the_specs_order() -> None:
    from dropspec.conformance.engine import register

    def check(ctx: object) -> None:
        return None

    ids = [c.id for c in get_op("drop_path").clauses]
    with pytest.raises(LookupError, match="missing: DROPPATH-PER-EXAMPLE"):
        register("drop_path", dict.fromkeys([i for i in ids if i != "DROPPATH-PER-EXAMPLE"], check))
    with pytest.raises(LookupError, match="not clauses of drop_path: DROPOUT-RATE"):
        register("drop_path", dict.fromkeys([*ids, "DROPOUT-RATE"], check))
    with pytest.raises(LookupError, match="spec's order"):
        register("drop_path", dict.fromkeys(reversed(ids), check))


def test_every_clause_is_one_sentence_with_a_level_and_kind() -> None:
    for c in CLAUSES.values():
        assert isinstance(c.level, Level) and isinstance(c.kind, Kind)
        assert c.text.endswith(".") and c.text[0].isupper(), c.id
        assert c.op in OPS


def test_ops_listed_by_the_core_issue_exist() -> None:
    core = {"dropout", "alpha_dropout", "gaussian_dropout", "dropconnect", "drop_path"}
    assert core <= set(OPS)
    assert set(OPS) - core == {"attention_dropout", "recurrent_dropout"}  # issue 24


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
