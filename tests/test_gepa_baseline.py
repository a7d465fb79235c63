"""The real gepa library as the baseline: same provider, scorer, budget unit and trace schema."""

from __future__ import annotations

import asyncio
import importlib.metadata

import pytest

import gepa_lab as gl
from gepa_lab.baselines.gepa import GepaMissing, optimize_gepa
from gepa_lab.lab.diagnosis import diagnose
from gepa_lab.lab.plots import comparison_table, lineage_table, plot_activity
from gepa_lab.llm.provider import ChatResponse, RequestRejected
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime
from gepa_lab.sim.process import SimServerProcess
from gepa_lab.sim.rate_limits import RateLimits
from gepa_lab.tasks.examples import Example

pytest.importorskip("gepa")

SEED = "You are a helpful assistant. Solve the math problem."
TRAIN = synthetic_aime(20, seed=2)
# Throughput settings with a probe of 8 before the full set (20 examples alone make one rung).
LADDERED = gl.benchmark_overrides(gl.adaptive_config(20, "aggressive", 64), 64).replace(
    shards=(0.4, 1.0)
)


def gepa_run(**kw):
    options = {"max_metric_calls": 2000, "target_quality": 0.5, "time_mode": "virtual"}
    return asyncio.run(optimize_gepa(SEED, TRAIN, **{**options, **kw}))


@pytest.fixture(scope="module")
def run():
    return gepa_run()


def test_the_real_library_climbs_to_the_target_on_the_virtual_clock(run):
    assert run.provider_stats["engine"] == f"gepa {importlib.metadata.version('gepa')}"
    assert run.simulated and run.time_mode == "virtual"
    assert run.stop_reason == "target" and run.best_quality >= 0.5
    assert run.reflection_calls > 0 and run.candidates > 1
    curve = run.curve()
    assert list(curve.columns) == ["time", "quality", "metric_calls", "tokens", "cost_usd"]
    assert curve["quality"].is_monotonic_increasing
    assert curve["metric_calls"].is_monotonic_increasing and curve["tokens"].iloc[-1] > 0
    assert curve["cost_usd"].is_monotonic_increasing
    assert 0 < run.at_target()["cost_usd"] <= run.provider_stats["cost_usd"]
    assert curve["quality"].iloc[-1] == pytest.approx(run.best_quality)
    # The seed's full evaluation is the first point: every example, once.
    assert curve["metric_calls"].iloc[0] == len(TRAIN)
    assert run.at_target()["time"] == run.time_to_target
    assert run.lineage[0] == 0 and run.lineage[-1] == run.best_id
    # GEPA's structure: at most 10 calls in flight, most of the time far fewer.
    assert run.timeline["in_flight"].max() == 10
    assert 0 < run.utilization < 0.8


def test_it_repeats_exactly_with_the_same_seed(run):
    again = gepa_run()
    assert again.trace == run.trace
    assert again.best_candidate == run.best_candidate


def test_budget_and_wall_time_stop_it():
    capped = gepa_run(target_quality=None, max_metric_calls=100)
    assert capped.stop_reason == "budget"
    # GEPA checks its budget between iterations: one full evaluation may overshoot it.
    assert 100 <= capped.metric_calls <= 100 + len(TRAIN) + 6
    timed = gepa_run(target_quality=None, max_wall_time=20.0)
    assert timed.stop_reason == "wall_time" and timed.wall_time >= 20.0


class FixedProvider:
    """Answers every task call with ``text``; reflections repeat the instruction."""

    def __init__(self, text: str, fail_every: int = 0) -> None:
        self.text, self.fail_every, self.calls = text, fail_every, 0

    async def complete(self, request):
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            raise RequestRejected("400 bad request (injected)")
        if request.purpose == "reflection":
            return ChatResponse("```\nSolve it.\n```", 10, 5)
        return ChatResponse(self.text, 10, 5)


def test_it_scores_exact_integers_never_substrings_and_survives_failed_calls():
    data = [Example(f"p{i}", f"Problem {i}", 7) for i in range(6)]
    near = FixedProvider("### 70", fail_every=4)
    res = asyncio.run(
        optimize_gepa(
            SEED,
            data,
            max_metric_calls=30,
            provider=near,
            task_model="m",
            reflection_model="r",
        )
    )
    assert res.best_quality == 0.0  # "### 70" contains "7" but is not 7
    assert res.failed_calls > 0 and res.metric_calls > 0
    exact = asyncio.run(
        optimize_gepa(
            SEED,
            data,
            max_metric_calls=30,
            target_quality=1.0,
            provider=FixedProvider("so \\boxed{7}"),
            task_model="m",
            reflection_model="r",
        )
    )
    assert exact.best_quality == 1.0 and exact.stop_reason == "target"


