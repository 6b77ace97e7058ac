"""``dropspec.suite(target)``: the whole conformance suite as a test class in your own file.

>>> # in tests/test_my_dropout.py
>>> # import dropspec
>>> # from mypkg import my_dropout          # decorated with @dropspec.target(...)
>>> # TestMyDropout = dropspec.suite(my_dropout)

Unlike ``dropspec check`` and ``pytest --dropspec-target``, the suite class runs the checks in
the pytest process that collects it, not in worker processes: a target that crashes, hangs,
or patches NumPy there affects that process and what runs after it. Use ``--dropspec-target``
where that isolation matters. Hypothesis keeps its files under dropspec's cache directory
while the checks run, never in ``.hypothesis/`` of the working directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest

from ..spec import Clause, get_op
from ..target import Target
from .config import Config
from .engine import registry, run_clause
from .runner import cache_dir


def _config(request: Any, overrides: dict[str, Any]) -> Config:
    base: dict[str, Any] = {}
    try:
        from .plugin import run_config

        base = asdict(run_config(request.config))
    except (ValueError, AttributeError, KeyError):
        pass
    return Config(**{**base, **overrides})


def make_suite(target: Target, **config: Any) -> type:
    """A test class with one ``test_<CLAUSE_ID>`` method per clause of ``target``'s op.

    ``config`` overrides the run settings (the fields of :class:`Config`); by default they
    come from the ``--dropspec-*`` command-line options.
    A declaration problem (unknown op or option, bad signature) fails every test with its
    message.
    """
    if not isinstance(target, Target):
        raise TypeError(
            f"dropspec.suite expects a target made by @dropspec.target, got {type(target).__name__}"
        )
    registry()  # an incomplete suite fails at collection
    try:
        clauses: tuple[Clause, ...] = get_op(target.op).clauses
    except ValueError as exc:
        message = str(exc)

        def test_declaration(self: Any) -> None:
            pytest.fail(f"target {target.name!r}: {message}")

        return type(f"Test_{target.name}", (), {"test_declaration": test_declaration})

    namespace: dict[str, Any] = {"target": target}
    for clause in clauses:
        namespace[f"test_{clause.id.replace('-', '_')}"] = _method(target, clause, config)
    return type(f"TestDropspec_{target.name}", (), namespace)


@contextlib.contextmanager
def _hypothesis_home() -> Iterator[None]:
    """While a check runs, hypothesis keeps its files (its constants cache) under dropspec's
    cache directory rather than in ``.hypothesis/`` of the working directory; a place the
    user chose (``HYPOTHESIS_STORAGE_DIRECTORY``) is kept, and so is what the user's own
    hypothesis tests use, before and after."""
    import hypothesis.configuration as configuration

    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    previous = getattr(configuration, "__hypothesis_home_directory", None)
    configuration.set_hypothesis_home_dir(cache_dir() / "hypothesis")
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)


def _method(target: Target, clause: Clause, overrides: dict[str, Any]) -> Any:
    @pytest.mark.dropspec_clause(clause.id)
    def test(self: Any, request: Any) -> None:
        from .plugin import enforce, record

        with _hypothesis_home():
            result = run_clause(target, clause, _config(request, overrides))
        with contextlib.suppress(KeyError):  # the plugin is not loaded
            record(request.config, target, result)
        enforce(result, bool(request.config.getoption("dropspec_allow_missing", False)))

    test.__doc__ = f"{clause.id} ({clause.level}): {clause.text}"
    test.__name__ = f"test_{clause.id.replace('-', '_')}"
    return test
