"""Escape score: which wrong implementations, and which misbehaving targets, get past dropspec.

Two corpora, neither of them part of the test suite:

- **mutants**: issue 21's input-space mutants (``tests/mutants/input_space_mutants.py``), the
  held-back own corpus (``benchmarks/own_corpus/wrong_impls.py``, corpus ``own``) and the second
  one, written blind for attention and recurrent dropout, stateful calls and input structure
  (``benchmarks/own_corpus/wrong_impls_2.py``, corpus ``own2``; ``--corpus own2`` alone).
  Each is checked in this process (``run_target``, as ``tests/test_mutants.py`` does) against
  every clause of its op at each base seed (0-4 by default). It is *caught* at a seed when a
  MUST clause fails there; a failure whose message says the target raised counts too, and is
  flagged ``by_crash``.
  A class is *caught* when every one of its mutants is caught on at least 4 of the 5 seeds.
- **harness faults** (``benchmarks/own_corpus/harness/h*.py``): targets that misbehave against
  the runner (process state, output streams, signals, exceptions, odd return values). Each
  file's ``bad`` target (also a wrong dropout) runs with the correct ``_correct.py:good`` after
  it, in one ``dropspec check`` run. It is *handled* when the run gives no false pass (exit 0,
  or every MUST clause of ``bad`` passed), no false failure of ``good``, no traceback at the
  start of a line of the output, no lost report (missing, unreadable, incomplete, or a target
  missing from it) and no hang past the scorer's own bound.

    nice -n 10 python benchmarks/escape_score.py [--seeds 0 1 2 3 4] [--only SUBSTRING]
        [--corpus issue21|own|own2]
        [--no-harness] [--no-mutants] [--out benchmarks/results/escape_score.json]

The JSON is rewritten after every mutant and harness fault, so an interrupted run keeps what
finished.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "own_corpus"))

from _common import machine  # noqa: E402
from mutants import Mutant, input_space_corpus, no_shrinking  # noqa: E402
from mutants.input_space_mutants import ISSUE_CLASS  # noqa: E402
from wrong_impls import MUTANTS as OWN_MUTANTS  # noqa: E402
from wrong_impls import OWN_CLASS  # noqa: E402
from wrong_impls_2 import MUTANTS as OWN2_MUTANTS  # noqa: E402
from wrong_impls_2 import OWN2_CLASS, SPEC_GAP  # noqa: E402

from dropspec.conformance import Config, run_target  # noqa: E402
from dropspec.conformance.engine import ClauseResult  # noqa: E402

HARNESS = ROOT / "benchmarks" / "own_corpus" / "harness"
OUT = ROOT / "benchmarks" / "results" / "escape_score.json"
SEEDS = (0, 1, 2, 3, 4)
CORPORA = ("issue21", "own", "own2")
#: A mutant class counts as caught when each of its mutants is caught on this many seeds.
NEED = 4


def crashed(r: ClauseResult) -> bool:
    return "the target raised" in r.message and "FlakyFailure" not in r.message


def run_seed(m: Mutant, seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    results = run_target(m.target, config=Config(seed=seed))
    must_failed = [r for r in results if r.outcome == "failed" and r.level == "MUST"]
    by_check = [r.clause_id for r in must_failed if not crashed(r)]
    by_crash = [r.clause_id for r in must_failed if crashed(r)]
    entry: dict[str, Any] = {
        "seed": seed,
        "caught": bool(must_failed),
        "caught_by": by_check,
        "by_crash": by_crash,
        "should_failed": [
            r.clause_id for r in results if r.outcome == "failed" and r.level != "MUST"
        ],
        "not_checked": [r.clause_id for r in results if r.outcome in ("not_checked", "error")],
        "seconds": round(time.perf_counter() - start, 2),
    }
    if not must_failed:
        entry["named_outcomes"] = {
            r.clause_id: [str(r.outcome), r.message[:300]]
            for r in results
            if r.clause_id in m.clauses
        }
    return entry


def score_mutant(m: Mutant, corpus: str, klass: str, seeds: Iterable[int]) -> dict[str, Any]:
    runs = [run_seed(m, s) for s in seeds]
    caught = sum(r["caught"] for r in runs)
    return {
        "name": m.name,
        "corpus": corpus,
        "class": klass,
        "op": m.op,
        "fault_class": m.fault_class,
        "description": m.description,
        "named_clauses": list(m.clauses),
        "spec_gap": SPEC_GAP.get(m.name),
        "caught_seeds": caught,
        "seeds": len(runs),
        "runs": runs,
    }


def good_conforms(target: dict[str, Any] | None) -> bool:
    if target is None or target.get("status") not in (None, "ok"):
        return False
    must = [c for c in target["clauses"] if c["level"] == "MUST"]
    return bool(must) and all(c["outcome"] in ("passed", "not_applicable") for c in must)


def top_level_traceback(text: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            return "\n".join(lines[i : i + 12])
    return None


def run_harness(path: Path, seed: int, timeout: int, bound: int) -> dict[str, Any]:
    doc = (path.read_text().split('"""')[1]).strip().splitlines()
    entry: dict[str, Any] = {"file": path.name, "fault": doc[0]}
    entry["class"] = next((ln[7:].split(".")[0] for ln in doc if ln.startswith("Class: ")), "")
    with tempfile.TemporaryDirectory(prefix="dropspec-harness-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "dropspec.cli",
            "check",
            f"{path}:bad",
            f"{HARNESS / '_correct.py'}:good",
            "--json",
            str(report),
            "--seed",
            str(seed),
            "--timeout",
            str(timeout),
        ]
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd,
                cwd=tmp,
                capture_output=True,
                timeout=bound,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            rc: int | None = proc.returncode
            out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as exc:
            rc = None
            out = (exc.stdout or b"").decode("utf-8", "replace")
            out += (exc.stderr or b"").decode("utf-8", "replace")
        entry["seconds"] = round(time.perf_counter() - start, 1)
        entry["exit"] = rc
        data: dict[str, Any] | None = None
        if report.exists():
            try:
                data = json.loads(report.read_text())
            except (OSError, ValueError):
                data = None
    targets = {t["name"]: t for t in (data or {}).get("targets", [])}
    # a target whose module never reported its name is listed under its spec (path:bad)
    good = targets.pop("harness.correct", None)
    bad = next(iter(targets.values()), None)
    problems = []
    if rc is None:
        problems.append(f"hung: no exit within {bound} s")
    if rc == 0 or (bad is not None and good_conforms(bad)):
        problems.append("false pass: the wrong target conforms")
    if rc is not None and not good_conforms(good):
        outcome = "missing" if good is None else good.get("status")
        failed = (
            []
            if good is None
            else [
                c["id"] for c in good["clauses"] if c["outcome"] not in ("passed", "not_applicable")
            ]
        )
        problems.append(f"correct neighbour not conforming ({outcome}; {', '.join(failed)})")
    tb = top_level_traceback(out)
    if tb:
        problems.append("traceback")
        entry["traceback"] = tb
    if data is None:
        problems.append("report lost (missing or unreadable)")
    elif not data.get("complete") or bad is None or good is None:
        problems.append("report incomplete or a target missing")
    entry.update(
        handled=not problems,
        problems=problems,
        bad_status=None if bad is None else bad.get("status"),
        bad_failed=[]
        if bad is None
        else [c["id"] for c in bad["clauses"] if c["outcome"] == "failed"],
        bad_not_checked=[]
        if bad is None
        else [c["id"] for c in bad["clauses"] if c["outcome"] in ("not_checked", "error")],
        bad_error=None if bad is None else (bad.get("error") or "")[:300],
        output_tail=out[-1500:],
    )
    return entry


