"""The named metrics (`ScoringConfig.metrics`), scoring one pair, and scoring many generations.

`METRICS` (`clauselens.registry.METRICS`; implementations registered here) maps each name to its
function and direction; docs/scoring.md describes each one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from rich.progress import Progress

from clauselens.config import ScoringConfig
from clauselens.records import Generation, RulePair
from clauselens.registry import METRICS
from clauselens.score.code_metrics import bleu, levenshtein, syntax_valid, tree_edit_distance
from clauselens.score.constraint_match import constraint_match
from clauselens.score.embedding import load_embedder
from clauselens.score.embedding_metrics import semantic_similarity, token_f1, token_f3
from clauselens.score.execution import verdict_accuracy
from clauselens.score.notation import Notation, metrics_for
from clauselens.score.value import MetricValue

SCORE_COLUMNS = ["cell_id", "clause_id", "metric", "value", "detail"]
CHUNK = 64  # generations whose texts are embedded in one go
SANDBOX_WORKERS = 2  # rules run in child processes; more than the machine's cores only queues them

Compute = Callable[[str, str, RulePair, ScoringConfig], MetricValue]


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    compute: Compute  # (reference, generated, pair, cfg) -> MetricValue
    uses_embedder: bool = False
    runs_code: bool = False


for _metric in [
    Metric("semantic_similarity", True, lambda r, g, p, c: semantic_similarity(r, g, c.embedder),
           uses_embedder=True),
    Metric("token_f1", True, lambda r, g, p, c: token_f1(r, g, c.embedder), uses_embedder=True),
    Metric("token_f3", True, lambda r, g, p, c: token_f3(r, g, c.embedder), uses_embedder=True),
    Metric("levenshtein", False, lambda r, g, p, c: levenshtein(r, g)),
    Metric("bleu", True, lambda r, g, p, c: bleu(r, g)),
    Metric("syntax_valid", True, lambda r, g, p, c: syntax_valid(g)),
    Metric("tree_edit_distance", False, lambda r, g, p, c: tree_edit_distance(r, g)),
    Metric("verdict_accuracy", True,
           lambda r, g, p, c: verdict_accuracy(g, p.fixtures, c.sandbox_timeout_s, c.sandbox_memory_mb),
           runs_code=True),
    Metric("constraint_match", True, lambda r, g, p, c: constraint_match(r, g)),
]:
    METRICS.register(_metric.name, _metric)


def selected_metrics(cfg: ScoringConfig) -> list[Metric]:
    """The metrics `cfg` names, in order; an unknown name is a config error."""
    unknown = [m for m in cfg.metrics if m not in METRICS]
    if unknown:  # the config refuses them too; a config built with model_construct skips that
        raise ValueError(f"scoring.metrics: unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    return [METRICS[m] for m in dict.fromkeys(cfg.metrics)]


def score_pair(reference: str, generated: str, pair: RulePair, cfg: ScoringConfig,
               notation: Notation | None = None) -> dict[str, float]:
    """Every configured metric for one generated rule against its reference: name -> value (NaN if n/a).

    `notation`: the rules' notation when it is not Python (`clauselens.score.notation`)."""
    metrics = metrics_for(selected_metrics(cfg), notation)
    return {m.name: m.compute(reference, generated, pair, cfg).value for m in metrics}


def score_generations(pairs: Sequence[RulePair], generations: Sequence[Generation], cfg: ScoringConfig,
                      progress: bool = True, notation: Notation | None = None) -> pd.DataFrame:
    """Score each generation's `rule` against its pair's reference rule: one row per metric.

    Columns: cell_id, clause_id, metric, value, detail. Texts are embedded in batches of `CHUNK`
    generations (references once per process, through the embedder's cache); sandboxed rule runs go
    `SANDBOX_WORKERS` at a time. Rules in a `notation` other than Python get its syntax and tree metrics
    and no Python-only metric rows (absent, not 0).
    """
    metrics = metrics_for(selected_metrics(cfg), notation)
    by_clause = {p.clause.clause_id: p for p in pairs}
    for g in generations:
        if g.clause_id not in by_clause:
            raise ValueError(f"generation of cell {g.cell_id!r}: no pair has clause_id {g.clause_id!r}")
    embedder = load_embedder(cfg.embedder) if any(m.uses_embedder for m in metrics) else None
    sandboxed = [m for m in metrics if m.runs_code]
    rows: list[dict[str, object]] = []
    with Progress(disable=not progress) as bar, ThreadPoolExecutor(SANDBOX_WORKERS) as pool:
        task = bar.add_task("score", total=len(generations))
        for start in range(0, len(generations), CHUNK):
            chunk = generations[start:start + CHUNK]
            if embedder is not None:
                embedder.embed([t for g in chunk for t in (by_clause[g.clause_id].rule, g.rule)])
            runs = {(i, m.name): pool.submit(m.compute, by_clause[g.clause_id].rule, g.rule,
                                             by_clause[g.clause_id], cfg)
                    for i, g in enumerate(chunk) for m in sandboxed}
            for i, g in enumerate(chunk):
                pair = by_clause[g.clause_id]
                for m in metrics:
                    value = runs[i, m.name].result() if m.runs_code \
                        else m.compute(pair.rule, g.rule, pair, cfg)
                    rows.append({"cell_id": g.cell_id, "clause_id": g.clause_id, "metric": m.name,
                                 "value": float(value.value), "detail": value.detail})
                bar.advance(task)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
