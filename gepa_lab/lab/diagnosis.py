"""What limited a run, read from its telemetry, in sentences a report can print.

It answers the questions a user asks when a run is slower than hoped, in the order worth
checking: did the provider push back (rate limits), did the client run out of CPU, were the
task-call slots full (latency and the concurrency limit bound the run) or empty (and then: were
the evaluators waiting for new candidates, or was the run's structure sequential), and what did
the ladder prune.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..runs.telemetry import RunResult

RATE_LIMITED_SHARE = 0.02  # above this share of calls answered 429, the provider is a limit
CPU_BOUND_CORES = 0.8  # client CPU seconds per wall second above this: CPU is a limit
FULL_SLOTS = 0.8  # utilization above this: latency x concurrency bounds the run
STARVED_SHARE = 0.1  # time share with idle slots and no queued candidate


@dataclass(frozen=True)
class Finding:
    factor: str  # "rate limit", "client CPU", "concurrency", "mutation starvation", ...
    limiting: bool  # whether it held the run back, or is only worth knowing
    text: str


def _weighted(timeline: pd.DataFrame, mask: pd.Series) -> float:
    """Share of the run's time for which ``mask`` held (each sample lasts until the next)."""
    dt = timeline["time"].diff().shift(-1).fillna(0.0)
    total = float(dt.sum())
    return float(dt[mask].sum()) / total if total > 0 else 0.0


def diagnose(run: RunResult) -> list[Finding]:
    """Findings about ``run``, limiting ones first."""
    stats = run.provider_stats
    cfg = run.config
    found: list[Finding] = []
    sent = int(stats.get("calls_sent") or 0)
    limited = int(stats.get("rate_limited") or 0)
    paced = stats.get("paced_rate")
    rate_bound = bool(limited) and (
        paced is not None or limited / max(sent, 1) > RATE_LIMITED_SHARE
    )
    if rate_bound:
        pace = "" if paced is None else f", and paced the calls at {paced:.1f}/s"
        found.append(
            Finding(
                "rate limit",
                True,
                f"the provider answered {limited} of {sent} calls with 429; the limiter cut "
                f"its rate {stats.get('rate_cuts', 0)} times{pace}. At most "
                f"{stats.get('max_in_flight', '?')} calls reached the provider at once: a "
                "higher rate limit, not more concurrency, would speed this run up.",
            )
        )
    cpu = stats.get("client_cpu_s")
    if run.time_mode == "real" and cpu is not None and run.wall_time > 0:
        cores = float(cpu) / run.wall_time
        found.append(
            Finding(
                "client CPU",
                cores > CPU_BOUND_CORES,
                f"the client used {cpu:.1f} s of CPU in {run.wall_time:.1f} s "
                f"({cores:.2f} cores)"
                + (
                    ": it is CPU-bound; fewer calls in flight or a faster transport would help."
                    if cores > CPU_BOUND_CORES
                    else ", far from a core: CPU did not limit it."
                ),
            )
        )
    util = run.utilization
    limit = run.slot_limit  # the config's eval_concurrency, or an executor's mean capacity
    slots = f"{round(limit, 1):g} task-call slots"
    more = (
        "more of the executor's capacity (workers, CPUs in the cluster) would help"
        if run.slots is not None
        else "more concurrency would help if the provider allows it"
    )
    if rate_bound:
        pass  # calls in flight were mostly waiting for the limiter, not for the model
    elif util >= FULL_SLOTS:
        found.append(
            Finding(
                "concurrency",
                True,
                f"the {slots} were {util:.0%} full on average: latency times the "
                f"concurrency limit bounds the run; {more}.",
            )
        )
    else:
        timeline = run.timeline
        starved = 0.0
        if timeline is not None and len(timeline) > 1 and len(run.rung_sizes) > 1:
            idle = (timeline["in_flight"] < limit / 2) & (timeline["queued"] == 0)
            starved = _weighted(timeline, idle & (timeline["mutating"] > 0))
        events = run.events
        repeats = int((events["event"] == "duplicate").sum()) if len(events) else 0
        if starved > STARVED_SHARE and repeats > run.reflection_calls / 2:
            found.append(
                Finding(
                    "repeating reflections",
                    True,
                    f"for {starved:.0%} of the run, half the slots were idle while the "
                    f"evaluators waited for reflections, and {repeats} of the "
                    f"{run.reflection_calls} reflections repeated a known candidate: the "
                    "reflection model's new ideas, not the mutation buffer, set the pace.",
                )
            )
        elif starved > STARVED_SHARE:
            found.append(
                Finding(
                    "mutation starvation",
                    True,
                    f"for {starved:.0%} of the run, half the slots were idle while the "
                    "evaluators waited for reflections: raise mutation_buffer_min or "
                    "max_mutations_per_round.",
                )
            )
        elif len(run.rung_sizes) == 1:
            found.append(
                Finding(
                    "sequential structure",
                    True,
                    f"the {slots} were only {util:.0%} full on average: one "
                    "candidate at a time, each step waiting for the previous one (a minibatch "
                    f"of {cfg.reflection_minibatch_size} uses {cfg.reflection_minibatch_size} "
                    "slots), so latency, not the provider, sets the pace.",
                )
            )
        else:
            found.append(
                Finding(
                    "latency chain",
                    True,
                    f"the {slots} were {util:.0%} full on average and nothing "
                    "waited on the provider: each improvement waits for the one before it "
                    "(reflection, then each rung's slowest call), so call latency sets the pace.",
                )
            )
    bests = len(run.curve())
    if run.time_to_target is not None and bests:
        found.append(
            Finding(
                "pace",
                False,
                f"{bests} new bests, the target after {run.time_to_target:.1f} s: "
                f"{run.time_to_target / bests:.1f} s per improvement.",
            )
        )
    if len(run.rung_sizes) > 1:
        found.append(
            Finding(
                "pruning",
                False,
                f"the ladder {'x'.join(map(str, run.rung_sizes))} pruned "
                f"{run.pruned_first_rung:.0%} of the candidates at the first rung.",
            )
        )
    for w in run.warnings:
        if w.startswith("exhausted: "):  # why the run ended, before anything else
            found.insert(0, Finding("exhausted", True, w.removeprefix("exhausted: ")))
        else:
            found.append(Finding("warning", True, w))
    return sorted(found, key=lambda f: not f.limiting)


def diagnosis_markdown(runs: list[RunResult]) -> str:
    """The findings of each run as a Markdown list, limiting factors in bold."""
    lines = []
    for run in runs:
        lines.append(f"**{run.label}**")
        for f in diagnose(run):
            name = f"**{f.factor}**" if f.limiting else f.factor
            lines.append(f"- {name}: {f.text}")
        lines.append("")
    return "\n".join(lines)
