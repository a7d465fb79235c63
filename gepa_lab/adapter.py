"""The bridge between the engine and an LLM provider: evaluate a candidate, reflect on it.

This is GEPA's adapter role: the engine only knows candidates, examples and traces. The adapter
owns the run's model client (cache, completion log, replay) and asks its task what an evaluation
is (:mod:`gepa_lab.tasks`: messages and a metric, your evaluator, or your program) and turns
failures into a reflection request written for that task.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .engine.candidate import Candidate, Trace
from .llm.cache import EvalCache, cache_key
from .llm.provider import ChatRequest, ChatResponse
from .protocols import Provider, Task, UserCodeError
from .runs.replay import CompletionLog, ReplayGate
from .strategies import reflection_prompt
from .tasks.aime import Score
from .tasks.examples import Example
from .tasks.llm_task import AIME

FeedbackFn = Callable[[Example, str, Score], str | None]


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

    With a ``cache``, answers already known are served from it (``task_calls`` and
    ``reflection_calls`` count only real calls). ``replay_latency`` makes a hit wait as long as
    the original call did: on a virtual clock that costs nothing and keeps a rerun's schedule,
    and so its trajectory, identical to the first run's.
    """

    provider: Provider
    task_model: str
    reflection_model: str
    temperature: float = 0.0
    reflection_temperature: float = 1.0
    max_tokens: int | None = None  # per task-model reply; None = the endpoint's default
    reflection_max_tokens: int | None = None  # per reflection reply
    cache: EvalCache | None = None
    replay_latency: bool = False
    # Extra per-example feedback for the reflection model (see solution_feedback).
    feedback: FeedbackFn | None = None
    task: Task = AIME  # what an evaluation is: messages and a metric, or your evaluator
    log: CompletionLog | None = None  # records the order calls finish in (run directories)
    replay: ReplayGate | None = None  # on resume: holds each replayed call until its turn
    task_calls: int = 0
    reflection_calls: int = 0
    _log_cut: bool = False

    async def _complete(self, request: ChatRequest, example_id: str | None) -> ChatResponse:
        keyed = self.cache is not None or self.log is not None
        key = cache_key(request, example_id) if keyed else None
        gate = self.replay
        if gate is None or key is None or not gate.replaying:
            response = await self._answer(request, key)
            self._record(key)
            return response
        gate.active += 1
        try:
            index = await gate.turn(key)
            response = await self._answer(request, key)
        finally:
            gate.active -= 1
        gate.done(index)
        if index is None:  # not a replayed call: this run's own
            self._record(key)
        return response

    async def _answer(self, request: ChatRequest, key: str | None) -> ChatResponse:
        cache = self.cache
        if cache is not None and key is not None:
            hit = cache.get(key)
            if hit is not None:
                if self.replay_latency:
                    await asyncio.sleep(hit.latency)
                return hit.response
        if request.purpose == "task":
            self.task_calls += 1
        else:
            self.reflection_calls += 1
        if cache is None or key is None:
            return await self.provider.complete(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await self.provider.complete(request)
        cache.put(key, request.model, response, loop.time() - started)
        return response

    def _record(self, key: str | None) -> None:
        log = self.log
        if log is None or key is None:
            return
        gate = self.replay
        if gate is not None and gate.abandoned and not self._log_cut:
            log.truncate(gate.pos)  # what the diverged replay really repeated, then this run
            self._log_cut = True
        log.append(key)

    async def chat(
        self, messages: tuple[tuple[str, str], ...], example_id: str, model: str | None = None
    ) -> str:
        """One call for ``example_id`` to the task model (or ``model``, e.g. a judge), through
        the run's cache, log and replay."""
        request = ChatRequest(model or self.task_model, messages, self.temperature, self.max_tokens)
        return (await self._complete(request, example_id)).text

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
        prompt = reflection_prompt(candidate.components[component], examples, strategy, self.task)
        temperature = min(MAX_TEMPERATURE, self.reflection_temperature + temperature_boost)
        request = ChatRequest(
            self.reflection_model,
            (("user", prompt),),
            temperature,
            self.reflection_max_tokens,
            seed,
            purpose="reflection",
        )
        response = await self._complete(request, None)
        return extract_instruction(response.text)
