"""Load clause -> rule pairs: the shipped open corpus, or a user's CSV / JSONL / Parquet file, then split.

A user file needs a `text` and a `rule` column and either `clause_id` or `document` + `paragraph`;
`data.columns` maps our column names to the file's (`{"text": "clause", "rule": "code"}`). Missing optional
columns are derived: document and paragraph from the clause id ("K:1.12", "BCA C.3.2.1"), the kind from
the numeric-constraint detector (`constraints.is_quantitative`), the split as configured. Every problem is a
`ConfigError` that names the file and the line (CSV / JSONL) or row (Parquet).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clauselens.config import ConfigError, DataConfig
from clauselens.corpus.constraints import is_quantitative
from clauselens.corpus.extract import extract_corpus
from clauselens.corpus.rulebook import CORPUS_DIR, HEADER_KEY, PAIRS_PATH, assign_split
from clauselens.records import Clause, RulePair

COLUMNS = ("clause_id", "document", "paragraph", "title", "text", "rule", "kind", "split", "fixtures")
KINDS = ("quantitative", "qualitative")
SPLITS = ("train", "val", "test")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for each record: where is "file:line" for text formats and "file: row N" for Parquet."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"{path}: unsupported file type {path.suffix!r}; expected one of {sorted(SUFFIXES)}"
        )
    if kind == "parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise ConfigError(f"{path}: cannot read as Parquet: {exc}") from None
        for i, row in enumerate(frame.to_dict("records"), start=1):
            yield f"{path}: row {i}", row
        return
    with path.open(encoding="utf-8-sig", newline="") as fh:
        if kind == "csv":
            reader = csv.DictReader(fh)
            try:
                if not reader.fieldnames:
                    raise ConfigError(f"{path}:1: empty file; expected a header row naming the columns")
                start = 2
                for row in reader:
                    if None in row:
                        raise ConfigError(
                            f"{path}:{start}: more fields than the {len(reader.fieldnames)} "
                            "columns of the header row"
                        )
                    yield f"{path}:{start}", row
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise ConfigError(f"{path}:{reader.line_num}: not valid CSV: {exc}") from None
            return
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: not valid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{n}: expected a JSON object per line, got {type(row).__name__}")
            if HEADER_KEY in row and all(k.startswith("_") for k in row):
                continue  # the corpus header line (attribution)
            yield f"{path}:{n}", row


def _text(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if value is None or (isinstance(value, float) and value != value):  # NaN from Parquet / pandas
        return ""
    return str(value).strip()


def _split_id(clause_id: str) -> tuple[str, str]:
    """Document and paragraph of a clause id: "K:1.12" -> (K, 1.12); "BCA C.3.2.1" -> (BCA, C.3.2.1)."""
    if ":" in clause_id:
        doc, para = clause_id.split(":", 1)
    elif " " in clause_id.strip():
        doc, para = clause_id.strip().rsplit(" ", 1)
    else:
        doc, para = "", clause_id
    return doc.strip() or "user", para.strip()


def read_pairs_file(path: str | Path, columns: dict[str, str] | None = None) -> tuple[list[RulePair], bool]:
    """Pairs from a CSV / JSONL / Parquet file, and whether the file stored a split for every pair."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: dataset file not found")
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        raise ConfigError(f"data.columns: unknown column name(s) {unknown}; ours are {list(COLUMNS)}")
    col = {name: columns.get(name, name) for name in COLUMNS}
    pairs: list[RulePair] = []
    seen: dict[str, str] = {}
    has_split = True
    for where, row in _rows(path):
        for name in ("text", "rule"):
            if col[name] not in row:
                mapped = f" (data.columns maps {name} -> {col[name]!r})" if name in columns else ""
                raise ConfigError(
                    f"{where}: missing column {col[name]!r}{mapped}; the record has columns {sorted(row)}"
                )
            if not _text(row, col[name]):
                raise ConfigError(f"{where}: empty {name!r} (column {col[name]!r})")
        clause_id, doc, para = (_text(row, col[n]) for n in ("clause_id", "document", "paragraph"))
        if not clause_id:
            if not (doc and para):
                raise ConfigError(
                    f"{where}: no clause id: give column {col['clause_id']!r} or both "
                    f"{col['document']!r} and {col['paragraph']!r}"
                )
            clause_id = f"{doc}:{para}"
        if not (doc and para):
            doc, para = _split_id(clause_id)
        if clause_id in seen:
            raise ConfigError(f"{where}: duplicate clause id {clause_id!r} (first at {seen[clause_id]})")
        seen[clause_id] = where
        text = _text(row, col["text"])
        kind = _text(row, col["kind"]) or ("quantitative" if is_quantitative(text) else "qualitative")
        if kind not in KINDS:
            raise ConfigError(f"{where}: kind {kind!r} (column {col['kind']!r}) must be one of {list(KINDS)}")
        split = _text(row, col["split"])
        if split and split not in SPLITS:
            raise ConfigError(
                f"{where}: split {split!r} (column {col['split']!r}) must be one of {list(SPLITS)}"
            )
        has_split = has_split and bool(split)
        fixtures = row.get(col["fixtures"]) or []
        if isinstance(fixtures, str):
            try:
                fixtures = json.loads(fixtures)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{where}: column {col['fixtures']!r} is not valid JSON: {exc.msg}"
                ) from None
        if not isinstance(fixtures, list):
            raise ConfigError(f"{where}: column {col['fixtures']!r} must be a JSON list of fixture buildings")
        clause = Clause(
            clause_id=clause_id, document=doc, paragraph=para, title=_text(row, col["title"]), text=text
        )
        pairs.append(
            RulePair(
                clause=clause,
                rule=str(row[col["rule"]]),
                kind=kind,
                split=split or "train",
                fixtures=fixtures,
            )
        )
    if not pairs:
        raise ConfigError(f"{path}: no clause -> rule pairs in the file")
    return pairs, has_split


