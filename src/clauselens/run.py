"""The study: walk the stages over the (model, strategy, seed) grid, resumably.

corpus -> models -> train -> generate -> score -> attribute -> analyse -> compare -> report. Each stage
lives in its package's `stage.py`, asks the store what is already done and only does what is missing,
so an interrupted run (crash, Ctrl-C, a lost Ray worker) resumes where it stopped. Independent work
(training cells, generation shards, attribution shards) goes through an executor (`local` or `ray`);
results are written by the driver as they arrive. Where a run's files live is `clauselens.layout`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clauselens.config import ConfigError, ExperimentConfig
from clauselens.manifest import finish_manifest, start_manifest
from clauselens.store import Store
from clauselens.study import Study
from clauselens.tables import STAGES as TABLE_OWNERS

log = logging.getLogger("clauselens")

STAGES = (*TABLE_OWNERS, "report")  # the stages that own store tables, in order, then the report


def open_store(cfg: ExperimentConfig) -> Store:
    return Store(Path(cfg.output_dir))


@dataclass
class RunOutcome:
    """What a run leaves: the report (when the report stage ran) and the cells recorded as failed."""

    report: Path | None = None
    failed: dict[str, str] = field(default_factory=dict)  # cell_id -> error


def run_stage(study: Study, name: str) -> Any:
    """Run stage `name` (not corpus) over `study`; imported on use, so a stage command loads only its own."""
    if name == "models":
        return study.models()
    if name == "train":
        from clauselens.train import train_run

        return train_run(study)
    if name == "generate":
        from clauselens.generate import generate_run

        return generate_run(study)
    if name == "score":
        from clauselens.score import score_run

        return score_run(study.store, study.cfg)
    if name == "attribute":
        from clauselens.attribute import attribute_run

        return attribute_run(study)
    if name == "analyse":
        from clauselens.analyse import analyse_run

        return analyse_run(study.store, study.cfg)
    if name == "compare":
        from clauselens.compare import compare_run

        return compare_run(study.store, study.cfg)
    if name == "report":
        from clauselens.report import write_report

        return write_report(study.store, study.cfg)
    raise ConfigError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")


def run_stages(
    cfg: ExperimentConfig,
    stages: Sequence[str] = STAGES,
    *,
    allow_config_change: bool = False,
    executor: Any | None = None,
) -> RunOutcome:
    """Run (or resume) the study's `stages`, in the order of `STAGES`' walk as given."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    store = open_store(cfg)
    try:
        start_manifest(store, cfg, allow_config_change=allow_config_change)
        if "corpus" in stages:
            from clauselens.corpus import corpus_run

            corpus_run(store, cfg)
        study = Study(cfg, store, executor)
        outcome = RunOutcome()
        try:
            for stage in stages:
                if stage == "corpus":
                    continue
                log.info("stage %s", stage)
                result = run_stage(study, stage)
                if stage == "report":
                    outcome.report = result
        finally:
            if executor is None:
                study.executor.close()
        outcome.failed = study.failed_cells()
        finish_manifest(store, failed_cells=list(outcome.failed))
        return outcome
    finally:
        store.close()


def run_study(
    cfg: ExperimentConfig,
    stages: Sequence[str] = STAGES,
    *,
    allow_config_change: bool = False,
    executor: Any | None = None,
) -> Path | None:
    """Run (or resume) the study; returns the report path when the report stage ran (`run_stages` also
    returns the failed cells)."""
    return run_stages(cfg, stages, allow_config_change=allow_config_change, executor=executor).report

