"""``dropspec``: check targets against the spec and print the clause × target matrix.

    dropspec check [TARGET ...]      default: the NumPy reference targets
    dropspec check --all             every built-in target whose framework is installed
    dropspec list                    clauses and built-in targets
    dropspec power                   what each statistical check detects at these settings

``check`` runs the suite through pytest (the dropspec plugin), one process per environment a
target needs (Keras picks its backend at import), merges the reports, prints the matrix and
exits 0 iff every MUST clause passed for every target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .conformance.engine import DEFAULT_ALPHA, DEFAULT_POWER, DEFAULT_SEED


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dropspec", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check targets and print the matrix")
    check.add_argument("targets", nargs="*", metavar="TARGET",
                       help="built-in name, path/to/file.py:fn or module:fn "
                       "(default: the NumPy reference)")
    check.add_argument("--all", action="store_true", help="every built-in target")
    check.add_argument("--json", metavar="PATH", help="write the JSON report to PATH")
    check.add_argument("--seed", type=int, default=DEFAULT_SEED, help="base seed")
    check.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                       help="significance level per statistical check")
    check.add_argument("--power", type=float, default=DEFAULT_POWER,
                       help="power the sample sizes are chosen for")
    check.add_argument("--device", default="cpu", help="cpu (default), cuda or gpu")
    check.add_argument("--examples", type=int, default=10,
                       help="hypothesis examples per exact clause")
    check.add_argument("--clause", action="append", default=[], metavar="ID",
                       help="check only this clause (repeatable)")
    check.add_argument("--show-expected", action="store_true",
                       help="also print the messages of expected failures")
    check.add_argument("-q", "--quiet", action="store_true", help="no pytest progress")
    lst = sub.add_parser("list", help="list clauses and built-in targets")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    power = sub.add_parser("power", help="print what each statistical check detects")
    power.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    power.add_argument("--power", type=float, default=DEFAULT_POWER)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        return cmd_list(args.json)
    if args.command == "power":
        from .conformance.power import power_table

        print(power_table(args.alpha, args.power))
        return 0
    return cmd_check(args)


# ---------------------------------------------------------------- list ----

def cmd_list(as_json: bool) -> int:
    from .adapters import builtin_targets, get_backend
    from .spec import OPS

    targets = builtin_targets()
    if as_json:
        print(json.dumps({
            "clauses": [{"id": c.id, "op": c.op, "level": str(c.level), "kind": str(c.kind),
                         "text": c.text} for op in OPS.values() for c in op.clauses],
            "targets": [{"name": t.name, "op": t.op, "framework": t.framework,
                         "description": t.description} for t in targets.values()],
        }, indent=1))
        return 0
    for op in OPS.values():
        print(f"\n{op.title} ({op.name}): {op.signature}")
        for c in op.clauses:
            when = "" if not (c.when or c.when_not_empty) else "  [when " + ", ".join(
                [f"{k} in {v}" for k, v in c.when.items()]
                + [f"{k} non-empty" for k in c.when_not_empty]) + "]"
            print(f"  {c.id:32s} {c.level:6s} {c.kind:11s} {c.text}{when}")
    print("\nBuilt-in targets:")
    for t in targets.values():
        try:
            installed = get_backend(t.framework).available()
        except ValueError:
            installed = False
        mark = "" if installed else "   (framework not installed)"
        print(f"  {t.name:44s} {t.op:17s} {t.framework:10s}{mark}")
    return 0


# ---------------------------------------------------------------- check ----

def resolve(args: argparse.Namespace) -> tuple[list[str], list[dict[str, Any]]]:
    """Target specs to run, and report entries for targets that cannot run here at all."""
    from .adapters import builtin_targets

    builtins = builtin_targets()
    if args.all:
        names = list(builtins) + list(args.targets)
    elif args.targets:
        names = list(args.targets)
    else:
        names = [n for n, t in builtins.items() if n.startswith("reference.")]
    return list(dict.fromkeys(names)), []


def env_of(spec: str) -> dict[str, str]:
    from .adapters import builtin_targets

    t = builtin_targets().get(spec)
    return dict(t.env) if t is not None else {}


def cmd_check(args: argparse.Namespace) -> int:
    from .conformance.report import (
        blocking,
        false_alarm_bound,
        merge,
        render_failures,
        render_matrix,
        write_json,
    )

    specs, _ = resolve(args)
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for spec in specs:
        groups.setdefault(tuple(sorted(env_of(spec).items())), []).append(spec)
    reports: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dropspec-") as tmp:
        runs = [(list(group), dict(env), Path(tmp) / f"report-{i}.json")
                for i, (env, group) in enumerate(groups.items())]
        here = [r for r in runs if _matches_env(r[1])]
        elsewhere = [r for r in runs if not _matches_env(r[1])]
        # Groups that need another environment run in subprocesses, one at a time, beside the
        # in-process group: two busy processes for this machine's two cores.
        codes: dict[Path, int] = {}
        worker = threading.Thread(target=lambda: codes.update(
            {path: run_elsewhere(group, env, args, path, tmp) for group, env, path in elsewhere}))
        worker.start()
        for group, _, path in here:
            codes[path] = run_here(group, args, path, tmp)
        worker.join()
        for group, _, path in runs:
            log = path.with_suffix(".log")
            if log.exists():
                print(log.read_text(), end="")
            if path.exists():
                reports.append(json.loads(path.read_text()))
            else:
                print(f"dropspec: the run for {', '.join(group)} produced no report "
                      f"(pytest exit code {codes.get(path)})", file=sys.stderr)
                reports.append(_crashed(group, codes.get(path, -1), args))
    report = merge(reports)
    print(render_matrix(report))
    failures = render_failures(report, include_expected=args.show_expected)
    if failures:
        print("\nFailures:\n" + failures)
    bad = blocking(report)
    print(f"\nseed {report['seed']}, alpha {report['alpha']} per check, power {report['power']};"
          f" P(any false alarm in this run) <= {false_alarm_bound(report):.2g}")
    if args.json:
        write_json(report, args.json)
        print(f"report written to {args.json}")
    print(f"{len(bad)} MUST clause failure(s)" if bad else "every MUST clause passed")
    return 1 if bad else 0


def _crashed(group: list[str], rc: int, args: argparse.Namespace) -> dict[str, Any]:
    from .conformance.engine import Config
    from .conformance.report import build_report, error_entry

    cfg = Config(seed=args.seed, alpha=args.alpha, power=args.power, device=args.device)
    entries = [error_entry(g, f"the run crashed (pytest exit code {rc})", "(run)")
               for g in group]
    return build_report(entries, cfg)


def pytest_args(group: list[str], args: argparse.Namespace, path: Path, tmp: str) -> list[str]:
    ini = Path(__file__).parent / "conformance" / "pytest.ini"
    empty = Path(tmp) / "empty"
    empty.mkdir(exist_ok=True)
    out = ["-c", str(ini), "--rootdir", tmp, "-p", "no:cacheprovider", "-p", "no:randomly",
           "-q" if not args.quiet else "-qq", "-rN", "--no-header",
           "--dropspec-seed", str(args.seed), "--dropspec-alpha", str(args.alpha),
           "--dropspec-power", str(args.power), "--dropspec-device", args.device,
           "--dropspec-examples", str(args.examples), "--dropspec-json", str(path)]
    for spec in group:
        out += ["--dropspec-target", spec]
    for clause_id in args.clause:
        out += ["--dropspec-clause", clause_id]
    out.append(str(empty))
    return out


def _matches_env(env: dict[str, str]) -> bool:
    return all(os.environ.get(k) == v for k, v in env.items())


def run_here(group: list[str], args: argparse.Namespace, path: Path, tmp: str) -> int:
    import pytest

    return int(pytest.main(pytest_args(group, args, path, tmp)))


def run_elsewhere(group: list[str], env: dict[str, str], args: argparse.Namespace, path: Path,
                  tmp: str) -> int:
    """Run a group in a subprocess with ``env``; its output goes to a log printed later."""
    argv = pytest_args(group, args, path, tmp)
    header = (f"\n-- {', '.join(group)} ran in its own process with "
              f"{' '.join(f'{k}={v}' for k, v in env.items())}\n")
    with open(path.with_suffix(".log"), "w", encoding="utf-8") as log:
        log.write(header)
        log.flush()
        proc = subprocess.run([sys.executable, "-m", "pytest", *argv], env={**os.environ, **env},
                              stdout=log, stderr=subprocess.STDOUT, check=False)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
