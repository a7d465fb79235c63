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
import math
import random
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ..config import Config
from ..llm.usage import Usage
from ..protocols import Adapter, ExecutorError, ProgressFn, RunAborted
from ..runs.telemetry import EventLog, RunResult, timeline_frame
from .archive import Archive
from .bandit import StrategyBandit
from .budget import Budget
from .candidate import Candidate, Status, Trace
from .judge import PruningWatch, bars
from .ladder import Decision, Ladder
from .merge import merge_components
from .mutation import (
    FRESH_CHILDREN,
    MORE_EXAMPLES,
    PRUNED_TEXTS,
    TEXTS_KEPT,
    MutationPolicy,
    Plan,
)
from .queue import Job, JobQueue, promise

MIN_COHORT = 4  # results on a rung judged before its cohort cut applies (see Ladder)
# Tries of one evaluation (each after the throttle's own retries) before the run stops.
MAX_TRIES = 10
EXECUTOR_FAILED = "the executor failed"  # how a failed trace's feedback begins, after one
FAILED_SHARE_WARNING = 0.01  # above this share of failed evaluations the result warns


def example_order(n: int, seed: int) -> list[int]:
    """The training examples' indices in the order a run with ``seed`` holds them: a shuffle, so
    that nested shards are random; the positions in it key each candidate's scores (as in a
    run directory's ``state.json``)."""
    order = list(range(n))
    random.Random(f"{seed}/order").shuffle(order)
    return order


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
        self.budget = Budget(config, usage)
        self.backlog = backlog  # calls waiting for the provider's limiter (it is the bottleneck)
        self.adapter = adapter
        # The task's executor's capacity, read at each launch (a cluster's may change); None,
        # and never read again, for an adapter or task without one (every LLM task).
        capacity = getattr(adapter, "capacity", None)
        self._capacity = capacity if capacity is not None and capacity() is not None else None
        self.label, self.time_mode, self.simulated = label, time_mode, simulated
        self.on_progress = on_progress
        self.examples = [trainset[i] for i in example_order(len(trainset), config.seed)]
        self.sizes = config.rung_sizes(len(trainset))
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
        self.mutation = MutationPolicy(
            config,
            self.sizes,
            self.perfect,
            self.rng,
            self.bandit,
            len(self.reflection_set) if self.reflection_set is not None else None,
        )
        self._strategy_of: dict[int, str] = {}  # child id -> the strategy that made it

        self.queue = JobQueue()
        self._tries: dict[tuple[int, int], int] = {}  # (candidate, position) -> failed tries
        self._tasks: set[asyncio.Task[None]] = set()
        self._done = asyncio.Event()
        self._next_id = island
        self._mutation_seq = 0
        self._fresh: list[Candidate] = []  # new contenders whose children start past the cap

        # live counters (all back to zero at the end)
        self.in_flight = 0  # task-model calls
        self.mutating = 0  # reflection calls
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
        # At each new best (time, quality, task calls, tokens, dollars): RunResult.trace.
        self.trace: list[tuple[float, float, int, int, float]] = []
        self.timeline: list[tuple[Any, ...]] = []  # at each finished rung: RunResult.timeline
        self.watch = PruningWatch(config)

        self.stopping = False
        self.stop_reason = ""
        self.time_to_target: float | None = None
        self._error: BaseException | None = None
        self._t0 = 0.0
        self._t_end: float | None = None
        self._area = 0.0  # in-flight task calls integrated over time
        # With an executor: the slots open (its share of the capacity) integrated over time.
        self._slot_area = 0.0
        self._limit = config.eval_concurrency
        self._last_t = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ clock and counters
    def now(self) -> float:
        assert self._loop is not None
        return self._loop.time() - self._t0

    def _in_flight_add(self, delta: int) -> None:
        self._accrue(self.now())
        self.in_flight += delta

    def _accrue(self, t: float) -> None:
        """Integrate the calls in flight (and, with an executor, the slots open) up to ``t``."""
        dt = t - self._last_t
        self._area += self.in_flight * dt
        if self._capacity is not None:
            self._slot_area += self._limit * dt
        self._last_t = t

    # ------------------------------------------------------------------ run
    async def run(self, seeds: Sequence[dict[str, str]]) -> RunResult:
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._limit = self._open_slots()
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
        for job in self.queue:
            if job.cand.status in (Status.QUEUED, Status.EVALUATING, Status.PROMOTED):
                job.cand.status = Status.CANCELLED
                self.cands_in_flight -= 1
        for cand in self.archive.candidates.values():
            if cand.status is Status.EVALUATING:
                cand.status = Status.CANCELLED
                self.cands_in_flight -= 1
        self.queue.clear()

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
        self._accrue(self._t_end)
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
        self.occupancy[rung] += 1
        self.queue.push(Job(rung, cand, positions), promise(cand, rung, self.archive, self.sizes))

    def _calls_spent(self) -> bool:
        return self.budget.calls_spent(self.launched, self._mutation_seq)

    def _open_slots(self) -> int:
        """Task calls that may run at once: eval_concurrency, or fewer if the task's executor
        runs fewer (islands share it: each gets its share)."""
        limit = self.cfg.eval_concurrency
        if self._capacity is not None:
            limit = min(limit, max(1, -(-self._capacity() // self._id_step)))
        return limit

    def _pump(self) -> None:
        """Launch examples from the highest-priority jobs while slots are free."""
        if not self.stopping:
            reason = self.budget.spending_stop()
            if reason is not None:
                self._stop(reason)
        queue, limit = self.queue, self.cfg.eval_concurrency
        if self._capacity is not None:
            limit = self._open_slots()
            if limit != self._limit:
                self._accrue(self.now())  # the slots open so far, at the old limit
                self._limit = limit
        while queue and self.in_flight < limit and not self.stopping:
            if self._calls_spent():
                break
            job = queue.peek()
            if not job.started:
                queue.start(job)
                job.cand.status = Status.EVALUATING
                self.log.add(self.now(), "eval_start", job.cand.id, job.cand.parent_id, job.rung)
            if not job.positions:  # everything this rung needs is known already
                queue.drop()
                self._rung_done(job.cand, job.rung)
                continue
            pos = queue.launch_next()
            self.launched += 1
            self._in_flight_add(1)
            task = asyncio.ensure_future(self._evaluate(job, pos))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._maybe_mutate()
        self._check_idle()

    async def _call(self, cand: Candidate, example: Any) -> Trace:
        """One evaluation already counted in flight: a failed call gives a trace marked
        ``failed_call`` (never a crashed run), which is tried again and never scored; a
        failing user function or an endpoint that cannot serve the run (:class:`RunAborted`)
        propagates."""
        try:
            return await self.adapter.evaluate(cand, example)
        except (asyncio.CancelledError, RunAborted):
            raise
        except Exception as exc:
            where = EXECUTOR_FAILED if isinstance(exc, ExecutorError) else "call failed"
            return Trace(0.0, "", f"{where}: {type(exc).__name__}: {exc}", failed_call=True)
        finally:
            self._in_flight_add(-1)

    def _count(self, trace: Trace) -> None:
        if trace.failed_call:
            self.failed_calls += 1
        else:
            self.finished_calls += 1

    async def _evaluate(self, job: Job, pos: int) -> None:
        try:
            trace = await self._call(job.cand, self.examples[pos])
        except RunAborted as exc:
            self._fail(exc)
            return
        try:
            self._example_done(job, pos, trace)
        except Exception as exc:
            self._fail(exc)

    def _example_done(self, job: Job, pos: int, trace: Trace) -> None:
        self._count(trace)
        job.pending -= 1
        if trace.failed_call:
            self._try_again(job, pos, trace)
        else:
            job.cand.traces[pos] = trace
            if job.pending == 0 and job.launched and not self.stopping:
                self._rung_done(job.cand, job.rung)
        self._pump()

    def _try_again(self, job: Job, pos: int, trace: Trace) -> None:
        """A failed evaluation is missing, not wrong: it goes back in the queue (the
        throttle's breaker holds the calls while the endpoint is down), and the rung waits
        for it, so no failure is ever ranked, pruned, promoted or chosen as best. One that
        fails MAX_TRIES times stops the run, naming the example: the endpoint refuses it."""
        key = (job.cand.id, pos)
        tries = self._tries[key] = self._tries.get(key, 0) + 1
        if tries >= MAX_TRIES:
            name = getattr(self.examples[pos], "id", pos)
            failed = f"example {name!r} failed on each of {MAX_TRIES} tries ({trace.feedback})"
            if trace.feedback.startswith(EXECUTOR_FAILED):
                if not self.finished_calls:
                    raise RunAborted(
                        f"no evaluation has succeeded: {failed}: the executor runs none; check "
                        "where it runs (on Ray: `ray status`) or use the default ThreadExecutor"
                    )
                raise RunAborted(
                    f"{failed}, while {self.finished_calls} others succeeded: the executor "
                    "cannot run it (a worker that dies on it: out of memory, a crash in native "
                    "code); fix the evaluator or leave the example out"
                )
            if not self.finished_calls:
                raise RunAborted(
                    f"no evaluation has succeeded ({self.failed_calls} failed; example {name!r} "
                    f"{MAX_TRIES} times): the endpoint refuses every request ({trace.feedback})"
                )
            raise RunAborted(
                f"the evaluation of {failed}, while {self.finished_calls} others succeeded: the "
                "endpoint refuses it; fix the request (its length, max_tokens, the model's "
                "parameters) or leave the example out"
            )
        self.queue.retry(job, pos, promise(job.cand, job.rung, self.archive, self.sizes))

    # ------------------------------------------------------------------ the ladder
    def _rung_done(self, cand: Candidate, rung: int) -> None:
        positions = cand.rung_positions(rung, self.sizes)
        score = cand.mean_over(positions)
        cand.rung = rung
        t = self.now()
        self.occupancy[rung] -= 1
        self.counts["finished"][rung] += 1
        self.log.add(t, "eval_end", cand.id, cand.parent_id, rung, score)
        state = (self.in_flight, self.mutating, self.queue.new)
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
        cand.forget_texts(self.mutation.kept_texts(cand, TEXTS_KEPT))
        if self.cfg.use_merge:
            self._maybe_merge(cand, n, t)
        if self.on_completed is not None:
            self.on_completed(self, cand)
        if self.time_to_target is None and self.budget.reaches(score, n):
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
        tokens, cost = (0, 0.0) if self.usage is None else self.usage.spent()
        self.trace.append((t, score, calls, tokens, cost))

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
                child.probe = tuple(sorted(self.mutation.pick(split, self.sizes[0])))
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
            cand.forget_texts(self.mutation.kept_texts(cand, PRUNED_TEXTS))
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
        """The ladder's verdict on a child that finished ``rung``, with the bars it must pass
        (:func:`~gepa_lab.engine.judge.bars`)."""
        parent = self.archive.candidates[cand.parent_id]  # type: ignore[index]
        b = bars(
            cand,
            parent,
            self.archive.best,
            rung,
            positions,
            score,
            self.sizes,
            self.perfect,
            self.cfg.incumbent_gate,
        )
        return self.ladder.decide(
            cand.id,
            rung,
            score,
            cand.parent_id,
            b.parent_score,
            b.child_same,
            need_gain=b.need_gain,
            dominant=b.dominant,
            beats_best=b.beats_best,
        )

    def _watch_pruning(self, promoted: bool, reason: str, t: float) -> None:
        """Warn once when every candidate is being pruned (see PruningWatch)."""
        message = self.watch.observe(promoted, reason)
        if message is None or self.warnings:
            return
        self.warnings.append(message)
        self.log.add(t, "warning")
        warnings.warn(message, RuntimeWarning, stacklevel=2)

    # ------------------------------------------------------------------ mutation
    def _maybe_mutate(self) -> None:
        if self.stopping:
            return
        while self._fresh and not self._calls_spent():
            parent = self._fresh.pop()
            for _ in range(FRESH_CHILDREN):
                if self.mutating < self.cfg.max_mutations_per_round:
                    self._launch_mutation(parent)
        policy, queue = self.mutation, self.queue
        while not self._calls_spent() and policy.wants(
            self.in_flight,
            self.mutating,
            queue.new,
            queue.examples,
            self.cands_in_flight,
            self.backlog,
        ):
            parent = self.archive.select_parent(self.rng, policy.breadth)
            if parent is None and self._escalate():
                parent = self.archive.select_parent(self.rng, policy.breadth)
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
        if not self.archive.resting or self.in_flight or self.mutating or self.queue:
            return False
        if self.cfg.use_merge:
            n = len(self.examples)
            for cand_id in list(self.archive.pareto_front()):
                self._maybe_merge(self.archive.candidates[cand_id], n, self.now())
            if self.queue:
                self._loop.call_soon(self._pump)  # type: ignore[union-attr]
                return False
        if not self.mutation.next_round():
            return False
        self.archive.wake()
        self.log.add(self.now(), "escalate", None, None, self.mutation.escalation)
        return True

    def _launch_mutation(self, parent: Candidate) -> None:
        plan = self.mutation.plan(parent)
        seed = self.cfg.seed * 1_000_003 + self._mutation_seq
        self._mutation_seq += 1
        self.mutating += 1
        self.cands_in_flight += 1
        self.log.add(self.now(), "mutation_start", None, parent.id)
        task = asyncio.ensure_future(self._mutate(parent, plan, seed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mutate(self, parent: Candidate, plan: Plan, seed: int) -> None:
        text: str | None = None
        child: Candidate | None = None
        try:
            if self.reflection_set is not None:
                batch = await self._reflection_batch(parent, plan.shown)
            else:
                batch = [(self.examples[p], parent.traces[p]) for p in plan.shown]
            if batch:  # empty only when the budget ran out before the parent was evaluated
                text = await self.adapter.propose(
                    parent,
                    plan.component,
                    batch,
                    seed,
                    strategy=plan.strategy,
                    temperature_boost=self.mutation.temperature_boost,
                )
        except asyncio.CancelledError:
            raise
        except RunAborted as exc:
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
                comps[plan.component] = text
                child = self._new_candidate(comps, parent, "mutation")
                if child is not None:
                    self._strategy_of[child.id] = plan.strategy
                    child.probe = plan.probe
                    self.mutation.new_since_wake += 1
                    parent.children += 1
                    self.log.add(self.now(), "mutation", child.id, parent.id)
                    self._enqueue(child, 0)
                else:
                    self._duplicate_from(parent)
            if child is None and not self.stopping:
                self.bandit.update(plan.strategy, False)  # a reflection that gave nothing new
            self._pump()
        except Exception as exc:
            self._fail(exc)

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
            if not trace.failed_call:  # missing, not wrong: shown the next time if it works
                parent.reflection_traces[p] = trace
            self._count(trace)

        await asyncio.gather(*(one(p) for p in missing if not self._calls_spent()))
        known = [p for p in shown if p in parent.reflection_traces]
        known.sort(key=lambda p: parent.reflection_traces[p].score >= self.perfect)
        return [(examples[p], parent.reflection_traces[p]) for p in known]

    def _duplicate_from(self, parent: Candidate) -> None:
        """A reflection that reproduced a known text: the parent may rest, out of parent
        selection, until it finishes another rung (see MutationPolicy.should_rest)."""
        if self.mutation.should_rest(parent) and self.archive.rest(parent):
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
        elif not self.mutating and not self.queue:
            self._exhausted()
            self._stop("exhausted")

    def _exhausted(self) -> None:
        """Say in words why the run ended with budget left: what was tried and repeated."""
        if self.archive.resting:
            policy = self.mutation
            examples = self.cfg.reflection_minibatch_size + MORE_EXAMPLES
            message = (
                f"the reflection model ran out of new ideas: {policy.repeats} of its replies "
                f"repeated known candidates, and in the end they did so for every candidate "
                f"evaluated, with each mutation strategy, minibatches of up to {examples} "
                f"examples and the reflection temperature raised by up to "
                f"{policy.temperature_boost:g}, after {policy.escalation} rounds of "
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
            "queued": self.queue.new,
            "candidates": len(self.archive),
            "pruned": sum(self.counts["pruned"]),
            "best_quality": best if math.isfinite(best) else None,
        }

    def counters(self) -> dict[str, int]:
        return {
            "in_flight": self.in_flight,
            "mutating": self.mutating,
            "queued_new": self.queue.new,
            "queued_examples": self.queue.examples,
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
        slots = None  # eval_concurrency, unless the executor ran fewer at once
        full = self.cfg.eval_concurrency * duration * (1 - 1e-9)
        if self._capacity is not None and 0 < self._slot_area < full:
            slots = self._slot_area / duration
        util = self._area / ((slots or self.cfg.eval_concurrency) * duration) if duration else 0.0
        tried = self.finished_calls + self.failed_calls
        if tried and self.failed_calls / tried > FAILED_SHARE_WARNING:
            where = "the endpoint" if self._capacity is None else "the endpoint or the executor"
            self.warnings.append(
                f"{self.failed_calls} of {tried} evaluations ({self.failed_calls / tried:.1%}) "
                f"failed and were tried again (none was scored): {where} is unreliable; see "
                "provider_stats for the endpoint's errors and retries"
            )
        return RunResult(
            label=self.label,
            best_candidate=dict(best.components) if best else {},
            best_quality=self.archive.best_quality if best else float("nan"),
            best_id=best.id if best else None,
            stop_reason=self.stop_reason,
            time_to_target=self.time_to_target,
            wall_time=duration,
            slots=slots,
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
