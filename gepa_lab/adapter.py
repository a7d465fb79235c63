"""The bridge between the engine and an LLM provider: evaluate a candidate, reflect on it.

This is GEPA's adapter role: the engine only knows candidates, examples and traces. The adapter
asks its task what an evaluation is (:mod:`gepa_lab.tasks`: messages and a metric, your
evaluator, or your program), turns failures into a reflection request written for that task
(:mod:`gepa_lab.strategies`), and sends every call through its client
(:class:`~gepa_lab.llm.client.RunClient`), which a run binds to its own context.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .engine.candidate import Candidate, Trace
from .llm.cache import EvalCache
from .llm.client import CallCounts, RunClient
from .llm.provider import ChatRequest
from .protocols import FeedbackFn, Provider, Task, UserCodeError
from .runs.context import RunContext
from .strategies import reflection_prompt
from .tasks.aime import Score
from .tasks.examples import Example
from .tasks.llm_task import AIME


def solution_feedback(example: Example, response: str, score: Score) -> str | None:
    """A feedback function: on a wrong answer, show the reference solution when the data has
    one (GEPA's AIME setup does this), so the reflection model can see the method it missed."""
    if score.value >= 1 or not example.solution:
        return None
    return f"Reference solution: {example.solution}"


# The highest sampling temperature OpenAI-compatible APIs accept.
MAX_TEMPERATURE = 2.0
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


def extract_instruction(text: str) -> str | None:
    """The first fenced block of a reflection reply, else the whole reply; None if empty. A
    fence left open (a reply cut off by its token limit) loses its opening line, language tag
    included, so ``python`` never becomes the first word of an instruction."""
    found = _FENCE.search(text)
    if found:
        return found.group(1).strip() or None
    start = text.find("```")
    if start >= 0 and "```" not in text[start + 3 :]:
        opened = text[start + 3 :]
        body = opened.split("\n", 1)[1] if "\n" in opened else ""
        return body.strip() or None
    return text.strip("` \n").strip() or None


@dataclass
class LLMAdapter:
    """Evaluates candidates by its ``task`` (by default AIME's: the candidate as the system
    prompt of ``task_model``); reflects with ``reflection_model``.

    With a ``cache``, answers already known are served from it. ``task_calls`` and
    ``reflection_calls`` count the calls paid for (cache hits excluded), in every run of this
    adapter. A run never modifies it: ``optimize`` drives a copy bound to the run's context
    (:meth:`bind`).
    """

    provider: Provider
    task_model: str
    reflection_model: str
    temperature: float = 0.0
    reflection_temperature: float = 1.0
    max_tokens: int | None = None  # per task-model reply; None = the endpoint's default
    reflection_max_tokens: int | None = None  # per reflection reply
    cache: EvalCache | None = None
    # Extra per-example feedback for the reflection model (see solution_feedback).
    feedback: FeedbackFn | None = None
    task: Task = AIME  # what an evaluation is: messages and a metric, or your evaluator
    calls: CallCounts = field(default_factory=CallCounts, init=False, repr=False)
    client: RunClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.client = RunClient(self.provider, self.cache, counts=self.calls)

    def bind(self, context: RunContext) -> LLMAdapter:
        """A copy of this adapter that talks through ``context`` (the run's throttle, cache,
        completion log and replay gate) and counts its calls here."""
        bound = copy.copy(self)
        bound.client = RunClient(
            context.provider or self.provider,
            context.cache if context.cache is not None else self.cache,
            context.replay_latency,
            context.log,
            context.replay,
            self.calls,
        )
        if context.feedback is not None:
            bound.feedback = context.feedback
        return bound

    def capacity(self) -> int | None:
        """How many evaluations the task's executor runs at once now (None: no limit of its
        own, as for an LLM task, whose limit is the provider's)."""
        return getattr(self.task, "capacity", None)

    @property
    def task_calls(self) -> int:
        return self.calls.task

    @property
    def reflection_calls(self) -> int:
        return self.calls.reflection

    async def chat(
        self, messages: tuple[tuple[str, str], ...], example_id: str, model: str | None = None
    ) -> str:
        """One call for ``example_id`` to the task model (or ``model``, e.g. a judge), through
        the run's cache, log and replay."""
        request = ChatRequest(model or self.task_model, messages, self.temperature, self.max_tokens)
        return (await self.client.complete(request, example_id)).text

    async def evaluate(self, candidate: Candidate, example: Example) -> Trace:
        output, value, feedback = await self.task.evaluate(self, candidate.components, example)
        if self.feedback is not None:
            try:
                extra = self.feedback(example, output, Score(value, None, feedback))
            except Exception as exc:
                raise UserCodeError(
                    f"the feedback function failed on example {example.id!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if extra is not None and not isinstance(extra, str):
                raise UserCodeError(
                    f"the feedback function must return a str or None, got "
                    f"{type(extra).__name__} for example {example.id!r}"
                )
            if extra:
                feedback = f"{feedback}\n{extra}"
        return Trace(value, output, feedback)

    async def propose(
        self,
        candidate: Candidate,
        component: str,
        examples: Sequence[tuple[Example, Trace]],
        seed: int,
        strategy: str = "reflect",
        temperature_boost: float = 0.0,
    ) -> str | None:
        """A new text for ``component`` by ``strategy`` (see :mod:`gepa_lab.strategies`), or
        None if the reply held none. ``temperature_boost`` (the engine's escalation when
        reflections repeat) is added to the reflection temperature, up to MAX_TEMPERATURE."""
        text = candidate.components[component]
        prompt = reflection_prompt(text, examples, strategy, task=self.task)
        temperature = min(MAX_TEMPERATURE, self.reflection_temperature + temperature_boost)
        request = ChatRequest(
            self.reflection_model,
            (("user", prompt),),
            temperature,
            self.reflection_max_tokens,
            seed,
            purpose="reflection",
        )
        response = await self.client.complete(request, None)
        return extract_instruction(response.text)
