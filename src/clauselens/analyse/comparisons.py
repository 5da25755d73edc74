"""Strategies compared at one model size: per-metric rank tests, category-profile permutation tests, and
agreement of unit rankings.

The clauses are the same test clauses for every cell, so the *paired* tests (Friedman, Wilcoxon
signed-rank, the paired permutation test) are the primary ones; the unpaired Kruskal–Wallis / Dunn pair
is reported too because it still works when some cells lack some clauses. Multiplicity (Holm):
an omnibus test over the metrics of its family, a post-hoc test over the strategy pairs of its metric,
a permutation or agreement test over the strategy pairs of its family.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from clauselens.analyse.nonparametric import (
    cliffs_delta,
    dunn_z,
    epsilon_squared,
    kendalls_w,
    mean_ci_bootstrap,
    profile_permutation_test,
    rank_biserial_paired,
)
from clauselens.analyse.power import (
    dunn_min_p,
    friedman_min_p,
    kruskal_min_p,
    paired_permutation_min_p,
    signed_rank_min_p,
)
from clauselens.analyse.results import Draft, correct, finish, note
from clauselens.labels import strategy_rank
from clauselens.records import Attribution, TestResult

MIN_N = 3  # fewer clauses than this and a test is recorded as "not enough data"


def ordered_strategies(names: Sequence[str]) -> list[str]:
    return sorted(set(names), key=lambda s: (strategy_rank(s), s))


def stable_seed(*parts: object) -> int:
    """A seed fixed by the test's identity, so reruns (and reorderings) give identical p-values."""
    return zlib.crc32("|".join(map(str, parts)).encode())


@dataclass(frozen=True)
class _Pairwise:
    """One test run on every pair of strategies, and the notes for what it cannot test."""

    family: str
    test: str
    metric: str
    what: str  # "category profiles": what the test compares
    where: str

    def pairs(self, strategies: Sequence[str]) -> tuple[list[tuple[str, str]], list[Draft]]:
        """The ordered pairs to test, or none and a note when there are fewer than two strategies."""
        names = ordered_strategies(strategies)
        if len(names) < 2:
            return [], [note(self.family, self.test, self.metric, names, 0,
                             f"compare {self.what}{self.where}", "fewer than two strategies")]
        return list(itertools.combinations(names, 2)), []

    def skip(self, a: str, b: str, n: int, why: str) -> Draft:
        return note(self.family, self.test, self.metric, [a, b], n,
                    f"compare {self.what} of {a} and {b}{self.where}", why)


def _require(frame: pd.DataFrame, columns: set[str], who: str) -> None:
    missing = columns - set(frame.columns)
    if missing:
        raise ValueError(f"{who}: input lacks column(s) {sorted(missing)}")


def _unpaired(metric: str, wide: pd.DataFrame, family: str, where: str) -> list[Draft]:
    names = list(wide.columns)
    groups = [wide[s].dropna().to_numpy() for s in names]
    sizes = [len(g) for g in groups]
    if min(sizes) < MIN_N:
        return [note(family, "kruskal", metric, names, sum(sizes), f"run Kruskal–Wallis on {metric}{where}",
                     f"a strategy has {min(sizes)} clause value(s), fewer than {MIN_N}")]
    h, p = stats.kruskal(*groups)
    n = sum(sizes)
    drafts = [Draft("omnibus", family, "kruskal", metric, names, float(h), float(p), n, (family, "kruskal"),
                    where, "epsilon_squared", epsilon_squared(float(h), n), min_p=kruskal_min_p(sizes))]
    for (i, j), (z, p_ij) in dunn_z(groups).items():
        gi, gj = groups[i], groups[j]
        drafts.append(Draft("pair", family, "dunn", metric, [names[i], names[j]], z, p_ij, gi.size + gj.size,
                            (family, "dunn", metric), where, "cliffs_delta", cliffs_delta(gi, gj),
                            medians=(float(np.median(gi)), float(np.median(gj))),
                            min_p=dunn_min_p(gi.size, gj.size, n)))
    return drafts


