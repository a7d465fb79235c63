"""The simulated world: synthetic AIME-style data, a task model, a reflection model, latency.

Deterministic and offline. Every result produced with it is a simulation and is labelled so.
"""

from .dataset import decode, synthetic_aime
from .latency import Latency
from .provider import REFLECTION_MODEL, REFLECTION_MODES, TASK_MODEL, SimProvider
from .task_model import p_correct

__all__ = [
    "REFLECTION_MODEL",
    "REFLECTION_MODES",
    "TASK_MODEL",
    "Latency",
    "SimProvider",
    "decode",
    "p_correct",
    "synthetic_aime",
]
