"""Call latency for the simulated models: a distribution sampled by a content hash."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Latency:
    """Seconds per call: ``uniform`` uses low/high; ``lognormal`` a median and sigma (capped).

    Defaults follow the turbo seed's report: task calls take 1-3 s.
    """

    kind: Literal["uniform", "lognormal", "fixed"] = "uniform"
    low: float = 1.0
    high: float = 3.0
    median: float = 1.0
    sigma: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("uniform", "lognormal", "fixed"):
            raise ValueError(
                f"Latency.kind={self.kind!r} is invalid: use uniform, lognormal or fixed"
            )
        if not 0 <= self.low <= self.high:
            raise ValueError(f"Latency low={self.low}, high={self.high}: need 0 <= low <= high")
        if self.median <= 0 or self.sigma < 0:
            raise ValueError(
                f"Latency median={self.median}, sigma={self.sigma}: need median > 0, sigma >= 0"
            )

    @classmethod
    def fixed(cls, seconds: float) -> Latency:
        return cls("fixed", seconds, seconds)

    def sample(self, u: float) -> float:
        """Inverse-CDF sample for ``u`` in [0, 1)."""
        if self.kind == "fixed":
            return self.low
        if self.kind == "uniform":
            return self.low + (self.high - self.low) * u
        z = _NORMAL.inv_cdf(min(max(u, 1e-9), 1 - 1e-9))
        return min(self.high, max(self.low, self.median * math.exp(self.sigma * z)))

    @property
    def mean(self) -> float:
        if self.kind == "lognormal":
            return self.median * math.exp(self.sigma**2 / 2)  # ignoring the clip
        return (self.low + self.high) / 2


TASK_LATENCY = Latency("uniform", 1.0, 3.0)
REFLECTION_LATENCY = Latency("uniform", 0.3, 0.7)  # about 0.5 s a mutation
