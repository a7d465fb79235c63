"""The real ``gepa`` library (Agrawal et al. 2025) as the baseline, on gepa_lab's provider.

``optimize_gepa`` runs ``gepa.optimize`` itself: its engine, Pareto candidate selection,
minibatch sampling, reflection prompt and strict-improvement acceptance. gepa_lab supplies what
GEPA leaves to its user, so that both systems are measured on the same footing:

* the adapter (:class:`GepaAdapter`, GEPA's ``GEPAAdapter`` protocol): the task's messages and
  metric (:class:`~gepa_lab.tasks.LLMTask`; by default AIME's: the candidate is the system prompt,
  the problem the user message, the answer scored by exact integer match, the scorer gepa_lab
  uses), with the metric's feedback text in the reflective dataset;
* the LLM client: calls go through the same provider, throttle (retries, usage meter) and model
  names as a gepa_lab run, with at most ``concurrency`` task calls in flight per batch: GEPA's
  default client (litellm ``batch_completion``) runs 10 workers;
* the stop: ``max_metric_calls`` (GEPA's budget unit, one task call on one example, the same as
  gepa_lab's) and the target quality on the validation set (the training set unless given).

GEPA's engine is synchronous, so it runs in a worker thread that owns an event loop; each batch
of calls runs on that loop. On the virtual clock (``time_mode="virtual"``, simulated world only)
the loop's clock advances only while calls are out, exactly as for a gepa_lab run on it.

The result is a :class:`~gepa_lab.runs.telemetry.RunResult` like any other, so plots, tables and
reports treat both systems the same way.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ..adapter import LLMAdapter
from ..api import check_max_tokens, check_time_mode
from ..config import check_count, classic_config
from ..engine.candidate import Candidate
from ..llm.provider import ChatRequest
from ..llm.throttle import Throttled
from ..llm.usage import PriceTable, Usage, price_table
from ..protocols import ProgressFn, Provider, RunAborted, Task
from ..runs.telemetry import EventLog, RunResult, timeline_frame
from ..runs.virtual_time import VirtualTimeLoop
from ..sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from ..tasks.examples import Example, as_examples
from ..tasks.llm_task import AIME

GEPA_CONCURRENCY = 10  # litellm batch_completion's workers in GEPA's default client


class GepaMissing(ImportError):
    """The optional ``gepa`` package is not installed."""


def gepa_version() -> str:
    try:
        return importlib.metadata.version("gepa")
    except importlib.metadata.PackageNotFoundError as exc:
        raise GepaMissing(
            "the real GEPA baseline needs the gepa package: pip install 'gepa-lab[gepa]' "
            "(or pip install gepa)"
        ) from exc


class _Recorder:
    """What the run did, on the worker loop's clock: calls, tokens, every full (validation)
    evaluation, new bests and the target; also GEPA's stop condition for the target."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        usage: Usage,
        label: str,
        target: float | None,
        max_wall_time: float | None,
        on_progress: ProgressFn | None,
    ) -> None:
        self.loop, self.usage, self.label = loop, usage, label
        self.target, self.max_wall_time, self.on_progress = target, max_wall_time, on_progress
        self.t0 = loop.time()
        self.log = EventLog()
        self.trace: list[tuple[float, float, int, int, float]] = []
        self.metric_calls = self.failed_calls = self.reflection_calls = 0
        self.in_flight = self.reflecting = 0
        # (time, task calls in flight, reflections in flight, 0 queued, candidates evaluated
        # (one at a time), finished task calls): RunResult.timeline's columns for one rung.
        self.timeline: list[tuple[float, int, int, int, int, int]] = []
        self._area = 0.0
        self._last_t = 0.0
        self.best = -math.inf
        self.time_to_target: float | None = None
        self.candidates = 0

    def now(self) -> float:
        return self.loop.time() - self.t0

    def in_flight_add(self, delta: int) -> None:
        t = self.now()
        self._area += self.in_flight * (t - self._last_t)
        self._last_t = t
        self.in_flight += delta
        self.sample(t)

    def sample(self, t: float) -> None:
        busy = int(self.in_flight > 0)
        self.timeline.append((t, self.in_flight, self.reflecting, 0, busy, self.metric_calls))

    def utilization(self, limit: int, duration: float) -> float:
        self.in_flight_add(0)
        return self._area / (limit * duration) if duration > 0 else 0.0

    # GEPA callbacks (gepa.core.callbacks.GEPACallback): only the ones we need.
    def on_valset_evaluated(self, event: Mapping[str, Any]) -> None:
        t, score = self.now(), float(event["average_score"])
        cand = int(event["candidate_idx"])
        parents = [p for p in event.get("parent_ids") or () if p is not None]
        parent = int(parents[0]) if parents else None
        self.candidates += 1
        self.log.add(t, "eval_end", cand, parent, 0, score)
        if score > self.best + 1e-12:
            self.best = score
            self.log.add(t, "new_best", cand, parent, 0, score)
            self.trace.append((t, score, self.metric_calls, *self.usage.spent()))
        if self.target is not None and self.time_to_target is None and score >= self.target:
            self.time_to_target = t
            self.log.add(t, "target", cand, parent, 0, score)
        if self.on_progress is not None:
            self.on_progress(self.progress(t))

    def progress(self, t: float) -> dict[str, Any]:
        return {
            "label": self.label,
            "time": t,
            "metric_calls": self.metric_calls + self.failed_calls,
            "in_flight": self.in_flight,
            "mutating": 0,
            "queued": 0,
            "candidates": self.candidates,
            "pruned": 0,
            "best_quality": None if self.best == -math.inf else self.best,
        }

    def stop_reason(self) -> str | None:
        if self.time_to_target is not None:
            return "target"
        if self.max_wall_time is not None and self.now() >= self.max_wall_time:
            return "wall_time"
        return None

    def __call__(self, gepa_state: Any) -> bool:
        """GEPA's stopper protocol: stop at the target or the wall-time budget."""
        return self.stop_reason() is not None


