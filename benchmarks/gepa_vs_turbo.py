"""Time to target: the real gepa library vs gepa_lab, over several seeds.

Simulated results (virtual clock, deterministic). Per seed, on the same synthetic AIME-style set,
three runs to ``--target``: ``gepa.optimize`` with its defaults through gepa_lab's adapter (10
calls in flight, minibatches of 3); GEPA at its fastest, its parallel proposals (``PxNSampling(4,
4)``, every minibatch of a step evaluated at once through the adapter's ``batch_evaluate``, at
``--concurrency`` calls in flight like gepa_lab); and gepa_lab with the notebook's turbo
configuration (``adaptive_config`` with the balanced profile, gepa_lab's defaults at
``--concurrency`` calls in flight). The speedups are each GEPA's time to target over gepa_lab's,
and the calls ratio gepa_lab's task calls to target over GEPA default's. This is
notebooks/aime.ipynb's comparison repeated over seeds, so one notebook run can be read against the
distribution.

    python benchmarks/gepa_vs_turbo.py [--seeds 8] [--n 45] [--target 0.7] [--concurrency 256]

The last line is one JSON object with the per-seed figures and their summaries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import gepa_lab as gl
from gepa_lab.sim import synthetic_aime
from gepa_lab.sim.skills import SEED_PROMPT


async def one(seed: int, n: int, target: float, concurrency: int, budget: int) -> dict:
    train = synthetic_aime(n, seed=seed)
    # GEPA's default (10 calls in flight), then its parallel proposals at our concurrency.
    gepa, parallel = [
        await gl.optimize_gepa(
            SEED_PROMPT,
            train,
            max_metric_calls=budget,
            target_quality=target,
            time_mode="virtual",
            seed_value=seed,
            **options,
        )
        for options in ({}, {"parallel": (4, 4), "concurrency": concurrency})
    ]
    cfg = gl.adaptive_config(n, "balanced", concurrency)
    turbo = await gl.optimize(
        SEED_PROMPT,
        train,
        cfg.replace(target_quality=target, max_metric_calls=20 * budget, seed=seed),
        time_mode="virtual",
    )
    g, p, t = gepa.at_target(), parallel.at_target(), turbo.at_target()
    return {
        "seed": seed,
        "gepa_time": None if g is None else round(g["time"], 1),
        "gepa_parallel_time": None if p is None else round(p["time"], 1),
        "turbo_time": None if t is None else round(t["time"], 1),
        "speedup": round(g["time"] / t["time"], 2) if g and t else None,
        "speedup_vs_parallel": round(p["time"] / t["time"], 2) if p and t else None,
        "gepa_calls": None if g is None else g["metric_calls"],
        "turbo_calls": None if t is None else t["metric_calls"],
        "calls_ratio": round(t["metric_calls"] / g["metric_calls"], 2) if g and t else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--n", type=int, default=45)
    ap.add_argument("--target", type=float, default=0.7)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--budget", type=int, default=6000, help="gepa's task-call budget")
    args = ap.parse_args()
    started = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        row = asyncio.run(one(seed, args.n, args.target, args.concurrency, args.budget))
        rows.append(row)
        print(
            f"seed {seed}: gepa {row['gepa_time']} s ({row['gepa_calls']} calls), gepa "
            f"parallel {row['gepa_parallel_time']} s, gepa_lab {row['turbo_time']} s "
            f"({row['turbo_calls']} calls): speedup {row['speedup']} "
            f"({row['speedup_vs_parallel']} over parallel)",
            flush=True,
        )
    both = [r for r in rows if r["speedup"] is not None]
    speedups = [r["speedup"] for r in both]
    over_parallel = [r["speedup_vs_parallel"] for r in rows if r["speedup_vs_parallel"]]
    print(
        json.dumps(
            {
                "simulated": True,
                "seeds": args.seeds,
                "target": args.target,
                "concurrency": args.concurrency,
                "both_reached": len(both),
                "median_speedup": statistics.median(speedups) if speedups else None,
                "min_speedup": min(speedups, default=None),
                "at_least_10x": sum(s >= 10 for s in speedups),
                "parallel_reached": sum(r["gepa_parallel_time"] is not None for r in rows),
                "median_speedup_vs_parallel": statistics.median(over_parallel)
                if over_parallel
                else None,
                "min_speedup_vs_parallel": min(over_parallel, default=None),
                "median_calls_ratio": statistics.median(r["calls_ratio"] for r in both)
                if both
                else None,
                "real_seconds": round(time.perf_counter() - started, 1),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
