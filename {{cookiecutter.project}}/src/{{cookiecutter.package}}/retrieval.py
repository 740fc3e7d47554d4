"""BM25 retrieval over the knowledge chunks (bm25s: a maintained, fast, numpy-only implementation)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import bm25s
from bm25s.selection import topk

from {{ cookiecutter.package }}.knowledge import Chunk

# Small on purpose: BM25's IDF already discounts common words; this only drops pure glue.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "did",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "much",
        "many",
        "tell",
        "get",
        "s",
        "t",
        "m",
        "d",
        "ll",
        "re",
        "ve",
    ]  # + contractions
)


# Price questions are the commonest support questions, yet "cost" rarely appears next to "$8":
# amounts and price words share one token so "How much does Plus cost?" finds the price list.
SYNONYMS = {"cost": "price", "pricing": "price", "fee": "price", "charge": "price"}
_MONEY = re.compile(r"[$\u20ac\u00a3]\s?\d")


def tokenize(text: str) -> list[str]:
    """Lowercase word stems without stopwords; used for documents and questions alike."""
    text = _MONEY.sub(lambda m: " price " + m.group(0), text.lower())
    stems = (_stem(word) for word in re.findall(r"[a-z0-9]+", text) if word not in STOPWORDS)
    return [SYNONYMS.get(stem, stem) for stem in stems]


def _stem(word: str) -> str:
    # Plural folding only ("passwords" ~ "password", "policies" ~ "policy"): cheap, and never merges
    # unrelated words the way aggressive stemmers can.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass(frozen=True)
class Passage:
    chunk: Chunk
    score: float  # BM25
    coverage: float  # share of the question's information (IDF-weighted words) that the passage contains


class Retriever:
    """Index built once per process (the sample knowledge base indexes in milliseconds)."""

    def __init__(self, chunks: list[Chunk]):
        self.chunks = chunks
        # Title and heading are indexed with the body, the heading three times: a section's name is the
        # best summary of what it answers ("Plus" for "How much is Plus?").
        corpus = [tokenize(f"{c.title}\n{c.heading}\n{c.heading}\n{c.heading}\n{c.text}") for c in chunks]
        self._terms = [set(tokens) for tokens in corpus]
        self._index = bm25s.BM25()
        self._index.index(corpus, show_progress=False)
        document_frequency = Counter(term for terms in self._terms for term in terms)
        n = len(chunks)
        self._idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in document_frequency.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)  # a word no document has is maximally informative

    def search(self, query: str, top_k: int, min_score: float = 0.0, min_coverage: float = 0.0) -> list[Passage]:
        """The best `top_k` chunks scoring at least `min_score`, best first; [] when the question is off-topic.

        BM25 ranks; coverage decides whether the knowledge base is about the question at all. A question
        about "video calls in Quillwave" shares the common word "Quillwave" with many chunks and scores well
        on BM25, but no chunk has "video" or "call": the best coverage is low, so the bot says it does not
        know instead of answering off-topic. The bar applies to the best passage only, so a question that
        needs two documents keeps the second one too.
        """
        terms = tokenize(query)
        if top_k <= 0 or not terms or not self.chunks:
            return []
        k = min(top_k, len(self.chunks))
        # One query: its scores and bm25s's own top-k, without retrieve()'s batch and progress-bar machinery
        # (a third of the bot's time per turn).
        scores, ids = topk(self._index.get_scores(terms), k, backend="numpy", sorted=True)
        weights = {t: self._idf.get(t, self._unknown_idf) for t in set(terms)}
        total = sum(weights.values())
        passages = []
        for i, score in zip(ids, scores, strict=True):
            if float(score) > 0 and float(score) >= min_score:
                coverage = sum(w for t, w in weights.items() if t in self._terms[int(i)]) / total
                passages.append(Passage(self.chunks[int(i)], float(score), round(coverage, 4)))
        if not passages or max(p.coverage for p in passages) < min_coverage:
            return []
        return passages
