"""LangSmith tracing of bot turns, against a loopback LangSmith stand-in and the real SDK: one trace per turn
with retrieval, prompt and model call as children; metadata that names the bot version; off and silent
without a key; an endpoint that is down, failing or hanging changes nothing but one warning line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import observability

from {{ cookiecutter.package }}.bot import Bot
from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.config import load_config

from tests.conftest import BOT_YAML, PROJECT_ROOT
from tests.fake_langsmith import FakeLangSmith
from tests.fake_openai import FakeOpenAI

QUESTION = "How do I reset my password?"
KEY = "lsv2_pt_5ecret5ecret5ecret5ecret5ecret00_abcdef0123"


def _turn(server: FakeLangSmith, run_id: str) -> tuple[dict, dict[str, dict]]:
    """The root run `run_id` and its children by name, once all four have arrived."""
    observability.flush()
    runs = server.wait_for_runs(4)
    children = {r["name"]: r for r in runs if r.get("parent_run_id") == run_id}
    return server.runs[run_id], children


def test_off_without_a_key_sends_nothing_and_says_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeLangSmith() as server:
        monkeypatch.setenv("LANGSMITH_ENDPOINT", server.url)  # an endpoint alone does not turn tracing on
        monkeypatch.setenv("BOT_PROVIDER", "offline")
        assert main(["--config", str(BOT_YAML), "chat", QUESTION]) == 0
        observability.flush()
        assert server.requests == []
    out, err = capsys.readouterr()
    assert err == "" and "traced as run" not in out
    assert observability.client() is None


def test_tracing_false_overrides_a_key(langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setenv("BOT_PROVIDER", "offline")
    Bot.from_config(BOT_YAML).answer(QUESTION)
    observability.flush()
    assert langsmith.requests == []


def test_a_turn_is_one_trace_with_retrieval_prompt_and_model_call(
    langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_PROVIDER", "offline")
    monkeypatch.setenv("GIT_SHA", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("BOT_RELEASE", "{{ cookiecutter.model_tag_prefix }}1.2.0")
    monkeypatch.setenv("BOT_VARIANT", "b")
    monkeypatch.setenv("BOT_ENVIRONMENT", "production")
    answer = Bot.from_config(BOT_YAML).answer(QUESTION)

    root, children = _turn(langsmith, answer.run_id)
    assert root["name"] == "chat turn" and root["run_type"] == "chain" and "parent_run_id" not in root
    assert root["session_name"] == "{{ cookiecutter.langsmith_project }}"
    assert root["inputs"]["question"] == QUESTION and root["outputs"]["answer"] == answer.text
    assert {name: run["run_type"] for name, run in children.items()} == {
        "retrieve": "retriever",
        "render prompt": "prompt",
        "offline answerer": "llm",
    }
    assert all(run["trace_id"] == answer.run_id for run in children.values())
    documents = children["retrieve"]["outputs"]["documents"]
    assert [d["metadata"]["source"] for d in documents] == [s.source for s in answer.sources]
    assert children["render prompt"]["outputs"]["messages"][0]["role"] == "system"

    hashes = load_config(BOT_YAML).hashes
    metadata = root["extra"]["metadata"]
    expected = {
        "bot_version": hashes["config"][:12],
        "prompt_hash": hashes["prompt"][:12],
        "knowledge_hash": hashes["knowledge"][:12],
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "release_tag": "{{ cookiecutter.model_tag_prefix }}1.2.0",
        "variant": "b",
        "provider": "offline",
        "model": "extractive-bm25",
    }
    assert {key: metadata.get(key) for key in expected} == expected
    assert set(root["tags"]) == {"production", "variant:b"}
    assert children["retrieve"]["extra"]["metadata"]["bot_version"] == hashes["config"][:12]  # inherited


def test_the_model_call_goes_through_the_sdks_openai_wrapper(
    langsmith: FakeLangSmith, fake_openai: FakeOpenAI, project_copy: Path
) -> None:
    bot = Bot.from_config(project_copy / "bot.yaml")
    pieces: list[str] = []
    answer = bot.answer(QUESTION, on_token=pieces.append)  # streamed, as the CLI does

    root, children = _turn(langsmith, answer.run_id)
    call = children["ChatOpenAI"]
    assert call["run_type"] == "llm"
    assert call["inputs"]["messages"][-1]["content"].endswith(QUESTION)
    assert root["extra"]["metadata"]["provider"] == "openai"
    assert "".join(pieces) == answer.text


def test_a_failed_model_call_is_recorded_as_an_error_on_the_turn(
    langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch, project_copy: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    bot = Bot.from_config(project_copy / "bot.yaml")
    bot.provider._connect().max_retries = 0
    with pytest.raises(Exception, match="could not connect"):
        bot.answer(QUESTION)
    observability.flush()
    root = next(r for r in langsmith.wait_for_runs(4) if r["name"] == "chat turn")
    assert "could not connect" in root["error"]


def test_bad_langsmith_settings_leave_the_answer_alone(
    langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING_SAMPLING_RATE", "not-a-number")  # the SDK's client refuses to start
    monkeypatch.setenv("BOT_PROVIDER", "offline")
    assert main(["--config", str(BOT_YAML), "chat", QUESTION]) == 0
    assert main(["--config", str(BOT_YAML), "chat", QUESTION]) == 0  # the process does not retry the setup
    out, err = capsys.readouterr()
    assert out.count("Sources:") == 2 and "traced as run" not in out
    assert err.count("warning: LangSmith") == 1 and len(err.strip().splitlines()) == 1, err


# --- resilience: a real process, as users run it ---------------------------------------------------------


def _chat(env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package }}", "--config", str(BOT_YAML), "chat", "--json", QUESTION],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    return done, time.monotonic() - started


def _comparable(stdout: str) -> dict:
    record = json.loads(stdout)
    return {k: v for k, v in record.items() if k not in ("run_id", "latency_ms")}


@pytest.fixture(scope="module")
def untraced() -> tuple[dict[str, str], subprocess.CompletedProcess, float]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    base |= {"BOT_PROVIDER": "offline", "PYTHONPATH": str(PROJECT_ROOT / "src")}
    done, seconds = _chat(base)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return base, done, seconds


@pytest.mark.parametrize("outage", ["down", "503", "hang"])
def test_an_outage_changes_nothing_but_one_warning(outage: str, untraced: tuple) -> None:
    base, untraced, untraced_s = untraced

    with FakeLangSmith("ok" if outage == "down" else outage) as server:
        url = "http://127.0.0.1:9" if outage == "down" else server.url  # port 9: nothing listens
        traced, traced_s = _chat(base | {"LANGSMITH_ENDPOINT": url, "LANGSMITH_API_KEY": KEY})

    assert traced.returncode == 0
    assert _comparable(traced.stdout) == _comparable(untraced.stdout)
    warnings = traced.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: LangSmith at"), traced.stderr
    assert KEY not in traced.stdout + traced.stderr and KEY[-8:] not in traced.stderr
    # A bounded few seconds (short timeouts, one flush budget), never the SDK's default waits and retries,
    # which would take half a minute; the slack absorbs a loaded machine's noise (xdist, a busy CI runner).
    assert traced_s - untraced_s <= 8.0, (traced_s, untraced_s)
