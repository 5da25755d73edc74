"""The default executor: every task in this process, one after another."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from clauselens.executor.progress import task_progress
from clauselens.executor.task import Resources, TaskOutcome, check_keys, describe_exception

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs tasks in order in the calling process; a task may use every core (torch's default threads).

    Same retry rule as the Ray executor, so a study gives the same outcomes either way: an exception is
    retried `max_retries` times, then the task is recorded as failed and the next one runs. Only
    `Exception`s are caught; KeyboardInterrupt and SystemExit stop the study.
    """

    def __init__(self, max_retries: int = 2):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.max_retries = max_retries

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], keys: Sequence[str], *,
            resources: Resources | None = None,
            on_result: Callable[[TaskOutcome], None] | None = None,
            progress: str | None = None) -> list[TaskOutcome]:
        """`resources` is accepted for the common interface and ignored: one task has the whole machine."""
        check_keys(items, keys)
        outcomes = []
        with task_progress(progress, len(items)) as advance:
            for item, key in zip(items, keys, strict=True):
                outcome = self._run(fn, item, key)
                outcomes.append(outcome)
                advance(outcome)
                if on_result is not None:
                    on_result(outcome)
        return outcomes

    def _run(self, fn: Callable[[Any], Any], item: Any, key: str) -> TaskOutcome:
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return TaskOutcome(key=key, ok=True, value=fn(item), attempts=attempt)
            except Exception as exc:
                error = describe_exception(exc)
                log.warning("task %s failed (attempt %d of %d): %s", key, attempt, attempts,
                            error.splitlines()[0])
        return TaskOutcome(key=key, ok=False, error=error, attempts=attempts)

    def close(self) -> None:
        """Nothing to release."""
