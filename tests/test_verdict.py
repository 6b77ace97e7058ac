"""A verdict says exactly what it covered (issue 22): "conforms" (exit 0) only when every MUST
clause that applies to a target was checked and passed; a run that checked a part of them
(``--clause``, ``--allow-missing`` with a framework missing, a pytest ``-k`` selection) says
"N of M MUST clauses checked, no failure" and exits 4, in the terminal and in the report.

End to end: the real CLI (``python -m dropspec.cli``) and pytest with the plugin, in
subprocesses, on a small correct target written here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from clirun import cli, report

from dropspec.spec import Level, get_op

#: MUST clauses of dropout that bind a NumPy target declaring the default options, by the
#: declaration; GRADIENT turns out not applicable when run (NumPy has no autodiff), so one
#: fewer runs. A clause the run left out is counted by the declaration alone.
_DROPOUT = get_op("dropout")
DECLARED_MUST = sum(
    c.level == Level.MUST and c.applies(_DROPOUT.resolve_options({})) for c in _DROPOUT.clauses
)
DROPOUT_MUST = DECLARED_MUST - 1

TARGETS = textwrap.dedent("""
    import dropspec

    @dropspec.target("dropout", name="mine")
    def f(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    @dropspec.target("dropout", name="needs_missing", requires=("no_such_package_xyz",))
    def needs_missing(x, rate, *, training, seed):
        return x
""")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_text(TARGETS)
    return tmp_path


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.rstrip().splitlines()[-1]


def test_a_full_run_conforms(files: Path) -> None:
    proc = cli("check", "a.py:f", "--json", "r.json", cwd=files)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert last_line(proc).endswith("-> conforms (exit 0)"), out
    data = report(files / "r.json")
    assert data["exit_status"] == 0 and data["complete"] is True
    s = data["summary"]
    assert s["must_checked"] == s["must_applicable"] == DROPOUT_MUST, s
    assert s["must_not_selected"] == 0


def test_one_clause_is_a_partial_run_not_conforms(files: Path) -> None:
    proc = cli("check", "a.py:f", "--clause", "DROPOUT-SHAPE", "--json", "r.json", cwd=files)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert last_line(proc).endswith("-> partial (exit 4)"), out
    assert "-> conforms" not in out and "every MUST clause that applies" not in out
    assert f"1 of {DECLARED_MUST} MUST clauses checked, no failure" in out
    data = report(files / "r.json")
    assert data["exit_status"] == 4 == data["summary"]["exit_status"]
    s = data["summary"]
    assert (s["must_checked"], s["must_applicable"]) == (1, DECLARED_MUST)
    assert s["must_not_selected"] == DECLARED_MUST - 1


def test_a_clause_of_another_op_is_named_per_target(files: Path) -> None:
    proc = cli("check", "a.py:f", "reference.drop_path", "--clause", "DROPPATH-SHAPE", cwd=files)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert "-> conforms" not in out and "every MUST clause that applies" not in out
    # the dropout target: nothing of its op was selected, said so by name
    assert f"mine: 0 of {DECLARED_MUST} MUST clauses checked" in out, out
    assert "the selection names none of op dropout's clauses" in out, out
    assert "reference.drop_path: 1 of " in out, out


def test_a_clause_of_another_op_alone(files: Path) -> None:
    proc = cli("check", "a.py:f", "--clause", "DROPPATH-SHAPE", cwd=files)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert f"0 of {DECLARED_MUST} MUST clauses checked" in out
    assert "none of op dropout's clauses" in out
    assert "-> conforms" not in out


def test_allow_missing_with_nothing_checked_is_not_conforms(files: Path) -> None:
    proc = cli("check", "a.py:needs_missing", "--allow-missing", "--json", "r.json", cwd=files)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert "-> conforms" not in out and "every MUST clause that applies" not in out
    assert f"0 of {DECLARED_MUST} MUST clauses checked, no failure" in out
    assert report(files / "r.json")["exit_status"] == 4


def test_dry_run_of_a_selection_says_it_would_be_partial(files: Path) -> None:
    proc = cli("check", "a.py:f", "--clause", "DROPOUT-SHAPE", "--dry-run", cwd=files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "partial run" in proc.stdout and "exit 4" in proc.stdout


def test_plugin_selection_from_pytest_addopts_is_partial_in_the_report(files: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--dropspec-target=a.py:f",
            "--dropspec-json=r.json",
        ],
        cwd=files,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTEST_ADDOPTS": "-k SHAPE"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out  # pytest's own status: the selected items passed
    data = report(files / "r.json")
    assert data["exit_status"] == 4 == data["summary"]["exit_status"], data["summary"]
    s = data["summary"]
    assert (s["must_checked"], s["must_applicable"]) == (1, DECLARED_MUST), s
    assert f"1 of {DECLARED_MUST} MUST clauses checked, no failure" in out
    assert "-> partial (exit 4)" in out and "-> conforms" not in out
