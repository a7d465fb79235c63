"""The simulated world as an in-process :class:`~gepa_lab.llm.provider.Provider`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..llm.provider import ChatRequest, ChatResponse, RateLimited, TransientError
from . import sentiment
from .faults import FaultDraw, Faults
from .hashing import unit
from .judge import judge
from .latency import REFLECTION_LATENCY, TASK_LATENCY, Latency
from .program import PLAN_HEADER, PLAN_REQUEST, make_plan
from .rate_limits import Buckets, RateLimits, charged_tokens, prompt_tokens
from .reflection_model import REFLECTION_MODELS, reflect
from .task_model import LANDSCAPES, answer

TASK_MODEL = "sim-task"
REFLECTION_MODEL = "sim-reflect"
JUDGE_MODEL = "sim-judge"  # grades replies for gepa_lab.tasks.metrics.LLMJudge
MODELS = (TASK_MODEL, REFLECTION_MODEL, JUDGE_MODEL)
# Raised whenever a change to the simulated models changes an answer: cached answers of an
# older world are then never served for this one.
WORLD_VERSION = 1
# Reflection models (gepa_lab.sim.reflection_model.REFLECTION_MODELS): "stochastic" draws from
# the request and its seed (a sampling model), "deterministic" from the request alone, seed and
# temperature ignored (a model at temperature 0, or any caching proxy), "weak" and "strong"
# reflect worse and better.
REFLECTION_MODES = tuple(REFLECTION_MODELS)


@dataclass
class SimStats:
    calls: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: dict[str, float] = field(default_factory=dict)  # sampled, per model
    rate_limited: int = 0
    faults: dict[str, int] = field(default_factory=dict)


class SimProvider:
    """Serves ``sim-task`` and ``sim-reflect`` with simulated latency.

    Latency is awaited with ``asyncio.sleep``; ``time_scale`` compresses it (0.01 = 100x faster).
    Under :func:`gepa_lab.runs.virtual_time.run_virtual` the sleeps cost no real time at all.
    ``rate_limits`` and ``faults`` make it push back and fail the way the HTTP server does, but
    in process (so on the virtual clock too): a rate-limited call raises
    :class:`~gepa_lab.llm.provider.RateLimited` at once, a fault raises
    :class:`~gepa_lab.llm.provider.TransientError` (a timeout only after ``timeout_seconds``).
    ``reflection`` is one of :data:`REFLECTION_MODES`, ``landscape`` one of
    :data:`~gepa_lab.sim.task_model.LANDSCAPES`.
    """

    def __init__(
        self,
        task_latency: Latency = TASK_LATENCY,
        reflection_latency: Latency = REFLECTION_LATENCY,
        time_scale: float = 1.0,
        seed: int = 0,
        rate_limits: RateLimits | None = None,
        faults: Faults | None = None,
        reflection: str = "stochastic",
        landscape: str = "skills",
    ) -> None:
        if reflection not in REFLECTION_MODES:
            raise ValueError(
                f"SimProvider.reflection={reflection!r} is invalid: use one of {REFLECTION_MODES}"
            )
        if landscape not in LANDSCAPES:
            raise ValueError(
                f"SimProvider.landscape={landscape!r} is invalid: use one of {tuple(LANDSCAPES)}"
            )
        self.reflection, self.landscape = reflection, landscape
        if time_scale < 0:
            raise ValueError(f"SimProvider.time_scale={time_scale} is invalid: must be >= 0")
        self.task_latency = task_latency
        self.reflection_latency = reflection_latency
        if rate_limits is not None and time_scale == 0:
            raise ValueError("SimProvider: rate_limits need time to pass; use time_scale > 0")
        self.time_scale = time_scale
        self.seed = seed
        self.stats = SimStats()
        self.rate_limits = rate_limits
        self.faults = faults
        self._buckets: Buckets | None = None
        self._draw = FaultDraw(faults, seed) if faults is not None and faults.any else None

    simulated = True

    @property
    def origin(self) -> str:
        """What decides its answers: the world's version, landscape and reflection model
        (latency, rate limits and faults change when and whether it answers, not what)."""
        return (
            f"gepa_lab.sim/{WORLD_VERSION} landscape={self.landscape} reflection={self.reflection}"
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if request.model == TASK_MODEL:
            user = request.user
            if sentiment.decode(user) is not None:
                text = sentiment.classify(request.system, user)
            elif user.startswith(PLAN_REQUEST):
                text = make_plan(request.system, user[len(PLAN_REQUEST) :].strip())
            else:
                problem, header, plan = user.partition(PLAN_HEADER)
                text = answer(request.system, problem, self.landscape, plan if header else None)
            u = unit("latency", self.seed, request.system, request.user)
            delay = self.task_latency.sample(u)
        elif request.model == REFLECTION_MODEL:
            text = reflect(request.user, request.seed, REFLECTION_MODELS[self.reflection])
            delay = self.reflection_latency.sample(
                unit("latency", self.seed, request.seed, request.user)
            )
        elif request.model == JUDGE_MODEL:
            text = judge(request.user)
            delay = self.reflection_latency.sample(unit("latency", self.seed, request.user))
        else:
            raise ValueError(
                f"unknown model {request.model!r}: the simulated world serves "
                f"{', '.join(repr(m) for m in MODELS)}"
            )
        stats = self.stats
        if self.rate_limits is not None:
            now = asyncio.get_running_loop().time() / max(self.time_scale, 1e-9)
            if self._buckets is None:
                self._buckets = Buckets(self.rate_limits, now)
            wait = self._buckets.admit(now, charged_tokens(request.messages, request.max_tokens))
            if wait > 0:
                stats.rate_limited += 1
                raise RateLimited("simulated 429: rate limit reached", wait * self.time_scale)
        fault = self._draw() if self._draw is not None else None
        if fault is not None:
            stats.faults[fault] = stats.faults.get(fault, 0) + 1
            if fault == "5xx":
                raise TransientError("simulated 5xx")
            if fault == "timeout":
                assert self.faults is not None
                await asyncio.sleep(self.faults.timeout_seconds * self.time_scale)
                raise TransientError("simulated timeout")
        stats.calls[request.model] = stats.calls.get(request.model, 0) + 1
        stats.latency_seconds[request.model] = (
            stats.latency_seconds.get(request.model, 0.0) + delay * self.time_scale
        )
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            await asyncio.sleep(delay * self.time_scale)
        finally:
            stats.in_flight -= 1
        if fault is not None:
            raise TransientError(f"simulated fault: {fault}")
        n_prompt = prompt_tokens(request.messages)
        stats.prompt_tokens += n_prompt
        stats.completion_tokens += len(text) // 4
        return ChatResponse(text, n_prompt, len(text) // 4)
