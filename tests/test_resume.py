"""Run directories: a run killed with SIGKILL and resumed ends where the uninterrupted run ends."""

import json
import subprocess
import sys
import textwrap
import warnings

import pytest

import gepa_lab as gl
from gepa_lab.runs.replay import CompletionLog
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime

SEED = "You are a helpful assistant. Solve the math problem."

# A run that kills itself (SIGKILL: no cleanup, no flush) once it has made `calls` task calls
# and its saved state holds `saved` candidates, so the kill lands mid-run however fast or
# slow the machine is.
KILLED_RUN = textwrap.dedent(
    """
    import json, os, signal, sys
    import gepa_lab as gl
    from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime

    run_dir, time_mode, calls, saved = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[5])
    state = os.path.join(run_dir, "state.json")

    def maybe_die(progress):
        if progress["metric_calls"] < calls:
            return
        with open(state) as f:
            if len(json.load(f)["candidates"]) >= saved:
                os.kill(os.getpid(), signal.SIGKILL)

    scale = 1.0 if time_mode == "virtual" else 0.03
    gl.optimize_sync(
        "You are a helpful assistant. Solve the math problem.",
        synthetic_aime(30, seed=4),
        gl.Config(max_metric_calls=int(sys.argv[4]), seed=1),
        provider=SimProvider(time_scale=scale),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode=time_mode,
        run_dir=run_dir,
        on_progress=maybe_die,
    )
    print("the run finished before it was killed")
    """
)


def kill_midway(run_dir, time_mode, calls, budget, saved=0):
    args = [str(run_dir), time_mode, str(calls), str(budget), str(saved)]
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stdout + proc.stderr
    state = json.loads((run_dir / "state.json").read_text())
    assert state["status"] == "running"
    # Every completion the log records has its answer in the cache (answers are committed
    # before the log that records them): a resume pays nothing twice for what was recorded.
    recorded = CompletionLog(run_dir / "completions.log").read()
    assert gl.EvalCache(run_dir / "cache.sqlite").known(recorded) == set(recorded)
    return state


def run(time_mode="virtual", budget=3000, provider=None, cap="auto", **kw):
    return gl.optimize_sync(
        SEED,
        synthetic_aime(30, seed=4),
        gl.Config(max_metric_calls=budget, seed=1, max_candidates_in_flight=cap),
        provider=provider or SimProvider(time_scale=1.0 if time_mode == "virtual" else 0.03),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode=time_mode,
        **kw,
    )


def test_killed_and_resumed_run_reaches_the_uninterrupted_runs_best(tmp_path):
    whole = run(run_dir=tmp_path / "whole")
    kill_midway(tmp_path / "killed", "virtual", 500, 3000)
    provider = SimProvider()
    resumed = run(resume=tmp_path / "killed", provider=provider)
    assert resumed.best_candidate == whole.best_candidate
    assert resumed.best_id == whole.best_id
    assert resumed.best_quality == whole.best_quality
    assert resumed.metric_calls == whole.metric_calls  # the same run, budget and all
    # What the killed run had paid for came from the cache, not the provider.
    paid = sum(provider.stats.calls.values())
    assert resumed.provider_stats["cache_hits"] > 0
    assert paid == whole.llm_calls - resumed.provider_stats["cache_hits"]
    final = json.loads((tmp_path / "killed" / "state.json").read_text())
    assert final["status"] == "finished" and final["best"]["id"] == whole.best_id


def test_a_real_time_resume_replays_the_killed_runs_calls_in_their_order(tmp_path):
    saved = kill_midway(tmp_path / "run", "real", 500, 4000, saved=20)
    recorded = CompletionLog(tmp_path / "run" / "completions.log").read()
    assert len(recorded) > 100
    provider = SimProvider(time_scale=0.03)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no answer it recorded is missing
        resumed = run("real", 4000, provider=provider, resume=tmp_path / "run")
    # Every recorded call came back from the cache in its recorded order: the replay did not
    # diverge, so every candidate the killed run had saved is there again, unchanged.
    assert resumed.provider_stats["replayed_calls"] == len(recorded)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    after = {c["id"]: c for c in state["candidates"]}
    for c in saved["candidates"]:
        assert after[c["id"]]["components"] == c["components"]
        assert after[c["id"]]["parent"] == c["parent"]
    assert CompletionLog(tmp_path / "run" / "completions.log").read()[: len(recorded)] == recorded
    assert state["status"] == "finished"


