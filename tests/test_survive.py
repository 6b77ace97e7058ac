"""Reports survive (issue 22): SIGTERM and SIGHUP are handled like Ctrl-C, a second Ctrl-C
during shutdown leaves no traceback, a report that cannot be written mid-run is a clear error
at the end while the remaining targets still run, two runs cannot write one report, and
reports get the umask's mode.

Each test runs the real CLI in a subprocess on small target files (see test_isolation.py)
and waits for the runner's own progress lines, never a fixed time, before it acts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_isolation import (
    CLAUSES,
    by_name,
    cli,
    default_sigint,
    files,
    outcomes,
    report,
    run_pytest,
)

__all__ = ["files"]  # the fixture, re-used

PASSED = {"DROPOUT-SHAPE": "passed", "DROPOUT-RATE-ZERO": "passed"}

VANDALS = textwrap.dedent("""
    import os, shutil
    import dropspec

    def _ref(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    @dropspec.target("dropout", name="deletes_out")
    def deletes_out(x, rate, *, training, seed):
        shutil.rmtree("out", ignore_errors=True)
        return _ref(x, rate, training=training, seed=seed)

    @dropspec.target("dropout", name="read_only_out")
    def read_only_out(x, rate, *, training, seed):
        os.chmod("out", 0o500)
        return _ref(x, rate, training=training, seed=seed)
""")


class Run:
    """A ``dropspec check`` in the background whose stderr lines are collected as they come."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dropspec.cli", "check", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            preexec_fn=default_sigint,
        )
        self.out: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    def wait_for(self, text: str, timeout: float = 180) -> None:
        """Until a progress line holds ``text`` (the runner's own marker, not a fixed time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no line with {text!r}:\n{''.join(self.lines)}")

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        rc = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=30)
        return rc, "".join(self.out), "".join(self.lines)

    def workers(self) -> list[str]:
        return subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()


def alive(pids: list[str]) -> list[str]:
    out = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text().lower()
        except OSError:
            continue
        if "zombie" not in status:
            out.append(pid)
    return out


def start_hanging_run(files: Path, tmp: Path) -> Run:
    """good, then hangs (running when the test acts), then a.py:f (never started)."""
    run = Run(
        files,
        "targets.py:good",
        "targets.py:hangs",
        "a.py:f",
        *CLAUSES,
        "-j",
        "1",
        "--json",
        "r.json",
        env={"TMPDIR": str(tmp)},
    )
    run.wait_for("start targets.py:hangs")
    return run


def assert_marked_interrupted(files: Path, rc: int, out: str, err: str) -> None:
    assert rc == 130, out + err
    assert "Traceback" not in out + err, err
    data = report(files / "r.json")
    assert data["complete"] is False and data["interrupted"] is True
    assert data["exit_status"] == 130
    targets = by_name(data)
    assert outcomes(targets["good"]) == PASSED
    assert targets["hangs"]["status"] == "interrupted"
    assert targets["a.py:f"]["status"] == "interrupted"
    assert "== Dropout" in out  # the matrix
    assert "interrupted" in out.splitlines()[-1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_are_handled_like_ctrl_c(files: Path, signum: int) -> None:
    tmp = files / "tmp"
    tmp.mkdir()
    run = start_hanging_run(files, tmp)
    workers = run.workers()
    assert workers
    run.proc.send_signal(signum)
    rc, out, err = run.finish()
    assert_marked_interrupted(files, rc, out, err)
    assert signal.Signals(signum).name in out + err
    assert list(tmp.iterdir()) == []  # the worker logs are removed
    time.sleep(0.5)
    assert not alive(workers)
    assert sorted(p.name for p in files.iterdir()) == [
        "a.py",
        "b.py",
        "r.json",
        "targets.py",
        "tmp",
    ]


def test_a_second_ctrl_c_during_shutdown_leaves_no_traceback(files: Path) -> None:
    tmp = files / "tmp"
    tmp.mkdir()
    run = start_hanging_run(files, tmp)
    # Ctrl-C, then Ctrl-C again and again through the whole shutdown (an impatient user).
    deadline = time.monotonic() + 120
    while run.proc.poll() is None and time.monotonic() < deadline:
        run.proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
    rc, out, err = run.finish()
    assert_marked_interrupted(files, rc, out, err)
    assert list(tmp.iterdir()) == []


def _vandal_run(files: Path, vandal: str) -> tuple[int, str, str]:
    (files / "vandals.py").write_text(VANDALS)
    (files / "out").mkdir()
    proc = cli(
        "check",
        "a.py:f",
        f"vandals.py:{vandal}",
        "b.py:f",
        *CLAUSES,
        "-j",
        "1",
        "--json",
        "out/r.json",
        cwd=files,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _assert_kept(rc: int, out: str, err: str) -> None:
    assert rc == 2, out + err  # not 1: no clause failed
    assert "Traceback" not in out + err, err
    assert "out/r.json" in err and "could not be written" in err, err
    assert "report written to" not in out
    # Every target still ran, and the printed matrix holds every result.
    assert "mine [a.py:f]" in out and "mine [b.py:f]" in out, out
    assert "conforms" not in out.splitlines()[-1] or "not" in out.splitlines()[-1]


def test_a_deleted_report_directory_is_an_error_at_the_end(files: Path) -> None:
    rc, out, err = _vandal_run(files, "deletes_out")
    _assert_kept(rc, out, err)
    assert "deletes_out" in out


def test_pytest_plugin_a_deleted_report_directory_is_said_not_a_crash(files: Path) -> None:
    (files / "vandals.py").write_text(VANDALS)
    (files / "out").mkdir()
    proc = run_pytest(
        files,
        "--dropspec-target=vandals.py:deletes_out",
        "--dropspec-target=a.py:f",
        "--dropspec-clause=DROPOUT-SHAPE",
        "--dropspec-json=out/r.json",
    )
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out and "Traceback" not in out, out
    assert "2 passed" in out, out  # the target after the vandal still ran
    assert "could not be written to out/r.json" in out, out
    assert "report written to" not in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_report_directory_is_an_error_at_the_end(files: Path) -> None:
    try:
        rc, out, err = _vandal_run(files, "read_only_out")
    finally:
        (files / "out").chmod(0o700)
    _assert_kept(rc, out, err)


def test_two_runs_cannot_write_one_report(files: Path) -> None:
    first = Run(files, "targets.py:hangs", "--clause", "DROPOUT-SHAPE", "--json", "r.json")
    try:
        first.wait_for("start targets.py:hangs")
        tmp = files / "tmp"
        tmp.mkdir()
        second = cli(
            "check", "a.py:f", *CLAUSES, "--json", "r.json", cwd=files, env={"TMPDIR": str(tmp)}
        )
        assert list(tmp.iterdir()) == []  # refused before it made anything
        tmp.rmdir()
        assert second.returncode == 2, second.stdout + second.stderr
        assert "r.json" in second.stderr and "another dropspec run" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.proc.send_signal(signal.SIGINT)
        rc, out, err = first.finish()
    assert rc == 130, out + err
    assert [t["name"] for t in report(files / "r.json")["targets"]] == ["hangs"]
    # The lock is gone with the run: the next run may write the report.
    third = cli("check", "a.py:f", *CLAUSES, "--json", "r.json", cwd=files)
    assert third.returncode == 4, third.stdout + third.stderr  # --clause: partial
    assert sorted(p.name for p in files.iterdir()) == ["a.py", "b.py", "r.json", "targets.py"]


def _umask(mask: int) -> Callable[[], None]:
    def set_mask() -> None:
        os.umask(mask)

    return set_mask


@pytest.mark.parametrize("mask", [0o022, 0o077], ids=["022", "077"])
def test_reports_get_the_umasks_mode(files: Path, mask: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dropspec.cli", "check", "a.py:f", *CLAUSES, "--json", "r.json"],
        cwd=files,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=_umask(mask),
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert (files / "r.json").stat().st_mode & 0o777 == 0o666 & ~mask
