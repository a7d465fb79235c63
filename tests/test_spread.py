"""The spread over seeds: bootstrap intervals, the table and the figure, on real runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import statistics

import pandas as pd
import pytest

import gepa_lab as gl
from gepa_lab.lab.spread import median_ci, plot_spread, seed_row, speedups, spread_table
from gepa_lab.sim import synthetic_aime

SEED = "You are a helpful assistant. Solve the math problem."


def test_median_ci_brackets_the_median_and_narrows_with_more_values():
    rng = random.Random(1)
    few = [rng.gauss(10, 2) for _ in range(8)]
    many = [rng.gauss(10, 2) for _ in range(400)]
    mid, lo, hi = median_ci(few)
    assert mid == statistics.median(few) and lo <= mid <= hi
    _, lo_many, hi_many = median_ci(many)
    assert hi_many - lo_many < (hi - lo) / 2
    assert lo_many < 10 < hi_many  # the true median
    assert median_ci(few) == median_ci(few)  # reproducible by default
    assert median_ci([]) is None
    assert median_ci([3.0]) == (3.0, 3.0, 3.0)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """Three seeds of a fast and a slow configuration on the virtual clock, the slow one
    missing its target on one seed."""
    out = []
    for seed in (1, 2, 3):
        train, test = synthetic_aime(20, seed=seed), synthetic_aime(10, seed=seed + 100)
        fast = gl.adaptive_config(20, "balanced", 64).replace(target_quality=0.5, seed=seed)
        slow = gl.classic_config(target_quality=0.5, max_metric_calls=3000).replace(seed=seed)
        for label, config in (("turbo", fast), ("gepa", slow)):
            run = gl.optimize_sync(SEED, train, config, time_mode="virtual", label=label)
            if label == "gepa" and seed == 3:
                run = dataclasses.replace(run, time_to_target=None)
            held = asyncio.run(gl.score_prompt(run.best_candidate, test, time_mode="virtual"))
            out.append(seed_row(seed, run, held))
    return out


@pytest.fixture(scope="module")
def rows(records) -> pd.DataFrame:
    return pd.DataFrame(records)


def test_a_seed_row_holds_what_a_run_spent_to_reach_its_target(records, rows):
    missed = next(r for r in records if r["system"] == "gepa" and r["seed"] == 3)
    assert missed["time_to_target"] is missed["calls_to_target"] is missed["cost_to_target"] is None
    assert json.loads(json.dumps(records, allow_nan=False)) == records  # JSON as it is
    assert rows.time_to_target.isna().sum() == 1  # a DataFrame reads None as missing
    reached = rows.dropna(subset=["time_to_target"])
    assert (reached.calls_to_target > 0).all() and (reached.cost_to_target > 0).all()
    assert rows.held_out.between(0, 1).all()


def test_speedups_pair_the_seeds_on_which_both_reached_the_target(rows):
    got = speedups(rows, "turbo", "gepa")
    assert list(got.index) == [1, 2]
    times = rows.set_index(["seed", "system"]).time_to_target
    assert got[1] == pytest.approx(times[(1, "gepa")] / times[(1, "turbo")])
    assert speedups(rows, "turbo", "nobody").empty


def test_the_table_gives_reach_counts_and_medians_with_intervals(rows):
    table = spread_table(rows, unit="simulated s")
    assert "time to target (simulated s)" in table
    assert list(table.index) == ["turbo", "gepa"]
    assert table.loc["turbo", "reached target"] == "3/3"
    assert table.loc["gepa", "reached target"] == "2/3"
    column = "turbo sooner by (x; seeds both reached)"
    pairs = speedups(rows, "turbo", "gepa").tolist()
    mid = statistics.median(pairs)
    assert table.loc["gepa", column] == f"{mid:.2f} (n=2)"  # two pairs: no interval
    assert table.loc["turbo", column] == "–"
    held = rows[rows.system == "turbo"].held_out.tolist()
    mid, lo, hi = median_ci(held)
    assert table.loc["turbo", "held-out score"] == f"{mid:.3f} ({lo:.3f}–{hi:.3f}; n=3)"
    # A system seen on fewer seeds is counted over its own.
    partial = rows[~((rows.system == "gepa") & (rows.seed == 1))]
    assert spread_table(partial).loc["gepa", "reached target"] == "1/2"


def test_the_figure_shows_every_seed_and_marks_a_single_run(rows):
    fig = plot_spread(rows, marks={"gepa": 7.5}, simulated=True)
    left, right = fig.axes
    pairs = speedups(rows, "turbo", "gepa")
    dots = left.collections[0]
    assert sorted(dots.get_offsets()[:, 0]) == sorted(pairs)
    star = [c for c in left.collections if c.get_label() == "this report's run"]
    assert len(star) == 1 and star[0].get_offsets()[0][0] == 7.5
    assert left.get_xscale() == "log"
    per_system = [len(c.get_offsets()) for c in right.collections if len(c.get_offsets()) > 1]
    assert per_system == [3, 3]
    assert fig.get_suptitle() == "Over 3 seeds (simulated)"


def test_an_empty_row_says_why(rows):
    without_turbo = plot_spread(rows[rows.system == "gepa"], subject="turbo")
    assert [t.get_text() for t in without_turbo.axes[0].texts] == ["no turbo run to compare"]
    never = rows.assign(
        time_to_target=[
            None if s == "gepa" else t
            for s, t in zip(rows.system, rows.time_to_target, strict=True)
        ]
    )
    texts = [t.get_text() for t in plot_spread(never).axes[0].texts]
    assert texts == ["no seed on which both turbo and gepa reached the target"]


def test_refuses_rows_it_cannot_read(rows):
    with pytest.raises(ValueError, match="seed_row"):
        spread_table(rows.drop(columns=["held_out"]))
    with pytest.raises(ValueError, match="at least one seed"):
        plot_spread(rows.iloc[:0])
    with pytest.raises(ValueError, match="seed 1 of 'turbo' twice"):
        spread_table(pd.concat([rows, rows.iloc[:1]]))