@pytest.mark.parametrize("cap", ["auto", 4])
def test_resume_extends_a_finished_run_like_a_longer_one(tmp_path, cap):
    short = run(budget=500, run_dir=tmp_path / "r", cap=cap)
    assert short.stop_reason == "budget"
    longer = run(budget=2500, resume=tmp_path / "r", cap=cap)
    fresh = run(budget=2500, cap=cap)
    assert longer.best_candidate == fresh.best_candidate
    assert longer.metric_calls == fresh.metric_calls
    if cap == 4:
        # The same path as far as the short run went: everything it paid for is replayed.
        # ("auto" lets more candidates in flight once the budget affords them, so the longer
        # run parts from the short one early and replays less.)
        assert longer.provider_stats["cache_hits"] >= short.metric_calls


def test_resume_refuses_a_different_run_and_names_the_difference(tmp_path):
    run(budget=300, run_dir=tmp_path / "r")
    with pytest.raises(ValueError, match=r"Config\.cohort_quantile differs \(saved 0\.6, now 0\.7"):
        gl.optimize_sync(
            SEED,
            synthetic_aime(30, seed=4),
            gl.Config(max_metric_calls=300, seed=1, cohort_quantile=0.7),
            time_mode="virtual",
            resume=tmp_path / "r",
        )
    with pytest.raises(ValueError, match="training set differs"):
        gl.optimize_sync(
            SEED,
            synthetic_aime(31, seed=4),
            gl.Config(max_metric_calls=300, seed=1),
            time_mode="virtual",
            resume=tmp_path / "r",
        )
    with pytest.raises(ValueError, match="seed prompt differs"):
        gl.optimize_sync(
            "Another seed.",
            synthetic_aime(30, seed=4),
            gl.Config(max_metric_calls=300, seed=1),
            time_mode="virtual",
            resume=tmp_path / "r",
        )
    with pytest.raises(ValueError, match="already holds a run"):
        run(budget=300, run_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="holds no run"):
        run(budget=300, resume=tmp_path / "empty")
    with pytest.raises(ValueError, match="not both"):
        run(budget=300, run_dir=tmp_path / "a", resume=tmp_path / "r")
    with pytest.raises(ValueError, match="its own cache"):
        run(budget=300, run_dir=tmp_path / "b", cache=tmp_path / "c.sqlite")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"cannot read .* no answer to rebuild .* new run"):
        run(budget=300, resume=tmp_path / "bad")


def test_a_truncated_state_file_is_rebuilt_from_the_cache_and_the_log(tmp_path):
    run(budget=500, run_dir=tmp_path / "r")
    state = tmp_path / "r" / "state.json"
    state.write_text(state.read_text()[:200])  # a write cut short (a full disk, a crash)
    provider = SimProvider()
    with pytest.warns(RuntimeWarning, match=r"cannot read .* rebuilt by replaying the \d+ ans"):
        longer = run(budget=2500, resume=tmp_path / "r", provider=provider)
    fresh = run(budget=2500)
    assert longer.best_candidate == fresh.best_candidate
    assert longer.metric_calls == fresh.metric_calls
    assert longer.provider_stats["cache_hits"] > 0  # the short run's answers, not paid again
    assert sum(provider.stats.calls.values()) < fresh.llm_calls
    assert json.loads(state.read_text())["status"] == "finished"


def test_a_run_directory_can_be_read_while_and_after_the_run(tmp_path):
    res = run(budget=500, run_dir=tmp_path / "r")
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert state["format"] == "gepa_lab.run/1" and state["status"] == "finished"
    assert state["stop_reason"] == "budget"
    assert state["best"]["id"] == res.best_id
    assert state["best"]["components"] == res.best_candidate
    assert len(state["candidates"]) == res.candidates
    assert state["config"]["max_metric_calls"] == 500
    assert not list((tmp_path / "r").glob("*.tmp"))  # atomic writes leave no temporary file


