"""Runs targets in worker processes, bounded in time, and keeps an honest report as it goes.

Why processes: a target is arbitrary code. It may segfault, call ``os._exit``, exhaust memory,
hang, or patch dropspec or NumPy; none of that may cost the other targets their results or
turn a run green. The engine is the standard library's :mod:`subprocess`. A user's target
runs in a worker started for it and ended after it, so nothing it leaves behind reaches
another verdict; built-in targets (dropspec's adapters over the frameworks) share a worker
per framework, which imports it once, and are held to the same fingerprints
(:mod:`.worker`). A worker that dies is replaced; one past the timeout is killed (its
process group, and every process it started, found by :data:`MARKER`) and replaced. What a
target can and cannot do is the threat model of docs/guide.md ("What a target cannot do").

Stopping: Ctrl-C (SIGINT), SIGTERM (what CI runners, ``timeout`` and containers send) and
SIGHUP (the terminal closed) all stop the run the same way: every worker is killed, the
report is written marked ``"interrupted": true, "complete": false`` (with
``"interrupted_by"``, the signal's name), the worker logs are removed, and the caller prints
the matrix and exits 130. Signals that arrive while the run stops are absorbed, so a second
Ctrl-C cannot leave a traceback or an unmarked report. A signal the run was started with
ignored (SIGHUP under ``nohup``) stays ignored.

The report: while a run writes ``--json PATH`` it holds an exclusive lock on ``PATH.lock``
(removed when the run ends); a second run on the same path is refused before any target runs
(:class:`ReportLocked`), and so is a path that holds anything but a previous report or an
empty file (:class:`ReportRefused`: a link, a FIFO, a device, a target's source). A write
that fails mid-run (the directory deleted or made read-only) costs nothing but the file: the
run goes on, and :attr:`Runner.write_error` says, at the end, that the report could not be
written.

Every outcome is accounted for: a target that crashed, timed out, could not be loaded or was
interrupted gets its unfinished clauses as ``not_checked`` with the cause, never silence.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from .config import Config
from .defaults import DEFAULT_TIMEOUT
from .merge import qualify_names
from .options import UsageError
from .report import (
    build_report,
    error_entry,
    exit_status,
    not_checked_clause,
    write_json,
)
from .text import cut_note
from .worker import cap_entry

#: DEFAULT_TIMEOUT: seconds one target may take by default. The slowest built-in target needs
#: about a minute on a 2-core machine with two workers (a JAX library compiling every shape);
#: ten times that, so that a loaded machine does not turn slowness into "not checked".
#: Seconds a new worker may take to import dropspec and its numerics.
START_TIMEOUT = 120.0
#: Seconds a worker with nothing left to do gets to exit by itself before it is killed.
CLOSE_GRACE = 0.5


#: Signals that stop a run the way Ctrl-C does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ReportLocked(UsageError):
    """Another run is writing the report at this path (or its lock cannot be taken)."""


class ReportRefused(UsageError):
    """The report's path holds something that is not a previous report."""


