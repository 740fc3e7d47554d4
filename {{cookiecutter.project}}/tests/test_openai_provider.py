"""The real `openai` SDK against a loopback OpenAI-compatible server: answers, streaming, retries, faults, hangs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from {{ cookiecutter.package }}.bot import Bot
from {{ cookiecutter.package }}.config import load_config
from {{ cookiecutter.package }}.errors import ProviderError
from {{ cookiecutter.package }}.providers import make_provider

from tests.fake_openai import FakeOpenAI, Fault, Hang, Text


def _bot(project_copy: Path, *, timeout_s: float = 5, max_retries: int = 2) -> Bot:
    path = project_copy / "bot.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("timeout_s: 30", f"timeout_s: {timeout_s}")
    text = text.replace("max_retries: 2", f"max_retries: {max_retries}")
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    return Bot(config, make_provider("openai", config))


def test_plain_answer_carries_prompt_params_and_provenance(fake_openai: FakeOpenAI, project_copy: Path) -> None:
    fake_openai.push(Text("Click Forgot password? on the sign-in page [1].", model="served-model-2024"))
    answer = _bot(project_copy).answer("How do I reset my password?")
    assert answer.text == "Click Forgot password? on the sign-in page [1]."
    assert (answer.provider, answer.model) == ("openai", "served-model-2024")
    assert answer.usage["completion_tokens"] > 0
    (request,) = fake_openai.requests
    config = load_config(project_copy / "bot.yaml")
    assert request["model"] == config.model
    assert request["temperature"] == config.params.temperature and request["seed"] == config.params.seed
    system, user = request["messages"]
    assert user == {"role": "user", "content": "How do I reset my password?"}
    assert "[1] Account and Login > Resetting your password (account-and-login.md)" in system["content"]
    assert "Forgot password?" in system["content"]


def test_streaming_delivers_pieces_in_order(fake_openai: FakeOpenAI, project_copy: Path) -> None:
    fake_openai.push(Text("Plus costs $8 per member per month [1]."))
    pieces: list[str] = []
    answer = _bot(project_copy).answer("How much is Plus?", on_token=pieces.append)
    assert len(pieces) > 3
    assert "".join(pieces) == answer.text == "Plus costs $8 per member per month [1]."
    assert fake_openai.requests[0]["stream"] is True
    assert answer.usage["prompt_tokens"] > 0


def test_429_with_retry_after_is_retried(fake_openai: FakeOpenAI, project_copy: Path) -> None:
    fake_openai.push(Fault(429, {"Retry-After": "0.5"}, "slow down"), Text("ok after waiting"))
    started = time.monotonic()
    answer = _bot(project_copy).answer("How do I reset my password?")
    assert answer.text == "ok after waiting"
    assert len(fake_openai.requests) == 2
    assert time.monotonic() - started >= 0.5  # the server's Retry-After was honoured


def test_500s_exhaust_retries_then_fail_clearly(fake_openai: FakeOpenAI, project_copy: Path) -> None:
    fake_openai.push(*[Fault(500, {"Retry-After": "0.01"}) for _ in range(3)])
    with pytest.raises(ProviderError, match=r"HTTP 500 after 2 retries") as caught:
        _bot(project_copy, max_retries=2).answer("How do I reset my password?")
    assert len(fake_openai.requests) == 3
    assert caught.value.exit_code == 3
    assert "127.0.0.1" in str(caught.value)


def test_hung_server_fails_fast_with_the_timeout_named(fake_openai: FakeOpenAI, project_copy: Path) -> None:
    fake_openai.push(Hang(30))
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"timed out after 1s"):
        _bot(project_copy, timeout_s=1, max_retries=0).answer("How do I reset my password?")
    assert time.monotonic() - started < 5


def test_unreachable_server_is_an_infrastructure_error(monkeypatch: pytest.MonkeyPatch, project_copy: Path) -> None:
    with FakeOpenAI() as server:
        closed_url = server.base_url  # the port is closed once the server stops
    monkeypatch.setenv("OPENAI_BASE_URL", closed_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(ProviderError, match="could not connect"):
        _bot(project_copy, max_retries=0).answer("How do I reset my password?")


def test_bot_yaml_can_name_its_own_server_and_key_variable(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model served elsewhere (a candidate in evals/candidates.yaml): client.base_url and client.api_key_env
    win over the SDK's variables, which may point at another server."""
    from {{ cookiecutter.package }}.errors import MissingKeyError
    from {{ cookiecutter.package }}.providers import choose_provider

    with FakeOpenAI() as elsewhere, FakeOpenAI() as default:
        monkeypatch.setenv("OPENAI_BASE_URL", default.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-default")
        path = project_copy / "bot.yaml"
        text = path.read_text(encoding="utf-8")
        text = text.replace("  base_url: null ", f'  base_url: "{elsewhere.base_url}" ')
        text = text.replace("  api_key_env: OPENAI_API_KEY ", "  api_key_env: LOCAL_MODEL_KEY ")
        path.write_text(text, encoding="utf-8")
        config = load_config(path)
        with pytest.raises(MissingKeyError, match="LOCAL_MODEL_KEY is not set"):
            choose_provider(config, fallback_to_offline=False)
        monkeypatch.setenv("LOCAL_MODEL_KEY", "sk-local")
        assert choose_provider(config, fallback_to_offline=False) == ("openai", None)
        elsewhere.push(Text("From the other server [1]."))
        answer = Bot(config, make_provider("openai", config)).answer("How do I reset my password?")
        assert answer.text == "From the other server [1]." and len(elsewhere.requests) == 1 and not default.requests
