"""Figures and tables that compare runs, for notebooks and HTML reports.

Figures are built on :class:`matplotlib.figure.Figure` rather than pyplot, so the library never
touches global plotting state: scripts and tests leak no open figures, and a notebook shows a
figure only where it asks to.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .telemetry import RunResult

COMPARISON_COLUMNS = (
    "time to target (s)",
    "speedup",
    "metric calls",
    "LLM calls",
    "candidates",
    "best quality",
    "pruned at first rung",
    "utilization",
    "stop reason",
)
# The run other runs are measured against when present: classic GEPA, the baseline to beat.
BASELINE_LABEL = "gepa"


def _checked(results: Sequence[RunResult]) -> list[RunResult]:
    """Runs to compare; refuse what would make a misleading picture rather than draw it."""
    runs = list(results)
    if not runs:
        raise ValueError("no results to compare: pass at least one RunResult")
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"run labels must be unique to tell runs apart, got {labels}")
    if len({r.time_mode for r in runs}) > 1:
        raise ValueError(
            "results mix virtual (simulated) and real time; their time axes are not comparable"
        )
    return runs


def plot_quality_over_time(
    results: Sequence[RunResult], target: float | None = None, ax: Axes | None = None
) -> Figure:
    """Best full-set quality against time, one step line per run.

    Each line starts at t=0 and runs to the end of its run, so a run that stopped early is
    visibly shorter; a marker shows when a run reached ``target``. Times are simulated seconds
    for virtual-time runs and the axis says so.
    """
    runs = _checked(results)
    if ax is None:
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        ax = fig.add_subplot()
    for run in runs:
        curve = run.curve()
        times = [0.0, *curve["time"].astype(float), float(run.wall_time)]
        quality = curve["quality"].astype(float).tolist()
        first = quality[0] if quality else 0.0
        last = quality[-1] if quality else 0.0
        (line,) = ax.step(times, [first, *quality, last], where="post", label=run.label)
        if target is not None and run.time_to_target is not None:
            at_target = curve.loc[curve["time"] <= run.time_to_target, "quality"]
            ax.scatter(
                [run.time_to_target],
                [float(at_target.iloc[-1]) if len(at_target) else target],
                color=line.get_color(),
                marker="o",
                zorder=3,
            )
    if target is not None:
        ax.axhline(target, color="0.4", linestyle="--", linewidth=1, label=f"target {target:g}")
    virtual = runs[0].time_mode == "virtual"
    ax.set_xlabel("wall-clock time (simulated s)" if virtual else "wall-clock time (s)")
    ax.set_ylabel("best quality on the full training set")
    simulated = " (simulated)" if any(r.simulated for r in runs) else ""
    ax.set_title(f"Best quality over time{simulated}")
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return ax.figure


def comparison_table(results: Sequence[RunResult]) -> pd.DataFrame:
    """One row per run, indexed by label, with what decides which system is better.

    Speedup is the baseline's time to target divided by each run's: the baseline is the run
    labelled "gepa" when present, else the slowest run that reached the target. It is NaN for a
    run (or a baseline) that never reached the target, since there is no time to compare.
    """
    runs = _checked(results)
    reached = [r for r in runs if r.time_to_target is not None]
    by_label = {r.label: r for r in runs}
    if BASELINE_LABEL in by_label:
        baseline = by_label[BASELINE_LABEL].time_to_target
    else:
        baseline = max((r.time_to_target for r in reached), default=None)
    rows = []
    for run in runs:
        ttt = run.time_to_target
        speedup = baseline / ttt if baseline is not None and ttt else float("nan")
        rows.append(
            (
                float("nan") if ttt is None else round(ttt, 1),
                round(speedup, 2),
                run.metric_calls,
                run.llm_calls,
                run.candidates,
                round(run.best_quality, 3),
                round(run.pruned_first_rung, 3),
                round(run.utilization, 3),
                run.stop_reason,
            )
        )
    index = pd.Index([r.label for r in runs], name="run")
    return pd.DataFrame(rows, index=index, columns=list(COMPARISON_COLUMNS))
