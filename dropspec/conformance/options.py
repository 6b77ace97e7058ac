"""The options of a run, declared once: the command line (``dropspec check``), the pytest
plugin (``--dropspec-*``) and :class:`~dropspec.conformance.config.Config` are built from
:data:`RUN_OPTIONS`.

Each option has its name, type, default, help text and validation here; the CLI's flags are
:attr:`RunOption.cli`, the plugin's is ``--dropspec-<name>``, and the options that are fields
of :class:`Config` say so. A validator raises :class:`UsageError` naming the option as the
surface spells it (``--seed``, ``--dropspec-seed``, or ``seed`` for :class:`Config`).

This module imports only the standard library (and the spec's clause ids, when a clause option
is checked), so the plugin reads it at pytest start-up for nothing.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .defaults import (
    DEFAULT_ALPHA,
    DEFAULT_DEVICE,
    DEFAULT_EXAMPLES,
    DEFAULT_POWER,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT,
)


class UsageError(ValueError):
    """A bad option value; the message says what is wrong and what to do."""


# ------------------------------------------------------------------ validators ----


def check_seed(value: int, flag: str = "seed") -> None:
    if not 0 <= value < 2**64:
        raise UsageError(f"{flag} must be an integer in [0, 2**64), got {value}")


def check_alpha(value: float, flag: str = "alpha") -> None:
    if not 0.0 < value < 0.5:
        raise UsageError(f"{flag} must be in (0, 0.5), got {value}")


def check_power(value: float, flag: str = "power") -> None:
    if not 0.5 <= value < 1.0:
        raise UsageError(f"{flag} must be in [0.5, 1), got {value}")


def check_examples(value: int, flag: str = "examples") -> None:
    if value < 1:
        raise UsageError(f"{flag} must be at least 1, got {value}")


def check_device(device: str, flag: str = "--device") -> None:
    """``cpu``, or ``cuda``/``cuda:N``/``gpu`` on a machine where a GPU is visible."""
    if device == "cpu":
        return
    if device.split(":")[0] not in ("cuda", "gpu"):
        raise UsageError(f"{flag} must be cpu, cuda (cuda:N) or gpu, got {device!r}")
    if not (
        shutil.which("nvidia-smi") or Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists()
    ):
        raise UsageError(
            f"{flag} {device}: no GPU is visible on this machine (no "
            f"/dev/nvidia0, /dev/kfd or nvidia-smi); use {flag} cpu"
        )


def check_clauses(ids: list[str], flag: str = "--clause") -> None:
    """Every id a clause of the spec, exactly."""
    from ..spec import CLAUSES

    unknown = [c for c in ids if c not in CLAUSES]
    if unknown:
        raise UsageError(
            f"unknown clause id{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"`dropspec list` shows them all (ids are exact, e.g. DROPOUT-RATE)"
        )


def check_writable(path: str | None, flag: str = "--json") -> None:
    """A file path whose directory exists and is writable (None: no file asked for)."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file path")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable here; choose another path")


def jobs_of(value: str | None, default_auto: bool, flag: str = "-j/--jobs") -> int:
    """Worker processes for ``value`` (a number, ``auto``, or None for the default)."""
    if value is None:
        return (os.cpu_count() or 1) if default_auto else 1
    if value == "auto":
        return os.cpu_count() or 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"{flag} must be a positive number or 'auto', got {value!r}")
    return n


def check_jobs(value: str | None, flag: str = "-j/--jobs") -> None:
    jobs_of(value, False, flag)


def check_timeout(value: float | None, flag: str = "--timeout") -> None:
    if value is not None and not value > 0:
        raise UsageError(f"{flag} must be a positive number of seconds, got {value}")


# ------------------------------------------------------------------- the table ----


