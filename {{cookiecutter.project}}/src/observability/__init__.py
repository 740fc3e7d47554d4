"""The LangSmith connection shared by the bot and the eval harness: on only when configured, never in the way.

On when LANGSMITH_API_KEY is set (unless LANGSMITH_TRACING=false) or LANGSMITH_TRACING=true; off and silent
otherwise. An endpoint that is down, failing or hanging must leave answers, eval results and exit codes exactly
as with tracing off, so the process-wide client has short timeouts, no retries and daemon sender threads, the
flush at exit is bounded, and the SDK's many log lines become one warning line that never carries the key.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langsmith import Client

FLUSH_BUDGET_S = 3.0  # the most a process ever waits for its traces, over all flushes together
BATCH_FLUSH_BUDGET_S = 20.0  # the same for a batch job (an eval run) whose hundreds of traces queue up
CONNECT_TIMEOUT_MS = 2000
READ_TIMEOUT_MS = 3000
DEFAULT_API_URL = "https://api.smith.langchain.com"

_lock = threading.Lock()
_client: Client | None = None
_flush_spent_s = 0.0
_given_up = threading.Event()  # set after a failure: the rest of the process runs untraced


def enabled() -> bool:
    """Configured, and not given up on after a failure in this process."""
    return configured() and not _given_up.is_set()


def configured() -> bool:
    switch = os.environ.get("LANGSMITH_TRACING", "").strip().lower()
    if switch in ("false", "0", "no", "off"):
        return False
    return switch == "true" or bool(os.environ.get("LANGSMITH_API_KEY"))


def api_url() -> str:
    return os.environ.get("LANGSMITH_ENDPOINT") or DEFAULT_API_URL


def client() -> Client | None:
    """The process's client, created on first use; None when LangSmith is off or could not be set up."""
    global _client
    if not enabled():
        return None
    with _lock:
        if _client is None and not _given_up.is_set():
            try:
                _client = _connect()
            except Exception as exc:  # bad LANGSMITH_* settings: the bot answers untraced, and says so once
                give_up(f"{type(exc).__name__}: {exc}")
        return _client


def flush(budget_s: float = FLUSH_BUDGET_S) -> bool:
    """Send what is queued, within what is left of the process's flush budget; True when all was sent.
    An endpoint already given up on (down, hanging) costs nothing more."""
    global _flush_spent_s
    if _client is None or _client.tracing_queue is None:
        return True
    if _given_up.is_set():
        return False
    started = time.monotonic()
    try:
        _client.flush(timeout=max(0.0, budget_s - _flush_spent_s))
    except Exception as exc:  # a failed flush loses traces, never the answer
        give_up(str(exc))
        return False
    finally:
        _flush_spent_s += time.monotonic() - started
    if _client.tracing_queue.unfinished_tasks:
        give_up("flush timed out")
        return False
    return True


def give_up(reason: str) -> None:
    """Stop tracing for the rest of this process (one warning): an endpoint that failed once costs no more time."""
    _given_up.set()
    warn_once(reason)


def reset() -> None:
    """Forget the client and any failure (tests switch endpoints between cases)."""
    global _client, _flush_spent_s
    _warned.set()  # what the last test left unsent is not worth a warning in the next one
    flush()
    with _lock:
        _client = None
        _flush_spent_s = 0.0
        _given_up.clear()
        _warned.clear()


def _connect() -> Client:
    from urllib3.util.retry import Retry

    # Sender threads must not keep a finished process alive while an endpoint hangs (the SDK reads this once).
    os.environ.setdefault("LANGSMITH_USE_DAEMON", "true")
    os.environ.setdefault("LANGSMITH_DISABLE_RUN_COMPRESSION", "true")
    from langsmith import Client, utils

    utils.get_env_var.cache_clear()
    _OneWarning.install()
    made = Client(
        api_url=api_url(),
        api_key=os.environ.get("LANGSMITH_API_KEY") or None,
        timeout_ms=(CONNECT_TIMEOUT_MS, READ_TIMEOUT_MS),
        retry_config=Retry(total=0),  # a failed batch is dropped: a trace is never worth a slower answer
        omit_traced_runtime_info=True,  # no environment dump in every run
    )
    atexit.register(flush)
    return made


class _OneWarning(logging.Handler):
    """Routes everything the SDK logs (a flood when an endpoint is down) into one warning per process."""

    installed = False

    @classmethod
    def install(cls) -> None:
        if not cls.installed:
            sdk = logging.getLogger("langsmith")
            sdk.addHandler(cls(logging.WARNING))
            sdk.propagate = False
            cls.installed = True

    def emit(self, record: logging.LogRecord) -> None:
        warn_once(record.getMessage())


_warned = threading.Event()
_warn_lock = threading.Lock()


def warn_once(text: str) -> None:
    """One stderr line per process, naming the endpoint and the kind of failure; the SDK's text (which may
    contain a masked key) is only classified, never printed."""
    with _warn_lock:  # sender threads and eval workers can fail at the same moment
        if _warned.is_set():
            return
        _warned.set()
    endpoint = _client.api_url if _client is not None else api_url()  # where traces really went
    print(
        f"warning: LangSmith at {endpoint} is not taking traces ({describe_failure(text)}); "
        "answers are unaffected, traces from this process may be lost",
        file=sys.stderr,
    )


def describe_failure(text: str) -> str:
    """The kind of failure in an SDK message, without repeating the message (it may hold a masked key)."""
    for pattern, reason in (
        (r"\b(\d{3}) (?:Server Error|Client Error)|status(?: code)?[ =:]+(\d{3})", "HTTP {}"),
        (r"timed? ?out", "timed out"),
        (r"Connection ?(?:refused|Error)|Failed to establish|Max retries exceeded", "cannot connect"),
    ):
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            return reason.format(next((g for g in match.groups() if g), "")) if "{}" in reason else reason
    return "request failed"
