"""Adaptive limiter, retries, usage and budgets: on the virtual clock, so exact and fast."""

import asyncio

import pytest

import gepa_lab as gl
from gepa_lab.llm.limiter import OK, PUSHBACK, AdaptiveLimiter
from gepa_lab.llm.provider import (
    ChatRequest,
    ChatResponse,
    RateLimited,
    RequestRejected,
    TransientError,
)
from gepa_lab.llm.throttle import RetryPolicy, Throttled
from gepa_lab.llm.usage import PriceTable, Usage
from gepa_lab.runs.virtual_time import run_virtual
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime
from gepa_lab.sim.faults import Faults
from gepa_lab.sim.rate_limits import Buckets, RateLimits

SEED = "You are a helpful assistant. Solve the math problem."
TRAIN = synthetic_aime(45, seed=0)
REQ = ChatRequest(TASK_MODEL, (("user", "q"),))


def turbo(conc: int, **kw) -> gl.Config:
    base = gl.benchmark_overrides(gl.adaptive_config(45, "aggressive", conc), conc)
    return base.replace(**{"target_quality": None, "max_metric_calls": None, **kw})


class Scripted:
    """A provider whose answers follow a script of exceptions (then succeeds)."""

    def __init__(self, script=(), latency: float = 0.1):
        self.script = list(script)
        self.latency = latency
        self.times: list[float] = []
        self.in_flight = self.max_in_flight = 0

    async def complete(self, request):
        self.times.append(asyncio.get_running_loop().time())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        if self.script:
            raise self.script.pop(0)
        return ChatResponse("### 1", 10, 2)


def test_token_bucket_admits_a_burst_then_the_rate():
    b = Buckets(RateLimits(requests_per_minute=600, burst_seconds=1.0))  # 10/s, holds 10
    assert [b.admit(0.0, 1) for _ in range(10)] == [0.0] * 10
    assert b.admit(0.0, 1) == pytest.approx(0.1)
    assert b.admit(0.1, 1) == 0.0 and b.admit(0.1, 1) > 0
    tokens = Buckets(RateLimits(tokens_per_minute=60_000))  # 1,000 tokens/s
    assert tokens.admit(0.0, 800) == 0.0 and tokens.admit(0.0, 800) == pytest.approx(0.6)


@pytest.mark.parametrize(("rpm", "conc"), [(600, 256), (3000, 1024)])
def test_limiter_converges_to_the_provider_rate_limit(rpm, conc):
    """Against a token bucket of ``rpm``, after 30 s: >= 95% of the limit, <= 2% answered 429."""
    log = []

    class Logged(SimProvider):
        async def complete(self, request):
            t = asyncio.get_running_loop().time()
            try:
                response = await super().complete(request)
            except RateLimited:
                log.append((t, False))
                raise
            log.append((t, True))
            return response

    provider = Logged(rate_limits=RateLimits(rpm))
    res = gl.optimize_sync(
        SEED,
        TRAIN,
        turbo(conc, max_wall_time=150.0),
        provider=provider,
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
    )
    late = [ok for t, ok in log if t >= 30.0]
    admitted_per_min = sum(late) / 120.0 * 60.0
    assert admitted_per_min >= 0.95 * rpm
    assert late.count(False) <= 0.02 * len(late)
    assert res.failed_calls == 0  # push-backs were retried, never lost
    # The scarce calls go to evaluations, not to a loop of reflections repeating themselves.
    assert res.metric_calls > res.reflection_calls
    stats = res.provider_stats
    assert stats["rate_limited"] == provider.stats.rate_limited > 0
    assert stats["in_flight"] == 0 and stats["max_in_flight"] <= conc


def test_limiter_caps_concurrency_and_serves_urgent_first():
    async def main():
        lim = AdaptiveLimiter(3)
        order = []

        async def call(name, urgent=False):
            ticket = await lim.acquire(urgent)
            order.append(name)
            assert lim.in_flight <= 3
            await asyncio.sleep(1.0)
            lim.release(ticket, OK)

        tasks = [asyncio.ensure_future(call(f"n{i}")) for i in range(6)]
        await asyncio.sleep(0)
        tasks.append(asyncio.ensure_future(call("urgent", urgent=True)))
        await asyncio.gather(*tasks)
        return order, lim

    order, lim = run_virtual(main)
    assert order[:3] == ["n0", "n1", "n2"] and order[3] == "urgent"
    assert lim.stats.max_in_flight == 3 and lim.in_flight == 0


def test_cancelled_waiters_do_not_leak_slots():
    async def main():
        lim = AdaptiveLimiter(1)
        first = await lim.acquire()
        waiter = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        lim.release(first, OK)
        second = await asyncio.wait_for(lim.acquire(), 1.0)
        lim.release(second, OK)
        return lim

    lim = run_virtual(main)
    assert lim.in_flight == 0 and lim.waiting == 0


