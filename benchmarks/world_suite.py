"""gepa_lab against GEPA on every simulated world of the suite (gepa_lab.sim.worlds.SUITE: the
AIME-style worlds, and the review-labelling task, the two-step program and the problems checked
by a program two at a time (``cpu-check30``) with deterministic and weak reflection models).

Simulated results (virtual clock, deterministic). Per world and seed, four systems run to the
world's target within its task-call budget: gepa_lab's default Config (64 calls in flight),
gepa_lab's turbo settings (the notebook's: ``adaptive_config``, balanced profile, 256 in flight),
GEPA's default (``gepa.optimize``, 10 calls in flight) and GEPA at its fastest (parallel
proposals, ``PxNSampling(4, 4)`` with ``batch_evaluate``, 64 calls in flight, as gepa_lab's
default). A target counts only when the returned best, re-scored on the training set, reaches
it. Then gepa_lab's default and GEPA's default run again without a target, once with the whole
budget of task calls and once with ``--wall`` simulated seconds, and each best is scored on the
world's held-out examples: the held-out difference at equal task calls and at equal time.

Per world, a table; medians come with bootstrap 95% intervals. The last line is one JSON object
with ``worlds`` (per world figures) and ``overall``: ``min_reach_ratio`` (gepa_lab default's
verified reaches over the better GEPA configuration's, lowest world), ``min_pair_reach`` (of the
seeds on which either GEPA configuration reached the target, the share gepa_lab default reached
too, lowest world), ``min_speedup_vs_gepa_parallel`` and ``min_speedup_vs_gepa_default`` (lowest
per-world median of paired time-to-target ratios), ``max_calls_ratio_vs_gepa_default`` (highest
per-world median of task + reflection calls to target over GEPA default's),
``min_heldout_diff_equal_calls`` and ``min_heldout_diff_equal_time`` (lowest per-world median
difference, gepa_lab default minus GEPA default), and ``exhausted_early`` (gepa_lab runs that ended
"exhausted" with more than 10% of their budget left).

    python benchmarks/world_suite.py [--seeds 16] [--worlds aime12-deterministic,...]
        [--wall 120] [--jobs 2] [--overrides '{"reflection_minibatch_size": 6}']
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

import gepa_lab as gl
from gepa_lab.lab.spread import median_ci
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL
from gepa_lab.sim.task_worlds import TaskWorld
from gepa_lab.sim.worlds import SUITE, SUITE_BY_NAME, World

SYSTEMS = ("gepa_lab", "turbo", "gepa", "gepa_parallel")
CONCURRENCY = 64  # gepa_lab's default Config, and GEPA parallel's calls in flight
TURBO_CONCURRENCY = 256


def run(
    world: World | TaskWorld,
    system: str,
    seed: int,
    target: float | None,
    wall: float | None = None,
    overrides: dict | None = None,
) -> gl.RunResult:
    """One run; ``overrides`` (Config fields) apply to gepa_lab's default Config only."""
    models = {"task_model": TASK_MODEL, "reflection_model": REFLECTION_MODEL}
    if system in ("gepa", "gepa_parallel"):
        options = {"parallel": (4, 4), "concurrency": CONCURRENCY} if system != "gepa" else {}
        return asyncio.run(
            gl.optimize_gepa(
                world.seed,
                world.train,
                max_metric_calls=world.budget,
                target_quality=target,
                max_wall_time=wall,
                provider=world.provider,
                time_mode="virtual",
                seed_value=seed,
                label=system,
                task=world.task,
                **options,
                **models,
            )
        )
    if system == "gepa_lab":
        cfg = gl.Config().replace(**(overrides or {}))
    else:
        cfg = gl.adaptive_config(len(world.train), "balanced", TURBO_CONCURRENCY)
    cfg = cfg.replace(
        target_quality=target, max_metric_calls=world.budget, max_wall_time=wall, seed=seed
    )
    return gl.optimize_sync(
        world.seed,
        world.train,
        cfg,
        provider=world.provider(),
        time_mode="virtual",
        label=system,
        task=world.task,
        **models,
    )


