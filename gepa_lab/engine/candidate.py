"""Candidates: named text components, their lineage and what evaluating them produced."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Trace:
    """One example's evaluation: the score, the model's output and feedback for reflection."""

    score: float
    output: str
    feedback: str
    failed_call: bool = False  # the LLM call itself failed (error text in feedback)

    @property
    def has_text(self) -> bool:
        """Whether a reflection can be shown it (see Candidate.forget_texts)."""
        return not isinstance(self, ScoreOnly)


@dataclass(frozen=True, slots=True)
class ScoreOnly(Trace):
    """What a candidate keeps of an evaluation no reflection will be shown: its score."""


@lru_cache(maxsize=1024)
def score_only(score: float) -> ScoreOnly:
    """One shared ScoreOnly per score (most metrics give few distinct scores)."""
    return ScoreOnly(score, "", "")


class Status(StrEnum):
    QUEUED = "queued"
    EVALUATING = "evaluating"
    PROMOTED = "promoted"  # between rungs: waiting for or running the next rung
    PRUNED = "pruned"
    COMPLETED = "completed"  # finished the full final rung
    CANCELLED = "cancelled"  # the run stopped before its evaluation finished


@dataclass(slots=True, eq=False)
class Candidate:
    """A program to optimize: component name -> text.

    ``traces[i]`` is the result on position ``i`` of the run's fixed shuffled example order, so
    the examples of rung k are always a prefix, shared with every other candidate.
    """

    id: int
    components: dict[str, str]
    parent_id: int | None = None
    origin: str = "seed"  # seed | mutation | merge
    created: float = 0.0
    traces: list[Trace | None] = field(default_factory=list)
    # With a separate reflection set (a valset run): results on its positions, for reflection.
    reflection_traces: dict[int, Trace] = field(default_factory=dict)
    rung: int = -1  # highest rung completed
    status: Status = Status.QUEUED
    # reflections on this candidate since it last finished a rung: new children, duplicates
    children: int = 0
    duplicates: int = 0
    merge_parent: int | None = None  # a merge's second parent (parent_id is the better one)
    # Positions of its first-rung test: the examples it was made to fix (see the pipeline's
    # "probe"); empty for a seed, whose first rung is the shared prefix.
    probe: tuple[int, ...] = ()

    @property
    def prompt(self) -> str:
        """The text sent as the system prompt: the components in order."""
        return "\n\n".join(self.components.values())

    def mean_score(self, n: int) -> float:
        """Mean score on the first ``n`` positions (all must be evaluated)."""
        return sum(t.score for t in self.traces[:n]) / n  # type: ignore[union-attr]

    def mean_over(self, positions: Sequence[int]) -> float:
        """Mean score on ``positions`` (all must be evaluated)."""
        return sum(self.traces[p].score for p in positions) / len(positions)  # type: ignore[union-attr]

    def forget_texts(self, keep: Collection[int]) -> None:
        """Drop the outputs and feedback of every evaluation outside ``keep``, keeping the
        scores. Texts are only ever read by reflection, and a run makes tens of thousands of
        candidates: those no reflection will read them for are what memory would grow with."""
        traces = self.traces
        for p, t in enumerate(traces):
            if t is not None and t.has_text and p not in keep:
                traces[p] = score_only(t.score)

    def rung_positions(self, rung: int, sizes: Sequence[int]) -> Sequence[int]:
        """The positions its score on ``rung`` is measured on."""
        return self.probe if rung == 0 and self.probe else range(sizes[rung])

    def prefix_evaluated(self, sizes: Sequence[int]) -> int:
        """How long a prefix of the shared order it has been evaluated on."""
        if self.rung < 0 or (self.rung == 0 and self.probe):
            return 0
        return sizes[self.rung]
