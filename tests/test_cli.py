"""The command line: help for every command; bad input gives one line and exit code 2."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clauselens.cli import app

runner = CliRunner()
MINIMAL = '[[models]]\nname = "m"\nid = "builtin:clauselens-xs"\n'


@pytest.mark.parametrize(
    "command",
    [
        "run",
        "train",
        "generate",
        "score",
        "attribute",
        "analyse",
        "report",
        "status",
        "config",
        "corpus",
        "compare",
    ],
)
def test_every_command_explains_itself(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) > 3


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("clauselens")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_malformed_config_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "bad.toml").write_text(MINIMAL + "[generation]\nmax_new_tokens = -3\n")
    proc = _cli("run", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "bad.toml: generation.max_new_tokens" in lines[0]


def test_missing_dataset_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "c.toml").write_text(MINIMAL + "[data]\nsource = 'missing.jsonl'\n")
    proc = _cli("run", "c.toml", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "dataset file not found" in lines[0] and "missing.jsonl" in lines[0], (
        proc.stderr
    )
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_config_command_prints_defaults(tmp_path):
    (tmp_path / "c.toml").write_text(MINIMAL)
    result = runner.invoke(app, ["config", str(tmp_path / "c.toml"), "--set", "attribution.window=5"])
    assert result.exit_code == 0, result.output
    assert '"window": 5' in result.output and '"max_new_tokens": null' in result.output


def test_failed_cell_is_named_and_exits_3(tmp_path, monkeypatch):
    """A run whose cell fails lists the cell with its error and exits 3 (not 2, not 0)."""

    def boom(cfg, model_cfg, model_path, strategy, seed, *args, **kwargs):
        if strategy == "lora":
            raise RuntimeError("out of memory in the adapter (test)")
        return {"trainable_params": 1, "total_params": 1000, "steps": 0, "quantized": False,
                "backend": "test", "notes": "fake"}

    monkeypatch.setattr("clauselens.train.cell.train_cell", boom)
    (tmp_path / "c.toml").write_text(
        'output_dir = "out"\n[[models]]\nname = "m"\nid = "org/not-a-model"\nparams = 1000\n'
        "[data]\nmax_train = 4\nmax_test = 2\n"
        "[strategies.qlora]\nenabled = false\n[executor]\nmax_retries = 0\n"
    )
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "c.toml"])
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 3, out
    assert "1 cell(s) failed" in out and "m/lora/s0" in out, out
    assert "out of memory in the adapter" in out
    assert "m/fft/s0:" not in out  # the cell that trained is not listed


def test_stage_run_out_of_order_is_one_line_and_exit_2(tmp_path):
    """A ValueError a user causes inside a stage (analyse before attribute) reads as one line."""
    (tmp_path / "c.toml").write_text(MINIMAL)
    proc = _cli("analyse", "c.toml", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip() and "INFO" not in ln]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "run the attribute stage first" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_tiny_study_console_is_clean(tmp_path):
    """The whole tiny study prints its own progress only: no Trainer log dicts, no FutureWarnings, no
    bitsandbytes kernel notice."""
    tiny = Path(__file__).parent / "data" / "tiny_study.toml"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("clauselens")), "run", str(tiny), "-o", str(tmp_path / "tiny")],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "{'loss':" not in out and "FutureWarning" not in out and "kernels-community" not in out, out
    assert "train cells" in out and "report:" in out
