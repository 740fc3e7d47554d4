"""One eval run, start to end: check the inputs, connect the target, run the units, write the summary.

    prepare(options)      settings and datasets validated (FileError -> exit 2); nothing is written yet
    connect(inputs)       the version under test, the target, metrics, model-call cache, results dir, experiment
    execute(run, units)   every unit through the runner (runner.py), which appends each result as it finishes
    close(run, outcome)   summary.json, sealed with the rows' integrity record

The CLI (`evalharness run`) and the pytest plugin (`pytest evals`) both go through these four steps, so the
two behave alike. Each step returns a frozen record that the next one takes explicitly: there is no shared
session object, and nothing here writes the process environment.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evalharness.calls import ModelCalls
from evalharness.datasets import Case, Dataset, load_dataset
from evalharness.experiment import Experiment, Tracking
from evalharness.metrics import Metric
from evalharness.options import RunOptions
from evalharness.pricing import price, tokens_cost
from evalharness.results import ResultsDir
from evalharness.runner import Runner, RunOutcome, StopRule, Unit, in_shard, run_order
from evalharness.settings import EvalSettings, load_settings
from evalharness.summary import RunFacts, write_summary
from evalharness.target import Target, TargetOutput, load_target, target_module


@dataclass(frozen=True)
class Inputs:
    """What a run is asked to evaluate, checked."""

    options: RunOptions
    settings: EvalSettings
    datasets: dict[str, Dataset]


@dataclass(frozen=True)
class Run:
    """A connected run: everything a unit needs, fixed for the run's life."""

    inputs: Inputs
    settings: EvalSettings  # the inputs' settings, with a candidate's own price when it names one
    target: Target
    calls: ModelCalls
    metrics: dict[str, list[Metric]]  # suite -> its metrics
    judge: dict[str, Any]  # model, status (on | skipped), reason
    results: ResultsDir
    tracking: Tracking  # the LangSmith experiment of this run, or off
    started: float

    @property
    def options(self) -> RunOptions:
        return self.inputs.options

    def live_cost(self) -> float:
        """USD spent so far on live model and judge calls (cached ones cost nothing now)."""
        return tokens_cost(self.settings, self.calls.stats.live_tokens)

    def must_pass(self, case: Case) -> bool:
        return case.must_pass or bool(set(case.tags) & set(self.settings.must_pass_tags))


def prepare(options: RunOptions) -> Inputs:
    settings, _ = load_settings(options.config)
    knowledge = options.config.parent.parent / settings.knowledge_dir
    datasets = {
        name: load_dataset(options.config.parent / suite.dataset, knowledge, suite.metrics)
        for name, suite in settings.suites.items()
    }
    return Inputs(options, settings, datasets)


def units(inputs: Inputs, selected: set[tuple[str, str]] | None = None) -> list[Unit]:
    """Every case x repeat of every suite, in this shard, optionally narrowed to `selected` (suite, case id)."""
    found = []
    for name, suite in inputs.settings.suites.items():
        repeats = inputs.options.repeats or suite.repeats
        for case in inputs.datasets[name].cases:
            if in_shard(name, case.id, inputs.options.shard) and (selected is None or (name, case.id) in selected):
                found.extend(Unit(name, case, r) for r in range(repeats))
    return found


def connect(inputs: Inputs) -> Run:
    """May fail: a missing key (exit 3), a bad candidate or bot config (exit 2)."""
    from evalharness.metrics.build import build_metrics  # a judge imports deepeval: only when a run really starts
    from evalharness.selection.versions import version_under_test

    options, settings = inputs.options, inputs.settings
    calls = ModelCalls(options.cache, options.mode, options.requests_per_minute or settings.requests_per_minute)
    module = target_module(settings.target, options.config.parent)
    config, price_entry = version_under_test(settings, options, module)
    if price_entry is not None:
        settings = settings.model_copy(update={"prices": {**settings.prices, **price_entry}})
    target = load_target(settings.target, options.config.parent, calls, config)
    metrics, judge = build_metrics(settings, calls)
    results = ResultsDir(options.results)
    results.start(_identity(inputs, target))
    _write_snapshot(results.path, target)
    tracking = Experiment.start(results, settings.langsmith.dataset, inputs.datasets, options, target.describe())
    by_suite = {name: [metrics[m] for m in suite.metrics] for name, suite in settings.suites.items()}
    return Run(inputs, settings, target, calls, by_suite, judge, results, tracking, time.time())


