"""Tokenizer-invariant alignment: move an attribution onto words or semantic spans by character offsets.

Models with different tokenizers (sizes, families) cut the same clause into different tokens; on
words and spans they can be compared unit by unit. A source unit's score is shared among the target
units it overlaps in proportion to the characters they share, so totals are preserved wherever units
overlap. Source units that overlap no target unit (a token of pure punctuation) keep their score out
of the result; `options["unaligned_score"]` records how much was left out.

Moving from coarse to fine units (spans to words) spreads a span's score over its words by character
share: that is a display convenience, not new evidence.
"""

from __future__ import annotations

import numpy as np

from clauselens.attribute.units import span_units, unit_kind, word_units
from clauselens.records import Attribution, Unit


def overlap_weights(source: list[Unit], target: list[Unit]) -> np.ndarray:
    """(len(source), len(target)): how a source unit's score is shared among the target units.

    In proportion to shared characters, normalised over the target units it overlaps (the space inside
    "2.0 metres" belongs to no word, yet the span's whole score goes to its two words).
    """
    weights = np.zeros((len(source), len(target)))
    for i, s in enumerate(source):
        for j, t in enumerate(target):
            weights[i, j] = max(0, min(s.end, t.end) - max(s.start, t.start))
    totals = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)


def realign(attr: Attribution, target_units: list[Unit]) -> Attribution:
    """The same attribution expressed on `target_units` (offsets into the same clause text)."""
    weights = overlap_weights(list(attr.units), target_units)
    scores = np.asarray(attr.scores) @ weights
    unaligned = float(np.asarray(attr.scores) @ (1.0 - weights.sum(axis=1)))
    matrix = None
    if attr.matrix is not None:
        matrix = (np.asarray(attr.matrix) @ weights).tolist()
    options = {**attr.options, "aligned_from": unit_kind(list(attr.units)), "unaligned_score": unaligned,
               "unit": unit_kind(target_units)}
    return attr.model_copy(update={
        "units": target_units, "scores": scores.tolist(), "matrix": matrix, "options": options,
    })


def to_words(attr: Attribution) -> Attribution:
    """The attribution on the clause's words."""
    return realign(attr, word_units(attr.clause_text))


def to_spans(attr: Attribution) -> Attribution:
    """The attribution on the clause's semantic spans (and the words outside them)."""
    return realign(attr, span_units(attr.clause_text))
