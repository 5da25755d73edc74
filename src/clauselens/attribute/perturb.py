"""Perturbations of a clause: delete, mask or substitute some of its units, rebuilt from offsets.

Each unit gets one fixed "absent" form (its replacement string), chosen once per clause, so every
coalition of units that a method evaluates perturbs a unit in the same way; Shapley values are only
well defined when a unit's "off" state does not change between coalitions.

- `delete`: the unit and the whitespace after it are removed ("shall be 2.0 m" -> "shall be m").
- `mask`: the unit is replaced by a baseline string: `AttributionConfig.mask_string`, else the
  tokenizer's unk token, else `FALLBACK_MASK` ("___", a blank that carries no domain meaning). Masking
  keeps the positions of later words roughly where they were, which deletion does not.
- `substitute`: an in-distribution alternative of the same kind, drawn with a seeded generator: a number
  scaled by x0.5 or x2 (its unit kept), a unit of measure by another unit of the same quantity, an
  identifier by another identifier (its numbers and letter changed), a comparator by its opposite
  ("not less than" -> "not more than"), a condition keyword by its negation ("where" -> "unless").
  Words with no natural substitute (plain words, and token pieces that are not numbers) fall back to
  the mask string; `substitute_fallbacks` reports how many did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from clauselens.attribute.units import NUMBER, span_units
from clauselens.lexicon import COMPARATOR_OPPOSITES, OTHER_UNIT
from clauselens.records import Unit
from clauselens.registry import PERTURBATIONS

FALLBACK_MASK = "___"

_OPPOSITE_COMPARATOR = COMPARATOR_OPPOSITES
_OPPOSITE_WORD = {
    "less": "more", "more": "less", "least": "most", "most": "least", "minimum": "maximum",
    "maximum": "minimum", "greater": "less", "fewer": "more", "exceed": "undercut", "exceeds": "undercuts",
    "exceeding": "undercutting", "up": "down",
}
_NEGATED_CONDITION = {
    "where": "unless", "if": "unless", "unless": "if", "except": "including", "provided that": "unless",
    "other than": "including",
}
_OTHER_UNIT = OTHER_UNIT
_OTHER_REFERENCE = {
    "diagram": "table", "table": "diagram", "figure": "table", "paragraph": "section",
    "paragraphs": "sections", "section": "paragraph", "para": "section", "paras": "sections",
    "regulation": "requirement", "requirement": "regulation", "appendix": "annex", "clause": "paragraph",
    "part": "volume", "volume": "part",
}
_DOCUMENT_LETTERS = "ABCDEFGHJKLMOPQRS"
_NUMBER_RE = re.compile(NUMBER)


def default_mask_string(tokenizer: object | None, mask_string: str | None = None) -> str:
    """The configured mask string, else the tokenizer's unk token, else `FALLBACK_MASK`."""
    if mask_string is not None:
        return mask_string
    unk = getattr(tokenizer, "unk_token", None) if tokenizer is not None else None
    return unk if isinstance(unk, str) and unk else FALLBACK_MASK


def _keep_case(original: str, new: str) -> str:
    return new[:1].upper() + new[1:] if original[:1].isupper() else new


def _scaled_number(match: re.Match[str], rng: np.random.Generator) -> str:
    raw = match.group(0)
    value = float(raw.replace(",", ""))
    new = value * float(rng.choice([0.5, 2.0]))
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    if decimals == 0 and new != int(new):
        decimals = 1
    text = f"{new:,.{decimals}f}" if "," in raw else f"{new:.{decimals}f}"
    return text


def _substitute_number(text: str, rng: np.random.Generator) -> str | None:
    if _NUMBER_RE.search(text):
        return _NUMBER_RE.sub(lambda m: _scaled_number(m, rng), text, count=1)
    other = _OTHER_UNIT.get(text) or _OTHER_UNIT.get(text.lower())
    return other


def _substitute_identifier(text: str, rng: np.random.Generator) -> str | None:
    def new_int(m: re.Match[str]) -> str:
        v = int(m.group(0))
        choices = [c for c in range(1, max(10, 2 * v + 1)) if c != v]
        return str(int(rng.choice(choices)))

    def new_letter(m: re.Match[str]) -> str:
        return str(rng.choice([c for c in _DOCUMENT_LETTERS if c != m.group(0)]))

    out = re.sub(r"(?<![A-Za-z])[A-Z](?![A-Za-z])", new_letter, text)
    out = re.sub(r"\d+", new_int, out)
    if out != text:
        return out
    other = _OTHER_REFERENCE.get(text.lower())
    return _keep_case(text, other) if other else None


