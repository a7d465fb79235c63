"""What is optimized and how it is scored: your data, LLM tasks and metrics."""

from . import metrics
from .data import load_examples
from .llm_task import AIME, LLMTask

__all__ = ["AIME", "LLMTask", "load_examples", "metrics"]
