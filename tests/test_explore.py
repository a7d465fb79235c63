"""The explorer's logic without a browser: knobs to settings, Start, live counters, Cancel."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("ipywidgets")

from gepa_lab.lab.explore import Explorer, Settings, _Live, verdict

FAST = Settings(dataset_size=20, target_quality=0.5, eval_concurrency=32, time_scale=0.05)


def shown(settings: Settings = FAST) -> Explorer:
    explorer = Explorer(settings, refresh=0.05)
    explorer.show()  # outside a notebook, display() prints the widgets' text form
    return explorer


def test_bad_knobs_do_not_start_a_run_and_say_which_knob():
    ex = shown()
    ex._ui["shards"].value = "0.1, half, 1"
    ex.start()
    assert ex.task is None
    assert "not started: shards='0.1, half, 1' is invalid" in ex._ui["status"].value
    ex._ui["shards"].value = "0.1, 0.5"
    ex.start()
    assert ex.task is None and "the last fraction must be exactly 1.0" in ex._ui["status"].value
    ex._ui["shards"].value = "0.1, 1"
    ex._ui["queue_limit"].value = 4  # below mutation_buffer_min (32)
    ex.start()
    assert ex.task is None and "new candidates queued, max: Config.queue_limit=4" in (
        ex._ui["status"].value
    )
    ex._ui["queue_limit"].value = 256
    ex._ui["eval_concurrency"].value = -3  # refused with the knob named, never clamped to 1
    ex.start()
    status = ex._ui["status"].value
    assert ex.task is None and "calls in flight: Config.eval_concurrency=-3" in status
    assert ex._ui["eval_concurrency"].value == -3
    assert ex._ui["eval_concurrency"].description == "calls in flight"
    assert "Config.eval_concurrency" in ex._ui["eval_concurrency"].tooltip
    with pytest.raises(ValueError, match="eval_concurrency"):
        Explorer(Settings(eval_concurrency=0))


def test_start_runs_live_and_cancel_stops_it():
    async def session():
        ex = shown(FAST)
        ex._ui["max_wall_time"].value = 60.0
        ex._ui["time_scale"].value = 0.2
        ex._ui["target_quality"].value = 0.99  # still running when cancelled
        ex.start()
        assert ex._ui["start"].disabled and not ex._ui["cancel"].disabled
        # The counters are redrawn every refresh from the run's last report: wait (at most
        # 10 s) for a redraw after the first report, rather than a fixed time that a loaded
        # machine may not honour.
        zero = "<b>evaluations</b>: <span class='gl-value'>0</span>"
        for _ in range(100):
            await asyncio.sleep(0.1)
            live = ex._ui["counters"].value
            if ex.live.progress.get("metric_calls") and zero not in live:
                break
        assert ex.live.progress["metric_calls"] > 0
        assert zero not in live
        ex.cancel()
        await asyncio.sleep(0.2)
        return ex

    ex = asyncio.run(session())
    assert ex.task.cancelled()
    assert ex._ui["status"].value == "<b>cancelled</b>"
    assert not ex._ui["start"].disabled and ex._ui["cancel"].disabled


def test_a_finished_run_draws_its_whole_curve_and_reads_right():
    ex = Explorer(FAST, refresh=0.05)
    res = asyncio.run(ex.run())
    assert res.stop_reason == "target" and res.simulated
    assert ex.live.curve[-1][1] == pytest.approx(res.best_quality)
    assert ex.live.progress["time"] == res.wall_time
    ax = ex.fig.axes[0]
    assert "(simulated)" in ax.get_title()
    # The rate is the run's, not the last instant's; the last point and the target are in
    # sight, not on the plot's edge.
    assert ex.live.rate == pytest.approx(res.metric_calls / res.wall_time, rel=0.1)
    (left, right), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    last_time, last_quality = ex.live.curve[-1]
    assert left <= 0 and right > res.wall_time >= last_time
    assert bottom < last_quality < top and bottom < FAST.target_quality < top
    assert any(line.get_label() == f"target {FAST.target_quality:g}" for line in ax.lines)
    assert verdict(res).startswith(f"reached {FAST.target_quality:g} after ")
    assert f"{res.metric_calls:,} evaluations" in verdict(res)


def test_the_live_rate_averages_over_seconds_not_over_the_last_report():
    live = _Live()
    for i in range(1, 101):  # 100 evaluations a second, reported every 0.1 s
        live.update({"time": i / 10, "metric_calls": 10 * i, "best_quality": None})
    live.update({"time": 10.001, "metric_calls": 1010, "best_quality": None})  # a burst
    assert live.rate == pytest.approx(100, rel=0.1)
