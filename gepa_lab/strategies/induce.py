"""``induce``: specification induction (as in Prompt-MII). The examples with their correct
answers and reference solutions, not the model's attempts; write the instruction a solver of
such problems needs. It sees what the task requires rather than how one instruction failed,
so it can add what no failure mentions and drop what does not belong. Its first line names its
task, which is how the simulated reflection model tells it apart."""

from .base import Strategy, register, solved

TEMPLATE = """\
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

register(Strategy("induce", TEMPLATE, solved))
