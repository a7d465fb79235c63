"""The bars a child must pass when it finishes a rung, read from its parent and the best
candidate so far, which the :class:`~gepa_lab.engine.ladder.Ladder` turns into a verdict; and
a watch on the verdicts that warns when the ladder has stopped promoting anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Config
from .candidate import Candidate

ALL_PRUNED_WARNING = 50  # consecutive judgements without a promotion before the run warns


def dominates(cand: Candidate, positions: Sequence[int], rivals: Sequence[Candidate]) -> bool:
    """True if ``cand`` scores at least as well as each rival on every one of ``positions``
    the rival was evaluated on, and better on at least one: evidence no ranking should
    overrule. False if it shares no example with some rival."""
    for rival in rivals:
        shared = [p for p in positions if rival.traces[p] is not None]
        diffs = [cand.traces[p].score - rival.traces[p].score for p in shared]  # type: ignore[union-attr]
        if not diffs or min(diffs) < -1e-12 or max(diffs) <= 1e-12:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Bars:
    """What :meth:`Ladder.decide` weighs besides the score: the bar to beat (``parent_score``)
    with the child's score on the same examples (``child_same``), whether it must beat it
    outright (``need_gain``), whether it dominates its rivals, and whether it beats the best."""

    parent_score: float | None
    child_same: float | None
    need_gain: bool
    dominant: bool
    beats_best: bool | None


def bars(
    cand: Candidate,
    parent: Candidate,
    best: Candidate | None,
    rung: int,
    positions: Sequence[int],
    score: float,
    sizes: Sequence[int],
    perfect: float,
    incumbent_gate: bool,
) -> Bars:
    """The bars for a child that finished ``rung`` with ``score`` on ``positions``: its parent
    on the examples they share (on its probe: beaten outright, GEPA's acceptance test) and,
    at the last partial rung, the best candidate too: matched on the shared prefix and beaten
    outright on everything the child was tested on, its probe included (unless the best is
    perfect there). The prefix alone is a poor judge of a close contest: every candidate is
    tested on it, the easy examples in it are soon solved by all, and a tie there says nothing
    either way, where the probe holds the failures the child was made to fix."""
    parent_score = child_same = beats_best = None
    tested = sorted({*cand.probe, *positions})  # every example the child was scored on
    probe = rung == 0 and bool(cand.probe)
    if probe:
        parent_score, child_same = parent.mean_over(cand.probe), score
    else:
        shared = min(sizes[rung], parent.prefix_evaluated(sizes))
        if shared:
            parent_score, child_same = parent.mean_score(shared), cand.mean_score(shared)
    if incumbent_gate and rung == len(sizes) - 2 and best is not None:
        bar = best.mean_over(positions)
        if parent_score is None or bar > parent_score:
            parent_score, child_same = bar, score
        best_there = best.mean_over(tested)
        beats_best = best_there >= perfect - 1e-12 or cand.mean_over(tested) > best_there + 1e-12
    rivals = [parent] if best is None or best is parent else [parent, best]
    return Bars(parent_score, child_same, probe, dominates(cand, tested, rivals), beats_best)


class PruningWatch:
    """Counts the judgements since the last promotion: when every candidate is being pruned,
    the ladder has stopped learning and the run only spends calls."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.unpromoted = self.by_parent = 0

    def observe(self, promoted: bool, reason: str) -> str | None:
        """Record one verdict; at the ALL_PRUNED_WARNING-th prune in a row, the warning, which
        says which rule prunes and what to change."""
        if promoted:
            self.unpromoted = self.by_parent = 0
            return None
        self.unpromoted += 1
        self.by_parent += reason == "parent"
        if self.unpromoted != ALL_PRUNED_WARNING:
            return None
        cfg = self.cfg
        return (
            f"every one of the last {ALL_PRUNED_WARNING} candidates judged was pruned "
            f"({self.by_parent} for scoring below their parent, "
            f"{ALL_PRUNED_WARNING - self.by_parent} by the cohort cut): the ladder is not "
            f"promoting anything. Consider a lower Config.cohort_quantile (now "
            f"{cfg.cohort_quantile:g}), a higher Config.eps_improve (now {cfg.eps_improve:g})"
            + ("" if cfg.enable_rung_convergence else ", or Config.enable_rung_convergence=True")
            + "."
        )
