"""Declaring targets, bad input, the pytest plugin, the one-liner and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dropspec
from dropspec.adapters import TargetLoadError, load_target
from dropspec.conformance import Config, run_target
from dropspec.conformance.engine import outcomes

USER_FILE = textwrap.dedent("""
    import numpy as np
    import dropspec

    @dropspec.target("dropout", framework="numpy", scaling="inverted")
    def my_dropout(x, rate, *, training, seed):
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be in [0, 1]")
        if not training:
            return x.copy()
        keep = np.random.default_rng(seed).random(x.shape) >= rate
        scale = x.dtype.type(0.0 if rate == 1 else 1.0 / (1.0 - rate))
        return np.where(keep, x * scale, np.zeros((), x.dtype))

    @dropspec.target("dropout")
    def no_scaling(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed,
                                          scaling="classic") if training else x

    @dropspec.target("dropout", keep_prob=0.5)
    def unknown_option(x, rate, *, training, seed):
        return x

    @dropspec.target("dropout")
    def bad_signature(x):
        return x

    @dropspec.target("dropout")
    def returns_list(x, rate, *, training, seed):
        return x.tolist()

    @dropspec.target("dropout")
    def raises(x, rate, *, training, seed):
        raise RuntimeError("kernel crashed")
""")


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_targets.py"
    path.write_text(USER_FILE)
    return path


def test_decorator_gives_a_target() -> None:
    @dropspec.target("dropout", scaling="classic", name="mine")
    def fn(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
        return x

    assert isinstance(fn, dropspec.Target) and fn.error is None
    assert fn.options["scaling"] == "classic" and fn.options["shared_axes"] == ()
    assert fn(np.ones(2), 0.5, training=False, seed=0).shape == (2,)


def test_bad_declarations_are_recorded_not_raised(user_file: Path) -> None:
    bad = load_target(f"{user_file}:unknown_option")
    assert bad.error and "keep_prob" in bad.error and "unknown_option" in bad.error
    sig = load_target(f"{user_file}:bad_signature")
    assert sig.error and "signature" in sig.error
    (first, *_) = run_target(bad)
    assert first.outcome == "not_checked" and "keep_prob" in first.message
    unknown_op = dropspec.make_target(lambda x, rate, *, training, seed: x, "dropblock")
    assert unknown_op.error and "unknown op" in unknown_op.error


def test_seed_width_is_declared_validated_and_kept_to() -> None:
    """seed_bits outside 1..64 makes the target unusable; a declared width bounds every seed
    the suite passes, and INDEPENDENT-SEEDS flips each bit of it in some dtype."""
    from dropspec.adapters import get_backend
    from dropspec.conformance.checks import seed_partners
    from dropspec.conformance.engine import Context
    from dropspec.dtypes import FLOAT_DTYPES

    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    for bad in (0, 65, 8.0, True):
        t = dropspec.make_target(fn, "dropout", seed_bits=bad)
        assert t.error and "seed_bits must be an int from 1 to 64" in t.error, bad
    seen: list[int] = []

    def recording(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        seen.append(seed)
        return fn(x, rate, training=training, seed=seed)

    narrow = dropspec.make_target(recording, "dropout", name="narrow", seed_bits=10)
    results = run_target(
        narrow, ["DROPOUT-DETERMINISTIC", "DROPOUT-INDEPENDENT-SEEDS"], Config(examples=4)
    )
    assert all(r.outcome == "passed" for r in results), [r.message for r in results]
    assert seen and max(seen) < 1 << 10 and len(set(seen)) > 10
    wide = dropspec.make_target(fn, "dropout", name="wide")
    flipped: set[int] = set()
    clause = dropspec.spec.CLAUSES["DROPOUT-INDEPENDENT-SEEDS"]
    for dtype in FLOAT_DTYPES:
        ctx = Context(wide, clause, get_backend("numpy"), Config(), 7)
        ctx.dtype = dtype
        pairs = seed_partners(ctx, 5)
        assert pairs[0] == (6, "s + 1")
        # The one-bit partners (the structured relations, offsets and maps, come first).
        for other, label in [p for p in pairs if p[1].startswith("bit ")]:
            bit = (other ^ 5).bit_length() - 1
            assert other ^ 5 == 1 << bit and label == f"bit {bit}"
            flipped.add(bit)
    assert flipped == set(range(64))
    top = (1 << 64) - 1
    ctx = Context(wide, clause, get_backend("numpy"), Config(), 7)
    assert seed_partners(ctx, top)[0] == (0, "s + 1")  # s + 1 wraps within the width


def test_a_seed_the_target_cannot_take_gets_a_hint_and_other_errors_do_not() -> None:
    def legacy(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        np.random.seed(seed)  # takes seeds below 2^32 only
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    def broken(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        raise ValueError("boom")

    (res,) = run_target(dropspec.make_target(legacy, "dropout", name="legacy"), ["DROPOUT-SHAPE"])
    assert res.outcome == "failed" and "hint: the call's seed was" in res.message
    assert "32 for numpy.random.seed(seed)" in res.message
    (res,) = run_target(dropspec.make_target(broken, "dropout", name="broken"), ["DROPOUT-SHAPE"])
    assert res.outcome == "failed" and "boom" in res.message and "hint" not in res.message
    narrow = dropspec.make_target(legacy, "dropout", name="legacy32", seed_bits=32)
    (res,) = run_target(narrow, ["DROPOUT-SHAPE"])
    assert res.outcome == "passed", res.message


def test_load_errors_name_the_problem(tmp_path: Path, user_file: Path) -> None:
    with pytest.raises(TargetLoadError, match="no file"):
        load_target(f"{tmp_path / 'missing.py'}:fn")
    with pytest.raises(TargetLoadError, match="no attribute"):
        load_target(f"{user_file}:nope")
    with pytest.raises(TargetLoadError, match="unknown target"):
        load_target("torch.dropoutt")
    with pytest.raises(TargetLoadError, match="not a dropspec target"):
        load_target("numpy:pi")


def test_raising_and_wrong_type_targets_fail_with_clear_messages(user_file: Path) -> None:
    res = {
        r.clause_id: r
        for r in run_target(
            load_target(f"{user_file}:returns_list"), clauses=["DROPOUT-RATE", "DROPOUT-VALUES"]
        )
    }
    assert res["DROPOUT-RATE"].outcome == "failed"
    assert "returned list" in res["DROPOUT-RATE"].message
    raised = run_target(load_target(f"{user_file}:raises"), clauses=["DROPOUT-VALUES"])
    assert raised[0].outcome == "failed" and "kernel crashed" in raised[0].message
    assert "replay" in raised[0].message


def test_user_target_passes_and_wrong_one_fails(user_file: Path) -> None:
    good = outcomes(run_target(load_target(f"{user_file}:my_dropout"), config=Config()))
    assert "failed" not in good.values() and "error" not in good.values()
    bad = outcomes(
        run_target(
            load_target(f"{user_file}:no_scaling"), clauses=["DROPOUT-VALUES", "DROPOUT-UNBIASED"]
        )
    )
    assert bad == {"DROPOUT-VALUES": "failed", "DROPOUT-UNBIASED": "failed"}


def test_pytest_plugin_runs_a_target(pytester: pytest.Pytester, user_file: Path) -> None:
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--dropspec-target={user_file}:my_dropout",
        f"--dropspec-target={user_file}:no_scaling",
        f"--dropspec-json={report}",
        "--dropspec-seed=7",
        "-k",
        "VALUES or RATE-ZERO",
    )
    result.stdout.fnmatch_lines(
        ["*dropspec: seed=7*", "*no_scaling violates DROPOUT-VALUES*", "*P(any false alarm)*"]
    )
    outcomes_ = result.parseoutcomes()
    assert outcomes_["failed"] == 1 and outcomes_["passed"] == 3
    data = json.loads(report.read_text())
    assert data["seed"] == 7
    names = [t["name"] for t in data["targets"]]
    assert names == ["my_dropout", "no_scaling"]


@pytest.mark.slow
def test_suite_one_liner(pytester: pytest.Pytester, user_file: Path) -> None:
    pytester.makepyfile(
        test_mine=f"""
        import dropspec
        from dropspec.adapters import load_target
        TestMine = dropspec.suite(load_target({str(user_file)!r} + ":my_dropout"),
                                  examples=5)
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    counts = result.parseoutcomes()
    assert counts.get("failed", 0) == 0 and counts["passed"] >= 15
    assert "skipped" in counts  # not-applicable clauses are skips, not passes


