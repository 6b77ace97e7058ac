"""What the spec's changelog has not recorded yet: clauses whose declaration or check no longer
matches the digests ``dropspec/spec/changelog.toml`` holds for them, clauses it has never
recorded, and recorded clauses the spec no longer has.

A clause's digests are of its declaration (:attr:`dropspec.spec.Clause.digest`) and of what
the check registered for it runs (:func:`check_digest`); the check's half lives here, in the
layer that registers the checks, because the spec does not import them.

Run ``python -m dropspec.conformance.changelog --pending`` to print the entries to add, as a
block to paste at the end of the changelog: it writes nothing. Each note in it reads ``TODO``
until a person replaces it with one sentence on what changed in meaning; the tests refuse a
``TODO`` note, so a change is recorded by a reviewed edit, never by running a tool.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import functools
import inspect
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._version import __version__
from ..spec import CLAUSES, SPEC_VERSION, Clause
from ..spec._history import CHANGELOG, Digest, recorded, version_key
from ..spec._model import text_digest

#: How the pending entries are printed; the tests tell the reader to run it.
PENDING_COMMAND = "python -m dropspec.conformance.changelog --pending"
#: What a note reads until a person writes it.
TODO = "TODO"


def check_digest(fn: Callable[..., Any]) -> str:
    """A digest of what the check ``fn`` runs: its own code and that of every function and
    class of dropspec it reaches by name (helpers, through modules too: ``strata.cells``;
    the runner wrapped around it; its plan), with the values of the plain constants it names.

    Code is read as its syntax tree without docstrings: reformatting, rewrapping, comments
    and docstrings keep the digest; any change to what the code does changes it.
    """
    parts = [f"{name}: {text}" for name, text in sorted(_reached(fn).items())]
    return text_digest("\n".join(parts))


_PLAIN = (bool, int, float, str)


def _reached(fn: Callable[..., Any]) -> dict[str, str]:
    """name -> code (or a constant's value) of everything of dropspec that ``fn`` reaches."""
    out: dict[str, str] = {}
    seen: set[int] = set()
    todo: list[Any] = [fn]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        name = f"{obj.__module__}.{obj.__qualname__}"
        wrapper = " (wrapper)" if hasattr(obj, "__wrapped__") else ""  # wraps copies the name
        out[name + wrapper] = _code(obj)
        if not inspect.isfunction(obj):
            continue
        todo += [x for x in (inspect.unwrap(obj), getattr(obj, "plan", None)) if _ours(x)]
        names = _names(obj.__code__)
        named = [(obj.__module__, n, obj.__globals__.get(n)) for n in names]
        modules = [v for _, _, v in named if inspect.ismodule(v) and _in_dropspec(v.__name__)]
        named += [(m.__name__, n, getattr(m, n, None)) for m in modules for n in names]
        cells = [c.cell_contents for c in obj.__closure__ or () if _filled(c)]
        todo += [v for v in [*(v for _, _, v in named), *cells] if _ours(v)]
        for module, n, value in named:
            if isinstance(value, _PLAIN) or (
                isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value)
            ):
                out[f"{module}.{n}"] = repr(value)
    return out


def _in_dropspec(module: str) -> bool:
    return module.startswith("dropspec.")


def _ours(value: Any) -> bool:
    """A function or class defined in dropspec."""
    is_code = inspect.isfunction(value) or inspect.isclass(value)
    return is_code and _in_dropspec(str(getattr(value, "__module__", "")))


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018  (an empty cell raises)
    except ValueError:
        return False
    return True


def _names(code: Any) -> list[str]:
    """Every global and attribute name ``code`` and the code nested in it use."""
    names = list(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names += _names(const)
    return names


@functools.cache
def _code(obj: Any) -> str:
    """The syntax tree of ``obj``'s source, docstrings left out (a lambda's line, which may
    not parse alone, as its text with runs of whitespace read as one space)."""
    source = inspect.getsource(obj)
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return " ".join(source.split())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)  # one spelling of the tree, stabler across Pythons than dump


def current(checks: Mapping[str, Callable[..., Any]] | None = None) -> dict[str, Digest]:
    """clause id -> the digests of its declaration and registered check, for every clause of
    the spec (``checks`` defaults to the suite's registry)."""
    if checks is None:
        from . import checks as _registering  # noqa: F401  (importing it registers them)
        from .context import CHECKS

        checks = CHECKS
    missing = [cid for cid in CLAUSES if cid not in checks]
    if missing:
        raise LookupError(f"no check registered for {', '.join(missing)}")
    return {cid: _digest(c, checks[cid]) for cid, c in CLAUSES.items()}


