"""An LLM task: message templates filled from the candidate and the example, and a metric.

``{name}`` in a template is filled with the candidate's component of that name if it has one,
else with the example's field of that name (``Example.fields``, the row it was loaded from);
``{problem}`` is the example's input text. Literal braces are written ``{{`` and ``}}``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..protocols import Chat
from .examples import Example
from .info import TaskInfo
from .metrics import ExactInt, Metric, checked, is_binary, verdict


@lru_cache(maxsize=1024)
def placeholders(template: str, what: str) -> tuple[str, ...]:
    """The ``{name}`` fields of ``template``; a malformed one raises ``ValueError``. Cached:
    every evaluation fills its templates."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"{what}={template!r} is invalid: {exc} (write literal braces as {{{{ }}}})"
        ) from None
    names = []
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(
                f"{what}={template!r} is invalid: {{{name}}} must be a plain name such as "
                "{text} (write literal braces as {{ }})"
            )
        names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class LLMTask(TaskInfo):
    """Messages for the task model and the metric that scores its reply.

    ``system`` None sends every component of the candidate, in order, as the system message
    (one instruction: the common case). ``objective`` finishes the reflection model's sentence
    "You are improving the instruction given to an assistant that ..."; ``background`` adds
    what it should know about the task. ``input_label`` names the example's input where a
    reflection shows it.
    """

    metric: Metric
    user: str = "{problem}"
    system: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(self.metric):
            raise ValueError(f"metric={self.metric!r} is invalid: must be callable")
        placeholders(self.user, "user")
        if self.system is not None:
            placeholders(self.system, "system")

    @property
    def binary(self) -> bool:
        """True if the metric scores only 0 or 1."""
        return is_binary(self.metric)

    def messages(
        self, components: Mapping[str, str], example: Example
    ) -> tuple[tuple[str, str], ...]:
        """The chat messages for one (candidate, example)."""
        values: dict[str, Any] = {"problem": example.problem, **example.fields, **components}
        system = (
            "\n\n".join(components.values())
            if self.system is None
            else self._fill(self.system, "system", values, example)
        )
        return (("system", system), ("user", self._fill(self.user, "user", values, example)))

    def check(self, components: Mapping[str, str], example: Example) -> None:
        """Raise ``ValueError`` before any call if a template names something neither the
        candidate nor the example has, or a name that is both."""
        clash = sorted(set(components) & set(example.fields))
        if clash:
            raise ValueError(
                f"{clash[0]!r} is both a component of the candidate and a field of example "
                f"{example.id!r}: rename one of them"
            )
        self.messages(components, example)

    def score(self, example: Example, output: str) -> tuple[float, str]:
        """(score in [0, 1], feedback) of ``output`` on ``example``."""
        return checked(self.metric, example, output)

    async def evaluate(
        self, llm: Chat, components: Mapping[str, str], example: Example
    ) -> tuple[str, float, str]:
        """One task-model call and its score: (output, score, feedback). A metric that fails
        stops the run (:class:`UserCodeError`), naming the example."""
        output = await llm.chat(self.messages(components, example), example.id)
        score, feedback = await verdict(self.metric, example, output, llm)
        return output, score, feedback

    @staticmethod
    def _fill(template: str, what: str, values: Mapping[str, Any], example: Example) -> str:
        missing = [n for n in placeholders(template, what) if n not in values]
        if missing:
            known = ", ".join(sorted(values))
            raise ValueError(
                f"{what} template: {{{missing[0]}}} is neither a component of the candidate nor "
                f"a field of example {example.id!r} (known: {known})"
            )
        return template.format(**values)


# The AIME task: the instruction as system message, the problem as user message, exact integer
# answers 0-999.
AIME = LLMTask(
    metric=ExactInt(), objective="solves competition math problems", input_label="Problem"
)
