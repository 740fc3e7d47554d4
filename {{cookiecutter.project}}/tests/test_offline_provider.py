"""The offline provider must give genuinely useful, cited answers on the shipped knowledge base."""

from __future__ import annotations

import re

import pytest

from {{ cookiecutter.package }}.bot import Bot
from {{ cookiecutter.package }}.config import load_config
from {{ cookiecutter.package }}.providers.offline import DONT_KNOW, OfflineProvider

from tests.conftest import BOT_YAML


@pytest.fixture(scope="module")
def bot() -> Bot:
    return Bot(load_config(BOT_YAML), OfflineProvider())


@pytest.mark.parametrize(
    ("question", "facts"),
    [
        ("How do I reset my password?", ["Forgot password", "60 minutes"]),
        ("How much does the Plus plan cost?", ["$8", "$10"]),
        ("How long is an email sign-in code valid?", ["10 minutes"]),
        ("What happens after too many failed sign-in attempts?", ["15 minutes"]),
    ],
)
def test_answers_quote_the_facts_and_cite_them(bot: Bot, question: str, facts: list[str]) -> None:
    answer = bot.answer(question)
    for fact in facts:
        assert fact in answer.text, answer.text
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert cited and cited <= {s.n for s in answer.sources}
    assert answer.provider == "offline" and answer.model == "extractive-bm25"


def test_every_sentence_comes_from_the_knowledge_base(bot: Bot) -> None:
    answer = bot.answer("How do I change my email address?")
    corpus = " ".join(c.text for c in bot.retriever.chunks)
    for line in answer.text.splitlines():
        quoted = re.sub(r"\s*\[\d+\]:?$", "", line).strip()  # drop the citation
        is_label = line.endswith("]:")  # "Changing your email address [1]:" names the section it quotes
        if quoted and not is_label:  # every sentence of the line, not only its first
            for sentence in re.split(r"(?<=[.!?])\s+", quoted):
                assert sentence in corpus, sentence


@pytest.mark.parametrize("question", ["What is the capital of France?", "Recommend a good pizza recipe"])
def test_out_of_scope_questions_get_an_honest_dont_know(bot: Bot, question: str) -> None:
    answer = bot.answer(question)
    assert answer.text == DONT_KNOW
    assert answer.sources == []


def test_same_question_same_answer(bot: Bot) -> None:
    first, second = bot.answer("How do I export my notes?"), bot.answer("How do I export my notes?")
    assert first.text == second.text and first.run_id != second.run_id


def test_empty_question_is_refused(bot: Bot) -> None:
    with pytest.raises(ValueError, match="empty"):
        bot.answer("   ")
