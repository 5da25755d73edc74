"""The one attribution renderer: the clause text with each unit shaded by its score, and matplotlib plots.

One palette for every view of an attribution (the report's maps and matrix figure, a notebook's
`Attribution.to_html()` / `Attribution.plot()`): ColorBrewer RdBu, reversed (`PALETTE`), diverging and
safe for the common colour-vision deficiencies: red for units that raise the target (support the
original output), blue for units that lower it, white for zero. Colours sit on a symmetric scale
`±scale` (default: the largest absolute score of the attribution); pass one shared scale (`Shading`)
to put attributions of several models side by side on the same colours.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any, Literal

import matplotlib
import numpy as np
from matplotlib.colors import Normalize, to_hex, to_rgb
from matplotlib.figure import Figure

from clauselens.records import Attribution, Unit

PALETTE = "RdBu_r"
MISSING_STYLE = "background:#e0e0e0;color:#000"  # a NaN or infinite score

# (unit index, unit, score, the unit's visible text, its inline style) -> the unit's HTML element
UnitHtml = Callable[[int, Unit, float, str, str], str]


class Shading:
    """Maps a score to a background and a readable text colour on the symmetric scale ±vmax."""

    def __init__(self, vmax: float):
        self.vmax = vmax if vmax > 0 and math.isfinite(vmax) else 1.0
        self.cmap = matplotlib.colormaps[PALETTE]
        self.norm = Normalize(-self.vmax, self.vmax)

    @classmethod
    def for_scores(cls, *score_lists: Any) -> Shading:
        """A scale that fits every finite score of the given lists (e.g. one clause's maps in every cell)."""
        return cls(max((abs(float(s)) for scores in score_lists for s in scores if math.isfinite(s)),
                       default=0.0))

    def colours(self, score: float) -> tuple[str, str]:
        """(background, text) colours of a score; scores beyond ±vmax get the end colours."""
        rgb = to_rgb(self.cmap(self.norm(max(-self.vmax, min(self.vmax, score)))))
        lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
        return to_hex(rgb), "#ffffff" if lum < 0.45 else "#000000"

    def style(self, score: float) -> str:
        if not math.isfinite(score):
            return MISSING_STYLE
        background, colour = self.colours(score)
        return f"background:{background};color:{colour}"

    def stops(self, n: int = 11) -> list[str]:
        """Colours from -vmax to +vmax, for a legend's gradient."""
        return [to_hex(self.cmap(x)) for x in np.linspace(0, 1, n)]


def shaded_text(attr: Attribution, shading: Shading, unit_html: UnitHtml) -> str:
    """The clause text (escaped) with each unit, in text order, replaced by `unit_html(...)`.

    Text between units stays plain; a unit that overlaps one already drawn shows only its new characters
    (nothing if it has none), so the clause text appears exactly once."""
    text, out, pos = attr.clause_text, [], 0
    for i in sorted(range(len(attr.units)), key=lambda i: attr.units[i].start):
        unit = attr.units[i]
        start, end = max(unit.start, pos), min(unit.end, len(text))
        if start >= end:
            continue
        score = float(attr.scores[i])
        out.append(html.escape(text[pos:start]))
        out.append(unit_html(i, unit, score, text[start:end], shading.style(score)))
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _titled_unit(i: int, unit: Unit, score: float, shown: str, style: str) -> str:
    kind = unit.category or unit.span_type or unit.kind
    title = html.escape(f"{unit.text} · {kind} · score {score:+.4g}", quote=True)
    return (f'<span class="cl-unit" style="{style}" title="{title}" data-score="{score:.6g}">'
            f"{html.escape(shown)}</span>")


def attribution_html(attr: Attribution, *, scale: float | Shading | None = None) -> str:
    """A self-contained `<div>`: a caption and the clause text, units shaded by score (hover: the score)."""
    shading = scale if isinstance(scale, Shading) else (
        Shading.for_scores(attr.scores) if scale is None else Shading(scale))
    caption = html.escape(
        f"{attr.cell_id} · {attr.clause_id} · {attr.method}/{attr.target}/{attr.perturbation} · "
        f"scale ±{shading.vmax:.3g}")
    return (f'<div class="cl-attribution" data-clause="{html.escape(attr.clause_id, quote=True)}">'
            f'<div class="cl-caption">{caption}</div>'
            f'<p class="cl-text" style="line-height:1.8">'
            f'{shaded_text(attr, shading, _titled_unit)}</p></div>')


def matrix_figure(attr: Attribution, max_rows: int = 40, max_cols: int = 60,
                  rc: dict[str, Any] | None = None) -> Figure:
    """Output token x input unit attribution (the first max_rows x max_cols), symmetric colour scale."""
    if not attr.matrix:
        raise ValueError(f"{attr.cell_id} / {attr.clause_id}: no output-token x unit matrix "
                         f"(target {attr.target!r}; only logprob has one)")
    m = np.asarray(attr.matrix, dtype=float)[:max_rows, :max_cols]
    vmax = float(np.nanmax(np.abs(m))) or 1.0
    units = [u.text for u in attr.units][: m.shape[1]]
    tokens = (attr.output_tokens or [str(i) for i in range(m.shape[0])])[: m.shape[0]]
    with matplotlib.rc_context({**(rc or {}), "axes.grid": False}):
        fig = Figure(
            figsize=(min(11.0, 1.8 + 0.22 * m.shape[1]), 1.6 + 0.2 * m.shape[0]), layout="constrained"
        )
        ax = fig.subplots()
        im = ax.imshow(m, cmap=PALETTE, vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(units)), units, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), [repr(t)[1:-1].replace(" ", "␣") for t in tokens], fontsize=7)
        ax.set_xlabel("clause unit")
        ax.set_ylabel("output token")
        fig.colorbar(im, ax=ax, shrink=0.8, label="attribution")
    return fig


