"""Models that read the clause: pretraining text, generation bound, reading diagnostics, constraint_match."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from clauselens.corpus import builtin_clause_texts, builtin_pairs
from clauselens.corpus.constraints import find_constraints
from clauselens.executor import LocalExecutor
from clauselens.generate.dependence import clause_dependence
from clauselens.generate.generation import rule_token_bound
from clauselens.models.pretrain import train_tokenizer
from clauselens.models.synthetic import pretraining_mix, synthetic_pair
from clauselens.prompt import render_prompt
from clauselens.records import Clause
from clauselens.report.reading import reading_section, unread_cells
from clauselens.report.run_data import load_run_data
from clauselens.score.constraint_match import constraint_match
from clauselens.score.diagnostics import diagnostic_rows
from clauselens.store import Store
from clauselens.tables import CELLS, SCORE_SUMMARY


def test_no_test_clause_in_pretraining_or_fine_tuning_text() -> None:
    stored = builtin_pairs()
    tests = [p.clause.text for p in stored if p.split == "test"]
    texts = pretraining_mix(builtin_clause_texts(), [p for p in stored if p.split == "train"],
                            [p.clause.text for p in stored if p.split != "train"])
    blob = "\x00".join(texts)
    assert not [t for t in tests if t in blob]
    fine_tuning = "\x00".join(render_prompt(p.clause).text + p.rule for p in stored if p.split == "train")
    assert not [t for t in tests if t in fine_tuning]
    assert len(blob) > 1_000_000  # the mix is not empty: synthetic programs, prose, stdlib


def test_synthetic_rules_copy_the_clause_numbers() -> None:
    """The clause's limits, read by the corpus's own constraint finder, are the rule's limits."""
    import random

    rng = random.Random(7)
    checked = 0
    for i in range(300):
        clause, rule = synthetic_pair(rng, i, prose=())
        found = [c for c in find_constraints(clause.text) if c.unit in ("mm", "m2", "min", "deg")]
        for c in found:
            bound = c.low if c.op in ("min", "range") else c.high
            assert f"{bound:g}" in rule, (clause.text, rule)
            checked += 1
    assert checked > 100


@pytest.mark.parametrize(("generated", "expected"), [
    ('w = d.get("clear_width_mm")\nok = w is not None and w >= 800', 1.0),
    ('w = d.get("clear_width_mm")\nok = 800 <= w', 1.0),          # reversed comparison
    ('w = d.get("clear_width_mm")\nok = w >= 900', 0.0),          # wrong value
    ('w = d.get("clear_width_mm")\nok = w <= 800', 0.0),          # wrong comparator
    ('w = d.get("fire_resistance_min")\nok = w >= 800', 0.0),     # wrong unit
    ("", 0.0),
])
def test_constraint_match_single(generated: str, expected: float) -> None:
    reference = 'width = door.get("clear_width_mm")\nok = width is not None and width >= 800'
    assert constraint_match(reference, generated).value == expected


def test_constraint_match_range_and_qualitative() -> None:
    reference = 'g = r.get("going_mm")\nok = g is not None and 220 <= g <= 300'
    assert constraint_match(reference, 'x = r.get("going_mm")\nok = x >= 220').value == 0.5
    assert constraint_match(reference, 'x = r.get("going_mm")\nok = 220 <= x <= 300').value == 1.0
    assert math.isnan(constraint_match('ok = d.get("is_fire_door") is True', "anything").value)


def test_distinct_rules_and_truncated() -> None:
    gens = pd.DataFrame({
        "cell_id": ["c"] * 4, "clause_id": list("abcd"),
        "rule": ["def f(): A", "def f():  A", "def f(): B", "def f(): C"],  # whitespace aside: A A B C
        "truncated": [False, False, True, False], "clause_dependence": [0.1, None, 0.3, 0.2],
    })
    rows = diagnostic_rows(gens).groupby("metric")["value"]
    assert rows.mean()["distinct_rules"] == 0.5
    assert rows.mean()["truncated"] == 0.25
    assert rows.mean()["clause_dependence"] == pytest.approx(0.2)  # the missing one is not counted