def test_the_replay_gate_keeps_the_recorded_order_and_lets_go_when_the_run_diverges():
    import asyncio

    from gepa_lab.runs.replay import ReplayGate

    async def scenario(order, calls):
        gate = ReplayGate(order)
        finished = []

        async def call(key, delay):
            await asyncio.sleep(delay)
            gate.active += 1
            try:
                index = await gate.turn(key)
                await asyncio.sleep(0.001)
            finally:
                gate.active -= 1
            gate.done(index)
            finished.append(key)

        await asyncio.wait_for(asyncio.gather(*(call(k, d) for k, d in calls)), 5)
        return finished, gate

    # Issued in any order, finished in the recorded one; an unrecorded call goes last.
    done, gate = asyncio.run(
        scenario(["a", "b", "c"], [("x", 0), ("c", 0), ("b", 0.01), ("a", 0.02)])
    )
    assert done == ["a", "b", "c", "x"] and gate.pos == 3 and not gate.abandoned
    # "b" is never asked for: the others cannot wait for it forever.
    done, gate = asyncio.run(scenario(["a", "b", "c"], [("a", 0), ("c", 0), ("d", 0)]))
    assert done[0] == "a" and sorted(done[1:]) == ["c", "d"]
    assert gate.abandoned and gate.pos == 1


# A run in real time that stays busy until it is killed.
HELD_RUN = textwrap.dedent(
    """
    import sys
    import gepa_lab as gl
    from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime

    gl.optimize_sync(
        "You are a helpful assistant. Solve the math problem.",
        synthetic_aime(30, seed=4),
        gl.Config(max_metric_calls=10**6, max_wall_time=600, seed=1),
        provider=SimProvider(time_scale=0.05),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        run_dir=sys.argv[1],
    )
    """
)


def test_a_run_directory_in_use_is_refused_at_once_and_freed_when_its_process_dies(tmp_path):
    import time

    held = tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", HELD_RUN, str(held)])
    try:
        deadline = time.monotonic() + 120
        while not (held / "state.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        for kw in ({"resume": held}, {"run_dir": held}):
            started = time.monotonic()
            with pytest.raises((gl.RunDirBusy, ValueError)) as caught:
                run(budget=200, **kw)
            assert time.monotonic() - started < 1.0
            if "resume" in kw:  # resume= meets the lock; run_dir= first meets the saved run
                assert isinstance(caught.value, gl.RunDirBusy)
                message = str(caught.value)
                assert f"pid {proc.pid}" in message and "one run at a time" in message
        # The same process cannot hold one directory twice either.
        first = gl.runs.run_dir.RunDir(tmp_path / "mine")
        first.path.mkdir()
        first.lock()
        with pytest.raises(gl.RunDirBusy, match="in use by another run"):
            gl.runs.run_dir.RunDir(tmp_path / "mine").lock()
        first.unlock()
        gl.runs.run_dir.RunDir(tmp_path / "mine").lock()  # released: free again
    finally:
        proc.kill()
        proc.wait()
    # Killed: the lock went with the process; the run resumes (and finishes on its budget).
    resumed = run(time_mode="real", budget=60, resume=held)
    assert resumed.stop_reason == "budget"


def test_a_resume_without_its_cache_warns_and_pays_the_lost_answers_at_full_speed(tmp_path):
    import time

    kill_midway(tmp_path / "run", "real", 300, 1500, saved=10)
    recorded = CompletionLog(tmp_path / "run" / "completions.log").read()
    for leftover in (tmp_path / "run").glob("cache.sqlite*"):
        leftover.unlink()
    started = time.monotonic()
    with pytest.warns(RuntimeWarning, match=r"without \d+ of the \d+ answers it recorded"):
        resumed = run("real", 1500, resume=tmp_path / "run")
    took = time.monotonic() - started
    started = time.monotonic()
    run("real", 1500)
    fresh = time.monotonic() - started
    # Calls the cache no longer answers are sent at once and delivered in their recorded
    # turn: the resume takes about a fresh run's time (sent one at a time, when their turn
    # came, they took 20 times as long), and the recorded order is kept.
    assert took < 2 * fresh + 2, (took, fresh)
    assert resumed.stop_reason == "budget" and resumed.warnings[0].startswith("resuming")
    assert resumed.provider_stats["replayed_calls"] == len(recorded)
