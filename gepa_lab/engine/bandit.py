"""Choosing a mutation strategy: Thompson sampling with forgetting.

Each strategy's chance that a child it makes passes its first rung on merit is a Beta belief;
a strategy is chosen by drawing from each belief and taking the highest draw (Thompson 1933;
Russo et al. 2018, "A Tutorial on Thompson Sampling", section 6.3 on non-stationary
problems). Every update first discounts all counts by ``discount``, so evidence fades: what pays
early in a run (adding an answer format, a reasoning habit) stops paying once it is in every
instruction, and the bandit moves on without being stuck on an old average.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


class StrategyBandit:
    def __init__(self, names: Sequence[str], rng: random.Random, discount: float = 0.98) -> None:
        if not names:
            raise ValueError("StrategyBandit needs at least one strategy")
        self.names = tuple(names)
        self.rng = rng
        self.discount = discount
        self._wins = dict.fromkeys(self.names, 0.0)
        self._losses = dict.fromkeys(self.names, 0.0)
        self.tries = dict.fromkeys(self.names, 0)
        self.successes = dict.fromkeys(self.names, 0)

    def choose(self) -> str:
        if len(self.names) == 1:
            return self.names[0]
        draws = {
            n: self.rng.betavariate(1.0 + self._wins[n], 1.0 + self._losses[n]) for n in self.names
        }
        return max(self.names, key=draws.__getitem__)

    def update(self, name: str, success: bool) -> None:
        for n in self.names:
            self._wins[n] *= self.discount
            self._losses[n] *= self.discount
        if success:
            self._wins[name] += 1.0
            self.successes[name] += 1
        else:
            self._losses[name] += 1.0
        self.tries[name] += 1

    def stats(self) -> dict[str, dict[str, int]]:
        """Per strategy: children judged (or reflections that gave nothing) and successes."""
        return {n: {"tries": self.tries[n], "successes": self.successes[n]} for n in self.names}