@pytest.mark.slow
def test_plugin_reports_unloadable_target_and_goes_on(
    pytester: pytest.Pytester, user_file: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--dropspec-target=no/such/file.py:fn",
        f"--dropspec-target={user_file}:my_dropout",
        "-k",
        "SHAPE",
    )
    result.stdout.fnmatch_lines(["*no file no/such/file.py*"])
    counts = result.parseoutcomes()
    assert counts["failed"] == 1 and counts["passed"] >= 1


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dropspec.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=600,
    )


@pytest.mark.slow
def test_cli_check_reference_exits_zero_and_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    proc = run_cli("check", "--json", str(path), "-q")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "conforms: every MUST clause that applies was checked and passed" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].endswith("-> conforms (exit 0)")
    data = json.loads(path.read_text())
    for key in ("dropspec_version", "seed", "alpha", "platform", "targets"):
        assert key in data
    ids = {c["id"] for t in data["targets"] for c in t["clauses"]}
    assert ids == set(dropspec.spec.CLAUSES)
    for t in data["targets"]:
        assert {"name", "op", "framework", "framework_version", "options", "clauses"} <= set(t)
        for c in t["clauses"]:
            assert {"id", "level", "outcome", "pvalue", "alpha", "message"} <= set(c)
            assert c["outcome"] in ("passed", "not_applicable")
    assert any(c["pvalue"] is not None for t in data["targets"] for c in t["clauses"])
    assert data["complete"] is True and data["exit_status"] == 0
    for clause_id in dropspec.spec.CLAUSES:  # the matrix numbers every clause of each op
        assert "=" + clause_id.split("-", 1)[1] + " " in proc.stdout.replace("\n", " ")
    assert max(len(line) for line in proc.stdout.splitlines()) <= 120


