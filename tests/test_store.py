"""The experiment store: upserts replace by key, failed writes leave nothing behind, resume keys."""

import pandas as pd
import pytest

from clauselens.store import Store, atomic_write


def test_upsert_replaces_rows_with_the_same_key(tmp_path):
    with Store(tmp_path) as store:
        store.upsert(
            "scores",
            [
                {"cell_id": "a", "clause_id": "1", "value": 0.5},
                {"cell_id": "a", "clause_id": "2", "value": 0.7},
            ],
            key=["cell_id", "clause_id"],
        )
        store.upsert(
            "scores", [{"cell_id": "a", "clause_id": "2", "value": 0.9}], key=["cell_id", "clause_id"]
        )
        df = store.read("scores").sort_values("clause_id")
        assert df["value"].tolist() == [0.5, 0.9]
        assert store.keys("scores", ["cell_id", "clause_id"]) == {("a", "1"), ("a", "2")}
        assert store.done("scores", cell_id="a", clause_id="2")
        assert not store.done("scores", cell_id="b", clause_id="2")


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
    with Store(tmp_path) as store:
        store.upsert("cells", [{"cell_id": "a", "error": None}], key=["cell_id"])
        store.upsert("cells", [{"cell_id": "b", "error": "ValueError: boom"}], key=["cell_id"])
        store.upsert("cells", [{"cell_id": "c", "error": None, "note": None}], key=["cell_id"])
        store.upsert("cells", [{"cell_id": "d", "error": None, "note": "x"}], key=["cell_id"])
        assert store.read("cells", "cell_id = 'b'")["error"].tolist() == ["ValueError: boom"]
        assert store.read("cells", "cell_id = 'd'")["note"].tolist() == ["x"]
