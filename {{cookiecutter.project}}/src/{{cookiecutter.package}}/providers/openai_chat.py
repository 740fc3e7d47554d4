"""The openai provider: the official SDK, so OPENAI_BASE_URL reaches any OpenAI-compatible server
(OpenAI, Azure-compatible gateways, Ollama, vLLM, LM Studio, ...)."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

import observability

from {{ cookiecutter.package }}.config import Client
from {{ cookiecutter.package }}.errors import ProviderError
from {{ cookiecutter.package }}.providers.base import ChatRequest, Completion


class OpenAIChatProvider:
    name = "openai"

    def __init__(self, model: str, client: Client):
        self.model = model
        self._timeout = client.timeout_s
        self._retries = client.max_retries
        self._settings = client
        self._client: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        """The SDK client, made on the first live call: importing the SDK costs most of a second, for
        nothing when every answer comes from a cache (the key was checked when the bot was made)."""
        with self._lock:
            if self._client is None:
                import openai

                # Key and base URL: bot.yaml's client section, by default the SDK's own variables
                # (OPENAI_API_KEY, OPENAI_BASE_URL). Explicit timeout and retries: the SDK's defaults
                # (10 minutes) would hang CI.
                client = openai.OpenAI(
                    api_key=os.environ.get(self._settings.api_key_env),
                    base_url=self._settings.base_url,  # None: OPENAI_BASE_URL, else api.openai.com
                    timeout=self._settings.timeout_s,
                    max_retries=self._settings.max_retries,
                )
                if observability.enabled():
                    # Each call traced as a child of the current turn. Only when tracing is on: the wrapper
                    # costs a second of imports and some work on every call, for nothing when no trace is kept.
                    with warnings.catch_warnings():  # the package imports its own deprecated agents shim
                        warnings.filterwarnings("ignore", "langsmith.wrappers._openai_agents", DeprecationWarning)
                        from langsmith.wrappers import wrap_openai

                    client = wrap_openai(client)
                self._client = client
            return self._client

    def complete(self, request: ChatRequest, on_token: Callable[[str], None] | None = None) -> Completion:
        params = request.params
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        self._connect()
        import openai  # imported by _connect; named here for the exceptions

        try:
            if on_token is None:
                return self._complete(kwargs)
            return self._stream(kwargs, on_token)
        except openai.APITimeoutError:
            problem = f"timed out after {self._timeout:g}s (client.timeout_s in bot.yaml)"
            raise ProviderError(self._where(problem)) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(self._where(f"could not connect: {exc.__cause__ or exc}")) from None
        except openai.APIStatusError as exc:
            detail = f"HTTP {exc.status_code} after {self._retries} retries: {_short(exc.message)}"
            raise ProviderError(self._where(detail)) from None
        except openai.OpenAIError as exc:
            raise ProviderError(self._where(str(exc))) from None

    def _complete(self, kwargs: dict[str, Any]) -> Completion:
        response = self._client.chat.completions.create(**kwargs)
        if not response.choices:
            raise ProviderError(self._where("the server returned no choices"))
        choice = response.choices[0]
        return Completion(
            text=choice.message.content or "",
            model=response.model or self.model,
            usage=_usage(response.usage),
            finish_reason=choice.finish_reason,
        )

    def _stream(self, kwargs: dict[str, Any], on_token: Callable[[str], None]) -> Completion:
        pieces: list[str] = []
        model, usage, finish = self.model, {}, None
        stream = self._client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
        with stream:
            for chunk in stream:
                model = chunk.model or model
                if chunk.usage:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        pieces.append(choice.delta.content)
                        on_token(choice.delta.content)
                    finish = choice.finish_reason or finish
        return Completion(text="".join(pieces), model=model, usage=usage, finish_reason=finish)

    def _where(self, problem: str) -> str:
        return f"model call to {self._client.base_url} (model {self.model}) failed: {problem}"


def _usage(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    return {"prompt_tokens": usage.prompt_tokens or 0, "completion_tokens": usage.completion_tokens or 0}


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
