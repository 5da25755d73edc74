"""What the builtin ladder is pretrained on: synthetic clause -> rule programs, regulation prose, Python.

A real base model arrives knowing Python and the language of regulations; our CPU ladder must learn
both in a few minutes. Four sources, mixed:

1. Synthetic clause -> rule pairs, written here from the rule vocabulary (`clauselens.rules.vocabulary`)
   with sentence templates and rendered with the corpus's own rule writer (`render_rule`), in the exact
   prompt format fine-tuning uses. The number in a synthetic clause is drawn independently of the
   property and appears verbatim in the rule, so the cheapest way to predict the rule is to copy the
   clause's number and name, not to recall a property's usual value. No test pair is looked at.
2. The train pairs themselves, each copied `SUBSTITUTION_ROUNDS` times with new limits in clause and
   rule (`clauselens.corpus.substitution`): copying practice on real regulation prose, where the
   templates above are too regular to teach a model to find the limit in a long clause.
3. Approved Documents prose (bundled, Crown copyright, Open Government Licence v3.0; see
   `corpus/uk-approved-documents/NOTICE.md`), minus every clause whose text contains a test clause.
4. Python source that ships with the interpreter (a fixed list of small stdlib modules; absent ones
   are skipped, so the mix works on any CPython).

Everything is seeded: the same inputs give the same texts, so the ladder's cache key is stable.
"""

from __future__ import annotations

import random
import re
import sysconfig
from collections.abc import Iterable, Sequence
from pathlib import Path

from clauselens.corpus.rulecode import Check, render_rule
from clauselens.corpus.substitution import substituted_pairs
from clauselens.lexicon import LOWER_BOUND_PHRASES, PROPERTY_UNITS, UPPER_BOUND_PHRASES
from clauselens.prompt import render_prompt
from clauselens.records import Clause, RulePair
from clauselens.rules.vocabulary import PROPERTIES

N_SYNTHETIC = 6000
SUBSTITUTION_ROUNDS = 40  # copies of each train pair with new limits (docs/training.md, ladder v5)
STDLIB_MODULES = (
    "textwrap.py", "string.py", "fnmatch.py", "bisect.py", "heapq.py", "csv.py", "glob.py", "shlex.py",
    "fractions.py", "statistics.py", "colorsys.py", "difflib.py", "json/encoder.py", "json/decoder.py",
    "graphlib.py", "numbers.py", "operator.py", "queue.py",
)
STDLIB_MAX_CHARS = 150_000
PROSE_SHARE = 0.5  # the first half of the clean prose texts (about 120k tokens)

SUFFIX_UNITS = PROPERTY_UNITS  # property suffix -> (canonical unit of `Check`, how a clause writes it)
MIN_PHRASES = (*(f"{p} {{v}}" for p in LOWER_BOUND_PHRASES), "{v} or more")
MAX_PHRASES = (*(f"{p} {{v}}" for p in UPPER_BOUND_PHRASES), "{v} or less")
TEMPLATES = (
    "The {noun} of {a_kind} should be {phrase}.",
    "{Kinds} should have a {noun} of {phrase}.",
    "In all buildings, the {noun} of every {kind} should be {phrase}.",
    "Where {a_kind} is provided, its {noun} should be {phrase}.",
    "{A_kind} should be designed so that its {noun} is {phrase}.",
    "The {kind} has a {noun} of {phrase}, when measured in accordance with Diagram {d}.",
    "{A_kind} will meet the requirement if its {noun} is {phrase}.",
)
# sentences of the kind that surround a real clause's limit: paragraph and diagram references, counts,
# storeys, the numbers a model must learn not to copy
PREAMBLES = (
    "One of the following approaches should be adopted, observing the restrictions described in "
    "paragraphs {p} and {q}.",
    "Guidance on the {noun} is given in Diagrams {d} and {e}.",
    "{A_kind} should comply with all of the following.",
    "The provisions of Section {n} and Table {p} apply to buildings of up to {n2} storeys.",
    "Where the building has more than {n2} storeys, see paragraph {p}.",
    "As described in paragraph {p}, the following applies to every {kind}.",
    "{A_kind} will satisfy Requirement {req} if:",
)
REQUIREMENTS = ("B1", "B2", "B3", "C1", "F1", "H1", "K1", "K2", "M1", "M2", "M4(2)", "L1(a)")
RANGE_TEMPLATES = (
    "The {noun} of {a_kind} should be between {low} and {high}.",
    "{Kinds} should have a {noun} between {low} and {high}.",
)
BOOL_TEMPLATES = (
    "Every {kind} should {verb}.",
    "{Kinds} should {verb}.",
    "Where {a_kind} is provided, it should {verb}.",
)
DOCUMENTS = ("A", "B-vol1", "B-vol2", "C", "D", "E", "F-vol1", "G", "H", "J", "K", "L", "M-vol1", "S")


