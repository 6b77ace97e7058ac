"""Sphinx extension: renders dropspec's registries into the docs, so nothing is copied by hand.

Directives
----------
``dropspec-op NAME``      one op: summary, signature, options, and every clause with its anchor
``dropspec-clause-index`` every clause of every op, linked
``dropspec-op-pages``     the toctree of the op pages, ``spec/<op>.md``, in the ops' order
``dropspec-checks``       every check function of the conformance suite, with its source link
``dropspec-targets``      the built-in targets and the options each declares, per op
``dropspec-matrix*``      the conformance matrix, its framework pages and its view by clause, read
                          from a kept ``dropspec check --json`` report (``dropspec_matrix.py``)
``dropspec-sample-sizes`` sample sizes the binomial rate test needs at several α and powers
``dropspec-alpha-budget`` statistical clauses per op and the bound on false alarms per run
``dropspec-changelog``    the spec's versions, newest first: clauses added, changed and retired
                          (read from ``dropspec/spec/changelog.toml``)
``dropspec-power``        what each statistical sub-test detects, run on the reference, with
                          the detection rate measured for its test
``dropspec-measured-power`` each test's stated deviation injected, detections and false alarms
                          (kept in ``dropspec/conformance/measured_power.json``)
``dropspec-vectors``      the published test-vector files, one per op, with their counts

Role
----
``{clause}`ID``` links to a clause; an unknown id is a build warning (an error under ``-W``).

On ``builder-inited`` the figures are redrawn from the reference by ``docs/figures.py``; on
``config-inited`` the test vectors are written from the reference
(:mod:`dropspec.reference.vectors`) into a folder of ``html_extra_path``. Each clause box of
an op page shows its vectors as a worked example (a non-statistical clause) or its check's
plan: tests, α, n and power (a statistical one).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.directives.other import TocTree
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from dropspec.reference import vectors as test_vectors
from dropspec.spec import CLAUSES, OPS, SPEC_VERSION, Clause, Kind, Op, releases

logger = logging.getLogger(__name__)

#: The package of the checks (importing it registers them all), one module per op.
CHECKS_MODULE = "dropspec.conformance.checks"
SOURCE_DIR = "dropspec/conformance/checks"
REGEN_MATRIX = "dropspec check --all --twins --json docs/_data/matrix.json"
REGEN_POWER = "python benchmarks/power_claims.py"
URL = re.compile(r"https?://[^\s)>\]]+[^\s)>\].,;:]")


# ------------------------------------------------------------------ node helpers ----


def inline_text(text: str) -> list[nodes.Node]:
    """``text`` with `backticked` words as literals and URLs as links."""
    out: list[nodes.Node] = []
    for i, chunk in enumerate(re.split(r"`([^`]+)`", text)):
        if i % 2:
            out.append(nodes.literal(chunk, chunk))
            continue
        pos = 0
        for m in URL.finditer(chunk):
            if m.start() > pos:
                out.append(nodes.Text(chunk[pos : m.start()]))
            out.append(nodes.reference(m.group(), m.group(), refuri=m.group()))
            pos = m.end()
        if pos < len(chunk):
            out.append(nodes.Text(chunk[pos:]))
    return out


def para(*parts: str | nodes.Node, classes: Sequence[str] = ()) -> nodes.paragraph:
    p = nodes.paragraph(classes=list(classes))
    for part in parts:
        if isinstance(part, str):
            p.extend(inline_text(part))
        else:
            p.append(part)
    return p


def badge(text: str, *classes: str) -> nodes.inline:
    return nodes.inline(text, text, classes=["ds-badge", *classes])


def clause_ref(cid: str, text: str | None = None) -> addnodes.pending_xref:
    """A cross-reference to the clause ``cid`` (resolved, and checked, by the std domain)."""
    ref = addnodes.pending_xref(
        "", refdomain="std", reftype="ref", reftarget=cid.lower(), refexplicit=True, refwarn=True
    )
    ref += nodes.literal(text or cid, text or cid, classes=["ds-clause-ref"])
    return ref


def cell(content: str | nodes.Node | Sequence[nodes.Node]) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(content, str):
        entry += para(content) if content else nodes.paragraph()
    elif isinstance(content, nodes.Node):
        entry += (
            content
            if isinstance(content, nodes.Element)
            and not isinstance(content, nodes.TextElement | nodes.Inline)
            else para(content)
        )
    else:
        p = nodes.paragraph()
        p.extend(content)
        entry += p
    return entry


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], classes: Sequence[str] = ()
) -> nodes.table:
    tbl = nodes.table(classes=["ds-table", *classes])
    group = nodes.tgroup(cols=len(headers))
    tbl += group
    for _ in headers:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    row = nodes.row()
    for h in headers:
        row += cell(h)
    head += row
    group += head
    body = nodes.tbody()
    for r in rows:
        row = nodes.row()
        for c in r:
            row += cell(c)
        body += row
    group += body
    return tbl


def section(document: nodes.document, title: str, anchor: str) -> nodes.section:
    sec = nodes.section(ids=[anchor], names=[nodes.fully_normalize_name(title)])
    sec += nodes.title(title, title)
    document.note_implicit_target(sec, sec)
    return sec


def version_label(version: str) -> str:
    """The anchor of a spec version's section on the changelog page."""
    return "spec-version-" + version.replace(".", "-")


def since_badge(clause: Clause) -> nodes.Node:
    """``since X``, linked to version X on the changelog page; a clause the changelog does not
    record yet is marked so (``python -m dropspec.conformance.changelog --pending``)."""
    if clause.since is None:
        return badge("not in the changelog yet", "ds-since")
    ref = addnodes.pending_xref(
        "",
        refdomain="std",
        reftype="ref",
        reftarget=version_label(clause.since),
        refexplicit=True,
        refwarn=True,
    )
    text = f"since {clause.since}"
    ref += nodes.Text(text)
    return nodes.inline("", "", ref, classes=["ds-badge", "ds-since"])  # the xref drops classes


