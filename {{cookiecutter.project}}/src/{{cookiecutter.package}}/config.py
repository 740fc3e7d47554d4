"""bot.yaml, "the model version": provider, model, params, prompt and retrieval settings, validated."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from yamlcheck import load_yaml, validate_file

from {{ cookiecutter.package }}.errors import FileError
from {{ cookiecutter.package }}.fingerprint import file_sha256, tree_sha256

DEFAULT_CONFIG = "bot.yaml"
PROVIDERS = ("openai", "offline")


class _Strict(BaseModel):
    # A typo in bot.yaml must fail loudly, never silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Params(_Strict):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, le=100_000)
    seed: int | None = 7


class Prompt(_Strict):
    system: str = "prompts/system.md.j2"
    variables: dict[str, str] = {}


class Retrieval(_Strict):
    knowledge_dir: str = "knowledge"
    top_k: int = Field(4, ge=0, le=50)
    chunk_words: int = Field(160, ge=20, le=4000)
    chunk_overlap: int = Field(40, ge=0)
    min_score: float = Field(0.5, ge=0.0)
    min_coverage: float = Field(0.3, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self) -> Retrieval:
        if self.chunk_overlap >= self.chunk_words:
            raise ValueError("chunk_overlap must be smaller than chunk_words")
        return self


class Client(_Strict):
    # Where the openai provider sends requests and which variable holds its key. The defaults are the SDK's
    # own (OPENAI_BASE_URL, OPENAI_API_KEY); set them to compare models served elsewhere (evals/candidates.yaml).
    base_url: str | None = Field(None, pattern=r"^https?://")
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(2, ge=0, le=10)


class Limits(_Strict):
    # What one turn may carry: a question longer than this is refused (HTTP 422, or an error in the CLI)
    # before it reaches retrieval or the model, and only the last `max_history_turns` turns are sent.
    max_question_chars: int = Field(2000, ge=1, le=100_000)
    max_history_turns: int = Field(20, ge=0, le=1000)


class BotConfig(_Strict):
    provider: Literal["openai", "offline"] = "openai"
    model: str = Field(min_length=1, max_length=200)
    params: Params = Params()
    prompt: Prompt = Prompt()
    retrieval: Retrieval = Retrieval()
    client: Client = Client()
    limits: Limits = Limits()

    # Where bot.yaml lives: relative paths inside it are resolved against this folder.
    _root: Path = PrivateAttr(default=Path("."))
    _path: Path = PrivateAttr(default=Path(DEFAULT_CONFIG))

    @property
    def root(self) -> Path:
        return self._root

    @property
    def path(self) -> Path:
        return self._path

    @property
    def system_prompt_path(self) -> Path:
        return self._root / self.prompt.system

    @property
    def knowledge_path(self) -> Path:
        return self._root / self.retrieval.knowledge_dir

    @cached_property
    def hashes(self) -> dict[str, str]:
        """Content hashes that identify this model version (recorded with answers, results and releases)."""
        return {
            "config": file_sha256(self._path),
            "prompt": file_sha256(self.system_prompt_path),
            "knowledge": tree_sha256(self.knowledge_path, "*.md"),
        }


def load_config(path: str | Path | None = None, root: str | Path | None = None) -> BotConfig:
    """Load and validate bot.yaml (default: $BOT_CONFIG, else ./bot.yaml); errors say `bot.yaml:LINE: ...`.

    Relative paths inside it resolve against `root`, else its own folder: a candidate's bot.yaml written
    elsewhere (`make select`) still uses the project's prompts and knowledge."""
    path = Path(path or os.environ.get("BOT_CONFIG") or DEFAULT_CONFIG)
    data, lines = load_yaml(path)
    config = validate_file(path, BotConfig, data, lines)
    config._root = Path(root or path.parent)
    config._path = path
    _check_files_exist(config, lines)
    return config


def _check_files_exist(config: BotConfig, lines: dict) -> None:
    if not config.system_prompt_path.is_file():
        line = lines.get(("prompt", "system"))
        raise FileError(config.path, line, f"prompt.system: no such file: {config.prompt.system}")
    if not config.knowledge_path.is_dir():
        line = lines.get(("retrieval", "knowledge_dir"))
        raise FileError(config.path, line, f"retrieval.knowledge_dir: no such folder: {config.retrieval.knowledge_dir}")
