"""The Ray executor on a real local Ray instance, bound to the loopback interface.

On these machines Ray binds the machine's external address unless
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is set before Ray is imported (tests/conftest.py sets it);
with it, a local instance uses 127.0.0.1. The fixture checks the address before any test
runs. Skipped without Ray (the ``ray`` extra, in ``dev``).
"""

from __future__ import annotations

import json
import sys
import time

import pytest

import gepa_lab as gl
from gepa_lab.engine.pipeline import example_order
from gepa_lab.executors import ThreadExecutor
from gepa_lab.lab.sweep import explore_point, run_sweep
from gepa_lab.protocols import RunAborted
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from gepa_lab.sim.cpu_task import CpuChecker, cpu_task
from gepa_lab.sim.task_worlds import cpu_world

ray = pytest.importorskip("ray")
from gepa_lab.executors.ray import RayExecutor, check_loopback  # noqa: E402  (needs Ray)

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


def test_a_run_on_ray_scores_as_a_local_run_and_counts_each_evaluation_once(local_ray, tmp_path):
    res = _run(local_ray, run_dir=tmp_path / "run")
    assert res.stop_reason == "target" and res.best_quality >= TARGET
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)  # nothing left in flight
    assert res.timeline["in_flight"].max() <= local_ray.capacity  # the scheduler read it
    # Every score the run kept is what the checker gives in this process, and each
    # (candidate, example) was counted once.
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    check, train = CpuChecker(STEPS), cpu_world(0).train
    examples = [train[i] for i in example_order(len(train), 3)]
    kept = 0
    for cand in state["candidates"]:
        instruction = cand["components"]["instruction"]
        for pos, score in cand["scores"].items():
            assert score == check(instruction, examples[int(pos)])[0]
            kept += 1
    assert kept == res.metric_calls
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
    with pytest.raises(RunAborted, match="runs in real time"):
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
