"""clauselens.analyse: attributions -> token categories, focus metrics and statistical tests.

`analyse_run(store, cfg)` is the stage; the other names are its parts, usable on their own.
"""

from clauselens.analyse.categories import CATEGORIES, categorise
from clauselens.analyse.comparisons import compare_strategies, pattern_permutation_test, ranking_agreement
from clauselens.analyse.measures import FocusMetrics, category_shares, focus_metrics
from clauselens.analyse.stage import analyse_run
from clauselens.analyse.trends import scale_trends

__all__ = [
    "CATEGORIES",
    "FocusMetrics",
    "analyse_run",
    "categorise",
    "category_shares",
    "compare_strategies",
    "focus_metrics",
    "pattern_permutation_test",
    "ranking_agreement",
    "scale_trends",
]
