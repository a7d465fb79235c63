"""The streaming optimizer: evaluations, promotions and mutations with no round barriers.

Work is example-level. A *job* is one candidate on one rung: the examples of the rung it has
not been evaluated on. Rungs above the first are prefixes of the run's fixed shuffled order
(nested shards), so a promotion evaluates only the new examples. The first rung of a child is
its *probe*: as many of its parent's failures as the first rung has examples, starting with
those the reflection model was shown (for a merge: examples one parent solves and the other
does not), taken from outside the shared prefixes. It must fix some of them to go on (GEPA's
acceptance test) and is ranked by how many it fixes. Jobs wait in a heap (most promising
lineage first, then higher rungs, then the newest) and their examples are launched whenever a
task-call slot is free, at most ``eval_concurrency`` at once. Every finished example may finish
a rung, which the ASHA :class:`~gepa_lab.engine.ladder.Ladder` judges at once; every state
change may launch mutations, which keep enough new candidates queued that the evaluators never
wait for work. Everything is
driven by completions (callbacks on the event loop): there is no polling and no per-round wait.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import pandas as pd

from ..config import Config
from ..llm.usage import Usage
from ..protocols import Adapter, ProgressFn, UserCodeError
from ..runs.telemetry import EventLog, RunResult, timeline_frame
from .archive import Archive, evidence_score
from .bandit import StrategyBandit
from .candidate import Candidate, Status, Trace
from .ladder import Decision, Ladder
from .merge import merge_components


def wilson_lower_bound(mean: float, n: int, confidence: float) -> float:
    """One-sided lower confidence bound of a success rate ``mean`` measured on ``n`` examples
    (Wilson 1927): unlike the normal approximation it stays inside [0, 1] and is honest near
    0 and 1, where prompt scores live."""
    z = NormalDist().inv_cdf(confidence)
    centre = mean + z * z / (2 * n)
    spread = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def _window(order: Sequence[int], turn: int, k: int) -> list[int]:
    """``k`` items of ``order`` (all of it if shorter) starting ``turn * k`` items in, wrapping
    around: turn after turn the window walks the whole list."""
    if k <= 0 or not order:
        return []
    if k >= len(order):
        return list(order)
    start = turn * k % len(order)
    return [order[(start + i) % len(order)] for i in range(k)]


def _dominates(cand: Candidate, positions: Sequence[int], rivals: Sequence[Candidate]) -> bool:
    """True if ``cand`` scores at least as well as each rival on every one of ``positions``
    the rival was evaluated on, and better on at least one: evidence no ranking should
    overrule. False if it shares no example with some rival."""
    for rival in rivals:
        shared = [p for p in positions if rival.traces[p] is not None]
        diffs = [cand.traces[p].score - rival.traces[p].score for p in shared]  # type: ignore[union-attr]
        if not diffs or min(diffs) < -1e-12 or max(diffs) <= 1e-12:
            return False
    return True


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
ALL_PRUNED_WARNING = 50  # consecutive judgements without a promotion before the run warns
MIN_COHORT = 4  # results on a rung judged before its cohort cut applies (see Ladder)
# Children started at once for a new contender (see Archive.contenders), past the candidate
# cap: it is the likely next best, and the cap is full of children of parents it outgrew.
FRESH_CHILDREN = 2


@dataclass(slots=True, eq=False)
class _Job:
    rung: int
    cand: Candidate
    positions: list[int]  # still to evaluate on this rung
    next: int = 0  # index into positions of the next example to launch
    pending: int = 0
    started: bool = False


class Pipeline:
    """One optimization run. Create, then ``await run(seeds)`` once."""

    def __init__(
        self,
        adapter: Adapter,
        trainset: Sequence[Any],
        config: Config,
        *,
        label: str = "turbo",
        time_mode: str = "real",
        simulated: bool = False,
        on_progress: ProgressFn | None = None,
        usage: Usage | None = None,
        backlog: Callable[[], int] | None = None,
        checkpoint: Callable[[], None] | None = None,
        island: int = 0,
        n_islands: int = 1,
        on_completed: Callable[[Pipeline, Candidate], None] | None = None,
        total_calls: Callable[[], int] | None = None,
        reflection_set: Sequence[Any] | None = None,
    ) -> None:
        self.cfg = config
        # GEPA's generalization mode: with a reflection set (the training set), ``trainset``
        # here is the validation set. The ladder, the Pareto front, the target and the final
        # choice use it; reflections only ever show examples of the reflection set, on which
        # a parent is evaluated when it is about to be reflected on.
        self.reflection_set = list(reflection_set) if reflection_set is not None else None
        # One of n_islands populations (see gepa_lab.engine.islands): its own random streams,
        # candidate ids island, island + n, ... (unique across islands), and a hook called on
        # every full evaluation, for migration.
        self.island, self._id_step, self.on_completed = island, n_islands, on_completed
        stream = f"{config.seed}" if island == 0 else f"{config.seed}/island{island}"
        self.checkpoint = checkpoint  # saves the run's state (run directories), at snapshots
        # Finished task calls of the whole run (all islands), for the trace; this one's if None.
        self.total_calls = total_calls
        self.usage = usage  # what the provider calls cost so far, for the token and cost budgets
        self.backlog = backlog  # calls waiting for the provider's limiter (it is the bottleneck)
        self.adapter = adapter
        self.label, self.time_mode, self.simulated = label, time_mode, simulated
        self.on_progress = on_progress
        order = list(range(len(trainset)))
        random.Random(f"{config.seed}/order").shuffle(order)
        self.examples = [trainset[i] for i in order]
        self.sizes = config.rung_sizes(len(trainset))
        self._cap = config.candidate_cap(len(trainset))
        self.ladder = Ladder(
            len(self.sizes),
            config.cohort_quantile,
            config.eps_improve,
            config.convergence_patience if config.enable_rung_convergence else None,
            config.lineage_patience,
            random.Random(f"{stream}/ladder"),
            config.cohort_window,
            MIN_COHORT,
        )
        # "Solved" is the task's perfect score (1.0 unless the task says otherwise).
        self.perfect = float(getattr(getattr(adapter, "task", None), "perfect_score", 1.0))
        self.archive = Archive(len(self.examples), self.perfect)
        self.log = EventLog()
        self.rng = random.Random(f"{stream}/mutation")
        self.bandit = StrategyBandit(
            config.mutation_strategies, random.Random(f"{stream}/strategy")
        )
        self._strategy_of: dict[int, str] = {}  # child id -> the strategy that made it

        self._heap: list[tuple[float, int, int, _Job]] = []
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._done = asyncio.Event()
        self._next_id = island
        self._mutation_seq = 0
        self._turn: dict[int, int] = {}  # parent id -> reflections asked of it so far
        self._last_strategy: dict[int, str] = {}  # parent id -> strategy of its last reflection
        # Escalation (see _escalate): each round shows one more example per reflection; the
        # new candidates made since the last round say whether escalating still pays.
        self.escalation = 0
        self._new_since_wake = 0
        self._repeats = 0  # reflections that gave only known texts, for the exhausted message
        self._fresh: list[Candidate] = []  # new contenders whose children start past the cap

        # live counters (all back to zero at the end)
        self.in_flight = 0  # task-model calls
        self.mutating = 0  # reflection calls
        self.queued_new = 0  # candidates waiting for their first example
        self.queued_examples = 0  # examples of queued jobs not yet launched
        self.cands_in_flight = 0  # candidates being generated, queued or evaluated
        self.occupancy = [0] * len(self.sizes)  # candidates queued or evaluated, per rung

        self.launched = 0
        self.finished_calls = 0
        self.failed_calls = 0
        self.reflections = 0
        self.merges = 0
        self.rung_events = 0
        n = len(self.sizes)
        self.counts = {
            k: [0] * n for k in ("finished", "promoted", "pruned", "pruned_parent", "forced")
        }

        self.warnings: list[str] = []
        self.trace: list[tuple[float, float, int, int]] = []  # at each new best: RunResult.trace
        self.timeline: list[tuple[Any, ...]] = []  # at each finished rung: RunResult.timeline
        self._unpromoted = self._unpromoted_by_parent = 0  # judgements since the last promotion

        self.stopping = False
        self.stop_reason = ""
        self.time_to_target: float | None = None
        self._error: BaseException | None = None
        self._t0 = 0.0
        self._t_end: float | None = None
        self._area = 0.0
        self._last_t = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ clock and counters
    def now(self) -> float:
        assert self._loop is not None
        return self._loop.time() - self._t0

    def _in_flight_add(self, delta: int) -> None:
        t = self.now()
        self._area += self.in_flight * (t - self._last_t)
        self._last_t = t
        self.in_flight += delta

    # ------------------------------------------------------------------ run
    async def run(self, seeds: Sequence[dict[str, str]]) -> RunResult:
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        for comps in seeds:
            cand = self._new_candidate(dict(comps), None, "seed")
            if cand is not None:
                self._enqueue(cand, 0)
        if self.checkpoint is not None:
            self.checkpoint()
        timer = None
        if self.cfg.max_wall_time is not None:
            timer = self._loop.call_later(self.cfg.max_wall_time, self._stop, "wall_time")
        self._pump()
        try:
            await self._done.wait()
        finally:
            if timer is not None:
                timer.cancel()
            if not self.stopping:  # cancelled from outside (Cancel button, Ctrl-C)
                self._stop("cancelled")
            await self._drain()
        if self._error is not None:
            raise self._error
        return self._result()

    async def _drain(self) -> None:
        """Cancel whatever is in flight and wait for it, so every counter returns to zero."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for *_, job in self._heap:
            if job.cand.status in (Status.QUEUED, Status.EVALUATING, Status.PROMOTED):
                job.cand.status = Status.CANCELLED
                self.cands_in_flight -= 1
        for cand in self.archive.candidates.values():
            if cand.status is Status.EVALUATING:
                cand.status = Status.CANCELLED
                self.cands_in_flight -= 1
        self._heap.clear()
        self.queued_new = self.queued_examples = 0

    def stop(self, reason: str) -> None:
        """End the run (from outside: another island, a controller); what is in flight is
        cancelled and counted out."""
        if self._loop is not None:
            self._stop(reason)

    def _stop(self, reason: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stop_reason = reason
        self._t_end = self.now()
        self._area += self.in_flight * (self._t_end - self._last_t)
        self._last_t = self._t_end
        self.log.add(self._t_end, "stop")
        self._done.set()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self._stop("error")

    # ------------------------------------------------------------------ candidates and jobs
    def _new_candidate(
        self, comps: dict[str, str], parent: Candidate | None, origin: str
    ) -> Candidate | None:
        if not self.archive.is_new(comps):
            self.log.add(self.now(), "duplicate", None, parent.id if parent else None)
            return None
        cand = Candidate(self._next_id, comps, parent.id if parent else None, origin, self.now())
        cand.traces = [None] * len(self.examples)
        self._next_id += self._id_step
        self.archive.add(cand)
        self.cands_in_flight += 1
        return cand

    def _enqueue(self, cand: Candidate, rung: int) -> None:
        """Queue ``cand`` for ``rung``: the examples of the rung it has not been evaluated on
        (its probe on the first rung if it has one; nested shards reuse everything else)."""
        if rung == 0 and cand.probe:
            positions = list(cand.probe)
        else:
            positions = [p for p in range(self.sizes[rung]) if cand.traces[p] is None]
        if rung == 0:
            self.queued_new += 1
        self.occupancy[rung] += 1
        self.queued_examples += len(positions)
        heapq.heappush(
            self._heap,
            (-self._promise(cand, rung), -rung, -self._seq, _Job(rung, cand, positions)),
        )
        self._seq += 1

    def _promise(self, cand: Candidate, rung: int) -> float:
        """Queue priority: the evidence so far that this candidate is good (a new child inherits
        its parent's). The most promising lineage is evaluated first at every rung, so the
        critical path to the target never waits behind the buffer of speculative children.
        Ties go to the higher rung (a parent's promotion before its children, which inherit
        its evidence: otherwise a steady stream of children starves the promotion whenever
        the provider is the bottleneck), then to the newest job. Seeds come first."""
        if rung:
            return evidence_score(cand, cand.rung_positions(rung - 1, self.sizes))
        parent = self.archive.candidates.get(cand.parent_id) if cand.parent_id is not None else None
        if parent is None:
            return 1.0
        return evidence_score(parent, parent.rung_positions(parent.rung, self.sizes))

    def _calls_spent(self) -> bool:
        """True once no further call may be launched: the metric-call or LLM-call budget."""
        cfg = self.cfg
        if cfg.max_metric_calls is not None and self.launched >= cfg.max_metric_calls:
            return True
        return (
            cfg.max_llm_calls is not None
            and self.launched + self._mutation_seq >= cfg.max_llm_calls
        )

    def _pump(self) -> None:
        """Launch examples from the highest-priority jobs while slots are free."""
        cfg = self.cfg
        if self.usage is not None and not self.stopping:
            if cfg.max_total_tokens is not None and self.usage.total_tokens >= cfg.max_total_tokens:
                self._stop("token_budget")
            elif cfg.max_cost_usd is not None and self.usage.cost_usd >= cfg.max_cost_usd:
                self._stop("cost_budget")
        heap = self._heap
        while heap and self.in_flight < cfg.eval_concurrency and not self.stopping:
            if self._calls_spent():
                break
            job = heap[0][3]
            if not job.started:
                job.started = True
                job.cand.status = Status.EVALUATING
                if job.rung == 0:
                    self.queued_new -= 1
                self.log.add(self.now(), "eval_start", job.cand.id, job.cand.parent_id, job.rung)
            if not job.positions:  # everything this rung needs is known already
                heapq.heappop(heap)
                self._rung_done(job.cand, job.rung)
                continue
            pos = job.positions[job.next]
            job.next += 1
            job.pending += 1
            if job.next == len(job.positions):
                heapq.heappop(heap)
            self.queued_examples -= 1
            self.launched += 1
            self._in_flight_add(1)
            task = asyncio.ensure_future(self._evaluate(job, pos))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._maybe_mutate()
        self._check_idle()

    async def _call(self, cand: Candidate, example: Any) -> Trace:
        """One evaluation already counted in flight: a failed call is a failed evaluation
        (scored 0, its error as feedback), never a crashed run; a failing user function
        (:class:`UserCodeError`) propagates."""
        try:
            return await self.adapter.evaluate(cand, example)
        except (asyncio.CancelledError, UserCodeError):
            raise
        except Exception as exc:
            return Trace(0.0, "", f"call failed: {type(exc).__name__}: {exc}", failed_call=True)
        finally:
            self._in_flight_add(-1)

    def _count(self, trace: Trace) -> None:
        if trace.failed_call:
            self.failed_calls += 1
        else:
            self.finished_calls += 1

    async def _evaluate(self, job: _Job, pos: int) -> None:
        try:
            trace = await self._call(job.cand, self.examples[pos])
        except UserCodeError as exc:
            self._fail(exc)
            return
        try:
            self._example_done(job, pos, trace)
        except Exception as exc:
            self._fail(exc)

    def _example_done(self, job: _Job, pos: int, trace: Trace) -> None:
        job.cand.traces[pos] = trace
        self._count(trace)
        job.pending -= 1
        if job.pending == 0 and job.next == len(job.positions) and not self.stopping:
            self._rung_done(job.cand, job.rung)
        self._pump()

    # ------------------------------------------------------------------ the ladder
    def _rung_done(self, cand: Candidate, rung: int) -> None:
        positions = cand.rung_positions(rung, self.sizes)
        score = cand.mean_over(positions)
        cand.rung = rung
        t = self.now()
        self.occupancy[rung] -= 1
        self.counts["finished"][rung] += 1
        self.log.add(t, "eval_end", cand.id, cand.parent_id, rung, score)
        state = (self.in_flight, self.mutating, self.queued_new)
        self.timeline.append((t, *state, *self.occupancy, self.finished_calls))
        self.rung_events += 1
        last = rung == len(self.sizes) - 1
        if last:
            self._completed(cand, len(positions), score, t)
        else:
            self._judge(cand, rung, positions, score, t)
        # Every full-set result too: on a one-rung ladder (small data) those are all there is.
        if last or self.rung_events % self.cfg.batch_size == 0:
            self._snapshot(t)

    def _completed(self, cand: Candidate, n: int, score: float, t: float) -> None:
        cand.status = Status.COMPLETED
        self.cands_in_flight -= 1
        strategy = self._strategy_of.pop(cand.id, None)
        if strategy is not None:  # a one-rung ladder: judged by its full score
            parent = self.archive.candidates[cand.parent_id]  # type: ignore[index]
            self.bandit.update(strategy, score > parent.mean_score(n) + 1e-12)
        if self.archive.rung_finished(cand, full=True):
            self._new_best(t, cand, cand.parent_id, score)
        if self.cfg.use_merge:
            self._maybe_merge(cand, n, t)
        if self.on_completed is not None:
            self.on_completed(self, cand)
        target = self.cfg.target_quality
        if target is not None and self.time_to_target is None and self._reaches(score, n, target):
            self.time_to_target = t
            self.log.add(t, "target", cand.id, cand.parent_id, cand.rung, score)
            if self.cfg.auto_stop:
                self._stop("target")

    def receive(self, migrant: Candidate) -> Candidate | None:
        """Take in a fully evaluated candidate from another island, with its scores (islands
        share the example order, so they are this island's scores too)."""
        if self.stopping or not self.archive.is_new(migrant.components):
            return None
        t = self.now()
        cand = Candidate(
            self._next_id, dict(migrant.components), None, "migrant", t, list(migrant.traces)
        )
        self._next_id += self._id_step
        cand.rung, cand.status = len(self.sizes) - 1, Status.COMPLETED
        self.archive.add(cand)
        score = cand.mean_score(len(self.examples))
        self.log.add(t, "migrate", cand.id, migrant.id, cand.rung, score)
        if self.archive.rung_finished(cand, full=True):
            self._new_best(t, cand, None, score)
        self._pump()  # a new parent may be what an idle island was waiting for
        return cand

    def _new_best(self, t: float, cand: Candidate, parent: int | None, score: float) -> None:
        self.log.add(t, "new_best", cand.id, parent, cand.rung, score)
        calls = self.total_calls() if self.total_calls is not None else self.finished_calls
        tokens = self.usage.total_tokens if self.usage is not None else 0
        self.trace.append((t, score, calls, tokens))

    def _reaches(self, score: float, n: int, target: float) -> bool:
        confidence = self.cfg.target_confidence
        if confidence is None:
            return score >= target - 1e-12
        return wilson_lower_bound(score, n, confidence) >= target - 1e-12

    def _maybe_merge(self, cand: Candidate, n: int, t: float) -> None:
        """Combine a newly completed front member with another that shares an ancestor (see
        :mod:`~gepa_lab.engine.merge`). The merge costs no LLM call and climbs the ladder like
        any child, judged against the better of its two parents."""
        found = self.archive.merge_partner(cand, self.rng)
        if found is None:
            return
        other, ancestor = found
        comps = merge_components(ancestor.components, cand.components, other.components)
        if comps is None:
            return
        better, worse = cand, other
        if other.mean_score(n) > cand.mean_score(n):
            better, worse = other, cand
        child = self._new_candidate(comps, better, "merge")
        if child is not None:
            child.merge_parent = worse.id
            if len(self.sizes) > 1:
                # Its probe: examples one parent solves and the other does not.
                split = [
                    p
                    for p in range(len(self.examples))
                    if cand.traces[p].score != other.traces[p].score  # type: ignore[union-attr]
                ]
                child.probe = tuple(sorted(self._pick(split, self.sizes[0])))
            self.merges += 1
            self.log.add(t, "merge", child.id, better.id)
            self._enqueue(child, 0)

    def _judge(
        self, cand: Candidate, rung: int, positions: Sequence[int], score: float, t: float
    ) -> None:
        if cand.parent_id is None:
            # A seed is the baseline, not a contestant: it always goes on, and neither enters
            # a rung's cohort nor spends its promotion credit (on a small data set it would
            # leave none for the first child).
            decision = Decision(True, "seed")
        else:
            decision = self._decide(cand, rung, positions, score)
        strategy = self._strategy_of.pop(cand.id, None)
        if strategy is not None:
            self.bandit.update(strategy, decision.promote)
        if decision.promote:
            cand.status = Status.PROMOTED
            self.counts["promoted"][rung] += 1
            self.log.add(t, "promote", cand.id, cand.parent_id, rung, score)
            self.archive.rung_finished(cand, full=False)
            if rung == len(self.sizes) - 2 and cand.parent_id is not None:
                self.archive.contenders.add(cand.id)
                self._fresh.append(cand)
            self._enqueue(cand, rung + 1)
        else:
            cand.status = Status.PRUNED
            self.counts["pruned"][rung] += 1
            if decision.reason == "parent":
                self.counts["pruned_parent"][rung] += 1
            self.cands_in_flight -= 1
            self.log.add(t, "prune", cand.id, cand.parent_id, rung, score)
        self._watch_pruning(decision.promote or bool(decision.forced), decision.reason, t)
        for forced_id, forced_rung in decision.forced:
            forced = self.archive.candidates[forced_id]
            forced.status = Status.PROMOTED
            self.cands_in_flight += 1
            self.counts["forced"][forced_rung] += 1
            self.log.add(
                t,
                "force",
                forced.id,
                forced.parent_id,
                forced_rung,
                forced.mean_over(forced.rung_positions(forced_rung, self.sizes)),
            )
            self.archive.rung_finished(forced, full=False)
            self._enqueue(forced, forced_rung + 1)

    def _decide(
        self, cand: Candidate, rung: int, positions: Sequence[int], score: float
    ) -> Decision:
        """The ladder's verdict on a child that finished ``rung``, with the bars it must pass:
        its parent on the examples they share (on its probe: beaten outright, GEPA's acceptance
        test) and, at the last partial rung, the best candidate too: matched on the shared
        prefix and beaten outright on everything the child was tested on, its probe included
        (unless the best is perfect there). The prefix alone is a poor judge of a close
        contest: every candidate is tested on it, the easy examples in it are soon solved by
        all, and a tie there says nothing either way, where the probe holds the failures the
        child was made to fix."""
        parent = self.archive.candidates[cand.parent_id]  # type: ignore[index]
        best = self.archive.best
        parent_score = child_same = beats_best = None
        tested = sorted({*cand.probe, *positions})  # every example the child was scored on
        probe = need_gain = rung == 0 and bool(cand.probe)
        if probe:
            parent_score, child_same = parent.mean_over(cand.probe), score
        else:
            shared = min(self.sizes[rung], parent.prefix_evaluated(self.sizes))
            if shared:
                parent_score, child_same = parent.mean_score(shared), cand.mean_score(shared)
        if self.cfg.incumbent_gate and rung == len(self.sizes) - 2 and best is not None:
            bar = best.mean_over(positions)
            if parent_score is None or bar > parent_score:
                parent_score, child_same = bar, score
            best_there = best.mean_over(tested)
            beats_best = (
                best_there >= self.perfect - 1e-12 or cand.mean_over(tested) > best_there + 1e-12
            )
        rivals = [parent] if best is None or best is parent else [parent, best]
        return self.ladder.decide(
            cand.id,
            rung,
            score,
            cand.parent_id,
            parent_score,
            child_same,
            need_gain=need_gain,
            dominant=_dominates(cand, tested, rivals),
            beats_best=beats_best,
        )

    def _watch_pruning(self, promoted: bool, reason: str, t: float) -> None:
        """Warn once when every candidate is being pruned: the ladder has stopped learning and
        the run only spends calls. Says which rule prunes and what to change."""
        if promoted:
            self._unpromoted = self._unpromoted_by_parent = 0
            return
        self._unpromoted += 1
        self._unpromoted_by_parent += reason == "parent"
        if self._unpromoted != ALL_PRUNED_WARNING or self.warnings:
            return
        cfg = self.cfg
        by_parent = self._unpromoted_by_parent
        message = (
            f"every one of the last {ALL_PRUNED_WARNING} candidates judged was pruned "
            f"({by_parent} for scoring below their parent, {ALL_PRUNED_WARNING - by_parent} "
            f"by the cohort cut): the ladder is not promoting anything. Consider a lower "
            f"Config.cohort_quantile (now {cfg.cohort_quantile:g}), a higher "
            f"Config.eps_improve (now {cfg.eps_improve:g})"
            + ("" if cfg.enable_rung_convergence else ", or Config.enable_rung_convergence=True")
            + "."
        )
        self.warnings.append(message)
        self.log.add(t, "warning")
        warnings.warn(message, RuntimeWarning, stacklevel=2)

    # ------------------------------------------------------------------ mutation
    def _wants_mutation(self) -> bool:
        cfg = self.cfg
        if self.mutating >= cfg.max_mutations_per_round:
            return False
        cap = self._cap
        if cap is not None and self.cands_in_flight >= cap:
            return False
        if self.queued_new + self.mutating >= cfg.queue_limit:
            return False
        if self.queued_new + self.mutating < cfg.mutation_buffer_min:
            return True
        if self.backlog is not None and self.backlog() > 0:
            return False  # calls already wait for the provider: there is no free slot to fill
        # More work is needed when queued and incoming examples cannot fill the free slots.
        incoming = self.queued_examples + self.mutating * self.sizes[0]
        return self.in_flight + incoming < cfg.eval_concurrency

    def _maybe_mutate(self) -> None:
        if self.stopping:
            return
        while self._fresh and not self._calls_spent():
            parent = self._fresh.pop()
            for _ in range(FRESH_CHILDREN):
                if self.mutating < self.cfg.max_mutations_per_round:
                    self._launch_mutation(parent)
        while not self._calls_spent() and self._wants_mutation():
            parent = self.archive.select_parent(self.rng, self._breadth)
            if parent is None and self._escalate():
                parent = self.archive.select_parent(self.rng, self._breadth)
            if parent is None:
                return
            self._launch_mutation(parent)

    def _escalate(self) -> bool:
        """Every parent rests (its reflections repeat known texts) and nothing in flight can
        change that. Escalate instead of giving up: merge front members not merged yet (no
        LLM call), else wake every parent for another round in which each reflection shows one
        more example than the last round did (different minibatches, different requests: a
        model at temperature 0 answers an identical request identically) sampled
        TEMPERATURE_STEP hotter, and after MORE_EXAMPLES such rounds, in which parents come from
        a wider pool. True if parents were woken. After MAX_ESCALATION rounds of which the last
        made nothing new, the reflection model has nothing new to say on any evidence tried:
        the run is exhausted (see :meth:`_check_idle`), and says so."""
        if not self.archive.resting or self.in_flight or self.mutating or self._heap:
            return False
        if self.cfg.use_merge:
            n = len(self.examples)
            for cand_id in list(self.archive.pareto_front()):
                self._maybe_merge(self.archive.candidates[cand_id], n, self.now())
            if self._heap:
                self._loop.call_soon(self._pump)  # type: ignore[union-attr]
                return False
        if self._new_since_wake == 0:
            if self.escalation >= MAX_ESCALATION:
                return False
            self.escalation += 1
        self._new_since_wake = 0
        self.archive.wake()
        self.log.add(self.now(), "escalate", None, None, self.escalation)
        return True

    def _launch_mutation(self, parent: Candidate) -> None:
        names = list(parent.components)
        turn = self._turn.get(parent.id, 0)
        self._turn[parent.id] = turn + 1
        component = names[turn % len(names)]  # round-robin over components
        if self.reflection_set is None:
            picked, probe = self._reflection_positions(parent, turn // len(names))
            shown: list[int] | None = None
            batch = [(self.examples[p], parent.traces[p]) for p in sorted(picked)]
        else:
            shown, probe = self._reflection_set_window(parent, turn // len(names)), ()
            if len(self.sizes) > 1:
                probe = tuple(sorted(self._pick(self._outcomes(parent)[0], self.sizes[0])))
            batch = []
        seed = self.cfg.seed * 1_000_003 + self._mutation_seq
        self._mutation_seq += 1
        strategy = self._strategy_for(parent)
        self.mutating += 1
        self.cands_in_flight += 1
        self.log.add(self.now(), "mutation_start", None, parent.id)
        task = asyncio.ensure_future(
            self._mutate(parent, component, batch, seed, probe, strategy, shown)  # type: ignore[arg-type]
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def _breadth(self) -> int:
        """How wide the parent pool is (Archive.select_parent): escalation past MORE_EXAMPLES."""
        return max(0, self.escalation - MORE_EXAMPLES)

    def _strategy_for(self, parent: Candidate) -> str:
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

    def _reflection_positions(
        self, parent: Candidate, turn: int
    ) -> tuple[list[int], tuple[int, ...]]:
        """Anys to show the reflection model, and the child's probe.

        Shown: ``reflection_minibatch_size`` (plus the escalation level) of the parent's
        examples, failures first, filled up with successes when failures are fewer, and one
        success more once its reflections have repeated. Each list is walked in a fixed
        shuffled order per parent, a window further at each turn, so successive requests for
        one parent show different examples (GEPA varies its minibatches over the training set
        for the same reason): a deterministic reflection model would otherwise be asked the
        same thing again and again.

        The probe is the child's first rung: every shown example (the minibatch the child was
        made from, as in GEPA's acceptance test), then more of the parent's failures up to the
        first rung's size. A child must beat its parent there outright, and children are ranked
        by their score on it: on the failures the signal is strong, where a small shared prefix
        is mostly examples every candidate solves and its verdict is a lottery."""
        k = self.cfg.reflection_minibatch_size + min(self.escalation, MORE_EXAMPLES)
        failed, passed = self._outcomes(parent)
        rng = random.Random(f"{self.cfg.seed}/shown/{parent.id}")
        shown_failed = self._fair_window(failed, rng, turn, k)
        extra = k - len(shown_failed) + (parent.duplicates > 0)
        shown = shown_failed + self._fair_window(passed, rng, turn, extra)
        if len(self.sizes) == 1:
            return shown, ()
        rest = [p for p in failed if p not in shown_failed]
        probe = shown + self._pick(rest, max(0, self.sizes[0] - len(shown)))
        return shown, tuple(sorted(probe))

    def _outcomes(self, parent: Candidate) -> tuple[list[int], list[int]]:
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
        outside, inside = self._outside_first(positions)
        rng.shuffle(outside)
        rng.shuffle(inside)
        picked = _window(outside, turn, k)
        return picked + _window(inside, turn, k - len(picked))

    def _outside_first(self, positions: list[int]) -> tuple[list[int], list[int]]:
        """``positions`` outside every partial rung's prefix, and those inside one."""
        fair = self.sizes[-2] if len(self.sizes) > 1 else 0
        return [p for p in positions if p >= fair], [p for p in positions if p < fair]

    def _pick(self, positions: list[int], k: int) -> list[int]:
        """Up to ``k`` of ``positions`` at random, outside every partial rung's prefix when
        possible: those prefixes are shared tests, and a child made to fix an example there
        would pass them unfairly."""
        outside, inside = self._outside_first(positions)
        picked = self.rng.sample(outside, min(k, len(outside)))
        if len(picked) < k:
            picked += self.rng.sample(inside, min(k - len(picked), len(inside)))
        return picked

    async def _mutate(
        self,
        parent: Candidate,
        component: str,
        batch: list[tuple[Any, Trace]],
        seed: int,
        probe: tuple[int, ...],
        strategy: str,
        shown: list[int] | None = None,
    ) -> None:
        text: str | None = None
        child: Candidate | None = None
        try:
            if shown is not None:
                batch = await self._reflection_batch(parent, shown)
            if batch:  # empty only when the budget ran out before the parent was evaluated
                text = await self.adapter.propose(
                    parent,
                    component,
                    batch,
                    seed,
                    strategy=strategy,
                    temperature_boost=TEMPERATURE_STEP * self.escalation,
                )
        except asyncio.CancelledError:
            raise
        except UserCodeError as exc:
            self._fail(exc)
        except Exception as exc:
            self.log.add(self.now(), "mutation_failed", None, parent.id)
            text = None
            del exc
        finally:
            self.mutating -= 1
            self.cands_in_flight -= 1
            self.reflections += 1
        try:
            if text is not None and not self.stopping:
                comps = dict(parent.components)
                comps[component] = text
                child = self._new_candidate(comps, parent, "mutation")
                if child is not None:
                    self._strategy_of[child.id] = strategy
                    child.probe = probe
                    self._new_since_wake += 1
                    parent.children += 1
                    self.log.add(self.now(), "mutation", child.id, parent.id)
                    self._enqueue(child, 0)
                else:
                    self._duplicate_from(parent)
            if child is None and not self.stopping:
                self.bandit.update(strategy, False)  # a reflection that gave nothing new
            self._pump()
        except Exception as exc:
            self._fail(exc)

    def _reflection_set_window(self, parent: Candidate, turn: int) -> list[int]:
        """The ``turn``-th window of the reflection set for ``parent`` (a shuffled order per
        parent, as GEPA samples its minibatches): its results there are not known before it is
        asked, so the window is not chosen by failures; the batch shows failures first."""
        k = self.cfg.reflection_minibatch_size + min(self.escalation, MORE_EXAMPLES)
        order = list(range(len(self.reflection_set or ())))
        random.Random(f"{self.cfg.seed}/reflect/{parent.id}").shuffle(order)
        return _window(order, turn, k)

    async def _reflection_batch(
        self, parent: Candidate, shown: list[int]
    ) -> list[tuple[Any, Trace]]:
        """``parent`` on the ``shown`` examples of the reflection set, evaluating those it has
        no result on (task calls like any other, within the budget), failures first."""
        examples = self.reflection_set or []
        missing = [p for p in shown if p not in parent.reflection_traces]

        async def one(p: int) -> None:
            self.launched += 1
            self._in_flight_add(1)
            trace = await self._call(parent, examples[p])
            parent.reflection_traces[p] = trace
            self._count(trace)

        await asyncio.gather(*(one(p) for p in missing if not self._calls_spent()))
        known = [p for p in shown if p in parent.reflection_traces]
        known.sort(key=lambda p: parent.reflection_traces[p].score >= self.perfect)
        return [(examples[p], parent.reflection_traces[p]) for p in known]

    def _duplicate_from(self, parent: Candidate) -> None:
        """A reflection that reproduced a known text cost a call and gave nothing. A parent
        whose reflections mostly repeat (at least DUPLICATES_TO_REST, and more than twice its
        new children) has nothing new to teach on its current evidence: it rests, out of parent
        selection, until it finishes another rung. Without this, a parent that keeps repeating
        itself turns the mutation pipeline into a loop of wasted calls, which starves the
        evaluators outright when the provider's rate limit is the bottleneck."""
        parent.duplicates += 1
        self._repeats += 1
        repeating = parent.duplicates >= DUPLICATES_TO_REST
        if repeating and parent.duplicates > 2 * parent.children and self.archive.rest(parent):
            self.log.add(self.now(), "parent_rested", parent.id, parent.parent_id)

    # ------------------------------------------------------------------ idle, progress, result
    def _check_idle(self) -> None:
        """Stop when nothing can happen any more: the budget is spent and the last calls are
        back (queued work and pending mutations can no longer be evaluated), or there is no
        work and no parent to mutate."""
        if self.stopping or self.in_flight:
            return
        if self._calls_spent():
            self._stop("budget")
        elif not self.mutating and not self._heap:
            self._exhausted()
            self._stop("exhausted")

    def _exhausted(self) -> None:
        """Say in words why the run ended with budget left: what was tried and repeated."""
        if self.archive.resting:
            examples = self.cfg.reflection_minibatch_size + MORE_EXAMPLES
            message = (
                f"the reflection model ran out of new ideas: {self._repeats} of its replies "
                f"repeated known candidates, and in the end they did so for every candidate "
                f"evaluated, with each mutation strategy, minibatches of up to {examples} "
                f"examples and the reflection temperature raised by up to "
                f"{TEMPERATURE_STEP * self.escalation:g}, after {self.escalation} rounds of "
                f"escalation. A more varied reflection model (one that honours temperature, "
                f"not behind a cache), more training data or other seeds may help; a larger "
                f"budget will not."
            )
        else:
            message = (
                "no candidate has a failure left to reflect on: every evaluated candidate "
                "scored the maximum on every example it was evaluated on"
            )
        self.warnings.append(f"exhausted: {message}")
        self.log.add(self.now(), "warning")

    def _snapshot(self, t: float) -> None:
        try:
            if self.checkpoint is not None:
                self.checkpoint()
            if self.on_progress is not None:
                self.on_progress(self.progress(t))
        except Exception as exc:
            self._fail(exc)

    def progress(self, t: float | None = None) -> dict[str, Any]:
        t = self.now() if t is None else t
        best = self.archive.best_quality
        return {
            "label": self.label,
            "time": t,
            "metric_calls": self.finished_calls + self.failed_calls,
            "in_flight": self.in_flight,
            "mutating": self.mutating,
            "queued": self.queued_new,
            "candidates": len(self.archive),
            "pruned": sum(self.counts["pruned"]),
            "best_quality": best if math.isfinite(best) else None,
        }

    def counters(self) -> dict[str, int]:
        return {
            "in_flight": self.in_flight,
            "mutating": self.mutating,
            "queued_new": self.queued_new,
            "queued_examples": self.queued_examples,
            "candidates_in_flight": self.cands_in_flight,
            "tasks": len(self._tasks),
        }

    def _result(self) -> RunResult:
        duration = self._t_end if self._t_end is not None else self.now()
        best = self.archive.best
        rung_counts = pd.DataFrame(
            {"rung": range(len(self.sizes)), "examples": self.sizes, **self.counts}
        )
        rung_counts["completed"] = 0
        rung_counts.loc[len(self.sizes) - 1, "completed"] = self.counts["finished"][-1]
        util = self._area / (self.cfg.eval_concurrency * duration) if duration > 0 else 0.0
        return RunResult(
            label=self.label,
            best_candidate=dict(best.components) if best else {},
            best_quality=self.archive.best_quality if best else float("nan"),
            best_id=best.id if best else None,
            stop_reason=self.stop_reason,
            time_to_target=self.time_to_target,
            wall_time=duration,
            metric_calls=self.finished_calls,
            failed_calls=self.failed_calls,
            reflection_calls=self.reflections,
            candidates=len(self.archive),
            utilization=util,
            rung_sizes=tuple(self.sizes),
            rung_counts=rung_counts,
            events=self.log.frame(),
            config=self.cfg,
            time_mode=self.time_mode,
            simulated=self.simulated,
            lineage=self.archive.lineage(best.id) if best else [],
            strategies=self.bandit.stats(),
            final_counters=self.counters(),
            warnings=list(self.warnings),
            trace=list(self.trace),
            timeline=timeline_frame(self.timeline, len(self.sizes)),
        )
