"""What went wrong with a call, in words: a hung server, a reply that is not JSON, a connection cut mid-answer
are different problems with different fixes, and a bare exception name says none of that. Server addresses
are left out: reasons land in results dirs, reports and artifacts that others can read."""

from __future__ import annotations

import re

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]+", re.IGNORECASE)

# (words in an exception's class name or message, anywhere in its chain) -> what happened
_KINDS = (
    (("JSONDecodeError", "Expecting value", "invalid JSON"), "the server sent invalid JSON"),
    (("RemoteProtocolError", "IncompleteRead", "peer closed connection", "incomplete chunked read"),
     "the connection closed mid-answer"),
    (("Timeout", "timed out"), "the server did not answer in time"),
    (("ConnectError", "Connection refused", "Name or service not known", "APIConnectionError"),
     "could not connect to the server"),
)  # fmt: skip


def describe(exc: BaseException) -> str:
    """One line: what happened (when recognisable), then the exception's own words, addresses removed."""
    chain = _chain(exc)
    status = next(
        (getattr(e, "status_code", None) for e in chain if isinstance(getattr(e, "status_code", None), int)), None
    )
    text = " ".join(f"{type(e).__name__} {e}" for e in chain)
    if status is not None:
        what = f"the server answered HTTP {status}"
    else:
        what = next((label for words, label in _KINDS if any(w.lower() in text.lower() for w in words)), None)
    detail = redact(f"{type(exc).__name__}: {exc}")
    return f"{what} ({detail})" if what else detail


def redact(text: str) -> str:
    return _URL.sub("<server>", text)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen
