"""What every task tells the reflection model, and what "solved" means for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class TaskInfo:
    """What every task tells the reflection model (``objective``, which finishes "You are
    improving the instruction given to an assistant that ...", ``background``, and
    ``input_label``, the name its examples' inputs are shown under) and what "solved" means
    (``perfect_score``)."""

    objective: str = "does the task shown in the examples"
    background: str = ""
    input_label: str = "Input"
    perfect_score: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.objective, str) or not self.objective.strip():
            raise ValueError(f"objective={self.objective!r} is invalid: must be non-empty text")
        score = self.perfect_score
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 < score <= 1:
            raise ValueError(f"perfect_score={score!r} is invalid: must be a number in (0, 1]")
