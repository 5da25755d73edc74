"""The report opens with the three answers, and no answer claims more than the store supports.

Stores are simulated as in benchmarks/null_calibration.py (3 sizes x FFT/LoRA/QLoRA), run through the
real analyse stage and report writer; the answers are parsed back and every adjusted p they cite is
looked up in the store's `tests` table."""

from __future__ import annotations

import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clauselens.analyse import analyse_run
from clauselens.report import write_report
from clauselens.store import Store
from clauselens.tables import HYPOTHESES, TESTS

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "null_calibration.py"
spec = importlib.util.spec_from_file_location("null_calibration", BENCH)
null_calibration = importlib.util.module_from_spec(spec)
spec.loader.exec_module(null_calibration)

CLAIMS = re.compile(r"more focused|less focused|rises|falls|improving at|plateaus at|significant")


class Answers(HTMLParser):
    """Each answer paragraph: its verdict, its text, and the adjusted p-values it cites."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[dict[str, Any]] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "p" and a.get("class") == "answer":
            self.answers.append({"question": a["data-question"], "verdict": a["data-verdict"], "text": "",
                                 "cited": []})
            self.depth = 1
        elif self.depth:
            self.depth += tag != "br"
            if a.get("data-col") == "p_adj":
                self.answers[-1]["cited"].append((json.loads(a["data-key"]), a.get("data-claim")))

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.answers[-1]["text"] += data


def study(tmp_path: Path, clauses: int, effect: float) -> tuple[Store, Any, str]:
    store = Store(tmp_path)
    cfg = null_calibration.config([0])
    null_calibration.fill(store, np.random.default_rng(5), clauses, [0], effect)
    analyse_run(store, cfg, progress=False)
    html = write_report(store, cfg).read_text()
    return store, cfg, html


def check_against_store(store: Store, html: str, alpha: float) -> list[dict[str, Any]]:
    main = html.split("<main>")[1]
    assert main.startswith('<section id="answers">')  # the first section is the three answers
    parser = Answers()
    parser.feed(main.split("</section>")[0])
    answers = parser.answers
    assert [a["question"] for a in answers] == ["RQ1", "RQ2", "RQ3"]
    tests = store.read(TESTS)
    for a in answers:
        for key, claim in a["cited"]:
            row = tests[np.logical_and.reduce([tests[k] == v for k, v in key.items()])]
            assert len(row) == 1 and row["role"].iloc[0] == "confirmatory", key
            p_adj = float(row["p_adj"].iloc[0])
            assert (p_adj < alpha) == (claim == "yes"), (a["text"], key, p_adj)
        # a sentence that states a difference, trend, gain or plateau cites a row that supports it
        for sentence in re.split(r"(?<=\.)\s|;\s", a["text"]):
            if CLAIMS.search(sentence) and not re.search(r"not shown|no plateau|not supported|neither",
                                                         sentence, re.I):
                assert any(c == "yes" for _, c in a["cited"]), sentence
        if a["verdict"] in ("not supported", "underpowered", "inconclusive") and a["question"] == "RQ1":
            assert all(c == "no" for _, c in a["cited"]), a
    return answers


def test_planted_focus_difference_is_the_first_answer_and_traced(tmp_path):
    store, cfg, html = study(tmp_path, 24, 0.8)
    answers = check_against_store(store, html, cfg.analysis.alpha)
    assert answers[0]["verdict"] == "supported"
    assert answers[0]["text"].startswith("Supported: FFT is more focused than")
    report = tmp_path / "report"
    assert (report / "index.html").stat().st_size < 3_000_000
    for name in ("rq1_focus", "rq2_shares", "rq3_quality"):
        assert (report / "figures" / f"{name}.svg").is_file() and f'data-figure="{name}"' in html
    hypotheses = store.read(HYPOTHESES)
    assert list(hypotheses["id"]) == ["RQ1", "RQ2", "RQ3"] and hypotheses["metric"].iloc[0] == "gini"
    store.close()


def test_null_study_claims_nothing_it_cannot_support(tmp_path):
    store, cfg, html = study(tmp_path, 16, 0.0)
    answers = check_against_store(store, html, cfg.analysis.alpha)
    assert answers[0]["verdict"] in ("not supported", "inconclusive", "underpowered")
    store.close()


@pytest.mark.parametrize("clauses", [5])
def test_five_clauses_are_underpowered_not_no_difference(tmp_path, clauses):
    store, cfg, html = study(tmp_path, clauses, 0.0)
    answers = check_against_store(store, html, cfg.analysis.alpha)
    assert answers[0]["verdict"] == "underpowered"
    assert "smallest achievable p = 0.0625" in answers[0]["text"]
    assert "No significant" not in answers[0]["text"]
    store.close()


def test_tied_adjusted_p_values_cite_the_test_with_the_smallest_raw_p():
    """Holm adjusts every p of a null family to 1; the sentence's effect must then be that of the test
    closest to significance (smallest raw p), not of whichever row comes first."""
    import pandas as pd

    from clauselens.report.answers import _none_shown

    rows = pd.DataFrame([
        {"p": 0.68, "p_adj": 1.0, "effect_name": "mean_difference", "effect": -0.023, "ci_low": -0.08,
         "ci_high": 0.02, "n": 12, "verdict": "not significant", "family": "rq1@328K",
         "test": "wilcoxon", "metric": "gini", "groups": "fft vs lora"},
        {"p": 0.15, "p_adj": 1.0, "effect_name": "mean_difference", "effect": -0.047, "ci_low": -0.12,
         "ci_high": 0.03, "n": 12, "verdict": "not significant", "family": "rq1@1.4M",
         "test": "wilcoxon", "metric": "gini", "groups": "fft vs qlora"},
        {"p": 0.47, "p_adj": 1.0, "effect_name": "mean_difference", "effect": 0.021, "ci_low": -0.03,
         "ci_high": 0.07, "n": 12, "verdict": "not significant", "family": "rq1@0.82M",
         "test": "wilcoxon", "metric": "gini", "groups": "fft vs qlora"},
    ])
    verdict, sentence = _none_shown(rows, 0.05, "a difference")
    text = re.sub(r"<[^>]+>", "", sentence)
    closest = rows.loc[rows["p"].idxmin()]
    assert verdict == "not supported" and f"{closest['effect']:g}" in text
    assert "-0.023" not in text and "0.021" not in text


@pytest.mark.parametrize("plan", ["fft longer", "equal", "equal per size"])
def test_unequal_training_steps_are_stated_beside_the_answers(tmp_path, plan):
    """FFT at batch 2 and LoRA at batch 8 take 240 and 60 steps: a reader quoting RQ1 must see that the
    strategies were not trained at equal budgets. Steps that are equal across strategies (even if they
    differ between sizes) give no note."""
    store = Store(tmp_path)
    cfg = null_calibration.config([0])
    null_calibration.fill(store, np.random.default_rng(5), 6, [0], 0.0)
    cells = store.read("cells")
    sizes = sorted(cells["model"].unique())

    def steps(strategy: str, model: str) -> int:
        if plan == "fft longer":
            return 240 if strategy == "fft" else 60
        return 60 * (1 + sizes.index(model)) if plan == "equal per size" else 60

    rows = [{"cell_id": r["cell_id"], "steps": steps(r["strategy"], r["model"])}
            for r in cells.to_dict("records")]
    store.upsert("training", rows, ["cell_id"])
    analyse_run(store, cfg, progress=False)
    html = write_report(store, cfg).read_text()
    answers = html.split("<main>")[1].split("</section>")[0]
    note = re.search(r'<p class="note" data-note="budget">(.*?)</p>', answers)
    if plan != "fft longer":
        assert note is None
        return
    shown = re.findall(r'data-key="([^"]*)" data-col="steps" data-value="(\d+)"', note.group(1))
    training = store.read("training").set_index("cell_id")["steps"]
    assert sorted(int(v) for _, v in shown) == [60, 60, 240]  # one per strategy
    for key, value in shown:  # each number is the steps of the training row it names
        assert training[json.loads(key.replace("&quot;", '"'))["cell_id"]] == int(value)
    text = re.sub(r"<[^>]+>", "", note.group(1))
    assert "FFT 240, LoRA 60, QLoRA 60" in text and "not at equal training budgets" in text
    store.close()
