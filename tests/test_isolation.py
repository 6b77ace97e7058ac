"""No false green: every way a run can fail to check something ends non-zero, with a report
that says what finished and what did not (the run-isolation issue, end to end).

Each test runs the real CLI (``python -m dropspec.cli``) or pytest with the plugin in a
subprocess, on small target files written here, with two cheap clauses so the whole file
stays fast. The good target beside each faulty one must keep its results.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from clirun import by_name, cli, report

CLAUSES = ("--clause", "DROPOUT-SHAPE", "--clause", "DROPOUT-RATE-ZERO")

TARGETS = textwrap.dedent("""
    import os, sys, time
    import dropspec

    def _ref(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    good = dropspec.target("dropout", name="good")(_ref)

    @dropspec.target("dropout", name="exits")
    def exits(x, rate, *, training, seed):
        sys.exit(3)

    @dropspec.target("dropout", name="base_exception")
    def base_exception(x, rate, *, training, seed):
        raise BaseException("not an Exception")

    @dropspec.target("dropout", name="os_exit")
    def os_exit(x, rate, *, training, seed):
        os._exit(0)

    @dropspec.target("dropout", name="segfault")
    def segfault(x, rate, *, training, seed):
        import ctypes
        print("about to crash")
        ctypes.string_at(0)

    @dropspec.target("dropout", name="oom_killed")
    def oom_killed(x, rate, *, training, seed):
        import signal
        os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does

    @dropspec.target("dropout", name="hangs")
    def hangs(x, rate, *, training, seed):
        if os.environ.get("HANGING_MARK"):  # for the tests that interrupt it
            open(os.environ["HANGING_MARK"], "w").close()
        time.sleep(3600)

    @dropspec.target("dropblock", name="unknown_op")
    def unknown_op(x, rate, *, training, seed):
        return x

    @dropspec.target("dropout", name="needs_missing", requires=("no_such_package_xyz",))
    def needs_missing(x, rate, *, training, seed):
        return x

    @dropspec.target("dropout", name="bad_dtypes", dtypes=("float8",))
    def bad_dtypes(x, rate, *, training, seed):
        return x

    @dropspec.target("dropout", name="bad_axes", rank=2, shared_axes=(3,))
    def bad_axes(x, rate, *, training, seed):
        return x

    @dropspec.target("dropout", name="patches")
    def patches(x, rate, *, training, seed):
        from dropspec.conformance import engine
        engine.run_clause = lambda *a, **k: None
        return _ref(x, rate, training=training, seed=seed)
""")

SAME_NAME = textwrap.dedent("""
    import dropspec

    @dropspec.target("dropout", name="mine")
    def f(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)
""")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "targets.py").write_text(TARGETS)
    (tmp_path / "a.py").write_text(SAME_NAME)
    (tmp_path / "b.py").write_text(SAME_NAME)
    return tmp_path


def outcomes(entry: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in entry["clauses"]}


def run_pytest(files: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest with the dropspec plugin in ``files``, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=files,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def check_faulty(files: Path, faulty: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    proc = cli(
        "check",
        "targets.py:good",
        f"targets.py:{faulty}",
        *CLAUSES,
        "--json",
        "r.json",
        *extra,
        cwd=files,
    )
    data = report(files / "r.json")
    good = by_name(data)["good"]
    assert outcomes(good) == {"DROPOUT-SHAPE": "passed", "DROPOUT-RATE-ZERO": "passed"}, good
    assert data["complete"] is True and data["exit_status"] == proc.returncode
    return proc.returncode, by_name(data)[faulty], proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("faulty", "cause"),
    [
        pytest.param("exits", "SystemExit(3)", marks=pytest.mark.slow),
        pytest.param("base_exception", "BaseException(not an Exception)", marks=pytest.mark.slow),
        pytest.param("os_exit", "exited with code 0", marks=pytest.mark.slow),
        ("segfault", "SIGSEGV"),
        pytest.param(
            "oom_killed", "SIGKILL (the system's out-of-memory killer", marks=pytest.mark.slow
        ),
    ],
)
def test_a_crashing_target_is_an_error_and_the_run_goes_on(
    files: Path, faulty: str, cause: str
) -> None:
    rc, entry, out = check_faulty(files, faulty)
    assert rc == 3, out
    texts = " ".join(c["message"] for c in entry["clauses"]) + str(entry.get("error"))
    assert cause in texts
    assert {c["outcome"] for c in entry["clauses"]} <= {"error", "not_checked"}
    assert len(entry["clauses"]) == 2  # both clauses accounted for
    if faulty == "segfault":
        assert "about to crash" in texts  # the last lines the target printed


@pytest.mark.slow
def test_a_hanging_target_times_out(files: Path) -> None:
    start = time.monotonic()
    rc, entry, out = check_faulty(files, "hangs", "--timeout", "5")
    assert rc == 3, out
    assert entry["status"] == "error" and "timed out after 5 s" in entry["error"]
    assert time.monotonic() - start < 120


@pytest.mark.slow
def test_unknown_op_and_bad_declarations_beside_a_good_target(files: Path) -> None:
    for faulty, words in [
        ("unknown_op", "unknown op 'dropblock'"),
        ("bad_dtypes", "unknown dtype(s) 'float8'"),
        ("bad_axes", "outside rank 2"),
    ]:
        rc, entry, out = check_faulty(files, faulty)
        assert rc == 3, out
        assert entry["status"] == "error" and words in entry["error"]
        assert entry["clauses"] and {c["outcome"] for c in entry["clauses"]} == {"not_checked"}
        assert faulty in out


def test_a_target_that_patches_dropspec_is_not_trusted(files: Path) -> None:
    rc, entry, out = check_faulty(files, "patches")
    assert rc == 3, out
    assert "changed dropspec's own code" in entry["error"]
    assert "passed" not in outcomes(entry).values()


@pytest.mark.slow
def test_missing_framework_exits_3_unless_allowed(files: Path) -> None:
    rc, entry, out = check_faulty(files, "needs_missing")
    assert rc == 3 and entry["status"] == "missing", out
    assert "cannot say it conforms" in out
    rc, entry, out = check_faulty(files, "needs_missing", "--allow-missing")
    assert rc == 4 and "-> partial (exit 4)" in out, out  # left out, never "conforms"
    assert set(outcomes(entry).values()) == {"not_checked"}


def test_builtin_target_whose_framework_is_absent(files: Path) -> None:
    hide = files / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        textwrap.dedent("""
        import sys
        class Hide:  # as if torch were not installed
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {name!r}")
        sys.meta_path.insert(0, Hide())
    """)
    )
    proc = cli(
        "check",
        "torch.nn.Dropout",
        "reference.dropout",
        *CLAUSES,
        "--json",
        "r.json",
        cwd=files,
        env={"PYTHONPATH": str(hide)},
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    entry = by_name(report(files / "r.json"))["torch.nn.Dropout"]
    assert entry["status"] == "missing"
    assert all(
        c["outcome"] == "not_checked" and "pip install" in c["message"] for c in entry["clauses"]
    )


def test_duplicate_names_are_told_apart(files: Path) -> None:
    proc = cli(
        "check",
        "a.py:f",
        "b.py:f",
        "--clause",
        "DROPOUT-INDEPENDENT-ELEMENTS",
        "--json",
        "r.json",
        cwd=files,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr  # one clause: a partial run
    data = report(files / "r.json")
    names = [t["name"] for t in data["targets"]]
    assert names == ["mine [a.py:f]", "mine [b.py:f]"]
    assert all(n in proc.stdout for n in names)
    # Told apart in the seeds too: the two draw different masks, so their worst sub-tests
    # report different 2x2 tables (a Bonferroni-combined p-value is often 1.0 for both).
    tables = [
        re.findall(r"table=\[\[[^]]*\], \[[^]]*\]\]", t["clauses"][0]["message"])
        for t in data["targets"]
    ]
    assert tables[0] and tables[1] and tables[0] != tables[1], tables


@pytest.mark.parametrize(
    "args",
    [
        ("--seed", "-1"),
        ("--seed", str(2**64)),
        ("--alpha", "0"),
        ("--alpha", "0.7"),
        ("--power", "1.5"),
        ("--examples", "0"),
        ("--clause", "DROPOUT-RATEE"),
        ("--device", "tpu9"),
        ("--device", "cuda"),
        ("--json", "no/such/dir/r.json"),
        ("--json", "."),
        ("-j", "zero"),
        ("--timeout", "0"),
        ("no_such_builtin",),
    ],
)
def test_bad_values_exit_2_before_any_target_runs(files: Path, args: tuple[str, ...]) -> None:
    if args == ("--device", "cuda") and Path("/dev/nvidia0").exists():
        pytest.skip("this machine has a GPU")
    marker = files / "imported"
    (files / "marks.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n" + SAME_NAME
    )
    proc = cli("check", "marks.py:f", *args, cwd=files)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1].startswith(("dropspec: error:", "usage:"))
        or "error:" in proc.stderr
    )
    assert not marker.exists()  # nothing ran


def test_unwritable_json_exits_2(files: Path) -> None:
    locked = files / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores the mode bits: use a read-only file
            path = files / "ro.json"
            path.write_text("{}")
            path.chmod(0o400)
            proc = cli("check", "a.py:f", "--json", str(path / "x"), cwd=files)
        else:
            proc = cli("check", "a.py:f", "--json", str(locked / "r.json"), cwd=files)
    finally:
        locked.chmod(0o700)
    assert proc.returncode == 2 and "--json" in proc.stderr


def test_pytest_addopts_does_not_steer_check(files: Path) -> None:
    (files / "pytest.ini").write_text("[pytest]\naddopts = -k NOTHING -x\n")
    proc = cli(
        "check",
        "a.py:f",
        *CLAUSES,
        "--json",
        "r.json",
        cwd=files,
        env={"PYTEST_ADDOPTS": "-k NOTHING -p no:dropspec", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr  # two clauses: a partial run
    assert outcomes(report(files / "r.json")["targets"][0]) == {
        "DROPOUT-SHAPE": "passed",
        "DROPOUT-RATE-ZERO": "passed",
    }


def test_nothing_is_written_to_the_working_directory(files: Path) -> None:
    before = sorted(p.name for p in files.iterdir())
    proc = cli("check", "a.py:f", "--clause", "DROPOUT-VALUES", cwd=files)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # one clause: a partial run
    assert sorted(p.name for p in files.iterdir()) == before


def default_sigint() -> None:
    """``preexec_fn`` of a run the test interrupts: SIGINT, SIGTERM and SIGHUP back to their
    default actions.

    A shell that starts a command in the background without job control (``cmd &`` in a
    script) sets SIGINT to ignored, ``nohup`` sets SIGHUP to ignored, children inherit that,
    and dropspec rightly leaves a signal ignored at its start alone: the run under test could
    not be stopped by the signal the test sends."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def interrupt_once_good_is_done(proc: subprocess.Popen[str], path: Path) -> None:
    """Ctrl-C once the report holds the good target and the hanging one has started."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            if any(t["name"] == "good" for t in report(path)["targets"]):
                break
        except (OSError, ValueError):
            continue
    while time.monotonic() < deadline and not (path.parent / "hanging").exists():
        time.sleep(0.2)  # the hanging target runs in a process of its own, once it started
    proc.send_signal(signal.SIGINT)


def test_interrupt_exits_130_and_keeps_what_finished(files: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dropspec.cli",
            "check",
            "targets.py:good",
            "targets.py:hangs",
            "a.py:f",
            *CLAUSES,
            "-j",
            "1",
            "--json",
            "r.json",
        ],
        cwd=files,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
        env={**os.environ, "HANGING_MARK": str(files / "hanging")},
    )
    path = files / "r.json"
    interrupt_once_good_is_done(proc, path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    data = report(path)
    assert data["complete"] is False and data["interrupted"] is True
    targets = by_name(data)
    assert outcomes(targets["good"]) == {"DROPOUT-SHAPE": "passed", "DROPOUT-RATE-ZERO": "passed"}
    assert targets["hangs"]["status"] == "interrupted"
    assert targets["a.py:f"]["status"] == "interrupted"  # never started, still reported
    assert "interrupted" in out


def test_report_is_replaced_at_start_never_stale(files: Path) -> None:
    path = files / "r.json"
    path.write_text(json.dumps({"complete": True, "targets": [], "stale": True}))
    proc = cli("check", "a.py:f", "--clause", "DROPOUT-SHAPE", "--json", "r.json", cwd=files)
    assert proc.returncode == 4  # one clause: a partial run
    data = report(path)
    assert "stale" not in data
    for key in (
        "started",
        "finished",
        "wall_seconds",
        "dropspec_version",
        "exit_status",
        "summary",
        "complete",
    ):
        assert data[key] is not None, key
    t = data["targets"][0]
    assert t["source_path"] == str((files / "a.py").resolve())
    assert t["clauses"][0]["replay"] is None or "dropspec check" in t["clauses"][0]["replay"]


@pytest.mark.slow
def test_merge_keeps_each_platform(files: Path) -> None:
    for name in ("one", "two"):
        proc = cli(
            "check", "a.py:f", "--clause", "DROPOUT-SHAPE", "--json", f"{name}.json", cwd=files
        )
        assert proc.returncode == 4  # one clause: a partial run
    two = report(files / "two.json")
    two["platform"]["node"] = "other-machine"
    for t in two["targets"]:
        t["platform"]["node"] = "other-machine"
    (files / "two.json").write_text(json.dumps(two))
    proc = cli("merge", "one.json", "two.json", "--json", "all.json", cwd=files)
    # 3: each input checked one clause of the op; merge counts the others as not checked
    assert proc.returncode == 3, proc.stdout + proc.stderr
    merged = report(files / "all.json")
    assert len(merged["targets"]) == 2
    assert {t["platform"]["node"] for t in merged["targets"]} == {
        "other-machine",
        report(files / "one.json")["platform"]["node"],
    }
    assert len({t["name"] for t in merged["targets"]}) == 2
    bad = cli("merge", "nope.json", cwd=files)
    assert bad.returncode == 2


# ------------------------------------------------------------------ through pytest ----


@pytest.mark.parametrize(
    ("faulty", "cause"),
    [
        ("segfault", "SIGSEGV"),
        pytest.param("exits", "SystemExit(3)", marks=pytest.mark.slow),
        pytest.param("os_exit", "exited with code 0", marks=pytest.mark.slow),
        pytest.param("base_exception", "BaseException(not an Exception)", marks=pytest.mark.slow),
        pytest.param("patches", "changed dropspec", marks=pytest.mark.slow),
    ],
)
def test_pytest_plugin_survives_a_crashing_target(files: Path, faulty: str, cause: str) -> None:
    (files / "test_project.py").write_text("def test_project_own():\n    assert True\n")
    proc = run_pytest(
        files,
        f"--dropspec-target=targets.py:{faulty}",
        "--dropspec-target=targets.py:good",
        "--dropspec-clause=DROPOUT-SHAPE",
        "--dropspec-clause=DROPOUT-RATE-ZERO",
        "--dropspec-json=r.json",
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "2 failed, 2 passed" in out  # the project's own test was not collected
    assert cause in out
    data = by_name(report(files / "r.json"))
    assert outcomes(data["good"]) == {"DROPOUT-SHAPE": "passed", "DROPOUT-RATE-ZERO": "passed"}


@pytest.mark.slow
def test_pytest_interrupt_keeps_what_finished(files: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--dropspec-target=targets.py:good",
            "--dropspec-target=targets.py:hangs",
            "--dropspec-clause=DROPOUT-SHAPE",
            "--dropspec-json=r.json",
        ],
        cwd=files,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
        env={**os.environ, "HANGING_MARK": str(files / "hanging")},
    )
    path = files / "r.json"
    interrupt_once_good_is_done(proc, path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    data = report(path)
    assert data["complete"] is False
    assert outcomes(by_name(data)["good"]) == {"DROPOUT-SHAPE": "passed"}


def test_target_tracebacks_show_the_users_frames_and_dropspec_bugs_are_named(files: Path) -> None:
    import dropspec
    from dropspec.adapters import load_target
    from dropspec.conformance import engine, run_target, stats

    (files / "raiser.py").write_text(
        textwrap.dedent("""
        import dropspec

        def helper_in_user_code(x):
            raise RuntimeError("kernel exploded")

        @dropspec.target("dropout", name="raiser")
        def raiser(x, rate, *, training, seed):
            return helper_in_user_code(x)
    """)
    )
    (result,) = run_target(load_target(f"{files / 'raiser.py'}:raiser"), clauses=["DROPOUT-VALUES"])
    assert result.outcome == "failed" and "the target raised RuntimeError" in result.message
    assert "helper_in_user_code" in result.message and "raiser.py" in result.message
    # dropspec's own frames (the checks package among them) are left out
    assert os.path.join("conformance", "checks") not in result.message

    # A check that fails inside dropspec's own code (a stats function given nonsense).
    broken_check = functools.partial(stats.binomial_sample_size, 0.5, "not a number", 1e-6)
    good = dropspec.make_target(lambda x, rate, *, training, seed: x, "dropout", name="ok")
    original = engine.CHECKS["DROPOUT-SHAPE"]
    engine.CHECKS["DROPOUT-SHAPE"] = broken_check
    try:
        (result,) = run_target(good, clauses=["DROPOUT-SHAPE"])
    finally:
        engine.CHECKS["DROPOUT-SHAPE"] = original
    assert result.outcome == "error" and "a bug in dropspec" in result.message
    assert "the target raised" not in result.message


@pytest.mark.slow
def test_pytest_plugin_not_checked_is_not_green(files: Path) -> None:
    proc = run_pytest(
        files,
        "--dropspec-target=targets.py:needs_missing",
        "--dropspec-target=targets.py:hangs",
        "--dropspec-target=targets.py:unknown_op",
        "--dropspec-timeout=5",
        "--dropspec-clause=DROPOUT-SHAPE",
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "3 failed" in out and "timed out after 5 s" in out and "dropblock" in out


def test_pytest_bad_value_is_a_usage_error(files: Path) -> None:
    proc = run_pytest(files, "--dropspec-target=a.py:f", "--dropspec-clause=NOPE")
    assert proc.returncode == 4 and "unknown clause id NOPE" in proc.stderr


def test_plugin_imports_nothing_heavy_until_asked(files: Path) -> None:
    (files / "conftest.py").write_text(
        textwrap.dedent("""
        import sys
        def pytest_collection_finish(session):
            heavy = [m for m in ("numpy", "scipy", "hypothesis.strategies", "torch", "jax",
                                 "tensorflow", "dropspec.reference", "dropspec.conformance.engine")
                     if m in sys.modules]
            print("HEAVY:", heavy)
    """)
    )
    (files / "test_project.py").write_text("def test_project_own():\n    assert True\n")

    def heavy(*extra: str) -> str:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-s",
                "-q",
                *extra,
                "test_project.py",
            ],
            cwd=files,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return next(ln for ln in proc.stdout.splitlines() if ln.startswith("HEAVY:"))

    # Whatever other plugins load (hypothesis' own pytest plugin imports numpy), dropspec's
    # adds nothing.
    assert heavy() == heavy("-p", "no:dropspec")
    assert "dropspec" not in heavy()
    code = (
        "import sys, dropspec.conformance.plugin; "
        "print([m for m in ('numpy', 'scipy', 'hypothesis') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
    assert (
        "dropspec"
        in subprocess.run(
            [sys.executable, "-m", "pytest", "--help"],
            capture_output=True,
            text=True,
            check=False,
            cwd=files,
        ).stdout
    )  # the plugin is loaded, only idle


def test_workers_do_not_outlive_a_killed_runner(files: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dropspec.cli",
            "check",
            "targets.py:hangs",
            "--clause",
            "DROPOUT-SHAPE",
            "--json",
            "r.json",
        ],
        cwd=files,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    line = ""
    assert proc.stderr is not None
    while time.monotonic() < deadline and "start" not in line:
        line = proc.stderr.readline()
    time.sleep(2)
    workers = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert workers
    proc.kill()  # SIGKILL: the runner gets no chance to clean up
    proc.wait()
    time.sleep(1)
    alive = [
        w
        for w in workers
        if Path(f"/proc/{w}").exists()
        and "zombie" not in Path(f"/proc/{w}/status").read_text().lower()
    ]
    assert not alive


def test_workers_keep_to_the_framework_they_imported() -> None:
    """The job pool hands each worker targets of the framework it has imported, two idle
    workers different frameworks, and a worker started for a family runs with the
    environment its Keras targets need, so that it can take them too."""
    from dropspec.conformance.runner import Job, _Pool

    keras = {"KERAS_BACKEND": "jax"}
    jobs = [Job(f"t{i}", group=g) for i, g in enumerate("aaabbbc")]
    jobs.append(Job("k", env=keras, group="a"))
    pool = _Pool(enumerate(jobs))
    first, second = pool.take(0, None, None), pool.take(1, None, None)
    assert first is not None and second is not None
    assert first[1].group == "a" and second[1].group == "b"
    assert first[2] == keras and second[2] == {}  # the family of "a" needs Keras' backend
    env, order = first[2], [first[1]]
    while (nxt := pool.take(0, env, order[-1].group)) is not None:
        assert nxt[2] == env or order[-1].group != nxt[1].group
        env = nxt[2]
        order.append(nxt[1])
    # Slot 0 finishes its own family (Keras target included), then takes the group no
    # other worker is on, and only then joins slot 1's group; no new worker is needed.
    assert [j.group for j in order] == ["a", "a", "a", "a", "c", "b", "b"]
    assert env == keras and any(j.env == keras for j in order[:4])


def test_within_a_group_the_longest_job_goes_first() -> None:
    """Jobs of one group are handed out longest first (their ``cost``), ties in the given
    order, so that the workers of a run meet at its end over the short ones; and the CLI's
    estimate ranks the reference targets by their statistical clauses."""
    from dropspec.adapters import builtin_targets
    from dropspec.cli import expected_cost
    from dropspec.conformance.runner import Job, _Pool

    costs = [2.0, 8.0, 5.0, 8.0, 0.0]
    pool = _Pool(enumerate(Job(f"t{i}", group="numpy", cost=c) for i, c in enumerate(costs)))
    order = []
    while (taken := pool.take(len(order) % 2, {}, "numpy")) is not None:
        order.append(taken[1].spec)
    assert order == ["t1", "t3", "t2", "t0", "t4"]
    bt = builtin_targets()
    assert expected_cost(bt["reference.gaussian_dropout"]) > expected_cost(
        bt["reference.weight_drop"]
    )


def test_costly_frameworks_are_imported_by_one_worker_and_early() -> None:
    """Idle workers take the costliest framework no other worker is on; when every group
    left is another worker's, they join the cheapest one; a worker whose next group's
    Keras targets need another backend starts afresh instead of importing it twice."""
    from dropspec.conformance.runner import Job, _Pool

    tf_keras = {"KERAS_BACKEND": "tensorflow"}
    torch_keras = {"KERAS_BACKEND": "torch"}
    jobs = [Job("n1", group="numpy"), Job("n2", group="numpy")]
    jobs += [
        Job("t1", group="torch", startup=3.0),
        Job("kt", torch_keras, group="torch", startup=3.0),
    ]
    jobs += [
        Job("f1", group="tensorflow", startup=7.0),
        Job("kf", tf_keras, group="tensorflow", startup=7.0),
    ]
    pool = _Pool(enumerate(jobs))
    a, b = pool.take(0, None, None), pool.take(1, None, None)
    assert a is not None and b is not None
    assert (a[1].group, a[2]) == ("tensorflow", tf_keras)
    assert (b[1].group, b[2]) == ("torch", torch_keras)
    # Slot 0 finishes TensorFlow, then takes the free NumPy group in the worker it has.
    assert pool.take(0, tf_keras, "tensorflow")[1].group == "tensorflow"  # type: ignore[index]
    n = pool.take(0, tf_keras, "tensorflow")
    assert n is not None and n[1].group == "numpy" and n[2] == tf_keras
    # Slot 1 finishes torch, then shares the NumPy group (no new worker).
    assert pool.take(1, torch_keras, "torch")[1].group == "torch"  # type: ignore[index]
    m = pool.take(1, torch_keras, "torch")
    assert m is not None and m[1].group == "numpy" and m[2] == torch_keras
    # Helping another worker finish its group: what fits runs in the worker as it is.
    pool = _Pool(
        enumerate(
            [
                Job("kt", torch_keras, group="torch", startup=3.0),
                Job("t1", group="torch", startup=3.0),
                Job("t2", group="torch", startup=3.0),
            ]
        )
    )
    assert pool.take(1, None, None)[2] == torch_keras  # type: ignore[index]
    joined = pool.take(0, tf_keras, "numpy")
    assert joined is not None and joined[1].spec == "t1" and joined[2] == tf_keras
    # A Keras target of another backend makes a worker start afresh, with its family's env.
    pool = _Pool(
        enumerate(
            [
                Job("t1", group="torch", startup=3.0),
                Job("kt", torch_keras, group="torch", startup=3.0),
            ]
        )
    )
    c = pool.take(0, tf_keras, "tensorflow")
    assert c is not None and c[2] == torch_keras


def test_a_users_target_runs_only_in_its_own_environment() -> None:
    from dropspec.conformance.runner import Job, _Pool

    pool = _Pool(enumerate([Job("mine.py:f")]))
    taken = pool.take(0, {"KERAS_BACKEND": "jax"}, "jax")
    assert taken is not None and taken[2] == {}  # a new worker, without Keras' backend


def test_cache_dir_falls_back_when_home_is_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from dropspec.conformance.runner import cache_dir, cache_note

    monkeypatch.delenv("DROPSPEC_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "dropspec" and cache_note() is None
    monkeypatch.setenv("HOME", str(tmp_path / "nowhere"))
    assert cache_dir().is_relative_to(tempfile.gettempdir())
    note = cache_note()
    assert note is not None and "nowhere is not a writable directory" in note
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "dropspec"
    monkeypatch.setenv("DROPSPEC_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine" and cache_note() is None


def test_long_messages_are_cut_and_say_so() -> None:
    from dropspec.conformance.worker import MAX_MESSAGE, cap, cap_entry

    text = "a" * 10 + "x" * 5_000_000 + "z" * 10
    short = cap(text)
    assert len(short) < MAX_MESSAGE + 100 and short.startswith("a" * 10)
    assert short.endswith("z" * 10) and "characters cut" in short
    assert cap("fine") == "fine"
    entry = cap_entry({"error": text, "clauses": [{"message": text}]})
    assert len(entry["error"]) < MAX_MESSAGE + 100
    assert len(entry["clauses"][0]["message"]) < MAX_MESSAGE + 100
