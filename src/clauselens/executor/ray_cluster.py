"""Tasks on a Ray cluster: each item becomes a Ray task with its own resource request.

Ray schedules the tasks over the cluster's CPUs/GPUs, restarts a task whose worker process or node died,
and retries a task that raised (`max_retries`, `retry_exceptions=True`). The driver collects results
with `ray.wait` as they complete and hands each one to `on_result`, so the store (written only by the
driver) grows while the cluster works.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import ray
from ray.exceptions import (
    NodeDiedError,
    OutOfMemoryError,
    RayError,
    RayTaskError,
    WorkerCrashedError,
)

from clauselens.config import ConfigError, ExecutorConfig
from clauselens.executor.progress import task_progress
from clauselens.executor.task import (
    TRACEBACK_TAIL_LINES,
    Resources,
    TaskError,
    TaskOutcome,
    check_keys,
    describe_exception,
)
from clauselens.quiet import quiet_third_party

MB = 1024 * 1024
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
LOST_WORKER = (WorkerCrashedError, NodeDiedError, OutOfMemoryError)  # failures Ray retries


def run_attempt(fn: Callable[[Any], Any], item: Any, num_cpus: float) -> tuple[Any, int]:
    """One attempt of one task, inside a Ray worker: `(fn(item), attempt number)`.

    An exception leaves as a `TaskError` carrying its description and the attempt number; Ray still
    retries it (every exception is retried) and the driver reads the last one.
    """
    limit_threads(num_cpus)
    quiet_third_party()
    attempt = attempt_number()
    try:
        return fn(item), attempt
    except Exception as exc:
        raise TaskError(describe_exception(exc), attempt) from None


def limit_threads(num_cpus: float) -> None:
    """Size torch's thread pool to the CPUs Ray granted, so tasks sharing a node don't oversubscribe it.

    Workers are reused across tasks: the environment variables cover a worker that has not loaded torch
    yet (OpenMP reads them when torch loads), `set_num_threads` one that has.
    """
    threads = max(1, math.floor(num_cpus))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def attempt_number() -> int:
    """1 on a task's first run, 2 on its first retry, ...

    Ray counts attempts in its core worker but has no public getter for it (Ray 2.60); if the private
    one disappears this reports 1 and tests/test_executor.py's retry tests fail, which is the signal.
    """
    core_worker = getattr(ray._private.worker.global_worker, "core_worker", None)
    getter = getattr(core_worker, "get_current_task_attempt_number", None)
    return 1 if getter is None else getter() + 1


class RayExecutor:
    """Runs each task as a Ray task with the configured (or per-call) resources and retries.

    `ray.init(address=cfg.address)`: with no address Ray joins `RAY_ADDRESS` (set inside `ray job
    submit`) or the last cluster started on this machine, else starts a local one with every core and
    GPU. If Ray is already initialised in this process, that session is used and left running on `close`.
    """

    def __init__(self, cfg: ExecutorConfig):
        self.defaults = Resources.from_config(cfg)
        self.max_retries = cfg.max_retries
        self._owns_session = not ray.is_initialized()
        if self._owns_session:
            ray.init(address=cfg.address)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], keys: Sequence[str], *,
            resources: Resources | None = None,
            on_result: Callable[[TaskOutcome], None] | None = None,
            progress: str | None = None) -> list[TaskOutcome]:
        check_keys(items, keys)
        request = (resources or Resources()).over(self.defaults)
        check_feasible(request)
        refs = self._submit(fn, items, keys, request)
        position = {ref: i for i, ref in enumerate(refs)}
        outcomes: dict[int, TaskOutcome] = {}
        pending = refs
        try:
            with task_progress(progress, len(refs)) as advance:
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1)
                    for ref in ready:
                        outcome = outcomes[position[ref]] = self._collect(ref, keys[position[ref]])
                        advance(outcome)
                        if on_result is not None:
                            on_result(outcome)
        except BaseException:  # Ctrl-C or a failing on_result: stop the cluster's work for this call too
            # (force=True kills running tasks; one Ray is handing to a worker at this instant may still
            # run to the end, and its result is dropped)
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [outcomes[i] for i in range(len(refs))]

    def _submit(self, fn: Callable[[Any], Any], items: Sequence[Any], keys: Sequence[str],
                request: Resources) -> list[ray.ObjectRef]:
        options: dict[str, Any] = dict(num_cpus=request.num_cpus, num_gpus=request.num_gpus,
                                       max_retries=self.max_retries, retry_exceptions=True)
        if request.memory_mb is not None:
            options["memory"] = request.memory_mb * MB
        # given to ray.remote itself, not .options(), so that Ray starts a fresh worker for every GPU task
        # (max_calls=1): a reused process would keep its CUDA context on the GPU of its first task
        task = ray.remote(**options)(run_attempt)
        return [task.options(name=key).remote(fn, item, request.num_cpus)
                for item, key in zip(items, keys, strict=True)]

    def _collect(self, ref: ray.ObjectRef, key: str) -> TaskOutcome:
        """The outcome of a finished task; failures are final here (Ray has done the retries)."""
        try:
            value, attempts = ray.get(ref)
            return TaskOutcome(key=key, ok=True, value=value, attempts=attempts)
        except RayTaskError as err:
            if isinstance(err.cause, TaskError):
                return TaskOutcome(key=key, ok=False, error=err.cause.description,
                                   attempts=err.cause.attempts)
            # raised past run_attempt's handler: a BaseException from fn (SystemExit), or in its setup
            return TaskOutcome(key=key, ok=False, error=describe_ray_error(err.cause),
                               attempts=self.max_retries + 1)
        except LOST_WORKER as err:  # Ray reran the task on a fresh worker until its retries ran out
            return TaskOutcome(key=key, ok=False, error=describe_ray_error(err),
                               attempts=self.max_retries + 1)
        except RayError as err:  # failed before it could run (fn's module not importable), cancelled, ...
            return TaskOutcome(key=key, ok=False, error=describe_ray_error(err), attempts=1)

    def close(self) -> None:
        """Disconnect from (or stop the local) cluster, unless the session was there before us."""
        if self._owns_session and ray.is_initialized():
            ray.shutdown()


def describe_ray_error(err: BaseException) -> str:
    """`ExcType: first line` plus the last lines of Ray's (colourless) message, like a task's error."""
    lines = _ANSI.sub("", str(err)).strip().splitlines() or [""]
    return "\n".join([f"{type(err).__name__}: {lines[0]}", *lines[1:][-TRACEBACK_TAIL_LINES:]])


def check_feasible(request: Resources) -> None:
    """Fail fast if no live node could ever run the task; Ray would otherwise wait forever.

    (An autoscaling cluster must therefore keep at least one node of each shape the study asks for.)
    """
    need = {"CPU": request.num_cpus or 0.0, "GPU": request.num_gpus or 0.0,
            "memory": (request.memory_mb or 0) * MB}
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    if any(all(node.get(name, 0.0) >= amount for name, amount in need.items()) for node in nodes):
        return
    largest = {name: max((node.get(name, 0.0) for node in nodes), default=0.0) for name in need}
    largest["memory"] = int(largest["memory"] // MB)
    raise ConfigError(
        f"executor: no node of the Ray cluster can run a task asking for num_cpus={request.num_cpus}, "
        f"num_gpus={request.num_gpus}, memory_mb={request.memory_mb}; the largest node offers "
        f"CPU={largest['CPU']}, GPU={largest['GPU']}, memory_mb={largest['memory']}. "
        "Lower the [executor] request or add a node that has it.")
