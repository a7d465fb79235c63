"""Jobs waiting for task-call slots. A *job* is one candidate on one rung: the examples of the
rung it has not been evaluated on. The most promising lineage goes first at every rung, so
the critical path to the target never waits behind the buffer of speculative children."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .archive import Archive, evidence_score
from .candidate import Candidate


@dataclass(slots=True, eq=False)
class Job:
    rung: int
    cand: Candidate
    positions: list[int]  # still to evaluate on this rung
    next: int = 0  # index into positions of the next example to launch
    pending: int = 0
    started: bool = False

    @property
    def launched(self) -> bool:
        """Every example of the job has been launched."""
        return self.next == len(self.positions)


def promise(cand: Candidate, rung: int, archive: Archive, sizes: Sequence[int]) -> float:
    """Queue priority: the evidence so far that this candidate is good (a new child inherits
    its parent's). Seeds come first."""
    if rung:
        return evidence_score(cand, cand.rung_positions(rung - 1, sizes))
    parent = archive.candidates.get(cand.parent_id) if cand.parent_id is not None else None
    if parent is None:
        return 1.0
    return evidence_score(parent, parent.rung_positions(parent.rung, sizes))


class JobQueue:
    """A heap of jobs by promise, then higher rung (a parent's promotion before its children,
    which inherit its evidence: otherwise a steady stream of children starves the promotion
    whenever the provider is the bottleneck), then the newest job. ``new`` counts candidates
    waiting for their first example, ``examples`` the examples not launched yet."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Job]] = []
        self._seq = 0
        self.new = 0
        self.examples = 0

    def __bool__(self) -> bool:
        return bool(self._heap)

    def __iter__(self) -> Iterator[Job]:
        return (entry[3] for entry in self._heap)

    def push(self, job: Job, priority: float) -> None:
        if job.rung == 0:
            self.new += 1
        self.examples += len(job.positions)
        heapq.heappush(self._heap, (-priority, -job.rung, -self._seq, job))
        self._seq += 1

    def peek(self) -> Job:
        return self._heap[0][3]

    def start(self, job: Job) -> None:
        """``job`` (the head) is about to launch its first example."""
        job.started = True
        if job.rung == 0:
            self.new -= 1

    def drop(self) -> Job:
        """Remove the head, which has nothing left to launch."""
        return heapq.heappop(self._heap)[3]

    def launch_next(self) -> int:
        """The head's next example to launch (the job leaves the queue with its last)."""
        job = self.peek()
        pos = job.positions[job.next]
        job.next += 1
        job.pending += 1
        if job.launched:
            heapq.heappop(self._heap)
        self.examples -= 1
        return pos

    def retry(self, job: Job, pos: int, priority: float) -> None:
        """Launch ``pos`` of ``job`` again (its evaluation failed): appended to the job, which
        goes back in the queue if it had left it."""
        out = job.launched
        job.positions.append(pos)
        self.examples += 1
        if out:
            heapq.heappush(self._heap, (-priority, -job.rung, -self._seq, job))
            self._seq += 1

    def clear(self) -> None:
        self._heap.clear()
        self.new = self.examples = 0