class GepaAdapter:
    """GEPA's adapter protocol over a gepa_lab :class:`~gepa_lab.adapter.LLMAdapter`.

    ``evaluate`` runs one batch on the worker loop with at most ``concurrency`` calls in
    flight; ``batch_evaluate`` (GEPA's parallelism hook) runs every (candidate, batch) pair of
    an engine step at once under the same limit, which is what lets GEPA's parallel proposals
    really run in parallel. A call that fails after the throttle's retries scores 0 with the
    error as its feedback (GEPA's rule: never raise for one example)."""

    propose_new_texts = None  # GEPA then writes new texts with its reflection_lm

    def __init__(
        self,
        llm: LLMAdapter,
        loop: asyncio.AbstractEventLoop,
        recorder: _Recorder,
        concurrency: int,
    ) -> None:
        self.llm, self.loop, self.rec, self.concurrency = llm, loop, recorder, concurrency
        self._reflections = 0

    def evaluate(
        self, batch: list[Example], candidate: dict[str, str], capture_traces: bool = False
    ) -> Any:
        return self._run([(candidate, batch)], capture_traces)[0]

    def batch_evaluate(self, items: list[tuple[dict[str, str], list[Example]]]) -> list[Any]:
        return self._run(items, True)

    def _run(
        self, items: list[tuple[dict[str, str], list[Example]]], capture_traces: bool
    ) -> list[Any]:
        from gepa.core.adapter import EvaluationBatch

        limit = asyncio.Semaphore(self.concurrency)

        async def one(cand: Candidate, example: Example) -> tuple[float, str, str]:
            async with limit:
                self.rec.in_flight_add(1)
                try:
                    trace = await self.llm.evaluate(cand, example)
                except RunAborted:
                    raise
                except Exception as exc:  # a failed call fails one evaluation (as in gepa_lab)
                    self.rec.failed_calls += 1
                    return 0.0, "", f"The call failed: {type(exc).__name__}: {exc}"
                finally:
                    self.rec.in_flight_add(-1)
                self.rec.metric_calls += 1
                return trace.score, trace.output, trace.feedback

        async def all_of() -> list[list[tuple[float, str, str]]]:
            batches = []
            for comps, batch in items:
                cand = Candidate(-1, dict(comps), None, "gepa", 0.0)
                batches.append(asyncio.gather(*(one(cand, e) for e in batch)))
            return list(await asyncio.gather(*batches))

        out = []
        for (_, batch), rows in zip(items, self.loop.run_until_complete(all_of()), strict=True):
            trajectories = None
            if capture_traces:
                trajectories = [
                    {"problem": e.problem, "response": r, "feedback": f}
                    for e, (_, r, f) in zip(batch, rows, strict=True)
                ]
            out.append(
                EvaluationBatch(
                    outputs=[r for _, r, _ in rows],
                    scores=[s for s, _, _ in rows],
                    trajectories=trajectories,
                )
            )
        return out

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: Any, components_to_update: list[str]
    ) -> dict[str, list[dict[str, Any]]]:
        records = [
            {"Inputs": t["problem"], "Generated Outputs": t["response"], "Feedback": t["feedback"]}
            for t in eval_batch.trajectories or ()
        ]
        return {name: records for name in components_to_update}

    def batch_complete(self, prompts: Sequence[str | list[dict[str, Any]]]) -> list[str]:
        """GEPA's reflection prompts, sent to the reflection model at once (GEPA batches the
        reflections of its parallel proposals), each with its own seed."""
        requests = []
        for prompt in prompts:
            if not isinstance(prompt, str):
                prompt = "\n\n".join(str(m.get("content", "")) for m in prompt)
            self._reflections += 1
            requests.append(
                ChatRequest(
                    self.llm.reflection_model,
                    (("user", prompt),),
                    self.llm.reflection_temperature,
                    self.llm.reflection_max_tokens,
                    self._reflections,
                    purpose="reflection",
                )
            )

        async def all_of() -> list[str]:
            replies = await asyncio.gather(*(self.llm.provider.complete(r) for r in requests))
            return [reply.text for reply in replies]

        self.rec.reflecting += len(requests)
        self.rec.sample(self.rec.now())
        try:
            texts = self.loop.run_until_complete(all_of())
        finally:
            self.rec.reflecting -= len(requests)
            self.rec.sample(self.rec.now())
        self.rec.reflection_calls += len(requests)
        return texts


