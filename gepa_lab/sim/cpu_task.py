"""A CPU-heavy task for the simulated world: evaluations that cost real computation.

LLM calls are I/O, and one machine keeps thousands in flight. What outgrows one machine is an
evaluator that computes: generated code run against tests, an agent episode in a simulator, a
local metric model. :class:`CpuChecker` stands in for one. It takes the simulated task model's
answer to the problem under the candidate instruction (:func:`gepa_lab.sim.task_model.answer`,
no model call), spends ``steps`` steps of a pure-Python loop "checking" it, and scores it as
AIME does. The loop is deterministic and holds the GIL, so threads in one process run one
check at a time and only more processes (Ray workers) run more: about 1 ms per 7,000 steps on
the 2-core machines here.

``cpu_world(steps)`` packages it as a :class:`~gepa_lab.sim.task_worlds.TaskWorld` (training and
held-out sets, seed, reference, budget), its answers and scores those of the AIME world.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..executors import ThreadExecutor
from ..protocols import Executor
from ..tasks.evaluator import EvaluatorTask
from ..tasks.examples import Example
from ..tasks.metrics import ExactInt
from .dataset import synthetic_aime
from .skills import HABITS, SKILLS
from .task_model import answer
from .task_worlds import TaskWorld

CPU_SEED = "You are a helpful assistant. Solve the math problem."
CPU_REFERENCE = "\n".join([CPU_SEED, *(s.hint for s in SKILLS), *(h.hint for h in HABITS)])


def spend(steps: int, salt: str) -> int:
    """``steps`` steps of a 64-bit linear congruential generator seeded by ``salt``: real CPU,
    the same result every time."""
    x = int.from_bytes(salt.encode()[:8].ljust(8, b"\0"), "little")
    for _ in range(steps):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
    return x


@dataclass(frozen=True)
class CpuChecker:
    """An evaluator ``(instruction, example) -> (score, feedback)`` that spends ``steps`` loop
    steps per example. A module-level class, so Ray workers unpickle it by reference."""

    steps: int = 20_000
    landscape: str = "skills"

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps={self.steps!r} is invalid: must be an integer >= 0")

    def __call__(self, instruction: str, example: Example) -> tuple[float, str]:
        output = answer(instruction, example.problem, self.landscape)
        spend(self.steps, f"{example.id}/{output}")
        score, verdict = ExactInt()(example, output)
        return score, f"{verdict}\nThe model's answer:\n{output}"


def cpu_task(steps: int = 20_000, executor: Executor | None = None) -> EvaluatorTask:
    """:class:`CpuChecker` as a task, run on ``executor`` (default: local threads)."""
    return EvaluatorTask(
        CpuChecker(steps),
        binary=True,
        executor=executor or ThreadExecutor(),
        objective="solves competition math problems; each answer is checked by a program",
        input_label="Problem",
    )


def cpu_world(steps: int = 20_000, executor: Executor | None = None) -> TaskWorld:
    """The AIME-style problems scored by :class:`CpuChecker`: 30 training problems, 100
    held out."""
    return TaskWorld(
        f"cpu-check30-{steps}",
        cpu_task(steps, executor),
        CPU_SEED,
        CPU_REFERENCE,
        lambda: (synthetic_aime(30, seed=5), synthetic_aime(100, seed=1005, prefix="held")),
        budget=3000,
    )
