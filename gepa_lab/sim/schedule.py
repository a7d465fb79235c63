"""A timed schedule of bad moments for the simulated server: a 5xx burst from second 10 to 18,
a 429 storm after it, a revoked key for a while. Soak tests need the endpoint to misbehave on
cue, in its own process, without an admin channel a real endpoint would not have.

A schedule is a JSON list of phases, each ``{"at": s, "for": s, ...}`` (seconds from the
server's start) with any of the settings below; outside every phase the server's own settings
hold, and where phases overlap the later one in the list wins::

    [{"at": 10, "for": 8, "p_5xx": 0.3}, {"at": 30, "for": 15, "api_key": "revoked"}]
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .server import ServerConfig

FAULTS = ("p_5xx", "p_timeout", "p_malformed", "p_truncated")
LIMITS = {"rpm": "requests_per_minute", "tpm": "tokens_per_minute"}
SETTINGS = (*FAULTS, *LIMITS, "api_key")


@dataclass(frozen=True, slots=True)
class Phase:
    """From ``at`` for ``seconds`` seconds, ``settings`` replace the server's own."""

    at: float
    seconds: float
    settings: tuple[tuple[str, Any], ...]

    def covers(self, t: float) -> bool:
        return self.at <= t < self.at + self.seconds


def parse(text: str) -> list[Phase]:
    """Phases from a JSON list, or from the file whose path ``text`` is; a ValueError names the
    phase and the field at fault."""
    source = text if text.lstrip().startswith("[") else _read(text)
    try:
        rows = json.loads(source)
    except ValueError as exc:
        raise ValueError(f"schedule is not JSON: {exc}") from None
    if not isinstance(rows, list):
        raise ValueError("schedule must be a JSON list of phases")
    return [_phase(i, row) for i, row in enumerate(rows)]


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"schedule {path!r} cannot be read ({exc}): give a file or a JSON list"
        ) from None


def _phase(i: int, row: object) -> Phase:
    where = f"schedule phase {i}"
    if not isinstance(row, dict):
        raise ValueError(f"{where} must be an object like {{'at': 10, 'for': 5, 'p_5xx': 0.3}}")
    unknown = sorted(set(row) - {"at", "for", *SETTINGS})
    if unknown:
        raise ValueError(
            f"{where}: unknown field {unknown[0]!r}; use at, for, {', '.join(SETTINGS)}"
        )
    for name in ("at", "for"):
        value = row.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{where}: {name}={value!r} is invalid: seconds >= 0 are required")
    settings = tuple((k, row[k]) for k in SETTINGS if k in row)
    key = row.get("api_key")
    if "api_key" in row and key is not None and not isinstance(key, str):
        raise ValueError(f"{where}: api_key={key!r} is invalid: a string or null")
    phase = Phase(float(row["at"]), float(row["for"]), settings)
    try:
        apply_phase(ServerConfig(), phase)  # the values, checked by the settings' own rules
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return phase


def apply_phase(config: ServerConfig, phase: Phase) -> ServerConfig:
    """``config`` (a ServerConfig) with ``phase``'s settings in place of its own."""
    given = dict(phase.settings)
    faults = dataclasses.replace(config.faults, **{k: given[k] for k in FAULTS if k in given})
    limits = dataclasses.replace(
        config.limits, **{field: given[k] for k, field in LIMITS.items() if k in given}
    )
    config = dataclasses.replace(config, faults=faults, limits=limits)
    if "api_key" in given:
        config = dataclasses.replace(config, api_key=given["api_key"])
    return config


def at(base: ServerConfig, phases: list[Phase], t: float) -> ServerConfig:
    """The settings in force ``t`` seconds after the start."""
    config = base
    for phase in phases:
        if phase.covers(t):
            config = apply_phase(config, phase)
    return config


async def follow(
    base: ServerConfig, phases: list[Phase], apply: Callable[[ServerConfig], None]
) -> None:
    """Call ``apply`` with the settings in force at the start and at every phase's start and
    end, on time, until the last phase ends."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    bounds = sorted({0.0, *(p.at for p in phases), *(p.at + p.seconds for p in phases)})
    for t in bounds:
        if not math.isfinite(t):
            break
        await asyncio.sleep(max(0.0, start + t - loop.time()))
        apply(at(base, phases, t))
