"""Attribution maps: chosen clauses as text, each unit shaded by its score, strategies x sizes side by side.

All maps of one clause share one symmetric colour scale (±max |score| over every cell's attribution
of that clause), so a darker unit in one cell means a larger score than a lighter unit in another.
Hovering (or focusing, on a phone: tapping) a unit shows its score and category with CSS only.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from pydantic import ValidationError

from clauselens.attribute.render import Shading, shaded_text
from clauselens.config import AttributionConfig, ExperimentConfig
from clauselens.records import Attribution, Unit
from clauselens.report.figures import RC, FigureWriter
from clauselens.report.html import Section, Trace, esc, num, text
from clauselens.report.html import not_run as not_run_note
from clauselens.report.run_data import CELL_COLUMNS, RunData

VARIANT = ("method", "target", "perturbation", "unit")
ATTR_COLUMNS = ("cell_id", "clause_id", *VARIANT, "payload")


def choose_variant(attrs: pd.DataFrame, acfg: AttributionConfig) -> dict[str, str]:
    """The configured (method, target, perturbation, unit) if stored, else the most common one."""
    wanted = {k: getattr(acfg, k) for k in VARIANT}
    mask = np.logical_and.reduce([attrs[k] == v for k, v in wanted.items()])
    if mask.any():
        return wanted
    top = attrs.groupby(list(VARIANT)).size().sort_values(ascending=False).index[0]
    return dict(zip(VARIANT, top, strict=True))


def _stable_order(clause_id: str) -> str:
    return hashlib.sha256(clause_id.encode()).hexdigest()


def choose_clauses(
    attrs: pd.DataFrame, pairs: pd.DataFrame, requested: list[str], n: int
) -> tuple[list[str], list[str]]:
    """The user's clauses (those with attributions) plus `n` more, greedily covering new documents and
    kinds first, then clauses attributed in the most cells; ties broken by a hash (a fixed sample)."""
    coverage = attrs.groupby("clause_id")["cell_id"].nunique().to_dict()
    missing = [c for c in requested if c not in coverage]
    chosen = [c for c in dict.fromkeys(requested) if c in coverage]
    info = {}
    if {"clause_id", "document", "kind"} <= set(pairs.columns):
        info = {r["clause_id"]: (r["document"], r["kind"]) for r in pairs.to_dict("records")}
    docs = {info.get(c, ("?", "?"))[0] for c in chosen}
    kinds = {info.get(c, ("?", "?"))[1] for c in chosen}

    def rank(c: str) -> tuple[bool, bool, int]:
        doc, kind = info.get(c, ("?", "?"))
        return (doc not in docs, kind not in kinds, coverage[c])

    pool = sorted(set(coverage) - set(chosen), key=_stable_order)
    for _ in range(min(n, len(pool))):
        best = max(pool, key=rank)  # max keeps the first of equals: the hash order
        pool.remove(best)
        chosen.append(best)
        docs.add(info.get(best, ("?", "?"))[0])
        kinds.add(info.get(best, ("?", "?"))[1])
    return chosen, missing


def legend(shading: Shading, trace: Trace) -> str:
    """The colour scale of one clause's maps, from -vmax to +vmax."""
    return (
        f'<div class="legend" role="img" aria-label="colour scale from minus to plus the largest '
        f'absolute score"><span>−{num(shading.vmax, trace)}</span>'
        f'<span class="bar" style="background:linear-gradient(to right, {", ".join(shading.stops())})">'
        "</span>"
        f'<span>+{num(shading.vmax, trace)}</span><span class="note">blue: the unit lowers the target; '
        "red: raises it; hover or tap a word for its score and category</span></div>"
    )


def clause_html(attr: Attribution, shading: Shading, key: dict) -> str:
    """The clause text with each unit a shaded, hoverable, traceable span (`attribute.render.shaded_text`)."""

    def unit_html(i: int, u: Unit, score: float, shown: str, style: str) -> str:
        tip = f"{score:.3g} · {u.category or u.span_type or 'uncategorised'}"
        return (
            f'<span class="u n" tabindex="0" style="{style}" data-tip="{esc(tip)}" '
            f'aria-label="{esc(shown)}: {esc(tip)}"'
            f'{Trace("attributions", key, "payload.scores", index=i).attrs()} data-value="{score!r}">'
            f"{esc(shown)}</span>"
        )

    return shaded_text(attr, shading, unit_html)


