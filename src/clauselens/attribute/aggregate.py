"""Tokenizer-invariant alignment: move an attribution onto words or semantic spans by character offsets.

Models with different tokenizers (sizes, families) cut the same clause into different tokens; on
words and spans they can be compared unit by unit. A source unit's score is shared among the target
units it overlaps in proportion to the characters they share, so totals are preserved wherever units
overlap. Source units that overlap no target unit (a token of pure punctuation) keep their score out
of the result; `options["unaligned_score"]` records how much was left out.

Moving from coarse to fine units (spans to words) spreads a span's score over its words by character
share: that is a display convenience, not new evidence.

`aggregate` is what `Attribution.aggregate` runs: words, spans, tokens, or categories (the analyse
stage's categoriser and `category_shares`, so the numbers are the ones it stores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from clauselens.attribute.units import make_units, span_units, unit_kind, word_units
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


def by_category(attr: Attribution, lexicons: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One row per category (`clauselens.analyse.categories`, every category listed even when absent),
    indexed by category: `score` (sum of the units' scores), `mean` (per unit; NaN without units), and the
    analyse stage's `share` (of |attribution|), `share_per_unit` and `n_units` (`category_shares`)."""
    from clauselens.analyse.categories import categoriser_for
    from clauselens.analyse.measures import category_shares

    categoriser = categoriser_for(lexicons)
    categories = categoriser.categorise(attr)
    rows = category_shares(attr, categories, categoriser.categories)
    table = pd.DataFrame(rows).set_index("category")[["share", "share_per_unit", "n_units"]]
    scores = pd.Series(np.asarray(attr.scores, dtype=float)).groupby(pd.Series(categories)).sum()
    table.insert(0, "score", scores.reindex(table.index, fill_value=0.0))
    table.insert(1, "mean", table["score"] / table["n_units"].where(table["n_units"] > 0))
    return table


LEVELS = ("token", "word", "span", "category")


def aggregate(attr: Attribution, level: str, *, tokenizer: object | None = None,
              lexicons: Mapping[str, Sequence[str]] | None = None) -> Attribution | pd.DataFrame:
    """`attr` on coarser (or other) units: `"word"` / `"span"` (/ `"token"`, with the model's tokenizer)
    give an `Attribution` realigned by character overlap (sums kept); `"category"` gives the per-category
    table of `by_category`."""
    if level == "category":
        return by_category(attr, lexicons)
    if level not in LEVELS:
        raise ValueError(f"aggregate: unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    return realign(attr, make_units(attr.clause_text, level, tokenizer))
