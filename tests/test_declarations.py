"""Facts declared once (issue 20): the run options, the outcomes, the target keywords, the
half-precision divergences and the version each have one home, and what is derived from them
agrees with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import dropspec

PACKAGE = Path(dropspec.__file__).parent


# ------------------------------------------------------------------ version ----


def test_version_has_one_home_and_the_report_does_not_import_the_package_root() -> None:
    from dropspec import _version
    from dropspec.conformance.config import Config
    from dropspec.conformance.report import build_report

    assert dropspec.__version__ == _version.__version__
    assert build_report([], Config())["dropspec_version"] == _version.__version__
    tree = ast.parse((PACKAGE / "conformance" / "report.py").read_text(encoding="utf-8"))
    root_imports = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.level == 2
        and (node.module is None or node.module == "__init__")
    ]
    assert root_imports == [], f"report.py imports the package root at lines {root_imports}"


# ------------------------------------------------------- half precision ----


def test_half_precision_divergences_are_declared_once_and_applied_where_they_apply() -> None:
    from dropspec.adapters import _half_precision, fw_keras, fw_tensorflow
    from dropspec.spec import get_op

    clauses = _half_precision.HALF_UNIFORM_CLAUSES
    for op, ids in clauses.items():
        assert set(ids) <= {c.id for c in get_op(op).clauses}, op
    tf_targets = list(fw_tensorflow.TARGETS) + [
        t for t in fw_keras.TARGETS if t.env.get("KERAS_BACKEND") == "tensorflow"
    ]
    seen = 0
    for t in tf_targets:
        expected = [
            cid
            for cid in clauses.get(t.op, ())
            if next(c for c in get_op(t.op).clauses if c.id == cid).applies(t.options)
        ]
        if t.dtypes is not None and not set(t.dtypes) & set(_half_precision.HALVES):
            # Checked in no half dtype (a stateful layer, float32): nothing to declare.
            assert not set(expected) & set(t.expected_failures), t.name
            continue
        for cid in expected:
            assert cid in t.expected_failures, (t.name, cid)
            assert t.expected_failure_dtypes[cid] == _half_precision.HALVES, (t.name, cid)
            seen += 1
        assert t.error is None, t.error
    assert seen > 0
    # Other Keras backends draw their uniform numbers otherwise: no such declaration.
    for t in fw_keras.TARGETS:
        if t.env.get("KERAS_BACKEND") != "tensorflow":
            assert not set(t.expected_failure_dtypes) & {
                cid for ids in clauses.values() for cid in ids
            }, t.name
    # The adapters no longer spell the clause sets themselves (a variant's ``holds``, which
    # records a clause that passes under it, may name one).
    for module in ("fw_tensorflow.py", "fw_keras.py"):
        text = (PACKAGE / "adapters" / module).read_text(encoding="utf-8")
        text = re.sub(r"holds=\{.*?\n        \},", "", text, flags=re.S)
        assert '"DROPOUT-UNBIASED"' not in text and '"DROPCONNECT-BIAS-MASKED"' not in text


# ------------------------------------------------------------------ outcomes ----


def test_outcomes_keep_their_json_spellings_and_the_report_counts_each() -> None:
    import json

    from dropspec.conformance import engine
    from dropspec.conformance.outcomes import LEGEND, Outcome
    from dropspec.conformance.report import summary

    # The JSON report's vocabulary: changing it breaks every reader of old reports.
    assert [o.value for o in Outcome] == [
        "passed",
        "failed",
        "xfailed",
        "xpassed",
        "not_applicable",
        "not_checked",
        "error",
    ]
    assert json.dumps(list(Outcome)) == json.dumps([o.value for o in Outcome])
    assert Outcome("skipped") is Outcome.NOT_APPLICABLE  # older reports' spelling
    assert Outcome.of("nonsense") is None and Outcome.of(None) is None
    assert not hasattr(engine, "OUTCOMES")  # one home
    report = {
        "targets": [
            {"name": "t", "clauses": [{"id": o.value, "outcome": o.value, "level": "MUST"}]}
            for o in Outcome
        ]
    }
    counts = summary(report)
    assert all(counts[o.value] == 1 for o in Outcome)
    for o in Outcome:
        assert f"{o.symbol} " in LEGEND, o


def test_each_outcome_counts_for_the_exit_status_as_its_metadata_says() -> None:
    from dropspec.conformance.engine import ClauseResult
    from dropspec.conformance.outcomes import Outcome
    from dropspec.conformance.report import (
        EXIT_CONFORMS,
        EXIT_FAILED,
        EXIT_NOT_CHECKED,
        exit_status,
        render_matrix,
    )
    from dropspec.spec import get_op

    # Every other clause of the op passed, so that the run covers the op whole (a run that
    # left MUST clauses out is partial, exit 4: tests/test_verdict.py).
    others = [
        {"id": c.id, "outcome": "passed", "level": str(c.level)}
        for c in get_op("dropout").clauses
        if c.id != "DROPOUT-RATE"
    ]
    for o in Outcome:
        for level in ("MUST", "SHOULD"):
            report = {
                "targets": [
                    {
                        "name": "t",
                        "op": "dropout",
                        "framework": "numpy",
                        "clauses": [
                            {"id": "DROPOUT-RATE", "outcome": o.value, "level": level},
                            *others,
                        ],
                    }
                ]
            }
            want = EXIT_CONFORMS
            if level == "MUST" and o.fails:
                want = EXIT_FAILED
            elif level == "MUST" and o.unchecked:
                want = EXIT_NOT_CHECKED
            assert exit_status(report) == want, (o, level)
            assert o.symbol in render_matrix(report), o
        result = ClauseResult("t", "DROPOUT-RATE", "MUST", "statistical", o.value)
        assert result.outcome is o and result.blocking == o.fails


# ---------------------------------------------------------- target keywords ----


def _keyword_values() -> dict[str, object]:
    return {
        "framework": "numpy",
        "name": "declared",
        "dtypes": ("float32",),
        "seed_bits": 32,
        "expected_failures": {"DROPOUT-RATE": "known"},
        "expected_failure_dtypes": {"DROPOUT-RATE": ("float32",)},
        "requires": ("numpy",),
        "env": {"DROPSPEC_TEST": "1"},
        "description": "what it wraps",
        "variants": ("torch.checkpoint",),
    }


def test_make_target_takes_exactly_the_declared_keywords() -> None:
    import inspect

    from dropspec.target import TARGET_KEYWORDS, make_target

    params = inspect.signature(make_target).parameters.values()
    keyword_only = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert [p.name for p in keyword_only] == [k.name for k in TARGET_KEYWORDS]
    for p, k in zip(keyword_only, TARGET_KEYWORDS, strict=True):
        # Mappings default to None in the signature (no shared mutable default).
        assert repr(p.default) == k.default or (p.default is None and k.default == "{}"), k
    assert set(_keyword_values()) == {k.name for k in TARGET_KEYWORDS}


def test_decorator_and_with_options_take_and_keep_every_keyword() -> None:
    from dropspec.target import TARGET_KEYWORDS, make_target

    values = _keyword_values()

    def fn(x: object, rate: float, *, training: bool, seed: int) -> object:
        return x

    decorated = dropspec.target("dropout", scaling="classic", **values)(fn)
    made = make_target(fn, "dropout", scaling="classic", **values)
    copied = decorated.with_options(masking="select")
    assert decorated.error is None, decorated.error
    for k in TARGET_KEYWORDS:
        want = values[k.name]
        for t in (decorated, made, copied):
            assert getattr(t, k.name) == want, (k.name, t)
    assert copied.options["masking"] == "select" and copied.options["scaling"] == "classic"
    assert "requires" in (dropspec.target.__doc__ or "")
    for k in TARGET_KEYWORDS:
        assert f"    {k.name} : " in (dropspec.target.__doc__ or ""), k.name


def test_explain_lists_exactly_the_declared_keywords(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    from dropspec import cli
    from dropspec.target import TARGET_KEYWORDS

    assert cli.main(["explain", "dropout"]) == 0
    out = capsys.readouterr().out
    section = out.split("declarations of every target")[1]
    listed = re.findall(r"^  (\w+) = (.*)$", section, flags=re.MULTILINE)
    assert listed == [(k.name, k.default) for k in TARGET_KEYWORDS]


# --------------------------------------------------------------- run options ----


class _Recorder:
    """Stands for pytest's option group: records what the plugin adds."""

    def __init__(self) -> None:
        self.added: dict[str, dict[str, object]] = {}

    def getgroup(self, *args: object) -> _Recorder:
        return self

    def addoption(self, flag: str, **kwargs: object) -> None:
        self.added[flag] = kwargs


