"""Every candidate the run made, with lineage, the per-instance Pareto front, and parent selection.

Parents are chosen as GEPA does (Agrawal et al. 2025, "GEPA: Reflective Prompt Evolution Can
Outperform Reinforcement Learning", arXiv:2507.19457, Algorithm 2): for every training example,
the candidates with the best score on it form that example's front; candidates dominated by
another front member are dropped; a parent is drawn with probability proportional to the number
of examples it is best on. A candidate that is best on a few hard examples keeps a chance to be
improved further, where "always mutate the best" would lose what it knows.

Only candidates scored on the full final rung enter the front: partial scores on a prefix of the
examples are not comparable with full ones. With example-level concurrency a full evaluation
takes about one call latency, so waiting for it costs little.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .candidate import Candidate, Status
from .merge import common_ancestor


def evidence_score(cand: Candidate, positions: Sequence[int]) -> float:
    """A pessimistic mean, (hits + 1) / (n + 4): three lucky examples rank below a solid full-set
    record, so queue priority goes to lineages whose quality is established."""
    hits = sum(cand.traces[p].score for p in positions)  # type: ignore[union-attr]
    return (hits + 1.0) / (len(positions) + 4.0)


class Archive:
    def __init__(self, n_examples: int, perfect_score: float = 1.0) -> None:
        self.n_examples = n_examples
        self.perfect_score = perfect_score  # a score this high solves an example
        self.candidates: dict[int, Candidate] = {}
        self._texts: set[str] = set()
        self.completed: list[Candidate] = []  # scored on every example
        # Per example: the best score among completed candidates and who holds it; per
        # candidate: the examples it holds, as a bit mask. Kept up to date on each completion,
        # so the front costs O(examples) per completion instead of a full rescan.
        self._top = [0.0] * n_examples
        self._holders: list[set[int]] = [set() for _ in range(n_examples)]
        self._wins: dict[int, int] = {}
        self._front: dict[int, int] | None = {}  # id -> examples it is best on (None = stale)
        self.resting: set[int] = set()
        # Candidates on their way through the full set after beating the best on the last
        # partial rung: most become the next best, so they may be parents before they finish.
        self.contenders: set[int] = set()
        self._merged_pairs: set[tuple[int, int]] = set()
        self.best: Candidate | None = None
        self.best_quality = float("-inf")

    def __len__(self) -> int:
        return len(self.candidates)

    @staticmethod
    def text_key(components: dict[str, str]) -> str:
        return "\x1e".join(f"{k}\x1f{v}" for k, v in components.items())

    def is_new(self, components: dict[str, str]) -> bool:
        return self.text_key(components) not in self._texts

    def add(self, cand: Candidate) -> None:
        self.candidates[cand.id] = cand
        self._texts.add(self.text_key(cand.components))

    def rung_finished(self, cand: Candidate, full: bool) -> bool:
        """Record a finished rung; True if ``cand`` is a new best on the full set."""
        self.resting.discard(cand.id)
        cand.children = cand.duplicates = 0  # new evidence: reflections on it start afresh
        if not full:
            return False
        self.contenders.discard(cand.id)
        self.completed.append(cand)
        self._hold(cand)
        self._front = None
        self.resting.clear()  # the front changed: every member has new company to learn from
        quality = cand.mean_score(self.n_examples)
        if quality > self.best_quality:
            self.best, self.best_quality = cand, quality
            return True
        return False

    def rest(self, cand: Candidate) -> bool:
        """Take ``cand`` out of parent selection until it finishes another rung or the front
        changes; True if it was eligible before."""
        if cand.id in self.resting:
            return False
        self.resting.add(cand.id)
        return True

    def wake(self) -> None:
        self.resting.clear()

    def _hold(self, cand: Candidate) -> None:
        """Update who is best on each example with a newly completed candidate."""
        wins = self._wins
        mine = 0
        for pos in range(self.n_examples):
            score = cand.traces[pos].score  # type: ignore[union-attr]
            top = self._top[pos]
            if score > top:
                bit = 1 << pos
                for other in self._holders[pos]:
                    wins[other] &= ~bit
                self._top[pos], self._holders[pos] = score, {cand.id}
                mine |= bit
            elif score == top and score > 0:
                self._holders[pos].add(cand.id)
                mine |= 1 << pos
        wins[cand.id] = mine

    def pareto_front(self) -> dict[int, int]:
        """Non-dominated completed candidates -> number of examples each is best on.

        Examples nobody solves are skipped: they say nothing about who is better. If nobody
        solves anything yet, every completed candidate is on the front with weight 1."""
        if self._front is not None:
            return self._front
        wins = {i: w for i, w in self._wins.items() if w}
        if not wins:
            self._front = {c.id: 1 for c in self.completed}
            return self._front
        # Drop a candidate whose wins are a subset of another's (ties: keep the earlier one).
        counts = {i: w.bit_count() for i, w in wins.items()}
        kept: list[int] = []
        for i in sorted(wins, key=lambda i: (-counts[i], i)):
            if not any(wins[i] & ~wins[k] == 0 for k in kept):
                kept.append(i)
        self._front = {i: counts[i] for i in kept}
        return self._front

    def select_parent(self, rng: random.Random, breadth: int = 0) -> Candidate | None:
        """A parent to reflect on, or None if no candidate is eligible now.

        Eligible: not resting and with a failure to reflect on. From the Pareto front and the
        contenders when any candidate has completed the full set; before that, from the
        candidates furthest up the ladder (so the first mutations need not wait for the seed's
        full evaluation). A contender weighs as much as the heaviest front member: it beat the
        best where they were compared, and its children, started while it is evaluated on the
        full set, take a full evaluation's latency off every step of the path to the target.
        ``breadth`` widens the pool when every usual parent's reflections repeat: 1 = every
        completed candidate, 2 = every candidate evaluated on anything (pruned ones too),
        each weighted by its examples solved plus one.
        """
        if breadth:
            pool = [
                (c, 1 + sum(t.score for t in c.traces if t is not None))
                for c in (self.completed if breadth == 1 else self.candidates.values())
                if c.rung >= 0 and c.id not in self.resting and self._has_failure(c)
            ]
        elif self.completed:
            front = self.pareto_front()
            heaviest = max(front.values(), default=1)
            weights = {**front, **dict.fromkeys(self.contenders, heaviest)}
            pool = [
                (self.candidates[i], w)
                for i, w in weights.items()
                if i not in self.resting and self._has_failure(self.candidates[i])
            ]
        else:
            alive = [
                c
                for c in self.candidates.values()
                if c.rung >= 0
                and c.status is not Status.PRUNED
                and c.id not in self.resting
                and self._has_failure(c)
            ]
            top = max((c.rung for c in alive), default=-1)
            pool = [(c, 1) for c in alive if c.rung == top]
        if not pool:
            return None
        return rng.choices([c for c, _ in pool], weights=[w for _, w in pool])[0]

    def merge_partner(
        self, cand: Candidate, rng: random.Random
    ) -> tuple[Candidate, Candidate] | None:
        """A front member to merge ``cand`` with, and their common ancestor; each pair once.

        Both must be on the front: each is best on some examples the other is not, which is
        what a merge can combine."""
        front = self.pareto_front()
        if cand.id not in front:
            return None
        options = []
        for other_id, weight in front.items():
            pair = (min(cand.id, other_id), max(cand.id, other_id))
            if other_id == cand.id or pair in self._merged_pairs:
                continue
            ancestor = common_ancestor(self.candidates, cand, self.candidates[other_id])
            if ancestor is not None:
                options.append((other_id, ancestor, weight, pair))
        if not options:
            return None
        other_id, ancestor, _, pair = rng.choices(options, weights=[o[2] for o in options])[0]
        self._merged_pairs.add(pair)
        return self.candidates[other_id], ancestor

    def _has_failure(self, cand: Candidate) -> bool:
        return any(t is not None and t.score < self.perfect_score for t in cand.traces)

    def lineage(self, cand_id: int) -> list[int]:
        """Ids from the seed down to ``cand_id``."""
        chain = []
        cur: int | None = cand_id
        while cur is not None:
            chain.append(cur)
            cur = self.candidates[cur].parent_id
        return chain[::-1]
