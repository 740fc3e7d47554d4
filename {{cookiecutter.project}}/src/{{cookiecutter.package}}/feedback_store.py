"""Turns and feedback kept on this machine when LangSmith is off, so nothing a user sends is lost.

Two append-only JSONL files under $BOT_FEEDBACK_DIR (default `feedback/`, ignored by git: it holds what users
typed): `turns.jsonl` (question, history, answer, sources of each chat or API turn) and `feedback.jsonl` (a
score and comment on a turn's run_id). Each record is one `write` on a file opened for appending, so several
API worker processes can add to the same files without interleaving lines. `curate` reads them back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DIR = "feedback"
TURNS = "turns.jsonl"
FEEDBACK = "feedback.jsonl"


def store_dir() -> Path:
    return Path(os.environ.get("BOT_FEEDBACK_DIR") or DEFAULT_DIR)


@dataclass(frozen=True)
class StoredTurn:
    """A turn as curate needs it, in the shape of a LangSmith root run (id, start_time, inputs, outputs)."""

    id: str
    start_time: dt.datetime
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    comments: list[str] = field(default_factory=list)


def add_turn(answer: Any, history: list[dict[str, str]] | None = None, directory: Path | None = None) -> None:
    """Keep one answered turn (an Answer) so later feedback on its run_id can become a review case."""
    _append(
        (directory or store_dir()) / TURNS,
        {
            "run_id": answer.run_id,
            "time": _now(),
            "inputs": {"question": answer.question, "history": list(history or [])},
            "outputs": {"answer": answer.text, "sources": [s.source for s in answer.sources]},
            "model": answer.model,
            "provider": answer.provider,
            "versions": answer.versions,
        },
    )


def add_feedback(run_id: str, score: float, comment: str | None, source: str, directory: Path | None = None) -> str:
    feedback_id = str(uuid.uuid4())
    record = {"id": feedback_id, "run_id": run_id, "score": score, "comment": comment, "via": source, "time": _now()}
    _append((directory or store_dir()) / FEEDBACK, record)
    return feedback_id


def scored_below(threshold: float, since: dt.datetime, limit: int, directory: Path | None = None) -> list[StoredTurn]:
    """Stored turns whose latest score is below `threshold`, scored since `since`, oldest first, with every
    comment on them. Feedback on a turn this store never saw (answered elsewhere) has nothing to curate."""
    root = directory or store_dir()
    latest: dict[str, dict[str, Any]] = {}
    comments: dict[str, list[str]] = {}
    for item in _read(root / FEEDBACK):
        latest[item["run_id"]] = item  # the user changed their mind: the last score counts
        if item.get("comment"):
            comments.setdefault(item["run_id"], []).append(item["comment"])
    wanted = {run_id for run_id, item in latest.items() if item["score"] < threshold and _time(item) >= since}
    turns = [
        StoredTurn(t["run_id"], _time(t), t["inputs"], t["outputs"], comments.get(t["run_id"], []))
        for t in _read(root / TURNS)
        if t["run_id"] in wanted
    ]
    return sorted(turns, key=lambda t: t.start_time)[:limit]


def _append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # user text: owner only
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: the rest of the file is still good
    return records


def _time(record: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(record["time"])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
