"""evals/eval.yaml: suites, metrics with their tolerances and thresholds, judge, speed, prices and budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalharness.metrics.registry import ALL_METRICS, load_modules
from evalharness.options import DEFAULT_EVAL_CONFIG  # re-exported: one default, named once
from yamlcheck import FileError, load_yaml, validate_file

# A metric's name: a built-in one, or one that a module in `metric_modules` registers (metrics/registry.py).
MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSettings(_Strict):
    gate: bool = True  # compared against the baseline and held to its thresholds
    threshold: float = Field(1.0, ge=0.0, le=1.0)  # a case passes the metric when its score reaches this
    tolerance: float = Field(0.02, ge=0.0, le=1.0)  # Δ: the drop from baseline that is still acceptable
    min_pass_rate: float | None = Field(None, ge=0.0, le=1.0)  # absolute bar on the share of passing cases
    min_mean: float | None = Field(None, ge=0.0, le=1.0)  # absolute bar on the mean score
    # A hard limit, no statistics: more than this many failing cases fails the gate. For "must never" checks
    # such as attack probes, where one success is a finding, not noise.
    max_failures: int | None = Field(None, ge=0)
    # Metric-specific knobs (ignored by the others).
    min_words: int = Field(1, ge=0)
    max_words: int = Field(300, ge=1)
    budget_ms: float = Field(10_000, gt=0)
    budget_usd: float = Field(0.01, ge=0)
    citation_pattern: str = r"\[(\d+(?:\s*,\s*\d+)*)\]"  # a marker citing passages: [1], [2][3] or [1, 2]


class JudgeSettings(_Strict):
    enabled: bool = True
    model: str = Field(min_length=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    timeout_s: float = Field(60.0, gt=0, le=600)
    max_retries: int = Field(2, ge=0, le=10)


class Price(_Strict):
    input: float = Field(ge=0)  # USD per million prompt tokens
    output: float = Field(ge=0)  # USD per million completion tokens


class Budgets(_Strict):
    cost_per_case_usd: float | None = Field(None, ge=0)  # mean cost of answering (and judging) one case
    p95_latency_ms: float | None = Field(None, gt=0)
    # A hard cap on what one run may spend on live model and judge calls: the run stops starting cases
    # before it would pass it, and the gate then says INCONCLUSIVE (never a silent pass).
    max_cost_usd: float | None = Field(None, gt=0)


class SequentialSettings(_Strict):
    # With a baseline given to the run (`make eval BASELINE=dir`), compare after every `batch` cases and stop
    # as soon as FAIL (or PASS on every gated metric) is certain, with α spent across the looks.
    enabled: bool = True
    batch: int = Field(50, ge=5)


class SuiteSettings(_Strict):
    dataset: str
    repeats: int = Field(1, ge=1, le=50)
    metrics: list[MetricName] = Field(min_length=1)


class LangSmithSettings(_Strict):
    # The LangSmith dataset the suites' cases are synced to; each eval run is an experiment over it.
    dataset: str = Field("evals", min_length=1, max_length=120)


class PromptfooSettings(_Strict):
    # promptfoo runs the same datasets (`make promptfoo`); it passes when this share of its tests pass.
    config: str = "promptfooconfig.yaml"
    min_pass_rate: float = Field(1.0, ge=0.0, le=1.0)


class SelectionSettings(_Strict):
    # `make select`: candidates (relative to evals/) are overrides of `config` (relative to the project root);
    # a candidate's file goes to the target factory, its relative paths resolving against the project root.
    candidates: str = "candidates.yaml"
    config: str = "bot.yaml"
    parallel: int = Field(3, ge=1, le=32)  # candidates evaluated at once; they share requests_per_minute
    power: float = Field(0.8, gt=0.5, lt=1.0)  # for the cases a comparison would need to be decided


class EvalSettings(_Strict):
    target: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # "module:factory", module found in evals/
    knowledge_dir: str = "knowledge"  # where expected sources must exist (relative to the project root)
    concurrency: int = Field(8, ge=1, le=256)
    requests_per_minute: float = Field(600, gt=0)  # live model and judge calls; cached ones are free
    # A server that accepts calls and never answers: when no call has come back for this long while some
    # wait, the run gives up on it (exit 3) instead of sitting out every timeout and retry.
    stall_timeout_s: float = Field(40, gt=0, le=3600)
    alpha: float = Field(0.05, gt=0, lt=0.5)  # family-wise one-sided error rate of the gate's decisions
    seed: int = 0  # cases run in an order shuffled by this seed (must-pass and zero-tolerance cases first)
    must_pass_tags: list[str] = []  # cases with one of these tags are must-pass, like `must_pass: true`
    judge: JudgeSettings
    refusal_markers: list[str] = Field(min_length=1)
    prices: dict[str, Price] = {}
    budgets: Budgets = Budgets()
    metrics: dict[MetricName, MetricSettings] = {}
    metric_modules: list[str] = []  # modules in evals/ that register metrics of your own (@metric)
    suites: dict[str, SuiteSettings] = Field(min_length=1)
    langsmith: LangSmithSettings = LangSmithSettings()
    promptfoo: PromptfooSettings = PromptfooSettings()
    selection: SelectionSettings = SelectionSettings()
    sequential: SequentialSettings = SequentialSettings()

    @model_validator(mode="after")
    def _suite_names_are_identifiers(self) -> EvalSettings:
        for name in self.suites:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"suite name {name!r}: use letters, digits, '-' and '_'")
        return self

    def metric(self, name: str) -> MetricSettings:
        return self.metrics.get(name, MetricSettings())

    def price_for(self, model: str) -> Price | None:
        """Exact model id first, else the longest configured prefix ("gpt-4o-mini" prices "gpt-4o-mini-2024-07-18")."""
        if model in self.prices:
            return self.prices[model]
        prefixes = [key for key in self.prices if model.startswith(key)]
        return self.prices[max(prefixes, key=len)] if prefixes else None


def load_settings(path: Path = DEFAULT_EVAL_CONFIG) -> tuple[EvalSettings, dict]:
    """Validated settings and the key -> line map (for locating later problems, e.g. a missing dataset)."""
    data, lines = load_yaml(path)
    settings = validate_file(path, EvalSettings, data, lines)
    known = set(ALL_METRICS) | set(custom_metrics(settings, path))
    for name, suite in settings.suites.items():
        for index, metric in enumerate(suite.metrics):
            if metric not in known:
                raise FileError(path, lines.get(("suites", name, "metrics", index)), _unknown(f"suites.{name}", metric))
    for metric in settings.metrics:
        if metric not in known:
            raise FileError(path, lines.get(("metrics", metric)), _unknown("metrics", metric))
    for name, suite in settings.suites.items():
        dataset = path.parent / suite.dataset
        if not dataset.is_file():
            raise FileError(
                path, lines.get(("suites", name, "dataset")), f"suites.{name}.dataset: no such file: {suite.dataset}"
            )
    return settings, lines


def custom_metrics(settings: EvalSettings, path: Path = DEFAULT_EVAL_CONFIG) -> dict:
    """The metrics your `metric_modules` register, by name (importing them; an import error is a FileError)."""
    if not settings.metric_modules:
        return {}
    try:
        return load_modules(settings.metric_modules, path.parent)
    except Exception as exc:  # a broken module of the user's: say which, at eval.yaml's line
        problem = f"metric_modules: importing {settings.metric_modules}: {type(exc).__name__}: {exc}"
        raise FileError(path, None, problem) from exc


def _unknown(where: str, metric: str) -> str:
    return (
        f"{where}: unknown metric {metric!r}: built in are {', '.join(ALL_METRICS)}; "
        'your own metrics come from a module in metric_modules (docs/evals.md: "Your own metrics")'
    )