def when_text(clause: Clause) -> str:
    parts = [f"{k} = {' or '.join(map(str, v))}" for k, v in clause.when.items()]
    parts += [f"{name} is not empty" for name in clause.when_not_empty]
    return "; ".join(parts)


def fmt_value(value: Any) -> str:
    if isinstance(value, tuple):
        inner = ", ".join(map(str, value)) + ("," if len(value) == 1 else "")
        return f"({inner})"
    return str(value)


# ------------------------------------------------------------------------ checks ----


def load_checks() -> tuple[dict[str, Callable[..., Any]], str]:
    """clause id -> check function, and a note on why it is empty if it is."""
    try:
        mod = importlib.import_module(CHECKS_MODULE)
    except Exception as exc:  # the suite may be mid-rewrite; the docs still build
        return {}, f"{CHECKS_MODULE} could not be imported ({type(exc).__name__}: {exc})"
    table_ = getattr(mod, "CHECKS", None)
    if table_ is None:  # the table the checks register in (what a check sees: the context)
        context = sys.modules.get("dropspec.conformance.context")
        table_ = getattr(context, "CHECKS", None)
    if not table_:
        return {}, f"{CHECKS_MODULE} registers no checks"
    return dict(table_), ""


def check_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def documented_here(fn: Callable[..., Any]) -> bool:
    """A check defined at the top level of a module of the checks package."""
    module = fn.__module__
    in_package = module == CHECKS_MODULE or module.startswith(CHECKS_MODULE + ".")
    return in_package and "<" not in fn.__qualname__


def source_path(fn: Callable[..., Any]) -> str | None:
    """The file a check is defined in, relative to the repository (``dropspec/...``), or
    None where it has no source file under it."""
    try:
        found = inspect.getsourcefile(inspect.unwrap(fn))  # the check, not a dtype runner
    except TypeError:
        return None
    if found is None:
        return None
    import dropspec

    root = Path(dropspec.__file__).resolve().parent.parent
    try:
        return Path(found).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def module_order(checks: dict[str, Callable[..., Any]]) -> dict[str, int]:
    """The checks' modules in the order the spec first reaches them (op by op, clause by
    clause): the shared modules first, then each op's own."""
    order: dict[str, int] = {}
    for op in OPS.values():
        for clause in op.clauses:
            fn = checks.get(clause.id)
            if fn is not None:
                order.setdefault(fn.__module__, len(order))
    return order


# -------------------------------------------------------------------- directives ----


class OpDirective(SphinxDirective):
    """One op of the specification, as a section titled with the op's title."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        if name not in OPS:
            raise self.error(f"unknown op {name!r}; the spec has {', '.join(OPS)}")
        op = OPS[name]
        checks, why_none = load_checks()
        sec = section(self.state.document, op.title, f"op-{op.name.replace('_', '-')}")
        sec += para(op.summary)
        sig = nodes.literal_block(op.signature, op.signature, language="text")
        sec += para("Abstract signature (the op's name is ", nodes.literal(op.name, op.name), "):")
        sec += sig
        sec += self.options_section(op)
        sec += self.clause_summary(op)
        body = section(self.state.document, "Clauses", f"clauses-{op.name.replace('_', '-')}")
        if why_none:
            body += nodes.note("", para(f"The check functions are not linked: {why_none}."))
        for clause in op.clauses:
            body += self.clause_node(clause, checks.get(clause.id))
        sec += body
        return [sec]

    def options_section(self, op: Op) -> nodes.Node:
        sec = section(
            self.state.document, "Options a target declares", f"options-{op.name.replace('_', '-')}"
        )
        if not op.options:
            sec += para("This op has no options: every target is held to every clause.")
            return sec
        rows = []
        for opt in op.options:
            choices = " | ".join(map(fmt_value, opt.choices)) if opt.choices else ""
            rows.append(
                [nodes.literal(opt.name, opt.name), fmt_value(opt.default), choices, opt.doc]
            )
        sec += table(["option", "default", "choices", "meaning"], rows)
        return sec

    def clause_summary(self, op: Op) -> nodes.Node:
        sec = section(self.state.document, "Clause summary", f"summary-{op.name.replace('_', '-')}")
        counts = Counter(c.level.value for c in op.clauses)
        sec += para(
            f"{len(op.clauses)} clauses: "
            + ", ".join(f"{n} {lvl}" for lvl, n in sorted(counts.items()))
            + ". A clause with a condition binds only targets whose declared options "
            "satisfy it."
        )
        rows = [
            [clause_ref(c.id), c.level.value, c.kind.value, when_text(c) or "always"]
            for c in op.clauses
        ]
        sec += table(["clause", "level", "kind", "applies when"], rows, ["ds-compact"])
        return sec

    def clause_node(self, clause: Clause, check: Callable[..., Any] | None) -> nodes.Node:
        box = nodes.container(classes=["ds-clause", f"ds-{clause.level.value.lower()}"])
        box["ids"] = [clause.id, clause.anchor]
        std = self.env.domains.standard_domain
        std.anonlabels[clause.anchor] = (self.env.docname, clause.anchor)
        std.labels[clause.anchor] = (self.env.docname, clause.anchor, clause.id)
        head = nodes.paragraph(classes=["ds-clause-head"])
        head += nodes.reference(
            "",
            "",
            nodes.strong(clause.id, clause.id),
            refid=clause.anchor,
            classes=["ds-clause-id"],
        )
        head += nodes.Text(" ")
        head += badge(clause.level.value, f"ds-level-{clause.level.value.lower()}")
        head += badge(clause.kind.value, f"ds-kind-{clause.kind.value}")
        if clause.when or clause.when_not_empty:
            head += badge(f"when {when_text(clause)}", "ds-when")
        head += since_badge(clause)
        box += head
        box += para(clause.text, classes=["ds-clause-text"])
        if clause.rationale:
            box += para(
                nodes.emphasis("Why: ", "Why: "), clause.rationale, classes=["ds-clause-why"]
            )
        box += self.check_line(clause, check)
        if clause.kind == Kind.STATISTICAL:
            box += plan_line(clause)
        else:
            box += example_node(clause)
        return box

    def check_line(self, clause: Clause, check: Callable[..., Any] | None) -> nodes.Node:
        if check is None:
            return para(
                f"Checked by: no check registered for {clause.id} at build time "
                f"(see {SOURCE_DIR}/).",
                classes=["ds-clause-check"],
            )
        name = check_name(check)
        if documented_here(check):
            ref = addnodes.pending_xref(
                "", refdomain="py", reftype="func", reftarget=name, refexplicit=True, refwarn=True
            )
            ref += nodes.literal(check.__qualname__, check.__qualname__)
        else:
            ref = nodes.literal(name, name)
        path = source_path(check)
        try:
            line = inspect.getsourcelines(check)[1]
            where = f" in {path}, line {line}" if path else ""
        except (OSError, TypeError):
            where = ""
        return para(
            "Checked by ",
            ref,
            where + "; run it alone with ",
            nodes.literal(f"-k {clause.id}", f"-k {clause.id}"),
            ".",
            classes=["ds-clause-check"],
        )


# ------------------------------------------------------- test vectors and plans ----

#: Where the test vectors are written at every build, and their URL in the built site (the
#: folder is one of ``html_extra_path``, copied to the site's root).
VECTORS_EXTRA = "_generated/extra"
VECTORS_URL = "vectors"
_VECTORS: dict[str, dict[str, Any]] = {}
_PLANS: dict[str, Any] = {}


def write_vectors(app: Sphinx, config: Any) -> None:
    """Write the test vectors from the reference (every build: they are outputs, not sources,
    so they cannot go stale) and add their folder to ``html_extra_path``."""
    folder = Path(app.srcdir) / VECTORS_EXTRA / VECTORS_URL
    for path in test_vectors.write(folder):
        if path.stem in OPS:
            _VECTORS[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    config.html_extra_path = [*config.html_extra_path, VECTORS_EXTRA]
    logger.info("dropspec: wrote the test vectors to %s", folder)


def vectors_of(clause: Clause) -> list[dict[str, Any]]:
    return [v for v in _VECTORS.get(clause.op, {}).get("vectors", []) if v["clause"] == clause.id]


def vector_file(op: str) -> nodes.Node:
    name = f"{op}.json"
    return nodes.reference(name, name, refuri=f"../{VECTORS_URL}/{name}")


def _number_text(value: Any, single: bool) -> str:
    """The shortest text that gives the value back in its own dtype (float32's in float32)."""
    import numpy as np

    if single and np.isfinite(value):
        return np.format_float_positional(np.float32(value), unique=True, trim="-")
    return repr(float(value)).removesuffix(".0")


def _array_rows(name: str, entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, values) rows: one per 2-D slice, labelled by its leading index; then the bit
    patterns of a half-precision array."""
    import numpy as np

    array = test_vectors.decode(entry)
    if entry["dtype"] == "bool":
        array = array.astype(np.int8)
    single = entry["dtype"] == "float32"

    def text(part: Any) -> str:
        out = np.array2string(
            part,
            separator=", ",
            max_line_width=10_000,
            formatter={"float_kind": lambda v: _number_text(v, single)},
        )
        return "= " + " ".join(out.split())

    if array.ndim <= 2:
        rows = [(name, text(array))]
    else:
        rows = [
            (f"{name}[{', '.join(map(str, index))}]", text(array[index]))
            for index in np.ndindex(array.shape[:-2])
        ]
    if entry["dtype"] in ("float16", "bfloat16"):
        rows.append(("", "  bits " + " ".join(entry["bits"])))
    return rows


def _call_text(vector: dict[str, Any]) -> str:
    op = OPS[vector["op"]]
    defaults = {o.name: o.default for o in op.options}
    changed = [
        f"{k}={fmt_value(tuple(v) if isinstance(v, list) else v)}"
        for k, v in vector["options"].items()
        if (tuple(v) if isinstance(v, list) else v) != defaults.get(k)
    ]
    parts = [
        f"rate {vector['rate']}",
        "training" if vector["training"] else "training=False",
        vector["dtype"],
        f"seed {vector['seed']}",
        *changed,
    ]
    return ", ".join(parts)


def _vector_block(vector: dict[str, Any], inputs: bool = True) -> str:
    lines = [f"# {_call_text(vector)}" + (f" ({vector['note']})" if "note" in vector else "")]
    arrays = {**(vector["inputs"] if inputs else {}), **vector.get("expected", {})}
    if not arrays:
        return "\n".join([*lines, f"raises: {vector['error']}"])
    rows = [row for name, entry in arrays.items() for row in _array_rows(name, entry)]
    width = max(len(label) for label, _ in rows)
    lines += [f"{label:<{width}} {values}" for label, values in rows]
    if vector["raises"]:
        lines.append(f"raises: {vector['error']}")
    return "\n".join(lines)


def example_node(clause: Clause) -> nodes.Node:
    """The clause's test vectors as a worked example, or why it has none."""
    box = nodes.container(classes=["ds-clause-example"])
    found = vectors_of(clause)
    if not found:
        reason = test_vectors.NO_VECTOR.get(test_vectors.kind_of(clause))
        box += para(f"No test vector: {reason}." if reason else "No test vector.")
        return box
    box += para(
        nodes.emphasis("Worked example", "Worked example"),
        " (from the reference; mask 1 = kept; each call also in ",
        vector_file(clause.op),
        "):",
    )
    blocks: list[str] = []
    for before, vector in zip([None, *found], found, strict=False):
        # Calls that raise on the inputs of the call before are shown without them again.
        again = before is not None and vector["raises"] and before["inputs"] == vector["inputs"]
        blocks.append(_vector_block(vector, inputs=not again))
    text = "\n\n".join(blocks)
    box += nodes.literal_block(text, text, language="text")
    return box


def plans() -> dict[str, Any]:
    if not _PLANS:
        try:
            from dropspec.conformance.calibration import plans as suite_plans

            _PLANS.update(suite_plans())
        except Exception as exc:  # the suite may be mid-rewrite; the docs still build
            _PLANS[""] = exc
    return _PLANS


def _worst_measured(leaves: list[Any]) -> str:
    """'detected/runs' of the worst-detected kept measurement (measured_power.json, at the
    suite's default α and power) made at any of these leaves, or ''."""
    try:
        from dropspec.conformance.config import Config
        from dropspec.conformance.power import measured_block
    except Exception:  # the suite may be mid-rewrite; the docs still build
        return ""
    defaults = Config()
    fingerprints = {leaf.fingerprint() for leaf in leaves}
    kept = measured_block(defaults.alpha, defaults.power)
    found = [m for m in kept if m.get("fingerprint") in fingerprints]
    if not found:
        return ""
    worst = min(found, key=lambda m: m["detected"] / m["runs"])
    return f"{worst['detected']}/{worst['runs']}"


def plan_line(clause: Clause) -> nodes.Node:
    """A statistical clause's plan, one sentence per test it runs: how many sub-tests, α,
    n and the deviation caught with the stated power (from the check's @planned plan)."""
    leaves = plans().get(clause.id)
    if not leaves:
        return para(
            "Its plan (test, α, n, power) is not stated by its check.",
            classes=["ds-clause-plan"],
        )
    groups: dict[tuple[str, str, float], list[Any]] = defaultdict(list)
    for leaf in leaves:
        groups[(leaf.test, leaf.unit, leaf.power)].append(leaf)
    parts: list[str] = []
    for (test, unit, power), group in groups.items():
        alphas = sorted({leaf.alpha for leaf in group})
        ns = sorted({leaf.n for leaf in group})
        devs = sorted({leaf.deviation for leaf in group})
        alpha = f"{alphas[0]:.2g}" if len(alphas) == 1 else f"{alphas[0]:.2g}–{alphas[-1]:.2g}"
        n = f"{ns[0]:,}" if len(ns) == 1 else f"{ns[0]:,}–{ns[-1]:,}"
        dev = f"{devs[0]:.3g}" if len(devs) == 1 else f"{devs[0]:.3g}–{devs[-1]:.3g}"
        worst = _worst_measured(group)
        parts.append(
            f"{test} ×{len(group)}: α {alpha} each, n {n}, power {power:g} against {unit} ≥ {dev}"
            + (f" (measured: {worst} runs detected it, the lowest kept)" if worst else "")
        )
    total = sum(leaf.alpha for leaf in leaves)
    return para(
        nodes.emphasis("Tested by ", "Tested by "),
        "; ".join(parts) + f" (α {total:.2g} in all, over the dtypes it runs in).",
        classes=["ds-clause-plan"],
    )


class VectorsDirective(SphinxDirective):
    """The published test-vector files, one per op, with their counts."""

    def run(self) -> list[nodes.Node]:
        rows = []
        for op in OPS.values():
            data = _VECTORS.get(op.name, {})
            name = f"{op.name}.json"
            link = nodes.reference(name, name, refuri=f"{VECTORS_URL}/{name}")
            covered = len({v["clause"] for v in data.get("vectors", [])})
            rows.append(
                [
                    nodes.literal(op.name, op.name),
                    link,
                    str(len(data.get("vectors", []))),
                    str(covered),
                    str(len(data.get("no_vector", []))),
                ]
            )
        heads = ["op", "file", "vectors", "clauses with a vector", "clauses with a reason"]
        return [table(heads, rows, ["ds-compact"])]


class OpPagesDirective(TocTree):
    """A toctree of every op's page (``<op>`` next to the page that holds it), in the order of
    ``dropspec.spec.OPS``: a new op's page joins it without an edit. It takes the toctree's
    options; its content, if any, is ignored."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.content = StringList(list(OPS), source=self.get_source_info()[0] or "")
        return super().run()


class ClauseIndexDirective(SphinxDirective):
    """Every clause of every op in one table."""

    def run(self) -> list[nodes.Node]:
        rows = []
        for op in OPS.values():
            for c in op.clauses:
                rows.append(
                    [
                        clause_ref(c.id),
                        nodes.literal(op.name, op.name),
                        c.level.value,
                        c.kind.value,
                        when_text(c) or "always",
                    ]
                )
        return [table(["clause", "op", "level", "kind", "applies when"], rows, ["ds-compact"])]


class ChecksDirective(SphinxDirective):
    """Every check function, as a ``py:function`` entry (viewcode adds the source link)."""

    def run(self) -> list[nodes.Node]:
        checks, why_none = load_checks()
        if not checks:
            return [
                nodes.note(
                    "",
                    para(
                        f"No check functions to list: {why_none}. Build the "
                        f"docs once {CHECKS_MODULE} registers its checks."
                    ),
                )
            ]
        by_fn: dict[Callable[..., Any], list[str]] = defaultdict(list)
        for cid in sorted(checks, key=list(CLAUSES).index):  # in the spec's order
            by_fn[checks[cid]].append(cid)
        container = nodes.container(classes=["ds-checks"])
        order = module_order(checks)
        here = sorted(
            (fn for fn in by_fn if documented_here(fn)),
            key=lambda f: (order.get(f.__module__, len(order)), inspect.getsourcelines(f)[1]),
        )
        # One group per module of the checks package, headed by its path and docstring.
        for module, group in itertools.groupby(here, key=lambda f: f.__module__):
            fns = list(group)
            container += nodes.rubric("", "", nodes.literal(module, source_path(fns[0]) or module))
            intro = (inspect.getdoc(sys.modules[module]) or "").split("\n\n")[0]
            if intro:
                container += para(plain_roles(intro.replace("\n", " ")))
            lines: list[str] = []
            for fn in fns:
                # A check without a docstring is described by its clauses alone.
                first = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
                refs = ", ".join(f"{{ref}}`{cid} <{cid.lower()}>`" for cid in by_fn[fn])
                lines += [
                    f"```{{py:function}} {fn.__qualname__}(ctx)",
                    f":module: {module}",
                    "",
                    *([md_text(plain_roles(first)), ""] if first else []),
                    f"Checks {refs}.",
                    "```",
                    "",
                ]
            self.state.nested_parse(
                StringList(lines, source="<dropspec-checks>"), self.content_offset, container
            )
        out: list[nodes.Node] = [container]
        elsewhere = [fn for fn in by_fn if not documented_here(fn)]
        if elsewhere:
            out.append(
                table(
                    ["check", "clauses"],
                    [
                        [
                            nodes.literal(check_name(f), check_name(f)),
                            join([clause_ref(c) for c in by_fn[f]]),
                        ]
                        for f in elsewhere
                    ],
                )
            )
        return out


def plain_roles(text: str) -> str:
    """A docstring's reST roles (``:mod:`x```, ``:class:`~a.B```) and double backticks as
    `single-backticked` literals, for :func:`inline_text`."""
    text = re.sub(
        r":\w+:`(~?)([^`]+)`", lambda m: f"`{m[2].split('.')[-1] if m[1] else m[2]}`", text
    )
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def md_escape(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>()#+!|$~])", r"\\\1", text)


def md_text(text: str) -> str:
    """``text`` as Markdown: its `code spans` kept, everything else escaped."""
    parts = re.split(r"(`[^`]+`)", text)
    return "".join(part if i % 2 else md_escape(part) for i, part in enumerate(parts))


def join(items: Sequence[nodes.Node], sep: str = ", ") -> list[nodes.Node]:
    out: list[nodes.Node] = []
    for i, item in enumerate(items):
        if i:
            out.append(nodes.Text(sep))
        out.append(item)
    return out


class TargetsDirective(SphinxDirective):
    """The built-in targets per op, with the options each declares (from the adapters)."""

    def run(self) -> list[nodes.Node]:
        from dropspec.adapters import builtin_targets
        from dropspec.frameworks import adapter_modules

        try:
            targets = builtin_targets()
        except Exception as exc:
            logger.warning(
                "dropspec-targets: listing the built-in targets failed: %s",
                exc,
                location=self.get_location(),
            )
            return [nodes.note("", para(f"The built-in targets could not be listed: {exc}"))]
        present = [m for m in adapter_modules() if importlib.util.find_spec(m) is not None]
        missing = [m for m in adapter_modules() if m not in present]
        out: list[nodes.Node] = [
            para(
                f"{len(targets)} built-in targets, from the adapter modules "
                + ", ".join(f"`{m}`" for m in present)
                + "."
                + (
                    " Not present when these pages were built: "
                    + ", ".join(f"`{m}`" for m in missing)
                    + "."
                    if missing
                    else ""
                )
            )
        ]
        by_op: dict[str, list[Any]] = defaultdict(list)
        for t in targets.values():
            by_op[t.op].append(t)
        for op in OPS.values():
            rows_t = by_op.get(op.name, [])
            if not rows_t:
                continue
            sec = section(
                self.state.document, f"{op.title} targets", f"targets-{op.name.replace('_', '-')}"
            )
            names = [o.name for o in op.options]
            rows = []
            for t in rows_t:
                xf = join([clause_ref(c) for c in t.expected_failures]) or "none"
                rows.append(
                    [
                        nodes.literal(t.name, t.name),
                        t.framework,
                        *[fmt_value(t.options.get(n)) for n in names],
                        xf,
                        t.description,
                    ]
                )
            sec += table(
                ["target", "arrays", *names, "expected failures", "what it wraps"],
                rows,
                ["ds-compact", "ds-targets"],
            )
            out.append(sec)
        return out


class TransformedDirective(SphinxDirective):
    """Dropout under transformations, from the variant registry and the matrix's report:
    what each framework promises, what the matrix found, what is not checked and why."""

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        from dropspec.adapters import builtin_targets, default_set, split, supported, variants

        doc = self.state.document
        known = variants()
        rel = self.arguments[0] if self.arguments else "_data/matrix.json"
        path = Path(self.env.srcdir) / rel
        self.env.note_dependency(str(path))
        report = json.loads(path.read_text()) if path.is_file() else {"targets": []}
        out: list[nodes.Node] = []
        sec = section(doc, "What each framework promises", "transformed-promises")
        sec += table(
            [
                "variant",
                "arrays",
                "the wrapped call",
                "a layer with state",
                "what the framework promises",
            ],
            [
                [
                    nodes.literal(v.name, v.name),
                    v.framework,
                    v.doc,
                    "each call wrapped: every clause, the state ones too"
                    if v.wrap_layer
                    else "not wrapped: its state clauses do not apply",
                    v.promise,
                ]
                for v in known.values()
            ],
            ["ds-compact"],
        )
        out.append(sec)
        sec = section(doc, "What the matrix found", "transformed-found")
        rows = []
        for t in report["targets"]:
            _base, variant = split(t["name"])
            if variant is None:
                continue
            counts: dict[str, int] = defaultdict(int)
            for c in t.get("clauses", []):
                counts[c.get("outcome", "?")] += 1
            found = [
                f"{c['id']}: {c['outcome']}"
                for c in t.get("clauses", [])
                if c.get("outcome") in ("failed", "xfailed", "xpassed", "not_checked")
            ]
            rows.append(
                [
                    nodes.literal(t["name"], t["name"]),
                    ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
                    "; ".join(found) or "every clause passed or did not apply",
                ]
            )
        if rows:
            sec += table(["target", "outcomes", "not passed"], rows, ["ds-compact"])
        else:
            sec += para(f"docs/{rel} holds no variant target yet: regenerate it with")
            sec += nodes.literal_block(REGEN_MATRIX, REGEN_MATRIX, language="console")
        out.append(sec)
        sec = section(doc, "Divergences found under a variant", "transformed-divergences")
        sec += para(
            "Declared on the variant (dropspec/adapters/fw_*.py), with what was observed: "
            "expected failures the variant target adds to its target's, and expected failures "
            "of the target that do not occur under the variant (dropped there)."
        )
        found_rows = [
            [nodes.literal(v.name, v.name), nodes.literal(n, n), clause_ref(cid), kind, why]
            for v in known.values()
            for kind, table_of in (("expected failure", v.divergences), ("holds", v.holds))
            for n, by_clause in table_of.items()
            for cid, why in by_clause.items()
        ]
        headers = ["variant", "target", "clause", "declared", "observed"]
        sec += table(headers, found_rows, ["ds-compact"])
        out.append(sec)
        sec = section(doc, "Which variants run", "transformed-sets")
        sec += para(
            "dropspec check --all runs these by default: "
            + ", ".join(default_set())
            + f". --variants all runs every supported pair of a built-in target and a "
            f"variant of its framework ({len(supported(builtin_targets()))} here)"
            + "".join(
                f"; {v.name} only on {', '.join(v.all_set)}, for its cost"
                for v in known.values()
                if v.all_set is not None
            )
            + "."
        )
        blocked = [
            [nodes.literal(v.name, v.name), nodes.literal(n, n), why]
            for v in known.values()
            for n, why in v.not_wrappable.items()
        ]
        sec += para("Built-in targets a variant cannot wrap, reported as not checked:")
        sec += table(["variant", "target", "why"], blocked, ["ds-compact"])
        out.append(sec)
        return out


def report_spec_version(report: dict[str, Any]) -> str:
    """The spec version a report was checked against, and whether the spec has moved on."""
    version = report.get("spec_version")
    if version is None:
        return f"not recorded (the report predates spec versions; the spec is now {SPEC_VERSION})"
    if version != SPEC_VERSION:
        return f"{version} (the spec is now {SPEC_VERSION}: regenerate the report)"
    return str(version)


class ChangelogDirective(SphinxDirective):
    """Every recorded spec version, newest first: the clauses it added, changed and retired,
    each group of clauses under its note."""

    def run(self) -> list[nodes.Node]:
        std = self.env.domains.standard_domain
        out: list[nodes.Node] = [
            para("This spec is version ", nodes.strong(SPEC_VERSION, SPEC_VERSION), ".")
        ]
        for release in reversed(releases()):
            label = version_label(release.version)
            title = release.version + (f" ({release.date})" if release.date else "")
            sec = section(self.state.document, title, label)
            std.anonlabels[label] = (self.env.docname, label)
            std.labels[label] = (self.env.docname, label, f"spec version {release.version}")
            if release.summary:
                sec += para(release.summary)
            for kind, notes in (
                ("Added", release.added),
                ("Changed", release.changed),
                ("Retired", release.retired),
            ):
                if notes:
                    sec += self.group(kind, notes)
            out.append(sec)
        return out

    def group(self, kind: str, notes: dict[str, str]) -> nodes.Node:
        by_note: dict[str, list[str]] = defaultdict(list)
        for cid, note in notes.items():
            by_note[note].append(cid)
        items = nodes.bullet_list()
        for note, ids in by_note.items():
            refs = [clause_ref(c) if c in CLAUSES else nodes.literal(c, c) for c in ids]
            count = f"{len(ids)} clauses" if len(ids) > 1 else "1 clause"
            items += nodes.list_item("", para(f"{note} ({count}): ", *join(refs)))
        return nodes.container("", para(nodes.strong(kind, kind)), items)


class SampleSizesDirective(SphinxDirective):
    """n for the binomial rate test, computed by the suite's own function."""

    def run(self) -> list[nodes.Node]:
        try:
            from dropspec.conformance.stats import (
                SequentialBinomial,
                binomial_sample_size,
                rate_deviation,
            )
        except Exception as exc:
            return [nodes.note("", para(f"dropspec.conformance.stats is unavailable: {exc}"))]
        rates = (0.01, 0.1, 0.3, 0.5, 0.9)
        settings = ((1e-3, 0.99), (1e-6, 0.99), (1e-6, 0.999))
        rows = []
        for r in rates:
            d = rate_deviation(r)
            rows.append(
                [
                    str(r),
                    f"{d:g}",
                    *[
                        f"{binomial_sample_size(r, d, a, p):,} / "
                        f"{SequentialBinomial(r, d, a, p).n_max:,}"
                        for a, p in settings
                    ],
                ]
            )
        return [
            table(
                [
                    "rate",
                    "deviation δ caught",
                    *[f"n fixed / n_max sequential, α={a:g}, power={p:g}" for a, p in settings],
                ],
                rows,
                ["ds-compact"],
            )
        ]


class AlphaBudgetDirective(SphinxDirective):
    """Statistical clauses per op and the false-alarm bound, from the registry."""

    def run(self) -> list[nodes.Node]:
        try:
            from dropspec.conformance.engine import DEFAULT_ALPHA
        except Exception:
            DEFAULT_ALPHA = 1e-6
        rows = []
        for op in OPS.values():
            stat = [c for c in op.clauses if c.kind.value == "statistical"]
            rows.append(
                [op.title, str(len(op.clauses)), str(len(stat)), f"{len(stat) * DEFAULT_ALPHA:.1e}"]
            )
        return [
            table(
                ["op", "clauses", "statistical", f"false-alarm bound at α={DEFAULT_ALPHA:g}"],
                rows,
                ["ds-compact"],
            )
        ]


class PowerTableDirective(SphinxDirective):
    """What each statistical check detects: one row per clause and kind of test, from the
    checks' own plans (the leaves ``@planned`` states, which ``tests/test_power_claims.py``
    holds to what a run of the check reports), so the table costs no check run and changes
    only when a plan or a kept measurement does."""

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir).parent / "dropspec" / "conformance" / "measured_power.json"
        self.env.note_dependency(str(path))
        stated = plans()
        if "" in stated:
            return [nodes.note("", para(f"The checks' plans are unavailable: {stated['']}"))]
        rows = []
        for clause in CLAUSES.values():
            groups: dict[tuple[str, str, float], list[Any]] = defaultdict(list)
            for leaf in stated.get(clause.id, []):
                groups[(leaf.test, leaf.unit, leaf.power)].append(leaf)
            for (test, unit, power), group in groups.items():
                rows.append(
                    [
                        clause_ref(clause.id),
                        test,
                        str(len(group)),
                        _span([leaf.alpha for leaf in group], ".2g"),
                        _span([leaf.n for leaf in group], ","),
                        f"{unit} ≥ {_span([leaf.deviation for leaf in group], '.3g')}"
                        f" (power {power:g})",
                        _worst_measured(group) or "—",
                    ]
                )
        return [
            table(
                [
                    "clause",
                    "test",
                    "sub-tests",
                    "α each",
                    "n",
                    "detects",
                    "measured detection (the worst kept)",
                ],
                rows,
                ["ds-compact"],
            )
        ]


