"""Every candidate the run made, with lineage, the best on the full set, and parent selection."""

from __future__ import annotations

import random

from .candidate import Candidate, Status

ELITE_SIZE = 8


def evidence_score(cand: Candidate, n: int) -> float:
    """A pessimistic mean, (hits + 1) / (n + 4): three lucky examples rank below a solid full-set
    record, so mutation effort goes to parents whose quality is established."""
    return (sum(t.score for t in cand.traces[:n]) + 1.0) / (n + 4.0)  # type: ignore[union-attr]


class Archive:
    def __init__(self) -> None:
        self.candidates: dict[int, Candidate] = {}
        self._texts: set[str] = set()
        self._elite: list[tuple[int, float, int]] = []  # (tier, evidence, id), best first
        self.best: Candidate | None = None
        self.best_quality = float("-inf")

    def __len__(self) -> int:
        return len(self.candidates)

    def is_new(self, components: dict[str, str]) -> bool:
        return "\x1e".join(components.values()) not in self._texts

    def add(self, cand: Candidate) -> None:
        self.candidates[cand.id] = cand
        self._texts.add("\x1e".join(cand.components.values()))

    def rung_finished(self, cand: Candidate, n_examples: int, full: bool) -> bool:
        """Update the elite and the best; True if this is a new best on the full set."""
        self.rest(cand)
        cand.children = cand.duplicates = 0  # new evidence: reflections on it start afresh
        traces = cand.traces[:n_examples]
        if cand.status is not Status.PRUNED and any(t.score < 1 for t in traces):  # type: ignore[union-attr]
            tier = min(cand.rung, 1)
            self._elite.append((tier, evidence_score(cand, n_examples), cand.id))
            self._elite.sort(reverse=True)
            del self._elite[ELITE_SIZE:]
        if full:
            quality = cand.mean_score(n_examples)
            if quality > self.best_quality:
                self.best, self.best_quality = cand, quality
                return True
        return False

    def pruned(self, cand: Candidate) -> None:
        self.rest(cand)

    def rest(self, cand: Candidate) -> bool:
        """Take ``cand`` out of parent selection until it finishes another rung; True if it was
        a parent."""
        before = len(self._elite)
        self._elite = [e for e in self._elite if e[2] != cand.id]
        return len(self._elite) < before

    def select_parent(self, rng: random.Random) -> Candidate | None:
        """A parent from the elite, weighted by rank.

        Candidates known only from the first rung are parents only while nothing has passed a
        second rung: their few examples are the very ones their children are first judged on,
        so reflecting on them teaches to the test and blinds the ladder. Only candidates with
        a failure qualify (reflection needs something to fix). GEPA's per-instance Pareto
        sampling replaces this in a later version.
        """
        if not self._elite:
            return None
        top_tier = self._elite[0][0]
        pool = [e for e in self._elite if e[0] == top_tier]
        weights = [len(pool) - i for i in range(len(pool))]
        return self.candidates[rng.choices(pool, weights=weights)[0][2]]

    def lineage(self, cand_id: int) -> list[int]:
        """Ids from the seed down to ``cand_id``."""
        chain = []
        cur: int | None = cand_id
        while cur is not None:
            chain.append(cur)
            cur = self.candidates[cur].parent_id
        return chain[::-1]
