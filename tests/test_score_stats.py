"""summarise (bootstrap CIs per subset) and the plateau steps (gain and TOST per size step) on synthetic
scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clauselens.analyse.control import control_exploratory
from clauselens.analyse.quality import plateau_rows, step_drafts
from clauselens.config import AnalysisConfig, ScoringConfig
from clauselens.labels import format_params
from clauselens.records import TestResult
from clauselens.score import summarise
from clauselens.score.plateau import size_steps
from clauselens.score.summary import bootstrap_ci

SIZES = [("m-1M", 1_000_000), ("m-4M", 4_000_000), ("m-16M", 16_000_000), ("m-64M", 64_000_000)]


def test_bootstrap_ci_contains_the_mean_and_narrows_with_n() -> None:
    rng = np.random.default_rng(1)
    cfg = ScoringConfig(bootstrap=1000)
    widths = []
    for n in (20, 80, 320):
        z = rng.normal(0, 1, n)
        values = 0.7 + 0.1 * (z - z.mean()) / z.std(ddof=1)  # same spread at every n
        low, high = bootstrap_ci(values, cfg, key=f"n{n}")
        assert low < values.mean() < high
        widths.append(high - low)
    assert widths[0] > 1.6 * widths[1] > 1.6**2 * widths[2]  # ~1/sqrt(n): halves per 4x n
    assert widths[2] == pytest.approx(2 * 1.96 * 0.1 / np.sqrt(320), rel=0.15)  # the normal-theory width
    assert bootstrap_ci(np.array([0.5]), cfg) != bootstrap_ci(np.array([0.5]), cfg)  # NaN bounds for n = 1
    assert bootstrap_ci(np.ones(5), cfg) == (1.0, 1.0)
    narrow = bootstrap_ci(values, ScoringConfig(bootstrap=1000, alpha=0.5), key="n320")
    assert high - low > narrow[1] - narrow[0]  # a 50% interval is inside the 95% one


def test_summarise_subsets_and_counts() -> None:
    pairs = pd.DataFrame({"clause_id": ["A:1", "A:2", "B:1", "B:2"], "document": ["A", "A", "B", "B"],
                          "kind": ["quantitative", "qualitative", "quantitative", "quantitative"]})
    cells = pd.DataFrame({"cell_id": ["ok", "broken"], "status": ["done", "failed"]})
    scores = pd.DataFrame({
        "cell_id": ["ok"] * 8 + ["broken"] * 4,
        "clause_id": ["A:1", "A:2", "B:1", "B:2"] * 3,
        "metric": ["bleu"] * 4 + ["verdict_accuracy"] * 4 + ["bleu"] * 4,
        "value": [0.2, 0.4, 0.6, 0.8, 1.0, np.nan, 0.0, 1.0, 0, 0, 0, 0],
        "detail": [""] * 12})
    summary = summarise(scores, pairs, cells, ScoringConfig()).set_index(["cell_id", "metric", "subset"])
    assert "broken" not in summary.index.get_level_values("cell_id")
    bleu = summary.loc["ok", "bleu"]
    assert set(bleu.index) == {"all", "quantitative", "qualitative", "doc:A", "doc:B"}
    assert bleu.loc["all", "mean"] == pytest.approx(0.5) and bleu.loc["all", "n"] == 4
    assert bleu.loc["quantitative", "mean"] == pytest.approx((0.2 + 0.6 + 0.8) / 3)
    assert bleu.loc["doc:B", "mean"] == pytest.approx(0.7) and bleu.loc["doc:B", "n"] == 2
    assert np.isnan(bleu.loc["qualitative", "ci_low"])  # one clause: no interval
    assert bleu.loc["all", "ci_low"] <= 0.5 <= bleu.loc["all", "ci_high"]
    verdict = summary.loc["ok", "verdict_accuracy"]
    assert verdict.loc["all", "n"] == 3  # NaN not counted
    assert verdict.loc["all", "mean"] == pytest.approx(2 / 3)
    again = summarise(scores, pairs, cells, ScoringConfig()).set_index(["cell_id", "metric", "subset"])
    pd.testing.assert_frame_equal(summary, again)  # seeded


def synthetic(means: dict[str, list[float]], n: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores per (strategy, metric): clause difficulty + size effect + noise, paired across sizes."""
    rng = np.random.default_rng(seed)
    cells = pd.DataFrame([{"cell_id": f"{m}/lora/s0", "model": m, "params": p, "strategy": "lora", "seed": 0}
                          for m, p in SIZES])
    rows = []
    for metric, by_size in means.items():
        difficulty = rng.normal(0, 0.1, n)
        for (model, _), mean in zip(SIZES, by_size, strict=True):
            values = mean + difficulty + rng.normal(0, 0.03, n)
            rows += [{"cell_id": f"{model}/lora/s0", "clause_id": f"K:{i}", "metric": metric, "value": v,
                      "detail": ""} for i, v in enumerate(values)]
    return pd.DataFrame(rows), cells.sample(frac=1, random_state=0)  # cells in no particular order


