"""clauselens.attribute: which parts of a clause drive the generated rule.

Perturb units of the clause (tokens, words or semantic spans; delete, mask or substitute), measure how
the model's output moves (teacher-forced log-probability, similarity of a regenerated output, or its
verdicts), and combine the measurements with a method (leave-one-out, sliding window, Shapley
sampling, a surrogate fit, hierarchical leave-one-out; `registry.METHODS` by name). One
`clauselens.records.Attribution` per (cell, clause) is the result: stored with
`attribution_row`, realigned to words, spans or categories with `Attribution.aggregate` (`to_words` /
`to_spans`), drawn with `Attribution.to_html` / `.plot` (`render.py`, the one renderer and palette the
report uses too), and checked with `faithfulness_curves`. See docs/attribution.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from clauselens.attribute.aggregate import aggregate, to_spans, to_words
from clauselens.attribute.perturb import perturb
from clauselens.attribute.render import Shading, attribution_html
from clauselens.attribute.rows import attribution_row
from clauselens.attribute.units import span_units, token_units, word_units

# The parts that run a model import torch: loaded on first use, so that aligning, aggregating and
# rendering stored attributions (the report, a notebook) does not pay for it.
_LAZY = {
    "attribute_clause": "clauselens.attribute.clause",
    "faithfulness_curves": "clauselens.attribute.faithfulness",
    "EvalCache": "clauselens.attribute.evalcache",
    "AttributeTask": "clauselens.attribute.stage",
    "attribute_run": "clauselens.attribute.stage",
    "attribute_task": "clauselens.attribute.stage",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AttributeTask", "EvalCache", "attribute_run", "attribute_task",
    "Shading", "aggregate", "attribute_clause", "attribution_html", "attribution_row", "faithfulness_curves",
    "perturb", "span_units", "to_spans", "to_words", "token_units", "word_units",
]
