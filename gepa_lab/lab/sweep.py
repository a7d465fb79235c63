"""Sweeps: many optimizations, one per (knob value, seed), run as one job.

:func:`run_sweep` runs a point function on every point through an executor: local threads, or a
Ray cluster (:class:`~gepa_lab.executors.ray.RayExecutor`: each point a Ray task, so a sweep
uses every CPU of the machine or the cluster). Points are gathered into one DataFrame as they
finish, with a progress line each; a point that fails is reported in its row (``error``) and
the others finish. :func:`explore_point` is the point function of ``sweep.ipynb``: one run of
the explorer's settings with one knob changed, on the virtual clock (simulated results).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields, replace
from functools import partial
from typing import Any

import pandas as pd

from ..executors import ThreadExecutor
from ..protocols import Executor

Point = tuple[str, Any, int]  # (knob, value, seed)


def grid_points(grid: Mapping[str, Sequence[Any]], seeds: Sequence[int]) -> list[Point]:
    """Every (knob, value, seed): each knob varied alone, every value once per seed."""
    if not grid or not all(isinstance(v, list | tuple) and v for v in grid.values()):
        raise ValueError(f"grid={grid!r} is invalid: give each knob a non-empty list of values")
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    return [
        (knob, value, seed) for knob, values in grid.items() for value in values for seed in seeds
    ]


def explore_point(
    knob: str,
    value: Any,
    seed: int,
    dataset_size: int = 45,
    target_quality: float = 0.7,
    budget: int | None = None,
) -> dict[str, Any]:
    """One run of the explorer's settings (:class:`gepa_lab.lab.explore.Settings`) with
    ``knob`` set to ``value``, on the virtual clock, to the target or ``budget`` task calls:
    what a sweep plots."""
    from ..api import optimize_sync  # a point runs in a worker: import what it needs there
    from ..sim import REFLECTION_MODEL, TASK_MODEL, synthetic_aime
    from ..sim.skills import SEED_PROMPT
    from .explore import Settings

    known = {f.name for f in fields(Settings)}
    if knob not in known:
        raise ValueError(f"knob {knob!r} is unknown: the explorer takes {sorted(known)}")
    s = Settings(dataset_size=dataset_size, target_quality=target_quality, seed=seed)
    s = replace(s, **{knob: tuple(value) if knob == "shards" else value})
    began = time.perf_counter()
    res = optimize_sync(
        SEED_PROMPT,
        synthetic_aime(s.dataset_size, seed=s.seed),
        s.config().replace(max_wall_time=None, max_metric_calls=budget),
        provider=s.provider(),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
        label=f"{knob}={value}",
    )
    spent = res.at_target() or {}
    return {
        "time_to_target": res.time_to_target,
        "calls_to_target": spent.get("metric_calls"),
        "best_quality": res.best_quality,
        "pruned_first_rung": res.pruned_first_rung,
        "metric_calls": res.metric_calls,
        "stop_reason": res.stop_reason,
        "seconds": round(time.perf_counter() - began, 3),  # real time this run took
    }


async def run_sweep_async(
    point: Callable[..., Mapping[str, Any]],
    points: Iterable[Point],
    executor: Executor | None = None,
    say: Callable[[str], None] | None = print,
    **options: Any,
) -> pd.DataFrame:
    """``point(knob, value, seed, **options)`` on every point, through ``executor`` (default:
    two local threads), as many at once as its capacity. One row per point: knob, value,
    seed, what ``point`` returned, and ``error`` (None, or why the point failed)."""
    todo = list(points)
    runner = executor or ThreadExecutor(2)
    fn = partial(point, **options) if options else point
    slots = asyncio.Semaphore(max(1, runner.capacity))
    began, done = time.monotonic(), 0

    async def one(knob: str, value: Any, seed: int) -> dict[str, Any]:
        nonlocal done
        async with slots:
            row: dict[str, Any] = {"knob": knob, "value": value, "seed": seed}
            try:
                got = dict(await runner.run(fn, knob, value, seed))
                if taken := sorted(set(got) & {*row, "error"}):
                    raise ValueError(f"the point returned {taken}, the sweep's own columns")
                row |= got | {"error": None}
            except Exception as exc:  # a failed point is a row that says why, not a lost sweep
                row["error"] = f"{type(exc).__name__}: {exc}"
        done += 1
        if say is not None:
            state = "failed: " + row["error"] if row["error"] else "done"
            say(
                f"sweep: {done}/{len(todo)} {knob}={value} seed {seed} {state} "
                f"({time.monotonic() - began:.0f} s)"
            )
        return row

    try:
        rows = await asyncio.gather(*(one(*p) for p in todo))
    finally:
        if executor is None:  # this sweep's own threads
            runner.close()
    return pd.DataFrame(rows)


def run_sweep(
    point: Callable[..., Mapping[str, Any]],
    points: Iterable[Point],
    executor: Executor | None = None,
    say: Callable[[str], None] | None = print,
    **options: Any,
) -> pd.DataFrame:
    """:func:`run_sweep_async` from a script (in a notebook, await that instead)."""
    return asyncio.run(run_sweep_async(point, points, executor, say, **options))
