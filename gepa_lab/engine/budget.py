"""Every budget and stop rule of a run: task and LLM calls, tokens, dollars, and when a score
counts as reaching the target. Decides only; the pipeline stops."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from ..config import Config
from ..llm.usage import Usage


def wilson_lower_bound(mean: float, n: int, confidence: float) -> float:
    """One-sided lower confidence bound of a success rate ``mean`` measured on ``n`` examples
    (Wilson 1927): unlike the normal approximation it stays inside [0, 1] and is honest near
    0 and 1, where prompt scores live."""
    z = NormalDist().inv_cdf(confidence)
    centre = mean + z * z / (2 * n)
    spread = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


@dataclass
class Budget:
    """The run's limits from ``cfg``; ``usage`` (what the provider calls cost so far) feeds
    the token and cost budgets."""

    cfg: Config
    usage: Usage | None = None

    def calls_spent(self, task_calls: int, reflections: int) -> bool:
        """True once no further call may be launched: the metric-call or LLM-call budget."""
        cfg = self.cfg
        if cfg.max_metric_calls is not None and task_calls >= cfg.max_metric_calls:
            return True
        return cfg.max_llm_calls is not None and task_calls + reflections >= cfg.max_llm_calls

    def spending_stop(self) -> str | None:
        """The stop reason once the token or dollar budget is spent, else None."""
        cfg, usage = self.cfg, self.usage
        if usage is None:
            return None
        if cfg.max_total_tokens is not None and usage.total_tokens >= cfg.max_total_tokens:
            return "token_budget"
        if cfg.max_cost_usd is not None and usage.cost_usd >= cfg.max_cost_usd:
            return "cost_budget"
        return None

    def reaches(self, score: float, n: int) -> bool:
        """Whether a full-set ``score`` on ``n`` examples reaches the target: the score itself,
        or its Wilson lower bound when ``target_confidence`` is set."""
        target, confidence = self.cfg.target_quality, self.cfg.target_confidence
        if target is None:
            return False
        if confidence is None:
            return score >= target - 1e-12
        return wilson_lower_bound(score, n, confidence) >= target - 1e-12
