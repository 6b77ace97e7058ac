"""The run's default settings, in a module that imports nothing (the plugin reads them at
pytest start-up, before anything heavy may load)."""

from __future__ import annotations

DEFAULT_SEED = 20131204  # fixed base seed: default runs are reproducible
DEFAULT_ALPHA = 1e-6
DEFAULT_POWER = 0.999
DEFAULT_EXAMPLES = 10
#: Seconds one target may take (see :mod:`.runner`).
DEFAULT_TIMEOUT = 600.0
#: Where framework arrays live unless told.
DEFAULT_DEVICE = "cpu"
