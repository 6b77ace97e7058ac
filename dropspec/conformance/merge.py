"""``dropspec merge``: one report from the reports of several runs or machines.

Nothing is merged that would let the result claim more than its inputs established:

- every input is checked against the published report schema (:mod:`.schema`); a file that is
  not a report, or lacks a field, is refused naming the file and the field;
- inputs written by different dropspec versions, or with different seeds, α, power or example
  counts, are refused naming the inputs and their values, unless ``allow_mixed`` is given; the
  merged report then records the differences under ``mixed`` and each target its own settings;
- the same report twice, or the same target (same spec, op and options) from two inputs run on
  the same machine, is refused as a duplicate, naming both inputs: it would count twice;
- a target whose op this dropspec knows gets every clause that applies to its options and is
  missing from its input (a ``--clause`` run, a clause deleted from the file) as *not checked*,
  so the merged report cannot say "conforms" for what no input checked;
- each merged target names the input it came from (``source``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..spec import OPS
from .report import not_checked_clause, summary
from .schema import SCHEMA_VERSION, validate

#: The run settings that must agree between merged inputs (unless mixing is allowed).
MIXED_SETTINGS = ("dropspec_version", "spec_version", "seed", "alpha", "power", "examples")
#: The ``reason`` of a clause that an input does not contain.
NOT_IN_REPORT = "not_in_report"
#: At most this many schema problems are named per input.
_SHOWN = 5


class MergeError(ValueError):
    """Inputs that cannot be merged (a usage error: nothing is merged)."""


def load(path: str | Path) -> dict[str, Any]:
    """The report in ``path``, checked against the schema."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MergeError(f"cannot read report {path}: {exc}") from None
    problems = validate(data)
    if problems:
        if isinstance(data, dict) and "targets" in data and "schema_version" not in data:
            problems.append(
                "(a report written before reports carried schema_version: run its check again)"
            )
        more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise MergeError(
            f"{path} is not a dropspec report of schema version {SCHEMA_VERSION}:\n  "
            + "\n  ".join(problems[:_SHOWN])
            + more
        )
    assert isinstance(data, dict)
    return data


def merge(
    reports: Sequence[Mapping[str, Any]],
    sources: Sequence[str] | None = None,
    *,
    allow_mixed: bool = False,
) -> dict[str, Any]:
    """One report from several (processes or machines); each target keeps its platform and
    names its input (``sources[i]``, the file ``reports[i]`` was read from).

    Targets that appear in more than one report (the same target on two machines) are told
    apart by the machine they ran on. Raises :class:`MergeError` for duplicates and, unless
    ``allow_mixed``, for inputs whose settings differ.
    """
    if not reports:
        raise MergeError("nothing to merge")
    names = [f"input {i + 1}" for i in range(len(reports))] if sources is None else list(sources)
    if len(names) != len(reports):
        raise ValueError("one source name per report")
    _refuse_identical(reports, names)
    mixed = _mixed(reports, names)
    if mixed and not allow_mixed:
        lines = [
            f"  {key}: " + ", ".join(f"{v!r} ({src})" for src, v in values.items())
            for key, values in mixed.items()
        ]
        raise MergeError(
            "the inputs were run with different settings:\n"
            + "\n".join(lines)
            + "\nmerge runs made with the same dropspec and settings, or pass --allow-mixed to "
            "merge them anyway (the merged report records the differences under 'mixed')"
        )
    targets: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], str] = {}
    for r, src in zip(reports, names, strict=True):
        for entry in r["targets"]:
            t = copy.deepcopy(dict(entry))
            t["platform"] = t.get("platform") or r.get("platform")
            t["source"] = src
            if mixed:
                t["settings"] = {key: r.get(key) for key in MIXED_SETTINGS}
            key = _identity(t)
            if key in seen and seen[key] != src:
                raise MergeError(
                    f"duplicate target {t.get('spec') or t['name']!r} on the same machine in "
                    f"{seen[key]} and {src}: merging both would count its clauses twice; "
                    "merge one of them"
                )
            seen.setdefault(key, src)
            _account_for_every_clause(t, src)
            targets.append(t)
    counts: dict[str, int] = {}
    for t in targets:
        counts[t["name"]] = counts.get(t["name"], 0) + 1
    for t in targets:
        if counts[t["name"]] > 1:
            p = t["platform"] or {}
            t["name"] = (
                f"{t['name']} @ {p.get('node') or p.get('system', '?')}/{p.get('device', '?')}"
            )
    out = dict(reports[0])
    out["schema_version"] = SCHEMA_VERSION
    out["targets"] = qualify_names(targets)
    out["complete"] = all(r.get("complete", True) for r in reports)
    out["interrupted"] = any(r.get("interrupted") for r in reports)
    out["exit_status"] = None
    started = [r["started"] for r in reports if r.get("started")]
    finished = [r["finished"] for r in reports if r.get("finished")]
    out["started"] = min(started) if started else None
    out["finished"] = max(finished) if len(finished) == len(reports) else None
    out["wall_seconds"] = None
    out["merged_from"] = names
    out.pop("mixed", None)
    if mixed:
        out["mixed"] = mixed
    out["summary"] = summary(out)
    return out


def qualify_names(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries whose names collide get their source spec added, so each is told apart."""
    names = [t["name"] for t in targets]
    for t in targets:
        if names.count(t["name"]) > 1 and t.get("spec") and t["spec"] != t["name"]:
            t["name"] = f"{t['name']} [{t['spec']}]"
    return targets


def _canonical(report: Mapping[str, Any]) -> str:
    return json.dumps(report, sort_keys=True, default=str)


def _refuse_identical(reports: Sequence[Mapping[str, Any]], names: Sequence[str]) -> None:
    first: dict[str, str] = {}
    for r, src in zip(reports, names, strict=True):
        text = _canonical(r)
        if text in first:
            raise MergeError(
                f"duplicate input: {first[text]} and {src} are the same report; "
                "merging both would count every clause twice"
            )
        first[text] = src


def _mixed(reports: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """setting -> {input: value} for every setting the inputs disagree on."""
    out = {}
    for key in MIXED_SETTINGS:
        values = {src: r.get(key) for r, src in zip(reports, names, strict=True)}
        if len({json.dumps(v, sort_keys=True) for v in values.values()}) > 1:
            out[key] = values
    return out


def _identity(t: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two entries the same target run on the same machine."""
    p = t.get("platform") or {}
    return (
        str(t.get("spec") or t["name"]),
        str(t["op"]),
        json.dumps(t.get("options"), sort_keys=True, default=str),
        str(p.get("node")),
        str(p.get("system")),
        str(p.get("device")),
    )


def _account_for_every_clause(t: dict[str, Any], src: str) -> None:
    """Add every clause of the target's op that applies to its options and is missing from
    its entry as not checked (``reason`` :data:`NOT_IN_REPORT`), in the spec's order."""
    op = OPS.get(t["op"])
    if op is None:
        return
    have = {c["id"] for c in t["clauses"]}
    options = t.get("options") or {}
    added = [
        not_checked_clause(
            c.id,
            f"not in {src}: the run that wrote it did not check this clause (a --clause "
            "run, or the clause was removed from the file)",
            NOT_IN_REPORT,
            level=str(c.level),
            kind=str(c.kind),
        )
        for c in op.clauses
        if c.id not in have and c.applies(options)
    ]
    if added:
        order = {c.id: i for i, c in enumerate(op.clauses)}
        t["clauses"] = sorted([*t["clauses"], *added], key=lambda c: order.get(c["id"], len(order)))
