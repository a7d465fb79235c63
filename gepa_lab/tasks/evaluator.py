"""A task scored by your own function (GEPA's ``optimize_anything`` shape).

``evaluator(candidate, example)`` returns a score in [0, 1], or ``(score, feedback)`` where the
feedback is text or a dict of named side information; it reaches the reflection model. With no
data (``optimize(seed, None, config, task=...)``) it is called as ``evaluator(candidate)`` and
scores one artifact as a whole. The candidate is passed as a str when it is a single
``instruction`` (a str seed), else as the dict of its components. An ``async def`` evaluator is
awaited on the run's event loop; a plain one runs on ``executor``: by default a pool of
``threads`` worker threads, so a slow evaluator never blocks the pipeline, or a
:class:`~gepa_lab.executors.ray.RayExecutor` to spread a CPU-heavy one over a cluster.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..executors import ThreadExecutor
from ..protocols import Chat, Executor, ExecutorError, RunAborted, UserCodeError
from .examples import Example
from .info import TaskInfo

# The one "example" of a run with no data (``optimize(seed, None, ..., task=EvaluatorTask(fn))``):
# its evaluator is called as ``fn(candidate)`` and scores the artifact as a whole.
ARTIFACT = Example("artifact", "the artifact as a whole", None)


@dataclass(frozen=True)
class EvaluatorTask(TaskInfo):
    """``evaluator`` as a task; ``binary=True`` if it only ever scores 0 or 1. A plain
    evaluator runs on ``executor`` (default: ``ThreadExecutor(threads)``)."""

    evaluator: Callable[..., Any]
    binary: bool = False
    threads: int = 16
    executor: Executor | None = None
    _local: list[ThreadExecutor] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(self.evaluator):
            raise ValueError(f"evaluator={self.evaluator!r} is invalid: must be callable")
        if self.executor is None:
            self._local.append(ThreadExecutor(self.threads))  # checks threads

    @property
    def runner(self) -> Executor:
        """Where a plain evaluator runs."""
        return self.executor if self.executor is not None else self._local[0]

    @property
    def capacity(self) -> int | None:
        """How many evaluations can run at once (None: an async evaluator, no limit here)."""
        return None if inspect.iscoroutinefunction(self.evaluator) else self.runner.capacity

    def check(self, components: Mapping[str, str], example: Example) -> None:
        """Nothing to check before the run: the evaluator's contract is checked per call."""

    async def evaluate(
        self, llm: Chat, components: Mapping[str, str], example: Example
    ) -> tuple[str, float, str]:
        candidate: str | dict[str, str] = (
            components["instruction"] if list(components) == ["instruction"] else dict(components)
        )
        args = (candidate,) if example is ARTIFACT else (candidate, example)
        try:
            if inspect.iscoroutinefunction(self.evaluator):
                got = await self.evaluator(*args)
            else:
                got = await self.runner.run(self.evaluator, *args)
        except (RunAborted, ExecutorError):
            raise  # an ExecutorError is a failed evaluation: the pipeline tries it again
        except Exception as exc:
            raise UserCodeError(
                f"the evaluator failed on example {example.id!r}: {type(exc).__name__}: {exc}"
            ) from exc
        score, feedback = _verdict(got, example)
        return "", score, feedback


def _verdict(got: Any, example: Example) -> tuple[float, str]:
    score, info = got if isinstance(got, tuple) and len(got) == 2 else (got, "")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise UserCodeError(
            f"the evaluator returned {got!r} for example {example.id!r}: give a score in "
            "[0, 1], or (score, feedback)"
        )
    if isinstance(info, Mapping):
        feedback = "\n".join(f"{k}: {v}" for k, v in info.items())
    elif isinstance(info, str):
        feedback = info
    else:
        raise UserCodeError(
            f"the evaluator's feedback for example {example.id!r} is a "
            f"{type(info).__name__}: give text or a dict of named side information"
        )
    return float(score), feedback
