"""Sphinx extension: the conformance matrix as a scoreboard, read from a kept JSON report.

Directives
----------
``dropspec-matrix [REPORT]``            the overview: the run (date, commit, platforms, spec
                                        version), one row per framework and one per target with
                                        its counts and a link to the evidence of every clause it
                                        does not pass; it fits a 1280 px page with no hidden
                                        column
``dropspec-matrix-pages``               the toctree of the pages below, from ``FRAMEWORKS``
``dropspec-matrix-framework NAME [REPORT]`` one framework's page: each target with the true
                                        version of every library it comes from, its platform,
                                        its clauses grouped by outcome, and for every clause it
                                        does not pass the evidence (reason and upstream link of a
                                        declared divergence, test, statistic, p-value, α, n,
                                        dtypes, what was observed, the counterexample) and the
                                        replay command
``dropspec-matrix-clauses [REPORT]``    the reverse view: for each clause, which targets pass,
                                        fail, diverge, do not apply and were not checked

Every mark means one thing (:data:`MARK`); nothing is cut. The functions that read a report
(:func:`evidence`, :func:`outcome_groups`, ...) build docutils nodes without a Sphinx
application, so tests can render a report's pages directly.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dropspec_docs
from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.directives.other import TocTree
from sphinx.util.docutils import SphinxDirective

from dropspec.frameworks import FRAMEWORKS
from dropspec.spec import CLAUSES, OPS, SPEC_VERSION

REPORT = "_data/matrix.json"
REGEN_MATRIX = "dropspec check --all --twins --json docs/_data/matrix.json"
#: Where the framework pages and the reverse view live, next to the overview.
PAGES_DIR = "matrix"
CLAUSES_PAGE = "clauses"

#: One mark per outcome, each meaning one thing. ``absent``: the report holds no entry for a
#: clause of the target's op (a run that selected clauses with ``--clause`` or ``-k``).
ORDER = (
    "failed",
    "xfailed",
    "xpassed",
    "not_checked",
    "error",
    "passed",
    "not_applicable",
    "absent",
)
MARK = {
    "passed": "✓",
    "failed": "✗",
    "xfailed": "≠",
    "xpassed": "!",
    "not_applicable": "n/a",
    "not_checked": "?",
    "error": "E",
    "absent": "·",
}
WORD = {
    "passed": "passes",
    "failed": "fails",
    "xfailed": "diverges (declared)",
    "xpassed": "passes, but a divergence is declared (the declaration is stale)",
    "not_applicable": "not applicable",
    "not_checked": "not checked",
    "error": "error",
    "absent": "not in the report",
}
HELP = {
    "passed": "the clause was checked and holds",
    "failed": "a violation nobody declared: the run does not conform",
    "xfailed": "a declared divergence: the target violates the clause, and its adapter "
    "records why, with an upstream link where there is one",
    "xpassed": "passed although a divergence is declared: the declaration is stale",
    "not_applicable": "the target's declared options rule the clause out",
    "not_checked": "the clause binds the target but could not be checked (framework "
    "missing, target unusable, crash, timeout)",
    "error": "the target raised SystemExit or similar; the clause was not checked",
    "absent": "the run did not select this clause (--clause, -k)",
}
#: Outcomes that are not a pass and get an evidence block.
NOT_PASSED = ("failed", "xfailed", "xpassed", "not_checked", "error")


# ----------------------------------------------------------------- reading a report ----


def load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(report.get("targets"), list):
        raise ValueError("no 'targets' list")
    return report


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def target_label(name: str) -> str:
    return f"matrix-target-{slug(name)}"


def evidence_label(name: str, clause_id: str) -> str:
    return f"matrix-evidence-{slug(name)}--{clause_id.lower()}"


def by_clause_label(clause_id: str) -> str:
    return f"matrix-by-clause-{clause_id.lower()}"


def outcome(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "absent"
    value = str(entry.get("outcome", "not_checked"))
    return "not_applicable" if value == "skipped" else value  # older reports' spelling


def clause_ids(t: Mapping[str, Any]) -> list[str]:
    """The clauses of the target's op, in the spec's order, then any the report adds."""
    op = OPS.get(str(t.get("op", "")))
    ids = [c.id for c in op.clauses] if op else []
    return ids + [c["id"] for c in t.get("clauses", []) if c["id"] not in ids]


def outcomes(t: Mapping[str, Any]) -> dict[str, str]:
    present = {c["id"]: c for c in t.get("clauses", [])}
    return {cid: outcome(present.get(cid)) for cid in clause_ids(t)}


def counts(t: Mapping[str, Any]) -> Counter[str]:
    return Counter(outcomes(t).values())


def has_page(t: Mapping[str, Any]) -> bool:
    return t.get("framework") in FRAMEWORKS


def versions_text(t: Mapping[str, Any]) -> str:
    """The true version of every library the target comes from, its array framework last:
    ``keras 3.15.1 on tensorflow 2.20.0``."""
    fw = f"{t.get('framework', '?')} {t.get('framework_version') or '(version not recorded)'}"
    libs = [
        f"{name} {version or '(version not recorded)'}"
        for name, version in (t.get("libraries") or {}).items()
        if name != t.get("framework")
    ]
    return f"{', '.join(libs)} on {fw}" if libs else fw


def platform_text(p: Mapping[str, Any] | None) -> str:
    if not p:
        return "not recorded"
    parts = [str(p.get("system", "?"))]
    if p.get("machine"):
        parts[0] += f" ({p['machine']})"
    if p.get("python"):
        parts.append(f"Python {p['python']}")
    if p.get("device"):
        parts.append(f"device {p['device']}")
    if p.get("node"):
        parts.append(f"host {p['node']}")
    return ", ".join(parts)


def platforms(report: Mapping[str, Any]) -> list[str]:
    """The distinct platforms of the report's targets (several in a merged report)."""
    seen = [platform_text(t.get("platform") or report.get("platform")) for t in report["targets"]]
    return list(dict.fromkeys(seen)) or [platform_text(report.get("platform"))]


