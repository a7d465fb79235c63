"""A suite of simulated worlds, so no default is chosen on one world alone.

A world is a task landscape (:data:`~gepa_lab.sim.task_model.LANDSCAPES`), a reflection model
(:data:`~gepa_lab.sim.reflection_model.REFLECTION_MODELS`), a fixed training set (its size and
data seed), a held-out set and a task-call budget. Its target is not chosen by hand: it is the
score, on the training set, of a reference instruction that states every hint and habit the
simulated task model knows, rounded down to a multiple of 0.05: what a well-written instruction
reaches. Everything is deterministic; seeds vary only the optimizers.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from functools import cached_property

from ..tasks import AIME
from ..tasks.examples import Example
from .dataset import synthetic_aime
from .provider import TASK_MODEL, SimProvider
from .skills import REFERENCE, SEED_PROMPT
from .task_worlds import TASK_WORLDS

HELD_OUT = 100


@dataclass(frozen=True)
class World:
    name: str
    landscape: str
    reflection: str
    n: int
    data_seed: int = 0
    budget: int = 2000  # task calls

    seed = SEED_PROMPT
    reference = REFERENCE
    task = AIME

    def provider(self) -> SimProvider:
        return SimProvider(reflection=self.reflection, landscape=self.landscape)

    @cached_property
    def train(self) -> list[Example]:
        return synthetic_aime(self.n, seed=self.data_seed)

    @cached_property
    def held_out(self) -> list[Example]:
        return synthetic_aime(HELD_OUT, seed=1000 + self.data_seed, prefix="held")

    def score(self, candidate: str | dict[str, str], examples: list[Example]) -> float:
        """``candidate``'s mean score on ``examples`` in this world (virtual clock)."""
        from ..api import score_prompt

        return asyncio.run(
            score_prompt(
                candidate,
                examples,
                provider=self.provider(),
                task_model=TASK_MODEL,
                time_mode="virtual",
                task=self.task,
            )
        )

    @cached_property
    def target(self) -> float:
        return math.floor(self.score(REFERENCE, self.train) * 20 + 1e-9) / 20


WORLDS = (
    World("aime45-stochastic", "skills", "stochastic", 45),
    World("aime45-deterministic", "skills", "deterministic", 45),
    World("aime12-deterministic", "skills", "deterministic", 12, data_seed=2),
    World("aime8-deterministic", "skills", "deterministic", 8),
    World("aime45-weak", "skills", "weak", 45),
    World("aime30-strong", "skills", "strong", 30),
    World("noisy45-deterministic", "noisy", "deterministic", 45),
    World("aime150-stochastic", "skills", "stochastic", 150, budget=6000),
    World("phrases30-stochastic", "phrases", "stochastic", 30),
    World("deceptive45-deterministic", "deceptive", "deterministic", 45),
    World("aime300-deterministic", "skills", "deterministic", 300, data_seed=3, budget=10000),
)
WORLD_BY_NAME = {w.name: w for w in WORLDS}

# The suite benchmarks/world_suite.py runs: the AIME-style worlds, and the review-labelling task,
# the two-step program and the CPU-checked problems (gepa_lab.sim.task_worlds) with the
# deterministic and weak reflection models.
SUITE = (
    *WORLDS,
    *(
        replace(world, name=f"{world.name}-{reflection}", reflection=reflection)
        for world in TASK_WORLDS
        for reflection in ("deterministic", "weak")
    ),
)
SUITE_BY_NAME = {w.name: w for w in SUITE}
