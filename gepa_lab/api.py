"""``optimize``: the main entry point, awaitable in Jupyter, with a sync wrapper for scripts."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from .adapter import LLMAdapter
from .config import Config
from .data import Example, examples_from_rows
from .engine.pipeline import Adapter, Pipeline, ProgressFn
from .provider import Provider
from .sim import REFLECTION_MODEL, TASK_MODEL, SimProvider
from .telemetry import RunResult
from .virtual_time import run_virtual

Seed = str | Mapping[str, str]
TIME_MODES = ("real", "virtual")


async def optimize(
    seed: Seed | Sequence[Seed],
    trainset: Sequence[Example] | Sequence[Mapping[str, Any]],
    config: Config,
    *,
    provider: Provider | None = None,
    task_model: str | None = None,
    reflection_model: str | None = None,
    adapter: Adapter | None = None,
    time_mode: str = "real",
    label: str = "turbo",
    on_progress: ProgressFn | None = None,
) -> RunResult:
    """Optimize ``seed`` (an instruction, a dict of named components, or a list of seeds).

    With no ``provider`` and no ``adapter`` the simulated world answers (``SimProvider()``), so
    this runs offline. ``time_mode="virtual"`` runs the whole optimization on a virtual clock in
    a worker thread: simulated latencies cost no real time and every timestamp is in simulated
    seconds. It is only valid for in-process providers such as the simulated world.
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
    )
    if time_mode == "virtual":
        return await asyncio.to_thread(run_virtual, job)
    return await job()


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
    return asyncio.run(optimize(*args, **kwargs))


def _prepare(
    seed: Seed | Sequence[Seed],
    trainset: Sequence[Example] | Sequence[Mapping[str, Any]],
    config: Config,
    provider: Provider | None,
    task_model: str | None,
    reflection_model: str | None,
    adapter: Adapter | None,
    time_mode: str,
    label: str,
    on_progress: ProgressFn | None,
) -> partial[Any]:
    """Validate everything before any call is made, and return the run as a coroutine factory."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be a gepa_lab.Config, got {type(config).__name__}")
    if time_mode not in TIME_MODES:
        raise ValueError(f"time_mode={time_mode!r} is invalid: use one of {TIME_MODES}")
    if (
        config.max_metric_calls is None
        and config.max_wall_time is None
        and not (config.target_quality is not None and config.auto_stop)
    ):
        raise ValueError(
            "the run would never stop: set Config.max_metric_calls, Config.max_wall_time, "
            "or Config.target_quality with auto_stop=True"
        )
    seeds = _seed_candidates(seed)
    examples = [e if isinstance(e, Example) else None for e in trainset]
    if any(e is None for e in examples):
        examples = examples_from_rows(trainset, "trainset")  # type: ignore[arg-type]
    if not examples:
        raise ValueError("trainset is empty")
    if adapter is None:
        if provider is None:
            provider = SimProvider()
            task_model = task_model or TASK_MODEL
            reflection_model = reflection_model or REFLECTION_MODEL
        if not task_model or not reflection_model:
            raise ValueError("with a provider, name both task_model and reflection_model")
        adapter = LLMAdapter(provider, task_model, reflection_model)
    simulated = isinstance(getattr(adapter, "provider", None), SimProvider)
    if time_mode == "virtual" and not simulated:
        raise ValueError(
            "time_mode='virtual' needs an in-process simulated provider: real endpoints take "
            "real time"
        )
    pipeline = partial(
        Pipeline,
        adapter,
        examples,
        config,
        label=label,
        time_mode=time_mode,
        simulated=simulated,
        on_progress=on_progress,
    )

    # The adapter owns the provider and the model names, whether built here or passed in.
    check = getattr(getattr(adapter, "provider", None), "check", None)
    models = [
        m for m in (getattr(adapter, a, None) for a in ("task_model", "reflection_model")) if m
    ]

    async def main() -> RunResult:
        if check is not None and models:
            await check(models)  # fail fast, before any run state
        return await pipeline().run(seeds)

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
