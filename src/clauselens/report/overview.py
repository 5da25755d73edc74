"""Overview: what was run (config, manifest), on what data, and what training cost per cell."""

from __future__ import annotations

from typing import Any

import pandas as pd

from clauselens.config import ExperimentConfig
from clauselens.report.html import Section, Trace, cell_value, esc, frame_table, not_run, num, table
from clauselens.report.run_data import CELL_COLUMNS, RunData
from clauselens.tables import CELLS, PAIRS, TRAINING

RUN_FIELDS = ("name", "config_hash", "config_file", "git_commit", "started", "finished", "python", "platform")
RUN_FIELDS += ("sandbox",)  # the rule sandbox layers active and missing for this run
OPTION_SECTIONS = ("attribution", "generation", "scoring", "analysis", "report", "data", "executor")
TRAINING_COLUMNS = (
    "trainable_params",
    "total_params",
    "peak_memory_mb",
    "base_weight_mb",
    "wall_s",
    "tokens_per_s",
    "train_loss",
    "val_loss",
    "steps",
    "quantized",
    "backend",
    "notes",
)


def child(path: str | None, *parts: Any) -> str | None:
    """The JSON path of a manifest entry; None stays None (a value that is not from the manifest)."""
    return None if path is None else ".".join(str(p) for p in (path, *parts) if p != "")


def manifest_value(value: Any, path: str | None) -> str:
    """A config value, with its manifest JSON path (`data-manifest="config.attribution.unit"`) when it
    was read from the manifest."""
    shown = "–" if value is None else ", ".join(map(str, value)) if isinstance(value, list) else value
    source = "" if path is None else f' data-manifest="{esc(path)}"'
    return f'<span class="m"{source}>{esc(shown)}</span>'


