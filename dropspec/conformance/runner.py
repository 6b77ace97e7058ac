"""Runs targets in worker processes, bounded in time, and keeps an honest report as it goes.

Why processes: a target is arbitrary code. It may segfault, call ``os._exit``, exhaust memory,
hang, or patch dropspec; none of that may cost the other targets their results or turn a run
green. The engine is the standard library's :mod:`subprocess`: each of ``jobs`` slots keeps one
``python -m dropspec.conformance.worker`` process and feeds it targets one at a time over a
pipe (so a framework is imported once per worker, not once per target). A worker that dies
is replaced; one past the timeout is killed (its whole process group) and replaced.

Stopping: Ctrl-C (SIGINT), SIGTERM (what CI runners, ``timeout`` and containers send) and
SIGHUP (the terminal closed) all stop the run the same way: every worker is killed, the
report is written marked ``"interrupted": true, "complete": false`` (with
``"interrupted_by"``, the signal's name), the worker logs are removed, and the caller prints
the matrix and exits 130. Signals that arrive while the run stops are absorbed, so a second
Ctrl-C cannot leave a traceback or an unmarked report. A signal the run was started with
ignored (SIGHUP under ``nohup``) stays ignored.

The report: while a run writes ``--json PATH`` it holds an exclusive lock on ``PATH.lock``
(removed when the run ends); a second run on the same path is refused before any target runs
(:class:`ReportLocked`). A write that fails mid-run (the directory deleted or made read-only)
costs nothing but the file: the run goes on, and :attr:`Runner.write_error` says, at the end,
that the report could not be written.

Every outcome is accounted for: a target that crashed, timed out, could not be loaded or was
interrupted gets its unfinished clauses as ``not_checked`` with the cause, never silence.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
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
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
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
    """dropspec's own cache directory (JAX compilation cache, hypothesis' files)."""
    base = os.environ.get("DROPSPEC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "dropspec"
    )
    return Path(base)


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
                pick = same[0]
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
                pick = next((p for p in mine if self.fits(p[1], env)), mine[0])
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


class _Worker:
    """One worker process, the thread reading its events, and its log."""

    def __init__(self, env: dict[str, str], log: IO[bytes], threads: int | None = None) -> None:
        self.env = env
        self.log = log
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dropspec.conformance.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=worker_env(env, threads),
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.events.put(json.loads(raw))
            except ValueError:
                continue  # not ours; the protocol pipe carries only dropspec's events
        self.events.put(None)

    def send(self, job: Job, config: Config) -> None:
        assert self.proc.stdin is not None
        line = json.dumps(
            {
                "spec": job.spec,
                "clauses": job.clauses,
                "describe_only": job.describe_only,
                "config": asdict(config),
            }
        )
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)

    def close(self) -> None:
        """End a worker whose jobs are all reported: it is asked to stop (end of input) and
        killed if it has not after ``CLOSE_GRACE`` seconds. Tearing down an interpreter
        that holds TensorFlow or JAX takes seconds, which nothing needs: the results are in."""
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=CLOSE_GRACE)
        except subprocess.TimeoutExpired:
            self.kill()

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


def _tail(log: IO[bytes], offset: int, lines: int = 15) -> str:
    log.flush()
    with open(log.name, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", "replace")
    kept = [ln for ln in text.splitlines() if ln.strip()][-lines:]
    return "\n".join("    | " + ln for ln in kept)


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

    # ------------------------------------------------------------------ the run ----
    def run(self) -> dict[str, Any]:
        """Run every job; returns the report. Ctrl-C, SIGTERM and SIGHUP stop the run and
        raise nothing: the report says ``interrupted`` and :func:`exit_status` gives 130.
        Raises :class:`ReportLocked`, before any target runs, when another run writes the
        same report."""
        lock = None
        try:
            lock = lock_report(self.json_path) if self.json_path else None
            self.logdir = tempfile.TemporaryDirectory(prefix="dropspec-logs-")
            with stop_on_signals(
                self._signalled, lambda: self.ignore_signals_after_stop and self.stop.is_set()
            ):
                return self._run()
        finally:
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
        assert self.logdir is not None
        log = open(Path(self.logdir.name) / f"worker-{k}.log", "w+b")  # noqa: SIM115
        try:
            while not self.stop.is_set():
                alive = worker is not None and worker.proc.poll() is None
                taken = todo.take(k, worker.env if alive and worker else None, group)
                if taken is None:
                    break
                i, job, env = taken
                group = job.group
                if worker is None or worker.env != env or worker.proc.poll() is not None:
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
                self.progress(
                    self._line(
                        f"{entry['name']}: {_counts(entry)} ({entry.get('seconds', 0):.1f} s)",
                        done=True,
                    )
                )
                self._flush(final=False)
                if not reusable:
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

    def _start(self, i: int, job: Job, log: IO[bytes], env: dict[str, str]) -> _Worker | None:
        worker = _Worker(env, log, self.threads)
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
        cause = worker.death() if worker.proc.poll() is not None else "it did not start in time"
        worker.kill()
        self.entries[i] = error_entry(
            job.spec,
            f"a worker process could not start: {cause}\n{_tail(log, 0)}",
            reason="crashed",
        )
        return None

    def _run_job(self, worker: _Worker, job: Job, log: IO[bytes]) -> tuple[dict[str, Any], bool]:
        log.seek(0, os.SEEK_END)
        offset = log.tell()
        worker.send(job, self.config)
        started = time.monotonic()
        entry: dict[str, Any] | None = None
        planned: list[str] = []
        current: str | None = None
        while True:
            if self.stop.is_set():
                worker.kill()
                return self._broken(
                    job,
                    entry,
                    planned,
                    current,
                    "interrupted",
                    "not checked: the run was interrupted",
                    "",
                    started,
                ), False
            remaining = started + self.timeout - time.monotonic()
            if remaining <= 0:
                worker.kill()
                return self._broken(
                    job,
                    entry,
                    planned,
                    current,
                    "error",
                    f"timed out after {self.timeout:g} s; its worker was killed",
                    _tail(log, offset),
                    started,
                ), False
            try:
                event = worker.events.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if event is None:
                return self._broken(
                    job,
                    entry,
                    planned,
                    current,
                    "error",
                    worker.death(),
                    _tail(log, offset),
                    started,
                ), False
            kind = event.get("event")
            if kind == "target":
                entry = event["entry"]
                planned = list(event.get("clauses", []))
            elif kind == "clause-start":
                current = event["id"]
            elif kind == "clause" and entry is not None:
                entry["clauses"].append(event["entry"])
                current = None
            elif kind == "tampered":
                what = ", ".join(event.get("what", []))
                worker.kill()
                return self._broken(
                    job,
                    {**(entry or {}), "clauses": []},
                    planned,
                    None,
                    "error",
                    f"the target changed dropspec's own code "
                    f"({what}); none of its results can be trusted",
                    "",
                    started,
                ), False
            elif kind == "done":
                break
        assert entry is not None, "the worker finished a job without describing its target"
        entry["seconds"] = round(time.monotonic() - started, 3)
        entry["target_seconds"] = round(
            sum(c.get("target_seconds", 0.0) for c in entry["clauses"]), 3
        )
        if any(c.get("reason") == "missing" for c in entry["clauses"]):
            entry["status"] = "missing"
        return entry, True

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