def test_config_fields_are_the_declared_config_options() -> None:
    import dataclasses

    from dropspec.conformance.config import Config
    from dropspec.conformance.options import CONFIG_OPTIONS

    fields = dataclasses.fields(Config)
    assert [f.name for f in fields] == list(CONFIG_OPTIONS)
    for f in fields:
        opt = CONFIG_OPTIONS[f.name]
        assert f.default == opt.default, f.name
        assert f.type == (opt.type.__name__ if opt.type else "str"), f.name
        assert opt.help in (Config.__doc__ or ""), f.name


def test_cli_and_plugin_options_come_from_one_table() -> None:
    from dropspec import cli
    from dropspec.conformance import plugin
    from dropspec.conformance.options import RUN_OPTIONS

    recorder = _Recorder()
    plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    assert list(recorder.added) == [o.plugin_flag for o in RUN_OPTIONS]
    check = next(
        a
        for a in cli._parser()._subparsers._group_actions[0].choices.values()  # type: ignore[union-attr]
        if a.prog.endswith(" check")
    )
    by_flag = {s: a for a in check._actions for s in a.option_strings}
    by_dest = {a.dest: a for a in check._actions}
    for opt in RUN_OPTIONS:
        added = recorder.added[opt.plugin_flag]
        action = by_flag[opt.cli[0]] if opt.cli else by_dest[opt.cli_dest]
        # One name, default, type and help text (a surface adds only its own consequence).
        assert added["default"] == action.default == opt.default or not opt.cli, opt.name
        assert added.get("type") is opt.type and action.type is opt.type, opt.name
        assert str(added["help"]).startswith(opt.help) and str(action.help).startswith(opt.help)
        assert opt.plugin_dest == "dropspec_" + opt.name
        if opt.cli:
            assert action.dest == opt.cli_dest


