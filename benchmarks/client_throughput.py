"""Client throughput against the simulated OpenAI-compatible server at a fixed 1 s latency.

For each concurrency (calls in flight) and each client: a raw aiohttp client (the ceiling), the
openai SDK with its default httpx transport, and gepa_lab's client as a run uses it: the
``OpenAIProvider`` behind ``Throttled`` (adaptive limiter, retries, usage metering). Reported:
calls/s, Little's-law efficiency = calls/s / (in flight / latency), and client CPU ms per call.
The server runs in its own process, on the same 2 cores, so all clients pay the same server
cost; compare clients within one run, not across machines.

    python benchmarks/client_throughput.py [--conc 64 256 1024 2048] [--rounds 3]

Writes ``benchmarks/results/client_throughput.csv`` and ``.png``; the last line printed is one
JSON object with ``ratio_vs_raw_aiohttp_1024``, ``littles_law_eff_256`` and
``cpu_ms_per_call_1024``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from openai import AsyncOpenAI

from gepa_lab.llm.limiter import AdaptiveLimiter
from gepa_lab.llm.limits import raise_fd_limit
from gepa_lab.llm.openai_provider import OpenAIProvider
from gepa_lab.llm.provider import ChatRequest
from gepa_lab.llm.throttle import Throttled
from gepa_lab.sim import TASK_MODEL
from gepa_lab.sim.server import free_port

LATENCY = 1.0
OUT = Path(__file__).parent / "results"
MESSAGES = (("system", "Solve the problem. End with '### <answer>'."), ("user", "What is 2+2?"))


async def measure(call: Callable[[], Awaitable[object]], conc: int, rounds: int) -> dict:
    """Warm up with ``conc`` calls, then time ``rounds * conc`` calls at ``conc`` in flight."""
    sem = asyncio.Semaphore(conc)

    async def one() -> None:
        async with sem:
            await call()

    await asyncio.gather(*(one() for _ in range(conc)))
    n = rounds * conc
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rate = n / wall
    return {
        "calls": n,
        "calls_per_s": rate,
        "eff": rate / (conc / LATENCY),
        "cpu_ms_per_call": 1000 * cpu / n,
    }


async def run_client(kind: str, url: str, conc: int, rounds: int) -> dict:
    body = {"model": TASK_MODEL, "messages": [{"role": r, "content": c} for r, c in MESSAGES]}
    if kind == "raw_aiohttp":
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as session:

            async def call() -> object:
                async with session.post(f"{url}/chat/completions", json=body) as r:
                    return await r.json()

            return await measure(call, conc, rounds)
    if kind == "openai_sdk_default":
        client = AsyncOpenAI(base_url=url, api_key="k", max_retries=0)

        async def call() -> object:
            return await client.chat.completions.create(**body)

        try:
            return await measure(call, conc, rounds)
        finally:
            await client.close()
    provider = OpenAIProvider(url, "k")
    client = Throttled(provider, AdaptiveLimiter(conc))
    request = ChatRequest(TASK_MODEL, MESSAGES)
    try:
        return await measure(lambda: client.complete(request), conc, rounds)
    finally:
        await provider.aclose()


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for kind in dict.fromkeys(r["client"] for r in rows):
        pts = [(r["in_flight"], r["eff"]) for r in rows if r["client"] == kind]
        ax.plot(*zip(*pts, strict=True), marker="o", label=kind)
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("calls in flight (1 s simulated latency)")
    ax.set_ylabel("Little's-law efficiency")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conc", type=int, nargs="+", default=[64, 256, 1024, 2048])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--clients", nargs="+", default=["raw_aiohttp", "openai_sdk_default", "gepa_lab"]
    )
    args = ap.parse_args()
    raise_fd_limit(8192)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gepa_lab.sim",
            "serve",
            "--port",
            str(port),
            "--latency",
            str(LATENCY),
            str(LATENCY),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    rows = []
    try:
        server.stdout.readline()  # the "serving at" line
        for conc in args.conc:
            for kind in args.clients:
                r = asyncio.run(run_client(kind, url, conc, args.rounds))
                rows.append({"client": kind, "in_flight": conc, **r})
                print(
                    f"{kind:20s} {conc:5d} in flight: {r['calls_per_s']:7.1f} calls/s  "
                    f"eff {r['eff']:.2f}  cpu {r['cpu_ms_per_call']:.2f} ms/call",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=10)
    OUT.mkdir(exist_ok=True)
    with (OUT / "client_throughput.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, OUT / "client_throughput.png")

    def pick(kind: str, conc: int, key: str) -> float | None:
        found = [r[key] for r in rows if r["client"] == kind and r["in_flight"] == conc]
        return round(found[0], 3) if found else None

    raw, ours = pick("raw_aiohttp", 1024, "calls_per_s"), pick("gepa_lab", 1024, "calls_per_s")
    print(
        json.dumps(
            {
                "simulated_server": True,
                "ratio_vs_raw_aiohttp_1024": round(ours / raw, 3) if raw and ours else None,
                "littles_law_eff_256": pick("gepa_lab", 256, "eff"),
                "cpu_ms_per_call_1024": pick("gepa_lab", 1024, "cpu_ms_per_call"),
                "sdk_default_eff_1024": pick("openai_sdk_default", 1024, "eff"),
                "raw_aiohttp_eff_1024": pick("raw_aiohttp", 1024, "eff"),
            }
        )
    )


if __name__ == "__main__":
    main()