def spec_version_text(report: Mapping[str, Any]) -> str:
    version = report.get("spec_version")
    if version is None:
        return f"not recorded (the report predates spec versions; the spec is now {SPEC_VERSION})"
    if version != SPEC_VERSION:
        return f"{version} (the spec is now {SPEC_VERSION}: regenerate the report)"
    return str(version)


def run_text(report: Mapping[str, Any]) -> str:
    started, finished = report.get("started"), report.get("finished")
    if not started:
        return "not recorded"
    text = f"{started} to {finished}" if finished else str(started)
    if report.get("wall_seconds") is not None:
        text += f" ({float(report['wall_seconds']):.0f} s"
        text += f", {report['jobs']} workers)" if report.get("jobs") else ")"
    return text


def declared_reason(t: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    """A declared divergence's reason, whole, from the target's declaration (the message's
    first line where the report has no declaration)."""
    reason = (t.get("expected_failures") or {}).get(c["id"])
    if reason:
        return str(reason)
    first = str(c.get("message") or "").split("\n", 1)[0]
    return (
        first.removeprefix("expected failure: ") if first.startswith("expected failure") else None
    )


def replay_commands(c: Mapping[str, Any]) -> list[str]:
    """The replay command (``dropspec check ...``) and its pytest form, each runnable as is."""
    replay = c.get("replay")
    if not replay:
        return []
    head, sep, tail = str(replay).partition(" (or ")
    return [head, tail.removesuffix(")")] if sep else [head]


def statistic(c: Mapping[str, Any]) -> str | None:
    if c.get("statistic") is not None:
        return f"{float(c['statistic']):.6g}"
    m = re.search(r"statistic=([^,\s]+)", str(c.get("message") or ""))
    return m.group(1) if m else None


def counterexample(c: Mapping[str, Any]) -> str | None:
    if "counterexample" in c:
        return c["counterexample"] or None
    from dropspec.conformance.report import counterexample_of

    return counterexample_of(str(c.get("message") or ""))


def observed(t: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    """The check's message without what the evidence shows apart: the declared reason, the
    replay line and the counterexample."""
    text = str(c.get("message") or "")
    reason = declared_reason(t, c)
    if reason is not None and text.startswith("expected failure: "):
        text = text.removeprefix(f"expected failure: {reason}").lstrip("\n")
        if text.startswith("expected failure: "):
            text = text.split("\n", 1)[1] if "\n" in text else ""
    example = counterexample(c)
    if example:
        text = text.replace(example, "")
    lines = [line for line in text.splitlines() if not line.startswith("replay: ")]
    return "\n".join(lines).strip()


def failing_dtypes(c: Mapping[str, Any]) -> list[str]:
    """The dtypes a message names as failing (``in float16:``, ``dtype=float16``)."""
    text = str(c.get("message") or "")
    found = re.findall(r"^in (\w+):", text, re.M) + re.findall(r"dtype=['\"]?(\w+)", text)
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------- node helpers ----


def text_with_links(text: str) -> list[nodes.Node]:
    return list(dropspec_docs.inline_text(text))


def para(*parts: str | nodes.Node, classes: Sequence[str] = ()) -> nodes.paragraph:
    p = nodes.paragraph(classes=list(classes))
    for part in parts:
        p.extend(text_with_links(part) if isinstance(part, str) else [part])
    return p


def ref(label: str, text: str, literal: bool = False) -> addnodes.pending_xref:
    """A checked cross-reference (a broken one is a warning, an error under -W)."""
    node = addnodes.pending_xref(
        "", refdomain="std", reftype="ref", reftarget=label, refexplicit=True, refwarn=True
    )
    node += nodes.literal(text, text) if literal else nodes.Text(text)
    return node


def clause_link(cid: str, text: str | None = None) -> nodes.Node:
    if cid not in CLAUSES:
        return nodes.literal(text or cid, text or cid)
    return dropspec_docs.clause_ref(cid, text)


def mark(o: str) -> nodes.inline:
    return nodes.inline(MARK[o], MARK[o], classes=[f"ds-{o}", "ds-mark"])


def scroll(node: nodes.Node) -> nodes.container:
    """A wide table in a box of its own that scrolls sideways, never the page."""
    box = nodes.container(classes=["ds-scroll"])
    box["support_smartquotes"] = False
    box += node
    return box


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], classes: Sequence[str] = ()):
    return scroll(dropspec_docs.table(headers, rows, ["ds-compact", *classes]))


