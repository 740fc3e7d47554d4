"""Eval datasets (evals/datasets/*.yaml): cases with an input and what a good answer must (not) contain."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalharness.settings import MetricName
from yamlcheck import FileError, load_yaml, validate_file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Message(_Strict):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class Expectations(_Strict):
    facts: list[str] = []  # phrases a correct answer contains (case-insensitive)
    forbidden: list[str] = []  # phrases it must never contain (leaks, wrong claims, injected text)
    sources: list[str] = []  # knowledge files retrieval should find
    refuse: bool | None = False  # true: out of scope, answer "I don't know"; null: either is fine


class Document(_Strict):
    """A document planted in the knowledge base for one case: how an indirect prompt injection arrives."""

    title: str = Field(min_length=1)
    text: str = Field(min_length=1)


class Case(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,79}$")
    input: str | None = Field(None, min_length=1)
    messages: list[Message] | None = Field(None, min_length=1)  # a conversation; the last turn is the user's
    expect: Expectations = Expectations()
    documents: list[Document] = []  # searched together with the knowledge base, for this case only
    reference: str | None = None  # an ideal answer, for the LLM-judged correctness metric
    tags: list[str] = []
    # A case that passed on the base and fails on the head blocks the PR whatever the statistics say.
    must_pass: bool = False
    thresholds: dict[MetricName, Annotated[float, Field(ge=0.0, le=1.0)]] = {}  # checked against the suite's metrics

    @model_validator(mode="after")
    def _one_input(self) -> Case:
        if (self.input is None) == (self.messages is None):
            raise ValueError("give exactly one of `input` (a question) or `messages` (a conversation)")
        if self.messages is not None and self.messages[-1].role != "user":
            raise ValueError("the last message must be the user's")
        return self

    @property
    def question(self) -> str:
        return self.input if self.input is not None else self.messages[-1].content

    @property
    def history(self) -> list[dict[str, str]]:
        return [m.model_dump() for m in self.messages[:-1]] if self.messages else []


class DatasetFile(_Strict):
    description: str = ""
    cases: list[Case]


class Dataset(BaseModel):
    path: Path
    cases: list[Case]
    sha256: str  # content hash: part of the identity of every results dir


def load_dataset(path: Path, knowledge_dir: Path | None = None, metrics: list[str] | None = None) -> Dataset:
    """A validated dataset; with `metrics` (its suite's), a per-case threshold must name one of them."""
    data, lines, sha256 = _read(path)
    parsed = validate_file(path, DatasetFile, data, lines)
    if not parsed.cases:
        raise FileError(path, lines.get(("cases",)), "cases: the dataset is empty; add at least one case")
    problems: list[tuple[int | None, str]] = []
    first_seen: dict[str, int] = {}
    for index, case in enumerate(parsed.cases):
        line = lines.get(("cases", index, "id"))
        if case.id in first_seen:
            problems.append(
                (line, f"cases[{index}].id: duplicate id {case.id!r} (first used on line {first_seen[case.id]})")
            )
        first_seen.setdefault(case.id, line or 0)
        for metric in case.thresholds if metrics is not None else ():
            if metric not in metrics:
                where = lines.get(("cases", index, "thresholds", metric))
                problems.append((where, f"cases[{index}].thresholds: {metric!r} is not a metric of this suite"))
        if knowledge_dir is not None:
            for j, source in enumerate(case.expect.sources):
                if not (knowledge_dir / source).is_file():
                    where = lines.get(("cases", index, "expect", "sources", j))
                    problems.append((where, f"cases[{index}].expect.sources: no such knowledge file: {source}"))
    if problems:
        raise FileError(path, *problems[0], *problems[1:])
    return Dataset(path=path, cases=parsed.cases, sha256=sha256)


def _read(path: Path) -> tuple[Any, dict, str]:
    """The parsed file, its key lines and its content hash. A run reads each dataset several times (the
    settings check, every suite module's parametrize): YAML is parsed once per content."""
    try:
        content = path.read_bytes()
    except OSError:
        return (*load_yaml(path), "")  # raises the located "file not found"
    sha256 = hashlib.sha256(content).hexdigest()
    return (*_parse(path, sha256), sha256)


@functools.lru_cache(maxsize=16)
def _parse(path: Path, _sha256: str) -> tuple[Any, dict]:
    return load_yaml(path)
