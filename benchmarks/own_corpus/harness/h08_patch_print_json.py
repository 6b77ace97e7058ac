"""Harness fault 08: replaces builtins.print, json.dumps and json.dump.

Class: patched standard library. print does nothing; json writes an empty object.
The target is also a wrong dropout (kept values are not scaled), so "conforms" for it is a
false pass; run beside ``_correct.py:good``, which must still conform.
"""

import builtins
import json

import numpy as np

import dropspec

builtins.print = lambda *a, **k: None
json.dumps = lambda *a, **k: "{}"
json.dump = lambda obj, fp, *a, **k: fp.write("{}")


@dropspec.target("dropout", framework="numpy", scaling="inverted", name="harness.patch_print_json")
def bad(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    y = np.where(keep, x, np.zeros((), x.dtype))  # wrong: kept values are not scaled
    return y