def _span(values: Sequence[float], fmt: str) -> str:
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}–{high}"


class MeasuredPowerDirective(SphinxDirective):
    """Each test's stated deviation injected into simulated outputs: detections, false alarms."""

    def run(self) -> list[nodes.Node]:
        from dropspec.conformance.power import measured_blocks

        path = Path(self.env.srcdir).parent / "dropspec" / "conformance" / "measured_power.json"
        self.env.note_dependency(str(path))
        blocks = measured_blocks()
        if not blocks:
            return [
                nodes.note(
                    "",
                    para("No measurements kept yet: run "),
                    nodes.literal_block(REGEN_POWER, REGEN_POWER),
                )
            ]
        out: list[nodes.Node] = []
        for block in blocks:
            size = "small samples (the tests)" if block["small"] else "the checks' own sizes"
            out.append(
                para(
                    f"α = {block['alpha']:g} per check, power {block['power']:g}, "
                    f"{size}, seed {block['seed']}:"
                )
            )
            rows = []
            for m in block["measurements"]:
                refs: list[nodes.Node] = []
                for cid in m["clauses"]:
                    refs += [nodes.Text(", ")] if refs else []
                    refs.append(clause_ref(cid))
                rows.append(
                    [
                        m["claim"],
                        refs,
                        m["test"],
                        f"{m['n']:,}",
                        f"{m['alpha']:.3g}",
                        f"{m['unit']} = {m['deviation']:.4g}",
                        f"{m['detected']}/{m['runs']} ({m['detection_rate']:.3f})",
                        f"{m['null_rejected']}/{m['runs']}",
                    ]
                )
            out.append(
                table(
                    [
                        "claim",
                        "clauses",
                        "test",
                        "n",
                        "α",
                        "stated deviation (injected)",
                        f"detected (claimed {block['power']:g})",
                        "false alarms",
                    ],
                    rows,
                    ["ds-compact"],
                )
            )
        return out