@dataclass(frozen=True)
class RunOption:
    """One option of a run, as the CLI, the plugin and :class:`Config` all take it."""

    name: str
    help: str
    default: Any = None
    #: Converts the command-line string (None: kept as a string).
    type: Callable[[str], Any] | None = None
    #: ``"append"`` (repeatable, a list), ``"store_true"`` (a flag), or None (one value).
    action: str | None = None
    metavar: str | None = None
    #: The flags of ``dropspec check``; () makes it the command's positional arguments.
    cli: tuple[str, ...] = ()
    #: A field of :class:`Config`.
    config: bool = False
    #: Raises :class:`UsageError` for a bad value, naming it by the flag it is given.
    check: Callable[[Any, str], None] | None = None
    #: :class:`Config` runs :attr:`check` too (False where the check asks the machine, as the
    #: device's does: a Config may describe a run made elsewhere).
    config_checks: bool = True
    #: Added to the help where each surface's effect differs.
    cli_note: str = ""
    plugin_note: str = ""
    #: It shapes a verdict, so a replay command carries it (:func:`replay_command`).
    replays: bool = False

    @property
    def plugin_flag(self) -> str:
        return "--dropspec-" + self.name.replace("_", "-")

    @property
    def plugin_dest(self) -> str:
        return "dropspec_" + self.name

    @property
    def cli_dest(self) -> str:
        return "targets" if not self.cli else self.cli[-1].lstrip("-").replace("-", "_")

    @property
    def cli_label(self) -> str:
        """How CLI messages name it: ``--seed``, ``-j/--jobs``."""
        return "/".join(self.cli)

    def cli_help(self) -> str:
        return self.help + self.cli_note

    def plugin_help(self) -> str:
        return self.help + self.plugin_note

    def add_cli_argument(self, parser: Any) -> None:
        """Add it to an ``argparse`` parser: its flags, or positional arguments."""
        if not self.cli:
            parser.add_argument(
                self.cli_dest, nargs="*", metavar=self.metavar, help=self.cli_help()
            )
        else:
            parser.add_argument(*self.cli, help=self.cli_help(), **self.add_kwargs())

    def add_plugin_option(self, group: Any) -> None:
        """Add it to a pytest option group as ``--dropspec-<name>``."""
        group.addoption(self.plugin_flag, help=self.plugin_help(), **self.add_kwargs())

    def add_kwargs(self) -> dict[str, Any]:
        """The keywords of ``argparse``'s and pytest's ``add_argument``/``addoption``."""
        # A list default is copied: argparse hands the default itself to the namespace.
        default = list(self.default) if isinstance(self.default, list) else self.default
        kwargs: dict[str, Any] = {"default": default}
        if self.action is not None:
            kwargs["action"] = self.action
        if self.type is not None:
            kwargs["type"] = self.type
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        return kwargs


