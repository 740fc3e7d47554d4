"""Model and judge calls: a sqlite cache, a rate limit for live calls, and counters.

Cache key: provider, model, the full messages (or judge prompt), params, seed and the repeat index, so
repeats of a noisy model stay distinct while an unchanged run replays exactly. Errors are never cached, nor
is a reply its caller cannot use (`validate`: a judge reply that is not JSON, an empty or filtered answer):
the next run really asks again, and a bad reply already in the cache is dropped when it is met.
The latency of the original call is stored and replayed, so latency metrics and budgets give the same
verdict whether an answer came from the model or from the cache.

Modes: live (use the cache, call on a miss), replay (cache only: a miss is "not evaluated"),
refresh (always call, overwrite the cache).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Mode = Literal["live", "replay", "refresh"]
MODES: tuple[Mode, ...] = ("live", "replay", "refresh")

# Which repeat of which case is being evaluated on this thread: part of every cache key.
current_repeat: contextvars.ContextVar[int] = contextvars.ContextVar("current_repeat", default=0)


class NotEvaluated(Exception):
    """Replay mode and the call is not in the cache: the case is neither passed nor failed."""


class RateLimiter:
    """At most `per_minute` calls, spread evenly (a token bucket with a burst of one second's worth)."""

    def __init__(self, per_minute: float, clock=time.monotonic, sleep=time.sleep):  # tests pass a fake clock
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self.updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1 - 1e-9:  # rounding must not leave a caller sleeping for nothing, forever
                    self.tokens = max(0.0, self.tokens - 1)
                    return
                wait = (1 - self.tokens) / self.rate
            self._sleep(wait)


@dataclass
class CallStats:
    live: int = 0
    cached: int = 0
    errors: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # live calls per kind ("model", "judge")
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)  # "kind:model" -> prompt/completion tokens
    live_tokens: dict[str, dict[str, int]] = field(default_factory=dict)  # the same, live calls only (spent now)


class ModelCalls:
    """The one door every model and judge call of an eval run goes through."""

    def __init__(self, cache_path: Path | None, mode: Mode = "live", per_minute: float = 600):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.limiter = RateLimiter(per_minute)
        self.stats = CallStats()
        self._lock = threading.Lock()
        self._waiting: dict[int, float] = {}  # live calls under way: id -> when each started
        self._last_answer = time.monotonic()  # when a live call last came back, answered or failed
        self._db: sqlite3.Connection | None = None
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _open_cache(cache_path)

    def call(
        self,
        kind: str,
        key_material: dict[str, Any],
        compute: Callable[[], dict[str, Any]],
        limited: bool = True,
        validate: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Return the cached record for this call, or compute it (a JSON-able dict) and cache it.

        The returned record gets `latency_ms` (of the original call) and `cached` (True when replayed).
        `limited=False` for calls that reach no remote service (a local stand-in model): no rate limit.
        `validate(record)` raises when the reply is unusable: such a reply is an error, and never cached.
        """
        key = cache_key(kind, key_material, current_repeat.get())
        if self.mode != "refresh":
            hit = self._get(key)
            if hit is not None and validate is not None and not _usable(hit, validate):
                self._delete(key)  # cached by an older version that did not check: ask again
                hit = None
            if hit is not None:
                with self._lock:
                    self.stats.cached += 1
                self._count(kind, hit, live=False)
                return {**hit, "cached": True}
        if self.mode == "replay":
            raise NotEvaluated(f"{kind} call not in the cache (replay mode)")
        if limited:
            self.limiter.acquire()
        started = time.perf_counter()
        ticket = self._begin()
        try:
            record = compute()
            if validate is not None:
                validate(record)
        except Exception:
            with self._lock:
                self.stats.errors += 1
            raise  # never cached: the next run tries again
        finally:
            self._end(ticket)
        record = {**record, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
        self._put(key, kind, record)
        with self._lock:
            self.stats.live += 1
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        self._count(kind, record, live=True)
        return {**record, "cached": False}

    def stalled_for(self) -> float:
        """How long the oldest live call has waited with no call coming back meanwhile (0: nothing waits)."""
        with self._lock:
            if not self._waiting:
                return 0.0
            return time.monotonic() - max(min(self._waiting.values()), self._last_answer)

    def _begin(self) -> int:
        with self._lock:
            ticket = id(threading.current_thread()) ^ int(time.monotonic() * 1e9)
            self._waiting[ticket] = time.monotonic()
            return ticket

    def _end(self, ticket: int) -> None:
        with self._lock:
            self._waiting.pop(ticket, None)
            self._last_answer = time.monotonic()

    def _count(self, kind: str, record: dict[str, Any], live: bool) -> None:
        """Token totals per (kind, model): all calls (what the run is worth) and live ones (what it spent)."""
        if not record.get("usage"):
            return
        key = f"{kind}:{record.get('model', '')}"
        with self._lock:
            for totals in (self.stats.tokens, self.stats.live_tokens) if live else (self.stats.tokens,):
                total = totals.setdefault(key, {"prompt_tokens": 0, "completion_tokens": 0})
                for name in total:
                    total[name] += int(record["usage"].get(name, 0) or 0)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _get(self, key: str) -> dict[str, Any] | None:
        if self._db is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT value FROM calls WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def _delete(self, key: str) -> None:
        if self._db is not None:
            with self._lock:
                self._db.execute("DELETE FROM calls WHERE key = ?", (key,))

    def _put(self, key: str, kind: str, record: dict[str, Any]) -> None:
        if self._db is None:
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls (key, kind, value, created) VALUES (?, ?, ?, ?)",
                (key, kind, json.dumps(record, sort_keys=True), time.time()),
            )


def _open_cache(path: Path, wait_s: float = 30.0) -> sqlite3.Connection:
    """The cache, shared by every process of a run (eval shards, promptfoo's Python workers). Switching a new
    file to WAL takes a lock that SQLite's busy timeout does not wait for, so processes starting together
    retry the setup instead of failing with "database is locked"."""
    deadline = time.monotonic() + wait_s
    while True:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=wait_s)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # Durable when the process dies, not across a power cut (which can only cost cached calls): with
            # the default (FULL) every cached call waits for an fsync, seconds per thousand calls.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, kind TEXT, value TEXT, created REAL)")
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _usable(record: dict[str, Any], validate: Callable[[dict[str, Any]], None]) -> bool:
    try:
        validate(record)
    except Exception:
        return False
    return True


def cache_key(kind: str, key_material: dict[str, Any], repeat: int) -> str:
    payload = json.dumps({"kind": kind, "repeat": repeat, **key_material}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
