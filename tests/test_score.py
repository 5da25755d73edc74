"""Metrics with known answers on hand-made rules, batched scoring, and the score stage on a tmp store."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import clauselens.score.stage as stage
from clauselens.config import ExperimentConfig, ModelConfig, ScoringConfig
from clauselens.records import Clause, Generation, RulePair
from clauselens.score import METRICS, score_generations, score_pair, score_run
from clauselens.score.code_metrics import ast_tree, bleu, python_tokens
from clauselens.score.embedding import load_embedder
from clauselens.score.embedding_metrics import greedy_match_f
from clauselens.store import Store
from clauselens.tables import CELLS, GENERATIONS, PAIRS, SCORE_SUMMARY, SCORES, TESTS

REFERENCE = '''def check_rule(model):
    findings = []
    for door in model.elements("door"):
        width = door.get("clear_width_mm")
        ok = width is not None and width >= 800
        findings.append(Finding(door.id, ok, f"clear width {width} mm; at least 800 mm required"))
    return findings
'''
WRONG_THRESHOLD = REFERENCE.replace("800", "840")
SYNTAX_ERROR = "def check_rule(model):\n    findings = [\n    return findings\n"
FORBIDDEN = "import os\n\ndef check_rule(model):\n    os.listdir('/')\n    return []\n"


def door_building(name: str, width_mm: float) -> dict:
    return {"name": name, "elements": [{"kind": "storey", "id": "storey-1"},
                                       {"kind": "door", "id": "door-1", "props": {"clear_width_mm": width_mm},
                                        "parent": "storey-1"}]}


def door_pair(clause_id: str = "M:2.13", fixtures: bool = True, kind: str = "quantitative") -> RulePair:
    widths = {"wide": 850, "narrow": 780, "just-wide-enough": 820}
    return RulePair(
        clause=Clause(clause_id=clause_id, document=clause_id.split(":")[0],
                      paragraph=clause_id.split(":")[1], title="Door widths",
                      text="Every door shall have a clear width of at least 800 mm."),
        rule=REFERENCE, kind=kind, split="test",
        fixtures=[{"name": n, "expect_compliant": w >= 800, "building": door_building(n, w)}
                  for n, w in widths.items()] if fixtures else [])


def test_identical_rules_are_perfect() -> None:
    scores = score_pair(REFERENCE, REFERENCE, door_pair(), ScoringConfig())
    assert set(scores) == set(METRICS)
    for name in ("semantic_similarity", "token_f1", "token_f3"):
        assert scores[name] == pytest.approx(1.0, abs=1e-5)
    assert scores["bleu"] == pytest.approx(1.0)
    assert scores["levenshtein"] == 0.0
    assert scores["tree_edit_distance"] == 0.0
    assert scores["syntax_valid"] == 1.0
    assert scores["verdict_accuracy"] == 1.0


def test_wrong_threshold_reads_alike_but_fails_execution() -> None:
    scores = score_pair(REFERENCE, WRONG_THRESHOLD, door_pair(), ScoringConfig())
    assert scores["semantic_similarity"] > 0.95
    assert scores["token_f1"] > 0.95
    assert scores["syntax_valid"] == 1.0
    # two tokens differ (the number, and the message string that quotes it), two AST constants
    assert scores["levenshtein"] == pytest.approx(2 / len(python_tokens(REFERENCE)[0]))
    assert scores["tree_edit_distance"] == pytest.approx(2 / ast_tree(REFERENCE).size())
    assert 0.5 < scores["bleu"] < 1.0
    # the 820 mm door passes the clause but not a >= 840 rule: wrong on exactly one of three fixtures
    assert scores["verdict_accuracy"] == pytest.approx(2 / 3)
    detail = score_generations([door_pair()], [Generation(cell_id="c", clause_id="M:2.13", raw="",
                                                          rule=WRONG_THRESHOLD, n_new_tokens=0)],
                               ScoringConfig(metrics=["verdict_accuracy"]), progress=False)["detail"].item()
    assert detail == "wrong on: just-wide-enough"


def test_broken_rules_are_counted_not_crashed_on() -> None:
    cfg = ScoringConfig()
    gens = [Generation(cell_id="c", clause_id="M:2.13", raw="", rule=rule, n_new_tokens=0)
            for rule in (SYNTAX_ERROR, FORBIDDEN, "")]
    table = score_generations([door_pair()], gens, cfg, progress=False)
    assert len(table) == 3 * len(METRICS)
    by = {(row.rule_no, row.metric): row for row in
          table.assign(rule_no=np.repeat([0, 1, 2], len(METRICS))).itertuples()}
    assert by[0, "syntax_valid"].value == 0.0 and "line 2" in by[0, "syntax_valid"].detail
    assert by[0, "verdict_accuracy"].value == 0.0
    assert by[0, "verdict_accuracy"].detail.startswith("syntax_error:")
    assert by[0, "tree_edit_distance"].value == 1.0
    assert 0 < by[0, "levenshtein"].value < 1
    assert by[1, "syntax_valid"].value == 1.0
    assert by[1, "verdict_accuracy"].value == 0.0
    assert by[1, "verdict_accuracy"].detail.startswith("forbidden_import:")
    assert by[2, "syntax_valid"].value == 0.0
    assert by[2, "syntax_valid"].detail == "defines no top-level check_rule function"
    assert by[2, "token_f1"].value == 0.0 and by[2, "bleu"].value == 0.0
    assert table["value"].notna().all()


def test_clause_without_fixtures_has_no_verdict_score() -> None:
    cfg = ScoringConfig(metrics=["verdict_accuracy"])
    scores = score_pair(REFERENCE, REFERENCE, door_pair(fixtures=False), cfg)
    assert math.isnan(scores["verdict_accuracy"])


def test_batched_scores_equal_pair_scores() -> None:
    cfg = ScoringConfig(metrics=["semantic_similarity", "token_f3", "bleu", "tree_edit_distance"])
    pairs = [door_pair("M:2.13"), door_pair("M:2.14", fixtures=False)]
    rules = [REFERENCE, WRONG_THRESHOLD, SYNTAX_ERROR]
    gens = [Generation(cell_id=f"m/lora/s{k}", clause_id=p.clause.clause_id, raw="", rule=r, n_new_tokens=0)
            for k, r in enumerate(rules) for p in pairs]
    table = score_generations(pairs, gens, cfg, progress=False)
    assert list(table.columns) == ["cell_id", "clause_id", "metric", "value", "detail"]
    for g in gens:
        single = score_pair(REFERENCE, g.rule, pairs[0], cfg)
        rows = table[(table.cell_id == g.cell_id) & (table.clause_id == g.clause_id)]
        got = rows.set_index("metric")["value"]
        assert got.to_dict() == pytest.approx(single, abs=1e-6)


def test_greedy_matching_known_answer() -> None:
    e1, e2 = np.eye(2)
    # generated covers one of two reference tokens exactly: P = 1, R = 1/2
    assert greedy_match_f(np.stack([e1, e2]), e1[None], beta=1.0) == pytest.approx(2 * 0.5 / 1.5)
    assert greedy_match_f(np.stack([e1, e2]), e1[None], beta=3.0) == pytest.approx(10 * 0.5 / (9 + 0.5))
    assert greedy_match_f(np.stack([e1, e2]), np.zeros((0, 2)), beta=1.0) == 0.0


def test_bleu_bounds() -> None:
    assert bleu("a = b + c", "x = y - z").value < 0.2
    assert bleu("a = b + c", "a=b+c").value == pytest.approx(1.0)  # Python tokens, not characters


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="scoring.metrics: unknown metric"):
        score_pair(REFERENCE, REFERENCE, door_pair(), ScoringConfig(metrics=["bleu", "rouge"]))
    with pytest.raises(ValueError, match="scoring.embedder: unknown builtin"):
        load_embedder("builtin:nope")
    with pytest.raises(ValueError, match="no pair has clause_id 'X:1'"):
        score_generations([door_pair()], [Generation(cell_id="c", clause_id="X:1", raw="", rule="",
                                                     n_new_tokens=0)], ScoringConfig(), progress=False)


def test_score_run_is_idempotent(tmp_path, monkeypatch) -> None:
    metrics = ["semantic_similarity", "levenshtein", "verdict_accuracy"]
    cfg = ExperimentConfig(models=[ModelConfig(name="s", id="x")], scoring=ScoringConfig(metrics=metrics))
    pairs = [door_pair("M:2.13"), door_pair("M:2.14", kind="qualitative")]
    cells = [{"cell_id": f"{m}/lora/s0", "model": m, "params": p, "strategy": "lora", "seed": 0,
              "status": "done", "error": ""} for m, p in (("small", 1_000_000), ("large", 4_000_000))]
    gens = [Generation(cell_id=c["cell_id"], clause_id=p.clause.clause_id, raw="", n_new_tokens=1,
                       rule=WRONG_THRESHOLD if c["model"] == "small" else REFERENCE)
            for c in cells for p in pairs]
    calls: list[int] = []

    def counting(pairs, generations, cfg, progress=True, **kwargs):
        calls.append(len(generations))
        return score_generations(pairs, generations, cfg, progress, **kwargs)

    monkeypatch.setattr(stage, "score_generations", counting)
    with Store(tmp_path) as store:
        store.upsert(PAIRS, [p.row() for p in pairs])
        store.upsert(CELLS, cells)
        store.upsert(GENERATIONS, [g.model_dump() for g in gens[:3]])
        score_run(store, cfg, progress=False)
        store.upsert(GENERATIONS, [gens[3].model_dump()])
        score_run(store, cfg, progress=False)
        first = {t.name: _sorted(store.read(t)) for t in (SCORES, SCORE_SUMMARY)}
        assert store.read(TESTS).empty and TESTS.owner == "analyse"  # the plateau tests are analyse's
        score_run(store, cfg, progress=False)
        assert calls == [3, 1]  # the resumed run scored only the new generation, the third nothing
        for table, before in first.items():
            pd.testing.assert_frame_equal(_sorted(store.read(table)), before)
    scores = first["scores"]
    assert len(scores) == 4 * 3
    large = scores[(scores.cell_id == "large/lora/s0") & (scores.metric == "verdict_accuracy")]
    assert large["value"].tolist() == [1.0, 1.0]
    summary = first["score_summary"].set_index(["cell_id", "metric", "subset"])
    assert summary.loc[("small/lora/s0", "verdict_accuracy", "all"), "mean"] == pytest.approx(2 / 3)
    assert summary.loc[("small/lora/s0", "levenshtein", "qualitative"), "n"] == 1
    assert ("small/lora/s0", "semantic_similarity", "doc:M") in summary.index


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns[:4])).reset_index(drop=True)