def _substitute_comparator(text: str) -> str | None:
    key = " ".join(text.lower().split())
    other = _OPPOSITE_COMPARATOR.get(key) or _OPPOSITE_WORD.get(key)
    return _keep_case(text, other) if other else None


def _substitute_condition(text: str) -> str | None:
    lowered = " ".join(text.lower().split())
    for keyword, negation in _NEGATED_CONDITION.items():
        if lowered == keyword or lowered.startswith(keyword + " "):
            rest = text.split(None, len(keyword.split()))[len(keyword.split()):]
            return " ".join([_keep_case(text, negation), *rest])
    return None


def substitute_text(text: str, span_type: str | None, rng: np.random.Generator) -> str | None:
    """An alternative for `text` given the kind of span it sits in; None when there is none."""
    if span_type in ("number_unit", "number"):
        return _substitute_number(text, rng)
    if span_type == "identifier":
        return _substitute_identifier(text, rng)
    if span_type == "comparator":
        return _substitute_comparator(text)
    if span_type == "condition":
        return _substitute_condition(text)
    return None


def _context_types(text: str, units: Sequence[Unit]) -> list[str | None]:
    """For each unit, the span type it is (spans) or sits inside (words, tokens)."""
    spans = [s for s in span_units(text) if s.span_type]
    types: list[str | None] = []
    for unit in units:
        if unit.kind == "span":
            types.append(unit.span_type)
            continue
        inside = [s for s in spans if s.start <= unit.start and unit.end <= s.end]
        types.append(inside[0].span_type if inside else None)
    return types


@PERTURBATIONS.register("delete")
def _deleted(text: str, units: Sequence[Unit], rng: np.random.Generator, mask: str) -> tuple[list[str], int]:
    return [""] * len(units), 0


@PERTURBATIONS.register("mask")
def _masked(text: str, units: Sequence[Unit], rng: np.random.Generator, mask: str) -> tuple[list[str], int]:
    return [mask] * len(units), 0


@PERTURBATIONS.register("substitute")
def _substituted(
    text: str, units: Sequence[Unit], rng: np.random.Generator, mask: str
) -> tuple[list[str], int]:
    out: list[str] = []
    fallbacks = 0
    for unit, span_type in zip(units, _context_types(text, units), strict=True):
        if span_type == "condition" and unit.kind != "span":
            # a word inside a condition: only its keyword has a negation
            span_type = "condition" if unit.text.lower() in _NEGATED_CONDITION else None
        new = substitute_text(unit.text, span_type, rng)
        if new is None or new == unit.text:
            fallbacks += 1
            new = mask
        out.append(new)
    return out, fallbacks


def replacement_strings(
    text: str, units: Sequence[Unit], kind: str, rng: np.random.Generator, mask: str
) -> tuple[list[str], int]:
    """Each unit's absent form under the perturbation registered as `kind`
    (`clauselens.registry.PERTURBATIONS`), and how many substitutions fell back to the mask string."""
    return PERTURBATIONS[kind](text, units, rng, mask)


def _deleted_end(text: str, end: int) -> int:
    while end < len(text) and text[end].isspace():
        end += 1
    return end


def apply_perturbation(
    text: str, units: Sequence[Unit], absent: Iterable[int], replacements: Sequence[str], kind: str
) -> str:
    """The clause with units `absent` perturbed, rebuilt from character offsets."""
    pieces: list[str] = []
    cursor = 0
    for i in sorted(set(absent)):
        unit = units[i]
        if unit.start < cursor:  # whitespace after a deleted neighbour already consumed
            continue
        pieces.append(text[cursor:unit.start])
        if kind == "delete":
            cursor = _deleted_end(text, unit.end)
        else:
            pieces.append(replacements[i])
            cursor = unit.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def perturb(
    text: str,
    units: Sequence[Unit],
    indices: Iterable[int],
    kind: str,
    rng: np.random.Generator | int | None = None,
    *,
    mask_string: str | None = None,
    tokenizer: object | None = None,
) -> str:
    """`text` with the units at `indices` perturbed by `kind` (delete / mask / substitute).

    `rng` (a numpy Generator or a seed) drives substitution; the mask string defaults as in
    `default_mask_string`.
    """
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    mask = default_mask_string(tokenizer, mask_string)
    replacements, _ = replacement_strings(text, units, kind, generator, mask)
    return apply_perturbation(text, units, indices, replacements, kind)