def test_one_cut_per_generation_of_calls():
    async def main():
        lim = AdaptiveLimiter(100)
        tickets = [await lim.acquire() for _ in range(10)]
        for t in tickets:  # a burst of 429s for calls sent before any cut: one cut
            lim.release(t, PUSHBACK)
        first = lim.rate
        again = await lim.acquire()  # sent after the cut: its push-back cuts again
        lim.release(again, PUSHBACK)
        return lim, first

    lim, first = run_virtual(main)
    assert lim.stats.cuts == 2 and lim.stats.pushbacks == 11
    assert lim.rate == pytest.approx(first * 0.9)


def test_retries_are_bounded_jittered_and_honour_retry_after():
    async def main():
        flaky = Scripted([TransientError("502"), RateLimited("429", retry_after=5.0)])
        throttled = Throttled(flaky, AdaptiveLimiter(4), RetryPolicy(max_retries=2))
        answer = await throttled.complete(REQ)
        hopeless = Scripted([TransientError("500")] * 10)
        bounded = Throttled(hopeless, AdaptiveLimiter(4), RetryPolicy(max_retries=2))
        with pytest.raises(TransientError):
            await bounded.complete(REQ)
        rejected = Scripted([RequestRejected("401"), RequestRejected("401")])
        final = Throttled(rejected, AdaptiveLimiter(4))
        with pytest.raises(RequestRejected):
            await final.complete(REQ)
        return answer, flaky, throttled, hopeless, bounded, rejected

    answer, flaky, throttled, hopeless, bounded, rejected = run_virtual(main)
    assert answer.text == "### 1"
    first, second, third = flaky.times
    assert 0.25 <= second - first - 0.1 <= 0.5  # 0.5 s base delay, equal jitter
    assert 5.0 <= third - second - 0.1 <= 5.5  # Retry-After plus at most 10%
    assert throttled.stats.retries == 2 and throttled.stats.failed == 0
    assert len(hopeless.times) == 3 and bounded.stats.failed == 1  # 1 try + 2 retries
    assert len(rejected.times) == 1  # a rejected request is never retried
    assert throttled.limiter.in_flight == bounded.limiter.in_flight == 0


def test_usage_prices_and_overrides():
    usage = Usage(PriceTable({"my-model": (1.0, 2.0)}))
    usage.add(ChatRequest("my-model", ()), ChatResponse("x", 1_000_000, 500_000))
    usage.add(ChatRequest("openai/gpt-4o-mini", (), purpose="reflection"), ChatResponse("", 0, 0))
    assert usage.cost_usd == pytest.approx(2.0) and usage.total_tokens == 1_500_000
    usage.add(ChatRequest("local-llama", ()), ChatResponse("x", 10, 10))
    assert usage.summary()["cost_usd"] is None  # one model had no price: total unknown
    frame = usage.frame()
    assert set(frame["purpose"]) == {"task", "reflection"}
    with pytest.raises(ValueError, match="my-model"):
        PriceTable({"my-model": (-1.0, 2.0)})


@pytest.mark.parametrize(
    ("budget", "reason"),
    [({"max_total_tokens": 200_000}, "token_budget"), ({"max_cost_usd": 0.05}, "cost_budget")],
)
def test_token_and_cost_budgets_stop_the_run(budget, reason):
    res = gl.optimize_sync(SEED, TRAIN, turbo(64, **budget), time_mode="virtual")
    assert res.stop_reason == reason
    stats = res.provider_stats
    if reason == "token_budget":
        assert 200_000 <= stats["total_tokens"] < 260_000  # overshoot: calls already in flight
    else:
        assert 0.05 <= stats["cost_usd"] < 0.07
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)


def test_cost_budget_needs_prices_for_the_models():
    with pytest.raises(ValueError, match="'local-model' has no price"):
        gl.optimize_sync(
            SEED,
            TRAIN,
            turbo(8, max_cost_usd=1.0),
            provider=SimProvider(),
            task_model="local-model",
            reflection_model=REFLECTION_MODEL,
        )


def test_summary_keeps_the_runs_failed_evaluations():
    """Provider stats join the summary without overwriting the run's own counters."""
    faulty = SimProvider(faults=Faults(p_5xx=0.3))
    res = gl.optimize_sync(
        SEED,
        TRAIN,
        turbo(16, max_metric_calls=300, max_retries=0),
        provider=faulty,
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
    )
    summary = res.summary()
    assert summary["failed_calls"] == res.failed_calls > 0
    # the throttle's count also includes failed reflections
    assert summary["failed_after_retries"] >= res.failed_calls