def test_bad_arguments_and_a_missing_library_are_named(monkeypatch):
    with pytest.raises(ValueError, match="max_metric_calls=0"):
        asyncio.run(optimize_gepa(SEED, TRAIN, max_metric_calls=0))
    with pytest.raises(ValueError, match="time_mode='warp'"):
        asyncio.run(optimize_gepa(SEED, TRAIN, max_metric_calls=10, time_mode="warp"))
    with pytest.raises(ValueError, match="name both task_model and reflection_model"):
        asyncio.run(optimize_gepa(SEED, TRAIN, max_metric_calls=10, provider=FixedProvider("")))

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(GepaMissing, match=r"pip install 'gepa-lab\[gepa\]'"):
        asyncio.run(optimize_gepa(SEED, TRAIN, max_metric_calls=10))


def test_both_systems_share_the_simulated_http_server():
    async def both(url):
        models = {"task_model": TASK_MODEL, "reflection_model": REFLECTION_MODEL}
        cfg = LADDERED.replace(target_quality=0.5, max_metric_calls=20000)
        turbo = await gl.optimize(SEED, TRAIN, cfg, provider=gl.OpenAIProvider(url), **models)
        gepa = await optimize_gepa(
            SEED,
            TRAIN,
            max_metric_calls=2000,
            target_quality=0.5,
            provider=lambda: gl.OpenAIProvider(url),
            **models,
        )
        return turbo, gepa

    with SimServerProcess(time_scale=0.02) as url:
        turbo, gepa = asyncio.run(both(url))
    assert turbo.simulated and gepa.simulated  # the server says it is the simulated world
    assert turbo.time_mode == gepa.time_mode == "real"
    assert turbo.stop_reason == gepa.stop_reason == "target"
    table = comparison_table([turbo, gepa], held_out={"turbo": 0.5, "gepa": 0.25})
    assert table.loc["gepa", "speedup"] == 1.0
    assert table.loc["turbo", "speedup"] == pytest.approx(
        gepa.time_to_target / turbo.time_to_target, abs=0.01
    )
    assert table.loc["turbo", "calls to target"] == turbo.at_target()["metric_calls"]
    assert table.loc["gepa", "held-out score"] == 0.25
    assert len(plot_activity([turbo, gepa]).axes) == 3  # two utilization panels, one ladder


def test_diagnosis_reads_what_limited_each_run(run):
    gepa_findings = {f.factor: f for f in diagnose(run)}
    assert gepa_findings["sequential structure"].limiting
    assert "10 task-call slots" in gepa_findings["sequential structure"].text
    limited = gl.optimize_sync(
        SEED,
        TRAIN,
        LADDERED.replace(target_quality=0.5, max_metric_calls=20000),
        provider=SimProvider(rate_limits=RateLimits(requests_per_minute=600)),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
    )
    findings = diagnose(limited)
    assert findings[0].factor == "rate limit" and findings[0].limiting
    assert "429" in findings[0].text
    assert any(f.factor == "pruning" and not f.limiting for f in findings)


def test_lineage_table_walks_from_the_seed_to_the_best(run):
    table = lineage_table(run)
    assert table["candidate"].tolist() == run.lineage
    assert table["score"].iloc[-1] == pytest.approx(round(run.best_quality, 3))
    assert table["examples"].iloc[-1] == len(TRAIN)


def test_parallel_proposals_run_a_step_at_once_and_reach_the_target_sooner(run):
    fast = gepa_run(parallel=(2, 2), concurrency=32, label="gepa-parallel")
    assert fast.stop_reason == "target" and fast.best_quality >= 0.5
    # Every minibatch of a step goes out at once through batch_evaluate: far more than GEPA's
    # default 10 calls in flight, within the concurrency given.
    assert 10 < fast.timeline["in_flight"].max() <= 32
    assert fast.timeline["mutating"].max() >= 2  # the step's reflections, batched
    assert fast.time_to_target < run.time_to_target
    again = gepa_run(parallel=(2, 2), concurrency=32, label="gepa-parallel")
    assert again.trace == fast.trace  # still deterministic on the virtual clock
    with pytest.raises(ValueError, match=r"parallel=\(4,\)"):
        gepa_run(parallel=(4,))
    with pytest.raises(ValueError, match=r"parallel\[1\]"):
        gepa_run(parallel=(4, 0))


def test_the_callers_prices_price_the_gepa_run_as_they_do_gepa_labs(run):
    doubled = {TASK_MODEL: (0.30, 1.20), REFLECTION_MODEL: (2.50, 20.0)}  # twice the nominal
    again = gepa_run(prices=doubled)
    assert again.provider_stats["total_tokens"] == run.provider_stats["total_tokens"]
    assert again.provider_stats["cost_usd"] == pytest.approx(2 * run.provider_stats["cost_usd"])
    assert again.at_target()["cost_usd"] == pytest.approx(2 * run.at_target()["cost_usd"])
    with pytest.raises(ValueError, match="PriceTable"):
        gepa_run(prices={TASK_MODEL: (-1.0, 0.0)})
