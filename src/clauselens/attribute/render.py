"""Render an attribution as HTML: the clause text with each unit shaded by its score.

The palette is ColorBrewer PuOr (diverging, colour-blind safe): orange for units that support the
original output (positive scores), purple for units that work against it, white for zero. Colours
are scaled by `scale` (default: the largest absolute score of this attribution); pass one shared
scale to put attributions of several models side by side on the same colours. Each unit carries a
`title` with its score, so hovering shows the number.
"""

from __future__ import annotations

import html

import matplotlib

from clauselens.records import Attribution

_PALETTE = matplotlib.colormaps["PuOr_r"]


def score_colour(score: float, scale: float) -> tuple[str, str]:
    """(background, text) colours for a score on a symmetric scale."""
    x = 0.5 if scale <= 0 else 0.5 + 0.5 * max(-1.0, min(1.0, score / scale))
    r, g, b, _ = _PALETTE(x)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    background = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
    return background, "#000000" if luminance > 0.45 else "#ffffff"


def attribution_html(attr: Attribution, *, scale: float | None = None) -> str:
    """A self-contained `<div>` with the clause text, units shaded by score."""
    if scale is None:
        scale = max((abs(s) for s in attr.scores), default=0.0)
    text = attr.clause_text
    pieces: list[str] = []
    cursor = 0
    for unit, score in sorted(zip(attr.units, attr.scores, strict=True), key=lambda us: us[0].start):
        pieces.append(html.escape(text[cursor:unit.start]))
        background, colour = score_colour(score, scale)
        kind = unit.span_type or unit.kind
        title = html.escape(f"{unit.text} · {kind} · score {score:+.4g}", quote=True)
        pieces.append(
            f'<span class="cl-unit" style="background:{background};color:{colour}" '
            f'title="{title}" data-score="{score:.6g}">{html.escape(text[unit.start:unit.end])}</span>'
        )
        cursor = unit.end
    pieces.append(html.escape(text[cursor:]))
    caption = html.escape(
        f"{attr.cell_id} · {attr.clause_id} · {attr.method}/{attr.target}/{attr.perturbation} · "
        f"scale ±{scale:.3g}")
    return (f'<div class="cl-attribution" data-clause="{html.escape(attr.clause_id, quote=True)}">'
            f'<div class="cl-caption">{caption}</div>'
            f'<p class="cl-text" style="line-height:1.8">{"".join(pieces)}</p></div>')
