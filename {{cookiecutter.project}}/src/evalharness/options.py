"""How one run is asked for: its options, from the harness's own EVAL_* environment variables.

Every variable the harness reads is named here and starts with EVAL_, so none collides with the user's shell;
the SDKs' own variables (OPENAI_*, LANGSMITH_*) keep their names. docs/reference.md "Environment" lists them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

CacheMode = Literal["live", "replay", "refresh"]
CACHE_MODES: tuple[CacheMode, ...] = ("live", "replay", "refresh")
DEFAULT_RESULTS = Path("results/latest")
DEFAULT_CACHE = Path(".eval-cache/calls.sqlite")
DEFAULT_EVAL_CONFIG = Path("evals/eval.yaml")

# name -> what it sets (the docs/reference.md table is written from nothing else, and a test checks it is complete)
VARIABLES = {
    "EVAL_RESULTS": "results dir a run writes and the gate judges (default results/latest)",
    "EVAL_BASELINE": "results dir to compare with: the gate's baseline, and a run's sequential looks",
    "EVAL_GATE_MODE": "pr | release | nightly: how strict the gate is (default pr)",
    "EVAL_CACHE_MODE": "live | replay | refresh: how model calls use the cache (default live)",
    "EVAL_CACHE": "the model-call cache file (default .eval-cache/calls.sqlite)",
    "EVAL_SELECT": "a pytest -k expression choosing cases (e.g. refund or support)",
    "EVAL_SHARD": "i/n: this run evaluates shard i of n (deterministic by case id)",
    "EVAL_REPEATS": "repeats per case for every suite (default: eval.yaml)",
    "EVAL_CANDIDATE": "evaluate this candidate of evals/candidates.yaml instead of bot.yaml",
    "EVAL_SET": "key.path=value,...: evaluate bot.yaml with these changes, editing no file",
    "EVAL_RUN_ID": "one name for the shards of one run (one LangSmith experiment)",
    "EVAL_REQUESTS_PER_MINUTE": "live-call rate limit for this run (default: eval.yaml)",
    "EVAL_ACCEPT_WORSE": "true: a maintainer accepts a WORSE? verdict (the gate exits 0 in PR mode)",
    "EVAL_STRICT": "true: `pytest evals` fails a case below its per-case thresholds (default: data for the gate)",
}


def env(name: str) -> str:
    """A harness variable's value ("" when unset); only names listed in VARIABLES (or CI steps') are read."""
    return os.environ.get(name, "").strip()


@dataclass(frozen=True)
class RunOptions:
    results: Path = DEFAULT_RESULTS
    config: Path = DEFAULT_EVAL_CONFIG
    mode: CacheMode = "live"
    shard: tuple[int, int] = (1, 1)
    repeats: int | None = None  # overrides every suite's `repeats`
    cache: Path | None = DEFAULT_CACHE
    run_id: str | None = None  # names one logical run across its shards (CI: the workflow run), for LangSmith
    candidate: str | None = None  # evaluate this candidate of evals/candidates.yaml instead of bot.yaml
    requests_per_minute: float | None = None  # overrides eval.yaml's (`make select` shares it out)
    baseline: Path | None = None  # compare with these results while running: sequential looks, early stop
    overrides: str = ""  # "key.path=value,...": evaluate bot.yaml with these changes, without editing it
    select: str = ""  # a pytest -k expression over case ids and suite names

    @classmethod
    def from_env(cls, **given: object) -> RunOptions:
        """The options the EVAL_* variables ask for; keyword arguments win over them."""
        candidate = env("EVAL_CANDIDATE")
        mode = env("EVAL_CACHE_MODE") or "live"
        if mode not in CACHE_MODES:
            raise ValueError(f"EVAL_CACHE_MODE={mode!r}: expected one of {', '.join(CACHE_MODES)}")
        options = cls(
            results=Path(env("EVAL_RESULTS") or DEFAULT_RESULTS),
            mode=mode,  # type: ignore[arg-type]
            shard=parse_shard(env("EVAL_SHARD")) if env("EVAL_SHARD") else (1, 1),
            repeats=_positive_int("EVAL_REPEATS"),
            cache=Path(env("EVAL_CACHE")) if env("EVAL_CACHE") else DEFAULT_CACHE,
            run_id=env("EVAL_RUN_ID") or None,
            candidate=None if candidate in ("", "current") else candidate,  # "current": bot.yaml itself
            requests_per_minute=float(env("EVAL_REQUESTS_PER_MINUTE")) if env("EVAL_REQUESTS_PER_MINUTE") else None,
            baseline=Path(env("EVAL_BASELINE")) if env("EVAL_BASELINE") else None,
            overrides=env("EVAL_SET"),
            select=env("EVAL_SELECT"),
        )
        return replace(options, **given)  # type: ignore[arg-type]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"EVAL_SHARD={text!r}: expected i/n, e.g. 1/4") from None
    if not 1 <= index <= count:
        raise ValueError(f"EVAL_SHARD={text!r}: i must be between 1 and n")
    return index, count


def _positive_int(name: str) -> int | None:
    text = env(name)
    if not text or text == "0":  # 0: "as eval.yaml says" (what a workflow input defaults to)
        return None
    if not text.isdigit():
        raise ValueError(f"{name}={text!r}: expected a whole number")
    return int(text)
