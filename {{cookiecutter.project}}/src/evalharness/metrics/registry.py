"""Your own metrics, without editing the harness: decorate a check in a module under evals/ and name the
module in eval.yaml (`metric_modules: [metrics]` imports evals/metrics.py). Then use the metric by name in
a suite and give it gate rules under `metrics:` like any built-in one.

    from evalharness.metrics.registry import metric

    @metric(kind="score", applies=lambda case: bool(case.reference))
    def mentions_reference(case, output):
        return case.reference.lower() in output.answer.lower()

A check receives the case and the target's output and returns a score in [0, 1] (a bool counts as 1 or 0),
a `(score, reason)` pair, a `Measure` (score, reason, details), or None when the output cannot be measured
(the result is then "skipped" with that reason). An exception is recorded as an error, never a pass. Scores
are compared with the metric's `threshold` per case, and between runs by the gate, as for built-in metrics.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# The built-in metrics (metrics/deterministic.py and metrics/judge.py); yours register below.
DETERMINISTIC_METRICS = (
    "facts",
    "forbidden",
    "refusal",
    "source_recall",
    "citations",
    "security",
    "answer_length",
    "latency",
    "cost",
)
JUDGE_METRICS = ("correctness", "relevancy", "faithfulness")
ALL_METRICS = DETERMINISTIC_METRICS + JUDGE_METRICS

Kind = Literal["pass_fail", "score"]
KINDS: tuple[Kind, ...] = ("pass_fail", "score")


@dataclass(frozen=True)
class Registered:
    name: str
    kind: Kind
    check: Callable[[Any, Any], Any]  # (case, output) -> score | bool | (score, reason) | Measure | None
    applies: Callable[[Any], bool]
    module: str


_REGISTERED: dict[str, Registered] = {}


def metric(
    name: str | None = None, *, kind: Kind = "score", applies: Callable[[Any], bool] | None = None
) -> Callable[[Callable], Callable]:
    """Register `check` as the metric `name` (default: the function's name). `kind="pass_fail"` makes the
    gate compare pass rates (exact tests on discordant cases) instead of mean scores."""
    if kind not in KINDS:
        raise ValueError(f"metric kind must be one of {', '.join(KINDS)}, got {kind!r}")

    def register(check: Callable) -> Callable:
        key = name or check.__name__
        if key in ALL_METRICS:
            raise ValueError(f"metric {key!r} is built in: give yours another name")
        known = _REGISTERED.get(key)
        if known is not None and known.module != check.__module__:
            raise ValueError(f"metric {key!r} is registered twice: in {known.module} and {check.__module__}")
        _REGISTERED[key] = Registered(key, kind, check, applies or (lambda case: True), check.__module__)
        return check

    return register


def load_modules(modules: list[str], evals_dir: Path) -> dict[str, Registered]:
    """Import the metric modules eval.yaml names (found in evals/), and return the metrics they register."""
    if modules and str(evals_dir.resolve()) not in sys.path:
        sys.path.insert(0, str(evals_dir.resolve()))
    for module in modules:
        loaded = sys.modules.get(module)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").parent != evals_dir.resolve():
            del sys.modules[module]  # a module of that name from another project (tests run several)
            for name in [n for n, r in _REGISTERED.items() if r.module.split(".")[0] == module]:
                del _REGISTERED[name]
        importlib.import_module(module)
    return registered(modules)


def registered(modules: list[str]) -> dict[str, Registered]:
    """The metrics the (already imported) `modules` registered."""
    return {name: r for name, r in _REGISTERED.items() if r.module.split(".")[0] in modules}
