"""The score stage: fill `scores` and `score_summary` (metrics and the reading diagnostics of
`clauselens.score.diagnostics`) from the store; the plateau tests over `scores` are the analyse stage's,
with the rest of the error control."""

from __future__ import annotations

import pandas as pd

from clauselens.config import ExperimentConfig
from clauselens.records import Generation, RulePair
from clauselens.score.diagnostics import diagnostic_rows
from clauselens.score.metrics import score_generations, selected_metrics
from clauselens.score.notation import notation_for
from clauselens.score.summary import summarise
from clauselens.store import Store
from clauselens.tables import CELLS, GENERATIONS, PAIRS, SCORE_SUMMARY, SCORES

GENERATION_FIELDS = list(Generation.model_fields)


def score_run(store: Store, cfg: ExperimentConfig, progress: bool = True) -> None:
    """Score every generation not yet scored, then recompute the summary.

    A (cell_id, clause_id) with any row in `scores` counts as scored, so re-running after a crash
    scores only what is missing, and re-running a finished stage changes nothing (the
    summary is recomputed from the same scores with fixed seeds). Summary rows are derived data: they are
    replaced whole, so rows of cells or metrics no longer present do not linger.
    """
    selected_metrics(cfg.scoring)  # an unknown metric name fails before any work
    notation = notation_for(cfg)  # a bad grammar fails before any work too
    pairs_table = store.read(PAIRS)
    if pairs_table.empty:
        raise ValueError(f"{store.root}: the store has no pairs; run the corpus stage first")
    generations = store.read(GENERATIONS)
    if generations.empty:
        return
    done = store.keys(SCORES, ["cell_id", "clause_id"])
    todo = generations[[(c, k) not in done for c, k in zip(generations["cell_id"], generations["clause_id"],
                                                           strict=True)]]
    if not todo.empty:
        pairs = [RulePair.from_row(row) for row in pairs_table.to_dict("records")]
        records = [Generation(**{k: row[k] for k in GENERATION_FIELDS if k in row and not _missing(row[k])})
                   for row in todo.to_dict("records")]
        scored = score_generations(pairs, records, cfg.scoring, progress=progress, notation=notation)
        store.upsert(SCORES, scored)
    scores, cells = store.read(SCORES), store.read(CELLS)
    rows = pd.concat([scores, diagnostic_rows(generations)], ignore_index=True)
    summary = summarise(rows, pairs_table, cells, cfg.scoring)
    store.replace(SCORE_SUMMARY, summary)


def _missing(value: object) -> bool:
    """A column an older store did not have (None / NaN) is left to the record's default."""
    return value is None or (isinstance(value, float) and value != value)
