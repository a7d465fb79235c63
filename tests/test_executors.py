"""The executor seam: where a plain evaluator runs, and what the scheduler reads of it."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import math
import pickle
import re

import pytest

import gepa_lab as gl
from gepa_lab.executors import ThreadExecutor
from gepa_lab.lab.diagnosis import diagnose
from gepa_lab.protocols import ExecutorError, RunAborted
from gepa_lab.runs.virtual_time import run_virtual
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from gepa_lab.sim.cpu_task import CpuChecker, VirtualCpus
from gepa_lab.sim.task_worlds import TASK_WORLD_BY_NAME, cpu_world

WORLD = cpu_world(0)


class Flaky:
    """Runs calls in place, each taking 10 ms (virtual); every fifth fails as a dead worker
    would (an ExecutorError)."""

    capacity = 6

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, fn, *args):
        await asyncio.sleep(0.01)  # a call takes time: others start meanwhile
        self.calls += 1
        if self.calls % 5 == 0:
            raise ExecutorError("the worker died")
        return fn(*args)

    def close(self) -> None:
        pass


def _run(task: gl.EvaluatorTask, **config) -> gl.RunResult:
    settings = {"target_quality": WORLD.target, "max_metric_calls": 1500, **config}
    return gl.optimize_sync(
        WORLD.seed, WORLD.train, gl.Config(**settings), task=task, time_mode="virtual"
    )


def test_a_failed_executor_call_is_tried_again_not_a_crash():
    flaky = Flaky()
    res = _run(gl.EvaluatorTask(CpuChecker(0), binary=True, executor=flaky))
    assert res.stop_reason == "target" and res.failed_calls == flaky.calls // 5 > 0
    assert res.metric_calls + res.failed_calls == flaky.calls  # each call counted once
    assert WORLD.score(res.best_candidate, WORLD.train) == res.best_quality


def test_no_more_evaluations_in_flight_than_the_executor_runs_shared_by_islands():
    task = gl.EvaluatorTask(CpuChecker(0), binary=True, executor=Flaky())
    one = _run(task, eval_concurrency=64)
    assert 1 < one.timeline["in_flight"].max() <= 6  # not the 64 the config allows
    two = _run(task, eval_concurrency=64, n_islands=2)
    per_island = two.timeline.groupby("island")["in_flight"].max()
    assert (per_island <= 3).all()  # 6 slots, 3 to each island
    # Utilization is out of the slots the executor gave, not the 64 the config allowed.
    assert one.slots == pytest.approx(6) and two.slots == pytest.approx(6)
    # (Out of 64, at most 6 in flight would read at most 6/64 = 0.094.)
    assert 0.1 < one.utilization <= 1 and 0.1 < two.utilization <= 1
    assert any(f.text.startswith("the 6 task-call slots were") for f in diagnose(one))
    # An executor that runs more than eval_concurrency does not limit the run: no slots.
    roomy = gl.EvaluatorTask(CpuChecker(0), binary=True, executor=ThreadExecutor(16))
    assert _run(roomy, eval_concurrency=8, max_metric_calls=100).slots is None


def test_the_default_thread_pool_follows_the_task_and_copies_cleanly():
    task = gl.EvaluatorTask(CpuChecker(0), binary=True, threads=4)
    assert task.capacity == 4 and isinstance(task.runner, ThreadExecutor)
    _run(task, max_metric_calls=100)  # the pool has started
    wider = dataclasses.replace(task, threads=8)
    assert wider.capacity == 8 and wider.runner is not task.runner
    for clone in (copy.deepcopy(task), pickle.loads(pickle.dumps(task))):
        assert clone.capacity == 4 and _run(clone, max_metric_calls=100).metric_calls >= 100


def test_virtual_cpus_run_as_many_calls_at_once_as_they_have_cpus():
    cpus = VirtualCpus(cpus=2, seconds=0.5)

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()

        async def one(i: int) -> float:
            return await cpus.run(lambda: loop.time())

        return await asyncio.gather(*(one(i) for i in range(5)))

    assert run_virtual(main) == [0.5, 0.5, 1.0, 1.0, 1.5]
    assert run_virtual(main) == [0.5, 0.5, 1.0, 1.0, 1.5]  # a new loop, every CPU free again
    twin = pickle.loads(pickle.dumps(cpus))
    assert (twin.cpus, twin.seconds, twin.capacity) == (2, 0.5, 2)
    with pytest.raises(ValueError, match="cpus=0"):
        VirtualCpus(cpus=0)
    for seconds in (-1, math.inf, math.nan):
        with pytest.raises(ValueError, match=f"seconds={seconds}"):
            VirtualCpus(seconds=seconds)


@pytest.mark.parametrize("system", ["gepa_lab", "gepa_parallel"])
def test_the_cpu_world_holds_every_optimizer_to_its_two_cpus(system):
    world = TASK_WORLD_BY_NAME["cpu-check30"]
    models = {"task_model": TASK_MODEL, "reflection_model": REFLECTION_MODEL}
    if system == "gepa_lab":
        cfg = gl.Config(max_metric_calls=200, eval_concurrency=64)
        res = gl.optimize_sync(
            world.seed, world.train, cfg, task=world.task, time_mode="virtual", **models
        )
    else:
        pytest.importorskip("gepa")
        res = asyncio.run(
            gl.optimize_gepa(
                world.seed,
                world.train,
                max_metric_calls=200,
                provider=SimProvider,
                time_mode="virtual",
                task=world.task,
                parallel=(4, 4),
                concurrency=64,
                **models,
            )
        )
    assert res.metric_calls >= 200
    # 2 CPUs, half a second a check: no schedule runs the checks faster than this, and no
    # optimizer keeps more in flight than they run (its utilization is out of those 2).
    assert res.wall_time >= res.metric_calls * 0.5 / 2
    assert res.timeline["in_flight"].max() <= 2 and res.slots == 2


class Dying:
    """Runs calls in place, but a call on an example of ``deadly`` (all of them if None)
    fails each time, as a worker that dies on it would."""

    capacity = 4

    def __init__(self, deadly: set[str] | None = None) -> None:
        self.deadly = deadly

    async def run(self, fn, *args):
        await asyncio.sleep(0.01)
        if self.deadly is None or args[-1].id in self.deadly:
            raise ExecutorError("the worker died")
        return fn(*args)

    def close(self) -> None:
        pass


def test_an_executor_that_runs_nothing_stops_the_run_blaming_it_not_an_endpoint():
    task = gl.EvaluatorTask(CpuChecker(0), binary=True, executor=Dying())
    with pytest.raises(RunAborted, match=r"no evaluation has succeeded.*the executor runs none"):
        _run(task)
    with pytest.raises(RunAborted, match="the executor refuses it"):
        asyncio.run(gl.score_prompt(WORLD.seed, WORLD.train[:3], task=task))


def test_an_example_that_kills_its_worker_every_time_stops_the_run_naming_it():
    deadly = {e.id for e in WORLD.train[::2]}
    task = gl.EvaluatorTask(CpuChecker(0), binary=True, executor=Dying(deadly))
    with pytest.raises(RunAborted) as stop:
        _run(task)
    named = re.search(r"example '([^']+)' failed on each of 10 tries", str(stop.value))
    assert named and named.group(1) in deadly
    assert "others succeeded: the executor cannot run it" in str(stop.value)
