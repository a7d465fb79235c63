"""Comparison figure and table, on two small real runs in the simulated world."""

from __future__ import annotations

import dataclasses
import math

import pytest
from matplotlib.figure import Figure

import gepa_lab as gl
from gepa_lab.lab.plots import (
    COMPARISON_COLUMNS,
    comparison_table,
    plot_lineage,
    plot_quality_over_time,
    spending,
)
from gepa_lab.sim import synthetic_aime

SEED = "You are a helpful assistant. Solve the math problem."
TARGET = 0.5


@pytest.fixture(scope="module")
def runs() -> list[gl.RunResult]:
    train = synthetic_aime(20)
    turbo = gl.benchmark_overrides(gl.adaptive_config(20, "aggressive", 64), 64).replace(
        target_quality=TARGET, max_metric_calls=20000
    )
    classic = gl.classic_config(target_quality=TARGET, max_metric_calls=3000)
    return [
        gl.optimize_sync(SEED, train, turbo, time_mode="virtual", label="turbo"),
        gl.optimize_sync(SEED, train, classic, time_mode="virtual", label="gepa"),
    ]


def test_figure_has_a_line_per_run_plus_the_target(runs):
    fig = plot_quality_over_time(runs, target=TARGET)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["turbo", "gepa", f"target {TARGET:g}"]
    assert ax.get_xlabel() == "wall-clock time (simulated s)"
    assert "(simulated)" in ax.get_title()
    for line, run in zip(ax.lines, runs, strict=False):
        xs = line.get_xdata()
        assert xs[0] == 0.0 and xs[-1] == pytest.approx(run.wall_time)
    # One marker per run that reached the target.
    assert len(ax.collections) == sum(r.time_to_target is not None for r in runs)


def test_figure_draws_into_a_given_axes(runs):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_quality_over_time(runs, ax=ax) is fig
    assert len(ax.lines) == len(runs)  # no target line without a target


def test_table_is_indexed_by_label_and_measures_speedup_against_gepa(runs):
    table = comparison_table(runs)
    assert list(table.index) == ["turbo", "gepa"]
    assert tuple(table.columns) == COMPARISON_COLUMNS
    assert table.loc["gepa", "speedup"] == 1.0
    turbo, gepa = runs
    expected = gepa.time_to_target / turbo.time_to_target
    assert table.loc["turbo", "speedup"] == pytest.approx(expected, abs=0.01)
    assert table.loc["turbo", "LLM calls"] == turbo.llm_calls
    assert table.loc["gepa", "pruned at first rung"] == 0.0
    assert table.loc["turbo", "stop reason"] == "target"


def test_without_gepa_the_slowest_run_to_target_is_the_baseline(runs):
    turbo, gepa = runs
    renamed = dataclasses.replace(gepa, label="classic")
    stalled = dataclasses.replace(turbo, label="stalled", time_to_target=None)
    table = comparison_table([turbo, renamed, stalled])
    slowest = max(("turbo", "classic"), key=lambda k: table.loc[k, "time to target (s)"])
    assert table.loc[slowest, "speedup"] == 1.0
    assert math.isnan(table.loc["stalled", "speedup"])
    assert math.isnan(table.loc["stalled", "time to target (s)"])


def test_refuses_ambiguous_or_incomparable_runs(runs):
    turbo, gepa = runs
    with pytest.raises(ValueError, match="unique"):
        comparison_table([turbo, dataclasses.replace(gepa, label="turbo")])
    with pytest.raises(ValueError, match="not comparable"):
        plot_quality_over_time([turbo, dataclasses.replace(gepa, time_mode="real")])
    with pytest.raises(ValueError, match="at least one"):
        comparison_table([])


def test_the_event_log_gives_back_every_event_as_recorded():
    # Typed columns inside; the frame shows None as missing and keeps the order.
    import pandas as pd

    from gepa_lab.runs.telemetry import EVENT_COLUMNS, EventLog

    rows = [
        (0.0, "mutation_start", None, 0, None, None),
        (0.5, "eval_end", 3, 0, 2, 0.75),
        (0.5, "prune", 12_345_678_901, 3, 0, 0.0),
        (1.25, "stop", None, None, None, None),
    ]
    log = EventLog()
    assert log.frame().empty and list(log.frame().columns) == list(EVENT_COLUMNS)
    for row in rows:
        log.add(*row)
    frame = log.frame()
    assert len(log) == 4 and list(frame.columns) == list(EVENT_COLUMNS)
    got = [
        tuple(None if pd.isna(v) else v for v in record)
        for record in frame.itertuples(index=False, name=None)
    ]
    assert got == rows
    assert str(frame.candidate.dtype) == "Int64" and frame.time.dtype == float


