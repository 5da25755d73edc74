"""The tiny study through the `ray` executor: same numbers as `local`, and it survives a killed worker.

One local Ray cluster with 2 CPUs (two 1-CPU workers) serves the module. The Ray run SIGKILLs the worker
process that is training one cell, after `train_cell` has started in it; Ray reruns the task on a fresh
worker. Every number the study stores must then still equal the local run's, so the retried cell is
checked too. (One Ray run does both checks: a third study would not fit the suite's time budget.)
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import ray

from clauselens.config import load_config
from clauselens.layout import RunLayout
from clauselens.run import run_study
from clauselens.store import Store

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_study.toml"
MB = 1024 * 1024
VICTIM = "tiny/lora/s0"  # the training cell whose worker is killed
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_session():
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, object_store_memory=80 * MB, log_to_driver=False
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "study"
    run_study(load_config(TINY, {"output_dir": str(out)}))
    return out


class WorkerKiller(threading.Thread):
    """SIGKILLs the Ray worker running `cell_id`'s training task once `train_cell` has begun in it.

    Ray titles a busy worker `ray::<task name>` and the study names tasks by cell id; `settings.json` in
    the cell folder is written by `train_cell` just before the model loads, so the kill lands mid-task.
    """

    def __init__(self, cell_folder: Path, cell_id: str, timeout_s: float = 120):
        super().__init__(daemon=True)
        self.folder, self.title, self.timeout_s = cell_folder, f"ray::{cell_id}", timeout_s
        self.killed: int | None = None
        self.finished_before_kill = False
        self.stop = threading.Event()

    def _worker(self) -> psutil.Process | None:
        for proc in psutil.process_iter():
            try:
                if self.title in " ".join(proc.cmdline()):
                    return proc
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self.stop.is_set() and time.monotonic() < deadline:
            proc = self._worker() if (self.folder / "settings.json").is_file() else None
            if proc is not None:
                self.finished_before_kill = (self.folder / "training.json").is_file()
                proc.send_signal(signal.SIGKILL)
                self.killed = proc.pid
                return
            time.sleep(0.05)


@pytest.fixture(scope="module")
def ray_run(ray_session, tmp_path_factory) -> tuple[Path, WorkerKiller]:
    out = tmp_path_factory.mktemp("ray") / "study"
    cfg = load_config(TINY, {"output_dir": str(out), "executor.kind": "ray"})
    killer = WorkerKiller(RunLayout(out).cell_dir(VICTIM), VICTIM)
    killer.start()
    try:
        run_study(cfg)
    finally:
        killer.stop.set()
        killer.join()
    return out, killer


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    with Store(out) as store:
        return {
            t: store.read(t)
            for t in (
                "cells",
                "training",
                "generations",
                "scores",
                "score_summary",
                "attributions",
                "faithfulness",
                "pairs",
            )
        }


def test_killed_worker_is_retried_and_every_cell_completes(ray_run, local_run):
    out, killer = ray_run
    assert killer.killed is not None, f"no worker titled {killer.title} was seen while training"
    assert not killer.finished_before_kill, "the victim cell had finished before its worker was killed"
    assert not psutil.pid_exists(killer.killed) or psutil.Process(killer.killed).status() == "zombie"
    ray_tables, local_tables = _tables(out), _tables(local_run)
    cells = ray_tables["cells"].set_index("cell_id")
    assert sorted(cells.index) == ["tiny/fft/s0", "tiny/lora/s0", "tiny/qlora/s0"]
    assert set(cells["status"]) == {"done"} and cells["error"].isna().all()
    marker = json.loads((killer.folder / "training.json").read_text())
    assert marker["row"]["steps"] == 4
    for table in ("training", "generations", "scores", "attributions"):
        assert len(ray_tables[table]) == len(local_tables[table]) > 0, table
    assert (out / "report" / "index.html").is_file()


def _keyed(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return df.sort_values(key).set_index(key)


def test_ray_and_local_executors_give_the_same_numbers(ray_run, local_run):
    ray_tables, local_tables = _tables(ray_run[0]), _tables(local_run)
    for table in ("pairs", "cells"):
        pd.testing.assert_frame_equal(
            _keyed(ray_tables[table], list(ray_tables[table].columns[:1])),
            _keyed(local_tables[table], list(local_tables[table].columns[:1])),
        )

    cols = ["train_loss", "val_loss", "steps", "trainable_params", "total_params", "quantized"]
    training = [_keyed(t["training"], ["cell_id"])[cols] for t in (ray_tables, local_tables)]
    pd.testing.assert_frame_equal(*training, check_exact=False, rtol=1e-6)

    generations = [_keyed(t["generations"], ["cell_id", "clause_id"]) for t in (ray_tables, local_tables)]
    pd.testing.assert_frame_equal(*generations)  # raw text, cleaned rule, token counts: identical

    for table, key in (
        ("scores", ["cell_id", "clause_id", "metric"]),
        ("score_summary", ["cell_id", "metric", "subset"]),
        ("faithfulness", ["cell_id", "clause_id", "curve"]),
    ):
        pd.testing.assert_frame_equal(
            _keyed(ray_tables[table], key),
            _keyed(local_tables[table], key),
            check_exact=False,
            atol=1e-6,
            obj=table,
        )

    key = ["cell_id", "clause_id", "method", "target", "perturbation", "unit"]
    attributions = [
        _keyed(t["attributions"], key)["payload"].map(json.loads) for t in (ray_tables, local_tables)
    ]
    assert list(attributions[0].index) == list(attributions[1].index)
    for (ident, ray_payload), local_payload in zip(attributions[0].items(), attributions[1], strict=True):
        assert [u["text"] for u in ray_payload["units"]] == [u["text"] for u in local_payload["units"]], ident
        assert ray_payload["scores"] == pytest.approx(local_payload["scores"], abs=1e-6), ident