def unit_of(prop: str) -> tuple[str, str] | None:
    """(canonical unit, unit as written) of a numeric property; None for booleans and strings."""
    for suffix, unit in SUFFIX_UNITS.items():
        if prop.endswith(suffix):
            return unit
    return None


def _noun(prop: str) -> str:
    for suffix in SUFFIX_UNITS:
        if prop.endswith(suffix):
            prop = prop[: -len(suffix)] or prop
            break
    return prop.replace("_", " ").strip()


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _value(rng: random.Random, unit: str) -> float:
    """A number with no tie to the property: the model must read it from the clause."""
    if unit == "w_m2k":
        return rng.choice([rng.randint(10, 60) / 100, rng.randint(1, 30) / 10])
    if unit == "mm":
        return rng.choice([rng.randint(1, 99) * 10, rng.randint(1, 60) * 50, rng.randint(5, 999),
                           rng.randint(10, 150) * 100])
    if unit == "min":
        return rng.choice([15, 30, 60, 90, 120, rng.randint(1, 240)])
    return rng.randint(1, 250)


def _written(value: float, unit: str, written: str, rng: random.Random) -> str:
    """The value as a clause writes it: mm sometimes in metres (the rule keeps millimetres)."""
    if unit == "mm" and value % 100 == 0 and value >= 1000 and rng.random() < 0.6:
        metres = value / 1000
        return f"{metres:g}m"
    return f"{value}{written}"