def joined(items: Sequence[nodes.Node], sep: str = ", ") -> list[nodes.Node]:
    out: list[nodes.Node] = []
    for i, item in enumerate(items):
        if i:
            out.append(nodes.Text(sep))
        out.append(item)
    return out


def short(cid: str, op: str) -> str:
    o = OPS.get(op)
    if o is None or not o.clauses:
        return cid
    return cid.removeprefix(o.clauses[0].id.split("-")[0] + "-")


def legend() -> nodes.Node:
    items = nodes.bullet_list(classes=["ds-legend"])
    items["support_smartquotes"] = False
    for o in ORDER:
        items += nodes.list_item("", para(mark(o), f" {WORD[o]}: {HELP[o]}"))
    return items


def run_meta(report: Mapping[str, Any]) -> list[list[Any]]:
    commit = report.get("dropspec_commit") or "not recorded (not run from a git checkout)"
    rows: list[list[Any]] = [
        ["run (UTC)", run_text(report)],
        ["dropspec", f"{report.get('dropspec_version', '?')}, commit {commit}"],
        ["spec version", spec_version_text(report)],
    ]
    plats = platforms(report)
    rows.append(["platform" if len(plats) == 1 else f"platforms ({len(plats)})", "; ".join(plats)])
    if report.get("merged_from"):
        rows.append(["merged from", ", ".join(map(str, report["merged_from"]))])
    rows.append(
        [
            "settings",
            f"base seed {report.get('seed', '?')}, α {report.get('alpha', '?')} per clause "
            f"check, power {report.get('power', '?')}, {report.get('examples', '?')} examples "
            f"per exact clause, device {report.get('device', '?')}",
        ]
    )
    rows.append(["regenerate with", nodes.literal(REGEN_MATRIX, REGEN_MATRIX)])
    return rows


# ----------------------------------------------------------------------- evidence ----


