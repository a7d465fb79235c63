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

import bisect
import hashlib
import random
from collections.abc import Sequence
from itertools import accumulate

from .candidate import Candidate, Status
from .merge import common_ancestor


def evidence_score(cand: Candidate, positions: Sequence[int]) -> float:
    """A pessimistic mean, (hits + 1) / (n + 4): three lucky examples rank below a solid full-set
    record, so queue priority goes to lineages whose quality is established."""
    hits = sum(cand.traces[p].score for p in positions)  # type: ignore[union-attr]
    return (hits + 1.0) / (len(positions) + 4.0)


def covers(mask: int, owner: int, other: int, other_owner: int) -> bool:
    """Whether ``owner``'s set of examples held (a bit mask) dominates ``other_owner``'s: it
    contains it, and is larger or, when equal, belongs to the earlier candidate."""
    return other & ~mask == 0 and (mask != other or owner < other_owner)


REDRAWS = 8  # draws of a parent that may land on resting front members before a full pass


class Archive:
    def __init__(self, n_examples: int, perfect_score: float = 1.0) -> None:
        self.n_examples = n_examples
        self.perfect_score = perfect_score  # a score this high solves an example
        self.candidates: dict[int, Candidate] = {}
        self._texts: set[bytes] = set()
        self.completed: list[Candidate] = []  # scored on every example
        # Per example: the best score among completed candidates and who holds it; per
        # candidate: the examples it holds, as a bit mask, and the candidates holding each
        # mask. The front's members are kept up to date on each completion (see _refront), so
        # a completion costs O(examples + front) instead of a rescan of every pair.
        self._top = [0.0] * n_examples
        self._holders: list[list[int]] = [[] for _ in range(n_examples)]
        self._wins: dict[int, int] = {}
        self._by_mask: dict[int, set[int]] = {}
        self._members: set[int] = set()
        # The members as (-examples held, id), sorted: the front's order, kept as it changes
        # (a resort at every completion costs more than the rest of it in a long run).
        self._order: list[tuple[int, int]] = []
        self._held: dict[int, int] = {}  # member -> examples it held when it joined
        self._front: dict[int, int] | None = {}  # id -> examples it is best on (None = stale)
        self._failing: set[int] = set()  # completed candidates with a failure to reflect on
        # Front members with a failure, and their cumulative weights (None = stale).
        self._pool: tuple[list[int], list[int]] | None = None
        self.resting: set[int] = set()
        # Candidates on their way through the full set after beating the best on the last
        # partial rung: most become the next best, so they may be parents before they finish.
        self.contenders: set[int] = set()
        self._merged_with: dict[int, set[int]] = {}  # merge partners already tried, both ways
        self.best: Candidate | None = None
        self.best_quality = float("-inf")

    def __len__(self) -> int:
        return len(self.candidates)

    @staticmethod
    def text_key(components: dict[str, str]) -> bytes:
        """A digest of the texts (a candidate's texts are kept once, in the candidate)."""
        text = "\x1e".join(f"{k}\x1f{v}" for k, v in components.items())
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

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
        failing = False  # a failure to reflect on (see _has_failure), found on the way
        shrunk: dict[int, int] = {}  # holders that lost examples to it -> their old masks
        for pos in range(self.n_examples):
            trace = cand.traces[pos]
            score = trace.score  # type: ignore[union-attr]
            if score < self.perfect_score and trace.has_text:  # type: ignore[union-attr]
                failing = True
            top = self._top[pos]
            if score > top:
                bit = 1 << pos
                for other in self._holders[pos]:
                    shrunk.setdefault(other, wins[other])
                    wins[other] &= ~bit
                self._top[pos], self._holders[pos] = score, [cand.id]
                mine |= bit
            elif score == top and score > 0:
                self._holders[pos].append(cand.id)
                mine |= 1 << pos
        if failing:
            self._failing.add(cand.id)
        wins[cand.id] = mine
        self._refront(cand.id, shrunk)

    def _refront(self, new: int, shrunk: dict[int, int]) -> None:
        """Bring the front's members up to date after ``new`` completed and took examples
        from the holders in ``shrunk``.

        A member is a candidate holding some example whose mask no other covers: none holds
        a strict superset, and none with a smaller id holds the same set (ties keep the
        earlier one). Only three kinds of candidate can change status: the newcomer; a member
        whose mask the newcomer covers; and, as the holders in ``shrunk`` lose the same
        examples everybody holding them lost, a holder itself or a candidate whose mask now
        equals a holder's (what dominated it is now its equal). Everyone else keeps their
        status, so only those are judged, in the full rescan's order."""
        wins, by_mask, members = self._wins, self._by_mask, self._members
        for i, old in shrunk.items():
            same = by_mask[old]
            same.discard(i)
            if not same:
                del by_mask[old]
        for i in (new, *shrunk):
            if wins[i]:
                by_mask.setdefault(wins[i], set()).add(i)
        mine = wins[new]
        if mine:
            outside = ~mine  # covers(), inlined: this pass is over the whole front
            self._leave(
                {i for i in members if not wins[i] & outside and (wins[i] != mine or new < i)}
            )
        judged = {new, *shrunk}
        for i in shrunk:
            judged |= by_mask.get(wins[i], set())
        self._leave(judged & members)
        for i in sorted(judged, key=lambda i: (-wins[i].bit_count(), i)):
            mask = wins[i]
            if mask and not self._covered(i, mask):
                members.add(i)
                self._held[i] = held = mask.bit_count()
                bisect.insort(self._order, (-held, i))
        self._front = self._pool = None

    def _covered(self, i: int, mask: int) -> bool:
        """Whether a completed candidate covers ``i``, which holds ``mask``. Whoever does holds
        each of its examples, the rarest too: only that example's holders are looked at. (One
        that is not on the front is covered by a member, which then covers ``i`` too, and
        those judged after ``i`` hold fewer examples.)"""
        wins, holders = self._wins, self._holders
        rarest: list[int] | None = None
        rest = mask
        while rest:
            low = rest & -rest
            here = holders[low.bit_length() - 1]
            if rarest is None or len(here) < len(rarest):
                rarest = here
            rest ^= low
        return any(covers(wins[k], k, mask, i) for k in rarest or ())

    def _leave(self, gone: set[int]) -> None:
        """Take ``gone`` off the front, and out of the order by the counts they joined with
        (those that lost examples to the newcomer hold fewer now)."""
        order, held = self._order, self._held
        self._members -= gone
        for i in gone:
            del order[bisect.bisect_left(order, (-held.pop(i), i))]

    def pareto_front(self) -> dict[int, int]:
        """Non-dominated completed candidates -> number of examples each is best on, the
        most first (ties: the earlier candidate first).

        Examples nobody solves are skipped: they say nothing about who is better. If nobody
        solves anything yet, every completed candidate is on the front with weight 1."""
        if self._front is None:
            if self._order:
                self._front = {i: -negative for negative, i in self._order}
            else:
                self._front = {c.id: 1 for c in self.completed}
        return self._front

    def select_parent(self, rng: random.Random, breadth: int = 0) -> Candidate | None:
        """A parent to reflect on, or None if no candidate is eligible now.

        Eligible: not resting and with a failure to reflect on (one whose texts it kept, see
        Candidate.forget_texts). From the Pareto front and the
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
            return self._from_front(rng)
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

    def _from_front(self, rng: random.Random) -> Candidate | None:
        """A parent from the front and the contenders (see select_parent).

        This runs at every reflection, and the front holds thousands in a long run: the
        front's cumulative weights are kept until the front changes, and a draw that lands on
        a resting member is drawn again (the same distribution as drawing among the others),
        with a full pass only when most rest."""
        front = self.pareto_front()
        if self._pool is None:
            members = [i for i in front if i in self._failing]
            self._pool = (members, list(accumulate(front[i] for i in members)))
        members, cumulative = self._pool
        heaviest = next(iter(front.values()), 1)  # the front is ordered by weight
        extra = [
            i
            for i in self.contenders
            if i not in self.resting and self._has_failure(self.candidates[i])
        ]
        in_front = cumulative[-1] if cumulative else 0
        total = in_front + heaviest * len(extra)
        for _ in range(REDRAWS if total else 0):
            x = rng.random() * total
            if x >= in_front:
                return self.candidates[extra[min(int((x - in_front) // heaviest), len(extra) - 1)]]
            chosen = members[bisect.bisect_right(cumulative, x)]
            if chosen not in self.resting:
                return self.candidates[chosen]
        pool = [(i, front[i]) for i in members if i not in self.resting]
        pool += [(i, heaviest) for i in extra]
        if not pool:
            return None
        return self.candidates[rng.choices([i for i, _ in pool], [w for _, w in pool])[0]]

    def merge_partner(
        self, cand: Candidate, rng: random.Random
    ) -> tuple[Candidate, Candidate] | None:
        """A front member to merge ``cand`` with, and their common ancestor; each pair once.

        Both must be on the front: each is best on some examples the other is not, which is
        what a merge can combine. The partner is drawn by weight among the members that share
        an ancestor with ``cand``: a draw without one is left out and drawn again, which gives
        the odds of checking every member first, and a long run's front holds thousands."""
        front = self.pareto_front()
        if cand.id not in front:
            return None
        tried = self._merged_with.setdefault(cand.id, {cand.id})
        ids = [i for i in front if i not in tried]
        weights = [front[i] for i in ids]
        line = set(self.lineage(cand.id))
        while ids:
            k = rng.choices(range(len(ids)), weights)[0]
            other = self.candidates[ids[k]]
            tried.add(other.id)  # each pair once: lineages never change
            self._merged_with.setdefault(other.id, {other.id}).add(cand.id)
            ancestor = common_ancestor(self.candidates, cand, other, line)
            if ancestor is not None:
                return other, ancestor
            del ids[k], weights[k]
        return None

    def _has_failure(self, cand: Candidate) -> bool:
        """Whether ``cand`` failed an example whose texts it kept (see
        Candidate.forget_texts): only those can be shown to a reflection."""
        if cand.id in self._wins:  # completed: its results are final, checked once
            return cand.id in self._failing
        perfect = self.perfect_score
        return any(t is not None and t.score < perfect and t.has_text for t in cand.traces)

    def lineage(self, cand_id: int) -> list[int]:
        """Ids from the seed down to ``cand_id``."""
        chain = []
        cur: int | None = cand_id
        while cur is not None:
            chain.append(cur)
            cur = self.candidates[cur].parent_id
        return chain[::-1]
