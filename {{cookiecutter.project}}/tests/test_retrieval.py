"""Chunking and BM25 retrieval over the shipped knowledge base."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package }}.config import load_config
from {{ cookiecutter.package }}.knowledge import load_chunks, split_sections
from {{ cookiecutter.package }}.retrieval import Retriever, tokenize

from tests.conftest import BOT_YAML


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    config = load_config(BOT_YAML)
    return Retriever(load_chunks(config.knowledge_path, config.retrieval.chunk_words, config.retrieval.chunk_overlap))


def test_tokenize_drops_glue_and_folds_plurals() -> None:
    assert tokenize("How do I reset my Passwords?") == ["reset", "password"]
    assert tokenize("policies") == ["policy"]
    assert tokenize("access") == ["access"]
    assert tokenize("What does it cost?") == tokenize("Its price is $8.")[-2:-1] == ["price"]


def test_sections_keep_title_and_headings() -> None:
    title, sections = split_sections("# Billing\n\nIntro.\n\n## Invoices\n\nMonthly.\n\n## Empty\n", "fallback")
    assert title == "Billing"
    assert sections == [("", "Intro."), ("Invoices", "Monthly.")]


def test_chunks_respect_size_and_never_cross_sections(tmp_path) -> None:
    body = "\n".join(f"Line {i} has exactly six words." for i in range(60))
    (tmp_path / "doc.md").write_text(f"# Doc\n\n## One\n\n{body}\n\n## Two\n\nShort.\n", encoding="utf-8")
    chunks = load_chunks(tmp_path, chunk_words=60, overlap=12)
    assert {c.heading for c in chunks} == {"One", "Two"}
    assert all(len(c.text.split()) <= 60 for c in chunks)
    one = [c for c in chunks if c.heading == "One"]
    assert len(one) >= 6
    # Neighbouring windows share their boundary lines (the overlap).
    assert one[0].text.splitlines()[-1] in one[1].text.splitlines()
    assert len({c.id for c in chunks}) == len(chunks)


@pytest.mark.parametrize(
    ("question", "expected_source"),
    [
        ("How do I reset my password?", "account-and-login.md"),
        ("How much does the Plus plan cost?", "plans-and-pricing.md"),
        ("How do I turn on two-factor authentication?", "two-factor-authentication.md"),
        ("What is the API rate limit?", "api-and-rate-limits.md"),
        ("Can I get a refund?", "refunds-and-cancellation.md"),
        ("How do I export my notes?", "import-and-export.md"),
    ],
)
def test_the_right_document_comes_first(retriever: Retriever, question: str, expected_source: str) -> None:
    passages = retriever.search(question, top_k=4, min_score=0.5, min_coverage=0.3)
    assert passages, question
    assert passages[0].chunk.source == expected_source
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_irrelevant_or_disabled_retrieval_returns_nothing(retriever: Retriever) -> None:
    assert retriever.search("What is the capital of France?", top_k=4, min_score=0.5, min_coverage=0.3) == []
    assert retriever.search("How do I reset my password?", top_k=0, min_score=0.0) == []
    assert retriever.search("the and of", top_k=4, min_score=0.0) == []


def test_off_topic_question_sharing_common_words_is_not_answered(retriever: Retriever) -> None:
    # "Quillwave" and "document" appear everywhere, "AI writing assistant" nowhere: BM25 alone answers.
    question = "How do I use Quillwave's built-in AI writing assistant to summarize a document?"
    assert retriever.search(question, top_k=4, min_score=0.5) != []
    assert retriever.search(question, top_k=4, min_score=0.5, min_coverage=0.3) == []
