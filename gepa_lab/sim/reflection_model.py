"""The simulated reflection model: reads failures, writes a better (or sometimes worse) instruction.

Given a reflection request (the current instruction in the first ``` block, then examples with
outputs and feedback), it finds the failure sentences the task model writes
(:mod:`gepa_lab.sim.skills`) and adds the matching hints, each with probability ``ADOPT``. Like a
real model it is imperfect: with probability ``NOISE_RATE`` it appends a sentence of its own
(some harmful) and with probability ``DROP_RATE`` it drops one existing line, possibly a good
hint. Draws depend on the request text and the request's ``seed``, so a run is reproducible.
"""

from __future__ import annotations

import random
import re

from ..scoring import FORMAT_FEEDBACK
from .skills import FORMAT, NOISE, SKILLS, VERIFY

ADOPT = 0.8
NOISE_RATE = 0.25
DROP_RATE = 0.12
_BLOCK = re.compile(r"```(?:[a-z]*\n)?(.*?)```", re.DOTALL)


def reflect(request_text: str, seed: int | None = None) -> str:
    """Answer a reflection request with a new instruction in a ``` block."""
    found = _BLOCK.search(request_text)
    current = found.group(1).strip() if found else ""
    evidence = request_text[found.end() :] if found else request_text
    rng = random.Random(f"{seed}\x1f{request_text}")
    lines = [ln for ln in current.splitlines() if ln.strip()]
    low = current.lower()

    needed = [s for s in SKILLS if s.failure in evidence and not any(c in low for c in s.cues)]
    if FORMAT_FEEDBACK in evidence and not any(c in low for c in FORMAT.cues):
        needed.append(FORMAT)
    if VERIFY.failure in evidence and not any(c in low for c in VERIFY.cues):
        needed.append(VERIFY)
    added = [item.hint for item in needed if rng.random() < ADOPT]

    if len(lines) > 1 and rng.random() < DROP_RATE:
        lines.pop(rng.randrange(1, len(lines)))
    if rng.random() < NOISE_RATE:
        added.append(rng.choice(NOISE).hint)
    new = "\n".join([*lines, *added]) or "Solve the problem."
    return f"Here is the improved instruction:\n```\n{new}\n```"
