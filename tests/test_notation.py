"""Rules in a notation other than Python: parsed by its own grammar, Python-only metrics absent, never 0."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clauselens.config import ConfigError, ScoringConfig, load_config
from clauselens.records import Clause, RulePair
from clauselens.run import run_study
from clauselens.score import score_pair
from clauselens.score.notation import FUNCTIONAL_GRAMMAR, Notation, notation_for
from clauselens.store import Store
from clauselens.tables import SCORE_SUMMARY, SCORES

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_study.toml"
FUNCTIONAL = Notation("functional", FUNCTIONAL_GRAMMAR)
SPACES = ["corridor", "stair", "doorway", "landing", "ramp", "lobby", "balcony", "loft"]
WHAT = [("width", "wide"), ("headroom", "high"), ("length", "long")]


def functional_rows() -> list[dict[str, str]]:
    """24 clauses with rules in the functional notation a user reported (`if(and(has(...)))...`)."""
    rows = []
    for i in range(24):
        space, (quantity, adjective) = SPACES[i % len(SPACES)], WHAT[i % len(WHAT)]
        value = f"{0.8 + 0.1 * i:.1f}m"
        rows.append({
            "clause_id": f"U:{i + 1}",
            "text": f"Every {space} with an opening shall be at least {value} {adjective}.",
            "rule": f"if(and(has({space},opening),lt({quantity}({space}),{value}))),"
                    f"then(obligation(increase({quantity}, min={value})))",
        })
    return rows


def test_functional_rules_parse_and_python_rules_do_not():
    for row in functional_rows():
        assert FUNCTIONAL.syntax_valid(row["rule"]).value == 1.0
    assert FUNCTIONAL.syntax_valid("if(and(has(space,opening)").value == 0.0  # unbalanced
    assert FUNCTIONAL.syntax_valid("def check_rule(model):\n    return []").value == 0.0


def test_tree_edit_distance_is_over_the_notations_own_tree():
    # start -> call -> (NAME:h, NUMBER:2.0m): 4 nodes; changing the number is one rename -> 1/4
    assert FUNCTIONAL.tree_edit_distance("h(2.0m)", "h(2.1m)").value == pytest.approx(0.25)
    # adding an argument: one insertion into a 4-node tree, over the larger (5-node) tree -> 1/5
    assert FUNCTIONAL.tree_edit_distance("h(2.0m)", "h(2.0m, x)").value == pytest.approx(0.2)
    assert FUNCTIONAL.tree_edit_distance("h(2.0m)", "h(").value == 1.0


def test_a_users_lark_grammar(tmp_path):
    grammar = tmp_path / "rules.lark"
    grammar.write_text('start: "REQUIRE" NAME ">=" NUMBER\nNAME: /[a-z]+/\nNUMBER: /[0-9.]+/\n%ignore " "\n')
    cfg = load_config(TINY, {"output_dir": str(tmp_path / "o"), "data.rule_language": "lark",
                             "data.rule_grammar": str(grammar)})
    notation = notation_for(cfg)
    assert notation.syntax_valid("REQUIRE width >= 0.8").value == 1.0
    assert notation.syntax_valid("REQUIRE width 0.8").value == 0.0
    with pytest.raises(ConfigError, match="rule_grammar is required"):
        load_config(TINY, {"data.rule_language": "lark"})
    with pytest.raises(ConfigError, match=r"data.rule_grammar: grammar file not found"):
        load_config(TINY, {"data.rule_language": "lark", "data.rule_grammar": str(tmp_path / "none.lark")})
    grammar.write_text("start: (\n")
    with pytest.raises(ConfigError, match=r"rules.lark: data.rule_grammar: not a valid Lark grammar"):
        notation_for(cfg)


def test_python_only_metrics_are_absent_not_zero():
    row = functional_rows()[0]
    pair = RulePair(clause=Clause(clause_id="U:1", document="U", paragraph="1", text=row["text"]),
                    rule=row["rule"], kind="quantitative", split="test")
    as_python = score_pair(row["rule"], row["rule"], pair, ScoringConfig())
    assert as_python["syntax_valid"] == 0.0  # the bug the notation setting fixes
    scored = score_pair(row["rule"], row["rule"], pair, ScoringConfig(), notation=FUNCTIONAL)
    assert scored["syntax_valid"] == 1.0 and scored["tree_edit_distance"] == 0.0
    assert "verdict_accuracy" not in scored


@pytest.mark.slow
def test_user_csv_in_a_functional_notation_gets_no_notation_syntax_errors(tmp_path):
    data = tmp_path / "functional.csv"
    with data.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["clause_id", "text", "rule"])
        writer.writeheader()
        writer.writerows(functional_rows())
    cfg = load_config(TINY, {
        "output_dir": str(tmp_path / "run"), "data.source": str(data), "data.split": "random",
        "data.rule_language": "functional", "data.max_test": 3,
        "strategies.qlora.enabled": False, "strategies.lora.enabled": False,
        "attribution.max_clauses": 1, "attribution.faithfulness": False, "compare.enabled": False,
    })
    report = run_study(cfg)
    from test_report import traced
    with Store(cfg.output_dir) as store:
        scores = store.read(SCORES)
        summary = store.read(SCORE_SUMMARY)
    syntax = scores[scores["metric"] == "syntax_valid"]
    assert len(syntax) == 3
    # a 0 may only be the model's own malformed output under the functional grammar, never Python's verdict
    details = [d or "" for d in syntax["detail"]]
    assert all(d == "" or d.startswith("does not parse as functional") for d in details), details
    assert not any("syntax error" in d for d in scores["detail"])
    assert "verdict_accuracy" not in set(scores["metric"]) | set(summary["metric"])
    assert "tree_edit_distance" in set(summary["metric"])
    shown = [json.dumps(el) for el in traced(report.read_text()).found]  # the report's numbers
    assert any("syntax_valid" in el for el in shown)
    assert not any("verdict_accuracy" in el for el in shown)
