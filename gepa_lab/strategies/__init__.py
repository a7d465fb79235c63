"""Mutation strategies: the ways a reflection model is asked for a new text, one file each.

- ``reflect`` (:mod:`.reflect`): GEPA's incremental reflection on failed attempts.
- ``induce`` (:mod:`.induce`): specification induction from the examples' correct answers.
- ``think`` (:mod:`.think`): a rewrite that adds a private thinking protocol.

A module of this package that calls :func:`register` is loaded here, so adding a strategy is
one new file; ``Config.mutation_strategies`` names the ones a run uses, and which of them
works best is learned during the run (:class:`~gepa_lab.engine.bandit.StrategyBandit`).
"""

import importlib
import pkgutil

from .base import STRATEGIES, Strategy, attempt, reflection_prompt, register, solved

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["STRATEGIES", "Strategy", "attempt", "reflection_prompt", "register", "solved"]
