"""The floating dtypes the spec covers, by name, with bfloat16 from ml_dtypes."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

FLOAT_DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")


def as_dtype(name: str | np.dtype[Any] | type) -> np.dtype[Any]:
    """The NumPy dtype for ``name`` (``"bfloat16"`` maps to ``ml_dtypes.bfloat16``)."""
    if isinstance(name, str) and name == "bfloat16":
        bf16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
        return bf16
    out: np.dtype[Any] = np.dtype(name)
    return out


def dtype_name(dtype: Any) -> str:
    """Canonical name of a NumPy (or ml_dtypes) dtype, e.g. ``"bfloat16"``."""
    return str(np.dtype(dtype).name)


def eps(dtype: Any) -> float:
    """Machine epsilon of a floating dtype."""
    return float(ml_dtypes.finfo(as_dtype(dtype)).eps)  # type: ignore[no-untyped-call]


def largest_finite(dtype: Any) -> float:
    """The largest finite value of a float dtype (bfloat16 included)."""
    return float(ml_dtypes.finfo(as_dtype(dtype)).max)  # type: ignore[no-untyped-call]


def compute_dtype(dtype: Any) -> np.dtype[Any]:
    """The dtype arithmetic is carried out in: float32 for the half types."""
    d = as_dtype(dtype)
    return d if d in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float32)