def builtin_pairs() -> list[RulePair]:
    """The shipped open corpus (UK Approved Documents, OGL v3.0) with its stored split."""
    return read_pairs_file(PAIRS_PATH)[0]


@functools.lru_cache(maxsize=1)
def _clause_texts() -> tuple[str, ...]:
    return tuple(c.text for c in extract_corpus(CORPUS_DIR).clauses)


def builtin_clause_texts() -> list[str]:
    """The text of every clause extracted from the bundled Approved Documents (about 3,100), unlabelled:
    regulation prose, e.g. for pretraining the builtin models. Extracted once per process (about 2 s)."""
    return list(_clause_texts())


def _first_n(pairs: list[RulePair], n: int | None, seed: int) -> list[RulePair]:
    if n is None or len(pairs) <= n:
        return pairs
    key = {
        p.clause.clause_id: hashlib.sha256(f"{seed}:{p.clause.clause_id}".encode()).hexdigest() for p in pairs
    }
    keep = set(sorted(key, key=key.__getitem__)[:n])
    return [p for p in pairs if p.clause.clause_id in keep]


def _document_split(pairs: list[RulePair], cfg: DataConfig, seed: int) -> list[RulePair]:
    """Hold out `cfg.test_documents` as the test split; val is carved from the rest with `val_fraction`.

    Pairs outside the held-out documents whose text equals a held-out clause's text (Approved Document B
    volumes 1 and 2 share paragraphs) are dropped, so no test text is seen in training.
    """
    docs = sorted({p.clause.document for p in pairs})
    if not cfg.test_documents:
        raise ConfigError("data.test_documents: list the documents to hold out when data.split = 'document'")
    missing = sorted(set(cfg.test_documents) - set(docs))
    if missing:
        raise ConfigError(f"data.test_documents: unknown document(s) {missing}; the data has {docs}")
    test = [p for p in pairs if p.clause.document in cfg.test_documents]
    held_texts = {" ".join(p.clause.text.lower().split()) for p in test}
    rest = [
        p
        for p in pairs
        if p.clause.document not in cfg.test_documents
        and " ".join(p.clause.text.lower().split()) not in held_texts
    ]
    if not rest:
        raise ConfigError("data.test_documents: holding these out leaves nothing to train on")
    rest = assign_split(rest, seed, test_fraction=0.0, val_fraction=cfg.val_fraction)
    chosen = {p.clause.clause_id: p for p in rest}
    chosen.update({p.clause.clause_id: p.model_copy(update={"split": "test"}) for p in test})
    return [chosen[p.clause.clause_id] for p in pairs if p.clause.clause_id in chosen]


def load_pairs(data_cfg: DataConfig, base_dir: Path, seed: int = 0) -> list[RulePair]:
    """The pairs a run uses: source read, kinds filtered, split applied, train / test capped.

    Splits: "stored" keeps the split in the data (a file without a split column gets the fixed seed-0 random
    split), "random" re-splits with `seed` (test_fraction, val_fraction), "document" holds out
    `test_documents`. `max_train` / `max_test` keep the first N by a seeded order.
    """
    if data_cfg.source == "builtin":
        if data_cfg.columns:
            raise ConfigError("data.columns: only applies to a user file, not to data.source = 'builtin'")
        pairs, has_split = read_pairs_file(PAIRS_PATH)
    else:
        source = Path(data_cfg.source).expanduser()
        pairs, has_split = read_pairs_file(
            source if source.is_absolute() else Path(base_dir) / source, data_cfg.columns
        )
    pairs = [p for p in pairs if p.kind in data_cfg.kinds]
    if not pairs:
        raise ConfigError(f"data.kinds: no pairs of kind {data_cfg.kinds} in {data_cfg.source}")
    if data_cfg.split == "document":
        pairs = _document_split(pairs, data_cfg, seed)
    elif data_cfg.split == "random" or not has_split:
        split_seed = seed if data_cfg.split == "random" else 0
        pairs = assign_split(pairs, split_seed, data_cfg.test_fraction, data_cfg.val_fraction)
    train = _first_n([p for p in pairs if p.split == "train"], data_cfg.max_train, seed)
    test = _first_n([p for p in pairs if p.split == "test"], data_cfg.max_test, seed)
    keep = {p.clause.clause_id for p in train + test} | {
        p.clause.clause_id for p in pairs if p.split == "val"
    }
    return [p for p in pairs if p.clause.clause_id in keep]
