"""A simulated two-step program: a planner call, then a solver call, on the AIME-style problems.

The planner (``sim-task`` given a user message that starts with :data:`PLAN_REQUEST`) writes,
for each skill the problem needs, that skill's hint if its own instruction states it, and
nothing else: it knows methods, not habits. The solver (a user message holding the problem, then
:data:`PLAN_HEADER` and the plan) takes its methods from the plan alone and its habits (answer
format, verification, steps) from its own instruction alone (see
:func:`gepa_lab.sim.task_model.answer`). So each component matters separately: a perfect
planner under a solver with no answer format misses the target, and so does a perfect solver
under a planner that knows no methods. :func:`two_step` is the program, as a user writes it.
"""

from __future__ import annotations

from ..tasks.examples import Example
from .dataset import decode
from .task_model import read_instruction

PLAN_REQUEST = "Make a plan for this problem:"
PLAN_HEADER = "\n\nPlan:\n"
NO_PLAN = "- Work it out directly."


def make_plan(instruction: str, problem: str) -> str:
    """The planner's reply: one line per needed skill whose hint its instruction states."""
    covered = read_instruction(instruction).covered
    lines = [f"- {s.hint}" for s in decode(problem).skills if s.key in covered]
    return "\n".join(lines) or NO_PLAN


async def two_step(candidate: dict[str, str], example: Example, lm) -> str:
    """Plan with the ``planner`` component, then solve with the ``solver`` component."""
    plan = await lm(f"{PLAN_REQUEST}\n{example.problem}", system=candidate["planner"], step="plan")
    return await lm(
        f"{example.problem}{PLAN_HEADER}{plan}", system=candidate["solver"], step="solve"
    )
