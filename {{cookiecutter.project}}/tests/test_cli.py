"""The command line as a user runs it: one-shot, interactive, JSON, fallback notice, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from {{ cookiecutter.package }}.cli import main

from tests.conftest import BOT_YAML
from tests.fake_openai import FakeOpenAI, Fault, Text


def test_one_shot_offline_prints_answer_sources_and_who_answered(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(BOT_YAML), "chat", "How", "do", "I", "reset", "my", "password?"]) == 0
    out, err = capsys.readouterr()
    assert "Forgot password?" in out
    assert "Sources:" in out and "account-and-login.md" in out
    assert "answered by offline model extractive-bm25" in out
    # No key: the fallback is announced exactly once, on stderr.
    assert err.count("OPENAI_API_KEY is not set") == 1


def test_explicit_offline_is_quiet(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PROVIDER", "offline")
    assert main(["--config", str(BOT_YAML), "chat", "How much is Plus?"]) == 0
    assert capsys.readouterr().err == ""


def test_json_record(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PROVIDER", "offline")
    assert main(["--config", str(BOT_YAML), "chat", "--json", "How much is Plus?"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["provider"] == "offline" and record["run_id"]
    assert record["sources"][0]["source"] == "plans-and-pricing.md"
    assert set(record["versions"]) == {"config", "prompt", "knowledge"}


def test_openai_provider_streams_to_stdout(fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    fake_openai.push(Text("Use Forgot password? on the sign-in page [1]."))
    assert main(["--config", str(BOT_YAML), "chat", "How do I reset my password?"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Use Forgot password? on the sign-in page [1].")
    assert "answered by openai" in out and err == ""


def test_interactive_session_keeps_history(
    fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.push(Text("First answer."), Text("Second answer."))
    monkeypatch.setattr("sys.stdin", io.StringIO("How much is Plus?\nAnd Business?\n"))
    assert main(["--config", str(BOT_YAML), "chat"]) == 0
    out = capsys.readouterr().out
    assert "First answer." in out and "Second answer." in out
    second = fake_openai.requests[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == "First answer."


def test_bad_config_exits_2_with_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bot.yaml"
    bad.write_text("provider: offline\nmodel: m\nparams:\n  temperature: hot\n", encoding="utf-8")
    assert main(["--config", str(bad), "chat", "hi"]) == 2
    assert "bot.yaml:4: params.temperature" in capsys.readouterr().err


def test_github_annotation_under_actions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    bad = tmp_path / "bot.yaml"
    bad.write_text("provider: offline\nmodel: m\ncolour: blue\n", encoding="utf-8")
    assert main(["--config", str(bad), "chat", "hi"]) == 2
    assert ",line=3::colour: unknown key" in capsys.readouterr().err


def test_model_failure_exits_3_never_a_traceback(fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    fake_openai.default = lambda body: Fault(503, {"Retry-After": "0.01"})
    assert main(["--config", str(BOT_YAML), "chat", "How do I reset my password?"]) == 3
    err = capsys.readouterr().err
    assert "error: model call to" in err and "HTTP 503" in err
    assert "Traceback" not in err and "sk-test" not in err


def test_unknown_provider_override_exits_3(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PROVIDER", "llama")
    assert main(["--config", str(BOT_YAML), "chat", "hi"]) == 3
    assert "BOT_PROVIDER='llama' is not a provider" in capsys.readouterr().err