def test_cli_exit_code_and_bad_target(user_file: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "check",
        f"{user_file}:no_scaling",
        f"{user_file}:my_dropout",
        f"{user_file}:unknown_option",
        "--clause",
        "DROPOUT-VALUES",
        "--json",
        str(tmp_path / "r.json"),
        "-q",
    )
    assert proc.returncode == 1
    data = json.loads((tmp_path / "r.json").read_text())
    by_name = {t["name"]: t for t in data["targets"]}
    assert by_name["my_dropout"]["clauses"][0]["outcome"] == "passed"
    assert by_name["no_scaling"]["clauses"][0]["outcome"] == "failed"
    assert by_name["unknown_option"]["clauses"][0]["outcome"] == "not_checked"
    assert "does not conform: 1 MUST clause failure(s)" in proc.stdout
    # A file that does not exist is bad input: exit 2 before anything runs.
    missing = run_cli("check", "no/such.py:fn", f"{user_file}:my_dropout")
    assert missing.returncode == 2 and "no file no/such.py" in missing.stderr


def test_cli_list() -> None:
    proc = run_cli("list")
    assert proc.returncode == 0
    assert "DROPCONNECT-PER-EXAMPLE" in proc.stdout and "reference.dropout" in proc.stdout


@pytest.mark.slow
def test_cli_power(reference_power: subprocess.CompletedProcess[str]) -> None:
    power = reference_power  # one `dropspec power` run, shared with test_doc_commands
    assert power.returncode == 0, power.stderr[-3000:]
    assert "DROPOUT-RATE" in power.stdout
    assert "binomial test" in power.stdout


