"""The ASHA ladder: asynchronous successive halving over nested shards.

Li et al. 2018, "A System for Massively Parallel Hyperparameter Tuning" (ASHA): results arrive
asynchronously and each is judged on arrival against its rung's cohort so far, so no rung ever
waits for a full bracket. Here a result is promoted when

1. its rank is in the top ``1 - cohort_quantile`` of its rung's cohort: the last
   ``cohort_window`` results on that rung, itself included (all of them if None). A cohort of
   n has ``ceil((1 - cohort_quantile) * n)`` places. Scores on a few examples are coarse and
   ties are common: a tie straddling the last place is broken at random (seeded), each tied
   result passing with probability (places left) / (size of the tie), where a deterministic
   rule would pass or fail the whole tie at once; the first arrival always passes;
2. the rung has promotion credit left. ASHA's invariant: of the n results a rung has seen, at
   most ``ceil((1 - cohort_quantile) * n)`` are ever promoted from it, forced promotions
   included. Ranking alone cannot keep it here: the population improves as the run goes on,
   so each result ranks above the earlier ones it is compared with and far more than the
   intended share would pass (the window limits this drift, the credit removes it); and
3. for a child, its score is not below its parent's score on the same examples by more than
   ``eps_improve``, or, on a probe (``need_gain``: examples the parent failed that the child
   was made to fix), is above it: GEPA's acceptance test. At the last partial rung, with
   ``Config.incumbent_gate``, the pipeline passes the higher of the parent's and the best
   candidate's score as the bar, and whether the child beats the best outright on everything
   it was tested on (``beats_best``): the full set is for candidates that could become the
   best.

Two exceptions keep a small cohort or a clear winner from being cut by chance. The first
``min_cohort`` results on a rung are judged by rule 3 alone, and their promotions spend no
credit: the quantile of two or three coarse scores says nothing, and on a small data set the
first arrivals would otherwise use up the rung's allowance so that the next child is pruned
whatever it scores. And a ``dominant`` result (the pipeline's word for a child at least as good
as its parent and the best candidate on every example they share, and better than each on
some) is always promoted.

Two convergence rules stop the ladder from pruning everything, each spending the credit of the
rung it promotes from. With ``enable_rung_convergence`` a rung whose last
``convergence_patience`` arrivals were all pruned promotes its best pruned candidate. With
``lineage_patience`` = N, after N consecutive pruned children of one parent the best of them
is promoted once; the lineage re-arms when one of its children passes on merit.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Decision:
    promote: bool
    reason: str  # quantile | credit | parent | best | promoted | dominant | completed | seed
    forced: tuple[tuple[int, int], ...] = ()  # (candidate id, rung it was pruned at) to promote now


@dataclass(slots=True)
class _Rung:
    scores: list[float] = field(default_factory=list)  # sorted, the cohort
    arrivals: deque[float] = field(default_factory=deque)  # the cohort in arrival order
    pruned: list[tuple[float, int]] = field(default_factory=list)  # (score, id), waiting
    prune_streak: int = 0
    judged: int = 0  # results judged here
    promoted: int = 0  # promotions from here, on merit or forced


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
        rng: random.Random | None = None,
        cohort_window: int | None = None,
        min_cohort: int = 0,
    ) -> None:
        if min_cohort < 0:
            raise ValueError(f"Ladder.min_cohort={min_cohort} is invalid: must be >= 0")
        self.min_cohort = min_cohort
        self.rng = rng or random.Random(0)
        self.window = cohort_window
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

    def _credit(self, rung: int) -> int:
        r = self._rungs[rung]
        counted = max(0, r.judged - self.min_cohort)  # the warm-up earns and spends no credit
        return math.ceil((1.0 - self.quantile) * counted - 1e-9) - r.promoted

    def decide(
        self,
        cand_id: int,
        rung: int,
        score: float,
        parent_id: int | None = None,
        parent_score: float | None = None,
        child_score_same: float | None = None,
        need_gain: bool = False,
        dominant: bool = False,
        beats_best: bool | None = None,
    ) -> Decision:
        """Judge a result that just finished ``rung``.

        ``child_score_same``/``parent_score`` are both measured on the examples the two share
        (defaults: ``score``); without a parent score only the cohort cut applies. With
        ``need_gain`` the child must beat its parent there outright (GEPA's acceptance test on
        the examples it was made to fix), ``eps_improve`` aside. ``beats_best=False`` (the
        pipeline's incumbent gate) prunes it too. A ``dominant`` result is promoted whatever its
        rank.
        """
        if rung == self.n_rungs - 1:
            return Decision(False, "completed")
        r = self._rungs[rung]
        bisect.insort(r.scores, score)
        r.arrivals.append(score)
        if self.window is not None and len(r.arrivals) > self.window:
            r.scores.pop(bisect.bisect_left(r.scores, r.arrivals.popleft()))
        warming = r.judged < self.min_cohort  # too few results for a quantile to mean much
        r.judged += 1
        n = len(r.scores)
        better = n - bisect.bisect_right(r.scores, score)
        tied = bisect.bisect_right(r.scores, score) - bisect.bisect_left(r.scores, score) - 1
        promote, reason = True, "promoted"
        places_left = math.ceil((1.0 - self.quantile) * n - 1e-9) - better
        if dominant:
            reason = "dominant"
        elif warming:
            pass
        elif places_left <= 0 or (
            places_left <= tied and self.rng.random() * (tied + 1) >= places_left
        ):
            promote, reason = False, "quantile"
        elif self._credit(rung) <= 0:
            promote, reason = False, "credit"
        if promote and not dominant and parent_score is not None:
            mine = score if child_score_same is None else child_score_same
            if need_gain:
                behind = mine <= parent_score + 1e-12
            else:
                behind = mine < parent_score - self.eps - 1e-12
            if behind:
                promote, reason = False, "parent"
        if promote and not dominant and beats_best is False:
            promote, reason = False, "best"

        forced: list[tuple[int, int]] = []
        if promote:
            r.promoted += not warming
            r.prune_streak = 0
            if parent_id is not None:
                self._lineages[parent_id] = _Lineage()  # re-armed, streak reset
            return Decision(True, reason)

        bisect.insort(r.pruned, (score, cand_id))
        r.prune_streak += 1
        patience = self.convergence_patience
        if patience and r.prune_streak >= patience and self._credit(rung) > 0:
            r.prune_streak = 0
            while r.pruned:
                _, best_id = r.pruned.pop()
                if best_id not in self._forced:
                    self._force(best_id, rung, forced)
                    break
        if parent_id is not None and self.lineage_patience:
            lin = self._lineages.setdefault(parent_id, _Lineage())
            lin.pruned.append((score, cand_id, rung))
            lin.streak += 1
            waiting = [p for p in lin.pruned if p[1] not in self._forced]
            if lin.armed and lin.streak >= self.lineage_patience and waiting:
                _, best_id, best_rung = max(waiting)
                if self._credit(best_rung) > 0:
                    lin.armed = False
                    self._force(best_id, best_rung, forced)
        return Decision(False, reason, tuple(forced))

    def _force(self, cand_id: int, rung: int, forced: list[tuple[int, int]]) -> None:
        self._forced.add(cand_id)
        self._rungs[rung].promoted += 1
        forced.append((cand_id, rung))
