"""The dropspec pytest plugin (entry point ``pytest11: dropspec``).

``pytest --dropspec-target NAME_OR_PATH`` adds one test item per clause of each target's op,
named ``TARGET::CLAUSE-ID``. The targets themselves run in worker processes (the same runner
as ``dropspec check``), so a crashing or hanging target fails its own items and nothing
else. With ``--dropspec-target`` and no paths on the command line, the project's own tests
are not collected (give paths to run them too). pytest-xdist (``-n``) is refused: its workers
would each run every target. Everything a target says reaches the terminal escaped
(:func:`.text.shown`).

Loading the plugin costs nothing in projects that do not use it: this module imports only
pytest and the standard library, and everything else (NumPy, SciPy, hypothesis, frameworks)
loads when a ``--dropspec-*`` option or :func:`dropspec.suite` asks for it.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .defaults import DEFAULT_TIMEOUT
from .options import RUN_OPTIONS, UsageError, config_values, jobs_of, replay_line, validate
from .outcomes import Outcome
from .text import shown, shown_message

if TYPE_CHECKING:
    from ..target import Target
    from .config import Config
    from .engine import ClauseResult

_RESULTS_KEY = pytest.StashKey[list[tuple["Target", "ClauseResult"]]]()
_CONFIG_KEY = pytest.StashKey["Config"]()
_RUN_KEY = pytest.StashKey[dict[str, Any]]()
_DESELECTED_KEY = pytest.StashKey[list[pytest.Item]]()


class ClauseFailed(Exception):
    """A MUST clause (or a target) failed; the message is the check's report."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dropspec", "dropspec conformance suite")
    for opt in RUN_OPTIONS:
        opt.add_plugin_option(group)


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("dropspec_target", None))


def run_config(config: pytest.Config) -> Config:
    """The run's :class:`Config` from the command line (errors become usage errors)."""
    cached = config.stash.get(_CONFIG_KEY, None)
    if cached is not None:
        return cached
    from .config import Config

    try:
        cfg = Config(**config_values(lambda opt: config.getoption(opt.plugin_dest)))
    except ValueError as exc:
        raise pytest.UsageError(f"dropspec: {exc}") from None
    config.stash[_CONFIG_KEY] = cfg
    return cfg


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dropspec_clause(id): the spec clause a test checks")
    config.stash[_RESULTS_KEY] = []
    config.stash[_DESELECTED_KEY] = []
    if not _active(config):
        return
    _refuse_xdist(config)
    try:
        validate(
            {opt.name: config.getoption(opt.plugin_dest) for opt in RUN_OPTIONS},
            lambda opt: opt.plugin_flag,
        )
    except UsageError as exc:
        raise pytest.UsageError(f"dropspec: {exc}") from None
    run_config(config)