def one(name: str, seed: int, wall: float, overrides: dict) -> dict:
    """Every run of one (world, seed)."""
    world = SUITE_BY_NAME[name]
    target = world.target
    row: dict = {"world": name, "seed": seed}
    for system in SYSTEMS:
        res = run(world, system, seed, target, overrides=overrides)
        hit = res.at_target()
        rescored = world.score(res.best_candidate, world.train) if res.best_candidate else 0.0
        reached = hit is not None and rescored >= target - 1e-9
        row[system] = {
            "reached": reached,
            "claimed": hit is not None,
            "rescored": round(rescored, 4),
            "time": round(hit["time"], 2) if reached else None,
            "task_calls": hit["metric_calls"] if reached else None,
            "calls": hit["metric_calls"] + res.reflection_calls if reached else None,
            "stop": res.stop_reason,
            "budget_left": round(1 - res.metric_calls / world.budget, 3),
        }
    for system in ("gepa_lab", "gepa"):
        for key, wall_time in (("heldout_equal_calls", None), ("heldout_equal_time", wall)):
            res = run(world, system, seed, None, wall_time, overrides)
            row[system][key] = round(world.score(res.best_candidate, world.held_out), 4)
    return row


def rounded_ci(values: list[float], rng: random.Random) -> list[float] | None:
    """:func:`median_ci` rounded to 3 decimals, as a list (JSON), or None with no values."""
    got = median_ci(values, rng)
    return None if got is None else [round(v, 3) for v in got]


def paired(rows: list[dict], fn, a: str, b: str) -> list[float]:
    """``fn(row[a], row[b])`` for every row in which both systems reached the target."""
    return [fn(r[a], r[b]) for r in rows if r[a]["reached"] and r[b]["reached"]]


def speedup(a: dict, b: dict) -> float:
    """How many times sooner ``a`` reached the target than ``b``."""
    return b["time"] / a["time"]


def calls_ratio(a: dict, b: dict) -> float:
    return a["calls"] / b["calls"]


def print_progress(
    done: int, total: int, started: float, name: str, row: dict, systems: tuple[str, ...]
) -> None:
    """One line per finished (world, seed): each system's time to target."""
    times = " ".join(f"{s}={row[s]['time']}" for s in systems)
    print(
        f"[{done}/{total}, {time.perf_counter() - started:.0f} s] {name} seed {row['seed']}: "
        f"time to target {times}",
        flush=True,
    )


def summarize(rows: list[dict]) -> dict:
    rng = random.Random(0)

    def ci(values: list[float]):
        return rounded_ci(values, rng)

    reaches = {s: sum(r[s]["reached"] for r in rows) for s in SYSTEMS}
    bar = max(reaches["gepa"], reaches["gepa_parallel"])
    # The reading: of the seeds on which either GEPA configuration reached the target,
    # the share on which gepa_lab default did too.
    either = [r for r in rows if r["gepa"]["reached"] or r["gepa_parallel"]["reached"]]
    return {
        "seeds": len(rows),
        "target": SUITE_BY_NAME[rows[0]["world"]].target,
        "reached": reaches,
        "claimed_not_verified": {
            s: sum(r[s]["claimed"] and not r[s]["reached"] for r in rows) for s in SYSTEMS
        },
        "reach_ratio": round(reaches["gepa_lab"] / bar, 3) if bar else None,
        "pair_reach": round(sum(r["gepa_lab"]["reached"] for r in either) / len(either), 3)
        if either
        else None,
        "median_time": {s: ci([r[s]["time"] for r in rows if r[s]["reached"]]) for s in SYSTEMS},
        "median_calls": {s: ci([r[s]["calls"] for r in rows if r[s]["reached"]]) for s in SYSTEMS},
        "speedup_vs_gepa_parallel": ci(paired(rows, speedup, "gepa_lab", "gepa_parallel")),
        "speedup_vs_gepa_default": ci(paired(rows, speedup, "gepa_lab", "gepa")),
        "turbo_speedup_vs_gepa_parallel": ci(paired(rows, speedup, "turbo", "gepa_parallel")),
        "calls_ratio_vs_gepa_default": ci(paired(rows, calls_ratio, "gepa_lab", "gepa")),
        "heldout_diff_equal_calls": ci(
            [r["gepa_lab"]["heldout_equal_calls"] - r["gepa"]["heldout_equal_calls"] for r in rows]
        ),
        "heldout_diff_equal_time": ci(
            [r["gepa_lab"]["heldout_equal_time"] - r["gepa"]["heldout_equal_time"] for r in rows]
        ),
        "exhausted_early": sum(
            r[s]["stop"] == "exhausted" and r[s]["budget_left"] > 0.1
            for r in rows
            for s in ("gepa_lab", "turbo")
        ),
    }


