"""A multi-step program as a task: your ``async def program(candidate, example, lm)`` makes as
many model calls as it likes, each through ``lm``, and returns its output, which a metric
scores.

``lm`` is bound to the run: every call goes through its limiter, retries, cache, usage and cost
accounting, budgets and clock, and is recorded, so the reflection model reads the trace of
every call the program made (the messages and the reply of each step) along with the metric's
feedback. Components are used where the program uses them, e.g. a planner prompt in one call
and a solver prompt in the next; the engine mutates them in turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..llm.provider import ProviderError
from ..protocols import Chat, RunAborted, UserCodeError
from .examples import Example
from .info import TaskInfo
from .metrics import Metric, is_binary, verdict


@dataclass
class TracedLM:
    """The model client a program gets for one example: ``await lm(user, system=..., step=...)``
    returns the reply text; ``calls`` keeps (step, system, user, reply) in call order."""

    chat: Chat
    example_id: str
    calls: list[tuple[str, str | None, str, str]] = field(default_factory=list)

    async def __call__(self, user: str, system: str | None = None, step: str = "") -> str:
        if not isinstance(user, str) or (system is not None and not isinstance(system, str)):
            raise TypeError("lm(user, system=None, step=''): user and system must be text")
        messages = ((("system", system),) if system is not None else ()) + (("user", user),)
        reply = await self.chat.chat(messages, self.example_id)
        self.calls.append((step or f"call {len(self.calls) + 1}", system, user, reply))
        return reply

    def transcript(self, output: str) -> str:
        """Every call, then the program's output: what a reflection shows as the response."""
        parts = []
        for step, system, user, reply in self.calls:
            head = f"[{step}]" + (f"\nSystem: {system}" if system is not None else "")
            parts.append(f"{head}\nUser: {user}\nReply: {reply}")
        return "\n\n".join([*parts, f"[output]\n{output}"])


@dataclass(frozen=True)
class ProgramTask(TaskInfo):
    """``program`` (an ``async def``) scored by ``metric``; see the module docstring."""

    program: Callable[[dict[str, str], Example, TracedLM], Awaitable[Any]]
    metric: Metric

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(self.program):
            raise ValueError(f"program={self.program!r} is invalid: must be an async function")
        if not callable(self.metric):
            raise ValueError(f"metric={self.metric!r} is invalid: must be callable")

    @property
    def binary(self) -> bool:
        return is_binary(self.metric)

    def check(self, components: Mapping[str, str], example: Example) -> None:
        """Nothing to check before the run: the program decides what it uses."""

    async def evaluate(
        self, llm: Chat, components: Mapping[str, str], example: Example
    ) -> tuple[str, float, str]:
        lm = TracedLM(llm, example.id)
        try:
            output = await self.program(dict(components), example, lm)
        except Exception as exc:
            if isinstance(exc, ProviderError | RunAborted):
                raise  # a failed call fails this evaluation only; a dead endpoint stops the run
            raise UserCodeError(
                f"the program failed on example {example.id!r}: {type(exc).__name__}: {exc}"
            ) from exc
        text = output if isinstance(output, str) else repr(output)
        score, feedback = await verdict(self.metric, example, text, llm)
        return lm.transcript(text), score, feedback
