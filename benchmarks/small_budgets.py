"""Held-out quality at small budgets: gepa_lab's defaults against GEPA's, at equal task calls.

Simulated results (virtual clock, deterministic). Per world, budget (task calls) and seed,
gepa_lab's default Config and GEPA's default (``gepa.optimize``, 10 calls in flight) each run to
the budget with no target; the best each returns is scored on the world's 100 held-out problems.
Budgets of a few hundred calls are what a user with a real model can afford; there a parallel
search has little room for speculative children.

Per world and budget, the median paired difference (gepa_lab minus GEPA) with a bootstrap 95%
interval. The last line is one JSON object with every figure and ``min_median_diff``, the lowest
of them.

    python benchmarks/small_budgets.py [--seeds 16] [--budgets 150,300,600] [--jobs 2]
        [--worlds aime12-deterministic,aime30-strong,aime45-deterministic,aime45-stochastic]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from concurrent.futures import ProcessPoolExecutor

from world_suite import run

from gepa_lab.lab.spread import median_ci
from gepa_lab.sim.worlds import WORLD_BY_NAME

WORLDS = ("aime12-deterministic", "aime30-strong", "aime45-deterministic", "aime45-stochastic")


def held_out(name: str, budget: int, seed: int) -> dict[str, float]:
    """Both systems' best at ``budget`` task calls, scored on the held-out problems."""
    world = dataclasses.replace(WORLD_BY_NAME[name], budget=budget)
    scores = {}
    for system in ("gepa_lab", "gepa"):
        best = run(world, system, seed, None).best_candidate
        scores[system] = world.score(best, world.held_out)
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--budgets", default="150,300,600")
    ap.add_argument("--worlds", default=",".join(WORLDS))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    names, budgets = args.worlds.split(","), [int(b) for b in args.budgets.split(",")]
    unknown = [n for n in names if n not in WORLD_BY_NAME]
    if unknown:
        ap.error(f"unknown world(s) {unknown}: choose from {sorted(WORLD_BY_NAME)}")
    started = time.perf_counter()
    jobs = [(n, b, s) for n in names for b in budgets for s in range(args.seeds)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        scores = list(pool.map(held_out, *zip(*jobs, strict=True)))
    rng = random.Random(0)
    figures: dict[str, dict[str, list[float] | None]] = {}
    for name in names:
        figures[name] = {}
        for budget in budgets:
            diffs = [
                s["gepa_lab"] - s["gepa"]
                for (n, b, _), s in zip(jobs, scores, strict=True)
                if (n, b) == (name, budget)
            ]
            got = median_ci(diffs, rng)
            figures[name][str(budget)] = None if got is None else [round(v, 3) for v in got]
            print(
                f"{name:24s} {budget:5d} calls: held-out gepa_lab - GEPA, median [95% CI] "
                f"{figures[name][str(budget)]} (simulated)",
                flush=True,
            )
    medians = [f[0] for w in figures.values() for f in w.values() if f is not None]
    print(
        json.dumps(
            {
                "simulated": True,
                "seeds": args.seeds,
                "budgets": budgets,
                "min_median_diff": min(medians, default=None),
                "real_seconds": round(time.perf_counter() - started, 1),
                "worlds": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
