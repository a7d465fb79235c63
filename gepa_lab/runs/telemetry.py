"""What a run did, recorded cheaply while it runs and summarised when it ends."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config

EVENT_COLUMNS = ("time", "event", "candidate", "parent", "rung", "score")
# One row per new best: the trace schema every system's run shares (gepa_lab and real GEPA).
TRACE_COLUMNS = ("time", "quality", "metric_calls", "tokens", "cost_usd")


def timeline_frame(rows: list[tuple[Any, ...]], n_rungs: int) -> pd.DataFrame:
    """``RunResult.timeline`` from sampled rows: time, task calls in flight, reflections in
    flight, new candidates queued, candidates at each rung (rung0, rung1, ...), finished task
    calls."""
    rungs = [f"rung{r}" for r in range(n_rungs)]
    return pd.DataFrame(
        rows, columns=["time", "in_flight", "mutating", "queued", *rungs, "metric_calls"]
    )


class EventLog:
    """Append-only record of events; a DataFrame only on demand. Kept in typed columns (about
    35 bytes an event, where a tuple of Python objects takes about 150): a long run records
    hundreds of thousands, and appending stays about 1 us."""

    def __init__(self) -> None:
        self._names: dict[str, int] = {}  # event name -> its code in the event column
        self._time, self._score = array("d"), array("d")  # NaN: no score
        self._event = array("H")
        self._candidate, self._parent, self._rung = array("q"), array("q"), array("q")  # -1: none

    def __len__(self) -> int:
        return len(self._time)

    def add(
        self,
        time: float,
        event: str,
        candidate: int | None = None,
        parent: int | None = None,
        rung: int | None = None,
        score: float | None = None,
    ) -> None:
        self._time.append(time)
        self._event.append(self._names.setdefault(event, len(self._names)))
        self._candidate.append(-1 if candidate is None else candidate)
        self._parent.append(-1 if parent is None else parent)
        self._rung.append(-1 if rung is None else rung)
        self._score.append(math.nan if score is None else score)

    def frame(self) -> pd.DataFrame:
        names = np.array(list(self._names), dtype=object)
        ids = {
            column: pd.array(np.frombuffer(values, dtype=np.int64), dtype="Int64")
            for column, values in (
                ("candidate", self._candidate),
                ("parent", self._parent),
                ("rung", self._rung),
            )
        }
        for values in ids.values():
            values[values == -1] = pd.NA
        return pd.DataFrame(
            {
                "time": np.array(self._time, dtype=float),
                "event": names[np.frombuffer(self._event, dtype=np.uint16)],
                **ids,
                "score": np.array(self._score, dtype=float),
            },
            columns=list(EVENT_COLUMNS),
        )


class ProgressPrinter:
    """An ``on_progress`` callback printing one line at most every ``every`` real seconds.

    Throttled by real time, so a long run against a real provider reports steadily while a run
    on the virtual clock (done in a second) stays quiet. ``target`` and ``max_time`` (the run's
    target quality and time budget) put each line in context: how far there is to go, and how
    long it may take at most. A run may report less often than ``every`` (one step of GEPA's
    default takes longer): :meth:`keep_alive`, run as a task beside it, repeats the last line
    meanwhile, so the run never looks frozen.
    """

    def __init__(
        self,
        every: float = 10.0,
        stream=None,
        target: float | None = None,
        max_time: float | None = None,
    ) -> None:
        if every <= 0:
            raise ValueError(f"ProgressPrinter.every={every} is invalid: must be > 0")
        self.every = every
        self.stream = stream
        self.target, self.max_time = target, max_time
        self._last = time.monotonic()  # when a line was last printed
        self._latest: tuple[dict[str, Any], float] | None = None  # last report, and when

    def __call__(self, p: dict[str, Any]) -> None:
        now = time.monotonic()
        self._latest = (p, now)
        if now - self._last >= self.every:
            self._print(p, 0.0)

    async def keep_alive(self) -> None:
        """Every ``every`` seconds without a line, print the last report again, its time moved
        on by the real time since (until cancelled)."""
        while True:
            await asyncio.sleep(self.every)
            latest = self._latest
            if latest is not None and time.monotonic() - self._last >= self.every:
                self._print(latest[0], time.monotonic() - latest[1])

    def _print(self, p: dict[str, Any], since: float) -> None:
        self._last = time.monotonic()
        best = "none yet" if p["best_quality"] is None else f"{p['best_quality']:.3f}"
        at_most = f" of at most {self.max_time:g}s" if self.max_time is not None else ""
        goal = f" (target {self.target:g})" if self.target is not None else ""
        waiting = f" [no report for {since:.0f}s: still running]" if since else ""
        print(
            f"[{p['label']}] t={p['time'] + since:.0f}s{at_most} best={best}{goal} "
            f"calls={p['metric_calls']} in flight={p['in_flight']} mutating={p['mutating']} "
            f"queued={p['queued']} candidates={p['candidates']} pruned={p['pruned']}{waiting}",
            file=self.stream or sys.stdout,
            flush=True,
        )


@dataclass(repr=False)
class RunResult:
    """The outcome of one optimization run.

    Times are seconds from the start of the run: simulated seconds when ``time_mode`` is
    ``"virtual"``, real seconds otherwise. ``simulated`` says whether the LLM was the simulated
    world; reports must say so. In Jupyter it shows as a table of its key figures (``print``
    gives the same as text), :meth:`plot` draws its quality over time, and :meth:`summary`
    has every number for code.
    """

    label: str
    best_candidate: dict[str, str]
    best_quality: float  # mean score on the full training set (final rung)
    best_id: int | None
    stop_reason: str
    time_to_target: float | None
    wall_time: float
    metric_calls: int  # task-model calls that finished (example evaluations)
    failed_calls: int
    reflection_calls: int
    candidates: int
    utilization: float  # mean in-flight task calls / slot_limit
    rung_sizes: tuple[int, ...]
    rung_counts: pd.DataFrame
    events: pd.DataFrame
    config: Config
    time_mode: str
    simulated: bool
    lineage: list[int] = field(default_factory=list)  # ids from a seed down to the best
    final_counters: dict[str, int] = field(default_factory=dict)  # in-flight counters at the end
    # Calls sent, retries, 429s, failures, paced rate, tokens, cost, cache hits.
    provider_stats: dict[str, Any] = field(default_factory=dict)
    usage: pd.DataFrame | None = None  # tokens and cost per (model, purpose)
    warnings: list[str] = field(default_factory=list)  # what the run warned about, in order
    # Per mutation strategy: children judged on their first rung (or reflections that gave
    # nothing new) and those that passed on merit.
    strategies: dict[str, dict[str, int]] = field(default_factory=dict)
    # (time, quality, metric calls, tokens, dollars) at each new best: see curve().
    trace: list[tuple[float, float, int, int, float]] = field(default_factory=list)
    # The run's state sampled as it went: time, task calls in flight, reflections in flight,
    # new candidates queued, candidates at each rung (rung0, rung1, ...), finished task calls.
    timeline: pd.DataFrame | None = None
    # Mean task-call slots open, when the task's executor ran fewer at once than the config's
    # eval_concurrency (a Ray cluster's CPUs); None: eval_concurrency.
    slots: float | None = None

    @property
    def slot_limit(self) -> float:
        """How many task calls could run at once, on average: what utilization is out of."""
        return self.slots if self.slots is not None else self.config.eval_concurrency

    @property
    def llm_calls(self) -> int:
        return self.metric_calls + self.failed_calls + self.reflection_calls

    @property
    def throughput(self) -> float:
        """Finished task calls per second of (virtual or real) run time."""
        return self.metric_calls / self.wall_time if self.wall_time > 0 else 0.0

    @property
    def pruned_first_rung(self) -> float:
        """Fraction of candidates that finished rung 0 and went no further."""
        row = self.rung_counts.iloc[0]
        if len(self.rung_sizes) == 1 or row["finished"] == 0:
            return 0.0
        return float(row["pruned"] - row["forced"]) / float(row["finished"])

    def curve(self) -> pd.DataFrame:
        """Best full-set quality over time, with the task calls, tokens and dollars (at the
        price table's prices) spent by then: one row per new best on the full training set
        (columns ``TRACE_COLUMNS``)."""
        best = pd.DataFrame(sorted(self.trace), columns=list(TRACE_COLUMNS))
        # With islands each reports its own bests: keep the run's (each above all before it).
        before = best["quality"].cummax().shift(fill_value=float("-inf"))
        return best[best["quality"] > before].reset_index(drop=True)

    def at_target(self) -> dict[str, float | None] | None:
        """Time, task calls, tokens and dollars when the target was reached (None if it was
        not; dollars None when a model the run called has no price)."""
        if self.time_to_target is None:
            return None
        curve = self.curve()
        row = curve[curve["time"] <= self.time_to_target + 1e-9].iloc[-1]
        return {
            "time": self.time_to_target,
            "metric_calls": int(row["metric_calls"]),
            "tokens": int(row["tokens"]),
            "cost_usd": None
            if self.provider_stats.get("cost_usd") is None
            else round(float(row["cost_usd"]), 6),
        }

    def summary(self) -> dict[str, Any]:
        """Plain numbers for tables and ``result.json``."""
        return {
            "label": self.label,
            "best_quality": round(self.best_quality, 4),
            "time_to_target_s": None
            if self.time_to_target is None
            else round(self.time_to_target, 2),
            "wall_time_s": round(self.wall_time, 2),
            "stop_reason": self.stop_reason,
            "metric_calls": self.metric_calls,
            "failed_calls": self.failed_calls,
            "reflection_calls": self.reflection_calls,
            "llm_calls": self.llm_calls,
            "candidates": self.candidates,
            "throughput_calls_per_s": round(self.throughput, 2),
            "utilization": round(self.utilization, 4),
            "slots": round(self.slot_limit, 2),  # what utilization is out of
            "pruned_first_rung": round(self.pruned_first_rung, 4),
            "rung_sizes": list(self.rung_sizes),
            "time_mode": self.time_mode,
            "simulated": self.simulated,
            "warnings": self.warnings,
            "strategies": self.strategies,
            **self.provider_stats,
        }

    def figures(self) -> list[tuple[str, str]]:
        """The key figures, as (name, value) text: what a reader checks first."""
        unit = "simulated s" if self.time_mode == "virtual" else "s"
        target = self.config.target_quality
        if self.time_to_target is not None:
            reached = f"{target:g} after {self.time_to_target:,.1f} {unit}"
        else:
            reached = "no target set" if target is None else f"{target:g} not reached"
        cost = self.provider_stats.get("cost_usd")
        tokens = self.provider_stats.get("total_tokens")
        rows = [
            ("run", f"{self.label}{' (simulated LLM)' if self.simulated else ''}"),
            ("best quality (training set)", f"{self.best_quality:.3f}"),
            ("target", reached),
            ("stopped by", self.stop_reason),
            ("run time", f"{self.wall_time:,.1f} {unit}"),
            ("task calls", f"{self.metric_calls:,} ({self.failed_calls:,} failed)"),
            ("reflection calls", f"{self.reflection_calls:,}"),
            ("candidates", f"{self.candidates:,}, {self.pruned_first_rung:.0%} pruned at rung 0"),
        ]
        spent = self.at_target()
        if spent is not None:
            dollars = "" if spent["cost_usd"] is None else f", ${spent['cost_usd']:,.4f}"
            rows.append(
                (
                    "spent to reach the target",
                    f"{spent['metric_calls']:,} task calls, {spent['tokens']:,} tokens{dollars}",
                )
            )
        if tokens is not None:
            rows.append(("tokens", f"{tokens:,}"))
        if cost is not None:
            rows.append(("cost", f"${cost:,.4f}"))
        if self.warnings:
            rows.append(("warnings", f"{len(self.warnings)}: {self.warnings[0]}"))
        return rows

    def __repr__(self) -> str:
        head = f"RunResult {self.label!r}"
        return "\n".join([head, *(f"  {name:<28} {value}" for name, value in self.figures())])

    def _repr_html_(self) -> str:
        from html import escape

        cells = "".join(
            f"<tr><th style='text-align:left'>{escape(name)}</th>"
            f"<td style='text-align:left'>{escape(value)}</td></tr>"
            for name, value in self.figures()
        )
        return f"<table class='gepa-lab-result'>{cells}</table>"

    def plot(self, target: float | None = None, ax: Any = None) -> Any:
        """Best quality over time (a matplotlib Figure), with ``target`` (by default the
        run's own) drawn as a line."""
        from ..lab.plots import plot_quality_over_time  # the lab draws; runs only record

        return plot_quality_over_time(
            [self], self.config.target_quality if target is None else target, ax
        )

    def to_json(self) -> dict[str, Any]:
        out = self.summary()
        out["best_candidate"] = self.best_candidate
        out["lineage"] = self.lineage
        out["config"] = self.config.to_dict()
        out["rung_counts"] = self.rung_counts.to_dict(orient="records")
        curve = self.curve()
        out["curve"] = curve.to_dict(orient="records")
        out["at_target"] = self.at_target()
        return _finite(out)


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: make them null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _finite(value.item())
    return value
