"""How many calls a provider gets, and how fast: a concurrency cap plus an adaptive send rate.

Providers publish limits in requests or tokens per minute, not in calls in flight, and enforce
them with token buckets. So the limiter keeps the user's cap on calls in flight (never above
``eval_concurrency``) and, once the provider pushes back (429, or 503 with Retry-After), paces
sends at a rate it learns by AIMD (Chiu & Jain 1989; TCP congestion control, RFC 5681): the rate
is cut by ``backoff`` on push-back and grows while calls wait for it, by ``growth`` of itself per
second but never more than ``growth_per_call`` of itself per answered call, so that climbing
back from a cut spans at least (1 - backoff) / growth_per_call calls (about 100) at any rate,
and push-backs stay near 1% of calls even at a few requests per minute. Two more rules keep
the sawtooth tight, so throughput sits just below the provider's limit, and nothing is ever
paused wholesale:

* one cut per generation: a push-back for a call sent before the last cut reports a rate that
  has already been corrected (TCP's fast-recovery rule), so a burst of 429s is one cut;
* growth only while pacing is what holds calls back, so a client held back by anything else
  does not drift to a rate it never tested.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

OK, PUSHBACK, ERROR = "ok", "pushback", "error"


@dataclass(slots=True)
class LimiterStats:
    sent: int = 0
    pushbacks: int = 0  # 429s and 503s with Retry-After
    cuts: int = 0  # times the send rate was lowered
    max_in_flight: int = 0


class AdaptiveLimiter:
    """Grants send slots: at most ``max_concurrency`` at once, paced once pushed back.

    ``acquire`` returns a ticket to hand back to ``release`` with the call's outcome. Urgent
    requests (reflections, retries) are served before the rest.
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        backoff: float = 0.9,
        growth: float = 0.01,
        growth_per_call: float = 0.001,
        min_rate: float = 0.05,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(
                f"AdaptiveLimiter.max_concurrency={max_concurrency!r} is invalid: must be >= 1"
            )
        if not 0 < backoff < 1:
            raise ValueError(f"AdaptiveLimiter.backoff={backoff!r} is invalid: must be in (0, 1)")
        if not 0 < growth <= 1:
            raise ValueError(f"AdaptiveLimiter.growth={growth!r} is invalid: must be in (0, 1]")
        if not 0 < growth_per_call <= 1:
            raise ValueError(
                f"AdaptiveLimiter.growth_per_call={growth_per_call!r} is invalid: must be in (0, 1]"
            )
        if not min_rate > 0:
            raise ValueError(f"AdaptiveLimiter.min_rate={min_rate!r} is invalid: must be > 0")
        self.max_concurrency = max_concurrency
        self.backoff, self.growth, self.min_rate = backoff, growth, min_rate
        self.growth_per_call = growth_per_call
        self.rate: float | None = None  # sends per second; None = unpaced
        self.in_flight = 0
        self.stats = LimiterStats()
        self._cut_ticket = 0  # tickets below this were sent before the last cut
        self._next_send = 0.0
        self._urgent: deque[asyncio.Future[int]] = deque()
        self._normal: deque[asyncio.Future[int]] = deque()
        self._recent: deque[float] = deque()  # send times within the last second
        self._timer: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._normal)

    async def acquire(self, urgent: bool = False) -> int:
        loop = asyncio.get_running_loop()
        if not self._urgent and not self._normal and self._can_send(loop.time()):
            return self._take(loop.time())
        fut: asyncio.Future[int] = loop.create_future()
        (self._urgent if urgent else self._normal).append(fut)
        self._dispatch()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # granted, but the caller is gone
                self.release(fut.result(), ERROR)
            else:
                for queue in (self._urgent, self._normal):
                    if fut in queue:
                        queue.remove(fut)
            raise

    def release(self, ticket: int, outcome: str) -> None:
        self.in_flight -= 1
        if outcome == PUSHBACK:
            self.stats.pushbacks += 1
            if ticket >= self._cut_ticket:
                base = self.rate if self.rate is not None else self._recent_rate()
                self.rate = max(self.min_rate, base * self.backoff)
                self._cut_ticket = self.stats.sent
                self.stats.cuts += 1
        elif outcome == OK and self.rate is not None and self._timer is not None:
            # Pacing is what holds calls back right now: probe a little higher. Successes come
            # ``rate`` times a second, so +growth per success is +growth x rate per second.
            self.rate += min(self.growth, self.growth_per_call * self.rate)
        self._dispatch()

    # ------------------------------------------------------------------ internals
    def _can_send(self, now: float) -> bool:
        if self.in_flight >= self.max_concurrency:
            return False
        return self.rate is None or self._next_send <= now

    def _take(self, now: float) -> int:
        if self.rate is not None:
            self._next_send = max(self._next_send, now) + 1.0 / self.rate
        else:
            recent = self._recent
            recent.append(now)
            while recent[0] < now - 1.0:
                recent.popleft()
        self.in_flight += 1
        stats = self.stats
        stats.max_in_flight = max(stats.max_in_flight, self.in_flight)
        stats.sent += 1
        return stats.sent - 1

    def _recent_rate(self) -> float:
        """Sends per second over the last second: where pacing starts after the first push-back."""
        return max(float(len(self._recent)), self.min_rate)

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._urgent or self._normal:
            if self.in_flight >= self.max_concurrency:
                return
            if self.rate is not None and self._next_send > now:
                if self._timer is None:
                    self._timer = loop.call_at(self._next_send, self._on_timer)
                return
            fut = (self._urgent or self._normal).popleft()
            if not fut.done():
                fut.set_result(self._take(now))

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()
