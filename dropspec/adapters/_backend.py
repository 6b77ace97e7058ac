"""What the suite needs from a framework: array conversion, dtypes, versions and gradients.

Rules every backend keeps: the framework is imported on first use, never at module import;
``to_numpy`` keeps the dtype (bfloat16 comes back as ``ml_dtypes.bfloat16``); ``vjp`` returns
None where the framework has no autodiff, which makes gradient clauses "not applicable".
Statistical checks reduce outputs where they live, through the array-API namespace of the
framework's arrays (:func:`dropspec.conformance.reduce.namespace`), so no backend converts
whole outputs for them; ``for_reduction`` strips what would get in the way (autograd history).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import FLOAT_DTYPES
from ..frameworks import Framework, get_framework


def as_int64(seed: int) -> int:
    """A seed in [0, 2^64) as the signed int64 with the same 64 bits, for APIs that take
    seeds as int64 (``jax.random.key``, TensorFlow's stateless seeds)."""
    return seed - (1 << 64) if seed >= 1 << 63 else seed


class Backend:
    """Base class; a framework's backend overrides the array methods.

    Where the framework comes from (module, distributions, install hint) is its row in
    :data:`dropspec.frameworks.FRAMEWORKS`, found by :attr:`name`.
    """

    name: str = "numpy"
    supported_dtypes: tuple[str, ...] = FLOAT_DTYPES
    #: Roughly what one more worker process running this framework costs, in seconds
    #: (importing it and warming its caches; measured on the 2-core machine of
    #: benchmarks/README.md). ``dropspec check -j N`` keeps costly frameworks to one worker.
    startup_seconds: float = 0.0

    @property
    def framework(self) -> Framework:
        return get_framework(self.name)

    @property
    def module(self) -> str:
        return self.framework.module

    @property
    def install_hint(self) -> str:
        return self.framework.install_hint

    def available(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):  # hidden or broken installs count as missing
            return False

    def version(self) -> str:
        for dist in self.framework.distributions:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        mod = importlib.import_module(self.module)
        return str(getattr(mod, "__version__", "unknown"))

    def settings(self) -> contextlib.AbstractContextManager[None]:
        """Framework-wide settings a check needs (JAX's float64), made on entry and undone on
        exit -- unless this process is a worker of ``dropspec check``
        (:func:`keep_framework_settings`), where they stay for the worker's life. The engine
        runs every check inside it; none by default."""
        return contextlib.nullcontext()

    def is_array(self, value: Any) -> bool:
        return isinstance(value, np.ndarray)

    def asarray(self, a: np.ndarray, device: str = "cpu") -> Any:
        return np.array(a, copy=True)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def fresh(self, value: Any) -> Any:
        """A copy of an array made by :meth:`asarray`, for a call that may write into its
        input; a framework whose arrays are immutable returns ``value`` itself."""
        return np.array(value, copy=True)

    def for_reduction(self, value: Any) -> Any:
        """``value`` ready for array-API reductions (e.g. without autograd history)."""
        return value

    def vjp(
        self, f: Callable[[Any], Any], x: np.ndarray, cotangent: np.ndarray, device: str = "cpu"
    ) -> np.ndarray | None:
        """The gradient of ``sum(f(x) * cotangent)`` with respect to x, or None."""
        return None


NUMPY = Backend()

_KEEP_SETTINGS: list[bool] = [False]


def keep_framework_settings() -> None:
    """Declare this process one that runs nothing but targets (a worker of ``dropspec
    check``): framework-wide settings a backend makes (:meth:`Backend.settings`) then stay on
    for the rest of the process instead of being undone after each check."""
    _KEEP_SETTINGS[0] = True


def framework_settings_kept() -> bool:
    """Whether :func:`keep_framework_settings` was called in this process."""
    return _KEEP_SETTINGS[0]


def get_backend(framework: str) -> Backend:
    """The backend for ``framework`` (its row's ``backend``, imported on demand); unknown
    names raise ``ValueError``."""
    module, attr = get_framework(framework).backend.split(":")
    backend = getattr(importlib.import_module(module), attr)
    assert isinstance(backend, Backend)
    return backend
