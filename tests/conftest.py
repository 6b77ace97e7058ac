"""Shared set-up of the project's tests: the tiers, the replay seed, one reference report.

Tiers: tests marked ``slow`` (long statistical and end-to-end tests) are deselected by the
default ``-m "not slow"`` in pyproject.toml's addopts, so a plain ``pytest`` is the fast tier;
``-m "slow or not slow"`` (what CI runs) selects every tier, ``-m slow`` only the slow one.

Replay seed: see tests/replay.py; printed in pytest's header and closing summary.

Shared reference runs: ``dropspec power`` runs every statistical clause on the NumPy reference
(the same clause-runs as a full reference check); the tests that need its output share one run
(``reference_power``) instead of recomputing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# tests/impls.py, tests/replay.py and tests/mutants/ are shared by several test modules.
sys.path.insert(0, str(Path(__file__).parent))

import replay

pytest_plugins = ["pytester"]

#: The marker expression CI passes to run every tier.
EVERY_TIER = "slow or not slow"


def pytest_configure(config: pytest.Config) -> None:
    try:
        replay.replay_seed()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def tier(config: pytest.Config) -> str:
    expr = (config.option.markexpr or "").strip()
    if expr == "not slow":
        return f"fast tier (slow tests deselected; -m '{EVERY_TIER}' runs every tier)"
    if expr in ("", EVERY_TIER):
        return "every tier"
    return f"tests selected by -m {expr!r}"


def seed_line() -> str:
    seed, origin = replay.replay_seed()
    return f"dropspec replay seed: {seed} ({origin}; set {replay.ENV} to repeat)"


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"dropspec tests: {tier(config)}", seed_line()]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if any(
        getattr(r, "nodeid", "").startswith("tests/test_doc_commands.py")
        for reports in terminalreporter.stats.values()
        for r in reports
    ):
        import test_doc_commands  # how many of the docs' commands were run, and why not

        terminalreporter.write_line(test_doc_commands.summary())
    # The header is not shown under -q (as CI runs): repeat both lines at the end.
    terminalreporter.write_line(f"dropspec tests: {tier(config)}; {seed_line()}")


@pytest.fixture(scope="session")
def replay_seed() -> int:
    """This run's replay base seed (tests/replay.py)."""
    return replay.replay_seed()[0]


@pytest.fixture(scope="session")
def reference_power(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """``dropspec power`` exactly as the docs show it (this interpreter's console script), run
    once per session: every statistical clause on the NumPy reference targets."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(bin_dir / "dropspec"), "power"],
        cwd=tmp_path_factory.mktemp("reference-power"),
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
