"""What a mutation strategy is, the registry of them, and the reflection request each writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.candidate import Trace
    from ..protocols import Task
    from ..tasks.examples import Example

Show = Callable[[int, "Example", "Trace", str], str]


def attempt(i: int, ex: Example, tr: Trace, label: str) -> str:
    """An example as the candidate met it: its input, the response and the feedback."""
    return f"### Example {i}\n{label}: {ex.problem}\nResponse: {tr.output}\nFeedback: {tr.feedback}"


def solved(i: int, ex: Example, tr: Trace, label: str) -> str:
    """An example as the task defines it: its input, the correct answer and any solution."""
    solution = f"\nReference solution: {ex.solution}" if ex.solution else ""
    return f"### Example {i}\n{label}: {ex.problem}\nCorrect answer: {ex.answer}{solution}"


@dataclass(frozen=True)
class Strategy:
    """One way to ask the reflection model for a new text: a ``template`` with the
    placeholders ``{current}`` (the component's text), ``{examples}`` (each written by
    ``show``), ``{objective}`` and ``{background}`` (the task's), which must ask for the new
    text inside a single ``` block."""

    name: str
    template: str
    show: Show = attempt

    def prompt(self, current: str, examples: Sequence[tuple[Example, Trace]], task: Task) -> str:
        label = task.input_label
        blocks = "\n\n".join(self.show(i, ex, tr, label) for i, (ex, tr) in enumerate(examples, 1))
        extra = task.background.strip()
        background = f"\n\nBackground:\n{extra}" if extra else ""
        return self.template.format(
            current=current, examples=blocks, objective=task.objective, background=background
        )


STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Make ``strategy`` available by name to ``Config.mutation_strategies``."""
    if strategy.name in STRATEGIES:
        raise ValueError(f"a mutation strategy named {strategy.name!r} is already registered")
    STRATEGIES[strategy.name] = strategy
    return strategy


def reflection_prompt(
    current: str,
    examples: Sequence[tuple[Example, Trace]],
    strategy: str = "reflect",
    *,
    task: Task,
) -> str:
    """The request of the strategy named ``strategy``, written for ``task``: its objective and
    background, its examples' inputs under its ``input_label``."""
    return STRATEGIES[strategy].prompt(current, examples, task)