def test_a_result_shows_its_key_figures_and_plots_itself(runs):
    turbo = runs[0]
    text, html = repr(turbo), turbo._repr_html_()
    for figure in (
        f"{turbo.best_quality:.3f}",
        f"{TARGET:g} after {turbo.time_to_target:,.1f} simulated s",
        f"{turbo.metric_calls:,} (0 failed)",
        "turbo (simulated LLM)",
        f"{turbo.at_target()['metric_calls']:,} task calls, ",
        f"${turbo.at_target()['cost_usd']:,.4f}",
    ):
        assert figure in text and figure in html
    assert html.startswith("<table") and html.count("<tr>") == len(turbo.figures())
    assert "rung_counts" not in text  # not the dataclass's dump of every field
    fig = turbo.plot()
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert [line.get_label() for line in ax.lines] == ["turbo", f"target {TARGET:g}"]
    assert ax.get_xlim()[1] >= turbo.wall_time  # the last point is inside the plot
    assert turbo.summary()["best_quality"] == round(turbo.best_quality, 4)  # still for code


def test_spending_puts_a_speedup_next_to_what_it_cost(runs):
    turbo, gepa = runs
    spent = spending(turbo, gepa)
    mine, theirs = turbo.at_target(), gepa.at_target()
    assert spent["calls"] == pytest.approx(mine["metric_calls"] / theirs["metric_calls"])
    assert spent["tokens"] == pytest.approx(mine["tokens"] / theirs["tokens"])
    assert spent["cost"] == pytest.approx(mine["cost_usd"] / theirs["cost_usd"])
    missed = dataclasses.replace(gepa, time_to_target=None)
    assert spending(turbo, missed) is None  # no target, nothing to compare
    unpriced = dataclasses.replace(gepa, provider_stats={**gepa.provider_stats, "cost_usd": None})
    assert unpriced.at_target()["cost_usd"] is None
    assert spending(turbo, unpriced)["cost"] is None


def test_the_cost_to_target_is_what_was_spent_by_then_not_the_whole_run():
    # A run that goes on past its target: what it had spent when it got there is recorded
    # with each new best, so the cost to target is less than the run's.
    train = synthetic_aime(20)
    config = gl.classic_config(target_quality=0.3, max_metric_calls=1500).replace(auto_stop=False)
    run = gl.optimize_sync(SEED, train, config, time_mode="virtual", label="on")
    spent, total = run.at_target(), run.provider_stats["cost_usd"]
    assert run.stop_reason != "target" and run.best_quality > 0.3
    assert 0 < spent["cost_usd"] < total
    curve = run.curve()
    assert curve["cost_usd"].is_monotonic_increasing and curve["cost_usd"].iloc[-1] <= total
    # The dollars follow the tokens at the simulated models' prices: a task call's tokens cost
    # at most the reflection model's output price, and at least the task model's input price.
    assert 0.15 <= spent["cost_usd"] / spent["tokens"] * 1e6 <= 10.0
    assert comparison_table([run]).loc["on", "cost to target ($)"] == round(spent["cost_usd"], 4)


def test_the_lineage_figure_draws_every_candidate_and_the_path_to_the_best(runs):
    fig = plot_lineage(runs)
    assert len(fig.axes) == len(runs)
    for ax, run in zip(fig.axes, runs, strict=True):
        dots = ax.collections[1]  # [0] is the lines to parents
        done = run.events.loc[run.events["event"] == "eval_end", "candidate"].nunique()
        assert len(dots.get_offsets()) == done
        assert len(ax.collections[0].get_segments()) == done - 1  # all but the seed have one
        (path,) = ax.lines
        assert len(path.get_xdata()) == len(run.lineage)
        assert path.get_xdata()[-1] <= ax.get_xlim()[1]
        assert f"{len(run.lineage) - 1} generations" in ax.get_title()
        assert [t.get_text() for t in ax.texts] == [str(g) for g in range(len(run.lineage))]


def test_with_islands_the_lineage_follows_a_migrant_back_to_its_seed():
    config = gl.Config(
        n_islands=3, migration_every=2, max_metric_calls=4000, target_quality=0.6, seed=2
    )
    run = gl.optimize_sync(SEED, synthetic_aime(20), config, time_mode="virtual")
    ev = run.events
    migrants = set(ev.loc[ev["event"] == "migrate", "candidate"].astype(int))
    assert run.lineage[0] in migrants  # the island's own lineage starts where it arrived
    ax = plot_lineage([run]).axes[0]
    (path,) = ax.lines
    generations = len(path.get_xdata())
    assert generations > len(run.lineage)
    assert ax.get_title().startswith(f"turbo: lineage of the best, {generations - 1} generations")
    assert path.get_xdata()[0] < path.get_xdata()[-1]  # from an island's seed, forward in time
