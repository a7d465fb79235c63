"""The Ray actor executor: an evaluator that keeps state (a loaded model, a sandbox, a
compiled test harness) held by long-lived Ray actors (the ``ray`` extra).

:class:`~gepa_lab.executors.ray.RayExecutor` runs each call as a fresh Ray task, so an evaluator
object arrives anew every time and whatever it loaded is loaded again. Here ``actors`` actors
(default: one per ``num_cpus`` CPUs of the cluster) each unpickle the evaluator once and keep
it: what it loads on its first call serves every later call on that actor. A call goes to the
actor with the fewest calls in flight; ``capacity`` is ``actors * queued``. An actor whose
worker or node dies leaves the pool: the calls it held fail with
:class:`~gepa_lab.protocols.ExecutorError` and the pipeline tries them again on the others.
With ``max_restarts`` > 0 Ray restarts it instead (its state rebuilt on its next call) and runs
its calls again there; but a restarted actor waits for free CPUs, and on a cluster that lost a
node there may be none, holding its calls until there are: so the default is 0. Joining or
starting Ray, loopback, errors and cancellation are as for
:class:`~gepa_lab.executors.ray.RayExecutor`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..protocols import ExecutorError
from .ray import check_options, connect, refuse_virtual_time, result, ship, warm_worker


class _Holder:
    """A Ray actor keeping the functions it is sent, unpickled once: their state lasts."""

    def __init__(self) -> None:
        self._fns: dict[Any, Callable[..., Any]] = {}

    def call(self, shipped: list[Any], *args: Any) -> Any:
        # The reference comes in a list, so Ray hands it over unresolved: fetched once here.
        ref = shipped[0]
        fn = self._fns.get(ref)
        if fn is None:
            import ray

            fn = self._fns[ref] = ray.get(ref)
        return fn(*args)

    def warm(self, modules: tuple[str, ...]) -> None:
        warm_worker(modules, 0.0)


class RayActorExecutor:
    """Runs calls on ``actors`` Ray actors of ``num_cpus`` CPUs each (default: as many as
    the cluster has CPUs for), ``queued`` calls per actor, each actor restarted up to
    ``max_restarts`` times (default: none, it leaves the pool). ``init_options`` go to
    ``ray.init`` when this starts Ray."""

    def __init__(
        self,
        actors: int | None = None,
        num_cpus: float = 1.0,
        address: str | None = None,
        max_restarts: int = 0,
        queued: int = 2,
        **init_options: Any,
    ) -> None:
        check_options(num_cpus, max_restarts, queued, "max_restarts")
        if actors is not None and (
            isinstance(actors, bool) or not isinstance(actors, int) or actors < 1
        ):
            raise ValueError(f"actors={actors!r} is invalid: must be an integer >= 1 or None")
        ray, self.started = connect(address, init_options)
        self._ray = ray
        if actors is None:
            actors = max(1, int(ray.cluster_resources().get("CPU", 0.0) // num_cpus))
        holder = ray.remote(_Holder).options(
            num_cpus=num_cpus, max_restarts=max_restarts, max_task_retries=max_restarts
        )
        # Each actor with the calls it holds now; the dead leave the list.
        self._pool: list[list[Any]] = [[holder.remote(), 0] for _ in range(actors)]
        self.num_cpus, self.max_restarts, self.queued = num_cpus, max_restarts, queued
        self._shipped: dict[int, tuple[Callable[..., Any], Any]] = {}  # id -> (fn, its ref)

    @property
    def actors(self) -> int:
        """Actors still in the pool."""
        return len(self._pool)

    @property
    def capacity(self) -> int:
        return max(1, self.actors * self.queued)

    def warm_up(self, *modules: str) -> float:
        """Wait until every actor has started and imported ``modules``; the seconds it took."""
        began = time.monotonic()
        self._ray.get([actor.warm.remote(modules) for actor, _ in self._pool])
        return time.monotonic() - began

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        refuse_virtual_time()
        if not self._pool:
            raise ExecutorError("every Ray actor of the executor has died")
        entry = min(self._pool, key=lambda e: e[1])
        entry[1] += 1
        try:
            ref = entry[0].call.remote([ship(self._ray, self._shipped, fn)], *args)
            return await result(self._ray, ref)
        except ExecutorError as exc:
            errors = self._ray.exceptions
            # Without restarts an unreachable actor never comes back; with them, only a dead one.
            lost = errors.ActorDiedError if self.max_restarts else errors.RayActorError
            if isinstance(exc.__cause__, lost) and any(e is entry for e in self._pool):
                self._pool.remove(entry)  # gone for good: the others take its calls
            raise
        finally:
            entry[1] -= 1

    def close(self) -> None:
        """Stop the actors; shut Ray down if this executor started it."""
        if self._ray.is_initialized():
            for actor, _ in self._pool:
                self._ray.kill(actor)
        self._pool.clear()
        self._shipped.clear()
        if self.started and self._ray.is_initialized():
            self._ray.shutdown()

    def __repr__(self) -> str:
        return f"RayActorExecutor(actors={self.actors}, num_cpus={self.num_cpus})"
