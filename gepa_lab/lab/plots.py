"""Figures and tables that compare runs, for notebooks and HTML reports.

Figures are built on :class:`matplotlib.figure.Figure` rather than pyplot, so the library never
touches global plotting state: scripts and tests leak no open figures, and a notebook shows a
figure only where it asks to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from ..runs.telemetry import RunResult

COMPARISON_COLUMNS = (
    "time to target (s)",
    "speedup",
    "calls to target",
    "tokens to target",
    "cost to target ($)",
    "metric calls",
    "LLM calls",
    "candidates",
    "best quality",
    "pruned at first rung",
    "utilization",
    "stop reason",
    "held-out score",
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


def comparison_table(
    results: Sequence[RunResult], held_out: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per run, indexed by label, with what decides which system is better.

    Calls, tokens and dollars (at the price table's prices) to target are what the run had
    spent when it reached the target;
    ``held_out`` maps labels to the best prompt's score on a test set the runs never saw.

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
        spent = run.at_target()
        rows.append(
            (
                float("nan") if ttt is None else round(ttt, 1),
                round(speedup, 2),
                spent["metric_calls"] if spent else pd.NA,
                spent["tokens"] if spent else pd.NA,
                pd.NA if not spent or spent["cost_usd"] is None else round(spent["cost_usd"], 4),
                run.metric_calls,
                run.llm_calls,
                run.candidates,
                round(run.best_quality, 3),
                round(run.pruned_first_rung, 3),
                round(run.utilization, 3),
                run.stop_reason,
                round(held_out[run.label], 3) if held_out and run.label in held_out else pd.NA,
            )
        )
    index = pd.Index([r.label for r in runs], name="run")
    return pd.DataFrame(rows, index=index, columns=list(COMPARISON_COLUMNS))


def spending(run: RunResult, baseline: RunResult) -> dict[str, float | None] | None:
    """What ``run`` spent to reach the target, as multiples of what ``baseline`` spent when it
    reached it: task calls, tokens, and dollars at the price table's prices (None when a run
    is not priced). None unless both reached the target. A speedup is half the story; this
    is the other half."""
    mine, theirs = run.at_target(), baseline.at_target()
    if mine is None or theirs is None:
        return None
    cost, base_cost = mine["cost_usd"], theirs["cost_usd"]
    return {
        "calls": mine["metric_calls"] / max(theirs["metric_calls"], 1),
        "tokens": mine["tokens"] / max(theirs["tokens"], 1),
        "cost": cost / base_cost if cost is not None and base_cost else None,
    }


def plot_activity(results: Sequence[RunResult], bins: int = 100) -> Figure:
    """What each run kept busy over its own time axis: the share of its task-call slots in
    use (time-weighted mean over ``bins`` intervals) and, for laddered runs, the candidates
    queued or evaluated on each rung."""
    runs = [r for r in _checked(results) if r.timeline is not None and len(r.timeline) > 1]
    laddered = [r for r in runs if len(r.rung_sizes) > 1]
    panels = len(runs) + len(laddered)
    if not panels:
        raise ValueError("no run has a timeline to plot")
    fig = Figure(figsize=(8, 2.6 * panels), layout="constrained")
    axes = iter(fig.subplots(panels, 1, squeeze=False)[:, 0])
    unit = "simulated s" if runs[0].time_mode == "virtual" else "s"
    simulated = " (simulated)" if any(r.simulated for r in runs) else ""
    for run in runs:
        ax = next(axes)
        share = _binned(_summed(run.timeline, "in_flight"), run.wall_time, bins)  # type: ignore[arg-type]
        limit = run.slot_limit
        ax.fill_between(share.index, share / limit, step="post", alpha=0.6)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("slots in use")
        ax.set_title(
            f"{run.label}: share of its {round(limit, 1):g} task-call slots in use "
            f"(mean {run.utilization:.0%}){simulated}"
        )
    for run in laddered:
        ax = next(axes)
        for r, size in enumerate(run.rung_sizes):
            occ = _summed(run.timeline, f"rung{r}")  # type: ignore[arg-type]
            ax.step(occ.index, occ, where="post", label=f"rung {r} ({size} examples)")
        ax.set_ylabel("candidates")
        ax.set_title(f"{run.label}: candidates queued or evaluated on each rung{simulated}")
        ax.legend(loc="upper left", fontsize="small")
    for ax in fig.axes:
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.set_xlabel(f"wall-clock time ({unit})")
    return fig


def _binned(series: pd.Series, end: float, bins: int) -> pd.Series:
    """Time-weighted mean of a step function (value holds until the next sample) over
    ``bins`` equal intervals of [0, end]."""
    width = end / bins if end > 0 else 1.0
    edges = [i * width for i in range(bins + 1)]
    times = [float(t) for t in series.index] + [end]
    values = [float(v) for v in series]
    out = [0.0] * bins
    for (t0, t1), v in zip(pairwise(times), values, strict=False):
        t0, t1 = max(t0, 0.0), min(t1, end)
        b = min(int(t0 // width), bins - 1)
        while b < bins and edges[b] < t1:  # the bins the step [t0, t1) overlaps
            overlap = min(t1, edges[b + 1]) - max(t0, edges[b])
            if overlap > 0:
                out[b] += v * overlap / width
            b += 1
    return pd.Series(out, index=edges[:-1])


def _summed(timeline: pd.DataFrame, column: str) -> pd.Series:
    """``column`` over time; with islands, the islands' latest values summed at each time."""
    if "island" not in timeline:
        return timeline.groupby("time")[column].last()
    wide = timeline.pivot_table(index="time", columns="island", values=column, aggfunc="last")
    return wide.ffill().fillna(0).sum(axis=1)


