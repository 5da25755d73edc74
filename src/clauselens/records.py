"""Typed records that cross stage boundaries.

Stages never reach into each other's internals: they exchange these records, usually through the
experiment store (`clauselens.store.Store`). Each record knows how to become a flat row.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

ClauseKind = Literal["quantitative", "qualitative"]
StrategyName = Literal["base", "fft", "lora", "qlora"]


class Clause(BaseModel):
    """One numbered paragraph of a regulation."""

    clause_id: str  # document + paragraph, e.g. "K:1.12"
    document: str
    paragraph: str
    title: str = ""
    text: str


class RulePair(BaseModel):
    """A clause with its reference rule (`def check_rule(model) -> list[Finding]`)."""

    clause: Clause
    rule: str
    kind: ClauseKind
    split: Literal["train", "val", "test"] = "train"
    fixtures: list[dict[str, Any]] = Field(default_factory=list)  # building specs, see clauselens.rules

    def row(self) -> dict[str, Any]:
        return {
            **self.clause.model_dump(),
            "rule": self.rule,
            "kind": self.kind,
            "split": self.split,
            "fixtures": json.dumps(self.fixtures),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RulePair:
        clause = Clause(**{k: row[k] for k in Clause.model_fields})
        fixtures = row.get("fixtures") or "[]"
        return cls(
            clause=clause,
            rule=row["rule"],
            kind=row["kind"],
            split=row.get("split", "train"),
            fixtures=json.loads(fixtures) if isinstance(fixtures, str) else list(fixtures),
        )


class Cell(BaseModel):
    """One (model size, strategy, seed) combination of the study grid."""

    model: str  # display name of the base model
    params: int  # parameter count of the base model (the scale axis)
    strategy: StrategyName
    seed: int = 0

    @property
    def cell_id(self) -> str:
        return f"{self.model}/{self.strategy}/s{self.seed}"


class Generation(BaseModel):
    cell_id: str
    clause_id: str
    raw: str  # decoded continuation as produced
    rule: str  # cleaned: the `check_rule` function only
    n_new_tokens: int
    truncated: bool = False  # stopped by max_new_tokens, not by an end token or a complete rule
    clause_dependence: float | None = None  # clauselens.generate.dependence; None if not measured


class Unit(BaseModel):
    """What one perturbation removes or replaces; offsets are characters in the clause text."""

    text: str
    start: int
    end: int
    kind: Literal["token", "word", "span"] = "word"
    span_type: str | None = None  # number_unit / identifier / comparator / condition for spans
    category: str | None = None  # filled by clauselens.analyse


class Attribution(BaseModel):
    """One (cell, clause) attribution result: saved (`to_json` / `from_json`, the `attributions` payload),
    aggregated (`aggregate("word" | "span" | "category")`) and rendered (`to_html()`, `plot()`) as a unit."""

    cell_id: str
    clause_id: str
    clause_text: str
    units: list[Unit]
    scores: list[float]
    method: str  # loo / window / shapley
    target: str  # logprob / similarity / verdict
    perturbation: str  # delete / mask / substitute
    options: dict[str, Any] = Field(default_factory=dict)
    output_tokens: list[str] | None = None
    matrix: list[list[float]] | None = None  # output token x unit (logprob target)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Attribution:
        return cls.model_validate_json(text)

    # Aggregation and rendering live in clauselens.attribute (aggregate.py, render.py), imported on use
    # so this module stays light; the stored payload is `to_json()` and nothing else.
    def aggregate(self, level: str, *, tokenizer: Any = None,
                  lexicons: dict[str, list[str]] | None = None) -> Any:
        """The attribution on `"word"`, `"span"` or `"token"` units (an `Attribution`, sums kept), or per
        `"category"` (a pandas DataFrame: score, mean, share, share_per_unit, n_units); see
        `clauselens.attribute.aggregate`."""
        from clauselens.attribute.aggregate import aggregate

        return aggregate(self, level, tokenizer=tokenizer, lexicons=lexicons)

    def to_html(self, *, scale: Any = None) -> str:
        """The clause text with each unit shaded by its score (`clauselens.attribute.render`); `scale`: a
        number or a shared `Shading`, to put several attributions on the same colours."""
        from clauselens.attribute.render import attribution_html

        return attribution_html(self, scale=scale)

    def _repr_html_(self) -> str:  # a notebook shows the shaded clause
        return self.to_html()

    def plot(self, kind: str = "auto", **kw: Any) -> Any:
        """A matplotlib Figure: the output-token x unit matrix (`"matrix"`, logprob target) or one bar per
        unit (`"scores"`); `"auto"` picks the matrix where there is one."""
        from clauselens.attribute.render import plot

        return plot(self, kind, **kw)  # type: ignore[arg-type]


class TestResult(BaseModel):
    """A statistical test as a record, with a sentence a person can read."""

    __test__ = False  # not a pytest class

    family: str  # e.g. "strategy@1.5B", "scale"
    test: str  # e.g. "wilcoxon", "kruskal"
    metric: str
    groups: str  # e.g. "fft vs lora"
    statistic: float
    p: float
    p_adj: float | None = None
    correction: str | None = None
    effect_name: str | None = None
    effect: float | None = None
    n: int
    sentence: str = ""
    ci_low: float | None = None  # confidence interval of `effect`, where the test gives one
    ci_high: float | None = None
    role: str | None = None  # "confirmatory" (a declared hypothesis) or "exploratory"
    verdict: str | None = None  # significant / not significant / underpowered / equivalent / ...
    min_p: float | None = None  # the smallest p the test could reach at its n
    seed_spread: float | None = None  # SD of run means between seeds, where seeds were the unit
