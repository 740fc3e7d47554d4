"""One bot turn: config -> retrieve -> render prompt -> model -> answer with its sources and provenance,
traced to LangSmith as one trace when tracing is on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from {{ cookiecutter.package }}.config import BotConfig, load_config
from {{ cookiecutter.package }}.knowledge import load_chunks
from {{ cookiecutter.package }}.prompting import Message, PromptRenderer
from {{ cookiecutter.package }}.providers import ChatRequest, Provider, choose_provider, make_provider
from {{ cookiecutter.package }}.retrieval import Passage, Retriever
from {{ cookiecutter.package }}.tracing import Tracer, new_run_id


@dataclass(frozen=True)
class Source:
    n: int  # the number the answer cites, as in [1]
    source: str  # knowledge file, e.g. "billing-and-invoices.md"
    title: str
    heading: str
    score: float
    text: str  # the passage itself, so a client (or an eval) can show what the answer rests on


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    sources: list[Source]
    provider: str  # who actually answered ("offline" after a fallback), never just what bot.yaml asked for
    model: str
    run_id: str  # the id of this turn's trace: what feedback refers to
    latency_ms: float
    usage: dict[str, int] = field(default_factory=dict)
    fallback_reason: str | None = None  # why the provider differs from bot.yaml, if it does
    versions: dict[str, str] = field(default_factory=dict)  # content hashes of bot.yaml, prompt, knowledge

    def to_dict(self) -> dict:
        return asdict(self)


class Bot:
    def __init__(
        self,
        config: BotConfig,
        provider: Provider,
        fallback_reason: str | None = None,
        tracer: Tracer | None = None,
    ):
        self.config = config
        self.provider = provider
        self.fallback_reason = fallback_reason
        self.tracer = tracer or Tracer(config)
        retrieval = config.retrieval
        self.retriever = Retriever(load_chunks(config.knowledge_path, retrieval.chunk_words, retrieval.chunk_overlap))
        self.prompts = PromptRenderer(config.system_prompt_path, config.prompt.variables)

    @classmethod
    def from_config(
        cls, path: str | Path | None = None, *, root: str | Path | None = None, fallback_to_offline: bool = True
    ) -> Bot:
        config = load_config(path, root)
        name, reason = choose_provider(config, fallback_to_offline=fallback_to_offline)
        return cls(config, make_provider(name, config), reason)

    def answer(
        self,
        question: str,
        history: list[Message] | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        limits = self.config.limits
        if len(question) > limits.max_question_chars:
            raise ValueError(
                f"the question is {len(question)} characters long; the limit is {limits.max_question_chars} "
                "(limits.max_question_chars in bot.yaml)"
            )
        history = (history or [])[-limits.max_history_turns :] if limits.max_history_turns else []
        started = time.perf_counter()
        run_id = new_run_id()
        answering = {"provider": self.provider.name, "model": self.provider.model}
        with self.tracer.turn(run_id, {"question": question, "history": history or []}, answering) as turn:
            retrieval = self.config.retrieval
            with self.tracer.step("retrieve", "retriever", {"query": question}) as step:
                passages = self.retriever.search(question, retrieval.top_k, retrieval.min_score, retrieval.min_coverage)
                step.end({"documents": [_document(p) for p in passages]})
            with self.tracer.step("render prompt", "prompt", {"template": self.config.prompt.system}) as step:
                messages = self.prompts.messages(question, passages, history)
                step.end({"messages": messages})
            request = ChatRequest(question=question, messages=messages, passages=passages, params=self.config.params)
            completion = self.provider.complete(request, on_token=on_token)
            answer = Answer(
                question=question,
                text=completion.text.strip(),
                sources=[
                    Source(n, p.chunk.source, p.chunk.title, p.chunk.heading, round(p.score, 4), p.chunk.text)
                    for n, p in enumerate(passages, start=1)
                ],
                provider=self.provider.name,
                model=completion.model,
                run_id=run_id,
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
                usage=completion.usage,
                fallback_reason=self.fallback_reason,
                versions=self.config.hashes,
            )
            turn.end(
                {"answer": answer.text, "sources": [s.source for s in answer.sources]},
                {"response_model": answer.model, "fallback_reason": answer.fallback_reason},
            )
        return answer


def _document(passage: Passage) -> dict:
    """A retrieved passage in the shape LangSmith renders as a document."""
    chunk = passage.chunk
    return {
        "page_content": chunk.text,
        "type": "Document",
        "metadata": {"source": chunk.source, "title": chunk.title, "heading": chunk.heading, "score": passage.score},
    }
