"""Adding an op, a framework or a check takes the files :mod:`dropspec.conformance.layout` says.

The registries are walked: every op of the spec has its spec module, its reference targets,
its checks module (registering every clause, with what the checks need to know about the op)
and its docs page, and those are exactly the files an op owns. Then the package is read with
:mod:`ast`: no module outside an op's own files names an op (a string literal equal to an op's
name, or an import of an op's module), save the files of the frameworks (a framework's targets
name the op they implement) and the shared files of :data:`layout.SHARED`, each with its
reason. A list of ops kept by hand anywhere else fails here, which is what keeps the
contributor's page (rendered from :mod:`~dropspec.conformance.layout`) true.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import dropspec
import dropspec.reference
from dropspec.adapters.reference import TARGETS as REFERENCE_TARGETS
from dropspec.adapters.reference import reference_targets
from dropspec.conformance import layout
from dropspec.conformance.context import CHECKS, OP_FACTS, register
from dropspec.frameworks import FRAMEWORKS
from dropspec.spec import OPS, discover

ROOT = layout.ROOT
PACKAGE = Path(dropspec.__file__).parent


def python_files() -> list[Path]:
    """dropspec's modules, and the docs' Python (the extension, the figures, the config)."""
    files = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "docs").rglob("*.py"))
    return [p for p in files if "__pycache__" not in p.parts and "_build" not in p.parts]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def names_of_ops(path: Path) -> dict[str, list[int]]:
    """op -> the lines of ``path`` where it is named: a string literal equal to the op's name,
    or an import of a module (or a name) called as the op."""
    found: dict[str, list[int]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        named: set[str] = set()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = {node.value}
        elif isinstance(node, ast.ImportFrom):
            named = {*(node.module or "").split("."), *(a.name for a in node.names)}
        elif isinstance(node, ast.Import):
            named = {part for a in node.names for part in a.name.split(".")}
        for op in named & set(OPS):
            found.setdefault(op, []).append(getattr(node, "lineno", 0))
    return found


# ------------------------------------------------------------------- the ops ----


def test_ops_are_found_in_their_declared_order() -> None:
    assert tuple(OPS.values()) == discover()
    orders = [op.order for op in OPS.values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    # The order every listing shows (OPS, `dropspec list`, the matrix, the docs' toctree).
    assert list(OPS) == [
        "dropout",
        "alpha_dropout",
        "gaussian_dropout",
        "dropconnect",
        "drop_path",
        "attention_dropout",
        "recurrent_dropout",
    ]


def test_every_op_has_a_spec_module_named_as_it() -> None:
    spec_dir = PACKAGE / "spec"
    modules = {p.stem for p in spec_dir.glob("*.py") if not p.stem.startswith("_")}
    assert modules == set(OPS)
    for op in OPS:
        assert (ROOT / layout.module_path(layout.spec_module(op))).is_file(), op


def test_every_op_registers_every_clause_with_what_its_checks_need() -> None:
    for op, spec in OPS.items():
        assert op in OP_FACTS, f"checks/{op}.py declares no mask kind or inputs for {op}"
        facts = OP_FACTS[op]
        assert facts.mask in ("zero", "alpha", "noise", "layer", "attention", "recurrent"), op
        assert facts.inputs in ("units", "layer", "attention", "recurrent"), op
        assert {c.id for c in spec.clauses} <= set(CHECKS), op
        path = ROOT / layout.module_path(layout.checks_module(op))
        assert path.is_file(), f"{op} has no checks module {rel(path)}"
    # register() is called once per op, in the op's own checks module, and nowhere else.
    calls: dict[str, list[str]] = {}
    for path in sorted((PACKAGE / "conformance" / "checks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "register"
            ):
                first = node.args[0]
                assert isinstance(first, ast.Constant), rel(path)
                calls.setdefault(str(first.value), []).append(path.stem)
    assert calls == {op: [op] for op in OPS}


def test_register_refuses_facts_that_do_not_fit_together() -> None:
    ids = [c.id for c in OPS["drop_path"].clauses]
    table = dict.fromkeys(ids, lambda ctx: None)
    with pytest.raises(LookupError, match="declare no inputs"):
        register("drop_path", table, mask="zero")
    with pytest.raises(LookupError, match="exactly when the op is one"):
        register("drop_path", table, mask="layer", inputs="units")
    with pytest.raises(LookupError, match="an attention mask is read from attention's inputs"):
        register("drop_path", table, mask="attention", inputs="units")
    with pytest.raises(LookupError, match="a recurrent mask is read from a recurrent layer"):
        register("drop_path", table, mask="recurrent", inputs="units")
    with pytest.raises(LookupError, match="per-example mask for a layer"):
        register("drop_path", table, mask="layer", inputs="layer", per_example=True)


def test_every_op_has_reference_targets_in_its_own_reference_module() -> None:
    assert reference_targets() == REFERENCE_TARGETS
    assert {t.op for t in REFERENCE_TARGETS} == set(OPS)
    for op in OPS:
        assert layout.reference_modules(op) == (f"dropspec.reference.{op}",), op
        assert callable(getattr(dropspec.reference, op)), f"dropspec.reference exports no {op}"
    # In the ops' order, each op's targets together.
    ops_in_order = list(dict.fromkeys(t.op for t in REFERENCE_TARGETS))
    assert ops_in_order == list(OPS)


def test_every_op_has_a_docs_page_and_the_index_lists_none_by_hand() -> None:
    pages = {p.stem for p in (ROOT / "docs" / "spec").glob("*.md")} - {"index"}
    assert pages == set(OPS)
    for op in OPS:
        text = (ROOT / layout.docs_page(op)).read_text(encoding="utf-8")
        assert re.search(rf"^```{{dropspec-op}} {op}$", text, re.M), op
    # No toctree anywhere in the docs names an op's page: the op pages' toctree is generated.
    for md in sorted((ROOT / "docs").rglob("*.md")):
        for block in re.findall(r"```\{toctree\}\n(.*?)```", md.read_text(encoding="utf-8"), re.S):
            entries = {line.strip().removeprefix("spec/") for line in block.splitlines()}
            assert not entries & set(OPS), f"{rel(md)} lists op pages by hand"


# ------------------------------------------------------------- what a plug takes ----


def test_an_op_owns_exactly_its_spec_reference_checks_and_docs_files() -> None:
    for op, plug in layout.op_plugs().items():
        assert plug.owns == (
            f"dropspec/spec/{op}.py",
            f"dropspec/reference/{op}.py",
            f"dropspec/conformance/checks/{op}.py",
            f"docs/spec/{op}.md",
        )
        assert plug.entries == (
            (
                "dropspec/reference/__init__.py",
                f"the export of its reference function (dropspec.reference.{op})",
            ),
        )
        for path in plug.files:
            assert (ROOT / path).is_file(), path


def test_a_framework_owns_its_adapter_modules_and_one_row() -> None:
    plugs = layout.framework_plugs()
    assert list(plugs) == list(FRAMEWORKS)
    owned: list[str] = []
    for name, plug in plugs.items():
        assert plug.entries == (("dropspec/frameworks.py", f"its Framework row ({name!r})"),)
        assert plug.owns, name
        for path in plug.owns:
            assert (ROOT / path).is_file(), path
            assert path.startswith("dropspec/adapters/"), path
        owned += plug.owns
    assert len(owned) == len(set(owned)), "a module is owned by two frameworks"
    # Every public adapter module belongs to one framework.
    public = {rel(p) for p in (PACKAGE / "adapters").glob("*.py") if not p.stem.startswith("_")}
    assert public == set(owned)


def test_a_check_goes_in_its_ops_spec_and_checks_modules() -> None:
    plugs = layout.check_plugs()
    assert list(plugs) == list(OPS)
    for op, plug in plugs.items():
        assert plug.owns == ()
        assert [path for path, _ in plug.entries] == [
            f"dropspec/spec/{op}.py",
            f"dropspec/conformance/checks/{op}.py",
        ]


# ------------------------------------------------------- nothing else names an op ----


def test_no_module_outside_an_ops_files_names_an_op() -> None:
    op_files = {path for plug in layout.op_plugs().values() for path in plug.owns}
    framework_files = {path for plug in layout.framework_plugs().values() for path in plug.owns}
    allowed = op_files | framework_files | set(layout.SHARED)
    offenders = []
    naming: set[str] = set()
    for path in python_files():
        found = names_of_ops(path)
        if found:
            naming.add(rel(path))
        if found and rel(path) not in allowed:
            where = "; ".join(f"{op!r} at lines {lines}" for op, lines in sorted(found.items()))
            offenders.append(f"{rel(path)}: {where}")
    assert not offenders, (
        "these modules name ops outside the ops' own files, so a new op would need an edit "
        "there; find the ops from the registries instead (dropspec.spec.OPS, the checks' "
        "OP_FACTS, the reference modules' TARGETS), or, if the file holds a fact about some "
        "ops by design, add it with its reason to dropspec.conformance.layout.SHARED:\n"
        + "\n".join(offenders)
    )
    # Every documented exception is still one (a stale entry would hide a new offender).
    stale = sorted(set(layout.SHARED) - naming)
    assert not stale, f"layout.SHARED lists files that name no op: {stale}"


def test_the_walk_sees_a_hand_kept_list(tmp_path: Path) -> None:
    module = tmp_path / "lists.py"
    module.write_text(
        'OPS = ("dropout", "drop_path")\nfrom .spec import dropconnect\nNOTE = "dropout rate"\n'
    )
    assert names_of_ops(module) == {"dropout": [1], "drop_path": [1], "dropconnect": [2]}
