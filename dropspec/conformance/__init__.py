"""The conformance suite: one check per clause, the statistics, the pytest plugin, the report."""

from __future__ import annotations

from .engine import (
    CHECKS,
    CheckFailure,
    ClauseResult,
    Config,
    NotApplicable,
    registry,
    run_clause,
    run_target,
)

__all__ = ["CHECKS", "CheckFailure", "ClauseResult", "Config", "NotApplicable", "registry",
           "run_clause", "run_target"]
