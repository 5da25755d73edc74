"""A rich progress bar for one `map` call, counting finished and failed tasks.

A task that runs in this process can add its own line under the bar (`step_progress`): a training cell
shows its steps, loss and time left there instead of the Trainer printing its log dicts.
"""

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

_LIVE: list[Progress] = []  # the bars of the `map` calls running in this process, innermost last


def _columns() -> tuple:
    return (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TimeRemainingColumn())


@contextlib.contextmanager
def task_progress(label: str | None, total: int) -> Iterator[Callable[[TaskOutcome], None]]:
    """Yield `advance(outcome)`; without a label there is no bar and `advance` does nothing."""
    if label is None:
        yield lambda outcome: None
        return
    with Progress(*_columns()) as bar:
        task_id = bar.add_task(label, total=total, detail="0 failed")
        failed = 0

        def advance(outcome: TaskOutcome) -> None:
            nonlocal failed
            failed += not outcome.ok
            bar.update(task_id, advance=1, detail=f"{failed} failed")

        _LIVE.append(bar)
        try:
            yield advance
        finally:
            _LIVE.remove(bar)


@contextlib.contextmanager
def step_progress(label: str, total: int, completed: int = 0) -> Iterator[Callable[..., None]]:
    """Yield `update(advance=..., completed=..., detail=...)` for a line of its own: under the running
    `map` call's bar when there is one in this process, else in a transient bar; it goes when done."""
    if _LIVE:
        bar = _LIVE[-1]
        task_id = bar.add_task(f"  {label}", total=total, completed=completed, detail="")
        try:
            yield lambda **fields: bar.update(task_id, **fields)
        finally:
            bar.remove_task(task_id)
        return
    with Progress(*_columns(), transient=True) as bar:
        task_id = bar.add_task(label, total=total, completed=completed, detail="")
        yield lambda **fields: bar.update(task_id, **fields)
