"""Sweeps as one job: every point through an executor, one table, failures reported."""

from __future__ import annotations

import pandas as pd
import pytest

from gepa_lab.executors import ThreadExecutor
from gepa_lab.lab.sweep import explore_point, grid_points, run_sweep


def test_grid_points_vary_each_knob_alone_for_every_seed():
    points = grid_points({"a": [1, 2], "b": [0.5]}, [0, 7])
    assert points == [
        ("a", 1, 0),
        ("a", 1, 7),
        ("a", 2, 0),
        ("a", 2, 7),
        ("b", 0.5, 0),
        ("b", 0.5, 7),
    ]
    with pytest.raises(ValueError, match="non-empty list"):
        grid_points({"a": []}, [0])
    with pytest.raises(ValueError, match="seeds is empty"):
        grid_points({"a": [1]}, [])


def square(knob: str, value: int, seed: int, offset: int = 0) -> dict:
    if value == 3:
        raise RuntimeError("three is not allowed")
    if value == 5:
        return {"result": 0, "seed": -1}  # would overwrite the point's own seed
    return {"result": value * value + seed + offset}


def test_a_failed_point_is_reported_and_the_others_finish():
    lines: list[str] = []
    table = run_sweep(
        square, grid_points({"x": [1, 2, 3, 4]}, [0, 10]), ThreadExecutor(3), lines.append, offset=5
    )
    assert len(table) == 8 and len(lines) == 8
    ok = table[table["error"].isna()]
    assert sorted(ok["result"]) == sorted(v * v + s + 5 for v in (1, 2, 4) for s in (0, 10))
    failed = table[table["error"].notna()]
    assert list(failed["value"]) == [3, 3]
    assert set(failed["error"]) == {"RuntimeError: three is not allowed"}
    assert sum("failed: RuntimeError: three is not allowed" in line for line in lines) == 2
    assert lines[-1].startswith("sweep: 8/8 ")


def test_explore_point_runs_the_explorer_with_one_knob_changed():
    low = explore_point("eval_concurrency", 16, 0, dataset_size=20, target_quality=0.5)
    high = explore_point("eval_concurrency", 128, 0, dataset_size=20, target_quality=0.5)
    assert low["stop_reason"] == high["stop_reason"] == "target"
    assert low["time_to_target"] > high["time_to_target"]  # more calls in flight: sooner
    again = explore_point("eval_concurrency", 16, 0, dataset_size=20, target_quality=0.5)
    assert {**again, "seconds": 0} == {**low, "seconds": 0}  # the same run (real time aside)
    capped = explore_point(
        "eval_concurrency", 16, 0, dataset_size=20, target_quality=1.0, budget=300
    )
    assert capped["stop_reason"] == "budget" and 300 <= capped["metric_calls"] < 400
    with pytest.raises(ValueError, match="knob 'concurrency' is unknown"):
        explore_point("concurrency", 16, 0)


def test_a_point_may_not_overwrite_the_sweeps_columns_and_own_threads_are_closed(monkeypatch):
    closed = []
    monkeypatch.setattr(ThreadExecutor, "close", lambda self: closed.append(self))
    table = run_sweep(square, [("x", 5, 1), ("x", 2, 1)], None, None)
    assert list(table["seed"]) == [1, 1]
    taken = "ValueError: the point returned ['seed'], the sweep's own columns"
    assert table["error"].iloc[0] == taken
    assert pd.isna(table["error"].iloc[1]) and table["result"].iloc[1] == 5
    assert len(closed) == 1  # the two threads the sweep started for itself
    run_sweep(square, [("x", 2, 1)], ThreadExecutor(1), None)
    assert len(closed) == 1  # a caller's executor is the caller's to close
