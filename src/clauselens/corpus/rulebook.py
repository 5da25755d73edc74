"""Build the open clause -> reference-rule corpus from extracted clauses, deterministically.

Each clause is read by `reading`: quantitative pairs from its explicit numeric constraints, each mapped
to exactly one element kind and property, qualitative pairs from the yes/no properties its sentences
oblige; a clause that cannot be read unambiguously is rejected with its reason counted. A paragraph that
yields no rule is retried item by item ("1.15a"). `curation.OVERRIDES` / `curation.REVIEWED_OUT` hold
the hand-written and the rejected readings. Rules and fixtures are written by `rulecode`. Qualitative
pairs are capped at 40% of the corpus, and the split is seeded and fixed.

The clause text is Crown copyright, Open Government Licence v3.0 (see uk-approved-documents/NOTICE.md).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from clauselens.corpus.curation import OVERRIDES, REVIEWED_OUT
from clauselens.corpus.extract import ATTRIBUTION, Extraction, extract_corpus, list_items
from clauselens.corpus.reading import qualitative_checks, quantitative_checks
from clauselens.corpus.rulecode import Check, fixtures, render_rule
from clauselens.records import Clause, RulePair
from clauselens.store import atomic_write

MAX_TEXT_CHARS = 900
QUANTITATIVE_SHARE = 0.6
SPLIT_SEED = 0
TEST_FRACTION, VAL_FRACTION = 0.2, 0.1


@dataclass
class BuildReport:
    """Why clauses did or did not become pairs."""

    considered: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    candidates: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str, clause: Clause) -> None:
        self.rejected[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < 5:
            shown.append(f"{clause.clause_id}: {clause.text[:140]}")


HEADER_KEY = "_attribution"
CORPUS_DIR = Path(__file__).with_name("uk-approved-documents")
PAIRS_PATH = Path(__file__).with_name("data") / "pairs.jsonl"


def _order_key(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def _text_key(pair: RulePair) -> str:
    """Pairs with the same clause text (B volume 1 and 2 repeat paragraphs) always share a split."""
    return " ".join(pair.clause.text.lower().split())


def assign_split(
    pairs: list[RulePair], seed: int, test_fraction: float, val_fraction: float
) -> list[RulePair]:
    """Seeded split, stratified by kind, whole groups of identical clause texts at a time.

    The same seed and pairs always give the same split; no clause text is in two splits.
    """
    split_of: dict[str, str] = {}
    for kind in ("quantitative", "qualitative"):
        groups = sorted(
            {_text_key(p) for p in pairs if p.kind == kind} - set(split_of), key=lambda k: _order_key(seed, k)
        )
        n_test, n_val = round(len(groups) * test_fraction), round(len(groups) * val_fraction)
        for i, key in enumerate(groups):
            split_of[key] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return [p.model_copy(update={"split": split_of[_text_key(p)]}) for p in pairs]


def _reading(clause: Clause) -> tuple[str, list[Check] | str]:
    """(kind, checks) for a clause, or (kind, reason) when it yields no rule."""
    if clause.clause_id in REVIEWED_OUT:
        return "reviewed", REVIEWED_OUT[clause.clause_id]
    if clause.clause_id in OVERRIDES:
        checks = OVERRIDES[clause.clause_id]
        return ("quantitative" if any(c.op != "is" for c in checks) else "qualitative"), checks
    if len(clause.text) > MAX_TEXT_CHARS:
        return "any", "text too long"
    checks = quantitative_checks(clause)
    if checks != "no numeric constraint":
        return "quantitative", checks
    return "qualitative", qualitative_checks(clause)


def _diverse_first(pairs: list[RulePair]) -> list[RulePair]:
    """Pairs ordered so that each distinct rule comes once before any rule comes twice (seeded)."""
    by_rule: dict[str, list[RulePair]] = {}
    for p in sorted(pairs, key=lambda p: _order_key(SPLIT_SEED, p.clause.clause_id)):
        by_rule.setdefault(p.rule, []).append(p)
    ranked = [
        (i, _order_key(SPLIT_SEED, p.clause.clause_id), p)
        for group in by_rule.values()
        for i, p in enumerate(group)
    ]
    return [p for *_, p in sorted(ranked, key=lambda r: (r[0], r[1]))]


def build_pairs(extraction: Extraction) -> tuple[list[RulePair], BuildReport]:
    """All pairs the tables and overrides support, qualitative ones capped at about 40%, then split.

    A paragraph that yields no rule is tried item by item (`extract.list_items`: "1.15a", "1.15b"), so
    one unreadable list item does not cost the others.
    """
    report = BuildReport()
    found: dict[str, list[RulePair]] = {"quantitative": [], "qualitative": []}
    for clause in extraction.clauses:
        report.considered += 1
        kind, checks = _reading(clause)
        readings = [(clause, kind, checks)]
        if isinstance(checks, str):
            readings = [(item, *_reading(item)) for item in list_items(clause)] or readings
            if not any(not isinstance(c, str) for _, _, c in readings):
                reason = {"any": checks, "reviewed": "rejected on review (curation.REVIEWED_OUT)"}.get(
                    kind, f"{kind}: {checks}"
                )
                report.reject(reason, clause)
                continue
        for source, kind, checks in readings:
            if isinstance(checks, str):
                continue
            report.candidates[kind] += 1
            found[kind].append(
                RulePair(
                    clause=source,
                    rule=render_rule(checks),
                    kind=kind,
                    fixtures=fixtures(checks, source.clause_id),
                )
            )
    quantitative, qualitative = found["quantitative"], found["qualitative"]
    keep = round(len(quantitative) * (1 - QUANTITATIVE_SHARE) / QUANTITATIVE_SHARE)
    if len(qualitative) > keep:
        chosen = {p.clause.clause_id for p in _diverse_first(qualitative)[:keep]}
        report.rejected["qualitative beyond the 60/40 balance"] = len(qualitative) - keep
        qualitative = [p for p in qualitative if p.clause.clause_id in chosen]
    order = {c.clause_id: i for i, c in enumerate(extraction.clauses)}
    pairs = sorted(
        quantitative + qualitative,
        key=lambda p: (
            order.get(p.clause.clause_id.rstrip("abcdefghijklmnopqrstuvwxyz"), 0),
            p.clause.clause_id,
        ),
    )
    return assign_split(pairs, SPLIT_SEED, TEST_FRACTION, VAL_FRACTION), report


def write_pairs(pairs: list[RulePair], path: Path, sources: dict[str, str]) -> None:
    """JSONL, one pair per line after a header line carrying the OGL attribution; written atomically."""
    with atomic_write(path) as fh:
        header = {HEADER_KEY: ATTRIBUTION, "_built_by": "clauselens corpus build", "_pairs": len(pairs)}
        fh.write(json.dumps(header) + "\n")
        for pair in pairs:
            row = {**pair.row(), "fixtures": pair.fixtures}
            row["source"] = sources.get(pair.clause.clause_id) or sources.get(
                pair.clause.clause_id.rstrip("abcdefghijklmnopqrstuvwxyz"), ""
            )
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    path.chmod(0o644)  # package data: readable by everyone, like the rest of the tree


def build_corpus(folder: Path = CORPUS_DIR, out: Path = PAIRS_PATH) -> tuple[list[RulePair], BuildReport]:
    """Extract, build and write the open corpus (the command behind `clauselens corpus build`)."""
    extraction = extract_corpus(folder)
    pairs, report = build_pairs(extraction)
    write_pairs(pairs, out, extraction.sources)
    return pairs, report