def check_report_path(path: str) -> None:
    """Refuse (:class:`ReportRefused`) a report path that holds anything but a previous
    report, an empty file or nothing: a symbolic link (its target would stay, the link be
    replaced), a FIFO, a device, a directory, or a file that is not a dropspec report (a
    target's own source, say), which replacing would destroy."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ReportRefused(f"--json {path}: {exc.strerror or exc}") from None
    what = None
    if stat.S_ISLNK(st.st_mode):
        what = "a symbolic link (dropspec would replace the link, not write through it)"
    elif not stat.S_ISREG(st.st_mode):
        what = "not a regular file (a FIFO, a device, a socket or a directory)"
    elif st.st_size:
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read())
        except (OSError, ValueError):
            data = None
        if not (isinstance(data, dict) and isinstance(data.get("targets"), list)):
            what = "a file that is not a dropspec report"
    if what:
        raise ReportRefused(
            f"--json {path}: this path holds {what}; dropspec replaces only a previous "
            f"report or an empty file: give another path, or remove it first"
        )


def lock_report(path: str) -> int:
    """Take the exclusive lock on ``path + ".lock"``; return its descriptor (for
    :func:`unlock_report`). Raises :class:`ReportLocked` when another run holds it.

    The lock file is removed when the run ends; a run that finds the file it locked already
    replaced (removed by the run that held it before) locks afresh, so two runs never both
    hold a lock on one path.
    """
    lock = f"{path}.lock"
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise ReportLocked(
                f"--json {path}: cannot create the lock file {lock}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise ReportLocked(
                f"--json {path}: another dropspec run{who} is writing this report; wait for "
                f"it to end or choose another path (its lock: {lock})"
            ) from None
        try:
            mine, now = os.fstat(fd), os.stat(lock)
            same = (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)
        except OSError:
            same = False
        if same:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # the previous holder removed it as we opened it: lock the new one


def unlock_report(path: str, fd: int) -> None:
    """Remove the lock file (while still holding its lock) and release it."""
    with contextlib.suppress(OSError):
        os.unlink(f"{path}.lock")
    os.close(fd)


@contextlib.contextmanager
def stop_on_signals(
    on_signal: Callable[[int], None], ignore_after: Callable[[], bool] = lambda: False
) -> Iterator[None]:
    """While inside, each of :data:`STOP_SIGNALS` calls ``on_signal(signum)`` (in the main
    thread) instead of its usual action; the previous handlers come back on leaving, or,
    when ``ignore_after()`` is then true (a process that is stopping anyway), the signals
    are ignored from then on, with no moment between in which one could end the process
    with a traceback. Nothing is installed outside the main thread, nor for a signal that
    is ignored."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            try:
                if signal.getsignal(signum) is signal.SIG_IGN:
                    continue
                previous[signum] = signal.signal(signum, lambda n, _frame: on_signal(n))
            except (OSError, ValueError):
                continue
    try:
        yield
    finally:
        ignore = ignore_after()
        for signum, handler in previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(signum, signal.SIG_IGN if ignore else handler)


def cache_dir() -> Path:
    """dropspec's own cache directory (JAX compilation cache, hypothesis' files):
    ``$DROPSPEC_CACHE_DIR``, else ``$XDG_CACHE_HOME/dropspec`` or ``~/.cache/dropspec``
    where that directory (``$XDG_CACHE_HOME``, the home directory) exists and is writable;
    else a directory of this user's under the system's temporary directory, so that a
    ``HOME`` pointing nowhere gets nothing created there (:func:`cache_note` says so)."""
    own = os.environ.get("DROPSPEC_CACHE_DIR")
    if own:
        return Path(own)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg) and os.path.isdir(xdg) and os.access(xdg, os.W_OK):
        return Path(xdg) / "dropspec"
    home = os.path.expanduser("~")
    if not xdg and os.path.isabs(home) and os.path.isdir(home) and os.access(home, os.W_OK):
        return Path(home) / ".cache" / "dropspec"
    return _fallback_cache()


def _fallback_cache() -> Path:
    return Path(tempfile.gettempdir()) / f"dropspec-cache-{os.getuid()}"


def cache_note() -> str | None:
    """What a run says when its cache is not where the user would look (None: it is)."""
    cache = cache_dir()
    if os.environ.get("DROPSPEC_CACHE_DIR") or cache != _fallback_cache():
        return None
    where = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~")
    return (
        f"{where} is not a writable directory: dropspec's caches (JAX compilations, "
        f"hypothesis) go to {cache} (set DROPSPEC_CACHE_DIR to choose)"
    )


def cpus() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: Environment variables that bound the threads of each numeric library a target may use:
#: OpenMP (PyTorch's CPU kernels, NumPy's BLAS), TensorFlow's two thread pools, and
#: dropspec's own reference generator (see :func:`thread_env` for XLA).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "DROPSPEC_THREADS",
)


def thread_env(threads: int) -> dict[str, str]:
    """Variables that keep a worker's libraries to ``threads`` threads each.

    With N workers on C CPUs each worker gets C // N threads. Left alone, every library in
    every worker starts a pool as large as the machine: two workers on two cores then run
    four busy threads that preempt each other, and ``-j 2`` ends slower than ``-j 1``.
    Values the user has set are kept.

    XLA (JAX) is left alone on purpose: its only switch, ``XLA_FLAGS``, is part of the key
    of JAX's persistent compilation cache, so setting it for ``-j 2`` would make a cache
    filled by ``-j 1`` (or by the user's own runs) useless, and compiling costs JAX targets
    far more than sharing a core does.
    """
    return {name: str(threads) for name in THREAD_VARIABLES if name not in os.environ}


