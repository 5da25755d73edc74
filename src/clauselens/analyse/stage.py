"""The analyse stage: attributions in, `category_shares`, `focus` and `tests` out.

Reads the `attributions` made with the configured attribution options and the `cells` table; writes
per-clause measures and every test family. The stage owns `category_shares`, `focus`, `tests` and
`hypotheses` (`clauselens.tables`): each is replaced whole, in one transaction, so rows an earlier run
left for cells or families that no longer exist do not linger and running twice gives identical
tables.

Confirmatory families (the declared questions, `hypotheses`; Holm over all of them): `rq1@<size>`,
`rq2:<strategy>`, `rq3:<strategy>`. Exploratory families (Benjamini–Hochberg over all of them, pairs
gated by their omnibus test, `control`): `strategy@<size>` (rank tests across strategies),
`pattern@<size>` (category profiles), `agreement@<size>` (unit rankings), `scale:<strategy>` (trends
with model size), `plateau:<strategy>:<metric>` (quality steps of the other scored metrics). Seeds of one
(size, strategy) are averaged per clause in the exploratory tests; the confirmatory ones use runs as
the unit when there are two or more seeds.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
from pydantic import ValidationError
from rich.progress import track

from clauselens.analyse.categories import categoriser_for
from clauselens.analyse.comparisons import agreement_drafts, pattern_drafts, strategy_drafts
from clauselens.analyse.control import control_confirmatory, control_exploratory
from clauselens.analyse.hypotheses import declared, rq1_drafts, rq2_drafts, size_metric
from clauselens.analyse.measures import category_shares, focus_metrics
from clauselens.analyse.quality import plateau_rows, step_drafts
from clauselens.analyse.results import Draft, finish
from clauselens.analyse.trends import trend_drafts
from clauselens.analyse.wording import strategy_label
from clauselens.config import ExperimentConfig
from clauselens.labels import format_params
from clauselens.records import Attribution, TestResult
from clauselens.score.metrics import METRICS
from clauselens.store import Store
from clauselens.tables import ATTRIBUTIONS, CATEGORY_SHARES, CELLS, FOCUS, HYPOTHESES, SCORES, TESTS

_ATTRIBUTION_OPTIONS = ("method", "target", "perturbation", "unit")


def load_attributions(store: Store, cfg: ExperimentConfig) -> list[Attribution]:
    """The stored attributions made with the configured options, sorted by (cell, clause)."""
    table = store.read(ATTRIBUTIONS)
    if table.empty:
        raise ValueError(f"{store.root}: the attributions table is empty or missing; "
                         "run the attribute stage first")
    if "payload" not in table.columns:
        raise ValueError(f"{store.root}: table attributions lacks the payload column")
    wanted = {c: getattr(cfg.attribution, c) for c in _ATTRIBUTION_OPTIONS if c in table.columns}
    for column, value in wanted.items():
        table = table[table[column] == value]
    if table.empty:
        present = store.read(ATTRIBUTIONS)[list(wanted)].drop_duplicates().to_dict("records")
        raise ValueError(f"{store.root}: no attributions match the config's attribution options {wanted}; "
                         f"the store holds {present}")
    out = []
    for row in table.itertuples(index=False):
        where = f"{store.root}: attributions row cell_id={row.cell_id!r}, clause_id={row.clause_id!r}"
        try:
            attribution = Attribution.from_json(row.payload)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"{where}: payload is not an Attribution: {loc}: {err['msg']}") from None
        if len(attribution.units) != len(attribution.scores):
            raise ValueError(f"{where}: payload has {len(attribution.units)} units but "
                             f"{len(attribution.scores)} scores")
        if (attribution.cell_id, attribution.clause_id) != (row.cell_id, row.clause_id):
            raise ValueError(f"{where}: payload is for cell_id={attribution.cell_id!r}, "
                             f"clause_id={attribution.clause_id!r}")
        out.append(attribution)
    return sorted(out, key=lambda a: (a.cell_id, a.clause_id))


def load_cells(store: Store, cfg: ExperimentConfig, cell_ids: set[str]) -> pd.DataFrame:
    """model, params, strategy, seed for each cell id; params missing in the table come from the config."""
    cells = store.read(CELLS)
    need = {"cell_id", "model", "params", "strategy"}
    lacking = sorted(need - set(cells.columns))
    if cells.empty or lacking:
        raise ValueError(f"{store.root}: table cells is missing or lacks columns {lacking}")
    cells = cells.drop_duplicates("cell_id").set_index("cell_id")
    unknown = sorted(cell_ids - set(cells.index))
    if unknown:
        raise ValueError(f"{store.root}: attributions refer to cells not in table cells: {unknown[:5]}")
    columns = [c for c in ("model", "params", "strategy", "seed") if c in cells.columns]
    cells = cells.loc[sorted(cell_ids), columns]
    cells["seed"] = pd.to_numeric(cells["seed"], errors="coerce").fillna(0).astype(int) \
        if "seed" in cells.columns else 0
    configured = {m.name: m.params for m in cfg.models}
    cells["params"] = pd.to_numeric(cells["params"], errors="coerce")
    cells["params"] = cells["params"].fillna(cells["model"].map(configured).astype(float))
    return cells


def _size_labels(cells: pd.DataFrame) -> dict[str, str]:
    """model -> "1.5M"-style label; model names where labels would collide or params are unknown."""
    models = cells[["model", "params"]].drop_duplicates("model")
    labels = {r.model: format_params(r.params) if pd.notna(r.params) else r.model
              for r in models.itertuples()}
    counts = pd.Series(list(labels.values())).value_counts()
    return {m: (m if counts[lab] > 1 else lab) for m, lab in labels.items()}


def _per_seed(shares: pd.DataFrame, focus: pd.DataFrame, cells: pd.DataFrame,
              size_categories: list[str]) -> pd.DataFrame:
    """Long frame (cell, model, params, strategy, seed, clause_id, metric, value), one row per cell."""
    declared_share = shares[shares["category"].isin(size_categories)]
    declared_share = declared_share.groupby(["cell_id", "clause_id"], as_index=False)["share"]
    declared_share = declared_share.sum(min_count=1)  # a clause without attribution stays NaN
    long = pd.concat([
        shares.assign(metric="share:" + shares["category"], value=shares["share"]),
        shares.assign(metric="share_per_unit:" + shares["category"], value=shares["share_per_unit"]),
        declared_share.assign(metric="share:" + "+".join(size_categories), value=declared_share["share"]),
        focus,
    ])[["cell_id", "clause_id", "metric", "value"]]
    return long.join(cells, on="cell_id")


def _metric_values(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Long frame (model, params, strategy, clause_id, metric, value), seeds averaged per clause."""
    keys = ["model", "params", "strategy", "clause_id", "metric"]
    return per_seed.groupby(keys, dropna=False, sort=True)["value"].mean().reset_index()


def _quality_drafts(scores: pd.DataFrame, cells: pd.DataFrame, cfg: ExperimentConfig) -> tuple[
        list[Draft], list[Draft]]:
    """(confirmatory RQ3 drafts, exploratory plateau drafts) from the `scores` table."""
    if scores.empty or not {"cell_id", "clause_id", "metric", "value"} <= set(scores.columns):
        return [], []
    data = scores[scores["cell_id"].isin(cells.index)].join(cells, on="cell_id")
    confirmatory, exploratory = [], []
    for (strategy, metric), frame in data.groupby(["strategy", "metric"], sort=True):
        if metric not in METRICS:
            continue
        if metric == cfg.analysis.quality_metric:
            confirmatory += step_drafts(frame, str(strategy), str(metric), cfg.analysis, f"rq3:{strategy}")
        else:
            exploratory += step_drafts(frame, str(strategy), str(metric), cfg.analysis,
                                       f"plateau:{strategy}:{metric}")
    return confirmatory, exploratory


def _tests(per_seed: pd.DataFrame, shares: pd.DataFrame, cells: pd.DataFrame,
           attributions: list[Attribution], scores: pd.DataFrame, cfg: ExperimentConfig) -> list[TestResult]:
    acfg = cfg.analysis
    labels = _size_labels(cells)
    values = _metric_values(per_seed)
    exploratory: list[Draft] = []
    confirmatory: list[Draft] = []
    share_cells = shares.join(cells, on="cell_id")
    by_cell: dict[str, list[Attribution]] = defaultdict(list)
    for a in attributions:
        by_cell[a.cell_id].append(a)
    models = cells.drop_duplicates("model").sort_values(["params", "model"])["model"].tolist()
    for model in models:
        label, where = labels[model], f" at {labels[model]}"
        subset = values[values["model"] == model]
        confirmatory += rq1_drafts(per_seed[per_seed["model"] == model], label, acfg.focus_metric)
        exploratory += strategy_drafts(subset[subset["metric"] != size_metric(acfg)],
                                       family=f"strategy@{label}", where=where)
        model_shares = share_cells[share_cells["model"] == model]
        profiles = {
            strategy: frame.groupby(["clause_id", "category"])["share"].mean().unstack("category")
            for strategy, frame in model_shares.groupby("strategy")
        }
        exploratory += pattern_drafts(profiles, family=f"pattern@{label}", where=where,
                                      n_permutations=acfg.permutations)
        replicates: dict[str, dict[int, list[Attribution]]] = defaultdict(dict)
        for cell_id, row in cells[cells["model"] == model].iterrows():
            replicates[row["strategy"]][int(row["seed"])] = by_cell[cell_id]
        exploratory += agreement_drafts(replicates, family=f"agreement@{label}", where=where,
                                        n_boot=cfg.scoring.bootstrap)
    for strategy in sorted(values["strategy"].unique()):
        subset = values[(values["strategy"] == strategy) & (values["metric"] != size_metric(acfg))]
        exploratory += trend_drafts(subset, family=f"scale:{strategy}",
                                    where=f" for {strategy_label(strategy)}", n_boot=cfg.scoring.bootstrap)
        confirmatory += rq2_drafts(per_seed[per_seed["strategy"] == strategy], str(strategy),
                                   size_metric(acfg), cfg.scoring.bootstrap)
    rq3, steps = _quality_drafts(scores, cells, cfg)
    confirmatory += rq3
    exploratory += steps
    control_confirmatory(confirmatory)
    control_exploratory(exploratory, acfg.alpha)
    params = {format_params(p): float(p) for p in cells["params"].dropna().unique()}
    return (finish(confirmatory, acfg.alpha, acfg.top_k) + finish(exploratory, acfg.alpha, acfg.top_k)
            + plateau_rows(confirmatory + exploratory, acfg.alpha, params))


