"""Harness fault 10: loads a hypothesis profile with one example and no generation.

Class: global hypothesis settings. Exact checks that take their settings from the profile run
one explicit example, if any.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import hypothesis
import numpy as np

import dropspec

hypothesis.settings.register_profile(
    "harness-lazy", max_examples=1, phases=[hypothesis.Phase.explicit], database=None
)
hypothesis.settings.load_profile("harness-lazy")


@dropspec.target(
    "dropout", framework="numpy", scaling="inverted", name="harness.hypothesis_profile"
)
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