def _paired(metric: str, wide: pd.DataFrame, family: str, where: str) -> list[Draft]:
    names = list(wide.columns)
    drafts: list[Draft] = []
    if len(names) >= 3:
        complete = wide.dropna()
        if len(complete) < MIN_N:
            drafts.append(note(family, "friedman", metric, names, len(complete),
                               f"run Friedman on {metric}{where}",
                               f"{len(complete)} clause(s) have a value for every strategy, "
                               f"fewer than {MIN_N}"))
        else:
            table = complete.to_numpy()
            if np.all(table == table[:, :1]):  # every clause ties across strategies
                chi2, p = 0.0, 1.0
            else:
                chi2, p = (float(v) for v in stats.friedmanchisquare(*table.T))
            drafts.append(Draft("omnibus", family, "friedman", metric, names, chi2, p, len(complete),
                                (family, "friedman"), where, "kendalls_w",
                                kendalls_w(chi2, len(complete), len(names)),
                                min_p=friedman_min_p(len(complete), len(names))))
    for a, b in itertools.combinations(names, 2):
        pair = wide[[a, b]].dropna()
        if len(pair) < MIN_N:
            drafts.append(note(family, "wilcoxon", metric, [a, b], len(pair),
                               f"run Wilcoxon on {metric}{where}",
                               f"{len(pair)} clause(s) have values for both, fewer than {MIN_N}"))
            continue
        x, y = pair[a].to_numpy(), pair[b].to_numpy()
        if np.all(x == y):
            w, p = 0.0, 1.0
        else:
            res = stats.wilcoxon(x, y)
            w, p = float(res.statistic), float(res.pvalue)
        drafts.append(Draft("pair", family, "wilcoxon", metric, [a, b], w, p, len(pair),
                            (family, "wilcoxon", metric), where, "rank_biserial", rank_biserial_paired(x, y),
                            medians=(float(np.median(x)), float(np.median(y))),
                            min_p=signed_rank_min_p(int(np.sum(x != y)))))
    return drafts


def compare_strategies(values: pd.DataFrame, *, family: str, where: str = "", alpha: float = 0.05,
                       top_k: int = 3) -> list[TestResult]:
    """Rank tests across strategies at one size, for every metric in `values`.

    `values` has columns clause_id, strategy, metric, value (one value per clause, strategy and metric:
    average seeds first). Metrics whose values are all equal are skipped (nothing to test). `where` is
    worded into the sentences (" at 1.5M"). Holm within the scopes named in the module docstring; the
    stage instead corrects the drafts of every family together (`control`).
    """
    return finish(correct(strategy_drafts(values, family=family, where=where)), alpha, top_k)


def strategy_drafts(values: pd.DataFrame, *, family: str, where: str = "") -> list[Draft]:
    """The uncorrected tests of `compare_strategies`."""
    _require(values, {"clause_id", "strategy", "metric", "value"}, "compare_strategies")
    data = values.dropna(subset=["value"])
    strategies = ordered_strategies(data["strategy"].unique().tolist())
    if len(strategies) < 2:
        why = f"only {len(strategies)} strategy ({', '.join(strategies) or 'none'}) has values"
        return [note(family, "strategy_comparison", "*", strategies, int(data["clause_id"].nunique()),
                     f"compare strategies{where}", why)]
    drafts: list[Draft] = []
    by_metric = data.groupby(["metric", "clause_id", "strategy"], sort=True)["value"].mean()
    by_metric = by_metric.unstack("strategy")
    for metric, wide in by_metric.groupby(level="metric", sort=True):
        wide = wide.droplevel("metric").dropna(how="all")
        if len(np.unique(wide.to_numpy()[~np.isnan(wide.to_numpy())])) < 2:
            continue
        wide = wide[[s for s in strategies if s in wide.columns and wide[s].notna().any()]]
        if wide.shape[1] < 2:
            continue
        drafts += _unpaired(str(metric), wide, family, where)
        drafts += _paired(str(metric), wide, family, where)
    return drafts


def pattern_permutation_test(profiles: Mapping[str, pd.DataFrame], *, family: str, where: str = "",
                             n_permutations: int = 999, alpha: float = 0.05) -> list[TestResult]:
    """Paired permutation tests of whole category profiles, for every pair of strategies.

    `profiles[strategy]` is a (clause_id x category) frame of category shares (rows sum to one). Each
    pair is tested on the clauses both have, by `nonparametric.profile_permutation_test` (Jensen–Shannon
    distance between mean profiles, clause-wise swaps); seeds are fixed by the pair's identity.
    """
    drafts = pattern_drafts(profiles, family=family, where=where, n_permutations=n_permutations)
    return finish(correct(drafts), alpha)


