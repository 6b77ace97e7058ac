"""Twins: built-in targets that run another built-in target's kernel through another API.

``dropspec check --all`` leaves them out (the default set) and says so; ``--all --twins``
(what the matrix runs) takes them too; a twin named on the command line runs as any target.
"""

from __future__ import annotations

import pytest

from dropspec.adapters import builtin_targets, twins
from dropspec.cli import main

BUILTINS = builtin_targets()
TWINS = twins()


def test_a_twin_declares_what_its_kernel_declares() -> None:
    assert TWINS, "no twins: the default set would be every built-in target"
    for name, of in TWINS.items():
        twin, kernel = BUILTINS[name], BUILTINS[of]
        assert name != of
        assert (twin.op, twin.framework) == (kernel.op, kernel.framework), name
        # the same semantics: every option but the calling convention, and no divergence of
        # its own apart from the state clauses only a stateful layer has (it may run fewer
        # dtypes, so fewer of its kernel's). A layer that validates its rate where its
        # function does not (Keras's Dropout) differs in a clause: it is no twin.
        mine = {k: v for k, v in twin.options.items() if k != "calls"}
        assert mine == {k: v for k, v in kernel.options.items() if k != "calls"}, name
        own = {c for c in twin.expected_failures if "-STATE-" not in c}
        assert own <= set(kernel.expected_failures), name


def test_a_stateful_twin_runs_its_kernels_dtypes_and_fails_where_it_fails() -> None:
    # adapters.stateful.with_seeded_twins: the seeded convention of "X (stateful)" is X's
    # kernel, so it runs in X's dtypes and X's divergences (confined to the dtypes X confines
    # them to) are its own too, declared once, in X.
    stateful = {n: of for n, of in TWINS.items() if n.endswith(" (stateful)")}
    assert len(stateful) >= 20, stateful
    for name, of in stateful.items():
        twin, kernel = BUILTINS[name], BUILTINS[of]
        assert twin.dtypes == kernel.dtypes, name
        assert kernel.expected_failures.items() <= twin.expected_failures.items(), name
        assert dict(twin.expected_failure_dtypes) == dict(kernel.expected_failure_dtypes), name


def test_every_framework_stateful_layer_with_a_seeded_target_is_a_twin() -> None:
    for name, t in BUILTINS.items():
        seeded = name.removesuffix(" (stateful)")
        if t.framework != "numpy" and seeded != name and seeded in BUILTINS:
            assert TWINS.get(name) == seeded
    # the NumPy stateful targets are the reference and a second implementation: never twins
    assert not [n for n in TWINS if BUILTINS[n].framework == "numpy"]


def test_check_all_leaves_the_twins_out_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    def listed(*argv: str) -> set[str]:
        assert main(["check", *argv, "--dry-run"]) == 0
        out = capsys.readouterr()
        return {ln.split("   [")[0].strip() for ln in out.out.splitlines() if ln.startswith("  ")}

    default = listed("--all", "--variants", "none")
    assert default == set(BUILTINS) - set(TWINS)
    assert listed("--all", "--twins", "--variants", "none") == set(BUILTINS)
    name = next(iter(TWINS))
    assert listed(name) == {name}  # named, a twin runs


def test_the_default_set_says_what_it_leaves_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--all", "--variants", "none", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert f"{len(TWINS)} twin target(s) left out" in err and "--twins" in err
    assert main(["check", "--all", "--twins", "--variants", "none", "--dry-run"]) == 0
    assert "left out" not in capsys.readouterr().err


def test_twins_without_all_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "torch.dropout", "--twins"]) == 2
    assert "--twins selects targets of --all" in capsys.readouterr().err
