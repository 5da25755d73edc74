"""The experiment store: one DuckDB database plus a file tree per output folder.

Every stage reads its inputs from and writes its outputs to the store, so a crashed or interrupted run
resumes by asking what is already there (`keys`). Writes are upserts on a key and happen in one
transaction, so a table never holds half of a write. Files are written to a temporary name, then
renamed (`atomic_write`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from clauselens.tables import Table, declared

DB_NAME = "store.duckdb"
TableRef = Table | str
Rows = pd.DataFrame | Sequence[dict[str, Any]]


def _name(table: TableRef) -> str:
    return table.name if isinstance(table, Table) else table


def _null_type(table: str, column: str) -> str:
    spec = declared(table)
    return (spec.type_of(column) if spec is not None else None) or "VARCHAR"


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[Any]:
    """Open a temporary file next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Store:
    """Tables keyed by (cell, clause, ...) in `<root>/store.duckdb`; files under `<root>/`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._con = duckdb.connect(str(self.root / DB_NAME))

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files -------------------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        """A path inside the output folder (parents created)."""
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_json(self, name: str, obj: Any) -> Path:
        p = self.path(name)
        with atomic_write(p) as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        return p

    def read_json(self, name: str) -> Any:
        return json.loads((self.root / name).read_text())

    # -- tables ------------------------------------------------------------------------------------
    # Every table method takes a declared `clauselens.tables.Table` or a table name; a name the schema
    # declares is looked up, so its key is the default and its columns are checked.
    def tables(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._con.execute("SHOW TABLES").fetchall()]

    def has_table(self, table: TableRef) -> bool:
        return _name(table) in self.tables()

    def upsert(self, table: TableRef, rows: Rows, key: Sequence[str] | None = None) -> int:
        """Insert rows, replacing any existing rows with the same key (by default the declared key).
        Returns rows written."""
        return self._write(table, rows, key, replace=False)

    def replace(self, table: TableRef, rows: Rows) -> int:
        """Make the table hold exactly `rows` (none: empty), in one transaction. Returns rows written."""
        return self._write(table, rows, None, replace=True)

    def _write(self, table: TableRef, rows: Rows, key: Sequence[str] | None, replace: bool) -> int:
        spec, name = declared(table), _name(table)
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        if spec is not None:
            extra = spec.undeclared(df.columns)
            if extra:
                raise ValueError(f"write to {name!r}: column(s) {extra} are not declared in "
                                 f"clauselens.tables (declared: {', '.join(spec.columns)})")
        if key is None:
            if spec is None and not replace:
                raise ValueError(f"upsert into {name!r}: the table is not declared; give its key")
            key = spec.key if spec is not None else ()
        if df.empty:
            if replace:
                self.delete(name, "TRUE")
            return 0
        missing = [k for k in key if k not in df.columns]
        if missing:
            raise ValueError(f"upsert into {name!r}: rows lack key column(s) {missing}")
        with self._lock:
            con = self._con
            con.register("_incoming", df)
            try:
                con.execute("BEGIN TRANSACTION")
                if not self.has_table(name):
                    con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _incoming LIMIT 0')
                    self._untype_null_columns(name)
                else:
                    self._add_missing_columns(name, df)
                if replace:
                    con.execute(f'DELETE FROM "{name}"')
                else:
                    on = " AND ".join(f't."{k}" IS NOT DISTINCT FROM i."{k}"' for k in key)
                    con.execute(f'DELETE FROM "{name}" t USING _incoming i WHERE {on}')
                cols = ", ".join(f'"{c}"' for c in df.columns)
                con.execute(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM _incoming')
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("_incoming")
        return len(df)

    def _add_missing_columns(self, table: str, df: pd.DataFrame) -> None:
        have = {r[0] for r in self._con.execute(f'DESCRIBE "{table}"').fetchall()}
        for col in df.columns:
            if col not in have:
                dtype = self._con.execute(f'SELECT typeof("{col}") FROM _incoming LIMIT 1').fetchall()[0][0]
                if dtype.strip(chr(34)) == "NULL":
                    dtype = _null_type(table, col)
                self._con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{col}" {dtype}')

    def _untype_null_columns(self, table: str) -> None:
        """A column that was all-None in the first write has type NULL; give it its declared type
        (VARCHAR if undeclared) so later values fit."""
        for name, dtype, *_ in self._con.execute(f'DESCRIBE "{table}"').fetchall():
            if dtype.strip('"') == "NULL":
                dtype = _null_type(table, name)
                self._con.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{name}" TYPE {dtype}')

    def read(self, table: TableRef, where: str | None = None, params: Sequence[Any] = ()) -> pd.DataFrame:
        """The whole table (or the rows matching `where`) as a DataFrame; empty if it does not exist."""
        name = _name(table)
        with self._lock:
            if not self.has_table(name):
                return pd.DataFrame()
            sql = f'SELECT * FROM "{name}"' + (f" WHERE {where}" if where else "")
            return self._con.execute(sql, list(params)).df()

    def sql(self, query: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self._lock:
            return self._con.execute(query, list(params)).df()

    def delete(self, table: TableRef, where: str, params: Sequence[Any] = ()) -> None:
        name = _name(table)
        with self._lock:
            if self.has_table(name):
                self._con.execute(f'DELETE FROM "{name}" WHERE {where}', list(params))

    def keys(self, table: TableRef, cols: Sequence[str] | None = None) -> set[tuple[Any, ...]]:
        """The distinct key tuples present (by default of the declared key): what is already done."""
        name = _name(table)
        if cols is None:
            spec = declared(table)
            if spec is None:
                raise ValueError(f"keys of {name!r}: the table is not declared; give the columns")
            cols = spec.key
        with self._lock:
            if not self.has_table(name):
                return set()
            sel = ", ".join(f'"{c}"' for c in cols)
            return {tuple(r) for r in self._con.execute(f'SELECT DISTINCT {sel} FROM "{name}"').fetchall()}

    def done(self, table: TableRef, **key: Any) -> bool:
        name = _name(table)
        with self._lock:
            if not self.has_table(name):
                return False
            where = " AND ".join(f'"{k}" = ?' for k in key)
            return bool(
                self._con.execute(
                    f'SELECT 1 FROM "{name}" WHERE {where} LIMIT 1', list(key.values())
                ).fetchall()
            )

    def export(self, out_dir: str | Path, tables: Iterable[TableRef] | None = None) -> list[Path]:
        """Every table as CSV and Parquet (for the report and for users without DuckDB)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for t in tables or self.tables():
            df = self.read(t)
            for ext in ("csv", "parquet"):
                p = out / f"{_name(t)}.{ext}"
                with atomic_write(p, "wb") as fh:
                    (df.to_csv if ext == "csv" else df.to_parquet)(fh, index=False)
                written.append(p)
        return written