def test_rule_token_bound() -> None:
    tokenizer = lambda text, add_special_tokens=False: {"input_ids": text.split()}  # noqa: E731
    assert rule_token_bound(tokenizer, ["a b c", "a b c d e f g"]) == 10  # (7 + 1) * 1.25
    assert rule_token_bound(tokenizer, ["a b c d e f"]) == 9  # (6 + 1) * 1.25 = 8.75 -> 9
    with pytest.raises(ValueError, match="max_new_tokens"):
        rule_token_bound(tokenizer, [])


class _Bigram(torch.nn.Module):
    """Next-token logits from the current token only: it cannot see the clause."""

    def __init__(self, vocab: int):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(0)))

    def forward(self, input_ids: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.table[input_ids])


class _Copier(_Bigram):
    """Favours every token already seen: its own clause's words become likelier."""

    def forward(self, input_ids: torch.Tensor) -> SimpleNamespace:
        seen = torch.zeros(input_ids.shape[0], input_ids.shape[1], self.table.shape[0])
        seen.scatter_(2, input_ids[:, :, None].expand(-1, -1, 1), 1.0)
        return SimpleNamespace(logits=self.table[input_ids] * 0 + 4.0 * seen.cummax(dim=1).values)


def test_clause_dependence_is_zero_for_a_blind_model_and_positive_for_a_reader() -> None:
    words = ["zebra", "walrus", "heron", "otter", "badger"]
    clauses = [Clause(clause_id=f"K:{i}", document="K", paragraph=str(i), title="", text=f"Use a {w}.")
               for i, w in enumerate(words)]
    tok = train_tokenizer([render_prompt(c).text + f"check {w}" for c, w in zip(clauses, words, strict=True)]
                          * 5, 400)
    outputs = [f"check {w}" for w in words]
    blind = clause_dependence(_Bigram(len(tok)), tok, clauses, outputs)
    assert all(abs(g) < 1e-5 for g in blind)
    reader = clause_dependence(_Copier(len(tok)), tok, clauses, outputs)
    assert all(g > 0.1 for g in reader)
    assert clause_dependence(_Bigram(len(tok)), tok, clauses[:1], outputs[:1]) == [None]  # nothing to compare


def test_local_workers_give_the_same_outcomes() -> None:
    items, keys = ["1", "x", "3"], ["a", "b", "c"]
    one = LocalExecutor(max_retries=1).map(int, items, keys)
    two = LocalExecutor(max_retries=1, workers=2).map(int, items, keys)
    def seen(outcomes: list) -> list:
        return [(o.key, o.ok, o.value, o.attempts) for o in outcomes]

    assert seen(one) == seen(two)
    assert [o.ok for o in two] == [True, False, True]


def test_report_flags_a_cell_that_does_not_read(tmp_path) -> None:  # noqa: ANN001
    store = Store(tmp_path)
    store.upsert(CELLS, [
        {"cell_id": f"m/{s}/s0", "model": "m", "params": 100, "strategy": s, "seed": 0, "status": "done"}
        for s in ("fft", "lora")])
    store.upsert(SCORE_SUMMARY, [
        {"cell_id": "m/fft/s0", "metric": "clause_dependence", "subset": "all", "mean": 0.2, "ci_low": 0.1,
         "ci_high": 0.3, "n": 12},
        {"cell_id": "m/lora/s0", "metric": "clause_dependence", "subset": "all", "mean": 0.01,
         "ci_low": -0.02, "ci_high": 0.04, "n": 12},
    ])
    data = load_run_data(store)
    assert unread_cells(data) == ["m/lora/s0"]
    html = reading_section(data).body
    assert html.count("<strong>no:") == 1
    assert "but not its limits" not in html  # constraint_match not measured: no claim either way
    store.upsert(SCORE_SUMMARY, [
        {"cell_id": "m/fft/s0", "metric": "constraint_match", "subset": "quantitative", "mean": 0.25,
         "ci_low": 0.0, "ci_high": 0.5, "n": 8},
        {"cell_id": "m/fft/s0", "metric": "constraint_match", "subset": "all", "mean": 0.9, "ci_low": 0.8,
         "ci_high": 1.0, "n": 8},  # the quantitative subset is the one shown, not `all`
    ])
    html = reading_section(load_run_data(store)).body
    assert html.count("but not its limits") == 1 and "0.25" in html
    store.close()