def _plateaus(scores: pd.DataFrame, cells: pd.DataFrame) -> tuple[dict[str, TestResult], list]:
    """The analyse stage's plateau rows for each metric of `scores` (exploratory control)."""
    data = scores.merge(cells, on="cell_id")
    drafts = []
    for metric, frame in data.groupby("metric"):
        drafts += step_drafts(frame, "lora", str(metric), AnalysisConfig(), f"plateau:lora:{metric}")
    control_exploratory(drafts, 0.05)
    params = {format_params(p): float(p) for _, p in SIZES}
    return {r.metric: r for r in plateau_rows(drafts, 0.05, params)}, drafts


def test_plateau_found_where_gains_stop() -> None:
    scores, cells = synthetic({"semantic_similarity": [0.50, 0.60, 0.70, 0.70],
                               "levenshtein": [0.60, 0.45, 0.30, 0.30],  # a distance: lower is better
                               "bleu": [0.40, 0.40, 0.40, 0.40],
                               "token_f1": [0.50, 0.60, 0.70, 0.80]})
    summary, drafts = _plateaus(scores, cells)
    for metric in ("semantic_similarity", "levenshtein"):
        assert summary[metric].family == f"plateau:lora:{metric}" and summary[metric].verdict == "plateau"
        assert summary[metric].effect == 16_000_000 and summary[metric].n == 40
        assert summary[metric].groups == "1M < 4M < 16M < 64M"
    assert summary["semantic_similarity"].sentence.startswith(
        "Exploratory: Semantic similarity plateaus at 16M for LoRA: every larger step is equivalent "
        "within ±0.02")
    assert summary["bleu"].effect == 1_000_000  # no step changes it: a plateau from the smallest size
    assert summary["token_f1"].verdict == "still improving"
    gains = {(d.metric, tuple(d.groups)): d for d in drafts if d.kind == "gain"}
    assert gains["levenshtein", ("1M", "4M")].effect == pytest.approx(0.15, abs=0.03)  # oriented as a gain
    assert gains["levenshtein", ("1M", "4M")].p_adj < 0.001


def test_plateau_with_seeds_uses_clauses_and_runs_and_skips_single_sizes() -> None:
    scores, cells = synthetic({"semantic_similarity": [0.5, 0.7, 0.7, 0.7]})
    seed1 = scores.assign(cell_id=scores["cell_id"].str.replace("/s0", "/s1"), value=scores["value"] + 0.01)
    cells1 = cells.assign(cell_id=cells["cell_id"].str.replace("/s0", "/s1"), seed=1)
    data = pd.concat([scores, seed1]).merge(pd.concat([cells, cells1]), on="cell_id")
    steps = size_steps(data.assign(size=data["params"].map(format_params)), True, 0.02)
    assert [s.unit for s in steps] == ["clauses × runs"] * 3 and all(s.n == 40 for s in steps)
    assert steps[0].seed_spread == pytest.approx(0.01 / np.sqrt(2), rel=1e-6)  # runs differ by 0.01
    # the gain's variance is the run-level (pooled, 2 df) plus the clause-level (paired, 39 df) one
    wide = data.pivot_table(index="clause_id", columns="params", values="value")
    runs = data.groupby(["params", "seed"])["value"].mean()
    by_runs = stats.ttest_ind(runs[4_000_000], runs[1_000_000])
    by_clauses = stats.ttest_rel(wide[4_000_000], wide[1_000_000])
    gain = wide[4_000_000].mean() - wide[1_000_000].mean()
    se2 = (gain / by_runs.statistic) ** 2 + (gain / by_clauses.statistic) ** 2
    df = se2**2 / ((gain / by_runs.statistic) ** 4 / 2 + (gain / by_clauses.statistic) ** 4 / 39)
    assert steps[0].gain == pytest.approx(gain)
    assert steps[0].p_gain == pytest.approx(stats.t.sf(gain / math.sqrt(se2), df), rel=1e-9)
    one_size = data[data["params"] == 1_000_000]
    assert size_steps(one_size.assign(size="1M"), True, 0.02) == []


def test_one_parameter_label() -> None:
    assert [format_params(p) for p in (950, 1_600_000, 7_241_000_000)] == ["0.95K", "1.6M", "7.2B"]
