"""The sticky PR comment: one bot comment per PR holding the latest eval verdict, updated in place.

The data comes from an artifact uploaded by the PR's own (untrusted) workflow run, so this trusted job never
posts text the PR's code wrote as markdown: it renders the comment itself, from verdict.json fields that are
checked one by one (verdict words from a fixed list, numbers as numbers, names as plain identifiers), with
every free text (the headline, what each case lost, notes) escaped so it reads as text, and @mentions
defused. The verdict shown must agree with the check's own conclusion (passed in by the workflow, from the
workflow_run event), or nothing is posted. Files are read without following symlinks and size-capped;
nothing in the artifact is executed, and report.md is not read at all.

    verdict.json  a JSON object: schema 2, verdict PASS|FAIL|WORSE?|INCONCLUSIVE|ERROR, mode pr|release|nightly,
                  exit_code 0..3, and the tables rendered below
    pr.json       exactly {"number": <PR number>, "head_sha": <40 lowercase hex>}

The PR is verified against GitHub, not the artifact: its current head commit must be the commit the workflow
run evaluated, so a forged pr.json cannot put a comment on another PR.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.ci.errors import BadInput
from evalharness.report import fmt
from evalharness.report.markdown import MARKER

VERDICTS = ("PASS", "FAIL", "WORSE?", "INCONCLUSIVE", "ERROR")
ROW_VERDICTS = (*VERDICTS, "SKIPPED", "NO_BASELINE")
MODES = ("pr", "release", "nightly")
CONCLUSIONS = ("success", "failure")  # the check's own outcome: success exactly when the gate exited 0
MAX_JSON_BYTES = {"verdict.json": 10_000_000, "pr.json": 1_000}
SHA = re.compile(r"[0-9a-f]{40}")
NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,160}")  # a metric name or suite/case id
TEXT_CHARS = 400
ROWS = 30
CASES_SHOWN = 8


@dataclass(frozen=True)
class Artifact:
    number: int
    head_sha: str
    verdict: dict[str, Any]


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
    return Artifact(pr["number"], pr["head_sha"], verdict)


def sticky_comment(
    api: Any, pr_number: int | None, artifact_dir: Path, head_sha: str, conclusion: str
) -> tuple[str, int]:
    """Post or update the PR's one report comment: ("created" | "updated", comment id).

    `head_sha` and `conclusion` come from the workflow_run event (the commit the run evaluated and how its
    check ended), not from the artifact; `pr_number` None takes the number from the validated pr.json.
    """
    if not SHA.fullmatch(head_sha or ""):
        raise BadInput(f"--head-sha must be 40 lowercase hex digits, got {head_sha!r}")
    if conclusion not in CONCLUSIONS:
        raise BadInput(f"--conclusion must be one of {', '.join(CONCLUSIONS)}, got {conclusion!r}")
    artifact = load_artifact(artifact_dir)
    body = comment_body(artifact.verdict, head_sha, conclusion)  # every field checked before GitHub is asked
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
    for existing in api.list_issue_comments(number):
        author = existing.get("user") or {}
        if str(existing.get("body") or "").startswith(MARKER) and author.get("type") == "Bot":
            api.update_issue_comment(existing["id"], body)
            return "updated", int(existing["id"])
    created = api.create_issue_comment(number, body)
    return "created", int(created["id"])


# "@name" in a report (a bot answer quoting a PR's prompt, say) would ping people under the bot's name.
MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def plain(value: Any, limit: int = TEXT_CHARS) -> str:
    """Free text from the PR's run, made to read as text: one line, no HTML, no markdown, no pings."""
    if not isinstance(value, str):
        raise BadInput(f"verdict.json: expected text, got {_shown(value)}")
    text = " ".join(value.split())
    text = text if len(text) <= limit else text[:limit] + "…"
    text = _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))
    return MENTION.sub("@\u200b", text)  # a zero-width space keeps the text, not the ping


def comment_body(verdict: dict[str, Any], head_sha: str, conclusion: str) -> str:
    """The comment, rendered here from checked fields of verdict.json."""
    overall, code, mode = verdict["verdict"], verdict["exit_code"], verdict["mode"]
    if (code == 0) != (conclusion == "success"):
        raise BadInput(
            f"refused: the artifact says {overall} (exit {code}), but the check's conclusion is {conclusion}: "
            "the report cannot be trusted, so none is posted"
        )
    accepted = verdict.get("accepted") is True and overall == "WORSE?"
    lines = [MARKER, f"## Eval gate: {overall}" + (" (accepted)" if accepted else ""), ""]
    lines.append(
        f"**{overall}** in {fmt.MODE_LABELS[mode]} mode: {html.escape(fmt.meaning({**verdict, 'accepted': accepted}))}"
    )
    if verdict.get("headline") is not None:
        lines += ["", plain(verdict["headline"], 1000)]
    lines += _metric_table(verdict.get("metrics") or [])
    lines += _must_pass(verdict.get("must_pass") or [])
    lines += _regressed(verdict.get("regressions") or [])
    notes = verdict.get("notes") or []
    if not isinstance(notes, list):
        raise BadInput("verdict.json: notes must be a list")
    if notes:
        lines += ["", "**Notes**", ""] + [f"- {plain(n)}" for n in notes[:10]]
    lines += [
        "",
        "---",
        f"<sub>Eval gate verdict {overall} (mode {mode}, exit {code}) for commit {head_sha}, agreeing with the "
        f"check's conclusion ({conclusion}). Rendered by the trusted comment job from the run's verdict.json; the "
        "full report (report.html, report.md) is in the run's eval-results artifact. Updated on every run.</sub>",
    ]
    return "\n".join(lines) + "\n"


def _metric_table(metrics: Any) -> list[str]:
    if not isinstance(metrics, list):
        raise BadInput("verdict.json: metrics must be a list")
    if not metrics:
        return []
    rows = [
        "",
        "| metric | base | head | delta | interval | worse / better | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in metrics[:ROWS]:
        if not isinstance(m, dict):
            raise BadInput("verdict.json: every metric must be an object")
        name, word = _name(m.get("name")), m.get("verdict")
        if word not in ROW_VERDICTS:
            raise BadInput(f"verdict.json: metric {name}: verdict must be one of {', '.join(ROW_VERDICTS)}")
        numbers = [_number(m.get(k)) for k in ("base_mean", "head_mean", "delta", "lower", "upper")]
        moved = f"{_count(m.get('worse'))} / {_count(m.get('better'))}" if "worse" in m else fmt.MISSING
        rows.append(
            f"| {name} | {fmt.score(numbers[0])} | {fmt.score(numbers[1])} | {fmt.signed(numbers[2])} | "
            f"{fmt.interval(numbers[3], numbers[4])} | {moved} | {word} |"
        )
    return rows


def _must_pass(rows: Any) -> list[str]:
    if not isinstance(rows, list):
        raise BadInput("verdict.json: must_pass must be a list")
    broken = [r for r in rows if isinstance(r, dict) and r.get("blocks") is True]
    if not broken:
        return []
    return ["", "**Must-pass cases that broke**", ""] + [f"- {_name(r.get('case'))}" for r in broken[:CASES_SHOWN]]


def _regressed(cases: Any) -> list[str]:
    if not isinstance(cases, list):
        raise BadInput("verdict.json: regressions must be a list")
    if not cases:
        return []
    lines = ["", "**Regressed cases**", ""]
    for case in cases[:CASES_SHOWN]:
        if not isinstance(case, dict) or not isinstance(case.get("lost") or [], list):
            raise BadInput("verdict.json: every regression must be an object with a list `lost`")
        why = "; ".join(plain(item.get("why", ""), 160) for item in case.get("lost") or [] if isinstance(item, dict))
        lines.append(f"- {_name(case.get('case'))}: {why or plain(str(case.get('metric', '')))}")
    return lines


def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise BadInput(f"verdict.json: expected a name (letters, digits, . _ - / :), got {_shown(value)}")
    return value.replace("_", "\\_")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInput(f"verdict.json: expected a number, got {_shown(value)}")
    return float(value)


def _count(value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise BadInput(f"verdict.json: expected a count, got {_shown(value)}")
    return value


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
