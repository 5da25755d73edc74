"""The vocabulary documents every kind and property the shipped reference rules use."""

import ast

from clauselens.corpus import builtin_pairs
from clauselens.rules.vocabulary import KINDS, PROPERTIES


def test_corpus_rules_use_only_documented_kinds_and_properties():
    undocumented = set()
    for pair in builtin_pairs():
        for fixture in pair.fixtures:
            for element in fixture["building"]["elements"]:
                assert element["kind"] in KINDS, (pair.clause.clause_id, element["kind"])
                undocumented |= {(element["kind"], p) for p in element.get("props", {})
                                 if p not in PROPERTIES[element["kind"]]}
        for node in ast.walk(ast.parse(pair.rule)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "elements":
                assert node.args[0].value in KINDS, (pair.clause.clause_id, node.args[0].value)
    assert not undocumented, sorted(undocumented)[:10]
