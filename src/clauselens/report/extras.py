"""Tables other stages add (ablation, robustness, quantisation_split, correctness_model, ...), shown as
they are, so a new analysis appears in the report without a change here."""

from __future__ import annotations

import pandas as pd

from clauselens.report.html import Section, Trace, cell_value, esc, table
from clauselens.report.run_data import RunData

MAX_ROWS = 25  # the full table is in tables/ beside the page (CSV, Parquet)
MAX_TEXT = 200


def key_columns(df: pd.DataFrame) -> list[str]:
    """The non-float columns: in these tables, the labels that tell rows apart."""
    return [c for c in df.columns if not pd.api.types.is_float_dtype(df[c])]


def blob_columns(df: pd.DataFrame) -> list[str]:
    """Text columns holding machine data (JSON payloads): too long to read, left to the CSV."""
    return [c for c in df.columns
            if not pd.api.types.is_numeric_dtype(df[c]) and df[c].astype(str).str.len().max() > MAX_TEXT]


def generic_table(df: pd.DataFrame, name: str) -> str:
    blobs = blob_columns(df)
    df = df.drop(columns=blobs)
    keys = key_columns(df)
    unique = bool(keys) and not df.duplicated(subset=keys).any()
    rows = []
    for rec in df.head(MAX_ROWS).to_dict("records"):
        row = []
        for col in df.columns:
            key = {k: rec[k] for k in keys} if unique else {k: v for k, v in rec.items() if k != col}
            row.append(cell_value(rec[col], Trace(name, key, col, None if unique else "first")))
        rows.append(row)
    more = ""
    if blobs:
        more += (f'<p class="note">Column(s) {esc(", ".join(blobs))} are in '
                 f'<a href="tables/{esc(name)}.csv">tables/{esc(name)}.csv</a>.</p>')
    if len(df) > MAX_ROWS:
        more += (
            f'<p class="note">First {MAX_ROWS} of {len(df):,} rows; all are in '
            f'<a href="tables/{esc(name)}.csv">tables/{esc(name)}.csv</a>.</p>'
        )
    return table(list(map(esc, df.columns)), rows, f"Table {esc(name)}") + more


def extra_sections(data: RunData) -> list[Section]:
    out = []
    for name in data.extra_tables():
        df = data.table(name)
        title = name.replace("_", " ").capitalize()
        body = generic_table(df, name) if not df.empty else f'<p class="note">Table {esc(name)} is empty.</p>'
        out.append(Section(f"extra-{name}", title, body))
    return out
