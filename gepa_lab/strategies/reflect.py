"""``reflect``: incremental reflection (GEPA). The current text, the attempts that failed with
their outputs and feedback; keep what works and fix what failed."""

from .base import Strategy, register

TEMPLATE = """\
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

register(Strategy("reflect", TEMPLATE))
