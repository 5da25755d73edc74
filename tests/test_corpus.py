"""Clause extraction, constraint detection, the rule builder and the shipped open corpus."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from clauselens.corpus import (
    builtin_clause_texts,
    builtin_pairs,
    extract_clauses,
    extract_corpus,
    verify_pairs,
)
from clauselens.corpus.constraints import find_constraints, is_quantitative
from clauselens.corpus.extract import document_name, list_items
from clauselens.corpus.ligatures import repair_table, repair_text
from clauselens.corpus.rulebook import CORPUS_DIR, PAIRS_PATH, build_pairs
from clauselens.corpus.rulecode import Check, fixtures, render_rule
from clauselens.records import Clause


@pytest.fixture(scope="module")
def corpus():
    return extract_corpus(CORPUS_DIR)


@pytest.fixture(scope="module")
def pairs():
    return builtin_pairs()


def _clause(extraction, clause_id):
    return next(c for c in extraction.clauses if c.clause_id == clause_id)


# -- extraction ---------------------------------------------------------------------------------------


def test_document_names():
    assert document_name("Approved_Document_B_vol_1.txt") == "B-vol1"
    assert document_name("Approved_Document_L_Volume_2.txt") == "L-vol2"
    assert document_name("Approved_Document_F_V1.txt") == "F-vol1"
    assert document_name("Doc_A.txt") == "A"
    assert document_name("Approved_Doc_G.txt") == "G"
    assert document_name("Approved_Document_7.txt") == "7"


def test_k_1_12_is_extracted_exactly():
    ex = extract_clauses(CORPUS_DIR / "Approved_Document_K.txt")
    k112 = _clause(ex, "K:1.12")
    assert k112.document == "K" and k112.paragraph == "1.12"
    assert (
        k112.text
        == "Provide all means of escape routes with a minimum clear headroom of 2m, except in doorways."
    )
    assert k112.title == "Headroom for stairs"
    assert ex.sources["K:1.12"] == "Approved_Document_K.txt:989"


def test_wrapped_lines_and_list_items_are_joined():
    ex = extract_clauses(CORPUS_DIR / "Approved_Document_K.txt")
    k115 = _clause(ex, "K:1.15")
    assert k115.text.startswith(
        "For flights of stairs, provide all of the following. a. A minimum stair width between enclosing "
        "walls, strings or upstands of 1200mm. b. A minimum width between handrails of 1000mm."
    )
    k17 = _clause(ex, "K:1.7")  # wraps over two printed lines in item a.
    assert "a minimum of 55mm wide, on both the tread and the riser." in k17.text
    # paragraph 1.8 lost its number in the extraction: its text is reported, not glued to 1.7
    assert "soffit" not in k17.text
    assert ex.skipped["unnumbered text after a gap in numbering"] >= 1
    for clause in ex.clauses:
        assert "\n" not in clause.text and "  " not in clause.text


def test_skip_report_counts_and_examples():
    ex = extract_clauses(CORPUS_DIR / "Approved_Document_K.txt")
    for reason in ("page furniture", "diagram or table caption", "table or diagram text", "note"):
        assert ex.skipped[reason] > 0, reason
        assert ex.examples[reason] and ex.examples[reason][0].startswith("Approved_Document_K.txt:")
    assert any("Approved Document K, 2013 edition" in e for e in ex.examples["page furniture"])
    assert not any(c.text.startswith("Approved Docu") for c in ex.clauses)


def test_corpus_dedupes_the_two_extractions_of_g_and_a(corpus):
    ids = [c.clause_id for c in corpus.clauses]
    assert len(ids) == len(set(ids))
    assert corpus.skipped["duplicate from a second extraction of the document"] > 100
    g = [c for c in corpus.clauses if c.document == "G"]
    assert len(g) >= 140  # the two G files together, each paragraph once
    # the kept G 1.1 comes from the extraction with intact ligatures
    assert corpus.sources["G:1.1"].startswith("Approved_Doc_G.txt")
    report = corpus.report()
    assert report["clauses"] > 3000 and len(report["clauses_by_document"]) >= 20
    assert "Open Government Licence" in report["attribution"]


def test_builtin_clause_texts_are_all_extracted_clauses(corpus):
    texts = builtin_clause_texts()
    assert texts == [c.text for c in corpus.clauses]
    assert (
        "Provide all means of escape routes with a minimum clear headroom of 2m, except in doorways." in texts
    )


def test_numbering_restarting_per_requirement_is_qualified(corpus):
    h = {c.paragraph for c in corpus.clauses if c.document == "H"}
    assert {"H1-1.5", "H2-1.5"} <= h


def test_ligatures_are_repaired_from_corpus_evidence(corpus):
    table = repair_table(
        Counter({"fire": 50, "re": 10, "at": 500, "flat": 40, "replace": 3, "fireplace": 30})
    )
    assert table["re"] == "fire"
    assert "at" not in table and "replace" not in table
    assert repair_text("a re resistance rating", table) == ("a fire resistance rating", 1)
    assert corpus.repaired_words > 0
    b = [c.text for c in corpus.clauses if c.document.startswith("B-")]
    assert not any(re.search(r"\bre resist", t) for t in b)


def test_list_items_become_sub_clauses(corpus):
    items = list_items(_clause(corpus, "K:1.15"))
    assert [i.clause_id for i in items[:2]] == ["K:1.15a", "K:1.15b"]
    assert items[0].text.startswith("For flights of stairs, provide all of the following. a. A minimum stair")
    assert "b." not in items[0].text
    assert list_items(Clause(clause_id="X:1", document="X", paragraph="1", text="No list here.")) == []


# -- constraints and rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "low", "high", "unit"),
    [
        ("with a minimum clear headroom of 2m, except", "min", 2000, None, "mm"),
        ("a rise of not more than 220mm", "max", None, 220, "mm"),
        ("between 900mm and 1000mm above", "range", 900, 1000, "mm"),
        ("fire resisting construction (minimum REI 30)", "min", 30, None, "min"),
        ("a minimum equivalent area of 4000mm2", "min", 0.004, None, "m2"),
        ("at least 45,000 litres", "min", 45000, None, "l"),
    ],
)
def test_constraints_found(text, op, low, high, unit):
    (c,) = find_constraints(text)
    assert (c.op, c.low, c.high, c.unit) == (op, low, high, unit)


def test_conditions_are_not_constraints():
    assert find_constraints("If the flight is more than 2m wide, divide it into flights.") == []
    assert not is_quantitative("Use risers that are not open.")
    assert is_quantitative("Landings should be a minimum of 1200mm long.")


def test_rendered_rule_and_fixtures_bracket_the_limit():
    checks = [Check("door", "clear_width_mm", "min", "clear width", "mm", low=775)]
    rule = render_rule(checks)
    assert rule.splitlines()[2] == '    for door in model.elements("door"):'
    assert "clear_width is not None and clear_width >= 775" in rule
    fx = fixtures(checks, "X:1")
    assert [(f["name"], f["expect_compliant"]) for f in fx] == [("inside", True), ("outside", False)]
    assert [f["building"]["elements"][0]["props"]["clear_width_mm"] for f in fx] == [775, 774]
    fx = fixtures([Check("space", "area_m2", "max", "area", "m2", high=0.33)], "X:2")
    assert [f["building"]["elements"][0]["props"]["area_m2"] for f in fx] == [0.33, 0.331]


# -- the shipped corpus -------------------------------------------------------------------------------


def test_shipped_corpus_size_mix_and_documents(pairs):
    assert len(pairs) >= 300
    kinds = Counter(p.kind for p in pairs)
    assert 0.55 <= kinds["quantitative"] / len(pairs) <= 0.7
    assert len({p.clause.document for p in pairs}) >= 10
    assert len({p.clause.clause_id for p in pairs}) == len(pairs)


def test_shipped_file_has_attribution_header():
    header = json.loads(PAIRS_PATH.read_text().splitlines()[0])
    assert "Open Government Licence v3.0" in header["_attribution"]
    assert header["_pairs"] == len(builtin_pairs())


def test_rules_are_short_regular_and_compile(pairs):
    for p in pairs:
        lines = p.rule.splitlines()
        assert lines[0] == "def check_rule(model):" and lines[-1] == "    return findings", p.clause.clause_id
        assert 6 <= len(lines) <= 12, p.clause.clause_id
        compile(p.rule, p.clause.clause_id, "exec")


def test_every_quantitative_pair_has_inside_and_outside_fixtures(pairs):
    for p in pairs:
        expect = {f["name"]: f["expect_compliant"] for f in p.fixtures}
        if p.kind == "quantitative":
            assert expect.get("inside") is True and expect.get("outside") is False, p.clause.clause_id
        elif p.fixtures:  # qualitative yes/no rules get a fixture pair too
            assert set(expect.values()) == {True, False}
    assert sum(1 for p in pairs if p.kind == "qualitative" and p.fixtures) >= 100


def test_stored_split_is_fixed_disjoint_and_text_grouped(pairs):
    assert [p.split for p in pairs] == [p.split for p in builtin_pairs()]
    by_split = {s: {p.clause.clause_id for p in pairs if p.split == s} for s in ("train", "val", "test")}
    assert all(by_split.values())
    assert not (by_split["train"] & by_split["test"]) and not (by_split["val"] & by_split["test"])
    text_splits: dict[str, set[str]] = {}
    for p in pairs:
        text_splits.setdefault(" ".join(p.clause.text.lower().split()), set()).add(p.split)
    assert all(len(s) == 1 for s in text_splits.values())  # B vol 1 / vol 2 twins never straddle splits
    assert 0.15 <= len(by_split["test"]) / len(pairs) <= 0.25


def test_build_reproduces_the_shipped_file(corpus, pairs):
    rebuilt, report = build_pairs(corpus)
    assert [(p.clause.clause_id, p.rule, p.split, p.fixtures) for p in rebuilt] == [
        (p.clause.clause_id, p.rule, p.split, p.fixtures) for p in pairs
    ]
    assert report.rejected["text too long"] > 0


def test_verify_sample_passes_and_catches_a_wrong_rule(pairs):
    result = verify_pairs(pairs, sample=24, workers=2)
    assert len(result.checked) == 24 and result.failures == []
    assert result.fixtures_run >= 48
    k112 = next(p for p in pairs if p.clause.clause_id == "K:1.12")
    strict = k112.model_copy(update={"rule": k112.rule.replace(">= 2000", "> 2000")})
    lax = k112.model_copy(update={"rule": k112.rule.replace(">= 2000", ">= 1900")})
    no_fixtures = k112.model_copy(update={"fixtures": []})
    reasons = [why for _, why in verify_pairs([strict], workers=1).failures]
    assert reasons == ["fixture 'inside': verdict False, expected True"]
    reasons = [why for _, why in verify_pairs([lax], workers=1).failures]
    assert reasons == ["fixture 'outside': verdict True, expected False"]
    reasons = [why for _, why in verify_pairs([no_fixtures], workers=1).failures]
    assert reasons and "needs 'inside' and 'outside'" in reasons[0]