def check_variants(names: list[str], flag: str = "--under") -> None:
    """Every name a variant of a framework's adapter (:func:`dropspec.adapters.variants`)."""
    if not names:
        return
    from ..adapters import variants

    known = variants()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"{flag}: unknown variant(s) {', '.join(map(repr, unknown))}; use one of "
            f"{', '.join(known)}"
        )


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption(
        "target",
        "built-in name, path/to/file.py:fn or module:fn; its code runs in worker processes",
        default=[],
        action="append",
        metavar="TARGET",
        cli_note=" (default: the NumPy reference)",
        plugin_note=" (repeatable)",
    ),
    RunOption(
        "under",
        "check each named target under this transformation (repeatable; `dropspec list` "
        "shows each framework's variants); it is named 'TARGET under VARIANT' in the matrix",
        default=[],
        action="append",
        metavar="VARIANT",
        cli=("--under",),
        check=check_variants,
    ),
    RunOption(
        "json",
        "write the JSON report to PATH (updated as targets finish)",
        metavar="PATH",
        cli=("--json",),
        check=check_writable,
    ),
    RunOption(
        "seed",
        "base seed; each check derives its own from it, the target and the clause id "
        f"(default {DEFAULT_SEED})",
        default=DEFAULT_SEED,
        type=int,
        cli=("--seed",),
        config=True,
        check=check_seed,
        replays=True,
    ),
    RunOption(
        "alpha",
        f"significance level of each statistical check (default {DEFAULT_ALPHA})",
        default=DEFAULT_ALPHA,
        type=float,
        cli=("--alpha",),
        config=True,
        check=check_alpha,
        replays=True,
    ),
    RunOption(
        "power",
        f"power the sample sizes are chosen for (default {DEFAULT_POWER})",
        default=DEFAULT_POWER,
        type=float,
        cli=("--power",),
        config=True,
        check=check_power,
        replays=True,
    ),
    RunOption(
        "device",
        f"where framework arrays live: {DEFAULT_DEVICE} (default), cuda (cuda:N) or gpu",
        default=DEFAULT_DEVICE,
        cli=("--device",),
        config=True,
        check=check_device,
        config_checks=False,
        replays=True,
    ),
    RunOption(
        "examples",
        f"hypothesis examples per exact clause (default {DEFAULT_EXAMPLES})",
        default=DEFAULT_EXAMPLES,
        type=int,
        cli=("--examples",),
        config=True,
        check=check_examples,
        replays=True,
    ),
    RunOption(
        "clause",
        "check only this clause id, exactly (repeatable)",
        default=[],
        action="append",
        metavar="ID",
        cli=("--clause",),
        check=check_clauses,
        replays=True,
    ),
    RunOption(
        "jobs",
        "worker processes: a number or 'auto' (one per core); default 1",
        metavar="N",
        cli=("-j", "--jobs"),
        check=check_jobs,
        cli_note=" under pytest, auto for dropspec check",
    ),
    RunOption(
        "timeout",
        f"bound on each target's time (default {DEFAULT_TIMEOUT:g})",
        type=float,
        metavar="SECONDS",
        cli=("--timeout",),
        check=check_timeout,
        replays=True,
    ),
    RunOption(
        "allow_missing",
        "a target whose framework (or a package it requires) is not installed ",
        default=False,
        action="store_true",
        cli=("--allow-missing",),
        cli_note="is left out of the run: exit 4 (partial) instead of 3 when nothing fails",
        plugin_note="is skipped instead of failed",
    ),
)

#: The options that are fields of :class:`Config`, by name.
CONFIG_OPTIONS: dict[str, RunOption] = {o.name: o for o in RUN_OPTIONS if o.config}


def option(name: str) -> RunOption:
    return next(o for o in RUN_OPTIONS if o.name == name)


def validate(values: Mapping[str, Any], label: Callable[[RunOption], str]) -> None:
    """Check every option in ``values`` (name -> value), in the table's order; a bad one raises
    :class:`UsageError` naming it as ``label`` spells it."""
    for o in RUN_OPTIONS:
        if o.check is not None and o.name in values:
            o.check(values[o.name], label(o))


def replay_command(spec: str, values: Mapping[str, Any], *, plugin: bool = False) -> str:
    """The shell command that repeats a run of target ``spec``: ``dropspec check SPEC`` (or,
    with ``plugin``, ``pytest --dropspec-target SPEC``) followed by every option of
    :data:`RUN_OPTIONS` that shapes a verdict and has a value in ``values`` (name -> value;
    None and empty lists are left out), each word quoted with :func:`shlex.quote`."""
    words = ["pytest", "--dropspec-target", spec] if plugin else ["dropspec", "check", spec]
    for o in RUN_OPTIONS:
        value = values.get(o.name)
        if not o.replays or value is None or not o.cli:
            continue
        flag = o.plugin_flag if plugin else o.cli[-1]
        for v in value if isinstance(value, list | tuple) else [value]:
            words += [flag, _word(v)]
    return shlex.join(words)


def _word(value: Any) -> str:
    """A value as the command line gives it back exactly (``0.001``, ``1e-06``, ``600``)."""
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def replay_line(spec: str, values: Mapping[str, Any]) -> str:
    """'replay: COMMAND (or pytest ...)': both ways to repeat a run of ``spec``."""
    return (
        f"replay: {replay_command(spec, values)} (or {replay_command(spec, values, plugin=True)})"
    )


def config_values(get: Callable[[RunOption], Any]) -> dict[str, Any]:
    """The keywords of :class:`Config`, each read by ``get`` (from parsed arguments, from
    pytest's options, ...)."""
    return {o.name: get(o) for o in CONFIG_OPTIONS.values()}