def table(summary: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "reached (re-scored)": summary["reached"],
            "median time to target [95% CI]": summary["median_time"],
            "median task+reflection calls [95% CI]": summary["median_calls"],
        }
    )


def lowest(worlds: dict, key: str, pick=min):
    values = [w[key][0] if isinstance(w[key], list) else w[key] for w in worlds.values()]
    values = [v for v in values if v is not None]
    return pick(values) if values else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--worlds", default=",".join(w.name for w in SUITE))
    ap.add_argument("--wall", type=float, default=120.0, help="simulated seconds, equal time")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--overrides", default="{}", help="JSON of Config fields for gepa_lab default's runs"
    )
    args = ap.parse_args()
    overrides = json.loads(args.overrides)
    gl.Config().replace(**overrides)  # a typo fails here, naming the field, not in a worker
    names = args.worlds.split(",")
    unknown = [n for n in names if n not in SUITE_BY_NAME]
    if unknown:
        ap.error(f"unknown world(s) {unknown}: choose from {sorted(SUITE_BY_NAME)}")
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(name, seed) for name in names for seed in seeds]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        walls, extra = [args.wall] * len(jobs), [overrides] * len(jobs)
        for row in pool.map(one, *zip(*jobs, strict=True), walls, extra):
            rows.append(row)
            print_progress(len(rows), len(jobs), started, row["world"], row, SYSTEMS)
    worlds = {}
    for name in names:
        summary = summarize([r for r in rows if r["world"] == name])
        worlds[name] = summary
        print(f"\n== {name} (simulated): target {summary['target']}, {summary['seeds']} seeds")
        print(table(summary).to_string())
        for key in (
            "speedup_vs_gepa_parallel",
            "speedup_vs_gepa_default",
            "turbo_speedup_vs_gepa_parallel",
            "calls_ratio_vs_gepa_default",
            "heldout_diff_equal_calls",
            "heldout_diff_equal_time",
            "exhausted_early",
            "claimed_not_verified",
        ):
            print(f"  {key}: {summary[key]}")
    overall = {
        "min_reach_ratio": lowest(worlds, "reach_ratio"),
        "min_pair_reach": lowest(worlds, "pair_reach"),
        "min_speedup_vs_gepa_parallel": lowest(worlds, "speedup_vs_gepa_parallel"),
        "min_speedup_vs_gepa_default": lowest(worlds, "speedup_vs_gepa_default"),
        "max_calls_ratio_vs_gepa_default": lowest(worlds, "calls_ratio_vs_gepa_default", max),
        "min_heldout_diff_equal_calls": lowest(worlds, "heldout_diff_equal_calls"),
        "min_heldout_diff_equal_time": lowest(worlds, "heldout_diff_equal_time"),
        "exhausted_early": sum(w["exhausted_early"] for w in worlds.values()),
    }
    print(
        json.dumps(
            {
                "simulated": True,
                "seeds": args.seeds,
                "wall": args.wall,
                "overrides": overrides,
                "real_seconds": round(time.perf_counter() - started, 1),
                "overall": overall,
                "worlds": worlds,
            }
        )
    )


if __name__ == "__main__":
    main()
