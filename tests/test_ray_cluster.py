"""A two-node Ray cluster on this machine (ray.cluster_utils.Cluster, loopback only), one node
killed in the middle of a run, with evaluations as Ray tasks and on Ray actors: nothing is lost,
nothing is counted twice, every score is right. Skipped without Ray."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

import gepa_lab as gl
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from gepa_lab.sim.cpu_task import CpuChecker
from gepa_lab.sim.task_worlds import cpu_world

ray = pytest.importorskip("ray")
from gepa_lab.executors.ray import RayExecutor, one_machine_cluster  # noqa: E402  (needs Ray)
from gepa_lab.executors.ray_actors import RayActorExecutor  # noqa: E402

STEPS = 300_000  # about 45 ms of CPU per evaluation: the worker node is busy when it dies
BUDGET = 300


@pytest.fixture
def two_nodes():
    with one_machine_cluster(workers=1, num_cpus=1) as (cluster, (worker,)):
        yield cluster, worker


def _logged(check: CpuChecker, log: Path):
    """``check``, writing where each evaluation starts and ends (the node, by id) to ``log``,
    a file every node on this machine shares."""

    def evaluate(instruction: str, example):
        node = ray.get_runtime_context().get_node_id()
        key = hashlib.sha1(f"{instruction}\0{example.id}".encode()).hexdigest()[:16]
        with log.open("a") as f:
            f.write(f"start {key} {node}\n")
        got = check(instruction, example)
        with log.open("a") as f:
            f.write(f"end {key} {node}\n")
        return got

    return evaluate


def test_a_node_killed_mid_run_loses_nothing_and_counts_nothing_twice(
    two_nodes, tmp_path, kept_right
):
    cluster, worker = two_nodes
    executor = RayExecutor(num_cpus=1, refresh=0.2)
    assert executor.capacity == 2 * 2
    check, log = CpuChecker(STEPS), tmp_path / "evaluations.log"
    task = gl.EvaluatorTask(_logged(check, log), binary=True, executor=executor)
    world = cpu_world(0)
    killed: list[float] = []

    def kill_at_a_third(progress: dict) -> None:  # once evaluations run on both nodes
        if progress["metric_calls"] >= BUDGET // 3 and not killed:
            killed.append(progress["time"])
            threading.Thread(target=cluster.remove_node, args=(worker, False)).start()

    res = gl.optimize_sync(
        world.seed,
        world.train,
        gl.Config(max_metric_calls=BUDGET, seed=5),  # no target: the whole budget
        task=task,
        provider=SimProvider(time_scale=0.0),
        run_dir=tmp_path / "run",
        on_progress=kill_at_a_third,
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
    )
    assert killed and killed[0] < res.wall_time
    assert res.stop_reason == "budget" and res.metric_calls >= BUDGET
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)  # none left hanging
    deadline = time.monotonic() + 30  # the cluster's view of its resources lags a little
    while executor.capacity != 1 * 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert executor.capacity == 1 * 2  # the capacity follows the cluster as it shrinks
    # The worker node was doing its share when it died; whatever it had started and not
    # finished was run again, to the end, on the head. (Ray also retries what it had sent
    # there and not yet started, which no log line shows.)
    lines = [line.split() for line in log.read_text().splitlines()]
    dead = worker.node_id
    began = {key for kind, key, node in lines if kind == "start" and node == dead}
    ended = {(key, node) for kind, key, node in lines if kind == "end"}
    cut = {key for key in began if (key, dead) not in ended}
    assert any(node == dead for _, node in ended), "the worker node never finished anything"
    assert all(any(k == key and n != dead for k, n in ended) for key in cut)
    # Every score kept is right, and each evaluation was counted once: none lost or twice.
    assert kept_right(tmp_path / "run", world.train, check, 5) == res.metric_calls


def test_an_actor_on_a_killed_node_leaves_the_pool_and_its_calls_run_on_the_others(
    two_nodes, tmp_path, kept_right
):
    cluster, worker = two_nodes
    actors = RayActorExecutor(actors=2)  # one per node: each needs the node's only CPU
    assert actors.warm_up() >= 0 and actors.capacity == 2 * 2
    world = cpu_world(STEPS, actors)
    killed: list[float] = []

    def kill_at_a_third(progress: dict) -> None:
        if progress["metric_calls"] >= BUDGET // 3 and not killed:
            killed.append(progress["time"])
            threading.Thread(target=cluster.remove_node, args=(worker, False)).start()

    try:
        res = gl.optimize_sync(
            world.seed,
            world.train,
            gl.Config(max_metric_calls=BUDGET, seed=5),
            task=world.task,
            provider=SimProvider(time_scale=0.0),
            run_dir=tmp_path / "run",
            on_progress=kill_at_a_third,
            task_model=TASK_MODEL,
            reflection_model=REFLECTION_MODEL,
        )
        assert actors.actors == 1 and actors.capacity == 1 * 2
    finally:
        actors.close()
    assert killed and res.stop_reason == "budget"
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)
    # The dead actor's calls were run again on the other, each counted once.
    assert kept_right(tmp_path / "run", world.train, CpuChecker(STEPS), 5) == res.metric_calls
