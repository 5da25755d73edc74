"""Everything the report shows, read once from the store and the manifest.

The report reads only store tables and `manifest.json`, so it can be rebuilt from a finished output
folder without any model. A missing table is an empty frame, and a section whose inputs are missing
says "not run" instead of failing: other stages may have been skipped or may not have finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from clauselens.labels import format_params, strategy_rank
from clauselens.store import Store, TableRef
from clauselens.tables import (
    ATTRIBUTIONS,
    CATEGORY_SHARES,
    CELLS,
    FAITHFULNESS,
    FOCUS,
    GENERATIONS,
    HYPOTHESES,
    PAIRS,
    SCORE_SUMMARY,
    SCORES,
    TESTS,
    TRAINING,
)

MANIFEST = "manifest.json"
# Tables with a section of their own; any other table in the store is shown generically.
KNOWN_TABLES = tuple(t.name for t in (PAIRS, CELLS, TRAINING, GENERATIONS, SCORES, SCORE_SUMMARY,
                                     ATTRIBUTIONS, FAITHFULNESS, CATEGORY_SHARES, FOCUS, TESTS, HYPOTHESES))
CELL_COLUMNS = ("cell_id", "model", "params", "strategy", "seed")


@dataclass
class RunData:
    """Lazy, cached access to one output folder's tables and manifest."""

    store: Store
    manifest: dict[str, Any]
    manifest_error: str | None = None
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, table: TableRef) -> pd.DataFrame:
        """A declared table (or any table by name), read once."""
        name = str(table)
        if name not in self._tables:
            self._tables[name] = self.store.read(name)
        return self._tables[name]

    def not_run(self, table: TableRef, columns: tuple[str, ...] = ()) -> str | None:
        """Why `table` cannot feed a section (missing, empty, lacking columns), or None if it can."""
        name = str(table)
        df = self.table(name)
        if df.empty:
            return f"table `{name}` is missing or empty"
        lacking = [c for c in columns if c not in df.columns]
        if lacking:
            return f"table `{name}` lacks column(s) {', '.join(lacking)}"
        return None

    def cells(self) -> pd.DataFrame:
        """The `cells` table ordered by size then strategy, with a `size` label; empty if unusable."""
        df = self.table(CELLS)
        if self.not_run(CELLS, CELL_COLUMNS):
            return pd.DataFrame(columns=[*CELL_COLUMNS, "size", "status"])
        df = df.copy()
        df["size"] = df["params"].map(format_params)
        if "status" not in df.columns:
            df["status"] = "done"
        df["_rank"] = df["strategy"].map(strategy_rank)
        return (
            df.sort_values(["params", "_rank", "seed", "cell_id"])
            .drop(columns="_rank")
            .reset_index(drop=True)
        )

    def with_cells(self, df: pd.DataFrame) -> pd.DataFrame:
        """`df` joined to its cell's model, params, size and strategy; rows of unknown cells are dropped."""
        cells = self.cells()[["cell_id", "model", "params", "size", "strategy", "seed"]]
        own = [c for c in cells.columns if c in df.columns and c != "cell_id"]
        return df.drop(columns=own).merge(cells, on="cell_id", how="inner")

    def cell_rows(self, table: TableRef, columns: tuple[str, ...]) -> tuple[pd.DataFrame, str | None]:
        """`table` joined to its cells, or the reason it cannot be shown."""
        name = str(table)
        why = self.not_run(name, ("cell_id", *columns)) or self.not_run(CELLS, CELL_COLUMNS)
        if why:
            return pd.DataFrame(), why
        joined = self.with_cells(self.table(name))
        if joined.empty:
            return joined, f"no row of table `{name}` belongs to a cell of table `cells`"
        return joined, None

    def models(self) -> list[tuple[str, Any, str]]:
        """(model, params, size label) in order of size."""
        c = self.cells()
        seen = c.drop_duplicates("model")
        return list(zip(seen["model"], seen["params"], seen["size"], strict=True))

    def strategies(self) -> list[str]:
        return sorted(self.cells()["strategy"].unique(), key=strategy_rank)

    def extra_tables(self) -> list[str]:
        return sorted(t for t in self.store.tables() if t not in KNOWN_TABLES)


def load_run_data(store: Store) -> RunData:
    path = store.root / MANIFEST
    if not path.exists():
        return RunData(store, {}, f"{path} not found")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        return RunData(store, {}, f"{path}: not valid JSON ({exc})")
    if not isinstance(manifest, dict):
        return RunData(store, {}, f"{path}: expected a JSON object, found {type(manifest).__name__}")
    return RunData(store, manifest)
