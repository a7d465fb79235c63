"""The policy every provider call goes through: a shared adaptive limiter, bounded retries with
jittered exponential backoff, and usage metering.

A call that still fails after its retries raises, and the engine records a failed evaluation;
the run goes on. A circuit breaker (:mod:`gepa_lab.llm.breaker`) stops the calls, and then the
run, when the endpoint itself is down or refuses the key. Retries and reflections jump the
limiter's queue: they have waited already, and the evaluators starve without new candidates.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from ..config import Config
from ..protocols import Provider
from .breaker import Breaker
from .limiter import ERROR, OK, PUSHBACK, AdaptiveLimiter
from .provider import ChatRequest, ChatResponse, ProviderError, RateLimited, origin
from .usage import Usage


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry.

    Transient errors (5xx, timeouts, unparsable bodies) get ``max_retries`` more tries after
    ``base_delay`` x 2^k seconds (capped at ``max_delay``) with "equal jitter" (half fixed, half
    random), which spreads a burst of failures out. Push-backs wait what Retry-After says (plus
    up to 10%), and have their own, larger allowance ``max_pushbacks``: the limiter slows down
    between them, so they are expected while it converges.
    """

    max_retries: int = 4
    max_pushbacks: int = 32
    base_delay: float = 0.5
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_retries", "max_pushbacks"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name}={getattr(self, name)!r} must be >= 0")
        if not 0 < self.base_delay <= self.max_delay:
            raise ValueError(
                f"RetryPolicy: need 0 < base_delay <= max_delay, got {self.base_delay!r} "
                f"and {self.max_delay!r}"
            )

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay) * (1.0 + 0.1 * rng.random())
        cap = min(self.max_delay, self.base_delay * 2.0**attempt)
        return cap * (0.5 + 0.5 * rng.random())


@dataclass(slots=True)
class CallStats:
    calls: int = 0  # attempts sent
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0  # failed attempts other than push-backs
    failed: int = 0  # calls that raised after their retries


class Throttled:
    """Wraps a provider with ``limiter``, ``retry`` and a ``usage`` meter (all shareable)."""

    def __init__(
        self,
        provider: Provider,
        limiter: AdaptiveLimiter,
        retry: RetryPolicy | None = None,
        usage: Usage | None = None,
        seed: int = 0,
        breaker: Breaker | None = None,
    ) -> None:
        self.provider = provider
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.usage = usage or Usage()
        self.stats = CallStats()
        self.breaker = breaker or Breaker(origin(provider))
        self._rng = random.Random(f"{seed}/retry")

    @classmethod
    def for_config(
        cls, provider: Provider, config: Config, usage: Usage | None = None
    ) -> Throttled:
        """The throttle a run with ``config`` uses: room for ``eval_concurrency`` task calls
        (the engine never launches more) plus ``max_mutations_per_round`` reflections, so
        reflections never take an evaluation's slot; retries per ``config.max_retries``."""
        limiter = AdaptiveLimiter(config.eval_concurrency + config.max_mutations_per_round)
        retry = RetryPolicy(max_retries=config.max_retries)
        breaker = Breaker(origin(provider), max_outage=config.max_outage)
        return cls(provider, limiter, retry, usage, seed=config.seed, breaker=breaker)

    @property
    def origin(self) -> str:
        """The backend behind the throttle (the cache keys answers by it)."""
        return origin(self.provider)

    @property
    def simulated(self) -> bool:
        return bool(getattr(self.provider, "simulated", False))

    async def complete(self, request: ChatRequest) -> ChatResponse:
        limiter, stats, breaker = self.limiter, self.stats, self.breaker
        urgent = request.purpose != "task"
        errors = pushbacks = 0
        while True:
            probe = await breaker.admit() if breaker.tripped else False
            try:
                ticket = await limiter.acquire(urgent)
                if breaker.tripped and not breaker.still_open_to(probe):
                    limiter.release(ticket, ERROR)  # never sent: no news about the rate
                    continue
            except BaseException:
                breaker.abandon(probe)
                raise
            stats.calls += 1
            try:
                response = await self.provider.complete(request)
            except RateLimited as exc:
                limiter.release(ticket, PUSHBACK)
                breaker.failure(exc, probe)
                stats.rate_limited += 1
                if pushbacks >= self.retry.max_pushbacks:
                    stats.failed += 1
                    raise
                delay = self.retry.delay(pushbacks, exc.retry_after, self._rng)
                pushbacks += 1
            except ProviderError as exc:
                limiter.release(ticket, ERROR)
                stats.errors += 1
                breaker.failure(exc, probe)  # raises if the endpoint cannot serve the run
                if not exc.retryable or errors >= self.retry.max_retries:
                    stats.failed += 1
                    raise
                delay = self.retry.delay(errors, None, self._rng)
                errors += 1
            except BaseException as exc:
                limiter.release(ticket, ERROR)
                if isinstance(exc, Exception):
                    stats.errors += 1
                    stats.failed += 1
                    breaker.failure(exc, probe)
                else:
                    breaker.abandon(probe)
                raise
            else:
                limiter.release(ticket, OK)
                if probe or breaker.failures:
                    breaker.success(probe)
                self.usage.add(request, response)
                return response
            stats.retries += 1
            urgent = True
            await asyncio.sleep(delay)

    def summary(self) -> dict[str, float | int | None]:
        lim = self.limiter
        return {
            "calls_sent": self.stats.calls,
            "retries": self.stats.retries,
            "rate_limited": self.stats.rate_limited,
            "errors": self.stats.errors,
            "failed_after_retries": self.stats.failed,
            "rate_cuts": lim.stats.cuts,
            "paced_rate": lim.rate,
            "max_in_flight": lim.stats.max_in_flight,
            "in_flight": lim.in_flight,
            "breaker_opened": self.breaker.opened,
        }
