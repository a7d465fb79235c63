"""Time to target, turbo vs classic, on the simulated world (virtual clock), over several seeds.

Simulated results: task calls take 1-3 simulated seconds, reflection 0.3-0.7 s. Prints one row
per seed and, as its last line, one JSON object with the median speedup (classic time to target
/ turbo time to target), both measured in this run.

    python benchmarks/turbo_vs_classic.py [--seeds 8] [--n 45] [--target 0.6] [--concurrency 256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import gepa_lab as gl
from gepa_lab.sim import synthetic_aime
from gepa_lab.sim.skills import SEED_PROMPT


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--n", type=int, default=45)
    ap.add_argument("--target", type=float, default=0.6)
    ap.add_argument("--concurrency", type=int, default=256)
    args = ap.parse_args()

    rows = []
    started = time.perf_counter()
    for seed in range(args.seeds):
        train = synthetic_aime(args.n, seed=seed)
        turbo_cfg = gl.benchmark_overrides(
            gl.adaptive_config(args.n, "aggressive", args.concurrency), args.concurrency
        ).replace(target_quality=args.target, max_metric_calls=200_000, seed=seed)
        classic_cfg = gl.classic_config(
            target_quality=args.target, max_metric_calls=20_000, seed=seed
        )
        t = gl.optimize_sync(SEED_PROMPT, train, turbo_cfg, time_mode="virtual", label="turbo")
        c = gl.optimize_sync(SEED_PROMPT, train, classic_cfg, time_mode="virtual", label="gepa")
        speedup = (
            c.time_to_target / t.time_to_target
            if t.time_to_target and c.time_to_target
            else float("nan")
        )
        rows.append(speedup)
        print(
            f"seed {seed}: turbo {t.time_to_target or float('nan'):7.1f} s "
            f"({t.metric_calls} calls, {t.pruned_first_rung:.0%} pruned at rung 0, "
            f"util {t.utilization:.2f})  classic {c.time_to_target or float('nan'):7.1f} s "
            f"({c.metric_calls} calls)  speedup {speedup:.2f}x"
        )
    finite = [r for r in rows if r == r]
    print(
        json.dumps(
            {
                "simulated": True,
                "seeds": args.seeds,
                "target_quality": args.target,
                "turbo_concurrency": args.concurrency,
                "median_speedup_time_to_target": round(statistics.median(finite), 3)
                if finite
                else None,
                "min_speedup": round(min(finite), 3) if finite else None,
                "turbo_faster_in": sum(r > 1 for r in finite),
                "real_seconds": round(time.perf_counter() - started, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
