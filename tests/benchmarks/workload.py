"""The benchmark's cases, and the rule the loopback model answers them by.

Every engine sees the same N questions and checks the same thing (the answer names the widget's part code),
so their pass counts must agree: a cross-check that each one really did the work it is timed on. The model
answers one question in ten (or more, for a worse model) with "I don't know", so the check can fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WIDGET = re.compile(r"widget W-(\d{5})")


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    fact: str  # what a correct answer contains


def cases(count: int) -> list[Case]:
    return [
        Case(f"widget-{i:05d}", f"What is the part code of widget W-{i:05d}?", f"PC-{i:05d}")
        for i in range(1, count + 1)
    ]


def miss_every(model: str) -> int:
    """Answer quality by model name: "...-worse" misses one question in six instead of one in ten."""
    return 6 if model.endswith("-worse") else 10


def answer(question: str, model: str) -> str:
    found = _WIDGET.search(question)
    if found is None:
        return "I don't know."
    number = int(found.group(1))
    if number % miss_every(model) == 0:
        return "I don't know."
    return f"Widget W-{number:05d} has part code PC-{number:05d}."


def expected_passes(count: int, model: str) -> int:
    return count - count // miss_every(model)
