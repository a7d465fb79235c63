"""Islands: several populations in one event loop, sharing the provider and the budgets, passing
their best candidates around a ring.

Each island is a whole :class:`~gepa_lab.engine.pipeline.Pipeline` with its own random streams,
ladder and Pareto front, over the same example order: a candidate's scores mean the same on
every island, so a migrant travels with them and is not evaluated again. Separate populations
keep several lines of search alive where one front would converge on one (the island model of
parallel genetic algorithms); migration lets each island build on what the others found. The
provider and its limiter are shared, token and cost budgets are global, and concurrency,
buffers and call budgets are split between the islands.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..config import Config
from ..protocols import Adapter
from ..runs.telemetry import RunResult
from .candidate import Candidate
from .pipeline import Pipeline

# A stop on one island that ends the whole run (the others keep going after "budget" or
# "exhausted": their share of the budget is still theirs).
GLOBAL_STOPS = ("target", "wall_time", "token_budget", "cost_budget", "cancelled", "error")


def island_config(config: Config, island: int, n: int) -> Config:
    """Island ``island``'s share of ``config``: concurrency and buffers divided (rounded up),
    call budgets divided (the remainder to the first islands)."""

    def share(value: int) -> int:
        return max(1, math.ceil(value / n))

    def budget(value: int | None) -> int | None:
        return None if value is None else max(1, value // n + (island < value % n))

    cap = config.max_candidates_in_flight
    return config.replace(
        eval_concurrency=share(config.eval_concurrency),
        max_mutations_per_round=share(config.max_mutations_per_round),
        mutation_buffer_min=math.ceil(config.mutation_buffer_min / n),
        queue_limit=share(config.queue_limit),
        max_candidates_in_flight=cap if cap in (None, "auto") else share(cap),
        max_metric_calls=budget(config.max_metric_calls),
        max_llm_calls=budget(config.max_llm_calls),
    )


class Islands:
    """``config.n_islands`` pipelines run as one. Create, then ``await run(seeds)`` once."""

    def __init__(
        self,
        adapter: Adapter,
        trainset: Sequence[Any],
        config: Config,
        *,
        label: str = "turbo",
        **pipeline_options: Any,
    ) -> None:
        self.config = config
        n = config.n_islands
        self.label = label
        self.pipes = [
            Pipeline(
                adapter,
                trainset,
                island_config(config, i, n),
                label=f"{label}/island{i}",
                island=i,
                n_islands=n,
                on_completed=self._completed,
                total_calls=self._total_calls,
                **pipeline_options,
            )
            for i in range(n)
        ]
        self._completions = [0] * n
        self.migrations = 0

    def _total_calls(self) -> int:
        return sum(p.finished_calls for p in self.pipes)

    def _completed(self, pipe: Pipeline, cand: Candidate) -> None:
        """Every ``migration_every`` full evaluations on an island, send its best
        ``migration_k`` candidates to the next island."""
        i = pipe.island
        self._completions[i] += 1
        if self._completions[i] % self.config.migration_every:
            return
        n_examples = len(pipe.examples)
        elite = sorted(pipe.archive.completed, key=lambda c: (-c.mean_score(n_examples), c.id))
        dest = self.pipes[(i + 1) % len(self.pipes)]
        for c in elite[: self.config.migration_k]:
            self.migrations += dest.receive(c) is not None

    async def run(self, seeds: Sequence[dict[str, str]]) -> RunResult:
        tasks = [asyncio.ensure_future(p.run(seeds)) for p in self.pipes]
        try:
            pending: set[asyncio.Future[RunResult]] = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    failed = task.exception() is not None
                    reason = "error" if failed else task.result().stop_reason
                    if reason in GLOBAL_STOPS:
                        for p in self.pipes:
                            p.stop(reason)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return combine([t.result() for t in tasks], self.config, self.label)


def combine(results: list[RunResult], config: Config, label: str) -> RunResult:
    """One result for a run made of islands: the best of them, totals, events with an
    ``island`` column."""
    finished = [r for r in results if r.best_id is not None]
    best = max(finished, key=lambda r: r.best_quality) if finished else results[0]
    events = pd.concat(
        [r.events.assign(island=i) for i, r in enumerate(results)], ignore_index=True
    ).sort_values("time", kind="stable", ignore_index=True)
    rung_counts = results[0].rung_counts.copy()
    for col in rung_counts.columns.drop(["rung", "examples"]):
        rung_counts[col] = sum(r.rung_counts[col] for r in results)
    duration = max(r.wall_time for r in results)
    area = sum(r.utilization * r.slot_limit * r.wall_time for r in results)
    # An executor's capacity is shared by the islands: their slots add up, each while it ran.
    shared = any(r.slots is not None for r in results) and duration > 0
    slots = sum(r.slot_limit * r.wall_time for r in results) / duration if shared else None
    reached = [r.time_to_target for r in results if r.time_to_target is not None]
    reasons = [r.stop_reason for r in results]
    stop = next((s for s in GLOBAL_STOPS if s in reasons), reasons[-1])
    strategies: dict[str, dict[str, int]] = {}
    for r in results:
        for name, stats in r.strategies.items():
            into = strategies.setdefault(name, dict.fromkeys(stats, 0))
            for key, value in stats.items():
                into[key] += value
    counters: dict[str, int] = {}
    for r in results:
        for key, value in r.final_counters.items():
            counters[key] = counters.get(key, 0) + value
    return RunResult(
        label=label,
        best_candidate=best.best_candidate,
        best_quality=best.best_quality,
        best_id=best.best_id,
        stop_reason=stop,
        time_to_target=min(reached) if reached else None,
        wall_time=duration,
        metric_calls=sum(r.metric_calls for r in results),
        failed_calls=sum(r.failed_calls for r in results),
        reflection_calls=sum(r.reflection_calls for r in results),
        candidates=sum(r.candidates for r in results),
        utilization=area / ((slots or config.eval_concurrency) * duration) if duration else 0.0,
        slots=slots,
        rung_sizes=results[0].rung_sizes,
        rung_counts=rung_counts,
        events=events,
        config=config,
        time_mode=results[0].time_mode,
        simulated=results[0].simulated,
        lineage=best.lineage,
        final_counters=counters,
        warnings=[f"island {i}: {w}" for i, r in enumerate(results) for w in r.warnings],
        strategies=strategies,
        trace=sorted(row for r in results for row in r.trace),
        timeline=pd.concat(
            [r.timeline.assign(island=i) for i, r in enumerate(results) if r.timeline is not None],
            ignore_index=True,
        ).sort_values("time", kind="stable", ignore_index=True),
    )
