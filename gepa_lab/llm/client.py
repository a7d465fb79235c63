"""The client one run talks through: every model call of the run goes to its provider (behind
the run's throttle) through its answer cache and, in a run directory, its completion log and
replay gate (see :mod:`gepa_lab.runs.replay`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cache import EvalCache, cache_key
from .provider import ChatRequest, ChatResponse, origin

if TYPE_CHECKING:
    from ..protocols import Provider
    from ..runs.replay import CompletionLog, ReplayGate


@dataclass
class CallCounts:
    """Calls that reached the provider (cache hits excluded), by purpose."""

    task: int = 0
    reflection: int = 0


@dataclass
class RunClient:
    """``replay_latency`` makes a cache hit wait as long as the original call did: on a
    virtual clock that costs nothing and keeps a rerun's schedule, and so its trajectory,
    identical to the first run's."""

    provider: Provider
    cache: EvalCache | None = None
    replay_latency: bool = False
    log: CompletionLog | None = None  # records the order calls finish in (run directories)
    replay: ReplayGate | None = None  # on resume: holds each replayed call until its turn
    counts: CallCounts = field(default_factory=CallCounts)
    _log_cut: bool = False
    _origin: str | None = None

    @property
    def origin(self) -> str:
        """The backend's identity, part of every cache key (asked once: it does not change)."""
        if self._origin is None:
            self._origin = origin(self.provider)
        return self._origin

    async def complete(self, request: ChatRequest, example_id: str | None) -> ChatResponse:
        keyed = self.cache is not None or self.log is not None
        key = cache_key(request, example_id, self.origin) if keyed else None
        gate = self.replay
        if gate is None or key is None or not gate.replaying:
            response = await self._answer(request, key)
            self._record(key)
            return response
        gate.active += 1
        # Sent at once, delivered in its turn: holding the sending too would pay the calls the
        # cache no longer answers one at a time, each a full latency after the one before.
        answer = asyncio.ensure_future(self._answer(request, key))
        try:
            index = await gate.turn(key)
            response = await answer
        except BaseException:
            answer.cancel()
            if answer.done() and not answer.cancelled():
                answer.exception()  # retrieved: this call's error is not the one raised
            raise
        finally:
            gate.active -= 1
        gate.done(index)
        if index is None:  # not a replayed call: this run's own
            self._record(key)
        return response

    async def _answer(self, request: ChatRequest, key: str | None) -> ChatResponse:
        cache = self.cache
        if cache is not None and key is not None:
            hit = cache.get(key)
            if hit is not None:
                if self.replay_latency:
                    await asyncio.sleep(hit.latency)
                return hit.response
        if request.purpose == "task":
            self.counts.task += 1
        else:
            self.counts.reflection += 1
        if cache is None or key is None:
            return await self.provider.complete(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await self.provider.complete(request)
        simulated = bool(getattr(self.provider, "simulated", False))
        latency = loop.time() - started
        cache.put(key, request.model, response, latency, self.origin, simulated)
        return response

    def _record(self, key: str | None) -> None:
        log = self.log
        if log is None or key is None:
            return
        gate = self.replay
        if gate is not None and gate.abandoned and not self._log_cut:
            log.truncate(gate.pos)  # what the diverged replay really repeated, then this run
            self._log_cut = True
        log.append(key)
