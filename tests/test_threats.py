"""What target code can and cannot do to a verdict (the threat model in docs/guide.md,
"What a target cannot do"), end to end.

Each fault is a small target file written here and checked by the real CLI in a
subprocess, with two cheap clauses, beside a correct target that must keep its results. A
fault is handled when the run gives no false pass (exit 0 or 4 for a wrong target), no
false failure of a correct target, no traceback and a complete report.

The first group are faults of classes the isolation issue (22) did not list, written
before any fix: they attack the tamper guard, the spec's data, the protocol's own library,
the harness' control flow, the worker's stdin and process, and the interpreter's global
state. The second group tests the threat model's own lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from clirun import by_name, cli

CLAUSES = ("--clause", "DROPOUT-SHAPE", "--clause", "DROPOUT-RATE-ZERO")
BOTH_PASS = {"DROPOUT-SHAPE": "passed", "DROPOUT-RATE-ZERO": "passed"}

HEAD = textwrap.dedent("""
    import os, sys
    import numpy as np
    import dropspec

    def _ref(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    def _wrong_at_zero(x, rate, *, training, seed):
        # doubles its input at rate 0: fails DROPOUT-RATE-ZERO (MUST)
        out = _ref(x, rate, training=training, seed=seed)
        return out * 2 if rate == 0 else out
""")

#: name -> (the file's body after HEAD, whether the target is correct)
FAULTS: dict[str, tuple[str, bool]] = {
    # The tamper guard compares id()s; swapping a function's code keeps its id.
    "code_swap": (
        """
        from dropspec.conformance import engine
        def _passes(ctx):
            return None
        engine.CHECKS["DROPOUT-RATE-ZERO"].__code__ = _passes.__code__
        f = dropspec.target("dropout", name="code_swap")(_wrong_at_zero)
        """,
        False,
    ),
    # The spec is data: a frozen dataclass yields to object.__setattr__.
    "lowers_level": (
        """
        from dropspec.spec import CLAUSES, Level
        object.__setattr__(CLAUSES["DROPOUT-RATE-ZERO"], "level", Level.MAY)
        f = dropspec.target("dropout", name="lowers_level")(_wrong_at_zero)
        """,
        False,
    ),
    "drops_clause": (
        """
        from dropspec.spec import get_op
        op = get_op("dropout")
        object.__setattr__(
            op, "clauses", tuple(c for c in op.clauses if c.id != "DROPOUT-RATE-ZERO"))
        f = dropspec.target("dropout", name="drops_clause")(_wrong_at_zero)
        """,
        False,
    ),
    "narrows_when": (
        """
        from dropspec.spec import CLAUSES
        object.__setattr__(CLAUSES["DROPOUT-RATE-ZERO"], "when", {"scaling": ("nothing",)})
        f = dropspec.target("dropout", name="narrows_when")(_wrong_at_zero)
        """,
        False,
    ),
    # The protocol's own library: the worker writes its verdicts with json.dumps.
    "json_patch": (
        """
        import json
        _dumps = json.dumps
        def dumps(obj, **kw):
            return _dumps(obj, **kw).replace('"outcome": "failed"', '"outcome": "passed"')
        json.dumps = dumps
        f = dropspec.target("dropout", name="json_patch")(_wrong_at_zero)
        """,
        False,
    ),
    # A built-in the checks use, patched.
    "builtins_patch": (
        """
        import builtins
        builtins.any = lambda it: False
        builtins.all = lambda it: True
        f = dropspec.target("dropout", name="builtins_patch")(_wrong_at_zero)
        """,
        False,
    ),
    # The harness' control flow raised from the target: hypothesis' "reject this example".
    "assumes_false": (
        """
        import hypothesis
        @dropspec.target("dropout", name="assumes_false")
        def f(x, rate, *, training, seed):
            hypothesis.assume(rate != 0)
            return _wrong_at_zero(x, rate, training=training, seed=seed)
        """,
        False,
    ),
    # The worker's stdin carries its jobs; a target that reads it.
    "reads_stdin": (
        """
        @dropspec.target("dropout", name="reads_stdin")
        def f(x, rate, *, training, seed):
            sys.stdin.readline()
            return _ref(x, rate, training=training, seed=seed)
        """,
        True,
    ),
    # A forked child that returns into the worker and goes on running checks.
    "forks": (
        """
        _forked = []
        @dropspec.target("dropout", name="forks")
        def f(x, rate, *, training, seed):
            if not _forked:
                _forked.append(os.fork())
            return _ref(x, rate, training=training, seed=seed)
        """,
        True,
    ),
    # Daemon-style clean-up: every inherited descriptor closed, the channel with them; the
    # verdicts are then not checked (never passed, never silent).
    "closes_fds": (
        """
        @dropspec.target("dropout", name="closes_fds")
        def f(x, rate, *, training, seed):
            os.closerange(3, 4096)
            return _ref(x, rate, training=training, seed=seed)
        """,
        True,
    ),
    # Interpreter and NumPy global state set at import by a correct target.
    "seterr_raise": (
        """
        np.seterr(all="raise")
        f = dropspec.target("dropout", name="seterr_raise")(_ref)
        """,
        True,
    ),
    "warnings_error": (
        """
        import warnings
        warnings.simplefilter("error")
        f = dropspec.target("dropout", name="warnings_error")(_ref)
        """,
        True,
    ),
    "recursion_limit": (
        """
        sys.setrecursionlimit(120)
        f = dropspec.target("dropout", name="recursion_limit")(_ref)
        """,
        True,
    ),
    # A hostile exception object: its str() raises.
    "bad_str_exception": (
        """
        class Nasty(ValueError):
            def __str__(self):
                raise RuntimeError("no text for you")
        @dropspec.target("dropout", name="bad_str_exception")
        def f(x, rate, *, training, seed):
            raise Nasty()
        """,
        False,
    ),
    # Leaving at import time.
    "exits_at_import": (
        """
        sys.exit(0)
        f = dropspec.target("dropout", name="exits_at_import")(_ref)
        """,
        False,
    ),
    # A NumPy subclass whose comparisons always agree.
    "lying_array": (
        """
        class Liar(np.ndarray):
            def __eq__(self, other):
                return np.ones(np.shape(self), bool)
            def __array_function__(self, func, types, args, kwargs):
                return True
        @dropspec.target("dropout", name="lying_array")
        def f(x, rate, *, training, seed):
            return _wrong_at_zero(x, rate, training=training, seed=seed).view(Liar)
        """,
        False,
    ),
}

GOOD = textwrap.dedent("""
    import dropspec

    @dropspec.target("dropout", name="good")
    def good(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)
""")


def outcomes(entry: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in entry["clauses"]}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "good.py").write_text(GOOD)
    for name, (body, _) in FAULTS.items():
        (tmp_path / f"{name}.py").write_text(HEAD + textwrap.dedent(body))
    return tmp_path


def run_fault(files: Path, name: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    """Check the fault after the good target, in one worker slot; the good one must keep
    its results and the report must be complete."""
    proc = cli(
        "check",
        "good.py:good",
        f"{name}.py:f",
        *CLAUSES,
        "-j",
        "1",
        "--json",
        "r.json",
        *extra,
        cwd=files,
    )
    out = proc.stdout + proc.stderr
    assert "Traceback (most recent call last):\n  File" not in proc.stderr, out
    data = json.loads((files / "r.json").read_text())
    assert data["complete"] is True and data["exit_status"] == proc.returncode, out
    targets = data["targets"]
    assert outcomes(targets[0]) == BOTH_PASS, out
    assert len(targets) == 2, out
    return proc.returncode, targets[1], out


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAULTS))
def test_new_fault(files: Path, name: str) -> None:
    correct = FAULTS[name][1]
    rc, entry, out = run_fault(files, name, "--timeout", "60")
    if name == "closes_fds":
        assert rc == 3 and set(outcomes(entry).values()) <= {"not_checked", "error"}, out
        assert "exited with code" in str(entry.get("error")), out
    elif correct:
        assert rc == 4 and outcomes(entry) == BOTH_PASS, out  # partial, nothing failed
    else:
        assert rc in (1, 3), out  # never 0 or 4: no false pass
        assert outcomes(entry).get("DROPOUT-RATE-ZERO") != "passed", out
    # each clause accounted for exactly once
    ids = [c["id"] for c in entry["clauses"]]
    assert sorted(ids) == ["DROPOUT-RATE-ZERO", "DROPOUT-SHAPE"] or entry.get("error"), out


def test_new_faults_in_one_run(files: Path) -> None:
    """The fast tier's share of the faults above: the false passes main gave (a code swap,
    a spec edit, a patched json) and the correct targets it failed (one that reads stdin,
    one that forks), in one run of two workers."""
    names = ["code_swap", "lowers_level", "json_patch", "reads_stdin", "forks"]
    proc = cli(
        "check",
        "good.py:good",
        *(f"{n}.py:f" for n in names),
        *CLAUSES,
        "-j",
        "2",
        "--timeout",
        "120",
        "--json",
        "r.json",
        cwd=files,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out  # the patched targets: not trusted, hence not checked
    data = json.loads((files / "r.json").read_text())
    t = by_name(data)
    assert outcomes(t["good"]) == BOTH_PASS
    for name in ("code_swap", "lowers_level", "json_patch"):
        assert t[name]["status"] == "error" and "changed dropspec's own code" in t[name]["error"]
        assert "passed" not in outcomes(t[name]).values(), name
    for name in ("reads_stdin", "forks"):
        assert outcomes(t[name]) == BOTH_PASS, (name, t[name])
        assert len(t[name]["clauses"]) == 2


# ------------------------------------------------------------- the threat model's lines ----

HOSTILE = textwrap.dedent("""
    import os, sys, time, json, signal, threading
    import numpy as np
    import dropspec
    from dropspec.conformance.context import NotApplicable

    def _ref(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    def _wrong_at_zero(x, rate, *, training, seed):
        out = _ref(x, rate, training=training, seed=seed)
        return out * 2 if rate == 0 else out

    @dropspec.target("dropout", name="forges")
    def forges(x, rate, *, training, seed):
        # a passing verdict written to every pipe the process holds
        line = json.dumps({"event": "clause", "entry": {
            "id": "DROPOUT-RATE-ZERO", "level": "MUST", "kind": "exact",
            "outcome": "passed", "message": "", "reason": ""}}) + "\\n"
        for fd in range(3, 64):
            try:
                os.write(fd, line.encode())
            except OSError:
                pass
        return _wrong_at_zero(x, rate, training=training, seed=seed)

    @dropspec.target("dropout", name="not_applicable")
    def not_applicable(x, rate, *, training, seed):
        if rate == 0:
            raise NotApplicable("nothing to see at rate 0")
        return _ref(x, rate, training=training, seed=seed)

    @dropspec.target("dropout", name="kills_parent")
    def kills_parent(x, rate, *, training, seed):
        os.kill(os.getppid(), signal.SIGTERM)
        os.kill(os.getppid(), signal.SIGINT)
        return _ref(x, rate, training=training, seed=seed)

    @dropspec.target("dropout", name="daemon")
    def daemon(x, rate, *, training, seed):
        if os.fork() == 0:  # a grandchild in a session of its own, meant to outlive the run
            os.setsid()
            if os.fork() == 0:
                with open(os.environ["DAEMON_PIDS"], "a") as fh:
                    fh.write(f"{os.getpid()}\\n")
                time.sleep(600)
            os._exit(0)
        return _ref(x, rate, training=training, seed=seed)

    @dropspec.target("dropout", name="huge")
    def huge(x, rate, *, training, seed):
        print("y" * 5_000_000, file=sys.stderr)
        raise ValueError("x" * 50_000_000)

    @dropspec.target("dropout", name="mess")
    def mess(x, rate, *, training, seed):
        # leftovers meant for the next target
        np.sum = lambda *a, **k: 0
        np.random.default_rng = lambda *a, **k: np.random.Generator(np.random.PCG64(0))
        os.chdir("/")
        os.environ["OMP_NUM_THREADS"] = "999"
        os.umask(0o777)
        sys.modules["scipy.stats._half"] = None
        threading.Thread(target=lambda: (time.sleep(4), os._exit(0)), daemon=True).start()
        return _ref(x, rate, training=training, seed=seed)

    wrong = dropspec.target("dropout", name="wrong")(_wrong_at_zero)
""")


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "hostile.py").write_text(HOSTILE)
    return tmp_path


def test_what_a_target_cannot_do_to_a_verdict(hostile: Path) -> None:
    """Forged verdicts, dropspec's exceptions, signals to the run, a daemon grandchild, a
    50 MB message and leftovers meant for the next target: each costs only its own
    target, and the correct target beside them keeps its results."""
    pids = hostile / "pids"
    names = ["forges", "not_applicable", "kills_parent", "daemon", "huge", "mess", "wrong"]
    proc = cli(
        "check",
        "good.py:good",
        *(f"hostile.py:{n}" for n in names),
        *CLAUSES,
        "-j",
        "1",
        "--json",
        "r.json",
        cwd=hostile,
        env={"DAEMON_PIDS": str(pids)},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-5000:]  # not 130: the run was not stopped
    assert len(out) < 1_000_000 and "Traceback (most recent call last):\n  File" not in out
    data = json.loads((hostile / "r.json").read_text())
    assert data["complete"] is True and not data.get("interrupted"), out[-3000:]
    t = by_name(data)
    assert outcomes(t["good"]) == BOTH_PASS
    # forged verdicts are not taken; the target's own result stands or nothing counts
    assert outcomes(t["forges"]).get("DROPOUT-RATE-ZERO") != "passed"
    assert t["forges"]["status"] == "error" and "not written by dropspec" in t["forges"]["error"]
    # dropspec's NotApplicable raised by the target is the target's error
    na = next(c for c in t["not_applicable"]["clauses"] if c["id"] == "DROPOUT-RATE-ZERO")
    assert na["outcome"] == "failed" and "the target raised" in na["message"]
    assert "NotApplicable: nothing to see" in na["message"]
    # signals a target sends to its parent reach no one: the run goes on, the target passes
    assert outcomes(t["kills_parent"]) == BOTH_PASS
    # the daemon grandchild did not outlive the run
    time.sleep(0.5)
    for pid in pids.read_text().split():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status"
        ).read_text().lower().replace("(z", "zombie"), pid
    # a 50 MB message is cut, in the report and on the terminal
    assert all(len(c["message"]) < 30_000 for c in t["huge"]["clauses"])
    assert "characters cut" in json.dumps(t["huge"])
    # leftovers reach no other verdict: the wrong target after "mess" still fails
    assert t["mess"]["status"] == "error" and "changed dropspec's own code" in t["mess"]["error"]
    assert outcomes(t["wrong"]) == {"DROPOUT-SHAPE": "passed", "DROPOUT-RATE-ZERO": "failed"}


def test_a_report_path_replaces_only_a_previous_report(hostile: Path) -> None:
    from dropspec.conformance.runner import ReportRefused, check_report_path

    source = hostile / "good.py"
    fifo = hostile / "fifo"
    os.mkfifo(fifo)
    precious = hostile / "precious.json"
    precious.write_text('{"mine": 1}')
    link = hostile / "link.json"
    link.symlink_to(precious)
    for path in (source, fifo, link, Path("/dev/null"), precious, hostile):
        with pytest.raises(ReportRefused, match="replaces only a previous report"):
            check_report_path(str(path))
    (hostile / "empty.json").write_text("")
    (hostile / "previous.json").write_text('{"targets": [], "complete": true}')
    for path in ("empty.json", "previous.json", "absent.json"):
        check_report_path(str(hostile / path))
    # end to end: refused before anything runs, the file untouched, no lock left behind
    proc = cli("check", "good.py:good", *CLAUSES, "--json", "good.py", cwd=hostile)
    assert proc.returncode == 2 and "replaces only a previous report" in proc.stderr, proc.stderr
    assert source.read_text() == GOOD and not (hostile / "good.py.lock").exists()
    assert fifo.is_fifo() and link.is_symlink() and precious.read_text() == '{"mine": 1}'


def test_the_users_directory_shadows_nothing_and_home_gets_nothing(hostile: Path) -> None:
    for name in ("random.py", "scipy.py", "json.py"):
        (hostile / name).write_text("raise SystemExit('shadowed ' + __name__)\n")
    (hostile / "mymod.py").write_text(GOOD)
    home = hostile / "no" / "home"
    # -P: run the CLI as its console script runs, without the working directory on the
    # path (``python -m`` would put it first for the CLI's own imports)
    proc = subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "dropspec.cli",
            "check",
            "good.py:good",
            "mymod:good",
            *CLAUSES,
        ],
        capture_output=True,
        text=True,
        cwd=hostile,
        env={**os.environ, "HOME": str(home), "XDG_CACHE_HOME": "", "DROPSPEC_CACHE_DIR": ""},
        check=False,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4 and "shadowed" not in out, out
    assert not (hostile / "no").exists()
    assert "is not a writable directory" in proc.stderr


def test_the_output_encoding_does_not_decide_the_exit_status(hostile: Path) -> None:
    (hostile / "uni.py").write_text(
        GOOD.replace('name="good"', 'name="na\\u00efve-\\u2713"') + "\nprint('\\u00e9\\u2713')\n"
    )
    proc = cli("check", "uni.py:good", *CLAUSES, cwd=hostile, env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 4 and "Traceback" not in proc.stderr, proc.stderr  # as in UTF-8
    assert "na\\xefve" in proc.stdout  # escaped, not an encoding error


@pytest.mark.slow
def test_warnings_as_errors_do_not_fail_a_correct_target(hostile: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "error",
            "--dropspec-target=good.py:good",
            "--dropspec-clause=DROPOUT-SHAPE",
        ],
        cwd=hostile,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "ResourceWarning" not in out, out


@pytest.mark.slow
def test_suite_writes_nothing_into_the_working_directory(hostile: Path) -> None:
    (hostile / "test_mine.py").write_text(
        "import dropspec\nfrom good import good\nTestGood = dropspec.suite(good)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "SHAPE or VALUES"],
        cwd=hostile,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (hostile / ".hypothesis").exists()
