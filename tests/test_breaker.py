"""The circuit breaker: a dead endpoint or a revoked key stops the run cleanly, without a flood
of failed requests, and the run resumes once the endpoint is back."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

import gepa_lab as gl
from gepa_lab.llm.breaker import Breaker
from gepa_lab.llm.provider import (
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    TransientError,
)
from gepa_lab.protocols import RunAborted
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime

SEED = "You are a helpful assistant. Solve the math problem."
TRAIN = synthetic_aime(30, seed=4)


class Breaks(SimProvider):
    """The simulated world until ``after`` calls, then every request fails with ``error``;
    records the (virtual) time of every failed request."""

    def __init__(self, after: int, error: Exception) -> None:
        super().__init__()
        self.after, self.error = after, error
        self.sent = 0
        self.failed: list[float] = []

    async def complete(self, request):
        self.sent += 1
        if self.sent > self.after:
            self.failed.append(asyncio.get_running_loop().time())
            await asyncio.sleep(0.01)  # a refused connection answers fast
            raise self.error
        return await super().complete(request)


def run(provider, **kw):
    return gl.optimize_sync(
        SEED,
        TRAIN,
        gl.Config(max_metric_calls=3000, seed=2),
        provider=provider,
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
        **kw,
    )


def test_a_dead_endpoint_stops_the_run_within_a_minute_without_a_flood_and_it_resumes(tmp_path):
    dead = Breaks(400, TransientError("connection to the endpoint failed: refused"))
    with pytest.raises(ProviderUnavailable) as caught:
        run(dead, run_dir=tmp_path / "run")
    message = str(caught.value)
    assert dead.origin in message and "failed every call for" in message
    assert "refused" in message and "max_outage" in message
    start, end = dead.failed[0], dead.failed[-1]
    assert end - start <= 60  # stopped within a minute of the outage
    per_second = Counter(int(t - start) for t in dead.failed if t - start >= 10)
    assert max(per_second.values()) <= 2  # after the first 10 s, at most 2 failed per second
    assert len(dead.failed) < 40  # what was sent before it opened, then one probe at a time
    resumed = run(SimProvider(), resume=tmp_path / "run")
    assert resumed.stop_reason in ("target", "budget")
    assert resumed.provider_stats["replayed_calls"] == 0  # virtual clock: served from the cache
    assert resumed.provider_stats["cache_hits"] >= 400


def test_a_revoked_key_stops_the_run_at_once_and_it_resumes(tmp_path):
    revoked = Breaks(300, RequestRejected("HTTP 401: invalid api key", status=401))
    with pytest.raises(ProviderUnavailable, match="rejected the API key") as caught:
        run(revoked, run_dir=tmp_path / "run")
    assert "HTTP 401" in str(caught.value)
    assert len(revoked.failed) <= 10
    assert revoked.failed[-1] - revoked.failed[0] <= 5
    resumed = run(SimProvider(), resume=tmp_path / "run")
    assert resumed.stop_reason in ("target", "budget")


def test_a_provider_that_refuses_every_request_is_not_flooded():
    # Every request refused (400): no retry helps, and without the breaker the engine would
    # relaunch failed evaluations as fast as they fail. Eight in a row open it.
    refusing = Breaks(0, RequestRejected("HTTP 400: unsupported parameter 'seed'", status=400))
    with pytest.raises(RunAborted, match=r"refused every request .*unsupported parameter"):
        run(refusing)
    assert len(refusing.failed) < 40
    assert refusing.failed[-1] - refusing.failed[0] <= 60


def test_a_short_outage_is_ridden_out_with_one_probe_at_a_time():
    # Down for 20 s: the breaker opens, probes with a doubling wait, closes at the first
    # success, and the run finishes as if nothing happened (every evaluation accounted for).
    class Blip(SimProvider):
        def __init__(self):
            super().__init__()
            self.sent, self.down_from = 0, None
            self.failed: list[float] = []

        async def complete(self, request):
            now = asyncio.get_running_loop().time()
            self.sent += 1
            if self.sent == 500:
                self.down_from = now
            if self.down_from is not None and now - self.down_from < 20:
                self.failed.append(now)
                raise TransientError("HTTP 503: overloaded")
            return await super().complete(request)

    blip = Blip()
    res = run(blip)
    assert res.stop_reason in ("target", "budget")
    assert res.provider_stats["breaker_opened"] >= 1
    late = [t for t in blip.failed if t - blip.down_from >= 10]
    assert len(late) <= 4  # probes only, waiting 0.5, 1, 2, 4, 8 s


def test_breaker_rules():
    async def main():
        breaker = Breaker("http://x/v1", threshold=2, max_outage=5.0)
        loop = asyncio.get_running_loop()
        assert await breaker.admit() is False
        err = TransientError("HTTP 502")
        breaker.failure(RateLimited("HTTP 429", 1.0, status=429), False)
        breaker.failure(err, False)
        assert breaker.opened_at is None  # a push-back is not a failure of the endpoint
        breaker.failure(RequestRejected("HTTP 400: unsupported parameter", status=400), False)
        assert breaker.opened_at is not None
        started = loop.time()
        assert await breaker.admit() is True  # the probe, after the first wait
        assert loop.time() - started == pytest.approx(0.5, abs=0.01)
        waiter = asyncio.ensure_future(breaker.admit())
        await asyncio.sleep(0.1)
        assert not waiter.done()  # one probe at a time
        breaker.success(True)
        assert await waiter is False and breaker.opened_at is None
        with pytest.raises(ProviderUnavailable, match="does not serve the model"):
            breaker.failure(RequestRejected("HTTP 404: no such model", status=404), False)
        with pytest.raises(ProviderUnavailable):
            await breaker.admit()

    from gepa_lab.runs.virtual_time import run_virtual

    run_virtual(main)


def test_over_http_a_revoked_key_and_a_dead_server_stop_the_run_and_it_resumes(tmp_path):
    # Real time against the simulated server on loopback. The key is revoked at an arbitrary
    # moment (a timer), at the simulated world's own latencies (about 64 calls a second): the
    # calls sent before the first refusal came back are all that is refused. The server is
    # then stopped mid-run (with a 4 s outage limit, to keep the test short), and restarted.
    import dataclasses
    import time

    from gepa_lab.sim.server import ServerConfig, SimServer, free_port, serve

    port = free_port()
    models = {"task_model": TASK_MODEL, "reflection_model": REFLECTION_MODEL}

    def server(scale):
        return SimServer(SimProvider(time_scale=scale), ServerConfig(api_key="k"))

    async def optimize(budget, **kw):
        cfg = gl.Config(max_metric_calls=budget, seed=2, max_outage=4.0, target_quality=None)
        provider = gl.OpenAIProvider(f"http://127.0.0.1:{port}/v1", "k", timeout=5.0)
        try:
            return await gl.optimize(SEED, TRAIN, cfg, provider=provider, **models, **kw)
        finally:
            await provider.aclose()

    async def revoked():
        live = server(1.0)
        async with serve(live, port=port):

            def revoke():
                revoked_at.append(time.monotonic())
                live.config = dataclasses.replace(live.config, api_key="revoked")

            revoked_at: list[float] = []
            asyncio.get_running_loop().call_later(2.5, revoke)
            with pytest.raises(ProviderUnavailable, match="rejected the API key") as caught:
                await optimize(400, run_dir=tmp_path / "revoked")
            assert time.monotonic() - revoked_at[0] < 5
            assert f"127.0.0.1:{port}" in str(caught.value)
            assert 0 < live.stats.statuses[401] <= 10
        async with serve(server(0.1), port=port):  # a valid key again (and a faster server)
            return await optimize(400, resume=tmp_path / "revoked")

    async def killed():
        context = serve(server(0.1), port=port)
        await context.__aenter__()
        down: list[float] = []
        stopping: list[asyncio.Future] = []

        def kill(progress):
            if progress["metric_calls"] >= 200 and not down:
                down.append(time.monotonic())
                stopping.append(asyncio.ensure_future(context.__aexit__(None, None, None)))

        with pytest.raises(ProviderUnavailable, match="failed every call") as caught:
            await optimize(1000, run_dir=tmp_path / "killed", on_progress=kill)
        assert time.monotonic() - down[0] < 4.0 + 10  # the outage limit, then the next probe
        assert f"127.0.0.1:{port}" in str(caught.value)
        async with serve(server(0.1), port=port):  # the endpoint is back
            return await optimize(1000, resume=tmp_path / "killed")

    for scenario, budget in ((revoked, 400), (killed, 1000)):
        res = asyncio.run(scenario())
        assert res.stop_reason == "budget" and res.metric_calls + res.failed_calls >= budget
