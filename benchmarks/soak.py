"""Soak: one run, in real time, against the simulated server in its own process, through the bad
moments an endpoint has, to check that it fails safe (issue 16).

The server (``python -m gepa_lab.sim serve``, loopback, with a key) follows a schedule, and the
run is a subprocess of this script, so both can be killed -9. In order, seconds of real time
after the server started:

1. a 5xx burst (30% of requests, 8-14 s), a 429 storm (10 requests/s allowed, 20-26 s), bad
   bodies (10% malformed JSON and 10% cut in half, 32-38 s);
2. at 45 s the server is killed, and started again on the same port 15 s later;
3. 10 s after that the run is killed and resumed at once;
4. the key is revoked (401) 25 s after the restart, for 15 s: the run must stop within 5 s
   after at most 10 rejected calls; it is resumed once the key is back;
5. 10 s later the server is killed for good: the run must stop within 60 s, sending at most
   2 failed requests per second after the first 10 s; the server is started again and the
   run resumed to the end of its budget.

Reported: evaluations finished and failed, the requests answered successfully twice (the
server records every request: a kill -9 of the run loses the answers still in flight and those
not yet written to its cache), evaluations lost (completions a resume found recorded in the
run's log without their answer in the cache: paid again), the peak rate of failed requests,
the outage's detection (the breaker opening) and recovery (closing) times, and:

* ``scores_wrong``: every score in the final state, recomputed in process (the simulated world
  answers identically in process and over HTTP): a failed call scored as a wrong answer, or a
  score from another candidate, would show here;
* ``resumed_ok``: the soaked run finished its budget with no score wrong and a best whose score
  re-scored is what it reports; and the same run on the virtual clock, killed -9 twice and
  resumed, ends with the best of the undisturbed run on the virtual clock, text for text. (The
  real-time run takes another path than the virtual one: the completion order depends on
  timing, and the throttle slows down while the endpoint pushes back; so its best is compared
  with the undisturbed one, not asserted equal.)

``python benchmarks/soak.py [--out DIR]`` (about 5 minutes); the last line printed is one JSON
object. Simulated endpoint, real time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gepa_lab as gl
from gepa_lab.adapter import LLMAdapter
from gepa_lab.engine.candidate import Candidate
from gepa_lab.llm.breaker import Breaker
from gepa_lab.llm.throttle import Throttled
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime
from gepa_lab.sim.process import SimServerProcess
from gepa_lab.sim.server import free_port

SEED = "You are a helpful assistant. Solve the math problem."
TRAIN = synthetic_aime(60, seed=11)
CONFIG = gl.Config(max_metric_calls=20000, seed=3, eval_concurrency=32)
KEY = "soak-key"
TIME_SCALE = 0.1  # task calls take 0.1-0.3 s: about 100 evaluations a second at 32 in flight
FIRST = [  # the first server's schedule
    {"at": 8, "for": 6, "p_5xx": 0.3},
    {"at": 20, "for": 6, "rpm": 600},
    {"at": 32, "for": 6, "p_malformed": 0.1, "p_truncated": 0.1},
]
KILL_SERVER_AT, DOWN_FOR = 45.0, 15.0  # seconds after the first server started
KILL_RUN_AFTER = 10.0  # seconds after the restart
REVOKE_AT, REVOKED_FOR = 25.0, 15.0  # seconds after the restart
KILL_FOR_GOOD_AFTER = 10.0  # seconds after the key is back


# ---------------------------------------------------------------- the run, in a subprocess
def runner(run_dir: str, url: str, events: str, resume: bool) -> int:
    """One attempt at the run; every request's outcome and the breaker's changes go to
    ``events`` as they happen (a kill -9 loses none). 0: finished; 3: the endpoint cannot
    serve the run (it stopped, its state saved)."""
    fd = os.open(events, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def note(kind: str, detail: object = "") -> None:
        os.write(fd, f"{time.time():.3f} {kind} {detail}\n".encode())

    class Recorded(gl.OpenAIProvider):
        async def complete(self, request):
            try:
                response = await super().complete(request)
            except Exception as exc:
                note("fail", getattr(exc, "status", None) or type(exc).__name__)
                raise
            note("ok", request.purpose)
            return response

    async def watch(breaker: Breaker) -> None:
        opened = False
        while True:
            if (breaker.opened_at is not None) != opened:
                opened = not opened
                note("open" if opened else "closed")
            await asyncio.sleep(0.02)

    async def main() -> int:
        provider = Recorded(url, KEY, timeout=10.0)
        throttled = Throttled.for_config(provider, CONFIG)
        adapter = LLMAdapter(throttled, TASK_MODEL, REFLECTION_MODEL)
        watcher = asyncio.ensure_future(watch(throttled.breaker))
        where = {"resume": run_dir} if resume else {"run_dir": run_dir}
        note("start", "resume" if resume else "new")
        try:
            res = await gl.optimize(SEED, TRAIN, CONFIG, adapter=adapter, **where)
        except gl.ProviderUnavailable as exc:
            note("stopped", str(exc).replace("\n", " "))
            return 3
        finally:
            watcher.cancel()
            await provider.aclose()
        best = {"components": res.best_candidate, "quality": res.best_quality}
        note("finished", json.dumps({"stop_reason": res.stop_reason, "best": best}))
        return 0

    return asyncio.run(main())


def virtual_runner(run_dir: str, resume: bool) -> None:
    """The run on the virtual clock, in a run directory; prints its best as JSON."""
    where = {"resume": run_dir} if resume else {"run_dir": run_dir}
    res = run_virtual(**where)
    print(json.dumps({"components": res.best_candidate, "quality": res.best_quality}))


def run_virtual(**kw: Any) -> gl.RunResult:
    return gl.optimize_sync(
        SEED,
        TRAIN,
        CONFIG,
        provider=SimProvider(),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
        **kw,
    )


# ---------------------------------------------------------------- the soak
class Soak:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.run_dir = out / "run"
        self.events = out / "events.log"
        self.record = out / "server.log"
        self.port = free_port()
        self.server: SimServerProcess | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.moments: dict[str, float] = {}
        self.lost = 0
        self.exits: list[tuple[int, float]] = []  # (exit code, time) of each run attempt

    def start_server(self, schedule: list[dict] | None = None) -> float:
        args = ["--api-key", KEY, "--record", str(self.record)]
        if schedule:
            args += ["--schedule", json.dumps(schedule)]
        self.server = SimServerProcess(TIME_SCALE, args, port=self.port)
        self.server.__enter__()
        return time.time()

    def kill_server(self) -> float:
        assert self.server is not None
        self.server.stop(kill=True)
        return time.time()

    def start_run(self) -> None:
        resume = self.run_dir.exists()
        if resume:
            self.lost += lost_answers(self.run_dir)
        cmd = [sys.executable, __file__, "--runner", str(self.run_dir), self.server_url]
        cmd += [str(self.events), *(["--resume"] if resume else [])]
        with (self.out / "runner.log").open("a") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def wait_run(self, timeout: float) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self.exits.append((code, time.time()))
        return code

    def until(self, moment: float, what: str) -> None:
        """Sleep until ``moment`` (unix time); the run must still be going at it."""
        time.sleep(max(0.0, moment - time.time()))
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise SystemExit(f"soak: the run ended (exit {self.proc.returncode}) before {what}")
        self.moments[what] = time.time()

    def run(self) -> None:
        t0 = self.start_server(FIRST)
        self.moments["server_started"] = t0
        self.start_run()
        self.until(t0 + KILL_SERVER_AT, "server_killed")
        self.kill_server()
        time.sleep(DOWN_FOR)
        revoke = [{"at": REVOKE_AT, "for": REVOKED_FOR, "api_key": "revoked"}]
        up = self.moments["server_restarted"] = self.start_server(revoke)
        self.until(up + KILL_RUN_AFTER, "run_killed")
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.wait_run(10)
        self.start_run()
        self.moments["key_revoked"] = up + REVOKE_AT
        if self.wait_run(REVOKE_AT + 30) != 3:
            raise SystemExit("soak: the run did not stop on the revoked key")
        time.sleep(max(0.0, up + REVOKE_AT + REVOKED_FOR - time.time()))
        self.moments["key_restored"] = time.time()
        self.start_run()
        self.until(self.moments["key_restored"] + KILL_FOR_GOOD_AFTER, "server_killed_for_good")
        self.kill_server()
        if self.wait_run(120) != 3:
            raise SystemExit("soak: the run did not stop when the server died for good")
        self.moments["server_back"] = self.start_server()
        self.start_run()
        if self.wait_run(900) != 0:
            raise SystemExit(f"soak: the last resume failed: see {self.out / 'runner.log'}")
        assert self.server is not None
        self.server.stop()


def lost_answers(run_dir: Path) -> int:
    """Completions the run's log records whose answers its cache lacks: a resume pays them
    again (and a model that samples may answer them otherwise)."""
    keys = [k for k in (run_dir / "completions.log").read_text().split() if len(k) == 64]
    db = sqlite3.connect(f"file:{run_dir / 'cache.sqlite'}?mode=ro", uri=True)
    try:
        cached = {k for (k,) in db.execute("SELECT key FROM answers")}
    finally:
        db.close()
    return len(set(keys) - cached)


def read_events(path: Path) -> list[tuple[float, str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        t, kind, *rest = line.split(" ", 2)
        rows.append((float(t), kind, rest[0] if rest else ""))
    return rows


def audit(run_dir: Path) -> tuple[int, int]:
    """Every score of the final state recomputed in process: (scores checked, wrong)."""
    state = json.loads((run_dir / "state.json").read_text())
    from gepa_lab.engine.pipeline import Pipeline

    order = Pipeline(None, TRAIN, CONFIG).examples  # type: ignore[arg-type]
    adapter = LLMAdapter(SimProvider(time_scale=0), TASK_MODEL, REFLECTION_MODEL)

    async def check(comps: dict[str, str], pos: int, saved: float) -> bool:
        trace = await adapter.evaluate(Candidate(-1, comps), order[pos])
        return abs(trace.score - saved) > 1e-9

    async def main() -> tuple[int, int]:
        jobs = [
            check(c["components"], int(p), s)
            for c in state["candidates"]
            for p, s in c["scores"].items()
        ]
        wrong = await asyncio.gather(*jobs)
        return len(jobs), sum(wrong)

    return asyncio.run(main())


def killed_twice_on_the_virtual_clock(out: Path) -> tuple[bool, dict]:
    """The run on the virtual clock killed -9 twice (once its log has grown) and resumed:
    whether it ends with the undisturbed run's best, text for text."""
    undisturbed = run_virtual()
    run_dir = out / "virtual"
    log = run_dir / "completions.log"
    cmd = [sys.executable, __file__, "--virtual-runner", str(run_dir)]
    seen = lost = 0
    for _ in range(2):
        if run_dir.exists():
            lost += lost_answers(run_dir)
        proc = subprocess.Popen(
            cmd + (["--resume"] if run_dir.exists() else []), stdout=subprocess.DEVNULL
        )
        while proc.poll() is None and (not log.exists() or log.stat().st_size <= seen):
            time.sleep(0.01)
        if proc.poll() is not None:
            raise SystemExit("soak: the virtual run ended before it could be killed")
        seen = log.stat().st_size
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    lost += lost_answers(run_dir)
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, check=True)
    final = json.loads(done.stdout.strip().splitlines()[-1])
    same = final == {
        "components": undisturbed.best_candidate,
        "quality": undisturbed.best_quality,
    }
    return same, {"lost": lost, "undisturbed_best": undisturbed.best_quality}


