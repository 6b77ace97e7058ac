"""Adapters: built-in targets wrapping each framework's dropout family, and how to load targets.

Every adapter module imports its framework lazily, so listing the built-in targets imports no
deep-learning framework. Each module exposes ``TARGETS``, a tuple of :class:`~dropspec.Target`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ..frameworks import adapter_modules
from ..target import Target, make_target
from ._backend import Backend, get_backend
from ._variants import (
    Variant,
    declared,
    default_set,
    joined,
    split,
    supported,
    under,
    variants,
)


class TargetLoadError(ValueError):
    """A target could not be found or loaded; the message says which and why."""


def builtin_targets() -> dict[str, Target]:
    """Every built-in target by name (frameworks are not imported), from the adapter modules
    of the frameworks' rows (:func:`dropspec.frameworks.adapter_modules`, in matrix order); a
    module that is not present is skipped."""
    out: dict[str, Target] = {}
    for module in adapter_modules():
        if importlib.util.find_spec(module) is None:
            continue
        for t in importlib.import_module(module).TARGETS:
            out[t.name] = t
    return out


def twins() -> dict[str, str]:
    """Built-in targets that run the kernel of another built-in target through another API,
    by name -> that target's name: a layer class that calls a checked function (an adapter
    module's ``TWINS``), and a framework's stateful layer ``"X (stateful)"`` whose seeded
    convention ``"X"`` is a built-in target too. ``dropspec check --all`` leaves them out
    unless ``--twins`` is given (the matrix runs them); named on the command line, each runs
    as any target does."""
    builtins = builtin_targets()
    out: dict[str, str] = {}
    for module in adapter_modules():
        if importlib.util.find_spec(module) is not None:
            out.update(getattr(importlib.import_module(module), "TWINS", {}))
    for name, t in builtins.items():
        seeded = name.removesuffix(" (stateful)")
        if t.framework != "numpy" and seeded != name and seeded in builtins:
            out[name] = seeded
    return {name: of for name, of in out.items() if name in builtins}


def _from_object(obj: Any, label: str) -> Target:
    if isinstance(obj, Target):
        return obj
    if callable(obj):
        declared = getattr(obj, "__dropspec__", None)
        if isinstance(declared, dict):
            return make_target(obj, name=label, **declared)
    raise TargetLoadError(
        f"{label} is a {type(obj).__name__}, not a dropspec target; decorate the function "
        f"with @dropspec.target(op, ...)"
    )


def load_target(spec: str) -> Target:
    """Resolve a target given as a built-in name, ``path/to/file.py:name`` or ``module:name``,
    or any of those under a variant: ``"TARGET under VARIANT"`` (:mod:`.variants`)."""
    base, variant = split(spec)
    if variant is not None:
        return under(load_target(base), variant)
    builtins = builtin_targets()
    if spec in builtins:
        return builtins[spec]
    if ":" not in spec:
        close = [n for n in builtins if spec in n][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise TargetLoadError(
            f"unknown target {spec!r}{hint}; give a built-in name (see `dropspec list`), "
            f"path/to/file.py:function or package.module:function"
        )
    where, _, attr = spec.rpartition(":")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise TargetLoadError(f"target {spec!r}: no file {where}")
            mod_name = f"_dropspec_user_{abs(hash(str(path.resolve())))}"
            module = sys.modules.get(mod_name)
            if module is None:
                loader_spec = importlib.util.spec_from_file_location(mod_name, path)
                assert loader_spec is not None and loader_spec.loader is not None
                module = importlib.util.module_from_spec(loader_spec)
                sys.modules[mod_name] = module
                loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except TargetLoadError:
        raise
    except Exception as exc:
        raise TargetLoadError(
            f"target {spec!r}: importing {where} failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not hasattr(module, attr):
        raise TargetLoadError(f"target {spec!r}: {where} has no attribute {attr!r}")
    from dataclasses import replace

    return replace(_from_object(getattr(module, attr), spec), source=spec)


__all__ = [
    "Backend",
    "TargetLoadError",
    "Variant",
    "builtin_targets",
    "declared",
    "default_set",
    "get_backend",
    "joined",
    "load_target",
    "split",
    "supported",
    "twins",
    "under",
    "variants",
]
