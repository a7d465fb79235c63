"""The ASHA ladder: asynchronous successive halving over nested shards.

Li et al. 2018, "A System for Massively Parallel Hyperparameter Tuning" (ASHA): results arrive
asynchronously and each is judged on arrival against its rung's cohort so far, so no rung ever
waits for a full bracket. Here a result is promoted when

1. its mid-rank is in the top ``1 - cohort_quantile`` of its rung's cohort so far (itself
   included): (strictly better + half of the others tied with it) / cohort size must be below
   ``1 - cohort_quantile``. Mid-rank keeps a large tie (scores on a few examples are coarse)
   from passing or failing wholesale; the first arrival always passes; and
2. for a child, its score is not below its parent's score on the same examples by more than
   ``eps_improve`` (nested shards make "the same examples" a shared prefix).

Two convergence rules stop the ladder from pruning everything. With ``enable_rung_convergence``
a rung whose last ``convergence_patience`` arrivals were all pruned promotes its best pruned
candidate. With ``lineage_patience`` = N, after N consecutive pruned children of one parent the
best of them is promoted once; the lineage re-arms when one of its children passes on merit.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Decision:
    promote: bool
    reason: str  # quantile | parent | promoted | completed
    forced: tuple[tuple[int, int], ...] = ()  # (candidate id, rung it was pruned at) to promote now


@dataclass(slots=True)
class _Rung:
    scores: list[float] = field(default_factory=list)  # sorted, the cohort so far
    pruned: list[tuple[float, int]] = field(default_factory=list)  # (score, id), waiting
    prune_streak: int = 0


@dataclass(slots=True)
class _Lineage:
    streak: int = 0
    armed: bool = True
    pruned: list[tuple[float, int, int]] = field(default_factory=list)  # (score, id, rung)


class Ladder:
    def __init__(
        self,
        n_rungs: int,
        cohort_quantile: float,
        eps_improve: float,
        convergence_patience: int | None,
        lineage_patience: int,
    ) -> None:
        self.n_rungs = n_rungs
        self.quantile = cohort_quantile
        self.eps = eps_improve
        self.convergence_patience = convergence_patience
        self.lineage_patience = lineage_patience
        self._rungs = [_Rung() for _ in range(n_rungs)]
        self._lineages: dict[int, _Lineage] = {}
        self._forced: set[int] = set()

    def cohort_size(self, rung: int) -> int:
        return len(self._rungs[rung].scores)

    def decide(
        self,
        cand_id: int,
        rung: int,
        score: float,
        parent_id: int | None = None,
        parent_score: float | None = None,
        child_score_same: float | None = None,
    ) -> Decision:
        """Judge a result that just finished ``rung``.

        ``child_score_same``/``parent_score`` are both measured on the examples the two share
        (defaults: ``score``); without a parent score only the cohort cut applies.
        """
        if rung == self.n_rungs - 1:
            return Decision(False, "completed")
        r = self._rungs[rung]
        bisect.insort(r.scores, score)
        n = len(r.scores)
        better = n - bisect.bisect_right(r.scores, score)
        tied = bisect.bisect_right(r.scores, score) - bisect.bisect_left(r.scores, score) - 1
        promote, reason = True, "promoted"
        if better + 0.5 * tied >= (1.0 - self.quantile) * n:
            promote, reason = False, "quantile"
        elif parent_score is not None:
            mine = score if child_score_same is None else child_score_same
            if mine < parent_score - self.eps - 1e-12:
                promote, reason = False, "parent"

        forced: list[tuple[int, int]] = []
        if promote:
            r.prune_streak = 0
            if parent_id is not None:
                self._lineages[parent_id] = _Lineage()  # re-armed, streak reset
            return Decision(True, reason)

        bisect.insort(r.pruned, (score, cand_id))
        r.prune_streak += 1
        if self.convergence_patience and r.prune_streak >= self.convergence_patience:
            r.prune_streak = 0
            while r.pruned:
                _, best_id = r.pruned.pop()
                if best_id not in self._forced:
                    self._forced.add(best_id)
                    forced.append((best_id, rung))
                    break
        if parent_id is not None and self.lineage_patience:
            lin = self._lineages.setdefault(parent_id, _Lineage())
            lin.pruned.append((score, cand_id, rung))
            lin.streak += 1
            waiting = [p for p in lin.pruned if p[1] not in self._forced]
            if lin.armed and lin.streak >= self.lineage_patience and waiting:
                lin.armed = False
                _, best_id, best_rung = max(waiting)
                self._forced.add(best_id)
                forced.append((best_id, best_rung))
        return Decision(False, reason, tuple(forced))
