"""``optimize``: the main entry point, awaitable in Jupyter, with a sync wrapper for scripts."""

from __future__ import annotations

import asyncio
import inspect
import time
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from .adapter import LLMAdapter
from .config import Config, check_count
from .engine.candidate import Candidate
from .engine.islands import Islands
from .engine.pipeline import MAX_TRIES, Pipeline
from .llm.cache import EvalCache
from .llm.limiter import AdaptiveLimiter
from .llm.provider import ProviderError
from .llm.throttle import RetryPolicy, Throttled
from .llm.usage import PriceTable, Usage, price_table
from .protocols import (
    Adapter,
    ExecutorError,
    FeedbackFn,
    ProgressFn,
    Provider,
    RunAborted,
    Task,
)
from .runs.context import RunContext
from .runs.run_dir import open_run_dir
from .runs.telemetry import RunResult
from .runs.virtual_time import run_virtual
from .sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from .tasks.evaluator import ARTIFACT, EvaluatorTask
from .tasks.examples import Example, as_examples
from .tasks.llm_task import AIME

Seed = str | Mapping[str, str]
TIME_MODES = ("real", "virtual")


def check_max_tokens(max_tokens: int | None, reflection_max_tokens: int | None) -> None:
    """Refuse a reply cap that is not a positive integer, naming it."""
    for name, value in (
        ("max_tokens", max_tokens),
        ("reflection_max_tokens", reflection_max_tokens),
    ):
        if value is not None:
            check_count(name, value)


def check_time_mode(time_mode: str) -> None:
    if time_mode not in TIME_MODES:
        raise ValueError(f"time_mode={time_mode!r} is invalid: use one of {TIME_MODES}")


async def optimize(
    seed: Seed | Sequence[Seed],
    trainset: Sequence[Example] | Sequence[Mapping[str, Any]] | None,
    config: Config,
    *,
    provider: Provider | None = None,
    task_model: str | None = None,
    reflection_model: str | None = None,
    adapter: Adapter | None = None,
    time_mode: str = "real",
    label: str = "turbo",
    on_progress: ProgressFn | None = None,
    cache: EvalCache | str | Path | None = None,
    prices: PriceTable | Mapping[str, tuple[float, float]] | None = None,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    feedback: FeedbackFn | None = None,
    task: Task | None = None,
    max_tokens: int | None = None,
    reflection_max_tokens: int | None = None,
    valset: Sequence[Example] | Sequence[Mapping[str, Any]] | None = None,
) -> RunResult:
    """Optimize ``seed`` (an instruction, a dict of named components, or a list of seeds).

    With no ``provider`` and no ``adapter`` the simulated world answers (``SimProvider()``), so
    this runs offline. ``time_mode="virtual"`` runs the whole optimization on a virtual clock in
    a worker thread: simulated latencies cost no real time and every timestamp is in simulated
    seconds. It is only valid for in-process providers such as the simulated world.

    Every provider call goes through :class:`~gepa_lab.llm.throttle.Throttled` (an adaptive limiter
    with room for ``config.eval_concurrency`` task calls plus ``max_mutations_per_round``
    reflections, bounded retries, usage metering) unless the provider
    already is one, which is how several runs share one limiter. ``cache`` (a path or an
    :class:`~gepa_lab.llm.cache.EvalCache`) serves answers already paid for. ``prices`` overrides
    the price table used for costs and ``config.max_cost_usd``.

    ``run_dir`` saves the run as it goes (state, answers, call order; see
    :mod:`gepa_lab.runs.run_dir`); ``resume`` continues such a run after a kill, or extends a
    finished one with larger budgets, replaying what was done for free. ``feedback(example,
    response, score)`` returns extra text for the reflection model about one evaluation (e.g.
    :func:`~gepa_lab.adapter.solution_feedback`), or None.

    ``task`` says what an evaluation is (:mod:`gepa_lab.tasks`): an ``LLMTask`` (messages for
    the task model and a metric; by default the AIME task, integer answers 0-999), an
    ``EvaluatorTask`` (your function; with ``trainset=None`` it is called as
    ``evaluator(candidate)`` and scores one artifact as a whole) or a ``ProgramTask`` (your
    multi-step program). ``max_tokens`` and ``reflection_max_tokens`` cap each task and
    reflection reply (None: the endpoint's default).

    ``valset`` (GEPA's generalization mode): reflections show only ``trainset`` examples, on
    which a parent is evaluated when it is reflected on; the ladder, the Pareto front, the
    target and the returned best are judged on ``valset``. Not yet with islands or a run
    directory.
    """
    job = _prepare(
        seed,
        trainset,
        config,
        provider,
        task_model,
        reflection_model,
        adapter,
        time_mode,
        label,
        on_progress,
        cache,
        prices,
        run_dir,
        resume,
        feedback,
        task,
        (max_tokens, reflection_max_tokens),
        valset,
    )
    if time_mode == "virtual":
        return await asyncio.to_thread(run_virtual, job)
    return await job()


