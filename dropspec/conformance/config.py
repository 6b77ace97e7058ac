"""The settings of a run (:class:`Config`), below everything that reads them."""

from __future__ import annotations

from dataclasses import dataclass

from .defaults import DEFAULT_ALPHA, DEFAULT_EXAMPLES, DEFAULT_POWER, DEFAULT_SEED


@dataclass(frozen=True)
class Config:
    """Settings of a run.

    Parameters
    ----------
    seed : int
        Base seed; each check derives its own from it, the target's name and the clause id.
    alpha : float
        Significance level of each statistical clause check (Bonferroni-split inside it).
    power : float
        Power the sample sizes are chosen for.
    device : str
        Where framework arrays live (``cpu``, ``cuda``, ``gpu``).
    examples : int
        Hypothesis examples per exact clause.
    """

    seed: int = DEFAULT_SEED
    alpha: float = DEFAULT_ALPHA
    power: float = DEFAULT_POWER
    device: str = "cpu"
    examples: int = DEFAULT_EXAMPLES

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be an integer in [0, 2**64), got {self.seed}")
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if not 0.5 <= self.power < 1.0:
            raise ValueError(f"power must be in [0.5, 1), got {self.power}")
        if self.examples < 1:
            raise ValueError(f"examples must be at least 1, got {self.examples}")
