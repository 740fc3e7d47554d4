"""The contract every provider meets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from {{ cookiecutter.package }}.config import Params
from {{ cookiecutter.package }}.retrieval import Passage


@dataclass(frozen=True)
class ChatRequest:
    question: str
    messages: list[dict[str, str]]  # the rendered prompt: what a model sees
    passages: list[Passage]  # what retrieval found: what the offline answerer quotes
    params: Params


@dataclass(frozen=True)
class Completion:
    text: str
    model: str  # as reported by whoever answered, so a server-side alias or fallback is visible
    usage: dict[str, int] = field(default_factory=dict)  # prompt_tokens, completion_tokens
    finish_reason: str | None = None


class Provider(Protocol):
    name: str
    model: str

    def complete(self, request: ChatRequest, on_token: Callable[[str], None] | None = None) -> Completion:
        """Answer the request; with `on_token`, stream text pieces to it as they arrive."""
        ...
