"""Attribution and correctness: does how a model reads a clause predict whether its rule is right?

Observations are (cell, clause) pairs that have both attribution measures and an execution score.
The outcome is 1 when the generated rule gives the expected verdict on *every* fixture building of
the clause (`verdict_accuracy` = 1), else 0. Each predictor (focus: Gini, entropy; reliance: the share
of attribution on numerical constraints and on rule identifiers) is standardised and fitted in its own
model, adjusted for log model size when the data hold several sizes (bigger models may be both more
focused and more often right).

A clause is seen by every cell, and some clauses are simply easier, so observations of one clause are
not independent: a GEE logistic model (statsmodels; binomial family, exchangeable working correlation,
groups = clause) with the Mancl–DeRouen bias-reduced sandwich covariance, which keeps Wald intervals
honest with few clusters. Estimates are odds ratios per standard deviation of the predictor.

Degenerate data give a row saying why, not an exception: too few clauses, every outcome the same, a
constant predictor, perfect separation, or a fit that does not converge.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.genmod.generalized_estimating_equations import GEE
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

PREDICTORS: dict[str, tuple[str, str]] = {  # term -> (table, metric or category)
    "gini": ("focus", "gini"),
    "entropy": ("focus", "entropy"),
    "share:numerical_constraint": ("category_shares", "numerical_constraint"),
    "share:rule_identifier": ("category_shares", "rule_identifier"),
}
MIN_CLAUSES = 5
MAX_ABS_COEF = 10.0  # an odds ratio above e^10 per SD is separation, not an effect
METHOD = "GEE logistic, exchangeable within clause, bias-reduced sandwich SE"


def correctness_data(scores: pd.DataFrame, focus: pd.DataFrame, shares: pd.DataFrame,
                     cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, clause): correct (0/1), log10_params, and every predictor of `PREDICTORS`."""
    verdicts = scores[scores["metric"] == "verdict_accuracy"].dropna(subset=["value"])
    data = verdicts[["cell_id", "clause_id"]].copy()
    data["correct"] = (verdicts["value"].to_numpy() >= 1.0).astype(float)
    for term, (table, name) in PREDICTORS.items():
        if table == "focus":
            part = focus[focus["metric"] == name] if not focus.empty else focus
            values = part[["cell_id", "clause_id", "value"]] if not part.empty else None
        else:
            part = shares[shares["category"] == name] if not shares.empty else shares
            values = part[["cell_id", "clause_id", "share"]].rename(columns={"share": "value"}) \
                if not part.empty else None
        if values is None:
            data[term] = math.nan
            continue
        data = data.merge(values.rename(columns={"value": term}), on=["cell_id", "clause_id"], how="left")
    params = cells.drop_duplicates("cell_id").set_index("cell_id")["params"].astype(float)
    data["log10_params"] = np.log10(data["cell_id"].map(params))
    return data


def _not_estimable(term: str, reason: str, n: int, n_clauses: int, n_correct: int) -> dict[str, Any]:
    return {"term": term, "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan,
            "n": n, "n_clauses": n_clauses, "n_correct": n_correct, "method": METHOD, "adjusted_for": "",
            "sentence": f"not estimable: {reason}"}


def _standardise(x: pd.Series) -> pd.Series:
    return (x - x.mean()) / x.std(ddof=0)


def fit_term(data: pd.DataFrame, term: str) -> dict[str, Any]:
    """One `correctness_model` row: the odds ratio of a correct verdict per SD of `term`."""
    d = data.dropna(subset=[term, "correct"])
    n, n_clauses, n_correct = len(d), int(d["clause_id"].nunique()), int(d["correct"].sum())
    if n_clauses < MIN_CLAUSES:
        return _not_estimable(term, f"{n_clauses} clause(s) with both a verdict score and {term} "
                              f"(need {MIN_CLAUSES})", n, n_clauses, n_correct)
    if n_correct in (0, n):
        what = "no" if n_correct == 0 else "every"
        return _not_estimable(term, f"{what} generated rule gives the right verdict ({n} rules)", n,
                              n_clauses, n_correct)
    if d[term].std(ddof=0) == 0:
        return _not_estimable(term, f"{term} takes one value only", n, n_clauses, n_correct)
    design = pd.DataFrame({term: _standardise(d[term])}, index=d.index)
    adjusted = d["log10_params"].notna().all() and d["log10_params"].nunique() > 1
    if adjusted:
        design["log10_params"] = _standardise(d["log10_params"])
    design = sm.add_constant(design, has_constant="add")
    groups = pd.factorize(d["clause_id"])[0]
    model = GEE(d["correct"].to_numpy(), design, groups=groups, family=sm.families.Binomial(),
                cov_struct=sm.cov_struct.Exchangeable())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = model.fit(cov_type="bias_reduced")
        except (ValueError, np.linalg.LinAlgError) as exc:
            return _not_estimable(term, f"the fit failed ({exc})", n, n_clauses, n_correct)
    coef, p = float(fit.params[term]), float(fit.pvalues[term])
    low, high = (float(v) for v in fit.conf_int().loc[term])
    if any(issubclass(w.category, PerfectSeparationWarning) for w in caught) or abs(coef) > MAX_ABS_COEF:
        return _not_estimable(term, f"{term} separates right from wrong verdicts perfectly", n, n_clauses,
                              n_correct)
    if not fit.converged or any(issubclass(w.category, ConvergenceWarning) for w in caught) \
            or not all(map(math.isfinite, (coef, low, high, p))):
        return _not_estimable(term, "the model did not converge", n, n_clauses, n_correct)
    odds, odds_low, odds_high = math.exp(coef), math.exp(low), math.exp(high)
    direction = "raises" if odds > 1 else "lowers"
    return {"term": term, "estimate": odds, "ci_low": odds_low, "ci_high": odds_high, "p": p, "n": n,
            "n_clauses": n_clauses, "n_correct": n_correct, "method": METHOD,
            "adjusted_for": "log10 model size" if adjusted else "",
            "sentence": (f"One SD more {term} {direction} the odds of a rule with the right verdict by a "
                         f"factor of {odds:.2f} (95% CI {odds_low:.2f} to {odds_high:.2f}, p = {p:.3g}; "
                         f"{n} rules, {n_clauses} clauses{', adjusted for model size' if adjusted else ''})")}


def correctness_model(data: pd.DataFrame) -> list[dict[str, Any]]:
    """Table `correctness_model`: one row per predictor (see `fit_term`)."""
    return [fit_term(data, term) for term in PREDICTORS]
