"""Deterministic pseudo-randomness from content, the simulated world's stand-in for decoding.

A real model at temperature 0 gives the same answer to the same prompt; hashing the content gives
the simulation the same property, independent of call order or concurrency.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) determined by ``parts``."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE
