"""Exact integer scoring of AIME-style answers, with feedback text for reflection.

Only a final ``### <n>`` line or a ``\\boxed{n}`` counts, and the integer must match exactly:
GEPA's substring check counts "### 70" as correct for answer 7, which inflates scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HASHES = re.compile(r"^\s*###\s*(-?\d+)\s*$", re.MULTILINE)
_BOXED = re.compile(r"\\boxed\{\s*(-?\d+)\s*\}")

FORMAT_FEEDBACK = "No final answer found: the response must end with a line '### <integer>'."


@dataclass(frozen=True, slots=True)
class Score:
    value: float  # 1.0 right, 0.0 wrong
    predicted: int | None
    feedback: str


def parse_answer(text: str) -> int | None:
    """The last ``### <n>`` line, else the last ``\\boxed{n}``, else None."""
    found = _HASHES.findall(text) or _BOXED.findall(text)
    return int(found[-1]) if found else None


def score_answer(text: str, expected: int) -> Score:
    predicted = parse_answer(text)
    if predicted is None:
        return Score(0.0, None, FORMAT_FEEDBACK)
    if predicted == expected:
        return Score(1.0, predicted, f"Correct: the answer is {expected}.")
    return Score(
        0.0, predicted, f"Incorrect: answered {predicted}, the correct answer is {expected}."
    )
