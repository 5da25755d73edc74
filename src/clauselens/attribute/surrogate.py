"""Surrogate attribution: fit a linear model of the output on random ablations, read scores off it.

Leave-one-out asks n questions, each about one unit with all others present, and so misses
interactions (a number matters together with its unit and comparator); exact Shapley values need 2**n
evaluations. A surrogate spends a budget of a few times leave-one-out's n + 1 evaluations on
coalitions of many sizes and fits `v(S) ~ b0 + sum_i b_i z_i (+ sum_ij b_ij z_i z_j)` to them:

- `kernel_shap` (default): weighted least squares with the Shapley kernel and the coalitions of
  `coalitions.sample_coalitions`, constrained to pass through `v(none)` and `v(all)` (one coefficient is
  eliminated). Its coefficients estimate Shapley values, exactly so when the budget covers every
  coalition. Scores sum to `v(all) - v(none)`.
- `lasso`: ContextCite's design (Cohen-Wang et al. 2024): uniformly random ablations and an L1-penalised
  fit (penalty chosen by cross-validation), which sets most units to exactly zero.

With `interactions = k`, the k units with the largest first-order scores also get a term for each of
their pairs; a unit's score is then the Shapley value of the fitted surrogate, `b_i + sum_j b_ij / 2`,
and the pair terms are kept in `options["interactions"]`.

Every result carries `r2_heldout`: the R² of the surrogate on coalitions it was not fitted on
(10-fold cross-validation over the sampled coalitions, kernel-weighted for `kernel_shap`). A low value
says the output is not close to additive in the units, and the scores should be read with care.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from sklearn.linear_model import Lasso, LassoCV, LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold

from clauselens.attribute.coalitions import Coalitions, sample_coalitions, uniform_coalitions
from clauselens.attribute.methods import MethodResult, ValueOfMasks

FITS = ("kernel_shap", "lasso")
FOLDS = 10


@dataclass
class Design:
    """The surrogate's features: one per unit, then one per interacting pair."""

    n: int
    pairs: list[tuple[int, int]]

    def features(self, masks: np.ndarray) -> np.ndarray:
        z = masks.astype(float)
        products = [z[:, i] * z[:, j] for i, j in self.pairs]
        return np.column_stack([z, *products]) if products else z

    def shapley(self, coef: np.ndarray) -> np.ndarray:
        """Shapley values of the fitted surrogate, shape (width, n): a pair term is split in half."""
        phi = coef[:, :self.n].copy()
        for p, (i, j) in enumerate(self.pairs):
            phi[:, i] += coef[:, self.n + p] / 2
            phi[:, j] += coef[:, self.n + p] / 2
        return phi


def fit_kernel_shap(design: Design, masks: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Coefficients (width, features) of the weighted fit through v(none) (row 0) and v(all) (row 1).

    The constraint `sum(coef) = v(all) - v(none)` eliminates the last unit's coefficient:
    `y - v(none) - z_last * total = sum_f coef_f (x_f - z_last)` over the other features.
    """
    base, total = values[0], values[1] - values[0]
    x = design.features(masks[2:])
    last = x[:, design.n - 1:design.n]
    y = values[2:] - base - last * total
    coef = np.zeros((values.shape[1], x.shape[1]))
    others = [f for f in range(x.shape[1]) if f != design.n - 1]
    if len(y) and others:
        model = LinearRegression(fit_intercept=False).fit(x[:, others] - last, y, sample_weight=weights[2:])
        coef[:, others] = model.coef_
    coef[:, design.n - 1] = total - coef[:, others].sum(axis=1)
    return coef


def predict_kernel_shap(design: Design, coef: np.ndarray, masks: np.ndarray, base: np.ndarray) -> np.ndarray:
    return base + design.features(masks) @ coef.T


def lasso_alpha(x: np.ndarray, total: np.ndarray) -> float:
    """The L1 penalty, chosen by cross-validation on the summed output (tiny when too few rows to split)."""
    folds = min(5, len(x) // 2)
    return float(LassoCV(cv=folds, alphas=30, max_iter=5000).fit(x, total).alpha_) if folds >= 2 else 1e-6


def fit_lasso(design: Design, masks: np.ndarray, values: np.ndarray,
              alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(intercepts (width,), coefficients (width, features)) of one L1 fit per output column."""
    model = Lasso(alpha=alpha, max_iter=5000).fit(design.features(masks), values)
    coef = np.atleast_2d(model.coef_)
    return np.atleast_1d(model.intercept_), coef


def heldout_r2(design: Design, fit: str, cs: Coalitions, values: np.ndarray, alpha: float,
               rng: np.random.Generator) -> float | None:
    """R² of the summed output on coalitions left out of the fit (10-fold over the free rows)."""
    free = np.arange(2, len(cs.masks)) if fit == "kernel_shap" else np.arange(len(cs.masks))
    if len(free) < 4:
        return None
    total = values.sum(axis=1)
    predicted = np.zeros(len(free))
    splits = KFold(n_splits=min(FOLDS, len(free)), shuffle=True, random_state=int(rng.integers(2**31)))
    for train, test in splits.split(free):
        if fit == "kernel_shap":
            rows = np.concatenate([[0, 1], free[train]])
            coef = fit_kernel_shap(design, cs.masks[rows], total[rows, None], cs.weights[rows])
            predicted[test] = predict_kernel_shap(design, coef, cs.masks[free[test]], total[:1])[:, 0]
        else:
            rows = free[train]
            intercept, coef = fit_lasso(design, cs.masks[rows], total[rows, None], alpha)
            predicted[test] = intercept[0] + design.features(cs.masks[free[test]]) @ coef[0]
    sample_weight = cs.weights[free] if fit == "kernel_shap" else None
    return float(r2_score(total[free], predicted, sample_weight=sample_weight))


def surrogate(n: int, value: ValueOfMasks, *, budget: int, fit: str = "kernel_shap", interactions: int = 0,
              rng: np.random.Generator) -> MethodResult:
    """Surrogate attribution of `n` units from at most `budget` evaluations of `value`."""
    if fit not in FITS:
        raise ValueError(f"attribution.surrogate_fit: expected one of {FITS}; got {fit!r}")
    budget = max(budget, 2)
    cs = sample_coalitions(n, budget, rng) if fit == "kernel_shap" else uniform_coalitions(n, budget, rng)
    values = value(cs.masks)
    design = Design(n, [])
    alpha = lasso_alpha(cs.masks.astype(float), values.sum(axis=1)) if fit == "lasso" else 0.0

    def coefficients(design: Design) -> np.ndarray:
        if fit == "kernel_shap":
            return fit_kernel_shap(design, cs.masks, values, cs.weights)
        return fit_lasso(design, cs.masks, values, alpha)[1]

    coef = coefficients(design)
    if interactions > 1 and n > 1:
        top = np.argsort(-np.abs(design.shapley(coef).sum(axis=0)), kind="stable")[:interactions]
        design = Design(n, [(int(min(i, j)), int(max(i, j))) for i, j in combinations(top, 2)])
        coef = coefficients(design)
    matrix = design.shapley(coef)  # (width, n)
    options: dict[str, object] = {"surrogate_fit": fit, "coalitions": len(cs.masks),
                                  "r2_heldout": heldout_r2(design, fit, cs, values, alpha, rng)}
    if fit == "lasso":
        options["lasso_alpha"] = alpha
    if design.pairs:
        summed = coef.sum(axis=0)
        options["interactions"] = [[i, j, float(summed[n + p])] for p, (i, j) in enumerate(design.pairs)]
    return MethodResult(matrix.sum(axis=0), matrix, values[1], values[0], options)
