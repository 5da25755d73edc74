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

from clauselens.attribute.aggregate import to_spans, to_words
from clauselens.attribute.clause import attribute_clause
from clauselens.attribute.faithfulness import faithfulness_curves
from clauselens.attribute.perturb import perturb
from clauselens.attribute.render import attribution_html
from clauselens.attribute.rows import attribution_row
from clauselens.attribute.units import span_units, token_units, word_units

__all__ = [
    "attribute_clause", "attribution_html", "attribution_row", "faithfulness_curves", "perturb",
    "span_units", "to_spans", "to_words", "token_units", "word_units",
]
