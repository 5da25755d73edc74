"""Loading pairs: the builtin corpus and users' CSV / JSONL / Parquet files, splits, errors, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from clauselens.config import ConfigError, DataConfig
from clauselens.corpus import builtin_pairs, load_pairs, read_pairs_file
from clauselens.corpus.cli import app

RULE = "def check_rule(model): return []"  # one line, so CSV rows are one line each
ROWS = [
    {
        "id": "BCA C.3.2.1",
        "heading": "Minimum headroom",
        "clause": "The headroom of every room shall not be less than 2.0 metres.",
        "code": RULE,
    },
    {
        "id": "BCA C.3.2.2",
        "heading": "Exits",
        "clause": "Every exit door shall open in the direction of escape.",
        "code": RULE,
    },
    {"id": "SCDF 2.1", "heading": "", "clause": "Corridors shall be at least 1200mm wide.", "code": RULE},
    {"id": "SCDF 2.2", "heading": "", "clause": "Fire doors shall be self-closing.", "code": RULE},
]
MAPPING = {"clause_id": "id", "title": "heading", "text": "clause", "rule": "code"}


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_builtin_stored_split_is_the_shipped_one():
    pairs = load_pairs(DataConfig(), Path("."))
    assert [(p.clause.clause_id, p.split) for p in pairs] == [
        (p.clause.clause_id, p.split) for p in builtin_pairs()
    ]


def test_random_split_depends_on_seed_only():
    cfg = DataConfig(split="random", test_fraction=0.2, val_fraction=0.1)
    a, b, c = (load_pairs(cfg, Path("."), seed) for seed in (1, 1, 2))
    assert [p.split for p in a] == [p.split for p in b]
    assert [p.split for p in a] != [p.split for p in c]
    n_test = sum(p.split == "test" for p in a)
    assert 0.15 * len(a) <= n_test <= 0.25 * len(a)


def test_document_split_holds_out_documents_without_leaking_text():
    cfg = DataConfig(split="document", test_documents=["K", "B-vol2"], val_fraction=0.1)
    pairs = load_pairs(cfg, Path("."), seed=0)
    test = [p for p in pairs if p.split == "test"]
    assert {p.clause.document for p in test} == {"K", "B-vol2"}
    assert all(p.clause.document not in ("K", "B-vol2") for p in pairs if p.split != "test")
    test_texts = {p.clause.text for p in test}
    assert not any(p.clause.text in test_texts for p in pairs if p.split != "test")
    assert any(p.split == "val" for p in pairs)
    with pytest.raises(ConfigError, match=r"unknown document\(s\) \['Z'\]"):
        load_pairs(DataConfig(split="document", test_documents=["Z"]), Path("."))


def test_kinds_filter_and_deterministic_caps():
    cfg = DataConfig(kinds=["qualitative"], max_train=20, max_test=5)
    a = load_pairs(cfg, Path("."), seed=3)
    assert {p.kind for p in a} == {"qualitative"}
    assert sum(p.split == "train" for p in a) == 20 and sum(p.split == "test" for p in a) == 5
    b = load_pairs(cfg, Path("."), seed=3)
    c = load_pairs(cfg, Path("."), seed=4)
    assert [p.clause.clause_id for p in a] == [p.clause.clause_id for p in b]
    assert [p.clause.clause_id for p in a] != [p.clause.clause_id for p in c]


def test_user_csv_with_other_column_names(tmp_path):
    path = _csv(tmp_path / "mine.csv", ROWS)
    pairs = load_pairs(DataConfig(source="mine.csv", columns=MAPPING, split="random"), tmp_path, seed=0)
    first = pairs[0].clause
    assert (first.clause_id, first.document, first.paragraph, first.title) == (
        "BCA C.3.2.1",
        "BCA",
        "C.3.2.1",
        "Minimum headroom",
    )
    kinds = {p.clause.clause_id: p.kind for p in pairs}
    assert kinds == {
        "BCA C.3.2.1": "quantitative",
        "BCA C.3.2.2": "qualitative",
        "SCDF 2.1": "quantitative",
        "SCDF 2.2": "qualitative",
    }
    # no split column: "stored" falls back to the fixed seed-0 split, whatever the run seed
    stored = [load_pairs(DataConfig(source=str(path), columns=MAPPING), tmp_path, seed) for seed in (0, 7)]
    assert [p.split for p in stored[0]] == [p.split for p in stored[1]]


def test_user_jsonl_and_parquet_with_stored_split(tmp_path):
    rows = [
        {"clause_id": f"X:{i}", "text": r["clause"], "rule": r["code"], "split": s}
        for i, (r, s) in enumerate(zip(ROWS, ["train", "train", "val", "test"], strict=True))
    ]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pairs, has_split = read_pairs_file(jsonl)
    assert has_split and [p.split for p in pairs] == ["train", "train", "val", "test"]
    pq = tmp_path / "p.parquet"
    pd.DataFrame(rows).to_parquet(pq)
    assert [p.split for p in load_pairs(DataConfig(source=str(pq)), tmp_path)] == [p.split for p in pairs]


def test_broken_csv_names_the_line(tmp_path):
    rows = [dict(r) for r in ROWS]
    rows[2]["clause"] = "   "
    path = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ConfigError, match=r"bad\.csv:4: empty 'text' \(column 'clause'\)"):
        read_pairs_file(path, MAPPING)


def test_missing_rule_column_and_bad_values(tmp_path):
    path = _csv(tmp_path / "norule.csv", [{k: v for k, v in r.items() if k != "code"} for r in ROWS])
    with pytest.raises(ConfigError, match=r"norule\.csv:2: missing column 'code' \(data.columns maps rule"):
        read_pairs_file(path, MAPPING)
    path = _csv(tmp_path / "kind.csv", [{**r, "kind": "numeric"} for r in ROWS])
    with pytest.raises(ConfigError, match=r"kind\.csv:2: kind 'numeric'"):
        read_pairs_file(path, MAPPING)
    path = _csv(tmp_path / "dup.csv", [ROWS[0], ROWS[0]])
    with pytest.raises(
        ConfigError, match=r"dup\.csv:3: duplicate clause id 'BCA C.3.2.1' \(first at .*dup\.csv:2\)"
    ):
        read_pairs_file(path, MAPPING)
    with pytest.raises(ConfigError, match="unknown column name"):
        read_pairs_file(path, {"body": "clause"})
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"unsupported file type '\.txt'"):
        read_pairs_file(tmp_path / "x.txt")


def test_csv_line_numbers_count_multiline_fields(tmp_path):
    rows = [dict(r) for r in ROWS]
    rows[0]["code"] = (
        "def check_rule(model):\n    findings = []\n    return findings\n"  # 4 lines in the file
    )
    rows[1]["code"] = ""
    path = _csv(tmp_path / "multi.csv", rows)
    with pytest.raises(ConfigError, match=r"multi\.csv:6: empty 'rule' \(column 'code'\)"):
        read_pairs_file(path, MAPPING)


def test_broken_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"clause_id": "X:1", "text": "t", "rule": RULE})
    path.write_text(f"{good}\n\n{good.replace('X:1', 'X:2')}\n{{'clause_id': 'X:3'}}\n")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:4: not valid JSON"):
        read_pairs_file(path)
    path.write_text(f"{good}\n[1, 2]\n")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2: expected a JSON object"):
        read_pairs_file(path)


def test_cli_show_load_and_verify(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(app, ["show", "K:1.12"])
    assert shown.exit_code == 0 and "minimum clear headroom of 2m" in shown.output
    assert 'model.elements("escape_route")' in shown.output
    assert runner.invoke(app, ["show", "K:99.99"]).exit_code == 2
    path = _csv(tmp_path / "mine.csv", ROWS)
    args = ["load", str(path), *[f"--col={k}={v}" for k, v in MAPPING.items()], "--split", "random"]
    loaded = runner.invoke(app, args)
    assert loaded.exit_code == 0, loaded.output
    assert "4 pairs read" in loaded.output and "BCA" in loaded.output
    broken = runner.invoke(app, ["load", str(path)])
    assert broken.exit_code == 2 and "missing column 'text'" in broken.output
    verified = runner.invoke(app, ["verify", "--sample", "6", "--workers", "1"])
    assert verified.exit_code == 0, verified.output
    assert "6 pairs verified" in verified.output and "failures: 0" in verified.output
    for command in ("extract", "build", "verify", "show", "load"):
        helped = runner.invoke(app, [command, "--help"])
        assert helped.exit_code == 0 and len(helped.output) > 200