def test_import_loads_no_framework() -> None:
    code = (
        "import sys, dropspec, dropspec.conformance.plugin, dropspec.adapters as a; "
        "a.builtin_targets(); "
        "print([m for m in ('torch', 'tensorflow', 'jax', 'keras') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_missing_framework_or_package_is_not_checked_with_a_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dropspec.adapters import _backend

    target = dropspec.make_target(
        lambda x, rate, *, training, seed: x, "dropout", framework="torch", name="needs-torch"
    )
    monkeypatch.setattr(type(_backend.get_backend("torch")), "available", lambda self: False)
    (result,) = run_target(target, clauses=["DROPOUT-RATE"])
    assert result.outcome == "not_checked" and "pip install" in result.message
    assert result.reason == "missing"
    other = dropspec.make_target(
        lambda x, rate, *, training, seed: x, "dropout", requires=("no_such_package_xyz",)
    )
    (result,) = run_target(other, clauses=["DROPOUT-RATE"])
    assert result.outcome == "not_checked" and "no_such_package_xyz" in result.message


def test_failures_name_the_declaration_that_would_match() -> None:
    from dropspec import reference as ref

    def classic(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
        return ref.dropout(x, rate, training=training, seed=seed, scaling="classic")

    as_inverted = dropspec.make_target(classic, "dropout", name="classic-as-inverted")
    res = {
        r.clause_id: r
        for r in run_target(as_inverted, clauses=["DROPOUT-INFERENCE-IDENTITY", "DROPOUT-VALUES"])
    }
    for cid in ("DROPOUT-INFERENCE-IDENTITY", "DROPOUT-VALUES"):
        assert res[cid].outcome == "failed" and "declare scaling='classic'" in res[cid].message

    def per_batch(
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None,
        rate: float,
        *,
        training: bool,
        seed: int,
    ) -> np.ndarray:
        return ref.dropconnect(
            x, w, b, rate, training=training, seed=seed, masks="per_batch", mask_bias=False
        )

    declared = dropspec.make_target(
        per_batch,
        "dropconnect",
        name="per-batch-as-per-example",
        masks="per_example",
        mask_bias=True,
    )
    res = {
        r.clause_id: r
        for r in run_target(
            declared, clauses=["DROPCONNECT-PER-EXAMPLE", "DROPCONNECT-BIAS-MASKED"]
        )
    }
    assert "declare masks='per_batch'" in res["DROPCONNECT-PER-EXAMPLE"].message
    assert "declare mask_bias=False" in res["DROPCONNECT-BIAS-MASKED"].message


def test_explain_prints_every_option() -> None:
    proc = run_cli("explain", "dropconnect")
    assert proc.returncode == 0, proc.stderr
    for option in dropspec.spec.get_op("dropconnect").options:
        assert f"\n  {option.name} = " in proc.stdout
    assert "per_batch" in proc.stdout and "clauses that depend on it" in proc.stdout
    # The declarations every target takes, whatever its op: seed width included.
    for declaration in ("framework = ", "dtypes = ", "seed_bits = 64", "expected_failures = "):
        assert f"\n  {declaration}" in proc.stdout, declaration
    assert run_cli("list", "--options").returncode == 0
    bad = run_cli("explain", "dropblock")
    assert bad.returncode == 2 and "unknown op 'dropblock'" in bad.stderr


def test_report_names_the_library_behind_each_target() -> None:
    from importlib import metadata

    from dropspec.adapters import builtin_targets
    from dropspec.conformance.report import target_header

    targets = builtin_targets()
    flax = target_header(targets["flax.linen.Dropout"])
    assert flax["libraries"] == {"flax": metadata.version("flax")}
    haiku = target_header(targets["haiku.dropout"])
    assert haiku["libraries"] == {"haiku": metadata.version("dm-haiku")}
    keras = target_header(targets["keras[jax].layers.Dropout"])
    assert keras["libraries"]["keras"] == metadata.version("keras")
    assert keras["framework"] == "jax" and keras["framework_version"] == metadata.version("jax")


def test_a_target_that_writes_into_its_input_is_checked_fairly() -> None:
    """Statistical checks convert an input once and call many times; each call gets a fresh
    copy, so an in-place target (like torch's ``inplace=True``) sees the input each time."""

    @dropspec.target(op="dropout", framework="numpy", name="user.in_place")
    def in_place(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be in [0, 1]")
        if not training:
            return x
        if rate == 1.0:
            x *= 0
            return x
        keep = np.random.default_rng(seed).random(x.shape) >= rate
        x *= np.where(keep, x.dtype.type(1.0 / (1.0 - rate)), x.dtype.type(0))
        return x

    got = outcomes(run_target(in_place, ["DROPOUT-RATE", "DROPOUT-UNBIASED"], Config()))
    assert got == {"DROPOUT-RATE": "passed", "DROPOUT-UNBIASED": "passed"}


def test_an_expected_failure_confined_to_dtypes_cannot_hide_the_others() -> None:
    """A declared float16 divergence still runs the clause in every dtype: the same fault
    declared for float16 is a declared divergence, declared for bfloat16 it is a failure,
    and a fault in float32 fails the clause whatever float16 declares."""
    from dropspec.conformance.engine import run_clause
    from dropspec.spec import CLAUSES
    from tests.mutants import numpy_mutants

    (f16,) = (m for m in numpy_mutants.MUTANTS if m.name.endswith("float16_rate_10pct_high"))
    why = {"DROPOUT-RATE": "the float16 kernel drops 1.1·rate"}
    rate = CLAUSES["DROPOUT-RATE"]
    config = Config(seed=3)

    def declared(fn: Any, dtypes: tuple[str, ...]) -> dropspec.Target:
        scope = {"DROPOUT-RATE": dtypes}
        return dropspec.make_target(
            fn, "dropout", expected_failures=why, expected_failure_dtypes=scope
        )

    right = run_clause(declared(f16.target.fn, ("float16",)), rate, config)
    assert right.outcome == "xfailed", right.message
    assert "in float16" in right.message and "passed in bfloat16, float32, float64" in right.message
    wrong = run_clause(declared(f16.target.fn, ("bfloat16",)), rate, config)
    assert wrong.outcome == "failed" and "declared in bfloat16 only" in wrong.message

    def f32_too(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        if x.dtype == np.float32:  # the float16 fault, and the same in float32
            x16 = x.astype(np.float16)
            return f16.target.fn(x16, rate, training=training, seed=seed).astype(np.float32)
        return f16.target.fn(x, rate, training=training, seed=seed)

    hidden = run_clause(declared(f32_too, ("float16",)), rate, config)
    assert hidden.outcome == "failed" and "in float32" in hidden.message
    # A reference that passes everywhere makes the declaration stale.
    stale = run_clause(declared(dropspec.reference.dropout, ("float16",)), rate, config)
    assert stale.outcome == "xpassed"


def test_expected_failure_dtypes_are_validated() -> None:
    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        return x

    def problems(**kw: Any) -> str:
        t = dropspec.make_target(fn, "dropout", **kw)
        assert t.error is not None
        return t.error

    assert "does not declare" in problems(expected_failure_dtypes={"DROPOUT-RATE": ("float16",)})
    why = {"DROPOUT-VALUES": "x", "DROPOUT-RATE": "y"}
    assert "only statistical clauses" in problems(
        expected_failures=why, expected_failure_dtypes={"DROPOUT-VALUES": ("float16",)}
    )
    assert "unknown dtype" in problems(
        expected_failures=why, expected_failure_dtypes={"DROPOUT-RATE": ("float8",)}
    )
    assert "non-empty tuple" in problems(
        expected_failures=why, expected_failure_dtypes={"DROPOUT-RATE": "float16"}
    )