def _parse(payload: str) -> Attribution | str:
    try:
        attr = Attribution.from_json(payload)
    except (ValidationError, ValueError) as exc:
        return f"payload is not an Attribution: {str(exc).splitlines()[0]}"
    if len(attr.scores) != len(attr.units):
        return f"payload has {len(attr.scores)} scores for {len(attr.units)} units"
    return attr


class AttributionMaps:
    """Builds the attribution section from one variant of the `attributions` table."""

    def __init__(self, data: RunData, cfg: ExperimentConfig, figures: FigureWriter):
        self.data, self.cfg, self.figures = data, cfg, figures
        attrs = data.table("attributions")
        self.variant = choose_variant(attrs, cfg.attribution)
        mask = np.logical_and.reduce([attrs[k] == v for k, v in self.variant.items()])
        self.rows = attrs[mask].set_index(["cell_id", "clause_id"])["payload"].to_dict()
        cells = data.cells()
        lacking = ~cells["cell_id"].isin({cell for cell, _ in self.rows})
        # one cell per (model, strategy): the lowest seed that has attributions
        self.grid = cells.assign(_lacking=lacking).sort_values(["_lacking", "seed"], kind="stable")
        self.grid = self.grid.drop_duplicates(["model", "strategy"]).drop(columns="_lacking")
        self.pairs = data.table("pairs")
        self.scores = data.table("scores")
        self.generations = data.table("generations")

    def key(self, cell_id: str, clause_id: str) -> dict:
        return {"cell_id": cell_id, "clause_id": clause_id, **self.variant}

    def one_map(self, cell: dict, clause_id: str, shading: Shading, parsed: dict) -> str:
        name = f"{esc(cell['strategy'])} · {esc(cell['model'])} ({esc(cell['size'])})"
        label = f'<div class="maplabel">{name}</div>'
        got = parsed.get(cell["cell_id"])
        if got is None:
            return f'<div class="map empty">{label}no attribution for this cell</div>'
        if isinstance(got, str):
            return f'<div class="map empty">{label}{esc(got)}</div>'
        return (
            f'<div class="map" data-cell="{esc(cell["cell_id"])}">{label}'
            f'<div class="ctext">{clause_html(got, shading, self.key(cell["cell_id"], clause_id))}</div>'
            f"{self.cell_rule(cell['cell_id'], clause_id)}</div>"
        )

    def cell_rule(self, cell_id: str, clause_id: str) -> str:
        out = []
        if {"cell_id", "clause_id", "metric", "value"} <= set(self.scores.columns):
            s = self.scores[(self.scores["cell_id"] == cell_id) & (self.scores["clause_id"] == clause_id)]
            for metric in [m for m in self.cfg.scoring.metrics if m in set(s["metric"])][:2]:
                v = s[s["metric"] == metric]["value"].iloc[0]
                key = {"cell_id": cell_id, "clause_id": clause_id, "metric": metric}
                out.append(f"{esc(metric)} {num(v, Trace('scores', key, 'value'))}")
        meta = f'<div class="cellmeta">{" · ".join(out)}</div>' if out else ""
        if {"cell_id", "clause_id", "rule"} <= set(self.generations.columns):
            g = self.generations[
                (self.generations["cell_id"] == cell_id) & (self.generations["clause_id"] == clause_id)
            ]
            if not g.empty:
                rule = text(
                    g["rule"].iloc[0],
                    Trace("generations", {"cell_id": cell_id, "clause_id": clause_id}, "rule"),
                )
                meta += f"<details><summary>generated rule</summary><pre>{rule}</pre></details>"
        return meta

    def clause_block(self, clause_id: str) -> str:
        parsed = {cell: _parse(p) for (cell, cid), p in self.rows.items() if cid == clause_id}
        shading = Shading.for_scores(*(a.scores for a in parsed.values() if isinstance(a, Attribution)))
        legend_trace = Trace(
            "attributions", {"clause_id": clause_id, **self.variant}, "payload.scores", "absmax"
        )
        info = (
            self.pairs[self.pairs["clause_id"] == clause_id]
            if "clause_id" in self.pairs.columns
            else self.pairs
        )
        meta = info.iloc[0].to_dict() if not info.empty else {}
        title = f"{esc(clause_id)}{' — ' + esc(meta['title']) if meta.get('title') else ''}"
        where = ", ".join(esc(meta[k]) for k in ("document", "kind", "split") if meta.get(k))
        models = self.data.models()
        head = ['<div class="corner"></div>'] + [
            f'<div class="colhead">{esc(m)} ({esc(size)})</div>' for m, _, size in models
        ]
        body = []
        for strategy in self.data.strategies():
            body.append(f'<div class="rowhead">{esc(strategy)}</div>')
            for model, _, _ in models:
                cell = self.grid[(self.grid["model"] == model) & (self.grid["strategy"] == strategy)]
                body.append(
                    self.one_map(cell.iloc[0].to_dict(), clause_id, shading, parsed)
                    if not cell.empty
                    else '<div class="map empty">not in the grid</div>'
                )
        ref = ""
        if meta.get("rule"):
            ref = (
                f"<details><summary>reference rule</summary>"
                f"<pre>{text(meta['rule'], Trace('pairs', {'clause_id': clause_id}, 'rule'))}</pre></details>"
            )
        return (
            f'<article class="clause" data-clause="{esc(clause_id)}"><h3>{title}</h3>'
            f'<p class="note">{where}</p>{legend(shading, legend_trace)}'
            f'<div class="mapgrid" style="--ncols:{len(models)}">{"".join(head + body)}</div>{ref}</article>'
        )

    def matrix_view(self, chosen: list[str]) -> str:
        """The output-token x unit matrix of one cell: the largest model, FFT first, of a shown clause."""
        order = self.grid.sort_values("params", ascending=False)
        order = pd.concat([order[order["strategy"] == "fft"], order[order["strategy"] != "fft"]])
        for clause_id in [*chosen, *sorted({c for _, c in self.rows})]:
            for cell_id in order["cell_id"]:
                payload = self.rows.get((cell_id, clause_id))
                attr = _parse(payload) if payload is not None else None
                if isinstance(attr, Attribution) and attr.matrix and attr.matrix[0]:
                    fig = attr.plot("matrix", rc=RC)
                    return self.figures.embed(
                        fig,
                        "attribution_matrix",
                        f"Output token by clause unit attribution for {cell_id}",
                        f"Cell {esc(cell_id)}, clause {esc(clause_id)}: the change of each generated "
                        "token's log-probability when a unit is perturbed (row = output token, column = "
                        "unit; first 40 x 60 shown; source: attributions payload.matrix).",
                        small=True,
                    )
        return not_run_note("no stored attribution has an output-token x unit matrix (logprob target only)")


def attribution_section(data: RunData, cfg: ExperimentConfig, figures: FigureWriter) -> Section:
    why = data.not_run("attributions", ATTR_COLUMNS) or data.not_run("cells", CELL_COLUMNS)
    if why:
        return Section("attribution", "Attribution", not_run_note(why))
    maps = AttributionMaps(data, cfg, figures)
    chosen, missing = choose_clauses(
        pd.DataFrame(
            [{"cell_id": a, "clause_id": b} for a, b in maps.rows], columns=["cell_id", "clause_id"]
        ),
        maps.pairs,
        cfg.report.clauses,
        cfg.report.n_clauses,
    )
    variant = ", ".join(f"{k} = {esc(v)}" for k, v in maps.variant.items())
    parts = [
        f"<p>Attribution {variant}. One row per strategy, one column per size; every map of a clause "
        "uses the same colour scale.</p>"
    ]
    if missing:
        parts.append(
            f'<p class="not-run">Requested clause(s) without attributions: {esc(", ".join(missing))}.</p>'
        )
    parts += [maps.clause_block(c) for c in chosen]
    parts.append("<h3>Output token × input unit</h3>" + maps.matrix_view(chosen))
    return Section("attribution", "Attribution", "".join(parts))
