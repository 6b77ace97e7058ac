"""The spec's changelog (``dropspec/spec/changelog.toml``) records every clause as it now is:
a clause whose declaration or check changed without an entry fails here, with what to do."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from dropspec._version import __version__
from dropspec.conformance import changelog
from dropspec.conformance.changelog import check_digest, current, entries, pending
from dropspec.spec import CLAUSES, SPEC_VERSION, releases
from dropspec.spec._history import Digest, recorded, since, version_key

ROOT = Path(__file__).resolve().parent.parent


def test_every_clause_is_recorded_as_it_now_is() -> None:
    found = pending(current(), recorded())
    if found:
        pytest.fail(
            "the spec's changelog does not match the clauses:\n"
            + changelog.instructions(found, changelog.next_version()),
            pytrace=False,
        )


def test_every_clause_has_a_since() -> None:
    assert all(c.since is not None for c in CLAUSES.values())
    assert {c.since for c in CLAUSES.values()} <= {r.version for r in releases()}


def test_versions_ascend_and_the_package_is_not_behind_the_spec() -> None:
    keys = [version_key(r.version) for r in releases()]
    assert keys == sorted(set(keys)), "spec versions must be listed oldest first, once each"
    assert version_key(SPEC_VERSION) <= version_key(__version__), (
        f"the spec is version {SPEC_VERSION} but the package {__version__}: set the package's "
        "version (pyproject.toml, dropspec/_version.py) to at least the spec's"
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__


def test_every_entry_is_consistent_and_written() -> None:
    live: set[str] = set()
    for r in releases():
        where = f"spec version {r.version}"
        assert r.summary and not r.summary.startswith(changelog.TODO), where
        listed = [*r.added, *r.changed, *r.retired]
        assert len(listed) == len(set(listed)), f"{where} lists a clause twice"
        assert not (set(r.added) & live), f"{where} adds a clause that exists"
        assert set(r.changed) | set(r.retired) <= live, f"{where} changes an unknown clause"
        assert set(r.digests) == set(r.added) | set(r.changed), (
            f"{where}: every clause added or changed, and no other, has digests"
        )
        for cid, note in {**r.added, **r.changed, **r.retired}.items():
            assert note.strip() and not note.startswith(changelog.TODO), (
                f"{where}, {cid}: write the note (one sentence on what changed in meaning)"
            )
        live = (live | set(r.added)) - set(r.retired)
    assert live == set(CLAUSES)


def test_since_follows_the_latest_change() -> None:
    cid = next(iter(CLAUSES))
    assert since(cid) == max(
        (r.version for r in releases() if cid in r.added | r.changed), key=version_key
    )
    assert since("NO-SUCH-CLAUSE") is None


def test_a_changed_declaration_or_check_is_pending() -> None:
    clause = CLAUSES["DROPOUT-UNBIASED"]
    reworded = dataclasses.replace(clause, text=clause.text + " Always.")
    assert reworded.digest != clause.digest
    assert dataclasses.replace(clause, rationale="other").digest == clause.digest
    assert dataclasses.replace(clause, when={"scaling": ("classic",)}).digest != clause.digest
    was = {"A": Digest("d1", "c1"), "B": Digest("d2", "c2"), "OLD": Digest("d3", "c3")}
    now = {"A": Digest("d1", "c1"), "B": Digest("d2", "cX"), "NEW": Digest("d4", "c4")}
    found = pending(now, was)
    assert found.added == ("NEW",) and found.retired == ("OLD",)
    assert found.changed == {"B": ("check",)}
    assert "B (check)" in found.summary()
    block = entries(found, "9.9.0", datetime.date(2030, 1, 2))
    parsed = tomllib.loads(block)["release"][0]
    assert parsed["version"] == "9.9.0" and parsed["date"] == "2030-01-02"
    assert parsed["digests"] == {
        "NEW": {"declaration": "d4", "check": "c4"},
        "B": {"declaration": "d2", "check": "cX"},
    }
    assert all(
        n.startswith("TODO") for t in ("added", "changed", "retired") for n in parsed[t].values()
    )


def _load(path: Path, source: str) -> Callable[..., object]:
    path.write_text(source)
    name = "dropspec._test_check"  # helpers are followed within dropspec; one name for both
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn: Callable[..., object] = module.check
    return fn


CHECK = """\
LIMIT = 3


def helper(x):
    return x + LIMIT


def check(ctx):
    return helper(ctx)
"""


@pytest.mark.parametrize(
    ("edit", "same"),
    [
        (("return helper(ctx)", "return helper(\n        ctx,\n    )"), True),  # rewrapped
        (("return helper(ctx)", "return helper(ctx)  # why"), True),  # a comment
        (("def check(ctx):", 'def check(ctx):\n    """Checks."""'), True),  # a docstring
        (("return helper(ctx)", "return helper(ctx) * 1"), False),  # the check's code
        (("return x + LIMIT", "return x - LIMIT"), False),  # a helper's code
        (("LIMIT = 3", "LIMIT = 4"), False),  # a constant a helper names
    ],
)
def test_a_check_digest_follows_what_the_check_runs(
    tmp_path: Path, edit: tuple[str, str], same: bool
) -> None:
    before = _load(tmp_path / "before.py", CHECK)
    after = _load(tmp_path / "after.py", CHECK.replace(*edit))
    assert (check_digest(before) == check_digest(after)) is same


def test_the_pending_command_prints_the_entries_to_add(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    was = recorded()
    cid = "DROPOUT-RATE"
    monkeypatch.setattr(changelog, "recorded", lambda: {**was, cid: Digest("old", "old")})
    assert changelog.main(["--pending"]) == 1
    out, err = capsys.readouterr()
    new = current()[cid]
    assert f'"{cid}" = {{ declaration = "{new.declaration}", check = "{new.check}" }}' in out
    assert f"{cid} (declaration and check)" in err and changelog.PENDING_COMMAND in err
    assert tomllib.loads(out)["release"][0]["version"] == changelog.next_version()


def test_the_pending_command_prints_nothing_on_a_recorded_spec() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dropspec.conformance.changelog", "--pending"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(rf"nothing pending.*{re.escape(SPEC_VERSION)}", proc.stdout)


@pytest.mark.parametrize("version", ["0.2.0", "1.10.3"])
def test_version_key_orders_numerically(version: str) -> None:
    assert version_key(version) < version_key(version.rsplit(".", 1)[0] + ".10")


def test_the_cli_shows_the_spec_version(capsys: pytest.CaptureFixture[str]) -> None:
    from dropspec import cli

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"dropspec {__version__} (spec {SPEC_VERSION})"
    assert cli.main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["spec_version"] == SPEC_VERSION
    assert {c["id"]: c["since"] for c in listed["clauses"]} == {
        cid: c.since for cid, c in CLAUSES.items()
    }
