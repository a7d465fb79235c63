"""The simulated task model: how an instruction and a problem turn into a worked answer.

The model (documented in ``gepa_lab/sim/README.md``)::

    p = (0.95 - 0.7 * difficulty) * prod(1 if skill covered else missing_skill_factor)
        + habit_scale * (sum(habit effects) + sum(noise effects)) - length penalty
    right  iff  (1 - wording) * u(problem) + wording * u(problem, instruction) < p

``u`` is a content hash in [0, 1). The shared ``u(problem)`` makes a better instruction solve a
superset of problems; the instruction-dependent part makes rewording matter a little, as it does
for real models. A :class:`Landscape` sets the constants (:data:`LANDSCAPES`).
Without a format instruction the model ends with ``### <n>`` only
``SPONTANEOUS_FORMAT`` of the time. A wrong answer says in words what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from .dataset import decode
from .hashing import unit
from .skills import FORMAT, HABITS, NOISE, SHORTCUT, SKILLS, STEPS, VERIFY, Skill

MISSING_SKILL_FACTOR = 0.45
SPONTANEOUS_FORMAT = 0.35
LENGTH_FREE_WORDS = 220  # longer instructions start to confuse the model
LENGTH_PENALTY_PER_WORD = 0.002


@dataclass(frozen=True, slots=True)
class InstructionFeatures:
    covered: frozenset[str]  # skill keys
    effect: float  # habits and asides (a landscape scales it)
    asks_format: bool
    verifies: bool
    steps: bool
    shortcut: bool
    words: int


@dataclass(frozen=True, slots=True)
class Landscape:
    """How accuracy responds to an instruction: what a world rewards, and how it misleads."""

    wording: float = 0.2  # share of the right-or-wrong draw that hashes the instruction's text
    missing_skill_factor: float = MISSING_SKILL_FACTOR  # accuracy kept per uncovered skill
    habit_scale: float = 1.0  # multiplies the habits' and asides' effects
    habits_first: bool = False  # a wrong answer blames a missing habit before a missing skill
    shortcut: float = 0.0  # the shortcut phrase's effect; while present, skills do not count


# "skills" (the default) rewards covering what problems need. "noisy" mostly rewards lucky
# wording: scores are rough and a rewording moves them as much as a new skill does. In
# "phrases" a handful of habit phrases decide (verify, step by step, the format) and skills
# matter little. "deceptive" offers a shortcut phrase that failures ask for and that lifts every
# problem at once, but hides the skill hints while present: the greedy path ends in a local
# optimum that only dropping the shortcut escapes.
LANDSCAPES = {
    "skills": Landscape(),
    "noisy": Landscape(wording=0.6),
    "phrases": Landscape(missing_skill_factor=0.85, habit_scale=3.0, habits_first=True),
    "deceptive": Landscape(shortcut=0.25),
}
SKILLS_LANDSCAPE = LANDSCAPES["skills"]


@lru_cache(maxsize=16384)
def read_instruction(instruction: str) -> InstructionFeatures:
    low = instruction.lower()

    def says(item) -> bool:
        return any(c in low for c in item.cues)

    covered = frozenset(s.key for s in SKILLS if says(s))
    effect = sum(h.effect for h in (*HABITS, *NOISE) if says(h))
    words = len(instruction.split())
    return InstructionFeatures(
        covered,
        effect,
        says(FORMAT),
        says(VERIFY),
        says(STEPS),
        says(SHORTCUT),
        words,
    )


def p_correct(
    instruction: str,
    problem: str,
    landscape: Landscape = SKILLS_LANDSCAPE,
    feats: InstructionFeatures | None = None,
) -> float:
    """Probability-like accuracy of this instruction on this problem (before the hash draw);
    ``feats`` overrides what is read from the instruction."""
    feats = feats or read_instruction(instruction)
    latent = decode(problem)
    factor = 1.0
    for skill in latent.skills:
        if (feats.shortcut and landscape.shortcut) or skill.key not in feats.covered:
            factor *= landscape.missing_skill_factor
    p = (0.95 - 0.7 * latent.difficulty) * factor + landscape.habit_scale * feats.effect
    p -= max(0, feats.words - LENGTH_FREE_WORDS) * LENGTH_PENALTY_PER_WORD
    if feats.shortcut:
        p += landscape.shortcut
    return min(0.98, max(0.02, p))


def answer(
    instruction: str, problem: str, landscape: str = "skills", plan: str | None = None
) -> str:
    """The model's response: a short worked answer, ending in ``### <n>`` when it follows format.

    With a ``plan`` (the solver step of a two-step program, :mod:`gepa_lab.sim.program`), the
    methods come from the plan alone and the habits from the instruction alone: a solver prompt
    that states methods itself gains nothing, and a good plan cannot replace its habits."""
    feats = read_instruction(instruction)
    if plan is not None:
        feats = replace(feats, covered=read_instruction(plan).covered)
        instruction = f"{instruction}\n{plan}"  # what the exact wording of both draws on
    latent = decode(problem)
    land = LANDSCAPES[landscape]
    wording = land.wording
    draw = (1 - wording) * unit("solve", problem) + wording * unit("solve", problem, instruction)
    right = draw < p_correct(instruction, problem, land, feats)
    names = ", ".join(s.key for s in latent.skills) or "direct computation"
    if right:
        value = latent.answer
        body = f"This problem needs {names}. Working through each part carefully gives {value}."
        if feats.verifies:
            body += " Checked: the answer satisfies every condition."
    else:
        value = (latent.answer + 1 + int(unit("wrong", problem, instruction) * 998)) % 1000
        why = _what_went_wrong(feats, latent.skills, problem, land)
        body = f"This problem needs {names}. {why}"
    uses_format = feats.asks_format or unit("format", problem, instruction) < SPONTANEOUS_FORMAT
    return f"{body}\n### {value}" if uses_format else f"{body} The answer is {value}."


def _what_went_wrong(
    feats: InstructionFeatures, skills: tuple[Skill, ...], problem: str, land: Landscape
) -> str:
    if land.shortcut and not feats.shortcut and unit("shortcut", problem) < 0.5:
        return SHORTCUT.failure
    habits = [h.failure for h, has in ((VERIFY, feats.verifies), (STEPS, feats.steps)) if not has]
    if land.habits_first and habits:
        return habits[0]
    missing = [s for s in skills if s.key not in feats.covered]
    if missing:
        return missing[int(unit("blame", problem) * len(missing))].failure
    if not feats.verifies:
        return VERIFY.failure
    return "Every step looked right, but the answer did not come out correct."
