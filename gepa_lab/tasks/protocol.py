"""What the engine's adapter needs from a task, and what a task may ask of the adapter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ..data import Example
from ..engine.pipeline import UserCodeError

__all__ = ["Chat", "Task", "TaskInfo", "UserCodeError"]


class Chat(Protocol):
    """The run's model client (the task model unless ``model`` names another, such as a
    judge): every call goes through its limiter, retries, cache, usage accounting, budgets and
    clock."""

    async def chat(
        self, messages: tuple[tuple[str, str], ...], example_id: str, model: str | None = None
    ) -> str: ...


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


@dataclass(frozen=True, kw_only=True)
class TaskInfo:
    """What every task tells the reflection model (``objective``, which finishes "You are
    improving the instruction given to an assistant that ...", ``background``, and
    ``input_label``, the name its examples' inputs are shown under) and what "solved" means
    (``perfect_score``)."""

    objective: str = "does the task shown in the examples"
    background: str = ""
    input_label: str = "Input"
    perfect_score: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.objective, str) or not self.objective.strip():
            raise ValueError(f"objective={self.objective!r} is invalid: must be non-empty text")
        score = self.perfect_score
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 < score <= 1:
            raise ValueError(f"perfect_score={score!r} is invalid: must be a number in (0, 1]")