def evidence(t: Mapping[str, Any], c: Mapping[str, Any]) -> nodes.container:
    """One clause a target does not pass: everything a maintainer needs to act on it."""
    o = outcome(c)
    box = nodes.container(ids=[evidence_label(t["name"], c["id"])], classes=["ds-evidence"])
    box["support_smartquotes"] = False
    head = nodes.paragraph(classes=["ds-evidence-head"])
    head += [mark(o), nodes.Text(" "), clause_link(c["id"])]
    head += nodes.Text(f" {WORD[o]} ({c.get('level', '?')}, {c.get('kind', '?')})")
    box += head
    fields = nodes.bullet_list()

    def field(name: str, *value: str | nodes.Node) -> None:
        fields.append(nodes.list_item("", para(nodes.strong(name, name), ": ", *value)))

    if o in ("xfailed", "xpassed"):
        reason = declared_reason(t, c)
        field("declared reason", reason or "none recorded")
    if c.get("reason"):
        field("why not checked", str(c["reason"]))
    detect = c.get("detectable") or {}
    if detect.get("test"):
        field("test", str(detect["test"]))
    stat = statistic(c)
    if stat is not None:
        field("statistic", stat)
    if c.get("pvalue") is not None:
        field(
            "p-value",
            f"{float(c['pvalue']):.3g} (Bonferroni over the check's sub-tests), against "
            f"α = {float(c['alpha'] or 0):.3g} spent by the check",
        )
    if c.get("n") is not None:
        field("n", f"{int(c['n']):,}")
    if detect.get("deviation") is not None:
        field(
            "detects",
            f"{detect.get('unit', 'deviation')} ≥ {float(detect['deviation']):.3g} with "
            f"power {detect.get('power')}",
        )
    checked = list(c.get("dtype_seconds") or {})
    if checked:
        field("dtypes checked", ", ".join(checked))
    failing = failing_dtypes(c)
    if failing:
        field("dtypes named in the failure", ", ".join(failing))
    declared = (t.get("expected_failure_dtypes") or {}).get(c["id"])
    if declared:
        field("declared only in", ", ".join(declared))
    box += fields
    seen = observed(t, c)
    if seen:
        box += para(nodes.strong("observed", "observed"), " (what the check found):")
        box += nodes.literal_block(seen, seen, language="none", classes=["ds-observed"])
    example = counterexample(c)
    if example:
        box += para(nodes.strong("counterexample", "counterexample"), " (the failing input):")
        box += nodes.literal_block(example, example, language="none", classes=["ds-counterexample"])
    commands = replay_commands(c)
    if commands:
        box += para(
            nodes.strong("replay", "replay"),
            " (from the directory the run was made in; the pytest form after it):",
        )
        for command in commands:
            box += nodes.literal_block(command, command, language="none", classes=["ds-replay"])
    return box


def outcome_groups(t: Mapping[str, Any], link_passes: bool = False) -> nodes.bullet_list:
    """The target's clauses grouped by outcome; every clause it does not pass links to its
    evidence below (the others to their clause with ``link_passes``: thousands of links
    that cost the build seconds, where the op's page lists the same clauses)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for cid, o in outcomes(t).items():
        groups[o].append(cid)
    out = nodes.bullet_list(classes=["ds-outcomes"])
    for o in ORDER:
        if not groups[o]:
            continue
        items: list[nodes.Node] = []
        for cid in groups[o]:
            text = short(cid, str(t.get("op", "")))
            if o in NOT_PASSED:
                items.append(ref(evidence_label(t["name"], cid), text, literal=True))
            elif link_passes:
                items.append(clause_link(cid, text))
            else:
                items.append(nodes.literal(text, text))
        out += nodes.list_item(
            "", para(mark(o), f" {WORD[o]} ({len(groups[o])}): ", *joined(items))
        )
    return out


def target_nodes(t: Mapping[str, Any], report: Mapping[str, Any]) -> list[nodes.Node]:
    """A target's part of its framework page (without its section)."""
    out: list[nodes.Node] = []
    facts = nodes.bullet_list()
    facts += nodes.list_item("", para(nodes.strong("versions", "versions"), ": ", versions_text(t)))
    plat = platform_text(t.get("platform") or report.get("platform"))
    where = f" (from {t['source']})" if t.get("source") else ""
    facts += nodes.list_item("", para(nodes.strong("platform", "platform"), f": {plat}{where}"))
    if t.get("description"):
        facts += nodes.list_item(
            "", para(nodes.strong("wraps", "wraps"), ": ", str(t["description"]))
        )
    if t.get("error"):
        facts += nodes.list_item(
            "", para(nodes.strong("target error", "target error"), ": ", str(t["error"]))
        )
    out.append(facts)
    out.append(outcome_groups(t))
    present = {c["id"]: c for c in t.get("clauses", [])}
    for cid, o in outcomes(t).items():
        if o in NOT_PASSED:
            out.append(evidence(t, present[cid]))
    return out


def overview_rows(targets: Sequence[Mapping[str, Any]], op: str, many: bool) -> list[list[Any]]:
    """The overview's rows for one op: each target with its versions (and its platform when
    the report holds several), its counts, and a link to the evidence of each clause it does
    not pass."""
    rows = []
    for t in targets:
        n = counts(t)
        name: nodes.Node = (
            ref(target_label(t["name"]), t["name"], literal=True)
            if has_page(t)
            else nodes.literal(t["name"], t["name"])
        )
        failing = [
            ref(evidence_label(t["name"], cid), f"{MARK[o]} {short(cid, op)}")
            if has_page(t)
            else nodes.Text(f"{MARK[o]} {short(cid, op)}")
            for cid, o in outcomes(t).items()
            if o in NOT_PASSED
        ]
        row: list[Any] = [name, versions_text(t)]
        if many:
            row.append(platform_text(t.get("platform")))
        row += [str(n["passed"]), str(n["not_applicable"])]
        row.append(joined(failing) or [nodes.Text("none")])
        rows.append(row)
    return rows


