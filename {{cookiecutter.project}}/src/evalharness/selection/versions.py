"""Which version of the system a run evaluates: bot.yaml as committed, a candidate of evals/candidates.yaml,
or bot.yaml with a few what-if changes (EVAL_SET). The alternative is written into the results dir (the
evidence of what was evaluated) and handed to the target factory; nothing else is told about it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from evalharness.options import RunOptions
from evalharness.selection.runs import parse_overrides, prepare_candidate, prepare_overrides
from evalharness.settings import EvalSettings, Price


def version_under_test(
    settings: EvalSettings, options: RunOptions, module: ModuleType | None
) -> tuple[Path | None, dict[str, Price] | None]:
    """(the config file to evaluate instead of the default, or None; the candidate's own price entry, if any)."""
    if options.candidate:
        return prepare_candidate(settings, options.config, options.candidate, options.results, module)
    if options.overrides:
        overrides = parse_overrides(options.overrides)
        return prepare_overrides(settings, options.config, overrides, options.results, module), None
    return None, None