def test_cli_and_plugin_defaults_make_the_default_config() -> None:
    from dropspec import cli
    from dropspec.conformance.config import Config
    from dropspec.conformance.options import RUN_OPTIONS, config_values

    args = cli._parser().parse_args(["check"])
    assert Config(**config_values(lambda o: getattr(args, o.cli_dest))) == Config()
    assert Config(**config_values(lambda o: o.default)) == Config()
    assert {o.name for o in RUN_OPTIONS if o.config} == {
        "seed",
        "alpha",
        "power",
        "device",
        "examples",
    }


def test_validation_names_the_option_as_each_surface_spells_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dropspec import cli
    from dropspec.conformance.config import Config
    from dropspec.conformance.options import RUN_OPTIONS, UsageError, option, validate

    bad = {
        "seed": -1,
        "alpha": 0.0,
        "power": 1.5,
        "examples": 0,
        "device": "tpu9",
        "clause": ["NO-SUCH-CLAUSE"],
        "json": ".",
        "jobs": "zero",
        "timeout": 0.0,
    }
    for name, value in bad.items():
        opt = option(name)
        with pytest.raises(UsageError) as plugin_error:
            validate({name: value}, lambda o: o.plugin_flag)
        if name != "clause":  # the clause message names the ids instead
            assert opt.plugin_flag in str(plugin_error.value)
        flag = opt.cli[-1]
        assert cli.main(["check", flag, str(value[0] if isinstance(value, list) else value)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dropspec: error: "), err
        if name != "clause":
            assert opt.cli_label in err, err
    # Config checks its own fields by their names (the device is checked where a run starts).
    with pytest.raises(ValueError, match=r"^alpha must be in"):
        Config(alpha=0.0)
    assert Config(device="cuda:7").device == "cuda:7"
    assert all(
        o.check is not None for o in RUN_OPTIONS if o.name != "target" and o.action != "store_true"
    )


def test_plugin_does_not_import_the_cli() -> None:
    tree = ast.parse((PACKAGE / "conformance" / "plugin.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            assert node.module != "cli" and not (node.level == 2 and "cli" in names), node.lineno


def test_an_unknown_clause_is_named_the_same_way_on_both_surfaces() -> None:
    from dropspec.conformance.options import UsageError, check_clauses

    with pytest.raises(UsageError, match=r"^unknown clause id NOPE; "):
        check_clauses(["NOPE"], "--dropspec-clause")
    with pytest.raises(UsageError, match=r"^unknown clause ids NOPE, NEITHER; "):
        check_clauses(["NOPE", "DROPOUT-RATE", "NEITHER"], "--clause")