# ----------------------------------------------------------------------- directives ----


class _ReportDirective(SphinxDirective):
    optional_arguments = 1

    def report(self, rel: str | None) -> dict[str, Any] | None:
        path = Path(self.env.srcdir) / (rel or REPORT)
        self.env.note_dependency(str(path))
        try:
            return load(path)
        except (ValueError, KeyError, TypeError) as exc:
            raise self.error(f"{path} is not a dropspec JSON report: {exc}") from None

    def missing(self) -> list[nodes.Node]:
        note = nodes.admonition(classes=["ds-missing"])
        note += nodes.title("No report yet", "No report yet")
        note += para(
            f"This build found no report at docs/{REPORT}, so it shows no results: the "
            "matrix is only ever rendered from a real run. Generate it from the repository "
            "root with"
        )
        note += nodes.literal_block(REGEN_MATRIX, REGEN_MATRIX, language="none")
        note += para("and rebuild the docs.")
        return [note]

    def label(self, name: str, title: str) -> None:
        std = self.env.domains.standard_domain
        std.anonlabels[name] = (self.env.docname, name)
        std.labels[name] = (self.env.docname, name, title)

    def section(self, title: str, anchor: str, label: bool = False) -> nodes.section:
        sec = dropspec_docs.section(self.state.document, title, anchor)
        sec["classes"].append("ds-matrix-section")  # long target names wrap (dropspec-matrix.css)
        sec["support_smartquotes"] = False  # reasons and commands keep their quotes and --
        if label:
            self.label(anchor, title)
        return sec


class MatrixDirective(_ReportDirective):
    """The overview: the run, then per framework and per target counts and links."""

    def run(self) -> list[nodes.Node]:
        report = self.report(self.arguments[0] if self.arguments else None)
        if report is None:
            return self.missing()
        targets = report["targets"]
        out: list[nodes.Node] = [table(["", ""], run_meta(report), ["ds-meta"])]
        out.append(legend())
        out.append(
            para(
                "Every mark other than ✓ and n/a links to its evidence on the framework's page: "
                "the declared reason and upstream link, the test, statistic, p-value, α and n, "
                "what was observed, the counterexample and a replay command."
            )
        )
        sec = self.section("Framework versions", "matrix-frameworks")
        rows = []
        for name in FRAMEWORKS:
            mine = [t for t in targets if t.get("framework") == name]
            if not mine:
                continue
            total: Counter[str] = Counter()
            for t in mine:
                total += counts(t)
            fw = dict.fromkeys(f"{name} {t.get('framework_version') or '?'}" for t in mine)
            libs = dict.fromkeys(
                f"{lib} {v or '?'}"
                for t in mine
                for lib, v in (t.get("libraries") or {}).items()
                if lib != name
            )
            versions = [", ".join(fw) + (f"; with {', '.join(libs)}" if libs else "")]
            page = addnodes.pending_xref(
                "",
                refdomain="std",
                reftype="doc",
                reftarget=f"/{PAGES_DIR}/{name}",
                refexplicit=True,
                refwarn=True,
            )
            page += nodes.Text(name)
            rows.append(
                [
                    page,
                    "; ".join(versions),
                    str(len(mine)),
                    *[str(total[o]) for o in ("passed", "xfailed", "failed")],
                    str(sum(total[o] for o in ("xpassed", "not_checked", "error", "absent"))),
                    str(total["not_applicable"]),
                ]
            )
        sec += table(
            [
                "framework",
                "versions (every library, on its framework)",
                "targets",
                "✓",
                "≠",
                "✗",
                "!, ?, E, ·",
                "n/a",
            ],
            rows,
        )
        out.append(sec)
        by_op: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for t in targets:
            by_op[str(t.get("op", "?"))].append(t)
        many = len(platforms(report)) > 1
        for op in [*OPS, *[o for o in by_op if o not in OPS]]:
            if op not in by_op:
                continue
            title = OPS[op].title if op in OPS else op
            sec = self.section(title, f"matrix-{slug(op)}")
            rows = overview_rows(by_op[op], op, many)
            heads = [
                "target",
                "versions",
                *(["platform"] if many else []),
                "✓",
                "n/a",
                "does not pass (links to the evidence)",
            ]
            sec += table(heads, rows, ["ds-overview"])
            out.append(sec)
        return out


