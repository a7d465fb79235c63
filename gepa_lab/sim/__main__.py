"""``python -m gepa_lab.sim serve``: the simulated world as an OpenAI-compatible server."""

from __future__ import annotations

import argparse
import asyncio

from .faults import Faults
from .latency import Latency
from .provider import REFLECTION_MODES, SimProvider
from .rate_limits import RateLimits
from .schedule import Phase, follow, parse
from .server import ServerConfig, SimServer, serve
from .task_model import LANDSCAPES


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m gepa_lab.sim", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve /v1/chat/completions, /v1/models and /stats")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--rpm", type=float, default=None, help="requests per minute (429 beyond)")
    s.add_argument("--tpm", type=float, default=None, help="tokens per minute (429 beyond)")
    s.add_argument(
        "--burst-seconds", type=float, default=1.0, help="rate-limit buckets hold this long"
    )
    s.add_argument("--p-5xx", type=float, default=0.0)
    s.add_argument("--p-timeout", type=float, default=0.0)
    s.add_argument("--p-malformed", type=float, default=0.0)
    s.add_argument("--p-truncated", type=float, default=0.0)
    s.add_argument(
        "--latency",
        type=float,
        nargs=2,
        default=(1.0, 3.0),
        metavar=("LOW", "HIGH"),
        help="task-call latency range in seconds",
    )
    s.add_argument("--time-scale", type=float, default=1.0, help="multiply every latency")
    s.add_argument("--api-key", default=None, help="require this key (401 otherwise)")
    s.add_argument(
        "--reflection",
        choices=REFLECTION_MODES,
        default="stochastic",
        help="deterministic: an identical reflection request gets an identical reply "
        "(temperature 0, a caching proxy); weak and strong reflect worse and better",
    )
    s.add_argument(
        "--landscape",
        choices=tuple(LANDSCAPES),
        default="skills",
        help="noisy: scores depend mostly on the instruction's exact wording",
    )
    s.add_argument(
        "--schedule",
        default=None,
        help="phases that change faults, limits or the key on cue: a JSON list like "
        '\'[{"at": 10, "for": 8, "p_5xx": 0.3}]\' or a file holding one (gepa_lab/sim/schedule.py)',
    )
    s.add_argument(
        "--record",
        default=None,
        metavar="PATH",
        help="append a line per chat request to PATH: time, status, model, digest of the body",
    )
    args = ap.parse_args(argv)
    try:
        phases = parse(args.schedule) if args.schedule is not None else []
        config = ServerConfig(
            RateLimits(args.rpm, args.tpm, args.burst_seconds),
            Faults(args.p_5xx, args.p_timeout, args.p_malformed, args.p_truncated),
            api_key=args.api_key,
        )
        provider = SimProvider(
            Latency("uniform", *args.latency),
            time_scale=args.time_scale,
            reflection=args.reflection,
            landscape=args.landscape,
        )
    except ValueError as exc:
        ap.error(str(exc))
    server = SimServer(provider, config, record=args.record)
    asyncio.run(_serve_forever(server, args.host, args.port, phases))


async def _serve_forever(server: SimServer, host: str, port: int, phases: list[Phase]) -> None:
    async with serve(server, host, port) as url:
        print(f"simulated world (SIMULATED answers) at {url}  (Ctrl-C to stop)", flush=True)
        if phases:
            await follow(server.config, phases, server.reconfigure)
        await asyncio.Event().wait()


if __name__ == "__main__":
    main()