async def score_prompt(
    prompt: Seed,
    examples: Sequence[Example] | Sequence[Mapping[str, Any]],
    *,
    provider: Provider | None = None,
    task_model: str | None = None,
    concurrency: int = 64,
    time_mode: str = "real",
    task: Task | None = None,
    max_tokens: int | None = None,
) -> float:
    """Mean score of ``prompt`` (an instruction or named components) on ``examples``: how a
    report measures each run's best prompt on a held-out set. Same adapter, scorer and retries
    as the runs (a call that fails after its retries is tried again, never scored 0); at most
    ``concurrency`` calls in flight, fewer while the endpoint pushes back. With no ``provider``,
    the simulated world (on the virtual clock if asked). ``task`` and ``max_tokens`` as in
    :func:`optimize`."""
    comps = _seed_candidates(prompt)[0]
    data = as_examples(examples, "examples")
    check_time_mode(time_mode)
    if provider is None:
        provider, task_model = SimProvider(), task_model or TASK_MODEL
    if not task_model:
        raise ValueError("with a provider, name the task_model")
    if time_mode == "virtual" and not isinstance(provider, SimProvider):
        raise ValueError("time_mode='virtual' needs the in-process simulated provider")
    check_count("concurrency", concurrency)
    throttled = Throttled(provider, AdaptiveLimiter(concurrency), RetryPolicy())
    check_max_tokens(max_tokens, None)
    adapter = LLMAdapter(
        throttled, task_model, task_model, max_tokens=max_tokens, task=task or AIME
    )
    adapter.task.check(comps, data[0])
    cand = Candidate(-1, comps, None, "score", 0.0)

    async def one(example: Example) -> float:
        for _ in range(MAX_TRIES):  # a failed call is tried again, never scored 0 (as in a run)
            try:
                return (await adapter.evaluate(cand, example)).score
            except (ProviderError, ExecutorError) as exc:
                error = exc
        where = "executor" if isinstance(error, ExecutorError) else "endpoint"
        raise RunAborted(
            f"scoring example {example.id!r} failed on each of {MAX_TRIES} tries "
            f"({type(error).__name__}: {error}): the {where} refuses it"
        )

    async def mean() -> float:
        scores = await asyncio.gather(*(one(e) for e in data))
        return sum(scores) / len(scores)

    if time_mode == "virtual":
        return await asyncio.to_thread(run_virtual, mean)
    return await mean()


