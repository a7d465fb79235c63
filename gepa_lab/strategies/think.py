"""``think``: interleaved thinking. Rewrite the instruction so the model reasons privately in
``<think>`` blocks, checks itself, and only then gives its public answer. Its first line names
its task, which is how the simulated reflection model tells it apart."""

from .base import Strategy, register

TEMPLATE = """\
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

register(Strategy("think", TEMPLATE))
