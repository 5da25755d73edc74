"""Quality against model size as tests: a gain and an equivalence draft per size step, and the plateau
verdict of each strategy and metric once the drafts are corrected.

The steps come from `clauselens.score.plateau.size_steps`; the declared quality metric (RQ3) goes into
the confirmatory family `rq3:<strategy>`, every other scored metric into the exploratory family
`plateau:<strategy>:<metric>`. The plateau row states where quality stops improving: the smallest size
after which every step is shown equivalent (TOST) above the floor; "still improving" when the last
step still gains; "inconclusive" otherwise (including every step "at floor").
"""

from __future__ import annotations

import math
from collections import defaultdict

import pandas as pd

from clauselens.analyse.results import Draft, verdict
from clauselens.analyse.wording import metric_label, strategy_label
from clauselens.config import AnalysisConfig
from clauselens.labels import format_params
from clauselens.records import TestResult
from clauselens.score.metrics import METRICS
from clauselens.score.plateau import above_floor, size_steps


def floor_of(metric: str, acfg: AnalysisConfig) -> float | None:
    """The declared floor, else 0 for metrics where higher is better (similarities, accuracies in [0, 1]);
    distances have no natural floor."""
    if acfg.quality_floor is not None:
        return acfg.quality_floor
    return 0.0 if METRICS[metric].higher_is_better else None


def step_drafts(scores: pd.DataFrame, strategy: str, metric: str, acfg: AnalysisConfig,
                family: str) -> list[Draft]:
    """Gain and equivalence drafts for one strategy and metric. `scores` has columns params, seed,
    clause_id, value for that strategy and metric."""
    higher = METRICS[metric].higher_is_better
    margin = acfg.margin(metric)
    floor = floor_of(metric, acfg)
    sized = scores.assign(size=scores["params"].map(format_params))
    where = f" for {strategy_label(strategy)}"
    drafts = []
    for s in size_steps(sized, higher, margin):
        common = dict(family=family, metric=metric, groups=[s.small, s.large], n=s.n, scope=(), where=where,
                      effect_name="mean_gain", effect=s.gain, ci=s.ci, detail=s.unit, min_p=0.0,
                      seed_spread=s.seed_spread)
        drafts.append(Draft("gain", test="t_gain", statistic=s.gain, p=s.p_gain, **common))
        drafts.append(Draft("equivalence", test="tost", statistic=s.gain, p=s.p_tost, margin=margin,
                            above_floor=above_floor(s.level, floor, margin, higher), **common))
    return drafts


def plateau_rows(drafts: list[Draft], alpha: float, params: dict[str, float]) -> list[TestResult]:
    """One `plateau` row per (family, metric) from its corrected step drafts; `params` maps size label to
    parameter count."""
    by_family: dict[tuple[str, str], list[Draft]] = defaultdict(list)
    for d in drafts:
        if d.kind in ("gain", "equivalence"):
            by_family[(d.family, d.metric)].append(d)
    rows = []
    for (family, metric), ds in by_family.items():
        steps = [(g, e) for g, e in zip(ds[::2], ds[1::2], strict=True)]
        sizes = [steps[0][0].groups[0]] + [g.groups[1] for g, _ in steps]
        equivalent = [verdict(e, alpha) == "equivalent" for _, e in steps]
        k = len(steps)
        while k > 0 and equivalent[k - 1]:
            k -= 1  # steps k.. are all equivalent: the plateau starts at sizes[k]
        label, where = metric_label(metric), ds[0].where
        if k < len(steps):
            after = [e for _, e in steps[k:]]
            p = max(e.p for e in after)
            q = max(e.p_adj if e.p_adj is not None else e.p for e in after)
            at = sizes[k]
            v, stat = "plateau", params.get(at, math.nan)
            sentence = (f"{label[0].upper() + label[1:]} plateaus at {at}{where}: every larger step is "
                        f"equivalent within ±{after[0].margin:g} (TOST, largest adjusted p = {q:.3g})")
        else:
            g, e = steps[-1]
            p, q = g.p, g.p_adj if g.p_adj is not None else g.p
            stat = math.nan
            if verdict(g, alpha) == "improves":
                v = "still improving"
                sentence = (f"{label[0].upper() + label[1:]} is still improving at the largest size{where} "
                            f"({g.groups[0]} to {g.groups[1]}: adjusted p = {q:.3g})")
            else:
                v = "inconclusive"
                sentence = (f"No plateau shown for {label}{where}: the last step neither gains nor is "
                            f"shown equivalent above the floor")
        first = ds[0]
        rows.append(TestResult(
            family=family, test="plateau", metric=metric, groups=" < ".join(sizes), statistic=stat, p=p,
            p_adj=q, correction=first.correction, effect_name="plateau_params", effect=stat,
            n=min(d.n for d in ds),
            sentence=("Exploratory: " if first.role == "exploratory" else "") + sentence,
            role=first.role or None, verdict=v, min_p=0.0))
    return rows
