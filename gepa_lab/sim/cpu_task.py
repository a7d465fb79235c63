"""A CPU-heavy task for the simulated world: evaluations that cost real computation.

LLM calls are I/O, and one machine keeps thousands in flight. What outgrows one machine is an
evaluator that computes: generated code run against tests, an agent episode in a simulator, a
local metric model. :class:`CpuChecker` stands in for one. It takes the simulated task model's
answer to the problem under the candidate instruction (:func:`gepa_lab.sim.task_model.answer`,
no model call), spends ``steps`` steps of a pure-Python loop "checking" it, and scores it as
AIME does. The loop is deterministic and holds the GIL, so threads in one process run one
check at a time and only more processes (Ray workers) run more: about 1 ms per 7,000 steps on
the 2-core machines here.

:class:`VirtualCpus` is the same work on the virtual clock: a machine of a few CPUs, each check
holding one for a simulated time. With it the task joins the suite of simulated worlds
(``cpu-check30`` in :mod:`gepa_lab.sim.task_worlds`), deterministic like them: a world where
evaluations are few at a time and slow, not thousands of LLM calls in flight.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..protocols import Executor
from ..tasks.evaluator import EvaluatorTask
from ..tasks.examples import Example
from ..tasks.metrics import ExactInt
from .task_model import answer


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
        executor=executor,
        objective="solves competition math problems; each answer is checked by a program",
        input_label="Problem",
    )


class VirtualCpus:
    """An executor for the virtual clock standing in for a machine of ``cpus`` CPUs: each call
    waits for a free CPU, holds it ``seconds`` simulated seconds, then runs on the event loop
    (for a check that costs next to nothing really, such as ``CpuChecker(0)``)."""

    def __init__(self, cpus: int = 2, seconds: float = 0.5) -> None:
        if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
            raise ValueError(f"cpus={cpus!r} is invalid: must be an integer >= 1")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds < math.inf
        ):
            raise ValueError(f"seconds={seconds!r} is invalid: must be a finite number >= 0")
        self.cpus, self.seconds = cpus, seconds
        # A semaphore serves one event loop; each run has its own loop.
        self._free: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def capacity(self) -> int:
        return self.cpus

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        free = self._free.get(loop)
        if free is None:
            free = self._free[loop] = asyncio.Semaphore(self.cpus)
        async with free:
            await asyncio.sleep(self.seconds)
            return fn(*args)

    def close(self) -> None:
        self._free.clear()

    def __reduce__(self) -> tuple[type, tuple[int, float]]:
        return VirtualCpus, (self.cpus, self.seconds)  # a copy starts with every CPU free

    def __repr__(self) -> str:
        return f"VirtualCpus(cpus={self.cpus}, seconds={self.seconds})"
