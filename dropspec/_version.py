"""dropspec's version, in a module that imports nothing: the package root re-exports it, and
the report reads it from here rather than importing the package root."""

from __future__ import annotations

__version__ = "0.1.0"