class _ReflectionLM:
    """The reflection model as GEPA's ``LanguageModel``: callable on one prompt, with
    ``batch_complete`` for several (which GEPA uses for parallel proposals) and the cost
    attribute that stops GEPA wrapping it in a sequential tracker."""

    def __init__(self, adapter: GepaAdapter, usage: Usage) -> None:
        self.adapter, self.usage = adapter, usage

    def __call__(self, prompt: str | list[dict[str, Any]]) -> str:
        return self.adapter.batch_complete([prompt])[0]

    def batch_complete(self, messages_list: Sequence[list[dict[str, Any]]]) -> list[str]:
        return self.adapter.batch_complete(messages_list)

    @property
    def total_cost(self) -> float:
        return self.usage.cost_usd


async def optimize_gepa(
    seed: str | Mapping[str, str],
    trainset: Sequence[Example] | Sequence[Mapping[str, Any]],
    *,
    max_metric_calls: int,
    target_quality: float | None = None,
    valset: Sequence[Example] | Sequence[Mapping[str, Any]] | None = None,
    provider: Provider | Callable[[], Provider] | None = None,
    task_model: str | None = None,
    reflection_model: str | None = None,
    time_mode: str = "real",
    concurrency: int = GEPA_CONCURRENCY,
    reflection_minibatch_size: int = 3,
    seed_value: int = 0,
    max_wall_time: float | None = None,
    label: str = "gepa",
    on_progress: ProgressFn | None = None,
    parallel: tuple[int, int] | None = None,
    task: Task | None = None,
    max_tokens: int | None = None,
    reflection_max_tokens: int | None = None,
    prices: PriceTable | Mapping[str, tuple[float, float]] | None = None,
) -> RunResult:
    """Optimize ``seed`` with the real ``gepa`` library (see the module docstring).

    ``parallel=(p, n)`` runs GEPA's parallel proposals (``PxNSampling``: p parents, n
    mutations of each, every minibatch and reflection of a step at once, through the adapter's
    ``batch_evaluate``): GEPA at its fastest, the fair bar for a speed comparison. Give it the
    ``concurrency`` (calls in flight) the compared gepa_lab run has.

    With no ``provider`` the simulated world answers in process. ``provider`` may also be a
    factory, called in the worker thread. ``time_mode="virtual"`` needs the simulated world.
    ``best_quality`` is the best mean score on ``valset`` (the training set when not given,
    as in a gepa_lab run, whose quality is the full training set). ``max_wall_time`` (seconds)
    stops the run between two GEPA iterations. ``task``: your own task (an LLM task or an
    evaluator), as in :func:`gepa_lab.optimize`, so both systems are scored alike; the AIME
    task by default. ``max_tokens`` and ``reflection_max_tokens`` cap each task and reflection
    reply (None: the endpoint's default). ``prices`` as in :func:`gepa_lab.optimize`, so both
    systems' dollars come from the same price table.
    """
    version = gepa_version()
    check_time_mode(time_mode)
    check_count("max_metric_calls", max_metric_calls)
    check_count("concurrency", concurrency)
    if parallel is not None:
        if not isinstance(parallel, tuple | list) or len(parallel) != 2:
            raise ValueError(f"parallel={parallel!r} is invalid: give (parents, mutations each)")
        check_count("parallel[0] (parents)", parallel[0])
        check_count("parallel[1] (mutations each)", parallel[1])
    seed_comps = {"instruction": seed} if isinstance(seed, str) else dict(seed)
    train = as_examples(trainset, "trainset")
    val = train if valset is None else as_examples(valset, "valset")
    task = task or AIME
    task.check(seed_comps, train[0])
    check_max_tokens(max_tokens, reflection_max_tokens)
    if provider is None:
        provider = SimProvider
        task_model = task_model or TASK_MODEL
        reflection_model = reflection_model or REFLECTION_MODEL
    if not task_model or not reflection_model:
        raise ValueError("with a provider, name both task_model and reflection_model")
    config = classic_config(
        eval_concurrency=concurrency,
        target_quality=target_quality,
        max_metric_calls=max_metric_calls,
        seed=seed_value,
        reflection_minibatch_size=reflection_minibatch_size,
    )

    def work() -> RunResult:
        import gepa
        from gepa.strategies.proposal_sampling import PxNSampling

        loop: asyncio.AbstractEventLoop = (
            VirtualTimeLoop() if time_mode == "virtual" else asyncio.new_event_loop()
        )
        factory = isinstance(provider, type) or not hasattr(provider, "complete")
        backend = provider() if factory else provider  # type: ignore[operator]
        if time_mode == "virtual" and not isinstance(backend, SimProvider):
            raise ValueError(
                "time_mode='virtual' needs the in-process simulated provider: real endpoints "
                "take real time"
            )
        usage = Usage(price_table(prices))
        throttled = Throttled.for_config(backend, config, usage)
        llm = LLMAdapter(
            throttled,
            task_model,
            reflection_model,
            max_tokens=max_tokens,
            reflection_max_tokens=reflection_max_tokens,
            task=task,
        )
        # An evaluator's executor runs so many at once: more calls in flight would only wait
        # for it (as in a gepa_lab run, whose pipeline reads the same capacity).
        capacity = llm.capacity()
        slots = min(concurrency, capacity) if capacity is not None else concurrency
        rec = _Recorder(loop, usage, label, target_quality, max_wall_time, on_progress)
        adapter = GepaAdapter(llm, loop, rec, slots)
        try:
            check = getattr(backend, "check", None)
            if check is not None:
                loop.run_until_complete(check([task_model, reflection_model]))
            rec.t0 = loop.time()
            cpu = time.process_time()
            result = gepa.optimize(
                seed_candidate=seed_comps,
                trainset=train,
                valset=val,
                adapter=adapter,
                reflection_lm=_ReflectionLM(adapter, usage),
                reflection_minibatch_size=reflection_minibatch_size,
                sampling_strategy=None if parallel is None else PxNSampling(*parallel),
                max_metric_calls=max_metric_calls,
                stop_callbacks=[rec],
                callbacks=[rec],
                logger=_Quiet(),
                seed=seed_value,
            )
            duration = rec.now()
            cpu = time.process_time() - cpu
            closer = getattr(backend, "aclose", None)
            if closer is not None:
                loop.run_until_complete(closer())
        finally:
            loop.close()
        stop = rec.stop_reason() or "budget"  # gepa_lab's name for a spent metric-call budget
        simulated = isinstance(backend, SimProvider) or bool(getattr(backend, "simulated", False))
        best_idx = int(result.best_idx)
        best = dict(result.best_candidate)
        n = len(result.candidates)
        rung_counts = pd.DataFrame(
            {
                "rung": [0],
                "examples": [len(val)],
                "finished": [n],
                "promoted": [0],
                "pruned": [0],
                "pruned_parent": [0],
                "forced": [0],
                "completed": [n],
            }
        )
        return RunResult(
            label=label,
            best_candidate=best,
            best_quality=float(result.val_aggregate_scores[best_idx]),
            best_id=best_idx,
            stop_reason=stop,
            time_to_target=rec.time_to_target,
            wall_time=duration,
            metric_calls=rec.metric_calls,
            failed_calls=rec.failed_calls,
            reflection_calls=rec.reflection_calls,
            candidates=n,
            utilization=rec.utilization(slots, duration),
            slots=float(slots) if slots < concurrency else None,
            rung_sizes=(len(val),),
            rung_counts=rung_counts,
            events=rec.log.frame(),
            config=config,
            time_mode=time_mode,
            simulated=simulated,
            lineage=_lineage(result.parents, best_idx),
            provider_stats={
                "engine": f"gepa {version}",
                "client_cpu_s": round(cpu, 2),
                **throttled.summary(),
                **usage.summary(),
            },
            usage=usage.frame(),
            trace=rec.trace,
            timeline=timeline_frame(rec.timeline, 1),
        )

    return await asyncio.to_thread(work)


class _Quiet:
    """GEPA's logger, silenced: progress goes through ``on_progress`` like any run's."""

    def log(self, message: str) -> None:
        pass


def _lineage(parents: Sequence[Sequence[int | None]], idx: int) -> list[int]:
    """Program ids from the seed down to ``idx`` (first parent of each; merges have two)."""
    chain = [idx]
    while True:
        ps = [p for p in parents[chain[-1]] if p is not None]
        if not ps:
            return chain[::-1]
        chain.append(int(ps[0]))
