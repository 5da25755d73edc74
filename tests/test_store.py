"""The experiment store: upserts replace by key, failed writes leave nothing behind, resume keys; the
declared schema (`clauselens.tables`) gives keys and refuses undeclared columns."""

import importlib

import pandas as pd
import pytest

from clauselens.records import Cell, Generation, RulePair, TestResult
from clauselens.store import Store, atomic_write
from clauselens.tables import CELLS, GENERATIONS, PAIRS, SCHEMA, SCORES, STAGES, TESTS


def test_upsert_replaces_rows_with_the_same_key(tmp_path):
    with Store(tmp_path) as store:
        store.upsert(
            SCORES,
            [
                {"cell_id": "a", "clause_id": "1", "metric": "m", "value": 0.5},
                {"cell_id": "a", "clause_id": "2", "metric": "m", "value": 0.7},
            ],
        )
        store.upsert(SCORES, [{"cell_id": "a", "clause_id": "2", "metric": "m", "value": 0.9}])
        df = store.read(SCORES).sort_values("clause_id")
        assert df["value"].tolist() == [0.5, 0.9]
        assert store.keys(SCORES, ["cell_id", "clause_id"]) == {("a", "1"), ("a", "2")}
        assert store.keys(SCORES) == {("a", "1", "m"), ("a", "2", "m")}  # the declared key
        assert store.done(SCORES, cell_id="a", clause_id="2")
        assert not store.done(SCORES, cell_id="b", clause_id="2")
        assert store.read("scores").equals(store.read(SCORES))  # a declared name is the same table


def test_declared_tables_refuse_undeclared_columns(tmp_path):
    with Store(tmp_path) as store:
        row = {"cell_id": "a", "clause_id": "1", "metric": "m", "value": 0.5}
        store.upsert(SCORES, [row])
        for table in (SCORES, "scores"):
            with pytest.raises(ValueError, match=r"\['typo'\] are not declared"):
                store.upsert(table, [{**row, "typo": 1}])
            with pytest.raises(ValueError, match=r"\['typo'\] are not declared"):
                store.replace(table, [{**row, "typo": 1}])
        store.upsert(SCORES, [{"cell_id": "b", "clause_id": "1", "metric": "m"}])  # may lack a declared one
        assert len(store.read(SCORES)) == 2
        with pytest.raises(ValueError, match="not declared; give its key"):
            store.upsert("undeclared", [{"k": 1}])


def test_replace_makes_the_table_hold_exactly_the_rows(tmp_path):
    with Store(tmp_path) as store:
        store.replace(SCORES, [])  # nothing to replace: no table made
        assert not store.has_table(SCORES)
        store.upsert(SCORES, [{"cell_id": c, "clause_id": "1", "metric": "m", "value": 1.0} for c in "ab"])
        assert store.replace(SCORES, [{"cell_id": "c", "clause_id": "1", "metric": "m", "value": 2.0}]) == 1
        assert store.read(SCORES)["cell_id"].tolist() == ["c"]
        store.replace(SCORES, pd.DataFrame(columns=["cell_id", "clause_id", "metric", "value"]))
        assert store.has_table(SCORES) and store.read(SCORES).empty


def test_all_none_declared_column_takes_its_declared_type(tmp_path):
    with Store(tmp_path) as store:
        store.upsert(TESTS, [{"family": "f", "test": "t", "metric": "m", "groups": "g", "p": None}])
        store.upsert(TESTS, [{"family": "f", "test": "t", "metric": "m", "groups": "h", "p": 0.5,
                              "ci_low": None}])
        types = dict(store.sql("SELECT column_name, data_type FROM information_schema.columns "
                               "WHERE table_name = 'tests'").values.tolist())
        assert types["p"] == types["ci_low"] == "DOUBLE" and types["groups"] == "VARCHAR"


def test_schema_matches_the_records_and_names_real_builders():
    assert set(SCHEMA) >= {"pairs", "cells", "training", "generations", "scores", "score_summary",
                           "attributions", "faithfulness", "category_shares", "focus", "tests", "hypotheses"}
    clause = {"clause_id": "K:0", "document": "d", "paragraph": "1", "title": "", "text": "x"}
    assert PAIRS.columns == tuple(RulePair.from_row({**clause, "rule": "r", "kind": "quantitative"}).row())
    assert set(CELLS.columns) == {*Cell.model_fields, "cell_id", "status", "error"}
    assert GENERATIONS.columns == tuple(Generation.model_fields)
    assert TESTS.columns == tuple(TestResult.model_fields)
    for table in SCHEMA.values():
        assert table.owner in STAGES and set(table.key) <= set(table.columns), table
        if table.rows:
            module, _, name = table.rows.partition(":")
            obj = importlib.import_module(module)
            for part in name.split("."):
                obj = getattr(obj, part)
            assert callable(obj), table.rows


def test_new_columns_are_added_and_data_survives_reopen(tmp_path):
    with Store(tmp_path) as store:
        store.upsert("t", [{"k": 1, "a": 1.0}], key=["k"])
        store.upsert("t", [{"k": 2, "a": 2.0, "b": "x"}], key=["k"])
    with Store(tmp_path) as store:
        df = store.read("t").sort_values("k")
        assert df["b"].tolist()[1] == "x" and pd.isna(df["b"].tolist()[0])


def test_failed_upsert_leaves_table_unchanged(tmp_path):
    with Store(tmp_path) as store:
        store.upsert("t", [{"k": 1, "a": 1.0}], key=["k"])
        with pytest.raises(ValueError, match="key column"):
            store.upsert("t", [{"a": 3.0}], key=["k"])
        bad = pd.DataFrame({"k": [1], "a": ["not a number"]})
        with pytest.raises(Exception):  # noqa: B017 - duckdb's conversion error type varies by version
            store.upsert("t", bad, key=["k"])
        assert store.read("t")["a"].tolist() == [1.0]


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_export_writes_csv_and_parquet(tmp_path):
    with Store(tmp_path / "run") as store:
        store.upsert("t", [{"k": 1, "a": 1.5}], key=["k"])
        paths = store.export(tmp_path / "tables")
    assert sorted(p.name for p in paths) == ["t.csv", "t.parquet"]
    assert pd.read_parquet(tmp_path / "tables" / "t.parquet")["a"].tolist() == [1.5]


def test_all_none_column_accepts_text_later(tmp_path):
    with Store(tmp_path) as store:  # an undeclared table: its all-None columns become VARCHAR
        store.upsert("runs", [{"cell_id": "a", "error": None}], key=["cell_id"])
        store.upsert("runs", [{"cell_id": "b", "error": "ValueError: boom"}], key=["cell_id"])
        store.upsert("runs", [{"cell_id": "c", "error": None, "note": None}], key=["cell_id"])
        store.upsert("runs", [{"cell_id": "d", "error": None, "note": "x"}], key=["cell_id"])
        assert store.read("runs", "cell_id = 'b'")["error"].tolist() == ["ValueError: boom"]
        assert store.read("runs", "cell_id = 'd'")["note"].tolist() == ["x"]
        store.upsert(CELLS, [{"cell_id": "a", "error": None}])
        store.upsert(CELLS, [{"cell_id": "b", "error": "ValueError: boom"}])
        assert store.read(CELLS, "cell_id = 'b'")["error"].tolist() == ["ValueError: boom"]
