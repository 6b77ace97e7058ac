"""The package's layers hold: no import cycles among dropspec's modules, and no module imports
one from a higher layer.

Read from the source with :mod:`ast`, so every ``import`` statement counts, wherever it is:
at module level, inside a function (a lazy import is still a dependency), or under
``if TYPE_CHECKING:``. Relative imports are resolved; ``from pkg import name`` depends on
``pkg.name`` when that is a module, else on ``pkg``. What Python imports implicitly (a
module's parent packages) is not an edge.

Strings that name a module and are imported later through :mod:`importlib` (the framework
table's backend, namespace and adapter paths, ``dropspec.conformance``'s lazy attributes) are
not import statements: they are how a lower layer is told about a higher one without
depending on it, and they are what plugs are made of. They are not edges here; nor are the
modules found with :mod:`pkgutil` (the ops' modules of ``dropspec.spec`` and of the checks
package, found by their packages; the reference modules, whose targets
``dropspec.adapters.reference`` collects), each in the finder's layer or below it.

The layers, lowest first (a module may import its own layer and the ones below it):

0. ``dropspec.dtypes``, ``dropspec._version``: names of dtypes, the package's version.
1. ``dropspec.spec``: the clauses.
2. ``dropspec.target``, ``dropspec.frameworks``: what a target declares, and the table of
   frameworks it may name (one row per framework; the row holds dotted paths into the
   adapters and the reductions, looked up on use).
3. ``dropspec.reference``: the NumPy reference implementations and expectations.
4. ``dropspec.adapters``: framework backends and built-in targets.
5. ``dropspec.conformance``: the checks, statistics, engine, runner and report; within it,
   ``conformance.context`` (what a check sees) sits below ``conformance.checks``, which sits
   below ``conformance.engine`` (what runs the checks) -- the cycle test holds that order.
6. The entry points: ``dropspec.cli``, ``dropspec.conformance.plugin`` (pytest's),
   ``dropspec.conformance.suite`` (``dropspec.suite``, a test class run by the plugin) and the
   package root ``dropspec/__init__.py``. They may import each other (without a cycle); what
   two of them share lives below them (``conformance.options``: the run options and their
   validation).

A new module goes in the layer of the package it lives in; a new top-level module must be
given a layer in :data:`LAYERS` (the test fails until it is).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import dropspec

PACKAGE_DIR = Path(dropspec.__file__).parent
ROOT = "dropspec"

#: (layer name, module prefixes), lowest first. A module belongs to the layer of the longest
#: prefix it matches (``dropspec.conformance.plugin`` to the entry points, not conformance);
#: the package root matches only itself.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dtypes", ("dropspec.dtypes", "dropspec._version")),
    ("spec", ("dropspec.spec",)),
    ("target", ("dropspec.target", "dropspec.frameworks")),
    ("reference", ("dropspec.reference",)),
    ("adapters", ("dropspec.adapters",)),
    ("conformance", ("dropspec.conformance",)),
    (
        "entry points",
        ("dropspec.cli", "dropspec.conformance.plugin", "dropspec.conformance.suite", "dropspec"),
    ),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py")) if "__pycache__" not in p.parts
}


def _owning_module(name: str) -> str:
    """``name`` if it is a module of dropspec, else its longest prefix that is."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports(module: str) -> Iterator[tuple[str, int]]:
    """(imported dropspec module, line) for every import statement in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    yield _owning_module(alias.name), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not (base == ROOT or base.startswith(ROOT + ".")):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in MODULES else _owning_module(base)), node.lineno


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix != ROOT and module.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(PACKAGE_DIR.parent)}:{line}"


EDGES: dict[str, dict[str, int]] = {
    m: {dep: line for dep, line in reversed(list(imports(m))) if dep != m} for m in MODULES
}


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in EDGES[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(EDGES):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_the_package() -> None:
    # guards the test itself: relative imports resolve, function-level imports are seen
    assert "dropspec.conformance.engine" in MODULES
    assert "dropspec.spec" in EDGES["dropspec"]
    assert "dropspec.conformance.suite" in EDGES["dropspec"]  # imported inside suite()
    assert "dropspec.dtypes" in EDGES["dropspec.adapters._backend"]


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unplaced, f"give these modules a layer in tests/test_layers.py: {unplaced}"


def test_no_import_cycles() -> None:
    found = cycles()
    lines = []
    for component in found:
        members = set(component)
        lines.append(f"cycle of {len(component)} modules: {', '.join(component)}")
        for m in component:
            for dep, line in sorted(EDGES[m].items(), key=lambda kv: kv[1]):
                if dep in members:
                    lines.append(f"  {where(m, line)}: {m} imports {dep}")
    assert not found, "\n".join(lines)


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    bad = []
    for m, deps in sorted(EDGES.items()):
        mine = layer_of(m)
        for dep, line in sorted(deps.items(), key=lambda kv: kv[1]):
            theirs = layer_of(dep)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(
                    f"{where(m, line)}: {m} ({LAYERS[mine][0]}) imports {dep} ({LAYERS[theirs][0]})"
                )
    assert not bad, f"{len(bad)} imports against the layers:\n" + "\n".join(bad)
