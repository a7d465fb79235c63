"""gepa_lab: reflective prompt optimization (GEPA) at full speed, notebook first.

Data flow: data -> provider -> engine (ladder, archive, mutation, pipeline) -> telemetry ->
notebooks and reports.
"""

from .api import optimize, optimize_sync
from .config import (
    Config,
    adaptive_config,
    benchmark_overrides,
    classic_config,
    performance_report,
)
from .data import Example, examples_from_rows
from .limits import max_concurrency_from_fd_limit, raise_fd_limit
from .telemetry import ProgressPrinter, RunResult

__all__ = [
    "Config",
    "Example",
    "ProgressPrinter",
    "RunResult",
    "adaptive_config",
    "benchmark_overrides",
    "classic_config",
    "examples_from_rows",
    "max_concurrency_from_fd_limit",
    "optimize",
    "optimize_sync",
    "performance_report",
    "raise_fd_limit",
]