def scores_figure(
    attr: Attribution, *, scale: float | None = None, rc: dict[str, Any] | None = None
) -> Figure:
    """One bar per unit, in text order, coloured like the HTML map (same palette and scale)."""
    shading = Shading.for_scores(attr.scores) if scale is None else Shading(scale)
    order = sorted(range(len(attr.units)), key=lambda i: attr.units[i].start)
    scores = [float(attr.scores[i]) for i in order]
    colours = [shading.colours(s)[0] if math.isfinite(s) else "#e0e0e0" for s in scores]
    with matplotlib.rc_context({**(rc or {}), "axes.grid": False}):
        fig = Figure(figsize=(min(11.0, 1.8 + 0.3 * len(order)), 3.0), layout="constrained")
        ax = fig.subplots()
        ax.bar(range(len(order)), scores, color=colours, edgecolor="#555555", linewidth=0.5)
        ax.axhline(0.0, color="#555555", linewidth=0.8)
        ax.set_xticks(range(len(order)), [attr.units[i].text for i in order], rotation=90, fontsize=7)
        ax.set_ylabel(f"score ({attr.target})")
        ax.set_title(f"{attr.cell_id} · {attr.clause_id} · {attr.method}/{attr.perturbation}", fontsize=9)
    return fig


def plot(attr: Attribution, kind: Literal["auto", "scores", "matrix"] = "auto", **kw: Any) -> Figure:
    """A matplotlib figure: the output-token x unit matrix (`"matrix"`) or one bar per unit (`"scores"`);
    `"auto"` draws the matrix where the attribution has one."""
    if kind == "auto":
        kind = "matrix" if attr.matrix and attr.matrix[0] else "scores"
    if kind == "matrix":
        return matrix_figure(attr, **kw)
    if kind == "scores":
        return scores_figure(attr, **kw)
    raise ValueError(f"plot kind: expected one of auto, scores, matrix; got {kind!r}")
