"""The default executor: tasks in this process, or in `workers` processes of this machine at once."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from clauselens.executor.progress import task_progress
from clauselens.executor.task import Resources, TaskOutcome, check_keys, describe_exception

log = logging.getLogger(__name__)


def run_with_retries(fn: Callable[[Any], Any], item: Any, key: str, max_retries: int) -> TaskOutcome:
    """Run `fn(item)`; an exception is retried `max_retries` times, then recorded as a failure."""
    attempts = max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return TaskOutcome(key=key, ok=True, value=fn(item), attempts=attempt)
        except Exception as exc:
            error = describe_exception(exc)
            log.warning("task %s failed (attempt %d of %d): %s", key, attempt, attempts,
                        error.splitlines()[0])
    return TaskOutcome(key=key, ok=False, error=error, attempts=attempts)


def _set_threads(threads: int) -> None:
    """Worker initializer: share the cores instead of every worker using all of them, and silence the
    model stack's console noise (filters and logger levels set in the driver do not cross a spawn)."""
    import torch

    from clauselens.quiet import quiet_third_party

    quiet_third_party()

    torch.set_num_threads(threads)


class LocalExecutor:
    """Runs tasks on this machine: in order in the calling process (`workers = 1`), or `workers` at a
    time in spawned processes, each with cores / workers torch threads.

    Several processes pay off because the builtin ladder's models are too small to keep two cores busy
    with one (measured in docs/training.md). Same retry rule as the Ray executor, so a study gives the
    same outcomes either way. Only `Exception`s are caught; KeyboardInterrupt and SystemExit stop the study.
    """

    def __init__(self, max_retries: int = 2, workers: int = 1):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.max_retries = max_retries
        self.workers = workers

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], keys: Sequence[str], *,
            resources: Resources | None = None,
            on_result: Callable[[TaskOutcome], None] | None = None,
            progress: str | None = None) -> list[TaskOutcome]:
        """`resources` is accepted for the common interface and ignored; outcomes come in input order."""
        check_keys(items, keys)
        outcomes: dict[str, TaskOutcome] = {}
        with task_progress(progress, len(items)) as advance:

            def done(outcome: TaskOutcome) -> None:
                outcomes[outcome.key] = outcome
                advance(outcome)
                if on_result is not None:
                    on_result(outcome)

            if self.workers == 1 or len(items) < 2:
                for item, key in zip(items, keys, strict=True):
                    done(run_with_retries(fn, item, key, self.max_retries))
            else:
                n = min(self.workers, len(items))
                threads = max(1, (os.cpu_count() or 1) // n)
                with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_set_threads, initargs=(threads,)) as pool:
                    futures = [pool.submit(run_with_retries, fn, item, key, self.max_retries)
                               for item, key in zip(items, keys, strict=True)]
                    for future in as_completed(futures):
                        done(future.result())
        return [outcomes[k] for k in keys]

    def close(self) -> None:
        """Nothing to release."""
