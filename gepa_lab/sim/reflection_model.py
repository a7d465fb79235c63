"""The simulated reflection model: reads failures, writes a better (or sometimes worse) instruction.

Given a reflection request (the current instruction in the first ``` block, then examples with
outputs and feedback), it finds the failure sentences the task model writes
(:mod:`gepa_lab.sim.skills`) and adds the matching hints, each with probability ``adopt``. Like a
real model it is imperfect: with probability ``noise_rate`` it appends a sentence of its own
(some harmful) and with probability ``drop_rate`` it drops one existing line, possibly a good
hint. Draws depend on the request text and the request's ``seed`` (only the text, for a
deterministic model), so a run is reproducible. :data:`REFLECTION_MODELS` names four:
stochastic (the default), deterministic (temperature 0), weak (adopts less, adds more asides
and often replies with no instruction at all) and strong.

It also answers the other mutation strategies of :mod:`gepa_lab.strategies`, told apart by the
line their requests open with: specification induction (:func:`_induce`) and interleaved
thinking (:func:`_think`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ..tasks.aime import FORMAT_FEEDBACK
from .sentiment import LABEL_FORMAT, RULES, Rule, shows_reviews
from .skills import FORMAT, HABITS, NOISE, SHORTCUT, SKILLS, STEPS, VERIFY, Habit, Skill


@dataclass(frozen=True, slots=True)
class ReflectionModel:
    """How well a simulated reflection model reflects (see ``gepa_lab/sim/README.md``)."""

    adopt: float = 0.8  # chance to address each problem it reads
    noise_rate: float = 0.25  # chance to add a sentence of its own (some harmful)
    drop_rate: float = 0.12  # chance to drop one existing line
    junk_rate: float = 0.0  # chance the reply is no instruction (an echo, a worked answer, code)
    deterministic: bool = False  # the request alone decides: seed (and temperature) ignored


REFLECTION_MODELS = {
    "stochastic": ReflectionModel(),
    "deterministic": ReflectionModel(deterministic=True),
    "weak": ReflectionModel(adopt=0.5, noise_rate=0.4, drop_rate=0.2, junk_rate=0.3),
    "strong": ReflectionModel(adopt=0.95, noise_rate=0.05, drop_rate=0.03),
}
STOCHASTIC = REFLECTION_MODELS["stochastic"]
JUNK = (
    "Let me solve this one: the sum of the parts is 42, so the answer is 42.",
    "```python\ndef solve(problem):\n    return 42\n```",
)
# How the strategies' requests start (gepa_lab.strategies); anything else is a reflection.
INDUCE_TASK = "Task: write a specification from examples."
THINK_TASK = "Task: add a thinking protocol to an instruction."
THINK_PROTOCOL = (
    "Think privately inside <think> ... </think>, step by step, before each conclusion, and "
    "write only short conclusions outside them."
)
_BLOCK = re.compile(r"```(?:[a-z]*\n)?(.*?)```", re.DOTALL)


def reflect(request_text: str, seed: int | None = None, model: ReflectionModel = STOCHASTIC) -> str:
    """Answer a reflection request with a new instruction in a ``` block."""
    found = _BLOCK.search(request_text)
    current = found.group(1).strip() if found else ""
    rng = random.Random(f"{None if model.deterministic else seed}\x1f{request_text}")
    lines = [ln for ln in current.splitlines() if ln.strip()]
    if model.junk_rate and rng.random() < model.junk_rate:
        # No instruction at all: the current one echoed, or a worked answer or code.
        junk = rng.choice((current, *JUNK))
        return junk if junk.startswith("```") else _reply([junk])
    if request_text.startswith(INDUCE_TASK):
        return _reply(_induce(request_text, lines, rng, model))
    if request_text.startswith(THINK_TASK):
        return _reply(_think(lines, rng, model, shows_reviews(request_text)))
    evidence = request_text[found.end() :] if found else request_text

    needed: list[Skill | Habit | Rule] = [
        s for s in (*SKILLS, *RULES) if s.failure in evidence and not _covers(lines, s)
    ]
    if FORMAT_FEEDBACK in evidence and not _covers(lines, FORMAT):
        needed.append(FORMAT)
    for habit in (VERIFY, STEPS, SHORTCUT, LABEL_FORMAT):
        if habit.failure in evidence and not _covers(lines, habit):
            needed.append(habit)
    added = [item.hint for item in needed if rng.random() < model.adopt]

    if len(lines) > 1 and rng.random() < model.drop_rate:
        lines.pop(rng.randrange(1, len(lines)))
    if rng.random() < model.noise_rate:
        added.append(rng.choice(NOISE).hint)
    return _reply([*lines, *added])


def _reply(lines: list[str]) -> str:
    new = "\n".join(lines) or "Solve the problem."
    return f"Here is the improved instruction:\n```\n{new}\n```"


def _covers(lines: list[str], item: Skill | Habit | Rule) -> bool:
    low = "\n".join(lines).lower()
    return any(c in low for c in item.cues)


def _induce(
    request_text: str, lines: list[str], rng: random.Random, model: ReflectionModel
) -> list[str]:
    """Specification induction: recognise the skills the shown problems need from their text
    (not from failures), write their hints and the answer format; keep the first line and the
    lines that are hints or habits, and drop the rest (the reflection model's own asides,
    harmful or not). It sees what is needed even where no failure says so, but nothing of how
    the current instruction fails."""
    problems = request_text.lower()
    known = {item.hint for item in (*SKILLS, *HABITS, *RULES, LABEL_FORMAT)} | {THINK_PROTOCOL}
    kept = lines[:1] + [ln for ln in lines[1:] if ln in known]
    needed = [s for s in (*SKILLS, *RULES) if s.signature in problems and not _covers(kept, s)]
    added = [s.hint for s in needed if rng.random() < model.adopt]
    answer_format = LABEL_FORMAT if shows_reviews(problems) else FORMAT
    if not _covers(kept, answer_format):
        added.append(answer_format.hint)
    if rng.random() < model.noise_rate:
        added.append(rng.choice(NOISE).hint)
    return [*kept, *added]


def _think(
    lines: list[str], rng: random.Random, model: ReflectionModel, reviews: bool = False
) -> list[str]:
    """Interleaved thinking: add a reasoning protocol (step by step, then a verification, then
    the answer format; for reviews, the one-label format only) and leave the domain guidance
    alone. Worth a few points while the habits are missing, nothing once they are there."""
    added = [THINK_PROTOCOL] if not _covers(lines, STEPS) else []
    if not reviews and not _covers(lines, VERIFY) and rng.random() < model.adopt:
        added.append(VERIFY.hint)
    answer_format = LABEL_FORMAT if reviews else FORMAT
    if not _covers(lines, answer_format):
        added.append(answer_format.hint)
    if len(lines) > 1 and rng.random() < model.drop_rate:
        lines = lines[:]
        lines.pop(rng.randrange(1, len(lines)))
    return [*lines, *added]
