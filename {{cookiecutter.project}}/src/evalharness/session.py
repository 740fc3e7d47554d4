"""One eval run, set up once: settings, datasets, the target, metrics, cache and the results dir.

Shared by the CLI (`python -m evalharness run`) and the pytest plugin (`pytest evals`), so both behave alike.
Everything that can be wrong with the inputs is checked here, before a single results file is written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evalharness.calls import Mode, ModelCalls
from evalharness.datasets import Case, Dataset, load_dataset
from evalharness.experiment import Experiment, Tracking
from evalharness.metrics import Metric
from evalharness.results import ResultsDir
from evalharness.runner import Runner, RunOutcome, Unit, in_shard
from evalharness.settings import DEFAULT_EVAL_CONFIG, EvalSettings, load_settings
from evalharness.target import Target, TargetOutput, load_target, target_module

DEFAULT_RESULTS = Path("results/latest")
DEFAULT_CACHE = Path(".eval-cache/calls.sqlite")


@dataclass
class RunOptions:
    results: Path = DEFAULT_RESULTS
    config: Path = DEFAULT_EVAL_CONFIG
    mode: Mode = "live"
    shard: tuple[int, int] = (1, 1)
    repeats: int | None = None  # overrides every suite's `repeats`
    cache: Path | None = DEFAULT_CACHE
    run_id: str | None = None  # names one logical run across its shards (CI: the workflow run), for LangSmith
    candidate: str | None = None  # evaluate this candidate of evals/candidates.yaml instead of bot.yaml
    requests_per_minute: float | None = None  # overrides eval.yaml's (`make select` shares it out)

    @classmethod
    def from_env(cls) -> RunOptions:
        """The Makefile's variables, passed through the environment (RESULTS, MODEL_MODE, SHARD, REPEATS,
        EVAL_CACHE, EVAL_RUN_ID)."""
        options = cls()
        if os.environ.get("RESULTS"):
            options.results = Path(os.environ["RESULTS"])
        if os.environ.get("MODEL_MODE"):
            options.mode = os.environ["MODEL_MODE"]  # type: ignore[assignment]
        if os.environ.get("SHARD"):
            options.shard = parse_shard(os.environ["SHARD"])
        if os.environ.get("REPEATS"):
            options.repeats = int(os.environ["REPEATS"])
        if os.environ.get("EVAL_CACHE"):
            options.cache = Path(os.environ["EVAL_CACHE"])
        options.run_id = os.environ.get("EVAL_RUN_ID") or None
        options.candidate = os.environ.get("CANDIDATE") or None
        if options.candidate == "current":  # the model-selection workflow's name for bot.yaml itself
            options.candidate = None
        if os.environ.get("EVAL_REQUESTS_PER_MINUTE"):
            options.requests_per_minute = float(os.environ["EVAL_REQUESTS_PER_MINUTE"])
        return options


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"SHARD={text!r}: expected i/n, e.g. 1/4") from None
    if not 1 <= index <= count:
        raise ValueError(f"SHARD={text!r}: i must be between 1 and n")
    return index, count


@dataclass
class EvalSession:
    options: RunOptions
    settings: EvalSettings
    datasets: dict[str, Dataset]
    started: float = field(default_factory=time.time)
    target: Target | None = None
    calls: ModelCalls | None = None
    results: ResultsDir | None = None
    outcome: RunOutcome | None = None
    judge: dict[str, Any] = field(default_factory=dict)  # model, status (on | skipped), reason
    metrics: dict[str, Metric] = field(default_factory=dict)
    rows_by_case: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tracking: Tracking = field(default_factory=Tracking)  # the LangSmith experiment of this run, or off

    @classmethod
    def prepare(cls, options: RunOptions) -> EvalSession:
        """Validate settings and datasets (FileError -> exit 2); nothing is written yet."""
        settings, _ = load_settings(options.config)
        knowledge = options.config.parent.parent / settings.knowledge_dir
        datasets = {
            name: load_dataset(options.config.parent / suite.dataset, knowledge)
            for name, suite in settings.suites.items()
        }
        return cls(options, settings, datasets)

    def units(self, selected: set[tuple[str, str]] | None = None) -> list[Unit]:
        """Every case x repeat of every suite, in this shard, optionally narrowed to `selected` (suite, case id)."""
        units = []
        for name, suite in self.settings.suites.items():
            repeats = self.options.repeats or suite.repeats
            for case in self.datasets[name].cases:
                if not in_shard(name, case.id, self.options.shard):
                    continue
                if selected is not None and (name, case.id) not in selected:
                    continue
                units.extend(Unit(name, case, r) for r in range(repeats))
        return units

    def connect(self) -> None:
        """Build the target (may fail: missing key -> exit 3, bad bot config -> exit 2) and open the results dir."""
        from evalharness.metrics.build import build_metrics  # imports deepeval: only when a run really starts

        rate = self.options.requests_per_minute or self.settings.requests_per_minute
        self.calls = ModelCalls(self.options.cache, self.options.mode, rate)
        module = target_module(self.settings.target, self.options.config.parent)
        if self.options.candidate:
            self._use_candidate(module)
        self.target = load_target(self.settings.target, self.options.config.parent, self.calls)
        self.metrics, self.judge = build_metrics(self.settings, self.calls)
        self.results = ResultsDir(self.options.results)
        self.results.start(self.identity())
        self.tracking = Experiment.start(self)

    def _use_candidate(self, module: Any) -> None:
        """Point the target at the candidate's bot.yaml (written into the results dir, as evidence of what
        was evaluated), and price its answers at the candidate's price when it names one."""
        from evalharness.selection.runs import prepare_candidate

        config, price_entry = prepare_candidate(
            self.settings, self.options.config, self.options.candidate, self.options.results, module
        )
        selection = self.settings.selection
        os.environ[selection.config_env] = str(config.resolve())
        os.environ[selection.root_env] = str(self.options.config.parent.parent.resolve())
        if price_entry is not None:
            self.settings = self.settings.model_copy(update={"prices": {**self.settings.prices, **price_entry}})

    def identity(self) -> dict[str, Any]:
        """What a results dir is a run of; a resume must match it exactly."""
        return {
            "versions": dict(self.target.versions),
            "datasets": {name: d.sha256 for name, d in self.datasets.items()},
            "eval_config": _sha256(self.options.config),
            "repeats": {name: self.options.repeats or s.repeats for name, s in self.settings.suites.items()},
            "shard": f"{self.options.shard[0]}/{self.options.shard[1]}",
        }

    def run(self, units: list[Unit]) -> RunOutcome:
        suite_metrics: dict[str, list[Metric]] = {
            name: [self.metrics[m] for m in suite.metrics] for name, suite in self.settings.suites.items()
        }
        runner = Runner(
            _Priced(self.target, self.settings, self.calls),
            self.results,
            suite_metrics,
            self.settings.concurrency,
            self.tracking,
        )
        self.outcome = runner.run(units)
        return self.outcome

    def close(self) -> dict[str, Any]:
        from evalharness.summary import write_summary

        self.tracking.close()
        self.results.sync()
        summary = write_summary(self)
        if self.calls:
            self.calls.close()
        return summary


class _Priced:
    """Adds the cost of each answer (model tokens x price table; offline is free) to the target's output."""

    def __init__(self, target: Target, settings: EvalSettings, calls: ModelCalls):
        self.target, self.settings, self.calls = target, settings, calls
        self.provider, self.model, self.versions = target.provider, target.model, target.versions
        self.describe = target.describe

    def __call__(self, question: str, history: list[dict[str, str]], documents: list[dict[str, str]]) -> TargetOutput:
        output = self.target(question, history, documents)
        cost = 0.0 if output.provider == "offline" else price(self.settings, output.model, output.usage)
        return replace(output, metadata={**output.metadata, "cost_usd": cost})


def price(settings: EvalSettings, model: str, usage: dict[str, int]) -> float | None:
    """USD for this usage from the price table in eval.yaml; None when the model has no price."""
    entry = settings.price_for(model)
    if entry is None:
        return None
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return round((prompt * entry.input + completion * entry.output) / 1_000_000, 8)


def git_sha(cwd: Path | None = None) -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() or None if sha.returncode == 0 else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = ["Case", "EvalSession", "RunOptions", "git_sha", "parse_shard"]
