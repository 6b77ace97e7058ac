"""Every command shown in README.md and docs/ is one a user can paste: each is run here.

Commands come from ``sh``/``console``/``bash`` blocks and from ``run:`` lines of ``yaml``
blocks. Each is run as written, in a scratch directory holding the README's ``my_dropout.py``,
except where running it here would be recursive or slow, and then it is checked as closely:

- ``dropspec check ...`` runs with ``--dry-run`` appended: every value and target is
  validated exactly as in a real run (exit 2 on anything wrong), nothing is checked;
- ``bash .ci/run`` and ``sphinx-build ...`` are what CI runs (compared with ``.ci/run``);
- ``.venv-ci/bin/python -m pytest ...`` runs this project's tests: the every-tier command is
  compared with ``.ci/run``'s, any other one collects the tests it selects (``--collect-only``)
  with this interpreter;
- ``pip install ...`` lines name packages that this environment has installed;
- the README's main command runs in full, in a copy of the repository.

A command no rule covers fails the test: the docs cannot gain an untested command.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)
MAIN = "python3.11 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/dropspec check"


def commands() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        if "_build" in path.parts:
            continue
        for lang, body in FENCE.findall(path.read_text(encoding="utf-8")):
            if lang in ("sh", "console", "bash"):
                lines = body.splitlines()
            elif lang == "yaml":
                lines = [
                    ln.split("run:", 1)[1]
                    for ln in body.splitlines()
                    if ln.strip().startswith("- run:")
                ]
            else:
                continue
            for line in lines:
                cmd = re.sub(r"\s+#.*$", "", line).strip()
                if cmd:
                    out.append((f"{path.relative_to(ROOT)}: {cmd}", cmd))
    return out


COMMANDS = commands()


def readme_target() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = next(
        b for lang, b in FENCE.findall(text) if lang == "python" and b.startswith("# my_dropout.py")
    )
    return body


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("doc-commands")
    (d / "my_dropout.py").write_text(readme_target())
    return d


def bin_dir() -> Path:
    return Path(sys.executable).parent


def run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def ci_script() -> str:
    return (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_docs_show_commands() -> None:
    assert len(COMMANDS) >= 15 and any(cmd == MAIN for _, cmd in COMMANDS)


#: The targets whose real runs are merge's inputs: a full run each (a --clause run, or two
#: runs of one target on one machine, would not merge into "conforms").
_MERGE_TARGETS = ("reference.dropout", "reference.drop_path")


def _merge_inputs(argv: list[str], cwd: Path) -> list[str]:
    """The merge command with its inputs made by real runs (a glob gets two), one per target
    of :data:`_MERGE_TARGETS`, run once and copied where each command wants them."""
    out_path = argv[argv.index("--json") + 1] if "--json" in argv else None
    inputs = [a for a in argv[2:] if a.endswith(".json") and a != out_path]
    made: list[Path] = []
    for name in inputs:
        if "*" in name:  # e.g. reports/*/report.json, expanded by the shell
            made += [cwd / name.replace("*", sub) for sub in ("one", "two")]
        else:
            made.append(cwd / name)
    assert len(made) <= len(_MERGE_TARGETS), made
    for target, path in zip(_MERGE_TARGETS, made, strict=False):
        source = cwd / "_merge_inputs" / f"{target}.json"
        if not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            proc = run(
                [str(bin_dir() / "dropspec"), "check", target, "-q", "--json", str(source)], cwd
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
    return [*argv[:2], *map(str, made), *(["--json", out_path] if out_path else [])]


_PYTEST_RUNS: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = {}


def slow(cmd: str) -> bool:
    """Commands that run the suite for real (power table, pytest runs, merges of real runs)
    or collect this project's tests: the slow tier."""
    words = cmd.split()
    return (
        cmd == "dropspec power"
        or "pytest" in Path(words[0]).name
        or words[:2] == ["dropspec", "merge"]
        or (len(words) > 2 and words[1:3] == ["-m", "pytest"])
    )


