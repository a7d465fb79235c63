"""How much the orchestrator itself costs: the engine driving the in-process simulated provider
(no HTTP) at 1 s mean latency, in real time, at 64 to 2,048 evaluations in flight.

Latencies are uniform on 0.5-1.5 s: with one fixed latency every call launched together would
finish together, and a measuring window would count whole waves of completions.

Per concurrency C, after a warm-up (the ladder needs mutations before it can fill C slots):

* efficiency = evaluations/s / (C / latency), Little's law's ideal;
* utilization = mean task calls in flight / C (sampled every 250 ms);
* starved = share of samples in which slots were free and no evaluation was queued, i.e. the
  evaluators waited for mutations;
* CPU us per evaluation of orchestration: process CPU per evaluation (median over 2 s
  windows) minus what the same provider calls cost when a bare loop keeps as many in flight
  (one task per call, as the engine has). The provider's own cost is most of the total (about
  300 of 400 us at 64 in flight, where the event loop wakes for nearly every call), and a
  shared machine moves it by a fifth from one run to the next: so the engine and the bare
  loop run at the same time, in two processes, and each concurrency repeats such a pair
  ``--repeats`` times and reports the medians, with the range of the differences.

Then a long run (virtual clock, in a subprocess) to 50,000 candidates: its peak RSS at 10,000
and at the end, and the real time per 1,000 candidates in the last thousand over the second
(the first is the queue filling with the seed's children). Neither should grow with the run:
a run keeps what reflection needs of each evaluation, and its front and parent pool are kept
up to date instead of rescanned. ``python benchmarks/orchestrator.py [--conc 64 256 1024
2048] [--seconds 12] [--repeats 5] [--candidates 50000]``; the last line printed is one JSON
object with ``eff_2048``, ``eff_256``, ``cpu_us_per_eval`` (the highest median over the
concurrencies), ``utilization``, ``peak_rss_mb_10k_candidates``,
``peak_rss_mb_50k_candidates``, ``time_per_1k_last_over_first`` and
``time_per_1k_last5_over_first5`` (means of five thousands: one alone is noisy). Simulated
provider, real clock and CPU (about 20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import statistics
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gepa_lab as gl
from gepa_lab.adapter import LLMAdapter
from gepa_lab.engine.pipeline import Pipeline
from gepa_lab.llm.limits import raise_fd_limit
from gepa_lab.llm.provider import ChatRequest
from gepa_lab.llm.throttle import Throttled
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, Latency, SimProvider, synthetic_aime

LATENCY = 1.0
N_EXAMPLES = 300
SAMPLE_EVERY = 0.25  # seconds; sampling itself costs CPU, which is charged to the engine
WINDOW_SAMPLES = 8  # samples per CPU-measuring window (2 s)
SEED = "You are a helpful assistant. Solve the math problem."
OUT = Path(__file__).parent / "results"


def provider() -> SimProvider:
    spread = Latency("uniform", 0.5 * LATENCY, 1.5 * LATENCY)
    return SimProvider(spread, spread)


class CpuWindows:
    """Process CPU per finished item, one reading per window. A shared machine makes single
    readings jumpy, and the median of several is what is reported; the engine and the bare
    loop are measured by this same code, so their difference is like for like."""

    def __init__(self, finished: int) -> None:
        self.cpu, self.finished, self.readings = time.process_time(), finished, []

    def close(self, finished: int) -> None:
        """End the current window at ``finished`` items and start the next."""
        cpu = time.process_time()
        self.readings.append((cpu - self.cpu) / max(finished - self.finished, 1))
        self.cpu, self.finished = cpu, finished

    def median_us(self, finished: int) -> float:
        """The median reading, in microseconds; one reading over everything if the measured
        stretch was shorter than a window."""
        if not self.readings:
            self.close(finished)
        return 1e6 * statistics.median(self.readings)


async def measure_engine(conc: int, seconds: float, warmup: float) -> dict:
    sim = provider()
    cfg = gl.benchmark_overrides(gl.adaptive_config(N_EXAMPLES, "aggressive", conc), conc)
    cfg = cfg.replace(target_quality=None, max_metric_calls=None, max_wall_time=seconds)
    adapter = LLMAdapter(Throttled.for_config(sim, cfg), TASK_MODEL, REFLECTION_MODEL)
    pipe = Pipeline(adapter, synthetic_aime(N_EXAMPLES, seed=0), cfg)
    run = asyncio.ensure_future(pipe.run([{"instruction": SEED}]))
    await asyncio.sleep(warmup)
    calls0, refl0 = pipe.finished_calls, pipe.reflections
    sampled0 = sim.stats.latency_seconds.get(TASK_MODEL, 0.0), sim.stats.calls.get(TASK_MODEL, 0)
    t0 = time.perf_counter()
    samples = starved = 0
    in_flight_sum = 0
    windows = CpuWindows(pipe.finished_calls)
    while not run.done() and time.perf_counter() - t0 < seconds - warmup - 0.5:
        await asyncio.sleep(SAMPLE_EVERY)
        samples += 1
        in_flight_sum += pipe.in_flight
        starved += pipe.in_flight < conc and not pipe.queue
        if samples % WINDOW_SAMPLES == 0:
            windows.close(pipe.finished_calls)
    wall, cpu_us = time.perf_counter() - t0, windows.median_us(pipe.finished_calls)
    evals, reflections = pipe.finished_calls - calls0, pipe.reflections - refl0
    latency = (sim.stats.latency_seconds[TASK_MODEL] - sampled0[0]) / (
        sim.stats.calls[TASK_MODEL] - sampled0[1]
    )
    result = await run
    return {
        "in_flight": conc,
        "evals_per_s": evals / wall,
        "eff": evals / wall / (conc / latency),
        "mean_latency_s": latency,
        "utilization": in_flight_sum / max(samples, 1) / conc,
        "starved": starved / max(samples, 1),
        "cpu_us_per_eval_total": cpu_us,
        "evals": evals,
        "reflections": reflections,
        "candidates": result.candidates,
    }


async def measure_provider(conc: int, seconds: float, warmup: float) -> dict:
    """CPU per task call of the provider alone, ``conc`` calls kept in flight by a bare loop
    (one task per call, as the engine has), measured like the engine: median over windows."""
    sim = provider()
    problems = synthetic_aime(N_EXAMPLES, seed=0)
    done = 0
    stop = False

    async def worker(k: int) -> None:
        nonlocal done
        i = k
        while not stop:
            problem = problems[i % N_EXAMPLES].problem
            messages = (("system", f"{SEED} ({i % 97})"), ("user", problem))
            await asyncio.ensure_future(sim.complete(ChatRequest(TASK_MODEL, messages)))
            done += 1
            i += conc

    workers = [asyncio.ensure_future(worker(k)) for k in range(conc)]
    await asyncio.sleep(warmup)
    t0 = time.perf_counter()
    windows = CpuWindows(done)
    while time.perf_counter() - t0 < seconds - warmup - 0.5:
        await asyncio.sleep(SAMPLE_EVERY * WINDOW_SAMPLES)
        windows.close(done)
    cpu_us = windows.median_us(done)
    stop = True
    await asyncio.gather(*workers)
    return {"cpu_us_per_call": cpu_us}


def _measure(kind: str, conc: int, seconds: float, warmup: float) -> dict:
    """One measurement in a process of its own (see main)."""
    raise_fd_limit(8192)
    measure = measure_engine if kind == "engine" else measure_provider
    return asyncio.run(measure(conc, seconds, warmup))


# A long run on the virtual clock, in a subprocess: at each thousand candidates, the real
# time so far and the peak RSS so far; the run stops at ``sys.argv[1]`` candidates.
MEMORY = textwrap.dedent(
    """
    import json, resource, sys, time
    import gepa_lab as gl
    from gepa_lab.sim import synthetic_aime

    class Enough(Exception):
        pass

    last = int(sys.argv[1])
    marks = []
    start = time.perf_counter()

    def mark(p):
        if p["candidates"] >= 1000 * (len(marks) + 1):
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            marks.append((p["candidates"], time.perf_counter() - start, rss))
            print(json.dumps(marks[-1]), flush=True)
        if p["candidates"] >= last:
            raise Enough

    cfg = gl.benchmark_overrides(gl.adaptive_config(300, "aggressive", 2048), 2048)
    cfg = cfg.replace(target_quality=None, max_metric_calls=None, max_wall_time=1e9)
    try:
        gl.optimize_sync("You are a helpful assistant. Solve the math problem.",
                         synthetic_aime(300, seed=0), cfg, time_mode="virtual",
                         on_progress=mark)
    except Enough:
        pass
    """
)


def long_run(candidates: int) -> list[tuple[int, float, float]]:
    """(candidates, real seconds, peak RSS in MB) at each thousand candidates of a long run."""
    proc = subprocess.Popen(
        [sys.executable, "-c", MEMORY, str(candidates)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    marks = []
    for line in proc.stdout:
        marks.append(tuple(json.loads(line)))
        n, seconds, rss = marks[-1]
        if n // 1000 % 5 == 0:
            print(f"  {n:6d} candidates: {seconds:6.0f} s, peak RSS {rss:.0f} MB", flush=True)
    if proc.wait() != 0 or not marks:
        raise SystemExit(f"the long run failed (exit code {proc.returncode})")
    return marks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conc", type=int, nargs="+", default=[64, 256, 1024, 2048])
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument(
        "--repeats", type=int, default=5, help="(engine, provider) pairs per concurrency"
    )
    ap.add_argument(
        "--candidates", type=int, default=50_000, help="length of the long run (memory, pace)"
    )
    args = ap.parse_args()
    rows = []
    # The engine and the bare loop run side by side, in two processes over the same seconds,
    # so what the shared machine does to one it does to the other.
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for conc in args.conc:
            pairs = []
            for _ in range(args.repeats):
                timing = (conc, args.seconds, args.warmup)
                engine = pool.submit(_measure, "engine", *timing)
                bare = pool.submit(_measure, "provider", *timing)
                row, task_us = engine.result(), bare.result()["cpu_us_per_call"]
                # Reflections cost the provider about what a task call does.
                calls_per_eval = 1 + row["reflections"] / max(row["evals"], 1)
                row["cpu_us_per_eval"] = row["cpu_us_per_eval_total"] - task_us * calls_per_eval
                pairs.append(row)
            row = {"in_flight": conc} | {
                key: statistics.median(p[key] for p in pairs)
                for key in pairs[0]
                if key not in ("in_flight", "candidates")
            }
            orchestration = sorted(p["cpu_us_per_eval"] for p in pairs)
            row["cpu_us_per_eval_range"] = (orchestration[0], orchestration[-1])
            rows.append(row)
            print(
                f"{conc:5d} in flight: {row['evals_per_s']:7.1f} evals/s  eff {row['eff']:.3f}  "
                f"util {row['utilization']:.3f}  starved {row['starved']:.3f}  "
                f"cpu {row['cpu_us_per_eval_total']:.0f} us/eval, of which orchestration "
                f"{row['cpu_us_per_eval']:.0f} (range {orchestration[0]:.0f} to "
                f"{orchestration[-1]:.0f} over {len(pairs)} pairs; medians)",
                flush=True,
            )
    print(f"a run to {args.candidates:,} candidates (virtual clock, real CPU):", flush=True)
    marks = long_run(args.candidates)
    rss_10k = next(rss for n, _, rss in marks if n >= min(10_000, marks[-1][0]))
    # Real seconds per thousand candidates. The first thousand is the queue filling with
    # children of the seed before any is evaluated (about 2 s): the steady pace starts after.
    # One thousand takes 10-18 s on a shared machine: the mean of five against five says
    # more about growth than one against one.
    per_1k = [b[1] - a[1] for a, b in itertools.pairwise(marks)]
    growth = per_1k[-1] / per_1k[0]
    growth5 = statistics.mean(per_1k[-5:]) / statistics.mean(per_1k[:5])
    print(
        f"peak RSS: {rss_10k:.0f} MB at 10,000 candidates, {marks[-1][2]:.0f} MB at "
        f"{marks[-1][0]:,}; real time per 1,000 candidates: {per_1k[0]:.1f} s for the second "
        f"thousand, {per_1k[-1]:.1f} s for the last ({growth:.2f}x; the last five over the "
        f"second to sixth {growth5:.2f}x)",
        flush=True,
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "orchestrator.json").write_text(json.dumps(rows, indent=1))

    def pick(conc: int, key: str) -> float | None:
        found = [r[key] for r in rows if r["in_flight"] == conc]
        return round(found[0], 4) if found else None

    print(
        json.dumps(
            {
                "simulated_provider": True,
                "eff_2048": pick(2048, "eff"),
                "eff_256": pick(256, "eff"),
                "cpu_us_per_eval": round(max(r["cpu_us_per_eval"] for r in rows), 1),
                "utilization": round(min(r["utilization"] for r in rows), 4),
                "starved_max": round(max(r["starved"] for r in rows), 4),
                "peak_rss_mb_10k_candidates": round(rss_10k, 1),
                "peak_rss_mb_50k_candidates": round(marks[-1][2], 1),
                "time_per_1k_last_over_first": round(growth, 3),
                "time_per_1k_last5_over_first5": round(growth5, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
