"""The one interface every LLM backend implements: a chat completion, awaited.

The simulated world (``gepa_lab.sim``) and real OpenAI-compatible endpoints both sit behind
:class:`Provider`, so the engine never knows which one it is driving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """An OpenAI-style chat request; ``seed`` makes sampled calls reproducible."""

    model: str
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None

    @property
    def system(self) -> str:
        return next((c for r, c in self.messages if r == "system"), "")

    @property
    def user(self) -> str:
        return "\n".join(c for r, c in self.messages if r == "user")


@dataclass(frozen=True, slots=True)
class ChatResponse:
    text: str
    prompt_tokens: int
    completion_tokens: int


class Provider(Protocol):
    """Anything that answers chat requests asynchronously."""

    async def complete(self, request: ChatRequest) -> ChatResponse: ...