def optimize_sync(*args: Any, **kwargs: Any) -> RunResult:
    """:func:`optimize` for scripts. In Jupyter, use ``await gepa_lab.optimize(...)`` instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "optimize_sync() cannot run inside a running event loop (Jupyter runs one): "
            "use `await gepa_lab.optimize(...)` instead"
        )
    return asyncio.run(_released(optimize(*args, **kwargs), kwargs))


async def _released(run: Any, kwargs: dict[str, Any]) -> RunResult:
    """``run``, then the connections its provider opened on this event loop closed: the loop
    ends with ``optimize_sync``, and a session left open on it warns at exit."""
    try:
        return await run
    finally:
        layer = kwargs.get("provider") or getattr(kwargs.get("adapter"), "provider", None)
        while layer is not None:  # through wrappers such as the throttle
            release = getattr(layer, "release", None)
            if release is not None:
                await release()
            layer = getattr(layer, "provider", None)


def _prepare(
    seed: Seed | Sequence[Seed],
    trainset: Sequence[Example] | Sequence[Mapping[str, Any]] | None,
    config: Config,
    provider: Provider | None,
    task_model: str | None,
    reflection_model: str | None,
    adapter: Adapter | None,
    time_mode: str,
    label: str,
    on_progress: ProgressFn | None,
    cache: EvalCache | str | Path | None = None,
    prices: PriceTable | Mapping[str, tuple[float, float]] | None = None,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    feedback: FeedbackFn | None = None,
    task: Task | None = None,
    max_tokens: tuple[int | None, int | None] = (None, None),
    valset: Sequence[Example] | Sequence[Mapping[str, Any]] | None = None,
) -> partial[Any]:
    """Validate everything before any call is made, and return the run as a coroutine factory."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be a gepa_lab.Config, got {type(config).__name__}")
    check_time_mode(time_mode)
    budgets = (
        "max_metric_calls",
        "max_llm_calls",
        "max_wall_time",
        "max_total_tokens",
        "max_cost_usd",
    )
    if all(getattr(config, b) is None for b in budgets) and not (
        config.target_quality is not None and config.auto_stop
    ):
        raise ValueError(
            "the run would never stop: set one of Config."
            + ", Config.".join(budgets)
            + ", or Config.target_quality with auto_stop=True"
        )
    seeds = _seed_candidates(seed)
    if trainset is None:
        if not isinstance(task, EvaluatorTask):
            raise ValueError(
                "trainset=None (one artifact, no data) needs task=gl.EvaluatorTask(fn) with "
                "fn(candidate) scoring the artifact as a whole"
            )
        examples = [ARTIFACT]
    else:
        examples = as_examples(trainset, "trainset")
    reflection_set = None
    if valset is not None:
        if trainset is None:
            raise ValueError("valset= needs a trainset: reflections show trainset examples")
        if config.n_islands > 1 or run_dir is not None or resume is not None:
            raise ValueError(
                "valset= is not supported yet with islands (Config.n_islands > 1) or a run "
                "directory (run_dir=, resume=)"
            )
        reflection_set, examples = examples, as_examples(valset, "valset")
    if adapter is None:
        if provider is None:
            provider = SimProvider()
            task_model = task_model or TASK_MODEL
            reflection_model = reflection_model or REFLECTION_MODEL
        if not task_model or not reflection_model:
            raise ValueError("with a provider, name both task_model and reflection_model")
        check_max_tokens(*max_tokens)
        adapter = LLMAdapter(
            provider,
            task_model,
            reflection_model,
            max_tokens=max_tokens[0],
            reflection_max_tokens=max_tokens[1],
            task=task or AIME,
        )
    elif task is not None or max_tokens != (None, None):
        raise ValueError("task= or max_tokens= with adapter=: give them to your adapter instead")
    run_task = getattr(adapter, "task", None)
    if run_task is not None:
        run_task.check(seeds[0], examples[0])
        if config.target_confidence is not None and not run_task.binary:
            raise ValueError(
                f"Config.target_confidence={config.target_confidence} needs a task scored only "
                "0 or 1 (a Wilson bound), and this one may give fractional scores: set "
                "target_confidence=None"
            )
    bindable = hasattr(adapter, "bind")
    if feedback is not None and not callable(feedback):
        raise TypeError(
            f"feedback must be a function (example, response, score) -> str | None, "
            f"got {type(feedback).__name__}"
        )
    for given, name in ((feedback, "feedback="), (cache, "cache=")):
        if given is not None and not bindable:
            raise ValueError(
                f"{name} needs an adapter that a run can bind to its context "
                "(bind(RunContext)), like LLMAdapter"
            )
    params = inspect.signature(adapter.propose).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    missing = [k for k in ("strategy", "temperature_boost") if k not in params and not takes_any]
    if missing:
        raise TypeError(
            f"{type(adapter).__name__}.propose must accept {' and '.join(missing)}= (strategy: "
            f"one of {config.mutation_strategies}, see gepa_lab.strategies; temperature_boost: "
            f"added to the reflection temperature when reflections repeat)"
        )
    # The adapter owns the provider and the model names, whether built here or passed in.
    inner = getattr(adapter, "provider", None)
    models = [
        m for m in (getattr(adapter, a, None) for a in ("task_model", "reflection_model")) if m
    ]
    throttled = inner if isinstance(inner, Throttled) else None
    if inner is not None and throttled is None:
        throttled = Throttled.for_config(inner, config, Usage(price_table(prices)))
    if throttled is not None and config.max_cost_usd is not None:
        unpriced = [m for m in models if throttled.usage.prices.price(m) is None]
        if unpriced:
            raise ValueError(
                f"Config.max_cost_usd is set but {', '.join(map(repr, unpriced))} has no price: "
                "pass prices={model: (input_usd, output_usd) per million tokens}"
            )
    backend = throttled.provider if throttled is not None else inner
    simulated = isinstance(backend, SimProvider)
    if time_mode == "virtual" and not simulated:
        raise ValueError(
            "time_mode='virtual' needs an in-process simulated provider: real endpoints take "
            "real time"
        )
    persist = open_run_dir(run_dir, resume, cache, bindable, seeds, examples, config, models)
    try:
        if persist is not None:
            cache = persist.dir.cache_path
        eval_cache = EvalCache(cache) if isinstance(cache, str | Path) else cache
    except BaseException:
        if persist is not None:
            persist.close()
        raise
    check = getattr(backend, "check", None)

    async def main() -> RunResult:
        """The run; the run directory (if any) is held until it ends, however it ends."""
        try:
            return await run()
        finally:
            if persist is not None:
                persist.close()

    async def run() -> RunResult:
        if check is not None and models:
            await check(models)  # fail fast, before any run state
        run_adapter, warning = adapter, None
        if bindable:
            log = gate = None
            if persist is not None:
                log, gate, warning = persist.open(time_mode, eval_cache)  # type: ignore[arg-type]
                if warning is not None:
                    warnings.warn(warning, RuntimeWarning, stacklevel=2)
            context = RunContext(
                throttled,
                eval_cache,
                eval_cache is not None and time_mode == "virtual",
                log,
                gate,
                feedback,
            )
            run_adapter = adapter.bind(context)  # type: ignore[attr-defined]
        options: dict[str, Any] = {
            "label": label,
            "time_mode": time_mode,
            "simulated": simulated or bool(getattr(backend, "simulated", False)),
            "on_progress": on_progress,
            "usage": throttled.usage if throttled is not None else None,
            "backlog": (lambda: throttled.limiter.waiting) if throttled is not None else None,
        }
        pipeline: Pipeline | Islands
        if config.n_islands > 1:
            pipeline = Islands(run_adapter, examples, config, **options)
        else:
            pipeline = Pipeline(
                run_adapter,
                examples,
                config,
                checkpoint=(lambda: persist.save(pipeline)) if persist is not None else None,  # type: ignore[arg-type]
                reflection_set=reflection_set,
                **options,
            )
        status = "failed"
        cpu = time.process_time()
        try:
            result = await pipeline.run(seeds)
            status = "finished"
        finally:
            if eval_cache is not None:
                eval_cache.flush()
            if persist is not None:
                persist.save(pipeline, status)  # type: ignore[arg-type]
        if throttled is not None:
            result.usage = throttled.usage.frame()
            result.provider_stats = {**throttled.summary(), **throttled.usage.summary()}
        # The whole process's CPU (the kernel's other threads too): what the client side cost.
        result.provider_stats["client_cpu_s"] = round(time.process_time() - cpu, 2)
        if eval_cache is not None:
            result.provider_stats["cache_hits"] = eval_cache.hits
            result.simulated = result.simulated or eval_cache.simulated_hits > 0
        if persist is not None:
            result.provider_stats["replayed_calls"] = persist.replayed
            if warning is not None:
                result.warnings.insert(0, warning)
        return result

    return partial(main)


def _seed_candidates(seed: Seed | Sequence[Seed]) -> list[dict[str, str]]:
    items = [seed] if isinstance(seed, str | Mapping) else list(seed)
    if not items:
        raise ValueError("seed: give at least one seed instruction")
    out = []
    for i, item in enumerate(items):
        comps = {"instruction": item} if isinstance(item, str) else dict(item)
        if not comps or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in comps.items()
        ):
            raise ValueError(f"seed[{i}]: expected non-empty text components, got {item!r}")
        out.append(comps)
    return out
