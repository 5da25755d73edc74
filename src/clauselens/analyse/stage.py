"""The analyse stage: attributions in, `category_shares`, `focus` and `tests` out.

Reads the `attributions` made with the configured attribution options and the `cells` table; writes
per-clause measures and every test family. Each write replaces what an earlier run wrote (per cell for
the measure tables, per family for `tests`, in one transaction each) and removes rows an earlier run
left for cells or families that no longer exist, so running twice gives identical tables. Families of
other stages in `tests` (the scoring stage's `plateau:*`) are left alone.

Test families: `strategy@<size>` (rank tests across strategies), `pattern@<size>` (category profiles),
`agreement@<size>` (unit rankings), `scale:<strategy>` (trends with model size). Seeds of one
(size, strategy) are averaged per clause before testing: the clause is the unit of replication.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
from pydantic import ValidationError
from rich.progress import track

from clauselens.analyse.categories import categoriser_for
from clauselens.analyse.comparisons import compare_strategies, pattern_permutation_test, ranking_agreement
from clauselens.analyse.measures import category_shares, focus_metrics
from clauselens.analyse.trends import scale_trends
from clauselens.analyse.wording import format_params, strategy_label
from clauselens.config import ExperimentConfig
from clauselens.records import Attribution, TestResult
from clauselens.store import Store

ANALYSIS_FAMILY_PREFIXES = ("strategy@", "pattern@", "agreement@", "scale:")
_ATTRIBUTION_OPTIONS = ("method", "target", "perturbation", "unit")


def load_attributions(store: Store, cfg: ExperimentConfig) -> list[Attribution]:
    """The stored attributions made with the configured options, sorted by (cell, clause)."""
    table = store.read("attributions")
    if table.empty:
        raise ValueError(f"{store.root}: the attributions table is empty or missing; "
                         "run the attribute stage first")
    if "payload" not in table.columns:
        raise ValueError(f"{store.root}: table attributions lacks the payload column")
    wanted = {c: getattr(cfg.attribution, c) for c in _ATTRIBUTION_OPTIONS if c in table.columns}
    for column, value in wanted.items():
        table = table[table[column] == value]
    if table.empty:
        present = store.read("attributions")[list(wanted)].drop_duplicates().to_dict("records")
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
    cells = store.read("cells")
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


def _metric_values(shares: pd.DataFrame, focus: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Long frame (model, params, strategy, clause_id, metric, value), seeds averaged per clause."""
    long = pd.concat([
        shares.assign(metric="share:" + shares["category"], value=shares["share"]),
        shares.assign(metric="share_per_unit:" + shares["category"], value=shares["share_per_unit"]),
        focus,
    ])[["cell_id", "clause_id", "metric", "value"]]
    long = long.join(cells, on="cell_id")
    keys = ["model", "params", "strategy", "clause_id", "metric"]
    return long.groupby(keys, dropna=False, sort=True)["value"].mean().reset_index()


def _tests(values: pd.DataFrame, shares: pd.DataFrame, cells: pd.DataFrame,
           attributions: list[Attribution], cfg: ExperimentConfig) -> list[TestResult]:
    acfg = cfg.analysis
    labels = _size_labels(cells)
    results: list[TestResult] = []
    share_cells = shares.join(cells, on="cell_id")
    by_cell: dict[str, list[Attribution]] = defaultdict(list)
    for a in attributions:
        by_cell[a.cell_id].append(a)
    models = cells.drop_duplicates("model").sort_values(["params", "model"])["model"].tolist()
    for model in models:
        label, where = labels[model], f" at {labels[model]}"
        subset = values[values["model"] == model]
        results += compare_strategies(subset, family=f"strategy@{label}", where=where, alpha=acfg.alpha,
                                      top_k=acfg.top_k)
        model_shares = share_cells[share_cells["model"] == model]
        profiles = {
            strategy: frame.groupby(["clause_id", "category"])["share"].mean().unstack("category")
            for strategy, frame in model_shares.groupby("strategy")
        }
        results += pattern_permutation_test(profiles, family=f"pattern@{label}", where=where,
                                            n_permutations=acfg.permutations, alpha=acfg.alpha)
        replicates: dict[str, dict[int, list[Attribution]]] = defaultdict(dict)
        for cell_id, row in cells[cells["model"] == model].iterrows():
            replicates[row["strategy"]][int(row["seed"])] = by_cell[cell_id]
        results += ranking_agreement(replicates, family=f"agreement@{label}", where=where,
                                     n_boot=cfg.scoring.bootstrap, alpha=acfg.alpha)
    for strategy in sorted(values["strategy"].unique()):
        subset = values[values["strategy"] == strategy]
        results += scale_trends(subset, family=f"scale:{strategy}", where=f" for {strategy_label(strategy)}",
                                alpha=acfg.alpha, n_boot=cfg.scoring.bootstrap, top_k=acfg.top_k)
    return results


def _replace_per_cell(store: Store, table: str, rows: pd.DataFrame) -> None:
    if rows.empty:
        store.delete(table, "TRUE")
        return
    store.upsert(table, rows, key=["cell_id"])  # one transaction: every old row of these cells goes
    cells = sorted(rows["cell_id"].unique())
    store.delete(table, f"cell_id NOT IN ({', '.join('?' * len(cells))})", cells)


def _replace_families(store: Store, results: list[TestResult]) -> None:
    rows = pd.DataFrame([r.model_dump() for r in results])
    for col in ("statistic", "p", "p_adj", "effect", "ci_low", "ci_high"):
        rows[col] = rows[col].astype(float)
    for col in ("correction", "effect_name"):
        rows[col] = rows[col].astype("string")
    store.upsert("tests", rows, key=["family"])
    families = sorted(rows["family"].unique())
    stale = " OR ".join("family LIKE ?" for _ in ANALYSIS_FAMILY_PREFIXES)
    store.delete("tests", f"({stale}) AND family NOT IN ({', '.join('?' * len(families))})",
                 [p + "%" for p in ANALYSIS_FAMILY_PREFIXES] + families)


def analyse_run(store: Store, cfg: ExperimentConfig, progress: bool = True) -> None:
    """Fill `category_shares`, `focus` and the analysis families of `tests` from `attributions`."""
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
    _replace_per_cell(store, "category_shares", shares)
    _replace_per_cell(store, "focus", focus_table)
    values = _metric_values(shares, focus_table, cells)
    _replace_families(store, _tests(values, shares, cells, attributions, cfg))
