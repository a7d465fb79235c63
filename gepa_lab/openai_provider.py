"""A :class:`~gepa_lab.provider.Provider` for any OpenAI-compatible endpoint, via the openai SDK.

It uses the SDK's aiohttp transport: measured on this kind of machine it keeps up at 1,000+
calls in flight where the default httpx transport reaches a third of that. The key comes from
the argument or ``OPENAI_API_KEY`` and is never logged or stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import httpx2
import openai
from openai import AsyncOpenAI, DefaultAioHttpClient

from .limits import raise_fd_limit
from .provider import ChatRequest, ChatResponse


class ProviderUnavailable(RuntimeError):
    """The endpoint cannot serve this run; the message says what to fix."""


class OpenAIProvider:
    """Chat completions against ``base_url`` (default: ``OPENAI_BASE_URL`` or OpenAI)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        max_connections: int = 4096,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if base_url is None:
                raise ValueError("no API key: set OPENAI_API_KEY or pass api_key=...")
            key = "no-key"  # local servers (vLLM, llama.cpp, the simulated world) ignore it
        # The SDK's transport defaults to 1,000 connections: calls beyond that would queue
        # inside the client, invisible to the optimizer. Each connection holds a descriptor.
        raise_fd_limit(max(4096, max_connections + 1024))
        limits = httpx2.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self.base_url = base_url or "https://api.openai.com/v1"
        self.client = AsyncOpenAI(
            base_url=base_url,
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            http_client=DefaultAioHttpClient(timeout=timeout, limits=limits),
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        extra = {} if request.max_tokens is None else {"max_tokens": request.max_tokens}
        if request.seed is not None:
            extra["seed"] = request.seed
        reply = await self.client.chat.completions.create(
            model=request.model,
            messages=[{"role": r, "content": c} for r, c in request.messages],  # type: ignore[misc]
            temperature=request.temperature,
            **extra,
        )
        usage = reply.usage
        return ChatResponse(
            reply.choices[0].message.content or "",
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )

    async def check(self, models: Sequence[str], timeout: float = 15.0) -> None:
        """One tiny call per model before a run, so a down endpoint, a rejected key or an
        unknown model stops everything within seconds with a sentence saying what to fix,
        instead of surfacing as thousands of failed evaluations."""
        probe = self.client.with_options(max_retries=0, timeout=timeout)
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
                raise ProviderUnavailable(
                    f"{self.base_url} does not serve the model {model!r}: check the model name "
                    "(GET /models lists what it serves)"
                ) from None
            except (TimeoutError, openai.APIConnectionError) as exc:
                # The aiohttp transport reports a refused connection as a timeout too: only a
                # probe that actually waited out the timeout is one.
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

    async def aclose(self) -> None:
        await self.client.close()