def _digest(clause: Clause, fn: Callable[..., Any]) -> Digest:
    return Digest(declaration=clause.digest, check=check_digest(fn))


@dataclass(frozen=True)
class Pending:
    """What the changelog lacks: clauses never recorded (``added``), recorded with other
    digests (``changed``: id -> which parts differ), recorded but gone (``retired``)."""

    now: Mapping[str, Digest]
    added: tuple[str, ...] = ()
    changed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    retired: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.retired)

    def summary(self) -> str:
        """One line per kind of entry, naming the clauses (and what changed in each)."""
        lines = []
        if self.added:
            lines.append(f"not recorded: {', '.join(self.added)}")
        if self.changed:
            parts = [f"{cid} ({' and '.join(what)})" for cid, what in self.changed.items()]
            lines.append(f"changed since recorded: {', '.join(parts)}")
        if self.retired:
            lines.append(f"recorded but no longer in the spec: {', '.join(self.retired)}")
        return "\n".join(lines)


def pending(now: Mapping[str, Digest], was: Mapping[str, Digest]) -> Pending:
    """Compare the digests ``now`` with the recorded ones ``was``."""
    changed = {}
    for cid in now.keys() & was.keys():
        what = tuple(
            part
            for part in ("declaration", "check")
            if getattr(now[cid], part) != getattr(was[cid], part)
        )
        if what:
            changed[cid] = what
    return Pending(
        now=now,
        added=tuple(cid for cid in now if cid not in was),
        changed={cid: changed[cid] for cid in now if cid in changed},
        retired=tuple(cid for cid in was if cid not in now),
    )


def next_version() -> str:
    """The version to record pending entries under: the package's, if it is ahead of the
    spec's (bumped, not yet recorded), else the spec's with its minor part raised."""
    if version_key(__version__) > version_key(SPEC_VERSION):
        return __version__
    major, minor, *_ = version_key(SPEC_VERSION)
    return f"{major}.{minor + 1}.0"


def entries(found: Pending, version: str, today: datetime.date) -> str:
    """The TOML block that records ``found`` as the spec version ``version``."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = [
        "[[release]]",
        f"version = {quoted(version)}",
        f"date = {quoted(today.isoformat())}",
        f"summary = {quoted(TODO + ': this version in one line')}",
    ]
    notes = (
        ("added", {cid: "what the clause requires" for cid in found.added}),
        (
            "changed",
            {
                cid: f"what changed in meaning (its {' and '.join(what)} changed)"
                for cid, what in found.changed.items()
            },
        ),
        ("retired", {cid: "why it was retired" for cid in found.retired}),
    )
    for name, table in notes:
        if table:
            out += ["", f"[release.{name}]"]
            out += [f"{quoted(cid)} = {quoted(f'{TODO}: {note}')}" for cid, note in table.items()]
    digested = [*found.added, *found.changed]
    if digested:
        out += ["", "[release.digests]"]
        for cid in digested:
            d = found.now[cid]
            out.append(
                f"{quoted(cid)} = {{ declaration = {quoted(d.declaration)}, "
                f"check = {quoted(d.check)} }}"
            )
    return "\n".join(out) + "\n"


def instructions(found: Pending, version: str) -> str:
    """What to do about ``found``, for a test's failure message and the command's output."""
    bump = (
        ""
        if version == __version__
        else f" Set the package's version to {version} (pyproject.toml and dropspec/_version.py)."
    )
    return (
        f"{found.summary()}\n"
        f"Record it: run `{PENDING_COMMAND}`, paste the block it prints at the end of "
        f"{CHANGELOG.relative_to(CHANGELOG.parents[2]).as_posix()} and replace each TODO "
        f"note with one sentence on what changed in meaning (for a rewording or a refactored "
        f"helper, say that the meaning is unchanged).{bump} If the latest version there is "
        "not released yet, you may fold the entries into it instead: one entry per clause per "
        "version, its digests replaced. Do not record a change you have not reviewed.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dropspec.conformance.changelog",
        description="Print the changelog entries the spec's clauses need (writes nothing).",
    )
    parser.add_argument(
        "--pending",
        action="store_true",
        required=True,
        help="print the entries to add to dropspec/spec/changelog.toml; exit 1 if any",
    )
    parser.parse_args(argv)
    found = pending(current(), recorded())
    if not found:
        print(f"nothing pending: every clause matches spec version {SPEC_VERSION}'s record")
        return 0
    version = next_version()
    print(entries(found, version, datetime.datetime.now(datetime.UTC).date()))
    print(instructions(found, version), file=sys.stderr, end="")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
