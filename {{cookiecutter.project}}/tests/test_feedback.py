"""User feedback: scores land on the traced turn they are about (or in the local store without LangSmith), and
`curate` turns badly scored turns into review-inbox cases: deduplicated, valid as a dataset, and never
overwriting what a reviewer edited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import observability
from evalharness.datasets import load_dataset

from {{ cookiecutter.package }}.cli import main

from tests.conftest import BOT_YAML
from tests.fake_langsmith import FakeLangSmith


def _ask(question: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--config", str(BOT_YAML), "chat", "--json", question]) == 0
    observability.flush()  # as at the end of a `chat` process: the trace is in before anyone scores it
    return json.loads(capsys.readouterr().out)["run_id"]


def _score(run_id: str, score: str, comment: str | None = None) -> int:
    return main(["feedback", run_id, "--score", score, *(["--comment", comment] if comment else [])])


@pytest.fixture
def traced(langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch, project_copy: Path) -> FakeLangSmith:
    monkeypatch.setenv("BOT_PROVIDER", "offline")
    monkeypatch.chdir(project_copy)  # curate writes evals/review/inbox.yaml of this copy
    return langsmith


def test_feedback_lands_on_the_run_of_the_answer(traced: FakeLangSmith, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _ask("How much is Plus?", capsys), _ask("How do I export my notes?", capsys)
    assert _score(second, "down", "it ignored the export menu") == 0
    assert f"on run {second}" in capsys.readouterr().out
    (feedback,) = traced.feedback
    assert feedback["run_id"] == second != first
    (project,) = [s for s in traced.sessions.values() if s["name"] == "{{ cookiecutter.langsmith_project }}"]
    assert feedback["session_id"] == project["id"]
    assert feedback["key"] == "user_score" and feedback["score"] == 0.0
    assert feedback["comment"] == "it ignored the export menu"
    observability.flush()
    assert second in traced.runs  # the run it refers to was traced


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-a-run-id", "--score", "1"], "is not a UUID"),
        (["01936b2e-7c4f-7b2e-9c1a-3f5e8d7a6b5c", "--score", "1.5"], "out of range"),
    ],
)
def test_bad_feedback_is_refused_with_exit_2(
    traced: FakeLangSmith, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["feedback", *args]) == 2
    assert message in capsys.readouterr().err
    assert traced.feedback == []


def test_without_langsmith_turns_and_feedback_are_kept_locally_and_curated(
    monkeypatch: pytest.MonkeyPatch, project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_PROVIDER", "offline")
    monkeypatch.chdir(project_copy)
    bad, good = _ask("Can I pay for Quillwave with a gift card?", capsys), _ask("How much is Plus?", capsys)
    assert _score(bad, "up") == 0 and _score(bad, "down", "it never said") == 0  # the last score counts
    assert _score(good, "up") == 0
    out = capsys.readouterr().out
    assert f"on run {bad} in " in out and "(LangSmith is off)" in out
    assert main(["curate"]) == 0
    assert "1 new case(s) in evals/review/inbox.yaml from " in capsys.readouterr().out
    inbox = project_copy / "evals/review/inbox.yaml"
    (case,) = load_dataset(inbox).cases
    assert case.input == "Can I pay for Quillwave with a gift card?" and "user said: it never said" in inbox.read_text()
    assert main(["curate"]) == 0 and "0 new case(s)" in capsys.readouterr().out


def test_feedback_to_an_unreachable_langsmith_is_an_infrastructure_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2_pt_fake")
    monkeypatch.setenv("LANGSMITH_ENDPOINT", "http://127.0.0.1:9")
    assert _score("01936b2e-7c4f-7b2e-9c1a-3f5e8d7a6b5c", "up") == 3
    assert "cannot connect" in capsys.readouterr().err


@pytest.mark.parametrize("query_backend", ["clickhouse", "smithdb"])
def test_curate_collects_badly_scored_turns_once_and_keeps_reviewed_cases(
    traced: FakeLangSmith, capsys: pytest.CaptureFixture[str], project_copy: Path, query_backend: str
) -> None:
    """On an instance with the new run store, runs are read through the v2 query API (list_runs is deprecated
    and refused there); on an older one through list_runs, without passing its deprecation on to the user."""
    traced.query_backend = query_backend
    bad = _ask("Can I pay for Quillwave with a gift card?", capsys)
    good = _ask("How much is Plus?", capsys)
    known = _ask("How long is the password reset link valid?", capsys)  # already a case in support.yaml
    for run_id, score in ((bad, "0"), (good, "1"), (known, "0")):
        assert _score(run_id, score, "wrong answer" if score == "0" else None) == 0
    observability.flush()
    capsys.readouterr()

    assert main(["curate"]) == 0
    assert "1 new case(s)" in capsys.readouterr().out
    candidates = project_copy / "evals" / "review" / "inbox.yaml"
    (case,) = load_dataset(candidates).cases  # a valid dataset as written
    assert case.input == "Can I pay for Quillwave with a gift card?" and "from-feedback" in case.tags
    text = candidates.read_text()
    assert f"run {bad}" in text and "user said: wrong answer" in text

    # A reviewer fills in the expectations; a second curate finds nothing new and leaves the file alone.
    reviewed = text.replace("refuse: null", "refuse: true")
    candidates.write_text(reviewed)
    assert main(["curate"]) == 0
    assert "0 new case(s)" in capsys.readouterr().out and candidates.read_text() == reviewed

    # A new bad turn is appended after the reviewed case, which stays byte for byte.
    newer = _ask("Does Quillwave have a Linux app?", capsys)
    assert _score(newer, "down") == 0
    observability.flush()
    assert main(["curate"]) == 0
    after = candidates.read_text()
    assert after.startswith(reviewed) and "Does Quillwave have a Linux app?" in after
    cases = yaml.safe_load(after)["cases"]
    assert [c["id"] for c in cases] == [case.id, f"feedback-{newer.replace('-', '')[-12:]}"]
    assert cases[0]["expect"]["refuse"] is True

    # The reviewer rejects every candidate by emptying the list: none of them comes back.
    rejected = after[: after.index("cases:")] + "cases: []\n"
    candidates.write_text(rejected)
    assert main(["curate"]) == 0
    assert "0 new case(s)" in capsys.readouterr().out and candidates.read_text() == rejected
    queried = {path for method, path in traced.requests if "runs/query" in path}
    assert queried == ({"/api/v2/runs/query"} if query_backend == "smithdb" else {"/runs/query"})


def test_curate_refuses_to_append_to_a_file_it_cannot_parse(
    traced: FakeLangSmith, capsys: pytest.CaptureFixture[str], project_copy: Path
) -> None:
    assert _score(_ask("Can I pay for Quillwave with a gift card?", capsys), "0") == 0
    observability.flush()
    candidates = project_copy / "evals" / "review" / "inbox.yaml"
    candidates.parent.mkdir()
    candidates.write_text("cases:\n- id: a\n  input: [unclosed\n")
    assert main(["curate"]) == 2
    assert "inbox.yaml: not valid YAML" in capsys.readouterr().err
    assert candidates.read_text() == "cases:\n- id: a\n  input: [unclosed\n"


def test_curate_with_nothing_stored_finds_nothing(
    monkeypatch: pytest.MonkeyPatch, project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project_copy)
    assert main(["curate"]) == 0
    assert "0 new case(s)" in capsys.readouterr().out
    assert not (project_copy / "evals/review/inbox.yaml").exists()  # nothing to review: no file appears
