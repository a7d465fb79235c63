"""Provider-side rate limits of the simulated world: token buckets in requests and tokens.

A bucket refills continuously at its per-minute rate and holds ``burst_seconds`` worth, which is
how large providers describe their limits (a 600 RPM limit admits about 10 requests a second,
not 600 in the first second). A request is admitted only when every bucket can pay for it;
otherwise the answer is how long until it could, which becomes ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests and tokens per minute (None = unlimited); ``burst_seconds`` sizes the buckets."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    burst_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"RateLimits.{name}={v!r} is invalid: must be > 0 or None")
        if not self.burst_seconds > 0:
            raise ValueError(
                f"RateLimits.burst_seconds={self.burst_seconds!r} is invalid: must be > 0"
            )


class _Bucket:
    def __init__(self, per_minute: float, burst_seconds: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.t = 0.0

    def wait(self, now: float, amount: float) -> float:
        """Seconds until ``amount`` (at most a full bucket) can be paid; 0 = now."""
        self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
        self.t = now
        short = min(amount, self.capacity) - self.level
        return short / self.rate if short > 0 else 0.0

    def pay(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)


class Buckets:
    """The buckets of one :class:`RateLimits`, on the caller's clock (seconds, any origin)."""

    def __init__(self, limits: RateLimits, now: float = 0.0) -> None:
        self.buckets: list[tuple[_Bucket, bool]] = [
            (_Bucket(per_min, limits.burst_seconds), is_tokens)
            for per_min, is_tokens in (
                (limits.requests_per_minute, False),
                (limits.tokens_per_minute, True),
            )
            if per_min is not None
        ]
        for bucket, _ in self.buckets:
            bucket.t = now

    def admit(self, now: float, tokens: int) -> float:
        """0 and the request is charged, or the seconds to wait before it would be admitted."""
        wait = max(
            (b.wait(now, tokens if is_tokens else 1) for b, is_tokens in self.buckets),
            default=0.0,
        )
        if wait == 0.0:
            for b, is_tokens in self.buckets:
                b.pay(tokens if is_tokens else 1)
        return wait


def prompt_tokens(messages: tuple[tuple[str, str], ...]) -> int:
    """The simulated world's token count of a prompt: its characters / 4."""
    return sum(len(c) for _, c in messages) // 4


def charged_tokens(messages: tuple[tuple[str, str], ...], max_tokens: int | None) -> int:
    """What a limiter charges before the answer exists: the prompt's tokens plus the reply
    allowance (``max_tokens``, else 256), as OpenAI estimates against its token limits."""
    return prompt_tokens(messages) + (max_tokens or 256)