class DataDirective(SphinxDirective):
    """A kept JSON result (mutation score, soak, benchmarks) shown as a table of its fields."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        rel = self.arguments[0]
        path = Path(self.env.srcdir) / rel
        self.env.note_dependency(str(path))
        if not path.is_file():
            return [
                nodes.note(
                    "",
                    para(
                        f"No result kept yet at docs/{rel}; the command that "
                        "produces it is given above."
                    ),
                )
            ]
        data = json.loads(path.read_text())
        rows = []
        for key, value in data.items():
            if isinstance(value, list | dict) and len(str(value)) > 300:
                value = f"({len(value)} entries; see docs/{rel})"
            rows.append([key, fmt_value(value) if not isinstance(value, str) else value])
        return [table(["field", "value"], rows, ["ds-compact"])]


class MutationDirective(SphinxDirective):
    """The mutation corpus: every wrong implementation and the clauses that caught it."""

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir) / "_data" / "mutation.json"
        self.env.note_dependency(str(path))
        if not path.is_file():
            return [
                nodes.note(
                    "", para("No mutation report kept yet: run python benchmarks/mutation_score.py")
                )
            ]
        data = json.loads(path.read_text())
        out: list[nodes.Node] = [
            para(
                f"Mutation score: {data['caught']} of {data['total']} wrong implementations caught."
            )
        ]
        rows = []
        for m in data["mutants"]:
            caught = [clause_ref(c) for c in m.get("caught_by", []) if c in CLAUSES]
            rows.append(
                [
                    m["name"],
                    m["op"],
                    m["framework"],
                    m["fault_class"],
                    m.get("description", ""),
                    join(caught) if caught else "not caught",
                ]
            )
        out.append(
            table(
                ["mutant", "op", "framework", "fault", "what is wrong", "caught by"],
                rows,
                ["ds-compact"],
            )
        )
        return out


def clause_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Any,
    options: Any = None,
    content: Any = None,
) -> tuple[list[nodes.Node], list[Any]]:
    cid = text.strip()
    if cid not in CLAUSES:
        msg = inliner.reporter.error(f"unknown clause id {cid!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    return [clause_ref(cid)], []


# ----------------------------------------------------------------------- figures ----


def draw_figures(app: Sphinx) -> None:
    docs = Path(app.srcdir)
    sys.path.insert(0, str(docs))
    try:
        import figures
    finally:
        sys.path.remove(str(docs))
    written = figures.main(docs / "_generated" / "figures")
    logger.info("dropspec: drew %d figures from the reference", len(written))


class PlugsDirective(SphinxDirective):
    """The files one kind of plug takes (``op``, ``framework`` or ``check``), one row per op or
    framework, read from :mod:`dropspec.conformance.layout` (which ``tests/test_registries.py``
    holds the package to): the files it owns, and what it adds to files it shares."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        from dropspec.conformance import layout

        kinds = {
            "op": layout.op_plugs,
            "framework": layout.framework_plugs,
            "check": layout.check_plugs,
        }
        kind = self.arguments[0]
        if kind not in kinds:
            raise self.error(f"dropspec-plugs takes one of {', '.join(kinds)}, not {kind!r}")
        rows = []
        for name, plug in kinds[kind]().items():
            owns: list[nodes.Node] = []
            for path in plug.owns:
                if owns:
                    owns.append(nodes.Text(", "))
                owns.append(nodes.literal(path, path))
            adds = nodes.bullet_list()
            for path, what in plug.entries:
                adds += nodes.list_item("", para(nodes.literal(path, path), f": {what}"))
            rows.append(
                [nodes.literal(name, name), owns or "none", adds if plug.entries else "none"]
            )
        return [table([kind, "files it owns", "what it adds to shared files"], rows)]


