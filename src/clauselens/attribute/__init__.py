"""clauselens.attribute: which parts of a clause drive the generated rule.

Perturb units of the clause (tokens, words or semantic spans; delete, mask or substitute), measure how
the model's output moves (teacher-forced log-probability, similarity of a regenerated output, or its
verdicts), and combine the measurements with a method (leave-one-out, sliding window, Shapley
sampling, a surrogate fit, hierarchical leave-one-out; `registry.METHODS` by name). One
`clauselens.records.Attribution` per (cell, clause) is the result: stored with
`attribution_row`, realigned to words or spans with `to_words` / `to_spans`, drawn with
`attribution_html`, and checked with `faithfulness_curves`. See docs/attribution.md.
"""

from __future__ import annotations

from typing import Any

from clauselens.attribute.aggregate import to_spans, to_words
from clauselens.attribute.clause import attribute_clause
from clauselens.attribute.evalcache import EvalCache
from clauselens.attribute.faithfulness import faithfulness_curves
from clauselens.attribute.perturb import perturb
from clauselens.attribute.render import attribution_html
from clauselens.attribute.stage import AttributeTask, attribute_run, attribute_task
from clauselens.attribute.units import span_units, token_units, unit_kind, word_units
from clauselens.records import Attribution


def attribution_row(attr: Attribution) -> dict[str, Any]:
    """A row of table `attributions` (key: cell_id, clause_id, method, target, perturbation, unit)."""
    return {
        "cell_id": attr.cell_id, "clause_id": attr.clause_id, "method": attr.method, "target": attr.target,
        "perturbation": attr.perturbation, "unit": attr.options.get("unit") or unit_kind(list(attr.units)),
        "n_units": len(attr.units), "payload": attr.to_json(),
    }


__all__ = [
    "AttributeTask", "EvalCache", "attribute_clause", "attribute_run", "attribute_task", "attribution_html",
    "attribution_row", "faithfulness_curves", "perturb",
    "span_units", "to_spans", "to_words", "token_units", "word_units",
]
