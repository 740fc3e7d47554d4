"""The sticky PR comment and the GitHub Release, with the real client over HTTP against a loopback stand-in."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from evalharness.ci.cli import main
from evalharness.ci.github_api import GitHubAPI, GitHubError
from evalharness.report.markdown import MARKER

from tests.fake_github import FakeGitHub
from tests.test_ci_release import make_repo, remote_tags, write_results

TOKEN = "ghs_not-a-real-token-0123456789"
HEAD = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"
MISSING = object()
VALID_VERDICT = {"schema": 2, "verdict": "PASS", "mode": "pr", "exit_code": 0}


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch):
    """The stand-in, running, with GitHub Actions' variables pointing at it and PR #7 at HEAD."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with FakeGitHub(repo="acme/support-bot", token=TOKEN) as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.base_url)
        monkeypatch.setenv("GITHUB_REPOSITORY", fake.repo)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        fake.add_pull(7, HEAD)
        yield fake


def artifact(path: Path, *, verdict: Any = None, report: Any = None, pr: Any = None) -> Path:
    """An eval artifact as a PR run uploads it; None means the valid default, MISSING leaves the file out."""
    path.mkdir(parents=True, exist_ok=True)
    files = {
        "verdict.json": verdict if verdict is not None else VALID_VERDICT,
        "report.md": report if report is not None else f"{MARKER}\n## Eval gate: PASS\n\n| metric | delta |\n",
        "pr.json": pr if pr is not None else {"number": 7, "head_sha": HEAD},
    }
    for name, content in files.items():
        if content is MISSING:
            continue
        if isinstance(content, bytes):
            (path / name).write_bytes(content)
        else:
            text = content if isinstance(content, str) else json.dumps(content)
            (path / name).write_text(text, encoding="utf-8")
    return path


def comment(path: Path, head_sha: str = HEAD, conclusion: str = "success") -> int:
    return main(["comment", "--artifact", str(path), "--head-sha", head_sha, "--conclusion", conclusion])


