"""A circuit breaker per provider: when an endpoint dies, the run stops asking it, tests it
with one call at a time, and stops with a sentence saying what is wrong, instead of flooding it.

Closed, every call goes out. ``threshold`` failed attempts in a row (5xx, timeouts, refused
connections, bad bodies, and refused requests too: one bad request is that request's problem,
eight in a row say every request is refused) open it. Open, calls wait; one *probe* at a time
tests the endpoint, after a wait that doubles from ``first_wait`` to ``max_wait`` with every
failed probe, so failed requests stay below one per ``first_wait`` seconds however many calls
wait. A success closes it and everything waiting goes on. Open for longer than ``max_outage``
seconds, or a rejected key (401, 403) or a vanished model or path (404) at any time, and every
waiting and future call raises :class:`~gepa_lab.llm.provider.ProviderUnavailable`, which
stops the run (its state saved, so it resumes once the endpoint is back).
Push-backs (429) are the limiter's business and neither open nor close it.
"""

from __future__ import annotations

import asyncio
import contextlib

from .provider import ProviderError, ProviderUnavailable, RateLimited

FATAL = {
    401: "rejected the API key: check OPENAI_API_KEY (or the key you passed) and the account",
    403: "refused access: check the key's permissions and the account",
    404: "does not serve the model or path: check the model name and that base_url ends in /v1",
}


class Breaker:
    def __init__(
        self,
        endpoint: str,
        threshold: int = 8,
        max_outage: float = 45.0,
        first_wait: float = 0.5,
        max_wait: float = 8.0,
    ) -> None:
        self.endpoint = endpoint
        self.threshold, self.max_outage = threshold, max_outage
        self.first_wait, self.max_wait = first_wait, max_wait
        self.failures = 0  # failed attempts in a row
        self.opened_at: float | None = None
        self.next_probe = 0.0
        self.wait = first_wait
        self.probing = False
        self.last_error = ""
        self.refusing = False  # the last failure was a refused request, not a dead server
        self.fatal: ProviderUnavailable | None = None
        self.opened = 0  # times it opened, for the run's stats
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def tripped(self) -> bool:
        """Open or fatal: calls must ask :meth:`admit` (checked once per call)."""
        return self.opened_at is not None or self.fatal is not None

    async def admit(self) -> bool:
        """Wait until a call may go out; True if it is the probe of an open breaker."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a provider may serve several event loops in turn
            self._loop, self._changed = loop, asyncio.Event()
        while True:
            if self.fatal is not None:
                raise self.fatal
            if self.opened_at is None:
                return False
            now = loop.time()
            if now - self.opened_at > self.max_outage:
                seconds = f"{now - self.opened_at:.0f} s (last error: {self.last_error})"
                self._give_up(
                    f"has refused every request for {seconds}: the server is up; check the "
                    "model's name and the request's parameters (max_tokens, seed, ...)"
                    if self.refusing
                    else f"has failed every call for {seconds}: check that the server is "
                    "running and reachable, or raise Config.max_outage"
                )
                continue
            if not self.probing and now >= self.next_probe:
                self.probing = True
                return True
            changed = self._changed
            assert changed is not None
            changed.clear()
            wake = self.next_probe if not self.probing else self.opened_at + self.max_outage
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(wake - now, 0.001))

    def still_open_to(self, probe: bool) -> bool:
        """Right before sending (after waiting for a limiter slot): raises if the endpoint was
        found unable to serve the run meanwhile; False if the breaker opened meanwhile and
        this call is not its probe (it must wait again)."""
        if self.fatal is not None:
            raise self.fatal
        return probe or self.opened_at is None

    def success(self, probe: bool) -> None:
        """A call answered. Only a probe closes an open breaker: an answer to a request sent
        before the endpoint went down says nothing about it now."""
        if not probe:
            if self.opened_at is None:
                self.failures = 0
            return
        self.failures, self.probing = 0, False
        self.opened_at, self.wait = None, self.first_wait
        self._wake()

    def failure(self, exc: BaseException, probe: bool) -> None:
        """Record a failed attempt; raises ProviderUnavailable if it says the endpoint
        cannot serve the run at all."""
        if probe:
            self.probing = False
            self._wake()
        status = exc.status if isinstance(exc, ProviderError) else None
        if status in FATAL:
            self._give_up(f"{FATAL[status]} ({exc})")
            raise self.fatal  # type: ignore[misc]
        if isinstance(exc, RateLimited):
            return  # push-backs are the limiter's business
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.refusing = isinstance(exc, ProviderError) and not exc.retryable
        self.failures += 1
        now = asyncio.get_running_loop().time()
        if self.opened_at is None:
            if self.failures >= self.threshold:
                self.opened_at, self.wait, self.opened = now, self.first_wait, self.opened + 1
                self.next_probe = now + self.wait
        elif probe:
            self.wait = min(2 * self.wait, self.max_wait)
            self.next_probe = now + self.wait

    def abandon(self, probe: bool) -> None:
        """A call ended with neither answer nor error (cancelled)."""
        if probe:
            self.probing = False
            self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _give_up(self, why: str) -> None:
        self.fatal = ProviderUnavailable(f"{self.endpoint} {why}")
        self._wake()
