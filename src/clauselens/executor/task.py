"""What every executor shares: the outcome of a task, what a task asks for, and how a failure reads.

A study's independent work (training cells, generation shards, attribution shards) is handed to an
executor as `map(fn, items, keys)`. The driver keeps the store (DuckDB has one writer), so executors only
return values; `on_result` lets the driver write each one the moment it exists, which is what makes an
interrupted study resumable without losing finished work.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from clauselens.config import ExecutorConfig

TRACEBACK_TAIL_LINES = 6  # enough for the raising frame and its caller, short enough for a table cell


@dataclass
class TaskOutcome:
    """One task as the driver sees it: its value, or the error of its last attempt."""

    key: str
    ok: bool
    value: Any = None
    error: str | None = None  # "ExcType: message" plus the tail of the traceback
    attempts: int = 1  # runs of the task, the successful or last failed one included


@dataclass(frozen=True)
class Resources:
    """What one task asks the cluster for; a field left None falls back to the `[executor]` section.

    Stages differ (training wants a GPU, attribution shards may be happy with CPUs), so `map` accepts an
    override per call: `Resources(num_gpus=1)` keeps the configured CPUs and memory.
    """

    num_cpus: float | None = None
    num_gpus: float | None = None
    memory_mb: int | None = None

    @classmethod
    def from_config(cls, cfg: ExecutorConfig) -> Resources:
        return cls(num_cpus=cfg.num_cpus, num_gpus=cfg.num_gpus, memory_mb=cfg.memory_mb)

    def over(self, base: Resources) -> Resources:
        """These requests, with the unset ones taken from `base`."""
        return Resources(
            num_cpus=base.num_cpus if self.num_cpus is None else self.num_cpus,
            num_gpus=base.num_gpus if self.num_gpus is None else self.num_gpus,
            memory_mb=base.memory_mb if self.memory_mb is None else self.memory_mb,
        )


class Executor(Protocol):
    """Runs `fn` over `items`; one `TaskOutcome` per item, in the order of `items`.

    `fn` must be a module-level function and the items picklable (a Ray worker imports and unpickles
    them). A task that raises is retried `max_retries` times, then recorded as failed; the rest goes on.
    `on_result` is called in the calling process once per task as soon as it is final. Use
    `contextlib.closing(make_executor(cfg))` to release a cluster connection.
    """

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], keys: Sequence[str], *,
            resources: Resources | None = None,
            on_result: Callable[[TaskOutcome], None] | None = None,
            progress: str | None = None) -> list[TaskOutcome]: ...

    def close(self) -> None: ...


class TaskError(Exception):
    """A task's exception turned into text where it was raised.

    Sent from a worker instead of the original exception, so the driver always gets something it can
    unpickle (a user exception class may not import, or may not pickle) and the same text as locally.
    """

    def __init__(self, description: str, attempts: int):
        super().__init__(description, attempts)

    @property
    def description(self) -> str:
        return self.args[0]

    @property
    def attempts(self) -> int:
        return self.args[1]


def describe_exception(exc: BaseException) -> str:
    """`ExcType: message`, then the last lines of the traceback (the frames nearest the raise)."""
    head = f"{type(exc).__name__}: {exc}"
    frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip("\n").splitlines()
    return "\n".join([head, *frames[-TRACEBACK_TAIL_LINES:]])


def check_keys(items: Sequence[Any], keys: Sequence[str]) -> None:
    """One distinct key per item, or the outcomes could not be told apart."""
    if len(items) != len(keys):
        raise ValueError(f"executor.map: {len(items)} items but {len(keys)} keys; give one key per item")
    repeated = sorted(k for k, n in Counter(keys).items() if n > 1)
    if repeated:
        raise ValueError(f"executor.map: keys must be distinct; repeated: {repeated[:5]}")
