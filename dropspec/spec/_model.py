"""Data model of the specification: options, clauses and ops.

A clause is one normative sentence with a stable id, which the conformance test that checks
it, its anchor in the docs and its row in the matrix carry. When its declaration or check
changes, the spec's changelog records it (:attr:`Clause.since`).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _history


class Level(enum.StrEnum):
    """Requirement level, in the sense of RFC 2119."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


class Kind(enum.StrEnum):
    """How a clause is checked."""

    EXACT = "exact"  # compared value by value, no randomness involved in the verdict
    STRUCTURAL = "structural"  # a property of the mask pattern that holds for every draw
    STATISTICAL = "statistical"  # a hypothesis test at a stated significance level and power
    ERROR = "error"  # the call must raise


@dataclass(frozen=True)
class Option:
    """An option a target declares about itself, with its allowed values."""

    name: str
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    validate: Callable[[Any], Any] | None = None  # normalises a value or raises ValueError

    def check(self, value: Any) -> Any:
        if self.validate is not None:
            return self.validate(value)
        if self.choices is not None and value not in self.choices:
            raise ValueError(
                f"option {self.name}={value!r} is not one of {', '.join(map(repr, self.choices))}"
            )
        return value


@dataclass(frozen=True)
class Clause:
    """One normative statement about an op.

    ``when`` restricts the clause to targets whose declared options take one of the listed
    values, e.g. ``{"scaling": ("classic",)}``; an empty mapping means every target.
    ``when_not_empty`` names options (tuples) that must be non-empty for the clause to apply.
    """

    id: str
    op: str
    level: Level
    kind: Kind
    text: str
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    when_not_empty: tuple[str, ...] = ()
    rationale: str = ""

    def applies(self, options: Mapping[str, Any]) -> bool:
        """Whether the clause binds a target that declares ``options``."""
        for name, allowed in self.when.items():
            if options.get(name) not in allowed:
                return False
        return all(options.get(name) for name in self.when_not_empty)

    @property
    def anchor(self) -> str:
        return self.id.lower()

    @property
    def since(self) -> str | None:
        """The spec version the clause took its current form in (added, or last changed in
        meaning), as ``changelog.toml`` records it; None for a clause not recorded yet."""
        return _history.since(self.id)

    @property
    def digest(self) -> str:
        """A digest of the declaration: id, op, level, kind, text and conditions (not the
        rationale, which explains and binds nothing). ``changelog.toml`` records it."""
        data = {
            "id": self.id,
            "op": self.op,
            "level": self.level.value,
            "kind": self.kind.value,
            "text": self.text,
            "when": {k: list(v) for k, v in self.when.items()},
            "when_not_empty": list(self.when_not_empty),
        }
        return text_digest(json.dumps(data, sort_keys=True, default=repr))


def text_digest(text: str) -> str:
    """The digest the changelog records: the first 16 hex digits of the text's SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Op:
    """An op of the dropout family: its abstract signature, options and clauses.

    ``order`` places the op among the others wherever they are listed (``OPS``,
    ``dropspec list``, the matrix, the docs): ascending, unique. The built-in ops are spaced
    by ten so that a new op can take a place between two of them without renumbering.
    """

    name: str
    title: str
    summary: str
    signature: str
    positional: tuple[str, ...]
    options: tuple[Option, ...]
    clauses: tuple[Clause, ...]
    order: int

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(name)

    def resolve_options(self, declared: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults and validate ``declared``; unknown names raise ``ValueError``."""
        known = {opt.name for opt in self.options}
        unknown = sorted(set(declared) - known)
        if unknown:
            raise ValueError(
                f"op {self.name!r} has no option {', '.join(map(repr, unknown))}; "
                f"its options are {', '.join(sorted(known)) or '(none)'}"
            )
        return {opt.name: opt.check(declared.get(opt.name, opt.default)) for opt in self.options}
