"""The simulated world's tasks other than AIME, packaged for benchmarks: the review-labelling
task (:mod:`gepa_lab.sim.sentiment`), the two-step program (:mod:`gepa_lab.sim.program`) and
AIME-style answers checked by a program that costs CPU (:mod:`gepa_lab.sim.cpu_task`).

Each has a training set, a held-out set that shares no example with it, a seed candidate, a
task-call budget and a target that is not chosen by hand: the training-set score of a reference
candidate stating everything the simulated models know, rounded down to a multiple of 0.05.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from ..protocols import Executor, Task
from ..tasks import LLMTask, ProgramTask, load_examples, metrics
from ..tasks.examples import Example
from .cpu_task import VirtualCpus, cpu_task
from .dataset import synthetic_aime
from .program import two_step
from .provider import SimProvider
from .sentiment import LABEL_FORMAT, LABELS, RULES, synthetic_reviews
from .skills import HABITS, REFERENCE, SEED_PROMPT, SKILLS

REVIEW_SEED = "Label the review."
PROGRAM_SEED = {
    "planner": "List the methods this problem needs.",
    "solver": "Solve the math problem, following the plan.",
}


def _reviews(n_train: int, n_held: int) -> tuple[list[Example], list[Example]]:
    train_rows = synthetic_reviews(n_train, seed=0)
    held_rows = synthetic_reviews(n_held, seed=1000, exclude={r["text"] for r in train_rows})
    return (
        load_examples(train_rows, input="text", answer="label", id="id"),
        load_examples(held_rows, input="text", answer="label", id="id"),
    )


@dataclass(frozen=True)
class TaskWorld:
    name: str
    task: Task
    seed: str | dict[str, str]
    reference: str | dict[str, str]
    data: Callable[[], tuple[list[Example], list[Example]]]
    budget: int = 2000  # task calls (example evaluations)
    reflection: str = "stochastic"  # one of gepa_lab.sim.reflection_model.REFLECTION_MODELS

    def provider(self) -> SimProvider:
        return SimProvider(reflection=self.reflection)

    @cached_property
    def splits(self) -> tuple[list[Example], list[Example]]:
        return self.data()

    @property
    def train(self) -> list[Example]:
        return self.splits[0]

    @property
    def held_out(self) -> list[Example]:
        return self.splits[1]

    def score(self, candidate: str | dict[str, str], examples: list[Example]) -> float:
        """``candidate``'s mean score on ``examples`` (simulated world, virtual clock)."""
        from ..api import score_prompt

        return asyncio.run(score_prompt(candidate, examples, task=self.task, time_mode="virtual"))

    @cached_property
    def target(self) -> float:
        return math.floor(self.score(self.reference, self.train) * 20 + 1e-9) / 20


def cpu_world(steps: int = 20_000, executor: Executor | None = None) -> TaskWorld:
    """The AIME-style problems scored by :class:`~gepa_lab.sim.cpu_task.CpuChecker` spending
    ``steps`` loop steps per check on ``executor`` (default: local threads): 30 training
    problems, 100 held out, the answers and scores of the AIME worlds at any ``steps``."""
    return TaskWorld(
        "cpu-check30",
        cpu_task(steps, executor),
        SEED_PROMPT,
        REFERENCE,
        lambda: (synthetic_aime(30, seed=5), synthetic_aime(100, seed=1005, prefix="held")),
        budget=3000,
    )


TASK_WORLDS = (
    TaskWorld(
        "reviews45",
        LLMTask(
            user="{text}",
            metric=metrics.LabelAccuracy(LABELS),
            objective="labels product reviews as positive or negative",
        ),
        REVIEW_SEED,
        "\n".join([REVIEW_SEED, *(r.hint for r in RULES), LABEL_FORMAT.hint]),
        lambda: _reviews(45, 60),
    ),
    TaskWorld(
        "plan-solve30",
        ProgramTask(
            two_step,
            metrics.ExactInt(),
            objective="plans and solves competition math problems",
            input_label="Problem",
        ),
        PROGRAM_SEED,
        {
            "planner": "\n".join([PROGRAM_SEED["planner"], *(s.hint for s in SKILLS)]),
            "solver": "\n".join([PROGRAM_SEED["solver"], *(h.hint for h in HABITS)]),
        },
        lambda: (synthetic_aime(30, seed=4), synthetic_aime(100, seed=1004, prefix="held")),
        budget=3000,
    ),
    # Checks a few at a time, as on a 2-CPU machine, half a simulated second each.
    cpu_world(0, VirtualCpus(cpus=2, seconds=0.5)),
)
TASK_WORLD_BY_NAME = {w.name: w for w in TASK_WORLDS}
