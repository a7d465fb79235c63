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
Ray runs in real time: a run on the virtual clock is refused. Each task unpickles the evaluator
afresh: one that keeps state (a loaded model) belongs on
:class:`~gepa_lab.executors.ray_actors.RayActorExecutor`, which shares the helpers below.
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


def warm_worker(modules: tuple[str, ...], hold: float) -> None:
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
        check_options(num_cpus, max_retries, queued)
        ray, self.started = connect(address, init_options)
        self._ray = ray
        self.num_cpus, self.max_retries, self.refresh = num_cpus, max_retries, refresh
        self.queued = queued
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
        self._ray.get([self._task.remote(warm_worker, modules, 0.5) for _ in range(slots)])
        return time.monotonic() - began

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        refuse_virtual_time()
        return await result(self._ray, self._task.remote(ship(self._ray, self._shipped, fn), *args))

    def close(self) -> None:
        """Forget the shipped functions; shut Ray down if this executor started it."""
        self._shipped.clear()
        if self.started and self._ray.is_initialized():
            self._ray.shutdown()

    def __repr__(self) -> str:
        return f"RayExecutor(num_cpus={self.num_cpus}, max_retries={self.max_retries})"


def check_options(
    num_cpus: float, retries: int, queued: int, retries_name: str = "max_retries"
) -> None:
    """ValueErrors naming a Ray executor's invalid option and its rule."""
    if isinstance(num_cpus, bool) or not isinstance(num_cpus, int | float) or num_cpus <= 0:
        raise ValueError(f"num_cpus={num_cpus!r} is invalid: must be > 0 CPUs per call")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"{retries_name}={retries!r} is invalid: must be an integer >= 0")
    if isinstance(queued, bool) or not isinstance(queued, int) or queued < 1:
        raise ValueError(f"queued={queued!r} is invalid: must be an integer >= 1")


def connect(address: str | None, init_options: dict[str, Any]) -> tuple[Any, bool]:
    """Ray, joined or started (``ray.init``): ``(ray, whether this started it)``. A local
    instance must listen on 127.0.0.1 only, else it is shut down again and refused."""
    if address is None:  # a local instance: on loopback, if Ray is not imported yet
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    if ray.is_initialized():
        return ray, False
    ray.init(address=address, **init_options)
    if address is None:
        try:
            check_loopback()
        except RuntimeError:
            ray.shutdown()
            raise
    return ray, True


def refuse_virtual_time() -> None:
    if isinstance(asyncio.get_running_loop(), VirtualTimeLoop):
        raise RunAborted(
            "the Ray executors run in real time: use time_mode='real' (the virtual clock "
            "cannot wait for another process)"
        )


def ship(ray: Any, shipped: dict[int, tuple[Callable[..., Any], Any]], fn: Callable) -> Any:
    """``fn``'s object reference, put in the cluster's object store on first use only
    (``shipped`` maps ``id(fn)`` to ``(fn, ref)``)."""
    known = shipped.get(id(fn))
    if known is None or known[0] is not fn:
        known = shipped[id(fn)] = (fn, ray.put(fn))
    return known[1]


async def result(ray: Any, ref: Any) -> Any:
    """What the Ray call ``ref`` returns: the user's own error as raised on the worker (its
    traceback chained), Ray's failures as :class:`ExecutorError`; cancelled with the run."""
    try:
        return await ref
    except asyncio.CancelledError:
        ray.cancel(ref)  # a stopped run frees the cluster's CPUs at once
        raise
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        raise (cause if isinstance(cause, BaseException) else exc) from exc
    except ray.exceptions.RayError as exc:
        raise ExecutorError(f"Ray could not run the evaluation: {exc}") from exc


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
