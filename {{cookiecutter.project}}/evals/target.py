"""How the eval harness drives this bot: the only file that knows both (the harness stays generic).

Every model call is routed through the harness's ModelCalls (cache, rate limit, counters) by wrapping
the bot's provider; the bot itself is unchanged and never imports the harness.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from dataclasses import asdict
from pathlib import Path

from evalharness.calls import ModelCalls
from evalharness.target import TargetOutput

from {{ cookiecutter.package }}.bot import Bot
from {{ cookiecutter.package }}.config import load_config
from {{ cookiecutter.package }}.knowledge import chunk_document
from {{ cookiecutter.package }}.providers import ChatRequest, Completion, Provider
from {{ cookiecutter.package }}.retrieval import Retriever
from {{ cookiecutter.package }}.tracing import Tracer


class CachedProvider:
    """The bot's provider, with each call going through the harness (and its timing remembered)."""

    def __init__(self, inner: Provider, calls: ModelCalls, base_url: str | None = None):
        self.inner, self.calls, self.base_url = inner, calls, base_url
        self.name, self.model = inner.name, inner.model
        self.last = threading.local()  # per worker thread: the last call's recorded latency and wall time

    def complete(self, request: ChatRequest, on_token=None) -> Completion:
        key = {
            "provider": self.name,
            "model": self.model,
            "messages": request.messages,
            "params": request.params.model_dump(),
        }
        if self.base_url:  # the same model id served elsewhere (a candidate's server) is another model
            key["base_url"] = self.base_url
        started = time.perf_counter()
        local = self.name == "offline"  # answered in-process: nothing to rate-limit
        compute = lambda: asdict(self.inner.complete(request))  # noqa: E731
        record = self.calls.call("model", key, compute, limited=not local, validate=_usable_completion)
        self.last.wall_ms = (time.perf_counter() - started) * 1000
        self.last.recorded_ms, self.last.cached = record.pop("latency_ms"), record.pop("cached")
        return Completion(**record)


PROJECT = Path(__file__).resolve().parents[1]  # bot.yaml's relative paths resolve here, wherever it was written


class BotTarget:
    def __init__(self, calls: ModelCalls, config: Path | None = None):
        # An eval never falls back to offline silently: without a key the openai provider fails here (exit 3).
        self.bot = Bot.from_config(config, root=PROJECT if config else None, fallback_to_offline=False)
        self.bot.tracer = Tracer(self.bot.config, environment="eval")  # eval traffic is tagged apart from users'
        self.provider_wrapper = CachedProvider(self.bot.provider, calls, self.bot.config.client.base_url)
        self.bot.provider = self.provider_wrapper
        self.provider, self.model = self.provider_wrapper.name, self.provider_wrapper.model
        self.versions = self.bot.config.hashes
        self._planted: dict[tuple, Bot] = {}  # planted documents -> a bot whose knowledge includes them
        self._planting = threading.Lock()

    def snapshot(self) -> dict[str, str]:
        """The files that make this model version, by the names a diff should show (the knowledge base is
        large: its content hash, in `versions`, tells whether it changed)."""
        config = self.bot.config
        prompt = Path(config.prompt.system)
        name = prompt.as_posix() if not prompt.is_absolute() else f"prompts/{prompt.name}"  # a what-if elsewhere
        return {
            "bot.yaml": config.path.read_text(encoding="utf-8"),
            name: config.system_prompt_path.read_text(encoding="utf-8"),
        }

    def describe(self) -> dict:
        # The provider that really answers (BOT_PROVIDER may override bot.yaml), with bot.yaml's params.
        return {"provider": self.provider, "model": self.model, "params": self.bot.config.params.model_dump()}

    def __call__(self, question: str, history: list[dict[str, str]], documents: list[dict[str, str]]) -> TargetOutput:
        last = self.provider_wrapper.last
        last.wall_ms, last.recorded_ms, last.cached = 0.0, 0.0, False  # in case no model call is made
        answer = self._bot_with(documents).answer(question, history)
        return TargetOutput(
            answer=answer.text,
            sources=[s.source for s in answer.sources],
            contexts=[s.text for s in answer.sources],
            provider=answer.provider,
            model=answer.model,
            latency_ms=round(answer.latency_ms - last.wall_ms + last.recorded_ms, 1),
            usage=answer.usage,
            cached=last.cached,
        )

    def _bot_with(self, documents: list[dict[str, str]]) -> Bot:
        """The bot, or a copy whose retriever also searches the case's planted documents (an attack arriving
        through the knowledge base). Copies share the provider, prompt and tracer; the index is rebuilt once."""
        if not documents:
            return self.bot
        key = tuple((d["title"], d["text"]) for d in documents)
        with self._planting:
            if key not in self._planted:
                settings = self.bot.config.retrieval
                planted = [
                    chunk
                    for d in documents
                    for chunk in chunk_document(
                        f"planted/{_slug(d['title'])}.md",
                        f"# {d['title']}\n\n{d['text']}",
                        settings.chunk_words,
                        settings.chunk_overlap,
                    )
                ]
                bot = copy.copy(self.bot)
                bot.retriever = Retriever(self.bot.retriever.chunks + planted)
                self._planted[key] = bot
            return self._planted[key]


def _usable_completion(record: dict) -> None:
    """An answer worth keeping: not empty, and not cut off by the provider's content filter (both are
    failures of the call, retried by the next run, never cached as the model's answer)."""
    if record.get("finish_reason") == "content_filter":
        raise ValueError("the model's answer was withheld by the provider's content filter")
    if not str(record.get("text") or "").strip():
        raise ValueError("the model sent an empty answer")


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "document"


def make_target(calls: ModelCalls, config: Path | None = None) -> BotTarget:
    """The bot as bot.yaml makes it, or as `config` (a candidate's bot.yaml, written by the harness) does."""
    return BotTarget(calls, config)


def check_config(path: Path, root: Path) -> None:
    """Validate a candidate's bot.yaml (`make select`); raises FileError with its lines."""
    load_config(path, root)
