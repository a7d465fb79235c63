"""What one run lends the adapter it drives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..llm.cache import EvalCache
    from ..protocols import FeedbackFn, Provider
    from .replay import CompletionLog, ReplayGate


@dataclass(frozen=True)
class RunContext:
    """The provider behind the run's throttle, the answer cache (``replay_latency``: hits
    wait as long as the original call, on a virtual clock), a run directory's completion log
    and replay gate, and the feedback function. ``optimize`` builds one per run and binds a
    copy of the caller's adapter to it (``adapter.bind(context)``): the caller's adapter is
    never modified, and two runs never share a log or a gate. None keeps the adapter's own."""

    provider: Provider | None = None
    cache: EvalCache | None = None
    replay_latency: bool = False
    log: CompletionLog | None = None
    replay: ReplayGate | None = None
    feedback: FeedbackFn | None = None
