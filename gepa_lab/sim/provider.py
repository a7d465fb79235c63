"""The simulated world as an in-process :class:`~gepa_lab.provider.Provider`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..provider import ChatRequest, ChatResponse
from .hashing import unit
from .latency import REFLECTION_LATENCY, TASK_LATENCY, Latency
from .reflection_model import reflect
from .task_model import answer

TASK_MODEL = "sim-task"
REFLECTION_MODEL = "sim-reflect"


@dataclass
class SimStats:
    calls: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class SimProvider:
    """Serves ``sim-task`` and ``sim-reflect`` with simulated latency.

    Latency is awaited with ``asyncio.sleep``; ``time_scale`` compresses it (0.01 = 100x faster).
    Under :func:`gepa_lab.virtual_time.run_virtual` the sleeps cost no real time at all.
    """

    def __init__(
        self,
        task_latency: Latency = TASK_LATENCY,
        reflection_latency: Latency = REFLECTION_LATENCY,
        time_scale: float = 1.0,
        seed: int = 0,
    ) -> None:
        if time_scale < 0:
            raise ValueError(f"SimProvider.time_scale={time_scale} is invalid: must be >= 0")
        self.task_latency = task_latency
        self.reflection_latency = reflection_latency
        self.time_scale = time_scale
        self.seed = seed
        self.stats = SimStats()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if request.model == TASK_MODEL:
            text = answer(request.system, request.user)
            u = unit("latency", self.seed, request.system, request.user)
            delay = self.task_latency.sample(u)
        elif request.model == REFLECTION_MODEL:
            text = reflect(request.user, request.seed)
            delay = self.reflection_latency.sample(
                unit("latency", self.seed, request.seed, request.user)
            )
        else:
            raise ValueError(
                f"unknown model {request.model!r}: the simulated world serves "
                f"{TASK_MODEL!r} and {REFLECTION_MODEL!r}"
            )
        stats = self.stats
        stats.calls[request.model] = stats.calls.get(request.model, 0) + 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            await asyncio.sleep(delay * self.time_scale)
        finally:
            stats.in_flight -= 1
        prompt_tokens = sum(len(c) for _, c in request.messages) // 4
        stats.prompt_tokens += prompt_tokens
        stats.completion_tokens += len(text) // 4
        return ChatResponse(text, prompt_tokens, len(text) // 4)