def _refuse_xdist(config: pytest.Config) -> None:
    """pytest-xdist would have each of its workers run every target (its items are made at
    collection, and every worker collects): refused, with what to use instead. Only this
    process's own options count: a pytest started as a child of an xdist worker (a test that
    runs pytest in a subprocess) inherits PYTEST_XDIST_WORKER but is no worker itself."""
    numprocesses = getattr(config.option, "numprocesses", None)
    dist = getattr(config.option, "dist", "no")
    if (
        numprocesses not in (None, 0, "0")
        or dist not in (None, "no")
        or hasattr(config, "workerinput")
    ):
        raise pytest.UsageError(
            "dropspec: --dropspec-target cannot run under pytest-xdist (-n/--dist): each xdist "
            "worker would check every target again. dropspec runs targets in its own worker "
            "processes: drop -n and give --dropspec-jobs N (or auto) instead, or run the "
            "dropspec items in a pytest of their own (-p no:xdist)"
        )


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _active(config):
        return None
    cfg = run_config(config)
    return (
        f"dropspec: seed={cfg.seed} alpha={cfg.alpha} power={cfg.power} "
        f"device={cfg.device} (replay with --dropspec-seed {cfg.seed}); targets run in "
        f"worker processes"
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With --dropspec-target, the project's tests are collected only when paths are given."""
    if _active(config) and config.args_source != pytest.Config.ArgsSource.ARGS:
        return True
    return None


def record(config: pytest.Config, target: Target, result: ClauseResult) -> None:
    config.stash[_RESULTS_KEY].append((target, result))


def enforce_outcome(
    outcome: str,
    level: str,
    message: str,
    name: str,
    clause_id: str,
    reason: str = "",
    allow_missing: bool = False,
) -> None:
    """Turn a verdict into pytest's outcome: pass, fail, skip or xfail (raises unless passed).

    A clause that applies but could not be checked fails at MUST level: a run that did not
    check something is never green (``--dropspec-allow-missing`` makes a missing framework
    a skip).
    """
    known = Outcome.of(outcome)
    if known is Outcome.PASSED:
        return
    # what pytest prints of it is escaped: the name and the message come from the target
    message, name, clause_id = "\n".join(shown_message(message)), shown(name), shown(clause_id)
    if known is Outcome.NOT_APPLICABLE:
        pytest.skip(f"not applicable: {message}")
    if known is Outcome.XFAILED:
        pytest.xfail(message)
    if known is Outcome.XPASSED:
        warnings.warn(f"{name} {clause_id}: {message}", stacklevel=1)
        return
    if known is Outcome.FAILED and level != "MUST":
        pytest.xfail(f"{level} clause not met: {message}")
    if known is not None and known.unchecked:
        if level != "MUST" or (allow_missing and reason == "missing"):
            pytest.skip(f"not checked: {message}")
        raise ClauseFailed(f"{name} {clause_id} ({level}) could not be checked:\n{message}")
    raise ClauseFailed(f"{name} violates {clause_id} ({level}):\n{message}")


def enforce(result: ClauseResult, allow_missing: bool = False) -> None:
    enforce_outcome(
        result.outcome,
        result.level,
        result.message,
        result.target,
        result.clause_id,
        result.reason,
        allow_missing,
    )


class ClauseItem(pytest.Item):
    """One clause of one target; the verdict comes from the run of the worker processes."""

    def __init__(
        self, *, spec: str, target_name: str, clause_id: str, level: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.target_name = target_name
        self.clause_id = clause_id
        self.level = level
        self.add_marker(pytest.mark.dropspec_clause(clause_id))

    def runtest(self) -> None:
        run = self.config.stash.get(_RUN_KEY, {})
        entry = run.get("results", {}).get((self.spec, self.clause_id))
        if entry is None:
            raise ClauseFailed(
                f"{shown(self.target_name)} {self.clause_id}: not checked (the run "
                f"produced no verdict for it)"
            )
        enforce_outcome(
            entry["outcome"],
            entry["level"],
            entry["message"],
            self.target_name,
            self.clause_id,
            entry.get("reason", ""),
            self.config.getoption("dropspec_allow_missing"),
        )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ClauseFailed):
            return "\n".join(shown_message(excinfo.value))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return f"dropspec:{shown(self.target_name)}", None, self.name


class LoadFailureItem(pytest.Item):
    """Stands for a target that could not be loaded, so the run reports it and goes on."""

    def __init__(self, *, problem: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem

    def runtest(self) -> None:
        raise ClauseFailed(self.problem)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return "\n".join(shown_message(excinfo.value))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "dropspec", None, self.name


def _describe(specs: list[str], config: pytest.Config) -> dict[str, dict[str, Any]]:
    """spec -> its report header (name, op, clauses), read in a worker process for targets
    that are not built in (their code never runs in pytest's own process)."""
    from ..adapters import builtin_targets
    from ..spec import get_op
    from .runner import Job, Runner

    builtins = builtin_targets()
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if spec in builtins:
            t = builtins[spec]
            out[spec] = {
                "name": t.name,
                "op": t.op,
                "error": t.error,
                "variants": list(t.variants),
                "clauses": [(c.id, str(c.level)) for c in get_op(t.op).clauses],
            }
    others = [s for s in specs if s not in out]
    if others:
        report = Runner(
            [Job(s, describe_only=True) for s in others],
            run_config(config),
            timeout=_timeout(config),
        ).run()
        if report.get("interrupted"):
            pytest.exit("dropspec: interrupted while loading targets", returncode=130)
        for spec, entry in zip(others, report["targets"], strict=True):
            clauses: list[tuple[str, str]] = []
            if entry["op"] != "unknown" and not entry.get("clauses"):
                try:
                    clauses = [(c.id, str(c.level)) for c in get_op(entry["op"]).clauses]
                except ValueError:
                    clauses = []
            out[spec] = {
                "name": entry["name"],
                "op": entry["op"],
                "clauses": clauses,
                "error": entry.get("error") if not clauses else None,
                "variants": entry.get("variants") or [],
            }
    return out


def _with_declared(
    specs: list[str], config: pytest.Config
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """``specs`` and their descriptions, with the variants each target declares
    (``variants=``) added after it, described too."""
    from ..adapters import joined, split

    described = _describe(specs, config)
    added = [
        joined(s, v)
        for s in specs
        if split(s)[1] is None
        for v in described[s].get("variants") or []
        if joined(s, v) not in described
    ]
    if not added:
        return specs, described
    described.update(_describe(list(dict.fromkeys(added)), config))
    out: list[str] = []
    for s in specs:
        out += [s] + [a for a in added if split(a)[0] == s]
    return list(dict.fromkeys(out)), described


def _specs(config: pytest.Config) -> list[str]:
    """The targets to check: each ``--dropspec-target``, under each ``--dropspec-under``
    variant where any is given (``"TARGET under VARIANT"``)."""
    specs = list(dict.fromkeys(config.getoption("dropspec_target")))
    under = config.getoption("dropspec_under")
    if not under:
        return specs
    from ..adapters import joined

    return list(dict.fromkeys(joined(s, v) for s in specs for v in under))


def _timeout(config: pytest.Config) -> float:
    value = config.getoption("dropspec_timeout")
    return float(value) if value else DEFAULT_TIMEOUT


@pytest.hookimpl(tryfirst=True)  # add the items before -k / -m deselect among them
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not _active(config):
        return
    from .engine import registry

    try:
        registry()
    except LookupError as exc:
        raise pytest.UsageError(f"dropspec: the suite is incomplete: {exc}") from None
    only = set(config.getoption("dropspec_clause"))
    specs, described = _with_declared(_specs(config), config)
    names = [d["name"] for d in described.values()]
    late: list[pytest.Item] = []
    ours: list[pytest.Item] = []
    for spec in specs:
        d = described[spec]
        # node ids are TARGET::CLAUSE-ID (not the session's "::" prefix), escaped: pytest
        # prints them as they are
        name = d["name"] if names.count(d["name"]) == 1 else f"{d['name']} [{spec}]"
        if d.get("error") or not d["clauses"]:
            late.append(
                LoadFailureItem.from_parent(
                    session,
                    name=shown(spec),
                    nodeid=shown(spec),
                    problem=f"{spec}: {d.get('error') or 'no clauses'}",
                )
            )
            continue
        for clause_id, level in d["clauses"]:
            if only and clause_id not in only:
                continue
            ours.append(
                ClauseItem.from_parent(
                    session,
                    name=f"{shown(name)}::{clause_id}",
                    nodeid=f"{shown(name)}::{clause_id}",
                    spec=spec,
                    target_name=name,
                    clause_id=clause_id,
                    level=level,
                )
            )
    items.extend(ours)
    # said as collected, so that pytest counts them ("collected 22 items", not 0)
    config.hook.pytest_collectreport(
        report=pytest.CollectReport("", "passed", None, [*ours, *late])
    )
    config.stash[_RUN_KEY] = {"late": late}


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash[_DESELECTED_KEY].extend(items)


class _LateItems:
    """Adds the items for unloadable targets after -k / -m, so that no filter hides them."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        items.extend(config.stash.get(_RUN_KEY, {}).get("late", []))


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.pluginmanager.register(_LateItems(), "dropspec-load-failures")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Run the selected clauses of every target in worker processes, before the items
    report them one by one."""
    config = session.config
    if not _active(config) or config.option.collectonly:
        return
    from .runner import Job, Runner

    selected: dict[str, list[str]] = {}
    for item in session.items:
        if isinstance(item, ClauseItem):
            selected.setdefault(item.spec, []).append(item.clause_id)
    from ..adapters import builtin_targets

    builtins = builtin_targets()
    from ..adapters import split

    jobs = [
        Job(spec, dict(builtins[base].env) if (base := split(spec)[0]) in builtins else {}, clauses)
        for spec, clauses in selected.items()
    ]
    if not jobs:  # nothing selected (-k, a --dropspec-clause of another op): a report still
        # says so, its targets described and every clause left out
        specs = _specs(config)
        jobs = [Job(spec, describe_only=True) for spec in specs]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    progress = None
    verbosity = config.get_verbosity()
    if reporter is not None and verbosity >= -1:

        def progress(line: str) -> None:
            # -q: one line per target as it finishes; the default adds one as each starts
            if verbosity >= 0 or "] done " in line:
                reporter.write_line(shown(f"dropspec {line}"))

    runner = Runner(
        jobs,
        run_config(config),
        workers=jobs_of(config.getoption("dropspec_jobs"), False),
        timeout=_timeout(config),
        json_path=config.getoption("dropspec_json"),
        allow_missing=config.getoption("dropspec_allow_missing"),
        progress=progress,
    )
    try:
        report = runner.run()
    except UsageError as exc:  # another run writes the same --dropspec-json report
        raise pytest.UsageError(f"dropspec: {exc}") from None
    write_error = _add_deselected(report, config)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for job, entry in zip(jobs, report["targets"], strict=True):
        for c in entry["clauses"]:
            results[(job.spec, c["id"])] = c
        if entry.get("error") and not entry["clauses"]:
            for cid in job.clauses:
                results[(job.spec, cid)] = {
                    "outcome": Outcome.NOT_CHECKED.value,
                    "level": "MUST",
                    "message": entry["error"],
                    "reason": "crashed",
                }
        if entry.get("status") == "error":  # a crash or a timeout: how to repeat it
            settings = {**asdict(runner.config), "timeout": runner.timeout}
            replay = replay_line(job.spec, {**settings, "clause": job.clauses})
            for cid in job.clauses:
                r = results.get((job.spec, cid))
                if r is not None and r["outcome"] == Outcome.NOT_CHECKED.value:
                    results[(job.spec, cid)] = {**r, "message": f"{r['message']}\n{replay}"}
    previous: dict[str, Any] = config.stash.get(_RUN_KEY, {})
    config.stash[_RUN_KEY] = {
        **previous,
        "results": results,
        "report": report,
        "write_error": write_error,
    }
    if report.get("interrupted"):
        pytest.exit("dropspec: interrupted; the report is marked incomplete", returncode=130)


def _add_deselected(report: dict[str, Any], config: pytest.Config) -> str | None:
    """Clauses that -k / -m deselected are in the report as not checked, not missing; the
    report's status is computed again once they are in (a selection is a partial run).
    Returns why the report could not be written (None: written, or none asked for)."""
    from .report import exit_status, not_checked_clause, summary, write_json

    by_name = {t["name"]: t for t in report["targets"]}
    for item in config.stash.get(_DESELECTED_KEY, []):
        if isinstance(item, ClauseItem) and item.target_name in by_name:
            by_name[item.target_name]["clauses"].append(
                not_checked_clause(
                    item.clause_id, "not checked: deselected (-k / -m)", "deselected", item.level
                )
            )
    report["summary"] = summary(report)
    if report.get("exit_status") is not None:
        status = exit_status(report, allow_missing=config.getoption("dropspec_allow_missing"))
        report["exit_status"] = report["summary"]["exit_status"] = status
    path = config.getoption("dropspec_json")
    if path:
        try:
            write_json(report, path)
        except OSError as exc:  # the directory deleted or made read-only during the run
            return f"the JSON report could not be written to {path}: {exc.strerror or exc}"
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A report that could not be written fails the session: the run's record is lost."""
    if session.config.stash.get(_RUN_KEY, {}).get("write_error") and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash.get(_RUN_KEY, {})
    results = config.stash.get(_RESULTS_KEY, [])
    if run.get("report") is not None:
        from .report import closing_line, false_alarm_bound

        report = run["report"]
        say = terminalreporter.write_line
        say(
            f"dropspec: {sum(len(t['clauses']) for t in report['targets'])} clause checks on "
            f"{len(report['targets'])} target(s); seed {report['seed']}; P(any false alarm) "
            f"<= {false_alarm_bound(report):.2g} (sum of alpha over statistical checks)"
        )
        closing = closing_line(report, allow_missing=config.getoption("dropspec_allow_missing"))
        say("\n".join(shown_message("dropspec: " + closing)))
        if run.get("write_error"):
            say(
                shown(
                    f"dropspec: error: {run['write_error']}; the results are only in this "
                    f"output (the session fails)"
                ),
                red=True,
            )
        elif config.getoption("dropspec_json"):
            say(shown(f"dropspec: report written to {config.getoption('dropspec_json')}"))
        return
    if not results:
        return
    from .report import build_report, false_alarm_bound, target_entry, write_json

    cfg = run_config(config)
    grouped: dict[str, tuple[Target, list[ClauseResult]]] = {}
    for target, result in results:
        grouped.setdefault(target.name, (target, []))[1].append(result)
    report = build_report([target_entry(t, rs) for t, rs in grouped.values()], cfg)
    terminalreporter.write_line(
        f"dropspec: {len(results)} clause checks on {len(grouped)} target(s); seed {cfg.seed}; "
        f"P(any false alarm) <= {false_alarm_bound(report):.2g} (sum of alpha over "
        f"statistical checks)"
    )
    path = config.getoption("dropspec_json")
    if path:
        write_json(report, path)
        terminalreporter.write_line(f"dropspec: report written to {path}")