def _kv(items: dict[str, Any], path: str | None) -> str:
    rows = []
    for k, v in items.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items()) or "–"
            rows.append(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>")
        else:
            rows.append(f"<dt>{esc(k)}</dt><dd>{manifest_value(v, child(path, k))}</dd>")
    return f'<dl class="kv">{"".join(rows)}</dl>'


def _run_and_config(data: RunData, cfg: ExperimentConfig) -> str:
    man = data.manifest
    if data.manifest_error:
        head = not_run(
            f"manifest: {data.manifest_error}; the options below are the config given to the report"
        )
        config, prefix = cfg.model_dump(mode="json"), None
    else:
        head = _kv({k: man[k] for k in RUN_FIELDS if k in man}, "")  # top-level keys
        config, prefix = man.get("config", {}), "config"
    out = [head]
    models = config.get("models", [])
    if models:
        out.append("<h3>Models</h3>")
        rows = [
            [
                manifest_value(m.get(k), child(prefix, "models", i, k))
                for k in ("name", "id", "params", "dtype")
            ]
            for i, m in enumerate(models)
        ]
        out.append(table(["name", "id", "params (config)", "dtype"], rows))
    strategies = config.get("strategies", {})
    enabled = {k: v for k, v in strategies.items() if isinstance(v, dict) and v.get("enabled", True)}
    if enabled:
        out.append("<h3>Strategies</h3>")
        keys = sorted({k for v in enabled.values() for k in v if k != "enabled"})
        rows = [
            [esc(name)]
            + [manifest_value(v[k], child(prefix, "strategies", name, k)) if k in v else "–" for k in keys]
            for name, v in enabled.items()
        ]
        base = strategies.get("base")
        if base is not None:
            out.append(
                f"<p>Base model as a cell: {manifest_value(base, child(prefix, 'strategies', 'base'))}</p>"
            )
        out.append(table(["strategy", *map(esc, keys)], rows))
    out.append("<h3>Options</h3>")
    seeds = config.get("seeds", man.get("seeds"))
    out.append(f"<p>Seeds: {manifest_value(seeds, child(prefix, 'seeds'))}</p>")
    for name in OPTION_SECTIONS:
        if isinstance(config.get(name), dict):
            out.append(
                f"<details{' open' if name == 'attribution' else ''}><summary>{esc(name)}</summary>"
                f"{_kv(config[name], child(prefix, name))}</details>"
            )
    if man.get("versions"):
        out.append(
            f"<details><summary>package versions</summary>{_kv(man['versions'], 'versions')}</details>"
        )
    return "".join(out)


def _data_summary(data: RunData) -> str:
    why = data.not_run(PAIRS, ("clause_id", "document", "kind"))
    if why:
        return not_run(why)
    pairs = data.table(PAIRS)
    split = "split" in pairs.columns
    kinds = sorted(pairs["kind"].unique())
    splits = [s for s in ("train", "val", "test") if split and s in set(pairs["split"])]
    rows = []
    for doc, g in pairs.groupby("document", sort=True):
        row = [esc(doc)]
        row += [
            num(
                int((g["kind"] == k).sum()),
                Trace(PAIRS.name, {"document": doc, "kind": k}, "clause_id", "count"),
            )
            for k in kinds
        ]
        row += [
            num(
                int((g["split"] == s).sum()),
                Trace(PAIRS.name, {"document": doc, "split": s}, "clause_id", "count"),
            )
            for s in splits
        ]
        rows.append(row + [num(len(g), Trace(PAIRS.name, {"document": doc}, "clause_id", "count"))])
    total = ["<strong>all</strong>"]
    total += [
        num(int((pairs["kind"] == k).sum()), Trace(PAIRS.name, {"kind": k}, "clause_id", "count"))
        for k in kinds
    ]
    total += [
        num(int((pairs["split"] == s).sum()), Trace(PAIRS.name, {"split": s}, "clause_id", "count"))
        for s in splits
    ]
    rows.append(total + [num(len(pairs), Trace(PAIRS.name, {}, "clause_id", "count"))])
    header = [
        "document",
        *(f"{esc(k)} clauses" for k in kinds),
        *(f"{esc(s)} split" for s in splits),
        "total",
    ]
    return table(header, rows, "Clauses by document, kind and split (table pairs)")


def _training(data: RunData) -> str:
    cells = data.cells()
    if cells.empty:
        return not_run(data.not_run(CELLS, CELL_COLUMNS) or "no cells")
    parts = [
        frame_table(
            cells[
                ["cell_id", "model", "params", "strategy", "seed", "status"]
                + (["error"] if "error" in cells.columns else [])
            ],
            CELLS.name,
            ["cell_id"],
            caption="Cells of the grid (table cells)",
        )
    ]
    why = data.not_run(TRAINING, ("cell_id",))
    if why:
        return "".join(parts) + not_run(why)
    train = data.table(TRAINING)
    cols = [c for c in TRAINING_COLUMNS if c in train.columns]
    merged = cells[["cell_id", "size", "strategy"]].merge(train, on="cell_id", how="inner")
    rows = [
        [esc(r["cell_id"]), esc(r["size"]), esc(r["strategy"])]
        + [cell_value(r[c], Trace(TRAINING.name, {"cell_id": r["cell_id"]}, c)) for c in cols]
        for r in merged.to_dict("records")
    ]
    parts.append(
        table(
            ["cell", "size", "strategy", *map(esc, cols)],
            rows,
            "Training per cell: parameters, peak memory (MB), wall time (s), losses (table training)",
        )
    )
    lacking = sorted(set(cells["cell_id"]) - set(pd.unique(train["cell_id"])))
    if lacking:
        parts.append(f'<p class="note">No training row for: {esc(", ".join(lacking))}.</p>')
    return "".join(parts)


def overview_section(data: RunData, cfg: ExperimentConfig) -> Section:
    body = (
        "<h3>Run</h3>"
        + _run_and_config(data, cfg)
        + "<h3>Data</h3>"
        + _data_summary(data)
        + "<h3>Training</h3>"
        + _training(data)
    )
    return Section("overview", "Overview", body)
