"""Plain-language labels and sentences for test results ("FFT is more focused than LoRA at 1.5M: ...")."""

from __future__ import annotations

import math

from clauselens.analyse.categories import CATEGORY_LABELS
from clauselens.analyse.measures import FOCUS_DIRECTION

STRATEGY_LABELS = {"base": "the base model", "fft": "FFT", "lora": "LoRA", "qlora": "QLoRA"}
TEST_LABELS = {
    "kruskal": "Kruskal–Wallis", "dunn": "Dunn", "friedman": "Friedman", "wilcoxon": "Wilcoxon",
    "jonckheere": "Jonckheere–Terpstra", "page": "Page's L", "permutation_js": "permutation",
    "kendall_tau": "Wilcoxon (tau vs 0)", "t_gain": "one-sided t", "tost": "TOST",
    "t_crossed": "t-test with clauses and runs both random",
    "slope_crossed": "slope t-test with clauses and runs both random",
}
EFFECT_SYMBOLS = {
    "epsilon_squared": "ε²", "kendalls_w": "Kendall's W", "cliffs_delta": "Cliff's δ",
    "rank_biserial": "r", "spearman_rho": "ρ", "mean_within_clause_rho": "mean within-clause ρ",
    "js_distance": "JS distance", "mean_kendall_tau": "mean τ", "mean_gain": "mean gain",
    "mean_difference": "mean difference", "slope_per_decade": "slope per tenfold size",
}


def strategy_label(name: str) -> str:
    return STRATEGY_LABELS.get(name, name)


def join_labels(names: list[str]) -> str:
    labels = [strategy_label(n) for n in names]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def metric_label(metric: str, top_k: int = 3) -> str:
    kind, _, category = metric.partition(":")
    if kind == "share" and "+" in category:
        return "share on " + " and ".join(CATEGORY_LABELS.get(c, c) for c in category.split("+"))
    if kind == "share":
        return f"share on {CATEGORY_LABELS.get(category, category)}"
    if kind == "share_per_unit":
        return f"per-unit share on {CATEGORY_LABELS.get(category, category)}"
    return {"entropy": "normalised entropy", "gini": "Gini", "top_k_mass": f"top-{top_k} mass",
            "effective_units": "effective number of units"}.get(metric, metric.replace("_", " "))


def comparison_phrase(metric: str, higher: bool) -> str:
    """What "A has a higher value of `metric` than B" means, e.g. "is more focused than"."""
    kind, _, category = metric.partition(":")
    if metric in FOCUS_DIRECTION:
        more = higher == (FOCUS_DIRECTION[metric] > 0)
        return "is more focused than" if more else "is less focused than"
    if kind in ("share", "share_per_unit"):
        label = CATEGORY_LABELS.get(category, category)
        per_unit = " per unit" if kind == "share_per_unit" else ""
        return f"puts {'more' if higher else 'less'} weight{per_unit} on {label} than"
    return f"has {'higher' if higher else 'lower'} {metric} than"


def trend_phrase(rho: float) -> str:
    return "rises" if rho > 0 else "falls"


def format_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def format_effect(name: str | None, value: float | None, ci: tuple[float, float] | None = None) -> str:
    if name is None or value is None or not math.isfinite(value):
        return ""
    text = f"{EFFECT_SYMBOLS.get(name, name)} = {value:.2f}"
    if ci is not None and all(math.isfinite(c) for c in ci):
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return text


def correction_note(correction: str | None, family_size: int) -> str:
    if not correction:
        return ""
    name = {"holm": "Holm", "bh": "Benjamini–Hochberg"}.get(correction, correction)
    return f" ({name} over {family_size} tests)" if family_size > 1 else f" ({name})"
