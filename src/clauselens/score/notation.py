"""The notation rules are written in: Python (the default), a bracketed functional notation, or Lark.

A user's clause -> rule data need not be Python (`if(and(has(space,opening),...)),then(obligation(...))`).
Scoring such rules as Python would call every rule a syntax error, so `data.rule_language` picks the
parser that `syntax_valid` and `tree_edit_distance` use, and the metrics that need Python are left
out (not scored 0): `verdict_accuracy` runs a rule as Python in the sandbox, so for any other
notation it is absent from the scores, the tables and the plots.

- `python`: `ast.parse`, and a top-level `check_rule` function (`code_metrics`).
- `functional`: the built-in grammar below: calls `name(arg, ...)` nested to any depth, with names,
  numbers (units allowed: `2.0m`, `90%`), quoted strings, comparisons (`width >= 0.8m`) and
  `key=value` / `key: value` arguments; a rule is one or more comma-separated terms.
- `lark`: the user's own Lark grammar (`data.rule_grammar`, start rule `start`, Earley parser).

Tree edit distance runs APTED over the notation's own parse tree: rule nodes labelled with the rule
name, token leaves with their type and text, so `height(2.0m)` and `height(2.1m)` differ by one rename.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from apted import APTED
from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from clauselens.config import ConfigError, ExperimentConfig
from clauselens.score.code_metrics import _LabelConfig, _Node
from clauselens.score.value import MetricValue

if TYPE_CHECKING:
    from clauselens.score.metrics import Metric

FUNCTIONAL_GRAMMAR = r"""
start: _terms
_terms: term ("," term)* ","?
?term: call | pair | comparison | atom
call: NAME "(" [_terms] ")"
comparison: (call | atom) OP (call | atom)
pair: NAME ("=" | ":") term
?atom: NAME | NUMBER | STRING | OP
NAME: /[A-Za-z_][A-Za-z0-9_.\-]*/
NUMBER: /[+-]?\d+(\.\d+)?[A-Za-z%]*/
STRING: /"[^"]*"|'[^']*'/
OP: "<=" | ">=" | "!=" | "==" | "<" | ">"
%ignore /\s+/
"""
PYTHON_ONLY = {"verdict_accuracy"}  # metrics that execute the rule as Python


@dataclass(frozen=True)
class Notation:
    """A rule notation: `python`, or a non-Python one parsed by a Lark grammar."""

    name: str
    grammar: str | None = None  # Lark grammar text; None for python

    @cached_property
    def parser(self) -> Lark:
        return Lark(self.grammar, start="start", parser="earley")

    def tree(self, text: str) -> tuple[_Node | None, str]:
        """(the rule's parse tree, '') or (None, why it does not parse)."""
        try:
            return _node(self.parser.parse(text.strip())), ""
        except LarkError as exc:
            return None, f"does not parse as {self.name}: {str(exc).splitlines()[0][:120]}"
        except RecursionError:
            return None, f"does not parse as {self.name}: nested too deeply"

    def syntax_valid(self, generated: str) -> MetricValue:
        tree, why = self.tree(generated)
        return MetricValue(0.0, why) if tree is None else MetricValue(1.0)

    def tree_edit_distance(self, reference: str, generated: str) -> MetricValue:
        """APTED distance over the larger tree's size, in [0, 1]; an unparsable output is an empty tree."""
        ref, _ = self.tree(reference)
        if ref is None:
            return MetricValue(math.nan, f"reference does not parse as {self.name}")
        gen, _ = self.tree(generated)
        if gen is None:
            return MetricValue(1.0, f"generated does not parse as {self.name}")
        distance = APTED(ref, gen, _LabelConfig()).compute_edit_distance()
        return MetricValue(float(distance) / max(ref.size(), gen.size()))


def _node(item: Tree | Token) -> _Node:
    if isinstance(item, Token):
        return _Node(f"{item.type}:{item.value}")
    return _Node(str(item.data), [_node(c) for c in item.children if c is not None])


def notation_for(cfg: ExperimentConfig) -> Notation | None:
    """The configured notation; None for Python (the metrics' own Python parsing applies)."""
    language = cfg.data.rule_language
    if language == "python":
        return None
    if language == "functional":
        return Notation("functional", FUNCTIONAL_GRAMMAR)
    path = cfg.resolve(cfg.data.rule_grammar or "")
    notation = Notation(f"lark grammar {Path(path).name}", path.read_text())
    try:
        notation.parser  # noqa: B018 - build it now so a bad grammar fails before any work
    except LarkError as exc:
        raise ConfigError(f"{path}: data.rule_grammar: not a valid Lark grammar: "
                          f"{str(exc).splitlines()[0]}") from None
    return notation


def metrics_for(metrics: list[Metric], notation: Notation | None) -> list[Metric]:
    """`metrics` for rules in `notation`: its own syntax and tree metrics, Python-only metrics dropped."""
    if notation is None:
        return metrics
    own = {
        "syntax_valid": lambda r, g, p, c: notation.syntax_valid(g),
        "tree_edit_distance": lambda r, g, p, c: notation.tree_edit_distance(r, g),
    }
    return [replace(m, compute=own.get(m.name, m.compute)) for m in metrics if m.name not in PYTHON_ONLY]
