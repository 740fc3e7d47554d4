"""The sticky PR comment: one bot comment per PR holding the latest eval report, updated in place.

The report comes from an artifact uploaded by the PR's own (untrusted) workflow run, so it is treated as data:
three files are read without following symlinks, size-capped and schema-checked, and nothing in the artifact is
executed, imported or interpreted (the report is markdown, posted as text). Other files in it are ignored.

    verdict.json  a JSON object: schema 2, verdict PASS|FAIL|WORSE?|INCONCLUSIVE|ERROR, mode pr|release|nightly,
                  exit_code 0..3 (other keys are not read)
    report.md     UTF-8, at most 60,000 bytes, first line exactly the report marker
    pr.json       exactly {"number": <PR number>, "head_sha": <40 lowercase hex>}

The PR is verified against GitHub, not the artifact: its current head commit must be the commit the workflow
run evaluated, so a forged pr.json cannot put a report on another PR.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.ci.errors import BadInput
from evalharness.report.markdown import MARKER, MAX_BYTES

VERDICTS = ("PASS", "FAIL", "WORSE?", "INCONCLUSIVE", "ERROR")
MODES = ("pr", "release", "nightly")
MAX_JSON_BYTES = {"verdict.json": 10_000_000, "pr.json": 1_000}
SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Artifact:
    number: int
    head_sha: str
    verdict: str
    mode: str
    exit_code: int
    report: str


def load_artifact(artifact_dir: Path) -> Artifact:
    """The validated content of an eval artifact; BadInput (exit 2) naming the first problem found."""
    artifact_dir = Path(artifact_dir)
    if artifact_dir.is_symlink() or not artifact_dir.is_dir():
        raise BadInput(f"{artifact_dir}: not a directory")
    verdict = _json_object(artifact_dir, "verdict.json")
    _expect(verdict, "verdict.json", "schema", lambda v: _is_int(v) and v == 2, "2")
    _expect(verdict, "verdict.json", "verdict", lambda v: v in VERDICTS, " | ".join(VERDICTS))
    _expect(verdict, "verdict.json", "mode", lambda v: v in MODES, " | ".join(MODES))
    _expect(verdict, "verdict.json", "exit_code", lambda v: _is_int(v) and 0 <= v <= 3, "an integer 0..3")
    pr = _json_object(artifact_dir, "pr.json")
    if set(pr) != {"number", "head_sha"}:
        raise BadInput(f"pr.json: expected exactly the keys number and head_sha, got {sorted(pr)[:5]}")
    _expect(pr, "pr.json", "number", lambda v: _is_int(v) and v > 0, "a positive integer")
    _expect(pr, "pr.json", "head_sha", lambda v: isinstance(v, str) and SHA.fullmatch(v), "40 lowercase hex digits")
    raw = _read_regular(artifact_dir / "report.md", MAX_BYTES)
    try:
        report = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("report.md: not UTF-8 text") from None
    if report.split("\n", 1)[0] != MARKER:
        raise BadInput(f"report.md: the first line must be exactly {MARKER}")
    if "\x00" in report:
        raise BadInput("report.md: contains a NUL byte")
    return Artifact(pr["number"], pr["head_sha"], verdict["verdict"], verdict["mode"], verdict["exit_code"], report)


def sticky_comment(api: Any, pr_number: int | None, artifact_dir: Path, head_sha: str) -> tuple[str, int]:
    """Post or update the PR's one report comment: ("created" | "updated", comment id).

    `head_sha` is the commit the workflow run evaluated (from the workflow_run event, not from the artifact);
    `pr_number` None takes the number from the validated pr.json.
    """
    if not SHA.fullmatch(head_sha or ""):
        raise BadInput(f"--head-sha must be 40 lowercase hex digits, got {head_sha!r}")
    artifact = load_artifact(artifact_dir)
    number = artifact.number if pr_number is None else pr_number
    if artifact.number != number:
        raise BadInput(f"refused: pr.json names PR #{artifact.number}, not #{number}")
    if artifact.head_sha != head_sha:
        raise BadInput(f"refused: pr.json says head {artifact.head_sha}, but the workflow run evaluated {head_sha}")
    pull = api.get_pull(number)
    actual = (pull.get("head") or {}).get("sha") if isinstance(pull, dict) else None
    if actual != head_sha:
        raise BadInput(
            f"refused: PR #{number} is at {actual}, not at the evaluated commit {head_sha}"
            " (pushed again since this run, or pr.json names another PR): no comment posted"
        )
    body = comment_body(artifact, head_sha)
    for existing in api.list_issue_comments(number):
        author = existing.get("user") or {}
        if str(existing.get("body") or "").startswith(MARKER) and author.get("type") == "Bot":
            api.update_issue_comment(existing["id"], body)
            return "updated", int(existing["id"])
    created = api.create_issue_comment(number, body)
    return "created", int(created["id"])


# "@name" in a report (a bot answer quoting a PR's prompt, say) would ping people under the bot's name.
MENTION = re.compile(r"@(?=[A-Za-z0-9])")


def comment_body(artifact: Artifact, head_sha: str) -> str:
    footer = (
        f"<sub>Eval gate verdict {artifact.verdict} (mode {artifact.mode}, exit {artifact.exit_code})"
        f" for commit {head_sha}. This comment is updated on every run.</sub>"
    )
    report = MENTION.sub("@\u200b", artifact.report.rstrip())  # a zero-width space keeps the text, not the ping
    return f"{report}\n\n---\n{footer}\n"


def _json_object(artifact_dir: Path, name: str) -> dict[str, Any]:
    raw = _read_regular(artifact_dir / name, MAX_JSON_BYTES[name])
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{name}: expected a JSON object")
    return data


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file, never through a symlink, at most `limit` of them."""
    name = path.name
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise BadInput(f"{name}: is a symlink (the artifact may hold regular files only)")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # no symlink race, no blocking on a FIFO
    except FileNotFoundError:
        raise BadInput(f"{name}: missing from the artifact") from None
    except OSError as exc:
        raise BadInput(f"{name}: cannot be read as a regular file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise BadInput(f"{name}: not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise BadInput(f"{name}: larger than {limit:,} bytes")
    return data


def _expect(data: dict[str, Any], name: str, key: str, valid: Any, wanted: str) -> None:
    if key not in data:
        raise BadInput(f"{name}: missing key {key!r}")
    if not valid(data[key]):
        raise BadInput(f"{name}: {key} must be {wanted}, got {_shown(data[key])}")


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
