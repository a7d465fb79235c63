"""gepa_lab: reflective prompt optimization (GEPA) at full speed, notebook first.

Data flow: tasks and data -> LLM calls (llm/) -> engine (queue, ladder, judge, archive,
mutation, budget) -> runs (run directory, telemetry) -> the lab (plots, reports) -> baselines.
"""

from .adapter import LLMAdapter, solution_feedback
from .api import optimize, optimize_sync, score_prompt
from .baselines.gepa import optimize_gepa
from .config import (
    Config,
    adaptive_config,
    benchmark_overrides,
    classic_config,
    performance_report,
)
from .llm.cache import EvalCache
from .llm.limiter import AdaptiveLimiter
from .llm.limits import max_concurrency_from_fd_limit, raise_fd_limit
from .llm.openai_provider import OpenAIProvider
from .llm.provider import ProviderUnavailable
from .llm.throttle import RetryPolicy, Throttled
from .llm.usage import PriceTable
from .protocols import UserCodeError
from .runs.run_dir import RunDirBusy
from .runs.telemetry import ProgressPrinter, RunResult
from .tasks import EvaluatorTask, LLMTask, ProgramTask, load_examples, metrics
from .tasks.examples import Example, examples_from_rows

__all__ = [
    "AdaptiveLimiter",
    "Config",
    "EvalCache",
    "EvaluatorTask",
    "Example",
    "LLMAdapter",
    "LLMTask",
    "OpenAIProvider",
    "PriceTable",
    "ProgramTask",
    "ProgressPrinter",
    "ProviderUnavailable",
    "RetryPolicy",
    "RunDirBusy",
    "RunResult",
    "Throttled",
    "UserCodeError",
    "adaptive_config",
    "benchmark_overrides",
    "classic_config",
    "examples_from_rows",
    "load_examples",
    "max_concurrency_from_fd_limit",
    "metrics",
    "optimize",
    "optimize_gepa",
    "optimize_sync",
    "performance_report",
    "raise_fd_limit",
    "score_prompt",
    "solution_feedback",
]
