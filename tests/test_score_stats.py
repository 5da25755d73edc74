"""summarise (bootstrap CIs per subset) and plateau (paired step tests) on synthetic scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clauselens.config import ScoringConfig
from clauselens.score import plateau, summarise
from clauselens.score.plateau import human_params
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


def test_plateau_found_where_gains_stop() -> None:
    scores, cells = synthetic({"semantic_similarity": [0.50, 0.60, 0.70, 0.70],
                               "levenshtein": [0.60, 0.45, 0.30, 0.30],  # a distance: lower is better
                               "bleu": [0.40, 0.40, 0.40, 0.40],
                               "token_f1": [0.50, 0.60, 0.70, 0.80]})
    results = plateau(scores, cells, ScoringConfig())
    summary = {r.metric: r for r in results if r.test == "plateau"}
    steps = [r for r in results if r.test == "wilcoxon"]
    assert len(steps) == 4 * 3 and all(r.correction == "holm" and r.p_adj >= r.p for r in steps)
    for metric in ("semantic_similarity", "levenshtein"):
        assert summary[metric].family == f"plateau:lora:{metric}"
        assert summary[metric].effect == 16_000_000
        assert summary[metric].p_adj > 0.05 and summary[metric].n == 40
        assert summary[metric].groups == "m-1M < m-4M < m-16M < m-64M"
    assert summary["semantic_similarity"].sentence.startswith(
        "LoRA semantic similarity plateaus at 16M parameters (m-16M): no larger model is significantly "
        "better (Wilcoxon, Holm, p ≥ ")
    assert summary["semantic_similarity"].sentence.endswith(", n = 40)")
    assert summary["bleu"].effect == 1_000_000  # no step helps: plateau at the smallest size
    assert summary["token_f1"].effect == 64_000_000
    assert "does not plateau within the sizes studied" in summary["token_f1"].sentence
    gains = {(r.metric, r.groups): r for r in steps}
    assert gains["levenshtein", "m-1M vs m-4M"].effect == pytest.approx(0.15, abs=0.03)  # oriented as a gain
    assert gains["levenshtein", "m-1M vs m-4M"].p_adj < 0.001


def test_plateau_averages_seeds_and_skips_single_sizes() -> None:
    scores, cells = synthetic({"semantic_similarity": [0.5, 0.7, 0.7, 0.7]})
    seed1 = scores.assign(cell_id=scores["cell_id"].str.replace("/s0", "/s1"), value=scores["value"] + 0.01)
    cells1 = cells.assign(cell_id=cells["cell_id"].str.replace("/s0", "/s1"), seed=1)
    fft = pd.DataFrame([{"cell_id": "m-1M/fft/s0", "model": "m-1M", "params": 1_000_000, "strategy": "fft"}])
    fft_scores = scores[scores.cell_id == "m-1M/lora/s0"].assign(cell_id="m-1M/fft/s0")
    all_cells = pd.concat([cells, cells1, fft])
    results = plateau(pd.concat([scores, seed1, fft_scores]), all_cells, ScoringConfig())
    assert {r.family for r in results} == {"plateau:lora:semantic_similarity"}  # one fft size: no test
    assert all(r.n == 40 for r in results)  # seeds averaged per clause, not stacked
    assert [r.effect for r in results if r.test == "plateau"] == [4_000_000]


def test_human_params() -> None:
    assert [human_params(p) for p in (950, 1_600_000, 7_241_000_000)] == ["950", "1.6M", "7.24B"]
