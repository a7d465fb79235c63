"""The Ray executor on a real local Ray instance, bound to the loopback interface.

On these machines Ray binds the machine's external address unless
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is set before Ray is imported (tests/conftest.py sets it);
with it, a local instance uses 127.0.0.1. The fixture checks the address before any test
runs. Skipped without Ray (the ``ray`` extra, in ``dev``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

import gepa_lab as gl
from gepa_lab.executors import ThreadExecutor
from gepa_lab.lab.sweep import explore_point, run_sweep
from gepa_lab.protocols import RunAborted
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from gepa_lab.sim.cpu_task import CpuChecker, cpu_task
from gepa_lab.sim.task_worlds import cpu_world

ray = pytest.importorskip("ray")
from gepa_lab.executors.ray import RayExecutor, check_loopback  # noqa: E402  (needs Ray)
from gepa_lab.executors.ray_actors import RayActorExecutor  # noqa: E402

STEPS = 2_000  # about 0.3 ms of CPU per evaluation: these tests are about behaviour
MODELS = {"task_model": TASK_MODEL, "reflection_model": REFLECTION_MODEL}
TARGET = cpu_world(0).target  # the same answers and scores at any number of steps


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        check_loopback()
        yield RayExecutor(num_cpus=1)
    finally:
        ray.shutdown()


def _run(executor, run_dir=None, **config):
    world = cpu_world(STEPS, executor)
    settings = {"target_quality": TARGET, "max_metric_calls": 1500, "seed": 3, **config}
    return gl.optimize_sync(
        world.seed,
        world.train,
        gl.Config(**settings),
        task=world.task,
        provider=SimProvider(time_scale=0.0),  # reflections answer at once, in real time
        run_dir=run_dir,
        **MODELS,
    )


def test_capacity_follows_the_cluster(local_ray):
    assert local_ray.capacity == 2 * 2  # 2 CPUs, 1 per call, one more queued at each
    assert RayExecutor(num_cpus=2, queued=1).capacity == 1
    with pytest.raises(ValueError, match="num_cpus=0"):
        RayExecutor(num_cpus=0)


def test_a_run_on_ray_scores_as_a_local_run_and_counts_each_evaluation_once(
    local_ray, tmp_path, kept_right
):
    res = _run(local_ray, run_dir=tmp_path / "run")
    assert res.stop_reason == "target" and res.best_quality >= TARGET
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)  # nothing left in flight
    assert res.timeline["in_flight"].max() <= local_ray.capacity  # the scheduler read it
    # Every score the run kept is what the checker gives in this process, and each
    # (candidate, example) was counted once.
    train = cpu_world(0).train
    assert kept_right(tmp_path / "run", train, CpuChecker(STEPS), 3) == res.metric_calls
    local = cpu_world(0).score(res.best_candidate, train)
    assert local == pytest.approx(res.best_quality)


def test_a_user_error_on_a_worker_stops_the_run_naming_the_example(local_ray):
    def broken(instruction, example):
        raise KeyError("tests")

    task = gl.EvaluatorTask(broken, executor=local_ray)
    with pytest.raises(gl.UserCodeError, match=r"evaluator failed on example '[\w-]+': KeyError"):
        gl.optimize_sync(
            "Solve it.",
            cpu_world(0).train,
            gl.Config(max_metric_calls=50),
            task=task,
            provider=SimProvider(time_scale=0.0),
            **MODELS,
        )


def test_the_virtual_clock_is_refused_with_ray(local_ray):
    with pytest.raises(RunAborted, match="run in real time"):
        gl.optimize_sync(
            "Solve it.",
            cpu_world(0).train,
            gl.Config(max_metric_calls=50),
            task=cpu_task(0, local_ray),
            time_mode="virtual",
        )


def test_threads_are_still_the_default():
    task = cpu_task(0)
    assert isinstance(task.runner, ThreadExecutor) and task.capacity == 16


def test_a_sweep_runs_its_points_as_ray_tasks_and_reports_a_failed_one(local_ray):
    points = [("eval_concurrency", 16, 0), ("eval_concurrency", 64, 0), ("nonsense", 1, 0)]
    table = run_sweep(explore_point, points, local_ray, None, dataset_size=20, target_quality=0.5)
    assert list(table["error"].isna()) == [True, True, False]
    assert table["error"].iloc[2].startswith("ValueError: knob 'nonsense' is unknown")
    here = explore_point("eval_concurrency", 16, 0, dataset_size=20, target_quality=0.5)
    assert table["time_to_target"].iloc[0] == here["time_to_target"]  # the same run, elsewhere


def test_warm_up_imports_what_the_calls_need_on_every_worker(local_ray):
    def imported(module: str, hold: float) -> bool:
        time.sleep(hold)  # hold the CPU, so that the two calls run on two workers
        return module in sys.modules

    def on_both_workers() -> list[bool]:
        return ray.get([local_ray._task.remote(imported, "wave", 0.5) for _ in range(2)])

    assert on_both_workers() == [False, False]  # a module neither Ray nor gepa_lab imports
    assert local_ray.warm_up("wave") >= 0.5
    assert on_both_workers() == [True, True]
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        local_ray.warm_up("no_such_module")


def _served(executor, n: int) -> list[tuple[int, int]]:
    """``n`` calls at once of an evaluator that counts the calls its copy has served: (its
    process, that count) per call."""

    class Counting:
        def __init__(self) -> None:
            self.served = 0

        def __call__(self, i: int) -> tuple[int, int]:
            self.served += 1
            time.sleep(0.01)
            return os.getpid(), self.served

    counting = Counting()

    async def main():
        return await asyncio.gather(*(executor.run(counting, i) for i in range(n)))

    return asyncio.run(main())


def test_actors_keep_an_evaluators_state_between_calls_where_tasks_start_afresh(local_ray):
    actors = RayActorExecutor(actors=2)
    try:
        assert actors.capacity == 2 * 2 and actors.warm_up("wave") >= 0
        served = _served(actors, 12)
    finally:
        actors.close()
    by_process: dict[int, list[int]] = {}
    for pid, count in served:
        by_process.setdefault(pid, []).append(count)
    assert len(by_process) == 2  # both actors served
    for counts in by_process.values():  # each copy counted its own calls: 1, 2, 3, ...
        assert sorted(counts) == list(range(1, len(counts) + 1))
    assert {count for _, count in _served(local_ray, 4)} == {1}  # a task gets a fresh copy
    with pytest.raises(ValueError, match="actors=0"):
        RayActorExecutor(actors=0)


@pytest.mark.parametrize("restarts", [3, 0])
def test_a_killed_actor_is_restarted_or_left_out_and_the_run_counts_each_evaluation_once(
    local_ray, tmp_path, restarts, kept_right
):
    actors = RayActorExecutor(actors=2, max_restarts=restarts)
    victim = actors._pool[0][0]
    killed: list[int] = []

    def kill_one(progress: dict) -> None:
        if progress["metric_calls"] >= 100 and not killed:
            killed.append(progress["metric_calls"])
            ray.kill(victim, no_restart=False)  # as its worker dying would

    try:
        world = cpu_world(STEPS, actors)
        res = gl.optimize_sync(
            world.seed,
            world.train,
            gl.Config(max_metric_calls=600, seed=3),
            task=world.task,
            provider=SimProvider(time_scale=0.0),
            run_dir=tmp_path / "run",
            on_progress=kill_one,
            **MODELS,
        )
        left = actors.actors
    finally:
        actors.close()
    assert killed and res.stop_reason == "budget"
    assert res.metric_calls + res.failed_calls >= 600  # a failed call spends budget too
    assert left == (2 if restarts else 1)  # restarted by Ray, or out of the pool
    train = cpu_world(0).train  # none lost, none counted twice:
    assert kept_right(tmp_path / "run", train, CpuChecker(STEPS), 3) == res.metric_calls
