"""The package's version, in the lowest layer so that any module may report it (the report
does) without importing the package root."""

from __future__ import annotations

__version__ = "0.2.0"
