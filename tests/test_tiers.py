"""The test tiers and the replay seed (tests/conftest.py, tests/replay.py) do what they say."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
import replay
from conftest import EVERY_TIER

ROOT = Path(__file__).resolve().parents[1]


def pytest_ini() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["pytest"]["ini_options"]


def test_the_default_run_is_the_fast_tier_and_markers_are_strict() -> None:
    ini = pytest_ini()
    addopts = shlex.split(ini["addopts"])
    assert "--strict-markers" in addopts
    assert addopts[addopts.index("-m") + 1] == "not slow"
    assert any(m.startswith("slow:") for m in ini["markers"])


def test_ci_runs_every_tier_and_prints_the_durations() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    body = script[script.index("run_pytest() {") :]
    body = body[: body.index("\n}\n")]
    (line,) = [ln for ln in body.splitlines() if "-m pytest" in ln]
    argv = shlex.split(line.split("2>&1")[0])
    assert argv[argv.index("-m", argv.index("pytest")) + 1] == EVERY_TIER
    assert "--durations=25" in argv and "tests" in argv


def test_every_tier_selects_the_slow_tests(pytester: pytest.Pytester) -> None:
    """The ini's own -m is replaced by a later one on the command line."""
    ini = pytest_ini()
    markers = "\n".join(f"    {m}" for m in ini["markers"])
    pytester.makeini(f"[pytest]\naddopts = {ini['addopts']}\nmarkers =\n{markers}\n")
    pytester.makepyfile(
        """
        import pytest

        def test_fast():
            pass

        @pytest.mark.slow
        def test_slow():
            pass
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, deselected=1)
    pytester.runpytest("-p", "no:cacheprovider", "-m", EVERY_TIER).assert_outcomes(passed=2)
    pytester.runpytest("-p", "no:cacheprovider", "-m", "slow").assert_outcomes(
        passed=1, deselected=1
    )


def test_replay_seed_comes_from_the_variable_then_the_commit_then_the_sources(
    tmp_path: Path,
) -> None:
    assert replay.derive({replay.ENV: "12345"}) == (12345, f"from {replay.ENV}")
    assert replay.derive({replay.ENV: "0x10"})[0] == 16
    for bad in ("seven", "-1", str(2**64)):
        with pytest.raises(ValueError, match=replay.ENV):
            replay.derive({replay.ENV: bad})
    head = replay.git_head()
    if head is not None:  # a git checkout: the commit's first 48 bits
        seed, origin = replay.derive({})
        assert seed == int(head[:12], 16) and head[:12] in origin
    # no git: a hash of the sources, which changes with them
    (tmp_path / "dropspec").mkdir()
    (tmp_path / "dropspec" / "a.py").write_text("x = 1\n")
    seed, origin = replay.derive({}, root=tmp_path)
    assert "no git" in origin and 0 <= seed < 2**replay.BITS
    assert replay.derive({}, root=tmp_path)[0] == seed
    (tmp_path / "dropspec" / "a.py").write_text("x = 2\n")
    assert replay.derive({}, root=tmp_path)[0] != seed


def test_the_seed_is_printed_and_a_bad_one_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """Run the project's own conftest on a trivial test: the seed shows in the header and in
    the closing summary (the only place under -q)."""
    here = Path(__file__).parent
    pytester.makeconftest((here / "conftest.py").read_text(encoding="utf-8"))
    (pytester.path / "replay.py").write_text((here / "replay.py").read_text(encoding="utf-8"))
    pytester.makepyfile("def test_ok(replay_seed):\n    assert replay_seed == 77\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(replay.ENV, "77")
        quiet = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
        loud = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        mp.setenv(replay.ENV, "not-a-seed")
        bad = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert quiet.ret == 0, quiet.stdout.str()
    line = f"dropspec replay seed: 77 (from {replay.ENV}"
    assert line in quiet.stdout.str()
    last = [ln for ln in quiet.stdout.lines if ln.strip()][-1]
    assert re.search(r"1 passed in", last), last  # the closing line stays pytest's
    header = loud.stdout.str().split("collected")[0]
    assert line in header
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{replay.ENV}='not-a-seed' is not an integer" in bad.stderr.str()


def test_ci_run_keeps_pytests_closing_line_last() -> None:
    """.ci/run repeats pytest's last line at the very end of its log."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'PYTEST_LAST_LINE="$(grep -v' in script
    result = subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=False)
    assert result.returncode == 0
