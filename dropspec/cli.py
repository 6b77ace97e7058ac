"""``dropspec``: check targets against the spec and print what held.

    dropspec check [TARGET ...]      default: the NumPy reference targets
    dropspec check --all             every built-in target (in parallel workers)
    dropspec merge A.json B.json     one matrix from reports of several runs or machines
    dropspec explain OP              the options a target of OP declares, and what they mean
    dropspec list                    clauses and built-in targets
    dropspec power                   what each statistical check detects at these settings

``check`` imports and runs each target's code in worker processes, never in its own: a
target that crashes, hangs, exits or patches dropspec costs only its own results. Exit
codes: 0 conforms (every MUST clause that applies to each target was checked and passed),
1 a MUST clause failed, 2 usage error (nothing was run) or the --json report could not be
written (the results are printed), 3 something at MUST level could not be checked (framework
missing, target unusable, crashed, timed out), 4 partial: what ran passed but the run left
clauses out on purpose (--clause, --allow-missing with a framework missing), so it says
"N of M MUST clauses checked", never "conforms"; 130 interrupted (Ctrl-C, SIGTERM or SIGHUP).
--dry-run exits 0 when every value is valid, 2 when not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .conformance.defaults import DEFAULT_TIMEOUT
from .conformance.options import (
    RUN_OPTIONS,
    RunOption,
    UsageError,
    check_writable,
    config_values,
    jobs_of,
    option,
)
from .conformance.options import (
    validate as validate_options,
)
from .spec import SPEC_VERSION
from .target import TARGET_KEYWORDS, Target

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

CHECK_EXIT_STATUSES = """\
exit statuses:
  0    conforms: every MUST clause that applies to each target was checked and passed
  1    a MUST clause failed
  2    usage error: a bad value, found before any target ran (nothing was run), another
       run is writing the same --json report, or the report could not be written during
       the run (every target still ran; the results are printed)
  3    a MUST clause could not be checked (framework missing, target unusable, crashed,
       timed out)
  4    partial: no failure, but the run left MUST clauses out on purpose (--clause,
       --allow-missing with a framework missing): "N of M MUST clauses checked"
  130  interrupted (Ctrl-C, SIGTERM or SIGHUP); the report keeps what finished
  --dry-run exits 0 when every value is valid, 2 when not.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dropspec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--version", action="version", version=f"dropspec {__version__} (spec {SPEC_VERSION})"
    )
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check",
        help="check targets and print the matrix",
        epilog=CHECK_EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for opt in RUN_OPTIONS:
        opt.add_cli_argument(check)
        if not opt.cli:  # after the targets: --all
            check.add_argument("--all", action="store_true", help="every built-in target")
            check.add_argument(
                "--variants",
                choices=("default", "all", "none"),
                default="default",
                help="with --all, which built-in targets also run under a transformation: "
                "the default set (see docs/transformed.md), every supported pair, or none",
            )
            check.add_argument(
                "--twins",
                action="store_true",
                help="with --all, also the built-in targets that run another target's kernel "
                "through another API (a layer class around a checked function, a stateful "
                "layer whose seeded convention is a target too; `dropspec list` marks them): "
                "the matrix runs them, the default set leaves them out",
            )
    check.add_argument(
        "--show-expected", action="store_true", help="also print the messages of expected failures"
    )
    check.add_argument(
        "--dry-run",
        action="store_true",
        help="check every value and list what would run, then stop",
    )
    check.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    merge = sub.add_parser("merge", help="merge JSON reports into one matrix")
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    merge.add_argument("--json", metavar="PATH", help="write the merged report to PATH")
    option("allow_missing").add_cli_argument(merge)
    merge.add_argument(
        "--allow-mixed",
        action="store_true",
        help="merge reports of different dropspec or spec versions, seeds, alpha, power or "
        "examples "
        "(refused by default); the merged report lists the differences under 'mixed'",
    )
    explain = sub.add_parser("explain", help="the options of an op and what they mean")
    explain.add_argument("op", nargs="?", help="op name (default: every op)")
    lst = sub.add_parser("list", help="list clauses and built-in targets")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.add_argument("--options", action="store_true", help="the options of every op")
    power = sub.add_parser("power", help="print what each statistical check detects")
    for name in ("alpha", "power"):
        option(name).add_cli_argument(power)
    power.add_argument(
        "-v", "--verbose", action="store_true", help="one line per sub-test (default: a summary)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # the locale's encoding never decides the exit
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_explain(None) if args.options else cmd_list(args.json)
        if args.command == "explain":
            return cmd_explain(args.op)
        if args.command == "merge":
            return cmd_merge(args)
        if args.command == "power":
            from .conformance.power import power_table

            validate_options({"alpha": args.alpha, "power": args.power}, _label)
            print(power_table(args.alpha, args.power, verbose=args.verbose))
            return 0
        return cmd_check(args)
    except (UsageError, ValueError) as exc:  # a merge error quotes its inputs: escaped
        say(f"dropspec: error: {exc}", err=True)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside a run (which handles its own): no traceback
        print("dropspec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def say(text: str = "", *, err: bool = False) -> None:
    """Print ``text`` with every control character escaped (:func:`~.conformance.text.shown`):
    what a target or a report says never reaches the terminal raw."""
    from .conformance.text import shown

    print(shown(text, lines=True), file=sys.stderr if err else sys.stdout, flush=err)


# ---------------------------------------------------------------- list ----


def cmd_list(as_json: bool) -> int:
    from .adapters import builtin_targets, get_backend, twins
    from .spec import OPS

    targets = builtin_targets()
    twin_of = twins()
    if as_json:
        print(
            json.dumps(
                {
                    "spec_version": SPEC_VERSION,
                    "clauses": [
                        {
                            "id": c.id,
                            "op": c.op,
                            "level": str(c.level),
                            "kind": str(c.kind),
                            "text": c.text,
                            "since": c.since,
                        }
                        for op in OPS.values()
                        for c in op.clauses
                    ],
                    "targets": [
                        {
                            "name": t.name,
                            "op": t.op,
                            "framework": t.framework,
                            "description": t.description,
                            "twin_of": twin_of.get(t.name),
                        }
                        for t in targets.values()
                    ],
                },
                indent=1,
            )
        )
        return 0
    print(f"dropspec {__version__}, spec version {SPEC_VERSION}")
    for op in OPS.values():
        print(f"\n{op.title} ({op.name}): {op.signature}")
        for c in op.clauses:
            when = (
                ""
                if not (c.when or c.when_not_empty)
                else "  [when "
                + ", ".join(
                    [f"{k} in {v}" for k, v in c.when.items()]
                    + [f"{k} non-empty" for k in c.when_not_empty]
                )
                + "]"
            )
            print(f"  {c.id:32s} {c.level:6s} {c.kind:11s} {c.text}{when}")
    print("\nBuilt-in targets:")
    for t in targets.values():
        try:
            installed = get_backend(t.framework).available()
        except ValueError:
            installed = False
        mark = "" if installed else "   (framework not installed)"
        if t.name in twin_of:
            mark += f"   (twin of {twin_of[t.name]}: check --all --twins)"
        print(f"  {t.name:44s} {t.op:17s} {t.framework:10s}{mark}")
    from .adapters import variants

    print("\nVariants (dropspec check TARGET --under NAME; the row is 'TARGET under NAME'):")
    for v in variants().values():
        print(f"  {v.name:18s} {v.framework:10s} {v.doc}")
    return 0


def cmd_explain(op_name: str | None) -> int:
    """Print every option of ``op_name`` (or of every op): choices, default, meaning, and
    the clauses each value brings in."""
    import textwrap

    from .spec import OPS, get_op

    ops = [get_op(op_name)] if op_name else list(OPS.values())
    for op in ops:
        print(f"\n{op.title} ({op.name}): {op.signature}")
        print(textwrap.fill(op.summary, 100, initial_indent="  ", subsequent_indent="  "))
        print(f"\n  options (declare them in @dropspec.target({op.name!r}, ...)):")
        for opt in op.options:
            choices = (
                " | ".join(map(repr, opt.choices)) if opt.choices is not None else "see meaning"
            )
            print(f"\n  {opt.name} = {opt.default!r}   (choices: {choices})")
            print(textwrap.fill(opt.doc, 96, initial_indent="      ", subsequent_indent="      "))
            bound = [c.id for c in op.clauses if opt.name in c.when or opt.name in c.when_not_empty]
            if bound:
                print(
                    textwrap.fill(
                        "clauses that depend on it: " + ", ".join(bound),
                        96,
                        initial_indent="      ",
                        subsequent_indent="      ",
                    )
                )
    print("\n  declarations of every target (beside the op's options):")
    for keyword in TARGET_KEYWORDS:
        print(f"\n  {keyword.name} = {keyword.default}")
        print(textwrap.fill(keyword.doc, 96, initial_indent="      ", subsequent_indent="      "))
    return 0


# ---------------------------------------------------------------- check ----


def validate(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """Every value checked before any target runs: the run's Config and its target specs."""
    from .adapters import builtin_targets, declared, joined, split, twins, variants
    from .conformance.config import Config

    validate_options({opt.name: getattr(args, opt.cli_dest) for opt in RUN_OPTIONS}, _label)
    config = Config(**config_values(lambda opt: getattr(args, opt.cli_dest)))
    builtins = builtin_targets()
    if args.twins and not args.all:
        raise UsageError("--twins selects targets of --all; give --all too")
    if args.all:
        left_out = set() if args.twins else set(twins())
        chosen = {n: t for n, t in builtins.items() if n not in left_out}
        specs = list(chosen) + builtin_variants(args.variants, chosen) + list(args.targets)
    elif args.targets:
        specs = list(args.targets)
    else:
        specs = [n for n in builtins if n.startswith("reference.")]
    if args.under:
        specs = [joined(s, v) for s in specs if split(s)[1] is None for v in args.under]
    # Variants a built-in target declares; a user's target declares its own in its worker,
    # which adds them to the run (the runner's _add_declared).
    specs = declared(specs, builtins)
    for full in specs:
        spec, variant = split(full)
        if variant is not None and variant not in variants():
            raise UsageError(
                f"target {full!r}: unknown variant {variant!r}; use one of {', '.join(variants())}"
            )
        if ":" not in spec and spec not in builtins:
            close = [n for n in builtins if spec.lower() in n.lower()][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UsageError(
                f"unknown target {spec!r}{hint}; give a built-in name (see "
                f"`dropspec list`), path/to/file.py:function or module:function"
            )
        where = spec.rpartition(":")[0]
        if where.endswith(".py") and not Path(where).is_file():
            raise UsageError(f"target {spec!r}: no file {where}")
    return config, list(dict.fromkeys(specs))


def builtin_variants(which: str, builtins: dict[str, Target]) -> list[str]:
    """The variant targets ``--all`` adds: ``default`` the chosen set
    (:func:`~dropspec.adapters.default_set`, those whose target is installed here), ``all``
    every supported pair, ``none`` none."""
    from .adapters import default_set, split, supported

    if which == "all":
        return supported(builtins)
    if which == "default":
        return [s for s in default_set() if split(s)[0] in builtins]
    return []


def _label(opt: RunOption) -> str:
    """How the command line names an option in its messages: ``--seed``, ``-j/--jobs``."""
    return opt.cli_label


def expected_cost(target: Target) -> float:
    """A built-in target's expected share of a run: the statistical clauses that apply to it
    (each draws its large samples once per dtype; the other clauses are quick). Only the
    order in which workers take targets depends on it."""
    from .spec import Kind, get_op

    try:
        clauses = get_op(target.op).clauses
    except ValueError:
        return 0.0
    return float(sum(c.kind is Kind.STATISTICAL and c.applies(target.options) for c in clauses))


def cmd_check(args: argparse.Namespace) -> int:
    from .adapters import builtin_targets, get_backend, split
    from .conformance.runner import Job, Runner
    from .conformance.text import shown

    config, specs = validate(args)
    workers = jobs_of(args.jobs, default_auto=True)
    builtins = builtin_targets()
    if args.all and not args.twins:
        from .adapters import twins

        say(
            f"--all: the default set; {len(twins())} twin target(s) left out (each runs the "
            f"kernel of a target checked here through another API; --twins adds them)",
            err=True,
        )
    jobs = []
    for spec in specs:
        known = builtins.get(split(spec)[0])
        jobs.append(
            Job(spec, clauses=list(args.clause))
            if known is None
            else Job(
                spec,
                dict(known.env),
                list(args.clause),
                group=known.framework,
                startup=get_backend(known.framework).startup_seconds,
                cost=expected_cost(known),
                alone=get_backend(known.framework).own_process,
            )
        )
    if args.dry_run:
        print(
            f"would check {len(jobs)} target(s) in {workers} worker process(es), "
            f"timeout {args.timeout or DEFAULT_TIMEOUT:g} s each, seed {config.seed}, "
            f"alpha {config.alpha}, power {config.power}, device {config.device}"
            + (f", clauses {', '.join(args.clause)}" if args.clause else "")
        )
        for job in jobs:
            env = " ".join(f"{k}={v}" for k, v in job.env.items())
            say(f"  {shown(job.spec)}" + (f"   [{env}]" if env else ""))
            known = builtins.get(split(job.spec)[0])
            if args.clause and known is not None and known.error is None:
                from .spec import get_op

                if not {c.id for c in get_op(known.op).clauses} & set(args.clause):
                    print(f"    (--clause names none of op {known.op}'s clauses)")
        if args.clause:
            print(
                "a partial run: only the clauses --clause names are checked; with no failure "
                "it ends 'partial: N of M MUST clauses checked' (exit 4), never 'conforms'"
            )
        return 0
    progress = None if args.quiet else (lambda line: say(shown(line), err=True))
    runner = Runner(
        jobs,
        config,
        workers=workers,
        timeout=args.timeout or DEFAULT_TIMEOUT,
        json_path=args.json,
        allow_missing=args.allow_missing,
        progress=progress,
        ignore_signals_after_stop=True,  # a second Ctrl-C while the matrix prints: no effect
    )
    report = runner.run()
    json_path = None if runner.write_error else args.json
    status = finish(report, json_path, args.allow_missing, show_expected=args.show_expected)
    if runner.write_error:  # the results are printed above; the file is what was lost
        say(
            f"dropspec: error: {runner.write_error}; the results of this run are only in "
            f"the matrix printed above",
            err=True,
        )
        return status if status == EXIT_INTERRUPTED else EXIT_USAGE
    return status


def finish(
    report: dict[str, Any],
    json_path: str | None,
    allow_missing: bool,
    *,
    show_expected: bool = False,
) -> int:
    """Print the matrix, the failures and the closing line; return the exit status."""
    from .conformance.report import (
        closing_line,
        exit_status,
        false_alarm_bound,
        render_failures,
        render_matrix,
    )
    from .conformance.text import shown

    say(render_matrix(report))
    failures = render_failures(report, include_expected=show_expected)
    if failures:
        say("\nFailures and clauses not checked:\n" + failures)
    divergences = report["summary"]["declared_divergences_must"]
    if divergences:
        say(
            f"\nDeclared divergences at MUST level ({len(divergences)}; expected failures "
            f"with reasons, --show-expected prints them):"
        )
        for d in divergences:
            say(f"  {shown(d)}")
    say(
        f"\nseed {shown(report['seed'])}, alpha {shown(report['alpha'])} per check, power "
        f"{shown(report['power'])}; P(any false alarm in this run) <= "
        f"{false_alarm_bound(report):.2g}"
    )
    if json_path:
        say(f"report written to {json_path}")
    status = exit_status(report, allow_missing=allow_missing)
    say(closing_line(report, allow_missing=allow_missing))
    return status


def cmd_merge(args: argparse.Namespace) -> int:
    from .conformance.merge import load, merge
    from .conformance.report import exit_status, write_json

    reports = [load(path) for path in args.reports]
    if args.json:
        check_writable(args.json)
    merged = merge(reports, list(args.reports), allow_mixed=args.allow_mixed)
    merged["exit_status"] = exit_status(merged, allow_missing=args.allow_missing)
    if args.json:
        write_json(merged, args.json)
    for key, values in merged.get("mixed", {}).items():
        say(
            f"mixed {key} (--allow-mixed): "
            + ", ".join(f"{v!r} ({src})" for src, v in values.items())
        )
    return finish(merged, args.json, args.allow_missing)


if __name__ == "__main__":
    raise SystemExit(main())
