"""Running ``dropspec`` as a user does, in a subprocess, and reading what it wrote: the one
home of these helpers for the end-to-end tests (isolation, threats, verdicts, merge,
messages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``dropspec ARGS`` in ``cwd``, with ``env`` added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "dropspec.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=timeout,
    )


def report(path: Path) -> dict[str, Any]:
    """A JSON report, read back."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A report's target entries by name."""
    return {t["name"]: t for t in data["targets"]}
