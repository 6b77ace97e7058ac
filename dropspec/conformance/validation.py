"""Checks of run settings shared by the command line and the pytest plugin (which both import
them from here, so that neither entry point imports the other)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class UsageError(Exception):
    """A bad command-line value; the message says what is wrong and what to do."""


def check_device(device: str) -> None:
    if device == "cpu":
        return
    if device.split(":")[0] not in ("cuda", "gpu"):
        raise UsageError(f"--device must be cpu, cuda (cuda:N) or gpu, got {device!r}")
    if not (
        shutil.which("nvidia-smi") or Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists()
    ):
        raise UsageError(
            f"--device {device}: no GPU is visible on this machine (no "
            f"/dev/nvidia0, /dev/kfd or nvidia-smi); use --device cpu"
        )


def check_writable(path: str) -> None:
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--json {path}: is a directory; give a file path")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--json {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"--json {path}: not writable here; choose another path")


def jobs_of(value: str | None, default_auto: bool) -> int:
    if value is None:
        return (os.cpu_count() or 1) if default_auto else 1
    if value == "auto":
        return os.cpu_count() or 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"-j/--jobs must be a positive number or 'auto', got {value!r}")
    return n


__all__ = ["UsageError", "check_device", "check_writable", "jobs_of"]
