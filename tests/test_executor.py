"""Local and Ray executors: same outcomes, retries, lost workers, resources, interruption.

One small real Ray cluster (2 CPUs) serves the whole module. The task functions below live in this test
module, which Ray workers cannot import by name, so they are registered to be pickled by value.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import ray
from ray import cloudpickle

from clauselens.config import ConfigError, ExecutorConfig
from clauselens.executor import LocalExecutor, RayExecutor, Resources, TaskOutcome, make_executor
from clauselens.records import Clause

MB = 1024 * 1024


@pytest.fixture(scope="module")
def ray_session():
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=80 * MB,
             log_to_driver=False)
    yield
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def ray_executor(max_retries: int = 2) -> RayExecutor:
    return RayExecutor(ExecutorConfig(kind="ray", num_cpus=1, max_retries=max_retries))


@pytest.fixture(params=["local", "ray"])
def executor(request, ray_session):
    ex = LocalExecutor(max_retries=2) if request.param == "local" else ray_executor(max_retries=2)
    yield ex
    ex.close()


# -- task functions (module level: picklable) ------------------------------------------------------
def digest_clause(clause: Clause) -> dict:
    return {"id": clause.clause_id, "words": len(clause.text.split()),
            "sha": hashlib.sha256(clause.text.encode()).hexdigest()}


def fail_if_bad(item: tuple[str, Path]) -> str:
    name, log_dir = item
    with open(log_dir / "calls.log", "a") as fh:
        fh.write(name + "\n")
    if name == "bad":
        raise ValueError(f"bad item {name!r}")
    return name.upper()


def wait_for_marker(item: tuple[str, Path]) -> str:
    """'slow' finishes only once the driver has seen 'fast' (its on_result writes the marker)."""
    name, marker = item
    deadline = time.monotonic() + 20
    while name == "slow" and not marker.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("on_result for the fast task was not called while this task ran")
        time.sleep(0.05)
    return name


def sleep_until_killed(item: tuple[str, Path]) -> int:
    """The 'victim' publishes its PID and sleeps on its first attempt; a retry returns at once."""
    name, folder = item
    pid_file = folder / f"{name}.pid"
    if name == "victim" and not pid_file.exists():
        tmp = folder / f".{name}.pid.tmp"
        tmp.write_text(str(os.getpid()))
        tmp.rename(pid_file)
        time.sleep(60)
    return os.getpid()


def die_if_doomed(item: tuple[str, Path]) -> str:
    name, folder = item
    with open(folder / "calls.log", "a") as fh:
        fh.write(name + "\n")
    if name == "doomed":
        os._exit(1)
    return name


def granted_resources(_: object) -> tuple[dict, int]:
    import torch

    return ray.get_runtime_context().get_assigned_resources(), torch.get_num_threads()


def sleep_then_mark(item: tuple[str, Path]) -> str:
    name, folder = item
    time.sleep(0.5 if name == "quick" else 3)
    (folder / f"{name}.finished").touch()
    return name


def interrupt(_: object) -> None:
    interrupt.calls += 1
    raise KeyboardInterrupt


interrupt.calls = 0


# -- tests -----------------------------------------------------------------------------------------
def test_local_and_ray_give_identical_outcomes_in_item_order(ray_session):
    clauses = [Clause(clause_id=f"K:{i}", document="K", paragraph=str(i), text="word " * (i + 1) + str(i))
               for i in range(7)]
    keys = [c.clause_id for c in clauses]
    results = {}
    for name, ex in (("local", LocalExecutor()), ("ray", ray_executor())):
        seen: list[str] = []
        results[name] = ex.map(digest_clause, clauses, keys, on_result=lambda o, log=seen: log.append(o.key),
                               progress=f"digest ({name})")
        ex.close()
        assert Counter(seen) == Counter(keys)  # once per task
    assert results["ray"] == results["local"]
    assert [o.key for o in results["ray"]] == keys
    assert [o.value["words"] for o in results["ray"]] == [i + 2 for i in range(7)]
    assert all(o.ok and o.attempts == 1 for o in results["ray"])


def test_ray_on_result_is_called_as_each_task_finishes(ray_session, tmp_path):
    marker = tmp_path / "fast-seen"
    seen: list[str] = []

    def on_result(outcome: TaskOutcome) -> None:
        seen.append(outcome.key)
        marker.touch()

    ex = ray_executor()
    outcomes = ex.map(wait_for_marker, [("slow", marker), ("fast", marker)], ["slow", "fast"],
                      on_result=on_result)
    assert [o.error for o in outcomes] == [None, None]
    assert [o.value for o in outcomes] == ["slow", "fast"]  # item order, not completion order
    assert seen == ["fast", "slow"]


def test_raising_task_is_retried_then_recorded_and_the_rest_complete(executor, tmp_path):
    names = ["a", "bad", "c"]
    outcomes = executor.map(fail_if_bad, [(n, tmp_path) for n in names], names)
    calls = Counter((tmp_path / "calls.log").read_text().split())
    assert calls == {"a": 1, "bad": 3, "c": 1}  # max_retries=2 -> three runs of the failing task
    bad = outcomes[1]
    assert not bad.ok and bad.value is None and bad.attempts == 3
    assert bad.error.startswith("ValueError: bad item 'bad'")
    assert "fail_if_bad" in bad.error  # the traceback tail names where it was raised
    others = [(o.ok, o.value, o.attempts) for o in (outcomes[0], outcomes[2])]
    assert others == [(True, "A", 1), (True, "C", 1)]


def test_worker_killed_mid_task_is_retried(ray_session, tmp_path):
    killed: list[int] = []

    def kill_victim() -> None:
        pid_file = tmp_path / "victim.pid"
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_victim)
    killer.start()
    names = ["victim", "a", "b"]
    started = time.monotonic()
    outcomes = ray_executor().map(sleep_until_killed, [(n, tmp_path) for n in names], names)
    killer.join()
    assert len(killed) == 1
    assert time.monotonic() - started < 45  # the retry did not sit out the victim's 60 s sleep
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    victim = outcomes[0]
    assert victim.attempts == 2 and victim.value != killed[0]  # rerun in a fresh worker process


def test_worker_that_keeps_dying_is_recorded_failed(ray_session, tmp_path):
    names = ["doomed", "fine"]
    outcomes = ray_executor(max_retries=1).map(die_if_doomed, [(n, tmp_path) for n in names], names)
    assert Counter((tmp_path / "calls.log").read_text().split()) == {"doomed": 2, "fine": 1}
    doomed, fine = outcomes
    assert not doomed.ok and doomed.attempts == 2
    assert doomed.error.startswith("WorkerCrashedError:"), doomed.error
    assert fine.ok and fine.value == "fine"


def test_task_whose_module_workers_cannot_import_is_recorded_failed(ray_session, tmp_path, monkeypatch):
    """What a cluster node without clauselens installed looks like: the error names the module."""
    (tmp_path / "driver_only_tasks.py").write_text("def shout(x):\n    return str(x).upper()\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here, not in the workers
    import driver_only_tasks

    try:
        [outcome] = ray_executor(max_retries=0).map(driver_only_tasks.shout, ["a"], ["a"])
    finally:
        del sys.modules["driver_only_tasks"]
    assert not outcome.ok and outcome.attempts == 1
    assert outcome.error.startswith("RaySystemError:"), outcome.error
    assert outcome.error.endswith("No module named 'driver_only_tasks'"), outcome.error


def test_resources_per_call_reach_the_task_and_size_torch_threads(ray_session):
    ex = ray_executor()
    [default] = ex.map(granted_resources, [None], ["default"])
    [wide] = ex.map(granted_resources, [None], ["wide"], resources=Resources(num_cpus=2))
    assert default.value == ({"CPU": 1.0}, 1)
    assert wide.value == ({"CPU": 2.0}, 2)


def test_request_no_node_can_meet_is_a_config_error(ray_session):
    with pytest.raises(ConfigError, match=r"num_gpus=1.*GPU=0"):
        ray_executor().map(digest_clause, [], [], resources=Resources(num_gpus=1))


def test_failing_on_result_stops_the_remaining_ray_tasks(ray_session, tmp_path):
    def on_result(outcome: TaskOutcome) -> None:
        raise RuntimeError(f"store write failed for {outcome.key}")

    names = ["quick", "long"]  # both running at once on the 2 CPUs when 'quick' returns
    with pytest.raises(RuntimeError, match="store write failed for quick"):
        ray_executor().map(sleep_then_mark, [(n, tmp_path) for n in names], names, on_result=on_result)
    time.sleep(3.5)  # past the long task's sleep: had it not been cancelled it would have finished
    assert sorted(p.name for p in tmp_path.glob("*.finished")) == ["quick.finished"]


def test_local_executor_lets_keyboard_interrupt_through():
    with pytest.raises(KeyboardInterrupt):
        LocalExecutor(max_retries=3).map(interrupt, [1, 2], ["x", "y"])
    assert interrupt.calls == 1


def test_keys_must_be_one_per_item_and_distinct():
    with pytest.raises(ValueError, match="2 items but 1 keys"):
        LocalExecutor().map(str, [1, 2], ["a"])
    with pytest.raises(ValueError, match=r"repeated: \['a'\]"):
        LocalExecutor().map(str, [1, 2, 3], ["a", "b", "a"])


def test_make_executor_follows_the_config_and_joins_an_existing_session(ray_session):
    assert isinstance(make_executor(ExecutorConfig()), LocalExecutor)
    ex = make_executor(ExecutorConfig(kind="ray", max_retries=0))
    assert isinstance(ex, RayExecutor) and ex.max_retries == 0
    ex.close()
    assert ray.is_initialized()  # the session it joined is not its to stop


def test_a_task_in_this_process_shows_its_steps_under_the_bar() -> None:
    """A training cell's line (steps, loss) joins the running map's bar and leaves it when done."""
    from clauselens.executor import progress

    with progress.task_progress("cells", 1) as advance:
        bar = progress._LIVE[-1]
        with progress.step_progress("tiny/fft/s0", total=4) as update:
            update(completed=2, detail="loss 4.900")
            (line,) = [t for t in bar.tasks if "tiny/fft/s0" in t.description]
            assert line.completed == 2 and line.fields["detail"] == "loss 4.900"
        assert [t.description for t in bar.tasks] == ["cells"]
        advance(TaskOutcome(key="a", ok=True))
    assert progress._LIVE == []
    with progress.step_progress("alone", total=1) as update:  # no bar running: a transient one
        update(advance=1)
