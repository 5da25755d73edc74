"""write_report: one offline HTML file per run, plus its figures (PNG, SVG) and tables (CSV, Parquet).

The page needs no network and no JavaScript: figures are SVG files beside it (figures/), the CSS is
inline, hover details are CSS. It opens with the answers to the three declared questions; every test is
on a second page, statistics.html. It reads only the store and the manifest, so it can be rebuilt at
any time.
"""

from __future__ import annotations

from pathlib import Path

from clauselens.config import ExperimentConfig
from clauselens.layout import REPORT
from clauselens.report.answers import answers_section
from clauselens.report.attribution import attribution_section
from clauselens.report.behaviour import behaviour_section
from clauselens.report.exploratory import exploratory_section, write_statistics_page
from clauselens.report.extras import extra_sections
from clauselens.report.figures import FigureWriter
from clauselens.report.html import esc, page
from clauselens.report.overview import overview_section
from clauselens.report.quality import quality_section
from clauselens.report.reading import reading_section, unread_cells, with_reading_warning
from clauselens.report.run_data import load_run_data
from clauselens.store import Store, atomic_write


def write_report(store: Store, cfg: ExperimentConfig) -> Path:
    """Write `<store root>/report/index.html` with figures/ and tables/ beside it; return the HTML path."""
    out = store.root / REPORT  # the layout's folder name; kept relative, as the user gave the output folder
    data = load_run_data(store)
    figures = FigureWriter(out / "figures")
    alpha = cfg.analysis.alpha
    unread = unread_cells(data)
    sections = [
        answers_section(data, cfg, figures),
        reading_section(data),
        with_reading_warning(attribution_section(data, cfg, figures), unread),
        overview_section(data, cfg),
        quality_section(data, cfg, figures),
        with_reading_warning(behaviour_section(data, cfg, figures), unread),
        exploratory_section(data, alpha),
        *extra_sections(data),
    ]
    store.export(out / "tables")
    man = data.manifest
    name = man.get("name", cfg.name)
    subtitle = (
        f"config hash {esc(man.get('config_hash', cfg.config_hash()))} · "
        f"commit {esc(man.get('git_commit', 'unknown'))} · output folder {esc(store.root)}"
    )
    html = page(f"clauselens report: {name}", subtitle, sections)
    write_statistics_page(out, data, f"clauselens report: {name}", alpha)
    path = out / "index.html"
    with atomic_write(path) as fh:
        fh.write(html)
    _make_readable(out)
    return path


def _make_readable(out: Path) -> None:
    """atomic_write's temporary files are private (0600); a report is meant to be shared or served."""
    for p in out.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
