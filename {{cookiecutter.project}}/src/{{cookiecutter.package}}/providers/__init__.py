"""Who answers: a real model through the OpenAI SDK, or the offline extractive answerer."""

from __future__ import annotations

import os
import sys

from {{ cookiecutter.package }}.config import PROVIDERS, BotConfig
from {{ cookiecutter.package }}.errors import MissingKeyError, ProviderError
from {{ cookiecutter.package }}.providers.base import ChatRequest, Completion, Provider

__all__ = ["ChatRequest", "Completion", "Provider", "choose_provider", "make_provider"]

PROVIDER_ENV = "BOT_PROVIDER"
SILENCE = f"Set {PROVIDER_ENV}=offline to silence this."


def choose_provider(config: BotConfig, *, fallback_to_offline: bool, warn=None) -> tuple[str, str | None]:
    """Return (provider name, why it differs from bot.yaml or None).

    `BOT_PROVIDER` overrides bot.yaml. Interactive use (`chat`, `serve`) falls back to offline when
    OPENAI_API_KEY is missing and says so; an eval run passes fallback_to_offline=False and fails instead,
    so a missing key is never mistaken for a model's answers.
    """
    warn = warn or (lambda message: print(message, file=sys.stderr))
    override = os.environ.get(PROVIDER_ENV, "").strip()
    if override and override not in PROVIDERS:
        raise ProviderError(f"{PROVIDER_ENV}={override!r} is not a provider; use one of: {', '.join(PROVIDERS)}")
    name = override or config.provider
    reason = f"{PROVIDER_ENV}={override}" if override and override != config.provider else None
    key = config.client.api_key_env
    if name == "openai" and not os.environ.get(key):
        if not fallback_to_offline:
            raise MissingKeyError(f"{key} is not set: the openai provider needs it (or {PROVIDER_ENV}=offline)")
        reason = f"{key} is not set"
        warn(f"note: {reason}; answering with the offline provider (extractive, no model). {SILENCE}")
        name = "offline"
    return name, reason


def make_provider(name: str, config: BotConfig) -> Provider:
    if name == "offline":
        from {{ cookiecutter.package }}.providers.offline import OfflineProvider

        return OfflineProvider()
    from {{ cookiecutter.package }}.providers.openai_chat import OpenAIChatProvider

    return OpenAIChatProvider(config.model, config.client)
