"""One LangSmith trace per bot turn: the turn, its retrieval, prompt rendering and model call, labelled with
what identifies the bot version, so any answer can be traced back to the bot.yaml, prompt and commit behind it.

Off (no client, no requests, no output) unless `observability.enabled()`: LANGSMITH_API_KEY or
LANGSMITH_TRACING=true. The model call is traced by the provider itself (the SDK's OpenAI wrapper, or the
offline answerer's own run), as a child of the turn.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import observability

from {{ cookiecutter.package }}.config import BotConfig

DEFAULT_PROJECT = {{ cookiecutter.langsmith_project | tojson }}
TAG_PREFIX = {{ cookiecutter.model_tag_prefix | tojson }}  # release tags, as the release workflow writes them


def project_name() -> str:
    return os.environ.get("LANGSMITH_PROJECT") or DEFAULT_PROJECT


def new_run_id() -> str:
    """The id of one turn: the trace's root run, and what user feedback refers to. A time-ordered UUIDv7
    (RFC 9562), as LangSmith wants run ids; made here so a turn without tracing never imports the SDK."""
    ms, rand = time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10), "big")
    value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & (1 << 62) - 1
    return str(uuid.UUID(int=value))


class Step:
    """A run in progress; `end(outputs)` records what it produced (a no-op when tracing is off)."""

    def __init__(self, run: Any = None):
        self._run = run

    def end(self, outputs: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        if self._run is not None:
            if metadata:
                self._run.metadata.update(metadata)
            self._run.end(outputs=outputs)


class Tracer:
    def __init__(self, config: BotConfig, environment: str | None = None):
        self.config = config
        # Tells traffic apart in LangSmith: "production", "staging", "development" (default) or "eval".
        self.environment = environment or os.environ.get("BOT_ENVIRONMENT") or "development"

    @property
    def enabled(self) -> bool:
        return observability.enabled()

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """What version of the bot answered; computed once, and only when tracing is on."""
        hashes = self.config.hashes
        return {
            "bot_version": hashes["config"][:12],
            "prompt_hash": hashes["prompt"][:12],
            "knowledge_hash": hashes["knowledge"][:12],
            "release_tag": os.environ.get("BOT_RELEASE")
            or _git(self.config.root, "describe", "--tags", "--exact-match", "--match", f"{TAG_PREFIX}*"),
            "git_sha": os.environ.get("GIT_SHA")
            or os.environ.get("GITHUB_SHA")
            or _git(self.config.root, "rev-parse", "HEAD"),
            "variant": os.environ.get("BOT_VARIANT") or "default",
            "environment": self.environment,
        }

    @contextmanager
    def turn(self, run_id: str, inputs: dict[str, Any], answering: dict[str, str]) -> Iterator[Step]:
        """The root run of a turn (or a child, when a caller such as an eval run is already tracing).

        `answering` names the provider and model that really answer (BOT_PROVIDER or a fallback may differ
        from bot.yaml)."""
        if not self.enabled:  # nothing of ours traces (and importing the SDK's tracing costs half a second)
            yield Step()
            return
        import langsmith

        client = observability.client()
        if client is None:  # given up on: never fall back to the SDK's own (slow, retrying) client
            with langsmith.tracing_context(enabled=False):
                yield Step()
            return
        with (
            langsmith.tracing_context(enabled=True, client=client),
            langsmith.trace(
                "chat turn",
                "chain",
                inputs=inputs,
                run_id=run_id,
                project_name=project_name(),
                metadata={**self.metadata, **answering},
                tags=[self.environment, f"variant:{self.metadata['variant']}"],
                client=client,
            ) as run,
        ):
            yield Step(run)

    @contextmanager
    def step(self, name: str, run_type: str, inputs: dict[str, Any]) -> Iterator[Step]:
        if not self.enabled:
            yield Step()
            return
        import langsmith

        with langsmith.trace(name, run_type, inputs=inputs) as run:  # type: ignore[arg-type]
            yield Step(run)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
