"""The simulated task model: how an instruction and a problem turn into a worked answer.

The model (documented in ``gepa_lab/sim/README.md``)::

    p = (0.95 - 0.7 * difficulty) * prod(1 if skill covered else MISSING_SKILL_FACTOR)
        + sum(habit effects) + sum(noise effects) - length penalty
    right  iff  0.8 * u(problem) + 0.2 * u(problem, instruction) < p

``u`` is a content hash in [0, 1). The shared ``u(problem)`` makes a better instruction solve a
superset of problems; the instruction-dependent part makes rewording matter a little, as it does
for real models. Without a format instruction the model ends with ``### <n>`` only
``SPONTANEOUS_FORMAT`` of the time. A wrong answer says in words what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .dataset import decode
from .hashing import unit
from .skills import FORMAT, HABITS, NOISE, SKILLS, VERIFY, Skill

MISSING_SKILL_FACTOR = 0.45
SPONTANEOUS_FORMAT = 0.35
LENGTH_FREE_WORDS = 220  # longer instructions start to confuse the model
LENGTH_PENALTY_PER_WORD = 0.002


@dataclass(frozen=True, slots=True)
class InstructionFeatures:
    covered: frozenset[str]  # skill keys
    effect: float  # habits and noise, minus the length penalty
    asks_format: bool
    verifies: bool
    words: int


@lru_cache(maxsize=16384)
def read_instruction(instruction: str) -> InstructionFeatures:
    low = instruction.lower()
    covered = frozenset(s.key for s in SKILLS if any(c in low for c in s.cues))
    effect = sum(h.effect for h in (*HABITS, *NOISE) if any(c in low for c in h.cues))
    words = len(instruction.split())
    effect -= max(0, words - LENGTH_FREE_WORDS) * LENGTH_PENALTY_PER_WORD
    return InstructionFeatures(
        covered,
        effect,
        any(c in low for c in FORMAT.cues),
        any(c in low for c in VERIFY.cues),
        words,
    )


def p_correct(instruction: str, problem: str) -> float:
    """Probability-like accuracy of this instruction on this problem (before the hash draw)."""
    feats = read_instruction(instruction)
    latent = decode(problem)
    factor = 1.0
    for skill in latent.skills:
        if skill.key not in feats.covered:
            factor *= MISSING_SKILL_FACTOR
    p = (0.95 - 0.7 * latent.difficulty) * factor + feats.effect
    return min(0.98, max(0.02, p))


# How much of the right-or-wrong draw hashes the instruction's whole text, per landscape:
# "skills" (the default) mostly rewards covering what problems need; "noisy" mostly rewards
# lucky wording, so scores are rough and a rewording moves them as much as a new skill does.
LANDSCAPES = {"skills": 0.2, "noisy": 0.6}


def answer(instruction: str, problem: str, landscape: str = "skills") -> str:
    """The model's response: a short worked answer, ending in ``### <n>`` when it follows format."""
    feats = read_instruction(instruction)
    latent = decode(problem)
    wording = LANDSCAPES[landscape]
    draw = (1 - wording) * unit("solve", problem) + wording * unit("solve", problem, instruction)
    right = draw < p_correct(instruction, problem)
    names = ", ".join(s.key for s in latent.skills) or "direct computation"
    if right:
        value = latent.answer
        body = f"This problem needs {names}. Working through each part carefully gives {value}."
        if feats.verifies:
            body += " Checked: the answer satisfies every condition."
    else:
        value = (latent.answer + 1 + int(unit("wrong", problem, instruction) * 998)) % 1000
        body = f"This problem needs {names}. {_what_went_wrong(feats, latent.skills, problem)}"
    uses_format = feats.asks_format or unit("format", problem, instruction) < SPONTANEOUS_FORMAT
    return f"{body}\n### {value}" if uses_format else f"{body} The answer is {value}."


def _what_went_wrong(feats: InstructionFeatures, skills: tuple[Skill, ...], problem: str) -> str:
    missing = [s for s in skills if s.key not in feats.covered]
    if missing:
        return missing[int(unit("blame", problem) * len(missing))].failure
    if not feats.verifies:
        return VERIFY.failure
    return "Every step looked right, but the answer did not come out correct."
