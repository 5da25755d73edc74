"""The token categoriser: which kind of clause content each attribution unit is.

The study's second finding is about *kinds* of content (numerical constraints, rule identifiers), so
every unit is given exactly one category by the ordered rules below; the first rule that applies wins.
A unit is judged in its clause, not alone: "2" is a numerical constraint in "at least 2 m" and "1.12"
is a rule identifier after "paragraph". The full rules with examples are in docs/analysis.md.

Unit kinds:
- word units are categorised as they are (surrounding punctuation ignored);
- token units (sub-words) take the category of the clause word they lie in, so "hand" and "rail" of
  "handrail" are both building entity;
- span units whose `span_type` the attribution engine set (number_unit / identifier / comparator /
  condition) take the matching category; other spans take the highest-priority category among their
  words (`SPAN_PRIORITY`).

Word rules, in order:
 1. no letter or digit (punctuation), unless a unit or comparator symbol ("%", "≥") -> function
 2. a phrase of a user lexicon (config `analysis.lexicons`) -> that category (user words win)
 3. inside a rule-identifier phrase: "Approved Document B", "BS 5395-1:2010", "Diagram 1.3",
    "paragraphs 1.2 and 1.3", "Regulation 12(6A)", "Part B", "Requirement K1", "K1"   -> rule_identifier
 4. a number ("2", "1.5", "900mm", "1:12", "two") bound to a unit (attached or next word, ranges
    allowed: "900 to 1000 mm") or to a comparator before it ("at least 2")          -> numerical_constraint
    a dotted number at clause start or with two dots ("1.12 Provide", "2.3.1")   -> rule_identifier
    any other number                                                             -> content
 5. a unit word ("mm", "metres", "%"); short ambiguous ones ("m", "s", "l") only after a number -> unit
 6. a comparator phrase ("not less than", "at least", "maximum", "exceed"; "between", "within",
    "above", "below", "over", "under" only with a number within three words)     -> comparator
 7. a condition/exception phrase ("where", "except", "unless", "if", "provided that", "only") -> condition
 8. a modal or deontic word or phrase ("shall", "should", "must", "may", "is required", "need not"), or
    a directive verb opening a sentence or list item ("Provide", "Use", "Ensure")  -> deontic
 9. a building-entity phrase (IFC entity names and corpus words, see `entities`)  -> building_entity
10. an English function word ("the", "of", "and", "is")                          -> function
11. anything else                                                                 -> content
Phrases match whole words, case-insensitively, with a plural on the last word ("landings", "storeys",
"balconies").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from clauselens.analyse.entities import building_entity_lexicon
from clauselens.lexicon import (
    AMBIGUOUS_UNITS,
    ATTACHED_UNITS,
    CATEGORY_COMPARATORS,
    CATEGORY_UNITS,
    NUMBER_COMPARATORS,
)
from clauselens.records import Attribution, Unit

CATEGORIES: tuple[str, ...] = (
    "numerical_constraint", "unit", "rule_identifier", "comparator", "condition", "deontic",
    "building_entity", "content", "function",
)
CATEGORY_LABELS: dict[str, str] = {
    "numerical_constraint": "numerical constraints", "unit": "units", "rule_identifier": "rule identifiers",
    "comparator": "comparators", "condition": "conditions and exceptions", "deontic": "deontic/modal words",
    "building_entity": "building entities", "content": "other content words", "function": "function words",
}
SPAN_TYPE_CATEGORY: dict[str, str] = {
    "number_unit": "numerical_constraint", "identifier": "rule_identifier", "comparator": "comparator",
    "condition": "condition",
}
# For an untyped multi-word span: the first category in this order among its words (user ones first).
SPAN_PRIORITY: tuple[str, ...] = (
    "numerical_constraint", "rule_identifier", "comparator", "condition", "deontic", "unit",
    "building_entity", "content", "function",
)

_ID = r"(?:[A-Z]{0,2}\d+(?:\.\d+)*[a-z]?(?:\([0-9A-Za-z]+\))*|[A-Z]\d{0,2}(?:\([0-9A-Za-z]+\))*|[IVX]+)"
_REF_WORDS = (r"paragraphs?|paras?\.?|clauses?|sections?|diagrams?|tables?|figures?|figs?\.?|appendix|"
              r"appendices|annex(?:es)?|regulations?|requirements?|parts?|volumes?|vol\.|schedules?|"
              r"chapters?|class(?:es)?")
IDENTIFIER_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bApproved\s+Documents?\s+[A-Z0-9]\b(?:\s*(?:,|and|or)\s*[A-Z0-9]\b)*"),
    re.compile(r"\b(?:BS\s+EN\s+ISO|BS\s+EN|BS\s+ISO|BS|EN|ISO|IEC|PAS|DD)\s*\d[\d\-:.+]*\d"),
    re.compile(rf"\b(?i:{_REF_WORDS})\s+{_ID}(?:\s*(?:,|and|or|to|&|–|-)\s*{_ID})*(?!\w|\.\d)"),
    re.compile(r"(?:[A-Z][\w()'’,-]*\s+(?:(?:and|of|at|for|etc\.?)\s+)?){1,6}(?:Regulations|Act|Order)\s+\d{4}\b"),
    re.compile(r"\bBuilding\s+Regulations\b"),
    re.compile(r"\b[A-HJ-NPR-Z][1-9]\d?(?:\([0-9a-z]+\))?(?!\w|\.\d)"),  # requirement codes: K1, B3(2), M4(3)
)

_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)*$")
_UNIT_SUFFIX = "|".join(ATTACHED_UNITS)
_NUMBER_WITH_UNIT = re.compile(rf"^\d+(?:[.,]\d+)*(?:{_UNIT_SUFFIX})$", re.IGNORECASE)
_RATIO = re.compile(r"^\d+(?:\.\d+)?:\d+(?:\.\d+)?$")
_DOTTED_TWICE = re.compile(r"^\d+\.\d+\.\d+")
_LIST_MARKER = re.compile(r"^[(\[]?(?:[a-z]|[ivx]+)[.)\]]$|^[(\[]?\d+(?:\.\d+)*[.)\]]?$|^[•·\-–*]$")
NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty "
    "sixty hundred thousand half quarter twice".split())
RANGE_CONNECTORS = frozenset({"to", "and", "or", "-", "–", "x", "×", "by"})
UNIT_WORDS = CATEGORY_UNITS
COMPARATOR_PHRASES = CATEGORY_COMPARATORS
CONDITION_PHRASES = (
    "only if", "even if", "if", "where", "wherever", "when", "whenever", "unless", "except", "excepting",
    "exception", "exceptions", "excluding", "exempt", "provided that", "providing that", "otherwise", "only",
    "whether", "notwithstanding", "subject to", "other than", "apart from", "in which case",
    "in the case of", "as long as", "so long as",
)
DEONTIC_PHRASES = (
    "shall not", "must not", "should not", "may not", "need not", "cannot", "shall", "should", "must",
    "may", "might", "can", "could", "will", "would", "ought", "is to", "are to", "has to", "have to",
    "needs to", "need to", "is required", "are required", "required", "requires", "require", "permitted",
    "prohibited", "mandatory", "necessary", "allowed",
)
DIRECTIVE_VERBS = frozenset(
    "provide use ensure make fit install apply comply measure refer follow keep avoid consider design "
    "construct locate position include have give allow take check maintain protect arrange limit "
    "connect size fix seal".split())
FUNCTION_WORDS = frozenset(
    "a an the this that these those it its itself they them their there here he she we you i me my our "
    "your his her of in on at to for from by with without into onto upon about against along among "
    "around before after during through throughout across behind beside besides beyond near off out "
    "up down per via than then as so such and or nor but also either neither both each every all any "
    "some no not none is are was were be been being am do does did doing done has have had having "
    "which who whom whose what how why while whereas though although because since until till thus "
    "therefore hence again further very too just more most less least other another same own between "
    "within above below over under "
    "etc e.g i.e eg ie".split())

_STRIP_LEAD = "\"'([{“‘<>≤≥=±~"
_STRIP_TRAIL = "\"')]}.,;:!?”’"


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for whole-word, case-insensitive phrases, longest first, plural on the last word."""
    alternatives = []
    for phrase in sorted({p.strip().lower() for p in phrases if p.strip()}, key=len, reverse=True):
        words = [re.escape(w) for w in phrase.split()]
        last = phrase.split()[-1]
        if re.fullmatch(r"[a-z]+", last):
            if last.endswith("y") and len(last) > 2 and last[-2] not in "aeiou":
                words[-1] = re.escape(last[:-1]) + "(?:y|ies)"
            else:
                words[-1] = re.escape(last) + "(?:s|es)?"
        alternatives.append(r"\s+".join(words))
    if not alternatives:
        return None
    # a look-ahead group, so that overlapping phrases are all found ("means of escape", "escape routes")
    return re.compile(r"(?<!\w)(?=((?:" + "|".join(alternatives) + r"))(?!\w))", re.IGNORECASE)


def _spans(pattern: re.Pattern[str] | None, text: str) -> list[tuple[int, int]]:
    return [] if pattern is None else [m.span(1) for m in pattern.finditer(text)]


@dataclass(frozen=True)
class _Word:
    start: int  # offsets of the core (surrounding punctuation stripped)
    end: int
    core: str
    raw: str  # the whitespace-delimited word as written


@dataclass
class _ClauseView:
    """A clause split into words, with every phrase match precomputed."""

    text: str
    words: list[_Word]
    phrases: dict[str, list[tuple[int, int]]]


def _split_words(text: str) -> list[_Word]:
    words = []
    for m in re.finditer(r"\S+", text):
        raw = m.group()
        lead = len(raw) - len(raw.lstrip(_STRIP_LEAD))
        core = raw[lead:].rstrip(_STRIP_TRAIL)
        if not core:  # all punctuation: keep it as a word so that it can be found
            lead, core = 0, raw
        words.append(_Word(m.start() + lead, m.start() + lead + len(core), core, raw))
    return words


def _inside(spans: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in spans)


class Categoriser:
    """Categorises units of any clause; built once per lexicon set, caches each clause's analysis."""

    def __init__(self, lexicons: Mapping[str, Sequence[str]] | None = None):
        self.lexicons = {str(k): list(v) for k, v in (lexicons or {}).items()}
        for name, words in self.lexicons.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"analysis.lexicons: category name {name!r} must be lower-case letters, "
                                 "digits and underscores, starting with a letter")
            if not words or any(not isinstance(w, str) or not w.strip() for w in words):
                raise ValueError(f"analysis.lexicons.{name}: expected a non-empty list of non-empty words")
        self.categories: tuple[str, ...] = CATEGORIES + tuple(c for c in self.lexicons if c not in CATEGORIES)
        self._user = {c: _phrase_pattern(w) for c, w in self.lexicons.items()}
        self._comparators = _phrase_pattern(COMPARATOR_PHRASES)
        self._conditions = _phrase_pattern(CONDITION_PHRASES)
        self._deontic = _phrase_pattern(DEONTIC_PHRASES)
        self._entities = _phrase_pattern(building_entity_lexicon())
        self._views: dict[str, _ClauseView] = {}

    # -- clause analysis ---------------------------------------------------------------------------
    def _view(self, text: str) -> _ClauseView:
        view = self._views.get(text)
        if view is None:
            words = _split_words(text)
            phrases = {f"user:{c}": _spans(p, text) for c, p in self._user.items()}
            phrases["rule_identifier"] = [m.span() for p in IDENTIFIER_PATTERNS for m in p.finditer(text)]
            phrases["comparator"] = _spans(self._comparators, text)
            phrases["condition"] = _spans(self._conditions, text)
            phrases["deontic"] = _spans(self._deontic, text)
            phrases["building_entity"] = _spans(self._entities, text)
            view = _ClauseView(text, words, phrases)
            self._views[text] = view
        return view

    @staticmethod
    def _is_number(core: str) -> bool:
        return bool(_NUMBER.match(core)) or core.lower() in NUMBER_WORDS

    def _is_unit_word(self, view: _ClauseView, i: int) -> bool:
        low = view.words[i].core.lower()
        if low in UNIT_WORDS:
            return True
        if low == "cent" and i > 0 and view.words[i - 1].core.lower() == "per":
            return True
        if low == "per" and i + 1 < len(view.words) and view.words[i + 1].core.lower() == "cent":
            return True
        return low in AMBIGUOUS_UNITS and i > 0 and self._is_number(view.words[i - 1].core)

    def _unit_follows(self, view: _ClauseView, i: int) -> bool:
        j = i + 1
        while j < len(view.words):
            core = view.words[j].core
            if core.lower() in RANGE_CONNECTORS or self._is_number(core):
                j += 1
                continue
            return self._is_unit_word(view, j) or bool(_NUMBER_WITH_UNIT.match(core))
        return False

    def _comparator_precedes(self, view: _ClauseView, i: int) -> bool:
        """A comparator ends within the three words before the number (ranges and "of" skipped)."""
        for j in range(i - 1, max(-1, i - 4), -1):
            w = view.words[j]
            if _inside(view.phrases["comparator"], w.start, w.end) or w.core.lower() in NUMBER_COMPARATORS:
                return True
            if not (w.core.lower() in RANGE_CONNECTORS | {"of", "a", "the"} or self._is_number(w.core)):
                return False
        return False

    def _number_category(self, view: _ClauseView, i: int) -> str:
        core = view.words[i].core
        if _NUMBER_WITH_UNIT.match(core) or _RATIO.match(core):
            return "numerical_constraint"
        if self._unit_follows(view, i) or self._comparator_precedes(view, i):
            return "numerical_constraint"
        if "." in core and (i == 0 or _DOTTED_TWICE.match(core)):
            return "rule_identifier"
        return "content"

    def _comparator_word(self, view: _ClauseView, i: int) -> bool:
        w = view.words[i]
        if w.core.lower() in NUMBER_COMPARATORS:
            following = view.words[i + 1:i + 4]
            return any(self._is_number(x.core) or _NUMBER_WITH_UNIT.match(x.core) for x in following)
        return _inside(view.phrases["comparator"], w.start, w.end)

    def _opens_sentence(self, view: _ClauseView, i: int) -> bool:
        if i == 0:
            return True
        prev = view.words[i - 1].raw
        return prev.endswith((".", ":", ";")) or bool(_LIST_MARKER.match(prev))

    def word_category(self, view: _ClauseView, i: int) -> str:
        """The category of clause word `i` (rules 1-11 of the module docstring)."""
        w = view.words[i]
        low = w.core.lower()
        punctuation = not any(ch.isalnum() for ch in w.core)
        if punctuation and low not in UNIT_WORDS and not self._comparator_word(view, i):
            return "function"
        for cat in self.lexicons:
            if _inside(view.phrases[f"user:{cat}"], w.start, w.end):
                return cat
        if _inside(view.phrases["rule_identifier"], w.start, w.end):
            return "rule_identifier"
        if self._is_number(w.core) or _NUMBER_WITH_UNIT.match(w.core) or _RATIO.match(w.core):
            return self._number_category(view, i)
        if self._is_unit_word(view, i):
            return "unit"
        if self._comparator_word(view, i):
            return "comparator"
        if _inside(view.phrases["condition"], w.start, w.end):
            return "condition"
        if _inside(view.phrases["deontic"], w.start, w.end):
            return "deontic"
        if low in DIRECTIVE_VERBS and self._opens_sentence(view, i):
            return "deontic"
        if _inside(view.phrases["building_entity"], w.start, w.end):
            return "building_entity"
        if low in FUNCTION_WORDS or not any(ch.isalpha() for ch in w.core):
            return "function"
        return "content"

    # -- units ---------------------------------------------------------------------------------------
    def unit_category(self, clause_text: str, unit: Unit) -> str:
        """The category of one unit of `clause_text` (see the module docstring for unit kinds)."""
        if not 0 <= unit.start <= unit.end <= len(clause_text):
            raise ValueError(f"unit {unit.text!r}: offsets {unit.start}:{unit.end} outside the clause "
                             f"(length {len(clause_text)})")
        if unit.kind == "span" and unit.span_type in SPAN_TYPE_CATEGORY:
            return SPAN_TYPE_CATEGORY[unit.span_type]
        view = self._view(clause_text)
        end = max(unit.end, unit.start + 1)
        indices = [i for i, w in enumerate(view.words) if w.start < end and unit.start < w.end]
        if not indices:  # whitespace only
            return "function"
        found = [self.word_category(view, i) for i in indices]
        if len(found) == 1:
            return found[0]
        order = tuple(self.lexicons) + SPAN_PRIORITY
        return min(found, key=lambda c: order.index(c) if c in order else len(order))

    def categorise(self, attribution: Attribution) -> list[str]:
        return [self.unit_category(attribution.clause_text, u) for u in attribution.units]


@lru_cache(maxsize=8)
def _cached(lexicons: tuple[tuple[str, tuple[str, ...]], ...]) -> Categoriser:
    return Categoriser({k: list(v) for k, v in lexicons})


def categoriser_for(lexicons: Mapping[str, Sequence[str]] | None = None) -> Categoriser:
    """A (cached) categoriser for these user lexicons."""
    return _cached(tuple((k, tuple(v)) for k, v in (lexicons or {}).items()))


def categorise(attribution: Attribution, lexicons: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """One category per unit of `attribution`, in unit order (rules in the module docstring)."""
    return categoriser_for(lexicons).categorise(attribution)