def worker_env(extra: dict[str, str], threads: int | None = None) -> dict[str, str]:
    """The environment of a worker: the user's, the target's needs, and dropspec's caches.

    Hypothesis writes its example database and constants cache under its storage directory
    (by default ``.hypothesis`` in the working directory); dropspec points it at its own
    cache so that nothing is written where the user runs. JAX's persistent compilation cache
    keeps compiled programs across runs and workers. ``threads``, when given, bounds each
    library's thread pool (:func:`thread_env`).
    """
    cache = cache_dir()
    env = dict(os.environ)
    if threads is not None:
        env.update(thread_env(threads))
    env.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(cache / "hypothesis"))
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache / "jax"))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


#: The variable that marks a worker and every process it starts (its value names the run
#: and the worker), so that what a target leaves running is found and ended with it
#: (:func:`kill_marked`), even in a new session or after its worker died.
MARKER = "DROPSPEC_WORKER"


def kill_marked(prefix: str) -> int:
    """SIGKILL every process (but this one) whose environment has ``MARKER`` starting
    with ``prefix``; return how many. Linux only (elsewhere: 0)."""
    want = f"{MARKER}={prefix}".encode()
    killed = 0
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                marked = any(v.startswith(want) for v in fh.read().split(b"\0"))
        except OSError:
            continue
        if marked:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


#: How a worker starts. ``-P``: the working directory is not put in front of the standard
#: library (a ``random.py`` there would shadow it); dropspec's own directory is on the path
#: only while dropspec itself is imported. The process the runner starts forks at once and
#: stays as the worker's parent, doing nothing but wait: it ignores the stop signals, so a
#: target that signals its parent (``os.kill(os.getppid(), SIGTERM)``) reaches no one, and
#: it ends as the worker ended (the same exit code, or killed by the same signal). Each of
#: the two dies when its parent does (``PR_SET_PDEATHSIG``), so nothing outlives a runner
#: killed by SIGKILL.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = """
import os, signal, sys
def orphan(parent):
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)
STOP = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP)
for s in STOP:
    signal.signal(s, signal.SIG_IGN)
runner, shim = os.getppid(), os.getpid()
orphan(runner)
pid = os.fork()
if pid:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    while True:
        try:
            status = os.waitpid(pid, 0)[1]
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # these two take no handler
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status))
orphan(shim)
signal.signal(signal.SIGINT, signal.default_int_handler)
for s in STOP[1:]:
    signal.signal(s, signal.SIG_DFL)
