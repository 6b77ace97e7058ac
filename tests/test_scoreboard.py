"""The matrix as a scoreboard (docs/_ext/dropspec_matrix.py): one page per framework, each
clause a target does not pass with its evidence and a replay command that reproduces it, the
true version of every library, each target's platform; and the report fields they read."""

from __future__ import annotations

import copy
import html
import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dropspec.conformance.report import clause_entry, counterexample_of
from dropspec.frameworks import FRAMEWORKS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MATRIX = DOCS / "_data" / "matrix.json"


@pytest.fixture(scope="module")
def matrix() -> Any:
    pytest.importorskip("sphinx", reason="the docs need sphinx (requirements/test.txt)")
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import dropspec_matrix
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return dropspec_matrix


def test_one_page_per_framework() -> None:
    pages = {p.stem: p.read_text() for p in (DOCS / "matrix").glob("*.md")}
    assert set(pages) == {*FRAMEWORKS, "clauses"}
    for name in FRAMEWORKS:
        assert f"{{dropspec-matrix-framework}} {name}\n" in pages[name]
    assert "{dropspec-matrix-clauses}" in pages["clauses"]


def test_report_records_the_statistic_and_the_counterexample() -> None:
    from types import SimpleNamespace

    from dropspec.conformance.schema import validate

    example = "Failing explicit example: run(\n    case=('float16',\n     (33,)),\n)"
    message = f"output 21.8 is neither 0 nor x·s\n{example}\nreplay: dropspec check t.py:f"
    stat = SimpleNamespace(
        statistic=8.37, n=1024, deviation=0.004, deviation_unit="sd", power=0.999, test="z"
    )
    result = SimpleNamespace(
        clause_id="DROPOUT-UNBIASED",
        level="MUST",
        kind="statistical",
        outcome="failed",
        message=message,
        stat=stat,
        pvalue=1e-11,
        alpha=5e-8,
        seconds=0.1,
        target_seconds=0.1,
        dtype_seconds={"float16": 0.1},
        output_bytes=0,
        host_bytes=0,
        reason="",
    )
    entry = clause_entry(result)  # type: ignore[arg-type]
    assert entry["statistic"] == 8.37 and entry["n"] == 1024
    assert entry["counterexample"] == example
    assert entry["replay"] == "dropspec check t.py:f"
    assert counterexample_of("Falsifying example: run(x=1)\nmore") == "Falsifying example: run(x=1)"
    assert counterexample_of("no example here") is None
    report = json.loads(MATRIX.read_text())
    report["targets"] = [dict(report["targets"][0], clauses=[entry])]
    assert validate(report) == []  # the schema knows the fields and their types
    entry["statistic"], entry["counterexample"] = "8.37", 1
    errors = validate(report)
    assert len(errors) == 2 and "statistic" in errors[0] and "counterexample" in errors[1]


def _text(node: Any) -> str:
    return " ".join(node.astext().split())


def test_each_framework_page_holds_each_divergence_evidence_and_replay(matrix: Any) -> None:
    """What a maintainer needs from their framework's page alone: for every clause a target of
    the kept matrix does not pass, the page's evidence block names the reason (whole, with its
    links), the test's figures and a replay command, and the target's clause list links to it;
    every library the target comes from shows with its own version, and its platform."""
    from docutils import nodes

    marks = list(matrix.MARK.values())
    assert len(set(marks)) == len(marks) and "–" not in marks  # each mark means one thing
    report = json.loads(MATRIX.read_text())
    checked = 0
    for t in report["targets"]:
        assert matrix.has_page(t), t["name"]
        page = matrix.target_nodes(t, report)
        facts = _text(page[0])
        for lib, version in (t.get("libraries") or {}).items():
            assert f"{lib} {version}" in facts, (t["name"], lib)
        assert f"{t['framework']} {t['framework_version']}" in facts
        assert matrix.platform_text(t["platform"]) in facts
        boxes = {
            box["ids"][0]: box
            for node in page
            for box in node.findall(nodes.container)
            if box["ids"] and box["ids"][0].startswith("matrix-evidence-")
        }
        linked = {x["reftarget"] for x in page[1].findall(lambda n: "reftarget" in n)}
        for c in t["clauses"]:
            if c["outcome"] in ("passed", "not_applicable"):
                continue
            label = matrix.evidence_label(t["name"], c["id"])
            assert label in boxes and label in linked, (t["name"], c["id"])
            box = boxes[label]
            text = box.astext()
            if c["outcome"] == "xfailed":
                reason = t["expected_failures"][c["id"]]
                assert " ".join(reason.replace("`", "").split()) in _text(box), (t["name"], c["id"])
                links = {r["refuri"] for r in box.findall(nodes.reference)}
                assert set(re.findall(r"https?://[^\s)>\]]+[^\s)>\].,;:]", reason)) <= links
            for key, shown in (("pvalue", "p-value"), ("n", "n: "), ("alpha", "α = ")):
                if c.get(key) is not None:
                    assert shown in text, (t["name"], c["id"], key)
            blocks = box.findall(nodes.literal_block)
            replays = [b.astext() for b in blocks if "ds-replay" in b["classes"]]
            assert replays and replays[0] == c["replay"].split(" (or ")[0]
            checked += 1
    assert checked >= 400  # 422 declared divergences in the kept matrix