def per_second(times: list[float]) -> Counter[int]:
    return Counter(int(t) for t in times)


def summarize(soak: Soak, virtual_same: bool, virtual: dict) -> dict:
    events = read_events(soak.events)
    m = soak.moments
    failed = [t for t, kind, _ in events if kind == "fail"]
    statuses = Counter(d for _, kind, d in events if kind == "fail")

    def first_after(kind: str, t0: float) -> float | None:
        return min((t for t, k, _ in events if k == kind and t >= t0), default=None)

    opened = first_after("open", m["server_killed"])
    closed = first_after("closed", m["server_restarted"])
    dead_from = m["server_killed_for_good"]
    dead_stop = soak.exits[-2][1]
    dead_late = [t for t in failed if dead_from + 10 <= t <= dead_stop]
    revoked_stop = soak.exits[1][1]
    rejected = [
        t
        for t, kind, d in events
        if kind == "fail" and d == "401" and m["key_revoked"] <= t <= revoked_stop
    ]
    finished = json.loads(next(d for t, k, d in reversed(events) if k == "finished"))

    # The server's record: answered twice = the same body answered 200 with no fault again.
    answered: Counter[str] = Counter()
    for line in soak.record.read_text().splitlines():
        _, status, _, digest, fault = line.split()
        if status == "200" and fault == "-":
            answered[digest] += 1
    duplicated = sum(n - 1 for n in answered.values() if n > 1)

    checked, wrong = audit(soak.run_dir)
    best = finished["best"]
    rescored = asyncio.run(
        gl.score_prompt(
            best["components"],
            TRAIN,
            provider=SimProvider(),
            task_model=TASK_MODEL,
            time_mode="virtual",
        )
    )
    soaked_ok = (
        finished["stop_reason"] == "budget"
        and wrong == 0
        and abs(rescored - best["quality"]) < 1e-9
    )
    return {
        "simulated": True,
        "evaluations_finished": checked,
        "requests_answered": sum(answered.values()),
        "requests_failed": len(failed),
        "failed_by_status": dict(statuses.most_common()),
        "evaluations_lost": soak.lost + virtual["lost"],
        "evaluations_duplicated": duplicated,
        "peak_failed_requests_per_s": max(per_second(failed).values(), default=0),
        "outage_detected_s": None if opened is None else round(opened - m["server_killed"], 2),
        "outage_recovered_s": None if closed is None else round(closed - m["server_restarted"], 2),
        "revoked_key_stop_s": round(revoked_stop - m["key_revoked"], 2),
        "revoked_key_rejected_calls": len(rejected),
        "dead_endpoint_stop_s": round(dead_stop - dead_from, 2),
        "dead_endpoint_failed_per_s_after_10s": max(per_second(dead_late).values(), default=0),
        "scores_checked": checked,
        "scores_wrong": wrong,
        "best_quality": best["quality"],
        "best_rescored": rescored,
        "undisturbed_virtual_best": virtual["undisturbed_best"],
        "virtual_kill_resume_same_best": virtual_same,
        "resumed_ok": soaked_ok and virtual_same,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="keep the run, logs and records here")
    ap.add_argument(
        "--runner", nargs=3, metavar=("RUN_DIR", "URL", "EVENTS"), help=argparse.SUPPRESS
    )
    ap.add_argument("--virtual-runner", metavar="RUN_DIR", help=argparse.SUPPRESS)
    ap.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.runner:
        sys.exit(runner(*args.runner, resume=args.resume))
    if args.virtual_runner:
        virtual_runner(args.virtual_runner, args.resume)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="gepa_lab_soak_"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    virtual_same, virtual = killed_twice_on_the_virtual_clock(out)
    print(f"virtual clock, killed -9 twice and resumed: same best as undisturbed: {virtual_same}")
    soak = Soak(out)
    try:
        soak.run()
    finally:
        if soak.proc is not None and soak.proc.poll() is None:
            soak.proc.kill()
        if soak.server is not None:
            soak.server.stop(kill=True)
    summary = summarize(soak, virtual_same, virtual)
    summary["seconds"] = round(time.time() - started)
    for key, value in summary.items():
        print(f"{key:>40}: {value}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
