"""Resuming a run by replaying it: the order its calls finished in, recorded and enforced.

Given the same completion order, a run makes the same decisions and so the same calls (the
engine is deterministic apart from timing). A run directory records the key of every call as
it finishes (:class:`CompletionLog`); on resume, the answers come back from the cache, and
:class:`ReplayGate` releases them in the recorded order, so the resumed run walks the killed
run's path for free, call for call, and carries on from where it was killed. On a virtual
clock hits already replay their recorded latency, which repeats the order without a gate.

Only answered calls are recorded (a call that failed after its retries is not cached and is
made again). If the replay diverges anyway (say, a call the record expects is never made), the
gate notices that every call in flight is waiting for a turn that cannot come and stops
enforcing the order: the run goes on, paying only for answers the cache lacks.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from pathlib import Path

STALL_CHECK_SECONDS = 0.05


class CompletionLog:
    """Keys of answered calls in completion order: a text file, one key per line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._pending: list[str] = []

    def read(self) -> list[str]:
        if not self.path.exists():
            return []
        try:
            lines = self.path.read_text(encoding="ascii").splitlines()
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{self.path} is damaged (not text at byte {exc.start}): delete it to resume "
                "without replaying the recorded order (answers still come from the cache)"
            ) from None
        # A kill can cut the last line short: keep only whole keys (sha256 hex digests).
        return [line for line in lines if len(line) == 64]

    def append(self, key: str) -> None:
        self._pending.append(key)

    def flush(self) -> None:
        if not self._pending:
            return
        with self.path.open("a") as f:
            f.write("".join(f"{k}\n" for k in self._pending))
            f.flush()
            os.fsync(f.fileno())
        self._pending.clear()

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` keys (what a diverged replay really repeated)."""
        keys = self.read()[:n]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(f"{k}\n" for k in keys))
        os.replace(tmp, self.path)


class ReplayGate:
    """Holds each call of a resumed run until its turn in the recorded order.

    A call whose key is next in the record goes at once; one recorded later waits for the
    calls before it; one not in the record waits for the end of the replay (in the killed run
    it finished after everything recorded, or never).
    """

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.pos = 0  # recorded calls finished again
        self.abandoned = False
        self.active = 0  # calls inside the adapter, waiting here or not
        self._turns: dict[str, deque[int]] = {}
        for i, key in enumerate(order):
            self._turns.setdefault(key, deque()).append(i)
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._at_end: list[asyncio.Future[None]] = []
        self._check: asyncio.TimerHandle | None = None

    @property
    def replaying(self) -> bool:
        return not self.abandoned and self.pos < len(self.order)

    async def turn(self, key: str) -> int | None:
        """Wait for ``key``'s turn; its index in the record, or None if it is not replayed."""
        if not self.replaying:
            return None
        turns = self._turns.get(key)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not turns:
            self._at_end.append(fut)
            index = None
        else:
            index = turns.popleft()
            if index == self.pos:
                return index
            self._waiting[index] = fut
        self._watch()
        try:
            await fut
        finally:
            if index is not None:
                self._waiting.pop(index, None)
        return index if index is not None and not self.abandoned else None

    def done(self, index: int | None) -> None:
        """The call holding turn ``index`` has finished (None: it was not replayed)."""
        if index is None or self.abandoned:
            return
        self.pos = index + 1
        if self.pos in self._waiting:
            self._waiting.pop(self.pos).set_result(None)
        elif self.pos == len(self.order):
            self._release()
        self._watch()

    def _watch(self) -> None:
        """Soon, check that some call can still take the next turn."""
        if self._check is None and self.replaying:
            loop = asyncio.get_running_loop()
            self._check = loop.call_later(STALL_CHECK_SECONDS, self._stalled)

    def _stalled(self) -> None:
        self._check = None
        if not self.replaying:
            return
        parked = len(self._waiting) + sum(not f.done() for f in self._at_end)
        if parked and parked == self.active and self.pos not in self._waiting:
            self.abandoned = True  # nobody can take the next turn: the run has diverged
            self._release()
        elif parked:
            self._watch()

    def _release(self) -> None:
        for fut in (*self._waiting.values(), *self._at_end):
            if not fut.done():
                fut.set_result(None)
        self._waiting.clear()
        self._at_end.clear()