class MatrixPagesDirective(TocTree):
    """A toctree of the framework pages (``matrix/<framework>``, one per ``FRAMEWORKS`` row, in
    its order) and the reverse view by clause."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        names = [f"{PAGES_DIR}/{n}" for n in FRAMEWORKS] + [f"{PAGES_DIR}/{CLAUSES_PAGE}"]
        self.content = StringList(names, source=self.get_source_info()[0] or "")
        return super().run()


class FrameworkDirective(_ReportDirective):
    """One framework's page: every target of it, each clause it does not pass with its
    evidence and replay command."""

    required_arguments = 1
    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        if name not in FRAMEWORKS:
            raise self.error(f"{name!r} is not in dropspec.frameworks.FRAMEWORKS")
        report = self.report(self.arguments[1] if len(self.arguments) > 1 else None)
        if report is None:
            return self.missing()
        mine = [t for t in report["targets"] if t.get("framework") == name]
        out: list[nodes.Node] = []
        if not mine:
            out.append(para(f"The report holds no {name} target."))
            return out
        total: Counter[str] = Counter()
        for t in mine:
            total += counts(t)
        out.append(table(["", ""], run_meta(report)[:4], ["ds-meta"]))
        out.append(
            para(
                f"{len(mine)} targets: "
                + ", ".join(f"{total[o]} {MARK[o]} {WORD[o]}" for o in ORDER if total[o])
                + ". Each clause a target does not pass is followed by its evidence and a "
                "replay command that reproduces it."
            )
        )
        out.append(legend())
        by_op: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for t in mine:
            by_op[str(t.get("op", "?"))].append(t)
        for op in [*OPS, *[o for o in by_op if o not in OPS]]:
            if op not in by_op:
                continue
            title = OPS[op].title if op in OPS else op
            sec = self.section(title, f"matrix-{slug(name)}-{slug(op)}")
            for t in by_op[op]:
                sub = self.section(t["name"], target_label(t["name"]), label=True)
                sub.extend(target_nodes(t, report))
                for box in sub.findall(nodes.container):
                    for anchor in box["ids"]:
                        if anchor.startswith("matrix-evidence-"):
                            self.label(anchor, f"{t['name']}: {anchor}")
                sec += sub
            out.append(sec)
        return out


class ClausesDirective(_ReportDirective):
    """The reverse view: for each clause, the targets by outcome."""

    def run(self) -> list[nodes.Node]:
        report = self.report(self.arguments[0] if self.arguments else None)
        if report is None:
            return self.missing()
        table_of: dict[str, dict[str, list[Mapping[str, Any]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for t in report["targets"]:
            for cid, o in outcomes(t).items():
                table_of[cid][o].append(t)
        out: list[nodes.Node] = [legend()]
        for op in OPS.values():
            sec = self.section(op.title, f"matrix-clauses-{slug(op.name)}")
            for clause in op.clauses:
                found = table_of.get(clause.id, {})
                box = nodes.container(ids=[by_clause_label(clause.id)], classes=["ds-by-clause"])
                self.label(by_clause_label(clause.id), clause.id)
                head = para(clause_link(clause.id), f" ({clause.level.value}, {clause.kind.value})")
                box += head
                groups = nodes.bullet_list(classes=["ds-outcomes"])
                for o in ORDER:
                    ts = found.get(o, [])
                    if not ts:
                        continue
                    items = [  # links to the evidence; the thousands of passes stay text
                        ref(evidence_label(t["name"], clause.id), t["name"], literal=True)
                        if has_page(t) and o in NOT_PASSED
                        else nodes.literal(t["name"], t["name"])
                        for t in ts
                    ]
                    groups += nodes.list_item(
                        "", para(mark(o), f" {WORD[o]} ({len(ts)}): ", *joined(items))
                    )
                if not found:
                    groups += nodes.list_item("", para("no target of the report has this op"))
                box += groups
                sec += box
            out.append(sec)
        return out


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("dropspec-matrix", MatrixDirective)
    app.add_directive("dropspec-matrix-pages", MatrixPagesDirective)
    app.add_directive("dropspec-matrix-framework", FrameworkDirective)
    app.add_directive("dropspec-matrix-clauses", ClausesDirective)
    app.add_css_file("dropspec-matrix.css")  # in docs/_static
    return {"parallel_read_safe": False, "parallel_write_safe": True}
