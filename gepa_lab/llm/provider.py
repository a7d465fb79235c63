"""What a chat completion is: the request, the reply, and the errors a provider may raise.

The simulated world (``gepa_lab.sim``) and real OpenAI-compatible endpoints both sit behind
:class:`~gepa_lab.protocols.Provider`, so the engine never knows which one it is driving.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocols import RunAborted


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """An OpenAI-style chat request; ``seed`` makes sampled calls reproducible."""

    model: str
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    # Not sent to the model: lets throttling serve reflections first and usage be split by role.
    purpose: str = "task"

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


class ProviderError(Exception):
    """A call that produced no usable answer. ``retryable`` says whether trying again may help;
    ``status`` is the HTTP status, when there was one."""

    retryable = True

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(ProviderError):
    """The provider asked us to slow down (429, or 503 with Retry-After)."""

    def __init__(
        self, message: str, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """A 5xx, a timeout, a dropped connection or an unparsable body: worth another try."""


class RequestRejected(ProviderError):
    """The provider refused the request itself (400, 401, 403, 404): retrying cannot help."""

    retryable = False


class ProviderUnavailable(RunAborted):
    """The endpoint cannot serve this run (down, a rejected key, an unknown model); the
    message names it and says what to check."""


def origin(provider: object) -> str:
    """Which backend answers through ``provider``: its ``origin`` (an endpoint's base URL, the
    simulated world's identity), else its class; wrappers such as the throttle pass their
    inner provider's on."""
    named = getattr(provider, "origin", None)
    if isinstance(named, str) and named:
        return named
    kind = type(provider)
    return f"{kind.__module__}.{kind.__qualname__}"