def _replace_families(store: Store, results: list[TestResult]) -> None:
    rows = pd.DataFrame([r.model_dump() for r in results])
    for col in ("statistic", "p", "p_adj", "effect", "ci_low", "ci_high", "min_p", "seed_spread"):
        rows[col] = rows[col].astype(float)
    for col in ("correction", "effect_name", "role", "verdict"):
        rows[col] = rows[col].astype("string")
    store.replace(TESTS, rows)


def _check_declared(cfg: ExperimentConfig) -> None:
    """Declared names must exist: a typo would silently leave a question unanswered."""
    where = f"{cfg.source_path or 'config'}: analysis"
    known = categoriser_for(cfg.analysis.lexicons).categories
    unknown = [c for c in cfg.analysis.size_categories if c not in known]
    if unknown:
        raise ValueError(f"{where}.size_categories: unknown categories {unknown}; known: {', '.join(known)}")
    if cfg.analysis.quality_metric not in METRICS:
        raise ValueError(f"{where}.quality_metric: unknown metric {cfg.analysis.quality_metric!r}; known: "
                         f"{', '.join(METRICS)}")


def analyse_run(store: Store, cfg: ExperimentConfig, progress: bool = True) -> None:
    """Fill `category_shares`, `focus` and the analysis families of `tests` from `attributions` (and
    `scores`, for the quality steps); the declared hypotheses are written first."""
    _check_declared(cfg)
    store.write_json("hypotheses.json", declared(cfg.analysis, cfg.config_hash()))
    store.replace(HYPOTHESES, declared(cfg.analysis, cfg.config_hash()))
    attributions = load_attributions(store, cfg)
    cells = load_cells(store, cfg, {a.cell_id for a in attributions})
    categoriser = categoriser_for(cfg.analysis.lexicons)
    share_rows, focus_rows = [], []
    for attribution in track(attributions, description="analyse: categories and focus", disable=not progress):
        categories = categoriser.categorise(attribution)
        share_rows += category_shares(attribution, categories, categoriser.categories)
        focus = focus_metrics(attribution.scores, cfg.analysis.top_k).as_dict()
        focus_rows += [{"cell_id": attribution.cell_id, "clause_id": attribution.clause_id, "metric": m,
                        "value": float(focus[m])} for m in cfg.analysis.focus_metrics]
    shares = pd.DataFrame(share_rows)
    focus_table = pd.DataFrame(focus_rows, columns=["cell_id", "clause_id", "metric", "value"])
    store.replace(CATEGORY_SHARES, shares)
    store.replace(FOCUS, focus_table)
    per_seed = _per_seed(shares, focus_table, cells, cfg.analysis.size_categories)
    _replace_families(store, _tests(per_seed, shares, cells, attributions, store.read(SCORES), cfg))
