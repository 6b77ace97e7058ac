"""The settings of a run (:class:`Config`), below everything that reads them.

Its fields are the run options of :mod:`.options` that say ``config=True``: their defaults,
help texts and checks come from there (a test holds the fields to that table).
"""

from __future__ import annotations

from dataclasses import dataclass

from .defaults import DEFAULT_ALPHA, DEFAULT_DEVICE, DEFAULT_EXAMPLES, DEFAULT_POWER, DEFAULT_SEED
from .options import CONFIG_OPTIONS


@dataclass(frozen=True)
class Config:
    seed: int = DEFAULT_SEED
    alpha: float = DEFAULT_ALPHA
    power: float = DEFAULT_POWER
    device: str = DEFAULT_DEVICE
    examples: int = DEFAULT_EXAMPLES

    def __post_init__(self) -> None:
        for name, opt in CONFIG_OPTIONS.items():
            if opt.check is not None and opt.config_checks:
                opt.check(getattr(self, name), name)


Config.__doc__ = "Settings of a run.\n\n    Parameters\n    ----------\n" + "".join(
    f"    {name} : {opt.type.__name__ if opt.type else 'str'}\n        {opt.help}.\n"
    for name, opt in CONFIG_OPTIONS.items()
)