def class_table(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for e in entries:
        row = table.setdefault(
            f"{e['corpus']}:{e['class']}", {"mutants": 0, "caught_4_of_5": 0, "escaped": []}
        )
        row["mutants"] += 1
        if e["caught_seeds"] >= min(NEED, e["seeds"]):
            row["caught_4_of_5"] += 1
        else:
            row["escaped"].append(f"{e['name']} ({e['caught_seeds']}/{e['seeds']})")
    for row in table.values():
        row["class_caught"] = row["caught_4_of_5"] == row["mutants"]
    return table


def write(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(out)


def commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--only", help="only mutants and harness files whose name has this")
    parser.add_argument(
        "--corpus",
        choices=CORPORA,
        help="only this corpus of mutants (default all)",
    )
    parser.add_argument("--no-mutants", action="store_true")
    parser.add_argument("--no-harness", action="store_true")
    parser.add_argument("--harness-seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=60, help="dropspec's --timeout")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep --out's other entries and replace only those run now (with --only)",
    )
    args = parser.parse_args(argv)
    mutants = (
        []
        if args.no_mutants
        else [
            *((m, "issue21", ISSUE_CLASS[m.name]) for m in input_space_corpus()),
            *((m, "own", OWN_CLASS[m.name]) for m in OWN_MUTANTS),
            *((m, "own2", OWN2_CLASS[m.name]) for m in OWN2_MUTANTS),
        ]
    )
    mutants = [t for t in mutants if not args.only or args.only in t[0].name]
    mutants = [t for t in mutants if not args.corpus or t[1] == args.corpus]
    files = [] if args.no_harness else sorted(HARNESS.glob("h*.py"))
    files = [f for f in files if not args.only or args.only in f.name]
    report: dict[str, Any] = {
        "commit": commit(),
        "seeds": args.seeds,
        "harness_seed": args.harness_seed,
        "need": NEED,
        "machine": machine(),
        "mutants": [],
        "harness": [],
    }
    kept: dict[str, list[dict[str, Any]]] = {"mutants": [], "harness": []}
    if args.update and args.out.exists():
        old = json.loads(args.out.read_text())
        names = {m.name for m, _, _ in mutants}
        kept["mutants"] = [e for e in old["mutants"] if e["name"] not in names]
        kept["harness"] = [h for h in old["harness"] if h["file"] not in {f.name for f in files}]
        report["updated"] = [*old.get("updated", []), *sorted(names), *(f.name for f in files)]
        report["seeds"] = old["seeds"]
    report["mutants"], report["harness"] = list(kept["mutants"]), list(kept["harness"])
    report["classes"] = class_table(report["mutants"])
    start = time.perf_counter()
    with no_shrinking():
        for m, corpus, klass in mutants:
            e = score_mutant(m, corpus, klass, args.seeds)
            report["mutants"].append(e)
            report["classes"] = class_table(report["mutants"])
            write(args.out, report)
            by = sorted({c for r in e["runs"] for c in r["caught_by"] + r["by_crash"]})
            print(
                f"{e['caught_seeds']}/{e['seeds']} {sum(r['seconds'] for r in e['runs']):6.1f}s "
                f"{corpus:7s} {klass:24.24s} {m.name:70s} {','.join(by) or '-'}",
                flush=True,
            )
    for path in files:
        h = run_harness(path, args.harness_seed, args.timeout, bound=args.timeout * 4 + 120)
        report["harness"].append(h)
        write(args.out, report)
        verdict = "handled" if h["handled"] else "; ".join(h["problems"])
        print(f"{h['seconds']:6.1f}s exit {h['exit']!s:4s} {path.name:32s} {verdict}", flush=True)
    report["seconds"] = round(time.perf_counter() - start, 1)
    summary(report)
    write(args.out, report)
    print(f"wrote {args.out}")
    return 0


def summary(report: dict[str, Any]) -> None:
    classes = report.get("classes", {})
    if classes:
        print(f"\nclasses (caught = every mutant caught on >= {NEED} of the seeds):")
        for k, row in classes.items():
            mark = "caught " if row["class_caught"] else "ESCAPES"
            print(
                f"  {mark} {k:40s} {row['caught_4_of_5']}/{row['mutants']}  "
                + " ".join(row["escaped"])
            )
        ms = report["mutants"]
        for corpus in CORPORA:
            sub = [e for e in ms if e["corpus"] == corpus]
            if sub:
                full = sum(e["caught_seeds"] >= NEED for e in sub)
                never = sum(e["caught_seeds"] == 0 for e in sub)
                print(
                    f"  {corpus}: {full}/{len(sub)} caught on >= {NEED} seeds, "
                    f"{never} escape on every seed"
                )
        report["totals"] = {
            corpus: {
                "mutants": len([e for e in ms if e["corpus"] == corpus]),
                "caught_4_of_5": sum(
                    e["caught_seeds"] >= NEED for e in ms if e["corpus"] == corpus
                ),
                "escaped_every_seed": sum(
                    e["caught_seeds"] == 0 for e in ms if e["corpus"] == corpus
                ),
            }
            for corpus in CORPORA
            if any(e["corpus"] == corpus for e in ms)
        }
    hs = report.get("harness", [])
    if hs:
        handled = sum(h["handled"] for h in hs)
        print(f"\nharness faults: {handled}/{len(hs)} handled")
        for h in hs:
            if not h["handled"]:
                print(f"  {h['file']}: {'; '.join(h['problems'])}")
        report["harness_handled"] = {"handled": handled, "total": len(hs)}


if __name__ == "__main__":
    sys.exit(main())
