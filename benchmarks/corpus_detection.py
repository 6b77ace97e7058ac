"""Detection on the public mutation corpus, at the base seeds CI draws.

``tests/test_mutants.py`` requires every mutant of ``tests.mutants.corpus()`` to be caught by
one of the clauses it names at the default base seed, at the run's replay seed and (slow
tier) at base seeds 0-4. This measures the same thing once and keeps it for the README and
the statistics page (``docs/_data/corpus_detection.json``, checked against the corpus and the
pages by ``tests/test_mutants.py``):

- every corpus mutant, with the test's policy (its named clauses in order, until one catches
  it), at the default base seed and at base seeds 0-4; the seconds each takes are what the
  mutant tests cost;
- issue 21's input-space mutants in the corpus, every named clause (each must fail), at those
  seeds and at ``--extra`` more base seeds (5, 6, ...), since the replay seed changes with
  every commit;
- the input-space mutants held out of the corpus (``NOT_YET_CAUGHT``), with the test's policy,
  at the same seeds as the corpus: how far each still is from joining it.

    nice -n 10 python benchmarks/corpus_detection.py [--extra 20]
    python benchmarks/corpus_detection.py --only SUBSTRING --out /tmp/partial.json

The whole run takes about 7 minutes on 2 cores; after it, update the figures the README and
docs/statistics.md state (``tests/test_mutants.py`` names any that differ).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine, now, write_json  # noqa: E402
from mutants import (  # noqa: E402
    Mutant,
    catches,
    corpus,
    first_catch,
    input_space_corpus,
    input_space_mutants,
    no_shrinking,
    run_mutant,
)
from replay import FIXED_SEEDS  # noqa: E402

from dropspec.conformance import Config  # noqa: E402

OUT = ROOT / "docs" / "_data" / "corpus_detection.json"
ISSUE_CLASSES = ("shape", "layout", "values", "seeds", "structure", "validation")


def commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "dropspec", "tests"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return f"{out}+dirty" if dirty else out


def policy_run(m: Mutant, seeds: list[int]) -> dict[str, Any]:
    """The test's policy: per seed, the first named clause that catches ``m`` (None: escaped)."""
    by_seed: dict[str, str | None] = {}
    seconds: dict[str, float] = {}
    for seed in seeds:
        start = time.perf_counter()
        caught, _ = first_catch(m, seed)
        seconds[str(seed)] = round(time.perf_counter() - start, 2)
        by_seed[str(seed)] = caught.clause_id if caught else None
    return {"first_catch": by_seed, "seconds": seconds}


def every_clause(m: Mutant, seeds: list[int]) -> dict[str, list[str]]:
    """Per seed, the named clauses that do not catch ``m`` (each must)."""
    missed: dict[str, list[str]] = {}
    for seed in seeds:
        results = run_mutant(m, m.clauses, Config(seed=seed))
        missed[str(seed)] = [r.clause_id for r in results if not catches(m, r)]
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=int, default=20, help="more base seeds, from 5 up")
    parser.add_argument("--only", help="only mutants whose name has this (a partial run)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.only and args.out.resolve() == OUT.resolve():
        parser.error("--only is a partial look: give it an --out other than the kept figures")
    ci_seeds = [Config().seed, *FIXED_SEEDS]
    extra = [max(FIXED_SEEDS) + 1 + i for i in range(args.extra)]
    in_space = {m.name for m in input_space_mutants.CAUGHT}
    held = [m for m in input_space_corpus() if m.name in input_space_mutants.NOT_YET_CAUGHT]
    todo = [(m, True) for m in corpus()] + [(m, False) for m in held]
    todo = [(m, c) for m, c in todo if not args.only or args.only in m.name]
    report: dict[str, Any] = {
        "commit": commit(),
        "date": now(),
        "machine": machine(),
        "ci_seeds": ci_seeds,
        "extra_seeds": extra,
    }
    entries = []
    start = time.perf_counter()
    with no_shrinking():
        for m, in_corpus in todo:
            if m.framework != "numpy" and importlib.util.find_spec(m.framework) is None:
                print(f"skipped (no {m.framework}) {m.name}")
                continue
            e: dict[str, Any] = {
                "name": m.name,
                "framework": m.framework,
                "in_corpus": in_corpus,
                "issue_class": input_space_mutants.ISSUE_CLASS.get(m.name),
                "clauses": list(m.clauses),
                **policy_run(m, ci_seeds),
            }
            if m.name in in_space:
                e["missed_named_clauses"] = every_clause(m, ci_seeds + extra)
            entries.append(e)
            caught = sum(c is not None for c in e["first_catch"].values())
            note = ""
            if "missed_named_clauses" in e:
                bad = sum(bool(v) for v in e["missed_named_clauses"].values())
                note = f" (a named clause missed at {bad} of {len(ci_seeds) + len(extra)} seeds)"
            print(
                f"{caught}/{len(ci_seeds)} {sum(e['seconds'].values()):7.2f}s {m.name}{note}",
                flush=True,
            )
    report.update(summarise(entries, len(ci_seeds) + len(extra)))
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["mutants"] = entries
    write_json(args.out, report)
    for k, v in report.items():
        if k not in ("mutants", "machine"):
            print(f"{k}: {v}")
    return 0


def summarise(entries: list[dict[str, Any]], n_input_seeds: int) -> dict[str, Any]:
    def every(e: dict[str, Any]) -> bool:
        return all(c is not None for c in e["first_catch"].values())

    def all_named(e: dict[str, Any]) -> bool:
        return not any(e["missed_named_clauses"].values())

    inc = [e for e in entries if e["in_corpus"]]
    space = [e for e in inc if "missed_named_clauses" in e]
    held = [e for e in entries if not e["in_corpus"]]
    per_seed_s = sum(sum(e["seconds"].values()) for e in inc) / max(1, len(inc[0]["seconds"]))
    return {
        "corpus": {
            "mutants": len(inc),
            "caught_at_every_ci_seed": sum(every(e) for e in inc),
            "test_seconds_per_seed": round(per_seed_s, 1),
            "input_space_test_seconds_per_seed": round(
                sum(sum(e["seconds"].values()) for e in space) / max(1, len(inc[0]["seconds"])), 1
            ),
        },
        "input_space": {
            "in_corpus": len(space),
            "every_named_clause_at_every_seed": sum(all_named(e) for e in space),
            "seeds": n_input_seeds,
            "by_class": {k: sum(e["issue_class"] == k for e in space) for k in ISSUE_CLASSES},
        },
        "not_yet_caught": {
            e["name"]: sum(c is not None for c in e["first_catch"].values()) for e in held
        },
    }


if __name__ == "__main__":
    sys.exit(main())
