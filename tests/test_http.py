"""The simulated world over HTTP, driven by the real openai SDK through OpenAIProvider."""

import asyncio
import json
import re
import subprocess
import sys
import time

import aiohttp
import pytest

import gepa_lab as gl
from gepa_lab.adapter import LLMAdapter
from gepa_lab.llm.openai_provider import OpenAIProvider
from gepa_lab.llm.provider import ChatRequest, ProviderUnavailable, RequestRejected
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime
from gepa_lab.sim.faults import Faults
from gepa_lab.sim.provider import JUDGE_MODEL
from gepa_lab.sim.rate_limits import RateLimits
from gepa_lab.sim.schedule import follow, parse
from gepa_lab.sim.server import ServerConfig, SimServer, free_port, serve

SEED = "You are a helpful assistant. Solve the math problem."


def fast(limits=None, faults=None, **kw):
    config = ServerConfig(limits or RateLimits(), faults or Faults(), **kw)
    return SimServer(SimProvider(time_scale=0.005), config)


def test_http_answers_match_in_process_and_errors_are_typed():
    ex = synthetic_aime(3, seed=1)

    async def main():
        async with serve(fast(api_key="right")) as url:
            good = OpenAIProvider(url, "right")
            reqs = [ChatRequest(TASK_MODEL, (("system", SEED), ("user", e.problem))) for e in ex]
            remote = [r.text for r in await asyncio.gather(*(good.complete(q) for q in reqs))]
            local = [(await SimProvider(time_scale=0).complete(q)).text for q in reqs]
            models = [m.id async for m in good.client.models.list()]
            with pytest.raises(RequestRejected, match=r"404.*gpt-none"):
                await good.complete(ChatRequest("gpt-none", (("user", "hi"),)))
            bad = OpenAIProvider(url, "wrong")
            with pytest.raises(RequestRejected, match="401"):
                await bad.complete(reqs[0])
            await good.aclose()
            await bad.aclose()
            return remote, local, models

    remote, local, models = asyncio.run(main())
    assert remote == local
    assert set(models) == {TASK_MODEL, REFLECTION_MODEL, JUDGE_MODEL}


def test_rate_limit_answers_429_with_retry_after():
    async def main():
        limited = fast(RateLimits(requests_per_minute=3, burst_seconds=60))
        async with serve(limited) as url, aiohttp.ClientSession() as s:
            body = {"model": TASK_MODEL, "messages": [{"role": "user", "content": "x"}]}
            codes, retry = [], None
            for _ in range(5):
                async with s.post(f"{url}/chat/completions", json=body) as r:
                    codes.append(r.status)
                    retry = r.headers.get("Retry-After", retry)
            async with s.get(url.removesuffix("/v1") + "/stats") as r:
                stats = await r.json()
            return codes, retry, stats

    codes, retry, stats = asyncio.run(main())
    assert codes == [200, 200, 200, 429, 429]
    assert retry is not None and 1 <= int(retry) <= 60
    assert stats["statuses"] == {"200": 3, "429": 2} and stats["in_flight"] == 0


def test_a_schedule_changes_faults_and_the_key_on_cue_and_every_request_is_recorded(tmp_path):
    # A 5xx burst, then a revoked key, then the server's own settings again; the record has a
    # line per request, and identical bodies share a digest (how a soak counts duplicates).
    phases = parse(
        '[{"at": 0.3, "for": 0.4, "p_5xx": 1.0}, {"at": 0.8, "for": 0.3, "api_key": "gone"}]'
    )
    server = SimServer(SimProvider(time_scale=0), record=tmp_path / "record")

    async def main():
        codes = []
        async with serve(server) as url, aiohttp.ClientSession() as s:
            loop = asyncio.get_running_loop()
            started = loop.time()
            schedule = asyncio.ensure_future(follow(server.config, phases, server.reconfigure))
            body = {"model": TASK_MODEL, "messages": [{"role": "user", "content": "x"}]}
            for moment in (0.1, 0.5, 0.9, 1.3):
                await asyncio.sleep(started + moment - loop.time())
                async with s.post(f"{url}/chat/completions", json=body) as r:
                    codes.append(r.status)
            await schedule  # done: the last phase is over
        return codes

    codes = asyncio.run(main())
    assert codes[0] == 200 and codes[1] in (500, 502, 503) and codes[2:] == [401, 200]
    lines = [line.split() for line in (tmp_path / "record").read_text().splitlines()]
    assert [int(fields[1]) for fields in lines] == codes
    assert [fields[2] for fields in lines] == [TASK_MODEL, TASK_MODEL, "-", TASK_MODEL]
    assert lines[0][3] == lines[1][3] == lines[3][3]  # the same request, the same digest
    assert [fields[4] for fields in lines] == ["-", "5xx", "-", "-"]


def test_a_bad_schedule_is_refused_naming_the_phase_and_field():
    for text, expected in (
        ('[{"at": 1, "for": 2, "p_5xx": 1.5}]', "phase 0: Faults.p_5xx=1.5"),
        ('[{"at": 1, "for": 2}, {"at": -1, "for": 2}]', "phase 1: at=-1"),
        ('[{"at": 1, "for": 2, "p_50x": 0.1}]', "unknown field 'p_50x'"),
        ('[{"at": 1, "for": 2, "rpm": 0}]', "requests_per_minute=0"),
        ("[{oops", "schedule is not JSON"),
    ):
        with pytest.raises(ValueError, match=re.escape(expected)):
            parse(text)
    with pytest.raises(ValueError, match=r"no-such-file.*cannot be read"):
        parse("no-such-file.json")
    assert "phase 0: at='soon'" in refused_serve("--schedule", '[{"at": "soon"}]')


def refused_serve(*args: str) -> str:
    """``python -m gepa_lab.sim serve *args``, which must refuse them (exit 2): its stderr."""
    bad = subprocess.run(
        [sys.executable, "-m", "gepa_lab.sim", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    return bad.stderr


def test_optimization_survives_injected_faults_and_accounts_for_every_call():
    faults = Faults(0.10, 0.05, 0.02, 0.02, timeout_seconds=0.3)

    server = fast(faults=faults)

    async def main():
        async with serve(server) as url:
            provider = OpenAIProvider(url, "k", timeout=0.2)
            adapter = LLMAdapter(provider, TASK_MODEL, REFLECTION_MODEL)
            cfg = gl.benchmark_overrides(gl.adaptive_config(30, "aggressive", 64), 64)
            cfg = cfg.replace(max_metric_calls=600, max_retries=1)
            res = await gl.optimize(SEED, synthetic_aime(30, seed=2), cfg, adapter=adapter)
            await provider.aclose()
            return res, adapter

    res, adapter = asyncio.run(main())
    stats = res.provider_stats
    assert res.stop_reason == "budget"
    assert res.simulated  # the server says it is the simulated world: the run is labelled so
    # Every evaluation finished or was recorded as failed; retries rescued most faults.
    assert res.metric_calls + res.failed_calls == adapter.task_calls == 600
    assert 0 < res.failed_calls < 0.1 * 600 and stats["retries"] > 0.1 * 600
    # Every attempt was counted once (+ the probe's call per model). Reflections still in
    # flight at the stop are cancelled, and one cancelled before its request left may never
    # reach the server: those alone may be missing there.
    unseen = stats["calls_sent"] + 2 - server.stats.requests
    assert 0 <= unseen <= res.config.max_mutations_per_round
    assert stats["in_flight"] == 0 and server.stats.in_flight == 0
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)


def test_server_config_and_cli():
    with pytest.raises(ValueError, match="p_5xx"):
        Faults(p_5xx=1.5)
    with pytest.raises(ValueError, match="more than 1"):
        Faults(p_5xx=0.6, p_timeout=0.6)
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimits(requests_per_minute=0)
    assert "p_5xx" in refused_serve("--p-5xx", "2")

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gepa_lab.sim", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "SIMULATED" in proc.stdout.readline()

        async def probe():
            async with (
                aiohttp.ClientSession() as s,
                s.get(f"http://127.0.0.1:{port}/v1/models") as r,
            ):
                return r.status, await r.json()

        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = asyncio.run(probe())
                break
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert status == 200 and {m["id"] for m in body["data"]} == {
            TASK_MODEL,
            REFLECTION_MODEL,
            JUDGE_MODEL,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_probe_names_what_to_fix_within_seconds():
    cfg = gl.Config(max_metric_calls=10)
    train = synthetic_aime(5, seed=0)

    async def attempt(url, key, task_model=TASK_MODEL):
        provider = OpenAIProvider(url, key)
        try:
            await gl.optimize(
                SEED,
                train,
                cfg,
                provider=provider,
                task_model=task_model,
                reflection_model=REFLECTION_MODEL,
            )
        finally:
            await provider.aclose()

    async def main():
        messages = []
        async with serve(fast(api_key="right")) as url:
            for key, model in (("wrong", TASK_MODEL), ("right", "gpt-nope")):
                with pytest.raises(ProviderUnavailable) as err:
                    await attempt(url, key, model)
                messages.append(str(err.value))
        with pytest.raises(ProviderUnavailable) as err:
            await attempt(f"http://127.0.0.1:{free_port()}/v1", "k")
        messages.append(str(err.value))
        return messages

    t0 = time.monotonic()
    key_msg, model_msg, down_msg = asyncio.run(main())
    assert time.monotonic() - t0 < 10
    assert "rejected the API key" in key_msg and "OPENAI_API_KEY" in key_msg
    assert "'gpt-nope'" in model_msg and "model" in model_msg
    assert "cannot reach" in down_msg and "running" in down_msg


def test_probe_reports_a_real_timeout():
    async def main():
        async with serve(fast(faults=Faults(p_timeout=1.0, timeout_seconds=2.0))) as url:
            provider = OpenAIProvider(url, "k")
            try:
                with pytest.raises(ProviderUnavailable, match="did not answer") as err:
                    await provider.check([TASK_MODEL], timeout=0.5)
            finally:
                await provider.aclose()
            return str(err.value)

    assert "0.5 s" in asyncio.run(main())


def test_probe_checks_an_explicit_adapter_and_tolerates_transient_answers():
    cfg = gl.Config(max_metric_calls=4)
    train = synthetic_aime(5, seed=0)

    async def main():
        async with serve(fast(api_key="right")) as url:
            provider = OpenAIProvider(url, "wrong")
            adapter = LLMAdapter(provider, TASK_MODEL, REFLECTION_MODEL)
            try:
                with pytest.raises(ProviderUnavailable, match="rejected the API key"):
                    await gl.optimize(SEED, train, cfg, adapter=adapter)
                assert adapter.task_calls == 0  # stopped before the run began
            finally:
                await provider.aclose()
        for faults in (Faults(p_5xx=1.0), Faults(p_malformed=1.0)):
            async with serve(fast(faults=faults)) as url:
                provider = OpenAIProvider(url, "k")
                try:
                    await provider.check([TASK_MODEL, REFLECTION_MODEL])  # reachable: no error
                finally:
                    await provider.aclose()

    asyncio.run(main())


def test_named_profiles(monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENROUTER_API_KEY"):
        OpenAIProvider.from_profile("openrouter")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    routed = OpenAIProvider.from_profile("openrouter")
    assert routed.base_url == "https://openrouter.ai/api/v1"
    assert routed._headers["Authorization"] == "Bearer sk-or-test"
    local = OpenAIProvider.from_profile("ollama", timeout=5.0)
    assert local.base_url == "http://127.0.0.1:11434/v1" and local.timeout == 5.0
    with pytest.raises(ValueError, match="unknown provider profile 'nope'"):
        OpenAIProvider.from_profile("nope")


def test_the_key_is_never_written(tmp_path):
    secret = "sk-test-DO-NOT-LEAK-1234"
    cache = tmp_path / "evals.sqlite"

    async def main():
        async with serve(fast(api_key=secret)) as url:
            provider = OpenAIProvider(url, secret)
            try:
                return await gl.optimize(
                    SEED,
                    synthetic_aime(10, seed=1),
                    gl.Config(max_metric_calls=40, eval_concurrency=8),
                    provider=provider,
                    task_model=TASK_MODEL,
                    reflection_model=REFLECTION_MODEL,
                    cache=cache,
                )
            finally:
                await provider.aclose()

    res = asyncio.run(main())
    assert res.metric_calls == 40 and res.provider_stats["cache_hits"] == 0
    written = b"".join(f.read_bytes() for f in tmp_path.iterdir())
    assert len(written) > 0 and secret.encode() not in written
    assert secret not in json.dumps(res.to_json()) + res.events.to_csv()


REUSED_PROVIDER = """
import gepa_lab as gl
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, synthetic_aime
from gepa_lab.sim.process import SimServerProcess
from gepa_lab.sim.server import free_port

with SimServerProcess(0.01, ["--api-key", "k"]) as url:
    provider = gl.OpenAIProvider(url, "k")
    for _ in range(2):  # one provider, two event loops
        res = gl.optimize_sync(
            "Solve.", synthetic_aime(10, seed=1), gl.Config(max_metric_calls=40),
            provider=provider, task_model=TASK_MODEL, reflection_model=REFLECTION_MODEL,
        )
        print(res.stop_reason)
    try:
        gl.optimize_sync(
            "Solve.", synthetic_aime(10, seed=1), gl.Config(max_metric_calls=40),
            provider=gl.OpenAIProvider(url, "wrong"), task_model=TASK_MODEL,
            reflection_model=REFLECTION_MODEL,
        )
    except gl.ProviderUnavailable:
        print("refused")
try:  # nobody listens there: the probe fails to connect
    gl.optimize_sync(
        "Solve.", synthetic_aime(10, seed=1), gl.Config(max_metric_calls=40),
        provider=gl.OpenAIProvider(f"http://127.0.0.1:{free_port()}/v1", "k"),
        task_model=TASK_MODEL, reflection_model=REFLECTION_MODEL,
    )
except gl.ProviderUnavailable:
    print("unreachable")
"""


def test_optimize_sync_reuses_a_provider_and_exits_without_noise():
    # A provider serves optimize_sync after optimize_sync (each runs its own event loop), and
    # neither a finished run nor a refused key nor an unreachable endpoint leaves asyncio or
    # aiohttp warnings (an unclosed session, a task exception never retrieved) behind.
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", REUSED_PROVIDER], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["budget", "budget", "refused", "unreachable"]
    assert proc.stderr == "", proc.stderr
