"""``dropspec merge`` end to end: inputs are checked against the report schema, mixed settings
and duplicates are refused (or flagged with ``--allow-mixed``), clauses missing from an input
count as not checked, and every merged target names the input it came from.

The inputs are made from one real quick run (one clause of the reference), completed with the
op's other clauses where a test needs a full report, then edited as a user's file might be.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from clirun import cli

from dropspec.spec import OPS, SPEC_VERSION


@pytest.fixture(scope="module")
def partial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real report of ``check reference.dropout --clause DROPOUT-SHAPE``."""
    d = tmp_path_factory.mktemp("merge-src")
    proc = cli(
        "check", "reference.dropout", "--clause", "DROPOUT-SHAPE", "-q", "--json", "r.json", cwd=d
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads((d / "r.json").read_text())
    return data


def full_from(partial: dict[str, Any], name: str = "reference.dropout") -> dict[str, Any]:
    """The partial report with every other clause of the op added as passed."""
    r = copy.deepcopy(partial)
    t = r["targets"][0]
    shape = t["clauses"][0]
    have = {c["id"] for c in t["clauses"]}
    for clause in OPS[t["op"]].clauses:
        if clause.id not in have:
            c = {**shape, "id": clause.id, "level": str(clause.level), "kind": str(clause.kind)}
            c["outcome"] = "passed" if clause.applies(t["options"]) else "not_applicable"
            t["clauses"].append(c)
    t["name"] = t["spec"] = name
    return r


def write(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data))
    return path.name


def merged(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def validate(report: dict[str, Any]) -> list[str]:
    from dropspec.conformance.schema import validate as check

    return check(report)


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_check_writes_a_report_the_schema_accepts(partial: dict[str, Any]) -> None:
    from dropspec.conformance.schema import SCHEMA_VERSION, schema

    assert partial["schema_version"] == SCHEMA_VERSION
    assert schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert validate(partial) == []


def test_a_report_carries_the_spec_version_and_may_lack_it(partial: dict[str, Any]) -> None:
    assert partial["spec_version"] == SPEC_VERSION
    older = {k: v for k, v in partial.items() if k != "spec_version"}
    assert validate(older) == []  # reports from before spec versions still read
    assert validate({**partial, "spec_version": 2}) != []


def test_merge_of_two_full_reports_conforms_and_names_sources(
    partial: dict[str, Any], tmp_path: Path
) -> None:
    a = write(tmp_path / "a.json", full_from(partial, "one"))
    b = write(tmp_path / "b.json", full_from(partial, "two"))
    proc = cli("merge", a, b, "--json", "all.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = merged(tmp_path / "all.json")
    assert {t["name"]: t["source"] for t in out["targets"]} == {"one": "a.json", "two": "b.json"}
    assert out["merged_from"] == ["a.json", "b.json"]
    assert validate(out) == []


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ((), "seed"),
        ((), "schema_version"),
        ((), "targets"),
        (("targets", 0), "clauses"),
        (("targets", 0), "op"),
        (("targets", 0, "clauses", 0), "outcome"),
        (("targets", 0, "clauses", 0), "level"),
    ],
)
def test_input_missing_a_field_is_a_usage_error_naming_file_and_field(
    partial: dict[str, Any], tmp_path: Path, where: tuple[Any, ...], field: str
) -> None:
    data = full_from(partial)
    node: Any = data
    for key in where:
        node = node[key]
    del node[field]
    name = write(tmp_path / "broken.json", data)
    proc = cli("merge", name, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    no_traceback(proc)
    assert "broken.json" in proc.stderr and field in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [("alpha", "small"), ("targets", {}), ("complete", "yes"), ("schema_version", 99)],
)
def test_malformed_input_is_a_usage_error(
    partial: dict[str, Any], tmp_path: Path, field: str, value: Any
) -> None:
    data = full_from(partial)
    data[field] = value
    name = write(tmp_path / "odd.json", data)
    proc = cli("merge", name, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    no_traceback(proc)
    assert "odd.json" in proc.stderr and field in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dropspec_version", "0.0.1"),
        ("spec_version", "0.1.0"),
        ("seed", 7),
        ("alpha", 1e-3),
        ("power", 0.9),
        ("examples", 3),
    ],
)
def test_mixed_settings_are_refused_unless_allowed(
    partial: dict[str, Any], tmp_path: Path, field: str, value: Any
) -> None:
    first = full_from(partial, "one")
    other = full_from(partial, "two")
    other[field] = value
    a, b = write(tmp_path / "a.json", first), write(tmp_path / "b.json", other)
    proc = cli("merge", a, b, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    no_traceback(proc)
    err = proc.stderr
    assert field in err and "a.json" in err and "b.json" in err, err
    assert str(first[field]) in err and str(value) in err, err
    proc = cli("merge", a, b, "--allow-mixed", "--json", "all.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mixed" in proc.stdout
    out = merged(tmp_path / "all.json")
    assert out["mixed"][field] == {"a.json": first[field], "b.json": value}
    assert validate(out) == []


def test_the_same_report_twice_is_refused(partial: dict[str, Any], tmp_path: Path) -> None:
    data = full_from(partial)
    a, b = write(tmp_path / "a.json", data), write(tmp_path / "copy.json", data)
    proc = cli("merge", a, b, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    no_traceback(proc)
    assert "duplicate" in proc.stderr and "a.json" in proc.stderr and "copy.json" in proc.stderr


def test_the_same_target_from_two_runs_on_one_machine_is_refused(
    partial: dict[str, Any], tmp_path: Path
) -> None:
    first, second = full_from(partial), full_from(partial)
    second["started"] = "2000-01-01T00:00:00+00:00"
    a, b = write(tmp_path / "a.json", first), write(tmp_path / "b.json", second)
    proc = cli("merge", a, b, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    no_traceback(proc)
    err = proc.stderr
    assert "duplicate" in err and "reference.dropout" in err and "a.json" in err and "b.json" in err


def test_the_same_target_on_two_machines_is_kept(partial: dict[str, Any], tmp_path: Path) -> None:
    first, second = full_from(partial), full_from(partial)
    second["platform"]["node"] = "other-machine"
    second["targets"][0]["platform"]["node"] = "other-machine"
    a, b = write(tmp_path / "a.json", first), write(tmp_path / "b.json", second)
    proc = cli("merge", a, b, "--json", "all.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = [t["name"] for t in merged(tmp_path / "all.json")["targets"]]
    assert len(set(names)) == 2 and any("other-machine" in n for n in names)


def test_deleted_clauses_count_as_not_checked(partial: dict[str, Any], tmp_path: Path) -> None:
    data = full_from(partial)
    t = data["targets"][0]
    gone = [c["id"] for c in t["clauses"] if c["level"] == "MUST" and c["outcome"] == "passed"][:3]
    t["clauses"] = [c for c in t["clauses"] if c["id"] not in gone]
    name = write(tmp_path / "cut.json", data)
    proc = cli("merge", name, "--json", "all.json", cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "-> conforms" not in proc.stdout and "cannot say it conforms" in proc.stdout
    out = merged(tmp_path / "all.json")
    outcomes = {c["id"]: c["outcome"] for c in out["targets"][0]["clauses"]}
    assert all(outcomes[g] == "not_checked" for g in gone), outcomes


def test_a_clause_subset_run_does_not_merge_into_conforms(
    partial: dict[str, Any], tmp_path: Path
) -> None:
    name = write(tmp_path / "subset.json", partial)
    proc = cli("merge", name, cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "-> conforms" not in proc.stdout
