"""Where the study's independent tasks run: in this process (`local`) or on a Ray cluster (`ray`).

`make_executor(cfg.executor).map(fn, items, keys, on_result=...)` runs training cells, generation
shards and attribution shards; results come back to the driver, which alone writes the store.
"""

from __future__ import annotations

from clauselens.config import ExecutorConfig
from clauselens.executor.local import LocalExecutor
from clauselens.executor.ray_cluster import RayExecutor
from clauselens.executor.task import Executor, Resources, TaskOutcome


def make_executor(cfg: ExecutorConfig) -> Executor:
    """The executor the `[executor]` section asks for."""
    if cfg.kind == "ray":
        return RayExecutor(cfg)
    return LocalExecutor(max_retries=cfg.max_retries, workers=cfg.workers)


__all__ = ["Executor", "LocalExecutor", "RayExecutor", "Resources", "TaskOutcome", "make_executor"]
