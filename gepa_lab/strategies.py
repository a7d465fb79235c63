"""Mutation strategies: the ways a reflection model is asked for a new instruction.

- ``reflect``: incremental reflection (GEPA): the current instruction, the attempts that failed
  with their outputs and feedback; keep what works and fix what failed.
- ``induce``: specification induction (as in Prompt-MII): the problems with their correct
  answers and reference solutions, not the model's attempts; write the instruction a solver of
  such problems needs. It sees what the task requires rather than how one instruction failed,
  so it can add what no failure mentions and drop what does not belong.
- ``think``: interleaved thinking: rewrite the instruction so the model reasons privately in
  ``<think>`` blocks, checks itself, and only then gives its public answer.

Which one to use is learned during the run (:class:`~gepa_lab.engine.bandit.StrategyBandit`).
The induction and thinking templates open with a line naming their task, which is also how the
simulated reflection model tells the three apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from .engine.candidate import Trace
from .protocols import Task
from .tasks.examples import Example
from .tasks.llm_task import AIME

REFLECT = """\
You are improving the instruction given to an assistant that {objective}.{background}

Current instruction:
```
{current}
```

Below are problems the assistant attempted with this instruction, its responses and feedback.

{examples}

Write an improved instruction that would have avoided these failures. Keep what already works, \
add concrete, reusable guidance (strategies, facts, answer format), and avoid advice that only \
fits one problem. Reply with the new instruction inside a single ``` block."""

INDUCE = """\
Task: write a specification from examples.
Here are problems of the kind an assistant must solve, with their correct answers.

{examples}

The instruction currently used (revise it freely, or start over):
```
{current}
```

Write the instruction a strong solver of exactly these kinds of problems should follow: the \
methods each kind of problem needs, the checks that catch typical mistakes, and the required \
answer format. Leave out anything that does not serve these problems. Reply with the \
instruction inside a single ``` block."""

THINK = """\
Task: add a thinking protocol to an instruction.
Rewrite the instruction below so that the assistant alternates private reasoning in \
<think> ... </think> blocks with short public conclusions, works step by step, verifies its \
result inside a final <think> block, and then gives its answer in the required format.

Current instruction:
```
{current}
```

Problems it was recently used on, with its responses and feedback:

{examples}

Keep every piece of domain guidance the instruction already has. Reply with the new \
instruction inside a single ``` block."""

TEMPLATES = {"reflect": REFLECT, "induce": INDUCE, "think": THINK}


def _attempt(i: int, ex: Example, tr: Trace, label: str) -> str:
    return f"### Example {i}\n{label}: {ex.problem}\nResponse: {tr.output}\nFeedback: {tr.feedback}"


def _solved(i: int, ex: Example, tr: Trace, label: str) -> str:
    solution = f"\nReference solution: {ex.solution}" if ex.solution else ""
    return f"### Example {i}\n{label}: {ex.problem}\nCorrect answer: {ex.answer}{solution}"


def reflection_prompt(
    current: str,
    examples: Sequence[tuple[Example, Trace]],
    strategy: str = "reflect",
    task: Task = AIME,
) -> str:
    """The request for ``strategy`` (one of :data:`TEMPLATES`), written for ``task``: its
    objective and background, its examples' inputs under its ``input_label``."""
    show = _solved if strategy == "induce" else _attempt
    label = task.input_label
    blocks = "\n\n".join(show(i, ex, tr, label) for i, (ex, tr) in enumerate(examples, 1))
    background = f"\n\nBackground:\n{task.background.strip()}" if task.background.strip() else ""
    return TEMPLATES[strategy].format(
        current=current, examples=blocks, objective=task.objective, background=background
    )
