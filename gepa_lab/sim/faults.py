"""Injected faults of the simulated world, drawn per request from a seeded generator."""

from __future__ import annotations

import random
from dataclasses import dataclass

KINDS = ("5xx", "timeout", "malformed", "truncated")


@dataclass(frozen=True, slots=True)
class Faults:
    """Per-request probabilities of each fault; a "timeout" holds the call ``timeout_seconds``."""

    p_5xx: float = 0.0
    p_timeout: float = 0.0
    p_malformed: float = 0.0
    p_truncated: float = 0.0
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        for kind in KINDS:
            p = getattr(self, f"p_{kind}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"Faults.p_{kind}={p!r} is invalid: must be in [0, 1]")
        if sum(getattr(self, f"p_{k}") for k in KINDS) > 1.0:
            raise ValueError("Faults: the fault rates add up to more than 1")
        if self.timeout_seconds < 0:
            raise ValueError(
                f"Faults.timeout_seconds={self.timeout_seconds!r} is invalid: must be >= 0"
            )

    @property
    def any(self) -> bool:
        return any(getattr(self, f"p_{k}") for k in KINDS)


class FaultDraw:
    """Draws which fault (if any) hits each request, reproducibly from ``seed``."""

    def __init__(self, faults: Faults, seed: int = 0) -> None:
        self.faults = faults
        self.rng = random.Random(f"{seed}/faults")

    def __call__(self) -> str | None:
        u = self.rng.random()
        for kind in KINDS:
            p = getattr(self.faults, f"p_{kind}")
            if u < p:
                return kind
            u -= p
        return None
