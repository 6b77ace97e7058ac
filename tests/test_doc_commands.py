"""Every command shown in README.md and docs/ is one a user can paste: each is run here.

What counts as a command:

- each line of a ``sh``/``console``/``bash`` block and each ``run:`` line of a ``yaml`` block;
- each ``python`` block: one whose first line is ``# NAME.py`` is also a file the page's
  commands use;
- each prose command, a backticked span starting with a command (``dropspec``, ``pytest``,
  ``pip``, ``python``, ...).

How each is run: in a fresh temporary directory holding the files of its page (and the
README's ``my_dropout.py``), with ``.venv`` there pointing at this interpreter's environment
(the installed package), checking its exit status (0, or the ``exit N`` its trailing comment
states), the ``"quoted"`` text its comment states, and, for a Python block followed by a short
line and a ``text`` block, that block as its output. Exceptions, each counted and printed by
:func:`test_doc_commands_are_counted`:

- illustrative: marked in the page, ``<!-- not run: REASON -->`` just before a block, or
  ``<!-- not run `COMMAND`: REASON -->`` for commands starting with ``COMMAND`` on any page;
  a template (``OP``, ``TARGET``, ... stand for a value); a name of a command or option in
  prose, not a whole command line (``pip install``, ``--json`` without its value);
- a stated cheaper form: ``<!-- run with --dry-run `COMMAND`: REASON -->`` (or just before a
  block) runs ``dropspec check`` with ``--dry-run``, which validates every target and value as
  the real run does and checks nothing;
- contributor commands run in this repository, as CI runs them: ``bash .ci/run`` and
  ``sphinx-build ...`` are compared with ``.ci/run``, a ``pytest`` run of this project's
  tests collects what it selects, a benchmark's flags are checked against its ``--help``
  (benchmarks run on demand, never as tests: benchmarks/README.md);
- ``pip install`` lines: the named packages are installed here, at the versions pinned.

A command no rule covers fails the test: the docs cannot gain an untested command.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARK = re.compile(r"<!--\s*(not run|run with --dry-run)\s*(?:`([^`]+)`)?\s*:\s*(.*?)\s*-->", re.S)
SPAN = re.compile(r"(?<!`)`([^`\n]+(?:\n[^`\n]+)?)`(?!`)")
TOOLS = {"dropspec", "pytest", "pip", "python", "python3.11", "sphinx-build", "bash", "source"}
#: Words that stand for a value in a template command.
PLACEHOLDERS = {"OP", "TARGET", "SPEC", "NAME", "DIR", "FILE", "PATH", "N", "S", "COMMAND"}
#: Options that take a value: a prose span ending with one names the option, not a command.
VALUED = {"--json", "--dropspec-target", "--dropspec-json", "--index-url", "--clause", "-k"}
MAIN = "python3.11 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/dropspec check"


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    kind: str  # "shell", "yaml", "prose" or "python"
    text: str
    comment: str = ""
    mark: tuple[str, str] | None = None  # ("not run" | "dry-run", reason), from the page
    output: str | None = None  # the stated output of a Python block

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _page_files(text: str) -> dict[str, str]:
    out = {}
    for lang, body in FENCE.findall(text):
        m = re.match(r"# ([\w.-]+\.py)\b", body)
        if lang == "python" and m:
            out[m.group(1)] = body
    return out


#: File blocks by page; every page also sees the README's (``my_dropout.py``).
FILES = {p.relative_to(ROOT).as_posix(): _page_files(p.read_text("utf-8")) for p in DOCS}


def _is_command(span: str) -> bool:
    first = span.split()[0]
    return first in TOOLS or bool(re.fullmatch(r"\.?[\w.-]*/bin/[\w.-]+", first))


def _named_marks() -> list[tuple[str, str, str]]:
    """``(kind, command prefix, reason)`` of every mark naming a command, on any page."""
    return [
        ("dry-run" if kind.startswith("run with") else "not run", named, reason)
        for path in DOCS
        for kind, named, reason in MARK.findall(path.read_text("utf-8"))
        if named
    ]


def _mark_for(text: str, before: str, named: list[tuple[str, str, str]]) -> tuple[str, str] | None:
    tail = re.search(r"<!--(?:(?!<!--).)*?-->\s*\Z", before, re.S)  # a mark just before the block
    if tail and (m := MARK.fullmatch(tail.group(0).strip())) and not m.group(2):
        return ("dry-run" if m.group(1).startswith("run with") else "not run", m.group(3))
    for kind, prefix, reason in named:
        if text.startswith(prefix):
            return (kind, reason)
    return None


def commands() -> list[Command]:
    named = _named_marks()
    out: list[Command] = []
    for path in DOCS:
        page = path.relative_to(ROOT).as_posix()
        text = path.read_text("utf-8")
        blocks = list(FENCE.finditer(text))
        for i, m in enumerate(blocks):
            lang, body = m.group(1), m.group(2)
            start = text.count("\n", 0, m.start(2)) + 1
            block_mark = _mark_for("", text[: m.start()], [])
            if lang == "python":
                nxt = blocks[i + 1] if i + 1 < len(blocks) else None
                output = None
                if nxt and nxt.group(1) == "text":
                    between = text[m.end() : nxt.start()].strip()
                    if len(between) <= 40:  # "prints", "which prints:"
                        output = nxt.group(2)
                out.append(Command(page, start, "python", body, mark=block_mark, output=output))
                continue
            if lang not in ("sh", "console", "bash", "yaml"):
                continue
            for k, line in enumerate(body.splitlines()):
                if lang == "yaml":
                    if not line.strip().startswith("- run:"):
                        continue
                    line = line.split("run:", 1)[1]
                cmd, _, comment = line.partition("  #")
                cmd = cmd.strip()
                if cmd:
                    mark = block_mark or _mark_for(cmd, "", named)
                    kind = "yaml" if lang == "yaml" else "shell"
                    out.append(Command(page, start + k, kind, cmd, comment.strip(), mark))
        prose = FENCE.sub(lambda b: "\n" * b.group(0).count("\n"), text)
        prose = re.sub(r"<!--.*?-->", lambda c: "\n" * c.group(0).count("\n"), prose, flags=re.S)
        for s in SPAN.finditer(prose):
            span = " ".join(s.group(1).split())
            if _is_command(span):
                line = prose.count("\n", 0, s.start()) + 1
                out.append(Command(page, line, "prose", span, mark=_mark_for(span, "", named)))
    return out


COMMANDS = commands()


def bin_dir() -> Path:
    return Path(sys.executable).parent


def run(argv: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def ci_script() -> str:
    return (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def illustrative(cmd: Command) -> str | None:
    """Why ``cmd`` is not run at all, or None."""
    if cmd.mark and cmd.mark[0] == "not run":
        return cmd.mark[1]
    words = cmd.text.split()
    holes = sorted({w.strip("\"'") for w in words} & PLACEHOLDERS) or ["..."] * ("..." in words)
    if holes:
        return f"a template: {', '.join(holes)} stands for a value"
    if cmd.kind == "prose" and (
        len(words) == 1
        or words[-1] in VALUED
        or words
        in (["dropspec", "check"], ["dropspec", "merge"], ["pip", "install"], ["python", "-P"])
    ):
        return "names a command or an option in prose, not a whole command line"
    return None


def how(cmd: Command) -> str:
    """How ``cmd`` is checked: "illustrative", "dry-run", "ci" (contributor commands, as CI
    runs them), "pins" (pip lines) or "run"."""
    if illustrative(cmd):
        return "illustrative"
    if cmd.kind == "python":
        return "run"
    argv = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "", cmd.text))
    tool = Path(argv[0]).name
    if tool == "pip":
        return "pins"
    repo = cmd.text == "bash .ci/run" or tool == "sphinx-build" or _benchmark(argv)
    pytest_here = ("pytest" in argv[:3] or tool == "pytest") and any(
        a.startswith("tests") for a in argv
    )
    if repo or pytest_here or argv[0].startswith(".venv-ci/"):
        return "ci"
    if cmd.mark and cmd.mark[0] == "dry-run" and argv[1:2] == ["check"]:
        return "dry-run"
    return "run"


def _benchmark(argv: list[str]) -> bool:
    return len(argv) > 1 and argv[1].startswith("benchmarks/")


def slow(cmd: Command) -> bool:
    """Commands that run checks, tests or frameworks: the slow tier."""
    if how(cmd) in ("illustrative", "pins"):
        return False
    words = cmd.text.split()
    quick = {"list", "explain", "--version", "--help"}
    if how(cmd) == "dry-run" or (len(words) > 1 and words[1] in quick and "dropspec" in words[0]):
        return False
    return not (how(cmd) == "ci" and (cmd.text == "bash .ci/run" or "sphinx-build" in cmd.text))


def summary() -> str:
    """How many commands the docs show and how each is checked; illustrative ones with why.
    tests/conftest.py prints it at the end of a run that included this file."""
    counts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for cmd in COMMANDS:
        counts[how(cmd)] = counts.get(how(cmd), 0) + 1
        if why := illustrative(cmd):
            reasons[why] = reasons.get(why, 0) + 1
    lines = [
        f"doc commands: {len(COMMANDS)} in README.md and docs/: {counts.get('run', 0)} run as"
        f" written, {counts.get('dry-run', 0)} with --dry-run as the docs state,"
        f" {counts.get('ci', 0)} contributor commands as CI runs them, {counts.get('pins', 0)}"
        f" pip lines checked against the pins, {counts.get('illustrative', 0)} illustrative:"
    ]
    lines += [f"  {n:3d}  {why}" for why, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


def test_doc_commands_are_counted() -> None:
    """The docs show commands of every kind, each has a rule, every illustrative one says why."""
    assert all(illustrative(c) != "" for c in COMMANDS)
    assert sum(how(c) == "run" for c in COMMANDS) >= 30
    assert any(c.text == MAIN for c in COMMANDS)
    assert {c.kind for c in COMMANDS} == {"shell", "yaml", "prose", "python"}
    assert summary().startswith(f"doc commands: {len(COMMANDS)} ")


#: The targets whose real runs are merge's inputs: a full run each (a --clause run, or two
#: runs of one target on one machine, would not merge into "conforms").
_MERGE_TARGETS = ("reference.dropout", "reference.drop_path")


@pytest.fixture(scope="module")
def merge_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("merge-inputs")


def _merge_inputs(argv: list[str], cwd: Path, reports: Path) -> list[str]:
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
        source = reports / f"{target}.json"
        if not source.exists():
            proc = run(
                [str(bin_dir() / "dropspec"), "check", target, "-q", "--json", str(source)], cwd
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
    return [*argv[:2], *map(str, made), *(["--json", out_path] if out_path else [])]


def _scratch(tmp: Path, page: str) -> Path:
    """A fresh directory with the page's files and ``.venv`` pointing at this environment."""
    for name, body in {**FILES["README.md"], **FILES[page]}.items():
        (tmp / name).write_text(body, encoding="utf-8")
    (tmp / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return tmp


def _check_ci(cmd: Command, argv: list[str]) -> None:
    tool = Path(argv[0]).name
    if cmd.text == "bash .ci/run":
        assert (ROOT / ".ci" / "run").is_file()
        return
    if tool == "sphinx-build":
        assert "sphinx-build" in ci_script() and all(f in ci_script() for f in argv[1:]), cmd
        return
    if _benchmark(argv):  # flags as the benchmark's --help lists them
        proc = run([sys.executable, argv[1], "--help"], ROOT, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for flag in (a for a in argv[2:] if a.startswith("--")):
            assert flag in proc.stdout, f"{cmd.where}: {argv[1]} has no {flag}"
        return
    args = argv[argv.index("pytest") + 1 :] if "pytest" in argv else argv[1:]
    if "slow or not slow" in args:  # every tier: what CI runs
        ci = next(ln for ln in ci_script().splitlines() if "python -m pytest" in ln and "|" in ln)
        ci_argv = shlex.split(ci.split("2>&1")[0])
        assert ci_argv[ci_argv.index("pytest") + 1 :] == args, (cmd, ci)
        return
    proc = run(
        [sys.executable, "-m", "pytest", *args, "--collect-only", "-p", "no:cacheprovider"], ROOT
    )
    assert proc.returncode == 0, f"{cmd.where}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    assert re.search(r"[1-9]\d* tests? collected", proc.stdout), proc.stdout[-2000:]
    if "-m" not in args and "tests" in args:  # the whole fast tier: slow ones out
        assert re.search(r"\d+/\d+ tests collected \(\d+ deselected\)", proc.stdout)


def _requirement_pins() -> dict[str, str]:
    pins = {}
    for path in (ROOT / "requirements").glob("*.txt"):
        for line in path.read_text("utf-8").splitlines():
            m = re.match(r"([A-Za-z0-9_.\[\]-]+)==([^\s;#]+)", line.strip())
            if m:
                pins[_norm(m.group(1).split("[")[0])] = m.group(2)
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _check_pins(cmd: Command, argv: list[str]) -> None:
    """A pip line installs pinned versions, the ones requirements/ pins, and this environment
    has them; ``-e .[extra]`` installs the extra's pins."""
    pins = _requirement_pins()
    names = [a for a in argv[2:] if not a.startswith("-") and not a.startswith("https://")]
    extras = [a for a in argv[2:] if re.fullmatch(r"\.?\[?[\w,]*\]?", a.strip("\"'")) and "." in a]
    for name in names:
        if name.startswith("."):
            continue
        dist, _, version = name.partition("==")
        assert version, f"{cmd.where}: {dist} is not pinned"
        assert pins.get(_norm(dist)) == version, f"{cmd.where}: {name}, requirements pin {pins}"
        assert metadata.version(dist).split("+")[0] == version, f"{cmd.where}: {dist}"
    for spec in extras:
        for extra in re.findall(r"\[([\w,]+)\]", spec):
            for req in _extras()[extra.split(",")[0]]:
                dist, _, version = req.partition("==")
                assert metadata.version(dist).split("+")[0] == version, f"{cmd.where}: {req}"


def _extras() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    extras: dict[str, list[str]] = data["project"]["optional-dependencies"]
    return extras


def _stated(cmd: Command, proc: subprocess.CompletedProcess[str]) -> None:
    """The exit status (0 unless the comment says ``exit N``), the comment's quoted text and a
    Python block's printed output, as the page states them."""
    m = re.search(r"\bexit (\d+)", cmd.comment)
    want = int(m.group(1)) if m else 0
    out = proc.stdout + proc.stderr
    assert proc.returncode == want, f"{cmd.where}: exit {proc.returncode}\n{out[-4000:]}"
    for quoted in re.findall(r'"([^"]+)"', cmd.comment):
        assert quoted in out, f"{cmd.where}: {quoted!r} not in the output\n{out[-4000:]}"
    if cmd.output is not None:
        got = [ln.rstrip() for ln in proc.stdout.strip().splitlines()]
        assert got == [ln.rstrip() for ln in cmd.output.strip().splitlines()], proc.stdout


_RUNS: dict[tuple[str, str], subprocess.CompletedProcess[str]] = {}


@pytest.mark.parametrize(
    "cmd",
    [pytest.param(c, id=c.where, marks=[pytest.mark.slow] if slow(c) else []) for c in COMMANDS],
)
def test_command_runs_as_written(
    cmd: Command, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if why := illustrative(cmd):
        assert why
        return
    if cmd.text == MAIN:
        pytest.skip("the README's main command has its own test below")
    scratch = _scratch(tmp_path, cmd.page)
    if cmd.kind == "python":
        name = next(iter(_page_files("```python\n" + cmd.text + "```\n")), "block.py")
        (scratch / name).write_text(cmd.text, encoding="utf-8")
        _stated(cmd, run([sys.executable, name], scratch))
        return
    text = re.sub(r"\$\{\{[^}]*\}\}", "", cmd.text)  # CI expressions: not ours
    argv = shlex.split(text)
    mode = how(cmd)
    if mode == "ci":
        _check_ci(cmd, argv)
        return
    if mode == "pins":
        _check_pins(cmd, argv)
        return
    if cmd.text == "dropspec power":  # one run, shared with test_targets_and_cli
        proc = request.getfixturevalue("reference_power")
        assert proc.returncode == 0, f"{cmd.where}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        return
    if mode == "dry-run":
        argv.append("--dry-run")
    if "--json" in argv:  # e.g. docs/_data/matrix.json
        (scratch / argv[argv.index("--json") + 1]).parent.mkdir(parents=True, exist_ok=True)
    if argv[1:2] == ["merge"]:
        argv = _merge_inputs(argv, scratch, request.getfixturevalue("merge_reports"))
    key = (cmd.page if "my_" in cmd.text else "", shlex.join(argv))
    if key not in _RUNS:  # the same command on two pages is run once
        _RUNS[key] = run(["bash", "-c", shlex.join(argv)], scratch)
    _stated(cmd, _RUNS[key])


def test_readme_installs_are_the_requirements_pins() -> None:
    """One home for the framework versions: each README/doc `pip install` names a package at
    the version requirements/ pins (the pins are held by the command test above too)."""
    pinned = [c for c in COMMANDS if how(c) == "pins"]
    readme = [c for c in pinned if c.page == "README.md"]
    assert {"torch", "tensorflow-cpu", "jax", "flax"} <= {
        _norm(w.partition("==")[0]) for c in readme for w in c.text.split()
    }
    for c in pinned:
        _check_pins(c, shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "", c.text)))


def test_docs_extra_pins_what_the_docs_build_uses() -> None:
    """``pip install -e .[docs]`` brings Sphinx and every extension and theme docs/conf.py
    names, at requirements/' pins."""
    conf = ast.parse((ROOT / "docs" / "conf.py").read_text("utf-8"))
    found: dict[str, object] = {}
    for node in conf.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    local = {p.stem for p in (ROOT / "docs" / "_ext").glob("*.py")}
    exts = found.get("extensions", [])
    assert isinstance(exts, list)
    needed = {"sphinx"} | {_norm(e.split(".")[0]) for e in exts if e.split(".")[0] not in local}
    needed.discard("sphinx-ext")
    theme = found.get("html_theme", "alabaster")
    if theme not in ("alabaster", "classic", "basic", "nature", "haiku"):
        needed.add(_norm(str(theme)))
    if (ROOT / "docs" / "figures.py").exists():
        needed.add("matplotlib")
    pins = _requirement_pins()
    docs = {_norm(r.partition("==")[0]): r.partition("==")[2] for r in _extras()["docs"]}
    for name in needed:
        assert name in docs, f"the docs extra lacks {name} (docs/conf.py uses it)"
        assert docs[name] == pins[name], f"{name}: extra {docs[name]}, requirements {pins[name]}"


def _ci_example() -> str:
    guide = (ROOT / "docs" / "guide.md").read_text("utf-8")
    return next(b for lang, b in FENCE.findall(guide) if lang == "yaml" and "matrix" in b)


#: Packages with no wheel for a platform: (package, os label prefix), with the evidence.
NO_WHEEL = {
    # tensorflow-cpu publishes Linux and Windows x86-64 wheels only; macos-latest is arm64.
    ("tensorflow-cpu", "macos"): "https://pypi.org/project/tensorflow-cpu/#files",
}


def test_ci_example_installs_on_every_platform_it_names() -> None:
    """The guide's GitHub Actions example: each os x stack job it makes installs (no package
    without a wheel for its os), and its stacks are pinned as requirements/ pins them."""
    body = _ci_example()
    oses = re.findall(r"[\w.-]+", re.search(r"os: \[([^\]]*)\]", body).group(1))  # type: ignore[union-attr]
    stacks = re.findall(r'"([^"]+)"', re.search(r"stack: \[([^\]]*)\]", body).group(1))  # type: ignore[union-attr]
    rows = re.search(r"exclude:[^\n]*\n((?:[ \t]+- \{[^\n]*\n)+)", body)
    excluded = set(
        re.findall(r'\{os: ([\w.-]+), stack: "([^"]+)"\}', rows.group(1) if rows else "")
    )
    pins = _requirement_pins()
    assert oses and stacks
    for stack in stacks:
        for word in stack.split():
            dist, _, version = word.partition("==")
            assert version == pins[_norm(dist)], f"stack {stack!r}: {word} not pinned as required"
        for os_ in oses:
            if (os_, stack) in excluded:
                continue
            for word in stack.split():
                for (pkg, prefix), why in NO_WHEEL.items():
                    bad = word.partition("==")[0] == pkg and os_.startswith(prefix)
                    assert not bad, f"{os_} x {stack!r}: {pkg} has no wheel there ({why})"


def _guide_target_dir(tmp: Path) -> Path:
    return _scratch(tmp, "docs/guide.md")


@pytest.mark.slow
def test_replay_line_reproduces_a_failure(tmp_path: Path) -> None:
    """The guide's replay line (section 3), made by a real failure of the guide's target with
    its scale written as ``1 - rate``: both of its commands fail the clause again (exit 1)."""
    scratch = _guide_target_dir(tmp_path)
    src = (scratch / "my_dropout.py").read_text("utf-8")
    wrong = src.replace("x / x.dtype.type(1.0 - rate)", "x * x.dtype.type(1.0 - rate)")
    assert wrong != src
    (scratch / "my_dropout.py").write_text(wrong, encoding="utf-8")
    proc = run(
        ["dropspec", "check", "my_dropout.py:my_dropout", "--clause", "DROPOUT-UNBIASED"], scratch
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if "replay: " in ln)
    m = re.search(r"replay: (dropspec check .*?) \(or (pytest --dropspec-target .*)\)$", line)
    assert m, line
    guide = (ROOT / "docs" / "guide.md").read_text("utf-8")
    shown = re.search(r"replay: (dropspec check .*?--clause DROPOUT-UNBIASED)", guide, re.S)
    assert shown and " ".join(shown.group(1).split()) == m.group(1), (shown, m.group(1))
    for replay in m.groups():
        again = run(
            ["bash", "-c", replay + " -p no:cacheprovider" * replay.startswith("pytest")], scratch
        )
        assert again.returncode == 1, f"{replay}\n{again.stdout[-3000:]}"
        assert not re.search(r"-\d+ selected", again.stdout), again.stdout[-2000:]
        assert "1 failed" in again.stdout


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


def test_files_the_docs_cite_are_in_the_repository() -> None:
    """A backticked or linked file path (``benchmarks/README.md``) names a file of this
    repository (from its root, the page's folder or the package) or of an installed package
    (``timm/layers/drop.py``): no page cites a file a reader cannot open, as the conventions
    page once cited an unpublished research file."""
    tracked = set(
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )
    cited = re.compile(
        r"`([\w.-]+(?:/[\w.-]+)+\.(?:md|py|json|toml|txt))`|\]\(([\w./-]+\.(?:md|py|json|toml|txt))\)"
    )
    missing = []
    for path in DOCS:
        for m in cited.finditer(FENCE.sub("", path.read_text("utf-8"))):
            name = m.group(1) or m.group(2)
            here = (path.parent / name).resolve()
            roots = [
                name,
                f"dropspec/{name}",
                here.relative_to(ROOT).as_posix() if here.is_relative_to(ROOT) else "",
            ]
            if any(r in tracked for r in roots):
                continue
            if importlib.util.find_spec(name.split("/")[0]) is not None:
                continue
            missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing
