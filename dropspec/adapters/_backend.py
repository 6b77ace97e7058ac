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


def strided_parts(a: np.ndarray) -> tuple[np.ndarray, int, tuple[int, ...]]:
    """A copy of ``a`` with its memory layout: a fresh 1-D buffer, the offset of element
    (0, ..., 0) in it and the strides in elements (negative and zero ones included), so that
    a framework can lay a view of its own over the same memory (``as_strided``).

    The buffer spans what ``a`` spans; positions no element of ``a`` uses hold NaN, so a
    kernel that reads storage order instead of the logical order meets them."""
    size = a.itemsize
    steps = tuple(s // size for s in a.strides)
    low = sum(min(0, st * (n - 1)) for st, n in zip(steps, a.shape, strict=True) if n)
    high = sum(max(0, st * (n - 1)) for st, n in zip(steps, a.shape, strict=True) if n)
    span = 0 if 0 in a.shape else high - low + 1
    buf = np.full(span, np.nan, dtype=a.dtype)
    if span:
        view = np.lib.stride_tricks.as_strided(buf[-low:], a.shape, a.strides, writeable=True)
        view[...] = a
    return buf, -low, steps


def strided_copy(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` with the same strides and write flag (:func:`strided_parts`)."""
    if a.flags.c_contiguous and a.flags.writeable:
        return np.array(a, copy=True)
    buf, offset, steps = strided_parts(a)
    if not buf.size:
        out = np.empty(a.shape, a.dtype)
    else:
        out = np.lib.stride_tricks.as_strided(
            buf[offset:], a.shape, tuple(st * a.itemsize for st in steps), writeable=True
        )
    if not a.flags.writeable:
        out.setflags(write=False)
    return out


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
    #: What strided arrays the framework's arrays can be, for the memory layouts an input
    #: reaches a target in (``dropspec.conformance.inputs.STRIDES``): "any" (NumPy: every
    #: stride, read-only flags), "non-negative", or "dense" (always laid out by the framework).
    strides: str = "any"
    #: Its targets must run in worker processes that run no other framework's targets (it
    #: cannot share a process with some other framework): ``dropspec check`` starts a fresh
    #: worker whenever a worker would pass between its targets and another framework's.
    own_process: bool = False

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
        # NumPy arithmetic on a 0-d array returns a scalar (x * 2.0 for x of shape ()):
        # a NumPy target's output for a scalar input is one.
        return isinstance(value, (np.ndarray, np.generic))

    def asarray(self, a: np.ndarray, device: str = "cpu") -> Any:
        """A copy of ``a`` as the framework's array, in ``a``'s memory layout where the
        framework's arrays can carry it (:attr:`strides`)."""
        return strided_copy(a)

    def to_numpy(self, value: Any) -> np.ndarray:
        # A copy: a target that hands back one buffer twice must not compare equal to itself.
        return np.array(value, copy=True)

    def fresh(self, value: Any) -> Any:
        """A copy of an array made by :meth:`asarray`, for a call that may write into its
        input; a framework whose arrays are immutable returns ``value`` itself."""
        return strided_copy(value)

    def for_reduction(self, value: Any) -> Any:
        """``value`` ready for array-API reductions (e.g. without autograd history): the
        framework's array, a NumPy view of its memory, or, where :meth:`copies_to_host`
        says so, a NumPy copy of it."""
        return value

    def copies_to_host(self, value: Any) -> bool:
        """Whether :meth:`for_reduction` copies ``value`` whole to the host (a framework
        the suite reduces in NumPy, where no view of its memory is to be had): the engine
        counts such a copy in the clause's ``host_bytes``, as it counts :meth:`to_numpy`."""
        return False

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
