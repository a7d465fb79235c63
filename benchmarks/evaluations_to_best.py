"""Evaluations to classic GEPA's best, turbo vs classic, and pruning at the first rung.

Simulated results (virtual clock, deterministic). Per seed: a classic run (GEPA's settings, one
candidate at a time, full-set evaluation) with a budget of ``--budget`` task calls finds its best
quality q; classic is re-run with q as target to count the task calls it needed to reach q; the
turbo run with the default Config (the seed's settings) and q as target counts its own. The
ratio turbo calls / classic calls below 1 means turbo reached classic's best with fewer
evaluations. Also reported: the geometric mean of the ratios, how often turbo reached q within
the classic run's whole budget (the looser reading: fewer evaluations than the classic run
spent), and the fraction of candidates pruned at the first rung.

With ``--baseline gepa`` the real gepa library (its minibatch acceptance, 10 calls in flight)
plays classic: q is its best within the budget and its calls are those it had spent at its first
full evaluation scoring q.

q is the maximum of the classic run's own trajectory, so the comparison favours classic: on a
45-example set its last gains are often one lucky rewording, which turbo has to match.

    python benchmarks/evaluations_to_best.py [--seeds 8] [--first-seed 0] [--n 45] [--budget 3000]
        [--overrides '{"cohort_quantile": 0.7}'] [--classic-overrides '{...}']
        [--baseline gepa]   # the real gepa library (minibatch acceptance) instead

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


def calls_to(train, cfg, label: str) -> gl.RunResult:
    return gl.optimize_sync(SEED_PROMPT, train, cfg, time_mode="virtual", label=label)


def classic_reach(train, seed: int, budget: int, overrides: dict) -> tuple[float, int, float]:
    """Classic setting: its best q within ``budget``, and the calls and time a rerun with q as
    target needed."""
    explore = calls_to(
        train, gl.classic_config(max_metric_calls=budget, seed=seed, **overrides), "gepa"
    )
    q = explore.best_quality
    cfg = gl.classic_config(target_quality=q, max_metric_calls=budget, seed=seed, **overrides)
    classic = calls_to(train, cfg, "gepa")
    return q, classic.metric_calls, classic.time_to_target  # type: ignore[return-value]


def gepa_reach(train, seed: int, budget: int) -> tuple[float, int, float]:
    """The real gepa library: its best q within ``budget``, and its calls and time at the
    first full evaluation that scored q."""
    run = asyncio.run(
        gl.optimize_gepa(
            SEED_PROMPT, train, max_metric_calls=budget, time_mode="virtual", seed_value=seed
        )
    )
    curve = run.curve()
    first = curve[curve["quality"] >= run.best_quality - 1e-12].iloc[0]
    return run.best_quality, int(first["metric_calls"]), float(first["time"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from here on")
    ap.add_argument("--n", type=int, default=45)
    ap.add_argument("--budget", type=int, default=3000, help="classic run's task-call budget")
    ap.add_argument("--overrides", default="{}", help="JSON of Config fields for the turbo run")
    ap.add_argument(
        "--classic-overrides", default="{}", help="JSON of Config fields for the classic runs"
    )
    ap.add_argument(
        "--baseline",
        choices=("classic", "gepa"),
        default="classic",
        help="classic: gepa_lab's classic setting; gepa: the real gepa library",
    )
    args = ap.parse_args()
    overrides = json.loads(args.overrides)
    classic_overrides = json.loads(args.classic_overrides)

    started = time.perf_counter()
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        train = synthetic_aime(args.n, seed=seed)
        if args.baseline == "gepa":
            q, classic_calls, classic_time = gepa_reach(train, seed, args.budget)
        else:
            q, classic_calls, classic_time = classic_reach(
                train, seed, args.budget, classic_overrides
            )
        turbo = calls_to(
            train,
            gl.Config(target_quality=q, max_metric_calls=20 * args.budget, seed=seed).replace(
                **overrides
            ),
            "turbo",
        )
        reached = turbo.time_to_target is not None
        ratio = turbo.metric_calls / classic_calls if reached else float("inf")
        rows.append(
            {
                "seed": seed,
                "classic_best": round(q, 4),
                "classic_calls": classic_calls,
                "turbo_calls": turbo.metric_calls if reached else None,
                "ratio": round(ratio, 3),
                "pruned_first_rung": round(turbo.pruned_first_rung, 3),
                "turbo_time": turbo.time_to_target,
                "classic_time": classic_time,
            }
        )
        print(
            f"seed {seed}: classic best {q:.3f} after {classic_calls} calls; turbo "
            + (f"{turbo.metric_calls} calls" if reached else "did not reach it")
            + f" (ratio {ratio:.2f}), {turbo.pruned_first_rung:.0%} pruned at rung 0, "
            f"time {turbo.time_to_target or float('nan'):.0f} s vs {classic_time:.0f} s",
            flush=True,
        )
    ratios = [r["ratio"] for r in rows]
    print(
        json.dumps(
            {
                "simulated": True,
                "seeds": args.seeds,
                "first_seed": args.first_seed,
                "overrides": overrides,
                "classic_overrides": classic_overrides,
                "baseline": args.baseline,
                "median_calls_ratio": statistics.median(ratios),
                "geomean_calls_ratio": statistics.geometric_mean(ratios),
                "max_calls_ratio": max(ratios),
                "turbo_fewer_calls_in": sum(r < 1 for r in ratios),
                "turbo_within_classic_budget_in": sum(
                    r["turbo_calls"] is not None and r["turbo_calls"] <= args.budget for r in rows
                ),
                "median_time_ratio": statistics.median(
                    (r["turbo_time"] or float("inf")) / r["classic_time"] for r in rows
                ),
                "min_pruned_first_rung": min(r["pruned_first_rung"] for r in rows),
                "real_seconds": round(time.perf_counter() - started, 1),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