def coverage_rows() -> list[Any]:
    """One :class:`dropspec.conformance.inputs.CoverageRow` per exact or structural clause,
    in the spec's order, for a target of the clause's op declaring no rank or shared axes,
    in a default run (what ``dropspec check`` runs)."""
    from dropspec.conformance import inputs
    from dropspec.conformance.checks._geometry import Geometry
    from dropspec.conformance.context import check_seed
    from dropspec.conformance.defaults import DEFAULT_EXAMPLES, DEFAULT_SEED

    checks, _ = load_checks()
    rows = []
    for cid, clause in CLAUSES.items():
        if clause.kind.value not in ("exact", "structural") or cid not in checks:
            continue
        g = Geometry.of(clause.op, {})
        allowed = g.allowed()
        seed = check_seed(DEFAULT_SEED, f"op:{clause.op}", "examples")
        name = checks[cid].__name__
        rows.append(inputs.coverage_row(cid, name, allowed, DEFAULT_EXAMPLES, seed))
    return rows


class CoverageDirective(SphinxDirective):
    """The input design (``dropspec.conformance.inputs``): its dimensions (``dimensions``)
    or one row per exact and structural clause (``clauses``), rendered from the design."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        from dropspec.conformance import inputs

        kind = self.arguments[0]
        if kind == "clauses":
            fws = [fw for fw, _ in inputs.COVERAGE_FRAMEWORKS]
            rows = [
                [
                    clause_ref(r.clause),
                    r.shapes,
                    r.layouts,
                    r.values,
                    r.bands,
                    " · ".join(f"{fw} {r.cells[fw]}" for fw in fws),
                ]
                for r in coverage_rows()
            ]
            heads = ["clause", "shapes", "layouts", "value classes", "rate bands", "cells"]
            return [table(heads, rows)]
        if kind == "dimensions":
            rows = [
                ["rank", ", ".join(map(str, inputs.RANKS))],
                [
                    "axis lengths",
                    ", ".join(map(str, inputs.AXIS_LENGTHS)) + f"; long axis {inputs.LONG_AXIS}",
                ],
                [
                    "size classes",
                    "; ".join(f"{c.name} {c.low}–{c.high}" for c in inputs.SIZE_CLASSES),
                ],
                ["layouts", "; ".join(f"{lay.name}: {lay.text}" for lay in inputs.LAYOUTS)],
                ["value classes", "; ".join(f"{v.name}: {v.text}" for v in inputs.VALUE_CLASSES)],
                [
                    "rate bands",
                    "; ".join(f"{b.name} [{b.low}, {b.high}]" for b in inputs.RATE_BANDS),
                ],
                ["core shapes", ", ".join(map(str, inputs.CORE_SHAPES))],
                ["core layer (batch, n_in, n_out)", ", ".join(map(str, inputs.CORE_LAYER_DIMS))],
            ]
            return [table(["dimension", "values"], rows)]
        if kind == "frameworks":
            rows = []
            for fw, strides in (*inputs.COVERAGE_FRAMEWORKS, ("tensorflow", "dense")):
                c = inputs.cost(fw)
                carried = [
                    lay.name for lay in inputs.LAYOUTS if lay.needs in inputs.STRIDES[strides]
                ]
                left = inputs.plan("check_values", inputs.Allowed(), fw, strides, 0, dtypes=4)
                rows.append(
                    [
                        fw,
                        f"{c.name}: {c.why}; {c.core} core shapes, {c.pool} drawn, at most "
                        f"{c.max_elements} values",
                        ", ".join(carried),
                        "; ".join(left.skipped) or "nothing",
                    ]
                )
            heads = ["framework", "cost", "layouts its arrays carry", "what a run leaves out"]
            return [table(heads, rows)]
        raise self.error(f"dropspec-coverage takes clauses, dimensions or frameworks, not {kind!r}")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("dropspec-coverage", CoverageDirective)
    app.add_directive("dropspec-op", OpDirective)
    app.add_directive("dropspec-op-pages", OpPagesDirective)
    app.add_directive("dropspec-plugs", PlugsDirective)
    app.add_directive("dropspec-clause-index", ClauseIndexDirective)
    app.add_directive("dropspec-checks", ChecksDirective)
    app.add_directive("dropspec-targets", TargetsDirective)
    app.setup_extension("dropspec_matrix")  # the matrix directives, in a module of their own
    app.add_directive("dropspec-transformed", TransformedDirective)
    app.add_directive("dropspec-sample-sizes", SampleSizesDirective)
    app.add_directive("dropspec-alpha-budget", AlphaBudgetDirective)
    app.add_directive("dropspec-power", PowerTableDirective)
    app.add_directive("dropspec-measured-power", MeasuredPowerDirective)
    app.add_directive("dropspec-data", DataDirective)
    app.add_directive("dropspec-mutation", MutationDirective)
    app.add_directive("dropspec-changelog", ChangelogDirective)
    app.add_directive("dropspec-vectors", VectorsDirective)
    app.add_role("clause", clause_role)
    app.connect("config-inited", write_vectors, priority=400)  # before extra paths are checked
    app.connect("builder-inited", draw_figures)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
