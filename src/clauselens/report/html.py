"""HTML building blocks: escaped text, traceable numbers, tables, sections and the page.

Every number the report prints is a `num()` element carrying where it came from: `data-table`,
`data-key` (JSON: the columns that select the row or rows), `data-col`, and `data-agg` when it is an
aggregate over the selected rows (mean, median, min, max, count, absmax). `data-value` holds the
unrounded value. A reader (or a test) can go from any number back to the store row(s) behind it.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

TAG = re.compile(r"<[^>]+>")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def plain(value: Any) -> Any:
    """A JSON-safe Python value (numpy scalars unwrapped, NaN as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def is_missing(value: Any) -> bool:
    value = plain(value)
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_number(value: Any) -> bool:
    value = plain(value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_number(value: Any) -> str:
    """3 significant digits for floats, thousands separators for ints, a dash for missing."""
    value = plain(value)
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Trace:
    """Where a shown value comes from: `agg` over the rows of `table` matching `key`, column `col`."""

    table: str
    key: Mapping[str, Any]
    col: str
    agg: str | None = None
    index: int | None = None  # position inside a list-valued column (attribution scores)

    def attrs(self) -> str:
        key = json.dumps({k: plain(v) for k, v in self.key.items()}, sort_keys=True)
        out = f' data-table="{esc(self.table)}" data-key="{esc(key)}" data-col="{esc(self.col)}"'
        if self.agg:
            out += f' data-agg="{esc(self.agg)}"'
        if self.index is not None:
            out += f' data-index="{self.index}"'
        return out


def num(value: Any, trace: Trace) -> str:
    """A number with its provenance; a missing value is shown as a dash."""
    value = plain(value)
    if value is None:
        return f'<span class="n missing"{trace.attrs()}>–</span>'
    return f'<span class="n"{trace.attrs()} data-value="{value!r}">{format_number(value)}</span>'


def text(value: Any, trace: Trace) -> str:
    """A text value with its provenance (for sentences and labels read from the store)."""
    return f'<span class="t"{trace.attrs()}>{esc(value)}</span>'


def cell_value(value: Any, trace: Trace) -> str:
    """Numbers via `num`, booleans as yes/no, everything else as escaped text."""
    value = plain(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_number(value) or value is None:
        return num(value, trace)
    return esc(value)


def td(content: str) -> str:
    """A table cell; cells are kept on one line unless they hold prose (then they wrap)."""
    prose = len(TAG.sub("", content)) > 40
    return f'<td class="wrap">{content}</td>' if prose else f"<td>{content}</td>"


def table(header: Iterable[str], rows: Iterable[Iterable[str]], caption: str = "") -> str:
    """A table whose cells are already HTML; wrapped so that it scrolls sideways on a phone."""
    head = "".join(f'<th scope="col">{h}</th>' for h in header)
    body = "".join("<tr>" + "".join(td(c) for c in r) + "</tr>" for r in rows)
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (
        f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def frame_table(
    df: pd.DataFrame,
    source: str,
    key_cols: list[str],
    columns: list[str] | None = None,
    caption: str = "",
    max_rows: int | None = None,
) -> str:
    """Rows of store table `source` as they are, each number traced by the row's key columns."""
    columns = columns or list(df.columns)
    shown = df if max_rows is None else df.head(max_rows)
    rows = []
    for rec in shown.to_dict("records"):
        key = {k: rec[k] for k in key_cols}
        rows.append([cell_value(rec[c], Trace(source, key, c)) for c in columns])
    note = ""
    if max_rows is not None and len(df) > max_rows:
        note = (
            f'<p class="note">First {max_rows} of {len(df):,} rows; all rows are in '
            f'<a href="tables/{esc(source)}.csv">tables/{esc(source)}.csv</a>.</p>'
        )
    return table([esc(c) for c in columns], rows, caption) + note


def not_run(reason: str) -> str:
    return f'<p class="not-run"><strong>Not run:</strong> {esc(reason)}.</p>'


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    body: str

    def render(self) -> str:
        return f'<section id="{self.anchor}"><h2>{esc(self.title)}</h2>{self.body}</section>'


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.anchor}">{esc(s.title)}</a>' for s in sections)
    body = "".join(s.render() for s in sections)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><p class="sub">{subtitle}</p><nav>{nav}</nav></header>'
        f"<main>{body}</main>"
        "<footer>Written by clauselens from the experiment store; every number carries its source row "
        '(data-table / data-key / data-col attributes). Tables: <a href="tables/">tables/</a> (CSV and '
        'Parquet), figures: <a href="figures/">figures/</a> (PNG and SVG).</footer></body></html>\n'
    )


CSS = """
:root{--fg:#1b1b1b;--muted:#5a5a5a;--line:#d6d6d6;--bg:#fff;--accent:#0072B2;--warn:#a15c00}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
header,main,footer{max-width:1240px;margin:0 auto;padding:0 1rem}
header{padding-top:1rem;border-bottom:1px solid var(--line)}
h1{font-size:1.6rem;margin:.2rem 0}
h2{font-size:1.35rem;margin:2rem 0 .6rem;padding-top:.4rem;border-top:3px solid var(--accent)}
h3{font-size:1.1rem;margin:1.4rem 0 .4rem}
.sub{color:var(--muted);margin:.2rem 0 .6rem}
nav{display:flex;flex-wrap:wrap;gap:.3rem 1rem;padding:.4rem 0 .8rem}
nav a,a{color:var(--accent)}
footer{color:var(--muted);font-size:.85rem;border-top:1px solid var(--line);margin-top:2rem;padding:1rem}
.scroll{overflow-x:auto;max-width:100%;margin:.4rem 0 1rem;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:.9rem;min-width:60%}
caption{text-align:left;font-weight:600;padding:.3rem 0;color:var(--muted)}
th,td{border-bottom:1px solid var(--line);padding:.3rem .55rem;text-align:left;vertical-align:top;
 overflow-wrap:normal;white-space:nowrap}
th{background:#f3f3f3}
td.wrap{white-space:normal;min-width:16rem}
.n{font-variant-numeric:tabular-nums}
table.tests tbody{border-bottom:1px solid var(--line)}
table.tests td{border-bottom:0}
table.tests tr.sentence td{white-space:normal;color:var(--fg);padding-top:0;padding-bottom:.55rem}
table.tests tr.sentence.significant td{border-left:4px solid var(--accent)}
.ci{color:var(--muted);white-space:nowrap}
.not-run{border-left:4px solid var(--warn);background:#fff6e8;padding:.4rem .7rem}
.note{color:var(--muted);font-size:.9rem}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.4rem 0}
dl.kv dt{font-weight:600}
dl.kv dd{margin:0}
pre{overflow-x:auto;background:#f6f6f6;padding:.6rem;font-size:.82rem;max-width:100%;overflow-wrap:normal}
figure{margin:1rem 0}
figure img{width:100%;max-width:1100px;height:auto;display:block;border:1px solid var(--line)}
figure.small img{width:auto;max-width:100%}
figcaption{color:var(--muted);font-size:.88rem;margin-top:.3rem}
details{margin:.4rem 0}
summary{cursor:pointer;color:var(--accent)}
ul.findings li{margin:.35rem 0}
.sig{color:#005a8c;font-weight:600}
.ns{color:var(--muted)}
.mapgrid{display:grid;grid-template-columns:5.5rem repeat(var(--ncols),minmax(0,1fr));gap:.5rem;
 align-items:stretch;margin:.6rem 0}
.colhead,.rowhead{font-weight:600;font-size:.9rem;align-self:end}
.rowhead{align-self:center}
.map{border:1px solid var(--line);border-radius:6px;padding:.4rem .5rem;font-size:.9rem;line-height:1.9}
.map.empty{color:var(--muted);font-style:italic}
.maplabel{display:none;font-weight:600;font-size:.85rem}
.cellmeta{color:var(--muted);font-size:.8rem;line-height:1.4;margin-top:.2rem}
.u{position:relative;border-radius:3px;padding:.05em .12em;cursor:help}
.u:hover,.u:focus{outline:2px solid #000;outline-offset:1px}
.u:hover::after,.u:focus::after{content:attr(data-tip);position:absolute;left:0;top:100%;z-index:5;
 background:#1b1b1b;color:#fff;padding:.15em .45em;border-radius:4px;font-size:.78rem;line-height:1.4;
 white-space:nowrap;pointer-events:none}
.legend{display:flex;align-items:center;gap:.5rem;flex-wrap:wrap;font-size:.85rem;margin:.3rem 0}
.legend .bar{width:min(320px,60vw);height:14px;border:1px solid #888;border-radius:2px}
@media (max-width:760px){
 body{font-size:15px}
 .mapgrid{display:block}
 .mapgrid .colhead,.mapgrid .rowhead,.mapgrid .corner{display:none}
 .maplabel{display:block}
 .map{margin:.5rem 0}
 dl.kv{grid-template-columns:1fr}
 dl.kv dd{margin-bottom:.3rem}
}
"""
