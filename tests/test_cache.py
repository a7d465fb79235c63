"""The evaluation cache: reruns pay nothing for answers already known, even after kill -9."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

import gepa_lab as gl
from gepa_lab.llm.cache import EvalCache, cache_key
from gepa_lab.llm.limiter import AdaptiveLimiter
from gepa_lab.llm.provider import ChatRequest, ChatResponse, origin
from gepa_lab.llm.throttle import Throttled
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime

SEED = "You are a helpful assistant. Solve the math problem."
TRAIN = synthetic_aime(30, seed=4)


def config(**kw) -> gl.Config:
    base = gl.benchmark_overrides(gl.adaptive_config(30, "aggressive", 64), 64)
    return base.replace(**{"target_quality": None, **kw})


def run(cache, provider=None, **kw):
    provider = provider or SimProvider()
    res = gl.optimize_sync(
        SEED,
        TRAIN,
        config(**kw),
        provider=provider,
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        cache=cache,
        time_mode="virtual",
    )
    return res, provider


def test_key_covers_what_determines_an_answer():
    req = ChatRequest(TASK_MODEL, (("system", "s"), ("user", "u")))
    key = cache_key(req, "1", "http://a/v1")
    assert key == cache_key(ChatRequest(TASK_MODEL, req.messages), "1", "http://a/v1")
    others = [
        ChatRequest("other", req.messages),
        ChatRequest(TASK_MODEL, (("system", "s2"), ("user", "u"))),
        ChatRequest(TASK_MODEL, req.messages, temperature=0.7),
        ChatRequest(TASK_MODEL, req.messages, max_tokens=10),
        ChatRequest(TASK_MODEL, req.messages, seed=3),
    ]
    keys = {cache_key(r, "1", "http://a/v1") for r in others}
    keys |= {cache_key(req, "2", "http://a/v1"), key, cache_key(req, "1", "http://b/v1")}
    assert len(keys) == 8
    # ``purpose`` is bookkeeping, not sent to the model: it does not change the key
    assert cache_key(ChatRequest(TASK_MODEL, req.messages, purpose="x"), "1", "http://a/v1") == key


def test_two_backends_with_the_same_model_names_never_share_answers(tmp_path):
    # Two simulated worlds serve the same model names with different answers. With one cache
    # file, the second backend is never served the first one's answers, and a rerun on each
    # is served only its own. A backend that says nothing of itself is known by its class.
    path = tmp_path / "shared.sqlite"
    skills, _ = run(path, SimProvider(landscape="skills"), max_metric_calls=600)
    phrases, p2 = run(path, SimProvider(landscape="phrases"), max_metric_calls=600)
    assert phrases.provider_stats["cache_hits"] == 0 and sum(p2.stats.calls.values()) > 500
    again, p3 = run(path, SimProvider(landscape="phrases"), max_metric_calls=600)
    assert sum(p3.stats.calls.values()) == 0 and again.best_candidate == phrases.best_candidate
    assert skills.best_candidate != phrases.best_candidate
    assert SimProvider().origin != SimProvider(reflection="weak").origin
    assert origin(Throttled(SimProvider(), AdaptiveLimiter(4))) == SimProvider().origin
    assert origin(object()) == "builtins.object"


def test_answers_served_from_the_cache_keep_their_simulated_label(tmp_path):
    # A cache filled by the simulated world, read by a backend that claims nothing: the run is
    # labelled simulated, because its answers were.
    path = tmp_path / "evals.sqlite"
    run(path, max_metric_calls=300)

    class Unlabelled(SimProvider):
        simulated = False

        @property
        def origin(self):
            return SimProvider().origin  # the same backend, seen without its label

    res, provider = run(path, Unlabelled(), max_metric_calls=300)
    assert sum(provider.stats.calls.values()) == 0 and res.simulated
    with sqlite3.connect(path) as db:
        assert {r[0] for r in db.execute("SELECT DISTINCT simulated FROM answers")} == {1}


def test_a_rerun_with_the_cache_makes_no_calls_and_repeats_the_run(tmp_path):
    path = tmp_path / "evals.sqlite"
    first, p1 = run(path, max_metric_calls=1500)
    second, p2 = run(path, max_metric_calls=1500)
    assert sum(p1.stats.calls.values()) > 1000
    assert sum(p2.stats.calls.values()) == 0  # every answer came from the cache
    assert second.provider_stats["cache_hits"] == sum(p1.stats.calls.values())
    assert second.best_candidate == first.best_candidate
    assert second.wall_time == first.wall_time  # replayed latencies: the same schedule
    # the key is not stored in readable form, and neither is anything run-specific
    with sqlite3.connect(path) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(answers)")]
    assert columns == [
        "key",
        "model",
        "text",
        "prompt_tokens",
        "completion_tokens",
        "latency",
        "origin",
        "simulated",
    ]


def test_bad_cache_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"cannot use .* as an evaluation cache"):
        EvalCache(blocker / "evals.sqlite")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="evaluation cache"):
        EvalCache(garbage)


def test_two_writers_share_one_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    a, b = EvalCache(path, flush_every=1), EvalCache(path, flush_every=1)
    a.put("k1", TASK_MODEL, ChatResponse("one", 1, 1), 0.5, "o", False)
    b.put("k2", TASK_MODEL, ChatResponse("two", 2, 2), 0.5, "o", False)
    b.put("k1", TASK_MODEL, ChatResponse("late", 3, 3), 0.5, "o", False)  # first answer wins
    assert a.get("k2").response.text == "two" and b.get("k1").response.text == "one"
    a.close()
    b.close()


KILLED_RUN = textwrap.dedent(
    """
    import sys
    import gepa_lab as gl
    from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime
    cfg = gl.benchmark_overrides(gl.adaptive_config(30, "aggressive", 64), 64)
    cfg = cfg.replace(target_quality=None, max_metric_calls=None, max_wall_time=120.0)
    gl.optimize_sync(
        "You are a helpful assistant. Solve the math problem.",
        synthetic_aime(30, seed=4),
        cfg,
        provider=SimProvider(time_scale=0.01),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        cache=sys.argv[1],
    )
    """
)


def test_after_kill_9_a_rerun_pays_nothing_for_cached_answers(tmp_path):
    path = tmp_path / "evals.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(path)])
    try:
        deadline = time.monotonic() + 60
        rows = 0
        while rows < 600 and time.monotonic() < deadline:
            time.sleep(0.05)
            if path.exists():
                try:
                    with sqlite3.connect(path, timeout=5) as db:
                        rows = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
                except sqlite3.OperationalError:
                    rows = 0  # the schema is not created yet
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)  # mid-run, while answers are being written
    finally:
        proc.kill()
        proc.wait()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        cached = {k for (k,) in db.execute("SELECT key FROM answers")}
    assert len(cached) >= 600

    paid: list[str] = []

    class Recording(EvalCache):
        def put(self, key, *args):
            paid.append(key)
            super().put(key, *args)

    cache = Recording(path)
    res, provider = run(cache, max_metric_calls=3000)
    calls = sum(provider.stats.calls.values())
    assert calls == len(paid) > 0  # every real call was a cache miss, recorded once
    assert not cached & set(paid)  # none of them was for an answer the killed run had cached
    assert res.provider_stats["cache_hits"] > 0


def test_a_run_binds_a_copy_of_the_adapter_and_two_runs_of_one_adapter_do_not_mix(tmp_path):
    # The caller's adapter is never modified (its provider, cache, feedback and client stay),
    # and it counts the calls its runs paid for. Two runs of one adapter at once, each with its
    # own cache and feedback, give exactly what each gives alone: nothing is swapped in and out.
    from gepa_lab.adapter import LLMAdapter

    adapter = LLMAdapter(SimProvider(), TASK_MODEL, REFLECTION_MODEL)
    before = (adapter.provider, adapter.cache, adapter.feedback, adapter.client)

    def feedback_a(example, response, score):
        return "a"

    def feedback_b(example, response, score):
        return None

    async def one(path, feedback):
        return await gl.optimize(
            SEED,
            TRAIN,
            config(max_metric_calls=400, seed=3),
            adapter=adapter,
            cache=path,
            feedback=feedback,
            time_mode="virtual",
        )

    async def both(tmp):
        return await asyncio.gather(one(tmp / "a.db", feedback_a), one(tmp / "b.db", feedback_b))

    tmp = tmp_path
    alone_a = asyncio.run(one(tmp / "alone_a.db", feedback_a))
    alone_b = asyncio.run(one(tmp / "alone_b.db", feedback_b))
    paid = adapter.task_calls
    assert paid == alone_a.metric_calls + alone_b.metric_calls  # no faults, every call paid
    together_a, together_b = asyncio.run(both(tmp))
    assert (adapter.provider, adapter.cache, adapter.feedback, adapter.client) == before
    for alone, together in ((alone_a, together_a), (alone_b, together_b)):
        assert together.best_candidate == alone.best_candidate
        assert together.events.equals(alone.events)
    assert adapter.task_calls == 2 * paid
    assert together_a.best_candidate != together_b.best_candidate  # the feedback mattered
