"""The dropspec pytest plugin (entry point ``pytest11: dropspec``).

``pytest --dropspec-target NAME_OR_PATH`` adds one test item per clause of each target's op,
named ``TARGET::CLAUSE-ID``. Options, all under ``--dropspec-*``: seed, alpha, power, device,
examples, json. Loading the plugin imports no deep-learning framework.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from ..spec import Clause, Level
from ..target import Target
from .engine import DEFAULT_ALPHA, DEFAULT_POWER, DEFAULT_SEED, ClauseResult, Config, run_clause

_RESULTS_KEY = pytest.StashKey[list[tuple[Target, ClauseResult]]]()
_CONFIG_KEY = pytest.StashKey[Config]()
_LOAD_FAILURES_KEY = pytest.StashKey[list[tuple[str, str]]]()


class ClauseFailed(Exception):
    """A MUST clause (or a target) failed; the message is the check's report."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dropspec", "dropspec conformance suite")
    group.addoption("--dropspec-target", action="append", default=[], metavar="TARGET",
                    help="target to check: built-in name, path/to/file.py:fn or module:fn "
                    "(repeatable)")
    group.addoption("--dropspec-seed", type=int, default=DEFAULT_SEED,
                    help=f"base seed of every check (default {DEFAULT_SEED})")
    group.addoption("--dropspec-alpha", type=float, default=DEFAULT_ALPHA,
                    help=f"significance level of each statistical check (default {DEFAULT_ALPHA})")
    group.addoption("--dropspec-power", type=float, default=DEFAULT_POWER,
                    help=f"power the sample sizes are chosen for (default {DEFAULT_POWER})")
    group.addoption("--dropspec-device", default="cpu",
                    help="device for framework arrays: cpu (default), cuda, gpu")
    group.addoption("--dropspec-examples", type=int, default=10,
                    help="hypothesis examples per exact clause (default 10)")
    group.addoption("--dropspec-clause", action="append", default=[], metavar="ID",
                    help="check only this clause id, exactly (repeatable)")
    group.addoption("--dropspec-json", default=None, metavar="PATH",
                    help="write the JSON report to PATH")


def run_config(config: pytest.Config) -> Config:
    """The run's :class:`Config` from the command line (errors become usage errors)."""
    cached = config.stash.get(_CONFIG_KEY, None)
    if cached is not None:
        return cached
    try:
        cfg = Config(seed=config.getoption("dropspec_seed"),
                     alpha=config.getoption("dropspec_alpha"),
                     power=config.getoption("dropspec_power"),
                     device=config.getoption("dropspec_device"),
                     examples=config.getoption("dropspec_examples"))
    except ValueError as exc:
        raise pytest.UsageError(f"dropspec: {exc}") from None
    config.stash[_CONFIG_KEY] = cfg
    return cfg


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dropspec_clause(id): the spec clause a test checks")
    config.stash[_RESULTS_KEY] = []
    config.stash[_LOAD_FAILURES_KEY] = []
    run_config(config)
    config.pluginmanager.register(_LateItems(), "dropspec-load-failures")


def pytest_report_header(config: pytest.Config) -> str | None:
    if not config.getoption("dropspec_target"):
        return None
    cfg = run_config(config)
    return (f"dropspec: seed={cfg.seed} alpha={cfg.alpha} power={cfg.power} "
            f"device={cfg.device} (replay with --dropspec-seed {cfg.seed})")


def record(config: pytest.Config, target: Target, result: ClauseResult) -> None:
    config.stash[_RESULTS_KEY].append((target, result))


def enforce(result: ClauseResult) -> None:
    """Turn a verdict into pytest's outcome: fail, skip or xfail (raises unless passed)."""
    if result.outcome == "passed":
        return
    if result.outcome == "skipped":
        pytest.skip(result.message)
    if result.outcome == "xfailed":
        pytest.xfail(result.message)
    if result.outcome == "xpassed":
        warnings.warn(f"{result.target} {result.clause_id}: {result.message}", stacklevel=1)
        return
    if result.outcome == "failed" and result.level != Level.MUST:
        pytest.xfail(f"{result.level} clause not met: {result.message}")
    raise ClauseFailed(f"{result.target} violates {result.clause_id} ({result.level}):\n"
                       f"{result.message}")


class ClauseItem(pytest.Item):
    """One clause of one target."""

    def __init__(self, *, target: Target, clause: Clause, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.clause = clause
        self.add_marker(pytest.mark.dropspec_clause(clause.id))

    def runtest(self) -> None:
        result = run_clause(self.target, self.clause, run_config(self.config))
        record(self.config, self.target, result)
        enforce(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ClauseFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return f"dropspec:{self.target.name}", None, f"{self.target.name}::{self.clause.id}"


class LoadFailureItem(pytest.Item):
    """Stands for a target that could not be loaded, so the run reports it and goes on."""

    def __init__(self, *, problem: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem

    def runtest(self) -> None:
        raise ClauseFailed(self.problem)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "dropspec", None, self.name


class TargetCollector(pytest.Collector):
    """Collects one :class:`ClauseItem` per clause of a target's op."""

    def __init__(self, *, target: Target, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def collect(self) -> Iterator[pytest.Item]:
        from ..spec import get_op

        try:
            clauses = get_op(self.target.op).clauses
        except ValueError as exc:
            yield LoadFailureItem.from_parent(self, name="(op)", problem=str(exc))
            return
        for clause in clauses:
            yield ClauseItem.from_parent(self, name=clause.id, target=self.target,
                                         clause=clause)


@pytest.hookimpl(tryfirst=True)  # add the items before -k / -m deselect among them
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    specs = config.getoption("dropspec_target")
    if not specs:
        return
    from ..adapters import TargetLoadError, load_target
    from .engine import registry

    only = set(config.getoption("dropspec_clause"))
    try:
        registry()
    except LookupError as exc:
        raise pytest.UsageError(f"dropspec: the suite is incomplete: {exc}") from None
    for spec in specs:
        try:
            target = load_target(spec)
        except TargetLoadError as exc:
            config.stash[_LOAD_FAILURES_KEY].append((spec, str(exc)))
            continue
        collector = TargetCollector.from_parent(session, name=target.name, target=target)
        items.extend(item for item in collector.collect()
                     if not only or not isinstance(item, ClauseItem) or item.clause.id in only)


class _LateItems:
    """Adds the items for unloadable targets after -k / -m, so that no filter hides them."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        for spec, problem in config.stash.get(_LOAD_FAILURES_KEY, []):
            items.append(LoadFailureItem.from_parent(session, name=spec, problem=problem))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS_KEY, [])
    load_failures = config.stash.get(_LOAD_FAILURES_KEY, [])
    if not results and not load_failures:
        return
    from .report import build_report, error_entry, false_alarm_bound, target_entry, write_json

    cfg = run_config(config)
    grouped: dict[str, tuple[Target, list[ClauseResult]]] = {}
    for target, result in results:
        grouped.setdefault(target.name, (target, []))[1].append(result)
    entries = [target_entry(t, rs) for t, rs in grouped.values()]
    entries += [error_entry(spec, problem) for spec, problem in load_failures]
    report = build_report(entries, cfg)
    bound = false_alarm_bound(report)
    terminalreporter.write_line(
        f"dropspec: {len(results)} clause checks on {len(grouped)} target(s); seed {cfg.seed}; "
        f"P(any false alarm) <= {bound:.2g} (sum of alpha over statistical checks)")
    path = config.getoption("dropspec_json")
    if path:
        write_json(report, path)
        terminalreporter.write_line(f"dropspec: report written to {path}")
