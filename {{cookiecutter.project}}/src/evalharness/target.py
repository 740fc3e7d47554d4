"""The contract between the harness and the system under test.

`evals/eval.yaml` names a factory, `module:function`, whose module lives in evals/. The factory receives the
run's ModelCalls (every model call must go through it: cache, rate limit, counting) and the config file of
the version to evaluate (None: the default one; else a candidate's, written by the harness), and returns a
Target.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from evalharness.calls import ModelCalls


@dataclass(frozen=True)
class TargetOutput:
    answer: str
    sources: list[str]  # retrieved source ids (file names), best first
    contexts: list[str]  # retrieved passage texts, for faithfulness
    provider: str  # who actually answered
    model: str
    latency_ms: float  # end to end, with a cached model call counted at its original latency
    usage: dict[str, int] = field(default_factory=dict)  # prompt_tokens, completion_tokens
    cached: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    provider: str
    model: str
    versions: dict[str, str]  # content hashes that identify the version under test

    def describe(self) -> dict[str, Any]:
        """What is under test, for manifests: provider, model, params (JSON-able)."""
        ...

    # Optional: `snapshot() -> {name: text}`, the files that define the version under test (a config, a
    # prompt). Each run keeps copies, so the gate can show what changed between two runs.

    def __call__(self, question: str, history: list[dict[str, str]], documents: list[dict[str, str]]) -> TargetOutput:
        """Answer the last user turn. `documents` ({title, text}) are planted in the knowledge the target
        searches, for this call only: how a case tests an attack that arrives inside a retrieved document."""
        ...


def target_module(spec: str, evals_dir: Path) -> ModuleType:
    """The adapter module named by `module:factory` (it may also offer `check_config(path, root)`, which
    validates a candidate's config file, its relative paths taken from `root`, and raises FileError)."""
    if str(evals_dir.resolve()) not in sys.path:
        sys.path.insert(0, str(evals_dir.resolve()))
    return importlib.import_module(spec.partition(":")[0])


def load_target(spec: str, evals_dir: Path, calls: ModelCalls, config: Path | None = None) -> Target:
    return getattr(target_module(spec, evals_dir), spec.partition(":")[2])(calls, config)
