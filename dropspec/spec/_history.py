"""The spec's history, read from ``changelog.toml`` beside this module: one entry per spec
version, each listing the clauses it added, changed and retired, with a note on each, and the
digests of the clauses it added or changed.

The file is the one home of the history: a clause's :attr:`~dropspec.spec.Clause.since`, the
changelog page of the docs and the spec version a report carries are all read from it. It is
edited by hand, deliberately: ``python -m dropspec.conformance.changelog --pending`` prints
what to add when a clause's declaration or check no longer matches its recorded digests, and
``tests/test_changelog.py`` fails until it is added.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

#: The file the history is kept in.
CHANGELOG = Path(__file__).with_name("changelog.toml")


@dataclass(frozen=True)
class Digest:
    """What a clause looked like when it was recorded: a digest of its declaration (id, op,
    level, kind, text, conditions) and one of its check's code, helpers included."""

    declaration: str
    check: str


@dataclass(frozen=True)
class Release:
    """One spec version: the clauses it added, changed and retired (id -> a note on what
    changed in meaning), and the digests of those it added or changed."""

    version: str
    date: str
    summary: str
    added: dict[str, str] = field(default_factory=dict)
    changed: dict[str, str] = field(default_factory=dict)
    retired: dict[str, str] = field(default_factory=dict)
    digests: dict[str, Digest] = field(default_factory=dict)


def version_key(version: str) -> tuple[int, ...]:
    """``"0.10.1"`` as ``(0, 10, 1)``, for comparing versions."""
    return tuple(int(part) for part in version.split("."))


def _release(raw: dict[str, object]) -> Release:
    def table(name: str) -> dict[str, str]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise ValueError(f"{CHANGELOG}: {name} of {raw.get('version')} must be a table")
        return {str(k): str(v) for k, v in value.items()}

    digests = raw.get("digests", {})
    if not isinstance(digests, dict):
        raise ValueError(f"{CHANGELOG}: digests of {raw.get('version')} must be a table")
    return Release(
        version=str(raw["version"]),
        date=str(raw.get("date", "")),
        summary=str(raw.get("summary", "")),
        added=table("added"),
        changed=table("changed"),
        retired=table("retired"),
        digests={
            str(cid): Digest(str(d["declaration"]), str(d["check"])) for cid, d in digests.items()
        },
    )


@cache
def releases() -> tuple[Release, ...]:
    """Every recorded spec version, oldest first (as the file lists them)."""
    raw = tomllib.loads(CHANGELOG.read_text(encoding="utf-8"))
    found = tuple(_release(r) for r in raw.get("release", ()))
    if not found:
        raise ValueError(f"{CHANGELOG} records no spec version")
    return found


def spec_version() -> str:
    """The latest recorded spec version: the one this spec is."""
    return releases()[-1].version


def since(clause_id: str) -> str | None:
    """The spec version ``clause_id`` took its current form in (added or last changed), or
    None where the history does not record it."""
    found = None
    for release in releases():
        if clause_id in release.added or clause_id in release.changed:
            found = release.version
        elif clause_id in release.retired:
            found = None
    return found


def recorded() -> dict[str, Digest]:
    """clause id -> its latest recorded digests, for every clause not retired."""
    out: dict[str, Digest] = {}
    for release in releases():
        out.update(release.digests)
        for cid in release.retired:
            out.pop(cid, None)
    return out