def _numeric_check(rng: random.Random, kind: str, prop: str) -> tuple[Check, str]:
    unit, written = unit_of(prop)  # type: ignore[misc]
    noun, words = _noun(prop), kind.replace("_", " ")
    label = f"{words} {noun}"
    fields = {"noun": noun, "kind": words, "a_kind": _article(words), "A_kind": _article(words).capitalize(),
              "Kinds": f"{words.capitalize()}s", "d": f"{rng.randint(1, 15)}.{rng.randint(1, 9)}"}
    op = rng.choices(["min", "max", "range"], weights=[45, 40, 15])[0]
    if op == "range":
        low = _value(rng, unit)
        high = low + max(1, _value(rng, unit) // 2)
        text = rng.choice(RANGE_TEMPLATES).format(low=_written(low, unit, written, rng),
                                                  high=_written(high, unit, written, rng), **fields)
        return Check(kind, prop, "range", label, unit, low=low, high=high), text
    value = _value(rng, unit)
    phrases = MIN_PHRASES if op == "min" else MAX_PHRASES
    phrase = rng.choice(phrases).format(v=_written(value, unit, written, rng))
    text = rng.choice(TEMPLATES).format(phrase=phrase, **fields)
    bound = {"low": value} if op == "min" else {"high": value}
    return Check(kind, prop, op, label, unit, **bound), text


def _bool_check(rng: random.Random, kind: str, prop: str) -> tuple[Check, str]:
    words = kind.replace("_", " ")
    expected = rng.random() < 0.85
    if prop.startswith("is_"):
        verb = f"{'' if expected else 'not '}be {prop[3:].replace('_', ' ')}"
    elif prop.startswith("has_"):
        verb = f"{'have' if expected else 'not have'} {_article(prop[4:].replace('_', ' '))}"
    else:
        verb = f"{'' if expected else 'not '}{prop.replace('_', ' ')}"
    fields = {"kind": words, "a_kind": _article(words), "Kinds": f"{words.capitalize()}s", "verb": verb}
    label = f"{words} {verb.replace('not ', 'does not ')}"
    return Check(kind, prop, "is", label, expected=expected), rng.choice(BOOL_TEMPLATES).format(**fields)


def _preamble(rng: random.Random, kind: str, prop: str) -> str:
    words = kind.replace("_", " ")
    return rng.choice(PREAMBLES).format(
        p=f"{rng.randint(0, 15)}.{rng.randint(1, 40)}", q=f"{rng.randint(0, 15)}.{rng.randint(1, 40)}",
        d=rng.randint(1, 40), e=rng.randint(1, 40), n=rng.randint(1, 12), n2=rng.randint(2, 18),
        noun=_noun(re.sub(r"^(?:is|has)_", "", prop)), kind=words, A_kind=_article(words).capitalize(),
        req=rng.choice(REQUIREMENTS))


def synthetic_pair(rng: random.Random, index: int, prose: Sequence[str]) -> tuple[Clause, str]:
    """One synthetic (clause, reference rule) shaped like a real clause: one to three checks, often after
    a preamble with paragraph, diagram and storey numbers (distractors), items lettered as in the
    Approved Documents, limits in metres where the rule keeps millimetres, sometimes after real prose."""
    checks, sentences = [], []
    for _ in range(rng.choices([1, 2, 3], weights=[55, 30, 15])[0]):
        kind = rng.choice(sorted(PROPERTIES))
        candidates = [p for p in PROPERTIES[kind] if p.startswith(("is_", "has_")) or unit_of(p)]
        if not candidates:
            continue
        prop = rng.choice(candidates)
        if any(c.kind == kind and c.prop == prop for c in checks):
            continue
        check, sentence = (_numeric_check if unit_of(prop) else _bool_check)(rng, kind, prop)
        checks.append(check)
        sentences.append(sentence)
    if not checks:
        return synthetic_pair(rng, index, prose)
    if len(sentences) > 1 and rng.random() < 0.4:
        sentences = [f"{'abcdefgh'[i]}. {x}" for i, x in enumerate(sentences)]
    if rng.random() < 0.5:
        sentences.insert(0, _preamble(rng, checks[0].kind, checks[0].prop))
    if prose and rng.random() < 0.25:
        sentences.insert(0, rng.choice(prose)[:300].strip())
    doc = rng.choice(DOCUMENTS)
    clause = Clause(clause_id=f"synthetic:{index}", document=doc,
                    paragraph=f"{rng.randint(0, 15)}.{rng.randint(1, 40)}",
                    title=f"Section {rng.randint(1, 12)}: {checks[0].kind.replace('_', ' ').capitalize()}s",
                    text=" ".join(sentences))
    return clause, render_rule(checks)


def synthetic_texts(n: int = N_SYNTHETIC, seed: int = 0, prose: Sequence[str] = ()) -> list[str]:
    """`n` synthetic prompts with their rules, each in the fine-tuning prompt format."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        clause, rule = synthetic_pair(rng, i, prose)
        texts.append(render_prompt(clause).text + rule)
    return texts


def stdlib_texts(max_chars: int = STDLIB_MAX_CHARS) -> list[str]:
    """Source of the fixed list of stdlib modules that exist here, up to `max_chars` in all."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out, total = [], 0
    for name in STDLIB_MODULES:
        path = root / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")[: max_chars - total]
        out.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return out


def without_test_text(texts: Iterable[str], test_clauses: Iterable[str]) -> list[str]:
    """`texts` minus every text that contains (or is contained in) a test clause's text."""
    tests = [t.strip() for t in test_clauses if t.strip()]
    return [t for t in texts if not any(x in t or (len(t) > 40 and t.strip() in x) for x in tests)]


def pretraining_mix(prose: Sequence[str], train_pairs: Sequence[RulePair], test_clauses: Sequence[str],
                    seed: int = 0) -> list[str]:
    """The ladder's pretraining texts: synthetic pairs, train pairs with new limits, prose without test
    clauses, train rules, stdlib.

    Clause -> rule programs (synthetic, and train pairs with their limits substituted) are most of the
    tokens: copying a clause's kind, property and limit into a rule is what the ladder must learn in
    its steps (docs/training.md, "The builtin model ladder"); prose (half the clean texts) and stdlib
    Python are a minority."""
    clean_prose = without_test_text(prose, test_clauses)
    prose_part = clean_prose[: int(len(clean_prose) * PROSE_SHARE)]
    substituted = [render_prompt(p.clause).text + p.rule
                   for p in substituted_pairs(train_pairs, SUBSTITUTION_ROUNDS, seed=seed)]
    texts = (synthetic_texts(seed=seed, prose=clean_prose) + substituted + prose_part
             + [p.rule for p in train_pairs] + stdlib_texts())
    random.Random(seed).shuffle(texts)
    return texts


def synthetic_rule_pairs(n: int, seed: int) -> list[RulePair]:
    """`n` synthetic train pairs for fine-tuning (`data.synthetic_pairs`): copying practice that keeps a
    small model reading the clause's numbers while it learns the real corpus's rules."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        clause, rule = synthetic_pair(rng, i, prose=())
        kind = "quantitative" if " >= " in rule or " <= " in rule else "qualitative"
        out.append(RulePair(clause=clause, rule=rule, kind=kind, split="train"))
    return out
