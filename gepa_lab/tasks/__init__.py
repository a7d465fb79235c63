"""What is optimized and how it is scored: your data, LLM tasks and metrics."""

from ..protocols import Task
from . import metrics
from .data import load_examples
from .evaluator import EvaluatorTask
from .llm_task import AIME, LLMTask
from .program import ProgramTask, TracedLM

__all__ = [
    "AIME",
    "EvaluatorTask",
    "LLMTask",
    "ProgramTask",
    "Task",
    "TracedLM",
    "load_examples",
    "metrics",
]
