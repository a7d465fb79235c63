"""The local executor: a pool of worker threads in the run's own process.

Right for evaluators that wait (a subprocess, a network call, a library that releases the
GIL); a pure-Python evaluator that computes is held to one core by the GIL, which is what
:class:`~gepa_lab.executors.ray.RayExecutor` is for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any


class ThreadExecutor:
    """Runs calls in up to ``threads`` worker threads, started on first use."""

    def __init__(self, threads: int = 16) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads={threads!r} is invalid: must be an integer >= 1")
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    @property
    def capacity(self) -> int:
        return self.threads

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="evaluator")
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __getstate__(self) -> dict:
        """A copy (pickled, deep-copied) starts its own pool when first used."""
        return {**self.__dict__, "_pool": None}

    def __repr__(self) -> str:
        return f"ThreadExecutor(threads={self.threads})"