def pattern_drafts(profiles: Mapping[str, pd.DataFrame], *, family: str, where: str = "",
                   n_permutations: int = 999) -> list[Draft]:
    """The uncorrected tests of `pattern_permutation_test`."""
    pairwise = _Pairwise(family, "permutation_js", "category_profile", "category profiles", where)
    pairs, drafts = pairwise.pairs(list(profiles))
    for a, b in pairs:
        pa, pb = profiles[a].dropna(), profiles[b].dropna()
        common = pa.index.intersection(pb.index)
        if len(common) < MIN_N:
            drafts.append(pairwise.skip(a, b, len(common),
                                        f"{len(common)} shared clause(s), fewer than {MIN_N}"))
            continue
        columns = pa.columns.union(pb.columns)
        xa = pa.reindex(index=common, columns=columns, fill_value=0.0).to_numpy()
        xb = pb.reindex(index=common, columns=columns, fill_value=0.0).to_numpy()
        dist, p, exact = profile_permutation_test(xa, xb, n_permutations, stable_seed(family, a, b))
        if not math.isfinite(p):
            drafts.append(pairwise.skip(a, b, len(common),
                                        "a mean profile is undefined (no attribution in one cell)"))
            continue
        drafts.append(Draft("pattern", family, "permutation_js", "category_profile", [a, b], dist, p,
                            len(common), (family, "permutation_js"), where, "js_distance", dist,
                            detail="clauses, exact" if exact else f"clauses, {n_permutations} permutations",
                            min_p=paired_permutation_min_p(len(common), n_permutations, exact)))
    return drafts


def _clause_taus(a: Sequence[Attribution], b: Sequence[Attribution]) -> dict[str, list[float]]:
    """Kendall's tau-b between the |attribution| rankings of the units two cells share, per clause."""
    by_clause = {x.clause_id: x for x in b}
    taus: dict[str, list[float]] = {}
    for x in a:
        y = by_clause.get(x.clause_id)
        if y is None:
            continue
        sx = {(u.start, u.end): abs(s) for u, s in zip(x.units, x.scores, strict=True)}
        sy = {(u.start, u.end): abs(s) for u, s in zip(y.units, y.scores, strict=True)}
        shared = sorted(sx.keys() & sy.keys())
        if len(shared) < MIN_N:
            continue
        tau = stats.kendalltau([sx[k] for k in shared], [sy[k] for k in shared]).statistic
        if math.isfinite(tau):
            taus.setdefault(x.clause_id, []).append(float(tau))
    return taus


def ranking_agreement(attributions: Mapping[str, Mapping[int, Sequence[Attribution]]], *, family: str,
                      where: str = "", n_boot: int = 1000, alpha: float = 0.05) -> list[TestResult]:
    """How alike two strategies rank a clause's units, for every pair of strategies.

    `attributions[strategy][seed]` lists that cell's `Attribution`s; cells are compared only with the
    cell of the same seed. Per clause: Kendall's tau-b of the absolute
    attributions of the units both cells have (matched by offsets), averaged over seeds. Reported: the
    mean tau over clauses with a clause-bootstrap 95% CI, and a Wilcoxon signed-rank test of the
    clause taus against 0 (no agreement).
    """
    return finish(correct(agreement_drafts(attributions, family=family, where=where, n_boot=n_boot)), alpha)


def agreement_drafts(attributions: Mapping[str, Mapping[int, Sequence[Attribution]]], *, family: str,
                     where: str = "", n_boot: int = 1000) -> list[Draft]:
    """The uncorrected tests of `ranking_agreement`."""
    pairwise = _Pairwise(family, "kendall_tau", "unit_ranking", "unit rankings", where)
    pairs, drafts = pairwise.pairs(list(attributions))
    for a, b in pairs:
        per_clause: dict[str, list[float]] = {}
        for seed in sorted(attributions[a].keys() & attributions[b].keys()):
            for clause, taus in _clause_taus(attributions[a][seed], attributions[b][seed]).items():
                per_clause.setdefault(clause, []).extend(taus)
        taus = np.array([np.mean(v) for _, v in sorted(per_clause.items())])
        if taus.size < MIN_N:
            drafts.append(pairwise.skip(a, b, int(taus.size),
                                        f"{taus.size} clause(s) with at least {MIN_N} shared units"))
            continue
        p = 1.0 if np.all(taus == 0) else float(stats.wilcoxon(taus).pvalue)
        mean = float(taus.mean())
        ci = mean_ci_bootstrap(taus, n_boot, stable_seed(family, a, b))
        drafts.append(Draft("agreement", family, "kendall_tau", "unit_ranking", [a, b], mean, p,
                            int(taus.size), (family, "kendall_tau"), where, "mean_kendall_tau", mean, ci,
                            detail="clauses", min_p=signed_rank_min_p(int(np.sum(taus != 0)))))
    return drafts
