"""``dropspec.suite(target)``: the whole conformance suite as a test class in your own file.

>>> # in tests/test_my_dropout.py
>>> # import dropspec
>>> # from mypkg import my_dropout          # decorated with @dropspec.target(...)
>>> # TestMyDropout = dropspec.suite(my_dropout)
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Any

import pytest

from ..spec import Clause, get_op
from ..target import Target
from .config import Config
from .engine import registry, run_clause


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


def _method(target: Target, clause: Clause, overrides: dict[str, Any]) -> Any:
    @pytest.mark.dropspec_clause(clause.id)
    def test(self: Any, request: Any) -> None:
        from .plugin import enforce, record

        result = run_clause(target, clause, _config(request, overrides))
        with contextlib.suppress(KeyError):  # the plugin is not loaded
            record(request.config, target, result)
        enforce(result, bool(request.config.getoption("dropspec_allow_missing", False)))

    test.__doc__ = f"{clause.id} ({clause.level}): {clause.text}"
    test.__name__ = f"test_{clause.id.replace('-', '_')}"
    return test
