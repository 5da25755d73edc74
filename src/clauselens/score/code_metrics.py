"""Metrics on the code itself: Python tokens (Levenshtein, BLEU), syntax, and AST tree edit distance.

Generated rules are often broken code, so every metric here is defined for any string: text that
Python's tokenizer rejects falls back to a word/punctuation split, and text that does not parse is an
empty tree (so its tree edit distance to the reference is the maximum, 1).
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from dataclasses import dataclass, field

from apted import APTED, Config
from rapidfuzz.distance import Levenshtein
from sacrebleu.metrics import BLEU

from clauselens.score.value import MetricValue

_LAYOUT_MARKERS = {tokenize.INDENT: "<INDENT>", tokenize.DEDENT: "<DEDENT>", tokenize.NEWLINE: "<NEWLINE>"}
_SKIPPED = {tokenize.ENCODING, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER}
_FALLBACK_TOKEN = re.compile(r"\w+|[^\w\s]")
_WHITESPACE = re.compile(r"\s")
_BLEU = BLEU(tokenize="none", smooth_method="exp", effective_order=True)


def python_tokens(code: str) -> tuple[list[str], bool]:
    """The code's tokens as Python reads them, and whether Python's tokenizer accepted the text.

    Comments and blank lines are dropped; indentation changes and statement ends become `<INDENT>`,
    `<DEDENT>` and `<NEWLINE>` markers, so block structure counts. Text the tokenizer rejects (an
    unterminated string, inconsistent indentation) is split into words and punctuation instead.
    """
    try:
        tokens = [_LAYOUT_MARKERS.get(t.type, t.string)
                  for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type not in _SKIPPED]
    except (tokenize.TokenError, SyntaxError):
        return _FALLBACK_TOKEN.findall(code), False
    return tokens, True


def levenshtein(reference: str, generated: str) -> MetricValue:
    """Token-level Levenshtein distance normalised to [0, 1] (0 = same token sequence; lower is better).

    Edits (insert, delete, substitute one token) between the `python_tokens` of both rules, divided by
    the longer sequence's length (rapidfuzz `Levenshtein.normalized_distance`).
    """
    ref, ref_ok = python_tokens(reference)
    gen, gen_ok = python_tokens(generated)
    return MetricValue(float(Levenshtein.normalized_distance(ref, gen)), _fallback_note(ref_ok, gen_ok))


def bleu(reference: str, generated: str) -> MetricValue:
    """Sentence BLEU on Python tokens, in [0, 1] (higher is better).

    sacrebleu's BLEU (up to 4-grams, brevity penalty) with exponential smoothing and effective order,
    as for single sentences, on the `python_tokens` of both rules (so `x<800` and `x < 800` are equal).
    """
    ref, ref_ok = python_tokens(reference)
    gen, gen_ok = python_tokens(generated)
    score = _BLEU.sentence_score(_joined(gen), [_joined(ref)]).score / 100.0
    return MetricValue(min(1.0, float(score)), _fallback_note(ref_ok, gen_ok))  # 1 + 4e-16 for equal rules


def syntax_valid(generated: str) -> MetricValue:
    """1 if the rule parses (`ast.parse`) and defines a top-level `check_rule` function, else 0.

    The second condition keeps empty output and stray snippets from counting as valid rules; `detail`
    names the syntax error (line and message) or the missing function.
    """
    try:
        tree = ast.parse(generated)
    except SyntaxError as exc:
        return MetricValue(0.0, f"syntax error, line {exc.lineno}: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return MetricValue(0.0, f"does not parse: {type(exc).__name__}")
    if not any(isinstance(node, ast.FunctionDef) and node.name == "check_rule" for node in tree.body):
        return MetricValue(0.0, "defines no top-level check_rule function")
    return MetricValue(1.0)


@dataclass
class _Node:
    label: str
    children: list[_Node] = field(default_factory=list)

    def size(self) -> int:
        return 1 + sum(c.size() for c in self.children)


class _LabelConfig(Config):
    """Unit costs; a rename costs 1 when the labels differ."""

    def rename(self, node1: _Node, node2: _Node) -> int:
        return int(node1.label != node2.label)

    def children(self, node: _Node) -> list[_Node]:
        return node.children


def _label(node: ast.AST) -> str:
    """Node type plus the name or value it carries, so `x < 800` and `x < 750` differ by one rename."""
    name = type(node).__name__
    for attr in ("id", "attr", "arg", "name", "module"):
        value = getattr(node, attr, None)
        if isinstance(value, str):
            return f"{name}:{value}"
    if isinstance(node, ast.Constant):
        return f"{name}:{node.value!r}"
    return name


def _tree(node: ast.AST) -> _Node:
    children = [c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.expr_context)]
    return _Node(_label(node), [_tree(c) for c in children])


def ast_tree(code: str) -> _Node | None:
    """The code's AST as a labelled tree (load/store contexts left out), or None if it does not parse."""
    try:
        return _tree(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def tree_edit_distance(reference: str, generated: str) -> MetricValue:
    """AST tree edit distance (APTED, unit costs) over the larger tree's size, in [0, 1]; lower is better.

    Nodes are AST node types labelled with the identifier, attribute, argument or constant they carry.
    A generated rule that does not parse is an empty tree: every reference node must be inserted,
    distance 1. A reference that does not parse gives NaN (nothing to compare against).
    """
    ref, gen = ast_tree(reference), ast_tree(generated)
    if ref is None:
        return MetricValue(math.nan, "reference does not parse")
    if gen is None:
        return MetricValue(1.0, "generated does not parse")
    distance = APTED(ref, gen, _LabelConfig()).compute_edit_distance()
    return MetricValue(float(distance) / max(ref.size(), gen.size()))


def _joined(tokens: list[str]) -> str:
    return " ".join(_WHITESPACE.sub("\u2581", t) for t in tokens)


def _fallback_note(ref_ok: bool, gen_ok: bool) -> str:
    bad = [what for what, ok in (("reference", ref_ok), ("generated", gen_ok)) if not ok]
    return f"{' and '.join(bad)} not tokenizable as Python: word/punctuation tokens used" if bad else ""
