"""gepa_lab against the real gepa library on tasks other than AIME (simulated, virtual clock).

Tasks (gepa_lab.sim.task_worlds): ``reviews45``, 45 product reviews labelled positive or
negative by an LLM task with a label-accuracy metric, and ``plan-solve30``, a two-step program
(a planner call, then a solver call, each with its own component) on 30 AIME-style problems,
and ``cpu-check30``, 30 AIME-style problems whose answers a program checks, two checks at a
time (a 2-CPU machine) for half a simulated second each.
Per task and seed, three systems run to the task's target within its budget of task calls:
gepa_lab's default Config (64 calls in flight), GEPA's default (``gepa.optimize``, 10 in flight)
and GEPA's parallel proposals (``PxNSampling(4, 4)``, 64 in flight), all on the same task
object, data and simulated models. A target counts only when the returned best, re-scored on the
training set, reaches it. Each best is scored on the task's held-out set.

Per task, medians with bootstrap 95% intervals of the paired time-to-target speedups and the
task + reflection calls ratio (gepa_lab over GEPA default), and each system's held-out score.
The last line is one JSON object with ``tasks`` and ``min_median_speedup`` and
``max_median_calls_ratio`` (against GEPA's default, over the tasks).

    python benchmarks/tasks_vs_gepa.py [--seeds 16] [--tasks reviews45,cpu-check30] [--jobs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from concurrent.futures import ProcessPoolExecutor

from world_suite import calls_ratio, paired, print_progress, rounded_ci, speedup

import gepa_lab as gl
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from gepa_lab.sim.task_worlds import TASK_WORLD_BY_NAME, TASK_WORLDS, TaskWorld

SYSTEMS = ("gepa_lab", "gepa", "gepa_parallel")
CONCURRENCY = 64


def run(world: TaskWorld, system: str, seed: int) -> gl.RunResult:
    models = {"task_model": TASK_MODEL, "reflection_model": REFLECTION_MODEL}
    if system == "gepa_lab":
        cfg = gl.Config(target_quality=world.target, max_metric_calls=world.budget, seed=seed)
        return gl.optimize_sync(
            world.seed,
            world.train,
            cfg,
            provider=SimProvider(),
            time_mode="virtual",
            task=world.task,
            label=system,
            **models,
        )
    options = {"parallel": (4, 4), "concurrency": CONCURRENCY} if system != "gepa" else {}
    return asyncio.run(
        gl.optimize_gepa(
            world.seed,
            world.train,
            max_metric_calls=world.budget,
            target_quality=world.target,
            provider=SimProvider,
            time_mode="virtual",
            seed_value=seed,
            label=system,
            task=world.task,
            **options,
            **models,
        )
    )


def one(name: str, seed: int) -> dict:
    world = TASK_WORLD_BY_NAME[name]
    row: dict = {"task": name, "seed": seed}
    for system in SYSTEMS:
        res = run(world, system, seed)
        hit = res.at_target()
        best = res.best_candidate
        rescored = world.score(best, world.train) if best else 0.0
        reached = hit is not None and rescored >= world.target - 1e-9
        row[system] = {
            "reached": reached,
            "time": round(hit["time"], 2) if reached else None,
            "calls": hit["metric_calls"] + res.reflection_calls if reached else None,
            "held_out": round(world.score(best, world.held_out), 4) if best else None,
            "stop": res.stop_reason,
        }
    return row


def summarize(rows: list[dict]) -> dict:
    rng = random.Random(0)
    world = TASK_WORLD_BY_NAME[rows[0]["task"]]
    return {
        "seeds": len(rows),
        "target": world.target,
        "reached": {s: sum(r[s]["reached"] for r in rows) for s in SYSTEMS},
        "median_time": {
            s: rounded_ci([r[s]["time"] for r in rows if r[s]["reached"]], rng) for s in SYSTEMS
        },
        "speedup_vs_gepa_default": rounded_ci(paired(rows, speedup, "gepa_lab", "gepa"), rng),
        "speedup_vs_gepa_parallel": rounded_ci(
            paired(rows, speedup, "gepa_lab", "gepa_parallel"), rng
        ),
        "calls_ratio_vs_gepa_default": rounded_ci(
            paired(rows, calls_ratio, "gepa_lab", "gepa"), rng
        ),
        "held_out": {
            s: rounded_ci([r[s]["held_out"] for r in rows if r[s]["held_out"] is not None], rng)
            for s in SYSTEMS
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--tasks", default=",".join(w.name for w in TASK_WORLDS))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    names = args.tasks.split(",")
    unknown = [n for n in names if n not in TASK_WORLD_BY_NAME]
    if unknown:
        ap.error(f"unknown task(s) {unknown}: choose from {sorted(TASK_WORLD_BY_NAME)}")
    started = time.perf_counter()
    jobs = [(name, seed) for name in names for seed in range(args.seeds)]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(one, *zip(*jobs, strict=True)):
            rows.append(row)
            print_progress(len(rows), len(jobs), started, row["task"], row, SYSTEMS)
    tasks = {}
    for name in names:
        s = summarize([r for r in rows if r["task"] == name])
        tasks[name] = s
        print(f"\n== {name} (simulated): target {s['target']}, {s['seeds']} seeds")
        for key in (
            "reached",
            "median_time",
            "speedup_vs_gepa_default",
            "speedup_vs_gepa_parallel",
            "calls_ratio_vs_gepa_default",
            "held_out",
        ):
            print(f"  {key}: {s[key]}")

    def pick(key, fn):
        values = [t[key][0] for t in tasks.values() if t[key]]
        return fn(values) if values else None

    print(
        json.dumps(
            {
                "simulated": True,
                "seeds": args.seeds,
                "real_seconds": round(time.perf_counter() - started, 1),
                "min_median_speedup": pick("speedup_vs_gepa_default", min),
                "min_median_speedup_vs_parallel": pick("speedup_vs_gepa_parallel", min),
                "max_median_calls_ratio": pick("calls_ratio_vs_gepa_default", max),
                "tasks": tasks,
            }
        )
    )


if __name__ == "__main__":
    main()
