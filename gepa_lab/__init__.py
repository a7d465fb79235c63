"""gepa_lab: reflective prompt optimization (GEPA) at full speed, notebook first.

Data flow: data -> provider -> engine (ladder, archive, mutation, pipeline) -> telemetry ->
notebooks and reports.
"""

from .adapter import LLMAdapter, solution_feedback
from .api import optimize, optimize_sync, score_prompt
from .cache import EvalCache
from .config import (
    Config,
    adaptive_config,
    benchmark_overrides,
    classic_config,
    performance_report,
)
from .data import Example, examples_from_rows
from .engine.pipeline import UserCodeError
from .gepa_baseline import optimize_gepa
from .limiter import AdaptiveLimiter
from .limits import max_concurrency_from_fd_limit, raise_fd_limit
from .openai_provider import OpenAIProvider, ProviderUnavailable
from .tasks import EvaluatorTask, LLMTask, ProgramTask, load_examples, metrics
from .telemetry import ProgressPrinter, RunResult
from .throttle import RetryPolicy, Throttled
from .usage import PriceTable

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