sys.path.insert(0, {root!r})
import dropspec.conformance.worker as w
sys.path.remove({root!r})
raise SystemExit(w.main())
"""


@dataclass
class Job:
    """One target to check: how it was named, the environment it needs, which clauses."""

    spec: str
    env: dict[str, str] = field(default_factory=dict)
    clauses: list[str] = field(default_factory=list)
    describe_only: bool = False
    #: The framework the target needs imported ("" when not known in advance): a worker
    #: keeps taking targets of the framework it has already imported (see :class:`_Pool`).
    group: str = ""
    #: Roughly what one more worker running that framework costs, in seconds
    #: (:attr:`~dropspec.adapters.Backend.startup_seconds`; 0 when not known).
    startup: float = 0.0
    #: How long the job is expected to take, in any unit (0 when not known): within a
    #: group, the longest job is handed out first, so that the workers finish together.
    cost: float = 0.0
    #: Its framework cannot share a process with others
    #: (:attr:`~dropspec.adapters.Backend.own_process`): a worker that ran another group's
    #: jobs is replaced before it, and one that ran it is replaced before another group's.
    alone: bool = False


class _Pool:
    """The jobs not yet started, handed out so that workers import as little as they can.

    Jobs are grouped by the framework they import. A built-in job runs in a worker whose
    environment holds every variable the job sets (a Keras target's backend; most set none),
    so a worker started for a family's Keras targets also takes its plain targets; a user's
    target runs only in its own environment. A worker next takes a job of its own group;
    else it changes group: to one no other worker is on, the slowest to import first
    (:attr:`Job.startup`), so that each heavy framework is imported by one worker, early;
    and only when every group left is another worker's, to the quickest to import. Light
    groups (NumPy, whose import every worker has already paid) so fill the end of the run,
    where the workers meet. A worker that changes group starts afresh when the new group's
    family needs another environment (a Keras backend), rather than importing a framework
    now and restarting for its Keras targets later.
    """

    def __init__(self, jobs: Iterable[tuple[int, Job]]) -> None:
        self.left = list(jobs)
        self.lock = threading.Lock()
        self.busy: dict[int, str] = {}  # slot -> the group it works on

    @staticmethod
    def fits(job: Job, env: dict[str, str] | None) -> bool:
        """Whether ``job`` can run in a worker started with ``env``: a built-in target (its
        group known) where ``env`` sets what it needs and maybe more; any other target (a
        user's, whose imports dropspec does not know) only in exactly its own."""
        if env is None:
            return False
        return job.env == env or (bool(job.group) and job.env.items() <= env.items())

    def family_env(self, job: Job) -> dict[str, str]:
        """The environment a new worker for ``job`` starts with: the job's own, plus what
        the other jobs left of its (built-in) group need, where they agree."""
        start = dict(job.env)
        if job.group:
            for _, other in self.left:
                if other.group == job.group and all(
                    start.get(k, v) == v for k, v in other.env.items()
                ):
                    start.update(other.env)
        return start

    def take(
        self, slot: int, env: dict[str, str] | None, group: str | None
    ) -> tuple[int, Job, dict[str, str]] | None:
        """The next job for ``slot``, whose worker runs with ``env`` (None: no worker) and
        last ran a job of ``group``; and the environment to run it in (``env`` when the job
        fits it, else the environment a new worker needs for the job's whole group)."""
        with self.lock:
            if not self.left:
                return None
            same = [p for p in self.left if p[1].group == group and self.fits(p[1], env)]
            if same:
                pick = _longest(same)
            else:
                groups: dict[str, tuple[float, int]] = {}
                for _, job in self.left:
                    startup, count = groups.get(job.group, (job.startup, 0))
                    groups[job.group] = (max(startup, job.startup), count + 1)
                others = {g for s, g in self.busy.items() if s != slot}
                free = {g: v for g, v in groups.items() if g not in others}
                if free:  # the slowest import first, then the most jobs
                    chosen = max(free, key=lambda g: (*free[g], g))
                else:  # every group is another worker's: join the cheapest to import
                    chosen = min(groups, key=lambda g: (groups[g][0], -groups[g][1], g))
                mine = [p for p in self.left if p[1].group == chosen]
                fitting = [p for p in mine if self.fits(p[1], env)]
                pick = _longest(fitting or mine)
            self.left.remove(pick)
            i, job = pick
            # A worker taking over a group no other worker is on starts with what the whole
            # family needs; one helping another worker finish a group runs what fits.
            owner = job.group != group and job.group not in self.busy.values()
            self.busy[slot] = job.group
            start = self.family_env(job)
            if (
                env is not None
                and self.fits(job, env)
                and (not owner or start.items() <= env.items())
            ):
                return i, job, env
            return i, job, start


def _longest(jobs: list[tuple[int, Job]]) -> tuple[int, Job]:
    """The job of highest :attr:`Job.cost`, the first such (longest first: the workers of a
    run meet at its end with the short jobs left, not with one long job on one of them)."""
    return max(jobs, key=lambda p: p[1].cost)


class _Worker:
    """One worker process, the thread reading its events, and its log."""

    def __init__(
        self, env: dict[str, str], log: IO[bytes], threads: int | None = None, marker: str = ""
    ) -> None:
        self.env = env
        self.log = log
        self.marker = marker
        #: Whether a job was sent (a user's target runs only in a worker that ran nothing).
        self.used = False
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-c", _BOOT.format(root=_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**worker_env(env, threads), MARKER: marker},
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for raw in self.proc.stdout:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue  # not ours; the protocol pipe carries only dropspec's events
                if isinstance(event, dict):
                    self.events.put(event)
        with contextlib.suppress(OSError):
            self.proc.stdout.close()  # here, by its only reader: no ResourceWarning
        self.events.put(None)

    def send(self, job: Job, config: Config, token: str) -> None:
        assert self.proc.stdin is not None
        line = json.dumps(
            {
                "spec": job.spec,
                "clauses": job.clauses,
                "describe_only": job.describe_only,
                "builtin": bool(job.group),
                "config": asdict(config),
                "token": token,
            }
        )
        self.used = True
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """Kill the worker, its process group and every process it started (marked)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.marker:
            kill_marked(self.marker)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        self._close_stdin()

    def _close_stdin(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def close(self) -> None:
        """End a worker whose jobs are all reported: it is asked to stop (end of input) and
        killed if it has not after ``CLOSE_GRACE`` seconds. Tearing down an interpreter
        that holds TensorFlow or JAX takes seconds, which nothing needs: the results are in."""
        self._close_stdin()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=CLOSE_GRACE)
        self.kill()  # what it started goes too

    def death(self) -> str:
        """Why the process ended, in words."""
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            return "it stopped answering and was killed"
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            hint = " (the system's out-of-memory killer sends this)" if -rc == 9 else ""
            return f"the worker process was killed by {name}{hint}"
        return (
            f"the worker process exited with code {rc} in the middle of the run "
            f"(the target called sys.exit, os._exit or similar)"
        )


def _tail(log: IO[bytes], offset: int, lines: int = 15, width: int = 400) -> str:
    """The last ``lines`` non-blank lines a worker wrote after ``offset``, each cut to
    ``width`` characters with a note (a target may write megabytes on one line); only the
    last 64 KiB are read, and what was skipped is said."""
    log.flush()
    with open(log.name, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        start = max(offset, size - 64 * 1024)
        fh.seek(start)
        text = fh.read().decode("utf-8", "replace")
    kept = [ln for ln in text.splitlines() if ln.strip()][-lines:]
    cut = [f"{ln[:width]} {cut_note(len(ln) - width)}" if len(ln) > width else ln for ln in kept]
    if start > offset:
        cut.insert(0, cut_note(start - offset))
    return "\n".join("    | " + ln for ln in cut)


class Runner:
    """Check ``jobs`` in ``workers`` processes; see the module docstring."""

    def __init__(
        self,
        jobs: Iterable[Job],
        config: Config,
        *,
        workers: int = 1,
        timeout: float = DEFAULT_TIMEOUT,
        json_path: str | None = None,
        allow_missing: bool = False,
        progress: Callable[[str], None] | None = None,
        ignore_signals_after_stop: bool = False,
    ) -> None:
        self.jobs = list(jobs)
        #: Whether a run stopped by a signal leaves the stop signals ignored (the CLI, which
        #: then only prints and exits) rather than restoring the caller's handlers.
        self.ignore_signals_after_stop = ignore_signals_after_stop
        self.config = config
        self.workers = max(1, workers)
        self.threads: int | None = None  # set by run(), from the number of slots
        self.timeout = timeout
        self.json_path = json_path
        self.allow_missing = allow_missing
        self.progress = progress or (lambda line: None)
        self.entries: dict[int, dict[str, Any]] = {}
        self.running: dict[int, str] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        #: The name of the signal that stopped the run (None: not stopped by one).
        self.interrupted_by: str | None = None
        #: Why the JSON report could not be written, when its last write failed (None: it
        #: was written, or no report was asked for).
        self.write_error: str | None = None
        self._write_lock = threading.Lock()  # one report write at a time, newest last
        self._final_written = False
        self.start = time.monotonic()
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.logdir: tempfile.TemporaryDirectory[str] | None = None  # made by run()
        #: What marks this run's workers and all they start (:data:`MARKER`).
        self.marker = f"{os.getpid()}.{secrets.token_hex(6)}"
        self._workers = 0

    # ------------------------------------------------------------------ the run ----
    def run(self) -> dict[str, Any]:
        """Run every job; returns the report. Ctrl-C, SIGTERM and SIGHUP stop the run and
        raise nothing: the report says ``interrupted`` and :func:`exit_status` gives 130.
        Raises :class:`ReportLocked`, before any target runs, when another run writes the
        same report."""
        lock = None
        try:
            if self.json_path:
                check_report_path(self.json_path)
            lock = lock_report(self.json_path) if self.json_path else None
            self.logdir = tempfile.TemporaryDirectory(prefix="dropspec-logs-")
            note = cache_note()
            if note:
                self._say(f"dropspec: note: {note}")
            with stop_on_signals(
                self._signalled, lambda: self.ignore_signals_after_stop and self.stop.is_set()
            ):
                return self._run()
        finally:
            kill_marked(self.marker + ".")  # whatever a target left running, in any session
            if self.logdir is not None:
                with contextlib.suppress(OSError):
                    self.logdir.cleanup()
            if lock is not None and self.json_path:
                unlock_report(self.json_path, lock)

    def _signalled(self, signum: int) -> None:
        """A stop signal: the first stops the run; later ones change nothing."""
        if self.interrupted_by is None:
            try:
                self.interrupted_by = signal.Signals(signum).name
            except ValueError:
                self.interrupted_by = f"signal {signum}"
        self.stop.set()

    def _run(self) -> dict[str, Any]:
        self._flush(final=False)
        todo = _Pool(enumerate(self.jobs))
        slots = min(self.workers, len(self.jobs)) or 1
        # One worker keeps every library's own default; several share the CPUs between them.
        self.threads = None if slots == 1 else max(1, cpus() // slots)
        finished = [threading.Event() for _ in range(slots)]
        threads = [
            threading.Thread(target=self._slot, args=(k, todo, finished[k]), daemon=True)
            for k in range(slots)
        ]
        # The main thread waits on events, not Thread.join, and the signal handler only sets
        # ``stop``: nothing here can be cut short by a signal, however many arrive.
        for t in threads:
            t.start()
        while not all(e.is_set() for e in finished) and not self.stop.is_set():
            time.sleep(0.1)
        interrupted = self.stop.is_set()
        if interrupted:
            self._say(
                f"dropspec: {self.interrupted_by or 'interrupted'}: stopping the workers; "
                f"the report is marked interrupted"
            )
            deadline = time.monotonic() + 60
            while not all(e.is_set() for e in finished) and time.monotonic() < deadline:
                time.sleep(0.1)
            for i, job in enumerate(self.jobs):
                if i not in self.entries:
                    self.entries[i] = error_entry(
                        job.spec,
                        "not checked: the run was interrupted before this target started",
                        reason="interrupted",
                    )
                    self.entries[i]["status"] = "interrupted"
        return self._flush(final=True, interrupted=interrupted)

    @staticmethod
    def _say(line: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # SIGHUP: the terminal may be gone
            print(line, file=sys.stderr, flush=True)

    def _slot(self, k: int, todo: _Pool, finished: threading.Event) -> None:
        worker: _Worker | None = None
        group: str | None = None
        alone = False
        assert self.logdir is not None
        log = open(Path(self.logdir.name) / f"worker-{k}.log", "w+b")  # noqa: SIM115
        try:
            while not self.stop.is_set():
                alive = worker is not None and worker.proc.poll() is None
                taken = todo.take(k, worker.env if alive and worker else None, group)
                if taken is None:
                    break
                i, job, env = taken
                # Passing between a group that must be alone and another needs a new process.
                crossing = group is not None and job.group != group and (job.alone or alone)
                group, alone = job.group, job.alone
                # A user's target gets a process of its own, which nothing ran in before
                # and nothing runs in after: what it leaves behind reaches no other verdict.
                own = not job.group
                if (
                    worker is None
                    or crossing
                    or worker.env != env
                    or worker.proc.poll() is not None
                    or (own and worker.used)
                ):
                    if worker is not None:
                        worker.close()
                    worker = self._start(i, job, log, env)
                    if worker is None:
                        continue
                with self.lock:
                    self.running[i] = job.spec
                self.progress(self._line(f"{job.spec} ... (worker {k + 1})"))
                try:
                    entry, reusable = self._run_job(worker, job, log)
                except Exception as exc:  # a bug here must cost one target, not the run
                    entry, reusable = (
                        error_entry(
                            job.spec,
                            f"dropspec's runner failed on this target: {exc!r}",
                            reason="internal",
                        ),
                        False,
                    )
                with self.lock:
                    self.running.pop(i, None)
                    self.entries[i] = entry
                self._add_declared(todo, job, entry)
                self.progress(
                    self._line(
                        f"{entry['name']}: {_counts(entry)} ({entry.get('seconds', 0):.1f} s)",
                        done=True,
                    )
                )
                self._flush(final=False)
                if not reusable or own:
                    worker.kill()
                    worker = None
        finally:
            if worker is not None:
                if self.stop.is_set():
                    worker.kill()
                else:
                    worker.close()
            log.close()
            finished.set()

    def _add_declared(self, todo: _Pool, job: Job, entry: dict[str, Any]) -> None:
        """The variants ``job``'s target declares (``variants=``), each a job of its own, run
        after it: a user's target is loaded only in a worker, so only its job can tell."""
        from ..adapters import joined, split

        names = entry.get("variants") or []
        if job.describe_only or not names or split(job.spec)[1] is not None:
            return
        with self.lock, todo.lock:
            known = {j.spec for j in self.jobs}
            for v in names:
                new = replace(job, spec=joined(job.spec, str(v)))
                if new.spec not in known:
                    self.jobs.append(new)
                    todo.left.append((len(self.jobs) - 1, new))

    def _start(self, i: int, job: Job, log: IO[bytes], env: dict[str, str]) -> _Worker | None:
        self._workers += 1
        worker = _Worker(env, log, self.threads, f"{self.marker}.{self._workers}")
        deadline = time.monotonic() + START_TIMEOUT
        while not self.stop.is_set():
            try:
                event = worker.events.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() > deadline:
                    break
                continue
            if event is not None and event.get("event") == "ready":
                return worker
            break
        if self.stop.is_set():
            worker.kill()
            return None  # the run ends; _run marks the target interrupted
        cause = worker.death() if worker.proc.poll() is not None else "it did not start in time"
        worker.kill()
        self.entries[i] = error_entry(
            job.spec,
            f"a worker process could not start: {cause}\n{_tail(log, 0)}",
            reason="crashed",
        )
        return None

    def _run_job(self, worker: _Worker, job: Job, log: IO[bytes]) -> tuple[dict[str, Any], bool]:
        """Send ``job`` and read its events until ``done``.

        The runner keeps its own account of what the job must report: the clauses it
        plans come from the spec as this process has it (a target that edits the spec in
        its worker plans nothing away), each verdict must answer the ``clause-start`` before
        it and carry the job's token, and its level and kind are this process' own. An
        event out of order, twice, or without the token (a line the target wrote) ends the
        job as tampered; a planned clause with no verdict at ``done`` is ``not_checked``.
        """
        log.seek(0, os.SEEK_END)
        offset = log.tell()
        token = secrets.token_hex(16)
        worker.send(job, self.config, token)
        started = time.monotonic()
        entry: dict[str, Any] | None = None
        planned: list[str] = []
        current: str | None = None
        seen: set[str] = set()

        def broken(status: str, cause: str, tail: str = "") -> tuple[dict[str, Any], bool]:
            return self._broken(job, entry, planned, current, status, cause, tail, started), False

        while True:
            if self.stop.is_set():
                worker.kill()
                return broken("interrupted", "not checked: the run was interrupted")
            remaining = started + self.timeout - time.monotonic()
            if remaining <= 0:
                worker.kill()
                return broken(
                    "error",
                    f"timed out after {self.timeout:g} s; its worker was killed",
                    _tail(log, offset),
                )
            try:
                event = worker.events.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if event is None:
                return broken("error", worker.death(), _tail(log, offset))
            kind = event.get("event")
            forged = event.get("token") != token
            if not forged and kind == "target" and entry is None:
                entry = cap_entry(dict(event["entry"]))
                planned = self._plan(entry, job)
                if planned:  # what the worker will report, and nothing before it
                    entry["clauses"] = []
            elif not forged and kind == "clause-start" and entry is not None:
                cid = event.get("id")
                forged = cid not in planned or cid in seen or current is not None
                current = cid
            elif not forged and kind == "clause" and entry is not None:
                verdict = cap_entry(dict(event["entry"]))
                cid = verdict.get("id")
                forged = cid != current or cid in seen
                verdict["level"], verdict["kind"] = _level_kind(str(cid))
                entry["clauses"].append(verdict)
                seen.add(str(cid))
                current = None
            elif not forged and kind == "done":
                break
            elif not forged and kind == "tampered":
                forged = True
            else:
                forged = True
            if forged:
                what = ", ".join(event.get("what") or []) if kind == "tampered" else ""
                worker.kill()
                entry = {**(entry or {}), "clauses": []}
                current = None
                return broken(
                    "error",
                    f"the target changed dropspec's own code or data ({what}); none of its "
                    f"results can be trusted"
                    if what
                    else "the worker's report of this target was out of order or not "
                    "written by dropspec (the target wrote to dropspec's channel, or forked "
                    "into the checks); none of its results can be trusted",
                )
        if entry is None:
            return broken("error", "the worker finished the job without describing its target")
        for cid in planned:
            if cid not in seen:
                entry["clauses"].append(
                    not_checked_clause(
                        cid,
                        "not checked: the worker reported no verdict on this clause",
                        "crashed",
                        *_level_kind(cid),
                    )
                )
                entry["status"] = "error"
                entry["error"] = entry.get("error") or "the worker left planned clauses out"
        entry["seconds"] = round(time.monotonic() - started, 3)
        entry["target_seconds"] = round(
            sum(c.get("target_seconds", 0.0) for c in entry["clauses"]), 3
        )
        if any(c.get("reason") == "missing" for c in entry["clauses"]):
            entry["status"] = "missing"
        return entry, True

    @staticmethod
    def _plan(entry: dict[str, Any], job: Job) -> list[str]:
        """The clauses a target of a known op must report, from this process' own spec."""
        from ..spec import OPS

        op = OPS.get(str(entry.get("op")))
        if job.describe_only or op is None:
            return []
        return [c.id for c in op.clauses if not job.clauses or c.id in job.clauses]

    def _broken(
        self,
        job: Job,
        entry: dict[str, Any] | None,
        planned: list[str],
        current: str | None,
        status: str,
        cause: str,
        tail: str,
        started: float,
    ) -> dict[str, Any]:
        """The entry of a target whose job did not finish: what finished, and the rest not
        checked, with the cause."""
        message = cause + (f"\nlast output:\n{tail}" if tail else "")
        reason = {"interrupted": "interrupted"}.get(status, "crashed")
        if entry is None or not entry.get("name"):
            out = error_entry(job.spec, message, reason=reason)
            out["status"] = status
            return out
        entry = dict(entry)
        entry["status"], entry["error"] = status, message
        done = {c["id"] for c in entry["clauses"]}
        for cid in planned:
            if cid in done:
                continue
            when = "while this clause ran" if cid == current else "before this clause ran"
            entry["clauses"].append(
                not_checked_clause(cid, f"not checked: {cause} ({when})", reason, *_level_kind(cid))
            )
        entry["seconds"] = round(time.monotonic() - started, 3)
        return entry

    # ------------------------------------------------------------------ output ----
    def _line(self, text: str, done: bool = False) -> str:
        finished = len(self.entries)
        return (
            f"[{finished:>{len(str(len(self.jobs)))}}/{len(self.jobs)} "
            f"{time.monotonic() - self.start:6.1f}s] {'done ' if done else 'start'} {text}"
        )

    def _flush(self, *, final: bool, interrupted: bool = False) -> dict[str, Any]:
        with self._write_lock:
            with self.lock:
                entries = [dict(self.entries[i]) for i in sorted(self.entries)]
            extra = {"interrupted_by": self.interrupted_by} if interrupted else {}
            report = build_report(
                qualify_names(entries),
                self.config,
                complete=final and not interrupted,
                interrupted=interrupted,
                **extra,
                started=self.started,
                finished=datetime.now(UTC).isoformat(timespec="seconds") if final else None,
                wall_seconds=round(time.monotonic() - self.start, 3),
                jobs=self.workers,
                timeout=self.timeout,
                targets_total=len(self.jobs),
            )
            if final:
                report["exit_status"] = exit_status(report, allow_missing=self.allow_missing)
                report["summary"]["exit_status"] = report["exit_status"]
            if self.json_path and not self._final_written:  # never overwrite the final one
                self._write(report)
                self._final_written = final
        return report

    def _write(self, report: dict[str, Any]) -> None:
        """Write the report; a failure is kept (:attr:`write_error`, said once as it
        happens) and the run goes on: the results stay in memory and in the matrix."""
        assert self.json_path
        try:
            write_json(report, self.json_path)
        except OSError as exc:
            first = self.write_error is None
            self.write_error = (
                f"the JSON report could not be written to {self.json_path}: "
                f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
            )
            if first:
                self._say(f"dropspec: warning: {self.write_error}; the run goes on")
        else:
            self.write_error = None


def _level_kind(clause_id: str) -> tuple[str, str]:
    from ..spec import CLAUSES

    clause = CLAUSES.get(clause_id)
    return (str(clause.level), str(clause.kind)) if clause else ("MUST", "error")


def _counts(entry: dict[str, Any]) -> str:
    n: dict[str, int] = {}
    for c in entry["clauses"]:
        n[c["outcome"]] = n.get(c["outcome"], 0) + 1
    text = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in n.items()) or "nothing run"
    if entry.get("status") not in (None, "ok"):
        first = (str(entry.get("error") or "").splitlines() or [""])[0][:80]
        text += f" [{entry['status']}{': ' + first if first else ''}]"
    return text
