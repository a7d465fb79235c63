"""The simulated world behind a real OpenAI-compatible HTTP server (aiohttp.web).

It lets the real client stack (HTTP client, retries, rate-limit handling) be exercised offline:
``/v1/chat/completions`` and ``/v1/models`` answer like OpenAI's API, with optional request-
and token-per-minute limits (token buckets; 429 with ``Retry-After``) and injected faults
(5xx, timeouts, malformed JSON, truncated bodies). ``/stats`` reports requests, statuses and the
maximum and time-averaged number in flight.

Start it with ``python -m gepa_lab.sim serve --port 8000`` or, from code and tests,
``async with serve(...) as base_url:``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import random
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from ..llm.provider import ChatRequest
from .faults import FaultDraw, Faults
from .provider import MODELS, SimProvider
from .rate_limits import Buckets, RateLimits, charged_tokens

SIM_OWNER = "gepa_lab.sim"  # /v1/models says who serves: clients label such runs simulated


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Rate limits, injected faults (drawn per request from ``seed``) and an optional key."""

    limits: RateLimits = field(default_factory=RateLimits)
    faults: Faults = field(default_factory=Faults)
    api_key: str | None = None  # when set, other keys get 401
    seed: int = 0


@dataclass
class ServerStats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    _area: float = 0.0
    _last: float = field(default_factory=time.monotonic)
    _start: float = field(default_factory=time.monotonic)

    def enter(self) -> None:
        self._tick()
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        self._tick()
        self.in_flight -= 1

    def _tick(self) -> None:
        now = time.monotonic()
        self._area += self.in_flight * (now - self._last)
        self._last = now

    def as_dict(self) -> dict[str, object]:
        self._tick()
        elapsed = self._last - self._start
        return {
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "mean_in_flight": self._area / elapsed if elapsed > 0 else 0.0,
            "uptime_s": elapsed,
        }


class SimServer:
    """``record``: a file that gets a line per chat request, ``<unix time> <status> <model>
    <digest of the body> <fault or ->``, written as it is answered (a killed server loses
    none): what a soak test counts requests answered twice by."""

    def __init__(
        self,
        provider: SimProvider | None = None,
        config: ServerConfig | None = None,
        record: str | os.PathLike[str] | None = None,
    ):
        self.provider = provider or SimProvider()
        self.stats = ServerStats()
        config = config or ServerConfig()
        self._rng = random.Random(config.seed)
        self.reconfigure(config)
        self._record = (
            None if record is None else os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        )
        self.app = web.Application()
        self.app.add_routes(
            [
                web.post("/v1/chat/completions", self._chat),
                web.get("/v1/models", self._models),
                web.get("/stats", self._stats),
            ]
        )

    def reconfigure(self, config: ServerConfig) -> None:
        """Serve from now on with ``config``'s limits (full buckets), faults and key."""
        self.config = config
        self._buckets = Buckets(config.limits, time.monotonic())
        self._draw = FaultDraw(config.faults, config.seed)

    def close(self) -> None:
        if self._record is not None:
            os.close(self._record)
            self._record = None

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        models = [{"id": m, "object": "model", "owned_by": SIM_OWNER} for m in MODELS]
        return web.json_response({"object": "list", "data": models})

    async def _stats(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        return web.json_response(self.stats.as_dict())

    def _auth(self, request: web.Request) -> web.Response | None:
        key = self.config.api_key
        if key is not None and request.headers.get("Authorization") != f"Bearer {key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided.")
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.stats.enter()
        seen = {"model": "-", "fault": "-"}
        try:
            response = await self._answer(request, seen)
        finally:
            self.stats.leave()
        self.stats.statuses[response.status] += 1
        if self._record is not None:
            body = await request.read()  # already read: aiohttp keeps it
            digest = hashlib.blake2b(body, digest_size=12).hexdigest()
            line = f"{time.time():.3f} {response.status} {seen['model']} {digest} {seen['fault']}"
            os.write(self._record, f"{line}\n".encode())
        return response

    async def _answer(self, request: web.Request, seen: dict[str, str]) -> web.StreamResponse:
        """The response; ``seen`` gets the request's model and the fault drawn, if any."""
        if (denied := self._auth(request)) is not None:
            return denied
        try:
            body = await request.json()
            chat = ChatRequest(
                model=str(body["model"]),
                messages=tuple((str(m["role"]), str(m["content"])) for m in body["messages"]),
                temperature=float(body.get("temperature") or 0.0),
                max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
                seed=body.get("seed"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, "invalid_request_error", f"malformed request: {exc}")
        seen["model"] = chat.model
        if chat.model not in MODELS:
            return _error(404, "model_not_found", f"The model `{chat.model}` does not exist.")

        tokens = charged_tokens(chat.messages, chat.max_tokens)
        wait = self._buckets.admit(time.monotonic(), tokens)
        if wait > 0:
            resp = _error(429, "rate_limit_exceeded", "Rate limit reached, retry later.")
            resp.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            resp.headers["retry-after-ms"] = str(math.ceil(wait * 1000))
            return resp

        fault = self._draw()
        if fault is not None:
            self.stats.faults[fault] += 1
            seen["fault"] = fault
        if fault == "5xx":
            return _error(self._rng.choice((500, 502, 503)), "server_error", "simulated fault")
        if fault == "timeout":
            await asyncio.sleep(self.config.faults.timeout_seconds)
            return _error(504, "timeout", "simulated timeout")
        answer = await self.provider.complete(chat)
        payload = json.dumps(
            _completion(chat, answer.text, answer.prompt_tokens, answer.completion_tokens)
        )
        if fault == "malformed":
            payload = "{'choices': [oops" + payload[:20]
        elif fault == "truncated":
            payload = payload[: len(payload) // 2]
        return web.Response(text=payload, content_type="application/json")


def _completion(chat: ChatRequest, text: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "id": f"chatcmpl-sim-{random.getrandbits(48):012x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"message": message, "type": code, "code": code}}
    return web.json_response(body, status=status)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on at the moment of asking, for servers started in a subprocess
    (in process, ``serve(port=0)`` binds a free port without a race)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def serve(
    server: SimServer | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Run ``server`` on ``host:port`` (0 = a free port) and yield its ``/v1`` base URL."""
    server = server or SimServer()
    runner = web.AppRunner(server.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = runner.addresses[0][1]
    try:
        yield f"http://{host}:{bound}/v1"
    finally:
        await runner.cleanup()
        server.close()
