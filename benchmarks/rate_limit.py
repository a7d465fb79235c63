"""An optimization against a rate-limited OpenAI-compatible server, over real HTTP in real time.

The simulated server (its own process) enforces ``--rpm`` requests per minute with a token
bucket and answers 429 with Retry-After beyond it. gepa_lab runs with 1,024 evaluations allowed
in flight, far more than the limit sustains, so only its adaptive limiter stands between it and
a flood of 429s. Counted by the server, after the first 30 s: admitted requests per minute as a
share of the limit (target >= 0.95) and the share of requests answered 429 (target <= 0.02).

    python benchmarks/rate_limit.py [--rpm 3000] [--minutes 5] [--concurrency 1024]

The last line printed is one JSON object (the committed one from a 5-minute run is in
``benchmarks/results/rate_limit.json``); results are simulated (the server is the simulated
world) but the client, the HTTP traffic and the clock are real.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import time
import urllib.request

import gepa_lab as gl
from gepa_lab.llm.openai_provider import OpenAIProvider
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, synthetic_aime

WARMUP = 30.0
SEED = "You are a helpful assistant. Solve the math problem."


def server_stats(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/stats", timeout=10) as r:
        return json.load(r)


def admitted(stats: dict) -> int:
    return sum(n for code, n in stats["statuses"].items() if code != "429")


async def run(url: str, base: str, args: argparse.Namespace) -> tuple[dict, dict, gl.RunResult]:
    provider = OpenAIProvider(url, "sim")
    cfg = gl.benchmark_overrides(
        gl.adaptive_config(45, "aggressive", args.concurrency), args.concurrency
    ).replace(target_quality=None, max_metric_calls=None, max_wall_time=args.minutes * 60)
    marks: dict[str, dict] = {}

    async def mark() -> None:
        await asyncio.sleep(WARMUP)
        marks["warm"] = await asyncio.to_thread(server_stats, base)

    marker = asyncio.ensure_future(mark())
    progress = gl.ProgressPrinter(every=30.0)
    try:
        result = await gl.optimize(
            SEED,
            synthetic_aime(45, seed=0),
            cfg,
            provider=provider,
            task_model=TASK_MODEL,
            reflection_model=REFLECTION_MODEL,
            on_progress=progress,
        )
    finally:
        marker.cancel()
        await provider.aclose()
    return marks["warm"], await asyncio.to_thread(server_stats, base), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rpm", type=float, default=3000.0)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=1024)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    if args.minutes * 60 <= 2 * WARMUP:
        ap.error(f"--minutes must be more than {2 * WARMUP / 60:g}")
    cmd = [sys.executable, "-m", "gepa_lab.sim", "serve", "--port", str(args.port)]
    server = subprocess.Popen(
        [*cmd, "--rpm", str(args.rpm)],
        stdout=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        server.stdout.readline()  # the "serving at" line
        started = time.perf_counter()
        warm, end, result = asyncio.run(run(f"{base}/v1", base, args))
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    # The server's clock starts before the run: measure from the 30 s mark to the end.
    span = end["uptime_s"] - warm["uptime_s"]
    ok = admitted(end) - admitted(warm)
    n429 = end["statuses"].get("429", 0) - warm["statuses"].get("429", 0)
    rate = ok / span * 60.0
    print(
        json.dumps(
            {
                "simulated_server": True,
                "rpm_limit": args.rpm,
                "minutes": round(elapsed / 60, 2),
                "concurrency": args.concurrency,
                "admitted_per_min_after_30s": round(rate, 1),
                "share_of_limit_after_30s": round(rate / args.rpm, 4),
                "share_429_after_30s": round(n429 / max(1, ok + n429), 4),
                "requests": end["requests"],
                "failed_calls": result.failed_calls,
                "best_quality": round(result.best_quality, 4)
                if math.isfinite(result.best_quality)
                else None,
                "paced_rate_per_min": round((result.provider_stats["paced_rate"] or 0) * 60, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
