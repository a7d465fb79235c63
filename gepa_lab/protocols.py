"""The seams of gepa_lab, each a small protocol: what the engine needs from an adapter, what
an adapter needs from a task, what a task may ask of the run's model client, and what every
provider offers. Implementations live in their folders (tasks/, llm/, adapter.py); the engine
depends on this module and on nothing that knows what an answer is."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .engine.candidate import Candidate, Trace
    from .llm.provider import ChatRequest, ChatResponse
    from .tasks.aime import Score
    from .tasks.examples import Example

ProgressFn = Callable[[dict[str, Any]], None]
# Extra per-example text for the reflection model (see gepa_lab.adapter.solution_feedback).
FeedbackFn = Callable[["Example", str, "Score"], "str | None"]


class RunAborted(RuntimeError):
    """The run cannot go on: it stops with this error (its state saved), where a failed LLM
    call only fails one evaluation."""


class UserCodeError(RunAborted):
    """A user function (an evaluator, a metric, a program, a feedback function) failed."""


class Adapter(Protocol):
    """What the engine needs: evaluate one example, propose one new text. The engine passes
    examples through without looking inside them."""

    async def evaluate(self, candidate: Candidate, example: Example) -> Trace: ...

    async def propose(
        self,
        candidate: Candidate,
        component: str,
        examples: Sequence[tuple[Example, Trace]],
        seed: int,
        strategy: str = "reflect",
        temperature_boost: float = 0.0,
    ) -> str | None: ...


class Provider(Protocol):
    """Anything that answers chat requests: the simulated world, an OpenAI-compatible
    endpoint, a throttle or a test double."""

    async def complete(self, request: ChatRequest) -> ChatResponse: ...


class Chat(Protocol):
    """The run's model client (the task model unless ``model`` names another, such as a
    judge): every call goes through its limiter, retries, cache, usage accounting, budgets and
    clock."""

    async def chat(
        self, messages: tuple[tuple[str, str], ...], example_id: str, model: str | None = None
    ) -> str: ...


class ExecutorError(RuntimeError):
    """The executor could not run a call (a worker or a node died, the cluster lost the
    result): the evaluation failed, not the user's code, and is tried again like a failed
    LLM call."""


class Executor(Protocol):
    """Runs user code that costs CPU (an evaluator) away from the event loop: in local
    threads, or on a Ray cluster. ``capacity`` is how many calls it runs at once now (a
    cluster's may change); the scheduler keeps no more evaluations in flight than that."""

    @property
    def capacity(self) -> int: ...

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def close(self) -> None: ...


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
