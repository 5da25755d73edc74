"""The whole study end to end on a tiny configuration: numbers come from the run, and runs resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from html import escape as html_escape
from pathlib import Path

import pytest

from clauselens.config import load_config
from clauselens.run import run_study
from clauselens.store import Store
from clauselens.tables import ATTRIBUTIONS, CELLS, GENERATIONS, MODELS, PAIRS, SCORE_SUMMARY, TESTS, TRAINING

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_study.toml"
pytestmark = pytest.mark.slow


def tiny(tmp_path: Path, name: str, **overrides):
    return load_config(TINY, {"output_dir": str(tmp_path / name), **overrides})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished tiny study, shared by the tests of this module."""
    out = tmp_path_factory.mktemp("study")
    cfg = tiny(out, "base")
    report = run_study(cfg)
    return cfg, report


def _summary(output_dir: str | Path) -> dict[tuple[str, str], float]:
    with Store(output_dir) as store:
        df = store.read(SCORE_SUMMARY, "subset = 'all'")
    return {(r.cell_id, r.metric): r.mean for r in df.itertuples()}


def test_study_runs_every_stage_and_writes_the_report(finished):
    cfg, report = finished
    assert report is not None and report.name == "index.html" and report.is_file()
    with Store(cfg.output_dir) as store:
        cells = store.read(CELLS)
        assert sorted(cells["strategy"]) == ["fft", "lora", "qlora"]
        assert set(cells["status"]) == {"done"}
        training = store.read(TRAINING).set_index("cell_id")
        assert bool(training.loc["tiny/qlora/s0", "quantized"]) is True
        assert (
            training.loc["tiny/lora/s0", "trainable_params"] < training.loc["tiny/fft/s0", "trainable_params"]
        )
        n_test = (store.read(PAIRS)["split"] == "test").sum()
        assert len(store.read(GENERATIONS)) == 3 * n_test
        assert len(store.read(ATTRIBUTIONS)) == 3 * cfg.attribution.max_clauses
        assert not store.read(TESTS).empty
        manifest = json.loads((Path(cfg.output_dir) / "manifest.json").read_text())
    assert manifest["config_hash"] == cfg.config_hash() and manifest["finished"]
    html = report.read_text()
    # the report opens with the three declared questions' answers, and stays small (figures are files)
    assert html.split("<main>")[1].startswith('<section id="answers">')
    assert html.count('<p class="answer"') == 3 and report.stat().st_size < 3_000_000
    assert (report.parent / "statistics.html").is_file()
    # a number in the report is a row of the store, shown to 3 significant digits
    sim = _summary(cfg.output_dir)[("tiny/fft/s0", "semantic_similarity")]
    row = {"cell_id": "tiny/fft/s0", "metric": "semantic_similarity", "subset": "all"}
    key = html_escape(json.dumps(row))
    shown = re.findall(rf'data-table="score_summary" data-key="{re.escape(key)}" data-col="mean" '
                       r'data-value="([^"]+)">([^<]+)</span>', html)
    assert shown and all(float(v) == sim and text == f"{sim:.3g}" for v, text in shown)


def test_rerun_is_a_no_op(finished):
    cfg, _ = finished
    with Store(cfg.output_dir) as store:
        before = {t: store.read(t) for t in ("training", "generations", "scores", "attributions")}
    run_study(cfg)
    with Store(cfg.output_dir) as store:
        for table, df in before.items():
            after = store.read(table)
            assert len(after) == len(df), table
        assert (
            store.read(TRAINING).sort_values("cell_id")["wall_s"].tolist()
            == before["training"].sort_values("cell_id")["wall_s"].tolist()
        )


def test_changing_the_clauses_changes_the_numbers(finished, tmp_path):
    cfg, _ = finished
    other = tiny(tmp_path, "other-clauses", **{"data.kinds": ["qualitative"]})
    run_study(other, stages=("corpus", "models", "train", "generate", "score"))
    a, b = _summary(cfg.output_dir), _summary(other.output_dir)
    assert b.keys() <= a.keys()
    assert {k[1] for k in a.keys() - b.keys()} == {"constraint_match"}  # quantitative clauses only
    assert any(abs(a[k] - b[k]) > 1e-9 for k in a if k[1] == "semantic_similarity")