def test_a_merged_report_shows_each_target_platform(matrix: Any) -> None:
    from dropspec.conformance.merge import merge

    report = json.loads(MATRIX.read_text())
    one = dict(report, targets=[t for t in report["targets"] if t["framework"] == "numpy"][:2])
    two = copy.deepcopy(one)
    two["platform"] = dict(one["platform"], system="macOS-15.3-arm64", machine="arm64", node="m2")
    for t in two["targets"]:
        t["platform"] = two["platform"]
    merged = merge([one, two], ["linux.json", "mac.json"])
    assert len(matrix.platforms(merged)) == 2
    rows = matrix.overview_rows(merged["targets"], "dropout", True)
    shown = [row[2] for row in rows]
    assert shown == [matrix.platform_text(t["platform"]) for t in merged["targets"]]
    assert any("macOS-15.3-arm64 (arm64)" in s for s in shown)
    for t in merged["targets"]:
        facts = _text(matrix.target_nodes(t, merged)[0])
        assert matrix.platform_text(t["platform"]) in facts and t["source"] in facts


TARGETS = """
import numpy as np
import dropspec


def _dropout(x, rate, training, seed, scale):
    if rate < 0.0 or rate > 1.0:  # NaN passes
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if not training or rate == 0.0:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return np.where(keep, x / x.dtype.type(scale), x.dtype.type(0))


@dropspec.target(
    "dropout",
    framework="numpy",
    scaling="inverted",
    expected_failures={"DROPOUT-RATE-INVALID": "accepts NaN (https://example.invalid/1)"},
)
def nan_rate(x, rate, *, training, seed):
    return _dropout(x, rate, training, seed, 1.0 - rate)


@dropspec.target("dropout", framework="numpy", scaling="inverted")
def off_scale(x, rate, *, training, seed):
    if rate != rate:
        raise ValueError("rate is NaN")
    return _dropout(x, rate, training, seed, 1.0 - 1.01 * rate)
"""


@pytest.mark.slow
def test_replay_commands_from_the_rendered_page_reproduce(tmp_path: Path) -> None:
    """Run a report, render its framework page with Sphinx, copy the replay commands out of
    the HTML and run them: each reproduces its clause's failure or declared divergence."""
    pytest.importorskip("myst_parser", reason="the docs need myst-parser")
    (tmp_path / "tgt.py").write_text(TARGETS)
    clauses = ["--clause", "DROPOUT-RATE-INVALID", "--clause", "DROPOUT-VALUES"]
    src = tmp_path / "src"
    (src / "_data").mkdir(parents=True)
    report_path = src / "_data" / "matrix.json"
    run = [str(Path(sys.executable).with_name("dropspec")), "check", "-q", "-j", "1"]
    subprocess.run(
        [*run, "tgt.py:nan_rate", "tgt.py:off_scale", *clauses, "--json", str(report_path)],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=300,
    )
    report = json.loads(report_path.read_text())
    outcome = {(t["spec"], c["id"]): c["outcome"] for t in report["targets"] for c in t["clauses"]}
    assert outcome[("tgt.py:nan_rate", "DROPOUT-RATE-INVALID")] == "xfailed"
    assert outcome[("tgt.py:off_scale", "DROPOUT-VALUES")] == "failed"
    (src / "conf.py").write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path[:0] = [{str(DOCS / "_ext")!r}, {str(ROOT)!r}]
            extensions = ["myst_parser", "dropspec_matrix"]
            exclude_patterns = ["_data"]
            root_doc = "numpy"
            """
        )
    )
    (src / "numpy.md").write_text("# numpy\n\n```{dropspec-matrix-framework} numpy\n```\n")
    out = tmp_path / "html"
    built = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    page = (out / "numpy.html").read_text()
    blocks = re.findall(r'<div class="ds-replay[^"]*"[^>]*>.*?<pre>(.*?)</pre>', page, re.S)
    commands = [
        html.unescape(re.sub(r"<[^>]+>", "", b)).strip()
        for b in blocks
        if html.unescape(re.sub(r"<[^>]+>", "", b)).startswith("dropspec check")
    ]
    assert len(commands) == 2  # one failure, one declared divergence
    assert "https://example.invalid/1" in page and "rates [nan] were accepted" in page
    for command in commands:
        argv = shlex.split(command)
        assert argv[:2] == ["dropspec", "check"]
        again = tmp_path / "again.json"
        done = subprocess.run(
            [run[0], *argv[1:], "-q", "--json", str(again)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        (t,) = json.loads(again.read_text())["targets"]
        (c,) = t["clauses"]
        assert c["outcome"] == outcome[(t["spec"], c["id"])], command
        assert done.returncode == (1 if c["outcome"] == "failed" else 4), done.stdout
