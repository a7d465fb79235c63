"""Where user code that costs CPU runs (an evaluator, a checker): off the run's event loop, so
the pipeline never waits on it. The scheduler decides what to evaluate and reads an executor's
``capacity``; the executor only runs calls. ``threads.ThreadExecutor`` is the local default;
``ray.RayExecutor`` fans calls out over a Ray cluster as tasks, and
``ray_actors.RayActorExecutor`` over long-lived actors that keep an evaluator's state (both
the ``ray`` extra)."""

from .threads import ThreadExecutor

__all__ = ["ThreadExecutor"]
