"""The outcomes a clause can have, declared once with what each means for a run.

The JSON report spells an outcome by its value (``"passed"``, ``"not_checked"``, ...);
:class:`Outcome` is a :class:`~enum.StrEnum`, so its members are those strings. This module
imports nothing of dropspec, so the engine, the report, the runner, the CLI and the pytest
plugin can all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class OutcomeInfo:
    """What an outcome means: its matrix symbol and legend text, and how it counts."""

    #: The matrix cell.
    symbol: str
    #: The legend's words for it.
    label: str
    #: The check ran (its α was spent), whatever it found.
    ran: bool
    #: At MUST level, the clause could not be checked: the run cannot say it conforms
    #: (exit 3; exit 4 where the run left it out on purpose: a ``-k`` deselection, or a
    #: missing framework under ``--allow-missing``).
    unchecked: bool = False
    #: At MUST level, the target violates the spec (exit 1).
    fails: bool = False
    #: The verdict is governed by a declared expected failure.
    declared: bool = False
    #: Printed among the failures after the matrix (declared divergences only on request).
    shown: bool = False


class Outcome(StrEnum):
    """The verdict on one clause for one target.

    ``not_applicable``: the target's declaration rules the clause out. ``not_checked``: it
    applies but could not be checked here (framework missing, target unusable, crashed, timed
    out, interrupted). ``error``: the run of this clause broke (the target raised
    SystemExit/BaseException, or dropspec itself failed).
    """

    PASSED = "passed"
    FAILED = "failed"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    NOT_APPLICABLE = "not_applicable"
    NOT_CHECKED = "not_checked"
    ERROR = "error"

    @classmethod
    def _missing_(cls, value: object) -> Outcome | None:
        # Reports of older versions spelled not_applicable "skipped".
        return cls.NOT_APPLICABLE if value == "skipped" else None

    @classmethod
    def of(cls, value: object) -> Outcome | None:
        """The outcome ``value`` spells (``"skipped"`` too), or None for anything else."""
        if not isinstance(value, str):
            return None
        try:
            return cls(value)
        except ValueError:
            return None

    @property
    def info(self) -> OutcomeInfo:
        return _INFO[self]

    @property
    def symbol(self) -> str:
        return self.info.symbol

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def ran(self) -> bool:
        return self.info.ran

    @property
    def unchecked(self) -> bool:
        return self.info.unchecked

    @property
    def fails(self) -> bool:
        return self.info.fails

    @property
    def declared(self) -> bool:
        return self.info.declared

    @property
    def shown(self) -> bool:
        return self.info.shown


_INFO: dict[Outcome, OutcomeInfo] = {
    Outcome.PASSED: OutcomeInfo("✓", "passed", ran=True),
    Outcome.FAILED: OutcomeInfo("✗", "failed", ran=True, fails=True, shown=True),
    Outcome.XFAILED: OutcomeInfo(
        "x", "declared divergence (expected failure)", ran=True, declared=True
    ),
    Outcome.XPASSED: OutcomeInfo(
        "!", "stale expected failure (now passes)", ran=True, declared=True, shown=True
    ),
    Outcome.NOT_APPLICABLE: OutcomeInfo(
        "-", "not applicable (the declaration rules it out)", ran=False
    ),
    Outcome.NOT_CHECKED: OutcomeInfo(
        "?",
        "not checked (missing framework, unusable target,\n  crash, timeout, interrupt)",
        ran=False,
        unchecked=True,
        shown=True,
    ),
    Outcome.ERROR: OutcomeInfo("E", "error", ran=True, unchecked=True, shown=True),
}

#: The matrix legend, from the outcomes' symbols and labels.
LEGEND = "\n".join(
    "   ".join(f"{o.symbol} {o.label}" for o in row)
    for row in (
        (Outcome.PASSED, Outcome.FAILED, Outcome.XFAILED, Outcome.XPASSED),
        (Outcome.NOT_APPLICABLE, Outcome.NOT_CHECKED, Outcome.ERROR),
    )
)