def test_changing_the_model_changes_the_numbers(finished, tmp_path):
    """A user's own Hugging Face model directory (here: the tiny rung re-initialised) is a model too."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg, _ = finished
    with Store(cfg.output_dir) as store:
        path = store.read(MODELS)["path"].iloc[0]
    model = AutoModelForCausalLM.from_config(AutoModelForCausalLM.from_pretrained(path).config)
    own = tmp_path / "my-model"
    model.save_pretrained(own)
    AutoTokenizer.from_pretrained(path).save_pretrained(own)
    other = tiny(tmp_path, "other-model", models=[{"name": "tiny", "id": str(own)}])
    run_study(other, stages=("corpus", "models", "train", "generate", "score"))
    a, b = _summary(cfg.output_dir), _summary(other.output_dir)
    assert any(abs(a[k] - b[k]) > 1e-9 for k in a if k[1] in ("semantic_similarity", "levenshtein"))


def _cell_markers(out: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime for p in out.glob("cells/*/*") if p.name == "training.json"}


def test_killed_run_resumes_without_redoing_finished_cells(tmp_path, finished):
    out = tmp_path / "killed"
    exe = Path(sys.executable).with_name("clauselens")
    proc = subprocess.Popen(
        [str(exe), "run", str(TINY), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        deadline = time.time() + 400
        while not _cell_markers(out) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert _cell_markers(out), "no cell finished before the deadline"
        os.killpg(proc.pid, signal.SIGKILL)  # the harshest interruption: no clean-up at all
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done_before = _cell_markers(out)
    assert len(done_before) < 3, "the run finished before it could be killed"
    run_study(load_config(TINY, {"output_dir": str(out)}))
    done_after = _cell_markers(out)
    assert len(done_after) == 3
    for cell, mtime in done_before.items():
        assert done_after[cell] == mtime, f"{cell} was trained again"
    with Store(out) as store:
        assert set(store.read(CELLS)["status"]) == {"done"}
        assert (Path(out) / "report" / "index.html").is_file()


@pytest.mark.parametrize("target", ["similarity", "verdict"])
def test_regenerating_targets_are_wired_through_the_study(finished, target):
    """The similarity and verdict targets regenerate under each perturbation (stages meet in run.py)."""
    cfg, _ = finished
    other = load_config(TINY, {"output_dir": cfg.output_dir, "attribution.target": target,
                               "attribution.max_clauses": 1, "attribution.faithfulness": False})
    run_study(other, stages=("attribute",), allow_config_change=True)
    with Store(cfg.output_dir) as store:
        rows = store.read(ATTRIBUTIONS, "target = ?", [target])
    assert len(rows) == 3  # one clause for each of the three cells
    from clauselens.records import Attribution

    attr = Attribution.from_json(rows["payload"].iloc[0])
    assert attr.target == target and len(attr.scores) == len(attr.units) > 3
    assert all(s == s for s in attr.scores)  # no NaN


def test_study_report_is_traceable_and_renders_in_chromium(finished, tmp_path):
    """The report of a real run: each traced number is a store row; Chromium shows it without errors."""
    import tempfile

    from test_report import assert_traceable, open_browser, traced

    cfg, report = finished
    with Store(cfg.output_dir) as store:
        checked = assert_traceable(store, traced(report.read_text()).found)
    assert {"score_summary", "training", "tests", "attributions"} <= set(checked), checked
    driver = open_browser(1280, 900, Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)))
    try:
        driver.get(report.resolve().as_uri())
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        figures = driver.execute_script(
            "return [...document.querySelectorAll('figure img')].map(i => [i.complete, i.naturalWidth])"
        )
        assert figures and all(ok and w > 100 for ok, w in figures), figures
        anchors = ("answers", "reading", "attribution", "overview", "quality", "behaviour", "exploratory")
        for anchor in anchors:
            assert driver.execute_script(f"return document.getElementById('{anchor}').offsetHeight") > 50
        shot = tmp_path / "study-report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        driver.quit()
