"""The false-alarm soak: correct targets over many fresh seeds, failures against the bound.

Every statistical clause of every target runs once per seed. A correct target fails a check
with probability at most its alpha, so the expected number of false alarms is at most the sum
of the alphas; the p-values collected (those that are exact, not bounds) must also be uniform,
which a Kolmogorov–Smirnov test checks at the second level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from ..spec import Kind, get_op
from ..target import Target
from .config import Config
from .engine import ClauseResult, run_clause
from .outcomes import Outcome


@dataclass(frozen=True)
class SoakResult:
    clause_runs: int
    failures: tuple[ClauseResult, ...]
    alpha_sum: float
    pvalues: np.ndarray = field(repr=False)
    uniformity_statistic: float
    uniformity_pvalue: float
    seconds: float

    def summary(self) -> str:
        return (
            f"{self.clause_runs} statistical clause-runs, {len(self.failures)} failure(s); "
            f"expected false alarms <= {self.alpha_sum:.3g}; {self.pvalues.size} exact "
            f"p-values, KS vs U(0, 1): D={self.uniformity_statistic:.4f}, "
            f"p={self.uniformity_pvalue:.3g}; {self.seconds:.0f} s"
        )


def soak(
    targets: Iterable[Target],
    seeds: Sequence[int],
    *,
    config: Config | None = None,
    kinds: tuple[Kind, ...] = (Kind.STATISTICAL,),
    dtype_of_seed: Callable[[int], str] | None = None,
    only: Callable[[str], bool] | None = None,
) -> SoakResult:
    """Run the statistical clauses of ``targets`` once per seed in ``seeds``.

    ``dtype_of_seed`` restricts every target to one dtype per seed (a rotation keeps a
    short soak affordable while every dtype is still soaked); by default each check runs
    every dtype the target supports. ``only`` keeps the clauses whose ids it accepts.
    """
    import time

    base = config or Config()
    start = time.perf_counter()
    runs, failures, alphas, pvalues = 0, [], 0.0, []
    targets = list(targets)
    for seed in seeds:
        cfg = replace(base, seed=seed)
        for target in targets:
            t = target if dtype_of_seed is None else replace(target, dtypes=(dtype_of_seed(seed),))
            for clause in get_op(t.op).clauses:
                if clause.kind not in kinds or not clause.applies(t.options):
                    continue
                if only is not None and not only(clause.id):
                    continue
                r = run_clause(t, clause, cfg)
                if not r.outcome.ran or r.outcome.declared:  # a verdict of its own only
                    continue
                runs += 1
                if r.outcome is not Outcome.PASSED:
                    failures.append(r)
                if r.stat is not None:
                    alphas += sum(leaf.alpha for leaf in r.stat.leaves())
                    pvalues += [leaf.pvalue for leaf in r.stat.leaves() if leaf.uniform]
    return _result(runs, failures, alphas, np.array(pvalues), time.perf_counter() - start)


def _result(
    runs: int, failures: Iterable[ClauseResult], alphas: float, pv: np.ndarray, seconds: float
) -> SoakResult:
    ks = stats.kstest(pv, "uniform") if pv.size else None
    return SoakResult(
        runs,
        tuple(failures),
        alphas,
        pv,
        float(ks.statistic) if ks else float("nan"),
        float(ks.pvalue) if ks else float("nan"),
        seconds,
    )


def merged(parts: Sequence[SoakResult], seconds: float) -> SoakResult:
    """One result from soaks of disjoint seeds (run in parallel, say): runs, failures and
    alphas added, and the uniformity test on all their p-values together."""
    return _result(
        sum(p.clause_runs for p in parts),
        [f for p in parts for f in p.failures],
        sum(p.alpha_sum for p in parts),
        np.concatenate([p.pvalues for p in parts]) if parts else np.array([]),
        seconds,
    )