@pytest.mark.parametrize(
    ("where", "cmd"),
    [pytest.param(w, c, id=w, marks=[pytest.mark.slow] if slow(c) else []) for w, c in COMMANDS],
)
def test_command_runs_as_written(
    where: str, cmd: str, scratch: Path, request: pytest.FixtureRequest
) -> None:
    if cmd == MAIN:
        pytest.skip("the README's main command has its own test below")
    if cmd == "bash .ci/run":
        assert (ROOT / ".ci" / "run").is_file()
        return
    if cmd.startswith("sphinx-build"):
        flags = shlex.split(cmd)
        assert "sphinx-build" in ci_script() and all(f in ci_script() for f in flags[1:]), cmd
        return
    if cmd == "source .venv/bin/activate":
        return  # the lines after it run `dropspec` from PATH, as here
    argv = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "", cmd))  # CI expressions: not ours
    tool = Path(argv[0]).name
    if tool == "python" and argv[1:3] == ["-m", "pytest"]:
        ci = next(ln for ln in ci_script().splitlines() if "python -m pytest" in ln and "|" in ln)
        if "slow or not slow" in argv:  # every tier: what CI runs
            ci_argv = shlex.split(ci.split("2>&1")[0])
            assert ci_argv[ci_argv.index("pytest") + 1 :] == argv[3:], (cmd, ci)
            return
        proc = run(
            [sys.executable, "-m", "pytest", *argv[3:], "--collect-only", "-p", "no:cacheprovider"],
            ROOT,
        )
        assert proc.returncode == 0, f"{where}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        assert re.search(r"[1-9]\d* tests? collected", proc.stdout), proc.stdout[-2000:]
        if "-m" not in argv[3:] and "tests" in argv[3:]:  # the whole fast tier: slow ones out
            assert re.search(r"\d+/\d+ tests collected \(\d+ deselected\)", proc.stdout), (
                proc.stdout[-2000:]
            )
        return
    if tool == "pip":
        names = [
            a for a in argv[2:] if not a.startswith("-") and not a.startswith(("https://", "."))
        ]
        for name in names:
            dist = re.split(r"[=<>!\[ ]", name)[0]
            assert metadata.version(dist), f"{where}: {dist} is not installable here"
        return
    if cmd == "dropspec power":  # one run, shared with test_targets_and_cli
        proc = request.getfixturevalue("reference_power")
        assert proc.returncode == 0, f"{where}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        return
    if tool == "dropspec":
        argv = [str(bin_dir() / "dropspec"), *argv[1:]]
        if argv[1] == "check":
            argv.append("--dry-run")
            if "--json" in argv:  # e.g. docs/_data/matrix.json, run from the repository root
                (scratch / argv[argv.index("--json") + 1]).parent.mkdir(parents=True, exist_ok=True)
        elif argv[1] == "merge":
            argv = _merge_inputs(argv, scratch)
        proc = run(argv, scratch)
        assert proc.returncode == 0, f"{where}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        return
    if tool == "pytest":  # the same run shown on two pages is run once
        key = tuple(argv[1:])
        if key not in _PYTEST_RUNS:
            _PYTEST_RUNS[key] = run(
                [str(bin_dir() / "pytest"), *argv[1:], "-p", "no:cacheprovider", "-q"], scratch
            )
        proc = _PYTEST_RUNS[key]
        assert proc.returncode == 0, f"{where}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        assert "passed" in proc.stdout
        return
    pytest.fail(f"{where}: no rule runs this command; add one to tests/test_doc_commands.py")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("python3.11") is None, reason="needs python3.11 on PATH")
def test_readme_main_command_in_a_fresh_copy(tmp_path: Path) -> None:
    """The main command exactly as written, in a clean copy of the repository (it creates
    .venv and installs dropspec's dependencies from the package index)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            dst = tmp_path / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    proc = subprocess.run(
        ["bash", "-c", MAIN], cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.rstrip().splitlines()[-1].endswith("-> conforms (exit 0)")
