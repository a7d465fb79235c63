"""A persistent cache of LLM answers, so re-running a notebook or resuming a run does not pay
again for work already done.

The key is a hash of what determines an answer: the backend that answers (its origin: an
endpoint's base URL, or the simulated world's identity and version), model, messages, sampling
parameters (which include the request's seed) and the example id; nothing about the run. So two
runs, or two notebooks, on one backend share what they have in common, and two backends serving
models of the same names never do. Each answer records whether it was simulated, so a result
served from the cache is labelled as its answers were.

Storage is SQLite in WAL mode: a commit is atomic, so a process killed at any moment (kill -9
included) leaves every committed answer readable and never a torn one, and several processes can
share one file (writers wait ``busy_timeout``).

Writes are batched (every ``flush_every`` answers or ``flush_seconds``), which keeps the cost
per call in microseconds; a kill loses at most the answers of the last batch, never the file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .provider import ChatRequest, ChatResponse

SCHEMA_VERSION = 2  # 2: the backend's origin in the key; a simulated flag per answer


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    response: ChatResponse
    latency: float  # seconds the original call took (replayed on a virtual clock)
    simulated: bool  # answered by a simulated world


def cache_key(request: ChatRequest, example_id: str | None, origin: str) -> str:
    payload = [
        origin,
        request.model,
        request.messages,
        request.temperature,
        request.max_tokens,
        request.seed,
        example_id,
    ]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


class EvalCache:
    """Answers by :func:`cache_key`, in the SQLite file at ``path`` (created if missing)."""

    def __init__(self, path: str | Path, flush_every: int = 256, flush_seconds: float = 0.5):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection, used from whichever thread runs the event loop (never two at once).
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, atomic
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT, text TEXT,"
                " prompt_tokens INTEGER, completion_tokens INTEGER, latency REAL, origin TEXT,"
                " simulated INTEGER) WITHOUT ROWID"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self._db.commit()
            (version,) = self._db.execute(
                "SELECT value FROM meta WHERE name='schema_version'"
            ).fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise ValueError(f"cannot use {self.path} as an evaluation cache: {exc}") from None
        if version != str(SCHEMA_VERSION):
            raise ValueError(
                f"{self.path} is an evaluation cache of schema {version}, this gepa_lab writes "
                f"schema {SCHEMA_VERSION}: use another path or delete the file"
            )
        self.flush_every, self.flush_seconds = flush_every, flush_seconds
        self._pending: dict[str, tuple[str, ChatResponse, float, str, bool]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.hits = 0
        self.simulated_hits = 0

    def get(self, key: str) -> CachedAnswer | None:
        pending = self._pending.get(key)
        if pending is not None:
            hit = CachedAnswer(pending[1], pending[2], pending[4])
        else:
            row = self._db.execute(
                "SELECT text, prompt_tokens, completion_tokens, latency, simulated FROM answers"
                " WHERE key=?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            hit = CachedAnswer(ChatResponse(row[0], row[1], row[2]), row[3], bool(row[4]))
        self.hits += 1
        self.simulated_hits += hit.simulated
        return hit

    def known(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` have an answer here."""
        found = {k for k in keys if k in self._pending}
        rest = [k for k in keys if k not in found]
        for start in range(0, len(rest), 500):
            chunk = rest[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key FROM answers WHERE key IN ({marks})", chunk)
            found.update(k for (k,) in rows)
        return found

    def put(
        self,
        key: str,
        model: str,
        response: ChatResponse,
        latency: float,
        origin: str,
        simulated: bool,
    ) -> None:
        self._pending[key] = (model, response, latency, origin, simulated)
        if len(self._pending) >= self.flush_every:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
            else:
                self._timer = loop.call_later(self.flush_seconds, self.flush)

    def flush(self) -> None:
        """Commit pending answers in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        rows = [
            (k, m, r.text, r.prompt_tokens, r.completion_tokens, lat, origin, int(sim))
            for k, (m, r, lat, origin, sim) in self._pending.items()
        ]
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._db.close()
