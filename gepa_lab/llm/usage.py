"""Tokens and money: what every answered call cost, per model and per purpose.

Prices are US dollars per million tokens, input and output. The defaults are list prices
(checked 2025-08; providers change them, so pass your own with ``PriceTable({...})``). The
simulated models carry a nominal price so cost curves and cost budgets can be studied offline;
their costs are as simulated as their answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from .provider import ChatRequest, ChatResponse

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "sim-task": (0.15, 0.60),  # nominal, simulated
    "sim-reflect": (1.25, 10.0),  # nominal, simulated
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.0),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o4-mini": (1.10, 4.40),
}


class PriceTable:
    """Model name -> (input, output) USD per million tokens; ``overrides`` win over defaults.

    A model served under a provider prefix ("openai/gpt-4o-mini") is priced by its last part.
    Models with no price (a local vLLM or llama.cpp model, say) cost nothing known: their
    tokens are counted and their cost is reported as unknown.
    """

    def __init__(
        self,
        overrides: Mapping[str, tuple[float, float]] | None = None,
        *,
        defaults: bool = True,
    ) -> None:
        self.prices = dict(DEFAULT_PRICES) if defaults else {}
        for model, price in (overrides or {}).items():
            if len(price) != 2 or any(not p >= 0 for p in price):
                raise ValueError(
                    f"PriceTable[{model!r}]={price!r} is invalid: give (input, output) USD per "
                    "million tokens, both >= 0"
                )
            self.prices[model] = (float(price[0]), float(price[1]))

    def price(self, model: str) -> tuple[float, float] | None:
        return self.prices.get(model) or self.prices.get(model.rsplit("/", 1)[-1])


def price_table(prices: PriceTable | Mapping[str, tuple[float, float]] | None) -> PriceTable:
    """``prices`` as a :class:`PriceTable` (a mapping overrides the defaults)."""
    return prices if isinstance(prices, PriceTable) else PriceTable(prices)


@dataclass(slots=True)
class ModelUsage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0  # None once any call had no known price


@dataclass
class Usage:
    """A running total of answered calls, keyed by (model, purpose)."""

    prices: PriceTable = field(default_factory=PriceTable)
    by_key: dict[tuple[str, str], ModelUsage] = field(default_factory=dict)
    total_tokens: int = 0
    cost_usd: float = 0.0  # of the priced models only
    unpriced_models: set[str] = field(default_factory=set)

    def add(self, request: ChatRequest, response: ChatResponse) -> None:
        key = (request.model, request.purpose)
        row = self.by_key.get(key)
        if row is None:
            row = self.by_key[key] = ModelUsage()
        p, c = response.prompt_tokens, response.completion_tokens
        row.calls += 1
        row.prompt_tokens += p
        row.completion_tokens += c
        self.total_tokens += p + c
        price = self.prices.price(request.model)
        if price is None:
            row.cost_usd = None
            self.unpriced_models.add(request.model)
        else:
            cost = (p * price[0] + c * price[1]) / 1e6
            self.cost_usd += cost
            if row.cost_usd is not None:
                row.cost_usd += cost

    def spent(self) -> tuple[int, float]:
        """Tokens and dollars (priced models only) so far: what a run's trace records at
        each new best, so what it cost to reach a quality is exact, not the whole run's."""
        return self.total_tokens, self.cost_usd

    def frame(self) -> pd.DataFrame:
        rows = [
            {"model": m, "purpose": purpose, **{f: getattr(u, f) for f in ModelUsage.__slots__}}
            for (m, purpose), u in sorted(self.by_key.items())
        ]
        columns = ["model", "purpose", *ModelUsage.__slots__]
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "total_tokens": self.total_tokens,
            "cost_usd": None if self.unpriced_models else round(self.cost_usd, 6),
        }
