"""Where each plug of dropspec lives: the files a new op, a new framework and a new check take.

Read from the registries, not written down: the ops are the spec's (:data:`dropspec.spec.OPS`,
one module each), their reference targets are the ones their reference modules declare
(:func:`dropspec.adapters.reference.reference_targets`), their checks are registered by their
checks modules (:func:`~dropspec.conformance.context.register`), and the frameworks are the
rows of :data:`dropspec.frameworks.FRAMEWORKS`. ``tests/test_registries.py`` holds the
package to what this module says (every op has each of its files, and no module outside them
names an op, save the shared files of :data:`SHARED`), so the contributor's page can be
rendered from it and stay true.

Paths are relative to the repository root, with ``/`` separators.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..adapters.reference import reference_targets
from ..frameworks import FRAMEWORKS, get_framework
from ..spec import OPS, get_op
from . import checks as _checks  # noqa: F401  (importing the checks registers them)
from .context import OP_FACTS

#: The repository root (the directory holding the ``dropspec`` package).
ROOT = Path(__file__).resolve().parents[2]

#: The checks module of an op, and the package it is found in.
CHECKS_PACKAGE = "dropspec.conformance.checks"

#: Files outside any op's own files that name ops by design, and why. Adding an op needs no
#: entry in them: the first is where its function is exported (an entry of its
#: :attr:`Plug.entries`); the others hold facts about some ops only.
SHARED: dict[str, str] = {
    "dropspec/reference/__init__.py": "exports each op's reference function, so that "
    "dropspec.reference.<op>(...) is typed for users",
    "dropspec/reference/expectations.py": "the expected moments of the ops whose statistical "
    "checks use them (the checks' one source of moments): an op whose checks need moments "
    "adds its function here",
    "dropspec/adapters/_half_precision.py": "the clauses of the ops TensorFlow draws in the "
    "data dtype that diverge in float16 and bfloat16: a fact about those frameworks' targets",
}


@dataclass(frozen=True)
class Plug:
    """What adding one op, framework or check takes.

    ``owns``: the files that belong to it alone, created with it. ``entries``: for each file
    it shares with others, what it adds there (file, what).
    """

    name: str
    owns: tuple[str, ...]
    entries: tuple[tuple[str, str], ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        """Every file it touches: its own, then the shared ones it adds an entry to."""
        return tuple(dict.fromkeys([*self.owns, *(path for path, _ in self.entries)]))


def module_path(module: str) -> str:
    """The file of a dotted module name of dropspec (``pkg/__init__.py`` for a package)."""
    base = Path(*module.split("."))
    if (ROOT / base).is_dir():
        return (base / "__init__.py").as_posix()
    return base.with_suffix(".py").as_posix()


def spec_module(op: str) -> str:
    """The module of :mod:`dropspec.spec` that defines ``op`` (found there by its name)."""
    get_op(op)
    return f"dropspec.spec.{op}"


def reference_modules(op: str) -> tuple[str, ...]:
    """The modules of :mod:`dropspec.reference` that declare ``op``'s reference targets."""
    return tuple(dict.fromkeys(t.fn.__module__ for t in reference_targets() if t.op == op))


def checks_module(op: str) -> str:
    """The checks module of ``op``: named as its spec module, it registers the op's checks
    and declares what they need to know about it (its :class:`~.context.OpFacts`)."""
    get_op(op)
    return f"{CHECKS_PACKAGE}.{op}"


def docs_page(op: str) -> str:
    """The op's page in the docs (one ``dropspec-op`` directive; the index lists it)."""
    get_op(op)
    return f"docs/spec/{op}.md"


def op_plug(op: str) -> Plug:
    """The files an op takes: its spec, reference, checks and docs page, and one export."""
    owns = (
        module_path(spec_module(op)),
        *(module_path(m) for m in reference_modules(op)),
        module_path(checks_module(op)),
        docs_page(op),
    )
    entries = (
        (
            "dropspec/reference/__init__.py",
            f"the export of its reference function (dropspec.reference.{op})",
        ),
    )
    return Plug(op, owns, entries)


def framework_plug(name: str) -> Plug:
    """The files a framework takes: its adapter modules (and its backend's and array
    namespace's modules where they are not shared ones), and its row in the table."""
    row = get_framework(name)
    modules = [*row.adapters, row.backend.split(":")[0]]
    if row.namespace is not None:
        modules.append(row.namespace.split(":")[0])
    owns = tuple(
        dict.fromkeys(module_path(m) for m in modules if not m.rsplit(".", 1)[-1].startswith("_"))
    )
    return Plug(name, owns, (("dropspec/frameworks.py", f"its Framework row ({name!r})"),))


def check_plug(op: str) -> Plug:
    """Where a new check of ``op`` goes: its clause in the op's spec module, its function in
    the op's checks module (or a shared one from ``common``/``masked``) and its entry, under
    the clause id, in that module's ``register(...)`` table."""
    spec_file = module_path(spec_module(op))
    checks_file = module_path(checks_module(op))
    return Plug(
        f"a check of {op}",
        (),
        (
            (spec_file, "the clause, its id written out once, in the op's CLAUSES"),
            (
                checks_file,
                "the check function (or a shared one from common.py or masked.py) and its "
                "entry under the clause id in the register(...) table, in the spec's order",
            ),
        ),
    )


def op_plugs() -> dict[str, Plug]:
    """:func:`op_plug` of every op, in the ops' order."""
    return {op: op_plug(op) for op in OPS}


def framework_plugs() -> dict[str, Plug]:
    """:func:`framework_plug` of every framework, in the table's order."""
    return {name: framework_plug(name) for name in FRAMEWORKS}


def check_plugs() -> dict[str, Plug]:
    """:func:`check_plug` of every op whose checks are registered, in the ops' order."""
    return {op: check_plug(op) for op in OPS if op in OP_FACTS}


__all__ = [
    "ROOT",
    "SHARED",
    "Plug",
    "check_plug",
    "check_plugs",
    "checks_module",
    "docs_page",
    "framework_plug",
    "framework_plugs",
    "module_path",
    "op_plug",
    "op_plugs",
    "reference_modules",
    "spec_module",
]