def lineage_table(run: RunResult) -> pd.DataFrame:
    """The best candidate's ancestry, seed first: when each ancestor finished its last
    evaluation, on how many examples (its rung) and with what score there."""
    ev = run.events
    done = ev[ev["event"] == "eval_end"].drop_duplicates("candidate", keep="last")
    by_id = done.set_index("candidate")
    rows = []
    for generation, cand in enumerate(run.lineage):
        row = by_id.loc[cand] if cand in by_id.index else None
        rung = None if row is None else int(row["rung"])
        rows.append(
            {
                "generation": generation,
                "candidate": cand,
                "time": None if row is None else round(float(row["time"]), 1),
                "examples": None if rung is None else run.rung_sizes[rung],
                "score": None if row is None else round(float(row["score"]), 3),
            }
        )
    return pd.DataFrame(rows).set_index("generation")


def plot_lineage(results: Sequence[RunResult]) -> Figure:
    """Each run's family tree over time, one panel per run: every candidate as a dot at its
    last evaluation (time, score there; bigger dots were scored on more examples), a faint
    line to its parent, and the path from the seed to the best drawn bold with its
    generations numbered. With islands, a candidate that migrated is drawn where it arrived,
    and the path follows it back to the island it came from."""
    runs = _checked(results)
    fig = Figure(figsize=(8, 3.2 * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), 1, squeeze=False)[:, 0]
    unit = "simulated s" if runs[0].time_mode == "virtual" else "s"
    simulated = " (simulated)" if any(r.simulated for r in runs) else ""
    for ax, run in zip(axes, runs, strict=True):
        ev = run.events.dropna(subset=["candidate"])
        done = ev[ev["event"].isin(("eval_end", "migrate"))].drop_duplicates(
            "candidate", keep="last"
        )
        at = {
            int(c): (float(t), float(s), int(r))
            for c, t, s, r in zip(
                done["candidate"], done["time"], done["score"], done["rung"], strict=True
            )
        }
        parents = ev.dropna(subset=["parent"]).drop_duplicates("candidate")
        parent_of = {
            int(c): int(p) for c, p in zip(parents["candidate"], parents["parent"], strict=True)
        }
        edges = [(at[p][:2], at[c][:2]) for c, p in parent_of.items() if c in at and p in at]
        ax.add_collection(LineCollection(edges, colors="0.75", linewidths=0.6, zorder=1))
        biggest = max(len(run.rung_sizes) - 1, 1)
        ax.scatter(
            [t for t, _, _ in at.values()],
            [s for _, s, _ in at.values()],
            s=[6 + 30 * r / biggest for _, _, r in at.values()],
            color="0.55",
            alpha=0.6,
            zorder=2,
            label=f"{len(at)} candidates evaluated",
        )
        lineage = _lineage(run.lineage, parent_of)
        path = [(g, at[c]) for g, c in enumerate(lineage) if c in at]
        if path:
            xs, ys = [p[1][0] for p in path], [p[1][1] for p in path]
            ax.plot(xs, ys, "-o", color="C3", linewidth=2, zorder=3, label="seed to best")
            for g, (x, y, _) in path:
                ax.annotate(
                    str(g),
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize="small",
                    color="C3",
                )
        ax.set_xlim(left=0)
        ax.set_ylim(-0.03, 1.05)
        ax.grid(alpha=0.3)
        ax.set_ylabel("score where it stopped")
        ax.set_xlabel(f"time of its last evaluation ({unit})")
        ax.set_title(f"{run.label}: lineage of the best, {len(lineage) - 1} generations{simulated}")
        ax.legend(loc="lower right", fontsize="small")
    return fig


def _lineage(lineage: Sequence[int], parent_of: Mapping[int, int]) -> list[int]:
    """``lineage`` extended back to a seed through ``parent_of``: an island's lineage starts
    at a migrant, whose parent (the candidate it copies) lived on another island."""
    path = list(lineage)
    while path and path[0] in parent_of and parent_of[path[0]] not in path:
        path.insert(0, parent_of[path[0]])
    return path
