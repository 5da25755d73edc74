"""Every shipped example config validates with `clauselens config`, as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clauselens.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_validates(path):
    result = CliRunner().invoke(app, ["config", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["name"] == path.stem


def test_the_examples_the_docs_promise_exist():
    assert {"quickstart", "qwen-ladder", "llama-ladder", "qwen-ladder-1gpu"} <= {p.stem for p in EXAMPLES}


def test_qwen_ladder_has_the_papers_shape():
    cfg = json.loads(CliRunner().invoke(app, ["config", str(ROOT / "examples" / "qwen-ladder.toml")]).output)
    sizes = [m["id"].split("-")[1] for m in cfg["models"]]
    assert sizes == ["0.5B", "1.5B", "3B", "7B", "14B"]
    enabled = [s for s in ("fft", "lora", "qlora") if cfg["strategies"][s]["enabled"]]
    assert enabled == ["fft", "lora", "qlora"]
    assert cfg["seeds"] == [0, 1] and cfg["strategies"]["fft"]["devices"] > 1
