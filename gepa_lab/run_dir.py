"""A run directory: a run's state saved as it goes, so it can be read while it runs and resumed.

::

    run_dir/
      state.json       what the run is (config, seeds, data fingerprint, models) and where it
                       is (counters, best, every candidate with its lineage and scores);
                       replaced atomically (write, fsync, rename): a kill never leaves half a file
      cache.sqlite     every answer, :mod:`gepa_lab.cache`
      completions.log  the order the calls finished in, :mod:`gepa_lab.replay`

``optimize(..., run_dir=path)`` starts one; ``optimize(..., resume=path)`` continues it: the run
is replayed from the cache in its recorded order, so it pays nothing for what was already
answered and goes on exactly where it stopped. Only the budgets and the target may change on
resume (raise ``max_metric_calls`` to extend a finished run); anything else would make a
different run, and is refused with the field named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config
from .data import Example

if TYPE_CHECKING:
    from .engine.pipeline import Pipeline

FORMAT = "gepa_lab.run/1"
# Config fields a resume may change: they say when to stop, not what the run does.
MAY_CHANGE = frozenset(
    {
        "max_metric_calls",
        "max_llm_calls",
        "max_wall_time",
        "max_total_tokens",
        "max_cost_usd",
        "target_quality",
        "auto_stop",
    }
)


def fingerprint(examples: Sequence[Example]) -> str:
    """sha256 of the training set as the run sees it (ids, problems, answers, in order)."""
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.id, e.problem, e.answer]).encode())
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
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "models": models,
    }


class RunDir:
    def __init__(self, path: str | Path, save_every: float = 1.0) -> None:
        self.path = Path(path)
        self.save_every = save_every  # real seconds between state saves (plus one at the end)
        self._last_save = float("-inf")

    state_path = property(lambda self: self.path / "state.json")
    cache_path = property(lambda self: self.path / "cache.sqlite")
    log_path = property(lambda self: self.path / "completions.log")

    @classmethod
    def new(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if run.state_path.exists():
            raise ValueError(
                f"run_dir={str(path)!r} already holds a run: continue it with resume= or "
                "choose a new directory"
            )
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"run_dir={str(path)!r} cannot be created: {exc}") from None
        return run

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not run.state_path.exists():
            raise ValueError(
                f"resume={str(path)!r} holds no run (no state.json): start one with run_dir="
            )
        return run

    def load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {self.state_path}: {exc}") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"{self.state_path} is not a gepa_lab run state ({FORMAT})")
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
