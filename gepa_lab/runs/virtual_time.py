"""Virtual time: run an asyncio program whose waits cost no real time.

The simulated world's latencies are ``asyncio.sleep`` calls. In a :class:`VirtualTimeLoop` the
clock jumps straight to the next timer whenever nothing is ready to run, so a run that would take
ten minutes against a real provider finishes in seconds, with exactly the same schedule of events
(timestamps are simulated seconds). It must only drive in-process work: real sockets and threads
do not advance a virtual clock.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
DEADLOCK_SECONDS = 30.0


class _JumpingSelector:
    """Wraps the loop's selector: polls without blocking, then advances the virtual clock."""

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._inner = inner
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = self._inner.select(0)
        if events:
            return events
        if timeout is None:
            # Nothing is scheduled: only another thread could wake the loop now.
            events = self._inner.select(DEADLOCK_SECONDS)
            if not events:
                raise RuntimeError(
                    f"virtual time: nothing scheduled and nothing ready for {DEADLOCK_SECONDS} s "
                    "of real time; the program is waiting for something that will never happen"
                )
            return events
        self._loop._now += max(timeout, 0.0)
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual and advances only when the loop is idle."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._selector = _JumpingSelector(self._selector, self)  # type: ignore[has-type]

    def time(self) -> float:
        return self._now


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` to completion in a fresh :class:`VirtualTimeLoop` (in this thread)."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
