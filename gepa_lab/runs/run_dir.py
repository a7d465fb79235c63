"""A run directory: a run's state saved as it goes, so it can be read while it runs and resumed.

::

    run_dir/
      state.json       what the run is (config, seeds, data fingerprint, models) and where it
                       is (counters, best, every candidate with its lineage and scores);
                       replaced atomically (write, fsync, rename): a kill never leaves half a file
      cache.sqlite     every answer, :mod:`gepa_lab.llm.cache`
      completions.log  the order the calls finished in, :mod:`gepa_lab.runs.replay`
      lock             held (flock) by the process running it, with that process's pid

``optimize(..., run_dir=path)`` starts one; ``optimize(..., resume=path)`` continues it: the run
is replayed from the cache in its recorded order, so it pays nothing for what was already
answered and goes on exactly where it stopped. Only the budgets and the target may change on
resume (raise ``max_metric_calls`` to extend a finished run); anything else would make a
different run, and is refused with the field named. A directory holds one run at a time: a
second run on it, in this process or another, fails at once (:class:`RunDirBusy`). A
``state.json`` that cannot be read (a write cut short) is rebuilt by the replay, with a
warning that the run could not be checked against it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..llm.cache import EvalCache
from ..tasks.examples import Example
from .replay import CompletionLog, ReplayGate

if TYPE_CHECKING:
    from ..engine.pipeline import Pipeline

FORMAT = "gepa_lab.run/1"
# What a saved state must hold to be resumed.
STATE_KEYS = ("status", "seeds", "trainset_sha256", "n_examples", "config", "models")
# Config fields a resume may change: they say when to stop, not what the run does.
MAY_CHANGE = frozenset(
    {
        "max_metric_calls",
        "max_llm_calls",
        "max_wall_time",
        "max_total_tokens",
        "max_cost_usd",
        "max_outage",
        "target_quality",
        "auto_stop",
    }
)


def fingerprint(examples: Sequence[Example]) -> str:
    """sha256 of the training set as the run sees it (ids, problems, answers and, for rows of
    your own, every field, in order)."""
    h = hashlib.sha256()
    for e in examples:
        row = [e.id, e.problem, e.answer, *([dict(e.fields)] if e.fields else [])]
        h.update(json.dumps(row, default=repr, sort_keys=True).encode())
    return h.hexdigest()


def identity(
    seeds: list[dict[str, str]],
    examples: Sequence[Example],
    config: Config,
    models: list[str],
) -> dict[str, Any]:
    """What makes two runs the same run (JSON-ready)."""
    return {
        "seeds": seeds,
        "trainset_sha256": fingerprint(examples),
        "n_examples": len(examples),
        "config": config.to_dict(),
        "models": models,
    }


class RunDirBusy(RuntimeError):
    """Another run holds the run directory."""


class RunDir:
    def __init__(self, path: str | Path, save_every: float = 1.0) -> None:
        self.path = Path(path)
        self.save_every = save_every  # real seconds between state saves (plus one at the end)
        self._last_save = float("-inf")
        self._lock: int | None = None  # the lock file's descriptor while this run holds it

    state_path = property(lambda self: self.path / "state.json")
    cache_path = property(lambda self: self.path / "cache.sqlite")
    log_path = property(lambda self: self.path / "completions.log")
    lock_path = property(lambda self: self.path / "lock")

    @classmethod
    def new(cls, path: str | Path) -> RunDir:
        run = cls(path)
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"run_dir={str(path)!r} cannot be created: {exc}") from None
        run.lock()
        if run.state_path.exists():  # checked under the lock: no other process can start one
            run.unlock()
            raise ValueError(
                f"run_dir={str(path)!r} already holds a run: continue it with resume= or "
                "choose a new directory"
            )
        return run

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not run.state_path.exists():
            raise ValueError(
                f"resume={str(path)!r} holds no run (no state.json): start one with run_dir="
            )
        run.lock()
        return run

    def lock(self) -> None:
        """Hold the directory until :meth:`unlock`. The operating system drops the lock when
        the process dies, so a killed run leaves no stale lock behind."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 256).decode(errors="replace").strip() or "a process"
            os.close(fd)
            raise RunDirBusy(
                f"{self.path} is in use by another run ({holder}): a run directory holds one "
                "run at a time. Wait for that run to end (or stop it) and then resume it, or "
                "start a new run in another directory"
            ) from None
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {stamp}".encode())
        self._lock = fd

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as exc:
            raise DamagedState(f"cannot read {self.state_path} ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"{self.state_path} is not a gepa_lab run state ({FORMAT})")
        missing = [k for k in STATE_KEYS if k not in state]
        if missing:
            raise ValueError(
                f"{self.state_path} lacks {', '.join(missing)}: it was edited or written by "
                "another version; start a new run in another directory (run_dir=) with the "
                "same cache= path to reuse its answers"
            )
        return state

    def check_same_run(self, saved: dict[str, Any], now: dict[str, Any]) -> None:
        """Refuse a resume that would be a different run, naming what differs."""
        what = f"resume={str(self.path)!r}"
        if saved["seeds"] != now["seeds"]:
            raise ValueError(f"{what}: the seed prompt differs from the saved run's")
        if saved["trainset_sha256"] != now["trainset_sha256"]:
            raise ValueError(
                f"{what}: the training set differs from the saved run's "
                f"({saved['n_examples']} examples then, {now['n_examples']} now, or changed rows)"
            )
        if saved["models"] != now["models"]:
            raise ValueError(
                f"{what}: models differ (saved {saved['models']}, now {now['models']})"
            )
        for name, value in now["config"].items():
            before = saved["config"].get(name)
            if name not in MAY_CHANGE and before != value:
                raise ValueError(
                    f"{what}: Config.{name} differs (saved {before!r}, now {value!r}); only "
                    f"{', '.join(sorted(MAY_CHANGE))} may change on resume"
                )

    def due(self) -> bool:
        """True if the last save is ``save_every`` seconds old."""
        return time.monotonic() - self._last_save >= self.save_every

    def save(self, pipeline: Pipeline, ident: dict[str, Any], status: str) -> None:
        """Write state.json atomically."""
        self._last_save = time.monotonic()
        state = {"format": FORMAT, "status": status, **ident, **snapshot(pipeline)}
        tmp = self.state_path.with_suffix(".json.tmp")
        with tmp.open("w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)


def snapshot(pipeline: Pipeline) -> dict[str, Any]:
    """Where a run is: counters, best, and every candidate with its lineage and scores."""
    archive = pipeline.archive
    best = archive.best
    return {
        "stop_reason": pipeline.stop_reason or None,
        "progress": pipeline.progress(),
        "best": None
        if best is None
        else {"id": best.id, "quality": archive.best_quality, "components": best.components},
        "candidates": [
            {
                "id": c.id,
                "parent": c.parent_id,
                "merge_parent": c.merge_parent,
                "origin": c.origin,
                "status": str(c.status),
                "rung": c.rung,
                "components": c.components,
                "probe": list(c.probe),
                "scores": {str(p): t.score for p, t in enumerate(c.traces) if t is not None},
            }
            for c in archive.candidates.values()
        ],
    }


class DamagedState(ValueError):
    """state.json cannot be read (a truncated write, a full disk): the run itself is in the
    cache and the completion log, and a resume rebuilds it from them."""


@dataclass
class Persisted:
    """A run directory wired into one run: the completion log, the replay gate, the saves."""

    dir: RunDir
    ident: dict[str, Any]
    order: list[str]  # the recorded completion order to replay (empty for a new run)
    log: CompletionLog | None = None
    gate: ReplayGate | None = None
    rebuilt: str | None = None  # why state.json is being rebuilt, if it is
    cache: EvalCache | None = None

    def open(
        self, time_mode: str, cache: EvalCache
    ) -> tuple[CompletionLog, ReplayGate | None, str | None]:
        """The run's completion log; on a resume in real time the gate that replays the
        recorded order (on a virtual clock cache hits replay their latency, which repeats the
        order already); and a warning when the cache lacks recorded answers (those calls
        are paid again, sent at once and delivered in their turn: see RunClient)."""
        self.log, self.cache = CompletionLog(self.dir.log_path), cache
        warning = self.rebuilt
        recorded = set(self.order)
        lost = len(recorded - cache.known(self.order)) if recorded else 0
        if lost:
            warning = (f"{warning}; " if warning else "") + (
                f"resuming {self.dir.path} without {lost} of the {len(recorded)} answers it "
                f"recorded (the last batch before a kill, or a deleted "
                f"{self.dir.cache_path.name}): they are paid for again, and with a model that "
                "samples the run may take another path"
            )
        if self.order and time_mode == "real":
            self.gate = ReplayGate(self.order)
        return self.log, self.gate, warning

    def save(self, pipeline: Pipeline, status: str = "running") -> None:
        """At most every ``save_every`` seconds while running, and once at the end."""
        if status == "running" and not self.dir.due():
            return
        if self.cache is not None:
            self.cache.flush()  # the answers first: a kill between leaves none recorded unkept
        if self.log is not None:
            self.log.flush()
        if status == "running" and self.gate is not None and self.gate.replaying:
            return  # the saved state is still ahead of the replay: keep it
        self.dir.save(pipeline, self.ident, status)

    @property
    def replayed(self) -> int:
        return self.gate.pos if self.gate is not None else 0

    def close(self) -> None:
        """Release the directory (the run is over, or never started)."""
        self.dir.unlock()


def open_run_dir(
    run_dir: str | Path | None,
    resume: str | Path | None,
    cache: object,
    bindable: bool,
    seeds: list[dict[str, str]],
    examples: list[Example],
    config: Config,
    models: list[str],
) -> Persisted | None:
    """The run directory ``optimize`` was given (``run_dir`` to start one, ``resume`` to
    continue one), checked against this run; None if neither."""
    if run_dir is None and resume is None:
        return None
    if run_dir is not None and resume is not None:
        raise ValueError("give run_dir= to start a saved run or resume= to continue one, not both")
    if cache is not None:
        raise ValueError("a run directory keeps its own cache: drop cache= with run_dir/resume")
    if not bindable:
        raise ValueError(
            "run_dir/resume need an adapter that a run can bind to its context "
            "(bind(RunContext)), like LLMAdapter"
        )
    if config.n_islands > 1:
        raise ValueError("run_dir/resume support one population for now: use n_islands=1")
    ident = identity(seeds, examples, config, models)
    if run_dir is not None:
        return Persisted(RunDir.new(run_dir), ident, [])
    existing = RunDir.existing(resume)  # type: ignore[arg-type]
    rebuilt = None
    try:
        try:
            saved: dict[str, Any] | None = existing.load()
        except DamagedState as damage:
            saved, damaged = None, str(damage)
        order = CompletionLog(existing.log_path).read()
        if saved is not None:
            existing.check_same_run(saved, ident)
        elif not order:
            raise DamagedState(
                f"{damaged}, and {existing.log_path} records no answer to rebuild the run "
                f"from: start a new run in another directory (run_dir=) with "
                f"cache={str(existing.cache_path)!r} to reuse the answers it holds"
            )
        else:
            rebuilt = (
                f"{damaged}: the run is rebuilt by replaying the {len(order)} answers "
                f"{existing.log_path.name} recorded, with the seeds, data and Config given "
                "now (they cannot be checked against the saved run's), and state.json is "
                "written anew"
            )
    except BaseException:
        existing.unlock()
        raise
    return Persisted(existing, ident, order, rebuilt=rebuilt)
