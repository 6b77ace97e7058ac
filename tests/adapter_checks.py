"""What every framework adapter's tests hold the same way: its framework is imported lazily,
its targets are registered and run in their dtypes keeping shape and dtype, and the outputs
the statistical reductions see on the host are counted in the report's ``host_bytes``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from dropspec.adapters import builtin_targets
from dropspec.adapters._backend import Backend
from dropspec.conformance.config import Config
from dropspec.conformance.context import Context
from dropspec.dtypes import as_dtype, dtype_name
from dropspec.spec import CLAUSES
from dropspec.target import Target


def assert_adapter_imports_no_framework(adapter: str, *modules: str) -> None:
    """Importing ``dropspec.adapters.<adapter>`` and listing the built-in targets imports
    none of ``modules`` (in a fresh process)."""
    code = (
        f"import sys, dropspec.adapters.{adapter}; from dropspec.adapters import "
        f"builtin_targets; builtin_targets(); imported = {set(modules)!r} & set(sys.modules); "
        f"assert not imported, f'{{imported}} imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def assert_registered(t: Target, framework: str) -> None:
    """``t`` is the built-in target of its name, usable, and its expected failures are
    clauses of its op, each with a reason."""
    assert builtin_targets()[t.name] is t and t.error is None and t.framework == framework
    assert all(CLAUSES[c].op == t.op and why for c, why in t.expected_failures.items())


def assert_runs_in_its_dtypes(t: Target, backend: Backend, x: np.ndarray, rate: float) -> None:
    """``t`` in each of its dtypes, training and not: the output keeps x's shape and dtype,
    and inference hands x back."""
    for dtype in t.dtypes or backend.supported_dtypes:
        want = x.astype(as_dtype(dtype))
        for training in (True, False):
            y = backend.to_numpy(t(backend.asarray(want), rate, training=training, seed=7))
            assert y.shape == x.shape and dtype_name(y.dtype) == dtype, (t.name, dtype)
            if not training:
                np.testing.assert_array_equal(y, want)


def host_bytes_of_a_call(t: Target, backend: Backend, dtype: str) -> tuple[int, int]:
    """(bytes the engine counted as brought to the host, bytes of the output) for one call
    of ``t`` in ``dtype`` as a statistical check makes it (``Context.call_device``: the
    output handed to the reductions)."""
    ctx = Context(t, CLAUSES["DROPOUT-RATE"], backend, Config(), 0)
    x = np.ones((64, 256), as_dtype(dtype))
    with backend.settings():
        reduced = ctx.call_device(x, rate=0.5, seed=1)
        assert np.asarray(reduced).shape == x.shape
    return ctx.host_bytes, x.nbytes
