"""The Ray executor: a CPU-heavy evaluator fanned out over a Ray cluster (the ``ray`` extra).

Each call runs as a Ray task needing ``num_cpus`` CPUs, awaited from the run's event loop
without blocking it. The evaluator is shipped to the cluster once (``ray.put``), not with every
call. ``capacity`` follows the cluster: its CPUs over ``num_cpus`` (the calls it runs at once),
times ``queued`` (2: the next call waits at each worker while one runs, so no worker idles while
a result travels back), read again at most every ``refresh`` seconds. A task whose worker or
node dies is retried elsewhere by Ray (``max_retries``); if Ray gives up, the evaluation fails
with :class:`~gepa_lab.protocols.ExecutorError` and the pipeline tries it again, like a failed
LLM call. Counting stays in the run's process: every result arrives once, so nothing is
counted twice.

``RayExecutor()`` joins the Ray instance this process already started, else starts a local one
(``ray.init()``), which must listen on 127.0.0.1 only (see :func:`check_loopback`);
``RayExecutor(address="auto")`` (or a ``ray://`` address) joins a cluster (see the README).
Ray runs in real time: a run on the virtual clock is refused.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..protocols import ExecutorError, RunAborted
from ..runs.virtual_time import VirtualTimeLoop

RAY_MISSING = "the Ray executor needs Ray: pip install 'gepa_lab[ray]'"


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """What a Ray worker runs: ``fn`` (resolved from its object reference) on ``args``."""
    return fn(*args)


def _warm(modules: tuple[str, ...], hold: float) -> None:
    """Import ``modules`` on this worker, then hold its CPU ``hold`` seconds, so that the
    other warm-up calls land on other workers."""
    for name in modules:
        importlib.import_module(name)
    time.sleep(hold)


class RayExecutor:
    """Runs calls as Ray tasks of ``num_cpus`` CPUs each, retried ``max_retries`` times on
    another worker if one dies, ``queued`` per slot. ``init_options`` go to ``ray.init`` when
    this starts Ray."""

    def __init__(
        self,
        num_cpus: float = 1.0,
        address: str | None = None,
        max_retries: int = 3,
        queued: int = 2,
        refresh: float = 1.0,
        **init_options: Any,
    ) -> None:
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, int | float) or num_cpus <= 0:
            raise ValueError(f"num_cpus={num_cpus!r} is invalid: must be > 0 CPUs per call")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries={max_retries!r} is invalid: must be an integer >= 0")
        if isinstance(queued, bool) or not isinstance(queued, int) or queued < 1:
            raise ValueError(f"queued={queued!r} is invalid: must be an integer >= 1")
        if address is None:  # a local instance: on loopback, if Ray is not imported yet
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            import ray
        except ImportError as exc:
            raise ImportError(RAY_MISSING) from exc
        self._ray = ray
        self.num_cpus, self.max_retries, self.refresh = num_cpus, max_retries, refresh
        self.queued = queued
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=address, **init_options)
            if address is None:
                try:
                    check_loopback()  # a local instance must not listen on the network
                except RuntimeError:
                    ray.shutdown()
                    raise
        self._task = ray.remote(_call).options(num_cpus=num_cpus, max_retries=max_retries)
        self._shipped: dict[int, tuple[Callable[..., Any], Any]] = {}  # id -> (fn, its ref)
        self._capacity, self._read_at = 1, float("-inf")

    @property
    def capacity(self) -> int:
        """Calls to keep in flight: what the cluster runs at once now (at least 1), times
        ``queued``."""
        now = time.monotonic()
        if now - self._read_at >= self.refresh:
            cpus = self._ray.cluster_resources().get("CPU", 0.0)
            slots = max(1, int(cpus // self.num_cpus))
            self._capacity, self._read_at = slots * self.queued, now
        return self._capacity

    def warm_up(self, *modules: str) -> float:
        """Start a worker on every slot now, each importing gepa_lab (about 2 s here) and
        ``modules`` (what the calls will import), rather than during the first calls; the
        seconds it took."""
        began = time.monotonic()
        slots = max(1, self.capacity // self.queued)
        self._ray.get([self._task.remote(_warm, modules, 0.5) for _ in range(slots)])
        return time.monotonic() - began

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if isinstance(asyncio.get_running_loop(), VirtualTimeLoop):
            raise RunAborted(
                "the Ray executor runs in real time: use time_mode='real' (the virtual clock "
                "cannot wait for another process)"
            )
        shipped = self._shipped.get(id(fn))
        if shipped is None or shipped[0] is not fn:
            shipped = self._shipped[id(fn)] = (fn, self._ray.put(fn))
        ref = self._task.remote(shipped[1], *args)
        try:
            return await ref
        except asyncio.CancelledError:
            self._ray.cancel(ref)  # a stopped run frees the cluster's CPUs at once
            raise
        except self._ray.exceptions.RayTaskError as exc:
            cause = exc.cause  # the user's own error, as raised on the worker
            raise (cause if isinstance(cause, BaseException) else exc) from exc
        except self._ray.exceptions.RayError as exc:
            raise ExecutorError(f"Ray could not run the evaluation: {exc}") from exc

    def close(self) -> None:
        """Forget the shipped functions; shut Ray down if this executor started it."""
        self._shipped.clear()
        if self.started and self._ray.is_initialized():
            self._ray.shutdown()

    def __repr__(self) -> str:
        return f"RayExecutor(num_cpus={self.num_cpus}, max_retries={self.max_retries})"


def check_loopback() -> None:
    """Refuse a Ray whose nodes listen on another address than 127.0.0.1: on some machines
    Ray binds the external address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is set
    before it is imported. Tests and benchmarks call this before running anything."""
    import ray

    bound = {node["NodeManagerAddress"] for node in ray.nodes() if node.get("Alive", True)}
    if bound != {"127.0.0.1"}:
        raise RuntimeError(
            f"Ray bound {sorted(bound)}, not only 127.0.0.1: set "
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing Ray"
        )


@contextmanager
def one_machine_cluster(workers: int = 1, num_cpus: int = 1) -> Iterator[tuple[Any, list[Any]]]:
    """A Ray cluster of a head and ``workers`` worker nodes on this machine, ``num_cpus``
    each, on loopback only, with this process connected: ``(cluster, worker_nodes)``. What the
    tests and ``benchmarks/ray_scaling.py`` kill nodes of; shut down on exit."""
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    head = {"num_cpus": num_cpus, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        nodes = [cluster.add_node(num_cpus=num_cpus) for _ in range(workers)]
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        check_loopback()
        yield cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()
