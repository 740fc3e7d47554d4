"""The offline provider: no model, an extractive answer quoted from the retrieved passages, with citations.

It is what runs the demo and CI anywhere. It never invents text: every sentence it says is copied from the
knowledge base, and when retrieval finds nothing relevant it says it does not know.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import observability

from {{ cookiecutter.package }}.providers.base import ChatRequest, Completion
from {{ cookiecutter.package }}.retrieval import tokenize

DONT_KNOW = (
    "I don't know based on the help center: nothing in the knowledge base answers this question. "
    "Try rephrasing it, or contact support."
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
MAX_BLOCKS = 2
MAX_SENTENCES = 3


class OfflineProvider:
    name = "offline"
    model = "extractive-bm25"

    def complete(self, request: ChatRequest, on_token: Callable[[str], None] | None = None) -> Completion:
        answer = _traced_answer() if observability.enabled() else _answer
        text = answer(request.messages, request)
        if on_token:
            on_token(text)
        return Completion(text=text, model=self.model, usage={}, finish_reason="stop")


def _answer(messages: list[dict[str, str]], request: ChatRequest) -> str:
    return extractive_answer(request)  # `messages` is what a trace shows as the prompt it was given


@functools.cache
def _traced_answer() -> Callable[[list[dict[str, str]], ChatRequest], str]:
    """Traced like a model call, so offline traces have the same shape; the SDK is imported only when tracing
    is on (it is half of a one-shot `chat`'s start-up)."""
    import langsmith

    inputs = lambda i: {"messages": i["messages"]}  # noqa: E731
    return langsmith.traceable(run_type="llm", name="offline answerer", process_inputs=inputs)(_answer)


def extractive_answer(request: ChatRequest) -> str:
    terms = set(tokenize(request.question))
    candidates = []  # (score, passage number, order, block)
    for n, passage in enumerate(request.passages, start=1):
        context_terms = set(tokenize(f"{passage.chunk.title} {passage.chunk.heading}"))
        for order, block in enumerate(_blocks(passage.chunk.text)):
            words = tokenize(block)
            # A block answers the question words it contains and those of its section heading: the numbered
            # list under "Resetting your password" answers "how do I reset my password?". Repeated question
            # words (two prices in a block about prices) make a block more to the point.
            matched = len(terms & (set(words) | context_terms))
            repeats = sum(1 for word in words if word in terms)
            if matched:
                score = matched / len(terms) * passage.score * (1 + 0.1 * min(repeats, 5))
                candidates.append((score, n, order, block))
    if not candidates:
        return DONT_KNOW
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    best = candidates[0][0]
    chosen = [c for c in candidates if c[0] >= 0.5 * best][:MAX_BLOCKS]
    parts = []
    for _, n, _, block in sorted(chosen, key=lambda c: (c[1], c[2])):
        passage = request.passages[n - 1]
        if _is_list(block):
            label = passage.chunk.heading or passage.chunk.title
            parts.append(f"{label} [{n}]:\n{block}")
        else:
            parts.append(f"{_best_sentences(block, terms)} [{n}]")
    return "\n\n".join(parts)


def _blocks(text: str) -> list[str]:
    """Paragraphs and whole lists: the units an answer can quote without cutting a thought in half."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            blocks.append([])
            continue
        starts_item = bool(_LIST_ITEM.match(line))
        previous = blocks[-1] if blocks and blocks[-1] else None
        if previous is not None and starts_item == _is_list("\n".join(previous)):
            previous.append(line)
        elif previous is not None and not starts_item and _is_list("\n".join(previous)) and line.startswith(" "):
            previous.append(line)  # an indented continuation of a list item
        else:
            blocks.append([line])
    return ["\n".join(b).strip() for b in blocks if b and "\n".join(b).strip()]


def _is_list(block: str) -> bool:
    return bool(_LIST_ITEM.match(block))


def _best_sentences(paragraph: str, terms: set[str]) -> str:
    """Up to MAX_SENTENCES sentences that mention the question's words, kept in their original order."""
    sentences = _SENTENCE_END.split(paragraph.replace("\n", " "))
    if len(sentences) <= MAX_SENTENCES:
        return " ".join(sentences)
    ranked = sorted(range(len(sentences)), key=lambda i: (-len(terms & set(tokenize(sentences[i]))), i))
    keep = sorted(ranked[:MAX_SENTENCES])
    return " ".join(sentences[i] for i in keep)
