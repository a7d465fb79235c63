"""One run against its spread: the same comparison repeated over seeds, with intervals.

A single run's speedup or held-out score can be luck. A report shows it beside the
distribution of the same comparison over many seeds (each seed draws its own data and its own
random choices), with the median and a percentile-bootstrap 95% interval of it, so a reader sees
whether the headline is typical.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..runs.telemetry import RunResult

# Below this many values a bootstrap interval means little: the median is shown alone.
MIN_FOR_INTERVAL = 3
# One row per (seed, system): see seed_row().
SPREAD_COLUMNS = (
    "seed",
    "system",
    "time_to_target",
    "calls_to_target",
    "cost_to_target",
    "held_out",
)


def median_ci(
    values: Sequence[float], rng: random.Random | None = None
) -> tuple[float, float, float] | None:
    """Median and a percentile-bootstrap 95% interval of it (2,000 resamples); None for no
    values. ``rng`` makes the interval reproducible (by default seeded with 0)."""
    if not values:
        return None
    rng = rng or random.Random(0)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(2000))
    return statistics.median(values), meds[49], meds[1949]


def seed_row(seed: int, result: RunResult, held_out: float | None = None) -> dict[str, object]:
    """One run's figures for the spread: when it reached the target, what it had spent by then
    and its best prompt's held-out score; None where there is none (JSON-ready, and NaN once
    the rows make a DataFrame)."""
    spent = result.at_target() or {}
    return {
        "seed": seed,
        "system": result.label,
        "time_to_target": result.time_to_target,
        "calls_to_target": spent.get("metric_calls"),
        "cost_to_target": spent.get("cost_usd"),
        "held_out": held_out,
    }


def speedups(rows: pd.DataFrame, subject: str, baseline: str) -> pd.Series:
    """Per seed on which both reached the target, how many times sooner ``subject`` did.
    Seeds where only one of them reached it are left out (there is no ratio to take): the
    table and the figure say how many pairs remain."""
    times = _checked(rows).pivot(index="seed", columns="system", values="time_to_target")
    if subject not in times or baseline not in times:
        return pd.Series(dtype=float, name=baseline)
    ratio = (times[baseline] / times[subject]).dropna()
    return ratio.rename(baseline)


def _interval(values: Sequence[float], digits: int) -> str:
    """ "median (low–high; n=N)"; with fewer than ``MIN_FOR_INTERVAL`` values, no interval."""
    got = median_ci(list(values))
    if got is None:
        return "–"
    mid, lo, hi = got
    if len(values) < MIN_FOR_INTERVAL:
        return f"{mid:.{digits}f} (n={len(values)})"
    return f"{mid:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f}; n={len(values)})"


def spread_table(rows: pd.DataFrame, subject: str = "turbo", unit: str = "s") -> pd.DataFrame:
    """Per system, over its seeds: how often it reached the target, and the medians with 95%
    intervals (and how many values each) of its time (in ``unit``) and dollars to target, of
    ``subject``'s speedup over it on the seeds both reached the target, and of its held-out
    score."""
    rows = _checked(rows)
    out = {}
    for system, own in rows.groupby("system", sort=False):
        reached = own.dropna(subset=["time_to_target"])
        out[system] = {
            "reached target": f"{len(reached)}/{own['seed'].nunique()}",
            f"time to target ({unit})": _interval(reached["time_to_target"].tolist(), 1),
            "cost to target ($)": _interval(own["cost_to_target"].dropna().tolist(), 4),
            f"{subject} sooner by (x; seeds both reached)": "–"
            if system == subject
            else _interval(speedups(rows, subject, system).tolist(), 2),
            "held-out score": _interval(own["held_out"].dropna().tolist(), 3),
        }
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "system"
    return table


def plot_spread(
    rows: pd.DataFrame,
    subject: str = "turbo",
    marks: Mapping[str, float | None] | None = None,
    mark_label: str = "this report's run",
    simulated: bool = False,
) -> Figure:
    """Two panels over the seeds: ``subject``'s speedup over each other system (log scale)
    and every system's held-out score, one dot per seed, with the median and its 95% interval
    as a bar. ``marks`` (baseline -> speedup) draws a single run's speedups as stars, to read
    it against the spread. ``simulated`` says so in the title."""
    rows = _checked(rows)
    systems = list(dict.fromkeys(rows["system"]))
    baselines = [s for s in systems if s != subject]
    fig = Figure(figsize=(9, 0.9 + 0.55 * max(len(systems), 2)), layout="constrained")
    left, right = fig.subplots(1, 2)
    jitter = random.Random(0)
    for y, baseline in enumerate(baselines):
        ratio = speedups(rows, subject, baseline).tolist()
        none = (
            f"no {subject} run to compare"
            if subject not in systems
            else f"no seed on which both {subject} and {baseline} reached the target"
        )
        _dots(left, ratio, y, jitter, none)
        mark = (marks or {}).get(baseline)
        if mark:
            left.scatter([mark], [y], marker="*", s=160, color="C3", zorder=4, label=mark_label)
    left.set_xscale("log")
    left.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    left.axvline(1.0, color="0.4", linestyle="--", linewidth=1)
    left.set_yticks(range(len(baselines)), [f"over {b}" for b in baselines])
    left.set_ylim(-0.6, len(baselines) - 0.4)
    left.set_xlabel(f"how many times sooner {subject} reached the target")
    left.set_title("Speedup per seed (median, 95% interval)")
    handles, labels = left.get_legend_handles_labels()
    if handles:
        left.legend(handles[:1], labels[:1], loc="lower right", fontsize="small")
    for y, system in enumerate(systems):
        scores = rows.loc[rows["system"] == system, "held_out"].dropna().tolist()
        _dots(right, scores, y, jitter, "no held-out score")
    right.set_yticks(range(len(systems)), systems)
    right.set_ylim(-0.6, len(systems) - 0.4)
    right.set_xlim(0, 1)
    right.set_xlabel("held-out score of the best prompt")
    right.set_title("Held-out score per seed")
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="x")
        ax.invert_yaxis()
    n = rows["seed"].nunique()
    fig.suptitle(f"Over {n} seeds{' (simulated)' if simulated else ''}")
    return fig


def _dots(ax, values: list[float], y: int, jitter: random.Random, none: str) -> None:
    """One dot per seed around row ``y``, and the median with its interval as a black bar
    (the median alone with fewer than ``MIN_FOR_INTERVAL`` values); ``none`` says why a row
    is empty."""
    if not values:
        ax.text(
            0.5,
            y,
            none,
            transform=ax.get_yaxis_transform(),
            ha="center",
            va="center",
            color="0.4",
            fontsize="small",
        )
        return
    ax.scatter(values, [y + jitter.uniform(-0.18, 0.18) for _ in values], s=18, alpha=0.6)
    mid, lo, hi = median_ci(values)  # type: ignore[misc]
    if len(values) < MIN_FOR_INTERVAL:
        lo = hi = mid
    ax.errorbar(
        [mid],
        [y],
        xerr=[[mid - lo], [hi - mid]],
        fmt="|",
        color="black",
        capsize=5,
        markersize=18,
        zorder=3,
    )


def _checked(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with numbers as floats (None read as missing), refused when they cannot be
    a spread: columns missing, no rows, or two rows for one (seed, system)."""
    missing = [c for c in SPREAD_COLUMNS if c not in rows]
    if missing:
        raise ValueError(f"spread rows lack the columns {missing}: build them with seed_row()")
    if rows.empty:
        raise ValueError("no seeds to show: the spread needs at least one seed's runs")
    twice = rows[rows.duplicated(["seed", "system"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        raise ValueError(
            f"spread rows hold seed {first['seed']} of {first['system']!r} twice: one row "
            "per (seed, system)"
        )
    numbers = ["time_to_target", "calls_to_target", "cost_to_target", "held_out"]
    return rows.astype({c: float for c in numbers})
