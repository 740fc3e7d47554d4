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
from evalharness.pricing import price
from evalharness.results import ResultsDir
from evalharness.runner import Runner, RunOutcome, StopRule, Unit, in_shard, run_order
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
    baseline: Path | None = None  # compare with these results while running: sequential looks, early stop
    overrides: str = ""  # "key.path=value,...": evaluate bot.yaml with these changes, without editing it

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
        if os.environ.get("BASELINE"):
            options.baseline = Path(os.environ["BASELINE"])
        options.overrides = os.environ.get("EVAL_SET", "")
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
        elif self.options.overrides:
            self._use_overrides(module)
        self.target = load_target(self.settings.target, self.options.config.parent, self.calls)
        self.metrics, self.judge = build_metrics(self.settings, self.calls)
        self.results = ResultsDir(self.options.results)
        self.results.start(self.identity())
        _write_snapshot(self.results.path, self.target)
        self.tracking = Experiment.start(self)

    def _use_candidate(self, module: Any) -> None:
        """Point the target at the candidate's bot.yaml (written into the results dir, as evidence of what
        was evaluated), and price its answers at the candidate's price when it names one."""
        from evalharness.selection.runs import prepare_candidate

        config, price_entry = prepare_candidate(
            self.settings, self.options.config, self.options.candidate, self.options.results, module
        )
        self._point_target_at(config)
        if price_entry is not None:
            self.settings = self.settings.model_copy(update={"prices": {**self.settings.prices, **price_entry}})

    def _use_overrides(self, module: Any) -> None:
        from evalharness.selection.runs import parse_overrides, prepare_overrides

        overrides = parse_overrides(self.options.overrides)
        config = prepare_overrides(self.settings, self.options.config, overrides, self.options.results, module)
        self._point_target_at(config)

    def _point_target_at(self, config: Path) -> None:
        selection = self.settings.selection
        os.environ[selection.config_env] = str(config.resolve())
        os.environ[selection.root_env] = str(self.options.config.parent.parent.resolve())

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
            must_pass=self.must_pass,
            stalled_for=self.calls.stalled_for,
            stall_s=self.settings.stall_timeout_s,
        )
        ordered = run_order(units, self.settings.seed, lambda u: self._runs_in_full(u, suite_metrics[u.suite]))
        self.outcome = runner.run(ordered, rules=self._stop_rules(ordered, suite_metrics))
        return self.outcome

    def must_pass(self, case: Case) -> bool:
        return case.must_pass or bool(set(case.tags) & set(self.settings.must_pass_tags))

    def _runs_in_full(self, unit: Unit, metrics: list[Metric]) -> bool:
        """Units every run evaluates before any sampling stops it: must-pass cases, and cases scored by a
        metric that tolerates nothing (a hard failure limit, or a zero tolerance): one miss counts there."""
        if self.must_pass(unit.case):
            return True
        for metric in metrics:
            rules = self.settings.metric(metric.name)
            if rules.gate and (rules.max_failures is not None or rules.tolerance == 0) and metric.applies(unit.case):
                return True
        return False

    def _stop_rules(self, ordered: list[Unit], suite_metrics: dict[str, list[Metric]]) -> list[StopRule]:
        from evalharness.stopping import CostCap, SequentialLooks

        rules: list[StopRule] = []
        if self.settings.budgets.max_cost_usd is not None:
            rules.append(CostCap(self.settings.budgets.max_cost_usd, self.live_cost))
        if self.options.baseline and self.settings.sequential.enabled and self.options.shard == (1, 1):
            from evalharness.sides import read_side

            first = sum(1 for u in ordered if self._runs_in_full(u, suite_metrics[u.suite]))
            spent = lambda: (self.calls.stats.live + self.calls.stats.cached, self.live_cost())  # noqa: E731
            baseline = read_side(self.options.baseline)
            rules.append(SequentialLooks(self.settings, self.results.path, baseline, len(ordered), first, spent))
        return rules

    def live_cost(self) -> float:
        """USD spent so far on live model and judge calls (cached ones cost nothing now)."""
        from evalharness.pricing import tokens_cost

        return tokens_cost(self.settings, self.calls.stats.live_tokens) if self.calls else 0.0

    def close(self) -> dict[str, Any]:
        from evalharness.summary import write_summary

        self.tracking.close()
        summary = write_summary(self)  # also lets go of the results dir
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


def git_sha(cwd: Path | None = None) -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() or None if sha.returncode == 0 else None


def _write_snapshot(results: Path, target: Target) -> None:
    """Copies of the files that define the version under test (when the target names them), so a later
    comparison can show exactly what changed between two runs."""
    from evalharness.changes import SNAPSHOT_DIR

    for name, text in (getattr(target, "snapshot", dict)() or {}).items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"target snapshot names must be relative paths inside the project, got {name!r}")
        path = results / SNAPSHOT_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = ["Case", "EvalSession", "RunOptions", "git_sha", "parse_shard"]
