"""A rich progress bar for one `map` call, counting finished and failed tasks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from clauselens.executor.task import TaskOutcome


@contextlib.contextmanager
def task_progress(label: str | None, total: int) -> Iterator[Callable[[TaskOutcome], None]]:
    """Yield `advance(outcome)`; without a label there is no bar and `advance` does nothing."""
    if label is None:
        yield lambda outcome: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task_id = bar.add_task(label, total=total, failed=0)
        failed = 0

        def advance(outcome: TaskOutcome) -> None:
            nonlocal failed
            failed += not outcome.ok
            bar.update(task_id, advance=1, failed=failed)

        yield advance