def execute(run: Run, selected: list[Unit], on_result=lambda unit, status, rows: None) -> RunOutcome:
    """Every selected unit through the runner; `on_result(unit, status, rows)` hears of each as it finishes."""
    runner = Runner(
        _Priced(run.target, run.settings),
        run.results,
        run.metrics,
        run.settings.concurrency,
        run.tracking,
        must_pass=run.must_pass,
        stalled_for=run.calls.stalled_for,
        stall_s=run.settings.stall_timeout_s,
    )
    ordered = run_order(selected, run.settings.seed, lambda u: runs_in_full(run, u))
    return runner.run(ordered, rules=_stop_rules(run, ordered), on_result=on_result)


def close(run: Run, outcome: RunOutcome) -> dict[str, Any]:
    run.tracking.close()
    facts = RunFacts(
        run.settings,
        run.options,
        run.target.describe(),
        run.judge,
        run.calls.stats,
        run.started,
        run.tracking.url,
        outcome.aborted,
        outcome.stopped,
        run.live_cost(),
    )
    summary = write_summary(run.results, facts)  # also lets go of the results dir
    run.calls.close()
    return summary


def runs_in_full(run: Run, unit: Unit) -> bool:
    """Units every run evaluates before any sampling stops it: must-pass cases, and cases scored by a metric
    that tolerates nothing (a hard failure limit, or a zero tolerance): one miss counts there."""
    if run.must_pass(unit.case):
        return True
    for metric in run.metrics[unit.suite]:
        rules = run.settings.metric(metric.name)
        if rules.gate and (rules.max_failures is not None or rules.tolerance == 0) and metric.applies(unit.case):
            return True
    return False


def _stop_rules(run: Run, ordered: list[Unit]) -> list[StopRule]:
    from evalharness.stopping import CostCap, SequentialLooks

    rules: list[StopRule] = []
    if run.settings.budgets.max_cost_usd is not None:
        rules.append(CostCap(run.settings.budgets.max_cost_usd, run.live_cost))
    options = run.options
    if options.baseline and run.settings.sequential.enabled and options.shard == (1, 1):
        from evalharness.sides import read_side

        first = sum(1 for u in ordered if runs_in_full(run, u))
        spent = lambda: (run.calls.stats.live + run.calls.stats.cached, run.live_cost())  # noqa: E731
        baseline = read_side(options.baseline)
        rules.append(SequentialLooks(run.settings, run.results.path, baseline, len(ordered), first, spent))
    return rules


def _identity(inputs: Inputs, target: Target) -> dict[str, Any]:
    """What a results dir is a run of; a resume must match it exactly."""
    options, settings = inputs.options, inputs.settings
    return {
        "versions": dict(target.versions),
        "datasets": {name: d.sha256 for name, d in inputs.datasets.items()},
        "eval_config": hashlib.sha256(options.config.read_bytes()).hexdigest(),
        "repeats": {name: options.repeats or s.repeats for name, s in settings.suites.items()},
        "shard": f"{options.shard[0]}/{options.shard[1]}",
    }


class _Priced:
    """Adds the cost of each answer (model tokens x price table; offline is free) to the target's output."""

    def __init__(self, target: Target, settings: EvalSettings):
        self.target, self.settings = target, settings
        self.provider, self.model, self.versions = target.provider, target.model, target.versions
        self.describe = target.describe

    def __call__(self, question: str, history: list[dict[str, str]], documents: list[dict[str, str]]) -> TargetOutput:
        output = self.target(question, history, documents)
        cost = 0.0 if output.provider == "offline" else price(self.settings, output.model, output.usage)
        return replace(output, metadata={**output.metadata, "cost_usd": cost})


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
