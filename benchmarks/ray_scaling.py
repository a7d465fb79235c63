"""gepa_lab beyond one process, on Ray (a local instance and a two-node cluster on this machine,
loopback only). Simulated world; three parts, each measured in this one run:

1. The CPU-heavy task (:mod:`gepa_lab.sim.cpu_task`, ``--steps`` loop steps per evaluation)
   with a fixed budget of ``--budget`` evaluations and no target: evaluations per second with
   the local executor (threads: the GIL runs one check at a time), then on Ray with 1 and with
   2 CPUs. Every run must end with the same number of evaluations.
2. A sweep of 8 virtual-clock runs (:func:`gepa_lab.lab.sweep.explore_point`: the explorer's
   settings, 4 values of ``cohort_quantile`` x 2 seeds, ``--sweep-size`` problems, each run to
   a budget of 8,000 task calls with no target: the best quality each setting reaches for the
   same spend, runs of 1.3-1.7 s here): one after another in this process, then as Ray tasks
   on 2 CPUs. Both must give the same rows (the ``seconds`` each run took aside).

Ray's start-up (``ray.init`` and a worker per CPU importing gepa_lab:
:meth:`~gepa_lab.executors.ray.RayExecutor.warm_up`) is paid once per session, not per run: it
is timed apart (``ray_start_s``) and the speedups are of the runs themselves; the JSON also gives
the sweep's speedup with the start-up counted (``sweep_speedup_ray_with_start``).
3. A two-node cluster (1 CPU each) running the CPU-heavy task; the worker node is killed once a
   third of the budget is done. ``node_kill_lost``: evaluations that started and never ended
   anywhere; ``node_kill_duplicated``: evaluations counted more than once by the run.

    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 python benchmarks/ray_scaling.py [--steps 1200000]

The last line is one JSON object: ``cpu_task_speedup_ray_2cpu`` (and ``_1cpu``, over the local
executor), ``sweep_speedup_ray``, ``node_kill_lost``, ``node_kill_duplicated`` and the raw
figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

# Ray binds the machine's external address unless this is set before it is imported.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray

import gepa_lab as gl
from gepa_lab.executors import ThreadExecutor
from gepa_lab.executors.ray import RayExecutor, check_loopback, one_machine_cluster
from gepa_lab.lab.sweep import explore_point, grid_points, run_sweep
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from gepa_lab.sim.cpu_task import CpuChecker, cpu_world

MODELS = {"task_model": TASK_MODEL, "reflection_model": REFLECTION_MODEL}


def cpu_run(
    task: gl.EvaluatorTask, budget: int, on_progress=None, run_dir: Path | None = None
) -> tuple[gl.RunResult, float]:
    """The CPU-heavy task to ``budget`` evaluations (no target), in real time."""
    world = cpu_world(0)
    began = time.perf_counter()
    res = gl.optimize_sync(
        world.seed,
        world.train,
        gl.Config(max_metric_calls=budget, seed=5),
        task=task,
        provider=SimProvider(time_scale=0.0),  # reflections answer at once
        on_progress=on_progress,
        run_dir=run_dir,
        **MODELS,
    )
    return res, time.perf_counter() - began


def task_on(executor, checker) -> gl.EvaluatorTask:
    return gl.EvaluatorTask(checker, binary=True, executor=executor)


class Recorded:
    """``checker``, appending "start|end key node" lines to ``log`` around each check (every
    node of a one-machine cluster shares the file)."""

    def __init__(self, checker: CpuChecker, log: Path) -> None:
        self.checker, self.log = checker, log

    def __call__(self, instruction: str, example) -> tuple[float, str]:
        node = ray.get_runtime_context().get_node_id()
        key = hashlib.sha1(f"{example.id}|{instruction}".encode()).hexdigest()[:16]
        self._line("start", key, node)
        got = self.checker(instruction, example)
        self._line("end", key, node)
        return got

    def _line(self, kind: str, key: str, node: str) -> None:
        with self.log.open("a") as f:
            f.write(f"{kind} {key} {node}\n")


def node_kill(steps: int, budget: int) -> dict:
    """The CPU-heavy task on a head and one worker node (1 CPU each); the worker killed once a
    third of ``budget`` is done."""
    cluster_of = one_machine_cluster(workers=1, num_cpus=1)
    with cluster_of as (cluster, (worker,)), TemporaryDirectory() as tmp:
        log = Path(tmp) / "evaluations.log"
        killed: list[float] = []

        def kill_at_a_third(progress: dict) -> None:
            if progress["metric_calls"] >= budget // 3 and not killed:
                killed.append(progress["time"])
                threading.Thread(target=cluster.remove_node, args=(worker, False)).start()

        task = task_on(RayExecutor(num_cpus=1, refresh=0.2), Recorded(CpuChecker(steps), log))
        res, seconds = cpu_run(task, budget, kill_at_a_third, Path(tmp) / "run")
        lines = [line.split() for line in log.read_text().splitlines()]
        state = json.loads((Path(tmp) / "run" / "state.json").read_text())
    dead = worker.node_id
    ended = {(key, node) for kind, key, node in lines if kind == "end"}
    started_there = {key for kind, key, node in lines if kind == "start" and node == dead}
    # What a run counts is one score per (candidate, example): state.json keeps them.
    kept = sum(len(c["scores"]) for c in state["candidates"])
    return {
        "killed_at_s": round(killed[0], 2) if killed else None,
        "seconds": round(seconds, 2),
        "evaluations": res.metric_calls,
        "finished_on_the_killed_node": sum(node == dead for _, node in ended),
        "cut_by_the_kill": len({k for k in started_there if (k, dead) not in ended}),
        "lost": len({k for kind, k, _ in lines if kind == "start"} - {k for k, _ in ended}),
        "duplicated": res.metric_calls - kept,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # About 0.2 s of CPU per evaluation here: a test suite run, an episode in a simulator.
    ap.add_argument("--steps", type=int, default=1_200_000, help="loop steps per evaluation")
    ap.add_argument("--budget", type=int, default=120, help="evaluations per CPU-task run")
    ap.add_argument("--sweep-size", type=int, default=150, help="problems per sweep run")
    args = ap.parse_args()
    checker = CpuChecker(args.steps)
    out: dict = {"simulated": True, "steps": args.steps, "budget": args.budget}

    local, t_local = cpu_run(task_on(ThreadExecutor(16), checker), args.budget)
    rates = {"local": local.metric_calls / t_local}
    print(f"local threads: {local.metric_calls} evaluations in {t_local:.1f} s", flush=True)
    starts = []
    for cpus in (1, 2):
        began = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        try:
            check_loopback()
            executor = RayExecutor(num_cpus=1)
            executor.warm_up()
            starts.append(time.perf_counter() - began)
            run, seconds = cpu_run(task_on(executor, checker), args.budget)
        finally:
            ray.shutdown()
        if run.metric_calls != local.metric_calls:
            raise SystemExit(
                f"Ray {cpus} CPU(s) ran {run.metric_calls} evaluations, not {local.metric_calls}"
            )
        rates[f"ray_{cpus}cpu"] = run.metric_calls / seconds
        print(f"Ray, {cpus} CPU(s): {run.metric_calls} evaluations in {seconds:.1f} s", flush=True)
    out["evaluations_per_s"] = {k: round(v, 1) for k, v in rates.items()}
    out["cpu_task_speedup_ray_1cpu"] = round(rates["ray_1cpu"] / rates["local"], 3)
    out["cpu_task_speedup_ray_2cpu"] = round(rates["ray_2cpu"] / rates["local"], 3)

    points = grid_points({"cohort_quantile": [0.3, 0.4, 0.5, 0.6]}, [0, 1])
    began = time.perf_counter()
    point = {"dataset_size": args.sweep_size, "target_quality": 1.0, "budget": 8000}
    one_by_one = run_sweep(explore_point, points, ThreadExecutor(1), None, **point)
    t_seq = time.perf_counter() - began
    print(f"sweep of {len(points)} runs one after another: {t_seq:.1f} s", flush=True)
    began = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        check_loopback()
        executor = RayExecutor(num_cpus=1, queued=1)
        executor.warm_up()
        starts.append(time.perf_counter() - began)
        began = time.perf_counter()
        on_ray = run_sweep(explore_point, points, executor, None, **point)
        t_ray = time.perf_counter() - began
    finally:
        ray.shutdown()
    print(f"the same sweep on Ray (2 CPUs): {t_ray:.1f} s", flush=True)
    if not one_by_one.drop(columns="seconds").equals(on_ray.drop(columns="seconds")):
        raise SystemExit("the sweep on Ray gave other results than one after another")
    out["sweep_seconds"] = {"sequential": round(t_seq, 2), "ray_2cpu": round(t_ray, 2)}
    out["sweep_speedup_ray"] = round(t_seq / t_ray, 3)
    out["ray_start_s"] = [round(t, 2) for t in starts]  # ray.init and warm_up, per session
    out["sweep_speedup_ray_with_start"] = round(t_seq / (t_ray + starts[-1]), 3)

    kill = node_kill(300_000, 300)  # the kill lands while evaluations run on both nodes
    print(f"two nodes, one killed at {kill['killed_at_s']} s: {kill}", flush=True)
    out["node_kill"] = kill
    out["node_kill_lost"] = kill["lost"]
    out["node_kill_duplicated"] = kill["duplicated"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
