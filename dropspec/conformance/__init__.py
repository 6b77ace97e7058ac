"""The conformance suite: one check per clause, the statistics, the pytest plugin, the report.

The names below load on first use, so that importing ``dropspec.conformance.plugin`` (which
pytest does at start-up for every project where dropspec is installed) imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CHECKS",
    "CheckFailure",
    "ClauseResult",
    "Config",
    "NotApplicable",
    "registry",
    "run_clause",
    "run_target",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".engine", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
