"""What the engine's adapter needs from a task, and what a task may ask of the adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..data import Example
from ..engine.pipeline import UserCodeError

__all__ = ["Chat", "Task", "UserCodeError", "check_perfect_score"]


class Chat(Protocol):
    """The run's task-model client: every call goes through its limiter, retries, cache,
    usage accounting, budgets and clock."""

    async def chat(self, messages: tuple[tuple[str, str], ...], example_id: str) -> str: ...


class Task(Protocol):
    """One way to evaluate a candidate on an example. ``objective``, ``background`` and
    ``input_label`` write the reflection prompt for it; ``binary`` says whether scores are
    only 0 or 1; an example scored ``perfect_score`` or more is solved (a reflection shows
    the others as failures)."""

    objective: str
    background: str
    input_label: str
    perfect_score: float

    @property
    def binary(self) -> bool: ...

    def check(self, components: Mapping[str, str], example: Example) -> None: ...

    async def evaluate(
        self, llm: Chat, components: Mapping[str, str], example: Example
    ) -> tuple[str, float, str]: ...


def check_perfect_score(value: float) -> None:
    """``perfect_score`` must be a number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"perfect_score={value!r} is invalid: must be a number in (0, 1]")
