"""Per-clause diagnostics of whether a cell's model reads its input, summarised like the metrics.

From the `generations` table, one row per (cell, clause) and diagnostic, in the `scores` layout so
`summarise` gives them means, bootstrap intervals and the `all` / `quantitative` / ... subsets:
- `distinct_rules`: 1 if the clause's rule differs (whitespace aside) from the cell's most common rule,
  so the mean is the share of clauses that did not get the cell's stock answer;
- `clause_dependence`: the log-probability gain measured at generation (`clauselens.generate.dependence`);
- `truncated`: 1 if generation stopped at `max_new_tokens`.
They are not quality metrics and stay out of the `scores` table and the plateau tests.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

DIAGNOSTICS = ("distinct_rules", "clause_dependence", "truncated")
COLUMNS = ["cell_id", "clause_id", "metric", "value", "detail"]


def _norm(rule: str) -> str:
    return " ".join(str(rule).split())


def diagnostic_rows(generations: pd.DataFrame) -> pd.DataFrame:
    """`scores`-shaped rows of the three diagnostics for every generation."""
    rows = []
    for cell_id, group in generations.groupby("cell_id", sort=True):
        rules = [_norm(r) for r in group["rule"]]
        counts = Counter(rules)
        top = max(counts.values())
        stock = min(r for r, n in counts.items() if n == top)  # ties: a fixed choice
        for rule, row in zip(rules, group.to_dict("records"), strict=True):
            dependence = row.get("clause_dependence")
            truncated = row.get("truncated")
            rows += [
                (cell_id, row["clause_id"], "distinct_rules", float(rule != stock), ""),
                (cell_id, row["clause_id"], "clause_dependence",
                 float("nan") if dependence is None or pd.isna(dependence) else float(dependence), ""),
                (cell_id, row["clause_id"], "truncated",
                 float("nan") if truncated is None or pd.isna(truncated) else float(bool(truncated)), ""),
            ]
    return pd.DataFrame(rows, columns=COLUMNS)
