"""The mutation policy: when to ask for a new candidate, which parent's which component, shown
which examples, by which strategy, with which probe; and how to escalate when reflections only
repeat known texts. It decides; the pipeline makes the calls."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..config import Config
from .bandit import StrategyBandit
from .candidate import Candidate

DUPLICATES_TO_REST = 4
# Rounds of escalation when every parent rests: the first MORE_EXAMPLES rounds each show one
# more example per reflection; the next ones widen the parents to every completed candidate,
# then to every evaluated one. A run whose last round made nothing new ends "exhausted".
MORE_EXAMPLES = 4
MAX_ESCALATION = MORE_EXAMPLES + 2
# Added to the reflection temperature per escalation round (Adapter.propose's
# temperature_boost): a model sampled at temperature 0 says something new only when asked
# differently or sampled hotter. Providers that ignore temperature (caching proxies) lose nothing.
TEMPERATURE_STEP = 0.25
# Children started at once for a new contender (see Archive.contenders), past the candidate
# cap: it is the likely next best, and the cap is full of children of parents it outgrew.
FRESH_CHILDREN = 2
# Evaluations whose texts a completed candidate keeps (see kept_texts): a reflection shows a
# window of at most reflection_minibatch_size + MORE_EXAMPLES examples, failures first, and a
# parent is reflected on a few times before its children replace it. On a training set this
# small or smaller nothing is forgotten (with fewer, reflections on small sets got worse).
TEXTS_KEPT = 48
# ... and a pruned one, enough for one reflection's window: it is a parent again only if the
# ladder promotes it after all, or when escalation widens the parent pool to every candidate
# (see Archive.select_parent). With 4, the deterministic noisy world reached its target less.
PRUNED_TEXTS = 12


def window(order: Sequence[int], turn: int, k: int) -> list[int]:
    """``k`` items of ``order`` (all of it if shorter) starting ``turn * k`` items in, wrapping
    around: turn after turn the window walks the whole list."""
    if k <= 0 or not order:
        return []
    if k >= len(order):
        return list(order)
    start = turn * k % len(order)
    return [order[(start + i) % len(order)] for i in range(k)]


@dataclass(frozen=True, slots=True)
class Plan:
    """One reflection to ask for: ``shown`` are positions in the run's examples (or, when the
    run has a separate reflection set, in that set)."""

    component: str
    shown: list[int]
    probe: tuple[int, ...]
    strategy: str


class MutationPolicy:
    """Mutation decisions for one population over ``sizes`` (its rung sizes). ``rng`` is the
    population's mutation stream (shared with parent selection and merges), so a run's
    choices depend only on its seed and the order of completions."""

    def __init__(
        self,
        cfg: Config,
        sizes: Sequence[int],
        perfect: float,
        rng: random.Random,
        bandit: StrategyBandit,
        reflection_set_size: int | None,
    ) -> None:
        self.cfg, self.sizes, self.perfect, self.rng, self.bandit = cfg, sizes, perfect, rng, bandit
        self.reflection_set_size = reflection_set_size
        self.cap = cfg.candidate_cap(sizes[-1])
        self._turn: dict[int, int] = {}  # parent id -> reflections asked of it so far
        self._last_strategy: dict[int, str] = {}  # parent id -> strategy of its last reflection
        # Escalation (see next_round): each round shows one more example per reflection; the
        # new candidates made since the last round say whether escalating still pays.
        self.escalation = 0
        self.new_since_wake = 0
        self.repeats = 0  # reflections that gave only known texts, for the exhausted message

    def wants(
        self,
        in_flight: int,
        mutating: int,
        queued_new: int,
        queued_examples: int,
        candidates_in_flight: int,
        backlog: Callable[[], int] | None,
    ) -> bool:
        """Whether another reflection should start now: the evaluators would otherwise wait
        for work, within the caps on reflections, candidates and the queue. ``in_flight`` and
        ``mutating`` count task and reflection calls, ``queued_new`` candidates waiting for
        their first example, ``queued_examples`` examples of queued jobs not launched yet;
        ``backlog`` says how many calls wait for the provider's limiter (asked only when it
        matters: this runs at every completion)."""
        cfg = self.cfg
        if mutating >= cfg.max_mutations_per_round:
            return False
        if self.cap is not None and candidates_in_flight >= self.cap:
            return False
        if queued_new + mutating >= cfg.queue_limit:
            return False
        if queued_new + mutating < cfg.mutation_buffer_min:
            return True
        if backlog is not None and backlog() > 0:
            return False  # calls already wait for the provider: there is no free slot to fill
        # More work is needed when queued and incoming examples cannot fill the free slots.
        incoming = queued_examples + mutating * self.sizes[0]
        return in_flight + incoming < cfg.eval_concurrency

    @property
    def breadth(self) -> int:
        """How wide the parent pool is (Archive.select_parent): escalation past MORE_EXAMPLES."""
        return max(0, self.escalation - MORE_EXAMPLES)

    @property
    def temperature_boost(self) -> float:
        return TEMPERATURE_STEP * self.escalation

    def next_round(self) -> bool:
        """Another round of escalation, unless the last one made nothing new after
        MAX_ESCALATION rounds (the run is exhausted)."""
        if self.new_since_wake == 0:
            if self.escalation >= MAX_ESCALATION:
                return False
            self.escalation += 1
        self.new_since_wake = 0
        return True

    def plan(self, parent: Candidate) -> Plan:
        """The next reflection on ``parent``: components in turn, and for each component a
        new window of examples at each turn."""
        names = list(parent.components)
        turn = self._turn.get(parent.id, 0)
        self._turn[parent.id] = turn + 1
        component = names[turn % len(names)]
        if self.reflection_set_size is None:
            shown, probe = self.reflection_positions(parent, turn // len(names))
            shown = sorted(shown)
        else:
            shown, probe = self.reflection_set_window(parent, turn // len(names)), ()
            if len(self.sizes) > 1:
                probe = tuple(sorted(self.pick(self.outcomes(parent)[0], self.sizes[0])))
        strategy = self.strategy_for(parent)
        return Plan(component, shown, probe, strategy)

    def strategy_for(self, parent: Candidate) -> str:
        """The bandit's choice, unless the parent's last reflections repeated known texts:
        then the next strategy in turn, so a repeat is not asked again the same way."""
        names = self.cfg.mutation_strategies
        last = self._last_strategy.get(parent.id)
        if parent.duplicates and last is not None and len(names) > 1:
            strategy = names[(names.index(last) + 1) % len(names)]
        else:
            strategy = self.bandit.choose()
        self._last_strategy[parent.id] = strategy
        return strategy

    def reflection_positions(
        self, parent: Candidate, turn: int
    ) -> tuple[list[int], tuple[int, ...]]:
        """Examples to show the reflection model, and the child's probe.

        Shown: ``reflection_minibatch_size`` (plus the escalation level) of the parent's
        examples, failures first, filled up with successes when failures are fewer, and one
        success more once its reflections have repeated; of those whose texts it kept (see
        kept_texts). Each list is walked in a fixed shuffled order per parent, a window
        further at each turn, so successive requests for one parent show different examples
        (GEPA varies its minibatches over the training set for the same reason): a
        deterministic reflection model would otherwise be asked the same thing again and
        again.

        The probe is the child's first rung: every shown example (the minibatch the child was
        made from, as in GEPA's acceptance test), then more of the parent's failures up to the
        first rung's size. A child must beat its parent there outright, and children are ranked
        by their score on it: on the failures the signal is strong, where a small shared prefix
        is mostly examples every candidate solves and its verdict is a lottery."""
        k = self.cfg.reflection_minibatch_size + min(self.escalation, MORE_EXAMPLES)
        failed, passed = self.outcomes(parent)
        rng = random.Random(f"{self.cfg.seed}/shown/{parent.id}")
        shown_failed = self._fair_window(self.with_text(parent, failed), rng, turn, k)
        extra = k - min(len(failed), k) + (parent.duplicates > 0)
        shown = shown_failed + self._fair_window(self.with_text(parent, passed), rng, turn, extra)
        if len(self.sizes) == 1:
            return shown, ()
        rest = [p for p in failed if p not in shown_failed]
        probe = shown + self.pick(rest, max(0, self.sizes[0] - len(shown)))
        return shown, tuple(sorted(probe))

    def reflection_set_window(self, parent: Candidate, turn: int) -> list[int]:
        """The ``turn``-th window of the reflection set for ``parent`` (a shuffled order per
        parent, as GEPA samples its minibatches): its results there are not known before it is
        asked, so the window is not chosen by failures; the batch shows failures first."""
        k = self.cfg.reflection_minibatch_size + min(self.escalation, MORE_EXAMPLES)
        order = list(range(self.reflection_set_size or 0))
        random.Random(f"{self.cfg.seed}/reflect/{parent.id}").shuffle(order)
        return window(order, turn, k)

    def outcomes(self, parent: Candidate) -> tuple[list[int], list[int]]:
        """The positions ``parent`` was scored on: (failed, solved), in position order."""
        failed, passed = [], []
        for p, t in enumerate(parent.traces):
            if t is not None:
                (failed if t.score < self.perfect else passed).append(p)
        return failed, passed

    def _fair_window(
        self, positions: list[int], rng: random.Random, turn: int, k: int
    ) -> list[int]:
        """The ``turn``-th window of ``k`` of ``positions`` in a shuffled order, from those
        outside every partial rung's prefix while there are ``k`` of them: the prefixes are
        shared tests, and a child made to fix an example there would pass them unfairly."""
        outside, inside = self.outside_first(positions)
        rng.shuffle(outside)
        rng.shuffle(inside)
        picked = window(outside, turn, k)
        return picked + window(inside, turn, k - len(picked))

    def outside_first(self, positions: list[int]) -> tuple[list[int], list[int]]:
        """``positions`` outside every partial rung's prefix, and those inside one."""
        fair = self.sizes[-2] if len(self.sizes) > 1 else 0
        return [p for p in positions if p >= fair], [p for p in positions if p < fair]

    def pick(self, positions: list[int], k: int, rng: random.Random | None = None) -> list[int]:
        """Up to ``k`` of ``positions`` at random (from ``rng``, else the population's
        stream), outside every partial rung's prefix when possible: those prefixes are shared
        tests, and a child made to fix an example there would pass them unfairly."""
        rng = rng or self.rng
        outside, inside = self.outside_first(positions)
        picked = rng.sample(outside, min(k, len(outside)))
        if len(picked) < k:
            picked += rng.sample(inside, min(k - len(picked), len(inside)))
        return picked

    def kept_texts(self, cand: Candidate, n: int) -> set[int]:
        """The ``n`` evaluations whose texts a candidate out of the race keeps for reflection
        (Candidate.forget_texts; TEXTS_KEPT once completed, PRUNED_TEXTS once pruned):
        failures first, then successes, each drawn as a probe's examples are, from a stream
        of its own (the population's is not spent)."""
        failed, passed = self.outcomes(cand)
        rng = random.Random(f"{self.cfg.seed}/texts/{cand.id}")
        failures = self.pick(self.with_text(cand, failed), n, rng)
        successes = self.pick(self.with_text(cand, passed), n - len(failures), rng)
        return {*failures, *successes}

    @staticmethod
    def with_text(cand: Candidate, positions: list[int]) -> list[int]:
        """Those of ``positions`` whose output and feedback ``cand`` still has."""
        return [p for p in positions if cand.traces[p].has_text]  # type: ignore[union-attr]

    def should_rest(self, parent: Candidate) -> bool:
        """Record a reflection on ``parent`` that reproduced a known text (it cost a call and
        gave nothing). True when the parent's reflections mostly repeat (at least
        DUPLICATES_TO_REST, and more than twice its new children): it has nothing new to teach
        on its current evidence and should rest. Without this, a parent that keeps repeating
        itself turns the mutation pipeline into a loop of wasted calls, which starves the
        evaluators outright when the provider's rate limit is the bottleneck."""
        parent.duplicates += 1
        self.repeats += 1
        return parent.duplicates >= DUPLICATES_TO_REST and parent.duplicates > 2 * parent.children
