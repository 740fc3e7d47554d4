"""User feedback on answers, and the loop back into the eval datasets.

`record` attaches a user's score to the trace of the turn it is about (the answer's run_id) in LangSmith, or,
when LangSmith is off, keeps it in the local store (feedback_store.py) beside the turn itself. `curate` pulls the
turns users scored badly, from either, into evals/review/inbox.yaml: a review queue in the dataset format, so a
reviewed case moves into a suite's dataset as it is. The inbox is only ever appended to: a reviewer's edits stay.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import observability

from {{ cookiecutter.package }} import feedback_store
from {{ cookiecutter.package }}.tracing import project_name

FEEDBACK_KEY = "user_score"  # 1 = helpful, 0 = not; what LangSmith shows as the feedback column
NEGATIVE_BELOW = 0.5
DATASETS = Path("evals/datasets")
INBOX = Path("evals/review/inbox.yaml")  # outside datasets/: nothing in it is an eval case until reviewed
# Every run curate has taken, so a turn a reviewer deleted from the inbox (rejected) does not come back.
CURATED_RUNS = "curated-runs.txt"
INBOX_HEADER = """\
# Turns users scored as unhelpful, written by `{{ cookiecutter.project }} curate`; review before use.
# For each case: check the question, fill in `expect` (facts, sources, refuse), then move it into a suite's
# dataset (e.g. evals/datasets/support.yaml). Curate only appends: edits and deletions here are kept.
description: Turns users scored as unhelpful, awaiting review
cases:
"""


class FeedbackError(Exception):
    exit_code = 3  # LangSmith unreachable or refused


class InvalidFeedback(FeedbackError):
    exit_code = 2


class InboxFileError(FeedbackError):
    exit_code = 2  # the inbox was edited into a shape curate cannot append to safely


@dataclass(frozen=True)
class Recorded:
    feedback_id: str
    stored: str  # "langsmith" or the local store's directory


def remember(answer: Any, history: list[dict[str, str]] | None = None) -> None:
    """Keep a turn in the local store when LangSmith is off (with LangSmith on, its trace is the record)."""
    if not observability.configured():
        feedback_store.add_turn(answer, history)


def record(run_id: str, score: float, comment: str | None = None, source: str = "cli") -> Recorded:
    """Attach a user's score (0..1) and comment to the turn `run_id`: on its LangSmith trace, or in the local
    store when LangSmith is off."""
    try:
        run = uuid.UUID(run_id)
    except ValueError:
        raise InvalidFeedback(f"run id {run_id!r} is not a UUID (use the run_id an answer returned)") from None
    if not 0.0 <= score <= 1.0:
        raise InvalidFeedback(f"score {score} is out of range: use 0 (unhelpful) to 1 (helpful)")
    if not observability.configured():
        return Recorded(feedback_store.add_feedback(str(run), score, comment, source), str(feedback_store.store_dir()))
    client = _client()
    try:
        made = client.create_feedback(
            run,
            session_id=_project_id(client),
            key=FEEDBACK_KEY,
            score=score,
            comment=comment or None,
            source_info={"via": source},
            stop_after_attempt=2,
        )
    except Exception as exc:  # LangSmithError, or ValueError from a server that requires a session id
        raise FeedbackError(
            f"LangSmith did not take the feedback: {observability.describe_failure(str(exc))}"
        ) from None
    return Recorded(str(made.id), "langsmith")


@dataclass
class Curated:
    added: list[str]  # case ids appended to the inbox
    known: int  # negative turns whose question is already a case or in the inbox
    source: str  # where the turns came from: "langsmith" or the local store's directory


def curate(days: int = 30, limit: int = 200, datasets: Path = DATASETS, inbox: Path = INBOX) -> Curated:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    if observability.configured():
        runs, source = _badly_scored_in_langsmith(since, limit), "langsmith"
    else:
        runs = feedback_store.scored_below(NEGATIVE_BELOW, since, limit)
        source = str(feedback_store.store_dir())
    ledger = inbox.with_name(CURATED_RUNS)
    text = inbox.read_text(encoding="utf-8") if inbox.exists() else INBOX_HEADER
    before = _count_cases(inbox, text)
    curated = set(ledger.read_text(encoding="utf-8").split()) if ledger.exists() else set()
    seen = known_questions([*sorted(datasets.glob("*.yaml")), inbox]) | curated
    added, known, blocks = [], 0, []
    for run in sorted(runs, key=lambda r: r.start_time):
        case = candidate_case(run.id, run.inputs or {}, run.outputs or {})
        if case is None:
            continue
        key = _normalize(case.get("input") or case["messages"][-1]["content"])
        if str(run.id) in seen or key in seen or case["id"] in seen:
            known += 1
            continue
        seen.update({key, case["id"], str(run.id)})
        added.append(case["id"])
        blocks.append(_render(case, run, run.comments))
        curated.add(str(run.id))
    if blocks:
        text = (text if text.endswith("\n") else text + "\n") + "".join(blocks)
        if _count_cases(inbox, text) != before + len(blocks):
            raise InboxFileError(f"{inbox}: appended cases would not parse as `cases:` items; fix the file")
        inbox.parent.mkdir(parents=True, exist_ok=True)
        _replace(inbox, text)
        _replace(ledger, "".join(f"{run_id}\n" for run_id in sorted(curated)))
    return Curated(added, known, source)


def _badly_scored_in_langsmith(since: dt.datetime, limit: int) -> list[feedback_store.StoredTurn]:
    client = _client()
    try:
        runs = _scored_below(client, since, limit)
        comments = _comments(client, [run.id for run in runs])
    except Exception as exc:
        raise FeedbackError(f"could not read runs from LangSmith: {observability.describe_failure(str(exc))}") from None
    return [
        feedback_store.StoredTurn(str(r.id), r.start_time, r.inputs or {}, r.outputs or {}, comments.get(str(r.id), []))
        for r in runs
    ]


def _scored_below(client: Any, since: dt.datetime, limit: int) -> list[Any]:
    """The root runs of this project scored below the bar since `since`. An instance with the new run store
    (its /info says `sdb_query_enabled`) is asked through the runs query API, the successor of `list_runs`,
    which the SDK deprecates for removal after 2027-01-31; an older instance answers only `list_runs`."""
    bad = f'and(eq(feedback_key, "{FEEDBACK_KEY}"), lt(feedback_score, {NEGATIVE_BELOW}))'
    if (client.info.instance_flags or {}).get("sdb_query_enabled"):
        project_id = _project_id(client)
        return asyncio.run(_query_runs(client, project_id, bad, since, limit)) if project_id else []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"list_runs\(\) is deprecated", category=DeprecationWarning)
        found = client.list_runs(project_name=project_name(), is_root=True, start_time=since, filter=bad, limit=limit)
        return list(found)


async def _query_runs(client: Any, project_id: str, bad: str, since: dt.datetime, limit: int) -> list[Any]:
    pages = client.runs.query_v2(
        project_ids=[project_id],
        is_root=True,
        filter=bad,
        min_start_time=since,
        page_size=min(limit, 1000),
        selects=["ID", "START_TIME", "INPUTS", "OUTPUTS"],
    )
    found: list[Any] = []
    async for run in pages:
        found.append(run)
        if len(found) >= limit:
            break
    return found


def candidate_case(run_id: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any] | None:
    question = str(inputs.get("question") or "").strip()
    if not question:
        return None
    case: dict[str, Any] = {"id": f"feedback-{str(run_id).replace('-', '')[-12:]}"}
    history = [m for m in inputs.get("history") or [] if m.get("role") in ("user", "assistant") and m.get("content")]
    if history:
        case["messages"] = [*history, {"role": "user", "content": question}]
    else:
        case["input"] = question
    case["expect"] = {"facts": [], "sources": [], "refuse": None}
    case["tags"] = ["from-feedback"]
    return case


def known_questions(files: list[Path]) -> set[str]:
    """Every case id and (normalized) question in these dataset files (the inbox among them)."""
    seen: set[str] = set()
    for path in files:
        if not path.is_file():
            continue
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue  # a file mid-edit must not stop curation; its cases are simply not known
        for case in document.get("cases") or []:
            if not isinstance(case, dict):
                continue
            seen.add(str(case.get("id")))
            question = case.get("input") or ((case.get("messages") or [{}])[-1] or {}).get("content")
            if question:
                seen.add(_normalize(str(question)))
    return seen


def _count_cases(path: Path, text: str) -> int:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InboxFileError(f"{path}: not valid YAML ({exc.__class__.__name__}); fix the file") from None
    if not isinstance(document, dict) or "cases" not in document:
        raise InboxFileError(f"{path}: expected a `cases:` list; fix the file")
    cases = document["cases"] or []  # a bare `cases:` (the header alone) is an empty list
    if not isinstance(cases, list):
        raise InboxFileError(f"{path}: expected a `cases:` list; fix the file")
    return len(cases)


def _replace(path: Path, text: str) -> None:
    """Write whole or not at all: an interrupted curate never leaves a truncated file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _render(case: dict[str, Any], run: Any, comments: list[str]) -> str:
    answer = " ".join(str((run.outputs or {}).get("answer", "")).split())
    notes = [f"run {run.id}, {run.start_time:%Y-%m-%d}"]
    notes += [f"user said: {' '.join(c.split())}" for c in comments]
    notes.append(f"bot answered: {answer[:300]}{'...' if len(answer) > 300 else ''}")
    body = yaml.safe_dump([case], sort_keys=False, allow_unicode=True, width=110)
    return "".join(f"  # {line}\n" for line in notes) + "".join(f"  {line}\n" for line in body.splitlines())


def _comments(client: Any, run_ids: list[Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if run_ids:
        for item in client.list_feedback(run_ids=run_ids, feedback_key=[FEEDBACK_KEY]):
            if item.comment:
                found.setdefault(str(item.run_id), []).append(item.comment)
    return found


def _project_id(client: Any) -> str | None:
    """The id of the project the turns are traced to (LangSmith wants it with feedback); None before its first
    trace has arrived."""
    from langsmith.utils import LangSmithNotFoundError

    for attempt in range(2):
        try:
            return str(client.read_project(project_name=project_name()).id)
        except LangSmithNotFoundError:
            if attempt == 0:
                observability.flush()  # the turn may still sit in this process's queue (an API worker)
    return None


def _client():
    client = observability.client()  # only asked when LangSmith is configured
    if client is None:
        raise FeedbackError("LangSmith is configured but its client could not be set up (see the warning above)")
    return client


def _normalize(question: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", question.lower()))