def test_sticky_comment_is_created_then_updated(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    human = github.add_comment(7, f"{MARKER}\nI pasted the marker too", login="alice", user_type="User")
    assert comment(artifact(tmp_path / "run1")) == 0
    assert capsys.readouterr().out.startswith("created comment ")
    verdict = {"schema": 2, "verdict": "FAIL", "mode": "pr", "exit_code": 1}
    assert comment(artifact(tmp_path / "run2", verdict=verdict), conclusion="failure") == 0
    assert capsys.readouterr().out.startswith("updated comment ")

    bot = [c for c in github.comments_on(7) if c["user"]["type"] == "Bot"]
    assert len(bot) == 1 and len(github.comments_on(7)) == 2
    assert bot[0]["body"].startswith(f"{MARKER}\n## Eval gate: FAIL\n")
    assert "Eval gate verdict FAIL (mode pr, exit 1)" in bot[0]["body"] and HEAD in bot[0]["body"]
    assert human["body"] == f"{MARKER}\nI pasted the marker too"
    assert [(r.method, r.path) for r in github.writes()] == [
        ("POST", "/repos/acme/support-bot/issues/7/comments"),
        ("PATCH", f"/repos/acme/support-bot/issues/comments/{bot[0]['id']}"),
    ]
    for request in github.requests:
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_mentions_in_the_report_do_not_ping_anyone(github: FakeGitHub, tmp_path: Path) -> None:
    verdict = {**VALID_VERDICT, "headline": "The answer said: ask @alice or @acme/admins."}
    assert comment(artifact(tmp_path / "run", verdict=verdict)) == 0
    body = github.comments_on(7)[0]["body"]
    assert "@alice" not in body and "@acme/admins" not in body
    assert "ask @\u200balice or @\u200bacme/admins" in body


def test_a_forged_report_never_reaches_the_comment_and_free_text_reads_as_text(
    github: FakeGitHub, tmp_path: Path
) -> None:
    forged = f"{MARKER}\n## Eval gate: PASS\n\nAll good! **Merge now**\n"
    verdict = {
        **VALID_VERDICT,
        "verdict": "FAIL",
        "exit_code": 1,
        "headline": "## Eval gate: PASS\n**PASS** [approve](https://evil.example) <img src=x onerror=alert(1)>",
        "metrics": [{"name": "facts", "verdict": "FAIL", "base_mean": 0.9, "head_mean": 0.5, "delta": -0.4,
                     "lower": -0.5, "upper": -0.3, "worse": 40, "better": 0}],
        "regressions": [
            {"case": "support/c1", "metric": "facts", "lost": [{"metric": "facts", "why": "*bold* `code`"}]}
        ],
    }  # fmt: skip
    assert comment(artifact(tmp_path / "run", verdict=verdict, report=forged), conclusion="failure") == 0
    body = github.comments_on(7)[0]["body"]
    assert "Merge now" not in body and body.count("## Eval gate:") == 1 and "## Eval gate: FAIL" in body
    assert "\\*\\*PASS\\*\\* \\[approve\\]\\(https://evil.example\\)" in body  # shown, not rendered
    assert "<img" not in body and "&lt;img" in body
    assert "| facts | 0.900 | 0.500 | -0.400 | -0.500 .. -0.300 | 40 / 0 | FAIL |" in body
    assert "support/c1: \\*bold\\* \\`code\\`" in body


def test_a_verdict_that_disagrees_with_the_check_is_not_posted(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert comment(artifact(tmp_path / "run"), conclusion="failure") == 2  # says PASS, but the check failed
    assert "the check's conclusion is failure" in capsys.readouterr().err
    assert github.writes() == []


def test_comments_are_read_across_pages(github: FakeGitHub, tmp_path: Path) -> None:
    for n in range(5):
        github.add_comment(7, f"comment {n}")
    bot = github.add_comment(7, f"{MARKER}\nold report", login="github-actions[bot]", user_type="Bot")
    assert len(GitHubAPI().list_issue_comments(7)) == 6  # 3 pages of 2
    pages = [r.query["page"] for r in github.requests if r.path.endswith("/issues/7/comments")]
    assert pages == [["1"], ["2"], ["3"]]
    assert comment(artifact(tmp_path / "a")) == 0
    assert len(github.comments_on(7)) == 6 and bot["body"].startswith(f"{MARKER}\n## Eval gate: PASS")


def test_no_authorization_header_without_a_token(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(GitHubError) as failed:
        GitHubAPI().get_pull(7)
    assert failed.value.status == 401 and "Bad credentials" in str(failed.value)
    assert "Authorization" not in github.requests[-1].headers


@pytest.mark.parametrize(
    ("pull_head", "pr", "head_sha"),
    [
        (OTHER, None, HEAD),  # the PR moved on, or pr.json names another PR
        (HEAD, {"number": 7, "head_sha": OTHER}, HEAD),  # pr.json disagrees with the workflow run
        (HEAD, {"number": 8, "head_sha": HEAD}, HEAD),  # a forged number: PR #8 is at another commit
    ],
)
def test_head_sha_mismatch_is_refused_without_writing(
    pull_head: str, pr: Any, head_sha: str, github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    github.add_pull(7, pull_head)
    github.add_pull(8, OTHER)
    assert comment(artifact(tmp_path / "a", pr=pr), head_sha) == 2
    assert "refused" in capsys.readouterr().err
    assert github.writes() == [] and github.comments == []


def _symlinked_verdict(path: Path) -> None:
    (path.parent / "elsewhere.json").write_text(json.dumps(VALID_VERDICT), encoding="utf-8")
    (path / "verdict.json").unlink()
    os.symlink(path.parent / "elsewhere.json", path / "verdict.json")


SCHEMA_VIOLATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "missing verdict.json": ({"verdict": MISSING}, "verdict.json: missing"),
    "verdict MAYBE": ({"verdict": {**VALID_VERDICT, "verdict": "MAYBE"}}, "verdict must be"),
    "schema 1": ({"verdict": {**VALID_VERDICT, "schema": 1}}, "schema must be 2"),
    "schema true": ({"verdict": {**VALID_VERDICT, "schema": True}}, "schema must be 2"),
    "mode push": ({"verdict": {**VALID_VERDICT, "mode": "push"}}, "mode must be"),
    "exit code 4": ({"verdict": {**VALID_VERDICT, "exit_code": 4}}, "exit_code must be"),
    "verdict.json a list": ({"verdict": [VALID_VERDICT]}, "expected a JSON object"),
    "verdict.json NaN": ({"verdict": '{"schema": NaN}'}, "not valid JSON"),
    "metric name with markup": (
        {"verdict": {**VALID_VERDICT, "metrics": [{"name": "<b>x</b>", "verdict": "PASS"}]}},
        "expected a name",
    ),
    "metric number as text": (
        {"verdict": {**VALID_VERDICT, "metrics": [{"name": "facts", "verdict": "PASS", "delta": "+0.5"}]}},
        "expected a number",
    ),
    "row verdict unknown": (
        {"verdict": {**VALID_VERDICT, "metrics": [{"name": "facts", "verdict": "GREAT"}]}},
        "verdict must be one of",
    ),
    "headline not text": ({"verdict": {**VALID_VERDICT, "headline": {"x": 1}}}, "expected text"),
    "pr number string": ({"pr": {"number": "7", "head_sha": HEAD}}, "number must be a positive integer"),
    "pr short sha": ({"pr": {"number": 7, "head_sha": HEAD[:12]}}, "head_sha must be"),
    "pr extra key": ({"pr": {"number": 7, "head_sha": HEAD, "repo": "evil/fork"}}, "exactly the keys"),
    "missing pr.json": ({"pr": MISSING}, "pr.json: missing"),
}


@pytest.mark.parametrize("case", [*SCHEMA_VIOLATIONS, "symlinked verdict", "bad --head-sha"])
def test_schema_violations_are_exit_2_without_writing(
    case: str, github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides, message = SCHEMA_VIOLATIONS.get(case, ({}, ""))
    path = artifact(tmp_path / "artifact", **overrides)
    if case == "symlinked verdict":
        _symlinked_verdict(path)
        message = "verdict.json: is a symlink"
    head_sha = "HEAD" if case == "bad --head-sha" else HEAD
    assert comment(path, head_sha) == 2
    assert message in capsys.readouterr().err
    assert github.requests == []  # the artifact is checked before GitHub is asked anything


def test_extra_files_in_the_artifact_are_ignored(github: FakeGitHub, tmp_path: Path) -> None:
    path = artifact(tmp_path / "a")
    (path / "conftest.py").write_text("raise SystemExit('executed!')\n", encoding="utf-8")
    (path / "nested").mkdir()
    assert comment(path) == 0
    assert len(github.comments_on(7)) == 1


def test_api_failures_are_exit_3_and_never_show_the_token(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = artifact(tmp_path / "a")
    github.fail_next(500, "Server Error")
    assert comment(path) == 3
    out, err = capsys.readouterr()
    assert "GitHub API GET /repos/acme/support-bot/pulls/7 failed (HTTP 500): Server Error" in err
    github.fail_next(401, f"Bad credentials: Bearer {TOKEN}")  # a server or proxy that echoes the header
    assert comment(path) == 3
    out2, err2 = capsys.readouterr()
    assert "HTTP 401" in err2
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{port}")
    assert comment(path) == 3
    out3, err3 = capsys.readouterr()
    assert "no response" in err3
    for text in (out, err, out2, err2, out3, err3, repr(GitHubAPI())):
        assert TOKEN not in text
    assert github.writes() == []


def test_missing_repository_is_bad_input(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY")
    assert comment(artifact(tmp_path / "a")) == 2
    assert "GITHUB_REPOSITORY" in capsys.readouterr().err


# ------------------------------------------------------------ the GitHub Release


def test_release_creates_a_github_release_with_three_assets(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work)
    args = ["release", "--results", str(results), "--prefix", "model-v", "--repo", str(work), "--github-release"]
    assert main(args) == 0
    assert remote_tags(remote) == ["model-v1.0.0"]
    assert f"release: {github.base_url}/acme/support-bot/releases/tag/model-v1.0.0" in capsys.readouterr().out
    [created] = github.releases
    assert (created.tag_name, created.name, created.draft, created.prerelease) == (
        "model-v1.0.0",
        "model-v1.0.0",
        False,
        False,
    )
    assert created.body == (results / "report.md").read_text(encoding="utf-8")
    assert {a.name: a.data for a in created.assets} == {
        name: (results / name).read_bytes() for name in ("report.md", "report.html", "manifest.json")
    }
    types = {a.name: a.content_type for a in created.assets}
    assert types["manifest.json"] == "application/json" and types["report.html"].startswith("text/html")
    uploads = [r for r in github.requests if r.path.startswith("/uploads/")]
    assert [r.query["name"] for r in uploads] == [["report.md"], ["report.html"], ["manifest.json"]]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in uploads)


def test_release_api_failure_is_exit_3_after_the_push(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work, remote = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work)
    github.fail_next(500, "Server Error")
    args = ["release", "--results", str(results), "--prefix", "model-v", "--repo", str(work), "--github-release"]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "model-v1.0.0 was pushed, but the GitHub Release was not completed" in err and TOKEN not in err
    assert remote_tags(remote) == ["model-v1.0.0"] and github.releases == []


def test_github_release_needs_the_pushed_tag(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, _ = make_repo(tmp_path, monkeypatch)
    results = write_results(tmp_path / "results", work)
    args = ["release", "--results", str(results), "--prefix", "model-v", "--repo", str(work)]
    assert main([*args, "--github-release", "--no-push"]) == 2
    assert github.requests == []
