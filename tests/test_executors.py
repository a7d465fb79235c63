"""The executor seam: where a plain evaluator runs, and what the scheduler reads of it."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import pickle

import gepa_lab as gl
from gepa_lab.executors import ThreadExecutor
from gepa_lab.protocols import ExecutorError
from gepa_lab.sim.cpu_task import CpuChecker, cpu_world

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


def test_the_default_thread_pool_follows_the_task_and_copies_cleanly():
    task = gl.EvaluatorTask(CpuChecker(0), binary=True, threads=4)
    assert task.capacity == 4 and isinstance(task.runner, ThreadExecutor)
    _run(task, max_metric_calls=100)  # the pool has started
    wider = dataclasses.replace(task, threads=8)
    assert wider.capacity == 8 and wider.runner is not task.runner
    for clone in (copy.deepcopy(task), pickle.loads(pickle.dumps(task))):
        assert clone.capacity == 4 and _run(clone, max_metric_calls=100).metric_calls >= 100
