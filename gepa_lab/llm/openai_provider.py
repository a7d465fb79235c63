"""A :class:`~gepa_lab.llm.provider.Provider` for any OpenAI-compatible endpoint.

The ``openai`` SDK configures the client: base URL and key resolution (``OPENAI_BASE_URL``,
``OPENAI_API_KEY``, organisation and project headers), the request headers, and the start-up
probe, which classifies setup errors with the SDK's own exceptions. Chat completions, the hot
path, are posted with those same headers straight over one pooled ``aiohttp`` session: measured
on this kind of machine (``benchmarks/client_throughput.py``), the SDK's ``create`` costs about
1.3 ms of CPU per call (most of it validating the request against its typed schema), which caps
a 2-core client near half the throughput of plain aiohttp at 1,024 calls in flight.

Retries and rate limiting are not done here but by :class:`~gepa_lab.llm.throttle.Throttled`, so
every provider gets the same policy. The key is never logged or stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping, Sequence

import aiohttp
import openai
from openai import AsyncOpenAI

from ..sim.server import SIM_OWNER
from .limits import raise_fd_limit
from .provider import (
    ChatRequest,
    ChatResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    TransientError,
)

# Named endpoints: base URL and the environment variable holding the key (None = no key needed).
PROFILES: dict[str, tuple[str, str | None]] = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "vllm": ("http://127.0.0.1:8000/v1", None),
    "llama.cpp": ("http://127.0.0.1:8080/v1", None),
    "ollama": ("http://127.0.0.1:11434/v1", None),
    "sim": ("http://127.0.0.1:8000/v1", None),  # python -m gepa_lab.sim serve
}


class OpenAIProvider:
    """Chat completions against ``base_url`` (default: ``OPENAI_BASE_URL`` or OpenAI).

    ``timeout`` bounds each call in seconds. ``max_connections`` sizes the connection pool; it
    should be at least the run's ``eval_concurrency``, or calls queue inside the client where
    the optimizer cannot see them.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_connections: int = 4096,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"OpenAIProvider.timeout={timeout!r} is invalid: must be > 0")
        if max_connections < 1:
            raise ValueError(
                f"OpenAIProvider.max_connections={max_connections!r} is invalid: must be >= 1"
            )
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if base_url is None:
                raise ValueError("no API key: set OPENAI_API_KEY or pass api_key=...")
            key = "no-key"  # local servers (vLLM, llama.cpp, the simulated world) ignore it
        self.client = AsyncOpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=0)
        self.base_url = str(self.client.base_url).rstrip("/")
        self.timeout = timeout
        self.max_connections = max_connections
        self._url = f"{self.base_url}/chat/completions"
        headers = {**self.client.default_headers, **self.client.auth_headers}
        self._headers = {k: v for k, v in headers.items() if isinstance(v, str)}
        self.origin = self.base_url  # the cache keys this endpoint's answers by it
        self.simulated = False  # set by check(): the endpoint is gepa_lab's simulated world
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_profile(cls, name: str, **kwargs: object) -> OpenAIProvider:
        """A provider for a named endpoint (see ``PROFILES``); ``kwargs`` override, e.g. a
        ``base_url`` on another port. The key is read from the profile's variable."""
        if name not in PROFILES:
            raise ValueError(f"unknown provider profile {name!r}: use one of {sorted(PROFILES)}")
        url, key_var = PROFILES[name]
        key = os.environ.get(key_var) if key_var else "no-key"
        if key_var and not key and "api_key" not in kwargs:
            raise ValueError(f"profile {name!r} needs an API key: set {key_var}")
        options: dict[str, object] = {"base_url": url, "api_key": key, **kwargs}
        return cls(**options)  # type: ignore[arg-type]

    def _open(self) -> aiohttp.ClientSession:
        """One pooled session per event loop (a notebook may run several loops in turn)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop or self._session.closed:
            # Each connection holds a descriptor; the default soft limit (1,024) is too low.
            raise_fd_limit(self.max_connections + 1024)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self._headers,
            )
            self._session_loop = loop
        return self._session

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body: dict[str, object] = {
            "model": request.model,
            "messages": [{"role": r, "content": c} for r, c in request.messages],
            "temperature": request.temperature,
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        try:
            async with self._open().post(self._url, data=json.dumps(body)) as resp:
                raw = await resp.read()
                status, headers = resp.status, resp.headers
        except TimeoutError:
            raise TransientError(f"no answer within {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise TransientError(f"connection to {self.base_url} failed: {exc}") from None
        if status >= 400:
            raise status_error(status, headers, raw)
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"]["content"] or ""
            usage = data.get("usage") or {}
            return ChatResponse(
                text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            raise TransientError(
                f"unparsable response body ({len(raw)} bytes): {type(exc).__name__}"
            ) from None

    async def check(self, models: Sequence[str], timeout: float = 15.0) -> None:
        """One tiny call per model before a run, so a down endpoint, a rejected key or an
        unknown model stops everything within seconds with a sentence saying what to fix,
        instead of surfacing as thousands of failed evaluations."""
        # A client of its own, closed on the way out: a shared one would keep connections bound
        # to this event loop, and the next optimize_sync runs another.
        key = self.client.api_key
        async with AsyncOpenAI(
            base_url=self.base_url, api_key=key, timeout=timeout, max_retries=0
        ) as probe:
            await self._check(probe, models, timeout)

    async def _check(self, probe: AsyncOpenAI, models: Sequence[str], timeout: float) -> None:
        for model in dict.fromkeys(models):
            started = time.monotonic()
            try:
                await probe.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1
                )
            except openai.AuthenticationError:
                raise ProviderUnavailable(
                    f"{self.base_url} rejected the API key: set OPENAI_API_KEY (or pass "
                    "api_key=...) to a key valid for this endpoint"
                ) from None
            except openai.NotFoundError:
                if not self.base_url.endswith("/v1"):
                    raise ProviderUnavailable(
                        f"{self.base_url} answered 404 to a chat request: OpenAI-compatible "
                        f"servers serve them under /v1; try base_url={self.base_url + '/v1'!r}"
                    ) from None
                raise ProviderUnavailable(
                    f"{self.base_url} does not serve the model {model!r}: check the model name "
                    "(GET /models lists what it serves)"
                ) from None
            except (TimeoutError, openai.APIConnectionError) as exc:
                if time.monotonic() - started >= 0.9 * timeout:
                    raise ProviderUnavailable(
                        f"{self.base_url} did not answer a one-token request to {model!r} "
                        f"within {timeout:g} s: is the server overloaded or the URL wrong?"
                    ) from None
                raise ProviderUnavailable(
                    f"cannot reach {self.base_url} ({exc.__cause__ or exc}): is the server "
                    "running and OPENAI_BASE_URL / base_url right?"
                ) from None
            except (openai.APIStatusError, ValueError):
                # Any other answer (429, 5xx, an unparsable body) means the endpoint is
                # reachable and the key and model were not refused: transient, not a setup error.
                continue
        try:
            served = [m async for m in probe.models.list()]
        except (openai.OpenAIError, ValueError):
            return  # listing models is optional for OpenAI-compatible servers
        self.simulated = bool(served) and all(
            getattr(m, "owned_by", None) == SIM_OWNER for m in served
        )

    async def release(self) -> None:
        """Close the connections opened on the running event loop (``optimize_sync`` calls
        this before its loop ends, so nothing is left open to warn at exit); the next call
        opens new ones."""
        session = self._session
        if session is not None and self._session_loop is asyncio.get_running_loop():
            if not session.closed:
                await session.close()
            self._session = self._session_loop = None

    async def aclose(self) -> None:
        await self.release()
        await self.client.close()


def status_error(status: int, headers: Mapping[str, str], raw: bytes) -> ProviderError:
    """The provider error for an HTTP error answer: 429 (and 503 with Retry-After) mean slow
    down, other 5xx and 408/409 are worth a retry, the remaining 4xx are final."""
    try:
        detail = str(json.loads(raw)["error"]["message"])
    except (ValueError, LookupError, TypeError):
        detail = raw[:200].decode("utf-8", "replace")
    message = f"HTTP {status}: {detail}"
    retry_after = _retry_after(headers)
    if status == 429 or (status == 503 and retry_after is not None):
        return RateLimited(message, retry_after, status)
    if status >= 500 or status in (408, 409):
        return TransientError(message, status)
    return RequestRejected(message, status)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds form only)."""
    for name, scale in (("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None
