"""A synthetic AIME-style dataset, and the decoder that lets the task model read a problem.

Problems are made of skill clauses (see :mod:`gepa_lab.sim.skills`). Everything latent about a
problem (its skills, its difficulty and its answer) is a function of its text, so the task model,
in process or behind the HTTP server, needs nothing but the text it is sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from ..tasks.examples import Example
from .hashing import unit
from .skills import SKILLS, Skill

QUESTION = "Give the final answer as an integer from 0 to 999."


@dataclass(frozen=True, slots=True)
class Latent:
    """What the simulated task model knows about a problem from its text."""

    skills: tuple[Skill, ...]
    difficulty: float  # 0 easy .. 1 hard
    answer: int


@lru_cache(maxsize=65536)
def decode(problem: str) -> Latent:
    low = problem.lower()
    skills = tuple(s for s in SKILLS if s.signature in low)
    difficulty = unit("difficulty", problem)
    return Latent(skills, difficulty, int(unit("answer", problem) * 1000))


def make_problem(rng: random.Random) -> str:
    """One problem needing 1-3 skills (mostly 2), with random numbers in its clauses."""
    n_skills = rng.choices((1, 2, 3), weights=(3, 5, 2))[0]
    skills = rng.sample(SKILLS, n_skills)
    clauses = [
        rng.choice(s.clauses).format(
            a=rng.randint(2, 40), b=rng.randint(2, 40), c=rng.randint(2, 40)
        )
        for s in skills
    ]
    return " ".join([*clauses, QUESTION])


def synthetic_aime(n: int, seed: int = 0, prefix: str = "sim") -> list[Example]:
    """``n`` simulated AIME-style examples, the same for the same ``(n, seed)``.

    Answers are integers 0-999 consistent with :func:`decode`, so the simulated task model can be
    right or wrong about them. Problem texts are unique within a dataset.
    """
    if n < 1:
        raise ValueError(f"synthetic_aime: n={n} is invalid: must be at least 1")
    rng = random.Random(f"gepa_lab.sim/{seed}")
    seen: set[str] = set()
    examples: list[Example] = []
    while len(examples) < n:
        text = make_problem(rng)
        if text in seen:
            continue
        seen.add(text)
        examples.append(Example(f"{prefix}-{seed}-{len(examples):04d}", text, decode(text).answer))
    return examples
